//! GKE: audit logs routed by a Cloud Logging sink to a Pub/Sub topic, pulled from a subscription as
//! Falco's `k8saudit-gke` plugin does (see `source` for what kaudit does differently).

pub mod auth;
pub mod http;
pub mod labels;
pub mod lease;
pub mod pubsub;
pub mod source;

//! Managed-cluster sources: audit events read from the clouds' logging services instead of the webhook
//! (EKS: CloudWatch Logs). Each SDK sits behind a cargo feature of its own; the configuration readers
//! are always compiled so that a build without a feature can say so.

pub mod eks_config;

#[cfg(feature = "eks")]
pub mod eks;

//! AKS: the cluster's audit logs as Azure diagnostic records (categories `kube-audit` and
//! `kube-audit-admin`) that a diagnostic setting streams to an Event Hub, read as Falco's `k8saudit-aks`
//! plugin reads them, with the position of each partition kept in a blob container (the layout of
//! Azure's Event Hubs blob checkpoint stores, so a checkpoint written by the plugin is picked up).
//!
//! The SDK sits behind two small traits, [`hub::Hub`] (receive from a partition) and
//! [`checkpoint::CheckpointStore`] (load and save a partition's position): the consumer loop in
//! [`source`] is tested against stand-ins of both, and the blob store against Azurite.

pub mod blob;
pub mod bridge;
pub mod checkpoint;
pub mod eventhubs;
pub mod hub;
pub mod rate;
pub mod sas;
pub mod source;

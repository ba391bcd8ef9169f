//! kaudit's service: the webhook server, the event sources, the outputs and the falco.yaml
//! configuration, on tokio and hyper, around the engine crate.

#![forbid(unsafe_code)]

pub mod cloud;
pub mod config;
pub mod logging;
pub mod outputs;
pub mod replay;
pub mod replay_parallel;
pub mod server;
pub mod sources;

//! kaudit runtime: the audit event view, field extractors, operators, the interpreter, alerts,
//! outputs and the webhook server.

pub mod alert;
pub mod compiled;
pub mod config;
pub mod engine;
pub mod event;
pub mod fields;
pub mod ingest;
pub mod interp;
pub mod json;
pub mod ops;
pub mod replay;
pub mod settings;
pub mod value;

/// The rule IR crate, re-exported so generated code can name its types through the runtime alone.
pub use rulegen;
pub mod outputs;
pub mod server;

//! kaudit's engine: the audit event view, the k8saudit/json field extractors, Falco's operators, the
//! interpreter, the support the compiled engine's generated code calls, and alert formatting.
//!
//! No async runtime, no network, no TLS: the engine embeds in any tool that has audit events as bytes.
//! `ingest` owns "bytes → events" for every input (webhook bodies, files, cloud sources).

#![forbid(unsafe_code)]

pub mod alert;
pub mod compiled;
pub mod coverage;
pub mod engine;
pub mod event;
pub mod explain;
pub mod fields;
pub mod formats;
pub mod ingest;
pub mod interp;
pub mod json;
pub mod ops;
pub mod settings;
pub mod value;

/// The rule front end, re-exported so generated code can name its types through the engine alone.
pub use kaudit_frontend as frontend;

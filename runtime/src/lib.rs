//! kaudit runtime: the audit event view, field extractors, operators, the interpreter, alerts,
//! outputs and the webhook server.

pub mod engine;
pub mod event;
pub mod value;

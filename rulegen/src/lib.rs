//! kaudit's rule front end: Falco rule files (YAML) → resolved, type-checked rule IR → Rust tokens.
//!
//! Stages, each testable alone: spanned YAML reading → items → multi-file merge (append/override) →
//! condition text (exceptions, list expansion) → parse (`ast`) → resolve macros + type check (`ir`) →
//! code generation (`codegen`). No I/O beyond reading rule files.

pub mod ast;
pub mod catalog;
pub mod codegen;
pub mod ir;
pub mod ops;
pub mod span;
pub mod cond;
pub mod expand;
pub mod yaml;
pub mod diag;
pub mod items;
pub mod merge;
pub mod exceptions;
pub mod resolve;
pub mod typeck;
pub mod output;
pub mod load;

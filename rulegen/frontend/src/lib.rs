//! kaudit's rule front end: Falco rule files (YAML) → resolved, type-checked rule IR.
//!
//! Stages, each testable alone: spanned YAML reading → items → multi-file merge (append/override) →
//! condition text (exceptions, list expansion) → parse (`ast`) → resolve macros + type check (`ir`) →
//! the IR that both engines consume (`kaudit-codegen` turns it into Rust). No I/O beyond reading rule files.

#![forbid(unsafe_code)]

pub mod ast;
pub mod catalog;
pub mod cond;
pub mod diag;
pub mod dispatch;
pub mod exceptions;
pub mod expand;
pub mod ir;
pub mod items;
pub mod lint;
pub mod load;
pub mod merge;
pub mod ops;
pub mod output;
pub mod regex;
pub mod resolve;
pub mod span;
pub mod typeck;
pub mod yaml;

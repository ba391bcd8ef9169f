//! One module per subcommand.

pub mod codegen;
pub mod explain;
pub mod lint;
pub mod list;
pub mod replay;
pub mod serve;
pub mod test;
pub mod validate;

//! `compile_rules!()`: a thin proc-macro over `rulegen`'s code generator.

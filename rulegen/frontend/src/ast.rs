//! The condition syntax tree, as the parser produces it from (list-expanded) condition text.
//!
//! Offsets are byte offsets into the condition text that was parsed; the resolver maps them back to
//! file positions. Macro references are still names here; `ir` is the resolved form.

/// A condition expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// n-ary `and`, left to right with short-circuit.
    And(Vec<Expr>),
    /// n-ary `or`.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A bare identifier in check position: a macro reference.
    Macro {
        name: String,
        at: u32,
    },
    Check(Box<Check>),
}

/// `lhs op rhs` (or `lhs exists`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub lhs: Operand,
    pub op: CmpOp,
    /// `anyof` / `allof` / `oneof` after a string operator.
    pub modifier: Option<Modifier>,
    pub rhs: Rhs,
    /// Offset of the left operand in the parsed text.
    pub at: u32,
    /// Offset of the operator.
    pub op_at: u32,
}

/// A field, or a transformer applied to operands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Field(FieldRef),
    /// `func(args...)`, optionally followed by `[arg]` (e.g. `getopt(...)[c]`).
    Transform {
        func: Transformer,
        args: Vec<TArg>,
        arg: Option<String>,
        at: u32,
    },
}

/// `name` or `name[arg]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub name: String,
    /// The unescaped argument, if brackets were written.
    pub arg: Option<String>,
    pub at: u32,
}

/// A transformer argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TArg {
    Operand(Operand),
    /// A quoted string or number literal (e.g. the separator of `join`).
    Literal(String),
    /// `( item, ... )`: fields, transformers or literals (never a nested list).
    List(Vec<TArg>),
}

/// Right-hand side of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rhs {
    /// `exists` has none.
    None,
    /// One literal (quoted, bare or number); the flag records whether it was quoted.
    Value { text: String, quoted: bool, at: u32 },
    /// `( a, "b", ... )`, or a single identifier after a list operator.
    List { items: Vec<String>, at: u32 },
    /// `val(field)` or a transformer: a field-to-field comparison.
    Operand(Operand),
}

/// Comparison operators. One table (`crate::ops::OPERATORS`) describes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CmpOp {
    Eq,
    /// `==`: same semantics as `=`, kept apart so printing round-trips.
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    Regex,
    In,
    Intersects,
    PMatch,
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    AnyOf,
    AllOf,
    OneOf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transformer {
    ToLower,
    ToUpper,
    B64,
    Basename,
    Len,
    Join,
    Concat,
    Getopt,
    /// `val(field)`: right-hand side only.
    Val,
}

impl Transformer {
    pub const ALL: &'static [(Transformer, &'static str)] = &[
        (Transformer::ToLower, "tolower"),
        (Transformer::ToUpper, "toupper"),
        (Transformer::B64, "b64"),
        (Transformer::Basename, "basename"),
        (Transformer::Len, "len"),
        (Transformer::Join, "join"),
        (Transformer::Concat, "concat"),
        (Transformer::Getopt, "getopt"),
        (Transformer::Val, "val"),
    ];

    pub fn name(self) -> &'static str {
        Transformer::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    pub fn from_name(name: &str) -> Option<Transformer> {
        Transformer::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(t, _)| *t)
    }
}

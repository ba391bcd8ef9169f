//! The operator catalog: one row per comparison operator, used by the parser (spelling), the type
//! checker (which field types and list-ness it accepts), the printer and the docs.

use crate::ast::CmpOp;
use crate::catalog::FieldType;

/// How the parser reads what follows the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// `exists`: nothing follows.
    Unary,
    /// `< <= > >=`: a number (or transformer / `val()`).
    Numeric,
    /// `= == != contains ...`: one string (or a modifier and a list, or a transformer).
    String,
    /// `in intersects pmatch`: a parenthesised list or one identifier.
    List,
}

#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    pub op: CmpOp,
    /// Spelling in conditions.
    pub text: &'static str,
    pub class: OpClass,
    /// Allowed on `string` fields.
    pub on_string: bool,
    /// Allowed on numeric fields (`uint64`, `abstime`, `reltime`, `len()` results).
    pub on_numeric: bool,
    /// Allowed on `bool` fields.
    pub on_bool: bool,
    /// Allowed on list-valued fields without a deprecation warning.
    pub on_list: bool,
    /// A right-hand field (`val()` or a transformer) is allowed.
    pub rhs_field: bool,
    pub doc: &'static str,
}

const fn row(
    op: CmpOp,
    text: &'static str,
    class: OpClass,
    flags: (bool, bool, bool, bool, bool),
    doc: &'static str,
) -> OpInfo {
    let (on_string, on_numeric, on_bool, on_list, rhs_field) = flags;
    OpInfo {
        op,
        text,
        class,
        on_string,
        on_numeric,
        on_bool,
        on_list,
        rhs_field,
        doc,
    }
}

use OpClass::*;

/// Every operator. Flags: (string, numeric, bool, list field, right-hand field allowed).
/// Lexing order matters (docs/semantics.md#grammar): `exists`, numeric, string, list; longer spellings first.
pub static OPERATORS: &[OpInfo] = &[
    row(
        CmpOp::Exists,
        "exists",
        Unary,
        (true, true, true, true, false),
        "the field could be extracted",
    ),
    row(
        CmpOp::Le,
        "<=",
        Numeric,
        (true, true, false, false, true),
        "less or equal (byte-wise for strings)",
    ),
    row(
        CmpOp::Lt,
        "<",
        Numeric,
        (true, true, false, false, true),
        "less than (byte-wise for strings)",
    ),
    row(
        CmpOp::Ge,
        ">=",
        Numeric,
        (true, true, false, false, true),
        "greater or equal (byte-wise for strings)",
    ),
    row(
        CmpOp::Gt,
        ">",
        Numeric,
        (true, true, false, false, true),
        "greater than (byte-wise for strings)",
    ),
    row(
        CmpOp::EqEq,
        "==",
        String,
        (true, true, true, false, true),
        "equal",
    ),
    row(
        CmpOp::Eq,
        "=",
        String,
        (true, true, true, false, true),
        "equal",
    ),
    row(
        CmpOp::Ne,
        "!=",
        String,
        (true, true, true, false, true),
        "not equal (false when the field is missing)",
    ),
    row(
        CmpOp::Glob,
        "glob",
        String,
        (true, false, false, false, true),
        "fnmatch(3) pattern, whole value",
    ),
    row(
        CmpOp::IGlob,
        "iglob",
        String,
        (true, false, false, false, true),
        "case-insensitive glob",
    ),
    row(
        CmpOp::Contains,
        "contains",
        String,
        (true, false, false, false, true),
        "substring",
    ),
    row(
        CmpOp::IContains,
        "icontains",
        String,
        (true, false, false, false, true),
        "ASCII case-insensitive substring",
    ),
    row(
        CmpOp::BContains,
        "bcontains",
        String,
        (false, false, false, false, true),
        "byte-buffer substring (hex literal); not for strings",
    ),
    row(
        CmpOp::StartsWith,
        "startswith",
        String,
        (true, false, false, false, true),
        "prefix",
    ),
    row(
        CmpOp::BStartsWith,
        "bstartswith",
        String,
        (false, false, false, false, true),
        "byte-buffer prefix (hex literal); not for strings",
    ),
    row(
        CmpOp::EndsWith,
        "endswith",
        String,
        (true, false, false, false, true),
        "suffix",
    ),
    row(
        CmpOp::Regex,
        "regex",
        String,
        (true, false, false, false, false),
        "RE2 full match",
    ),
    row(
        CmpOp::Intersects,
        "intersects",
        List,
        (true, true, true, true, true),
        "some value is in the set",
    ),
    row(
        CmpOp::In,
        "in",
        List,
        (true, true, true, true, true),
        "every value is in the set",
    ),
    row(
        CmpOp::PMatch,
        "pmatch",
        List,
        (true, false, false, false, false),
        "path-prefix match against the set",
    ),
];

impl CmpOp {
    pub fn info(self) -> &'static OpInfo {
        // The table above has a row for every `CmpOp` variant (the parser tests use each operator).
        #[allow(clippy::expect_used)]
        OPERATORS
            .iter()
            .find(|o| o.op == self)
            .expect("every CmpOp has a row in OPERATORS")
    }
    pub fn text(self) -> &'static str {
        self.info().text
    }
    /// Whether the operator accepts a left-hand side of type `ty` (single-valued).
    pub fn accepts(self, ty: FieldType) -> bool {
        let i = self.info();
        match ty {
            FieldType::String => i.on_string,
            FieldType::Bool => i.on_bool,
            _ => i.on_numeric,
        }
    }
}

/// The string operators whose literal needs no compiled form: `= == != < <= > >= contains startswith
/// endswith`. Both engines evaluate exactly these with `kaudit_engine::ops::compare::str_test` (the
/// interpreter's matcher and the generated code alike); the others go through a compiled matcher.
pub const fn is_plain_str_op(op: CmpOp) -> bool {
    matches!(
        op,
        CmpOp::Eq
            | CmpOp::EqEq
            | CmpOp::Ne
            | CmpOp::Lt
            | CmpOp::Le
            | CmpOp::Gt
            | CmpOp::Ge
            | CmpOp::Contains
            | CmpOp::StartsWith
            | CmpOp::EndsWith
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_has_exactly_one_row() {
        for o in OPERATORS {
            assert_eq!(
                OPERATORS.iter().filter(|p| p.op == o.op).count(),
                1,
                "{}",
                o.text
            );
        }
    }
}

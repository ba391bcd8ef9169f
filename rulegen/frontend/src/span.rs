//! Source locations. Every item, key, condition and diagnostic carries one, so that errors can point
//! into the YAML the user wrote.

/// Index of a rule file in the load order (`Ruleset::files`).
pub type FileId = u32;

/// A region of a rule file. `line`/`col` are 1-based (what editors and rustc show); Falco's own 0-based
/// marks are derived from them where Falco-compatible output needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    /// Byte offset of the start in the file.
    pub offset: u32,
    /// Length in bytes (0 for a point).
    pub len: u32,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub const fn point(file: FileId, offset: u32, line: u32, col: u32) -> Span {
        Span {
            file,
            offset,
            len: 0,
            line,
            col,
        }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

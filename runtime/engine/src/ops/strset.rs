//! `StrSet`: the literal set of `in`/`intersects`, hashed when large enough to pay off.

// Keys are the rule's literals (events only look up), so no flooding-resistant hash is needed.
use foldhash::HashSet;

/// Below this size a linear scan beats hashing.
const LINEAR_MAX: usize = 8;

#[derive(Debug, Clone)]
pub enum StrSet {
    Small(Vec<Box<str>>),
    Hashed(HashSet<Box<str>>),
}

impl StrSet {
    pub fn new<S: AsRef<str>>(items: &[S]) -> StrSet {
        if items.len() <= LINEAR_MAX {
            StrSet::Small(items.iter().map(|s| Box::from(s.as_ref())).collect())
        } else {
            StrSet::Hashed(items.iter().map(|s| Box::from(s.as_ref())).collect())
        }
    }

    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Small(v) => v.iter().any(|x| &**x == s),
            StrSet::Hashed(h) => h.contains(s),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            StrSet::Small(v) => v.is_empty(),
            StrSet::Hashed(h) => h.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_hashed_agree() {
        let items: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
        let big = StrSet::new(&items);
        let small = StrSet::new(&items[..3]);
        assert!(matches!(big, StrSet::Hashed(_)));
        assert!(matches!(small, StrSet::Small(_)));
        assert!(big.contains("v19") && !big.contains("v20"));
        assert!(small.contains("v2") && !small.contains("v3"));
        assert!(StrSet::new::<&str>(&[]).is_empty());
    }
}

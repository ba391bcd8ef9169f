//! `pmatch` (docs/semantics.md#glob-pmatch-and-regex): path-prefix matching against a set of paths. Paths are
//! compared component by component (split on `/`, empty components dropped); a listed path matches a value whose
//! components start with the listed ones. Listed components containing `*`, `?` or `[` are globs matched against
//! one component (a wildcard never crosses `/`).

use super::glob::Glob;

#[derive(Debug, Clone)]
enum Component {
    Lit(String),
    Glob(Glob),
}

/// A compiled set of path prefixes.
#[derive(Debug, Clone, Default)]
pub struct PMatchSet {
    paths: Vec<Vec<Component>>,
}

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

impl PMatchSet {
    pub fn new<S: AsRef<str>>(paths: &[S]) -> PMatchSet {
        let paths = paths
            .iter()
            .map(|p| {
                components(p.as_ref())
                    .map(|c| {
                        if c.contains(['*', '?', '[']) {
                            Component::Glob(Glob::new(c, false))
                        } else {
                            Component::Lit(c.to_string())
                        }
                    })
                    .collect()
            })
            .collect();
        PMatchSet { paths }
    }

    /// Whether some listed path is a component prefix of `value`.
    pub fn matches(&self, value: &str) -> bool {
        self.paths.iter().any(|p| {
            let mut v = components(value);
            p.iter().all(|c| match (c, v.next()) {
                (Component::Lit(l), Some(x)) => l == x,
                (Component::Glob(g), Some(x)) => g.matches(x),
                (_, None) => false,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_by_components() {
        let s = PMatchSet::new(&["/var/run", "/etc/"]);
        assert!(s.matches("/var/run"));
        assert!(s.matches("/var/run/x"));
        assert!(s.matches("/var//run/"));
        assert!(s.matches("var/run/x"));
        assert!(!s.matches("/var/runx"));
        assert!(!s.matches("/var"));
        assert!(s.matches("/etc"));
        assert!(s.matches("/etc/passwd"));
        assert!(!s.matches("/usr/etc"));
    }

    #[test]
    fn root_matches_everything() {
        let s = PMatchSet::new(&["/"]);
        assert!(s.matches("/anything/at/all"));
        assert!(s.matches("relative"));
        assert!(!PMatchSet::new::<&str>(&[]).matches("/x"));
    }

    #[test]
    fn wildcards_stay_within_one_component() {
        let s = PMatchSet::new(&["/var/*/docker.sock", "/home/us?r"]);
        assert!(s.matches("/var/run/docker.sock"));
        assert!(s.matches("/var/run/docker.sock/x"));
        assert!(!s.matches("/var/a/b/docker.sock"));
        assert!(s.matches("/home/user/.ssh"));
        assert!(!s.matches("/home/users"));
    }
}

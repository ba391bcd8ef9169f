//! File descriptors: raise the soft `RLIMIT_NOFILE` to the hard limit at start, and fit the connection
//! cap under it, so that a full set of connections never leaves the outputs, the accept loop or an
//! accepted batch without a descriptor ("Too many open files").

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept free of connections: listeners, output files and sockets, pipes, the runtime's own.
pub const RESERVED_FDS: u64 = 64;

/// Raises the soft limit to the hard one; returns the soft limit now in force (`None`: unlimited).
pub fn raise_nofile_limit() -> Option<u64> {
    let lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, soft = ?lim.current, "cannot raise the open-files limit");
            return lim.current;
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The connection cap that fits `fd_limit` (each connection holds one descriptor).
pub fn fit_connections(configured: usize, fd_limit: Option<u64>) -> usize {
    match fd_limit {
        None => configured,
        Some(n) => {
            let room = n.saturating_sub(RESERVED_FDS).max(1);
            configured.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_everything_else() {
        assert_eq!(fit_connections(1024, Some(256)), 192);
        assert_eq!(fit_connections(1024, Some(1_048_576)), 1024);
        assert_eq!(fit_connections(1024, None), 1024);
        assert_eq!(fit_connections(1024, Some(10)), 1);
    }

    #[test]
    fn raising_gives_the_hard_limit() {
        let soft = raise_nofile_limit();
        assert_eq!(soft, getrlimit(Resource::Nofile).maximum);
    }
}

//! The allocator setting of `kaudit serve`: glibc's malloc with a single arena.
//!
//! By default glibc gives threads their own arenas (up to eight per core), each a 64 MiB reservation
//! that keeps what was freed into it for its own later use. The webhook's threads pass memory along
//! (an I/O thread reads a body, a parse thread tapes it, the evaluation workers free both and allocate
//! alerts, an output thread frees those), so every arena holds memory its thread freed for others and
//! fresh pages keep being faulted in. On the webhook benchmark one arena lowered the peak RSS from about
//! 45 to 36 MiB and the page faults by more than half, and gave 14% more events per CPU-second
//! (bench/README.md, "issue 14, sixth pass"); small allocations still go through each thread's own
//! cache (tcache) without taking the arena's lock. `kaudit replay` does not call this (it measured the
//! same either way).
//!
//! `GLIBC_TUNABLES=glibc.malloc.arena_max=N` in the environment overrides this (it is left alone).

/// Whether an explicit `glibc.malloc.arena_max` is in `GLIBC_TUNABLES` (then the user's choice stands).
fn set_by_user(tunables: Option<&std::ffi::OsStr>) -> bool {
    tunables.is_some_and(|t| t.to_string_lossy().contains("glibc.malloc.arena_max"))
}

/// Limits glibc's malloc to one arena unless the environment sets the limit. Call it before spawning
/// threads: arenas already created stay. Returns whether the limit was set here.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn use_one_arena() -> bool {
    if set_by_user(std::env::var_os("GLIBC_TUNABLES").as_deref()) {
        return false;
    }
    // SAFETY: `mallopt` only stores an allocator parameter (under glibc's own lock); it takes plain
    // integers, touches no memory of ours, and returns 1 on success.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 }
}

/// Other C libraries (musl's allocator has no arenas): nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn use_one_arena() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn an_arena_limit_in_glibc_tunables_is_the_users_choice() {
        assert!(!set_by_user(None));
        assert!(!set_by_user(Some(OsStr::new(
            "glibc.malloc.tcache_count=0"
        ))));
        assert!(set_by_user(Some(OsStr::new("glibc.malloc.arena_max=4"))));
        assert!(set_by_user(Some(OsStr::new(
            "glibc.malloc.trim_threshold=1:glibc.malloc.arena_max=2"
        ))));
    }
}

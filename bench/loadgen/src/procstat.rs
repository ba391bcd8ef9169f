//! What /proc says about the server under load: peak RSS (VmHWM) and CPU time.

/// Peak resident set size in KiB (`VmHWM` of /proc/<pid>/status).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field_kib(&status, "VmHWM:")
}

fn status_field_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.get(key.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU seconds the process (all threads) has used (/proc/<pid>/stat fields 14 and 15).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_seconds_from_stat(&stat, clock_ticks())
}

fn cpu_seconds_from_stat(stat: &str, ticks_per_second: f64) -> Option<f64> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' the first field is the state (field 3), so utime (14) is index 11 and stime (15) index 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second)
}

/// Polls the process's CPU time every `window` until one window passes with (almost) no CPU used;
/// returns when that idle window began, or `None` if the process stayed busy for `limit` or vanished.
pub fn wait_idle(
    pid: u32,
    window: std::time::Duration,
    limit: std::time::Duration,
) -> Option<std::time::Instant> {
    let start = std::time::Instant::now();
    let mut before = cpu_seconds(pid)?;
    let mut at = std::time::Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(window);
        let now = cpu_seconds(pid)?;
        // One clock tick of slack: an idle event loop may still wake up now and then.
        if now - before <= 1.0 / clock_ticks() + 1e-9 {
            return Some(at);
        }
        before = now;
        at = std::time::Instant::now();
    }
    None
}

/// USER_HZ; 100 on every Linux configuration this runs on (not worth a libc dependency).
fn clock_ticks() -> f64 {
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vmhwm_from_status_text() {
        let s = "Name:\tkaudit\nVmPeak:\t  99 kB\nVmHWM:\t   31234 kB\nVmRSS:\t 30000 kB\n";
        assert_eq!(status_field_kib(s, "VmHWM:"), Some(31234));
        assert_eq!(status_field_kib(s, "VmSwap:"), None);
    }

    #[test]
    fn reads_cpu_time_even_with_odd_command_names() {
        let stat =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 100 0 0";
        assert_eq!(cpu_seconds_from_stat(stat, 100.0), Some(3.0));
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(peak_rss_kib(me).is_some_and(|k| k > 0));
        assert!(cpu_seconds(me).is_some());
    }
}

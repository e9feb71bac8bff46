//! Small facts about the calling process, for introspection: resident memory, open fds, the
//! wall clock. Each returns 0 (not an error) when `/proc` is not mounted yet, as in early boot.

use std::time::{SystemTime, UNIX_EPOCH};

/// Resident set size in bytes: `Rss:` of `/proc/self/smaps_rollup` (the page tables walked),
/// else `/proc/self/statm`. statm (and status's VmRSS) are, on kernels before 6.2, sums each
/// thread brings up to date after every 64 page faults: a process that has faulted little
/// since, as cairn-init at rest, read 4 KiB there for an RSS of 700.
pub fn rss_bytes() -> u64 {
    if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        if let Some(kb) = rollup_rss_kib(&rollup) {
            return kb * 1024;
        }
    }
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// The `Rss:` line of a smaps_rollup, in KiB.
fn rollup_rss_kib(rollup: &str) -> Option<u64> {
    rollup.lines().find_map(|l| {
        let rest = l.strip_prefix("Rss:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// How many fds the process has open, from `/proc/self/fd` (minus the one used to read it).
pub fn open_fds() -> u32 {
    match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => u32::try_from(dir.count().saturating_sub(1)).unwrap_or(u32::MAX),
        Err(_) => 0,
    }
}

/// Microseconds since the Unix epoch.
pub fn realtime_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Microseconds of CLOCK_MONOTONIC (since boot, not counting suspend): what systemd's
/// `…TimestampMonotonic` properties count.
pub fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000
                + u64::try_from(t.tv_nsec()).unwrap_or(0) / 1000
        })
        .unwrap_or(0)
}

/// UTC calendar fields of a time in microseconds since the epoch: (year, month, day, hour,
/// minute, second, microsecond). Howard Hinnant's `civil_from_days`, no time-zone database.
pub fn utc_fields(usec: u64) -> (u64, u64, u64, u64, u64, u64, u64) {
    let secs = usec / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (
        year,
        month,
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        usec % 1_000_000,
    )
}

/// The path of the running binary (`/proc/self/exe`, or argv[0] when /proc is absent).
pub fn binary_path() -> String {
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .or_else(|_| std::env::args().next().ok_or(()))
        .unwrap_or_default()
}

/// Raises RLIMIT_NOFILE (soft and hard) to the kernel's `fs.nr_open`, as pid1, the supervisor
/// and the activator must: 16,000 sockets are held three times. Returns the limit in force.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    if setrlimit(Resource::RLIMIT_NOFILE, nr_open, nr_open).is_ok() {
        return nr_open;
    }
    // Without CAP_SYS_RESOURCE the hard limit cannot rise: take the soft one up to it.
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) => {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
            hard
        }
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_counts_pages_as_they_are_touched() {
        let before = rss_bytes();
        assert!(before > 0);
        // 8 MiB of fresh pages (a mapping of their own), each written once.
        let mut block = vec![0u8; 8 << 20];
        for i in (0..block.len()).step_by(4096) {
            block[i] = 1;
        }
        let after = rss_bytes();
        assert!(
            after >= before + (7 << 20),
            "before {before}, after touching 8 MiB {after}"
        );
        drop(block);
    }

    #[test]
    fn rss_is_the_rollups_rss_line() {
        let rollup = "55d2745e5000-7ffd7f81e000 ---p 00000000 00:00 0  [rollup]\n\
                      Rss:                 768 kB\n\
                      Pss:                 764 kB\n\
                      Pss_Anon:             72 kB\n";
        assert_eq!(rollup_rss_kib(rollup), Some(768));
        assert_eq!(rollup_rss_kib("Pss: 1 kB\n"), None);
        assert_eq!(rollup_rss_kib("Rss: many kB\n"), None);
    }
}

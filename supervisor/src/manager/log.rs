//! Each unit's recent output: a bounded ring of records (time, pid, priority, text), fed by the
//! pipe its processes write to. Persistent and remote sinks come with issue 4.

use std::collections::VecDeque;

/// Lines kept per unit.
pub const RING: usize = 1000;
/// A unit may log this many lines per window; past that its lines are dropped and counted,
/// and one record says how many (journald's RateLimitBurst=10000 per 30 s). The service is
/// throttled, never the manager.
pub const RATE_BURST: u32 = 10_000;
pub const RATE_WINDOW_USEC: u64 = 30_000_000;
/// A line longer than this is cut (and the rest starts a new record), as journald does.
pub const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Grows by one per record, per unit: `log -f` asks for what came after a cursor.
    pub seq: u64,
    pub realtime_usec: u64,
    pub pid: i32,
    /// syslog priority from a `<N>` prefix, else 6 (info).
    pub priority: u8,
    pub text: String,
}

/// A unit's ring, made at its first line: most loaded units never log, and an empty ring was
/// 88 bytes of each of them. Reads of a unit that has none see an empty ring.
#[derive(Debug, Default)]
pub struct LazyRing(Option<Box<Ring>>);

static EMPTY: Ring = Ring {
    records: VecDeque::new(),
    next_seq: 0,
    partial: Vec::new(),
    window_start: 0,
    window_count: 0,
    suppressed: 0,
    default_priority: None,
};

impl std::ops::Deref for LazyRing {
    type Target = Ring;
    fn deref(&self) -> &Ring {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl std::ops::DerefMut for LazyRing {
    fn deref_mut(&mut self) -> &mut Ring {
        self.0.get_or_insert_with(Default::default)
    }
}

#[derive(Debug, Default)]
pub struct Ring {
    records: VecDeque<Record>,
    next_seq: u64,
    /// Bytes of a line not yet ended by a newline.
    partial: Vec<u8>,
    window_start: u64,
    window_count: u32,
    suppressed: u64,
    /// The priority of a line without a `<N>` prefix (SyslogLevel=); None: info.
    pub default_priority: Option<u8>,
}

/// Splits a `<N>` priority prefix off a line.
pub fn priority(line: &str) -> (u8, &str) {
    let b = line.as_bytes();
    if let (Some(b'<'), Some(d), Some(b'>')) = (b.first(), b.get(1), b.get(2)) {
        if d.is_ascii_digit() && *d <= b'7' {
            return (d - b'0', line.get(3..).unwrap_or(""));
        }
    }
    (6, line)
}

impl Ring {
    /// Counts a line against the rate limit; false when it is to be dropped.
    fn admit(&mut self, now: u64) -> bool {
        if now.saturating_sub(self.window_start) >= RATE_WINDOW_USEC {
            if self.suppressed > 0 {
                let n = self.suppressed;
                self.suppressed = 0;
                self.store(
                    0,
                    now,
                    4,
                    format!(
                        "cairn: suppressed {n} lines (more than {RATE_BURST} in {} s)",
                        RATE_WINDOW_USEC / 1_000_000
                    ),
                );
            }
            self.window_start = now;
            self.window_count = 0;
        }
        if self.window_count >= RATE_BURST {
            self.suppressed += 1;
            return false;
        }
        self.window_count += 1;
        true
    }

    /// Lines dropped by the rate limit and not yet reported.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn store(&mut self, pid: i32, realtime_usec: u64, priority: u8, text: String) {
        if self.records.len() >= RING {
            self.records.pop_front();
        }
        self.records.push_back(Record {
            seq: self.next_seq,
            realtime_usec,
            pid,
            priority,
            text,
        });
        self.next_seq += 1;
    }

    pub fn push_line(&mut self, pid: i32, realtime_usec: u64, line: &str) {
        if !self.admit(realtime_usec) {
            return;
        }
        let (prio, text) = match priority(line) {
            (6, t) if t.len() == line.len() => (self.default_priority.unwrap_or(6), t),
            other => other,
        };
        self.store(pid, realtime_usec, prio, text.to_string());
    }

    /// Feeds raw bytes from the pipe; complete lines become records.
    pub fn feed(&mut self, pid: i32, realtime_usec: u64, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' || self.partial.len() >= MAX_LINE {
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                self.partial.clear();
                self.push_line(pid, realtime_usec, &line);
                if b == b'\n' {
                    continue;
                }
            }
            self.partial.push(b);
        }
    }

    /// Ends a partial line (the writer closed the pipe).
    pub fn flush(&mut self, pid: i32, realtime_usec: u64) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            self.push_line(pid, realtime_usec, &line);
        }
    }

    /// The last `n` records, or those after `cursor`.
    pub fn tail(&self, n: usize, after: Option<u64>) -> Vec<Record> {
        self.tail_filtered(n, after, 7, 0)
    }

    /// As `tail`, keeping records of priority `max_priority` or more important, and newer
    /// than `since_usec`.
    pub fn tail_filtered(
        &self,
        n: usize,
        after: Option<u64>,
        max_priority: u8,
        since_usec: u64,
    ) -> Vec<Record> {
        let it = self.records.iter().filter(|r| {
            after.is_none_or(|c| r.seq > c)
                && r.priority <= max_priority
                && r.realtime_usec >= since_usec
        });
        let all: Vec<&Record> = it.collect();
        let skip = all.len().saturating_sub(n);
        all.into_iter().skip(skip).cloned().collect()
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_priorities_and_partial_writes() {
        let mut r = Ring::default();
        r.feed(7, 1, b"<3>bad thing\nhal");
        r.feed(7, 2, b"f\n");
        let t = r.tail(10, None);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].priority, t[0].text.as_str()), (3, "bad thing"));
        assert_eq!((t[1].priority, t[1].text.as_str()), (6, "half"));
        assert_eq!(r.tail(1, None)[0].text, "half");
        assert_eq!(r.tail(10, Some(0)).len(), 1);
    }

    #[test]
    fn a_flood_is_cut_and_counted_then_reported() {
        let mut r = Ring::default();
        let t0 = 1_000_000_000;
        for i in 0..RATE_BURST + 500 {
            r.push_line(1, t0 + u64::from(i), "spam");
        }
        assert_eq!(r.suppressed(), 500);
        assert_eq!(r.next_seq(), u64::from(RATE_BURST));
        // The next window reports the drop first.
        r.push_line(1, t0 + RATE_WINDOW_USEC + 1, "calm");
        let t = r.tail(2, None);
        assert!(t[0].text.contains("suppressed 500 lines"), "{:?}", t[0]);
        assert_eq!(t[0].priority, 4);
        assert_eq!(t[1].text, "calm");
    }

    #[test]
    fn syslog_level_sets_the_priority_of_unprefixed_lines() {
        let mut r = Ring {
            default_priority: Some(4),
            ..Ring::default()
        };
        r.push_line(1, 1, "plain");
        r.push_line(1, 2, "<2>prefixed");
        r.push_line(1, 3, "<6>info said so");
        let p: Vec<u8> = r.tail(3, None).iter().map(|x| x.priority).collect();
        assert_eq!(p, vec![4, 2, 6]);
    }

    #[test]
    fn filters_by_priority_and_time() {
        let mut r = Ring::default();
        r.push_line(1, 10, "<3>error");
        r.push_line(1, 20, "info");
        r.push_line(1, 30, "<2>critical");
        let texts = |v: Vec<Record>| v.into_iter().map(|r| r.text).collect::<Vec<_>>();
        assert_eq!(
            texts(r.tail_filtered(10, None, 3, 0)),
            vec!["error", "critical"]
        );
        assert_eq!(
            texts(r.tail_filtered(10, None, 7, 20)),
            vec!["info", "critical"]
        );
    }

    #[test]
    fn the_ring_is_bounded_and_long_lines_are_cut() {
        let mut r = Ring::default();
        for i in 0..RING + 5 {
            r.push_line(1, 0, &format!("{i}"));
        }
        assert_eq!(r.tail(usize::MAX, None).len(), RING);
        assert_eq!(r.tail(1, None)[0].text, format!("{}", RING + 4));
        let mut r = Ring::default();
        r.feed(1, 0, &vec![b'x'; MAX_LINE + 10]);
        r.flush(1, 0);
        let t = r.tail(10, None);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].text.len(), MAX_LINE);
    }
}

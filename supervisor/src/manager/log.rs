//! Each unit's recent output: a bounded ring of records (time, pid, priority, text), fed by the
//! pipe its processes write to. Persistent and remote sinks come with issue 4.

use std::collections::VecDeque;

/// Lines kept per unit.
pub const RING: usize = 1000;
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

#[derive(Debug, Default)]
pub struct Ring {
    records: VecDeque<Record>,
    next_seq: u64,
    /// Bytes of a line not yet ended by a newline.
    partial: Vec<u8>,
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
    pub fn push_line(&mut self, pid: i32, realtime_usec: u64, line: &str) {
        let (prio, text) = priority(line);
        if self.records.len() >= RING {
            self.records.pop_front();
        }
        self.records.push_back(Record {
            seq: self.next_seq,
            realtime_usec,
            pid,
            priority: prio,
            text: text.to_string(),
        });
        self.next_seq += 1;
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
        let it = self
            .records
            .iter()
            .filter(|r| after.is_none_or(|c| r.seq > c));
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

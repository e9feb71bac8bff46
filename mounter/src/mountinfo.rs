//! `/proc/self/mountinfo`, read and watched.
//!
//! The kernel marks the file with POLLPRI whenever the mount table of this mount namespace
//! changes; the mounter rereads it then and reports the whole table (which is small, and
//! makes every report self-contained: a lost report loses nothing).

/// One line of mountinfo, the fields cairn uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    pub where_: String,
    pub what: String,
    pub fstype: String,
    /// Per-mount options, then the superblock's (`rw,relatime,size=…`).
    pub options: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            let digits = b
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|x| (b'0'..=b'7').contains(x)));
            if let Some(d) = digits {
                let v = d.iter().fold(0u32, |acc, x| acc * 8 + u32::from(x - b'0'));
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Undoes udev's `\xNN` encoding of a /dev/disk/by-* name.
pub fn unescape_hex(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' && b.get(i + 1) == Some(&b'x') {
            let hex = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the whole file; lines that do not parse are skipped (the kernel writes them, so
/// that would be a kernel change, not bad input).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    // id parent major:minor root mount-point mount-options [optional…] - fstype source super-options
    let (head, tail) = line.split_once(" - ")?;
    let h: Vec<&str> = head.split(' ').collect();
    let t: Vec<&str> = tail.split(' ').collect();
    let id = h.first()?.parse().ok()?;
    let parent = h.get(1)?.parse().ok()?;
    let where_ = unescape(h.get(4)?);
    let mount_opts = h.get(5)?;
    let fstype = t.first()?.to_string();
    let what = unescape(t.get(1)?);
    let super_opts = t.get(2).copied().unwrap_or("");
    Some(Mount {
        id,
        parent,
        where_,
        what,
        fstype,
        options: if super_opts.is_empty() {
            mount_opts.to_string()
        } else {
            format!("{mount_opts},{super_opts}")
        },
    })
}

/// The current table. When several mounts are stacked on one path the last (topmost) wins.
pub fn read() -> std::io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
30 22 0:26 / /srv/my\\040data rw,relatime - tmpfs tmpfs rw,size=1024k
31 30 7:0 / /srv/my\\040data/in rw - ext4 /dev/loop0 rw
bad line
";

    #[test]
    fn fields_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].where_, "/proc");
        assert_eq!(m[0].options, "rw,nosuid,nodev,noexec,relatime,rw");
        assert_eq!(m[1].where_, "/srv/my data");
        assert_eq!(m[1].fstype, "tmpfs");
        assert_eq!(m[2].what, "/dev/loop0");
        assert_eq!(m[2].parent, 30);
        assert_eq!(unescape("a\\134b\\011c\\9"), "a\\b\tc\\9");
        assert_eq!(unescape_hex("my\\x20disk\\x2fx"), "my disk/x");
    }

    #[test]
    fn this_process_sees_its_root() {
        let m = read().unwrap();
        assert!(m.iter().any(|x| x.where_ == "/"));
    }
}

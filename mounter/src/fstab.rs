//! /etc/fstab parsing, as libmount reads the file and systemd-fstab-generator
//! interprets each entry. Pure parsing: never panics on any input.

use crate::options::{self, FstabOptions, MountOptions};

/// Lines longer than this many bytes are rejected.
pub const MAX_LINE: usize = 64 * 1024;

/// One usable fstab line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number in the file.
    pub line: usize,
    /// The source after unescaping and `UUID=`/`LABEL=`/`PARTUUID=`/
    /// `PARTLABEL=` mapping to `/dev/disk/by-*/` (see [`node_to_udev_node`]).
    pub what: String,
    /// The unescaped first field, as written (for messages).
    pub source: String,
    /// The mount point, unescaped and simplified; for swap it may be
    /// `none`/`swap` (any non-absolute text is kept as written).
    pub where_: String,
    /// The filesystem type (`auto` when missing).
    pub fstype: String,
    /// The unescaped option string (`defaults` when missing).
    pub options: String,
    /// Dump frequency (0 when missing).
    pub freq: u32,
    /// fsck pass (0 when missing).
    pub passno: u32,
    /// The settings cairn reads from `options`.
    pub settings: FstabOptions,
}

impl Entry {
    /// Whether this is a swap entry (fstype `swap`).
    pub fn is_swap(&self) -> bool {
        self.fstype == "swap"
    }

    /// Whether the mount needs the network: `_netdev` or a network fstype.
    pub fn is_network(&self) -> bool {
        self.settings.netdev || fstype_is_network(&self.fstype)
    }

    /// What mount(2) gets for this entry's options.
    pub fn mount_options(&self) -> MountOptions {
        options::parse_mount_options(&self.options)
    }
}

/// A line that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct FstabError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// systemd's `fstype_is_network` (v252).
pub fn fstype_is_network(fstype: &str) -> bool {
    let t = fstype.strip_prefix("fuse.").unwrap_or(fstype);
    matches!(
        t,
        "afs"
            | "ceph"
            | "cifs"
            | "smb3"
            | "smbfs"
            | "sshfs"
            | "ncpfs"
            | "ncp"
            | "nfs"
            | "nfs4"
            | "gfs"
            | "gfs2"
            | "glusterfs"
            | "pvfs2"
            | "ocfs2"
            | "lustre"
            | "davfs"
    )
}

/// Parses a whole fstab. Bad lines are returned as errors (line number +
/// reason) and skipped; the others are returned in file order. Duplicate
/// mount points are not checked here.
pub fn parse(text: &str) -> (Vec<Entry>, Vec<FstabError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i.saturating_add(1);
        match parse_line(raw, line) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(message) => errors.push(FstabError { line, message }),
        }
    }
    (entries, errors)
}

/// Parses one line (without its `\n`). `Ok(None)` for blank and comment lines.
pub fn parse_line(raw: &str, line: usize) -> Result<Option<Entry>, String> {
    if raw.len() > MAX_LINE {
        return Err(format!("line longer than {MAX_LINE} bytes"));
    }
    if raw.contains('\0') {
        return Err("line contains a NUL byte".into());
    }
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    let body = raw.trim_start_matches([' ', '\t']);
    if body.is_empty() || body.starts_with('#') {
        return Ok(None);
    }
    let mut fields = body.split([' ', '\t']).filter(|f| !f.is_empty());
    let (Some(source), Some(target)) = (fields.next(), fields.next()) else {
        return Err("missing mount point".into());
    };
    let source = unescape(source).map_err(|e| format!("source: {e}"))?;
    let target = unescape(target).map_err(|e| format!("mount point: {e}"))?;
    let fstype = match fields.next() {
        Some(f) => unescape(f).map_err(|e| format!("filesystem type: {e}"))?,
        None => "auto".to_string(),
    };
    let options = match fields.next() {
        Some(f) => unescape(f).map_err(|e| format!("options: {e}"))?,
        None => "defaults".to_string(),
    };
    let freq = parse_number(fields.next(), "dump frequency")?;
    let passno = parse_number(fields.next(), "pass number")?;
    // Further fields are ignored, as libmount does.

    let where_ = if target.starts_with('/') {
        if fstype != "swap" && target.split('/').any(|c| c == "..") {
            return Err(format!("mount point {target:?} contains \"..\""));
        }
        simplify_path(&target)
    } else if fstype == "swap" {
        target
    } else {
        return Err(format!("mount point {target:?} is not an absolute path"));
    };
    Ok(Some(Entry {
        line,
        what: node_to_udev_node(&source),
        source,
        where_,
        fstype,
        settings: options::parse_fstab_options(&options),
        options,
        freq,
        passno,
    }))
}

fn parse_number(field: Option<&str>, what: &str) -> Result<u32, String> {
    match field {
        None => Ok(0),
        Some(f) => f.parse().map_err(|_| format!("invalid {what} {f:?}")),
    }
}

/// Undoes fstab's octal escapes (`\040` space, `\011` tab, `\012` newline,
/// `\134` backslash, or any other `\ooo`) like libmount's `unmangle`: a
/// backslash not followed by three octal digits stays literal, and values
/// over `\377` wrap to a byte as in C. A result with NUL or that is not
/// UTF-8 is an error. (systemd 252 itself reads fstab with glibc's
/// getmntent, which decodes only `\040 \011 \012 \134` and `\\`; mount(8)
/// and later systemd use libmount, which this follows.)
pub fn unescape(field: &str) -> Result<String, String> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if let Some(&[b'\\', a, b, c]) = bytes.get(i..i.saturating_add(4)) {
            if [a, b, c].iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v =
                    (u32::from(a - b'0') << 6) | (u32::from(b - b'0') << 3) | u32::from(c - b'0');
                out.push(v.to_le_bytes().first().copied().unwrap_or(0));
                i += 4;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    if out.contains(&0) {
        return Err(format!("{field:?} has an escaped NUL"));
    }
    String::from_utf8(out).map_err(|_| format!("{field:?} is not UTF-8 after unescaping"))
}

/// Simplifies an absolute path as systemd's `path_simplify`: no duplicate
/// slashes, no `.` components, no trailing slash (except for `/`).
pub fn simplify_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// systemd's `fstab_node_to_udev_node`: `LABEL=`, `UUID=`, `PARTUUID=` and
/// `PARTLABEL=` become `/dev/disk/by-{label,uuid,partuuid,partlabel}/<value>`
/// with one pair of surrounding quotes removed and the value encoded by
/// [`encode_devnode_name`]. Anything else is returned unchanged.
pub fn node_to_udev_node(source: &str) -> String {
    const TAGS: [(&str, &str); 4] = [
        ("LABEL=", "label"),
        ("UUID=", "uuid"),
        ("PARTUUID=", "partuuid"),
        ("PARTLABEL=", "partlabel"),
    ];
    for (prefix, dir) in TAGS {
        if let Some(value) = source.strip_prefix(prefix) {
            return format!("/dev/disk/by-{dir}/{}", encode_devnode_name(unquote(value)));
        }
    }
    source.to_string()
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 {
            if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
                return inner;
            }
        }
    }
    s
}

/// udev's `encode_devnode_name`: ASCII letters, digits and `#+-.:=@_` are
/// kept, valid non-ASCII characters are kept as UTF-8, everything else
/// (including `/`, space and `\`) becomes `\xNN` (lower-case hex) per byte.
/// Like systemd's `unichar_is_valid`, U+FDD0..U+FDEF and U+xxFFFE/U+xxFFFF
/// count as invalid and are encoded bytewise.
pub fn encode_devnode_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let cp = u32::from(c);
        let keep = if c.is_ascii() {
            c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c)
        } else {
            !(0xFDD0..=0xFDEF).contains(&cp) && (cp & 0xFFFE) != 0xFFFE
        };
        if keep {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

/// Fuzzing entry point: parses arbitrary bytes (lossy UTF-8) and checks the
/// invariants. It panics when an invariant breaks, so it is for fuzz targets
/// and tests only, never for the daemon.
pub fn fuzz_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (entries, errors) = parse(&text);
    let lines = text.split('\n').count();
    for e in &errors {
        assert!(
            e.line >= 1 && e.line <= lines,
            "error line {} of {lines}",
            e.line
        );
        assert!(!e.to_string().is_empty());
    }
    let mut last = 0;
    for e in &entries {
        assert!(
            e.line > last && e.line <= lines,
            "entry line {} of {lines}",
            e.line
        );
        last = e.line;
        assert!(
            e.where_.starts_with('/') || e.is_swap(),
            "bad where {:?}",
            e.where_
        );
        if e.where_.starts_with('/') {
            assert_eq!(simplify_path(&e.where_), e.where_);
        }
        assert!(!e.source.is_empty() && !e.what.is_empty());
        assert!(!e.fstype.is_empty() && !e.options.is_empty());
        let m = options::parse_mount_options(&e.options);
        assert!(m.data.len() <= e.options.len());
        assert!(!m.flags.intersects(m.clear));
        let s = options::parse_fstab_options(&e.options);
        assert_eq!(s, e.settings);
        let _ = (e.is_network(), e.mount_options());
    }
    let mut n = 0usize;
    for opts in options::split_options(&text) {
        n += 1;
        let _ = options::split_name_value(opts);
        let _ = options::parse_timespan(opts);
    }
    assert!(n <= text.len());
    let _ = node_to_udev_node(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Entry {
        let (mut e, errs) = parse(line);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(e.len(), 1);
        e.remove(0)
    }

    fn err(line: &str) -> String {
        let (e, errs) = parse(line);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(errs.len(), 1);
        errs[0].message.clone()
    }

    #[test]
    fn full_line() {
        let e = one("/dev/sda1  /data\text4\tnoatime,errors=remount-ro 1 2\n");
        assert_eq!(
            (e.line, e.what.as_str(), e.source.as_str()),
            (1, "/dev/sda1", "/dev/sda1")
        );
        assert_eq!((e.where_.as_str(), e.fstype.as_str()), ("/data", "ext4"));
        assert_eq!(
            (e.options.as_str(), e.freq, e.passno),
            ("noatime,errors=remount-ro", 1, 2)
        );
        assert!(!e.is_swap() && !e.is_network());
        assert_eq!(e.mount_options().data, "errors=remount-ro");
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"a\040b").as_deref(), Ok("a b"));
        assert_eq!(unescape(r"a\011b").as_deref(), Ok("a\tb"));
        assert_eq!(unescape(r"a\012b").as_deref(), Ok("a\nb"));
        assert_eq!(unescape(r"a\134b").as_deref(), Ok("a\\b"));
        assert_eq!(unescape(r"\043x").as_deref(), Ok("#x"));
        assert_eq!(unescape(r"\303\251").as_deref(), Ok("\u{e9}"));
        assert_eq!(unescape(r"\501").as_deref(), Ok("A"));
        // invalid escapes stay literal
        for lit in [r"\04", r"\048", r"\x20", r"a\", r"\\", r"\8000", r"\"] {
            assert_eq!(unescape(lit).as_deref(), Ok(lit));
        }
        assert!(unescape(r"a\000b").is_err());
        assert!(unescape(r"\377").is_err());
        let e = one(r"/dev/sdb1 /mnt/my\040disk\134x vfat defaults\054ro");
        assert_eq!(
            (e.where_.as_str(), e.options.as_str()),
            ("/mnt/my disk\\x", "defaults,ro")
        );
        assert!(err(r"/dev/sdb1 /mnt/\000 vfat").contains("NUL"));
        assert!(err(r"/dev/sdb1 /mnt/\377 vfat").contains("UTF-8"));
    }

    #[test]
    fn udev_nodes() {
        let e = one("UUID=abc-123 / ext4 defaults 0 1");
        assert_eq!(
            (e.what.as_str(), e.source.as_str()),
            ("/dev/disk/by-uuid/abc-123", "UUID=abc-123")
        );
        let e = one(r"LABEL=my\040disk/x /mnt auto");
        assert_eq!(e.what, r"/dev/disk/by-label/my\x20disk\x2fx");
        assert_eq!(e.source, "LABEL=my disk/x");
        assert_eq!(
            node_to_udev_node("PARTUUID=1-2"),
            "/dev/disk/by-partuuid/1-2"
        );
        assert_eq!(
            node_to_udev_node("PARTLABEL=EFI\\sys"),
            r"/dev/disk/by-partlabel/EFI\x5csys"
        );
        assert_eq!(
            node_to_udev_node("LABEL=\"a b\""),
            r"/dev/disk/by-label/a\x20b"
        );
        assert_eq!(node_to_udev_node("LABEL='x'"), "/dev/disk/by-label/x");
        assert_eq!(node_to_udev_node("LABEL=\"x"), r"/dev/disk/by-label/\x22x");
        assert_eq!(
            node_to_udev_node("LABEL=#+-.:=@_Az9"),
            "/dev/disk/by-label/#+-.:=@_Az9"
        );
        assert_eq!(
            node_to_udev_node("LABEL=h\u{e9}!"),
            "/dev/disk/by-label/h\u{e9}\\x21"
        );
        assert_eq!(
            node_to_udev_node("LABEL=\u{fffe}"),
            r"/dev/disk/by-label/\xef\xbf\xbe"
        );
        assert_eq!(node_to_udev_node("uuid=x"), "uuid=x");
        assert_eq!(node_to_udev_node("srv:/export"), "srv:/export");
    }

    #[test]
    fn defaults_for_missing_fields() {
        let e = one("tmpfs /tmp");
        assert_eq!(
            (e.fstype.as_str(), e.options.as_str()),
            ("auto", "defaults")
        );
        assert_eq!((e.freq, e.passno), (0, 0));
        let e = one("tmpfs /tmp tmpfs");
        assert_eq!((e.options.as_str(), e.freq), ("defaults", 0));
        let e = one("tmpfs /tmp tmpfs mode=1777 1");
        assert_eq!((e.freq, e.passno), (1, 0));
        assert_eq!(one("a /b c d 0 0 extra fields").passno, 0);
        assert_eq!(err("lonely"), "missing mount point");
        assert!(err("a /b c d x").contains("dump frequency"));
        assert!(err("a /b c d 0 -1").contains("pass number"));
        assert!(err("a /b c d 0 1x").contains("pass number"));
    }

    #[test]
    fn comments_blank_lines_and_line_numbers() {
        let text = "# comment\n\n   \t\n  # indented\n/dev/a /a ext4\r\n/dev/b#x /b#c ext4 #\n";
        let (e, errs) = parse(text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].line, e[0].fstype.as_str()), (5, "ext4"));
        assert_eq!(
            (e[1].line, e[1].source.as_str(), e[1].where_.as_str()),
            (6, "/dev/b#x", "/b#c")
        );
        assert_eq!(e[1].options, "#");
        // '#' later in a line is data: after six fields it is ignored, before that it errs
        assert_eq!(one("/dev/a /a ext4 defaults 0 0 # trailing").passno, 0);
        assert!(err("/dev/a /a ext4 defaults # trailing").contains("dump frequency"));
    }

    #[test]
    fn bad_line_among_good_ones() {
        let text = "/dev/a / ext4\nbogus\n/dev/c relative ext4\n/dev/d /d ext4 defaults zero\n/dev/e /e xfs";
        let (e, errs) = parse(text);
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 5]);
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(errs[0].to_string(), "line 2: missing mount point");
        assert!(errs[1].message.contains("not an absolute path"));
    }

    #[test]
    fn nul_and_long_lines() {
        let long = format!("/dev/a /{} ext4", "x".repeat(MAX_LINE));
        let (e, errs) = parse(&format!(
            "/dev/a /a ext4\n{long}\n/dev/b /b\0 ext4\n/dev/c /c"
        ));
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3]);
        assert!(errs[0].message.contains("longer") && errs[1].message.contains("NUL"));
    }

    #[test]
    fn mount_point_simplified() {
        assert_eq!(one("a //mnt///data/ ext4").where_, "/mnt/data");
        assert_eq!(one("a /./x/. ext4").where_, "/x");
        assert_eq!(one("a /// ext4").where_, "/");
        assert!(err("a /x/../y ext4").contains(".."));
        assert!(err("a none tmpfs").contains("not an absolute path"));
        let (e, errs) = parse("a /x ext4\nb /x/ ext4");
        assert!(errs.is_empty());
        assert_eq!((e[0].where_.as_str(), e[1].where_.as_str()), ("/x", "/x"));
    }

    #[test]
    fn swap_entries() {
        let e = one("UUID=5a-6b none swap sw 0 0");
        assert!(e.is_swap());
        assert_eq!(
            (e.where_.as_str(), e.what.as_str()),
            ("none", "/dev/disk/by-uuid/5a-6b")
        );
        let e = one("/swapfile swap swap defaults");
        assert!(e.is_swap() && e.where_ == "swap");
        assert_eq!(one("/dev/sda2 /foo// swap").where_, "/foo");
    }

    #[test]
    fn settings_and_network() {
        let e = one("srv:/x /net nfs4 noauto,x-systemd.automount,x-systemd.idle-timeout=1min");
        assert!(e.is_network() && e.settings.noauto && e.settings.automount);
        assert_eq!(
            e.settings.idle_timeout,
            Some(std::time::Duration::from_secs(60))
        );
        assert!(one("a /b ext4 _netdev").is_network());
        assert!(one("a /b fuse.sshfs").is_network());
        assert!(fstype_is_network("cifs") && !fstype_is_network("ext4"));
    }

    /// xorshift64*, enough to vary the fuzz inputs deterministically.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    #[test]
    fn fuzz_smoke() {
        let seeds: [&[u8]; 6] = [
            b"UUID=\"a b\" / ext4 defaults,x-systemd.device-timeout=1.5min 0 1\n",
            b"LABEL=x\\040y none swap sw\n# c\n\n/dev/a /a//b/./ auto ro,bind,rshared\n",
            b"tmpfs /tmp tmpfs size=10m,context=\"a,b\",mode=1777 0 0\r\n",
            b"a /b c x-systemd.idle-timeout=1h\\0402s,user,exec 1 2 3\n\\000 /x",
            b"\xff\xfe /\xc3\xa9 \t x-systemd.requires=a,loop=/dev/loop0,move\n",
            b"",
        ];
        let tokens: [&[u8]; 14] = [
            b"\\040",
            b"\\134",
            b"\\0",
            b"\\",
            b"\"",
            b",",
            b"=",
            b" ",
            b"\t",
            b"\n",
            b"#",
            b"/",
            b"..",
            b"x-systemd.mount-timeout=",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut runs = 0;
        for round in 0..80 {
            for seed in seeds {
                let mut data = seed.to_vec();
                let edits = next(&mut state) % 8 + round % 3;
                for _ in 0..edits {
                    let r = next(&mut state);
                    let pos = (r >> 8) as usize % (data.len() + 1);
                    match r % 4 {
                        0 => data.insert(pos, (r >> 32) as u8),
                        1 if pos < data.len() => {
                            data.remove(pos);
                        }
                        2 => {
                            let t = tokens[(r >> 40) as usize % tokens.len()];
                            data.splice(pos..pos, t.iter().copied());
                        }
                        _ => data.extend_from_slice(&seed[..(r >> 16) as usize % (seed.len() + 1)]),
                    }
                }
                fuzz_parse(&data);
                runs += 1;
            }
        }
        assert_eq!(runs, 480);
    }
}

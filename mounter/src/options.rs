//! Mount option strings: the `x-systemd.*`/`noauto`/`nofail` settings that
//! steer cairn (as systemd-fstab-generator reads them), and what mount(2)
//! gets (as libmount's option maps split them). Pure parsing: never panics.

use nix::mount::MsFlags;
use std::time::Duration;

/// Splits an option string at commas, as libmount does: empty items are
/// skipped and a comma inside double quotes does not separate. Unlike
/// libmount (which drops an item whose quote is never closed), such an item
/// runs to the end of the string.
pub fn split_options(opts: &str) -> impl Iterator<Item = &str> {
    let mut rest = opts;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(',');
        if rest.is_empty() {
            return None;
        }
        let mut in_quote = false;
        let mut end = rest.len();
        for (i, b) in rest.bytes().enumerate() {
            match b {
                b'"' => in_quote = !in_quote,
                b',' if !in_quote => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let (item, tail) = rest.split_at_checked(end).unwrap_or((rest, ""));
        rest = tail;
        Some(item)
    })
}

/// Splits `name=value` at the first `=` outside quotes that is not the first
/// character (libmount's rule).
pub fn split_name_value(opt: &str) -> (&str, Option<&str>) {
    let mut in_quote = false;
    for (i, b) in opt.bytes().enumerate() {
        match b {
            b'"' => in_quote = !in_quote,
            b'=' if !in_quote && i > 0 => {
                if let (Some(name), Some(value)) = (opt.get(..i), opt.get(i + 1..)) {
                    return (name, Some(value));
                }
            }
            _ => {}
        }
    }
    (opt, None)
}

/// The fstab options that steer cairn itself rather than mount(2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FstabOptions {
    /// `noauto` (a later `auto` undoes it).
    pub noauto: bool,
    /// `nofail` (a later `fail` undoes it).
    pub nofail: bool,
    /// `_netdev`. See also `fstab::Entry::is_network`, which adds the fstype.
    pub netdev: bool,
    /// `x-systemd.automount` or the legacy `comment=systemd.automount`.
    pub automount: bool,
    /// `x-systemd.idle-timeout=`; `None` when absent, `0` or `infinity`.
    pub idle_timeout: Option<Duration>,
    /// `x-systemd.device-timeout=` (or `comment=systemd.device-timeout=`);
    /// `None` when absent, `0` or `infinity`.
    pub device_timeout: Option<Duration>,
    /// `x-systemd.mount-timeout=`; `None` when absent, `0` or `infinity`.
    pub mount_timeout: Option<Duration>,
    /// `x-systemd.requires=` values, in order (each also implies After=).
    pub requires: Vec<String>,
    /// `x-systemd.requires-mounts-for=` values (absolute paths), in order.
    pub requires_mounts_for: Vec<String>,
    /// `x-systemd.before=` values, in order.
    pub before: Vec<String>,
    /// `x-systemd.after=` values, in order.
    pub after: Vec<String>,
    /// `x-systemd.wanted-by=` values, in order.
    pub wanted_by: Vec<String>,
    /// `x-systemd.required-by=` values, in order.
    pub required_by: Vec<String>,
    /// `x-systemd.makefs`.
    pub makefs: bool,
    /// `x-systemd.growfs`.
    pub growfs: bool,
    /// `x-systemd.rw-only`.
    pub rw_only: bool,
    /// Options that could not be used, as `"option: reason"`.
    pub bad: Vec<String>,
}

/// Reads the cairn-relevant settings out of an fstab option string. Unknown
/// options (including unknown `x-systemd.*`) are ignored, as systemd does.
pub fn parse_fstab_options(opts: &str) -> FstabOptions {
    let mut o = FstabOptions::default();
    for opt in split_options(opts) {
        let (name, value) = split_name_value(opt);
        let (name, value) = match (name, value) {
            ("comment", Some(v)) => match v.strip_prefix("systemd.") {
                Some(rest) => match split_name_value(rest) {
                    ("automount", None) => ("x-systemd.automount", None),
                    ("device-timeout", v) => ("x-systemd.device-timeout", v),
                    _ => continue,
                },
                None => continue,
            },
            other => other,
        };
        let mut bad = |reason: &str| o.bad.push(format!("{opt}: {reason}"));
        let Some(key) = name.strip_prefix("x-systemd.") else {
            match (name, value) {
                ("noauto", None) => o.noauto = true,
                ("auto", None) => o.noauto = false,
                ("nofail", None) => o.nofail = true,
                ("fail", None) => o.nofail = false,
                ("_netdev", None) => o.netdev = true,
                ("move" | "rmove", _) => bad("moving a mount is not supported in fstab"),
                _ => {}
            }
            continue;
        };
        match (key, value) {
            ("automount", None) => o.automount = true,
            ("makefs", None) => o.makefs = true,
            ("growfs", None) => o.growfs = true,
            ("rw-only", None) => o.rw_only = true,
            ("automount" | "makefs" | "growfs" | "rw-only", Some(_)) => bad("takes no value"),
            ("idle-timeout" | "device-timeout" | "mount-timeout", v) => {
                // systemd uses the last occurrence; an unparsable one is ignored
                // and so leaves the setting unset (parse_sec_fix_0: 0 = infinity).
                let t = match v.map(parse_timespan) {
                    Some(Ok(t)) => t.filter(|d| !d.is_zero()),
                    Some(Err(e)) => {
                        bad(&e);
                        None
                    }
                    None => {
                        bad("missing value");
                        None
                    }
                };
                match key {
                    "idle-timeout" => o.idle_timeout = t,
                    "device-timeout" => o.device_timeout = t,
                    _ => o.mount_timeout = t,
                }
            }
            ("requires-mounts-for", Some(v)) if !v.is_empty() && !v.starts_with('/') => {
                bad("not an absolute path")
            }
            (
                "requires"
                | "requires-mounts-for"
                | "before"
                | "after"
                | "wanted-by"
                | "required-by",
                v,
            ) => {
                let list = match key {
                    "requires" => &mut o.requires,
                    "requires-mounts-for" => &mut o.requires_mounts_for,
                    "before" => &mut o.before,
                    "after" => &mut o.after,
                    "wanted-by" => &mut o.wanted_by,
                    _ => &mut o.required_by,
                };
                match v {
                    None | Some("") => bad("missing value"),
                    Some(v) => list.push(v.to_string()),
                }
            }
            _ => {}
        }
    }
    o
}

const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];
const USEC_PER_SEC: u64 = 1_000_000;
const USEC_PER_MINUTE: u64 = 60 * USEC_PER_SEC;
const USEC_PER_HOUR: u64 = 60 * USEC_PER_MINUTE;
const USEC_PER_DAY: u64 = 24 * USEC_PER_HOUR;
const USEC_PER_WEEK: u64 = 7 * USEC_PER_DAY;
const USEC_PER_MONTH: u64 = 2_629_800 * USEC_PER_SEC;
const USEC_PER_YEAR: u64 = 31_557_600 * USEC_PER_SEC;

/// systemd's unit suffixes, in its lookup order (first prefix match wins).
const UNITS: [(&[&str], u64); 10] = [
    (&["seconds", "second", "sec", "s"], USEC_PER_SEC),
    (&["minutes", "minute", "min"], USEC_PER_MINUTE),
    (&["months", "month", "M"], USEC_PER_MONTH),
    (&["msec", "ms"], 1000),
    (&["m"], USEC_PER_MINUTE),
    (&["hours", "hour", "hr", "h"], USEC_PER_HOUR),
    (&["days", "day", "d"], USEC_PER_DAY),
    (&["weeks", "week", "w"], USEC_PER_WEEK),
    (&["years", "year", "y"], USEC_PER_YEAR),
    (&["usec", "us", "\u{b5}s", "\u{3bc}s"], 1),
];

/// Parses a systemd time span (`parse_sec`: default unit seconds), e.g.
/// `"30"`, `"5min"`, `"1h 2s"`, `"1.5s"`. `Ok(None)` means `infinity`.
/// Values of `u64::MAX` microseconds or more are out of range, as in systemd.
pub fn parse_timespan(text: &str) -> Result<Option<Duration>, String> {
    let mut p = text.trim_start_matches(WHITESPACE);
    if let Some(rest) = p.strip_prefix("infinity") {
        return match rest.trim_start_matches(WHITESPACE) {
            "" => Ok(None),
            _ => Err("garbage after \"infinity\"".into()),
        };
    }
    let range = || "time span out of range".to_string();
    let invalid = || format!("invalid time span {text:?}");
    let add = |u: u64, k: u64| u.checked_add(k).filter(|&u| u < u64::MAX).ok_or_else(range);
    let mut usec: u64 = 0;
    let mut something = false;
    loop {
        p = p.trim_start_matches(WHITESPACE);
        if p.is_empty() {
            if !something {
                return Err("empty time span".into());
            }
            return Ok(Some(Duration::from_micros(usec)));
        }
        if p.starts_with('-') {
            return Err("negative time span".into());
        }
        let unsigned = p.strip_prefix('+').unwrap_or(p);
        let ndigits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
        let (digits, after_int) = unsigned.split_at_checked(ndigits).unwrap_or(("", p));
        let (whole, e) = match ndigits {
            0 => (0, p),
            _ => (digits.parse::<u64>().map_err(|_| range())?, after_int),
        };
        let fraction = e.strip_prefix('.');
        p = match fraction {
            Some(f) => f.trim_start_matches(|c: char| c.is_ascii_digit()),
            None if ndigits == 0 => return Err(invalid()),
            None => e,
        };
        let unit_text = p.trim_start_matches(WHITESPACE);
        let (multiplier, s) = UNITS
            .iter()
            .flat_map(|(names, m)| names.iter().map(move |n| (n, *m)))
            .find_map(|(n, m)| unit_text.strip_prefix(n).map(|r| (m, r)))
            .unwrap_or((USEC_PER_SEC, unit_text));
        if s.len() == p.len() && !s.is_empty() {
            return Err(invalid());
        }
        p = s;
        let k = whole.checked_mul(multiplier).ok_or_else(range)?;
        usec = add(usec, k)?;
        something = true;
        if let Some(f) = fraction {
            let mut m = multiplier / 10;
            if !f.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(invalid());
            }
            for d in f.bytes().take_while(u8::is_ascii_digit) {
                usec = add(usec, u64::from(d - b'0').saturating_mul(m))?;
                m /= 10;
            }
        }
    }
}

/// What mount(2) gets for an option string.
///
/// `flags` includes `MS_REMOUNT`, `MS_BIND` and `MS_REC` for `remount`/`bind`/
/// `rbind` (also reported as booleans). Propagation is not in `flags`: it
/// needs its own mount(2) call after the mount; the last such option wins.
/// The kernel ignores `ro` and friends on a first bind mount: the caller has
/// to remount (`MS_REMOUNT|MS_BIND|flags`) to apply them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set.
    pub flags: MsFlags,
    /// Flags explicitly turned off (`rw`, `suid`, `atime`, ...), for remounts.
    pub clear: MsFlags,
    /// Filesystem-specific options, comma-joined, in their original order.
    pub data: String,
    /// `MS_SHARED`/`MS_SLAVE`/`MS_PRIVATE`/`MS_UNBINDABLE`, maybe `| MS_REC`.
    pub propagation: Option<MsFlags>,
    /// `bind` or `rbind`.
    pub bind: bool,
    /// `rbind`.
    pub rbind: bool,
    /// `remount`.
    pub remount: bool,
    /// `loop`, `loop=`, `offset=` or `sizelimit=`: the source needs a loop device.
    pub needs_loop: bool,
    /// Options cairn refuses (`move`, `encryption=`, `verity.*`), as "option: reason".
    pub bad: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            data: String::new(),
            propagation: None,
            bind: false,
            rbind: false,
            remount: false,
            needs_loop: false,
            bad: Vec::new(),
        }
    }
}

/// What one option does to mount(2).
enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    Propagate(MsFlags),
    Drop,
}

fn flag_option(name: &str) -> Option<Effect> {
    use Effect::{Clear, Propagate, Set};
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    let rec = MsFlags::MS_REC;
    Some(match name {
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nodev" => Set(MsFlags::MS_NODEV),
        "dev" => Clear(MsFlags::MS_NODEV),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "mand" => Set(MsFlags::MS_MANDLOCK),
        "nomand" => Clear(MsFlags::MS_MANDLOCK),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "nostrictatime" => Clear(MsFlags::MS_STRICTATIME),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "iversion" => Set(MsFlags::MS_I_VERSION),
        "noiversion" => Clear(MsFlags::MS_I_VERSION),
        "nosymfollow" => Set(nosymfollow),
        "symfollow" => Clear(nosymfollow),
        "silent" => Set(MsFlags::MS_SILENT),
        "loud" => Clear(MsFlags::MS_SILENT),
        "remount" => Set(MsFlags::MS_REMOUNT),
        "bind" => Set(MsFlags::MS_BIND),
        "rbind" => Set(MsFlags::MS_BIND | rec),
        "shared" => Propagate(MsFlags::MS_SHARED),
        "rshared" => Propagate(MsFlags::MS_SHARED | rec),
        "slave" => Propagate(MsFlags::MS_SLAVE),
        "rslave" => Propagate(MsFlags::MS_SLAVE | rec),
        "private" => Propagate(MsFlags::MS_PRIVATE),
        "rprivate" => Propagate(MsFlags::MS_PRIVATE | rec),
        "unbindable" => Propagate(MsFlags::MS_UNBINDABLE),
        "runbindable" => Propagate(MsFlags::MS_UNBINDABLE | rec),
        // mount(8): these imply noexec,nosuid,nodev (owner/group: nosuid,nodev),
        // which later options may override.
        "user" | "users" => Set(MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
        "owner" | "group" => Set(MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
        "defaults" | "auto" | "noauto" | "nouser" | "nousers" | "noowner" | "nogroup"
        | "_netdev" | "nofail" => Effect::Drop,
        _ => return None,
    })
}

/// Turns an option string into what mount(2) gets. User-space options
/// (libmount's userspace map: `defaults`, `auto`, `noauto`, `user[=]`,
/// `users`, `owner`, `group` and their `no` forms, `_netdev`, `nofail`,
/// `comment=`, `x-*`, `X-*`, `loop[=]`, `offset=`, `sizelimit=`, `helper=`,
/// `uhelper=`) are dropped; everything unknown goes to `data` verbatim.
pub fn parse_mount_options(opts: &str) -> MountOptions {
    let mut m = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in split_options(opts) {
        let (name, value) = split_name_value(opt);
        if name.starts_with("x-") || name.starts_with("X-") {
            continue;
        }
        let effect = match (name, value) {
            ("move" | "rmove", _) => {
                m.bad
                    .push(format!("{opt}: moving a mount is not supported"));
                continue;
            }
            ("encryption", Some(_)) => {
                m.bad
                    .push(format!("{opt}: loop encryption is not supported"));
                continue;
            }
            _ if name.starts_with("verity.") && value.is_some() => {
                m.bad
                    .push(format!("{opt}: dm-verity mounts are not supported"));
                continue;
            }
            ("loop", _) | ("offset" | "sizelimit", Some(_)) => {
                m.needs_loop = true;
                continue;
            }
            ("user", Some(_)) => flag_option("user"),
            ("comment" | "helper" | "uhelper", Some(_)) => Some(Effect::Drop),
            (_, None) => flag_option(name),
            (_, Some(_)) => None,
        };
        match effect {
            Some(Effect::Set(f)) => {
                m.flags.insert(f);
                m.clear.remove(f);
            }
            Some(Effect::Clear(f)) => {
                m.flags.remove(f);
                m.clear.insert(f);
            }
            Some(Effect::Propagate(f)) => m.propagation = Some(f),
            Some(Effect::Drop) => {}
            None => data.push(opt),
        }
    }
    m.remount = m.flags.contains(MsFlags::MS_REMOUNT);
    m.bind = m.flags.contains(MsFlags::MS_BIND);
    m.rbind = m.bind && m.flags.contains(MsFlags::MS_REC);
    m.data = data.join(",");
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use MsFlags as F;

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn split_honours_quotes_and_skips_empty_items() {
        let v: Vec<_> = split_options(",,a,b=\"x,y\",,c,").collect();
        assert_eq!(v, ["a", "b=\"x,y\"", "c"]);
        let v: Vec<_> = split_options("a,b=\"x,y").collect();
        assert_eq!(v, ["a", "b=\"x,y"]);
        assert_eq!(split_options("").count(), 0);
        assert_eq!(split_name_value("a=b=c"), ("a", Some("b=c")));
        assert_eq!(split_name_value("=a"), ("=a", None));
        assert_eq!(split_name_value("\"a=b\"=c"), ("\"a=b\"", Some("c")));
    }

    #[test]
    fn every_flag() {
        let table = [
            ("ro rw", F::MS_RDONLY),
            ("nosuid suid", F::MS_NOSUID),
            ("nodev dev", F::MS_NODEV),
            ("noexec exec", F::MS_NOEXEC),
            ("sync async", F::MS_SYNCHRONOUS),
            ("dirsync", F::MS_DIRSYNC),
            ("mand nomand", F::MS_MANDLOCK),
            ("noatime atime", F::MS_NOATIME),
            ("nodiratime diratime", F::MS_NODIRATIME),
            ("relatime norelatime", F::MS_RELATIME),
            ("strictatime nostrictatime", F::MS_STRICTATIME),
            ("lazytime nolazytime", F::MS_LAZYTIME),
            ("iversion noiversion", F::MS_I_VERSION),
            (
                "nosymfollow symfollow",
                F::from_bits_retain(libc::MS_NOSYMFOLLOW),
            ),
            ("silent loud", F::MS_SILENT),
        ];
        let none = F::empty();
        for (names, flag) in table {
            let (on, off) = names.split_once(' ').unwrap_or((names, ""));
            let m = parse_mount_options(on);
            assert_eq!(
                (m.flags, m.clear, m.data.as_str()),
                (flag, none, ""),
                "{on}"
            );
            if !off.is_empty() {
                let m = parse_mount_options(&format!("{on},{off}"));
                assert_eq!(
                    (m.flags, m.clear, m.data.as_str()),
                    (none, flag, ""),
                    "{off}"
                );
                let m = parse_mount_options(&format!("{off},{on}"));
                assert_eq!((m.flags, m.clear), (flag, none), "{off}");
            }
        }
        let m = parse_mount_options("ro,nosuid,nodev,noexec");
        assert_eq!(
            m.flags,
            F::MS_RDONLY | F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC
        );
    }

    #[test]
    fn defaults_and_userspace_options_are_dropped() {
        let m = parse_mount_options(
            "defaults,auto,noauto,nofail,_netdev,user,nouser,users,owner,group,comment=hi,\
             x-systemd.automount,X-mount.mkdir,helper=foo,nousers",
        );
        assert_eq!(m.data, "");
        assert!(m.bad.is_empty() && !m.needs_loop);
        assert_eq!(m.flags, F::MS_NOEXEC | F::MS_NOSUID | F::MS_NODEV);
        assert_eq!(parse_mount_options("defaults"), MountOptions::default());
        // "defaults" sets nothing, so it does not undo an earlier "ro" (libmount).
        assert_eq!(parse_mount_options("ro,defaults").flags, F::MS_RDONLY);
        // user implies noexec,nosuid,nodev unless overridden later.
        let m = parse_mount_options("user=joe,exec,dev,suid");
        assert_eq!((m.flags, m.data.as_str()), (F::empty(), ""));
        assert_eq!(
            parse_mount_options("owner").flags,
            F::MS_NOSUID | F::MS_NODEV
        );
    }

    #[test]
    fn remount_bind_rbind() {
        let m = parse_mount_options("remount,rw");
        assert!(m.remount && !m.bind);
        assert_eq!((m.flags, m.clear), (F::MS_REMOUNT, F::MS_RDONLY));
        let m = parse_mount_options("bind,ro");
        assert!(m.bind && !m.rbind && !m.remount);
        assert_eq!(m.flags, F::MS_BIND | F::MS_RDONLY);
        let m = parse_mount_options("rbind");
        assert!(m.bind && m.rbind);
        assert_eq!(m.flags, F::MS_BIND | F::MS_REC);
    }

    #[test]
    fn propagation() {
        let cases = [
            ("shared", F::MS_SHARED),
            ("slave", F::MS_SLAVE),
            ("private", F::MS_PRIVATE),
            ("unbindable", F::MS_UNBINDABLE),
        ];
        for (name, flag) in cases {
            let m = parse_mount_options(name);
            assert_eq!((m.propagation, m.flags), (Some(flag), F::empty()), "{name}");
            let m = parse_mount_options(&format!("r{name}"));
            assert_eq!(m.propagation, Some(flag | F::MS_REC), "r{name}");
        }
        let m = parse_mount_options("private,rslave");
        assert_eq!(m.propagation, Some(F::MS_SLAVE | F::MS_REC));
        assert_eq!(parse_mount_options("ro").propagation, None);
    }

    #[test]
    fn data_keeps_order_and_quotes() {
        let m = parse_mount_options("size=10m,ro,mode=755,x-foo,uid=1000,errors=remount-ro,acl");
        assert_eq!(m.data, "size=10m,mode=755,uid=1000,errors=remount-ro,acl");
        let m = parse_mount_options("context=\"system_u:object_r:tmp_t:s0:c127,c456\",noexec");
        assert_eq!(m.data, "context=\"system_u:object_r:tmp_t:s0:c127,c456\"");
        assert_eq!(m.flags, F::MS_NOEXEC);
        // flag names with a value are not flags
        assert_eq!(parse_mount_options("ro=1").data, "ro=1");
        assert_eq!(parse_mount_options("fail,nosub").data, "fail,nosub");
    }

    #[test]
    fn loop_move_and_unsupported() {
        for o in ["loop", "loop=/dev/loop3", "offset=4096", "sizelimit=1M"] {
            let m = parse_mount_options(o);
            assert!(m.needs_loop && m.data.is_empty(), "{o}");
        }
        let m = parse_mount_options("move,encryption=aes,verity.roothash=ab,rw");
        assert_eq!(m.bad.len(), 3);
        assert!(m.bad.iter().all(|b| b.contains(": ")));
        assert_eq!((m.data.as_str(), m.clear), ("", F::MS_RDONLY));
    }

    #[test]
    fn fstab_flags_last_wins() {
        let o = parse_fstab_options("noauto,nofail,_netdev,x-systemd.automount");
        assert!(o.noauto && o.nofail && o.netdev && o.automount && o.bad.is_empty());
        let o = parse_fstab_options("noauto,auto,nofail,fail");
        assert!(!o.noauto && !o.nofail);
        let o = parse_fstab_options("comment=systemd.automount,x-systemd.makefs,x-systemd.growfs");
        assert!(o.automount && o.makefs && o.growfs && !o.rw_only);
        assert!(parse_fstab_options("x-systemd.rw-only").rw_only);
        assert_eq!(parse_fstab_options("defaults"), FstabOptions::default());
        let o = parse_fstab_options("x-systemd.makefs=yes,move");
        assert!(!o.makefs);
        assert_eq!(o.bad.len(), 2);
    }

    #[test]
    fn fstab_timeouts() {
        let o = parse_fstab_options(
            "x-systemd.idle-timeout=5min,x-systemd.device-timeout=30,x-systemd.mount-timeout=1h 2s",
        );
        assert_eq!((o.idle_timeout, o.device_timeout), (secs(300), secs(30)));
        assert_eq!(o.mount_timeout, secs(3602));
        let o = parse_fstab_options("x-systemd.idle-timeout=infinity,x-systemd.mount-timeout=0");
        assert!(o.idle_timeout.is_none() && o.mount_timeout.is_none() && o.bad.is_empty());
        let o = parse_fstab_options("comment=systemd.device-timeout=2s");
        assert_eq!(o.device_timeout, secs(2));
        let o = parse_fstab_options("x-systemd.device-timeout=2s,x-systemd.device-timeout=abc");
        assert_eq!(o.device_timeout, None);
        assert_eq!(o.bad.len(), 1);
        assert!(o.bad[0].starts_with("x-systemd.device-timeout=abc: "));
        let bad = "|5x|-5|1.s|99999999999999999999|infinityx|5 .|12.34.56|+|600000y";
        for bad in bad.split('|') {
            let o = parse_fstab_options(&format!("x-systemd.idle-timeout={bad}"));
            assert_eq!((o.idle_timeout, o.bad.len()), (None, 1), "{bad:?}");
        }
        assert_eq!(parse_fstab_options("x-systemd.mount-timeout").bad.len(), 1);
    }

    #[test]
    fn timespans() {
        let ms = |n| Ok(Some(Duration::from_millis(n)));
        assert_eq!(parse_timespan("1.5s"), ms(1500));
        assert_eq!(parse_timespan(".5s"), ms(500));
        assert_eq!(parse_timespan("100ms"), ms(100));
        assert_eq!(parse_timespan("1min30s"), ms(90_000));
        assert_eq!(parse_timespan(" 2 m 3 "), ms(123_000));
        assert_eq!(parse_timespan("1w 1d 1hr"), Ok(secs(8 * 86400 + 3600)));
        assert_eq!(parse_timespan("1M"), Ok(secs(2_629_800)));
        assert_eq!(parse_timespan("1y"), Ok(secs(31_557_600)));
        assert_eq!(parse_timespan("+3us"), Ok(Some(Duration::from_micros(3))));
        assert_eq!(parse_timespan("7\u{3bc}s"), parse_timespan("0.000007"));
        assert_eq!(parse_timespan("12.34 .56"), ms(12_900));
        assert_eq!(parse_timespan(" infinity "), Ok(None));
    }

    #[test]
    fn fstab_dependencies() {
        let o = parse_fstab_options(
            "x-systemd.requires=a.service,x-systemd.requires=/dev/sdb,\
             x-systemd.requires-mounts-for=/var,x-systemd.before=b.target,\
             x-systemd.after=c.target,x-systemd.wanted-by=d.target,x-systemd.required-by=e.target,\
             x-systemd.requires-mounts-for=relative,x-systemd.after=,x-systemd.unknown=1",
        );
        assert_eq!(o.requires, ["a.service", "/dev/sdb"]);
        assert_eq!(o.requires_mounts_for, ["/var"]);
        assert_eq!(
            (o.before, o.after),
            (
                ["b.target"].map(String::from).to_vec(),
                vec!["c.target".into()]
            )
        );
        assert_eq!(
            (o.wanted_by, o.required_by),
            (vec!["d.target".into()], vec!["e.target".into()])
        );
        assert_eq!(o.bad.len(), 2, "{:?}", o.bad);
    }
}

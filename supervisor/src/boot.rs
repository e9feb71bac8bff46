//! System mode's first steps (brief §8): the API file systems, the hostname, the loopback
//! interface. Never in container mode, which touches nothing shared with the host.
//!
//! Each step is best effort: a machine that cannot mount cgroup2 still boots (services are
//! then not tracked by cgroup, which the supervisor says); a failure is logged and the boot
//! goes on.

use std::path::Path;

use nix::mount::MsFlags;

use crate::say;
use crate::warn;

/// The API file systems, in order (each may need the one before: /dev/pts needs /dev).
const API: &[(&str, &str, &str, u64, Option<&str>)] = &[
    ("proc", "/proc", "proc", 0b111, None),
    ("sysfs", "/sys", "sysfs", 0b111, None),
    ("devtmpfs", "/dev", "devtmpfs", 0b001, Some("mode=0755")),
    (
        "devpts",
        "/dev/pts",
        "devpts",
        0b101,
        Some("gid=5,mode=620,ptmxmode=000"),
    ),
    ("tmpfs", "/dev/shm", "tmpfs", 0b011, Some("mode=1777")),
    ("tmpfs", "/run", "tmpfs", 0b011, Some("mode=0755")),
    (
        "cgroup2",
        "/sys/fs/cgroup",
        "cgroup2",
        0b111,
        Some("nsdelegate"),
    ),
];

/// Bits of the table above: nosuid, nodev, noexec.
fn flags(bits: u64) -> MsFlags {
    let mut f = MsFlags::empty();
    if bits & 0b001 != 0 {
        f |= MsFlags::MS_NOSUID;
    }
    if bits & 0b010 != 0 {
        f |= MsFlags::MS_NODEV;
    }
    if bits & 0b100 != 0 {
        f |= MsFlags::MS_NOEXEC;
    }
    f
}

/// Mount points already there (from /proc/self/mountinfo, once /proc is).
fn mounted() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// Mounts what is not mounted yet of /proc, /sys, /dev, /dev/pts, /dev/shm, /run and the
/// cgroup2 hierarchy (what an initramfs's /init finds missing).
pub fn mount_api_filesystems() {
    for (src, target, fstype, bits, data) in API {
        if mounted().iter().any(|m| m == target) {
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(target) {
            warn!("cannot create {target}: {e}");
            continue;
        }
        if let Err(e) = nix::mount::mount(Some(*src), *target, Some(*fstype), flags(*bits), *data) {
            warn!("cannot mount {fstype} on {target}: {e}");
        }
    }
    // cgroup2: every controller available, for the services' subtree.
    let root = Path::new("/sys/fs/cgroup");
    if let Ok(c) = std::fs::read_to_string(root.join("cgroup.controllers")) {
        let want: Vec<String> = c.split_whitespace().map(|c| format!("+{c}")).collect();
        if !want.is_empty() {
            let _ = std::fs::write(root.join("cgroup.subtree_control"), want.join(" "));
        }
    }
}

/// /etc/hostname (first word), else "localhost", as systemd's hostname setup.
pub fn set_hostname() {
    let name = std::fs::read_to_string("/etc/hostname")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "localhost".into());
    if let Err(e) = nix::unistd::sethostname(&name) {
        warn!("cannot set the hostname to {name}: {e}");
    }
}

/// A machine ID as machine-id(5) spells it: 32 lowercase hex digits, not all zero.
pub fn valid_machine_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

/// Which machine ID this boot has, as systemd-machine-id-setup decides: the one in
/// /etc/machine-id when it is valid (and then nothing is written), else `systemd.machine_id=`
/// (or `cairn.machine_id=`) from the kernel command line, else a fresh random one. The bool is
/// whether it must be written.
pub fn choose_machine_id(existing: Option<&str>, cmdline: &str, random: &str) -> (String, bool) {
    if let Some(id) = existing.map(str::trim).filter(|i| valid_machine_id(i)) {
        return (id.to_string(), false);
    }
    let given = cmdline.split_whitespace().rev().find_map(|w| {
        w.strip_prefix("systemd.machine_id=")
            .or_else(|| w.strip_prefix("cairn.machine_id="))
            .filter(|i| valid_machine_id(i))
    });
    let id = given
        .map(str::to_string)
        .unwrap_or_else(|| random.trim().replace('-', "").to_ascii_lowercase());
    (id, true)
}

/// /etc/machine-id: kept when valid; otherwise written there, or — /etc read-only — written to
/// /run/machine-id and bind-mounted over /etc/machine-id (which must exist for that), as
/// systemd does on a first boot from a read-only image.
pub fn machine_id_setup() {
    let existing = std::fs::read_to_string("/etc/machine-id").ok();
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let random = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    let (id, write) = choose_machine_id(existing.as_deref(), &cmdline, &random);
    if !write {
        return;
    }
    if !valid_machine_id(&id) {
        warn!("cannot make a machine ID: /proc/sys/kernel/random/uuid gave {random:?}");
        return;
    }
    let text = format!("{id}\n");
    let write_file = |path: &str| -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = format!("{path}.cairn-tmp");
        std::fs::write(&tmp, &text)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444))?;
        std::fs::rename(&tmp, path)
    };
    match write_file("/etc/machine-id") {
        Ok(()) => say!("machine ID {id} (new, in /etc/machine-id)"),
        Err(e) => {
            if let Err(e2) = write_file("/run/machine-id") {
                warn!("cannot write the machine ID to /etc ({e}) or /run ({e2})");
                return;
            }
            let bound = Path::new("/etc/machine-id").exists()
                && nix::mount::mount(
                    Some("/run/machine-id"),
                    "/etc/machine-id",
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .is_ok();
            if bound {
                say!("machine ID {id} (new; /etc is read-only: /run/machine-id bound over /etc/machine-id)");
            } else {
                warn!("machine ID {id} in /run/machine-id only: /etc/machine-id cannot be written ({e}) and there is no file to bind it over");
            }
        }
    }
}

/// Brings `lo` up (a fresh system has it down: bind(127.0.0.1) works, connect does not).
pub fn loopback_up() {
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return;
    }
    // SAFETY: an all-zero ifreq is valid; the name and flags are set below.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own; fd is ours.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) == 0 {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) != 0 {
                warn!("cannot bring lo up: {}", std::io::Error::last_os_error());
            }
        }
        libc::close(fd);
    }
}

/// Whether the kernel command line asks for a read-write root: the last of `ro`/`rw`.
pub fn wants_rw_root(cmdline: &str) -> bool {
    cmdline
        .split_whitespace()
        .rfind(|w| *w == "ro" || *w == "rw")
        == Some("rw")
}

/// `/` remounted read-write when the command line says `rw` and it is mounted read-only
/// (systemd-remount-fs's job for the root). Not in the initrd: its root is the initramfs.
pub fn remount_root() {
    if crate::in_initrd() {
        return;
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let ro = nix::sys::statvfs::statvfs("/")
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false);
    if !ro || !wants_rw_root(&cmdline) {
        return;
    }
    match nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT,
        None::<&str>,
    ) {
        Ok(()) => say!("/ remounted read-write (rw on the kernel command line)"),
        Err(e) => warn!("cannot remount / read-write: {e}"),
    }
}

/// Everything above, in system mode.
pub fn system_setup() {
    // The kernel starts init with no PATH: the helpers (fsck, modprobe, blkid) need one.
    if std::env::var_os("PATH").is_none() {
        std::env::set_var("PATH", crate::runtime::DEFAULT_PATH);
    }
    mount_api_filesystems();
    remount_root();
    set_hostname();
    machine_id_setup();
    loopback_up();
    load_modules_and_sysctl();
    tmpfiles();
}

/// The `*.conf` files of a systemd configuration directory set (`/etc/NAME`, `/run/NAME`,
/// `/usr/lib/NAME`, `/lib/NAME`), by file name: the first directory with a name wins, in name
/// order, as systemd's conf-files logic.
pub fn conf_files(name: &str) -> Vec<std::path::PathBuf> {
    let mut by_name: std::collections::BTreeMap<String, std::path::PathBuf> = Default::default();
    for dir in ["/etc", "/run", "/usr/lib", "/lib"] {
        let Ok(entries) = std::fs::read_dir(Path::new(dir).join(name)) else {
            continue;
        };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".conf") {
                by_name.entry(n).or_insert_with(|| e.path());
            }
        }
    }
    by_name.into_values().collect()
}

/// Lines that are not blank or comments (`#`, `;`).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
}

/// sysctl.d: `key = value` (dots or slashes) written under /proc/sys; a `-` prefix ignores a
/// failure. Returns (path, value) pairs, for tests.
pub fn parse_sysctl(text: &str) -> Vec<(String, String, bool)> {
    lines(text)
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            let (k, ignore) = match k.strip_prefix('-') {
                Some(k) => (k, true),
                None => (k, false),
            };
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            Some((path, v.trim().to_string(), ignore))
        })
        .collect()
}

/// modules-load.d (the modules named, one a line) and sysctl.d, in system mode, as
/// systemd-modules-load and systemd-sysctl do at boot.
pub fn load_modules_and_sysctl() {
    let mut modules = Vec::new();
    for f in conf_files("modules-load.d") {
        if let Ok(t) = std::fs::read_to_string(&f) {
            modules.extend(lines(&t).map(str::to_string));
        }
    }
    if !modules.is_empty() {
        match std::process::Command::new("modprobe")
            .args(["-a", "-b"])
            .args(&modules)
            .status()
        {
            Ok(st) if st.success() => {}
            Ok(st) => say!("modules-load.d: modprobe {}: {st}", modules.join(" ")),
            Err(e) => warn!("modules-load.d: cannot run modprobe: {e}"),
        }
    }
    for f in conf_files("sysctl.d") {
        let Ok(t) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (path, value, ignore) in parse_sysctl(&t) {
            if let Err(e) = std::fs::write(&path, &value) {
                if !ignore {
                    say!("{}: {path} = {value}: {e}", f.display());
                }
            }
        }
    }
}

/// tmpfiles.d, the basics: `d` (a directory with mode, user and group, made if missing) and
/// `f` (a file, made if missing, with an optional argument as content). Other types are left
/// for systemd-tmpfiles to do, and said once.
pub fn tmpfiles() {
    for f in conf_files("tmpfiles.d") {
        let Ok(t) = std::fs::read_to_string(&f) else {
            continue;
        };
        for l in lines(&t) {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (Some(kind), Some(path)) = (w.first(), w.get(1)) else {
                continue;
            };
            let mode = w.get(2).and_then(|m| u32::from_str_radix(m, 8).ok());
            let ids = |i: usize| w.get(i).filter(|x| **x != "-").copied();
            let r = match *kind {
                "d" | "D" => std::fs::create_dir_all(path),
                "f" | "f+" => {
                    if Path::new(path).exists() && *kind == "f" {
                        Ok(())
                    } else {
                        std::fs::write(path, w.get(6..).map(|a| a.join(" ")).unwrap_or_default())
                    }
                }
                other => {
                    say!(
                        "{}: tmpfiles.d type {other:?} is not done by cairn yet",
                        f.display()
                    );
                    continue;
                }
            };
            if let Err(e) = r {
                say!("{}: {path}: {e}", f.display());
                continue;
            }
            if let Some(m) = mode {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(m));
            }
            let uid = ids(3)
                .and_then(|u| nix::unistd::User::from_name(u).ok().flatten())
                .map(|u| u.uid);
            let gid = ids(4)
                .and_then(|g| nix::unistd::Group::from_name(g).ok().flatten())
                .map(|g| g.gid);
            if uid.is_some() || gid.is_some() {
                let _ = nix::unistd::chown(Path::new(path), uid, gid);
            }
        }
    }
}

/// The unit the kernel command line asks for, as systemd reads it: `cairn.unit=` (or
/// `systemd.unit=`), `emergency`/`-b` for emergency.target, `rescue`/`single`/`s`/`S`/`1` for
/// rescue.target, `2`–`5` for the runlevel targets. The last word that names one wins.
pub fn boot_unit<'a>(words: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut unit = None;
    for w in words {
        let named = match w {
            "emergency" | "-b" => Some("emergency.target"),
            "rescue" | "single" | "s" | "S" | "1" => Some("rescue.target"),
            "2" => Some("runlevel2.target"),
            "3" => Some("runlevel3.target"),
            "4" => Some("runlevel4.target"),
            "5" => Some("runlevel5.target"),
            _ => w
                .strip_prefix("cairn.unit=")
                .or_else(|| w.strip_prefix("systemd.unit=")),
        };
        if let Some(n) = named.filter(|n| !n.is_empty()) {
            unit = Some(n.to_string());
        }
    }
    unit
}

/// Whether this is an initrd: it says so with /etc/initrd-release (os-release(5)), as
/// systemd reads it. Its boot unit is initrd.target, and it ends with switch-root.
pub fn in_initrd() -> bool {
    Path::new("/etc/initrd-release").exists()
}

/// In an initrd, only `rd.cairn.unit=` (or `rd.systemd.unit=`) names the boot unit: the
/// other words are for the real root. The last one wins.
pub fn initrd_boot_unit<'a>(words: impl Iterator<Item = &'a str>) -> Option<String> {
    words
        .filter_map(|w| {
            w.strip_prefix("rd.cairn.unit=")
                .or_else(|| w.strip_prefix("rd.systemd.unit="))
        })
        .filter(|n| !n.is_empty())
        .last()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_command_line_picks_the_boot_unit_as_systemd_reads_it() {
        let b = |line: &str| super::boot_unit(line.split_whitespace());
        assert_eq!(b("console=ttyS0 quiet"), None);
        assert_eq!(b("cairn.unit=disk.target"), Some("disk.target".into()));
        assert_eq!(b("systemd.unit=a.target"), Some("a.target".into()));
        assert_eq!(b("emergency"), Some("emergency.target".into()));
        assert_eq!(b("-b"), Some("emergency.target".into()));
        for w in ["rescue", "single", "s", "S", "1"] {
            assert_eq!(b(w), Some("rescue.target".into()), "{w}");
        }
        assert_eq!(b("3"), Some("runlevel3.target".into()));
        // The last one wins; an empty value names nothing.
        assert_eq!(b("single cairn.unit=x.target"), Some("x.target".into()));
        assert_eq!(
            b("cairn.unit=x.target emergency"),
            Some("emergency.target".into())
        );
        assert_eq!(b("cairn.unit= quiet"), None);
        let level = |line: &str| crate::world::log_level_from(line.split_whitespace());
        assert_eq!(level("console=ttyS0"), None);
        assert_eq!(level("quiet"), Some(5));
        assert_eq!(level("quiet cairn.log_level=debug"), Some(7));
        assert_eq!(level("cairn.log_level=debug quiet"), Some(7));
        assert_eq!(level("systemd.log_level=warning"), Some(4));
        assert_eq!(level("cairn.log_level=3 cairn.log_level=loud"), Some(3));
        assert_eq!(level("cairn.log_level=9"), None);
        // rd.* words are the initrd's.
        assert_eq!(b("rd.cairn.unit=x.target"), None);
        let rd = |line: &str| super::initrd_boot_unit(line.split_whitespace());
        assert_eq!(rd("cairn.unit=a.target emergency"), None);
        assert_eq!(
            rd("rd.cairn.unit=a.target rd.systemd.unit=b.target"),
            Some("b.target".into())
        );
    }

    #[test]
    fn the_machine_id_is_kept_given_or_made_as_systemd_decides() {
        let random = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0\n";
        let made = "0f1e2d3c4b5a69788796a5b4c3d2e1f0".to_string();
        let kept = "1234567890abcdef1234567890abcdef";
        assert_eq!(
            choose_machine_id(Some(&format!("{kept}\n")), "", random),
            (kept.to_string(), false)
        );
        // Missing, empty (a read-only image's placeholder), uninitialized or not an ID: made.
        assert_eq!(choose_machine_id(None, "", random), (made.clone(), true));
        assert_eq!(
            choose_machine_id(Some(""), "", random),
            (made.clone(), true)
        );
        assert_eq!(
            choose_machine_id(Some("uninitialized\n"), "", random),
            (made.clone(), true)
        );
        assert_eq!(
            choose_machine_id(Some(&"0".repeat(32)), "", random),
            (made.clone(), true)
        );
        // The kernel command line's, when valid.
        let given = "abcdefabcdefabcdefabcdefabcdefab";
        assert_eq!(
            choose_machine_id(None, &format!("quiet systemd.machine_id={given}"), random),
            (given.to_string(), true)
        );
        assert_eq!(
            choose_machine_id(None, "systemd.machine_id=XYZ", random),
            (made, true)
        );
        assert!(valid_machine_id(kept));
        assert!(!valid_machine_id("1234567890ABCDEF1234567890ABCDEF"));
    }

    #[test]
    fn the_last_of_ro_and_rw_decides() {
        assert!(wants_rw_root("root=/dev/vda rw quiet"));
        assert!(!wants_rw_root("root=/dev/vda ro"));
        assert!(!wants_rw_root("rw ro"));
        assert!(wants_rw_root("ro rw"));
        assert!(!wants_rw_root("quiet"));
        assert!(!wants_rw_root("rootflags=rw"));
    }

    #[test]
    fn sysctl_lines() {
        let p = parse_sysctl(
            "# c\n; c\nkernel.domainname = cairn.test\n-net/ipv4/ip_forward=1\n\nbad line\n",
        );
        assert_eq!(
            p,
            [
                (
                    "/proc/sys/kernel/domainname".to_string(),
                    "cairn.test".to_string(),
                    false
                ),
                (
                    "/proc/sys/net/ipv4/ip_forward".to_string(),
                    "1".to_string(),
                    true
                ),
            ]
        );
    }
}

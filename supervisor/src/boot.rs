//! System mode's first steps (brief §8): the API file systems, the hostname, the loopback
//! interface. Never in container mode, which touches nothing shared with the host.
//!
//! Each step is best effort: a machine that cannot mount cgroup2 still boots (services are
//! then not tracked by cgroup, which the supervisor says); a failure is logged and the boot
//! goes on.

use std::path::Path;

use nix::mount::MsFlags;

use crate::say;

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
            say!("cannot create {target}: {e}");
            continue;
        }
        if let Err(e) = nix::mount::mount(Some(*src), *target, Some(*fstype), flags(*bits), *data) {
            say!("cannot mount {fstype} on {target}: {e}");
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
        say!("cannot set the hostname to {name}: {e}");
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
                say!("cannot bring lo up: {}", std::io::Error::last_os_error());
            }
        }
        libc::close(fd);
    }
}

/// Everything above, in system mode.
pub fn system_setup() {
    // The kernel starts init with no PATH: the helpers (fsck, modprobe, blkid) need one.
    if std::env::var_os("PATH").is_none() {
        std::env::set_var("PATH", crate::runtime::DEFAULT_PATH);
    }
    mount_api_filesystems();
    set_hostname();
    loopback_up();
}

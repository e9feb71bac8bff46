//! Direct autofs mounts (kernel protocol v5) for automount units.
//!
//! Flow (as systemd's `automount.c`): [`mount_direct`] mounts autofs at `where` with a pipe
//! (`fd=W,pgrp=P,minproto=5,maxproto=5,direct`). A process touching anything below `where`
//! makes the kernel write one v5 packet to the pipe and sleep (killable) until the daemon
//! answers [`ready`] (after mounting the real fs on top, [`mount_on_top`] / [`bind_onto`]) or
//! [`fail`] (the process gets `ENOENT`). [`Pending`] is the pure bookkeeping for that.
//!
//! Kernel facts verified by `tests/host.rs` (6.18 host kernel):
//! - The kernel writes `sizeof(struct autofs_v5_packet)` = [`PACKET_SIZE`] = 304 bytes on
//!   x86_64 (300 bytes of fields + 4 of tail padding from the `u64 ino`), one packet per
//!   `read(2)` (packet-mode pipe). [`parse_packet`] needs [`PACKET_MIN`] = 300 bytes.
//! - Processes in the mount's `pgrp` are never blocked ("oz mode"); they see the autofs
//!   directory itself. Any other process blocks, including a restarted daemon in a new
//!   process group: while a request is pending, every path lookup that crosses `where`
//!   (`stat`, `mount(2)` by path, `umount2`, even `/dev/autofs` OPENMOUNT, which resolves the
//!   path) sleeps until the request is answered. Hence the fd-based API: [`mount_on_top`] and
//!   [`bind_onto`] use `fsmount`/`open_tree` + `move_mount(T_EMPTY_PATH)` onto `ioctl_fd`,
//!   which never walks `where`; the kernel stacks the new mount on the topmost mount there.
//! - Concurrent waiters on one direct mount share one kernel wait queue: N blocked processes
//!   usually produce one `Missing` packet, and one READY wakes them all.
//! - `AUTOFS_IOC_EXPIRE_MULTI` blocks the caller until the daemon answered the `Expire`
//!   packet it sends; call it from another thread ([`spawn_expire`], like systemd's
//!   expire thread). Nothing expires on its own: the timeout set by `AUTOFS_IOC_SETTIMEOUT`
//!   only makes `EXPIRE_MULTI` skip mounts used within the timeout (0 = never, unless
//!   `AUTOFS_EXP_IMMEDIATE`). Any open fd inside the mount on top makes it busy.
//! - `pgrp=` must name a process group visible in the caller's PID namespace: in a fresh PID
//!   namespace `getpgrp()` is 0 until `setsid()`; [`mount_direct`] refuses with
//!   [`AutofsError::NoProcessGroup`] instead of letting mount(2) fail with `EINVAL`.
//! - Dropping the pipe read end makes the kernel's next write fail: the mount goes
//!   catatonic and every access gets `ENOENT`. Keep `pipe_r` (e.g. in an fd store).
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr};
use std::fs::DirBuilder;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::ioctl::ioctl_num_type as Req;

/// Bytes the v5 packet fields span (name ends at 44 + NAME_MAX + 1).
pub const PACKET_MIN: usize = 300;
/// `sizeof(struct autofs_v5_packet)` on this target: what the kernel writes per request.
pub const PACKET_SIZE: usize = std::mem::size_of::<V5Packet>();
const NAME_OFF: usize = 44;
const NAME_MAX: usize = 255;
const PTYPE_MISSING_INDIRECT: i32 = 3;
const PTYPE_EXPIRE_INDIRECT: i32 = 4;
const PTYPE_MISSING_DIRECT: i32 = 5;
const PTYPE_EXPIRE_DIRECT: i32 = 6;
const AUTOFS_EXP_IMMEDIATE: libc::c_int = 1;

const IOC_READY: Req = nix::request_code_none!(0x93, 0x60);
const IOC_FAIL: Req = nix::request_code_none!(0x93, 0x61);
const IOC_CATATONIC: Req = nix::request_code_none!(0x93, 0x62);
const IOC_PROTOVER: Req = nix::request_code_read!(0x93, 0x63, 4);
const IOC_SETTIMEOUT: Req = nix::request_code_readwrite!(0x93, 0x64, 8);
const IOC_EXPIRE_MULTI: Req = nix::request_code_write!(0x93, 0x66, 4);
const DEV_IOCTL_SIZE: usize = 24; // sizeof(struct autofs_dev_ioctl)
const DEV_OPENMOUNT: Req = nix::request_code_readwrite!(0x93, 0x74, DEV_IOCTL_SIZE);
const DEV_SETPIPEFD: Req = nix::request_code_readwrite!(0x93, 0x78, DEV_IOCTL_SIZE);

// New mount API (linux/mount.h); not all are in libc for every target env.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const AT_EMPTY_PATH: libc::c_uint = 0x1000;

/// `struct autofs_v5_packet` (only used to pin the size).
#[repr(C)]
pub struct V5Packet {
    proto_version: i32,
    ptype: i32,
    token: u32,
    dev: u32,
    ino: u64,
    uid: u32,
    gid: u32,
    pid: u32,
    tgid: u32,
    len: u32,
    name: [u8; NAME_MAX + 1],
}

/// `struct autofs_dev_ioctl` followed by room for the path of OPENMOUNT.
#[repr(C)]
struct DevIoctl {
    ver_major: u32,
    ver_minor: u32,
    size: u32,
    ioctlfd: i32,
    arg: [u32; 2], // the union; only its first u32 is used here
    path: [u8; 4096],
}

/// Errors of this module; `errno()` gives the kernel's answer where there is one.
#[derive(Debug, thiserror::Error)]
pub enum AutofsError {
    #[error("{op} {}: {errno}{detail}", path.display())]
    Sys {
        op: &'static str,
        path: PathBuf,
        errno: Errno,
        detail: String,
    },
    #[error("autofs packet too short: {0} bytes (need {PACKET_MIN})")]
    ShortPacket(usize),
    #[error("unexpected autofs packet: protocol {proto}, type {ptype}, token {token}")]
    BadPacket { proto: i32, ptype: i32, token: u32 },
    #[error("kernel autofs protocol {0} is older than 5")]
    Protocol(i32),
    #[error("getpgrp() is 0 (fresh PID namespace?): call setsid() before mounting autofs")]
    NoProcessGroup,
    #[error("{} is not an autofs mount point", .0.display())]
    NotAutofs(PathBuf),
    #[error("autofs pipe closed: the mount is gone or catatonic")]
    PipeClosed,
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl AutofsError {
    /// The errno behind a failed system call, if any.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            AutofsError::Sys { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

fn sys<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> AutofsError + 'a {
    move |errno| AutofsError::Sys {
        op,
        path: path.to_path_buf(),
        errno,
        detail: String::new(),
    }
}

fn io_sys<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> AutofsError + 'a {
    move |e| sys(op, path)(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// A direct autofs mount point we own.
#[derive(Debug)]
pub struct AutofsMount {
    /// Absolute mount point, as in mountinfo.
    pub path: PathBuf,
    /// Read end of the request pipe (`O_NONBLOCK|O_CLOEXEC`). Closing it makes the mount
    /// catatonic at the next request.
    pub pipe_r: OwnedFd,
    /// Fd on the autofs root (from `/dev/autofs` OPENMOUNT): target of the `AUTOFS_IOC_*`
    /// ioctls and of `move_mount`. Worth storing across restarts like `pipe_r`.
    pub ioctl_fd: OwnedFd,
    /// `st_dev` of the autofs superblock.
    pub dev: u64,
}

/// A request read from the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Someone (`pid`, in the daemon's PID namespace) wants the mount: answer READY or FAIL.
    Missing {
        token: u32,
        pid: i32,
        tgid: i32,
        uid: u32,
        gid: u32,
        name: String,
    },
    /// The kernel chose the mount for expiry: unmount what is on top, then READY (or FAIL to
    /// keep it).
    Expire { token: u32, name: String },
}

impl Packet {
    /// The wait-queue token to answer.
    pub fn token(&self) -> u32 {
        match self {
            Packet::Missing { token, .. } | Packet::Expire { token, .. } => *token,
        }
    }
}

fn word(b: &[u8], off: usize) -> Option<[u8; 4]> {
    b.get(off..off.checked_add(4)?)?.try_into().ok()
}

/// Decodes one v5 packet as read from the pipe (pure). The `name` of a direct mount is the
/// kernel's hashed dentry pointer, not a path. Indirect types are accepted as well.
pub fn parse_packet(bytes: &[u8]) -> Result<Packet, AutofsError> {
    let short = || AutofsError::ShortPacket(bytes.len());
    if bytes.len() < PACKET_MIN {
        return Err(short());
    }
    let i32_at = |off| word(bytes, off).map(i32::from_ne_bytes).ok_or_else(short);
    let u32_at = |off| word(bytes, off).map(u32::from_ne_bytes).ok_or_else(short);
    let (proto, ptype, token) = (i32_at(0)?, i32_at(4)?, u32_at(8)?);
    let len = usize::try_from(u32_at(40)?)
        .unwrap_or(usize::MAX)
        .min(NAME_MAX);
    let raw = bytes.get(NAME_OFF..NAME_OFF + len).ok_or_else(short)?;
    let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
    let name = String::from_utf8_lossy(raw).into_owned();
    match (proto, ptype) {
        (5, PTYPE_MISSING_DIRECT | PTYPE_MISSING_INDIRECT) => Ok(Packet::Missing {
            token,
            uid: u32_at(24)?,
            gid: u32_at(28)?,
            pid: i32_at(32)?,
            tgid: i32_at(36)?,
            name,
        }),
        (5, PTYPE_EXPIRE_DIRECT | PTYPE_EXPIRE_INDIRECT) => Ok(Packet::Expire { token, name }),
        _ => Err(AutofsError::BadPacket {
            proto,
            ptype,
            token,
        }),
    }
}

fn ioctl_val(fd: BorrowedFd<'_>, req: Req, arg: libc::c_ulong) -> Result<libc::c_int, Errno> {
    // SAFETY: the callers pass _IO requests, which take their argument by value: no memory.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) })
}

fn ioctl_mut<T: Copy>(fd: BorrowedFd<'_>, req: Req, arg: &mut T) -> Result<libc::c_int, Errno> {
    // SAFETY: `arg` is a valid, exclusive T; callers pair each request with the T of the size
    // the request encodes, so the kernel reads/writes only inside it.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), req, arg as *mut T) })
}

/// One `/dev/autofs` ioctl on `ioctlfd` (or with a path for OPENMOUNT).
fn dev_ioctl(req: Req, ioctlfd: RawFd, arg: u32, path: Option<&Path>) -> Result<i32, AutofsError> {
    let shown = path.unwrap_or(Path::new("/dev/autofs"));
    let mut p = DevIoctl {
        ver_major: 1,
        ver_minor: 0,
        size: 24,
        ioctlfd,
        arg: [arg, 0],
        path: [0; 4096],
    };
    if let Some(path) = path {
        let b = path.as_os_str().as_bytes();
        let dst = p
            .path
            .get_mut(..b.len())
            .filter(|_| b.len() < 4096 && !b.contains(&0));
        dst.ok_or_else(|| AutofsError::Invalid(format!("bad path {}", path.display())))?
            .copy_from_slice(b);
        p.size = u32::try_from(DEV_IOCTL_SIZE + b.len() + 1).unwrap_or(u32::MAX);
    }
    let dev =
        std::fs::File::open("/dev/autofs").map_err(io_sys("open", Path::new("/dev/autofs")))?;
    // SAFETY: `p` is a valid `struct autofs_dev_ioctl` whose `size` covers only initialized
    // bytes of `p` (header + NUL-terminated path); the kernel writes back within the header.
    let r = unsafe { libc::ioctl(dev.as_raw_fd(), req, &mut p as *mut DevIoctl) };
    Errno::result(r).map_err(sys("/dev/autofs ioctl", shown))?;
    Ok(p.ioctlfd)
}

/// `new_encode_dev()`: the device number format of OPENMOUNT's devid.
fn encode_dev(dev: u64) -> u32 {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

fn open_mount(path: &Path, dev: u64) -> Result<OwnedFd, AutofsError> {
    let fd = dev_ioctl(DEV_OPENMOUNT, -1, encode_dev(dev), Some(path))?;
    if fd < 0 {
        return Err(sys("OPENMOUNT", path)(Errno::EBADF));
    }
    // SAFETY: on success the kernel installed `fd` (O_CLOEXEC) for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_nonblock(fd: &OwnedFd, path: &Path) -> Result<(), AutofsError> {
    let fl = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).map_err(sys("F_GETFL", path))?);
    fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK)).map_err(sys("F_SETFL", path))?;
    fcntl(fd, FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC)).map_err(sys("F_SETFD", path))?;
    Ok(())
}

/// Creates `path` (`mkdir -p`, new directories get `directory_mode`) and mounts a direct autofs
/// there owned by the caller's process group. The caller (and its process group) must stay
/// out of the mount: they see the bare autofs directory, not the real fs.
pub fn mount_direct(
    path: &Path,
    timeout_idle: Option<Duration>,
    directory_mode: u32,
) -> Result<AutofsMount, AutofsError> {
    if !path.is_absolute() {
        return Err(AutofsError::Invalid(format!(
            "{} is not absolute",
            path.display()
        )));
    }
    let mkdir = DirBuilder::new()
        .recursive(true)
        .mode(directory_mode)
        .create(path);
    mkdir.map_err(io_sys("mkdir", path))?;
    let path = std::fs::canonicalize(path).map_err(io_sys("canonicalize", path))?;
    let pgrp = nix::unistd::getpgrp().as_raw();
    if pgrp <= 0 {
        return Err(AutofsError::NoProcessGroup);
    }
    let (pipe_r, pipe_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2", &path))?;
    let data = format!(
        "fd={},pgrp={pgrp},minproto=5,maxproto=5,direct",
        pipe_w.as_raw_fd()
    );
    mount(
        Some("cairn"),
        &path,
        Some("autofs"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(sys("mount autofs", &path))?;
    drop(pipe_w); // the kernel holds its own reference
    let attach = |pipe_r: OwnedFd| -> Result<AutofsMount, AutofsError> {
        set_nonblock(&pipe_r, &path)?;
        let dev = nix::sys::stat::stat(&path)
            .map_err(sys("stat", &path))?
            .st_dev;
        let ioctl_fd = open_mount(&path, dev)?;
        let m = AutofsMount {
            path: path.clone(),
            pipe_r,
            ioctl_fd,
            dev,
        };
        check_protocol(&m)?;
        set_timeout(&m, timeout_idle)?;
        Ok(m)
    };
    attach(pipe_r).inspect_err(|_| {
        let _ = umount2(&path, MntFlags::MNT_DETACH);
    })
}

fn check_protocol(m: &AutofsMount) -> Result<(), AutofsError> {
    let mut v: libc::c_int = 0;
    ioctl_mut(m.ioctl_fd.as_fd(), IOC_PROTOVER, &mut v)
        .map_err(sys("AUTOFS_IOC_PROTOVER", &m.path))?;
    if v < 5 {
        return Err(AutofsError::Protocol(v));
    }
    Ok(())
}

/// `AUTOFS_IOC_SETTIMEOUT` (whole seconds, rounded up; `None` = never expire).
pub fn set_timeout(m: &AutofsMount, timeout: Option<Duration>) -> Result<(), AutofsError> {
    let t = timeout.map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    let mut secs = libc::c_ulong::try_from(t).unwrap_or(libc::c_ulong::MAX);
    ioctl_mut(m.ioctl_fd.as_fd(), IOC_SETTIMEOUT, &mut secs)
        .map_err(sys("AUTOFS_IOC_SETTIMEOUT", &m.path))?;
    Ok(())
}

/// Re-attaches to a mount after a daemon restart, from the stored pipe read end and either the
/// stored ioctl fd (preferred: checked to be the autofs mounted at `path`) or, with `None`, a
/// fresh one from `/dev/autofs` OPENMOUNT (devid from mountinfo). Keeping the stored fd is
/// strictly better: OPENMOUNT walks `path`, which blocks a daemon outside the mount's process
/// group while a request is pending. `path` must be the absolute mount point; it is never
/// stat()ed. The pipe keeps its owner process group: a restarted daemon in a new group is not
/// in oz mode (see [`take_over`]).
pub fn reattach(
    path: &Path,
    pipe_r: OwnedFd,
    ioctl_fd: Option<OwnedFd>,
) -> Result<AutofsMount, AutofsError> {
    let path: PathBuf = path.components().collect();
    let here = mounts_at(&path)?;
    let (ioctl_fd, dev) = match ioctl_fd {
        Some(fd) => {
            let st = nix::sys::statfs::fstatfs(&fd).map_err(sys("fstatfs", &path))?;
            let dev = nix::sys::stat::fstat(&fd)
                .map_err(sys("fstat", &path))?
                .st_dev;
            let at_path = here.iter().any(|e| e.fstype == "autofs" && e.dev == dev);
            if st.filesystem_type() != nix::sys::statfs::AUTOFS_SUPER_MAGIC || !at_path {
                return Err(AutofsError::NotAutofs(path));
            }
            (fd, dev)
        }
        None => {
            let e = here.iter().rev().find(|e| e.fstype == "autofs");
            let dev = e.ok_or_else(|| AutofsError::NotAutofs(path.clone()))?.dev;
            (open_mount(&path, dev)?, dev)
        }
    };
    let st = nix::sys::stat::fstat(&pipe_r).map_err(sys("fstat pipe", &path))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(AutofsError::Invalid("pipe_r is not a pipe".into()));
    }
    set_nonblock(&pipe_r, &path)?;
    let m = AutofsMount {
        path,
        pipe_r,
        ioctl_fd,
        dev,
    };
    check_protocol(&m)?;
    Ok(m)
}

/// Makes the calling process group the owner of `m` (oz mode), as `automount(8)` does on
/// restart: `AUTOFS_IOC_CATATONIC` (every pending request gets `ENOENT`, as does every access
/// until the next step) then `/dev/autofs` SETPIPEFD with a new pipe. Needs no path walk.
pub fn take_over(m: AutofsMount) -> Result<AutofsMount, AutofsError> {
    ioctl_val(m.ioctl_fd.as_fd(), IOC_CATATONIC, 0)
        .map_err(sys("AUTOFS_IOC_CATATONIC", &m.path))?;
    let (pipe_r, pipe_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2", &m.path))?;
    set_nonblock(&pipe_r, &m.path)?;
    let fd = u32::try_from(pipe_w.as_raw_fd()).unwrap_or(u32::MAX);
    dev_ioctl(DEV_SETPIPEFD, m.ioctl_fd.as_raw_fd(), fd, None)?;
    Ok(AutofsMount { pipe_r, ..m })
}

/// Reads one packet; `Ok(None)` when none is waiting.
pub fn read_packet(m: &AutofsMount) -> Result<Option<Packet>, AutofsError> {
    let mut buf = [0u8; 512]; // > PACKET_SIZE: a packet-mode read never returns half a packet
    loop {
        return match nix::unistd::read(&m.pipe_r, &mut buf) {
            Ok(0) => Err(AutofsError::PipeClosed),
            Ok(n) => parse_packet(buf.get(..n).unwrap_or_default()).map(Some),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => Ok(None),
            Err(e) => Err(sys("read autofs pipe", &m.path)(e)),
        };
    }
}

/// Reads every packet available now (non-blocking). A packet we cannot decode but whose token
/// is known is answered with FAIL at once, since the kernel would block its requester forever;
/// read errors are returned only when no packet was read before them (they recur next call).
pub fn read_packets(m: &AutofsMount) -> Result<Vec<Packet>, AutofsError> {
    let mut out = Vec::new();
    for _ in 0..4096 {
        match read_packet(m) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => break,
            Err(AutofsError::BadPacket { token, .. }) => {
                let _ = fail(m, token);
            }
            Err(AutofsError::ShortPacket(_)) => {}
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// `AUTOFS_IOC_READY`: the mount (or the expire) for `token` is done.
pub fn ready(m: &AutofsMount, token: u32) -> Result<(), AutofsError> {
    ioctl_val(m.ioctl_fd.as_fd(), IOC_READY, token.into())
        .map_err(sys("AUTOFS_IOC_READY", &m.path))?;
    Ok(())
}

/// `AUTOFS_IOC_FAIL`: the requester gets `ENOENT` (an expire is cancelled).
pub fn fail(m: &AutofsMount, token: u32) -> Result<(), AutofsError> {
    ioctl_val(m.ioctl_fd.as_fd(), IOC_FAIL, token.into())
        .map_err(sys("AUTOFS_IOC_FAIL", &m.path))?;
    Ok(())
}

fn expire_fd(fd: BorrowedFd<'_>, path: &Path, immediate: bool) -> Result<bool, AutofsError> {
    let mut how = if immediate { AUTOFS_EXP_IMMEDIATE } else { 0 };
    match ioctl_mut(fd, IOC_EXPIRE_MULTI, &mut how) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN) => Ok(false),
        Err(e) => Err(sys("AUTOFS_IOC_EXPIRE_MULTI", path)(e)),
    }
}

/// `AUTOFS_IOC_EXPIRE_MULTI`: if the mount on top is idle for the timeout (or `immediate`)
/// and not busy, the kernel sends an `Expire` packet and this call BLOCKS until that token is
/// answered; `Ok(true)` after READY, `Ok(false)` when nothing is eligible (`EAGAIN`), an
/// `ENOENT` error after FAIL. Never call it from the thread that answers packets.
pub fn expire(m: &AutofsMount, immediate: bool) -> Result<bool, AutofsError> {
    expire_fd(m.ioctl_fd.as_fd(), &m.path, immediate)
}

/// Runs [`expire`] until nothing is eligible on a new thread (with a dup of `ioctl_fd`), as
/// systemd's expire timer does; the thread yields how many expiries were acknowledged.
pub fn spawn_expire(
    m: &AutofsMount,
    immediate: bool,
) -> Result<JoinHandle<Result<u32, AutofsError>>, AutofsError> {
    let fd = m.ioctl_fd.try_clone().map_err(io_sys("dup", &m.path))?;
    let path = m.path.clone();
    let thread = std::thread::Builder::new().name("autofs-expire".into());
    let body = move || {
        let mut n = 0;
        while n < 64 && expire_fd(fd.as_fd(), &path, immediate)? {
            n += 1;
        }
        Ok(n)
    };
    thread
        .spawn(body)
        .map_err(io_sys("spawn expire thread", &m.path))
}

/// `MOUNT_ATTR_*` flags for [`mount_on_top`] and [`bind_onto`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountAttr(pub u64);

impl MountAttr {
    pub const RDONLY: MountAttr = MountAttr(0x1);
    pub const NOSUID: MountAttr = MountAttr(0x2);
    pub const NODEV: MountAttr = MountAttr(0x4);
    pub const NOEXEC: MountAttr = MountAttr(0x8);
    pub const NOATIME: MountAttr = MountAttr(0x10);
    pub const STRICTATIME: MountAttr = MountAttr(0x20);
    pub const NODIRATIME: MountAttr = MountAttr(0x80);
}

impl std::ops::BitOr for MountAttr {
    type Output = MountAttr;
    fn bitor(self, o: MountAttr) -> MountAttr {
        MountAttr(self.0 | o.0)
    }
}

fn cstr(s: impl AsRef<OsStr>) -> Result<CString, AutofsError> {
    let s = s.as_ref();
    CString::new(s.as_bytes()).map_err(|_| AutofsError::Invalid(format!("NUL in {s:?}")))
}

fn fd_result(r: libc::c_long, op: &'static str, path: &Path) -> Result<OwnedFd, AutofsError> {
    let fd = RawFd::try_from(r).unwrap_or(-1);
    if fd < 0 {
        return Err(sys(op, path)(Errno::last()));
    }
    // SAFETY: the syscall just returned this new fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The messages the kernel logged on an fs-context fd ("e tmpfs: Bad value for 'size'").
fn fs_log(fs: &OwnedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 512];
    for _ in 0..8 {
        match nix::unistd::read(fs, &mut buf) {
            Ok(n) if n > 0 => {
                out += &format!(
                    " [{}]",
                    String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
                )
            }
            _ => break,
        }
    }
    out
}

fn fsconfig(
    fs: &OwnedFd,
    cmd: libc::c_uint,
    key: Option<&CStr>,
    val: Option<&CStr>,
) -> Result<(), Errno> {
    let (k, v) = (
        key.map_or(std::ptr::null(), CStr::as_ptr),
        val.map_or(std::ptr::null(), CStr::as_ptr),
    );
    // SAFETY: fsconfig(2) with NUL-terminated key/value (or NULL where `cmd` needs none).
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, k, v, 0) };
    Errno::result(r).map(drop)
}

/// Moves the detached mount `mnt` onto the topmost mount at `m`'s mount point, through the fd:
/// no path lookup of `where`, so it works from outside the mount's process group too.
fn move_onto(m: &AutofsMount, mnt: &OwnedFd) -> Result<(), AutofsError> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    let (from, to) = (mnt.as_raw_fd(), m.ioctl_fd.as_raw_fd());
    // SAFETY: move_mount(2) with two valid fds and empty NUL-terminated paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(r)
        .map(drop)
        .map_err(sys("move_mount", &m.path))
}

/// Mounts a new `fstype` instance on top of the autofs point with the new mount API
/// (fsopen/fsconfig/fsmount + move_mount onto `ioctl_fd`). `options` is comma-separated fs data
/// ("size=1m,mode=755"; a bare word is a flag; values cannot contain commas). Kernel messages
/// are appended to errors.
pub fn mount_on_top(
    m: &AutofsMount,
    fstype: &str,
    source: &str,
    options: &str,
    attr: MountAttr,
) -> Result<(), AutofsError> {
    let ty = cstr(fstype)?;
    // SAFETY: fsopen(2) with a NUL-terminated fs type name.
    let fs = fd_result(
        unsafe { libc::syscall(libc::SYS_fsopen, ty.as_ptr(), FSOPEN_CLOEXEC) },
        "fsopen",
        &m.path,
    )?;
    let fail_log = |op: &'static str| {
        let fs = &fs;
        move |errno| AutofsError::Sys {
            op,
            path: m.path.clone(),
            errno,
            detail: fs_log(fs),
        }
    };
    let (src_key, src) = (cstr("source")?, cstr(source)?);
    fsconfig(&fs, FSCONFIG_SET_STRING, Some(&src_key), Some(&src))
        .map_err(fail_log("fsconfig source"))?;
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some((k, v)) => fsconfig(&fs, FSCONFIG_SET_STRING, Some(&cstr(k)?), Some(&cstr(v)?)),
            None => fsconfig(&fs, FSCONFIG_SET_FLAG, Some(&cstr(opt)?), None),
        }
        .map_err(fail_log("fsconfig option"))?;
    }
    fsconfig(&fs, FSCONFIG_CMD_CREATE, None, None).map_err(fail_log("fsconfig create"))?;
    // SAFETY: fsmount(2) on a configured fs context fd; flags and attributes are plain ints.
    let r = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attr.0) };
    let mnt = fd_result(r, "fsmount", &m.path)?;
    move_onto(m, &mnt) // `mnt` is closed on return: an open fd would keep the mount busy
}

/// Bind-mounts `source` (recursively if `recursive`) on top of the autofs point:
/// `open_tree(OPEN_TREE_CLONE)`, `mount_setattr` for `attr`, `move_mount` onto `ioctl_fd`.
pub fn bind_onto(
    m: &AutofsMount,
    source: &Path,
    recursive: bool,
    attr: MountAttr,
) -> Result<(), AutofsError> {
    let src = cstr(source)?;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: open_tree(2) with a NUL-terminated path and plain flags.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, src.as_ptr(), flags) };
    let tree = fd_result(r, "open_tree", source)?;
    if attr.0 != 0 {
        // struct mount_attr { attr_set, attr_clr, propagation, userns_fd }
        let ma: [u64; 4] = [attr.0, 0, 0, 0];
        let fl = AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
        // SAFETY: mount_setattr(2) reads `size` (32) bytes of `ma`, a live local array.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                c"".as_ptr(),
                fl,
                ma.as_ptr(),
                32usize,
            )
        };
        Errno::result(r).map_err(sys("mount_setattr", source))?;
    }
    move_onto(m, &tree)
}

/// One line of `/proc/thread-self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u32,
    pub parent: u32,
    pub dev: u64,
    pub mount_point: PathBuf,
    pub fstype: String,
}

fn unescape(field: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&b) = field.get(i) {
        let oct = field
            .get(i + 1..i + 4)
            .filter(|o| b == b'\\' && o.iter().all(|d| (b'0'..=b'7').contains(d)));
        match oct.map(|o| o.iter().fold(0u32, |a, d| a * 8 + u32::from(d - b'0'))) {
            Some(v) => {
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

/// Parses mountinfo text (pure); malformed lines are skipped.
pub fn parse_mountinfo(text: &[u8]) -> Vec<MountEntry> {
    let parse_line = |line: &[u8]| -> Option<MountEntry> {
        let mut f = line.split(|b| *b == b' ');
        let num = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<u32>().ok();
        let (id, parent) = (num(f.next()?)?, num(f.next()?)?);
        let (maj, min) = std::str::from_utf8(f.next()?).ok()?.split_once(':')?;
        let dev = libc::makedev(maj.parse().ok()?, min.parse().ok()?);
        let mount_point = unescape(f.nth(1)?);
        let fstype =
            String::from_utf8_lossy(f.find(|x| *x == b"-").and_then(|_| f.next())?).into_owned();
        Some(MountEntry {
            id,
            parent,
            dev,
            mount_point,
            fstype,
        })
    };
    text.split(|b| *b == b'\n').filter_map(parse_line).collect()
}

/// Mounts whose mount point is `path` (of the calling thread's mount namespace), bottom first.
pub fn mounts_at(path: &Path) -> Result<Vec<MountEntry>, AutofsError> {
    let mi = Path::new("/proc/thread-self/mountinfo");
    let text = std::fs::read(mi).map_err(io_sys("read", mi))?;
    Ok(parse_mountinfo(&text)
        .into_iter()
        .filter(|e| e.mount_point == path)
        .collect())
}

/// The topmost of the mounts stacked on one mount point: the one that no other sits on.
pub fn topmost(stack: &[MountEntry]) -> Option<&MountEntry> {
    stack
        .iter()
        .find(|e| !stack.iter().any(|o| o.parent == e.id))
}

/// Unmounts whatever is mounted on top of the autofs point (by path: only from the mount's
/// process group while an expire or request is pending), leaving the autofs armed.
pub fn umount_on_top(m: &AutofsMount) -> Result<(), AutofsError> {
    for _ in 0..16 {
        let here = mounts_at(&m.path)?;
        match topmost(&here) {
            None => return Err(AutofsError::NotAutofs(m.path.clone())),
            Some(top) if top.fstype == "autofs" && top.dev == m.dev => return Ok(()),
            Some(_) => {
                umount2(&m.path, MntFlags::UMOUNT_NOFOLLOW).map_err(sys("umount", &m.path))?
            }
        }
    }
    Err(sys("umount", &m.path)(Errno::EBUSY))
}

/// Lazily unmounts every autofs mounted at `path` and anything stacked on them (a mount below
/// the lowest autofs stays). Path based: from outside the owning process group, first make the
/// mount catatonic ([`AutofsMount::umount`] does) or this may block on a pending request.
pub fn umount_autofs(path: &Path) -> Result<(), AutofsError> {
    for _ in 0..64 {
        if !mounts_at(path)?.iter().any(|e| e.fstype == "autofs") {
            return Ok(());
        }
        umount2(path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
            .map_err(sys("umount", path))?;
    }
    Err(sys("umount", path)(Errno::EBUSY))
}

impl AutofsMount {
    /// Makes the mount catatonic (pending and future requesters get `ENOENT`), closes our fds
    /// and unmounts it with everything on top.
    pub fn umount(self) -> Result<(), AutofsError> {
        let _ = ioctl_val(self.ioctl_fd.as_fd(), IOC_CATATONIC, 0);
        let path = self.path;
        drop((self.pipe_r, self.ioctl_fd));
        umount_autofs(&path)
    }
}

/// How requests are answered; the kernel impl is [`AutofsMount`], tests use a fake.
pub trait AutofsOps {
    fn ready(&self, token: u32) -> Result<(), AutofsError>;
    fn fail(&self, token: u32) -> Result<(), AutofsError>;
}

impl AutofsOps for AutofsMount {
    fn ready(&self, token: u32) -> Result<(), AutofsError> {
        ready(self, token)
    }
    fn fail(&self, token: u32) -> Result<(), AutofsError> {
        fail(self, token)
    }
}

/// Answers every token (READY if `ok`, else FAIL), whatever fails; returns the failures.
pub fn answer<O: AutofsOps + ?Sized>(ops: &O, tokens: &[u32], ok: bool) -> Vec<(u32, AutofsError)> {
    let call = |t: u32| if ok { ops.ready(t) } else { ops.fail(t) };
    tokens
        .iter()
        .filter_map(|&t| call(t).err().map(|e| (t, e)))
        .collect()
}

/// What the mounter should do after a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// First waiter: start mounting the real fs.
    StartMount,
    /// A mount is already under way; this waiter is answered with the others.
    Wait,
    /// Unmount what is on top, then [`Pending::on_unmounted`] (or `on_unmount_failed`).
    StartUnmount,
}

/// Outstanding tokens of one automount, each with a deadline so every request is answered.
#[derive(Debug, Clone)]
pub struct Pending {
    mounts: BTreeMap<u32, Instant>,
    expires: BTreeMap<u32, Instant>,
    timeout: Duration,
}

impl Pending {
    /// `timeout`: how long a requester may wait before it is failed.
    pub fn new(timeout: Duration) -> Self {
        Pending {
            mounts: BTreeMap::new(),
            expires: BTreeMap::new(),
            timeout,
        }
    }

    pub fn on_packet(&mut self, p: &Packet, now: Instant) -> Action {
        let deadline = now.checked_add(self.timeout).unwrap_or(now);
        match p {
            Packet::Missing { token, .. } => {
                let first = self.mounts.is_empty();
                self.mounts.entry(*token).or_insert(deadline);
                if first {
                    Action::StartMount
                } else {
                    Action::Wait
                }
            }
            Packet::Expire { token, .. } => {
                self.expires.entry(*token).or_insert(deadline);
                Action::StartUnmount
            }
        }
    }

    /// The mount is up: tokens to READY.
    pub fn on_mounted(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.mounts).into_keys().collect()
    }

    /// The mount failed: tokens to FAIL.
    pub fn on_mount_failed(&mut self) -> Vec<u32> {
        self.on_mounted()
    }

    /// The expired mount is gone: tokens to READY.
    pub fn on_unmounted(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.expires).into_keys().collect()
    }

    /// The unmount failed (busy): tokens to FAIL, which cancels the expire.
    pub fn on_unmount_failed(&mut self) -> Vec<u32> {
        self.on_unmounted()
    }

    /// Tokens whose deadline passed (mount and expire alike): to FAIL.
    pub fn expired(&mut self, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        for map in [&mut self.mounts, &mut self.expires] {
            map.retain(|t, d| {
                *d > now || {
                    out.push(*t);
                    false
                }
            });
        }
        out
    }

    /// When [`Pending::expired`] next has something to say.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.mounts
            .values()
            .chain(self.expires.values())
            .min()
            .copied()
    }

    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty() && self.expires.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn raw(proto: i32, ptype: i32, token: u32, name: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; PACKET_SIZE];
        let mut put = |off: usize, v: [u8; 4]| b[off..off + 4].copy_from_slice(&v);
        put(0, proto.to_ne_bytes());
        put(4, ptype.to_ne_bytes());
        put(8, token.to_ne_bytes());
        put(24, 1000u32.to_ne_bytes());
        put(28, 100u32.to_ne_bytes());
        put(32, 4242u32.to_ne_bytes());
        put(36, 4241u32.to_ne_bytes());
        put(40, (name.len() as u32).to_ne_bytes());
        b[NAME_OFF..NAME_OFF + name.len()].copy_from_slice(name);
        b
    }

    #[test]
    fn packet_size_is_pinned() {
        assert_eq!(std::mem::offset_of!(V5Packet, ino), 16);
        assert_eq!(std::mem::offset_of!(V5Packet, name), NAME_OFF);
        assert_eq!(NAME_OFF + NAME_MAX + 1, PACKET_MIN);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(PACKET_SIZE, 304);
        assert_eq!(std::mem::size_of::<DevIoctl>() - 4096, DEV_IOCTL_SIZE);
        assert_eq!(IOC_READY, 0x9360);
        assert_eq!(IOC_EXPIRE_MULTI, 0x4004_9366);
        assert_eq!(DEV_OPENMOUNT, 0xc018_9374);
        assert_eq!(IOC_SETTIMEOUT, 0xc008_9364);
    }

    #[test]
    fn parses_missing_and_expire() {
        let p = parse_packet(&raw(5, 5, 7, b"000000001234abcd")).unwrap();
        let want = Packet::Missing {
            token: 7,
            pid: 4242,
            tgid: 4241,
            uid: 1000,
            gid: 100,
            name: "000000001234abcd".into(),
        };
        assert_eq!(p, want);
        assert_eq!(
            parse_packet(&raw(5, 6, 9, b"x")).unwrap(),
            Packet::Expire {
                token: 9,
                name: "x".into()
            }
        );
        // The 300 bytes a 32-bit layout would carry are enough.
        assert_eq!(
            parse_packet(&raw(5, 6, 9, b"x")[..PACKET_MIN])
                .unwrap()
                .token(),
            9
        );
    }

    #[test]
    fn rejects_short_and_unknown() {
        let b = raw(5, 5, 1, b"a");
        assert!(matches!(
            parse_packet(&b[..PACKET_MIN - 1]),
            Err(AutofsError::ShortPacket(299))
        ));
        assert!(matches!(
            parse_packet(&[]),
            Err(AutofsError::ShortPacket(0))
        ));
        assert!(matches!(
            parse_packet(&raw(4, 5, 3, b"a")),
            Err(AutofsError::BadPacket { token: 3, .. })
        ));
        assert!(matches!(
            parse_packet(&raw(5, 0, 3, b"a")),
            Err(AutofsError::BadPacket { ptype: 0, .. })
        ));
        let mut long = raw(5, 5, 1, b"");
        long[40..44].copy_from_slice(&u32::MAX.to_ne_bytes()); // bogus len is clamped
        assert!(matches!(parse_packet(&long), Ok(Packet::Missing { .. })));
    }

    #[test]
    fn mountinfo_parsing() {
        let text = b"22 1 0:21 / / rw shared:1 - ext4 /dev/sda rw\n\
            30 22 0:45 / /mnt/a\\040b rw,relatime shared:5 - autofs cairn rw,fd=5\n\
            31 30 0:46 / /mnt/a\\040b rw master:3 - tmpfs tmpfs rw\ngarbage\n";
        let v = parse_mountinfo(text);
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].mount_point, Path::new("/mnt/a b"));
        assert_eq!(
            (v[1].fstype.as_str(), v[1].dev),
            ("autofs", libc::makedev(0, 45))
        );
        let stack: Vec<_> = v
            .into_iter()
            .filter(|e| e.mount_point == Path::new("/mnt/a b"))
            .collect();
        assert_eq!(topmost(&stack).map(|e| e.id), Some(31));
        assert_eq!(topmost(&stack[..1]).map(|e| e.id), Some(30));
        assert_eq!(unescape(b"a\\011b\\134\\9"), Path::new("a\tb\\\\9"));
    }

    #[test]
    fn dev_encoding_matches_new_encode_dev() {
        assert_eq!(encode_dev(libc::makedev(0, 45)), 45);
        assert_eq!(encode_dev(libc::makedev(8, 1)), 0x801);
        assert_eq!(encode_dev(libc::makedev(0, 0x1234)), 0x0120_0034);
    }

    #[derive(Default)]
    struct Fake {
        calls: RefCell<Vec<(bool, u32)>>,
    }

    impl AutofsOps for Fake {
        fn ready(&self, token: u32) -> Result<(), AutofsError> {
            self.calls.borrow_mut().push((true, token));
            Ok(())
        }
        fn fail(&self, token: u32) -> Result<(), AutofsError> {
            self.calls.borrow_mut().push((false, token));
            if token == 13 {
                return Err(AutofsError::Sys {
                    op: "fail",
                    path: "/x".into(),
                    errno: Errno::EINVAL,
                    detail: String::new(),
                });
            }
            Ok(())
        }
    }

    fn missing(token: u32) -> Packet {
        Packet::Missing {
            token,
            pid: 1,
            tgid: 1,
            uid: 0,
            gid: 0,
            name: String::new(),
        }
    }

    #[test]
    fn pending_mount_then_ready_all() {
        let (t0, fake) = (Instant::now(), Fake::default());
        let mut p = Pending::new(Duration::from_secs(5));
        assert_eq!(p.on_packet(&missing(1), t0), Action::StartMount);
        assert_eq!(p.on_packet(&missing(2), t0), Action::Wait);
        assert_eq!(p.on_packet(&missing(2), t0), Action::Wait);
        let tokens = p.on_mounted();
        assert!(answer(&fake, &tokens, true).is_empty());
        assert_eq!(*fake.calls.borrow(), vec![(true, 1), (true, 2)]);
        assert!(p.is_empty());
        assert_eq!(p.on_packet(&missing(3), t0), Action::StartMount);
        assert!(answer(&fake, &p.on_mount_failed(), false).is_empty());
        assert_eq!(fake.calls.borrow().last(), Some(&(false, 3)));
    }

    #[test]
    fn pending_deadlines_fail_everyone() {
        let (t0, fake) = (Instant::now(), Fake::default());
        let mut p = Pending::new(Duration::from_secs(5));
        p.on_packet(&missing(13), t0);
        p.on_packet(&missing(14), t0 + Duration::from_secs(2));
        assert_eq!(
            p.on_packet(
                &Packet::Expire {
                    token: 20,
                    name: String::new()
                },
                t0
            ),
            Action::StartUnmount
        );
        assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(5)));
        assert!(p.expired(t0 + Duration::from_secs(4)).is_empty());
        let due = p.expired(t0 + Duration::from_secs(5));
        assert_eq!(due, vec![13, 20]);
        let errs = answer(&fake, &due, false);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, 13);
        assert_eq!(errs[0].1.errno(), Some(Errno::EINVAL));
        assert_eq!(*fake.calls.borrow(), vec![(false, 13), (false, 20)]); // kept going
        assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(7)));
        assert_eq!(p.on_unmounted(), Vec::<u32>::new());
        assert_eq!(p.expired(t0 + Duration::from_secs(60)), vec![14]);
        assert!(p.is_empty() && p.next_deadline().is_none());
    }

    #[test]
    fn expire_tokens_are_separate() {
        let mut p = Pending::new(Duration::from_secs(5));
        let now = Instant::now();
        p.on_packet(
            &Packet::Expire {
                token: 4,
                name: String::new(),
            },
            now,
        );
        assert_eq!(p.on_packet(&missing(5), now), Action::StartMount);
        assert_eq!(p.on_unmount_failed(), vec![4]);
        assert_eq!(p.on_mounted(), vec![5]);
    }

    #[test]
    fn rejects_relative_paths_and_nul() {
        assert!(matches!(
            mount_direct(Path::new("rel"), None, 0o755),
            Err(AutofsError::Invalid(_))
        ));
        assert!(matches!(cstr("a\0b"), Err(AutofsError::Invalid(_))));
        assert_eq!(MountAttr::RDONLY | MountAttr::NOSUID, MountAttr(3));
    }
}

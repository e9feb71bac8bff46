//! Direct autofs mounts (kernel protocol v5) for automount units.
//!
//! Flow (as systemd's `automount.c`): [`mount_direct`] mounts autofs at `where` with a pipe
//! (`fd=W,pgrp=P,minproto=5,maxproto=5,direct`). A process touching anything below `where`
//! makes the kernel write one v5 packet to the pipe and sleep (killable) until the daemon
//! answers [`ready`] (after mounting the real fs on top: [`mount_on_top`], [`bind_onto`]) or
//! [`fail`] (the process gets `ENOENT`). [`Pending`] is the pure bookkeeping for that.
//!
//! Kernel behaviour seen on a 6.18 kernel (`tests/host.rs`; the PID-namespace points and the
//! bare-autofs expiry by one-off experiments):
//! - Each request is one `read(2)` of `sizeof(struct autofs_v5_packet)` = [`PACKET_SIZE`]
//!   (304 on x86_64: 300 bytes of fields, 4 of tail padding for the `u64 ino`).
//! - Processes of the mount's `pgrp` are never blocked ("oz mode"; they see the bare autofs
//!   directory). Any other process blocks, a restarted daemon in a new process group too:
//!   while a request is pending, any path walk through `where` (stat, mount(2) or umount2 by
//!   path, even `/dev/autofs` OPENMOUNT: kernel stack `kern_path` → `autofs_d_manage` →
//!   `autofs_mount_wait`) sleeps until it is answered, then fails with `ENOENT` after FAIL.
//!   So mounts go through fds: [`mount_on_top`] and [`bind_onto`] `move_mount` onto
//!   `ioctl_fd` (no walk); the kernel stacks the new mount on the topmost mount there.
//!   [`take_over`] makes a new process group the owner.
//! - All processes waiting on one direct mount share one kernel wait: 20 blocked processes
//!   gave one `Missing` packet, and one READY released them all.
//! - Nothing expires by itself. `AUTOFS_IOC_EXPIRE_MULTI` sends an `Expire` packet when the
//!   mount on top is idle for the timeout (`AUTOFS_IOC_SETTIMEOUT`) and not busy, then blocks
//!   until that packet is answered: run it on another thread ([`spawn_expire`]), like
//!   systemd's expire thread. A second fd (a second open file, not a dup) on the autofs mount
//!   or any open fd in the mount on top counts as busy.
//! - `pgrp=` must be visible in the caller's PID namespace: in a new PID namespace
//!   `getpgrp()` is 0 until `setsid()` and mount(2) fails with `EINVAL`, so [`mount_direct`]
//!   returns [`AutofsError::NoProcessGroup`]. A process whose PID the daemon's namespace
//!   cannot see (e.g. from the parent namespace) gets `ENOENT` and no packet is sent.
//! - Closing the last pipe read end makes the next request fail: the mount goes catatonic and
//!   every access gets `ENOENT`. Keep `pipe_r` (and `ioctl_fd`) in an fd store.
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::{ffi::OsStrExt, fs::DirBuilderExt};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::ioctl::ioctl_num_type as Req;

/// Bytes the v5 packet fields span (`name` ends at 44 + NAME_MAX + 1).
pub const PACKET_MIN: usize = 300;
/// `sizeof(struct autofs_v5_packet)`, what the kernel writes per request.
pub const PACKET_SIZE: usize = PACKET_MIN.next_multiple_of(std::mem::align_of::<u64>());
const NAME_OFF: usize = 44;
const NAME_MAX: usize = 255;
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

// linux/mount.h (libc lacks some of these for some targets).
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

/// `struct autofs_dev_ioctl` with room for OPENMOUNT's path.
#[repr(C)]
struct DevIoctl {
    /// ver_major, ver_minor, size, ioctlfd, then the 8-byte union (only its first u32 used)
    head: [u32; 6],
    path: [u8; 4096],
}

/// Errors of this module; [`AutofsError::errno`] gives the kernel's answer where there is one.
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
    #[error("getpgrp() is 0 (new PID namespace?): call setsid() before mounting autofs")]
    NoProcessGroup,
    #[error("{} is not an autofs mount point", .0.display())]
    NotAutofs(PathBuf),
    #[error("autofs pipe closed: the mount is gone or catatonic")]
    PipeClosed,
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl AutofsError {
    /// The errno of a failed system call, if that is what this is.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            AutofsError::Sys { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

fn sys_err(op: &'static str, path: &Path, errno: Errno, detail: String) -> AutofsError {
    let path = path.to_path_buf();
    AutofsError::Sys {
        op,
        path,
        errno,
        detail,
    }
}

fn sys<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> AutofsError + 'a {
    move |errno| sys_err(op, path, errno, String::new())
}

fn io_sys<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> AutofsError + 'a {
    move |e| sys(op, path)(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// A direct autofs mount point we own.
#[derive(Debug)]
pub struct AutofsMount {
    /// Absolute mount point, as in mountinfo.
    pub path: PathBuf,
    /// Read end of the request pipe (`O_NONBLOCK|O_CLOEXEC`).
    pub pipe_r: OwnedFd,
    /// Fd on the autofs root from `/dev/autofs` OPENMOUNT: target of the `AUTOFS_IOC_*`
    /// ioctls and of `move_mount`. Store it across restarts (see [`reattach`]).
    pub ioctl_fd: OwnedFd,
    /// `st_dev` of the autofs superblock.
    pub dev: u64,
}

/// A request read from the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A process (ids in the daemon's PID namespace) wants the mount: READY or FAIL.
    Missing {
        token: u32,
        pid: i32,
        tgid: i32,
        uid: u32,
        gid: u32,
        name: String,
    },
    /// The mount on top was chosen for expiry: unmount it, then READY (or FAIL to keep it).
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
    b.get(off..off + 4)?.try_into().ok()
}

/// Decodes one v5 packet as read from the pipe (pure). For a direct mount `name` is the
/// kernel's hashed dentry pointer, not a path. Indirect-mount types (3, 4) are accepted too.
pub fn parse_packet(bytes: &[u8]) -> Result<Packet, AutofsError> {
    let short = || AutofsError::ShortPacket(bytes.len());
    let i32_at = |off| word(bytes, off).map(i32::from_ne_bytes).ok_or_else(short);
    let u32_at = |off| word(bytes, off).map(u32::from_ne_bytes).ok_or_else(short);
    if bytes.len() < PACKET_MIN {
        return Err(short());
    }
    let (proto, ptype, token) = (i32_at(0)?, i32_at(4)?, u32_at(8)?);
    let len = usize::try_from(u32_at(40)?).map_or(NAME_MAX, |l| l.min(NAME_MAX));
    let raw = bytes.get(NAME_OFF..NAME_OFF + len).ok_or_else(short)?;
    let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
    let name = String::from_utf8_lossy(raw).into_owned();
    let (uid, gid, pid, tgid) = (u32_at(24)?, u32_at(28)?, i32_at(32)?, i32_at(36)?);
    match (proto, ptype) {
        (5, 3 | 5) => Ok(Packet::Missing {
            token,
            pid,
            tgid,
            uid,
            gid,
            name,
        }),
        (5, 4 | 6) => Ok(Packet::Expire { token, name }),
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
    // the request encodes, so the kernel reads and writes only inside it.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), req, arg as *mut T) })
}

/// One `/dev/autofs` ioctl about `ioctlfd`, or about `path` (OPENMOUNT); returns `ioctlfd`.
fn dev_ioctl(req: Req, ioctlfd: RawFd, arg: u32, path: Option<&Path>) -> Result<i32, AutofsError> {
    let b = path.map_or(&[][..], |p| p.as_os_str().as_bytes());
    let (mut buf, fits) = ([0u8; 4096], b.len() < 4096 && !b.contains(&0));
    let bad = || AutofsError::Invalid(format!("bad path {path:?}"));
    buf.get_mut(..b.len())
        .filter(|_| fits)
        .ok_or_else(bad)?
        .copy_from_slice(b);
    let size = u32::try_from(DEV_IOCTL_SIZE + path.map_or(0, |_| b.len() + 1));
    let head = [1, 0, size.unwrap_or(u32::MAX), ioctlfd as u32, arg, 0];
    let mut p = DevIoctl { head, path: buf };
    let dev_path = Path::new("/dev/autofs");
    let dev = std::fs::File::open(dev_path).map_err(io_sys("open", dev_path))?;
    // SAFETY: `p` is a valid `struct autofs_dev_ioctl` whose `size` covers only initialized
    // bytes of `p` (header and NUL-terminated path); the kernel writes back into the header.
    let r = unsafe { libc::ioctl(dev.as_raw_fd(), req, &mut p as *mut DevIoctl) };
    Errno::result(r).map_err(sys("/dev/autofs ioctl", path.unwrap_or(dev_path)))?;
    let [_, _, _, fd, _, _] = p.head;
    Ok(fd as i32)
}

/// `new_encode_dev()`: the device number format of OPENMOUNT's devid.
fn encode_dev(dev: u64) -> u32 {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// `/dev/autofs` OPENMOUNT: an fd on the autofs with device `dev` mounted at `path`.
fn open_mount(path: &Path, dev: u64) -> Result<OwnedFd, AutofsError> {
    let fd = dev_ioctl(DEV_OPENMOUNT, -1, encode_dev(dev), Some(path))?;
    if fd < 0 {
        return Err(sys("OPENMOUNT", path)(Errno::EBADF));
    }
    // SAFETY: on success the kernel installed `fd` (O_CLOEXEC) for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_nonblock(fd: &OwnedFd, path: &Path) -> Result<(), AutofsError> {
    let fl = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).map_err(sys("fcntl", path))?);
    fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK)).map_err(sys("fcntl", path))?;
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(sys("fcntl", path))?;
    Ok(())
}

/// Creates `path` (`mkdir -p`; new directories get `directory_mode`), mounts a direct autofs
/// there owned by the caller's process group, checks protocol >= 5 and sets the expire
/// timeout. That process group must stay out of the mount: it sees the bare autofs directory.
pub fn mount_direct(
    path: &Path,
    timeout_idle: Option<Duration>,
    directory_mode: u32,
) -> Result<AutofsMount, AutofsError> {
    if !path.is_absolute() {
        return Err(AutofsError::Invalid(format!("{path:?} is not absolute")));
    }
    let mut mkdir = std::fs::DirBuilder::new();
    mkdir.recursive(true).mode(directory_mode);
    mkdir.create(path).map_err(io_sys("mkdir", path))?;
    let path = std::fs::canonicalize(path).map_err(io_sys("canonicalize", path))?;
    let pgrp = nix::unistd::getpgrp().as_raw();
    if pgrp <= 0 {
        return Err(AutofsError::NoProcessGroup);
    }
    let (pipe_r, pipe_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2", &path))?;
    let fd = pipe_w.as_raw_fd();
    let data = format!("fd={fd},pgrp={pgrp},minproto=5,maxproto=5,direct");
    let (src, ty, flags) = (Some("cairn"), Some("autofs"), MsFlags::empty());
    mount(src, &path, ty, flags, Some(data.as_str())).map_err(sys("mount autofs", &path))?;
    drop(pipe_w); // the kernel holds its own reference
    let attach = |pipe_r: OwnedFd| {
        set_nonblock(&pipe_r, &path)?;
        let st = nix::sys::stat::stat(&path).map_err(sys("stat", &path))?;
        let fd = open_mount(&path, st.st_dev)?;
        let m = AutofsMount::checked(path.clone(), pipe_r, fd, st.st_dev)?;
        set_timeout(&m, timeout_idle).map(|()| m)
    };
    attach(pipe_r).inspect_err(|_| {
        let _ = umount2(&path, MntFlags::MNT_DETACH);
    })
}

impl AutofsMount {
    fn checked(
        path: PathBuf,
        pipe_r: OwnedFd,
        ioctl_fd: OwnedFd,
        dev: u64,
    ) -> Result<Self, AutofsError> {
        let mut v: libc::c_int = 0;
        let r = ioctl_mut(ioctl_fd.as_fd(), IOC_PROTOVER, &mut v);
        r.map_err(sys("AUTOFS_IOC_PROTOVER", &path))?;
        if v < 5 {
            return Err(AutofsError::Protocol(v));
        }
        Ok(AutofsMount {
            path,
            pipe_r,
            ioctl_fd,
            dev,
        })
    }

    /// Makes the mount catatonic (pending and later requesters get `ENOENT`; path walks no
    /// longer block), closes our fds and unmounts it with everything on top.
    pub fn umount(self) -> Result<(), AutofsError> {
        let _ = ioctl_val(self.ioctl_fd.as_fd(), IOC_CATATONIC, 0);
        let path = self.path;
        drop((self.pipe_r, self.ioctl_fd));
        umount_autofs(&path)
    }
}

/// The point's idle timeout as the kernel keeps it: `AUTOFS_IOC_SETTIMEOUT` answers with the
/// previous value, so it is set to that value again at once. What a re-attached point (a new
/// mounter) learns its expiry from.
pub fn get_timeout(m: &AutofsMount) -> Result<Option<Duration>, AutofsError> {
    let mut secs: libc::c_ulong = 0;
    ioctl_mut(m.ioctl_fd.as_fd(), IOC_SETTIMEOUT, &mut secs)
        .map_err(sys("AUTOFS_IOC_SETTIMEOUT", &m.path))?;
    let old = secs;
    ioctl_mut(m.ioctl_fd.as_fd(), IOC_SETTIMEOUT, &mut secs)
        .map_err(sys("AUTOFS_IOC_SETTIMEOUT", &m.path))?;
    Ok((old > 0).then(|| Duration::from_secs(old)))
}

/// `AUTOFS_IOC_SETTIMEOUT` in whole seconds, rounded up; `None` (0) = never expire.
pub fn set_timeout(m: &AutofsMount, timeout: Option<Duration>) -> Result<(), AutofsError> {
    let t = timeout.map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    let mut secs = libc::c_ulong::try_from(t).unwrap_or(libc::c_ulong::MAX);
    let r = ioctl_mut(m.ioctl_fd.as_fd(), IOC_SETTIMEOUT, &mut secs);
    r.map(drop).map_err(sys("AUTOFS_IOC_SETTIMEOUT", &m.path))
}

/// Re-attaches after a daemon restart from the stored pipe read end and either the stored
/// ioctl fd (checked to be the autofs mounted at `path`) or, with `None`, a new one from
/// `/dev/autofs` OPENMOUNT (devid from mountinfo; the old fd must be closed, else expiry sees
/// the mount busy). Prefer storing the fd: OPENMOUNT walks `path`, which from outside the
/// mount's process group blocks while a request is pending. `path` is never stat()ed. The
/// owner process group stays the old one: see [`take_over`].
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
    let st = nix::sys::stat::fstat(&pipe_r).map_err(sys("fstat", &path))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(AutofsError::Invalid("pipe_r is not a pipe".into()));
    }
    set_nonblock(&pipe_r, &path)?;
    AutofsMount::checked(path, pipe_r, ioctl_fd, dev)
}

/// Makes the caller's process group the owner (oz mode), as `automount(8)` does on restart:
/// `AUTOFS_IOC_CATATONIC` (pending requests get `ENOENT`, as does any access until the next
/// step), then `/dev/autofs` SETPIPEFD with a new pipe. Needs no path walk.
pub fn take_over(m: AutofsMount) -> Result<AutofsMount, AutofsError> {
    let r = ioctl_val(m.ioctl_fd.as_fd(), IOC_CATATONIC, 0);
    r.map_err(sys("AUTOFS_IOC_CATATONIC", &m.path))?;
    let (pipe_r, pipe_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2", &m.path))?;
    set_nonblock(&pipe_r, &m.path)?;
    let fd = u32::try_from(pipe_w.as_raw_fd()).unwrap_or(u32::MAX);
    dev_ioctl(DEV_SETPIPEFD, m.ioctl_fd.as_raw_fd(), fd, None)?;
    Ok(AutofsMount { pipe_r, ..m })
}

/// Reads one packet; `Ok(None)` when none is waiting.
pub fn read_packet(m: &AutofsMount) -> Result<Option<Packet>, AutofsError> {
    let mut buf = [0u8; 512]; // > PACKET_SIZE: the packet-mode pipe never splits a packet
    loop {
        return match nix::unistd::read(&m.pipe_r, &mut buf) {
            Ok(0) => Err(AutofsError::PipeClosed),
            Ok(n) => parse_packet(buf.get(..n).unwrap_or_default()).map(Some),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => Ok(None),
            Err(e) => Err(sys("read", &m.path)(e)),
        };
    }
}

/// Reads every packet available now. A packet that does not decode but carries a token is
/// answered FAIL at once (its requester would wait forever); a read error is returned only if
/// nothing was read before it (it recurs on the next call).
pub fn read_packets(m: &AutofsMount) -> Result<Vec<Packet>, AutofsError> {
    let mut out = Vec::new();
    for _ in 0..4096 {
        match read_packet(m) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => break,
            Err(AutofsError::BadPacket { token, .. }) => drop(fail(m, token)),
            Err(AutofsError::ShortPacket(_)) => {}
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// `AUTOFS_IOC_READY`: the mount (or the expire) for `token` is done.
pub fn ready(m: &AutofsMount, token: u32) -> Result<(), AutofsError> {
    let r = ioctl_val(m.ioctl_fd.as_fd(), IOC_READY, token.into());
    r.map(drop).map_err(sys("AUTOFS_IOC_READY", &m.path))
}

/// `AUTOFS_IOC_FAIL`: the requester gets `ENOENT` (an expire is cancelled).
pub fn fail(m: &AutofsMount, token: u32) -> Result<(), AutofsError> {
    let r = ioctl_val(m.ioctl_fd.as_fd(), IOC_FAIL, token.into());
    r.map(drop).map_err(sys("AUTOFS_IOC_FAIL", &m.path))
}

fn expire_fd(fd: BorrowedFd<'_>, path: &Path, immediate: bool) -> Result<bool, AutofsError> {
    let mut how = if immediate { AUTOFS_EXP_IMMEDIATE } else { 0 };
    match ioctl_mut(fd, IOC_EXPIRE_MULTI, &mut how) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN) => Ok(false),
        Err(e) => Err(sys("AUTOFS_IOC_EXPIRE_MULTI", path)(e)),
    }
}

/// `AUTOFS_IOC_EXPIRE_MULTI`: when the mount on top is idle for the timeout (or `immediate`)
/// and not busy, the kernel sends an `Expire` packet and this call BLOCKS until it is
/// answered: `Ok(true)` after READY, an `ENOENT` error after FAIL; `Ok(false)` (`EAGAIN`)
/// when nothing is eligible. Never call it on the thread that answers packets.
pub fn expire(m: &AutofsMount, immediate: bool) -> Result<bool, AutofsError> {
    expire_fd(m.ioctl_fd.as_fd(), &m.path, immediate)
}

/// Runs one [`expire`] on a new thread (with a dup of `ioctl_fd`) while the caller reads and
/// answers the packet. One call suffices for a direct mount; do not loop with `immediate`:
/// the kernel then offers even a bare autofs (nothing on top) for expiry, again and again.
pub fn spawn_expire(
    m: &AutofsMount,
    immediate: bool,
) -> Result<JoinHandle<Result<bool, AutofsError>>, AutofsError> {
    let fd = m.ioctl_fd.try_clone().map_err(io_sys("dup", &m.path))?;
    let path = m.path.clone();
    let thread = std::thread::Builder::new().name("autofs-expire".into());
    let body = move || expire_fd(fd.as_fd(), &path, immediate);
    thread.spawn(body).map_err(io_sys("spawn", &m.path))
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
    let (mut out, mut buf) = (String::new(), [0u8; 512]);
    while let (Ok(n @ 1..), true) = (nix::unistd::read(fs, &mut buf), out.len() < 2048) {
        out += &format!(
            " [{}]",
            String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
        );
    }
    out
}

type Key<'a> = Option<&'a CStr>;

fn fsconfig(fs: &OwnedFd, cmd: libc::c_uint, key: Key<'_>, val: Key<'_>) -> Result<(), Errno> {
    let ptr = |c: Key<'_>| c.map_or(std::ptr::null(), CStr::as_ptr);
    let (fd, k, v) = (fs.as_raw_fd(), ptr(key), ptr(val));
    // SAFETY: fsconfig(2) with NUL-terminated key/value (or NULL where `cmd` takes none).
    Errno::result(unsafe { libc::syscall(libc::SYS_fsconfig, fd, cmd, k, v, 0) }).map(drop)
}

/// Moves the detached mount `mnt` onto the topmost mount at `m`'s mount point through
/// `ioctl_fd`: no path walk, so it works from outside the mount's process group too.
fn move_onto(m: &AutofsMount, mnt: &OwnedFd) -> Result<(), AutofsError> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    let (from, to, e) = (mnt.as_raw_fd(), m.ioctl_fd.as_raw_fd(), c"".as_ptr());
    // SAFETY: move_mount(2) with two valid fds and empty NUL-terminated paths.
    let r = unsafe { libc::syscall(libc::SYS_move_mount, from, e, to, e, flags) };
    Errno::result(r)
        .map(drop)
        .map_err(sys("move_mount", &m.path))
}

/// Mounts a new `fstype` on top of the autofs point: fsopen/fsconfig/fsmount (`attr`:
/// `libc::MOUNT_ATTR_*` bits), then `move_mount` onto `ioctl_fd`. `options` is comma-separated
/// fs data ("size=1m,mode=755"; a bare word is a flag; values cannot contain commas). Errors
/// carry the kernel's messages.
pub fn mount_on_top(
    m: &AutofsMount,
    fstype: &str,
    source: &str,
    options: &str,
    attr: u64,
) -> Result<(), AutofsError> {
    let ty = cstr(fstype)?;
    // SAFETY: fsopen(2) with a NUL-terminated fs type name.
    let r = unsafe { libc::syscall(libc::SYS_fsopen, ty.as_ptr(), FSOPEN_CLOEXEC) };
    let fs = fd_result(r, "fsopen", &m.path)?;
    let fs_ref = &fs;
    let fail_log = |op| move |errno| sys_err(op, &m.path, errno, fs_log(fs_ref));
    fn split(o: &str) -> (&str, Option<&str>) {
        o.split_once('=').map_or((o, None), |(k, v)| (k, Some(v)))
    }
    let opts = options.split(',').filter(|o| !o.is_empty()).map(split);
    for (k, v) in std::iter::once(("source", Some(source))).chain(opts) {
        let (k, v) = (cstr(k)?, v.map(cstr).transpose()?);
        let cmd = v
            .as_ref()
            .map_or(FSCONFIG_SET_FLAG, |_| FSCONFIG_SET_STRING);
        fsconfig(&fs, cmd, Some(&k), v.as_deref()).map_err(fail_log("fsconfig"))?;
    }
    fsconfig(&fs, FSCONFIG_CMD_CREATE, None, None).map_err(fail_log("fsconfig create"))?;
    // SAFETY: fsmount(2) on a configured fs context fd; flags and attributes are plain ints.
    let r = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attr) };
    let mnt = fd_result(r, "fsmount", &m.path)?;
    move_onto(m, &mnt) // `mnt` is closed on return: kept open, it would make the mount busy
}

/// Bind-mounts `source` (recursively if `recursive`) on top of the autofs point:
/// `open_tree(OPEN_TREE_CLONE)`, `mount_setattr` for `attr` (`libc::MOUNT_ATTR_*` bits),
/// `move_mount` onto `ioctl_fd`.
pub fn bind_onto(
    m: &AutofsMount,
    source: &Path,
    recursive: bool,
    attr: u64,
) -> Result<(), AutofsError> {
    let src = cstr(source)?;
    let rec = if recursive { AT_RECURSIVE } else { 0 };
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | rec;
    // SAFETY: open_tree(2) with a NUL-terminated path and plain flags.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, src.as_ptr(), flags) };
    let tree = fd_result(r, "open_tree", source)?;
    if attr != 0 {
        let ma: [u64; 4] = [attr, 0, 0, 0]; // struct mount_attr: set, clr, propagation, userns
        let (fd, e, fl) = (tree.as_raw_fd(), c"".as_ptr(), AT_EMPTY_PATH | rec);
        // SAFETY: mount_setattr(2) reads `size` (32) bytes of `ma`, a live local array.
        let r = unsafe { libc::syscall(libc::SYS_mount_setattr, fd, e, fl, ma.as_ptr(), 32usize) };
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

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &[u8]) -> PathBuf {
    let (mut out, mut i) = (Vec::with_capacity(field.len()), 0);
    while let Some(&b) = field.get(i) {
        let octal = |o: &&[u8]| b == b'\\' && o.iter().all(|d| (b'0'..=b'7').contains(d));
        let value = field.get(i + 1..i + 4).filter(octal);
        let value = value.map(|o| o.iter().fold(0u32, |a, d| a * 8 + u32::from(d - b'0')));
        let (byte, step) = value.map_or((b, 1), |v| (u8::try_from(v).unwrap_or(b'?'), 4));
        out.push(byte);
        i += step;
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
        let fstype = f.find(|x| *x == b"-").and_then(|_| f.next())?;
        let fstype = String::from_utf8_lossy(fstype).into_owned();
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

/// The mounts whose mount point is `path` in the calling thread's mount namespace (threads
/// may differ: `/proc/self` would show the main thread's), bottom first.
pub fn mounts_at(path: &Path) -> Result<Vec<MountEntry>, AutofsError> {
    let mi = Path::new("/proc/thread-self/mountinfo");
    let mut all = parse_mountinfo(&std::fs::read(mi).map_err(io_sys("read", mi))?);
    all.retain(|e| e.mount_point == path);
    Ok(all)
}

/// The topmost of the mounts stacked on one mount point: the one no other sits on.
pub fn topmost(stack: &[MountEntry]) -> Option<&MountEntry> {
    let covered = |e: &&MountEntry| stack.iter().any(|o| o.parent == e.id);
    stack.iter().find(|e| !covered(e))
}

/// Unmounts what is mounted on top of the autofs point, leaving the autofs armed. By path: from
/// outside the owning process group this blocks while an expire or request is pending.
pub fn umount_on_top(m: &AutofsMount) -> Result<(), AutofsError> {
    for _ in 0..16 {
        let here = mounts_at(&m.path)?;
        let top = topmost(&here).ok_or_else(|| AutofsError::NotAutofs(m.path.clone()))?;
        if top.fstype == "autofs" && top.dev == m.dev {
            return Ok(());
        }
        umount2(&m.path, MntFlags::UMOUNT_NOFOLLOW).map_err(sys("umount", &m.path))?;
    }
    Err(sys("umount", &m.path)(Errno::EBUSY))
}

/// Lazily unmounts every autofs at `path` and whatever is stacked on them (a mount below the
/// lowest autofs stays). By path: if the caller is not in the owning process group, make the
/// mount catatonic first ([`AutofsMount::umount`] does) or this may block.
pub fn umount_autofs(path: &Path) -> Result<(), AutofsError> {
    for _ in 0..64 {
        if !mounts_at(path)?.iter().any(|e| e.fstype == "autofs") {
            return Ok(());
        }
        let flags = MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW;
        umount2(path, flags).map_err(sys("umount", path))?;
    }
    Err(sys("umount", path)(Errno::EBUSY))
}

/// How requests are answered: [`AutofsMount`] for the kernel, a fake in tests.
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

/// Answers every token, READY if `ok` else FAIL, going on past errors; returns the failures.
pub fn answer<O: AutofsOps + ?Sized>(ops: &O, tokens: &[u32], ok: bool) -> Vec<(u32, AutofsError)> {
    if ok {
        proto::failpoint::hit("mounter::before_autofs_ready");
    }
    let call = |t: u32| if ok { ops.ready(t) } else { ops.fail(t) };
    let failed = |&t: &u32| call(t).err().map(|e| (t, e));
    tokens.iter().filter_map(failed).collect()
}

/// What the mounter does after a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// First waiter: start mounting, then [`Pending::on_mounted`] / [`Pending::on_failed`].
    /// Also comes again after [`Pending::expired`] failed every waiter, possibly while the
    /// first mount is still under way.
    StartMount,
    /// A mount is under way; this waiter is answered with the others.
    Wait,
    /// Unmount what is on top, then [`Pending::on_expire_done`].
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
        let (mounts, expires) = (BTreeMap::new(), BTreeMap::new());
        Pending {
            mounts,
            expires,
            timeout,
        }
    }

    /// Records the packet's token with its deadline and says what to do.
    pub fn on_packet(&mut self, p: &Packet, now: Instant) -> Action {
        use Action::{StartMount, StartUnmount, Wait};
        let deadline = now.checked_add(self.timeout).unwrap_or(now);
        match p {
            Packet::Missing { token, .. } => {
                let first = self.mounts.is_empty();
                self.mounts.entry(*token).or_insert(deadline);
                if first {
                    StartMount
                } else {
                    Wait
                }
            }
            Packet::Expire { token, .. } => {
                self.expires.entry(*token).or_insert(deadline);
                StartUnmount
            }
        }
    }

    /// The mount is up: tokens to READY.
    pub fn on_mounted(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.mounts).into_keys().collect()
    }

    /// The mount failed: tokens to FAIL.
    pub fn on_failed(&mut self) -> Vec<u32> {
        self.on_mounted()
    }

    /// The unmount after `Expire` finished: tokens to READY if it succeeded, FAIL (keeping
    /// the mount) if it did not.
    pub fn on_expire_done(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.expires).into_keys().collect()
    }

    /// Tokens (mount and expire alike) whose deadline passed: to FAIL.
    pub fn expired(&mut self, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        for map in [&mut self.mounts, &mut self.expires] {
            let due: Vec<u32> = map
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(t, _)| *t)
                .collect();
            map.retain(|t, _| !due.contains(t));
            out.extend(due);
        }
        out
    }

    /// When [`Pending::expired`] next has something to return.
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
mod tests;

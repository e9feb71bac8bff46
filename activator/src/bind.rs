//! Creates the listening sockets, FIFOs, special files and netlink sockets that
//! systemd.socket(5) units describe, after systemd 252's
//! `socket_address_listen()`, `socket_apply_socket_options()`,
//! `fifo_address_create()` and `special_address_create()`.
//!
//! File-system safety: the directories leading to a socket, FIFO or symlink
//! are opened one component at a time from "/" with
//! `O_PATH|O_DIRECTORY|O_NOFOLLOW`, so a symlink planted as an intermediate
//! component is refused, never followed. The final name is inspected and
//! removed with `fstatat`/`unlinkat` relative to that directory fd.
//!
//! AF_UNIX sockets are bound with their *absolute* path, not relative to the
//! directory fd (`fchdir` + bare name, or `/proc/self/fd/N/name`): the kernel
//! keeps the `sun_path` handed to bind(2) verbatim and getsockname(2) returns
//! it, and services pick their sockets by it (journald calls
//! `sd_is_socket_unix(fd, SOCK_DGRAM, -1, "/run/systemd/journal/socket", 0)`),
//! as do `ss -xl` and [`conn_addrs`]. Bound the relative ways, a socket names
//! itself "name" or "/proc/self/fd/3/name" (checked on Linux 6.x). To catch a
//! directory swapped between the walk and bind(2), the walk is repeated after
//! bind(2): it must reach the same directory inode, and that directory must
//! hold a socket under the name, or `open` fails. This also means no fchdir(2)
//! is needed.
//!
//! The socket mode is set with umask(2), which affects the whole process. cairn
//! is single-threaded, but every umask change here still goes through one lock,
//! so the module is also correct when called from several threads (as the
//! tests are).

use std::ffi::{OsStr, OsString};
use std::net::{SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use libc::{c_int, mode_t};
use nix::errno::Errno;
use nix::fcntl::{fcntl, openat, AtFlags, FcntlArg, OFlag, AT_FDCWD};
use nix::sys::socket::{
    bind, getpeername, getsockname, getsockopt, sockopt, NetlinkAddr, SockaddrLike,
    SockaddrStorage, UnixAddr,
};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, umask, FileStat, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, mkfifoat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

/// What a `Listen*=` line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Datagram,
    SeqPacket,
    Fifo,
    Special,
    Netlink,
}

/// The address of one `Listen*=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// File-system AF_UNIX socket path (absolute).
    Unix(PathBuf),
    /// Abstract AF_UNIX name, without the leading '@' / NUL.
    Abstract(Vec<u8>),
    /// AF_INET / AF_INET6. `iface` is the `%name` suffix of an IPv6 address (a
    /// name or a decimal ifindex): it sets the scope id (if_nametoindex).
    Inet {
        addr: SocketAddr,
        iface: Option<String>,
    },
    /// ListenFIFO= / ListenSpecial= path.
    Path(PathBuf),
    /// ListenNetlink=: protocol number (NETLINK_ROUTE=0,
    /// NETLINK_KOBJECT_UEVENT=15, ...) and multicast group. Like systemd,
    /// `group` goes into `nl_groups` unchanged, so it is a bit mask: "1"
    /// joins group 1, "2" joins group 2, "3" joins both.
    Netlink { protocol: i32, group: u32 },
}

/// BindIPv6Only=.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindIpv6Only {
    #[default]
    Default,
    Both,
    Ipv6Only,
}

/// The [Socket] settings that bear on creating the fd. `Default` gives zeros
/// (mode 0, backlog 0); [`Options::systemd_defaults`] gives systemd's.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// listen(2) backlog for Stream/SeqPacket, clamped to i32::MAX (the
    /// kernel caps it at net.core.somaxconn).
    pub backlog: u32,
    /// AF_UNIX path sockets and FIFOs: created under umask `!mode & 0o777`.
    pub socket_mode: u32,
    /// Parent directories created for unix paths, FIFOs and symlinks.
    pub directory_mode: u32,
    /// SocketUser=: owner of the socket file / FIFO (never through a symlink).
    pub uid: Option<u32>,
    /// SocketGroup=.
    pub gid: Option<u32>,
    /// IPV6_V6ONLY: Both => 0, Ipv6Only => 1, Default => kernel default.
    pub bind_ipv6_only: BindIpv6Only,
    /// SO_BINDTODEVICE (inet only, like systemd).
    pub bind_to_device: Option<String>,
    pub reuse_port: bool,
    pub free_bind: bool,
    pub transparent: bool,
    pub broadcast: bool,
    pub pass_credentials: bool,
    pub pass_security: bool,
    pub keep_alive: bool,
    /// TCP_KEEPIDLE, seconds.
    pub keep_alive_time_sec: Option<u64>,
    /// TCP_NODELAY (stream inet only).
    pub no_delay: bool,
    /// SO_PRIORITY.
    pub priority: Option<i32>,
    /// SO_RCVBUFFORCE, falling back to SO_RCVBUF.
    pub receive_buffer: Option<u64>,
    /// SO_SNDBUFFORCE, falling back to SO_SNDBUF.
    pub send_buffer: Option<u64>,
    /// IP_TOS.
    pub ip_tos: Option<i32>,
    /// IP_TTL, or IPV6_UNICAST_HOPS on IPv6 sockets.
    pub ip_ttl: Option<u32>,
    /// SO_MARK.
    pub mark: Option<u32>,
    /// F_SETPIPE_SZ on FIFOs.
    pub pipe_size: Option<u64>,
    /// Symlinks=: links to the unix socket path / FIFO path. Parents are
    /// created, an existing symlink is replaced, anything else is an error.
    pub symlinks: Vec<PathBuf>,
}

impl Options {
    /// systemd's defaults: Backlog=SOMAXCONN_DELUXE (INT_MAX),
    /// SocketMode=0666, DirectoryMode=0755.
    pub fn systemd_defaults() -> Self {
        Self {
            backlog: i32::MAX.cast_unsigned(),
            socket_mode: 0o666,
            directory_mode: 0o755,
            ..Self::default()
        }
    }
}

/// Why a socket could not be set up. `addr` is the address as [`describe`]
/// prints it, or the file-system path concerned; `errno` is the OS error, or
/// the closest errno for checks made here.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A system call failed; `op` names it ("bind", "mkdir", "SO_MARK", ...).
    #[error("{addr}: {op}: {}", io_text(.errno))]
    Sys {
        addr: String,
        op: &'static str,
        errno: Errno,
    },
    /// Something we may not replace occupies the path ("a regular file").
    #[error("{addr}: {what} is in the way")]
    InTheWay {
        addr: String,
        what: &'static str,
        errno: Errno,
    },
    /// A parent directory of `addr` is a symlink.
    #[error("{addr}: refusing to follow symlink {component}")]
    Symlink {
        addr: String,
        component: String,
        errno: Errno,
    },
    /// ListenSpecial= names something other than a regular file or char device.
    #[error("{addr}: not a special file ({what})")]
    NotSpecial {
        addr: String,
        what: &'static str,
        errno: Errno,
    },
    /// The `%iface` of an IPv6 address does not exist.
    #[error("{addr}: no such interface {iface}")]
    NoInterface {
        addr: String,
        iface: String,
        errno: Errno,
    },
    /// remove() left a file alone because it is not of the expected type.
    #[error("{addr}: not removing {what}")]
    NotRemoved {
        addr: String,
        what: &'static str,
        errno: Errno,
    },
    /// The request itself is unusable (relative path, name too long, ...).
    #[error("{addr}: {reason}")]
    Invalid {
        addr: String,
        reason: &'static str,
        errno: Errno,
    },
}

impl BindError {
    /// The errno carried by any variant.
    pub fn errno(&self) -> Errno {
        match self {
            Self::Sys { errno, .. }
            | Self::InTheWay { errno, .. }
            | Self::Symlink { errno, .. }
            | Self::NotSpecial { errno, .. }
            | Self::NoInterface { errno, .. }
            | Self::NotRemoved { errno, .. }
            | Self::Invalid { errno, .. } => *errno,
        }
    }

    /// The address or path the error is about.
    pub fn addr(&self) -> &str {
        match self {
            Self::Sys { addr, .. }
            | Self::InTheWay { addr, .. }
            | Self::Symlink { addr, .. }
            | Self::NotSpecial { addr, .. }
            | Self::NoInterface { addr, .. }
            | Self::NotRemoved { addr, .. }
            | Self::Invalid { addr, .. } => addr,
        }
    }
}

fn io_text(errno: &Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(*errno as i32)
}

fn sys(addr: impl std::fmt::Display, op: &'static str, errno: Errno) -> BindError {
    BindError::Sys {
        addr: addr.to_string(),
        op,
        errno,
    }
}

fn invalid(addr: &str, reason: &'static str, errno: Errno) -> BindError {
    BindError::Invalid {
        addr: addr.to_owned(),
        reason,
        errno,
    }
}

fn file_type(st: &FileStat) -> mode_t {
    st.st_mode & libc::S_IFMT
}

fn type_name(st: &FileStat) -> &'static str {
    match file_type(st) {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symlink",
        libc::S_IFSOCK => "a socket",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        _ => "a file of unknown type",
    }
}

/// Longest AF_UNIX path or abstract name: sizeof(sun_path) minus the NUL
/// (systemd insists on NUL termination too).
const SUN_PATH_MAX: usize = 107;
const DIR_FLAGS: OFlag = OFlag::O_PATH
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);
const NOFOLLOW: AtFlags = AtFlags::AT_SYMLINK_NOFOLLOW;

static UMASK_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` with the umask set to `!mode & 0o777`, so files it creates get
/// exactly `mode & 0o777`. The lock serialises all umask changes of this module.
fn with_umask<T>(mode: u32, f: impl FnOnce() -> T) -> T {
    let _guard = UMASK_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let old = umask(Mode::from_bits_truncate(!mode & 0o777));
    let result = f();
    umask(old);
    result
}

/// Opens the parent directory of `path` component by component from "/",
/// never following a symlink. Missing directories are created with mode
/// `create` if given. Returns the directory fd and the final name.
fn walk(path: &Path, create: Option<u32>) -> Result<(OwnedFd, OsString), BindError> {
    let shown = path.display().to_string();
    let mut names = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => names.push(n),
            _ => return Err(invalid(&shown, "path is not normalized", Errno::EINVAL)),
        }
    }
    if !path.is_absolute() {
        return Err(invalid(&shown, "path is not absolute", Errno::EINVAL));
    }
    let Some(name) = names.pop() else {
        return Err(invalid(&shown, "path has no file name", Errno::EINVAL));
    };
    let mut dir =
        openat(AT_FDCWD, "/", DIR_FLAGS, Mode::empty()).map_err(|e| sys("/", "open", e))?;
    let mut cur = PathBuf::from("/");
    for n in names {
        cur.push(n);
        let mut next = openat(&dir, n, DIR_FLAGS, Mode::empty());
        if let (Err(Errno::ENOENT), Some(m)) = (&next, create) {
            let mode = Mode::from_bits_truncate(m & 0o7777);
            match with_umask(m, || mkdirat(&dir, n, mode)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(sys(cur.display(), "mkdir", e)),
            }
            next = openat(&dir, n, DIR_FLAGS, Mode::empty());
        }
        dir = match next {
            Ok(fd) => fd,
            Err(e @ (Errno::ENOTDIR | Errno::ELOOP)) => {
                return Err(match fstatat(&dir, n, NOFOLLOW) {
                    Ok(st) if file_type(&st) == libc::S_IFLNK => BindError::Symlink {
                        addr: shown,
                        component: cur.display().to_string(),
                        errno: Errno::ELOOP,
                    },
                    Ok(st) => BindError::InTheWay {
                        addr: cur.display().to_string(),
                        what: type_name(&st),
                        errno: Errno::ENOTDIR,
                    },
                    Err(_) => sys(cur.display(), "open", e),
                });
            }
            Err(e) => return Err(sys(cur.display(), "open", e)),
        };
    }
    Ok((dir, name.to_os_string()))
}

/// Unlinks `name` in `dir` if its type is in `replaceable`; anything else
/// there is an error. Nothing there is fine.
fn clear_node(
    dir: &OwnedFd,
    name: &OsStr,
    shown: &str,
    replaceable: &[mode_t],
) -> Result<(), BindError> {
    match fstatat(dir, name, NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(sys(shown, "stat", e)),
        Ok(st) if replaceable.contains(&file_type(&st)) => {
            match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => Ok(()),
                Err(e) => Err(sys(shown, "unlink", e)),
            }
        }
        Ok(st) => Err(BindError::InTheWay {
            addr: shown.to_owned(),
            what: type_name(&st),
            errno: Errno::EEXIST,
        }),
    }
}

fn chown_ids(o: &Options) -> Option<(Option<Uid>, Option<Gid>)> {
    (o.uid.is_some() || o.gid.is_some())
        .then(|| (o.uid.map(Uid::from_raw), o.gid.map(Gid::from_raw)))
}

/// Like systemd's `socket_address_listen()`, sockets are made in blocking mode: services get
/// them as they are, and most expect a blocking socket (the activator only polls them, and
/// puts an Accept=yes listener, which nobody else uses, in non-blocking mode itself). Only
/// netlink sockets, FIFOs and special files are non-blocking, as in systemd.
fn new_socket(domain: c_int, ty: c_int, proto: c_int, shown: &str) -> Result<OwnedFd, BindError> {
    let flags = if domain == libc::AF_NETLINK {
        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK
    } else {
        libc::SOCK_CLOEXEC
    };
    // SAFETY: socket(2) takes no pointers and has no memory-safety preconditions.
    let raw = unsafe { libc::socket(domain, ty | flags, proto) };
    if raw < 0 {
        return Err(sys(shown, "socket", Errno::last()));
    }
    // SAFETY: `raw` is a descriptor socket(2) just created; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn setopt_bytes(fd: &OwnedFd, level: c_int, name: c_int, val: &[u8]) -> nix::Result<()> {
    let len = libc::socklen_t::try_from(val.len()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: pointer and length describe the live slice `val`, which the
    // kernel only reads during the call; `fd` is open for its duration.
    let r = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, val.as_ptr().cast(), len) };
    Errno::result(r).map(drop)
}

fn setopt(fd: &OwnedFd, level: c_int, name: c_int, val: c_int) -> nix::Result<()> {
    setopt_bytes(fd, level, name, &val.to_ne_bytes())
}

fn clamp(v: u64) -> c_int {
    c_int::try_from(v).unwrap_or(c_int::MAX)
}

/// The options systemd treats as best effort (it logs a warning and goes on):
/// SO_REUSEPORT, IP_FREEBIND, IP_TRANSPARENT and all of
/// `socket_apply_socket_options()`. Failures are pushed to `warns`.
fn apply_options(
    fd: &OwnedFd,
    kind: Kind,
    domain: c_int,
    o: &Options,
    shown: &str,
    warns: &mut Vec<BindError>,
) {
    use libc::*;
    let v6 = domain == AF_INET6;
    let inet = v6 || domain == AF_INET;
    let tcp = inet && kind == Kind::Stream;
    let (ip, freebind, transparent, ttl) = if v6 {
        (
            IPPROTO_IPV6,
            IPV6_FREEBIND,
            IPV6_TRANSPARENT,
            IPV6_UNICAST_HOPS,
        )
    } else {
        (IPPROTO_IP, IP_FREEBIND, IP_TRANSPARENT, IP_TTL)
    };
    let mut set = |on: bool, op: &'static str, level: c_int, name: c_int, val: c_int| {
        if on {
            if let Err(e) = setopt(fd, level, name, val) {
                warns.push(sys(shown, op, e));
            }
        }
    };
    set(
        inet && o.reuse_port,
        "SO_REUSEPORT",
        SOL_SOCKET,
        SO_REUSEPORT,
        1,
    );
    set(inet && o.free_bind, "IP_FREEBIND", ip, freebind, 1);
    set(inet && o.transparent, "IP_TRANSPARENT", ip, transparent, 1);
    set(o.keep_alive, "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, 1);
    if let Some(t) = o.keep_alive_time_sec {
        set(tcp, "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, clamp(t));
    }
    set(
        tcp && o.no_delay,
        "TCP_NODELAY",
        IPPROTO_TCP,
        TCP_NODELAY,
        1,
    );
    set(o.broadcast, "SO_BROADCAST", SOL_SOCKET, SO_BROADCAST, 1);
    set(
        o.pass_credentials,
        "SO_PASSCRED",
        SOL_SOCKET,
        SO_PASSCRED,
        1,
    );
    set(o.pass_security, "SO_PASSSEC", SOL_SOCKET, SO_PASSSEC, 1);
    // IP_TOS also sets the priority (rt_tos2priority), so it goes first and
    // an explicit Priority= wins. systemd sets them the other way round.
    if let Some(t) = o.ip_tos {
        set(inet, "IP_TOS", IPPROTO_IP, IP_TOS, t);
    }
    if let Some(p) = o.priority {
        set(true, "SO_PRIORITY", SOL_SOCKET, SO_PRIORITY, p);
    }
    if let Some(m) = o.mark {
        set(true, "SO_MARK", SOL_SOCKET, SO_MARK, m.cast_signed());
    }
    if let Some(t) = o.ip_ttl {
        set(inet, "IP_TTL", ip, ttl, clamp(t.into()));
    }
    let bufs = [
        (o.receive_buffer, SO_RCVBUFFORCE, SO_RCVBUF, "SO_RCVBUF"),
        (o.send_buffer, SO_SNDBUFFORCE, SO_SNDBUF, "SO_SNDBUF"),
    ];
    for (size, force, plain, op) in bufs {
        if let Some(size) = size {
            let forced = setopt(fd, SOL_SOCKET, force, clamp(size)).is_ok();
            set(!forced, op, SOL_SOCKET, plain, clamp(size));
        }
    }
}

/// Applies the `%iface` scope to an IPv6 address.
fn inet_sockaddr(
    addr: SocketAddr,
    iface: Option<&str>,
    shown: &str,
) -> Result<SocketAddr, BindError> {
    let Some(iface) = iface else { return Ok(addr) };
    let SocketAddr::V6(v6) = addr else {
        return Err(invalid(
            shown,
            "an interface scope needs an IPv6 address",
            Errno::EINVAL,
        ));
    };
    let scope = match iface.parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => nix::net::if_::if_nametoindex(iface).map_err(|errno| BindError::NoInterface {
            addr: shown.to_owned(),
            iface: iface.to_owned(),
            errno,
        })?,
    };
    Ok(SocketAddr::V6(SocketAddrV6::new(
        *v6.ip(),
        v6.port(),
        v6.flowinfo(),
        scope,
    )))
}

/// Binds `fd` to the unix socket `path` (see the module docs), then chowns it.
/// Returns the parent directory fd and the final name.
fn bind_unix_path(
    fd: &OwnedFd,
    path: &Path,
    o: &Options,
    shown: &str,
) -> Result<(OwnedFd, OsString), BindError> {
    if path.as_os_str().len() > SUN_PATH_MAX {
        return Err(invalid(
            shown,
            "path too long for an AF_UNIX socket",
            Errno::ENAMETOOLONG,
        ));
    }
    let (dir, name) = walk(path, Some(o.directory_mode))?;
    clear_node(&dir, &name, shown, &[libc::S_IFSOCK, libc::S_IFLNK])?;
    let sa = UnixAddr::new(path).map_err(|e| sys(shown, "bind", e))?;
    with_umask(o.socket_mode, || bind(fd.as_raw_fd(), &sa)).map_err(|e| sys(shown, "bind", e))?;
    let (again, _) = walk(path, None)?;
    let same = matches!((fstat(&dir), fstat(&again)),
        (Ok(a), Ok(b)) if a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    let is_socket =
        fstatat(&dir, name.as_os_str(), NOFOLLOW).is_ok_and(|st| file_type(&st) == libc::S_IFSOCK);
    if !same || !is_socket {
        return Err(invalid(
            shown,
            "directory was replaced during bind",
            Errno::ESTALE,
        ));
    }
    if let Some((uid, gid)) = chown_ids(o) {
        fchownat(&dir, name.as_os_str(), uid, gid, NOFOLLOW).map_err(|e| sys(shown, "chown", e))?;
    }
    Ok((dir, name))
}

fn open_socket(
    kind: Kind,
    addr: &Addr,
    o: &Options,
    shown: &str,
    warns: &mut Vec<BindError>,
) -> Result<OwnedFd, BindError> {
    use libc::{AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, SOL_SOCKET};
    let ty = match kind {
        Kind::Stream => libc::SOCK_STREAM,
        Kind::Datagram => libc::SOCK_DGRAM,
        Kind::SeqPacket => libc::SOCK_SEQPACKET,
        _ => libc::SOCK_RAW,
    };
    let (domain, proto) = match addr {
        Addr::Inet {
            addr: SocketAddr::V4(_),
            ..
        } => (AF_INET, 0),
        Addr::Inet { .. } => (AF_INET6, 0),
        Addr::Netlink { protocol, .. } => (AF_NETLINK, *protocol),
        _ => (AF_UNIX, 0),
    };
    let inet = match addr {
        Addr::Inet { addr, iface } => Some(inet_sockaddr(*addr, iface.as_deref(), shown)?),
        _ => None,
    };
    if matches!(addr, Addr::Abstract(n) if n.is_empty() || n.len() > SUN_PATH_MAX) {
        return Err(invalid(
            shown,
            "abstract name must be 1 to 107 bytes",
            Errno::EINVAL,
        ));
    }
    let fd = new_socket(domain, ty, proto, shown)?;
    if domain == AF_INET6 && o.bind_ipv6_only != BindIpv6Only::Default {
        let only = c_int::from(o.bind_ipv6_only == BindIpv6Only::Ipv6Only);
        setopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, only)
            .map_err(|e| sys(shown, "IPV6_V6ONLY", e))?;
    }
    if let (Some(dev), Some(_)) = (&o.bind_to_device, inet) {
        setopt_bytes(&fd, SOL_SOCKET, libc::SO_BINDTODEVICE, dev.as_bytes())
            .map_err(|e| sys(shown, "SO_BINDTODEVICE", e))?;
    }
    apply_options(&fd, kind, domain, o, shown, warns);
    setopt(&fd, SOL_SOCKET, libc::SO_REUSEADDR, 1).map_err(|e| sys(shown, "SO_REUSEADDR", e))?;

    let do_bind =
        |sa: &dyn SockaddrLike| bind(fd.as_raw_fd(), sa).map_err(|e| sys(shown, "bind", e));
    let mut node = None;
    match addr {
        Addr::Unix(p) => node = Some(bind_unix_path(&fd, p, o, shown)?),
        Addr::Abstract(n) => {
            do_bind(&UnixAddr::new_abstract(n).map_err(|e| sys(shown, "bind", e))?)?
        }
        Addr::Netlink { group, .. } => do_bind(&NetlinkAddr::new(0, *group))?,
        Addr::Inet { .. } | Addr::Path(_) => {
            let Some(sa) = inet else {
                return Err(invalid(shown, "not a socket address", Errno::EINVAL));
            };
            do_bind(&SockaddrStorage::from(sa))?;
        }
    }
    if matches!(kind, Kind::Stream | Kind::SeqPacket) {
        let backlog = c_int::try_from(o.backlog).unwrap_or(c_int::MAX);
        // SAFETY: listen(2) takes no pointers; `fd` is an open socket.
        let r = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
        Errno::result(r).map_err(|e| sys(shown, "listen", e))?;
    }
    if let Some((dir, name)) = node {
        // Like systemd's touch(): an inotify event for those waiting on the node.
        let now = TimeSpec::UTIME_NOW;
        let flags = UtimensatFlags::NoFollowSymlink;
        let _ = nix::sys::stat::utimensat(&dir, name.as_os_str(), &now, &now, flags);
    }
    Ok(fd)
}

fn open_fifo(
    path: &Path,
    o: &Options,
    shown: &str,
    warns: &mut Vec<BindError>,
) -> Result<OwnedFd, BindError> {
    let (dir, name) = walk(path, Some(o.directory_mode))?;
    let mode = Mode::from_bits_truncate(o.socket_mode & 0o777);
    let created = match with_umask(o.socket_mode, || mkfifoat(&dir, name.as_os_str(), mode)) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => return Err(sys(shown, "mkfifo", e)),
    };
    let check = |st: nix::Result<FileStat>| match st {
        Ok(st) if file_type(&st) == libc::S_IFIFO => Ok(()),
        Ok(st) => Err(BindError::InTheWay {
            addr: shown.to_owned(),
            what: type_name(&st),
            errno: Errno::EEXIST,
        }),
        Err(e) => Err(sys(shown, "stat", e)),
    };
    if !created {
        // Check before opening, so a device in the way is never opened.
        check(fstatat(&dir, name.as_os_str(), NOFOLLOW))?;
    }
    let flags = OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY;
    let fd =
        openat(&dir, name.as_os_str(), flags, Mode::empty()).map_err(|e| sys(shown, "open", e))?;
    check(fstat(&fd))?;
    if !created {
        // A reused FIFO may carry an older SocketMode=; enforce the current one.
        fchmod(&fd, mode).map_err(|e| sys(shown, "chmod", e))?;
    }
    if let Some((uid, gid)) = chown_ids(o) {
        fchown(&fd, uid, gid).map_err(|e| sys(shown, "chown", e))?;
    }
    if let Some(size) = o.pipe_size {
        if let Err(e) = fcntl(&fd, FcntlArg::F_SETPIPE_SZ(clamp(size))) {
            warns.push(sys(shown, "F_SETPIPE_SZ", e));
        }
    }
    Ok(fd)
}

fn open_special(path: &Path, shown: &str) -> Result<OwnedFd, BindError> {
    if !path.is_absolute() {
        return Err(invalid(shown, "path is not absolute", Errno::EINVAL));
    }
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let flags = flags | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW;
    let fd = openat(AT_FDCWD, path, flags, Mode::empty()).map_err(|e| sys(shown, "open", e))?;
    let st = fstat(&fd).map_err(|e| sys(shown, "stat", e))?;
    if !matches!(file_type(&st), libc::S_IFREG | libc::S_IFCHR) {
        return Err(BindError::NotSpecial {
            addr: shown.to_owned(),
            what: type_name(&st),
            errno: Errno::EEXIST,
        });
    }
    Ok(fd)
}

fn make_symlink(target: &Path, link: &Path, directory_mode: u32) -> Result<(), BindError> {
    let shown = link.display().to_string();
    let (dir, name) = walk(link, Some(directory_mode))?;
    clear_node(&dir, &name, &shown, &[libc::S_IFLNK])?;
    symlinkat(target, &dir, name.as_os_str()).map_err(|e| sys(&shown, "symlink", e))
}

/// Creates, configures, binds (and listens, for stream/seqpacket) one socket,
/// or creates/opens one FIFO / special file / netlink socket. The fd is
/// O_CLOEXEC; O_NONBLOCK only for netlink, FIFOs and special files. Best-effort option failures are dropped; use
/// [`open_with_warnings`] to log them.
pub fn open(kind: Kind, addr: &Addr, opts: &Options) -> Result<OwnedFd, BindError> {
    open_with_warnings(kind, addr, opts).map(|(fd, _)| fd)
}

/// [`open`], also returning the failures systemd only logs as warnings:
/// SO_REUSEPORT, IP_FREEBIND, IP_TRANSPARENT, the options of
/// `socket_apply_socket_options()`, F_SETPIPE_SZ, and Symlinks= given for an
/// address that has no file-system path. Everything else is fatal, including
/// a Symlinks= entry that cannot be created (systemd only warns there).
pub fn open_with_warnings(
    kind: Kind,
    addr: &Addr,
    opts: &Options,
) -> Result<(OwnedFd, Vec<BindError>), BindError> {
    let shown = describe(addr);
    let mut warns = Vec::new();
    let fd = match (kind, addr) {
        (Kind::Fifo, Addr::Path(p)) => open_fifo(p, opts, &shown, &mut warns)?,
        (Kind::Special, Addr::Path(p)) => open_special(p, &shown)?,
        (Kind::Netlink, Addr::Netlink { .. })
        | (
            Kind::Stream | Kind::Datagram | Kind::SeqPacket,
            Addr::Unix(_) | Addr::Abstract(_) | Addr::Inet { .. },
        ) => open_socket(kind, addr, opts, &shown, &mut warns)?,
        _ => {
            return Err(invalid(
                &shown,
                "address does not fit the socket kind",
                Errno::EINVAL,
            ));
        }
    };
    match (kind, addr) {
        (Kind::Fifo, Addr::Path(target)) | (_, Addr::Unix(target)) => {
            for link in &opts.symlinks {
                make_symlink(target, link, opts.directory_mode)?;
            }
        }
        _ if !opts.symlinks.is_empty() => {
            warns.push(invalid(
                &shown,
                "Symlinks= needs a file-system socket or FIFO, ignoring",
                Errno::EINVAL,
            ));
        }
        _ => {}
    }
    Ok((fd, warns))
}

const NETLINK_NAMES: [(i32, &str); 18] = [
    (0, "route"),
    (3, "firewall"),
    (4, "inet-diag"),
    (5, "nflog"),
    (6, "xfrm"),
    (7, "selinux"),
    (8, "iscsi"),
    (9, "audit"),
    (10, "fib-lookup"),
    (11, "connector"),
    (12, "netfilter"),
    (13, "ip6-fw"),
    (14, "dnrtmsg"),
    (15, "kobject-uevent"),
    (16, "generic"),
    (18, "scsitransport"),
    (19, "ecryptfs"),
    (20, "rdma"),
];

/// ListenNetlink= family name ("route", "kobject-uevent", ...) or decimal
/// number to protocol number, as systemd's netlink_family_from_string().
pub fn netlink_protocol(name: &str) -> Option<i32> {
    let known = NETLINK_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(p, _)| *p);
    known.or_else(|| name.parse().ok().filter(|p: &i32| *p >= 0))
}

fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect()
}

/// "1.2.3.4:5", "[::1]:5", "[fe80::1]:5%eth0"; IPv4-mapped IPv6 as IPv4.
fn fmt_inet(addr: SocketAddr, iface: Option<&str>) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => match (a.ip().to_ipv4_mapped(), iface, a.scope_id()) {
            (Some(v4), ..) => format!("{v4}:{}", a.port()),
            (None, Some(i), _) => format!("[{}]:{}%{i}", a.ip(), a.port()),
            (None, None, 0) => format!("[{}]:{}", a.ip(), a.port()),
            (None, None, s) => format!("[{}]:{}%{s}", a.ip(), a.port()),
        },
    }
}

/// The textual address as `systemctl list-sockets` prints it.
pub fn describe(addr: &Addr) -> String {
    match addr {
        Addr::Unix(p) | Addr::Path(p) => p.display().to_string(),
        Addr::Abstract(name) => format!("@{}", escape(name)),
        Addr::Inet { addr, iface } => fmt_inet(*addr, iface.as_deref()),
        Addr::Netlink { protocol, group } => {
            match NETLINK_NAMES.iter().find(|(p, _)| p == protocol) {
                Some((_, name)) => format!("{name} {group}"),
                None => format!("{protocol} {group}"),
            }
        }
    }
}

fn remove_node(path: &Path, want: mode_t, quiet: bool) -> Result<(), BindError> {
    let shown = path.display().to_string();
    let (dir, name) = match walk(path, None) {
        Err(e) if e.errno() == Errno::ENOENT => return Ok(()),
        other => other?,
    };
    match clear_node(&dir, &name, &shown, &[want]) {
        Err(BindError::InTheWay { .. }) if quiet => Ok(()),
        Err(BindError::InTheWay { addr, what, errno }) => {
            Err(BindError::NotRemoved { addr, what, errno })
        }
        other => other,
    }
}

/// For RemoveOnStop=: unlinks the unix socket file or FIFO and the symlinks,
/// never following a symlink; missing files are fine. Only a socket is removed
/// for `Addr::Unix` and only symlinks for `symlinks` (anything else is
/// reported). `Addr::Path` is removed only if it is a FIFO and silently kept
/// otherwise, since a ListenSpecial= file shares that variant.
pub fn remove(addr: &Addr, symlinks: &[PathBuf]) -> Vec<BindError> {
    let node = match addr {
        Addr::Unix(p) => Some((p, libc::S_IFSOCK, false)),
        Addr::Path(p) => Some((p, libc::S_IFIFO, true)),
        _ => None,
    };
    let links = symlinks.iter().map(|l| (l, libc::S_IFLNK, false));
    node.into_iter()
        .chain(links)
        .filter_map(|(p, want, quiet)| remove_node(p, want, quiet).err())
        .collect()
}

fn fmt_sockaddr(sa: &SockaddrStorage) -> String {
    if let Some(a) = sa.as_sockaddr_in() {
        fmt_inet(SocketAddr::from(*a), None)
    } else if let Some(a) = sa.as_sockaddr_in6() {
        fmt_inet(SocketAddr::from(*a), None)
    } else if let Some(u) = sa.as_unix_addr() {
        match (u.path(), u.as_abstract()) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(name)) => format!("@{}", escape(name)),
            (None, None) => String::new(),
        }
    } else {
        String::new()
    }
}

/// For Accept=yes: (local, remote) address of an accepted connection, systemd
/// style: "1.2.3.4:5", "[::1]:5", a unix path, "@abstract", or "" for an
/// unnamed unix socket or an address that cannot be read. Peer credentials
/// are in [`peer_credentials`].
pub fn conn_addrs(conn: &OwnedFd) -> (String, String) {
    let fd = conn.as_raw_fd();
    let local = getsockname::<SockaddrStorage>(fd).map(|sa| fmt_sockaddr(&sa));
    let remote = getpeername::<SockaddrStorage>(fd).map(|sa| fmt_sockaddr(&sa));
    (local.unwrap_or_default(), remote.unwrap_or_default())
}

/// (pid, uid, gid) of the peer of a connected unix socket (SO_PEERCRED);
/// None for other sockets or when unavailable.
pub fn peer_credentials(conn: &OwnedFd) -> Option<(i32, u32, u32)> {
    let cred = getsockopt(conn, sockopt::PeerCredentials).ok()?;
    (cred.pid() > 0).then(|| (cred.pid(), cred.uid(), cred.gid()))
}

#[cfg(test)]
mod tests;

//! Typed parser for the `[Socket]` section of systemd `.socket` units.
//!
//! The behaviour follows systemd 252 (`systemd.socket(5)`), in particular
//! `src/core/load-fragment.c` (`config_parse_socket_listen()` and friends),
//! `src/shared/socket-netlink.c` (`socket_address_parse()`),
//! `src/basic/parse-util.c` / `time-util.c` (number, size and time parsing)
//! and `src/core/socket.c` (`socket_init()`, `socket_verify()`,
//! `instance_from_socket()`).
//!
//! This module is pure: it performs no syscalls. Things systemd resolves at
//! load time through the kernel (interface names to ifindexes, whether IPv6
//! is supported, users and groups) are recorded as written and left to the
//! runtime. Unit specifiers (`%i`, `%n`, ...) must already have been
//! expanded by the caller.
//!
//! This code runs in the supervisor of PID 1, so it must never panic: no
//! `unwrap`, no `expect`, no slice indexing outside tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::{name, values};

/// The listen backlog cairn uses when `Backlog=` is not set.
///
/// systemd 252 defaults to `SOMAXCONN_DELUXE` (`UINT_MAX`) and lets the
/// kernel clamp it to `net.core.somaxconn`; on this kernel that is 4096, so
/// we record the effective value directly (this also avoids passing a value
/// that turns negative when cast to the `int` of `listen(2)`).
pub const DEFAULT_BACKLOG: u32 = 4096;
/// `socket_init()`: `s->max_connections = 64`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 64;

/// `sizeof(((struct sockaddr_un*)0)->sun_path)`.
const UNIX_PATH_MAX: usize = 108;
/// `FDNAME_MAX` from `src/basic/fd-util.h`.
const FDNAME_MAX: usize = 255;
/// Kernel `IFNAMSIZ` and `ALTIFNAMSIZ`, both counting the trailing NUL.
const IFNAMSIZ: usize = 16;
const ALTIFNAMSIZ: usize = 128;

const USEC_PER_SEC: u64 = 1_000_000;
const USEC_INFINITY: u64 = u64::MAX;

/// Which `Listen*=` directive produced a [`Listen`] entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenKind {
    Stream,
    Datagram,
    SequentialPacket,
    Fifo,
    Special,
    Netlink,
}

impl ListenKind {
    /// The unit-file key this kind comes from; used in error messages.
    pub fn key(&self) -> &'static str {
        match self {
            ListenKind::Stream => "ListenStream",
            ListenKind::Datagram => "ListenDatagram",
            ListenKind::SequentialPacket => "ListenSequentialPacket",
            ListenKind::Fifo => "ListenFIFO",
            ListenKind::Special => "ListenSpecial",
            ListenKind::Netlink => "ListenNetlink",
        }
    }

    /// `socket_address_can_accept()`: only SOCK_STREAM and SOCK_SEQPACKET
    /// sockets can be used with `Accept=yes`.
    pub fn can_accept(&self) -> bool {
        matches!(self, ListenKind::Stream | ListenKind::SequentialPacket)
    }
}

/// A parsed listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// File-system `AF_UNIX` socket, e.g. `/run/foo.sock`.
    Unix(PathBuf),
    /// Abstract `AF_UNIX` socket; the name without the leading `@`.
    Abstract(String),
    /// `AF_INET`/`AF_INET6`. A bare port (`"80"`) yields `[::]:port`, exactly
    /// like `"[::]:80"` (systemd produces the identical `sockaddr_in6`; whether
    /// it also accepts IPv4 is governed by `BindIPv6Only=`). `interface` is
    /// the `%ifname` suffix (a name or a numeric ifindex, unresolved) and is
    /// only kept for IPv6, since systemd drops it for IPv4 addresses.
    Inet {
        ip: IpAddr,
        port: u16,
        interface: Option<String>,
    },
    /// `ListenFIFO=` / `ListenSpecial=` path (simplified, absolute).
    Path(PathBuf),
    /// `ListenNetlink=`: the family name (canonical systemd table name, or
    /// the decimal protocol number if it has no name) and multicast group.
    Netlink { family: String, group: u32 },
}

/// One `Listen*=` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub kind: ListenKind,
    pub address: Address,
}

/// `BindIPv6Only=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindIpv6Only {
    Default,
    Both,
    Ipv6Only,
}

/// The typed contents of a `[Socket]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// In file order; an empty assignment to any `Listen*=` key resets it.
    pub listen: Vec<Listen>,
    pub accept: bool,
    /// `Service=`, validated as a non-template `.service` unit name.
    pub service: Option<String>,
    pub backlog: u32,
    pub socket_mode: u32,
    pub directory_mode: u32,
    pub socket_user: Option<String>,
    pub socket_group: Option<String>,
    pub bind_ipv6_only: BindIpv6Only,
    pub bind_to_device: Option<String>,
    pub reuse_port: bool,
    pub free_bind: bool,
    pub transparent: bool,
    pub broadcast: bool,
    pub pass_credentials: bool,
    pub pass_security: bool,
    pub keep_alive: bool,
    /// `KeepAliveTimeSec=` in whole seconds (systemd passes
    /// `usec / USEC_PER_SEC` to `TCP_KEEPIDLE`); `None` when unset, 0 or
    /// infinity, which systemd all treat as "do not set".
    pub keep_alive_time_sec: Option<u64>,
    pub no_delay: bool,
    /// `SO_PRIORITY`; systemd only applies values >= 0, so negative values
    /// are stored as `None`.
    pub priority: Option<i32>,
    /// Sizes in bytes; 0 is stored as `None` (systemd only applies `> 0`).
    pub receive_buffer: Option<u64>,
    pub send_buffer: Option<u64>,
    pub ip_tos: Option<i32>,
    /// `IPTTL=`/`Mark=` are parsed as `int`; systemd only applies `>= 0`,
    /// so negative values are stored as `None`.
    pub ip_ttl: Option<u32>,
    pub mark: Option<u32>,
    pub pipe_size: Option<u64>,
    pub remove_on_stop: bool,
    pub symlinks: Vec<PathBuf>,
    pub file_descriptor_name: Option<String>,
    pub max_connections: u32,
    /// 0 means "no per-source limit", as in systemd 252 (the man page says
    /// "Disabled by default"; `socket_enter_running()` checks `> 0`).
    pub max_connections_per_source: u32,
    /// `None` = unset; systemd picks the default at load time depending on
    /// `Accept=`, see [`SocketConfig::trigger_limit`].
    pub trigger_limit_interval_usec: Option<u64>,
    pub trigger_limit_burst: Option<u32>,
    /// `PollLimit*=` (systemd >= 255, accepted for forward compatibility).
    pub poll_limit_interval_usec: Option<u64>,
    pub poll_limit_burst: Option<u32>,
}

impl Default for SocketConfig {
    /// The defaults of systemd's `socket_init()`.
    fn default() -> Self {
        SocketConfig {
            listen: Vec::new(),
            accept: false,
            service: None,
            backlog: DEFAULT_BACKLOG,
            socket_mode: 0o666,
            directory_mode: 0o755,
            socket_user: None,
            socket_group: None,
            bind_ipv6_only: BindIpv6Only::Default,
            bind_to_device: None,
            reuse_port: false,
            free_bind: false,
            transparent: false,
            broadcast: false,
            pass_credentials: false,
            pass_security: false,
            keep_alive: false,
            keep_alive_time_sec: None,
            no_delay: false,
            priority: None,
            receive_buffer: None,
            send_buffer: None,
            ip_tos: None,
            ip_ttl: None,
            mark: None,
            pipe_size: None,
            remove_on_stop: false,
            symlinks: Vec::new(),
            file_descriptor_name: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_source: 0,
            trigger_limit_interval_usec: None,
            trigger_limit_burst: None,
            poll_limit_interval_usec: None,
            poll_limit_burst: None,
        }
    }
}

impl SocketConfig {
    /// Effective `(interval_usec, burst)` trigger limit, as resolved by
    /// `socket_add_extras()`: 2s, and 200 bursts with `Accept=yes` (we accept
    /// ourselves, so frequent starts are expected) or 20 otherwise.
    pub fn trigger_limit(&self) -> (u64, u32) {
        (
            self.trigger_limit_interval_usec.unwrap_or(2 * USEC_PER_SEC),
            self.trigger_limit_burst
                .unwrap_or(if self.accept { 200 } else { 20 }),
        )
    }

    /// Effective `(interval_usec, burst)` poll limit (systemd >= 255):
    /// 3/4 of the trigger limit defaults, i.e. 2s and 150 or 15.
    pub fn poll_limit(&self) -> (u64, u32) {
        (
            self.poll_limit_interval_usec.unwrap_or(2 * USEC_PER_SEC),
            self.poll_limit_burst
                .unwrap_or(if self.accept { 150 } else { 15 }),
        )
    }
}

/// A bad value for a `[Socket]` key. The caller logs it with file:line and
/// ignores the assignment, as systemd does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?}: {kind}")]
pub struct SocketConfigError {
    pub key: String,
    pub value: String,
    pub kind: ErrorKind,
}

/// What was wrong with the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("invalid boolean")]
    InvalidBoolean,
    #[error("invalid number")]
    InvalidNumber,
    #[error("value out of range")]
    OutOfRange,
    #[error("invalid size")]
    InvalidSize,
    #[error("invalid time span")]
    InvalidTimespan,
    #[error("invalid access mode")]
    InvalidMode,
    #[error("invalid address: {0}")]
    InvalidAddress(&'static str),
    #[error("invalid path: {0}")]
    InvalidPath(&'static str),
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),
    #[error("not supported: {0}")]
    Unsupported(&'static str),
}

type Result<T> = std::result::Result<T, SocketConfigError>;

fn error(key: &str, value: &str, kind: ErrorKind) -> SocketConfigError {
    SocketConfigError {
        key: key.into(),
        value: value.into(),
        kind,
    }
}

fn e_num(key: &str, value: &str, err: NumErr) -> SocketConfigError {
    let kind = match err {
        NumErr::Invalid => ErrorKind::InvalidNumber,
        NumErr::Range => ErrorKind::OutOfRange,
    };
    error(key, value, kind)
}

/// Applies one key of `[Socket]`.
///
/// `Ok(true)`: handled. `Ok(false)`: not a `[Socket]` key handled here (the
/// caller routes `Exec*=` and the exec/kill/cgroup context keys, and warns
/// about anything else). `Err`: a bad value, which the caller logs and
/// ignores, as systemd does. On `Err` the config is left unchanged, except
/// for `Symlinks=`, where (like systemd) the words before the bad one are
/// kept.
pub fn apply(c: &mut SocketConfig, key: &str, value: &str) -> Result<bool> {
    // C strings cannot carry NUL bytes, so systemd can never see one; refuse
    // them up front rather than build paths or names containing them.
    if value.contains('\0') {
        return match key_is_known(key) {
            true => Err(error(
                key,
                value,
                ErrorKind::InvalidValue("contains a NUL byte"),
            )),
            false => Ok(false),
        };
    }

    match key {
        "ListenStream" => listen(c, ListenKind::Stream, value)?,
        "ListenDatagram" => listen(c, ListenKind::Datagram, value)?,
        "ListenSequentialPacket" => listen(c, ListenKind::SequentialPacket, value)?,
        "ListenFIFO" => listen(c, ListenKind::Fifo, value)?,
        "ListenSpecial" => listen(c, ListenKind::Special, value)?,
        "ListenNetlink" => listen(c, ListenKind::Netlink, value)?,
        "ListenMessageQueue" | "ListenUSBFunction" => {
            // Same parser as the other Listen*= keys in systemd, so an empty
            // assignment still resets every listener.
            if value.is_empty() {
                c.listen.clear();
            } else {
                return Err(error(
                    key,
                    value,
                    ErrorKind::Unsupported(
                        "POSIX message queues and USB FunctionFS are not supported by cairn",
                    ),
                ));
            }
        }
        "SocketProtocol" => {
            // Silently ignoring this would create a TCP/UDP socket where
            // SCTP/UDP-Lite was asked for, so make the caller warn.
            if !value.is_empty() {
                return Err(error(
                    key,
                    value,
                    ErrorKind::Unsupported("only the default protocol is supported by cairn"),
                ));
            }
        }
        "BindIPv6Only" => c.bind_ipv6_only = parse_bind_ipv6_only(key, value)?,
        "Backlog" => c.backlog = parse_unsigned(key, value)?,
        "BindToDevice" => {
            // config_parse_socket_bindtodevice(): "" and "*" reset.
            if value.is_empty() || value == "*" {
                c.bind_to_device = None;
            } else if ifname_valid_full(value, false, false) {
                c.bind_to_device = Some(value.to_string());
            } else {
                return Err(error(
                    key,
                    value,
                    ErrorKind::InvalidValue("invalid interface name"),
                ));
            }
        }
        "SocketUser" => c.socket_user = parse_user_group(key, value)?,
        "SocketGroup" => c.socket_group = parse_user_group(key, value)?,
        "SocketMode" => c.socket_mode = parse_mode(key, value)?,
        "DirectoryMode" => c.directory_mode = parse_mode(key, value)?,
        "Accept" => c.accept = parse_bool(key, value)?,
        "MaxConnections" => c.max_connections = parse_unsigned(key, value)?,
        "MaxConnectionsPerSource" => c.max_connections_per_source = parse_unsigned(key, value)?,
        "KeepAlive" => c.keep_alive = parse_bool(key, value)?,
        "KeepAliveTimeSec" => {
            let usec = parse_sec(key, value)?;
            // socket_apply_socket_options(): only applied if
            // timestamp_is_set(), i.e. neither 0 nor infinity.
            c.keep_alive_time_sec = if usec == 0 || usec == USEC_INFINITY {
                None
            } else {
                Some(usec / USEC_PER_SEC)
            };
        }
        "NoDelay" => c.no_delay = parse_bool(key, value)?,
        "Priority" => {
            let v = parse_int(key, value)?;
            c.priority = (v >= 0).then_some(v);
        }
        "ReceiveBuffer" => c.receive_buffer = nonzero(parse_iec_size(key, value)?),
        "SendBuffer" => c.send_buffer = nonzero(parse_iec_size(key, value)?),
        "PipeSize" => c.pipe_size = nonzero(parse_iec_size(key, value)?),
        "IPTOS" => c.ip_tos = Some(parse_ip_tos(key, value)?),
        "IPTTL" => c.ip_ttl = u32::try_from(parse_int(key, value)?).ok(),
        "Mark" => c.mark = u32::try_from(parse_int(key, value)?).ok(),
        "FreeBind" => c.free_bind = parse_bool(key, value)?,
        "Transparent" => c.transparent = parse_bool(key, value)?,
        "Broadcast" => c.broadcast = parse_bool(key, value)?,
        "PassCredentials" => c.pass_credentials = parse_bool(key, value)?,
        "PassSecurity" => c.pass_security = parse_bool(key, value)?,
        "ReusePort" => c.reuse_port = parse_bool(key, value)?,
        "RemoveOnStop" => c.remove_on_stop = parse_bool(key, value)?,
        "Symlinks" => parse_symlinks(c, key, value)?,
        "FileDescriptorName" => {
            // config_parse_fdname(): empty resets to the default (unit name).
            if value.is_empty() {
                c.file_descriptor_name = None;
            } else if fdname_is_valid(value) {
                c.file_descriptor_name = Some(value.to_string());
            } else {
                return Err(error(
                    key,
                    value,
                    ErrorKind::InvalidValue("invalid file descriptor name"),
                ));
            }
        }
        "Service" => c.service = Some(parse_service(key, value)?),
        "TriggerLimitIntervalSec" => {
            c.trigger_limit_interval_usec = unset_if_infinity(parse_sec(key, value)?)
        }
        "TriggerLimitBurst" => c.trigger_limit_burst = unset_if_max(parse_unsigned(key, value)?),
        "PollLimitIntervalSec" => {
            c.poll_limit_interval_usec = unset_if_infinity(parse_sec(key, value)?)
        }
        "PollLimitBurst" => c.poll_limit_burst = unset_if_max(parse_unsigned(key, value)?),

        // Accepted and validated (so typos still warn), but not stored: the
        // runtime does not implement them yet. Their effects in systemd:
        // ExecStart*/Stop* timeout, TCP_KEEPINTVL/TCP_KEEPCNT,
        // TCP_DEFER_ACCEPT, IP_PKTINFO, O_RDWR for ListenSpecial=, flushing
        // before start, SELinux labels, SO_TIMESTAMP*, mq_attr, congestion
        // control and SMACK labels.
        "TimeoutSec" | "KeepAliveIntervalSec" | "DeferAcceptSec" => {
            parse_sec(key, value)?;
        }
        "KeepAliveProbes" => {
            parse_unsigned(key, value)?;
        }
        "PassPacketInfo" | "Writable" | "FlushPending" | "SELinuxContextFromNet" => {
            parse_bool(key, value)?;
        }
        "Timestamping" => parse_timestamping(key, value)?,
        "MessageQueueMaxMessages" | "MessageQueueMessageSize" => {
            // config_parse_long()
            safe_atoli(value).map_err(|e| e_num(key, value, e))?;
        }
        // config_parse_string() / config_parse_unit_string_printf(): any
        // string, empty resets.
        "TCPCongestion" | "SmackLabel" | "SmackLabelIPIn" | "SmackLabelIPOut" => {}

        // Exec*= and everything else (exec, kill and cgroup context keys)
        // belong to the caller.
        _ => return Ok(false),
    }
    Ok(true)
}

/// Whether `apply()` would handle `key` (used for the NUL check only).
fn key_is_known(key: &str) -> bool {
    let mut probe = SocketConfig::default();
    // "" is a valid reset/choice for some keys and an error for others;
    // either way a known key never yields Ok(false).
    !matches!(apply(&mut probe, key, ""), Ok(false))
}

fn nonzero(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

/// `socket_add_extras()` treats `USEC_INFINITY` as "unset, pick default".
fn unset_if_infinity(v: u64) -> Option<u64> {
    (v != USEC_INFINITY).then_some(v)
}

/// `socket_add_extras()` treats `UINT_MAX` as "unset, pick default".
fn unset_if_max(v: u32) -> Option<u32> {
    (v != u32::MAX).then_some(v)
}

/// `config_parse_socket_listen()`.
fn listen(c: &mut SocketConfig, kind: ListenKind, value: &str) -> Result<()> {
    // "An empty assignment removes all ports" — of every kind, since
    // socket_free_ports() clears the whole list.
    if value.is_empty() {
        c.listen.clear();
        return Ok(());
    }
    let address = parse_address(kind.clone(), value)?;
    c.listen.push(Listen { kind, address });
    Ok(())
}

/// Parses the value of a `Listen*=` key of the given kind.
pub fn parse_address(kind: ListenKind, value: &str) -> Result<Address> {
    let key = kind.key();
    if value.contains('\0') {
        return Err(error(
            key,
            value,
            ErrorKind::InvalidAddress("contains a NUL byte"),
        ));
    }
    match kind {
        ListenKind::Fifo | ListenKind::Special => {
            let mut p = path_simplify_and_check(key, value)?;
            // load-fragment.c only rewrites legacy /var/run/ for FIFOs here.
            if kind == ListenKind::Fifo {
                if let Some(patched) = patch_var_run(&p) {
                    p = patched;
                }
            }
            Ok(Address::Path(PathBuf::from(p)))
        }
        ListenKind::Netlink => parse_netlink(key, value),
        ListenKind::Stream | ListenKind::Datagram | ListenKind::SequentialPacket => {
            let patched;
            let mut v = value;
            if v.starts_with('/') {
                if let Some(p) = patch_var_run(v) {
                    patched = p;
                    v = &patched;
                }
            }
            let a = socket_address_parse(key, v)?;
            // "Address family not supported": SOCK_SEQPACKET only on AF_UNIX.
            if kind == ListenKind::SequentialPacket
                && !matches!(a, Address::Unix(_) | Address::Abstract(_))
            {
                return Err(error(
                    key,
                    value,
                    ErrorKind::InvalidAddress(
                        "sequential packet sockets require an AF_UNIX address",
                    ),
                ));
            }
            Ok(a)
        }
    }
}

/// `socket_address_parse()` from `src/shared/socket-netlink.c`.
fn socket_address_parse(key: &str, s: &str) -> Result<Address> {
    // socket_address_parse_unix(): '/' and '@' select AF_UNIX.
    if s.starts_with('/') || s.starts_with('@') {
        return sockaddr_un_set_path(key, s);
    }
    // socket_address_parse_vsock(): "vsock:CID:PORT". Valid in systemd, but
    // `Address` has no AF_VSOCK variant, so report it instead of dropping it.
    if s.starts_with("vsock:") {
        return Err(error(
            key,
            s,
            ErrorKind::Unsupported("AF_VSOCK addresses are not supported by cairn"),
        ));
    }

    match parse_ip_port(s) {
        // "Valid port syntax, but the numerical value is wrong for a port."
        Err(NumErr::Range) => {
            return Err(error(
                key,
                s,
                ErrorKind::InvalidAddress("port out of range"),
            ))
        }
        // "Just a port": [::]:port (we assume IPv6 support, as systemd does
        // on any kernel built with it).
        Ok(port) => {
            return Ok(Address::Inet {
                ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                port,
                interface: None,
            })
        }
        Err(NumErr::Invalid) => {}
    }

    in_addr_port_ifindex_from_string(key, s)
}

/// `in_addr_port_ifindex_name_from_string_auto()` with a port and ifindex
/// but no server name, followed by the "No port, no go" check.
fn in_addr_port_ifindex_from_string(key: &str, orig: &str) -> Result<Address> {
    let bad = |reason| Err(error(key, orig, ErrorKind::InvalidAddress(reason)));

    if orig.contains('#') {
        return bad("server names are not allowed");
    }

    // strchr(s, '%'): everything after the first '%' is the interface.
    let (s, ifname) = match orig.split_once('%') {
        Some((addr, ifname)) => {
            if ifname.is_empty() || !ifname_valid_full(ifname, true, true) {
                return bad("invalid interface name");
            }
            (addr, Some(ifname))
        }
        None => (orig, None),
    };

    // strrchr(s, ':')
    let (ip, port): (IpAddr, u16) = match s.rsplit_once(':') {
        Some((head, port_str)) => {
            if let Some(inner) = head.strip_prefix('[') {
                // "[addr]:port": the character before the last ':' must be ']'.
                let Some(ip_str) = inner.strip_suffix(']') else {
                    return bad("missing ']' before the port");
                };
                let port = match parse_ip_port(port_str) {
                    Ok(p) => p,
                    Err(NumErr::Range) => return bad("port out of range"),
                    Err(NumErr::Invalid) => return bad("invalid port"),
                };
                match ip_str.parse::<Ipv6Addr>() {
                    Ok(a) => (IpAddr::V6(a), port),
                    Err(_) => return bad("invalid IPv6 address"),
                }
            } else if let Ok(a) = s.parse::<Ipv6Addr>() {
                // "First try to parse the string as IPv6 address without
                // port number" — which then fails the port check below.
                (IpAddr::V6(a), 0)
            } else {
                let Ok(a) = head.parse::<Ipv4Addr>() else {
                    return bad("invalid IPv4 address");
                };
                match parse_ip_port(port_str) {
                    Ok(p) => (IpAddr::V4(a), p),
                    Err(NumErr::Range) => return bad("port out of range"),
                    Err(NumErr::Invalid) => return bad("invalid port"),
                }
            }
        }
        None => match s.parse::<Ipv4Addr>() {
            Ok(a) => (IpAddr::V4(a), 0),
            Err(_) => return bad("not a port, path or IP address"),
        },
    };

    if port == 0 {
        // socket_address_parse(): "No port, no go." This is also why IPv6
        // addresses must be written in brackets.
        return bad("no port given (IPv6 addresses need brackets: [addr]:port)");
    }

    Ok(Address::Inet {
        ip,
        port,
        // The ifindex only lands in sin6_scope_id; for AF_INET systemd
        // resolves and then discards it.
        interface: match ip {
            IpAddr::V6(_) => ifname.map(str::to_string),
            IpAddr::V4(_) => None,
        },
    })
}

/// `sockaddr_un_set_path()`: at least 2 bytes, and it must fit into
/// `sun_path` including the trailing NUL.
fn sockaddr_un_set_path(key: &str, s: &str) -> Result<Address> {
    if s.len() < 2 {
        return Err(error(
            key,
            s,
            ErrorKind::InvalidAddress("AF_UNIX path too short"),
        ));
    }
    if s.len() >= UNIX_PATH_MAX {
        return Err(error(
            key,
            s,
            ErrorKind::InvalidAddress("AF_UNIX path too long (max 107 bytes)"),
        ));
    }
    if let Some(name) = s.strip_prefix('@') {
        Ok(Address::Abstract(name.to_string()))
    } else {
        Ok(Address::Unix(PathBuf::from(s)))
    }
}

/// `patch_var_run()`: rewrites a path below the legacy `/var/run/` to
/// `/run/` (systemd logs a notice; the caller may compare to detect it).
fn patch_var_run(path: &str) -> Option<String> {
    let rest = path_startswith(path, "/var/run/")?;
    Some(format!("/run/{rest}"))
}

/// `path_startswith()`: component-wise prefix match, tolerant of repeated
/// slashes; returns the remainder without leading slashes.
fn path_startswith<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if path.starts_with('/') != prefix.starts_with('/') {
        return None;
    }
    let mut path = path;
    let mut prefix = prefix;
    loop {
        prefix = prefix.trim_start_matches('/');
        path = path.trim_start_matches('/');
        if prefix.is_empty() {
            return Some(path);
        }
        let (pc, prest) = prefix.split_once('/').unwrap_or((prefix, ""));
        let (c, rest) = path.split_once('/').unwrap_or((path, ""));
        if pc != c {
            return None;
        }
        prefix = prest;
        path = rest;
    }
}

/// `socket_address_parse_netlink()`: "FAMILY [GROUP]".
fn parse_netlink(key: &str, value: &str) -> Result<Address> {
    let bad = |reason| Err(error(key, value, ErrorKind::InvalidAddress(reason)));
    // extract_first_word(&s, &word, NULL, 0): split at whitespace, quotes
    // are kept literally (no EXTRACT_UNQUOTE).
    let trimmed = value.trim_start_matches(is_ws_char);
    let (word, rest) = match trimmed.find(is_ws_char) {
        Some(i) => (
            trimmed.get(..i).unwrap_or(""),
            trimmed
                .get(i..)
                .unwrap_or("")
                .trim_start_matches(is_ws_char),
        ),
        None => (trimmed, ""),
    };
    if word.is_empty() {
        return bad("missing netlink family");
    }
    let Some(family) = netlink_family_from_string(word) else {
        return bad("unknown netlink family");
    };
    let group = if rest.is_empty() {
        0
    } else {
        match safe_atou(rest) {
            Ok(g) => g,
            Err(_) => return bad("invalid netlink group"),
        }
    };
    Ok(Address::Netlink { family, group })
}

/// `netlink_family_table` (`src/basic/socket-util.c`).
const NETLINK_FAMILIES: &[(u32, &str)] = &[
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

/// `netlink_family_from_string()`, a string table lookup WITH_FALLBACK to a
/// number in `0..=INT_MAX`. Numbers are mapped back to the table name so that
/// `"15"` and `"kobject-uevent"` compare equal, as they do in systemd.
fn netlink_family_from_string(s: &str) -> Option<String> {
    if let Some((_, name)) = NETLINK_FAMILIES.iter().find(|(_, n)| *n == s) {
        return Some((*name).to_string());
    }
    let n = safe_atou(s).ok()?;
    if n > i32::MAX as u32 {
        return None;
    }
    match NETLINK_FAMILIES.iter().find(|(v, _)| *v == n) {
        Some((_, name)) => Some((*name).to_string()),
        None => Some(n.to_string()),
    }
}

/// `path_simplify_and_warn(path, PATH_CHECK_ABSOLUTE)`.
fn path_simplify_and_check(key: &str, value: &str) -> Result<String> {
    if !value.starts_with('/') {
        return Err(error(
            key,
            value,
            ErrorKind::InvalidPath("path is not absolute"),
        ));
    }
    let simplified = name::path_simplify(value);
    if !name::path_is_valid(&simplified) {
        return Err(error(
            key,
            value,
            ErrorKind::InvalidPath("path has invalid length"),
        ));
    }
    if simplified.split('/').any(|c| c == "..") {
        return Err(error(
            key,
            value,
            ErrorKind::InvalidPath("path is not normalized"),
        ));
    }
    Ok(simplified)
}

/// `config_parse_unit_path_strv_printf()`: whitespace-separated, quotable
/// list of absolute paths; empty resets. Like systemd, words preceding a bad
/// one are kept.
fn parse_symlinks(c: &mut SocketConfig, key: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        c.symlinks.clear();
        return Ok(());
    }
    let words = values::split_words_with(value, values::ExtractFlags::UNQUOTE)
        .map_err(|_| error(key, value, ErrorKind::InvalidValue("invalid syntax")))?;
    for w in words {
        let p = path_simplify_and_check(key, &w)?;
        c.symlinks.push(PathBuf::from(p));
    }
    Ok(())
}

/// systemd's `WHITESPACE`: " \t\n\r".
fn is_ws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    values::parse_bool(value).ok_or_else(|| error(key, value, ErrorKind::InvalidBoolean))
}

/// `config_parse_socket_bind()`: the table, else a boolean where
/// yes = ipv6-only and no = both.
fn parse_bind_ipv6_only(key: &str, value: &str) -> Result<BindIpv6Only> {
    match value {
        "default" => Ok(BindIpv6Only::Default),
        "both" => Ok(BindIpv6Only::Both),
        "ipv6-only" => Ok(BindIpv6Only::Ipv6Only),
        _ => match values::parse_bool(value) {
            Some(true) => Ok(BindIpv6Only::Ipv6Only),
            Some(false) => Ok(BindIpv6Only::Both),
            None => Err(error(
                key,
                value,
                ErrorKind::InvalidValue("expected default, both, ipv6-only or a boolean"),
            )),
        },
    }
}

/// `socket_timestamping_from_string_harder()`; validated only.
fn parse_timestamping(key: &str, value: &str) -> Result<()> {
    let ok = matches!(
        value,
        "off" | "us" | "ns" | "nsec" | "usec" | "\u{b5}s" | "\u{3bc}s"
    ) || values::parse_bool(value).is_some();
    if ok {
        Ok(())
    } else {
        Err(error(
            key,
            value,
            ErrorKind::InvalidValue("expected off, us, ns or a boolean"),
        ))
    }
}

/// `config_parse_unsigned()` → `safe_atou()`.
fn parse_unsigned(key: &str, value: &str) -> Result<u32> {
    safe_atou(value).map_err(|e| e_num(key, value, e))
}

/// `config_parse_int()` → `safe_atoi()`.
fn parse_int(key: &str, value: &str) -> Result<i32> {
    safe_atoi(value).map_err(|e| e_num(key, value, e))
}

/// `parse_mode()`: octal, no sign, at most 07777.
fn parse_mode(key: &str, value: &str) -> Result<u32> {
    let bad = || error(key, value, ErrorKind::InvalidMode);
    let m = safe_atou_full(value, 8, true).map_err(|_| bad())?;
    if m > 0o7777 {
        return Err(bad());
    }
    Ok(m)
}

/// `ip_tos_from_string()`: table names, else a number up to 0xff.
fn parse_ip_tos(key: &str, value: &str) -> Result<i32> {
    let v = match value {
        "low-delay" => 0x10,
        "throughput" => 0x08,
        "reliability" => 0x04,
        "low-cost" => 0x02,
        _ => match safe_atou(value) {
            Ok(u) if u <= 0xff => u as i32,
            _ => {
                return Err(error(
                    key,
                    value,
                    ErrorKind::InvalidValue(
                        "expected low-delay, throughput, reliability, low-cost or 0..255",
                    ),
                ))
            }
        },
    };
    Ok(v)
}

/// `config_parse_user_group_compat()` with `valid_user_group_name(...,
/// VALID_USER_ALLOW_NUMERIC|VALID_USER_RELAX)`; empty resets.
fn parse_user_group(key: &str, value: &str) -> Result<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    if valid_user_group_name_relaxed(value) {
        Ok(Some(value.to_string()))
    } else {
        Err(error(
            key,
            value,
            ErrorKind::InvalidValue("invalid user/group name or numeric id"),
        ))
    }
}

fn valid_user_group_name_relaxed(u: &str) -> bool {
    if u.is_empty() {
        return false;
    }
    // parse_uid(): base 10, refusing (uid_t)-1 and 65535.
    if let Ok(uid) = safe_atou_full(u, 10, false) {
        if uid != u32::MAX && uid != 65535 {
            return true;
        }
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(u.starts_with(' ')
        || u.ends_with(' ')
        || u.chars().any(|c| (c as u32) < 0x20 || c as u32 == 0x7f)
        || u.contains(':')
        || u.contains('/')
        || all_digits(u)
        || u.strip_prefix('-').is_some_and(all_digits)
        || u == "."
        || u == "..")
}

/// `fdname_is_valid()`: ASCII 0x20..0x7e except ':', at most 255 bytes.
fn fdname_is_valid(s: &str) -> bool {
    s.len() <= FDNAME_MAX && s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b':')
}

/// `config_parse_socket_service()`: must be a loadable (plain or instance,
/// not template) `.service` unit name.
fn parse_service(key: &str, value: &str) -> Result<String> {
    if !value.ends_with(".service") {
        return Err(error(
            key,
            value,
            ErrorKind::InvalidValue("unit must be of type service"),
        ));
    }
    if name::parse(value).map_or(true, |n| n.is_template()) {
        return Err(error(
            key,
            value,
            ErrorKind::InvalidValue("invalid unit name"),
        ));
    }
    Ok(value.to_string())
}

/// `ifname_valid_full()`. `alternative` allows altnames (< ALTIFNAMSIZ),
/// `numeric` allows a decimal ifindex.
fn ifname_valid_full(p: &str, alternative: bool, numeric: bool) -> bool {
    if p.is_empty() {
        return false;
    }
    // parse_ifindex(): safe_atoi() > 0.
    if matches!(safe_atoi(p), Ok(i) if i > 0) {
        return numeric;
    }
    let max = if alternative { ALTIFNAMSIZ } else { IFNAMSIZ };
    if p.len() >= max {
        return false;
    }
    if p == "." || p == ".." || p == "all" || p == "default" {
        return false;
    }
    // ifname_valid_char(): printable ASCII without ':', '/', '%'.
    if !p
        .bytes()
        .all(|b| b > 32 && b < 127 && !matches!(b, b':' | b'/' | b'%'))
    {
        return false;
    }
    // Fully numeric but not a valid ifindex: refuse.
    !p.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------
// Numbers: emulation of systemd's safe_ato*() on top of C strtoul()/strtol().
// ---------------------------------------------------------------------------

/// `-EINVAL` vs `-ERANGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumErr {
    Invalid,
    Range,
}

/// C `isspace()` in the C locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

struct Strto<'a> {
    negative: bool,
    magnitude: std::result::Result<u64, NumErr>,
    rest: &'a str,
}

/// glibc `strtoull(s, &end, base)` for base 0, 2, 8, 10 or 16: skips
/// whitespace, takes a sign, and for base 0/16 a "0x" prefix (base 0 with a
/// leading '0' means octal). `None` when no digits were converted.
fn c_strtoull(s: &str, base: u32) -> Option<Strto<'_>> {
    let t = s.trim_start_matches(is_c_space);
    let (negative, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let mut base = base;
    let mut digits = t;
    if base == 0 || base == 16 {
        if let Some(r) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            if r.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
                base = 16;
                digits = r;
            }
        }
    }
    if base == 0 {
        base = if t.starts_with('0') { 8 } else { 10 };
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    let mut n = 0usize;
    for ch in digits.chars() {
        let Some(d) = ch.to_digit(base) else { break };
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        n += 1;
    }
    if n == 0 {
        return None;
    }
    Some(Strto {
        negative,
        magnitude: if overflow {
            Err(NumErr::Range)
        } else {
            Ok(value)
        },
        // Digits are ASCII, so `n` bytes is a char boundary.
        rest: digits.get(n..).unwrap_or(""),
    })
}

/// `mangle_base()`: Python-style "0b"/"0o" prefixes when no base is given.
fn mangle_base(s: &str, base: u32) -> (&str, u32) {
    if base != 0 {
        return (s, base);
    }
    if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        return (r, 2);
    }
    if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        return (r, 8);
    }
    (s, 0)
}

/// `safe_atou_full()`. Note that with base 0 (the default of `safe_atou()`)
/// this accepts "0x50", "0b1", "0o7" and — via strtoul() — octal "010".
fn safe_atou_full(s: &str, base: u32, refuse_sign: bool) -> std::result::Result<u32, NumErr> {
    let t = s.trim_start_matches(is_ws_char);
    if refuse_sign && (t.starts_with('+') || t.starts_with('-')) {
        return Err(NumErr::Invalid);
    }
    let (t, base) = mangle_base(t, base);
    let r = c_strtoull(t, base).ok_or(NumErr::Invalid)?;
    let mag = r.magnitude?;
    if !r.rest.is_empty() {
        return Err(NumErr::Invalid);
    }
    if mag != 0 && r.negative {
        return Err(NumErr::Range);
    }
    u32::try_from(mag).map_err(|_| NumErr::Range)
}

fn safe_atou(s: &str) -> std::result::Result<u32, NumErr> {
    safe_atou_full(s, 0, false)
}

/// `safe_atolli()`-style signed parse (base 0 + mangle_base) into i64.
fn safe_atoli(s: &str) -> std::result::Result<i64, NumErr> {
    let t = s.trim_start_matches(is_ws_char);
    let (t, base) = mangle_base(t, 0);
    let r = c_strtoull(t, base).ok_or(NumErr::Invalid)?;
    let mag = r.magnitude?;
    if !r.rest.is_empty() {
        return Err(NumErr::Invalid);
    }
    if r.negative {
        // strtol() range is -2^63 ..= 2^63-1.
        if mag > (i64::MAX as u64) + 1 {
            return Err(NumErr::Range);
        }
        Ok((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).map_err(|_| NumErr::Range)
    }
}

/// `safe_atoi()`.
fn safe_atoi(s: &str) -> std::result::Result<i32, NumErr> {
    i32::try_from(safe_atoli(s)?).map_err(|_| NumErr::Range)
}

/// `parse_ip_port()` in systemd 252: `safe_atou16()` (base 0!), refusing 0.
fn parse_ip_port(s: &str) -> std::result::Result<u16, NumErr> {
    let v = safe_atou(s)?;
    let port = u16::try_from(v).map_err(|_| NumErr::Range)?;
    if port == 0 {
        return Err(NumErr::Invalid);
    }
    Ok(port)
}

// ---------------------------------------------------------------------------
// Sizes and time spans.
// ---------------------------------------------------------------------------

/// `config_parse_iec_size()` → `parse_size(t, 1024, ...)`: "1G", "1.5K",
/// "1G 512M" (suffixes in descending order), case-sensitive.
fn parse_iec_size(key: &str, value: &str) -> Result<u64> {
    values::parse_size(value).ok_or_else(|| error(key, value, ErrorKind::InvalidSize))
}

/// `config_parse_sec()` → `parse_sec()`; returns µs, `u64::MAX` = infinity.
fn parse_sec(key: &str, value: &str) -> Result<u64> {
    values::parse_time_usec(value, USEC_PER_SEC)
        .ok_or_else(|| error(key, value, ErrorKind::InvalidTimespan))
}

// ---------------------------------------------------------------------------
// Load-time verification and Accept=yes instance names.
// ---------------------------------------------------------------------------

/// systemd's `socket_verify()` (minus the PAM/KillMode check, which
/// concerns the exec context the caller owns). `Err(reason)` means the unit
/// gets load state `bad-setting`.
pub fn verify(c: &SocketConfig) -> std::result::Result<(), String> {
    if c.listen.is_empty() {
        return Err("socket has no Listen*= setting; refusing".into());
    }
    if c.accept {
        // have_non_accept_socket(): every port must be stream/seqpacket.
        if let Some(l) = c.listen.iter().find(|l| !l.kind.can_accept()) {
            return Err(format!(
                "Accept=yes is set, but {}= is not a stream or sequential packet socket; refusing",
                l.kind.key()
            ));
        }
        if c.max_connections == 0 {
            return Err("MaxConnections= setting too small for Accept=yes; refusing".into());
        }
        if let Some(s) = &c.service {
            return Err(format!(
                "explicit Service={s} is not supported with Accept=yes; refusing"
            ));
        }
    }
    if !c.symlinks.is_empty() && symlink_target(c).is_none() {
        return Err(
            "Symlinks= is set but there is none or more than one file system node; refusing".into(),
        );
    }
    Ok(())
}

/// `socket_find_symlink_target()`: exactly one FIFO or file-system
/// `AF_UNIX` socket (ListenSpecial= does not count).
fn symlink_target(c: &SocketConfig) -> Option<&PathBuf> {
    let mut found = None;
    for l in &c.listen {
        let f = match (&l.kind, &l.address) {
            (ListenKind::Fifo, Address::Path(p)) => Some(p),
            (
                ListenKind::Stream | ListenKind::Datagram | ListenKind::SequentialPacket,
                Address::Unix(p),
            ) => Some(p),
            _ => None,
        };
        if let Some(f) = f {
            if found.is_some() {
                return None;
            }
            found = Some(f);
        }
    }
    found
}

/// The unit name systemd 252 starts for one accepted connection:
/// `unit_name_build(prefix, instance, ".service")` with the instance from
/// `instance_from_socket()`, which needs no escaping (only digits, '.', ':',
/// '-' and hex letters). The counter is C `unsigned`, so it wraps at 2^32
/// exactly like systemd's `n_accepted`.
///
/// IPv4: `"foo@3-127.0.0.1:80-127.0.0.1:43210.service"`. IPv6:
/// `"foo@3-::1:80-::1:43210.service"` (no brackets; `inet_ntop()` form),
/// except that when both ends are IPv4-mapped they are printed as IPv4.
pub fn accept_instance_name(
    template_prefix: &str,
    counter: u64,
    local: &SocketAddr,
    remote: &SocketAddr,
) -> String {
    let nr = counter as u32;
    let instance = match (local, remote) {
        (SocketAddr::V6(l), SocketAddr::V6(r)) if is_v4_mapped(l.ip()) && is_v4_mapped(r.ip()) => {
            format!(
                "{nr}-{}:{}-{}:{}",
                v4_tail(l.ip()),
                l.port(),
                v4_tail(r.ip()),
                r.port()
            )
        }
        _ => format!(
            "{nr}-{}:{}-{}:{}",
            c_ntop(&local.ip()),
            local.port(),
            c_ntop(&remote.ip()),
            remote.port()
        ),
    };
    format!("{template_prefix}@{instance}.service")
}

/// The `AF_UNIX` variant: `"foo@N-PID-UID.service"`.
pub fn accept_instance_name_unix(
    template_prefix: &str,
    counter: u64,
    peer_pid: u32,
    peer_uid: u32,
) -> String {
    let nr = counter as u32;
    format!("{template_prefix}@{nr}-{peer_pid}-{peer_uid}.service")
}

/// The `AF_UNIX` variant when `SO_PEERCRED` yields `ENODATA` (peer in
/// another pid/user namespace): `"foo@N-unknown.service"`.
pub fn accept_instance_name_unix_unknown(template_prefix: &str, counter: u64) -> String {
    let nr = counter as u32;
    format!("{template_prefix}@{nr}-unknown.service")
}

/// instance_from_socket() compares the first 12 bytes with ::ffff:0:0/96.
fn is_v4_mapped(a: &Ipv6Addr) -> bool {
    let s = a.segments();
    s.get(..6) == Some(&[0, 0, 0, 0, 0, 0xffff][..])
}

fn v4_tail(a: &Ipv6Addr) -> Ipv4Addr {
    let [.., b0, b1, b2, b3] = a.octets();
    Ipv4Addr::new(b0, b1, b2, b3)
}

fn c_ntop(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => inet_ntop6(v6),
    }
}

/// glibc `inet_ntop(AF_INET6)`: lowercase hex, the longest (first on ties)
/// run of >= 2 zero words becomes "::", and addresses of the form
/// `::a.b.c.d` / `::ffff:a.b.c.d` print their IPv4 tail dotted. Rust's
/// `Display` differs for `::a.b.c.d`, hence our own formatter.
fn inet_ntop6(a: &Ipv6Addr) -> String {
    let w = a.segments();
    let (mut best_base, mut best_len) = (None::<usize>, 0usize);
    let (mut cur_base, mut cur_len) = (None::<usize>, 0usize);
    for (i, word) in w.iter().enumerate() {
        if *word == 0 {
            if cur_base.is_none() {
                cur_base = Some(i);
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if let Some(cb) = cur_base.take() {
            if best_base.is_none() || cur_len > best_len {
                best_base = Some(cb);
                best_len = cur_len;
            }
        }
    }
    if let Some(cb) = cur_base {
        if best_base.is_none() || cur_len > best_len {
            best_base = Some(cb);
            best_len = cur_len;
        }
    }
    if best_len < 2 {
        best_base = None;
    }

    let mut out = String::new();
    for (i, word) in w.iter().enumerate() {
        if let Some(bb) = best_base {
            if i >= bb && i < bb + best_len {
                if i == bb {
                    out.push(':');
                }
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6
            && best_base == Some(0)
            && (best_len == 6 || (best_len == 5 && w.get(5) == Some(&0xffff)))
        {
            out.push_str(&v4_tail(a).to_string());
            return out;
        }
        out.push_str(&format!("{word:x}"));
    }
    if let Some(bb) = best_base {
        if bb + best_len == 8 {
            out.push(':');
        }
    }
    out
}

#[cfg(test)]
mod tests;

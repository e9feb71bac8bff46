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

use std::net::IpAddr;
use std::path::PathBuf;

use super::number::{is_ws_char, safe_atoi, safe_atoli, safe_atou, safe_atou_full, NumErr};
use super::{name, values};

mod address;
mod instance;

use address::ifname_valid_full;
pub use address::{netlink_protocol, parse_address};
pub use instance::{
    accept_instance_name, accept_instance_name_unix, accept_instance_name_unix_unknown,
};

/// The listen backlog cairn uses when `Backlog=` is not set.
///
/// systemd 252 defaults to `SOMAXCONN_DELUXE` (`UINT_MAX`) and lets the
/// kernel clamp it to `net.core.somaxconn`; on this kernel that is 4096, so
/// we record the effective value directly (this also avoids passing a value
/// that turns negative when cast to the `int` of `listen(2)`).
pub const DEFAULT_BACKLOG: u32 = 4096;
/// `socket_init()`: `s->max_connections = 64`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 64;

/// `FDNAME_MAX` from `src/basic/fd-util.h`.
const FDNAME_MAX: usize = 255;

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

impl Address {
    /// As `systemctl list-sockets` shows it.
    pub fn describe(&self) -> String {
        match self {
            Address::Unix(p) | Address::Path(p) => p.display().to_string(),
            Address::Abstract(n) => format!("@{n}"),
            Address::Inet {
                ip,
                port,
                interface,
            } => {
                let sa = std::net::SocketAddr::new(*ip, *port);
                match interface {
                    Some(i) => format!("{sa}%{i}"),
                    None => sa.to_string(),
                }
            }
            Address::Netlink { family, group } => format!("{family} {group}"),
        }
    }

    /// The file-system node this address creates, if any (RemoveOnStop=).
    pub fn node(&self) -> Option<&std::path::Path> {
        match self {
            Address::Unix(p) | Address::Path(p) => Some(p),
            Address::Abstract(_) | Address::Inet { .. } | Address::Netlink { .. } => None,
        }
    }
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

#[cfg(test)]
mod tests;

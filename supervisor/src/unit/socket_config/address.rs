//! `Listen*=` values: `socket_address_parse()` (inet with port and interface, AF_UNIX paths
//! and abstract names), netlink families, FIFO and special-file paths, as systemd 252 reads
//! them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::*;
use crate::unit::number::{safe_atoi, safe_atou, NumErr};

/// `sizeof(((struct sockaddr_un*)0)->sun_path)`.
const UNIX_PATH_MAX: usize = 108;
/// Kernel `IFNAMSIZ` and `ALTIFNAMSIZ`, both counting the trailing NUL.
const IFNAMSIZ: usize = 16;
const ALTIFNAMSIZ: usize = 128;

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
/// The protocol number of a family as [`Address::Netlink`] records it (a canonical name or a
/// decimal number).
pub fn netlink_protocol(family: &str) -> Option<i32> {
    NETLINK_FAMILIES
        .iter()
        .find(|(_, n)| *n == family)
        .map(|(v, _)| *v)
        .or_else(|| family.parse().ok())
        .and_then(|v| i32::try_from(v).ok())
}

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

/// `ifname_valid_full()`. `alternative` allows altnames (< ALTIFNAMSIZ),
/// `numeric` allows a decimal ifindex.
pub(super) fn ifname_valid_full(p: &str, alternative: bool, numeric: bool) -> bool {
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

/// `parse_ip_port()` in systemd 252: `safe_atou16()` (base 0!), refusing 0.
pub(super) fn parse_ip_port(s: &str) -> std::result::Result<u16, NumErr> {
    let v = safe_atou(s)?;
    let port = u16::try_from(v).map_err(|_| NumErr::Range)?;
    if port == 0 {
        return Err(NumErr::Invalid);
    }
    Ok(port)
}

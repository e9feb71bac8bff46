//! The name of the service instance started for one connection of an Accept=yes socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
pub(super) fn inet_ntop6(a: &Ipv6Addr) -> String {
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

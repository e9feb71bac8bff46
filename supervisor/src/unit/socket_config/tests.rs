use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::instance::inet_ntop6;
use super::*;

fn cfg(lines: &[(&str, &str)]) -> SocketConfig {
    let mut c = SocketConfig::default();
    for (k, v) in lines {
        assert_eq!(apply(&mut c, k, v), Ok(true), "{k}={v}");
    }
    c
}

fn inet(ip: &str, port: u16, iface: Option<&str>) -> Address {
    Address::Inet {
        ip: ip.parse().unwrap(),
        port,
        interface: iface.map(str::to_string),
    }
}

fn stream(v: &str) -> std::result::Result<Address, SocketConfigError> {
    parse_address(ListenKind::Stream, v)
}

// ----------------------------------------------------------------- defaults

#[test]
fn defaults_match_socket_init() {
    let c = SocketConfig::default();
    assert!(c.listen.is_empty());
    assert!(!c.accept);
    assert_eq!(c.service, None);
    assert_eq!(c.backlog, 4096);
    assert_eq!(c.socket_mode, 0o666);
    assert_eq!(c.directory_mode, 0o755);
    assert_eq!(c.socket_user, None);
    assert_eq!(c.socket_group, None);
    assert_eq!(c.bind_ipv6_only, BindIpv6Only::Default);
    assert_eq!(c.bind_to_device, None);
    assert!(!c.reuse_port && !c.free_bind && !c.transparent && !c.broadcast);
    assert!(!c.pass_credentials && !c.pass_security);
    assert!(!c.keep_alive);
    assert_eq!(c.keep_alive_time_sec, None);
    assert!(!c.no_delay);
    assert_eq!(c.priority, None);
    assert_eq!(c.receive_buffer, None);
    assert_eq!(c.send_buffer, None);
    assert_eq!(c.ip_tos, None);
    assert_eq!(c.ip_ttl, None);
    assert_eq!(c.mark, None);
    assert_eq!(c.pipe_size, None);
    assert!(!c.remove_on_stop);
    assert!(c.symlinks.is_empty());
    assert_eq!(c.file_descriptor_name, None);
    assert_eq!(c.max_connections, 64);
    assert_eq!(c.max_connections_per_source, 0);
    assert_eq!(c.trigger_limit_interval_usec, None);
    assert_eq!(c.trigger_limit_burst, None);
    assert_eq!(c.poll_limit_interval_usec, None);
    assert_eq!(c.poll_limit_burst, None);
}

#[test]
fn effective_limits_depend_on_accept() {
    let mut c = SocketConfig::default();
    assert_eq!(c.trigger_limit(), (2_000_000, 20));
    assert_eq!(c.poll_limit(), (2_000_000, 15));
    c.accept = true;
    assert_eq!(c.trigger_limit(), (2_000_000, 200));
    assert_eq!(c.poll_limit(), (2_000_000, 150));
    let c = cfg(&[
        ("TriggerLimitIntervalSec", "5s"),
        ("TriggerLimitBurst", "7"),
        ("PollLimitIntervalSec", "1.5s"),
        ("PollLimitBurst", "3"),
    ]);
    assert_eq!(c.trigger_limit(), (5_000_000, 7));
    assert_eq!(c.poll_limit(), (1_500_000, 3));
    // infinity / UINT_MAX mean "pick the default" in socket_add_extras().
    let c = cfg(&[
        ("TriggerLimitIntervalSec", "infinity"),
        ("TriggerLimitBurst", "4294967295"),
    ]);
    assert_eq!(c.trigger_limit(), (2_000_000, 20));
}

// ---------------------------------------------------------------- addresses

#[test]
fn inet_addresses_good() {
    let cases: &[(&str, Address)] = &[
        ("80", inet("::", 80, None)),
        ("[::]:80", inet("::", 80, None)),
        ("[::1]:80", inet("::1", 80, None)),
        ("0.0.0.0:80", inet("0.0.0.0", 80, None)),
        ("127.0.0.1:8080", inet("127.0.0.1", 8080, None)),
        ("65535", inet("::", 65535, None)),
        ("1", inet("::", 1, None)),
        ("[fe80::1]:80%eth0", inet("fe80::1", 80, Some("eth0"))),
        ("[fe80::1]:80%2", inet("fe80::1", 80, Some("2"))),
        ("[::ffff:1.2.3.4]:443", inet("::ffff:1.2.3.4", 443, None)),
        // systemd drops the ifindex for AF_INET.
        ("127.0.0.1:80%lo", inet("127.0.0.1", 80, None)),
        // safe_atou16() in 252 uses base 0 + mangle_base.
        ("0x50", inet("::", 80, None)),
        ("010", inet("::", 8, None)),
        ("0b101", inet("::", 5, None)),
        ("0o17", inet("::", 15, None)),
        ("+80", inet("::", 80, None)),
        ("1.2.3.4:0x1F90", inet("1.2.3.4", 8080, None)),
    ];
    for (v, want) in cases {
        assert_eq!(stream(v).as_ref(), Ok(want), "{v}");
    }
    // "80" and "[::]:80" are the same sockaddr in systemd.
    assert_eq!(stream("80"), stream("[::]:80"));
}

#[test]
fn inet_addresses_bad() {
    let bad = [
        "0",
        "65536",
        "99999999999999999999999",
        "-1",
        "-80",
        "127.0.0.1:0",
        "[::1]:0",
        "127.0.0.1:65536",
        "[::1]:65536",
        "127.0.0.1",
        "127.0.0.1:",
        "[::1]",
        "[::1]:",
        "[::1]80",
        "::1",
        "::1:80",
        "fe80::1:80",
        "[fe80::1%eth0]:80",
        "80%lo",
        "[::1]:80%",
        "[::1]:80%a:b",
        "[::1]:80%a/b",
        "[::1]:80%all",
        "[::1]:80%0",
        "[::1]:80#example.com",
        "[1.2.3.4]:80",
        "[]:80",
        "[:80",
        "localhost:80",
        "01.2.3.4:80",
        "1.2.3:80",
        "1.2.3.4.5:80",
        "256.0.0.1:80",
        "80 ",
        " ",
        "x",
        "0x",
        "80x",
        "1.2.3.4:80:90",
    ];
    for v in bad {
        let r = stream(v);
        assert!(
            matches!(
                r,
                Err(SocketConfigError {
                    kind: ErrorKind::InvalidAddress(_),
                    ..
                })
            ),
            "{v:?} -> {r:?}"
        );
    }
}

#[test]
fn unix_addresses() {
    assert_eq!(
        stream("/run/x.sock"),
        Ok(Address::Unix("/run/x.sock".into()))
    );
    assert_eq!(
        stream("@abstract"),
        Ok(Address::Abstract("abstract".into()))
    );
    assert_eq!(stream("@a b"), Ok(Address::Abstract("a b".into())));
    // patch_var_run(): legacy /var/run/ is rewritten.
    assert_eq!(
        stream("/var/run/foo.sock"),
        Ok(Address::Unix("/run/foo.sock".into()))
    );
    assert_eq!(
        stream("//var//run/foo.sock"),
        Ok(Address::Unix("/run/foo.sock".into()))
    );
    assert_eq!(
        stream("/var/runner.sock"),
        Ok(Address::Unix("/var/runner.sock".into()))
    );
    // Relative-looking components are kept verbatim for sockets (systemd
    // does not simplify AF_UNIX socket paths).
    assert_eq!(
        stream("/run//a/./b"),
        Ok(Address::Unix("/run//a/./b".into()))
    );
    // Length limits of sockaddr_un_set_path().
    let ok = format!("/{}", "a".repeat(106));
    assert_eq!(ok.len(), 107);
    assert_eq!(stream(&ok), Ok(Address::Unix(ok.clone().into())));
    let long = format!("/{}", "a".repeat(107));
    assert!(matches!(
        stream(&long),
        Err(SocketConfigError {
            kind: ErrorKind::InvalidAddress(_),
            ..
        })
    ));
    let long_abs = format!("@{}", "a".repeat(107));
    assert!(stream(&long_abs).is_err());
    for v in ["/", "@", "/run/a\0b"] {
        assert!(stream(v).is_err(), "{v:?}");
    }
}

#[test]
fn vsock_is_reported_unsupported() {
    for v in ["vsock:2:1234", "vsock::1234", "vsock:x"] {
        assert!(
            matches!(
                stream(v),
                Err(SocketConfigError {
                    kind: ErrorKind::Unsupported(_),
                    ..
                })
            ),
            "{v}"
        );
    }
}

#[test]
fn seqpacket_requires_af_unix() {
    let k = ListenKind::SequentialPacket;
    assert_eq!(
        parse_address(k.clone(), "/run/s"),
        Ok(Address::Unix("/run/s".into()))
    );
    assert_eq!(
        parse_address(k.clone(), "@s"),
        Ok(Address::Abstract("s".into()))
    );
    assert!(parse_address(k.clone(), "80").is_err());
    assert!(parse_address(k, "127.0.0.1:80").is_err());
}

#[test]
fn datagram_addresses() {
    assert_eq!(
        parse_address(ListenKind::Datagram, "127.0.0.1:53"),
        Ok(inet("127.0.0.1", 53, None))
    );
    assert_eq!(
        parse_address(ListenKind::Datagram, "/run/systemd/journal/socket"),
        Ok(Address::Unix("/run/systemd/journal/socket".into()))
    );
}

#[test]
fn fifo_and_special_paths() {
    let f = |v| parse_address(ListenKind::Fifo, v);
    let s = |v| parse_address(ListenKind::Special, v);
    assert_eq!(f("/run/initctl"), Ok(Address::Path("/run/initctl".into())));
    assert_eq!(f("/run//x/./y/"), Ok(Address::Path("/run/x/y".into())));
    assert_eq!(
        f("/var/run/initctl"),
        Ok(Address::Path("/run/initctl".into()))
    );
    assert_eq!(s("/proc/kmsg"), Ok(Address::Path("/proc/kmsg".into())));
    // Only ListenFIFO= gets the /var/run rewrite.
    assert_eq!(
        s("/var/run/thing"),
        Ok(Address::Path("/var/run/thing".into()))
    );
    for v in ["run/x", "", "x", "/a/../b", "@x", "80"] {
        assert!(
            matches!(
                f(v),
                Err(SocketConfigError {
                    kind: ErrorKind::InvalidPath(_),
                    ..
                })
            ),
            "{v:?}"
        );
        assert!(s(v).is_err(), "{v:?}");
    }
    let long_component = format!("/{}", "a".repeat(256));
    assert!(f(&long_component).is_err());
    let ok_component = format!("/{}", "a".repeat(255));
    assert!(f(&ok_component).is_ok());
    let too_long = "/a".repeat(2048);
    assert!(f(&too_long).is_err());
}

#[test]
fn netlink_addresses() {
    let n = |v| parse_address(ListenKind::Netlink, v);
    let nl = |f: &str, g| Address::Netlink {
        family: f.into(),
        group: g,
    };
    assert_eq!(n("kobject-uevent 1"), Ok(nl("kobject-uevent", 1)));
    assert_eq!(n("route"), Ok(nl("route", 0)));
    assert_eq!(n("audit\t  5"), Ok(nl("audit", 5)));
    assert_eq!(n("15 1"), Ok(nl("kobject-uevent", 1)));
    assert_eq!(n("17"), Ok(nl("17", 0)));
    assert_eq!(n("route 0x10"), Ok(nl("route", 16)));
    for v in [
        "bogus",
        "route x",
        "route 1 2",
        "route -1",
        "2147483648",
        " ",
        "Route",
    ] {
        assert!(n(v).is_err(), "{v:?}");
    }
}

#[test]
fn listen_keys_append_in_order_and_empty_resets_all() {
    let mut c = cfg(&[
        ("ListenStream", "80"),
        ("ListenDatagram", "/run/d"),
        ("ListenFIFO", "/run/f"),
        ("ListenSpecial", "/dev/x"),
        ("ListenNetlink", "route 1"),
        ("ListenSequentialPacket", "@sp"),
    ]);
    let kinds: Vec<ListenKind> = c.listen.iter().map(|l| l.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            ListenKind::Stream,
            ListenKind::Datagram,
            ListenKind::Fifo,
            ListenKind::Special,
            ListenKind::Netlink,
            ListenKind::SequentialPacket
        ]
    );
    // Empty ListenStream= clears every kind (socket_free_ports()).
    assert_eq!(apply(&mut c, "ListenStream", ""), Ok(true));
    assert!(c.listen.is_empty());
    assert_eq!(apply(&mut c, "ListenStream", "[::1]:8080"), Ok(true));
    assert_eq!(
        c.listen,
        vec![Listen {
            kind: ListenKind::Stream,
            address: inet("::1", 8080, None)
        }]
    );
    // Any Listen*= key resets, including unsupported ones.
    assert_eq!(apply(&mut c, "ListenMessageQueue", ""), Ok(true));
    assert!(c.listen.is_empty());
    // A bad value is ignored and leaves the list alone.
    apply(&mut c, "ListenStream", "80").unwrap();
    assert!(apply(&mut c, "ListenStream", "99999").is_err());
    assert_eq!(c.listen.len(), 1);
}

// ------------------------------------------------------------- scalar keys

#[test]
fn boolean_keys() {
    type Get = fn(&SocketConfig) -> bool;
    let keys: &[(&str, Get)] = &[
        ("Accept", |c| c.accept),
        ("ReusePort", |c| c.reuse_port),
        ("FreeBind", |c| c.free_bind),
        ("Transparent", |c| c.transparent),
        ("Broadcast", |c| c.broadcast),
        ("PassCredentials", |c| c.pass_credentials),
        ("PassSecurity", |c| c.pass_security),
        ("KeepAlive", |c| c.keep_alive),
        ("NoDelay", |c| c.no_delay),
        ("RemoveOnStop", |c| c.remove_on_stop),
    ];
    for (key, get) in keys {
        for yes in ["1", "yes", "Y", "TRUE", "t", "on"] {
            let c = cfg(&[(key, yes)]);
            assert!(get(&c), "{key}={yes}");
            let c = cfg(&[(key, yes), (key, "off")]);
            assert!(!get(&c), "{key}=off");
        }
        let mut c = cfg(&[(key, "yes")]);
        for bad in ["", "2", "yess", "enable"] {
            assert_eq!(
                apply(&mut c, key, bad),
                Err(SocketConfigError {
                    key: key.to_string(),
                    value: bad.to_string(),
                    kind: ErrorKind::InvalidBoolean,
                })
            );
            assert!(get(&c), "bad value must not change {key}");
        }
    }
}

#[test]
fn unsigned_keys() {
    let c = cfg(&[
        ("Backlog", "128"),
        ("MaxConnections", "10"),
        ("MaxConnectionsPerSource", "3"),
        ("TriggerLimitBurst", "0x10"),
        ("PollLimitBurst", "5"),
    ]);
    assert_eq!(c.backlog, 128);
    assert_eq!(c.max_connections, 10);
    assert_eq!(c.max_connections_per_source, 3);
    assert_eq!(c.trigger_limit_burst, Some(16));
    assert_eq!(c.poll_limit_burst, Some(5));
    let c = cfg(&[("Backlog", "4294967295")]);
    assert_eq!(c.backlog, u32::MAX);
    let mut c = SocketConfig::default();
    for (v, range) in [
        ("", false),
        ("x", false),
        ("1x", false),
        ("1.5", false),
        ("-1", true),
        ("4294967296", true),
    ] {
        let r = apply(&mut c, "Backlog", v);
        match range {
            true => assert!(
                matches!(
                    r,
                    Err(SocketConfigError {
                        kind: ErrorKind::OutOfRange,
                        ..
                    })
                ),
                "{v}"
            ),
            false => assert!(
                matches!(
                    r,
                    Err(SocketConfigError {
                        kind: ErrorKind::InvalidNumber,
                        ..
                    })
                ),
                "{v}: {r:?}"
            ),
        }
    }
    assert_eq!(c.backlog, DEFAULT_BACKLOG);
    // "-0" is zero, which strtoul accepts.
    assert_eq!(cfg(&[("MaxConnections", "-0")]).max_connections, 0);
}

#[test]
fn mode_keys() {
    let c = cfg(&[("SocketMode", "0600"), ("DirectoryMode", "750")]);
    assert_eq!(c.socket_mode, 0o600);
    assert_eq!(c.directory_mode, 0o750);
    assert_eq!(cfg(&[("SocketMode", "7777")]).socket_mode, 0o7777);
    let mut c = SocketConfig::default();
    for v in ["", "+600", "-600", "10000", "8", "0x1ff", "rw", "0o600"] {
        assert!(
            matches!(
                apply(&mut c, "SocketMode", v),
                Err(SocketConfigError {
                    kind: ErrorKind::InvalidMode,
                    ..
                })
            ),
            "{v}"
        );
    }
    assert_eq!(c.socket_mode, 0o666);
}

#[test]
fn size_keys() {
    let c = cfg(&[
        ("ReceiveBuffer", "1K"),
        ("SendBuffer", "1.5M"),
        ("PipeSize", "1G 512M"),
    ]);
    assert_eq!(c.receive_buffer, Some(1024));
    assert_eq!(c.send_buffer, Some(1024 * 1024 * 3 / 2));
    assert_eq!(c.pipe_size, Some((1 << 30) + (512 << 20)));
    assert_eq!(
        cfg(&[("ReceiveBuffer", "8388608")]).receive_buffer,
        Some(8 << 20)
    );
    assert_eq!(cfg(&[("ReceiveBuffer", "10B")]).receive_buffer, Some(10));
    assert_eq!(cfg(&[("ReceiveBuffer", "1 K")]).receive_buffer, Some(1024));
    assert_eq!(
        cfg(&[("ReceiveBuffer", "10.K")]).receive_buffer,
        Some(10240)
    );
    assert_eq!(
        cfg(&[("ReceiveBuffer", "15E")]).receive_buffer,
        Some(15 << 60)
    );
    assert_eq!(cfg(&[("ReceiveBuffer", "0")]).receive_buffer, None);
    let mut c = SocketConfig::default();
    for v in ["", "1k", "1KB", "-1", "1M 1G", "16E", "x", "1K x", "1.5.5K"] {
        assert!(
            matches!(
                apply(&mut c, "ReceiveBuffer", v),
                Err(SocketConfigError {
                    kind: ErrorKind::InvalidSize,
                    ..
                })
            ),
            "{v:?}"
        );
    }
    assert_eq!(c.receive_buffer, None);
}

#[test]
fn time_keys() {
    let t = |v| cfg(&[("KeepAliveTimeSec", v)]).keep_alive_time_sec;
    assert_eq!(t("30"), Some(30));
    assert_eq!(t("2min"), Some(120));
    assert_eq!(t("1h 30min"), Some(5400));
    assert_eq!(t("1h30m"), Some(5400));
    assert_eq!(t("1.5min"), Some(90));
    assert_eq!(t("500ms"), Some(0));
    assert_eq!(t("0"), None);
    assert_eq!(t("infinity"), None);
    let ti = |v| cfg(&[("TriggerLimitIntervalSec", v)]).trigger_limit_interval_usec;
    assert_eq!(ti("1.5s"), Some(1_500_000));
    assert_eq!(ti(".5"), Some(500_000));
    assert_eq!(ti("10us"), Some(10));
    assert_eq!(ti("2 \u{b5}s"), Some(2));
    assert_eq!(ti("1d"), Some(86_400_000_000));
    assert_eq!(ti("1M"), Some(2_629_800_000_000));
    assert_eq!(ti("1w 2d"), Some(9 * 86_400_000_000));
    assert_eq!(ti("12.34s.56"), Some(12_340_000 + 560_000));
    assert_eq!(ti("0"), Some(0));
    let mut c = SocketConfig::default();
    for v in [
        "",
        "x",
        "-1",
        "5x",
        "1.s",
        "3.hoge",
        ".",
        "12.34.56",
        "infinityx",
        "99999999999999999999",
        "99999999y",
        "500000y 500000y",
    ] {
        assert!(
            matches!(
                apply(&mut c, "KeepAliveTimeSec", v),
                Err(SocketConfigError {
                    kind: ErrorKind::InvalidTimespan,
                    ..
                })
            ),
            "{v:?}"
        );
    }
    assert_eq!(c.keep_alive_time_sec, None);
}

#[test]
fn bind_ipv6_only() {
    let b = |v| cfg(&[("BindIPv6Only", v)]).bind_ipv6_only;
    assert_eq!(b("default"), BindIpv6Only::Default);
    assert_eq!(b("both"), BindIpv6Only::Both);
    assert_eq!(b("ipv6-only"), BindIpv6Only::Ipv6Only);
    assert_eq!(b("yes"), BindIpv6Only::Ipv6Only);
    assert_eq!(b("no"), BindIpv6Only::Both);
    let mut c = SocketConfig::default();
    for v in ["", "Both", "ipv6only", "maybe"] {
        assert!(apply(&mut c, "BindIPv6Only", v).is_err(), "{v}");
    }
}

#[test]
fn bind_to_device() {
    assert_eq!(
        cfg(&[("BindToDevice", "eth0")]).bind_to_device,
        Some("eth0".into())
    );
    assert_eq!(
        cfg(&[("BindToDevice", "eth0"), ("BindToDevice", "")]).bind_to_device,
        None
    );
    assert_eq!(
        cfg(&[("BindToDevice", "eth0"), ("BindToDevice", "*")]).bind_to_device,
        None
    );
    assert_eq!(
        cfg(&[("BindToDevice", "enp0s31f6.100")]).bind_to_device,
        Some("enp0s31f6.100".into())
    );
    let mut c = SocketConfig::default();
    for v in [
        "a:b",
        "a/b",
        "a%d",
        "a b",
        "0123456789abcdef",
        "123",
        "all",
        "default",
        ".",
        "..",
        "\u{e9}th0",
    ] {
        assert!(apply(&mut c, "BindToDevice", v).is_err(), "{v}");
    }
    assert_eq!(c.bind_to_device, None);
}

#[test]
fn socket_user_group() {
    let c = cfg(&[("SocketUser", "www-data"), ("SocketGroup", "1000")]);
    assert_eq!(c.socket_user, Some("www-data".into()));
    assert_eq!(c.socket_group, Some("1000".into()));
    assert_eq!(
        cfg(&[("SocketUser", "x"), ("SocketUser", "")]).socket_user,
        None
    );
    // Relaxed names (SSSD style) are allowed.
    assert_eq!(
        cfg(&[("SocketUser", "user@DOMAIN")]).socket_user,
        Some("user@DOMAIN".into())
    );
    let mut c = SocketConfig::default();
    for v in [
        "a:b",
        "a/b",
        " x",
        "x ",
        "65535",
        "4294967295",
        "-1",
        "99999999999",
        ".",
        "a\tb",
    ] {
        assert!(apply(&mut c, "SocketUser", v).is_err(), "{v:?}");
        assert!(apply(&mut c, "SocketGroup", v).is_err(), "{v:?}");
    }
}

#[test]
fn file_descriptor_name() {
    assert_eq!(
        cfg(&[("FileDescriptorName", "web http")]).file_descriptor_name,
        Some("web http".into())
    );
    assert_eq!(
        cfg(&[("FileDescriptorName", "x"), ("FileDescriptorName", "")]).file_descriptor_name,
        None
    );
    let max = "a".repeat(255);
    assert_eq!(
        cfg(&[("FileDescriptorName", &max)]).file_descriptor_name,
        Some(max.clone())
    );
    let mut c = SocketConfig::default();
    let long = "a".repeat(256);
    for v in ["a:b", long.as_str(), "caf\u{e9}", "a\tb", "a\x7fb"] {
        assert!(apply(&mut c, "FileDescriptorName", v).is_err(), "{v:?}");
    }
}

#[test]
fn service_key() {
    assert_eq!(
        cfg(&[("Service", "foo.service")]).service,
        Some("foo.service".into())
    );
    assert_eq!(
        cfg(&[("Service", "foo@bar.service")]).service,
        Some("foo@bar.service".into())
    );
    let mut c = SocketConfig::default();
    let long = format!("{}.service", "a".repeat(248));
    for v in [
        "",
        "foo",
        "foo.socket",
        "foo@.service",
        "@x.service",
        ".service",
        "a b.service",
        "f/o.service",
        long.as_str(),
    ] {
        assert!(apply(&mut c, "Service", v).is_err(), "{v:?}");
    }
    assert_eq!(c.service, None);
}

#[test]
fn int_keys() {
    let c = cfg(&[("Priority", "6"), ("IPTTL", "64"), ("Mark", "0x10")]);
    assert_eq!(c.priority, Some(6));
    assert_eq!(c.ip_ttl, Some(64));
    assert_eq!(c.mark, Some(16));
    // Negative values mean "do not set" in systemd.
    let c = cfg(&[("Priority", "-1"), ("IPTTL", "-1"), ("Mark", "-5")]);
    assert_eq!((c.priority, c.ip_ttl, c.mark), (None, None, None));
    let mut c = SocketConfig::default();
    for v in ["", "x", "2147483648", "-2147483649", "1.0"] {
        assert!(apply(&mut c, "Priority", v).is_err(), "{v}");
        assert!(apply(&mut c, "Mark", v).is_err(), "{v}");
    }
}

#[test]
fn ip_tos() {
    let t = |v| cfg(&[("IPTOS", v)]).ip_tos;
    assert_eq!(t("low-delay"), Some(0x10));
    assert_eq!(t("throughput"), Some(0x08));
    assert_eq!(t("reliability"), Some(0x04));
    assert_eq!(t("low-cost"), Some(0x02));
    assert_eq!(t("184"), Some(184));
    assert_eq!(t("0xb8"), Some(0xb8));
    let mut c = SocketConfig::default();
    for v in ["", "256", "-1", "fast"] {
        assert!(apply(&mut c, "IPTOS", v).is_err(), "{v}");
    }
}

#[test]
fn symlinks() {
    let c = cfg(&[("Symlinks", "/run/a /run/b"), ("Symlinks", "'/run/c d'")]);
    assert_eq!(
        c.symlinks,
        vec![
            PathBuf::from("/run/a"),
            PathBuf::from("/run/b"),
            PathBuf::from("/run/c d")
        ]
    );
    let c = cfg(&[("Symlinks", "/run/a"), ("Symlinks", "")]);
    assert!(c.symlinks.is_empty());
    assert_eq!(
        cfg(&[("Symlinks", "/run//x/")]).symlinks,
        vec![PathBuf::from("/run/x")]
    );
    // Like systemd, words before the bad one are kept.
    let mut c = SocketConfig::default();
    assert!(apply(&mut c, "Symlinks", "/run/a rel /run/b").is_err());
    assert_eq!(c.symlinks, vec![PathBuf::from("/run/a")]);
    assert!(apply(&mut c, "Symlinks", "'/run/unterminated").is_err());
    assert_eq!(c.symlinks.len(), 1);
}

#[test]
fn accepted_but_not_stored_keys() {
    let base = SocketConfig::default();
    for (k, v) in [
        ("TimeoutSec", "30s"),
        ("KeepAliveIntervalSec", "75"),
        ("KeepAliveProbes", "9"),
        ("DeferAcceptSec", "10s"),
        ("PassPacketInfo", "yes"),
        ("Writable", "yes"),
        ("FlushPending", "yes"),
        ("SELinuxContextFromNet", "no"),
        ("Timestamping", "ns"),
        ("Timestamping", "\u{b5}s"),
        ("Timestamping", "off"),
        ("Timestamping", "yes"),
        ("MessageQueueMaxMessages", "10"),
        ("MessageQueueMessageSize", "-1"),
        ("TCPCongestion", "cubic"),
        ("TCPCongestion", ""),
        ("SmackLabel", "x"),
        ("SmackLabelIPIn", "x"),
        ("SmackLabelIPOut", ""),
        ("SocketProtocol", ""),
    ] {
        let mut c = base.clone();
        assert_eq!(apply(&mut c, k, v), Ok(true), "{k}={v}");
        assert_eq!(c, base, "{k} must not be stored");
    }
    let mut c = SocketConfig::default();
    for (k, v) in [
        ("Timestamping", "ms"),
        ("DeferAcceptSec", "soon"),
        ("Writable", "maybe"),
        ("KeepAliveProbes", "-1"),
        ("MessageQueueMaxMessages", "x"),
    ] {
        assert!(apply(&mut c, k, v).is_err(), "{k}={v}");
    }
}

#[test]
fn unsupported_keys_are_reported() {
    let mut c = SocketConfig::default();
    for (k, v) in [
        ("ListenMessageQueue", "/q"),
        ("ListenUSBFunction", "/dev/ffs"),
        ("SocketProtocol", "sctp"),
    ] {
        assert!(
            matches!(
                apply(&mut c, k, v),
                Err(SocketConfigError {
                    kind: ErrorKind::Unsupported(_),
                    ..
                })
            ),
            "{k}"
        );
    }
}

#[test]
fn foreign_keys_return_false() {
    let mut c = SocketConfig::default();
    for k in [
        "ExecStartPre",
        "ExecStartPost",
        "ExecStopPre",
        "ExecStopPost",
        "User",
        "KillMode",
        "Bogus",
        "listenstream",
        "",
    ] {
        assert_eq!(apply(&mut c, k, "x"), Ok(false), "{k}");
        assert_eq!(apply(&mut c, k, "a\0b"), Ok(false), "{k}");
    }
    assert_eq!(c, SocketConfig::default());
}

#[test]
fn nul_bytes_are_rejected_for_known_keys() {
    let mut c = SocketConfig::default();
    for k in [
        "ListenStream",
        "Service",
        "SocketUser",
        "TCPCongestion",
        "Accept",
    ] {
        assert!(
            matches!(
                apply(&mut c, k, "a\0b"),
                Err(SocketConfigError {
                    kind: ErrorKind::InvalidValue(_),
                    ..
                })
            ),
            "{k}"
        );
    }
}

#[test]
fn error_messages_name_key_and_value() {
    let mut c = SocketConfig::default();
    let cases = [
        ("Accept", "maybe"),
        ("Backlog", "x"),
        ("Backlog", "-1"),
        ("ReceiveBuffer", "1q"),
        ("KeepAliveTimeSec", "1q"),
        ("SocketMode", "9"),
        ("ListenStream", "bogus:addr"),
        ("ListenFIFO", "rel"),
        ("Service", "foo"),
        ("ListenStream", "vsock:2:1"),
    ];
    for (k, v) in cases {
        let msg = apply(&mut c, k, v).unwrap_err().to_string();
        assert!(msg.contains(k), "{msg}");
        assert!(msg.contains(v), "{msg}");
        assert!(msg.starts_with(&format!("{k}=")), "{msg}");
    }
}

// ------------------------------------------------------------------ verify

#[test]
fn verify_refusals() {
    assert_eq!(
        verify(&SocketConfig::default()),
        Err("socket has no Listen*= setting; refusing".to_string())
    );
    assert_eq!(verify(&cfg(&[("ListenStream", "80")])), Ok(()));
    assert_eq!(
        verify(&cfg(&[("ListenStream", "80"), ("Accept", "yes")])),
        Ok(())
    );
    assert_eq!(
        verify(&cfg(&[
            ("ListenSequentialPacket", "/run/sp"),
            ("Accept", "yes")
        ])),
        Ok(())
    );
    for (k, v) in [
        ("ListenDatagram", "53"),
        ("ListenFIFO", "/run/f"),
        ("ListenSpecial", "/dev/x"),
        ("ListenNetlink", "route"),
    ] {
        let c = cfg(&[("ListenStream", "80"), (k, v), ("Accept", "yes")]);
        let e = verify(&c).unwrap_err();
        assert!(e.contains(k) && e.contains("refusing"), "{e}");
        // Without Accept= the same mix is fine.
        let c = cfg(&[("ListenStream", "80"), (k, v)]);
        assert_eq!(verify(&c), Ok(()));
    }
    let c = cfg(&[
        ("ListenStream", "80"),
        ("Accept", "yes"),
        ("Service", "foo.service"),
    ]);
    assert!(verify(&c).unwrap_err().contains("Service="));
    assert_eq!(
        verify(&cfg(&[("ListenStream", "80"), ("Service", "foo.service")])),
        Ok(())
    );
    let c = cfg(&[
        ("ListenStream", "80"),
        ("Accept", "yes"),
        ("MaxConnections", "0"),
    ]);
    assert!(verify(&c).unwrap_err().contains("MaxConnections="));
}

#[test]
fn verify_symlinks_need_exactly_one_fs_node() {
    let ok = cfg(&[("ListenStream", "/run/a.sock"), ("Symlinks", "/run/b")]);
    assert_eq!(verify(&ok), Ok(()));
    let ok = cfg(&[
        ("ListenFIFO", "/run/f"),
        ("ListenStream", "80"),
        ("ListenStream", "@abs"),
        ("ListenSpecial", "/dev/x"),
        ("Symlinks", "/run/b"),
    ]);
    assert_eq!(verify(&ok), Ok(()));
    for extra in [
        vec![("ListenStream", "80")],
        vec![("ListenStream", "/run/a"), ("ListenDatagram", "/run/b")],
        vec![("ListenSpecial", "/dev/x")],
    ] {
        let mut c = cfg(&extra);
        apply(&mut c, "Symlinks", "/run/link").unwrap();
        assert!(verify(&c).unwrap_err().contains("Symlinks="), "{extra:?}");
    }
}

// ---------------------------------------------------------- instance names

fn v4(s: &str) -> SocketAddr {
    SocketAddr::V4(s.parse::<SocketAddrV4>().unwrap())
}
fn v6(s: &str) -> SocketAddr {
    SocketAddr::V6(s.parse::<SocketAddrV6>().unwrap())
}

#[test]
fn accept_instance_names_inet() {
    assert_eq!(
        accept_instance_name("foo", 3, &v4("127.0.0.1:80"), &v4("127.0.0.1:43210")),
        "foo@3-127.0.0.1:80-127.0.0.1:43210.service"
    );
    assert_eq!(
        accept_instance_name("sshd", 0, &v4("10.0.0.1:22"), &v4("192.168.1.7:50000")),
        "sshd@0-10.0.0.1:22-192.168.1.7:50000.service"
    );
    // IPv6: inet_ntop() form without brackets.
    assert_eq!(
        accept_instance_name("foo", 1, &v6("[::1]:80"), &v6("[::1]:43210")),
        "foo@1-::1:80-::1:43210.service"
    );
    assert_eq!(
        accept_instance_name(
            "foo",
            7,
            &v6("[2001:db8::1]:443"),
            &v6("[2001:db8:0:0:1:0:0:2]:1234")
        ),
        "foo@7-2001:db8::1:443-2001:db8::1:0:0:2:1234.service"
    );
    // Both ends IPv4-mapped: printed as IPv4 (dual-stack [::]:80 socket).
    assert_eq!(
        accept_instance_name(
            "foo",
            2,
            &v6("[::ffff:127.0.0.1]:80"),
            &v6("[::ffff:10.1.2.3]:5555")
        ),
        "foo@2-127.0.0.1:80-10.1.2.3:5555.service"
    );
    // Only one end mapped: plain inet_ntop() for both.
    assert_eq!(
        accept_instance_name("foo", 2, &v6("[::ffff:127.0.0.1]:80"), &v6("[::1]:5")),
        "foo@2-::ffff:127.0.0.1:80-::1:5.service"
    );
    // The counter is a C unsigned in systemd and wraps.
    assert_eq!(
        accept_instance_name("foo", (1u64 << 32) + 5, &v4("1.2.3.4:1"), &v4("5.6.7.8:2")),
        "foo@5-1.2.3.4:1-5.6.7.8:2.service"
    );
}

#[test]
fn accept_instance_names_unix() {
    assert_eq!(
        accept_instance_name_unix("foo", 4, 1234, 1000),
        "foo@4-1234-1000.service"
    );
    assert_eq!(
        accept_instance_name_unix("systemd-journald-varlink", 0, 1, 0),
        "systemd-journald-varlink@0-1-0.service"
    );
    assert_eq!(
        accept_instance_name_unix_unknown("foo", 9),
        "foo@9-unknown.service"
    );
}

#[test]
fn inet_ntop6_matches_glibc() {
    let cases = [
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
        ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
        ("2001:db8::ff00:42:8329", "2001:db8::ff00:42:8329"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::1.2.3.4", "::1.2.3.4"),
        ("::1:0", "::0.1.0.0"),
        ("fe80::abcd:ef", "fe80::abcd:ef"),
        (
            "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789",
            "abcd:ef01:2345:6789:abcd:ef01:2345:6789",
        ),
    ];
    for (input, want) in cases {
        let a: Ipv6Addr = input.parse().unwrap();
        assert_eq!(inet_ntop6(&a), want, "{input}");
    }
}

// ----------------------------------------------------------- never panics

/// Small deterministic PRNG so the test needs no extra crates.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn garbage_never_panics() {
    const ALPHABET: &[&str] = &[
        "0",
        "1",
        "9",
        "8",
        "0x",
        "0b",
        "0o",
        "[",
        "]",
        ":",
        "::",
        "%",
        "@",
        "/",
        ".",
        "..",
        "#",
        "-",
        "+",
        " ",
        "\t",
        "'",
        "\"",
        "\\",
        "\u{b5}",
        "\u{3bc}",
        "\u{e9}",
        "\u{1f600}",
        "\0",
        "s",
        "min",
        "K",
        "M",
        "G",
        "E",
        "ms",
        "infinity",
        "yes",
        "vsock:",
        "route",
        "ffff",
        "127.0.0.1",
        "65535",
        "65536",
        "99999999999999999999",
        "eth0",
        ".service",
        "a",
    ];
    let keys = [
        "ListenStream",
        "ListenDatagram",
        "ListenSequentialPacket",
        "ListenFIFO",
        "ListenSpecial",
        "ListenNetlink",
        "ListenMessageQueue",
        "ListenUSBFunction",
        "SocketProtocol",
        "BindIPv6Only",
        "Backlog",
        "BindToDevice",
        "SocketUser",
        "SocketGroup",
        "SocketMode",
        "DirectoryMode",
        "Accept",
        "MaxConnections",
        "MaxConnectionsPerSource",
        "KeepAlive",
        "KeepAliveTimeSec",
        "KeepAliveIntervalSec",
        "KeepAliveProbes",
        "NoDelay",
        "Priority",
        "ReceiveBuffer",
        "SendBuffer",
        "PipeSize",
        "IPTOS",
        "IPTTL",
        "Mark",
        "Symlinks",
        "FileDescriptorName",
        "Service",
        "TriggerLimitIntervalSec",
        "TriggerLimitBurst",
        "PollLimitIntervalSec",
        "PollLimitBurst",
        "Timestamping",
        "MessageQueueMaxMessages",
        "DeferAcceptSec",
        "TimeoutSec",
    ];
    let kinds = [
        ListenKind::Stream,
        ListenKind::Datagram,
        ListenKind::SequentialPacket,
        ListenKind::Fifo,
        ListenKind::Special,
        ListenKind::Netlink,
    ];
    let mut rng = Lcg(0x5eed);
    let mut c = SocketConfig::default();
    for _ in 0..20_000 {
        let n = (rng.next() % 8) as usize;
        let mut v = String::new();
        for _ in 0..n {
            v.push_str(ALPHABET[(rng.next() as usize) % ALPHABET.len()]);
        }
        let key = keys[(rng.next() as usize) % keys.len()];
        let before = c.clone();
        match apply(&mut c, key, &v) {
            Ok(handled) => assert!(handled, "{key}"),
            Err(e) => {
                assert!(!e.to_string().is_empty());
                if key != "Symlinks" {
                    assert_eq!(c, before, "error must not modify config: {key}={v:?}");
                }
            }
        }
        for k in &kinds {
            let _ = parse_address(k.clone(), &v);
        }
        let _ = verify(&c);
        if c.listen.len() > 64 {
            c = SocketConfig::default();
        }
    }
    // Random bytes (lossily decoded) too.
    for _ in 0..5_000 {
        let n = (rng.next() % 24) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let v = String::from_utf8_lossy(&bytes);
        for key in keys {
            let _ = apply(&mut c, key, &v);
        }
    }
}

#[test]
fn extreme_inputs_never_panic() {
    let huge = "9".repeat(10_000);
    let colons = ":".repeat(10_000);
    let brackets = "[".repeat(5_000) + &"]".repeat(5_000);
    let mut c = SocketConfig::default();
    for v in [huge.as_str(), colons.as_str(), brackets.as_str()] {
        for k in [
            "ListenStream",
            "Backlog",
            "ReceiveBuffer",
            "KeepAliveTimeSec",
            "Symlinks",
        ] {
            assert!(apply(&mut c, k, v).is_err(), "{k}");
        }
    }
    let sock = |l: SocketAddr| accept_instance_name("x", u64::MAX, &l, &l);
    assert_eq!(
        sock(v4("255.255.255.255:65535")),
        "x@4294967295-255.255.255.255:65535-255.255.255.255:65535.service"
    );
    assert!(sock(v6("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")).ends_with(".service"));
}

//! Run as root (chown, SO_MARK, netlink). Tests run on parallel threads;
//! no test mutex is needed because every umask change in the module is
//! already serialised by `UMASK_LOCK`, and no cwd change is made.
use super::*;
use libc::{IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use tempfile::TempDir;

fn get_int(fd: &OwnedFd, level: c_int, name: c_int) -> c_int {
    let mut v: c_int = 0;
    let mut len = libc::socklen_t::try_from(size_of::<c_int>()).unwrap();
    let (raw, ptr) = (fd.as_raw_fd(), (&raw mut v).cast());
    // SAFETY: `v` and `len` are live locals and `len` is the size of `v`.
    let r = unsafe { libc::getsockopt(raw, level, name, ptr, &mut len) };
    assert_eq!(r, 0, "getsockopt({level}, {name}): {}", Errno::last());
    v
}

fn sol(fd: &OwnedFd, name: c_int) -> c_int {
    get_int(fd, SOL_SOCKET, name)
}

/// Test defaults, changed by `f`.
fn with(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::systemd_defaults();
    o.backlog = 16;
    f(&mut o);
    o
}

fn opts() -> Options {
    with(|_| {})
}

fn unix(p: &Path) -> Addr {
    Addr::Unix(p.to_path_buf())
}

fn path(p: &Path) -> Addr {
    Addr::Path(p.to_path_buf())
}

fn inet(s: &str, iface: Option<&str>) -> Addr {
    let (addr, iface) = (s.parse().unwrap(), iface.map(str::to_owned));
    Addr::Inet { addr, iface }
}

fn nl(protocol: i32, group: u32) -> Addr {
    Addr::Netlink { protocol, group }
}

fn fail(kind: Kind, addr: &Addr, o: &Options) -> BindError {
    open(kind, addr, o).unwrap_err()
}

fn in_way(p: &Path, what: &str) -> String {
    format!("{}: {what} is in the way", p.display())
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode()
}

#[test]
fn unix_stream_mode_owner_dirs_and_accept() {
    let tmp = TempDir::new().unwrap();
    let sock = tmp.path().join("a/b/s.sock");
    let o = with(|o| {
        (o.socket_mode, o.directory_mode) = (0o600, 0o750);
        (o.uid, o.gid) = (Some(65534), Some(65534));
    });
    let fd = open(Kind::Stream, &unix(&sock), &o).unwrap();
    assert_eq!(fcntl(&fd, FcntlArg::F_GETFL).unwrap() & libc::O_NONBLOCK, 0);
    assert_ne!(fcntl(&fd, FcntlArg::F_GETFD).unwrap() & libc::FD_CLOEXEC, 0);
    assert_eq!(sol(&fd, libc::SO_ACCEPTCONN), 1);
    assert_eq!(mode(&sock), libc::S_IFSOCK | 0o600);
    let md = fs::metadata(&sock).unwrap();
    assert_eq!((md.uid(), md.gid()), (65534, 65534));
    assert_eq!(mode(&tmp.path().join("a")), libc::S_IFDIR | 0o750);
    assert_eq!(mode(&tmp.path().join("a/b")), libc::S_IFDIR | 0o750);
    let listener = UnixListener::from(fd);
    let mut client = UnixStream::connect(&sock).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    client.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    let conn = OwnedFd::from(conn);
    let shown = sock.display().to_string();
    assert_eq!(conn_addrs(&conn), (shown.clone(), String::new()));
    let (pid, uid, _) = peer_credentials(&conn).unwrap();
    assert_eq!((pid.cast_unsigned(), uid), (std::process::id(), 0));
    // The kernel reports the absolute path we bound to.
    assert_eq!(conn_addrs(&OwnedFd::from(listener)).0, shown);
}

#[test]
fn stale_socket_and_symlink_are_replaced() {
    let tmp = TempDir::new().unwrap();
    let sock = tmp.path().join("s.sock");
    drop(open(Kind::Stream, &unix(&sock), &opts()).unwrap());
    drop(open(Kind::Stream, &unix(&sock), &opts()).unwrap());
    let target = tmp.path().join("target");
    fs::write(&target, b"keep").unwrap();
    fs::remove_file(&sock).unwrap();
    symlink(&target, &sock).unwrap();
    let _fd = open(Kind::Stream, &unix(&sock), &opts()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"keep");
    assert_eq!(mode(&sock) & libc::S_IFMT, libc::S_IFSOCK);
    UnixStream::connect(&sock).unwrap();
}

#[test]
fn regular_file_or_dir_in_the_way() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("s.sock");
    fs::write(&file, b"data").unwrap();
    let err = fail(Kind::Stream, &unix(&file), &opts());
    assert_eq!(err.to_string(), in_way(&file, "a regular file"));
    assert_eq!(err.errno(), Errno::EEXIST);
    assert_eq!(fs::read(&file).unwrap(), b"data");
    let dir = tmp.path().join("d.sock");
    fs::create_dir(&dir).unwrap();
    let err = fail(Kind::Datagram, &unix(&dir), &opts());
    assert_eq!(err.to_string(), in_way(&dir, "a directory"));
    // A regular file as a parent component.
    let err = fail(Kind::Stream, &unix(&file.join("x.sock")), &opts());
    assert_eq!(err.to_string(), in_way(&file, "a regular file"));
}

#[test]
fn intermediate_symlink_is_not_followed() {
    let tmp = TempDir::new().unwrap();
    let real = tmp.path().join("real");
    fs::create_dir(&real).unwrap();
    let link = tmp.path().join("link");
    symlink(&real, &link).unwrap();
    let (sock, fifo) = (link.join("s.sock"), link.join("sub/fifo"));
    for (kind, addr) in [(Kind::Stream, unix(&sock)), (Kind::Fifo, path(&fifo))] {
        let err = fail(kind, &addr, &opts());
        assert!(matches!(err, BindError::Symlink { .. }), "{err}");
        let want = format!(
            "{}: refusing to follow symlink {}",
            describe(&addr),
            link.display()
        );
        assert_eq!(err.to_string(), want);
    }
    // The same for a symlink as a parent of a Symlinks= entry.
    let o = with(|o| o.symlinks = vec![link.join("l")]);
    let err = fail(Kind::Stream, &unix(&tmp.path().join("ok.sock")), &o);
    assert!(matches!(err, BindError::Symlink { .. }), "{err}");
    assert_eq!(fs::read_dir(&real).unwrap().count(), 0);
}

#[test]
fn bad_requests() {
    let long = PathBuf::from(format!("/tmp/{}", "x".repeat(110)));
    let err = fail(Kind::Stream, &unix(&long), &opts());
    assert_eq!(err.errno(), Errno::ENAMETOOLONG);
    assert!(err.to_string().starts_with(&long.display().to_string()));
    for p in ["rel/x.sock", "/tmp/../x.sock", "/"] {
        let err = fail(Kind::Stream, &unix(Path::new(p)), &opts());
        assert_eq!(err.errno(), Errno::EINVAL, "{p}: {err}");
    }
    let err = fail(Kind::Fifo, &unix(Path::new("/tmp/x")), &opts());
    assert_eq!(err.errno(), Errno::EINVAL);
    let err = fail(Kind::Stream, &Addr::Abstract(Vec::new()), &opts());
    assert_eq!(err.errno(), Errno::EINVAL);
}

#[test]
fn longest_path_fits() {
    let tmp = tempfile::Builder::new()
        .prefix("c")
        .tempdir_in("/")
        .unwrap();
    let dir_len = tmp.path().as_os_str().len() + 1;
    let sock = tmp.path().join("n".repeat(SUN_PATH_MAX - dir_len));
    let fd = open(Kind::Stream, &unix(&sock), &opts()).unwrap();
    assert_eq!(conn_addrs(&fd).0, sock.display().to_string());
    UnixStream::connect(&sock).unwrap();
}

#[test]
fn abstract_socket() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let name = format!("cairn-{}-{}", std::process::id(), t.unwrap().as_nanos());
    let fd = open(Kind::Stream, &Addr::Abstract(name.clone().into()), &opts()).unwrap();
    let local = getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap();
    // Exact address length: no trailing NULs in the name.
    let got = local.as_unix_addr().unwrap().as_abstract();
    assert_eq!(got, Some(name.as_bytes()));
    let listener = UnixListener::from(fd);
    let sa = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let _client = UnixStream::connect_addr(&sa).unwrap();
    let (conn, _) = listener.accept().unwrap();
    let want = (format!("@{name}"), String::new());
    assert_eq!(conn_addrs(&OwnedFd::from(conn)), want);
}

#[test]
fn unix_datagram_and_seqpacket() {
    let tmp = TempDir::new().unwrap();
    let sock = tmp.path().join("d.sock");
    let o = with(|o| (o.pass_credentials, o.receive_buffer) = (true, Some(65536)));
    let fd = open(Kind::Datagram, &unix(&sock), &o).unwrap();
    assert_eq!(sol(&fd, libc::SO_TYPE), libc::SOCK_DGRAM);
    assert_eq!(sol(&fd, libc::SO_PASSCRED), 1);
    assert_eq!(sol(&fd, libc::SO_RCVBUF), 131072);
    let server = UnixDatagram::from(fd);
    let client = UnixDatagram::unbound().unwrap();
    client.send_to(b"ping", &sock).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(server.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");

    let sock = tmp.path().join("q.sock");
    let fd = open(Kind::SeqPacket, &unix(&sock), &opts()).unwrap();
    assert_eq!(sol(&fd, libc::SO_TYPE), libc::SOCK_SEQPACKET);
    assert_eq!(sol(&fd, libc::SO_ACCEPTCONN), 1);
}

#[test]
fn inet4_stream_options_and_conn_addrs() {
    let o = with(|o| {
        (o.reuse_port, o.keep_alive, o.no_delay, o.free_bind) = (true, true, true, true);
        (o.keep_alive_time_sec, o.send_buffer) = (Some(77), Some(65536));
        (o.priority, o.mark, o.ip_tos, o.ip_ttl) = (Some(3), Some(7), Some(0x10), Some(42));
        o.bind_to_device = Some("lo".into());
    });
    let addr = inet("127.0.0.1:0", None);
    let (fd, warns) = open_with_warnings(Kind::Stream, &addr, &o).unwrap();
    assert!(warns.is_empty(), "{warns:?}");
    for (level, name, want) in [
        (SOL_SOCKET, libc::SO_REUSEADDR, 1),
        (SOL_SOCKET, libc::SO_REUSEPORT, 1),
        (SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (IPPROTO_TCP, libc::TCP_KEEPIDLE, 77),
        (IPPROTO_TCP, libc::TCP_NODELAY, 1),
        (SOL_SOCKET, libc::SO_PRIORITY, 3),
        (SOL_SOCKET, libc::SO_MARK, 7),
        (IPPROTO_IP, libc::IP_TOS, 0x10),
        (IPPROTO_IP, libc::IP_TTL, 42),
        (IPPROTO_IP, libc::IP_FREEBIND, 1),
        (SOL_SOCKET, libc::SO_SNDBUF, 131072),
        (SOL_SOCKET, libc::SO_ACCEPTCONN, 1),
    ] {
        assert_eq!(get_int(&fd, level, name), want, "option {level}/{name}");
    }
    let listener = TcpListener::from(fd);
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let conn = loop {
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            r => break r.unwrap().0,
        }
    };
    let cport = client.local_addr().unwrap().port();
    let want = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{cport}"));
    assert_eq!(conn_addrs(&OwnedFd::from(conn)), want);
}

#[test]
fn inet_datagram_broadcast_and_warnings() {
    let o = with(|o| (o.broadcast, o.keep_alive_time_sec) = (true, Some(u64::MAX)));
    let addr = inet("127.0.0.1:0", None);
    let (fd, warns) = open_with_warnings(Kind::Datagram, &addr, &o).unwrap();
    assert_eq!(sol(&fd, libc::SO_TYPE), libc::SOCK_DGRAM);
    assert_eq!(sol(&fd, libc::SO_BROADCAST), 1);
    assert!(
        warns.is_empty(),
        "TCP_KEEPIDLE is not tried on UDP: {warns:?}"
    );
    // An out-of-range TCP_KEEPIDLE is only a warning, as in systemd.
    let (_fd, warns) = open_with_warnings(Kind::Stream, &addr, &o).unwrap();
    let msgs: Vec<String> = warns.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].starts_with("127.0.0.1:0: TCP_KEEPIDLE: "),
        "{msgs:?}"
    );
}

#[test]
fn inet6_v6only_scope_and_errors() {
    let v6 = |only| with(|o| (o.bind_ipv6_only, o.ip_ttl) = (only, Some(9)));
    let fd = open(
        Kind::Stream,
        &inet("[::1]:0", None),
        &v6(BindIpv6Only::Ipv6Only),
    )
    .unwrap();
    assert_eq!(get_int(&fd, IPPROTO_IPV6, libc::IPV6_V6ONLY), 1);
    assert_eq!(get_int(&fd, IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS), 9);
    // Binding a specific IPv6 address sets IPV6_V6ONLY anyway; use [::].
    let fd = open(Kind::Stream, &inet("[::]:0", None), &v6(BindIpv6Only::Both)).unwrap();
    assert_eq!(get_int(&fd, IPPROTO_IPV6, libc::IPV6_V6ONLY), 0);

    // A link-local address binds only with a scope id (and freebind, as
    // lo has no fe80:: address); the kernel keeps it in the socket name.
    let lo = nix::net::if_::if_nametoindex("lo").unwrap();
    let o = with(|o| o.free_bind = true);
    let err = fail(Kind::Datagram, &inet("[fe80::1]:0", None), &o);
    assert_eq!(err.errno(), Errno::EINVAL);
    for iface in ["lo".to_string(), lo.to_string()] {
        let fd = open(Kind::Datagram, &inet("[fe80::1]:0", Some(&iface)), &o).unwrap();
        let sa = getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap();
        let sa = SocketAddrV6::from(*sa.as_sockaddr_in6().unwrap());
        assert_eq!(sa.scope_id(), lo);
    }
    let err = fail(Kind::Stream, &inet("[::1]:80", Some("nosuchif0")), &opts());
    let want = "[::1]:80%nosuchif0: no such interface nosuchif0";
    assert_eq!(
        (err.to_string().as_str(), err.errno()),
        (want, Errno::ENODEV)
    );
    let err = fail(Kind::Stream, &inet("127.0.0.1:80", Some("lo")), &opts());
    assert_eq!(err.errno(), Errno::EINVAL);

    // Address in use: the bind error names the address.
    let taken = TcpListener::bind("[::1]:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = fail(Kind::Stream, &inet(&format!("[::1]:{port}"), None), &opts());
    let want = format!("[::1]:{port}: bind: Address already in use (os error 98)");
    assert_eq!(err.to_string(), want);
}

#[test]
fn fifo_mode_pipe_size_and_io() {
    let tmp = TempDir::new().unwrap();
    let fifo = tmp.path().join("sub/fifo");
    let o = with(|o| {
        (o.socket_mode, o.pipe_size, o.uid) = (0o620, Some(131072), Some(65534));
    });
    let fd = open(Kind::Fifo, &path(&fifo), &o).unwrap();
    assert_eq!(mode(&fifo), libc::S_IFIFO | 0o620);
    let md = fs::metadata(&fifo).unwrap();
    assert_eq!((md.uid(), md.gid()), (65534, 0));
    assert_eq!(fcntl(&fd, FcntlArg::F_GETPIPE_SZ).unwrap(), 131072);
    assert_ne!(fcntl(&fd, FcntlArg::F_GETFL).unwrap() & libc::O_NONBLOCK, 0);
    let mut writer = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer.write_all(b"x1").unwrap();
    let mut buf = [0u8; 4];
    let n = fs::File::from(fd).read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"x1");

    // An existing FIFO is reused, with the mode now configured.
    fs::set_permissions(&fifo, fs::Permissions::from_mode(0o644)).unwrap();
    let _fd = open(Kind::Fifo, &path(&fifo), &with(|o| o.socket_mode = 0o600)).unwrap();
    assert_eq!(mode(&fifo), libc::S_IFIFO | 0o600);

    let file = tmp.path().join("file");
    fs::write(&file, b"").unwrap();
    let err = fail(Kind::Fifo, &path(&file), &opts());
    assert_eq!(err.to_string(), in_way(&file, "a regular file"));
}

#[test]
fn special_files() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("f");
    fs::write(&file, b"abc").unwrap();
    let fd = open(Kind::Special, &path(&file), &opts()).unwrap();
    let mut s = String::new();
    fs::File::from(fd).read_to_string(&mut s).unwrap();
    assert_eq!(s, "abc");
    let _null = open(Kind::Special, &path(Path::new("/dev/null")), &opts()).unwrap();
    let err = fail(Kind::Special, &path(tmp.path()), &opts());
    let want = format!(
        "{}: open: Is a directory (os error 21)",
        tmp.path().display()
    );
    assert_eq!(err.to_string(), want);
    let link = tmp.path().join("l");
    symlink(&file, &link).unwrap();
    assert_eq!(
        fail(Kind::Special, &path(&link), &opts()).errno(),
        Errno::ELOOP
    );
    let fifo = tmp.path().join("fifo");
    drop(open(Kind::Fifo, &path(&fifo), &opts()).unwrap());
    let err = fail(Kind::Special, &path(&fifo), &opts());
    let want = format!("{}: not a special file (a FIFO)", fifo.display());
    assert_eq!(err.to_string(), want);
}

#[test]
fn netlink_sockets() {
    let fd = open(Kind::Netlink, &nl(0, 0), &opts()).unwrap();
    assert_eq!(sol(&fd, libc::SO_DOMAIN), libc::AF_NETLINK);
    assert_eq!(sol(&fd, libc::SO_PROTOCOL), 0);
    let sa = getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap();
    assert_eq!(sa.as_netlink_addr().unwrap().groups(), 0);
    let o = with(|o| o.pass_credentials = true);
    let fd = open(Kind::Netlink, &nl(15, 1), &o).unwrap();
    assert_eq!(sol(&fd, libc::SO_PROTOCOL), 15);
    let sa = getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap();
    assert_eq!(sa.as_netlink_addr().unwrap().groups(), 1);
    assert_eq!(sol(&fd, libc::SO_PASSCRED), 1);
    assert_eq!(
        fail(Kind::Stream, &nl(0, 0), &opts()).errno(),
        Errno::EINVAL
    );
}

#[test]
fn symlinks_and_remove() {
    let tmp = TempDir::new().unwrap();
    let sock = tmp.path().join("s.sock");
    let (l1, l2) = (tmp.path().join("l1"), tmp.path().join("x/y/l2"));
    symlink("/nonexistent", &l1).unwrap();
    let o = with(|o| o.symlinks = vec![l1.clone(), l2.clone()]);
    let fd = open(Kind::Stream, &unix(&sock), &o).unwrap();
    assert_eq!(fs::read_link(&l1).unwrap(), sock);
    assert_eq!(fs::read_link(&l2).unwrap(), sock);
    UnixStream::connect(&l2).unwrap();
    drop(fd);
    assert!(remove(&unix(&sock), &o.symlinks).is_empty());
    for p in [&sock, &l1, &l2] {
        assert!(
            fs::symlink_metadata(p).is_err(),
            "{} is still there",
            p.display()
        );
    }
    // Removing again is fine: missing files are no error.
    assert!(remove(&unix(&sock), &o.symlinks).is_empty());

    // A non-symlink where a symlink should go is an error.
    fs::write(&l1, b"mine").unwrap();
    let err = fail(Kind::Stream, &unix(&sock), &o);
    assert_eq!(err.to_string(), in_way(&l1, "a regular file"));
    // remove() leaves files of the wrong type alone and says so.
    fs::remove_file(&sock).unwrap();
    fs::write(&sock, b"mine").unwrap();
    let errs = remove(&unix(&sock), std::slice::from_ref(&l1));
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    let not_removing = |p: &Path| format!("{}: not removing a regular file", p.display());
    assert_eq!(msgs, [not_removing(&sock), not_removing(&l1)]);
    // Addr::Path: a FIFO is removed, anything else (ListenSpecial=) kept.
    assert!(remove(&path(&sock), &[]).is_empty());
    assert_eq!(fs::read(&sock).unwrap(), b"mine");
    let (fifo, link) = (tmp.path().join("fifo"), tmp.path().join("fifo-link"));
    let o = with(|o| o.symlinks = vec![link.clone()]);
    drop(open(Kind::Fifo, &path(&fifo), &o).unwrap());
    assert_eq!(fs::read_link(&link).unwrap(), fifo);
    assert!(remove(&path(&fifo), &o.symlinks).is_empty());
    assert!(fs::symlink_metadata(&fifo).is_err() && fs::symlink_metadata(&link).is_err());

    // Symlinks= on an inet socket is only a warning.
    let (_fd, warns) = open_with_warnings(Kind::Stream, &inet("127.0.0.1:0", None), &o).unwrap();
    assert_eq!(warns.len(), 1);
}

#[test]
fn describe_all_forms() {
    assert_eq!(describe(&unix(Path::new("/run/x.sock"))), "/run/x.sock");
    assert_eq!(describe(&Addr::Abstract(b"name".to_vec())), "@name");
    assert_eq!(describe(&Addr::Abstract(b"a\0b".to_vec())), "@a\\x00b");
    assert_eq!(describe(&inet("127.0.0.1:80", None)), "127.0.0.1:80");
    assert_eq!(describe(&inet("[::1]:80", None)), "[::1]:80");
    let want = "[fe80::1]:80%eth0";
    assert_eq!(describe(&inet("[fe80::1]:80", Some("eth0"))), want);
    assert_eq!(describe(&inet("[::ffff:1.2.3.4]:80", None)), "1.2.3.4:80");
    let addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5, 0, 3));
    assert_eq!(describe(&Addr::Inet { addr, iface: None }), "[::1]:5%3");
    assert_eq!(describe(&path(Path::new("/dev/kmsg"))), "/dev/kmsg");
    assert_eq!(describe(&nl(0, 0)), "route 0");
    assert_eq!(describe(&nl(15, 1)), "kobject-uevent 1");
    assert_eq!(describe(&nl(9, 0)), "audit 0");
    assert_eq!(describe(&nl(99, 2)), "99 2");
    assert_eq!(netlink_protocol("kobject-uevent"), Some(15));
    assert_eq!(netlink_protocol("31"), Some(31));
    assert_eq!(netlink_protocol("bogus"), None);
}

//! A socket-activated test daemon (used by the sandbox tests, not installed).
//!
//! `cairn-test-sockd MODE OUT [N]`:
//! - checks the LISTEN_FDS protocol (LISTEN_PID is its own pid, plain decimal; the fds are
//!   open and not close-on-exec) and appends `pid=… fds=… names=… types=…` to `OUT.env`;
//! - `serve`: serves every fd it got: a listening stream socket answers each line of each
//!   connection with `echo LINE`; a datagram socket and a FIFO append each message to `OUT`;
//! - `crash`: one connection at a time, one line each (`echo LINE`); exits 1 after answering
//!   N (a server that crashes every N requests; what waits in the listen queue is the next
//!   instance's);
//! - `inetd`: the connection is stdin/stdout (Accept=yes, StandardInput=socket): answers one
//!   line with `inetd LINE` and exits;
//! - `conn`: the connection is fd 3 (Accept=yes without StandardInput=socket): likewise;
//! - `probe`: writes one line per fd to `OUT.probe` (family, type, options as getsockopt
//!   reads them, the FIFO's pipe size) and exits 0.
//!
//! With `SOCKD_LISTEN=PATH` (and no LISTEN_FDS) it binds PATH itself: the daemon listening
//! by itself, for comparison in `make bench`.
//!
//! With `SOCKD_DELAY_MS` it sleeps that long before serving (a slow daemon), and the `.env`
//! line carries `ready_usec=`, the realtime at which it starts serving.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static ANSWERED: AtomicU64 = AtomicU64::new(0);

fn sock_type(fd: RawFd) -> Option<i32> {
    let mut t: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `t`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut t as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(t)
}

fn describe(fd: RawFd) -> String {
    // SAFETY: F_GETFD only reads the fd's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return "closed".into();
    }
    let cloexec = if flags & libc::FD_CLOEXEC != 0 {
        "+cloexec"
    } else {
        ""
    };
    let t = match sock_type(fd) {
        Some(libc::SOCK_STREAM) => "stream",
        Some(libc::SOCK_DGRAM) => "dgram",
        Some(libc::SOCK_SEQPACKET) => "seqpacket",
        Some(_) => "socket",
        None => "file",
    };
    format!("{t}{cloexec}")
}

fn int_opt(fd: RawFd, level: i32, name: i32) -> String {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 {
        v.to_string()
    } else {
        "-".into()
    }
}

fn family(fd: RawFd) -> i32 {
    // SAFETY: an all-zero sockaddr_storage is valid; getsockname writes within `len`.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above.
    let r = unsafe {
        libc::getsockname(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if r == 0 {
        i32::from(ss.ss_family)
    } else {
        -1
    }
}

fn probe(fd: RawFd) -> String {
    use libc::*;
    let Some(t) = sock_type(fd) else {
        // SAFETY: F_GETPIPE_SZ only reads; -1 for a file that is not a pipe.
        let pipe = unsafe { fcntl(fd, F_GETPIPE_SZ) };
        return format!("fd={fd} kind=file pipe_size={pipe}");
    };
    let fam = family(fd);
    let mut s = format!(
        "fd={fd} family={fam} type={t} acceptconn={} rcvbuf={} sndbuf={} passcred={} priority={} mark={} broadcast={} reuseport={}",
        int_opt(fd, SOL_SOCKET, SO_ACCEPTCONN),
        int_opt(fd, SOL_SOCKET, SO_RCVBUF),
        int_opt(fd, SOL_SOCKET, SO_SNDBUF),
        int_opt(fd, SOL_SOCKET, SO_PASSCRED),
        int_opt(fd, SOL_SOCKET, SO_PRIORITY),
        int_opt(fd, SOL_SOCKET, SO_MARK),
        int_opt(fd, SOL_SOCKET, SO_BROADCAST),
        int_opt(fd, SOL_SOCKET, SO_REUSEPORT),
    );
    if fam == AF_INET || fam == AF_INET6 {
        s.push_str(&format!(
            " keepalive={} keepidle={} nodelay={} v6only={} ttl={} hops={}",
            int_opt(fd, SOL_SOCKET, SO_KEEPALIVE),
            int_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE),
            int_opt(fd, IPPROTO_TCP, TCP_NODELAY),
            int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY),
            int_opt(fd, IPPROTO_IP, IP_TTL),
            int_opt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS),
        ));
    }
    s
}

fn answered(limit: Option<u64>) {
    let n = ANSWERED.fetch_add(1, Ordering::SeqCst) + 1;
    if limit.is_some_and(|l| n >= l) {
        std::process::exit(1);
    }
}

fn serve_conn(conn: UnixStreamOrTcp, limit: Option<u64>) {
    let mut w = conn.try_clone_writer();
    for line in BufReader::new(conn.reader()).lines() {
        let Ok(line) = line else { return };
        if writeln!(w, "echo {line}").is_err() {
            return;
        }
        answered(limit);
    }
}

/// A connected stream of either family, as a reader and a writer.
struct UnixStreamOrTcp(OwnedFd);

impl UnixStreamOrTcp {
    fn reader(&self) -> std::fs::File {
        std::fs::File::from(self.0.try_clone().expect("dup"))
    }
    fn try_clone_writer(&self) -> std::fs::File {
        std::fs::File::from(self.0.try_clone().expect("dup"))
    }
}

fn accept_loop(fd: OwnedFd, limit: Option<u64>) {
    loop {
        // SAFETY: accept4 on a listening socket we own; null address allowed.
        let c = unsafe {
            libc::accept4(
                fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if c < 0 {
            continue;
        }
        // SAFETY: a new fd from accept4, owned by nobody else.
        let conn = UnixStreamOrTcp(unsafe { OwnedFd::from_raw_fd(c) });
        std::thread::spawn(move || serve_conn(conn, limit));
    }
}

fn append(out: &str, msg: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .expect("out");
    let _ = f.write_all(msg);
    if !msg.ends_with(b"\n") {
        let _ = f.write_all(b"\n");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let out = args.get(2).cloned().unwrap_or_else(|| "/dev/null".into());
    let limit: Option<u64> = args.get(3).and_then(|n| n.parse().ok());
    if let (Ok(path), Err(_)) = (std::env::var("SOCKD_LISTEN"), std::env::var("LISTEN_FDS")) {
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).expect("bind SOCKD_LISTEN");
        let fd = std::os::fd::IntoRawFd::into_raw_fd(l);
        if fd != 3 {
            // SAFETY: moves our own listener onto fd 3, which this process does not use.
            unsafe {
                libc::dup2(fd, 3);
                libc::close(fd);
            }
        }
        std::env::set_var("LISTEN_FDS", "1");
        std::env::set_var("LISTEN_PID", std::process::id().to_string());
    }
    let fds: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let listen_pid = std::env::var("LISTEN_PID").unwrap_or_default();
    let pid_ok = listen_pid == std::process::id().to_string();
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    let types: Vec<String> = (3..3 + fds).map(describe).collect();
    if let Some(ms) = std::env::var("SOCKD_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let ready = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    append(
        &format!("{out}.env"),
        format!(
            "pid={} pid_ok={pid_ok} fds={fds} names={names} types={} stdin={} ready_usec={ready}",
            std::process::id(),
            types.join(","),
            describe(0)
        )
        .as_bytes(),
    );
    match mode.as_str() {
        "probe" => {
            for fd in 3..3 + fds {
                append(&format!("{out}.probe"), probe(fd).as_bytes());
            }
            return;
        }
        "inetd" => {
            let mut line = String::new();
            let _ = BufReader::new(std::io::stdin()).read_line(&mut line);
            print!("inetd {line}");
            let _ = std::io::stdout().flush();
            return;
        }
        "conn" => {
            // SAFETY: fd 3 came by the LISTEN_FDS protocol.
            let s = unsafe { UnixStream::from_raw_fd(3) };
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            let _ = write!(&s, "conn {line}");
            return;
        }
        _ => {}
    }
    if !pid_ok || fds == 0 {
        eprintln!(
            "no sockets by the LISTEN_FDS protocol (LISTEN_PID={listen_pid:?}, LISTEN_FDS={fds})"
        );
        std::process::exit(3);
    }
    if mode == "crash" {
        // SAFETY: fd 3 came by the LISTEN_FDS protocol.
        let listener = unsafe { OwnedFd::from_raw_fd(3) };
        loop {
            // SAFETY: accept4 on the listening socket we own; null address allowed.
            let c = unsafe {
                libc::accept4(
                    listener.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if c < 0 {
                continue;
            }
            // SAFETY: a new fd from accept4, owned by nobody else.
            let conn = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(c) });
            let mut line = String::new();
            if BufReader::new(&conn).read_line(&mut line).is_ok() && !line.is_empty() {
                let _ = write!(&conn, "echo {line}");
                drop(conn);
                answered(limit);
            }
        }
    }
    let out = Arc::new(out);
    let mut threads = Vec::new();
    for fd in 3..3 + fds {
        // SAFETY: fds 3.. came by the LISTEN_FDS protocol; each is used by one owner here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let out = out.clone();
        let t = match sock_type(fd) {
            Some(libc::SOCK_STREAM) => std::thread::spawn(move || accept_loop(owned, limit)),
            Some(libc::SOCK_DGRAM) => std::thread::spawn(move || {
                let d = UnixDatagram::from(owned);
                let mut buf = vec![0u8; 65536];
                loop {
                    match d.recv(&mut buf) {
                        Ok(n) => {
                            append(&out, buf.get(..n).unwrap_or_default());
                            answered(limit);
                        }
                        Err(_) => return,
                    }
                }
            }),
            _ => std::thread::spawn(move || {
                let mut f = std::fs::File::from(owned);
                let mut buf = vec![0u8; 65536];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) | Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                        Ok(n) => append(&out, buf.get(..n).unwrap_or_default()),
                    }
                }
            }),
        };
        threads.push(t);
    }
    for t in threads {
        let _ = t.join();
    }
}

//! A test service for the fd store (used by the sandbox tests, not installed).
//!
//! Started with fds by the LISTEN_FDS protocol (LISTEN_PID must be its own pid): it accepts
//! one connection on fd 3 and answers `from-store <LISTEN_FDNAMES>`. Started without: it binds
//! a TCP listener on 127.0.0.1, writes its port to the file named by its argument, hands the
//! listener to the manager with FDSTORE=1 FDNAME=listener, and exits 1 — so that Restart=
//! brings the next instance, which gets the listener back (with a second argument `stay`, it
//! keeps running instead).

use std::io::{IoSlice, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};

use nix::sys::socket::{
    sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};

fn main() {
    let fds: usize = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        == Some(std::process::id());
    if fds > 0 {
        if !pid_ok {
            eprintln!(
                "LISTEN_FDS without a matching LISTEN_PID: {:?}",
                std::env::var("LISTEN_PID")
            );
            std::process::exit(2);
        }
        let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
        // SAFETY: fd 3 was handed to us by the LISTEN_FDS protocol; nothing else owns it.
        let listener = unsafe { TcpListener::from_raw_fd(3) };
        let (mut conn, _) = listener.accept().expect("accept");
        writeln!(conn, "from-store {names}").expect("write");
        std::thread::sleep(std::time::Duration::from_secs(1000));
        return;
    }
    let port_file = std::env::args().nth(1).expect("a port file");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    std::fs::write(
        &port_file,
        listener.local_addr().expect("addr").port().to_string(),
    )
    .expect("port file");
    let path = std::env::var("NOTIFY_SOCKET").expect("NOTIFY_SOCKET");
    let sock = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let addr = UnixAddr::new(path.as_str()).expect("addr");
    let msg = b"FDSTORE=1\nFDNAME=listener\n";
    let fd = [listener.as_raw_fd()];
    sendmsg(
        sock.as_raw_fd(),
        &[IoSlice::new(msg)],
        &[ControlMessage::ScmRights(&fd)],
        MsgFlags::empty(),
        Some(&addr),
    )
    .expect("sendmsg");
    if std::env::args().nth(2).as_deref() == Some("stay") {
        std::thread::sleep(std::time::Duration::from_secs(1000));
    }
    std::process::exit(1);
}

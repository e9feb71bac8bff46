//! The helper half of `tests/fdpass.rs`: runs the real helper skeleton on fd 3 and either
//! stores a TCP listener and 300 pipe fds (`store`) or checks it got them all back and serves
//! the connection waiting on the listener (`restore`). Exit status 0 means it went as expected.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;

use cairn_proto as proto;

const PIPES: usize = 300;

fn main() {
    let role = std::env::args().nth(1).unwrap_or_default();
    // SAFETY: ignoring SIGPIPE installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let result = proto::component::run("activator", move |reg| async move {
        let code = match role.as_str() {
            "store" => store(reg).await,
            _ => restore(reg),
        };
        std::process::exit(code);
    });
    eprintln!("child: {result:?}");
    std::process::exit(3);
}

async fn store(reg: proto::component::Registered) -> i32 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut entries: Vec<(String, OwnedFd)> = vec![("listener".into(), OwnedFd::from(listener))];
    for i in 0..PIPES {
        let (_r, w) = nix::unistd::pipe().unwrap();
        entries.push((format!("pipe{i}"), w));
    }
    for chunk in entries.chunks(proto::SCM_MAX_FD) {
        let mut req = reg.registry.store_fds_request();
        let mut list = req.get().init_fds(chunk.len() as u32);
        for (i, (name, fd)) in chunk.iter().enumerate() {
            let idx = reg.fds.send_dup(std::os::fd::AsFd::as_fd(fd)).unwrap();
            let mut e = list.reborrow().get(i as u32);
            e.set_name(name.as_str());
            e.set_fd(idx);
        }
        if let Err(e) = req.send().promise.await {
            eprintln!("storeFds: {e}");
            return 1;
        }
    }
    0
}

fn restore(reg: proto::component::Registered) -> i32 {
    if reg.restored.len() != PIPES + 1 {
        eprintln!(
            "restored {} fds, expected {}",
            reg.restored.len(),
            PIPES + 1
        );
        return 1;
    }
    let (_, fd) = reg
        .restored
        .into_iter()
        .find(|(n, _)| n == "listener")
        .unwrap();
    let listener = TcpListener::from(fd);
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    if &buf != b"ping" {
        return 1;
    }
    conn.write_all(b"pong").unwrap();
    0
}

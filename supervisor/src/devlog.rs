//! The syslog socket cairn owns (`/dev/log` in system mode, from early boot): messages sent
//! before any syslog daemon runs are kept, attributed to the sender's unit by its credentials,
//! written to the persistent log, and forwarded to the syslog daemon once it is there (through
//! `syslog_socket`, which must be another path: the daemon listens there, not on /dev/log).

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{
    bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr,
};

use crate::say;
use crate::world::WorldRef;

/// Datagrams longer than this are cut (syslog's own limit is far below).
pub const MAX_MESSAGE: usize = 8192;

/// `<PRI>rest`: the priority (severity, 0–7) and the rest. No PRI: user.notice, as syslog(3).
pub fn parse(datagram: &[u8]) -> (u8, String) {
    let text = String::from_utf8_lossy(datagram);
    let text = text.trim_end_matches(['\n', '\0']);
    if let Some(rest) = text.strip_prefix('<') {
        if let Some((num, body)) = rest.split_once('>') {
            if let Ok(pri) = num.parse::<u32>() {
                if pri < 192 {
                    return (u8::try_from(pri % 8).unwrap_or(5), body.to_string());
                }
            }
        }
    }
    (5, text.to_string())
}

pub fn bind_socket(path: &Path) -> nix::Result<OwnedFd> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, sockopt::PassCred, &true)?;
    bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    // Anyone may log.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666));
    Ok(fd)
}

pub async fn serve(world: WorldRef, fd: OwnedFd) {
    let _ = proto::seqpacket::set_nonblocking(fd.as_fd());
    let Ok(afd) = proto::fdstream::register(fd) else {
        return;
    };
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        loop {
            let mut cmsg = nix::cmsg_space!(libc::ucred);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let got = recvmsg::<()>(
                afd.get_ref().as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let (len, pid) = match got {
                Ok(msg) => {
                    let mut pid = 0;
                    if let Ok(cmsgs) = msg.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::ScmCredentials(cred) = c {
                                pid = cred.pid();
                            }
                        }
                    }
                    (msg.bytes, pid)
                }
                Err(nix::errno::Errno::EAGAIN) => {
                    guard.clear_ready();
                    break;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    say!("syslog socket: {e}");
                    guard.clear_ready();
                    break;
                }
            };
            let data = buf.get(..len).unwrap_or(&[]).to_vec();
            accept(&world, pid, &data);
        }
    }
}

/// One message: into its unit's log (found by the sender's pid, or its cgroup), the
/// persistent log, and the syslog daemon's queue (the original datagram, unchanged).
fn accept(world: &WorldRef, pid: i32, data: &[u8]) {
    let (priority, text) = parse(data);
    let unit = crate::notify::unit_of(world, pid);
    let now = proto::procinfo::realtime_usec();
    let mut w = world.borrow_mut();
    let (name, records) =
        match unit.and_then(|u| w.manager.units.get(u).map(|x| (u, x.name.clone()))) {
            Some((u, name)) => {
                let recs = match w.manager.rt_mut(u) {
                    Some(rt) => {
                        let before = rt.log.next_seq();
                        rt.log.push_line(pid, now, &format!("<{priority}>{text}"));
                        rt.log.tail(usize::MAX, before.checked_sub(1))
                    }
                    None => Vec::new(),
                };
                (name, recs)
            }
            None => (
                "syslog".to_string(),
                vec![crate::manager::log::Record {
                    seq: 0,
                    realtime_usec: now,
                    pid,
                    priority,
                    text: text.clone(),
                }],
            ),
        };
    if let Some(s) = w.io.sinks.as_mut() {
        s.write_file(&name, &records);
        s.forward_raw(data);
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn priorities_and_plain_text() {
        assert_eq!(parse(b"<30>myd[12]: hi\n"), (6, "myd[12]: hi".into()));
        assert_eq!(parse(b"<11>x: err"), (3, "x: err".into()));
        assert_eq!(parse(b"no pri"), (5, "no pri".into()));
        assert_eq!(parse(b"<999>big"), (5, "<999>big".into()));
        assert_eq!(parse(&[0xff, b'<', b'>']).0, 5);
    }
}

//! The notify socket (sd_notify(3)): services say READY=1, STATUS=…, MAINPID=…, STOPPING=1 in
//! datagrams to RUNTIME-DIR/notify. The sender is identified by its credentials
//! (SO_PASSCRED), never by what it claims. The full set (WATCHDOG, FDSTORE, RELOADING,
//! EXTEND_TIMEOUT_USEC) and NotifyAccess= come with issue 4; until then any process of the
//! unit (its main pid, or any pid in its cgroup) may speak for it.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{
    bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr,
};

use crate::job::graph::UnitId;
use crate::manager::Kind;
use crate::say;
use crate::service::machine::Event;
use crate::unit::config::NotifyAccess;
use crate::warn;
use crate::world::WorldRef;

/// The largest datagram read (systemd reads up to a page per message plus fds).
pub const MAX_DATAGRAM: usize = 4096;

/// `KEY=VALUE` lines; lines without `=` and empty lines are ignored (as systemd does).
pub fn parse(datagram: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(datagram)
        .split('\n')
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn bind_socket(path: &Path) -> nix::Result<OwnedFd> {
    let _ = std::fs::remove_file(path);
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, sockopt::PassCred, &true)?;
    bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    // Anyone may send, as to systemd's: daemons that dropped privileges still say READY=1.
    // Who may speak for a unit is decided by the sender's credentials (NotifyAccess=).
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        path,
        nix::sys::stat::Mode::from_bits_truncate(0o777),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )?;
    Ok(fd)
}

/// Which unit a pid belongs to: its main/control pid, else its cgroup.
pub fn unit_of(world: &WorldRef, pid: i32) -> Option<UnitId> {
    let w = world.borrow();
    if let Some((u, _)) = w.manager.pids.get(&pid) {
        return Some(*u);
    }
    if let Some((_, u, _)) = w
        .manager
        .recent_exits
        .iter()
        .rev()
        .find(|(p, _, _)| *p == pid)
    {
        return Some(*u);
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = crate::cgroup::own_path(&text)?;
    let name = path.rsplit('/').next()?;
    w.manager.units.lookup(name)
}

/// Serves the notify socket for ever.
pub async fn serve(world: WorldRef, fd: OwnedFd) {
    let Ok(afd) = proto::fdstream::register(fd) else {
        return;
    };
    let afd = std::rc::Rc::new(afd);
    world.borrow_mut().io.notify = Some(afd.clone());
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        let (any, more) = drain(&world, &afd);
        if any {
            crate::runtime::process(&world);
        }
        if more {
            // A flood: the rest waits in the socket until the others had their turn.
            drop(guard);
            tokio::task::yield_now().await;
        } else {
            guard.clear_ready();
        }
    }
}

/// At most this many datagrams in one turn: a service that floods the socket gets its turn,
/// then the manager has its own (the kernel's socket buffer bounds what waits).
const DATAGRAMS_PER_TURN: usize = 256;

/// Handles every datagram waiting on the socket; returns whether there were any. The reaper
/// calls this before it routes exits, so that a READY=1 sent just before exiting is seen
/// before the exit (as systemd reads the notify socket before SIGCHLD).
pub fn drain_pending(world: &WorldRef) {
    let afd = world.borrow().io.notify.clone();
    if let Some(afd) = afd {
        drain(world, &afd);
    }
}

/// Handles what waits on the socket, at most [`DATAGRAMS_PER_TURN`]; returns (whether any was
/// handled, whether more may wait).
fn drain(world: &WorldRef, afd: &tokio::io::unix::AsyncFd<OwnedFd>) -> (bool, bool) {
    let mut any = false;
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut handled = 0;
    loop {
        if handled >= DATAGRAMS_PER_TURN {
            return (any, true);
        }
        handled += 1;
        let mut cmsg = nix::cmsg_space!(libc::ucred, [std::os::fd::RawFd; 16]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let received = recvmsg::<()>(
            afd.get_ref().as_fd().as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_TRUNC,
        );
        let mut fds: Vec<OwnedFd> = Vec::new();
        let (len, pid) = match received {
            Ok(msg) => {
                let mut pid = None;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        match c {
                            ControlMessageOwned::ScmCredentials(cred) => pid = Some(cred.pid()),
                            // Owned at once: closed on every path that does not keep them.
                            ControlMessageOwned::ScmRights(raw) => {
                                for f in raw {
                                    // SAFETY: the kernel just installed this fd for us alone.
                                    fds.push(unsafe { std::os::fd::FromRawFd::from_raw_fd(f) });
                                }
                            }
                            _ => {}
                        }
                    }
                }
                (msg.bytes, pid)
            }
            Err(nix::errno::Errno::EAGAIN) => return (any, false),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                say!("notify socket: {e}");
                return (any, false);
            }
        };
        any = true;
        let Some(pid) = pid else { continue };
        let Some(unit) = unit_of(world, pid) else {
            say!("notify: message from pid {pid}, which belongs to no unit; ignoring");
            continue;
        };
        let data = buf.get(..len.min(MAX_DATAGRAM)).unwrap_or(&[]);
        if allowed(world, unit, pid) {
            let assignments = parse(data);
            if assignments.is_empty() && data.iter().any(|b| !b.is_ascii_whitespace()) {
                complain_once(
                    world,
                    unit,
                    &format!(
                        "notify: unreadable message from pid {pid} (no KEY=VALUE line): {:?}",
                        snippet(data)
                    ),
                );
            }
            apply(world, unit, &assignments);
            crate::runtime::fd_store(world, unit, &assignments, fds);
        }
    }
}

/// The start of a message, for a log line.
fn snippet(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    s
}

/// A bad message is said once per unit and supervisor (a service sending garbage in a loop
/// must not flood the log); the rest are dropped quietly.
fn complain_once(world: &WorldRef, unit: UnitId, text: &str) {
    let first = world.borrow_mut().notify_complained.insert(unit);
    if !first {
        return;
    }
    let name = world
        .borrow()
        .manager
        .units
        .get(unit)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    crate::runtime::unit_warning(
        world,
        unit,
        &name,
        &format!("{text}; further bad messages from this unit are not said"),
    );
}

/// NotifyAccess=, enforced by the sender's credentials: `main` only the main process, `exec`
/// also the control process (an Exec* command), `all` any process of the unit, `none` no one.
fn allowed(world: &WorldRef, unit: UnitId, pid: i32) -> bool {
    let w = world.borrow();
    let Some(u) = w.manager.units.get(unit) else {
        return false;
    };
    let Some(Kind::Service(s)) = w.manager.rt.get(unit as usize).map(|r| &r.kind) else {
        return false;
    };
    let access = s.spec.notify_access;
    // A main or control process that already exited (its last datagram read after its exit)
    // still counts as what it was.
    let recent = w
        .manager
        .recent_exits
        .iter()
        .rev()
        .find(|(p, u, _)| *p == pid && *u == unit)
        .map(|(_, _, main)| *main);
    let was_main = s.main_pid == Some(pid) || recent == Some(true);
    let was_control = s.control_pid == Some(pid) || recent == Some(false);
    let ok = match access {
        NotifyAccess::None => false,
        NotifyAccess::Main => was_main,
        NotifyAccess::Exec => was_main || was_control,
        NotifyAccess::All => true,
    };
    if !ok {
        let what = match access {
            NotifyAccess::None => "NotifyAccess=none",
            NotifyAccess::Main => "NotifyAccess=main and it is not the main process",
            NotifyAccess::Exec => {
                "NotifyAccess=exec and it is neither the main nor a control process"
            }
            NotifyAccess::All => "",
        };
        say!(
            "notify: message for {} from pid {pid} refused: {what}",
            u.name
        );
    }
    ok
}

fn apply(world: &WorldRef, unit: UnitId, assignments: &[(String, String)]) {
    for (k, v) in assignments {
        match k.as_str() {
            "READY" if v == "1" => world.borrow_mut().manager.push(unit, Event::Ready),
            "STOPPING" if v == "1" => world.borrow_mut().manager.push(unit, Event::Stopping),
            "RELOADING" if v == "1" => world.borrow_mut().manager.push(unit, Event::Reloading),
            "WATCHDOG" if v == "1" => world.borrow_mut().manager.push(unit, Event::WatchdogPing),
            "WATCHDOG" if v == "trigger" => world
                .borrow_mut()
                .manager
                .push(unit, Event::WatchdogTimeout),
            "EXTEND_TIMEOUT_USEC" => {
                if let Ok(us) = v.parse::<u64>() {
                    world.borrow_mut().manager.push(
                        unit,
                        Event::ExtendTimeout(std::time::Duration::from_micros(us)),
                    );
                }
            }
            "ERRNO" => {
                let mut w = world.borrow_mut();
                if let Some(Kind::Service(s)) = w.manager.rt_mut(unit).map(|r| &mut r.kind) {
                    s.status_text = Some(match &s.status_text {
                        Some(t) => format!("{t} (errno {v})"),
                        None => format!("errno {v}"),
                    });
                }
            }
            "STATUS" => {
                let mut w = world.borrow_mut();
                if let Some(Kind::Service(s)) = w.manager.rt_mut(unit).map(|r| &mut r.kind) {
                    s.status_text = Some(v.clone());
                }
            }
            "MAINPID" => {
                let Ok(p) = v.parse::<i32>() else {
                    complain_once(
                        world,
                        unit,
                        &format!(
                            "notify: MAINPID={:?} is not a pid; ignoring",
                            snippet(v.as_bytes())
                        ),
                    );
                    continue;
                };
                if !crate::runtime::pid_belongs(world, unit, p) {
                    warn!("notify: MAINPID={p} is not a process of that unit; ignoring");
                    continue;
                }
                let mut w = world.borrow_mut();
                w.manager.pids.insert(p, (unit, true));
                if let Some(s) = w.manager.service_mut(unit) {
                    s.main_pid = Some(p);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn lines_become_assignments() {
        let p = parse(b"READY=1\nSTATUS=Serving 3 clients\nnonsense\n=x\nMAINPID=42");
        assert_eq!(
            p,
            vec![
                ("READY".into(), "1".into()),
                ("STATUS".into(), "Serving 3 clients".into()),
                ("MAINPID".into(), "42".into()),
            ]
        );
        assert!(parse(&[0xff, 0, b'=', b'\n']).is_empty());
    }
}

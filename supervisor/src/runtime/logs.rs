//! Services' output: the log pipe of each unit, its reader, and the readiness pipe of s6's
//! notification-fd.

use super::*;

pub(crate) fn log_pipe(world: &WorldRef, unit: UnitId) -> Option<i32> {
    {
        let w = world.borrow();
        if let Some(fd) = w.io.units.get(&unit).and_then(|i| i.log_w.as_ref()) {
            return Some(fd.as_raw_fd());
        }
    }
    let (r, wfd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
    // Non-blocking from the start: `drain_log` may read it before its reader task has run.
    proto::seqpacket::set_nonblocking(r.as_fd()).ok()?;
    let raw = wfd.as_raw_fd();
    world.borrow_mut().io.units.entry(unit).or_default().log_w = Some(wfd);
    // The read end also goes to pid1's store, so that a restarted supervisor goes on reading
    // what running services write (without it they would die of SIGPIPE).
    let (link, name) = {
        let w = world.borrow();
        (
            w.link.clone(),
            w.manager.units.get(unit).map(|u| u.name.clone()),
        )
    };
    if let (Some(link), Some(name), Ok(dup)) = (link, name, r.try_clone()) {
        tokio::task::spawn_local(async move {
            let key = format!("log.{name}");
            if let Err(e) = link.store_fds(&[(key.as_str(), dup.as_fd())]).await {
                warn!("cannot keep the log pipe of {name} in pid1: {e}");
            }
        });
    }
    if let Ok(dup) = r.try_clone() {
        world.borrow_mut().io.units.entry(unit).or_default().log_r = Some(dup);
    }
    tokio::task::spawn_local(read_log(world.clone(), unit, r));
    Some(raw)
}

/// s6's readiness: the first newline on the notification pipe means READY=1.
pub(crate) async fn read_notification_fd(world: WorldRef, unit: UnitId, r: OwnedFd) {
    if proto::seqpacket::set_nonblocking(r.as_fd()).is_err() {
        return;
    }
    let Ok(afd) = proto::fdstream::register(r) else {
        return;
    };
    let mut buf = [0u8; 256];
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        match nix::unistd::read(afd.get_ref(), &mut buf) {
            Ok(0) => return,
            Ok(n) if buf.get(..n).is_some_and(|b| b.contains(&b'\n')) => {
                push(&world, unit, Event::Ready);
                process(&world);
                return;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
            Err(_) => return,
        }
    }
}

/// Reads a log pipe handed back by pid1 after a supervisor restart.
pub fn keep_reading_log(world: &WorldRef, unit: UnitId, r: OwnedFd) {
    tokio::task::spawn_local(read_log(world.clone(), unit, r));
}

thread_local! {
    /// One read buffer for every unit's log reader: they run one at a time on this thread, and
    /// a buffer per unit would cost 16 KiB of resident memory per service.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 16384]);
}

/// At most this many reads of a log pipe in one turn (16 KiB each): a service that writes
/// without pause gets its turn, then the manager has its own.
const READS_PER_TURN: usize = 16;

/// How a turn of reading a log pipe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing more for now (EAGAIN).
    Empty,
    /// The turn is over, more is waiting.
    More,
    /// The writer closed it.
    Eof,
}

/// Reads what is in a log pipe now, without blocking, at most [`READS_PER_TURN`] times;
/// feeds it to the unit's ring and the sinks.
pub(crate) fn read_available(
    world: &WorldRef,
    unit: UnitId,
    fd: BorrowedFd<'_>,
) -> nix::Result<Drained> {
    let mut reads = 0;
    while reads < READS_PER_TURN {
        let read = READ_BUF.with(|b| {
            let mut buf = b.borrow_mut();
            nix::unistd::read(fd, &mut buf).map(|n| buf.get(..n).unwrap_or(&[]).to_vec())
        });
        match read {
            Ok(chunk) if chunk.is_empty() => return Ok(Drained::Eof),
            Ok(chunk) => {
                ingest(world, unit, &chunk);
                reads += 1;
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::EAGAIN) => return Ok(Drained::Empty),
            Err(e) => return Err(e),
        }
    }
    Ok(Drained::More)
}

/// Before a unit's process exit is routed, what it wrote last is read (the pipe and SIGCHLD
/// race): a crash record then has its last lines.
pub fn drain_log(world: &WorldRef, unit: UnitId) {
    let fd = world
        .borrow()
        .io
        .units
        .get(&unit)
        .and_then(|i| i.log_r.as_ref().and_then(|f| f.try_clone().ok()));
    if let Some(fd) = fd {
        let _ = read_available(world, unit, fd.as_fd());
    }
}

pub(crate) async fn read_log(world: WorldRef, unit: UnitId, r: OwnedFd) {
    if proto::seqpacket::set_nonblocking(r.as_fd()).is_err() {
        return;
    }
    let Ok(afd) = proto::fdstream::register(r) else {
        return;
    };
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        match read_available(&world, unit, afd.get_ref().as_fd()) {
            Ok(Drained::Eof) => return,
            Ok(Drained::Empty) => guard.clear_ready(),
            // Still readable: the loop comes back after the others had their turn.
            Ok(Drained::More) => {
                drop(guard);
                tokio::task::yield_now().await;
            }
            Err(_) => return,
        }
    }
}

pub(crate) fn ingest(world: &WorldRef, unit: UnitId, chunk: &[u8]) {
    let mut w = world.borrow_mut();
    let echo = w.io.echo_output;
    let name = w
        .manager
        .units
        .get(unit)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let pid = match w.manager.rt.get(unit as usize).map(|r| &r.kind) {
        Some(Kind::Service(s)) => s.main_pid.or(s.control_pid).unwrap_or(0),
        _ => 0,
    };
    let now = proto::procinfo::realtime_usec();
    if echo {
        for line in String::from_utf8_lossy(chunk).lines() {
            eprintln!("{name}[{pid}]: {line}");
        }
    }
    // As of the last spawn; else (lines of a process started before a supervisor restart)
    // from the settings, kept from then on.
    let mut syslog = w.io.units.get(&unit).and_then(|i| i.syslog.clone());
    if syslog.is_none() {
        syslog = w.manager.units.get(unit).map(|u| {
            let x = &u.config().service.exec;
            super::SyslogAs {
                level: x.syslog_level,
                facility: x.syslog_facility,
                identifier: x.syslog_identifier.as_deref().map(Box::from),
            }
        });
        w.io.units.entry(unit).or_default().syslog = syslog.clone();
    }
    let (level, facility) = syslog.as_ref().map_or((6, 3), |s| (s.level, s.facility));
    let fresh = match w.manager.rt_mut(unit) {
        Some(rt) => {
            rt.log.default_priority = Some(level);
            let before = rt.log.next_seq();
            rt.log.feed(pid, now, chunk);
            rt.log.tail(usize::MAX, before.checked_sub(1))
        }
        None => Vec::new(),
    };
    let ident = syslog
        .and_then(|s| s.identifier.map(String::from))
        .unwrap_or_else(|| {
            name.rsplit_once('.')
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| name.clone())
        });
    if let Some(sinks) = w.io.sinks.as_mut() {
        sinks.write(&name, &ident, facility, &fresh);
    }
}

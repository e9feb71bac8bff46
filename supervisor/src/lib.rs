//! cairn-supervisor: the brain (ARCHITECTURE.md §1).
//!
//! One single-threaded event loop (tokio current-thread + LocalSet; capnp-rpc is `!Send`):
//! the pid1 link, SIGCHLD, the control socket and each helper's bus are tasks on it, sharing
//! one [`world::World`]. Setup errors are fatal with a clear message; once the loop runs,
//! errors are logged and the loop goes on.

pub mod cgroup;
pub mod components;
pub mod config;
pub mod control;
pub mod info;
pub mod init_link;
pub mod service;
pub mod state;
pub mod world;

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use proto::pid1_capnp::ShutdownKind;

use crate::cgroup::Cgroups;
use crate::components::Helper;
use crate::config::Config;
use crate::init_link::{Event, InitLink};
use crate::state::{State, STATE_FD};
use crate::world::{World, WorldRef};

/// pid1's store name of the control socket.
pub const CONTROL_FD: &str = "control.socket";

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("event loop: {0}")]
    Runtime(#[from] std::io::Error),
    #[error(transparent)]
    Link(#[from] init_link::LinkError),
    #[error(transparent)]
    Control(#[from] control::ControlError),
}

/// Runs the supervisor until pid1 ends it (or, without pid1, until shutdown).
pub fn run(config: Config) -> Result<(), SupervisorError> {
    // Double-forking daemons are reparented to us, not to pid1.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        say!("cannot become a child subreaper: {e}");
    }
    proto::procinfo::raise_nofile();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, start(config))
}

/// Where the helper binaries are: beside our own binary, else the install directory.
fn helper_dir() -> PathBuf {
    let own = std::env::current_exe().ok().or_else(|| {
        std::env::args_os()
            .next()
            .and_then(|a| std::fs::canonicalize(a).ok())
    });
    match own.as_deref().and_then(Path::parent) {
        Some(dir) if dir.join("cairn-activator").is_file() => dir.to_path_buf(),
        _ => PathBuf::from("/usr/lib/cairn"),
    }
}

fn take(fds: &mut Vec<(String, OwnedFd)>, name: &str) -> Option<OwnedFd> {
    let i = fds.iter().position(|(n, _)| n == name)?;
    Some(fds.swap_remove(i).1)
}

async fn start(config: Config) -> Result<(), SupervisorError> {
    let container = config.container_mode();
    let started = proto::procinfo::realtime_usec();
    let link = match InitLink::from_env() {
        Some(fd) => Some(Rc::new(InitLink::new(fd)?)),
        None => {
            say!("no pid1 link (CAIRN_INIT_FD): running without an fd store");
            None
        }
    };
    let (generation, mut fds) = match &link {
        Some(l) => {
            let h = l.handback().await?;
            (h.generation, h.fds)
        }
        None => (1, Vec::new()),
    };
    if generation > 1 {
        say!(
            "generation {generation}: took back {} fds from pid1",
            fds.len()
        );
    }

    let mut state = match take(&mut fds, STATE_FD).map(State::from_fd) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            say!("discarding the previous supervisor's state: {e}");
            State::new(started)
        }
        None => State::new(started),
    };

    let cgroups = match Cgroups::discover(config.cgroup_root.as_deref(), container) {
        Ok(c) => {
            let mut pids = vec![i32::try_from(std::process::id()).unwrap_or(0)];
            if link.is_some() {
                pids.insert(0, nix::unistd::getppid().as_raw());
            }
            match c.setup(&pids) {
                Ok(()) => Some(c),
                Err(e) => {
                    say!("cgroups: {e}; services will not be tracked by cgroup");
                    None
                }
            }
        }
        Err(e) => {
            say!("cgroups: {e}; services will not be tracked by cgroup");
            None
        }
    };

    // The control socket: the stored one if it is still the file at its path, else a new one.
    let path = config.control_socket();
    let listener = match take(&mut fds, CONTROL_FD) {
        Some(fd) if control::still_bound(state.control_socket_file, &path) => fd,
        _ => {
            let fd = control::bind(&config.runtime_dir)?;
            state.control_socket_file = control::file_id(&path);
            if let Some(l) = &link {
                l.store_fds(&[(CONTROL_FD, fd.as_fd())]).await?;
            }
            fd
        }
    };

    let mut helpers: Vec<Helper> = config
        .helpers
        .iter()
        .map(|n| Helper::new(n, state.helper_restarts.get(n).copied().unwrap_or(0)))
        .collect();
    // A helper's stored fds come back under helper.NAME.FD.
    for (name, fd) in fds {
        let owner = helpers.iter_mut().find_map(|h| {
            let prefix = format!("helper.{}.", h.name);
            name.strip_prefix(&prefix).map(|rest| (h, rest.to_string()))
        });
        match owner {
            Some((h, fdname)) => h.fds.push((fdname, fd)),
            None => say!("fd {name} from pid1's store has no owner; closing it"),
        }
    }

    let world: WorldRef = Rc::new(RefCell::new(World {
        config,
        container,
        started_realtime_usec: started,
        calls: 0,
        link: link.clone(),
        generation,
        cgroups,
        helpers,
        helper_dir: helper_dir(),
        state,
        shutting_down: false,
    }));
    save_state(&world);
    if let Some(l) = &link {
        l.taken().await?;
    }

    let count = world.borrow().helpers.len();
    for idx in 0..count {
        components::spawn(&world, idx);
    }
    tokio::task::spawn_local(control::serve(world.clone(), listener));
    tokio::task::spawn_local(reaper(world.clone()));
    if let Some(l) = link {
        tokio::task::spawn_local(link_events(world.clone(), l));
    }
    say!(
        "up (generation {generation}, {} mode)",
        if container { "container" } else { "system" }
    );
    futures::future::pending::<()>().await;
    Ok(())
}

/// Writes the state memfd and hands it to pid1.
pub fn save_state(world: &WorldRef) {
    let (link, memfd) = {
        let w = world.borrow();
        let Some(link) = w.link.clone() else { return };
        match w.state.to_memfd() {
            Ok(fd) => (link, fd),
            Err(e) => {
                say!("cannot save state: {e}");
                return;
            }
        }
    };
    tokio::task::spawn_local(async move {
        if let Err(e) = link.store_fds(&[(STATE_FD, memfd.as_fd())]).await {
            say!("cannot save state: {e}");
        }
    });
}

/// Reaps our children (we are a subreaper: orphans of services come here too).
async fn reaper(world: WorldRef) {
    let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(s) => s,
        Err(e) => {
            say!("cannot watch SIGCHLD: {e}");
            return;
        }
    };
    loop {
        reap_all(&world);
        sigchld.recv().await;
    }
}

fn reap_all(world: &WorldRef) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                child_exited(world, pid.as_raw(), &format!("exited with status {code}"))
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                child_exited(world, pid.as_raw(), &format!("killed by {sig}"))
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                say!("waitpid: {e}");
                return;
            }
        }
    }
}

fn child_exited(world: &WorldRef, pid: i32, how: &str) {
    components::on_exit(world, pid, how);
}

/// Events pid1 forwards: exits of processes reparented to it, and signals sent to PID 1.
async fn link_events(world: WorldRef, link: Rc<InitLink>) {
    loop {
        match link.next_event().await {
            Ok(Event::ChildExited {
                pid, code, signal, ..
            }) => {
                let how = if signal != 0 {
                    format!("killed by signal {signal} (reaped by pid1)")
                } else {
                    format!("exited with status {code} (reaped by pid1)")
                };
                child_exited(&world, pid, &how);
            }
            Ok(Event::Signal(signo)) => on_init_signal(&world, signo).await,
            Err(e) => {
                // Without pid1 there is nothing to supervise for: it is gone or re-executing
                // without us. Exit; a new pid1 starts a new supervisor.
                say!("{e}; exiting");
                std::process::exit(1);
            }
        }
    }
}

/// What a signal to PID 1 means, as systemd reads them.
pub fn signal_action(signo: i32, container: bool) -> Option<ShutdownKind> {
    let rtmin = libc::SIGRTMIN();
    match signo {
        libc::SIGINT => Some(ShutdownKind::Reboot), // ctrl-alt-del
        libc::SIGTERM if container => Some(ShutdownKind::Poweroff),
        libc::SIGPWR => Some(ShutdownKind::Poweroff),
        s if s == rtmin + 3 => Some(ShutdownKind::Halt),
        s if s == rtmin + 4 => Some(ShutdownKind::Poweroff),
        s if s == rtmin + 5 => Some(ShutdownKind::Reboot),
        _ => None,
    }
}

async fn on_init_signal(world: &WorldRef, signo: i32) {
    let container = world.borrow().container;
    match signal_action(signo, container) {
        Some(kind) => {
            say!("signal {signo} to PID 1: {}", kind_name(kind));
            shutdown(world, kind).await;
        }
        None => say!("signal {signo} to PID 1: ignored"),
    }
}

pub fn kind_name(kind: ShutdownKind) -> &'static str {
    match kind {
        ShutdownKind::Poweroff => "poweroff",
        ShutdownKind::Reboot => "reboot",
        ShutdownKind::Halt => "halt",
    }
}

/// Stops the helpers, then hands over to pid1 for the final kill, sync and reboot(2).
pub async fn shutdown(world: &WorldRef, kind: ShutdownKind) {
    let (clients, link) = {
        let mut w = world.borrow_mut();
        if w.shutting_down {
            return;
        }
        w.shutting_down = true;
        let clients: Vec<_> = w
            .helpers
            .iter()
            .filter_map(|h| h.component.clone())
            .collect();
        (clients, w.link.clone())
    };
    say!("{}: stopping the helpers", kind_name(kind));
    let stops = clients.into_iter().map(|c| async move {
        let _ =
            tokio::time::timeout(Duration::from_secs(2), c.shutdown_request().send().promise).await;
    });
    futures::future::join_all(stops).await;
    match link {
        Some(l) => {
            if let Err(e) = l.shutdown(kind).await {
                say!("cannot hand over to pid1: {e}");
            }
        }
        None => std::process::exit(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_as_systemd_reads_them() {
        assert_eq!(
            signal_action(libc::SIGINT, false),
            Some(ShutdownKind::Reboot)
        );
        assert_eq!(
            signal_action(libc::SIGTERM, true),
            Some(ShutdownKind::Poweroff)
        );
        assert_eq!(signal_action(libc::SIGTERM, false), None);
        assert_eq!(
            signal_action(libc::SIGRTMIN() + 3, false),
            Some(ShutdownKind::Halt)
        );
        assert_eq!(signal_action(libc::SIGUSR1, true), None);
    }
}

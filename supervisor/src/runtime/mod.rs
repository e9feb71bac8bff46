//! The thin outer loop: carries out what the manager decided (spawn into a cgroup, signal,
//! arm a timer, read a PID file, collect output) and feeds back what happened.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::job::graph::UnitId;
use crate::job::types::JobResult;
use crate::manager::{Effect, Kind};
use crate::notice;
use crate::say;
use crate::service::machine::{Action, Event, ExecList, KillMode, ServiceType, State, Whom};
use crate::service::policy::ExitStatus;
use crate::spawn::{self, cstring, SpawnError};
use crate::unit::config::{NotifyAccess, ServiceSection};
use crate::unit::exec::{self, ExecCommand};
use crate::unit::exec_config::{DirKind, ExecContext, Input, Output, ProtectHome, ProtectSystem};
use crate::warn;
use crate::world::WorldRef;

/// systemd's PATH for system services.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Per-unit things of the outer loop: the log pipe's write end and the timer generation.
#[derive(Default)]
pub struct UnitIo {
    pub log_w: Option<OwnedFd>,
    /// A duplicate of the log pipe's read end, to drain it before an exit is routed.
    pub log_r: Option<OwnedFd>,
    pub timer_gen: u64,
    /// When the armed timer fires (realtime µs; 0: none), kept across a supervisor restart
    /// for a service waiting to restart.
    pub timer_due_usec: u64,
    /// The armed timer's task, aborted when the timer is re-armed or disarmed.
    pub timer: Option<tokio::task::AbortHandle>,
    /// The watchdog's timer (WatchdogSec=), likewise.
    pub watchdog: Option<tokio::task::AbortHandle>,
    /// FDSTORE=1: (FDNAME, pid1 store key, fd), in the order stored.
    pub fdstore: Vec<(String, String, OwnedFd)>,
    pub fdstore_seq: u64,
    pub cgroup: Option<PathBuf>,
    /// The connection an Accept=yes instance serves (its stdin/stdout, or LISTEN_FDS=1).
    pub connection: Option<OwnedFd>,
    /// memory.events' oom_kill count when last read.
    pub oom_kills: u64,
    /// How its output goes to syslog, as of its last spawn: its lines are read without its
    /// settings being parsed again (an idle-shaped unit keeps only their text).
    pub syslog: Option<SyslogAs>,
}

/// SyslogLevel=, SyslogFacility=, SyslogIdentifier=.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogAs {
    pub level: u8,
    pub facility: u8,
    pub identifier: Option<Box<str>>,
}

/// A spawned process whose exec is not confirmed yet.
pub struct PendingSpawn {
    pub unit: UnitId,
    pub main: bool,
    pub path: String,
    pub report: OwnedFd,
    /// What each mount operation did, to name the one that failed.
    pub mount_steps: Vec<String>,
}

#[derive(Default)]
pub struct Io {
    pub units: BTreeMap<UnitId, UnitIo>,
    pub pending_spawns: BTreeMap<i32, PendingSpawn>,
    pub waiters: BTreeMap<crate::manager::JobId, Vec<futures::channel::oneshot::Sender<JobResult>>>,
    pub notify_socket: Option<PathBuf>,
    /// The persistent log, kmsg and syslog.
    pub sinks: Option<crate::sinks::Sinks>,
    pub notify: Option<std::rc::Rc<tokio::io::unix::AsyncFd<OwnedFd>>>,
    pub echo_output: bool,
    /// Socket units' sockets, the activator, Accept=yes instances.
    pub sockets: sockets::Sockets,
    /// The mounter and the mount table it reports.
    pub mounts: mounts::Mounts,
    /// The system bus connection (Type=dbus, bus activation).
    pub bus: bus::Bus,
}

/// Runs the manager until it has nothing more to do, carrying out each effect.
pub fn process(world: &WorldRef) {
    for _ in 0..10_000 {
        let effects = {
            let mut w = world.borrow_mut();
            w.manager.now_usec = proto::procinfo::realtime_usec();
            w.manager.now_mono_usec = proto::procinfo::monotonic_usec();
            w.manager.step()
        };
        if effects.is_empty() {
            bus::poll(world);
            trim_when_quiet(world);
            return;
        }
        BUSY_SINCE_TRIM.set(true);
        // Something happened: the state is saved soon (debounced).
        if world.borrow().default_started {
            crate::persist::changed(world);
        }
        for e in effects {
            execute(world, e);
        }
    }
    say!("manager: still busy after 10000 rounds; yielding to the loop");
    let world = world.clone();
    tokio::task::spawn_local(async move { process(&world) });
}

thread_local! {
    /// The manager did something since the heap was last handed back.
    static BUSY_SINCE_TRIM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// A hand-back is due (its task sleeps).
    static TRIM_DUE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// After a burst — thousands of bus calls (capnp-rpc gives each request an 8 KiB first
/// segment), a large transaction — glibc keeps the freed heap mapped: starting 2,000 socket
/// units left 23 MB free inside it. Once the manager has been quiet with no job for a second,
/// free pages go back to the kernel (`malloc_trim`); at most once a second.
fn trim_when_quiet(world: &WorldRef) {
    if !BUSY_SINCE_TRIM.get() || TRIM_DUE.get() || !world.borrow().manager.jobs.is_empty() {
        return;
    }
    TRIM_DUE.set(true);
    BUSY_SINCE_TRIM.set(false);
    let world = world.clone();
    tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !world.borrow().manager.jobs.is_empty() {
                // A job came: its end makes the next quiet moment try again.
                TRIM_DUE.set(false);
                BUSY_SINCE_TRIM.set(true);
                return;
            }
            if BUSY_SINCE_TRIM.replace(false) {
                // Busy without jobs meanwhile (replies, log lines): another second.
                continue;
            }
            TRIM_DUE.set(false);
            trim_heap();
            return;
        }
    });
}

/// Hands the heap's free pages back to the kernel: glibc keeps freed memory mapped unless
/// asked (after a reload's old table, after a burst).
pub(crate) fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn execute(world: &WorldRef, e: Effect) {
    match e {
        Effect::Log(text) => notice!("{text}"),
        Effect::JobFinished { job, unit, result } => {
            let waiters = world.borrow_mut().io.waiters.remove(&job);
            for w in waiters.into_iter().flatten() {
                let _ = w.send(result);
            }
            if !matches!(result, JobResult::Done | JobResult::Skipped) {
                let name = unit_name(world, unit);
                if result == JobResult::Canceled {
                    say!("job {job} for {name} finished: {}", result.as_str());
                } else {
                    warn!("job {job} for {name} finished: {}", result.as_str());
                }
            }
        }
        Effect::Service { unit, action } => service_action(world, unit, action),
        Effect::Socket { unit, action } => sockets::action(world, unit, action),
        Effect::Mount { unit, action } => mounts::action(world, unit, action),
        Effect::Automount { unit, action } => mounts::automount_action(world, unit, action),
        Effect::Stopped { unit } => {
            remove_runtime_directories(world, unit);
            flush_fd_store(world, unit);
            sockets::instance_stopped(world, unit);
        }
    }
}

fn unit_name(world: &WorldRef, unit: UnitId) -> String {
    world
        .borrow()
        .manager
        .units
        .get(unit)
        .map(|u| u.name.clone())
        .unwrap_or_default()
}

fn push(world: &WorldRef, unit: UnitId, ev: Event) {
    world.borrow_mut().manager.push(unit, ev);
}

fn service_action(world: &WorldRef, unit: UnitId, action: Action) {
    match action {
        Action::Spawn { list, index, main } => {
            if let Err(e) = spawn_command(world, unit, list, index, main) {
                spawn_failed(world, unit, main, &e.to_string());
            }
        }
        Action::Kill { signal, whom } => kill_unit(world, unit, signal, whom, false),
        Action::ArmTimer(d) => arm_timer(world, unit, d),
        Action::DisarmTimer => disarm_timer(world, unit),
        Action::ArmWatchdog(d) => {
            let w2 = world.clone();
            let handle = tokio::task::spawn_local(async move {
                tokio::time::sleep(d).await;
                let name = unit_name(&w2, unit);
                say!("{name}: watchdog timeout ({d:?} without WATCHDOG=1)");
                push(&w2, unit, Event::WatchdogTimeout);
                process(&w2);
            });
            let mut w = world.borrow_mut();
            let io = w.io.units.entry(unit).or_default();
            if let Some(old) = io.watchdog.replace(handle.abort_handle()) {
                old.abort();
            }
        }
        Action::DisarmWatchdog => {
            let mut w = world.borrow_mut();
            if let Some(old) = w.io.units.entry(unit).or_default().watchdog.take() {
                old.abort();
            }
        }
        Action::FindMainPid => {
            let found = find_main_pid(world, unit);
            push(world, unit, Event::MainPidKnown(found));
        }
    }
}

fn spawn_failed(world: &WorldRef, unit: UnitId, main: bool, error: &str) {
    let name = unit_name(world, unit);
    say!("{name}: {error}");
    if let Some(s) = world.borrow_mut().manager.service_mut(unit) {
        s.spawn_error = Some(error.to_string());
    }
    if let Some(s) = world.borrow_mut().manager.socket_mut(unit) {
        s.spawn_error = Some(error.to_string());
    }
    push(world, unit, Event::SpawnFailed { main });
}

/// Settles a pending spawn from its report pipe: `Spawned` or `SpawnFailed` (the process is
/// then forgotten: its exit is not the unit's main or control process ending). Returns false
/// while the child has not reached exec.
fn settle_spawn(world: &WorldRef, pid: i32) -> bool {
    let report = {
        let w = world.borrow();
        let Some(p) = w.io.pending_spawns.get(&pid) else {
            return true;
        };
        spawn::read_report(&p.report)
    };
    if report == spawn::Report::Pending {
        return false;
    }
    let Some(p) = world.borrow_mut().io.pending_spawns.remove(&pid) else {
        return true;
    };
    match report {
        spawn::Report::Exec | spawn::Report::Pending => {
            push(world, p.unit, Event::Spawned { main: p.main })
        }
        spawn::Report::Failed(errno, step) => {
            world.borrow_mut().manager.forget_pid(pid);
            let what = match step
                .checked_sub(1)
                .and_then(|i| p.mount_steps.get(i as usize))
            {
                Some(op) => format!("{}: setting up its mount namespace ({op}): {errno}", p.path),
                None => format!("{}: {errno}", p.path),
            };
            spawn_failed(world, p.unit, p.main, &what);
        }
    }
    true
}

/// Waits for a spawn's report without blocking the loop.
async fn await_report(world: WorldRef, pid: i32) {
    let dup = {
        let w = world.borrow();
        w.io.pending_spawns
            .get(&pid)
            .and_then(|p| p.report.try_clone().ok())
    };
    let Some(fd) = dup else { return };
    let Ok(afd) = proto::fdstream::register(fd) else {
        return;
    };
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        if settle_spawn(&world, pid) {
            process(&world);
            return;
        }
        guard.clear_ready();
    }
}

fn disarm_timer(world: &WorldRef, unit: UnitId) {
    let mut w = world.borrow_mut();
    let io = w.io.units.entry(unit).or_default();
    io.timer_gen += 1;
    if let Some(t) = io.timer.take() {
        t.abort();
    }
}

pub(crate) fn arm_timer(world: &WorldRef, unit: UnitId, d: Duration) {
    let gen = {
        let mut w = world.borrow_mut();
        let io = w.io.units.entry(unit).or_default();
        io.timer_gen += 1;
        io.timer_due_usec =
            proto::procinfo::realtime_usec() + u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2);
        if let Some(t) = io.timer.take() {
            t.abort();
        }
        io.timer_gen
    };
    let w2 = world.clone();
    let world = world.clone();
    let handle = tokio::task::spawn_local(async move {
        tokio::time::sleep(d).await;
        let ev = {
            let w = world.borrow();
            if w.io.units.get(&unit).map(|i| i.timer_gen) != Some(gen) {
                return;
            }
            match w.manager.rt.get(unit as usize).map(|r| &r.kind) {
                Some(Kind::Service(s)) if s.machine.state == State::AutoRestart => {
                    Event::RestartTimer
                }
                _ => Event::Timeout,
            }
        };
        push(&world, unit, ev);
        process(&world);
    });
    w2.borrow_mut().io.units.entry(unit).or_default().timer = Some(handle.abort_handle());
}

/// The cgroup directory of a unit, created on first use.
fn cgroup_dir(world: &WorldRef, unit: UnitId) -> Option<PathBuf> {
    let mut w = world.borrow_mut();
    if let Some(p) = w.io.units.get(&unit).and_then(|i| i.cgroup.clone()) {
        return Some(p);
    }
    let name = w.manager.units.get(unit)?.name.clone();
    let dir = w.cgroups.as_ref()?.service(&name);
    if let Err(e) = crate::cgroup::create(&dir) {
        say!("{name}: {e}; running it without its own cgroup");
        return None;
    }
    w.io.units.entry(unit).or_default().cgroup = Some(dir.clone());
    let limits = w
        .manager
        .units
        .get(unit)
        .map(|u| u.config().service.limits.clone())
        .unwrap_or_default();
    let cgroups = w.cgroups.clone();
    drop(w);
    if let Some(cg) = cgroups {
        apply_limits(world, unit, &name, &cg, &dir, &limits);
    }
    Some(dir)
}

/// Writes the unit's cgroup limits, enabling their controllers on the way down from the
/// root first. A controller that cannot be enabled leaves a warning in the log and in the
/// unit's own log, naming it; the unit still starts.
fn apply_limits(
    world: &WorldRef,
    unit: UnitId,
    name: &str,
    cg: &crate::cgroup::Cgroups,
    dir: &Path,
    limits: &[crate::unit::resource::Limit],
) {
    for l in limits {
        for parent in [cg.root().to_path_buf(), cg.system_slice()] {
            let _ = crate::cgroup::write_file(
                &parent.join("cgroup.subtree_control"),
                &format!("+{}", l.controller),
            );
        }
        if let Err(e) = crate::cgroup::write_file(&dir.join(l.file), &l.value) {
            let text = match e {
                crate::cgroup::CgroupError::ControllerNotEnabled { .. } => format!(
                    "{}={}: the {} controller is not enabled for {}; the limit is not applied",
                    l.key,
                    l.value,
                    l.controller,
                    dir.display()
                ),
                other => format!("{}={}: {other}; the limit is not applied", l.key, l.value),
            };
            unit_warning(world, unit, name, &text);
        }
    }
}

/// A warning about a unit: on the manager's stderr and in the unit's own log (priority 4).
pub(crate) fn unit_warning(world: &WorldRef, unit: UnitId, name: &str, text: &str) {
    warn!("{name}: {text}");
    if let Some(rt) = world.borrow_mut().manager.rt_mut(unit) {
        rt.log.push_line(
            0,
            proto::procinfo::realtime_usec(),
            &format!("<4>cairn: {text}"),
        );
    }
}

pub(crate) mod bus;
mod command;
pub(crate) mod devices;
mod fdstore;
pub(crate) mod fstab;
mod logs;
pub(crate) mod mounts;
pub(crate) mod sockets;
mod tty;
mod views;

pub(crate) use command::*;
pub(crate) use fdstore::{fd_store, flush as flush_fd_store, restore as restore_fd_store};
pub(crate) use logs::*;
pub(crate) use views::*;

fn signal_of(n: i32) -> Option<Signal> {
    Signal::try_from(n).ok()
}

/// Signals a unit's processes. `manual` (cairnctl kill): `All` means every process of the
/// cgroup whatever KillMode= says, as `systemctl kill` does.
pub fn kill_unit(world: &WorldRef, unit: UnitId, signal: i32, whom: Whom, manual: bool) {
    let Some(sig) = signal_of(signal) else { return };
    let (main, control, mode, cgroup) = {
        let w = world.borrow();
        let (main, control, mode) = match w.manager.rt.get(unit as usize).map(|r| &r.kind) {
            Some(Kind::Service(s)) => (s.main_pid, s.control_pid, s.spec.kill_mode),
            Some(Kind::Socket(s)) => (None, s.control_pid, KillMode::ControlGroup),
            _ => (None, None, KillMode::ControlGroup),
        };
        (
            main,
            control,
            mode,
            w.io.units.get(&unit).and_then(|i| i.cgroup.clone()),
        )
    };
    let send = |pid: i32| {
        let _ = kill(Pid::from_raw(pid), sig);
    };
    match whom {
        Whom::Main => main.into_iter().for_each(send),
        Whom::Control => control.into_iter().for_each(send),
        Whom::All => match (if manual { KillMode::ControlGroup } else { mode }, &cgroup) {
            (KillMode::None, _) => {}
            (KillMode::Process, _) => {
                main.into_iter().for_each(send);
                control.into_iter().for_each(send);
            }
            (KillMode::Mixed, _) if sig != Signal::SIGKILL => {
                main.into_iter().for_each(send);
                control.into_iter().for_each(send);
            }
            (KillMode::ControlGroup | KillMode::Mixed, Some(dir)) => {
                if sig == Signal::SIGKILL && dir.join("cgroup.kill").exists() {
                    let _ = crate::cgroup::write_file(&dir.join("cgroup.kill"), "1");
                } else {
                    // Twice: a process may fork between the read and the kill.
                    for _ in 0..2 {
                        crate::cgroup::procs(dir).into_iter().for_each(send);
                    }
                }
            }
            (KillMode::ControlGroup | KillMode::Mixed, None) => {
                main.into_iter().for_each(send);
                control.into_iter().for_each(send);
            }
        },
    }
    check_empty(world, unit);
}

/// Feeds CgroupEmpty when a unit's cgroup (or, without cgroups, its known processes) is gone.
pub fn check_empty(world: &WorldRef, unit: UnitId) {
    let empty = {
        let w = world.borrow();
        let Some(Kind::Service(s)) = w.manager.rt.get(unit as usize).map(|r| &r.kind) else {
            return;
        };
        if s.machine.cgroup_empty {
            return;
        }
        match w.io.units.get(&unit).and_then(|i| i.cgroup.as_ref()) {
            Some(dir) => crate::cgroup::procs(dir).is_empty(),
            None => s.main_pid.is_none() && s.control_pid.is_none(),
        }
    };
    if empty {
        push(world, unit, Event::CgroupEmpty);
    }
}

/// After any reap: every unit waiting for its cgroup to empty looks again.
pub fn check_all_empty(world: &WorldRef) {
    let units: Vec<UnitId> = {
        let w = world.borrow();
        w.manager
            .rt
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(&r.kind, Kind::Service(s) if !s.machine.cgroup_empty))
            .filter_map(|(i, _)| UnitId::try_from(i).ok())
            .collect()
    };
    for u in units {
        check_empty(world, u);
    }
}

/// A reaped child: route it to its unit. A child that died before its exec was confirmed is
/// settled first: its report pipe holds the errno if exec failed, and then its exit is not a
/// crash of the service.
pub fn child_exited(world: &WorldRef, pid: i32, status: ExitStatus) -> bool {
    let owner = world.borrow().manager.pids.get(&pid).copied();
    if let Some((unit, _)) = owner {
        drain_log(world, unit);
    }
    // A main process killed by SIGKILL: was it the OOM killer? (memory.events counts it.)
    if let (Some((unit, true)), ExitStatus::Signal { signal, .. }) = (owner, status) {
        if signal == libc::SIGKILL && oom_killed(world, unit) {
            world.borrow_mut().manager.push(unit, Event::OomKilled);
        }
    }
    let pending = world.borrow().io.pending_spawns.contains_key(&pid);
    if pending {
        settle_spawn(world, pid);
    }
    let failed_exec = pending && !world.borrow().manager.pids.contains_key(&pid);
    let known = failed_exec || world.borrow_mut().manager.child_exited(pid, status);
    check_all_empty(world);
    process(world);
    known
}

/// Whether the unit's cgroup counts more OOM kills than when last looked.
fn oom_killed(world: &WorldRef, unit: UnitId) -> bool {
    let mut w = world.borrow_mut();
    let Some(io) = w.io.units.get_mut(&unit) else {
        return false;
    };
    let Some(dir) = io.cgroup.as_ref() else {
        return false;
    };
    let n: u64 = std::fs::read_to_string(dir.join("memory.events"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let more = n > io.oom_kills;
    io.oom_kills = n;
    more
}

/// Whether `pid` may be a unit's main process: never PID 1 or the supervisor, and (where
/// the unit has a cgroup) a member of it. A PID file or MAINPID= naming anything else is
/// refused, so that a stop never signals a stranger.
pub fn pid_belongs(world: &WorldRef, unit: UnitId, pid: i32) -> bool {
    if pid <= 1 || u32::try_from(pid).ok() == Some(std::process::id()) {
        return false;
    }
    let name = unit_name(world, unit);
    let has_cgroup = world
        .borrow()
        .io
        .units
        .get(&unit)
        .is_some_and(|i| i.cgroup.is_some());
    if !has_cgroup {
        return kill(Pid::from_raw(pid), None).is_ok();
    }
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .and_then(|t| crate::cgroup::own_path(&t))
        .is_some_and(|p| p.rsplit('/').next() == Some(name.as_str()))
}

fn find_main_pid(world: &WorldRef, unit: UnitId) -> bool {
    let (pid_file, control, cgroup) = {
        let w = world.borrow();
        let config = w.manager.units.get(unit).map(|u| u.config());
        let service = config.as_ref().map(|c| &c.service);
        let pid_file = service.and_then(|s| s.pid_file.clone());
        let guess = service.is_some_and(|s| s.guess_main_pid);
        let control = match w.manager.rt.get(unit as usize).map(|r| &r.kind) {
            Some(Kind::Service(s)) => s.control_pid,
            _ => None,
        };
        (
            pid_file,
            control,
            // GuessMainPID=no: no main process but the one a PID file names.
            w.io.units
                .get(&unit)
                .and_then(|i| i.cgroup.clone())
                .filter(|_| guess),
        )
    };
    let pid = match pid_file {
        Some(f) => std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|p| pid_belongs(world, unit, *p)),
        None => cgroup.and_then(|dir| {
            let procs: Vec<i32> = crate::cgroup::procs(&dir)
                .into_iter()
                .filter(|p| Some(*p) != control)
                .collect();
            match procs.as_slice() {
                [only] => Some(*only),
                _ => None,
            }
        }),
    };
    let Some(pid) = pid else { return false };
    let mut w = world.borrow_mut();
    w.manager.pids.insert(pid, (unit, true));
    if let Some(s) = w.manager.service_mut(unit) {
        s.main_pid = Some(pid);
    }
    true
}

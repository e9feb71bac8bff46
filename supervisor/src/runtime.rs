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
use crate::say;
use crate::service::machine::{Action, Event, ExecList, KillMode, ServiceType, State, Whom};
use crate::service::policy::ExitStatus;
use crate::spawn::{self, cstring, SpawnError};
use crate::unit::config::{NotifyAccess, ServiceSection};
use crate::unit::exec::{self, ExecCommand};
use crate::unit::exec_config::{DirKind, ExecContext, Input, Output, ProtectHome, ProtectSystem};
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
    /// The armed timer's task, aborted when the timer is re-armed or disarmed.
    pub timer: Option<tokio::task::AbortHandle>,
    /// The watchdog's timer (WatchdogSec=), likewise.
    pub watchdog: Option<tokio::task::AbortHandle>,
    pub cgroup: Option<PathBuf>,
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
}

/// Runs the manager until it has nothing more to do, carrying out each effect.
pub fn process(world: &WorldRef) {
    for _ in 0..10_000 {
        let effects = {
            let mut w = world.borrow_mut();
            w.manager.now_usec = proto::procinfo::realtime_usec();
            w.manager.step()
        };
        if effects.is_empty() {
            return;
        }
        for e in effects {
            execute(world, e);
        }
    }
    say!("manager: still busy after 10000 rounds; yielding to the loop");
    let world = world.clone();
    tokio::task::spawn_local(async move { process(&world) });
}

fn execute(world: &WorldRef, e: Effect) {
    match e {
        Effect::Log(text) => say!("{text}"),
        Effect::JobFinished { job, unit, result } => {
            let waiters = world.borrow_mut().io.waiters.remove(&job);
            for w in waiters.into_iter().flatten() {
                let _ = w.send(result);
            }
            if !matches!(result, JobResult::Done | JobResult::Skipped) {
                let name = unit_name(world, unit);
                say!("job {job} for {name} finished: {}", result.as_str());
            }
        }
        Effect::Service { unit, action } => service_action(world, unit, action),
        Effect::Stopped { unit } => remove_runtime_directories(world, unit),
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
        Action::DisarmTimer => {
            let mut w = world.borrow_mut();
            let io = w.io.units.entry(unit).or_default();
            io.timer_gen += 1;
            if let Some(t) = io.timer.take() {
                t.abort();
            }
        }
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

fn arm_timer(world: &WorldRef, unit: UnitId, d: Duration) {
    let gen = {
        let mut w = world.borrow_mut();
        let io = w.io.units.entry(unit).or_default();
        io.timer_gen += 1;
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
        .map(|u| u.config.service.limits.clone())
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
            say!("{name}: {text}");
            if let Some(rt) = world.borrow_mut().manager.rt_mut(unit) {
                rt.log.push_line(
                    0,
                    proto::procinfo::realtime_usec(),
                    &format!("<4>cairn: {text}"),
                );
            }
        }
    }
}

fn log_pipe(world: &WorldRef, unit: UnitId) -> Option<i32> {
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
                say!("cannot keep the log pipe of {name} in pid1: {e}");
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
async fn read_notification_fd(world: WorldRef, unit: UnitId, r: OwnedFd) {
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

/// Reads what is in a log pipe now, without blocking; feeds it to the unit's ring and the
/// sinks. Returns Ok(false) at EOF.
fn read_available(world: &WorldRef, unit: UnitId, fd: BorrowedFd<'_>) -> nix::Result<bool> {
    loop {
        let read = READ_BUF.with(|b| {
            let mut buf = b.borrow_mut();
            nix::unistd::read(fd, &mut buf).map(|n| buf.get(..n).unwrap_or(&[]).to_vec())
        });
        match read {
            Ok(chunk) if chunk.is_empty() => return Ok(false),
            Ok(chunk) => ingest(world, unit, &chunk),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
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

async fn read_log(world: WorldRef, unit: UnitId, r: OwnedFd) {
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
            Ok(false) => return,
            Ok(true) | Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
            Err(_) => return,
        }
    }
}

fn ingest(world: &WorldRef, unit: UnitId, chunk: &[u8]) {
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
    let (level, facility) = w
        .manager
        .units
        .get(unit)
        .map(|u| {
            (
                u.config.service.exec.syslog_level,
                u.config.service.exec.syslog_facility,
            )
        })
        .unwrap_or((6, 3));
    let fresh = match w.manager.rt_mut(unit) {
        Some(rt) => {
            rt.log.default_priority = Some(level);
            let before = rt.log.next_seq();
            rt.log.feed(pid, now, chunk);
            rt.log.tail(usize::MAX, before.checked_sub(1))
        }
        None => Vec::new(),
    };
    let ident = w
        .manager
        .units
        .get(unit)
        .and_then(|u| u.config.service.exec.syslog_identifier.clone())
        .unwrap_or_else(|| {
            name.rsplit_once('.')
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| name.clone())
        });
    if let Some(sinks) = w.io.sinks.as_mut() {
        sinks.write(&name, &ident, facility, &fresh);
    }
}

fn exec_list(s: &ServiceSection, list: ExecList) -> &[ExecCommand] {
    match list {
        ExecList::StartPre => &s.exec_start_pre,
        ExecList::Start => &s.exec_start,
        ExecList::StartPost => &s.exec_start_post,
        ExecList::Reload => &s.exec_reload,
        ExecList::Stop => &s.exec_stop,
        ExecList::StopPost => &s.exec_stop_post,
    }
}

/// KEY=VALUE lines; `#`/`;` comments; surrounding quotes removed.
fn read_env_file(path: &str) -> std::io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect())
}

fn resolve_path(p: &str) -> String {
    if p.starts_with('/') {
        return p.to_string();
    }
    exec::DEFAULT_SEARCH_PATH
        .iter()
        .map(|d| format!("{d}/{p}"))
        .find(|c| Path::new(c).is_file())
        .unwrap_or_else(|| p.to_string())
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("no such command (index {0})")]
    NoCommand(usize),
    #[error("failed to determine user credentials: {0}")]
    User(String),
    #[error("cannot set up the directory {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("cannot build the mount namespace: {0}")]
    Mount(String),
    #[error("cannot open {0} for a standard stream: {1}")]
    Stream(String, nix::Error),
    #[error("cannot open the cgroup {0}: {1}")]
    Cgroup(String, nix::Error),
    #[error("EnvironmentFile={path}: {source}")]
    EnvFile {
        path: String,
        source: std::io::Error,
    },
}

fn spawn_command(
    world: &WorldRef,
    unit: UnitId,
    list: ExecList,
    index: usize,
    main: bool,
) -> Result<(), StartError> {
    let (cfg, name, main_pid, stype) = {
        let w = world.borrow();
        let u = w
            .manager
            .units
            .get(unit)
            .ok_or(StartError::NoCommand(index))?;
        let (main_pid, stype) = match w.manager.rt.get(unit as usize).map(|r| &r.kind) {
            Some(Kind::Service(s)) => (s.main_pid, s.spec.stype),
            _ => (None, ServiceType::Simple),
        };
        (u.config.clone(), u.name.clone(), main_pid, stype)
    };
    let s = &cfg.service;
    let cmd = exec_list(s, list)
        .get(index)
        .ok_or(StartError::NoCommand(index))?;

    let x = &s.exec;
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    for k in &x.pass_environment {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.clone(), v);
        }
    }
    // '+': full privileges, User=/Group= not applied.
    let user = if cmd.full_privileges {
        None
    } else {
        s.user.as_ref()
    };
    let ids = match user {
        Some(user) => {
            let u = match user.parse::<u32>() {
                Ok(uid) => nix::unistd::User::from_uid(uid.into()),
                Err(_) => nix::unistd::User::from_name(user),
            }
            .map_err(|e| StartError::User(e.to_string()))?
            .ok_or_else(|| StartError::User(format!("no such user {user:?}")))?;
            let gid = match &s.group {
                Some(g) => nix::unistd::Group::from_name(g)
                    .map_err(|e| StartError::User(e.to_string()))?
                    .ok_or_else(|| StartError::User(format!("no such group {g:?}")))?
                    .gid
                    .as_raw(),
                None => u.gid.as_raw(),
            };
            env.insert("USER".into(), u.name.clone());
            env.insert("LOGNAME".into(), u.name.clone());
            env.insert("HOME".into(), u.dir.display().to_string());
            env.insert("SHELL".into(), u.shell.display().to_string());
            Some((u.uid.as_raw(), gid, u.name))
        }
        None => None,
    };
    let mut groups: Vec<libc::gid_t> = Vec::new();
    if let Some((_, gid, _)) = &ids {
        groups.push(*gid);
    }
    for g in &x.supplementary_groups {
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => nix::unistd::Group::from_name(g)
                .map_err(|e| StartError::User(e.to_string()))?
                .ok_or_else(|| StartError::User(format!("no such group {g:?}")))?
                .gid
                .as_raw(),
        };
        groups.push(gid);
    }
    let ids = ids.map(|(u, g, _)| (u, g));
    for (path, optional) in &s.environment_files {
        match read_env_file(path) {
            Ok(vars) => env.extend(vars),
            Err(_) if *optional => {}
            Err(source) => {
                return Err(StartError::EnvFile {
                    path: path.clone(),
                    source,
                })
            }
        }
    }
    for (k, v) in &s.environment {
        env.insert(k.clone(), v.clone());
    }
    if notify_access(s, stype) != NotifyAccess::None {
        if let Some(p) = &world.borrow().io.notify_socket {
            env.insert("NOTIFY_SOCKET".into(), p.display().to_string());
        }
    }
    if let (Some(pid), false) = (main_pid, main) {
        env.insert("MAINPID".into(), pid.to_string());
    }
    if let (Some(w), true) = (s.watchdog, main) {
        // WATCHDOG_PID is left out: the child's pid is not known before the clone, and
        // sd_watchdog_enabled() accepts its absence.
        env.insert("WATCHDOG_USEC".into(), w.as_micros().to_string());
    }
    for u in &x.unset_environment {
        match u.split_once('=') {
            Some((k, v)) => {
                if env.get(k).is_some_and(|cur| cur == v) {
                    env.remove(k);
                }
            }
            None => {
                env.remove(u);
            }
        }
    }
    let argv: Vec<String> = if cmd.no_env_expand {
        cmd.argv.clone()
    } else {
        exec::expand_env(&cmd.argv, &env)
    };
    let path = resolve_path(&cmd.path);
    let streams = open_streams(world, unit, x)?;
    // s6's notification-fd: a pipe whose write end the main process gets at fd N.
    let notification = match (s.notification_fd, main) {
        (Some(n), true) => {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| StartError::Stream("notification pipe".into(), e))?;
            tokio::task::spawn_local(read_notification_fd(world.clone(), unit, r));
            Some((w, n))
        }
        _ => None,
    };
    let dirs = make_directories(world, x, ids)?;
    for (var, val, _) in &dirs {
        env.insert(var.clone(), val.clone());
    }
    let writable: Vec<PathBuf> = dirs.iter().map(|(_, _, p)| p.clone()).collect();
    let mounts = mount_view(world, x, &writable)?;
    let mut setup = setup(x)?;
    let mount_steps: Vec<String> = mounts.iter().map(spawn::MountOp::describe).collect();
    setup.mounts = mounts;
    let command = spawn::Command {
        path: cstring(&path)?,
        argv: argv.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?,
        env: env
            .iter()
            .map(|(k, v)| cstring(&format!("{k}={v}")))
            .collect::<Result<_, _>>()?,
        working_directory: cstring(&working_directory(s, ids.is_some()))?,
        stdin: streams.stdin.as_ref().map(|f| f.as_raw_fd()),
        stdout: streams.stdout.fd(),
        stderr: streams.stderr.fd(),
        ids,
        groups,
        pass_fds: Vec::new(),
        extra_fds: notification
            .iter()
            .map(|(w, n)| (w.as_raw_fd(), *n))
            .collect(),
        setup,
    };
    let cgroup = cgroup_dir(world, unit);
    let cgroup_fd = match &cgroup {
        Some(d) => Some(
            nix::fcntl::open(
                d.as_path(),
                nix::fcntl::OFlag::O_RDONLY
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| StartError::Cgroup(d.display().to_string(), e))?,
        ),
        None => None,
    };
    let target = match (&cgroup_fd, &cgroup) {
        (Some(fd), Some(p)) => Some((fd.as_fd(), p.as_path())),
        _ => None,
    };
    let spawned = spawn::spawn(&command, target)?;
    let pid = spawned.pid;
    {
        let mut w = world.borrow_mut();
        w.manager.pids.insert(pid, (unit, main));
        if let Some(svc) = w.manager.service_mut(unit) {
            svc.spawn_error = None;
            if main {
                svc.main_pid = Some(pid);
            } else {
                svc.control_pid = Some(pid);
            }
        }
        w.io.pending_spawns.insert(
            pid,
            PendingSpawn {
                unit,
                main,
                path,
                report: spawned.report,
                mount_steps,
            },
        );
    }
    let _ = name;
    tokio::task::spawn_local(await_report(world.clone(), pid));
    Ok(())
}

/// The NotifyAccess= in force: as set; else `main` for Type=notify or with WatchdogSec=
/// (systemd sets it implicitly), `none` otherwise.
pub fn notify_access(s: &ServiceSection, stype: ServiceType) -> NotifyAccess {
    s.notify_access
        .unwrap_or(if stype == ServiceType::Notify || s.watchdog.is_some() {
            NotifyAccess::Main
        } else {
            NotifyAccess::None
        })
}

/// WorkingDirectory=, with `~` for the user's home; `/` by default.
fn working_directory(s: &ServiceSection, has_user: bool) -> String {
    match s.working_directory.as_deref() {
        Some("~") if has_user => std::env::var("HOME").unwrap_or_else(|_| "/".into()),
        Some(d) => d.trim_start_matches('-').to_string(),
        None => "/".into(),
    }
}

/// Where a stream goes: an fd we own (a file), the unit's log pipe, or /dev/null.
enum Stream {
    Own(OwnedFd),
    Borrowed(i32),
    Null,
}

impl Stream {
    fn fd(&self) -> Option<i32> {
        match self {
            Stream::Own(f) => Some(f.as_raw_fd()),
            Stream::Borrowed(fd) => Some(*fd),
            Stream::Null => None,
        }
    }
}

struct Streams {
    stdin: Option<OwnedFd>,
    stdout: Stream,
    stderr: Stream,
}

fn open_path(path: &str, flags: nix::fcntl::OFlag) -> Result<OwnedFd, StartError> {
    nix::fcntl::open(
        path,
        flags | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .map_err(|e| StartError::Stream(path.to_string(), e))
}

fn open_output(
    world: &WorldRef,
    unit: UnitId,
    o: &Output,
    tty: &str,
) -> Result<Stream, StartError> {
    use nix::fcntl::OFlag;
    Ok(match o {
        Output::Log | Output::Inherit => match log_pipe(world, unit) {
            Some(fd) => Stream::Borrowed(fd),
            None => Stream::Null,
        },
        Output::Null => Stream::Null,
        Output::Tty => Stream::Own(open_path(tty, OFlag::O_WRONLY)?),
        Output::File(p) => Stream::Own(open_path(p, OFlag::O_WRONLY | OFlag::O_CREAT)?),
        Output::Append(p) => Stream::Own(open_path(
            p,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND,
        )?),
        Output::Truncate(p) => Stream::Own(open_path(
            p,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC,
        )?),
    })
}

fn open_streams(world: &WorldRef, unit: UnitId, x: &ExecContext) -> Result<Streams, StartError> {
    use nix::fcntl::OFlag;
    let stdin = match &x.standard_input {
        Input::Null => None,
        Input::Tty => Some(open_path(&x.tty_path, OFlag::O_RDWR)?),
        Input::File(p) => Some(open_path(p, OFlag::O_RDONLY)?),
    };
    let stdout = open_output(world, unit, &x.standard_output, &x.tty_path)?;
    // StandardError=inherit (the default) goes where stdout goes.
    let stderr = match &x.standard_error {
        Output::Inherit => match &stdout {
            Stream::Own(f) => Stream::Own(f.try_clone().map_err(|e| {
                StartError::Stream(
                    "stdout".into(),
                    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                )
            })?),
            Stream::Borrowed(fd) => Stream::Borrowed(*fd),
            Stream::Null => Stream::Null,
        },
        other => open_output(world, unit, other, &x.tty_path)?,
    };
    Ok(Streams {
        stdin,
        stdout,
        stderr,
    })
}

/// Where RuntimeDirectory=, StateDirectory=, CacheDirectory= and LogsDirectory= live: /run,
/// /var/lib, /var/cache, /var/log in system mode; under the runtime directory in container
/// mode, which must not write to the host's /var.
fn directory_base(world: &WorldRef, kind: DirKind) -> PathBuf {
    let w = world.borrow();
    let rt = w.config.runtime_dir.clone();
    match (w.container, kind) {
        (false, DirKind::Runtime) => PathBuf::from("/run"),
        (false, DirKind::State) => PathBuf::from("/var/lib"),
        (false, DirKind::Cache) => PathBuf::from("/var/cache"),
        (false, DirKind::Logs) => PathBuf::from("/var/log"),
        (true, DirKind::Runtime) => rt.join("run"),
        (true, DirKind::State) => rt.join("state"),
        (true, DirKind::Cache) => rt.join("cache"),
        (true, DirKind::Logs) => rt.join("log"),
    }
}

/// Creates the unit's directories (owned by its user, with their modes) and returns the
/// environment variables naming them.
fn make_directories(
    world: &WorldRef,
    x: &ExecContext,
    ids: Option<(u32, u32)>,
) -> Result<Vec<(String, String, PathBuf)>, StartError> {
    use std::os::unix::fs::PermissionsExt;
    let mut out: Vec<(String, String, PathBuf)> = Vec::new();
    for (kind, rel) in &x.directories {
        let path = directory_base(world, *kind).join(rel);
        std::fs::create_dir_all(&path)
            .map_err(|e| StartError::Directory(path.display().to_string(), e))?;
        let mode = x
            .directory_modes
            .get(*kind as usize)
            .copied()
            .unwrap_or(0o755);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| StartError::Directory(path.display().to_string(), e))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .map_err(|e| StartError::Directory(path.display().to_string(), e))?;
        }
        let var = kind.env().to_string();
        match out.iter_mut().find(|(v, _, _)| *v == var) {
            Some((_, val, _)) => {
                val.push(':');
                val.push_str(&path.display().to_string());
            }
            None => out.push((var, path.display().to_string(), path)),
        }
    }
    Ok(out)
}

/// Removes a unit's RuntimeDirectory= when it stops (RuntimeDirectoryPreserve=no).
pub fn remove_runtime_directories(world: &WorldRef, unit: UnitId) {
    let dirs: Vec<String> = {
        let w = world.borrow();
        w.manager
            .units
            .get(unit)
            .map(|u| {
                u.config
                    .service
                    .exec
                    .directories
                    .iter()
                    .filter(|(k, _)| *k == DirKind::Runtime)
                    .map(|(_, r)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    for rel in dirs {
        let _ = std::fs::remove_dir_all(directory_base(world, DirKind::Runtime).join(rel));
    }
}

/// Empty, mode-000 nodes that InaccessiblePaths= and ProtectHome=yes mount over paths.
fn inaccessible_nodes(world: &WorldRef) -> Result<(PathBuf, PathBuf), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let base = world.borrow().config.runtime_dir.join("inaccessible");
    let (dir, reg) = (base.join("dir"), base.join("reg"));
    let err = |e: std::io::Error| StartError::Directory(base.display().to_string(), e);
    std::fs::create_dir_all(&dir).map_err(err)?;
    if !reg.exists() {
        std::fs::write(&reg, b"").map_err(err)?;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).map_err(err)?;
    std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(0o000)).map_err(err)?;
    Ok((dir, reg))
}

/// The mount-namespace view as a list of operations for the child (systemd.exec(5)):
/// private namespace; tmpfs mounts; binds; read-only; read-write again; inaccessible.
fn mount_view(
    world: &WorldRef,
    x: &ExecContext,
    writable: &[PathBuf],
) -> Result<Vec<spawn::MountOp>, StartError> {
    use spawn::MountOp;
    let mut ops = Vec::new();
    if !x.needs_mount_namespace() {
        return Ok(ops);
    }
    ops.push(MountOp::Private);
    // `-path`: ignore if missing; `+path`: relative to RootDirectory= (taken as given).
    let resolve = |p: &str| -> Result<Option<String>, StartError> {
        let optional = p.starts_with('-');
        let p = p.trim_start_matches(['-', '+']);
        if Path::new(p).exists() {
            Ok(Some(p.to_string()))
        } else if optional {
            Ok(None)
        } else {
            Err(StartError::Mount(format!("{p}: no such file or directory")))
        }
    };
    let c = |s: &str| cstring(s);
    let tmpfs = |ops: &mut Vec<MountOp>, path: &str, options: &str| -> Result<(), StartError> {
        ops.push(MountOp::Tmpfs {
            path: c(path)?,
            options: c(options)?,
        });
        Ok(())
    };
    if x.private_tmp {
        tmpfs(&mut ops, "/tmp", "mode=1777")?;
        if Path::new("/var/tmp").is_dir() {
            tmpfs(&mut ops, "/var/tmp", "mode=1777")?;
        }
    }
    for t in &x.temporary_file_system {
        let (path, options) = t.split_once(':').unwrap_or((t.as_str(), "mode=0755"));
        if let Some(p) = resolve(path)? {
            tmpfs(&mut ops, &p, options)?;
        }
    }
    let homes = ["/home", "/root", "/run/user"];
    if x.protect_home == ProtectHome::Tmpfs {
        for h in homes.iter().filter(|h| Path::new(h).is_dir()) {
            tmpfs(&mut ops, h, "mode=0755")?;
        }
    }
    if x.private_devices {
        // Built aside (a tmpfs with the harmless nodes bound in from the real /dev), then
        // moved onto /dev.
        const NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
        let aside = world.borrow().config.runtime_dir.join("private-dev");
        std::fs::create_dir_all(&aside)
            .map_err(|e| StartError::Directory(aside.display().to_string(), e))?;
        let aside = aside.display().to_string();
        tmpfs(&mut ops, &aside, "mode=0755")?;
        for n in NODES
            .iter()
            .filter(|n| Path::new(&format!("/dev/{n}")).exists())
        {
            let dst = format!("{aside}/{n}");
            ops.push(MountOp::Touch { path: c(&dst)? });
            ops.push(MountOp::Bind {
                src: c(&format!("/dev/{n}"))?,
                dst: c(&dst)?,
            });
        }
        ops.push(MountOp::Move {
            src: c(&aside)?,
            dst: c("/dev")?,
        });
    }
    for (src, dst, ro) in &x.bind_paths {
        let (Some(s), Some(d)) = (resolve(src)?, resolve(dst)?) else {
            continue;
        };
        ops.push(MountOp::Bind {
            src: c(&s)?,
            dst: c(&d)?,
        });
        if *ro {
            ops.push(MountOp::ReadOnly {
                path: c(&d)?,
                ro: true,
            });
        }
    }
    let mut read_only: Vec<String> = Vec::new();
    match x.protect_system {
        ProtectSystem::No => {}
        ProtectSystem::Yes => read_only.extend(["-/usr", "-/boot", "-/efi"].map(String::from)),
        ProtectSystem::Full => {
            read_only.extend(["-/usr", "-/boot", "-/efi", "-/etc"].map(String::from))
        }
        ProtectSystem::Strict => read_only.push("/".into()),
    }
    if x.protect_home == ProtectHome::ReadOnly {
        read_only.extend(homes.iter().map(|h| format!("-{h}")));
    }
    read_only.extend(x.read_only_paths.iter().cloned());
    for p in &read_only {
        let Some(p) = resolve(p)? else { continue };
        if p != "/" {
            ops.push(MountOp::Bind {
                src: c(&p)?,
                dst: c(&p)?,
            });
        }
        ops.push(MountOp::ReadOnly {
            path: c(&p)?,
            ro: true,
        });
    }
    let mut read_write: Vec<String> = x.read_write_paths.clone();
    if x.protect_system == ProtectSystem::Strict {
        read_write.extend(["/dev", "/proc", "/sys"].map(String::from));
    }
    read_write.extend(writable.iter().map(|p| p.display().to_string()));
    for p in &read_write {
        let Some(p) = resolve(p)? else { continue };
        if !matches!(p.as_str(), "/dev" | "/proc" | "/sys") {
            ops.push(MountOp::Bind {
                src: c(&p)?,
                dst: c(&p)?,
            });
        }
        ops.push(MountOp::ReadOnly {
            path: c(&p)?,
            ro: false,
        });
    }
    let mut hidden: Vec<String> = x.inaccessible_paths.clone();
    if x.protect_home == ProtectHome::Yes {
        hidden.extend(homes.iter().map(|h| format!("-{h}")));
    }
    if !hidden.is_empty() {
        let (dir, reg) = inaccessible_nodes(world)?;
        for p in &hidden {
            let Some(p) = resolve(p)? else { continue };
            let node = if Path::new(&p).is_dir() { &dir } else { &reg };
            ops.push(MountOp::Bind {
                src: c(&node.display().to_string())?,
                dst: c(&p)?,
            });
            ops.push(MountOp::ReadOnly {
                path: c(&p)?,
                ro: true,
            });
        }
    }
    Ok(ops)
}

/// The child's process attributes, from the unit's settings.
fn setup(x: &ExecContext) -> Result<spawn::Setup, StartError> {
    let affinity = if x.cpu_affinity.is_empty() {
        None
    } else {
        // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in &x.cpu_affinity {
            // SAFETY: CPU_SET writes inside the set for c < CPU_SETSIZE (checked at parse).
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        Some(set)
    };
    let cap_last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    Ok(spawn::Setup {
        ignore_sigpipe: x.ignore_sigpipe,
        umask: x.umask,
        oom_score_adj: x
            .oom_score_adjust
            .map(|v| cstring(&v.to_string()))
            .transpose()?,
        nice: x.nice,
        sched: x.cpu_sched_policy.map(|p| {
            (
                p,
                x.cpu_sched_priority.unwrap_or(0),
                x.cpu_sched_reset_on_fork,
            )
        }),
        ioprio: match (x.io_class, x.io_priority) {
            (None, None) => None,
            (class, prio) => Some(((class.unwrap_or(2) as i32) << 13) | prio.unwrap_or(4) as i32),
        },
        affinity,
        timer_slack_nsec: x.timer_slack_nsec,
        personality: x.personality,
        limits: x
            .limits
            .iter()
            .map(|(res, (soft, hard))| {
                (
                    *res,
                    libc::rlimit {
                        rlim_cur: *soft,
                        rlim_max: *hard,
                    },
                )
            })
            .collect(),
        root_directory: x.root_directory.as_deref().map(cstring).transpose()?,
        bounding_set: x.capability_bounding_set,
        cap_last,
        ambient: x.ambient_capabilities,
        secure_bits: (x.secure_bits != 0).then_some(x.secure_bits),
        no_new_privileges: x.no_new_privileges,
        mounts: Vec::new(),
    })
}

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
    let owner = world.borrow().manager.pids.get(&pid).map(|(u, _)| *u);
    if let Some(unit) = owner {
        drain_log(world, unit);
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
        let pid_file = w
            .manager
            .units
            .get(unit)
            .and_then(|u| u.config.service.pid_file.clone());
        let control = match w.manager.rt.get(unit as usize).map(|r| &r.kind) {
            Some(Kind::Service(s)) => s.control_pid,
            _ => None,
        };
        (
            pid_file,
            control,
            w.io.units.get(&unit).and_then(|i| i.cgroup.clone()),
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

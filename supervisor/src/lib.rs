//! cairn-supervisor: the brain (ARCHITECTURE.md §1).
//!
//! One single-threaded event loop (tokio current-thread + LocalSet; capnp-rpc is `!Send`):
//! the pid1 link, SIGCHLD, the control socket and each helper's bus are tasks on it, sharing
//! one [`world::World`]. Setup errors are fatal with a clear message; once the loop runs,
//! errors are logged and the loop goes on.

pub mod boot;
pub mod cgroup;
pub mod components;
pub mod config;
pub mod control;
pub mod control_components;
pub mod control_request;
pub mod control_units;
pub mod devlog;
pub mod fuzzing;
pub mod info;
pub mod init_link;
pub mod job;
pub mod manager;
pub mod notify;
pub mod persist;
pub mod reload;
pub mod runtime;
pub mod service;
pub mod shutdown;
pub mod sinks;
pub mod snapshot;
pub mod spawn;
pub mod spawner;
pub mod state;
pub mod switch_root;
pub mod unit;
pub mod view;
pub mod world;

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::cgroup::Cgroups;
use crate::components::Helper;
use crate::config::Config;
use crate::init_link::{Event, InitLink};
use crate::service::policy::ExitStatus;
use crate::state::{State, STATE_FD};
use crate::world::{World, WorldRef};

/// pid1's store name of the control socket.
pub const CONTROL_FD: &str = "control.socket";
/// pid1's store name of the syslog socket cairn owns.
pub const SYSLOG_FD: &str = "syslog.listen";

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
    if config.spawner {
        return Ok(spawner::main()?);
    }
    // Double-forking daemons are reparented to us, not to pid1.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        warn!("cannot become a child subreaper: {e}");
    }
    proto::procinfo::raise_nofile();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, start(config))
}

/// Where the helper binaries are: beside our own binary, else where the previous supervisor
/// of this boot found them (a supervisor started from a replacement binary elsewhere), else
/// the install directory.
fn helper_dir(saved: Option<&Path>) -> PathBuf {
    let own = std::env::current_exe().ok().or_else(|| {
        std::env::args_os()
            .next()
            .and_then(|a| std::fs::canonicalize(a).ok())
    });
    match own.as_deref().and_then(Path::parent) {
        Some(dir) if dir.join("cairn-activator").is_file() => dir.to_path_buf(),
        _ => match saved {
            Some(dir) if dir.join("cairn-activator").is_file() => dir.to_path_buf(),
            _ => PathBuf::from("/usr/lib/cairn"),
        },
    }
}

fn take(fds: &mut Vec<(String, OwnedFd)>, name: &str) -> Option<OwnedFd> {
    let i = fds.iter().position(|(n, _)| n == name)?;
    Some(fds.swap_remove(i).1)
}

async fn start(config: Config) -> Result<(), SupervisorError> {
    let container = config.container_mode();
    let proc_cmdline = if container {
        String::new()
    } else {
        std::fs::read_to_string("/proc/cmdline").unwrap_or_default()
    };
    let words = config
        .kernel_args
        .iter()
        .map(String::as_str)
        .chain(proc_cmdline.split_whitespace());
    if let Some(level) = world::log_level_from(words) {
        world::LOG_LEVEL.store(level, std::sync::atomic::Ordering::Relaxed);
    }
    if !container {
        boot::system_setup();
    }
    // With /proc mounted (our binary is /proc/self/exe) and before anything else is opened.
    if std::env::var_os("CAIRN_NO_SPAWNER").is_none() {
        if let Err(e) = std::env::current_exe().and_then(|exe| spawner::start(&exe)) {
            warn!("cannot start the spawner ({e}): services are cloned by the supervisor");
        }
    }
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
            warn!("discarding the previous supervisor's state: {e}");
            State::new(started)
        }
        None => State::new(started),
    };
    let helpers_at = helper_dir(state.helper_dir.as_deref());
    state.helper_dir = Some(helpers_at.clone());

    let cgroups = match Cgroups::discover(config.cgroup_root.as_deref(), container) {
        Ok(c) => {
            let mut pids = vec![i32::try_from(std::process::id()).unwrap_or(0)];
            if link.is_some() {
                pids.insert(0, nix::unistd::getppid().as_raw());
            }
            match c.setup(&pids) {
                Ok(()) => Some(c),
                Err(e) => {
                    warn!("cgroups: {e}; services will not be tracked by cgroup");
                    None
                }
            }
        }
        Err(e) => {
            warn!("cgroups: {e}; services will not be tracked by cgroup");
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
    let stored_syslog = take(&mut fds, SYSLOG_FD);
    let (stored_services, fds): (Vec<_>, Vec<_>) = fds
        .into_iter()
        .partition(|(n, _)| n.starts_with("fdstore."));
    // Socket units' sockets come back under socket.UNIT.N: never bound twice.
    let (stored_sockets, fds): (Vec<_>, Vec<_>) =
        fds.into_iter().partition(|(n, _)| n.starts_with("socket."));
    // Services' log pipes come back under log.UNIT: their writers may still be running.
    let (log_fds, fds): (Vec<_>, Vec<_>) =
        fds.into_iter().partition(|(n, _)| n.starts_with("log."));
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

    let manager_config = {
        let (path, must) = match &config.config {
            Some(p) => (Some(p.clone()), true),
            None if !container => (Some(PathBuf::from("/etc/cairn/cairn.ron")), false),
            None => (None, false),
        };
        match path.map(|p| sinks::ManagerConfig::load(&p, must)) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                say!("{e}; using the defaults");
                sinks::ManagerConfig::default()
            }
            None => sinks::ManagerConfig::default(),
        }
    };
    let mut unit_dirs = unit_path(&config);
    // Snapshots (`cairnctl snapshot`): no other unit can have their names.
    unit_dirs.push(snapshot::dir(&config.runtime_dir));
    // Units generated from fstab: the lowest priority, so that a unit file of the same name
    // wins (as systemd's generator directory).
    unit_dirs.push(config.runtime_dir.join("generator"));
    // SysV scripts, lower still: any unit file of the same name wins (and the script is not
    // translated at all).
    unit_dirs.push(config.runtime_dir.join("generator.late"));
    let sysv_init_d = manager_config
        .sysv_init_d
        .clone()
        .or_else(|| (!container).then(|| PathBuf::from("/etc/init.d")));
    generate_sysv(sysv_init_d.as_deref(), &unit_dirs);
    // No fstab file, nothing to wait for: the default target starts without the round trip to
    // the mounter — except in an initrd, where the same pass writes sysroot.mount from the
    // kernel's root=. (A missing fstab is no error: systemd's generator writes nothing either.)
    let fstab = manager_config
        .fstab
        .clone()
        .or_else(|| (!container).then(|| PathBuf::from("/etc/fstab")))
        .filter(|p| p.exists() || (!container && in_initrd()));
    let spec = specifier_context(&config);
    let (units, catalog) = load_units(&unit_dirs, &spec, &[]);
    let world: WorldRef =
        Rc::new(RefCell::new(World {
            manager: crate::manager::Manager::new(units),
            io: crate::runtime::Io {
                echo_output: container,
                sinks: Some(sinks::Sinks::new(
                    &manager_config,
                    container,
                    &config.runtime_dir,
                )),
                bus: crate::runtime::bus::Bus::new(manager_config.system_bus.clone().or_else(
                    || (!container).then(|| PathBuf::from("/run/dbus/system_bus_socket")),
                )),
                ..Default::default()
            },
            unit_dirs,
            sysv_init_d,
            catalog: Rc::new(catalog),
            spec,
            config,
            container,
            started_realtime_usec: started,
            calls: 0,
            link: link.clone(),
            generation,
            cgroups,
            helpers,
            helper_dir: helpers_at,
            state,
            shutting_down: false,
            default_started: false,
            save_pending: false,
            notify_complained: Default::default(),
            boot_target: String::new(),
        }));
    // What loading the table and making the records parsed and dropped (every idle unit's
    // settings, twice) goes back before the boot: 10,000 loaded, about 1 MB.
    runtime::trim_heap();
    save_state(&world);
    if let Some(l) = &link {
        l.taken().await?;
    }

    if !container {
        bump_unix_max_dgram_qlen();
    }
    let count = world.borrow().helpers.len();
    for idx in 0..count {
        components::spawn(&world, idx);
    }
    tokio::task::spawn_local(control::serve(world.clone(), listener));
    // Lines kept for a syslog daemon that is not there yet go out once it is.
    let w2 = world.clone();
    tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(s) = w2.borrow_mut().io.sinks.as_mut() {
                if s.syslog_waiting() > 0 {
                    s.flush_syslog();
                }
            }
        }
    });
    tokio::task::spawn_local(reaper(world.clone()));
    // The syslog socket: /dev/log in system mode (unless configured otherwise).
    let listen = match (&manager_config.syslog_listen, container) {
        (Some(p), _) => Some(p.clone()),
        (None, false) => Some(PathBuf::from("/dev/log")),
        (None, true) => None,
    };
    if let Some(path) = listen {
        if manager_config.syslog_socket.as_ref() == Some(&path) {
            say!(
                "syslog_socket and syslog_listen are both {}: forwarding would loop; not listening",
                path.display()
            );
        } else {
            // Kept in pid1's store like the control socket: messages sent while the supervisor
            // restarts wait in the socket's queue.
            let recorded = world.borrow().state.syslog_socket_file;
            let fd = match stored_syslog {
                Some(fd) if control::still_bound(recorded, &path) => Ok(fd),
                _ => devlog::bind_socket(&path).inspect(|fd| {
                    world.borrow_mut().state.syslog_socket_file = control::file_id(&path);
                    save_state(&world);
                    if let Some(l) = world.borrow().link.clone() {
                        if let Ok(dup) = fd.try_clone() {
                            tokio::task::spawn_local(async move {
                                let _ = l.store_fds(&[(SYSLOG_FD, dup.as_fd())]).await;
                            });
                        }
                    }
                }),
            };
            match fd {
                Ok(fd) => {
                    tokio::task::spawn_local(devlog::serve(world.clone(), fd));
                }
                Err(e) => say!("syslog socket {}: {e}", path.display()),
            }
        }
    }
    let notify_path = world.borrow().config.runtime_dir.join("notify");
    match notify::bind_socket(&notify_path) {
        Ok(fd) => {
            world.borrow_mut().io.notify_socket = Some(notify_path);
            tokio::task::spawn_local(notify::serve(world.clone(), fd));
        }
        Err(e) => say!("notify socket {}: {e}", notify_path.display()),
    }
    if generation > 1 {
        adopt_running(&world);
        persist::restore(&world);
    }
    runtime::restore_fd_store(&world, stored_services);
    runtime::sockets::restore(&world, stored_sockets);
    for (name, fd) in log_fds {
        let unit = name
            .strip_prefix("log.")
            .and_then(|u| world.borrow().manager.units.lookup(u));
        match unit {
            Some(id) => runtime::keep_reading_log(&world, id, fd),
            None => say!("log pipe {name} from pid1's store has no unit any more; closing it"),
        }
    }
    // With an fstab to read, the default target waits for the mounter to turn it into units
    // (at most 10 s: a mounter that cannot start must not keep the system from booting).
    match fstab {
        None => start_default(&world),
        Some(path) => {
            world.borrow_mut().io.mounts.fstab = Some(path);
            let w2 = world.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                if !w2.borrow().io.mounts.fstab_done {
                    warn!("the mounter did not read fstab within 10 s; starting without its units");
                    start_default(&w2);
                }
            });
        }
    }
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

/// The kernel queues only `net.unix.max_dgram_qlen` datagrams (10 by default) on a socket
/// nobody reads yet; a socket-activated syslog daemon needs more than that to lose nothing
/// while it starts. systemd raises it to 512 as PID 1; so does cairn, in system mode only (in a
/// container the network namespace may be the host's).
fn bump_unix_max_dgram_qlen() {
    const PATH: &str = "/proc/sys/net/unix/max_dgram_qlen";
    const WANT: u64 = 512;
    let current = std::fs::read_to_string(PATH)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    if current.is_some_and(|c| c < WANT) {
        if let Err(e) = std::fs::write(PATH, WANT.to_string()) {
            warn!("cannot raise {PATH} to {WANT}: {e}");
        }
    }
}

/// Writes the state memfd and hands it to pid1.
pub fn save_state(world: &WorldRef) {
    let (link, memfd) = {
        let w = world.borrow();
        let Some(link) = w.link.clone() else { return };
        match w.state.to_memfd() {
            Ok(fd) => {
                proto::failpoint::hit("supervisor::mid_serialization");
                (link, fd)
            }
            Err(e) => {
                warn!("cannot save state: {e}");
                return;
            }
        }
    };
    tokio::task::spawn_local(async move {
        if let Err(e) = link.store_fds(&[(STATE_FD, memfd.as_fd())]).await {
            warn!("cannot save state: {e}");
        }
    });
}

/// Reaps our children (we are a subreaper: orphans of services come here too).
async fn reaper(world: WorldRef) {
    let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot watch SIGCHLD: {e}");
            return;
        }
    };
    loop {
        reap_all(&world);
        sigchld.recv().await;
    }
}

fn reap_all(world: &WorldRef) {
    notify::drain_pending(world);
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                child_exited(world, pid.as_raw(), ExitStatus::Code(code))
            }
            Ok(WaitStatus::Signaled(pid, sig, core)) => child_exited(
                world,
                pid.as_raw(),
                ExitStatus::Signal {
                    signal: sig as i32,
                    core_dumped: core,
                },
            ),
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                say!("waitpid: {e}");
                return;
            }
        }
    }
}

fn child_exited(world: &WorldRef, pid: i32, status: ExitStatus) {
    let how = match status {
        ExitStatus::Code(c) => format!("exited with status {c}"),
        ExitStatus::Signal { signal, .. } => format!("killed by signal {signal}"),
    };
    if spawner::pid() == Some(pid) {
        warn!("the spawner (pid {pid}) {how}: services are cloned by the supervisor from now on");
        spawner::stop();
        return;
    }
    if !components::on_exit(world, pid, &how) {
        runtime::child_exited(world, pid, status);
    }
}

/// The unit search path (ARCHITECTURE.md §4): `--units DIR` alone (plus the shipped targets)
/// in a sandbox; cairn's directories, then systemd's, otherwise.
pub fn unit_path(config: &Config) -> Vec<PathBuf> {
    match &config.units {
        Some(dir) => vec![dir.clone()],
        None => [
            "/etc/cairn/system",
            "/run/cairn/system",
            "/usr/lib/cairn/system",
            "/etc/systemd/system",
            "/run/systemd/system",
            "/usr/lib/systemd/system",
            "/lib/systemd/system",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
    }
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// What specifiers expand to on this machine (system manager: root, /run, /var/lib …).
pub fn specifier_context(config: &Config) -> crate::unit::specifier::Context {
    let uts = nix::sys::utsname::uname().ok();
    crate::unit::specifier::Context {
        unit: String::new(),
        fragment_path: None,
        runtime_dir: if config.units.is_some() {
            config.runtime_dir.display().to_string()
        } else {
            "/run".into()
        },
        state_dir: "/var/lib".into(),
        cache_dir: "/var/cache".into(),
        logs_dir: "/var/log".into(),
        config_dir: "/etc".into(),
        user_name: "root".into(),
        uid: 0,
        group_name: "root".into(),
        gid: 0,
        home: "/root".into(),
        shell: "/bin/sh".into(),
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        machine_id: read_trim("/etc/machine-id"),
        boot_id: read_trim("/proc/sys/kernel/random/boot_id").replace('-', ""),
        kernel_release: uts
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        architecture: match std::env::consts::ARCH {
            "x86_64" => "x86-64".into(),
            "aarch64" => "arm64".into(),
            a => a.into(),
        },
    }
}

/// Starts the default target once (after fstab's units are loaded, when there is an fstab).
pub fn start_default(world: &WorldRef) {
    if std::mem::replace(&mut world.borrow_mut().default_started, true) {
        return;
    }
    start_target(world);
}

pub use boot::{boot_unit, in_initrd, initrd_boot_unit};
use reload::generate_sysv;
pub use reload::{load_units, reload_units};
pub use shutdown::{kind_name, shutdown, signal_action};

/// The unit to start: what the kernel command line asks for (system mode: also read from
/// /proc/cmdline), else `--target`.
fn start_target(world: &WorldRef) {
    let target = {
        let w = world.borrow();
        // The kernel keeps `x.y=z` words (module parameters, to it) from init's argv: in
        // system mode they are read from /proc/cmdline.
        let proc_cmdline = if w.container {
            String::new()
        } else {
            std::fs::read_to_string("/proc/cmdline").unwrap_or_default()
        };
        let words = w
            .config
            .kernel_args
            .iter()
            .map(String::as_str)
            .chain(proc_cmdline.split_whitespace());
        if !w.container && in_initrd() {
            initrd_boot_unit(words).unwrap_or_else(|| "initrd.target".into())
        } else {
            boot_unit(words).unwrap_or_else(|| w.config.target.clone())
        }
    };
    world.borrow_mut().boot_target = target.clone();
    let mut out = Vec::new();
    let result = {
        let mut w = world.borrow_mut();
        let Some(id) = w.manager.units.lookup(&target) else {
            warn!("the target {target} does not exist; nothing started");
            return;
        };
        let r = w.manager.enqueue(
            id,
            job::types::JobType::Start,
            job::types::JobMode::Replace,
            &mut out,
        );
        w.manager.defer(out);
        r
    };
    match result {
        Ok(job) => say!("starting {target} (job {job})"),
        Err(e) => warn!("cannot start {target}: {e}"),
    }
    runtime::process(world);
}

/// After a supervisor restart: services are still running in their cgroups (reparented to
/// pid1). Adopt each as running, with its lowest pid as the main one, so that stop, status and
/// exits (forwarded by pid1) keep working. The full state hand-over is issue 9's.
fn adopt_running(world: &WorldRef) {
    let mut w = world.borrow_mut();
    let Some(cg) = w.cgroups.clone() else { return };
    let n = w.manager.units.list.len();
    for i in 0..n {
        let Ok(id) = u32::try_from(i) else { continue };
        let Some(name) = w.manager.units.get(id).map(|u| u.name.clone()) else {
            continue;
        };
        let dir = cg.service(&name);
        let procs = cgroup::procs(&dir);
        // The main pid in the saved state, if it is still in the cgroup; else the lowest pid
        // there.
        let saved = w
            .state
            .units
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.main_pid)
            .filter(|p| procs.contains(p));
        let Some(main) = saved.or_else(|| procs.iter().min().copied()) else {
            continue;
        };
        let Some(s) = w.manager.service_mut(id) else {
            continue;
        };
        s.machine.adopt_running();
        s.main_pid = Some(main);
        w.manager.pids.insert(main, (id, true));
        w.io.units.entry(id).or_default().cgroup = Some(dir);
        say!(
            "{name}: adopted (main pid {main}, {} processes)",
            procs.len()
        );
    }
}

/// Events pid1 forwards: exits of processes reparented to it, and signals sent to PID 1.
async fn link_events(world: WorldRef, link: Rc<InitLink>) {
    loop {
        match link.next_event().await {
            Ok(Event::ChildExited {
                pid,
                code,
                signal,
                core_dumped,
            }) => {
                let status = if signal != 0 {
                    ExitStatus::Signal {
                        signal,
                        core_dumped,
                    }
                } else {
                    ExitStatus::Code(code)
                };
                child_exited(&world, pid, status);
            }
            // Spawned, so that this loop goes on reading the exits pid1 forwards while the
            // units stop.
            Ok(Event::Signal(signo)) => {
                let w = world.clone();
                tokio::task::spawn_local(async move { shutdown::on_init_signal(&w, signo).await });
            }
            Err(e) => {
                // Without pid1 there is nothing to supervise for: it is gone or re-executing
                // without us. Exit; a new pid1 starts a new supervisor.
                say!("{e}; exiting");
                std::process::exit(1);
            }
        }
    }
}

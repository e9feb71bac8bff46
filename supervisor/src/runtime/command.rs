//! What a spawned process becomes: its command line, environment, standard streams and
//! process attributes, built from the unit's settings before the clone.

use super::*;

pub(crate) fn exec_list(s: &ServiceSection, list: ExecList) -> &[ExecCommand] {
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
pub(crate) fn read_env_file(path: &str) -> std::io::Result<Vec<(String, String)>> {
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

pub(crate) fn resolve_path(p: &str) -> String {
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
pub(crate) enum StartError {
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
    #[error("TTYPath=/dev/console in container mode: the host's console is not the container's, and cairn-init was not started on a terminal")]
    NoConsole,
    #[error("StandardInput=socket or StandardOutput=socket, but no connection: only the instances an Accept=yes socket starts have one")]
    NoConnection,
    #[error("fd:{0}: none of the service's sockets is named {0} (FileDescriptorName=)")]
    NoNamedFd(String),
    #[error("EnvironmentFile={path}: {source}")]
    EnvFile {
        path: String,
        source: std::io::Error,
    },
}

pub(crate) fn spawn_command(
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
        (u.config(), u.name.clone(), main_pid, stype)
    };
    let s = &cfg.service;
    world.borrow_mut().io.units.entry(unit).or_default().syslog = Some(super::SyslogAs {
        level: s.exec.syslog_level,
        facility: s.exec.syslog_facility,
        identifier: s.exec.syslog_identifier.as_deref().map(Box::from),
    });
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
    // The main process gets the fd store by the LISTEN_FDS protocol.
    // Sockets first (those of the sockets that trigger this service and of Sockets=, or the
    // connection of an Accept=yes instance), then the fd store, as systemd orders them.
    let (stored, stored_names) = if main {
        let (mut fds, mut names) = super::sockets::for_spawn(world, unit, &x.standard_input);
        let (more, more_names) = super::fdstore::for_spawn(world, unit);
        fds.extend(more);
        names.extend(more_names);
        (fds, names)
    } else {
        (Vec::new(), Vec::new())
    };
    if !stored.is_empty() {
        env.insert("LISTEN_FDS".into(), stored.len().to_string());
        env.insert("LISTEN_FDNAMES".into(), stored_names.join(":"));
    }
    let console_x;
    let x = match container_console(world, x)? {
        Some(c) => {
            console_x = c;
            &console_x
        }
        None => x,
    };
    for failed in super::tty::prepare(x) {
        super::unit_warning(world, unit, &name, &failed);
    }
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
        pass_fds: stored.iter().map(|f| f.as_raw_fd()).collect(),
        listen_pid: !stored.is_empty(),
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
    proto::failpoint::hit("supervisor::before_spawn");
    let spawned = spawn::spawn(&command, target)?;
    proto::failpoint::hit("supervisor::after_spawn");
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
        if let Some(sock) = w.manager.socket_mut(unit) {
            sock.spawn_error = None;
            sock.control_pid = Some(pid);
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
pub(crate) fn working_directory(s: &ServiceSection, has_user: bool) -> String {
    match s.working_directory.as_deref() {
        Some("~") if has_user => std::env::var("HOME").unwrap_or_else(|_| "/".into()),
        Some(d) => d.trim_start_matches('-').to_string(),
        None => "/".into(),
    }
}

/// Where a stream goes: an fd we own (a file), the unit's log pipe, or /dev/null.
pub(crate) enum Stream {
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

pub(crate) struct Streams {
    stdin: Option<OwnedFd>,
    stdout: Stream,
    stderr: Stream,
}

fn io_errno(e: &std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// `fd:NAME`: a copy of the socket named NAME (FileDescriptorName=) among the service's.
fn named_fd(world: &WorldRef, unit: UnitId, name: &str) -> Result<OwnedFd, StartError> {
    let (fds, names) = super::sockets::for_spawn(world, unit, &Input::Null);
    fds.into_iter()
        .zip(names)
        .find(|(_, n)| n == name)
        .map(|(f, _)| f)
        .ok_or_else(|| StartError::NoNamedFd(name.to_string()))
}

/// A copy of the connection an Accept=yes instance was made for.
fn connection(world: &WorldRef, unit: UnitId) -> Result<OwnedFd, StartError> {
    let w = world.borrow();
    let conn = w.io.units.get(&unit).and_then(|io| io.connection.as_ref());
    match conn {
        Some(c) => c
            .try_clone()
            .map_err(|e| StartError::Stream("the connection".into(), io_errno(&e))),
        None => Err(StartError::NoConnection),
    }
}

/// In container mode `/dev/console` is the host's console, which a container must not take:
/// the container's console is the terminal cairn-init was started on (its stdin, inherited by
/// the supervisor). A unit that asks for the console gets that terminal, or fails to start
/// with a clear error when there is none — an emergency shell never lands on the host.
fn container_console(world: &WorldRef, x: &ExecContext) -> Result<Option<ExecContext>, StartError> {
    use std::io::IsTerminal;
    let uses_tty = x.standard_input == Input::Tty
        || x.standard_output == Output::Tty
        || x.standard_error == Output::Tty
        || x.tty_reset
        || x.tty_vhangup
        || x.tty_vt_disallocate;
    if !world.borrow().container || x.tty_path != "/dev/console" || !uses_tty {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        return Err(StartError::NoConsole);
    }
    Ok(Some(ExecContext {
        tty_path: "/proc/self/fd/0".into(),
        ..x.clone()
    }))
}

pub(crate) fn open_path(path: &str, flags: nix::fcntl::OFlag) -> Result<OwnedFd, StartError> {
    nix::fcntl::open(
        path,
        flags | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .map_err(|e| StartError::Stream(path.to_string(), e))
}

pub(crate) fn open_output(
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
        Output::Socket => Stream::Own(connection(world, unit)?),
        Output::Fd(name) => Stream::Own(named_fd(world, unit, name)?),
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

pub(crate) fn open_streams(
    world: &WorldRef,
    unit: UnitId,
    x: &ExecContext,
) -> Result<Streams, StartError> {
    use nix::fcntl::OFlag;
    let stdin = match &x.standard_input {
        Input::Null => None,
        Input::Tty => Some(open_path(&x.tty_path, OFlag::O_RDWR)?),
        Input::File(p) => Some(open_path(p, OFlag::O_RDONLY)?),
        Input::Socket => Some(connection(world, unit)?),
        Input::Fd(name) => Some(named_fd(world, unit, name)?),
    };
    let stdout = match (&x.standard_input, &stdin, x.standard_output_set) {
        (Input::Tty | Input::Socket | Input::Fd(_), Some(fd), false) => Stream::Own(
            fd.try_clone()
                .map_err(|e| StartError::Stream("stdin".into(), io_errno(&e)))?,
        ),
        _ => open_output(world, unit, &x.standard_output, &x.tty_path)?,
    };
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

/// The child's process attributes, from the unit's settings.
pub(crate) fn setup(x: &ExecContext) -> Result<spawn::Setup, StartError> {
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
    // The kernel's, which does not change while it runs: read once (four system calls a spawn).
    static CAP_LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let cap_last = *CAP_LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    });
    Ok(spawn::Setup {
        controlling_tty: (x.standard_input == Input::Tty).then_some(x.tty_force),
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

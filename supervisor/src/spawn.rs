//! Starting a process for a unit: `clone3(CLONE_INTO_CGROUP | CLONE_PIDFD)`, then only
//! async-signal-safe calls until `execve`; an exec failure comes back as an errno through a
//! close-on-exec pipe.
//!
//! Why clone3: the child is born in its cgroup (no window in which it could fork outside it)
//! and the spawn does not wait on the RCU grace period a parent-side `cgroup.procs` write costs
//! (ARCHITECTURE.md §11). Everything the child needs (argv, envp, paths) is built before the
//! clone: the child allocates nothing, logs nothing, takes no lock.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow};

/// The most fds handed to one process (LISTEN_FDS and others), so the child needs no
/// allocation to place them.
pub const MAX_PASSED: usize = 1024;

/// systemd's default for services: DefaultLimitNOFILE=1024:524288.
pub const NOFILE_SOFT: u64 = 1024;
pub const NOFILE_HARD: u64 = 524_288;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{path}: {errno}")]
    Exec { path: String, errno: Errno },
    #[error("cannot prepare the child: {0}")]
    Setup(Errno),
    #[error("an argument or variable contains a NUL byte: {0:?}")]
    Nul(String),
}

/// What the child is to become.
pub struct Command {
    pub path: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub working_directory: CString,
    /// The standard streams; None is /dev/null.
    pub stdin: Option<RawFd>,
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
    /// setgroups/setgid/setuid to these, when set.
    pub ids: Option<(u32, u32)>,
    pub groups: Vec<libc::gid_t>,
    /// fds to hand over at 3, 4, … (LISTEN_FDS).
    pub pass_fds: Vec<RawFd>,
    /// fds to hand over at a given number (s6's notification-fd): (fd, target ≥ 3).
    pub extra_fds: Vec<(RawFd, RawFd)>,
    /// Set LISTEN_PID to the child's own pid (it is only known in the child).
    pub listen_pid: bool,
    pub setup: Setup,
}

/// The process attributes set in the child (systemd.exec(5)), prepared by the parent.
#[derive(Default)]
pub struct Setup {
    pub ignore_sigpipe: bool,
    pub umask: u32,
    /// Text for /proc/self/oom_score_adj.
    pub oom_score_adj: Option<CString>,
    pub nice: Option<i32>,
    /// (policy, priority, reset on fork)
    pub sched: Option<(i32, i32, bool)>,
    /// The ioprio_set value: class << 13 | priority.
    pub ioprio: Option<i32>,
    pub affinity: Option<libc::cpu_set_t>,
    pub timer_slack_nsec: Option<u64>,
    pub personality: Option<u64>,
    /// (resource, limit); NOFILE is always set (systemd's 1024:524288 unless given).
    pub limits: Vec<(u32, libc::rlimit)>,
    pub root_directory: Option<CString>,
    /// Capabilities kept in the bounding set, and the highest capability the kernel knows.
    pub bounding_set: Option<u64>,
    pub cap_last: u32,
    pub ambient: u64,
    pub secure_bits: Option<u32>,
    pub no_new_privileges: bool,
    /// The mount-namespace view, in order (empty: the service shares ours).
    pub mounts: Vec<MountOp>,
    /// Stdin is a terminal (StandardInput=tty*): make it the controlling terminal of the new
    /// session, stealing it when true (tty-force), as a login shell expects.
    pub controlling_tty: Option<bool>,
}

/// One step of building a service's mount-namespace view (systemd.exec(5) sandboxing).
pub enum MountOp {
    /// A mount namespace of its own, with nothing propagating back to ours.
    Private,
    /// A tmpfs (PrivateTmp=, TemporaryFileSystem=, ProtectHome=tmpfs, PrivateDevices=).
    Tmpfs { path: CString, options: CString },
    /// Bind `src` onto `dst` (recursively); `dst` must exist.
    Bind { src: CString, dst: CString },
    /// Make `path` and everything below it read-only (`true`) or writable again (`false`).
    ReadOnly { path: CString, ro: bool },
    /// Create an empty file (a mount point for a device node under a private /dev).
    Touch { path: CString },
    /// Move a mount (the private /dev, built aside, onto /dev).
    Move { src: CString, dst: CString },
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 1;
const AT_RECURSIVE: libc::c_int = 0x8000;

/// Applies the mount view in the child.
///
/// # Safety
/// Async-signal-safe (mount syscalls only); for the child only.
unsafe fn apply_mounts(ops: &[MountOp]) -> Result<(), usize> {
    // SAFETY: unshare/mount/mount_setattr/open/close are plain syscalls on memory prepared
    // by the parent.
    unsafe {
        for (i, op) in ops.iter().enumerate() {
            let rc = match op {
                MountOp::Private => {
                    if libc::unshare(libc::CLONE_NEWNS) < 0 {
                        return Err(i);
                    }
                    libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_SLAVE,
                        std::ptr::null(),
                    )
                }
                MountOp::Tmpfs { path, options } => libc::mount(
                    c"tmpfs".as_ptr(),
                    path.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    options.as_ptr().cast(),
                ),
                MountOp::Bind { src, dst } => libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ),
                MountOp::ReadOnly { path, ro } => {
                    let attr = MountAttr {
                        attr_set: if *ro { MOUNT_ATTR_RDONLY } else { 0 },
                        attr_clr: if *ro { 0 } else { MOUNT_ATTR_RDONLY },
                        propagation: 0,
                        userns_fd: 0,
                    };
                    libc::syscall(
                        libc::SYS_mount_setattr,
                        libc::AT_FDCWD,
                        path.as_ptr(),
                        AT_RECURSIVE,
                        &attr as *const MountAttr,
                        std::mem::size_of::<MountAttr>(),
                    ) as libc::c_int
                }
                MountOp::Move { src, dst } => libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_MOVE,
                    std::ptr::null(),
                ),
                MountOp::Touch { path } => {
                    let fd = libc::open(
                        path.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                        0o666,
                    );
                    if fd >= 0 {
                        libc::close(fd);
                    }
                    fd
                }
            };
            if rc < 0 {
                return Err(i);
            }
        }
    }
    Ok(())
}

pub fn cstring(s: &str) -> Result<CString, SpawnError> {
    CString::new(s).map_err(|_| SpawnError::Nul(s.to_string()))
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A spawned child. Whether its exec succeeded is learned from `report`: EOF means it did
/// (the pipe closed on exec), four bytes are the errno of what failed. The supervisor never
/// blocks on it (a child may hang before exec on a dead NFS path): see [`read_report`].
pub struct Spawned {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
    pub report: OwnedFd,
}

/// What the report pipe says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Nothing yet: the child has not reached exec.
    Pending,
    Exec,
    /// errno, and the step that failed (0: process setup or exec; 1 + i: mount operation i).
    Failed(Errno, u32),
}

/// Reads the report pipe without blocking.
pub fn read_report(report: &OwnedFd) -> Report {
    let mut buf = [0u8; 8];
    let mut got = 0;
    loop {
        match nix::unistd::read(report, buf.get_mut(got..).unwrap_or(&mut [])) {
            Ok(0) if got == 0 => return Report::Exec,
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if got >= buf.len() {
                    break;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) if got == 0 => return Report::Pending,
            // The child writes its eight bytes in one write(2): treat anything odd as a
            // failure rather than wait.
            Err(_) => break,
        }
    }
    let word = |r: std::ops::Range<usize>| -> i32 {
        buf.get(r)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_ne_bytes)
            .unwrap_or(0)
    };
    let errno = if got >= 4 {
        Errno::from_raw(word(0..4))
    } else {
        Errno::EIO
    };
    Report::Failed(errno, u32::try_from(word(4..8)).unwrap_or(0))
}

impl MountOp {
    /// What the operation does, for an error message.
    pub fn describe(&self) -> String {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            MountOp::Private => "a private mount namespace".into(),
            MountOp::Tmpfs { path, .. } => format!("tmpfs on {}", s(path)),
            MountOp::Bind { src, dst } => format!("bind {} onto {}", s(src), s(dst)),
            MountOp::ReadOnly { path, ro: true } => format!("{} read-only", s(path)),
            MountOp::ReadOnly { path, ro: false } => format!("{} writable", s(path)),
            MountOp::Touch { path } => format!("a mount point at {}", s(path)),
            MountOp::Move { src, dst } => format!("move {} onto {}", s(src), s(dst)),
        }
    }
}

fn clone3(args: &mut CloneArgs) -> Result<i32, Errno> {
    // SAFETY: clone3 without CLONE_VM duplicates the process like fork(2); the args struct
    // lives across the call. The supervisor is single-threaded, so no lock can be held by
    // another thread in the child.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(i32::try_from(rc).unwrap_or(-1))
    }
}

/// Starts `cmd` in the cgroup `cgroup` (its directory fd and path), or in ours when None.
///
/// Born in its cgroup with `CLONE_INTO_CGROUP`; where the kernel cannot do that (before 5.7,
/// or EBUSY), the child is cloned plainly and moved by a `cgroup.procs` write right after,
/// before anything waits on it.
pub fn spawn(
    cmd: &Command,
    cgroup: Option<(BorrowedFd<'_>, &Path)>,
) -> Result<Spawned, SpawnError> {
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SpawnError::Setup)?;
    proto::seqpacket::set_nonblocking(report_r.as_fd())
        .map_err(|e| SpawnError::Setup(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    let devnull = nix::fcntl::open(
        c"/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(SpawnError::Setup)?;

    // Pointer arrays for execve, built before the clone.
    let argv: Vec<*const libc::c_char> = cmd
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // LISTEN_PID= is written by the child into this buffer (plain decimal: libsystemd parses
    // it with base 0, so a leading zero would make it octal).
    let mut listen_pid: Vec<u8> = b"LISTEN_PID=\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    let listen_pid_ptr = listen_pid.as_mut_ptr();
    let envp: Vec<*const libc::c_char> = cmd
        .env
        .iter()
        .map(|a| a.as_ptr())
        .chain(
            cmd.listen_pid
                .then_some(listen_pid_ptr as *const libc::c_char),
        )
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // systemd's 1024:524288, within what we may grant: without CAP_SYS_RESOURCE (as in a
    // container) the hard limit cannot rise above our own.
    let (_, our_hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((NOFILE_SOFT, NOFILE_HARD));
    let hard = NOFILE_HARD.min(our_hard);
    let nofile = libc::rlimit {
        rlim_cur: NOFILE_SOFT.min(hard),
        rlim_max: hard,
    };

    // Signals are blocked around the clone so that none runs a handler of ours in the child
    // before it resets them.
    let mut old = SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    );
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: CLONE_PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    let mut move_after = None;
    if let Some((fd, _)) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    let mut result = clone3(&mut args);
    if let (Err(_), Some((_, path))) = (result, cgroup) {
        args.flags &= !CLONE_INTO_CGROUP;
        args.cgroup = 0;
        move_after = Some(path);
        result = clone3(&mut args);
    }
    if result == Err(Errno::ENOSYS) {
        // No clone3 at all (before Linux 5.3).
        // SAFETY: as clone3 above; fork(2) in a single-threaded process.
        result = match unsafe { libc::fork() } {
            rc if rc < 0 => Err(Errno::last()),
            rc => Ok(rc),
        };
    }
    let pid = match result {
        Ok(0) => {
            // SAFETY: we are the child of a fork-like clone; `child` makes only
            // async-signal-safe calls and never returns.
            unsafe {
                if cmd.listen_pid {
                    write_pid(listen_pid_ptr.add(11), 11);
                }
                child(
                    cmd,
                    &argv,
                    &envp,
                    &nofile,
                    devnull.as_raw_fd(),
                    report_w.as_raw_fd(),
                )
            }
        }
        Ok(pid) => pid,
        Err(e) => {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return Err(SpawnError::Setup(e));
        }
    };
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    if let Some(path) = move_after {
        let _ = crate::cgroup::move_pid(path, pid);
    }
    drop(report_w);
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: clone3 stored a new pidfd here for us alone.
        unsafe { OwnedFd::from_raw_fd(pidfd) }
    });
    Ok(Spawned {
        pid,
        pidfd,
        report: report_r,
    })
}

/// The child, between clone and exec. Only async-signal-safe calls; reports errno and exits
/// 127 on any failure.
///
/// # Safety
/// Must only be called in the child of a fork-like clone, with pointers valid for its life.
unsafe fn child(
    cmd: &Command,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    nofile: &libc::rlimit,
    devnull: RawFd,
    report: RawFd,
) -> ! {
    // SAFETY: every call below is async-signal-safe and works on fds and memory prepared by
    // the parent before the clone.
    unsafe {
        let s = &cmd.setup;
        proto::child::reset_signals();
        if s.ignore_sigpipe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        if libc::setsid() < 0 {
            fail(report);
        }
        // The mount view first: it may bind device nodes through fds the parent opened
        // (/proc/self/fd/N), which the fd shuffling below could cover.
        if let Err(step) = apply_mounts(&s.mounts) {
            fail_step(report, 1 + step as u32);
        }
        // Everything involved moves above the targets first (F_DUPFD never clobbers), so that
        // placing the passed fds at 3, 4, … and stdio at 0–2 overwrites none of them.
        let n = cmd.pass_fds.len() as RawFd;
        let highest = cmd.extra_fds.iter().map(|(_, t)| *t).max().unwrap_or(0);
        let top = (3 + n).max(highest + 1);
        if cmd.pass_fds.len() + cmd.extra_fds.len() > MAX_PASSED {
            fail(report);
        }
        let up = |fd: RawFd, report: RawFd| -> RawFd {
            let moved = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top);
            if moved < 0 {
                fail(report);
            }
            moved
        };
        let report = up(report, report);
        let devnull = up(devnull, report);
        let stdin = up(cmd.stdin.unwrap_or(devnull), report);
        let stdout = up(cmd.stdout.unwrap_or(devnull), report);
        let stderr = up(cmd.stderr.unwrap_or(devnull), report);
        // All of them moved up first, then placed: placing one must not close another that
        // still sits at its original number.
        let mut moved = [0 as RawFd; MAX_PASSED];
        let targets = cmd
            .pass_fds
            .iter()
            .enumerate()
            .map(|(i, &fd)| (fd, 3 + i as RawFd))
            .chain(cmd.extra_fds.iter().copied());
        let mut count = 0;
        for (slot, (fd, _)) in moved.iter_mut().zip(targets.clone()) {
            *slot = up(fd, report);
            count += 1;
        }
        for (m, (_, target)) in moved.iter().take(count).zip(targets) {
            if proto::child::place_fd(*m, target).is_err() {
                fail(report);
            }
        }
        if libc::dup2(stdin, 0) < 0 || libc::dup2(stdout, 1) < 0 || libc::dup2(stderr, 2) < 0 {
            fail(report);
        }
        if let Some(force) = s.controlling_tty {
            // Best effort, as for a getty: without it the shell still reads and writes the
            // terminal, only without job control.
            libc::ioctl(0, libc::TIOCSCTTY, libc::c_int::from(force));
        }
        if let Some(text) = &s.oom_score_adj {
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                fail(report);
            }
            // Lowering it needs CAP_SYS_RESOURCE. Without it (a container, or a machine that
            // withholds it) systemd ignores the setting ("assuming containerized execution"),
            // and so do we: the daemon runs at the default.
            if libc::write(fd, text.as_ptr().cast(), text.as_bytes().len()) < 0 {
                let e = *libc::__errno_location();
                if e != libc::EACCES && e != libc::EPERM {
                    fail(report);
                }
            }
            libc::close(fd);
        }
        if let Some(nice) = s.nice {
            if libc::setpriority(libc::PRIO_PROCESS, 0, nice) < 0 {
                fail(report);
            }
        }
        if let Some((policy, prio, reset)) = s.sched {
            let param = libc::sched_param {
                sched_priority: prio,
            };
            let p = if reset {
                policy | libc::SCHED_RESET_ON_FORK
            } else {
                policy
            };
            if libc::sched_setscheduler(0, p, &param) < 0 {
                fail(report);
            }
        }
        if let Some(v) = s.ioprio {
            // IOPRIO_WHO_PROCESS = 1, this process.
            if libc::syscall(libc::SYS_ioprio_set, 1, 0, v) < 0 {
                fail(report);
            }
        }
        if let Some(set) = &s.affinity {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) < 0 {
                fail(report);
            }
        }
        if let Some(ns) = s.timer_slack_nsec {
            if libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) < 0 {
                fail(report);
            }
        }
        if let Some(p) = s.personality {
            if libc::personality(p as libc::c_ulong) < 0 {
                fail(report);
            }
        }
        if libc::setrlimit(libc::RLIMIT_NOFILE, nofile) < 0 {
            fail(report);
        }
        for (res, lim) in &s.limits {
            if libc::setrlimit(*res as _, lim) < 0 {
                fail(report);
            }
        }
        libc::umask(s.umask);
        if let Some(root) = &s.root_directory {
            if libc::chroot(root.as_ptr()) < 0 {
                fail(report);
            }
        }
        if libc::chdir(cmd.working_directory.as_ptr()) < 0 {
            fail(report);
        }
        if let Some(bits) = s.secure_bits {
            if libc::prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong, 0, 0, 0) < 0 {
                fail(report);
            }
        }
        if let Some(keep) = s.bounding_set {
            for cap in 0..=s.cap_last.min(63) {
                if keep & (1u64 << cap) == 0
                    && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
                    && *libc::__errno_location() != libc::EINVAL
                {
                    fail(report);
                }
            }
        }
        if let Some((uid, gid)) = cmd.ids {
            if s.ambient != 0 && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 {
                fail(report);
            }
            if libc::setgroups(cmd.groups.len(), cmd.groups.as_ptr()) < 0
                || libc::setgid(gid) < 0
                || libc::setuid(uid) < 0
            {
                fail(report);
            }
        }
        if s.ambient != 0 {
            // Ambient capabilities must be permitted and inheritable first (capabilities(7)).
            let header = CapHeader {
                version: 0x2008_0522,
                pid: 0,
            };
            let lo = (s.ambient & 0xffff_ffff) as u32;
            let hi = (s.ambient >> 32) as u32;
            let data = [
                CapData {
                    effective: lo,
                    permitted: lo,
                    inheritable: lo,
                },
                CapData {
                    effective: hi,
                    permitted: hi,
                    inheritable: hi,
                },
            ];
            if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) < 0 {
                fail(report);
            }
            for cap in 0..64u64 {
                if s.ambient & (1 << cap) != 0
                    && libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                        cap as libc::c_ulong,
                        0,
                        0,
                    ) < 0
                {
                    fail(report);
                }
            }
        }
        if s.no_new_privileges && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
            fail(report);
        }
        libc::execve(cmd.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(report)
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Writes this process's pid in decimal at `at` (room for `room` bytes, NUL-terminated).
///
/// # Safety
/// `at` must point at `room` writable bytes; async-signal-safe (getpid and stores only).
unsafe fn write_pid(at: *mut u8, room: usize) {
    // SAFETY: getpid is async-signal-safe; every store stays within `room` bytes of `at`.
    unsafe {
        let mut pid = libc::getpid() as u32;
        let mut digits = [0u8; 10];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (pid % 10) as u8;
            n += 1;
            pid /= 10;
            if pid == 0 || n == digits.len() {
                break;
            }
        }
        if n + 1 > room {
            return;
        }
        for i in 0..n {
            *at.add(i) = digits[n - 1 - i];
        }
        *at.add(n) = 0;
    }
}

/// Writes errno to the report pipe and exits 127.
///
/// # Safety
/// Async-signal-safe; for the child only.
unsafe fn fail(report: RawFd) -> ! {
    // SAFETY: as fail_step.
    unsafe { fail_step(report, 0) }
}

/// Writes errno and the failing step (0: process setup or exec; 1 + i: mount operation i)
/// to the report pipe in one write, and exits 127.
///
/// # Safety
/// Async-signal-safe; for the child only.
unsafe fn fail_step(report: RawFd, step: u32) -> ! {
    // SAFETY: errno location and write/_exit are async-signal-safe.
    unsafe {
        let e = *libc::__errno_location();
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&e.to_ne_bytes());
        bytes[4..].copy_from_slice(&step.to_ne_bytes());
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

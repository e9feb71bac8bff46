//! Starting a process for a unit: `clone3(CLONE_INTO_CGROUP | CLONE_PIDFD)`, then only
//! async-signal-safe calls until `execve`; an exec failure comes back as an errno through a
//! close-on-exec pipe.
//!
//! Why clone3: the child is born in its cgroup (no window in which it could fork outside it)
//! and the spawn does not wait on the RCU grace period a parent-side `cgroup.procs` write costs
//! (ARCHITECTURE.md §11). Everything the child needs (argv, envp, paths) is built before the
//! clone: the child allocates nothing, logs nothing, takes no lock.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
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
/// The child's parent is our parent (the spawner's children are the supervisor's).
pub const CLONE_PARENT: u64 = 0x8000;
const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
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

/// What the child of a `CLONE_VM` clone needs, in the parent's (suspended) frame.
struct ChildArgs<'a> {
    cmd: &'a Command,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    nofile: &'a libc::rlimit,
    devnull: RawFd,
    report: RawFd,
    listen_pid: *mut u8,
    clean: bool,
}

/// The child's entry on its own stack.
///
/// # Safety
/// `arg` points to a ChildArgs in the frame of a parent suspended by CLONE_VFORK.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn child_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: the parent is suspended until we exec or exit, so its frame is intact.
    unsafe {
        let a = &*(arg as *const ChildArgs<'_>);
        if a.cmd.listen_pid {
            write_pid(a.listen_pid.add(11), 11);
        }
        child(
            a.cmd, a.argv, a.envp, a.nofile, a.devnull, a.report, a.clean,
        )
    }
}

/// The stack of a `CLONE_VM | CLONE_VFORK` child: one child at a time (we wait for its
/// exec), so one stack serves every spawn; a guard page below it.
const CHILD_STACK: usize = 256 * 1024;

/// Whether we may run on one CPU only (then nothing overlaps a child's exec anyway).
fn one_cpu() -> bool {
    thread_local! {
        static ONE: bool = {
            // SAFETY: a zeroed set filled by the kernel.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: our own affinity into a set of the right size.
            let rc = unsafe {
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
            };
            // SAFETY: counting the bits of the set the kernel filled.
            rc == 0 && unsafe { libc::CPU_COUNT(&set) } == 1
        };
    }
    ONE.with(|o| *o)
}

fn child_stack() -> Option<*mut u8> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    thread_local! {
        static STACK: Option<usize> = {
            // SAFETY: a fresh anonymous mapping that nothing else refers to.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    CHILD_STACK + 4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                    -1,
                    0,
                )
            };
            // SAFETY: the first page of our own mapping becomes the guard.
            (p != libc::MAP_FAILED && unsafe { libc::mprotect(p, 4096, libc::PROT_NONE) } == 0)
                .then_some(p as usize + 4096)
        };
    }
    STACK.with(|s| s.map(|p| p as *mut u8))
}

/// clone3 with CLONE_VM | CLONE_VFORK: the child runs `child_entry(arg)` on `args.stack`
/// while we wait for its exec (or exit). The child's pid, or the errno.
///
/// # Safety
/// `args` asks for CLONE_VM | CLONE_VFORK with a valid, unused stack; `arg` is a ChildArgs
/// valid until the call returns.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_vfork(args: &mut CloneArgs, arg: *mut libc::c_void) -> Result<i32, Errno> {
    let rc: i64;
    // SAFETY: in the parent the syscall returns like any other (rcx and r11 clobbered). In
    // the child the kernel has switched to the new stack, where nothing of this frame exists:
    // it only calls child_entry, which never returns.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => rc,
            in("rdi") args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") child_entry as unsafe extern "C" fn(*mut libc::c_void) -> !,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if rc < 0 {
        Err(Errno::from_raw(-rc as i32))
    } else {
        Ok(rc as i32)
    }
}

/// Starts `cmd` in the cgroup `cgroup` (its directory fd and path), or in ours when None.
///
/// Born in its cgroup with `CLONE_INTO_CGROUP`; where the kernel cannot do that (before 5.7,
/// or EBUSY), the child is cloned plainly and moved by a `cgroup.procs` write right after,
/// before anything waits on it. The clone is the spawner's when one runs
/// ([`crate::spawner`]), else ours.
pub fn spawn(
    cmd: &Command,
    cgroup: Option<(BorrowedFd<'_>, &Path)>,
) -> Result<Spawned, SpawnError> {
    // Both ends non-blocking from the start (no fcntl): the child writes at most 8 bytes
    // into the empty pipe, which never blocks anyway.
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(SpawnError::Setup)?;
    let cgroup_fd = cgroup.map(|(fd, _)| fd.as_raw_fd());
    let launched = match crate::spawner::spawn(cmd, cgroup_fd, report_w.as_raw_fd()) {
        Some(r) => r,
        None => {
            let devnull = nix::fcntl::open(
                c"/dev/null",
                nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(SpawnError::Setup)?;
            launch(cmd, cgroup_fd, report_w.as_raw_fd(), devnull.as_raw_fd(), 0)
        }
    };
    let Launched {
        pid,
        pidfd,
        in_cgroup,
    } = launched.map_err(SpawnError::Setup)?;
    if let (false, Some((_, path))) = (in_cgroup, cgroup) {
        let _ = crate::cgroup::move_pid(path, pid);
    }
    drop(report_w);
    Ok(Spawned {
        pid,
        pidfd,
        report: report_r,
    })
}

/// A child cloned by [`launch`].
#[derive(Debug)]
pub struct Launched {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
    /// Born in the cgroup asked for (false: in the cloner's; the caller moves it).
    pub in_cgroup: bool,
}

/// Clones the child that becomes `cmd`, into the cgroup directory `cgroup` when the kernel
/// can; `report` is the report pipe's write end, `devnull` an open /dev/null, `flags` more
/// clone flags. Both fds are the caller's, left open.
///
/// With CLONE_PARENT (the spawner, [`crate::spawner`]), the caller is a small process that
/// installed no signal handlers: the child only unblocks signals instead of resetting each
/// disposition. On a machine with one CPU (as the benchmark's VM), the child also runs in our
/// memory on x86_64 (CLONE_VM | CLONE_VFORK, on a stack of its own) while we wait for its
/// exec: no page tables copied, none torn down at the exec (N = 500 in the VM: 3.7 → 2.8 s to
/// the target). With more CPUs the child's preparation and exec overlap our next clone, which
/// wins (1,000 services on the 2-core host: 0.5 s with a copy, 1.4 s without). The price of
/// waiting: a WorkingDirectory= on a hung NFS mount stalls the spawner, and the supervisor
/// gives up on it after 5 s and clones by itself.
pub fn launch(
    cmd: &Command,
    cgroup: Option<RawFd>,
    report: RawFd,
    devnull: RawFd,
    flags: u64,
) -> Result<Launched, Errno> {
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
        flags: CLONE_PIDFD | flags,
        pidfd: &mut pidfd as *mut RawFd as u64,
        // With CLONE_PARENT the kernel takes our own exit signal (SIGCHLD: the supervisor
        // forked us) and refuses any other.
        exit_signal: if flags & CLONE_PARENT == 0 {
            libc::SIGCHLD as u64
        } else {
            0
        },
        ..CloneArgs::default()
    };
    let mut in_cgroup = cgroup.is_some();
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    let clean = flags & CLONE_PARENT != 0;
    let mut child_args = ChildArgs {
        cmd,
        argv: &argv,
        envp: &envp,
        nofile: &nofile,
        devnull,
        report,
        listen_pid: listen_pid_ptr,
        clean,
    };
    let stack = if clean && one_cpu() {
        child_stack()
    } else {
        None
    };
    let mut clone = |args: &mut CloneArgs| match stack {
        #[cfg(target_arch = "x86_64")]
        Some(stack) => {
            args.flags |= CLONE_VM | CLONE_VFORK;
            args.stack = stack as u64;
            args.stack_size = CHILD_STACK as u64;
            let arg = &mut child_args as *mut ChildArgs<'_> as *mut libc::c_void;
            // SAFETY: our stack, unused since the last child exec'd; child_args stays in this
            // frame, which does not move while the child runs (CLONE_VFORK).
            unsafe { clone3_vfork(args, arg) }
        }
        _ => clone3(args),
    };
    let mut result = clone(&mut args);
    if result.is_err() && cgroup.is_some() {
        args.flags &= !CLONE_INTO_CGROUP;
        args.cgroup = 0;
        in_cgroup = false;
        result = clone(&mut args);
    }
    if result == Err(Errno::ENOSYS) && flags == 0 {
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
                child(cmd, &argv, &envp, &nofile, devnull, report, clean)
            }
        }
        Ok(pid) => pid,
        Err(e) => {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return Err(e);
        }
    };
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: clone3 stored a new pidfd here for us alone.
        unsafe { OwnedFd::from_raw_fd(pidfd) }
    });
    Ok(Launched {
        pid,
        pidfd,
        in_cgroup,
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
    clean: bool,
) -> ! {
    // SAFETY: every call below is async-signal-safe and works on fds and memory prepared by
    // the parent before the clone.
    unsafe {
        let s = &cmd.setup;
        if clean {
            // No handler of the cloner's to reset: unblock, as the exec's new image expects.
            let empty = SigSet::empty();
            libc::sigprocmask(libc::SIG_SETMASK, empty.as_ref(), std::ptr::null_mut());
        } else {
            proto::child::reset_signals();
        }
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

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

use nix::errno::Errno;

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
    /// Where stdout and stderr go (the unit's log pipe), if anywhere; stdin is /dev/null.
    pub output: Option<RawFd>,
    /// setgid/setgroups/setuid to these, when set.
    pub ids: Option<(u32, u32)>,
    /// fds to hand over at 3, 4, … (LISTEN_FDS).
    pub pass_fds: Vec<RawFd>,
}

pub fn cstring(s: &str) -> Result<CString, SpawnError> {
    CString::new(s).map_err(|_| SpawnError::Nul(s.to_string()))
}

/// A spawned child.
pub struct Spawned {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
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

/// Starts `cmd` in the cgroup whose directory fd is `cgroup` (or in ours when None).
pub fn spawn(cmd: &Command, cgroup: Option<BorrowedFd<'_>>) -> Result<Spawned, SpawnError> {
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SpawnError::Setup)?;
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
    let envp: Vec<*const libc::c_char> = cmd
        .env
        .iter()
        .map(|a| a.as_ptr())
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
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: CLONE_PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without CLONE_VM duplicates the process like fork(2); the args struct
    // lives across the call. The supervisor is single-threaded, so no lock can be held by
    // another thread in the child.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if rc < 0 {
        return Err(SpawnError::Setup(Errno::last()));
    }
    if rc == 0 {
        // SAFETY: we are the child of a clone without CLONE_VM; `child` makes only
        // async-signal-safe calls and never returns.
        unsafe {
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
    let pid = i32::try_from(rc).unwrap_or(-1);
    drop(report_w);
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: clone3 stored a new pidfd here for us alone.
        unsafe { OwnedFd::from_raw_fd(pidfd) }
    });
    // Wait for exec: EOF means it succeeded (the pipe closed on exec); four bytes are errno.
    let mut buf = [0u8; 4];
    let mut got = 0;
    loop {
        match nix::unistd::read(&report_r, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if got == buf.len() {
                    break;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    if got == buf.len() {
        let errno = Errno::from_raw(i32::from_ne_bytes(buf));
        // The child has exited; the reaper collects it.
        return Err(SpawnError::Exec {
            path: cmd.path.to_string_lossy().into_owned(),
            errno,
        });
    }
    Ok(Spawned { pid, pidfd })
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
        proto::child::reset_signals();
        if libc::setsid() < 0 {
            fail(report);
        }
        // Passed fds first, to 3, 4, …: moved above the range they may land on first.
        let base = 3 + cmd.pass_fds.len() as RawFd + 64;
        for (i, &fd) in cmd.pass_fds.iter().enumerate() {
            if libc::dup3(fd, base + i as RawFd, libc::O_CLOEXEC) < 0 {
                fail(report);
            }
        }
        for i in 0..cmd.pass_fds.len() {
            if libc::dup2(base + i as RawFd, 3 + i as RawFd) < 0 {
                fail(report);
            }
        }
        let out = cmd.output.unwrap_or(devnull);
        if libc::dup2(devnull, 0) < 0 || libc::dup2(out, 1) < 0 || libc::dup2(out, 2) < 0 {
            fail(report);
        }
        if libc::setrlimit(libc::RLIMIT_NOFILE, nofile) < 0 {
            fail(report);
        }
        libc::umask(0o022);
        if libc::chdir(cmd.working_directory.as_ptr()) < 0 {
            fail(report);
        }
        if let Some((uid, gid)) = cmd.ids {
            if libc::setgroups(0, std::ptr::null()) < 0
                || libc::setgid(gid) < 0
                || libc::setuid(uid) < 0
            {
                fail(report);
            }
        }
        libc::execve(cmd.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(report)
    }
}

/// Writes errno to the report pipe and exits 127.
///
/// # Safety
/// Async-signal-safe; for the child only.
unsafe fn fail(report: RawFd) -> ! {
    // SAFETY: errno location and write/_exit are async-signal-safe.
    unsafe {
        let e = *libc::__errno_location();
        let bytes = e.to_ne_bytes();
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

//! What every process cairn starts needs between fork and exec.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};

/// Unblocks every signal and restores default dispositions. Rust's `Command` resets neither,
/// and pid1 blocks everything for its signalfd: a child would inherit that.
///
/// Async-signal-safe (sigprocmask and sigaction only): for use in `pre_exec`.
pub fn reset_signals() {
    // Dispositions first, then the mask: a signal unblocked while one of the parent's handlers
    // is still installed would run that handler in the child (which shares the parent's
    // self-pipe fds until exec).
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL runs no handler code.
            let _ = unsafe { sigaction(sig, &dfl) };
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Puts `fd` at `target` for the exec that follows, clearing close-on-exec. `dup2(3, 3)` does
/// not clear FD_CLOEXEC, so an fd already in place gets the flag cleared with fcntl.
///
/// Async-signal-safe: for use in `pre_exec`.
pub fn place_fd(fd: i32, target: i32) -> std::io::Result<()> {
    // SAFETY: fcntl and dup2 on fds the caller owns; both are async-signal-safe.
    let rc = unsafe {
        if fd == target {
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, target)
        }
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

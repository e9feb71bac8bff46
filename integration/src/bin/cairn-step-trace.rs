//! cairn-step-trace [--no-namespace] OUT COMMAND [ARG...]: runs COMMAND as PID 1 of a new
//! PID and mount namespace with its own /proc (as `unshare --pid --mount --fork --mount-proc`
//! would) and single-steps it with ptrace from its exec to its end, writing every address it
//! executed, once each, in decimal, to OUT (`-`: standard output, each line after "STEP ").
//! What it starts is not traced. With --no-namespace COMMAND runs as a plain child: for a VM's
//! /init, where this is PID 1 and COMMAND (cairn-init --system) the system's init in all but
//! its pid.
//!
//! For integration/scripts/hot-functions: which functions cairn-init runs, natively.
//! valgrind would say so too, but its CPU is not the machine's: no vDSO (so none of static
//! glibc's code that sets it up) and other string functions.

use std::collections::HashSet;
use std::ffi::CString;
use std::io::Write;

use anyhow::{bail, ensure, Context};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execvp, fork, ForkResult, Pid};

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let namespace = args.first().map(String::as_str) != Some("--no-namespace");
    if !namespace {
        args.remove(0);
    }
    ensure!(
        args.len() >= 2,
        "usage: cairn-step-trace [--no-namespace] OUT COMMAND [ARG...]"
    );
    let argv = args[1..]
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .context("an argument holds a NUL byte")?;
    if namespace {
        unshare(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS).context("unshare")?;
    }
    // SAFETY: this process has one thread; the child only makes system calls before exec.
    let child = match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            if let Err(e) = traced_child(&argv, namespace) {
                eprintln!("cairn-step-trace: {e:#}");
            }
            // SAFETY: the child ends here without running the parent's exit handlers.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => child,
    };
    let (seen, status) = step(child)?;
    let mut addrs: Vec<u64> = seen.into_iter().collect();
    addrs.sort_unstable();
    let (sink, prefix): (Box<dyn Write>, &str) = if args[0] == "-" {
        (Box::new(std::io::stdout().lock()), "STEP ")
    } else {
        let file = std::fs::File::create(&args[0])
            .with_context(|| format!("cannot create {}", args[0]))?;
        (Box::new(file), "")
    };
    let mut out = std::io::BufWriter::new(sink);
    for a in &addrs {
        writeln!(out, "{prefix}{a}")?;
    }
    out.flush()?;
    eprintln!("cairn-step-trace: {} addresses executed", addrs.len());
    // COMMAND's own status, as a shell would give it.
    std::process::exit(status)
}

/// In the child (PID 1 of the new namespace): a private mount tree with its own /proc, then
/// stopped for the tracer at its exec.
fn traced_child(argv: &[CString], namespace: bool) -> anyhow::Result<()> {
    if namespace {
        own_proc()?;
    }
    // SAFETY: PTRACE_TRACEME reads neither address nor data.
    if unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, NULL, NULL) } != 0 {
        bail!("PTRACE_TRACEME: {}", std::io::Error::last_os_error());
    }
    execvp(&argv[0], argv).with_context(|| format!("cannot run {:?}", argv[0]))?;
    unreachable!("execvp returned without an error")
}

fn own_proc() -> anyhow::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making / private")?;
    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        proc_flags,
        None::<&str>,
    )
    .context("mounting /proc")?;
    Ok(())
}

const NULL: *mut libc::c_void = std::ptr::null_mut();

/// Single-steps `child` from its exec stop until it exits or is killed; the addresses of the
/// instructions it ran, and its exit status (128 + the signal that killed it). Signals other
/// than the steps' own SIGTRAP are passed on.
fn step(child: Pid) -> anyhow::Result<(HashSet<u64>, i32)> {
    match waitpid(child, None).context("waitpid")? {
        WaitStatus::Stopped(_, nix::sys::signal::Signal::SIGTRAP) => {}
        other => bail!("the child did not stop at its exec: {other:?}"),
    }
    let options = libc::PTRACE_O_EXITKILL as usize as *mut libc::c_void;
    // SAFETY: PTRACE_SETOPTIONS takes the options as its data word, no address.
    if unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, child.as_raw(), NULL, options) } != 0 {
        bail!("PTRACE_SETOPTIONS: {}", std::io::Error::last_os_error());
    }
    // At each stop the child is about to run the instruction at rip: the exec stop's is the
    // program's first.
    let mut seen = HashSet::new();
    seen.extend(rip(child));
    let mut deliver = 0;
    loop {
        let data = deliver as usize as *mut libc::c_void;
        // SAFETY: PTRACE_SINGLESTEP takes the signal to deliver as its data word, no address.
        if unsafe { libc::ptrace(libc::PTRACE_SINGLESTEP, child.as_raw(), NULL, data) } != 0 {
            bail!("PTRACE_SINGLESTEP: {}", std::io::Error::last_os_error());
        }
        match waitpid(child, None).context("waitpid")? {
            WaitStatus::Exited(_, code) => return Ok((seen, code)),
            WaitStatus::Signaled(_, sig, _) => return Ok((seen, 128 + sig as i32)),
            WaitStatus::Stopped(_, nix::sys::signal::Signal::SIGTRAP) => {
                deliver = 0;
                seen.extend(rip(child));
            }
            WaitStatus::Stopped(_, sig) => deliver = sig as i32,
            _ => deliver = 0,
        }
    }
}

/// The stopped child's instruction pointer.
fn rip(child: Pid) -> Option<u64> {
    let mut regs = std::mem::MaybeUninit::<libc::user_regs_struct>::uninit();
    // SAFETY: PTRACE_GETREGS writes one user_regs_struct to the pointer given.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            child.as_raw(),
            NULL,
            regs.as_mut_ptr(),
        )
    };
    // SAFETY: the call succeeded, so it filled the struct.
    (r == 0).then(|| unsafe { regs.assume_init() }.rip)
}

//! System mode or container mode (ARCHITECTURE.md §1), decided once at start.

use crate::args::Args;

/// The inode of the initial PID namespace (PROC_PID_INIT_INO).
const INITIAL_PID_NS: &str = "pid:[4026531836]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Container mode: touch nothing shared with the host.
    pub container: bool,
    /// getpid() == 1 (of whatever PID namespace): kill(-1) and reboot(2) are ours to use.
    pub is_pid1: bool,
}

pub fn detect(args: &Args) -> Mode {
    let is_pid1 = std::process::id() == 1;
    let container = match args.force_container {
        Some(c) => c,
        None => {
            args.units.is_some()
                || std::env::var_os("container").is_some()
                || !is_pid1
                || !in_initial_pid_ns()
        }
    };
    Mode { container, is_pid1 }
}

/// True unless /proc says otherwise: before /proc is mounted (early boot) we are the machine's
/// init.
fn in_initial_pid_ns() -> bool {
    match std::fs::read_link("/proc/self/ns/pid") {
        Ok(link) => link.as_os_str() == INITIAL_PID_NS,
        Err(_) => true,
    }
}

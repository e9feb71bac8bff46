//! Finding and starting the supervisor.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mode::Mode;

pub const SUPERVISOR: &str = "cairn-supervisor";
pub const INSTALL_DIR: &str = "/usr/lib/cairn";

/// The directory this binary lives in, with symlinks resolved without /proc (realpath(3)
/// walks the path with readlink): `/init` → `/usr/lib/cairn/cairn-init` gives
/// `/usr/lib/cairn`.
pub fn own_dir(argv0: &OsString) -> Option<PathBuf> {
    let p = Path::new(argv0);
    let path = if p.components().count() > 1 {
        p.to_path_buf()
    } else {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths)
            .map(|d| d.join(p))
            .find(|c| c.is_file())?
    };
    std::fs::canonicalize(path)
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

/// `--supervisor`, else the sibling of this binary, else the install directory.
pub fn find_supervisor(explicit: Option<&Path>, argv0: &OsString) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(dir) = own_dir(argv0) {
        let sibling = dir.join(SUPERVISOR);
        if sibling.is_file() {
            return sibling;
        }
    }
    Path::new(INSTALL_DIR).join(SUPERVISOR)
}

/// Starts the supervisor with `link` on fd 3. Returns its pid.
pub fn supervisor(
    path: &Path,
    link: &OwnedFd,
    mode: Mode,
    generation: u32,
    forward: &[OsString],
) -> std::io::Result<i32> {
    let fd = link.as_raw_fd();
    let mut cmd = Command::new(path);
    cmd.arg(if mode.container {
        "--container"
    } else {
        "--system"
    })
    .args(forward)
    .env("CAIRN_INIT_FD", proto::BUS_FD.to_string())
    .env("CAIRN_GENERATION", generation.to_string());
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (sigprocmask, sigaction, dup2, fcntl); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            proto::child::reset_signals();
            proto::child::place_fd(fd, proto::BUS_FD)
        });
    }
    let child = cmd.spawn()?;
    // pid1 reaps with waitpid(-1): the Child handle is only a pid to us.
    Ok(i32::try_from(child.id()).unwrap_or(-1))
}

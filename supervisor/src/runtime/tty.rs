//! TTYReset=, TTYVHangup= and TTYVTDisallocate=: what systemd's `exec_context_tty_reset()` does
//! to TTYPath before a process starts, so that it does not inherit the last one's terminal
//! modes, sessions or screen. Each step is best effort, as in systemd: a failure is reported
//! and the start goes on.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::termios::{self, ControlFlags, InputFlags, LocalFlags, OutputFlags, SetArg};

use crate::unit::exec_config::ExecContext;

// From <linux/kd.h> and <linux/vt.h>; libc does not export them all.
const KDSETMODE: libc::c_ulong = 0x4B3A;
const KD_TEXT: libc::c_int = 0;
const KDSKBMODE: libc::c_ulong = 0x4B45;
const K_UNICODE: libc::c_int = 3;
const VT_DISALLOCATE: libc::c_ulong = 0x5608;
const TIOCVHANGUP: libc::c_ulong = 0x5437;

/// Applies the unit's terminal settings to its TTYPath. Returns what failed, one line each.
pub(crate) fn prepare(x: &ExecContext) -> Vec<String> {
    let mut failed = Vec::new();
    let path = x.tty_path.as_str();
    let mut step = |what: &str, r: nix::Result<()>| {
        if let Err(e) = r {
            failed.push(format!("{what} {path}: {e}"));
        }
    };
    if x.tty_vhangup {
        step(
            "TTYVHangup=yes:",
            open(path).and_then(|fd| ioctl(&fd, TIOCVHANGUP, 0)),
        );
    }
    if x.tty_reset {
        step("TTYReset=yes:", open(path).and_then(|fd| reset(&fd)));
    }
    if x.tty_vt_disallocate {
        step("TTYVTDisallocate=yes:", vt_disallocate(path));
    }
    failed
}

fn open(path: &str) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        nix::sys::stat::Mode::empty(),
    )
}

fn ioctl(fd: &OwnedFd, request: libc::c_ulong, arg: libc::c_int) -> nix::Result<()> {
    // SAFETY: the requests used here take an int by value, not a pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) };
    nix::errno::Errno::result(r).map(drop)
}

/// systemd's `reset_terminal_fd(fd, true)`: not exclusive, text mode, the unicode keyboard
/// (these three only mean something on a VT; their failures are ignored, as systemd does),
/// then sane line discipline settings and the input and output queues flushed.
fn reset(fd: &OwnedFd) -> nix::Result<()> {
    if !nix::unistd::isatty(fd)? {
        return Err(nix::errno::Errno::ENOTTY);
    }
    let _ = ioctl(fd, libc::TIOCNXCL, 0);
    let _ = ioctl(fd, KDSETMODE, KD_TEXT);
    let _ = ioctl(fd, KDSKBMODE, K_UNICODE);
    let result = termios::tcgetattr(fd).and_then(|mut t| {
        t.input_flags.remove(
            InputFlags::IGNBRK
                | InputFlags::BRKINT
                | InputFlags::ISTRIP
                | InputFlags::INLCR
                | InputFlags::IGNCR
                | InputFlags::from_bits_retain(libc::IUCLC),
        );
        t.input_flags |= InputFlags::ICRNL | InputFlags::IMAXBEL | InputFlags::IUTF8;
        t.output_flags |= OutputFlags::ONLCR | OutputFlags::OPOST;
        t.control_flags |= ControlFlags::CREAD;
        t.local_flags = LocalFlags::ISIG
            | LocalFlags::ICANON
            | LocalFlags::IEXTEN
            | LocalFlags::ECHO
            | LocalFlags::ECHOE
            | LocalFlags::ECHOK
            | LocalFlags::ECHOCTL
            | LocalFlags::ECHOPRT
            | LocalFlags::ECHOKE;
        use termios::SpecialCharacterIndices as C;
        for (i, v) in [
            (C::VINTR, 0o3),
            (C::VQUIT, 0o34),
            (C::VERASE, 0o177),
            (C::VKILL, 0o25),
            (C::VEOF, 0o4),
            (C::VSTART, 0o21),
            (C::VSTOP, 0o23),
            (C::VSUSP, 0o32),
            (C::VLNEXT, 0o26),
            (C::VWERASE, 0o27),
            (C::VREPRINT, 0o22),
            (C::VEOL, 0),
            (C::VEOL2, 0),
            (C::VTIME, 0),
            (C::VMIN, 1),
        ] {
            t.control_chars[i as usize] = v;
        }
        termios::tcsetattr(fd, SetArg::TCSANOW, &t)
    });
    let _ = termios::tcflush(fd, termios::FlushArg::TCIOFLUSH);
    result
}

/// systemd's `vt_disallocate()`: only for a VT (`/dev/ttyN`, N > 0; any other terminal is left
/// alone, quietly, as systemd does); deallocate it, or when it is the active one (EBUSY) at
/// least clear the screen and its scrollback.
fn vt_disallocate(path: &str) -> nix::Result<()> {
    let Some(n) = path
        .strip_prefix("/dev/tty")
        .and_then(|n| n.parse::<libc::c_int>().ok())
        .filter(|&n| n > 0)
    else {
        return Ok(());
    };
    match open("/dev/tty0").and_then(|fd| ioctl(&fd, VT_DISALLOCATE, n)) {
        Err(nix::errno::Errno::EBUSY) => {
            let fd = open(path)?;
            nix::unistd::write(&fd, b"\x1b[r\x1b[H\x1b[3J").map(drop)
        }
        other => other,
    }
}

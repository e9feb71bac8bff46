//! The final act, on the supervisor's word: everything left gets SIGTERM, then SIGKILL; then
//! sync, unmount (system mode only), and reboot(2).
//!
//! As PID 1 of a PID namespace (container mode), reboot(2) ends the namespace and its parent
//! sees this process killed by SIGINT (poweroff, halt) or SIGHUP (reboot). When pid1 is not
//! PID 1 at all (a subreaper under some other init) there is no machine to reboot: it signals
//! its own descendants and exits 0.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use proto::pid1_capnp::ShutdownKind;

use crate::mode::Mode;

pub fn final_shutdown(kind: ShutdownKind, mode: Mode, grace: Duration) -> ! {
    eprintln!("cairn-init: {} (stopping what is left)", kind_name(kind));
    signal_all(mode, Signal::SIGTERM);
    signal_all(mode, Signal::SIGCONT);
    if !reap_until_empty(Instant::now() + grace) {
        signal_all(mode, Signal::SIGKILL);
        reap_until_empty(Instant::now() + Duration::from_secs(5));
    }
    nix::unistd::sync();
    if !mode.container {
        unmount_all();
        nix::unistd::sync();
    }
    if mode.is_pid1 {
        let how = match kind {
            ShutdownKind::Poweroff => RebootMode::RB_POWER_OFF,
            ShutdownKind::Reboot => RebootMode::RB_AUTOBOOT,
            ShutdownKind::Halt => RebootMode::RB_HALT_SYSTEM,
        };
        let err = reboot(how).err();
        eprintln!("cairn-init: reboot(2) failed: {err:?}");
        if !mode.container {
            // PID 1 of the machine must not exit: the kernel would panic.
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        std::process::exit(1)
    }
    std::process::exit(0)
}

pub fn kind_name(kind: ShutdownKind) -> &'static str {
    match kind {
        ShutdownKind::Poweroff => "poweroff",
        ShutdownKind::Reboot => "reboot",
        ShutdownKind::Halt => "halt",
    }
}

fn signal_all(mode: Mode, sig: Signal) {
    if mode.is_pid1 {
        // Everything in our PID namespace but us.
        let _ = kill(Pid::from_raw(-1), sig);
        return;
    }
    for pid in descendants() {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Reaps until no child is left (true) or the deadline passes (false).
fn reap_until_empty(deadline: Instant) -> bool {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Err(Errno::ECHILD) => return true,
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(_) | Err(_) => {}
        }
    }
}

/// Our descendants, from /proc (only used when we are not PID 1).
fn descendants() -> Vec<i32> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The command may hold spaces and parentheses: fields start after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![me];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.retain(|p| *p != me);
    out
}

/// System mode: unmount what can be, innermost first; remount the rest read-only.
fn unmount_all() {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape))
        .collect();
    points.reverse();
    for p in &points {
        if matches!(p.as_str(), "/" | "/proc" | "/sys" | "/dev") {
            continue;
        }
        if nix::mount::umount2(p.as_str(), nix::mount::MntFlags::empty()).is_err() {
            let _ = nix::mount::mount(
                None::<&str>,
                p.as_str(),
                None::<&str>,
                nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_RDONLY,
                None::<&str>,
            );
        }
    }
    let _ = nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_RDONLY,
        None::<&str>,
    );
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (c, oct) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |acc, x| acc * 8 + u32::from(x - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_octal_escapes() {
        assert_eq!(super::unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(super::unescape("/plain"), "/plain");
        assert_eq!(super::unescape("/end\\04"), "/end\\04");
    }
}

//! Executing a new cairn-init in this process (after switch-root) without losing what pid1
//! holds: the fd store and the exit statuses not yet forwarded. Both go into a memfd that the
//! new binary reads (`--deserialize FD`); the stored fds are inherited as they are, their
//! numbers written beside their names.
//!
//! The format is line-based text with a version line; a file of another version is refused
//! with a clear message, and then the new pid1 starts with an empty store rather than misread.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// Sets or clears close-on-exec on a raw fd number; false if it is not open.
fn set_cloexec(fd: RawFd, on: bool) -> bool {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD on any number is harmless: an fd that is not open gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_SETFD, flag) == 0 }
}

use crate::store::ChildExit;

const MAGIC: &str = "cairn-init-carry 1";

/// What one pid1 hands the next.
#[derive(Debug, Default)]
pub struct Carried {
    pub fds: Vec<(String, OwnedFd)>,
    pub exits: Vec<ChildExit>,
    pub generation: u32,
    pub restarts: u32,
    /// The running supervisor, kept across a re-exec (not across switch-root).
    pub supervisor: Option<CarriedSupervisor>,
}

#[derive(Debug)]
pub struct CarriedSupervisor {
    pub pid: i32,
    pub link: OwnedFd,
    pub taken: bool,
}

/// The supervisor as written: pid, link fd number, whether it took the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorLine {
    pub pid: i32,
    pub link: RawFd,
    pub taken: bool,
}

/// The text for `fds` (by their numbers) and `exits`. Names with a tab or newline cannot be
/// written and are left out (pid1's store never makes such names: they come from unit names).
pub fn encode(
    fds: &[(&str, RawFd)],
    exits: &[ChildExit],
    generation: u32,
    restarts: u32,
    supervisor: Option<SupervisorLine>,
) -> String {
    let mut t = format!("{MAGIC}\ngeneration\t{generation}\nrestarts\t{restarts}\n");
    if let Some(sup) = supervisor {
        t.push_str(&format!(
            "supervisor\t{}\t{}\t{}\n",
            sup.pid,
            sup.link,
            u8::from(sup.taken)
        ));
    }
    for (name, fd) in fds {
        if !name.contains(['\t', '\n']) {
            t.push_str(&format!("fd\t{fd}\t{name}\n"));
        }
    }
    for e in exits {
        t.push_str(&format!(
            "exit\t{}\t{}\t{}\t{}\n",
            e.pid,
            e.code,
            e.signal,
            u8::from(e.core_dumped)
        ));
    }
    t
}

/// What [`encode`] wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub fds: Vec<(String, RawFd)>,
    pub exits: Vec<ChildExit>,
    pub generation: u32,
    pub restarts: u32,
    pub supervisor: Option<SupervisorLine>,
}

pub fn decode(text: &str) -> Result<Decoded, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(MAGIC) => {}
        other => {
            return Err(format!(
                "not a state this cairn-init reads (first line {other:?}, expected {MAGIC:?})"
            ))
        }
    }
    let mut d = Decoded::default();
    for (n, line) in lines.enumerate() {
        let w: Vec<&str> = line.split('\t').collect();
        let bad = || format!("line {}: cannot read {line:?}", n + 2);
        let num = |s: &str| s.parse::<i32>().map_err(|_| bad());
        match w.as_slice() {
            ["generation", g] => d.generation = g.parse().map_err(|_| bad())?,
            ["restarts", r] => d.restarts = r.parse().map_err(|_| bad())?,
            ["fd", fd, name] => d.fds.push((name.to_string(), num(fd)?)),
            ["exit", pid, code, signal, core] => d.exits.push(ChildExit {
                pid: num(pid)?,
                code: num(code)?,
                signal: num(signal)?,
                core_dumped: *core == "1",
            }),
            ["supervisor", pid, link, taken] => {
                d.supervisor = Some(SupervisorLine {
                    pid: num(pid)?,
                    link: num(link)?,
                    taken: *taken == "1",
                })
            }
            _ => return Err(bad()),
        }
    }
    Ok(d)
}

/// Writes the memfd the next pid1 reads, and clears close-on-exec on the stored fds (and on
/// the memfd) so that they survive execve(2).
pub fn prepare(
    fds: &[(&str, RawFd)],
    exits: &[ChildExit],
    generation: u32,
    restarts: u32,
    supervisor: Option<SupervisorLine>,
) -> Result<OwnedFd, Errno> {
    let fd =
        nix::sys::memfd::memfd_create(c"cairn-init-carry", nix::sys::memfd::MFdFlags::empty())?;
    let mut file = std::fs::File::from(fd);
    file.write_all(encode(fds, exits, generation, restarts, supervisor).as_bytes())
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    for fd in fds
        .iter()
        .map(|(_, fd)| *fd)
        .chain(supervisor.map(|s| s.link))
    {
        if !set_cloexec(fd, false) {
            return Err(Errno::EBADF);
        }
    }
    Ok(OwnedFd::from(file))
}

/// Reads what the previous pid1 left at `fd` (and closes it). Every fd named must be open and
/// distinct, and none of 0–2 or the memfd itself; those that are not are reported and skipped.
pub fn take(fd: RawFd) -> Result<Carried, String> {
    if fd <= 2 || !set_cloexec(fd, true) {
        return Err(format!("--deserialize {fd}: not an open file descriptor"));
    }
    // SAFETY: the previous pid1 left this fd open for us alone (checked open above); nothing
    // else in this process knows it.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text))
        .map_err(|e| format!("--deserialize {fd}: {e}"))?;
    let d = decode(&text)?;
    let mut seen = std::collections::BTreeSet::new();
    let mut fds = Vec::new();
    let supervisor = match d.supervisor {
        Some(s) if s.link > 2 && s.link != file.as_raw_fd() && set_cloexec(s.link, true) => {
            seen.insert(s.link);
            // SAFETY: the link fd is open (F_SETFD succeeded) and was handed over for the
            // supervisor alone; its number is reserved in `seen` so no store entry claims it.
            let link = unsafe { OwnedFd::from_raw_fd(s.link) };
            Some(CarriedSupervisor {
                pid: s.pid,
                link,
                taken: s.taken,
            })
        }
        Some(s) => {
            eprintln!(
                "cairn-init: carried supervisor link {} is not usable; a new supervisor starts",
                s.link
            );
            None
        }
        None => None,
    };
    for (name, n) in d.fds {
        if n <= 2 || n == file.as_raw_fd() || !seen.insert(n) {
            eprintln!("cairn-init: carried fd {name} = {n}: not a usable number, skipped");
            continue;
        }
        if !set_cloexec(n, true) {
            eprintln!("cairn-init: carried fd {name} = {n} is not open, skipped");
            continue;
        }
        // SAFETY: fd n is open (F_SETFD succeeded), was handed to this process by the previous
        // pid1 for this entry alone (numbers are distinct, checked above), and has no other
        // owner here.
        fds.push((name, unsafe { OwnedFd::from_raw_fd(n) }));
    }
    Ok(Carried {
        fds,
        exits: d.exits,
        generation: d.generation,
        restarts: d.restarts,
        supervisor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let exits = [
            ChildExit {
                pid: 42,
                code: 3,
                signal: 0,
                core_dumped: false,
            },
            ChildExit {
                pid: 43,
                code: 0,
                signal: 9,
                core_dumped: true,
            },
        ];
        let sup = SupervisorLine {
            pid: 12,
            link: 5,
            taken: true,
        };
        let text = encode(
            &[
                ("socket.echo.socket.0", 7),
                ("bad\tname", 8),
                ("supervisor.state", 9),
            ],
            &exits,
            3,
            2,
            Some(sup),
        );
        let d = decode(&text).unwrap();
        assert_eq!(
            d.fds,
            vec![
                ("socket.echo.socket.0".to_string(), 7),
                ("supervisor.state".to_string(), 9)
            ]
        );
        assert_eq!(d.exits, exits);
        assert_eq!((d.generation, d.restarts), (3, 2));
        assert_eq!(d.supervisor, Some(sup));
        assert_eq!(
            decode(&encode(&[], &[], 1, 0, None)).unwrap().supervisor,
            None
        );
    }

    #[test]
    fn another_version_or_garbage_is_refused_by_line() {
        assert!(decode("cairn-init-carry 2\n")
            .unwrap_err()
            .contains("not a state"));
        assert_eq!(
            decode(&format!("{MAGIC}\nfd\tx\tname\n")).unwrap_err(),
            "line 2: cannot read \"fd\\tx\\tname\""
        );
    }

    #[test]
    fn fds_cross_an_exec_boundary_through_the_memfd() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let carry = prepare(&[("pipe.r", r.as_raw_fd())], &[], 1, 0, None).unwrap();
        // prepare cleared close-on-exec on what it carries.
        // SAFETY: F_GETFD on an fd we own.
        let flags = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, 0);
        // The new pid1's view: it owns the numbers now (the old owner forgets them).
        let raw_r = std::os::fd::IntoRawFd::into_raw_fd(r);
        let raw_carry = std::os::fd::IntoRawFd::into_raw_fd(carry);
        let c = take(raw_carry).unwrap();
        assert_eq!(c.fds.len(), 1);
        assert_eq!(c.fds[0].0, "pipe.r");
        assert_eq!(c.fds[0].1.as_raw_fd(), raw_r);
        nix::unistd::write(&w, b"x").unwrap();
        let mut buf = [0u8; 1];
        nix::unistd::read(&c.fds[0].1, &mut buf).unwrap();
        assert_eq!(&buf, b"x");
        assert!(take(0).is_err());
    }
}

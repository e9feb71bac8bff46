//! The spawner: a small process of our own (`cairn-spawner`, or `cairn-supervisor --spawner`
//! where that binary is missing; started once) that clones the services' processes for the
//! supervisor.
//!
//! Why: a clone copies the cloner's page tables and fd table, and the exec then closes every
//! close-on-exec fd one by one. The supervisor holds a few fds per service (log pipes, pidfds)
//! and a heap that grows with the units, so a spawn from it costs more with every service
//! started: with 1,000 services up, the exec of the next one closed 3,000 fds (perf: two thirds
//! of a spawn was `copy_page_range` and `do_close_on_exec`). The spawner holds one socket and
//! a small address space, so each clone costs the same, and the supervisor goes on while the
//! child execs.
//!
//! The child is the supervisor's child all the same (`CLONE_PARENT`): the supervisor reaps it,
//! gets its pidfd (SCM_RIGHTS back), and learns about its exec through the report pipe it made,
//! exactly as when it clones itself. Requests and answers are single SEQPACKET messages on a
//! socketpair; the request carries the `spawn::Command` (encoded below) and its fds.
//!
//! When there is no spawner (unit tests, a request too big for one message, a spawner that
//! died or did not answer within 5 s) the supervisor clones by itself: slower, same result.

use std::cell::RefCell;
use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::spawn::{self, Command, Launched, MountOp, Setup};

/// The largest request (argv and environment included); larger ones are cloned directly.
pub const MAX_REQUEST: usize = 128 * 1024;
/// The most fds one request carries (one SCM_RIGHTS message).
pub const MAX_FDS: usize = 250;
/// How long the supervisor waits for an answer before it gives up on the spawner.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The supervisor's end.
pub struct Client {
    sock: OwnedFd,
    pid: i32,
}

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
    /// Processes the spawner cloned for us.
    static CLONED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many processes the spawner has cloned for this supervisor.
pub fn cloned() -> u64 {
    CLONED.with(std::cell::Cell::get)
}

/// Starts the spawner — `cairn-spawner` beside `exe` (our own binary), else `exe --spawner` —
/// and uses it from now on. Its pid, or why not.
pub fn start(exe: &Path) -> std::io::Result<i32> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let tv = nix::sys::time::TimeVal::new(ANSWER_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(&ours, nix::sys::socket::sockopt::ReceiveTimeout, &tv)?;
    let own = exe.with_file_name("cairn-spawner");
    let mut cmd = if own.is_file() {
        std::process::Command::new(own)
    } else {
        let mut c = std::process::Command::new(exe);
        c.arg("--spawner");
        c
    };
    let raw = theirs.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; the closure runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(theirs);
    let pid = child.id() as i32;
    // The supervisor reaps it with every other child (waitpid(-1)); std's handle is dropped.
    drop(child);
    CLIENT.with(|c| *c.borrow_mut() = Some(Client { sock: ours, pid }));
    Ok(pid)
}

/// The spawner's pid, while the supervisor uses one.
pub fn pid() -> Option<i32> {
    CLIENT.with(|c| c.borrow().as_ref().map(|c| c.pid))
}

/// Stops using the spawner (it exits when its socket closes).
pub fn stop() {
    CLIENT.with(|c| c.borrow_mut().take());
}

/// Clones `cmd` through the spawner. None: no spawner, or this request cannot go through it
/// (the caller clones by itself).
pub fn spawn(
    cmd: &Command,
    cgroup: Option<RawFd>,
    report: RawFd,
) -> Option<Result<Launched, Errno>> {
    CLIENT.with(|c| {
        let mut slot = c.borrow_mut();
        let client = slot.as_ref()?;
        let mut req = Encoder::default();
        req.opt_fd(cgroup);
        req.fd(report);
        encode(&mut req, cmd);
        if req.bytes.len() > MAX_REQUEST || req.fds.len() > MAX_FDS {
            return None;
        }
        match client.ask(&req) {
            Ok(answer) => {
                if answer.is_ok() {
                    CLONED.with(|n| n.set(n.get() + 1));
                }
                Some(answer)
            }
            Err(e) => {
                crate::warn!(
                    "the spawner (pid {}) failed ({e}): the supervisor clones by itself from now on",
                    client.pid
                );
                *slot = None;
                None
            }
        }
    })
}

impl Client {
    fn ask(&self, req: &Encoder) -> Result<Result<Launched, Errno>, Errno> {
        let iov = [IoSlice::new(&req.bytes)];
        let rights = [ControlMessage::ScmRights(&req.fds)];
        let cmsgs: &[ControlMessage<'_>] = if req.fds.is_empty() { &[] } else { &rights };
        sendmsg::<()>(
            self.sock.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        let mut buf = [0u8; 12];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(Errno::EINTR) => continue,
                other => break other?,
            }
        };
        let mut pidfd = None;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: the kernel just installed this fd for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    pidfd.get_or_insert(owned);
                }
            }
        }
        if msg.bytes != 12 {
            return Err(Errno::EPIPE);
        }
        let pid = i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let in_cgroup = buf[8] != 0;
        if errno != 0 {
            return Ok(Err(Errno::from_raw(errno)));
        }
        Ok(Ok(Launched {
            pid,
            pidfd,
            in_cgroup,
        }))
    }
}

/// The spawner's loop on `sock`: one request, one clone, one answer, until the supervisor
/// closes its end. `flags` are extra clone flags (CLONE_PARENT in the real spawner).
pub fn serve(sock: OwnedFd, flags: u64) -> std::io::Result<()> {
    let devnull = nix::fcntl::open(
        c"/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        if msg.bytes == 0 {
            return Ok(());
        }
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: the kernel just installed these fds for us.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        let truncated = msg
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
        let len = msg.bytes;
        let answer = if truncated {
            Err(Errno::E2BIG)
        } else {
            decode_request(&buf[..len], &fds).and_then(|(cgroup, report, cmd)| {
                spawn::launch(&cmd, cgroup, report, devnull.as_raw_fd(), flags)
            })
        };
        drop(fds);
        let mut out = [0u8; 12];
        let mut pidfd = None;
        match answer {
            Ok(l) => {
                out[..4].copy_from_slice(&l.pid.to_ne_bytes());
                out[8] = u8::from(l.in_cgroup);
                pidfd = l.pidfd;
            }
            Err(e) => out[4..8].copy_from_slice(&(e as i32).to_ne_bytes()),
        }
        let raw: Vec<RawFd> = pidfd.iter().map(|f| f.as_fd().as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &rights };
        sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(&out)],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
    }
}

/// `cairn-spawner` (or `cairn-supervisor --spawner`): serves on fd 3 until the supervisor goes.
pub fn main() -> std::io::Result<()> {
    // SAFETY: fd 3 is the socket the supervisor passed us, ours alone from now on.
    let sock = unsafe { OwnedFd::from_raw_fd(3) };
    let _ = nix::fcntl::fcntl(
        &sock,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    // Nothing else of the supervisor's may reach a service through us.
    // SAFETY: close_range on numbers above our socket; we hold no other fd we need.
    unsafe { libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) };
    // Every disposition at its default (Rust ignores SIGPIPE; we send with MSG_NOSIGNAL), so
    // that our children need not reset them one by one (`spawn::launch`).
    proto::child::reset_signals();
    serve(sock, spawn::CLONE_PARENT)
}

/// The request's bytes and the fds that go with it (an fd is written as its index).
#[derive(Default)]
pub struct Encoder {
    pub bytes: Vec<u8>,
    pub fds: Vec<RawFd>,
}

impl Encoder {
    fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.u32(v as u32);
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn cstr(&mut self, s: &CString) {
        let b = s.as_bytes();
        self.u32(b.len() as u32);
        self.bytes.extend_from_slice(b);
    }
    pub fn fd(&mut self, fd: RawFd) {
        // The same fd twice (stdout = stderr) travels once.
        let i = match self.fds.iter().position(|f| *f == fd) {
            Some(i) => i,
            None => {
                self.fds.push(fd);
                self.fds.len() - 1
            }
        };
        self.u32(i as u32);
    }
    pub fn opt_fd(&mut self, fd: Option<RawFd>) {
        self.bool(fd.is_some());
        if let Some(fd) = fd {
            self.fd(fd);
        }
    }
    fn opt<T>(&mut self, v: &Option<T>, f: impl FnOnce(&mut Self, &T)) {
        self.bool(v.is_some());
        if let Some(v) = v {
            f(self, v);
        }
    }
    fn list<T>(&mut self, v: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.u32(v.len() as u32);
        for x in v {
            f(self, x);
        }
    }
}

/// Writes `cmd` (its fds as indices into `e.fds`).
pub fn encode(e: &mut Encoder, cmd: &Command) {
    e.cstr(&cmd.path);
    e.list(&cmd.argv, Encoder::cstr);
    e.list(&cmd.env, Encoder::cstr);
    e.cstr(&cmd.working_directory);
    e.opt_fd(cmd.stdin);
    e.opt_fd(cmd.stdout);
    e.opt_fd(cmd.stderr);
    e.opt(&cmd.ids, |e, (u, g)| {
        e.u32(*u);
        e.u32(*g);
    });
    e.list(&cmd.groups, |e, g| e.u32(*g));
    e.list(&cmd.pass_fds, |e, fd| e.fd(*fd));
    e.list(&cmd.extra_fds, |e, (fd, target)| {
        e.fd(*fd);
        e.i32(*target);
    });
    e.bool(cmd.listen_pid);
    let s = &cmd.setup;
    e.bool(s.ignore_sigpipe);
    e.u32(s.umask);
    e.opt(&s.oom_score_adj, Encoder::cstr);
    e.opt(&s.nice, |e, v| e.i32(*v));
    e.opt(&s.sched, |e, (p, prio, reset)| {
        e.i32(*p);
        e.i32(*prio);
        e.bool(*reset);
    });
    e.opt(&s.ioprio, |e, v| e.i32(*v));
    e.opt(&s.affinity, |e, set| {
        // SAFETY: cpu_set_t is plain bits.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (set as *const libc::cpu_set_t).cast::<u8>(),
                std::mem::size_of::<libc::cpu_set_t>(),
            )
        };
        e.bytes.extend_from_slice(bytes);
    });
    e.opt(&s.timer_slack_nsec, |e, v| e.u64(*v));
    e.opt(&s.personality, |e, v| e.u64(*v));
    e.list(&s.limits, |e, (r, l)| {
        e.u32(*r);
        e.u64(l.rlim_cur);
        e.u64(l.rlim_max);
    });
    e.opt(&s.root_directory, Encoder::cstr);
    e.opt(&s.bounding_set, |e, v| e.u64(*v));
    e.u32(s.cap_last);
    e.u64(s.ambient);
    e.opt(&s.secure_bits, |e, v| e.u32(*v));
    e.bool(s.no_new_privileges);
    e.list(&s.mounts, |e, m| match m {
        MountOp::Private => e.u8(0),
        MountOp::Tmpfs { path, options } => {
            e.u8(1);
            e.cstr(path);
            e.cstr(options);
        }
        MountOp::Bind { src, dst } => {
            e.u8(2);
            e.cstr(src);
            e.cstr(dst);
        }
        MountOp::ReadOnly { path, ro } => {
            e.u8(3);
            e.cstr(path);
            e.bool(*ro);
        }
        MountOp::Touch { path } => {
            e.u8(4);
            e.cstr(path);
        }
        MountOp::Move { src, dst } => {
            e.u8(5);
            e.cstr(src);
            e.cstr(dst);
        }
    });
    e.opt(&s.controlling_tty, |e, v| e.bool(*v));
}

/// Reads what [`Encoder`] wrote; every read checks its bounds (EINVAL otherwise).
pub struct Decoder<'a> {
    bytes: &'a [u8],
    fds: &'a [OwnedFd],
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8], fds: &'a [OwnedFd]) -> Self {
        Decoder { bytes, fds }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Errno> {
        if self.bytes.len() < n {
            return Err(Errno::EINVAL);
        }
        let (a, b) = self.bytes.split_at(n);
        self.bytes = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Errno> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Errno> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, Errno> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn i32(&mut self) -> Result<i32, Errno> {
        Ok(self.u32()? as i32)
    }
    fn bool(&mut self) -> Result<bool, Errno> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Errno::EINVAL),
        }
    }
    fn cstr(&mut self) -> Result<CString, Errno> {
        let n = self.u32()? as usize;
        CString::new(self.take(n)?).map_err(|_| Errno::EINVAL)
    }
    fn fd(&mut self) -> Result<RawFd, Errno> {
        let i = self.u32()? as usize;
        self.fds.get(i).map(|f| f.as_raw_fd()).ok_or(Errno::EBADF)
    }
    fn opt_fd(&mut self) -> Result<Option<RawFd>, Errno> {
        if self.bool()? {
            Ok(Some(self.fd()?))
        } else {
            Ok(None)
        }
    }
    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, Errno>,
    ) -> Result<Option<T>, Errno> {
        if self.bool()? {
            Ok(Some(f(self)?))
        } else {
            Ok(None)
        }
    }
    fn list<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, Errno>,
    ) -> Result<Vec<T>, Errno> {
        let n = self.u32()? as usize;
        // Each element takes at least one byte: a count larger than what is left is a lie.
        if n > self.bytes.len() {
            return Err(Errno::EINVAL);
        }
        (0..n).map(|_| f(self)).collect()
    }
}

/// A whole request: the cgroup fd, the report pipe and the command.
pub fn decode_request(
    bytes: &[u8],
    fds: &[OwnedFd],
) -> Result<(Option<RawFd>, RawFd, Command), Errno> {
    let mut d = Decoder::new(bytes, fds);
    let cgroup = d.opt_fd()?;
    let report = d.fd()?;
    let cmd = decode(&mut d)?;
    if !d.bytes.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok((cgroup, report, cmd))
}

pub fn decode(d: &mut Decoder<'_>) -> Result<Command, Errno> {
    let path = d.cstr()?;
    let argv = d.list(Decoder::cstr)?;
    let env = d.list(Decoder::cstr)?;
    let working_directory = d.cstr()?;
    let stdin = d.opt_fd()?;
    let stdout = d.opt_fd()?;
    let stderr = d.opt_fd()?;
    let ids = d.opt(|d| Ok((d.u32()?, d.u32()?)))?;
    let groups = d.list(Decoder::u32)?;
    let pass_fds = d.list(Decoder::fd)?;
    let extra_fds = d.list(|d| Ok((d.fd()?, d.i32()?)))?;
    if pass_fds.len() + extra_fds.len() > spawn::MAX_PASSED {
        return Err(Errno::E2BIG);
    }
    let listen_pid = d.bool()?;
    let setup = Setup {
        ignore_sigpipe: d.bool()?,
        umask: d.u32()?,
        oom_score_adj: d.opt(Decoder::cstr)?,
        nice: d.opt(Decoder::i32)?,
        sched: d.opt(|d| Ok((d.i32()?, d.i32()?, d.bool()?)))?,
        ioprio: d.opt(Decoder::i32)?,
        affinity: d.opt(|d| {
            let b = d.take(std::mem::size_of::<libc::cpu_set_t>())?;
            // SAFETY: cpu_set_t is plain bits; any bytes are a set.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: as many bytes as the set has, into it.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    b.as_ptr(),
                    (&mut set as *mut libc::cpu_set_t).cast::<u8>(),
                    b.len(),
                )
            };
            Ok(set)
        })?,
        timer_slack_nsec: d.opt(Decoder::u64)?,
        personality: d.opt(Decoder::u64)?,
        limits: d.list(|d| {
            Ok((
                d.u32()?,
                libc::rlimit {
                    rlim_cur: d.u64()?,
                    rlim_max: d.u64()?,
                },
            ))
        })?,
        root_directory: d.opt(Decoder::cstr)?,
        bounding_set: d.opt(Decoder::u64)?,
        cap_last: d.u32()?,
        ambient: d.u64()?,
        secure_bits: d.opt(Decoder::u32)?,
        no_new_privileges: d.bool()?,
        mounts: d.list(|d| {
            Ok(match d.u8()? {
                0 => MountOp::Private,
                1 => MountOp::Tmpfs {
                    path: d.cstr()?,
                    options: d.cstr()?,
                },
                2 => MountOp::Bind {
                    src: d.cstr()?,
                    dst: d.cstr()?,
                },
                3 => MountOp::ReadOnly {
                    path: d.cstr()?,
                    ro: d.bool()?,
                },
                4 => MountOp::Touch { path: d.cstr()? },
                5 => MountOp::Move {
                    src: d.cstr()?,
                    dst: d.cstr()?,
                },
                _ => return Err(Errno::EINVAL),
            })
        })?,
        controlling_tty: d.opt(Decoder::bool)?,
    };
    Ok(Command {
        path,
        argv,
        env,
        working_directory,
        stdin,
        stdout,
        stderr,
        ids,
        groups,
        pass_fds,
        extra_fds,
        listen_pid,
        setup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Command {
        let c = |s: &str| CString::new(s).unwrap();
        // SAFETY: cpu_set_t is plain bits; zero is the empty set.
        let mut affinity: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: a local set.
        unsafe { libc::CPU_SET(1, &mut affinity) };
        Command {
            path: c("/bin/sh"),
            argv: vec![c("sh"), c("-c"), c("echo $X")],
            env: vec![c("X=1"), c("PATH=/bin")],
            working_directory: c("/tmp"),
            stdin: None,
            stdout: Some(1),
            stderr: Some(1),
            ids: Some((65534, 65534)),
            groups: vec![4, 5],
            pass_fds: vec![0, 2],
            extra_fds: vec![(2, 9)],
            listen_pid: true,
            setup: Setup {
                ignore_sigpipe: true,
                umask: 0o022,
                oom_score_adj: Some(c("-100")),
                nice: Some(5),
                sched: Some((libc::SCHED_BATCH, 0, true)),
                ioprio: Some(2 << 13 | 4),
                affinity: Some(affinity),
                timer_slack_nsec: Some(50_000),
                personality: Some(8),
                limits: vec![(
                    libc::RLIMIT_NOFILE,
                    libc::rlimit {
                        rlim_cur: 1024,
                        rlim_max: 4096,
                    },
                )],
                root_directory: Some(c("/srv/root")),
                bounding_set: Some(0x3f),
                cap_last: 40,
                ambient: 1 << 10,
                secure_bits: Some(0x2f),
                no_new_privileges: true,
                mounts: vec![
                    MountOp::Private,
                    MountOp::Tmpfs {
                        path: c("/tmp"),
                        options: c("mode=1777"),
                    },
                    MountOp::Bind {
                        src: c("/a"),
                        dst: c("/b"),
                    },
                    MountOp::ReadOnly {
                        path: c("/usr"),
                        ro: true,
                    },
                    MountOp::Touch {
                        path: c("/dev/null"),
                    },
                    MountOp::Move {
                        src: c("/run/x"),
                        dst: c("/dev"),
                    },
                ],
                controlling_tty: Some(false),
            },
        }
    }

    /// `n` fds (of /dev/null) to stand for those that came with a request.
    fn dev_nulls(n: usize) -> Vec<OwnedFd> {
        (0..n)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect()
    }

    /// What is decoded encodes to the same bytes, every field included; fds become the
    /// receiver's numbers, the same fd sent once.
    #[test]
    fn a_command_round_trips() {
        let cmd = command();
        let mut e = Encoder::default();
        e.opt_fd(None);
        e.fd(2);
        encode(&mut e, &cmd);
        assert_eq!(
            e.fds,
            vec![2, 1, 0],
            "report, stdout = stderr, then pass_fds[0]"
        );
        let received = dev_nulls(e.fds.len());
        let (cgroup, report, back) = decode_request(&e.bytes, &received).unwrap();
        assert_eq!(cgroup, None);
        assert_eq!(report, received[0].as_raw_fd());
        assert_eq!(back.stdout, Some(received[1].as_raw_fd()));
        assert_eq!(back.stderr, back.stdout);
        assert_eq!(
            back.pass_fds,
            vec![received[2].as_raw_fd(), received[0].as_raw_fd()]
        );
        // Encoded again with the receiver's fds standing for the sender's: the same bytes.
        let mut again = Encoder::default();
        again.opt_fd(None);
        again.fd(report);
        encode(&mut again, &back);
        assert_eq!(again.bytes, e.bytes);
    }

    /// The fuzz target's seed is a real request (`CAIRN_WRITE_SEEDS=1` rewrites it).
    #[test]
    fn the_fuzz_seed_is_a_request() {
        let mut e = Encoder::default();
        e.opt_fd(Some(0));
        e.fd(0);
        encode(&mut e, &command());
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds/spawn_request/command");
        if std::env::var_os("CAIRN_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &e.bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            e.bytes,
            "{} is stale",
            file.display()
        );
        crate::fuzzing::spawn_request(&e.bytes);
    }

    /// Every truncation of a request is refused, none panics; a trailing byte too.
    #[test]
    fn a_short_or_long_request_is_refused() {
        let mut e = Encoder::default();
        e.opt_fd(None);
        e.fd(0);
        encode(&mut e, &command());
        let fds = dev_nulls(3);
        for n in 0..e.bytes.len() {
            assert!(decode_request(&e.bytes[..n], &fds).is_err(), "{n} bytes");
        }
        let mut long = e.bytes.clone();
        long.push(0);
        assert_eq!(decode_request(&long, &fds).err(), Some(Errno::EINVAL));
        // An fd index past what came with the message.
        assert_eq!(
            decode_request(&e.bytes, &fds[..1]).err(),
            Some(Errno::EBADF)
        );
    }
}

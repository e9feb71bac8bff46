//! cairn-init: cairn's PID 1.
//!
//! Tiny and boring on purpose (ARCHITECTURE.md §1): no async runtime, no unit parsing. Its
//! loop is a signalfd plus the link to the supervisor:
//!
//! - every signal is blocked and read from the signalfd; SIGCHLD reaps with
//!   `waitpid(-1, WNOHANG)` until nothing is left;
//! - the supervisor is (re)started with back-off and handed the fd store;
//! - processes reparented to pid1 (services of a dead supervisor) are reaped here and their exit
//!   status forwarded to the current supervisor;
//! - on the supervisor's word: the final kill, sync, unmount, reboot(2).
//!
//! Once the loop has begun it never exits and never panics: errors are logged and the loop
//! goes on.

pub mod args;
pub mod mode;
pub mod reexec;
pub mod shutdown;
pub mod spawn;
pub mod store;
pub mod switch_root;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use proto::seqpacket::{self, SeqpacketError};

use crate::args::Args;
use crate::mode::Mode;
use crate::store::{ChildExit, FdStore, Flushed, Outbox, Request};

const SIGNALS: Token = Token(0);
const LINK: Token = Token(1);

/// Back-off between supervisor restarts: from 100 ms, doubling, at most 5 s; back to the
/// start once a supervisor has lived 10 s.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Exit statuses kept for a supervisor that has not taken them yet. Past this the oldest go.
const MAX_PENDING_EXITS: usize = 65536;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("blocking signals: {0}")]
    Sigmask(Errno),
    #[error("creating the signalfd: {0}")]
    Signalfd(Errno),
    #[error("setting up the event loop: {0}")]
    Poll(std::io::Error),
    #[error("mapping the link's receive buffer: {0}")]
    Buffer(std::io::Error),
}

struct Supervisor {
    pid: i32,
    link: Option<OwnedFd>,
    started: Instant,
    /// The supervisor has the fd store: exits and signals may be forwarded.
    taken: bool,
}

pub struct Init {
    mode: Mode,
    args: Args,
    supervisor_path: PathBuf,
    poll: Poll,
    signals: SignalFd,
    store: FdStore,
    outbox: Outbox,
    supervisor: Option<Supervisor>,
    generation: u32,
    restarts: u32,
    backoff: Duration,
    next_start: Instant,
    pending_exits: VecDeque<ChildExit>,
    pending_signal: Option<i32>,
    reaped_orphans: u64,
    started_realtime_usec: u64,
    buf: seqpacket::PacketBuf,
    /// The command line, for the exec after switch-root.
    argv: Vec<OsString>,
    /// switch-root asked: (new root, init inside it); done once this supervisor is gone.
    switching: Option<(PathBuf, PathBuf)>,
}

/// `main` of cairn-init. Setup errors are fatal (exit 1); after that it never returns.
pub fn main() -> ! {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let args = args::parse(argv.clone());
    if args.help {
        print!("{}", args::USAGE);
        std::process::exit(0);
    }
    if args.version {
        println!("cairn-init {}", proto::VERSION);
        std::process::exit(0);
    }
    let argv0 = argv.first().cloned().unwrap_or_default();
    match Init::new(args, &argv0) {
        Ok(mut init) => {
            init.argv = argv;
            init.run()
        }
        Err(e) => {
            eprintln!("cairn-init: {e}");
            std::process::exit(1)
        }
    }
}

impl Init {
    pub fn new(args: Args, argv0: &OsString) -> Result<Init, InitError> {
        let mode = mode::detect(&args);
        if !mode.is_pid1 {
            // Orphans come to us, as they would to PID 1.
            if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
                eprintln!("cairn-init: cannot become a child subreaper: {e}");
            }
        }
        proto::procinfo::raise_nofile();
        if mode.is_pid1 && !mode.container {
            // ctrl-alt-del arrives as SIGINT instead of an immediate reboot.
            if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
                eprintln!("cairn-init: cannot take over ctrl-alt-del: {e}");
            }
        }
        let all = SigSet::all();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None)
            .map_err(InitError::Sigmask)?;
        let signals = SignalFd::with_flags(&all, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(InitError::Signalfd)?;
        let poll = Poll::new().map_err(InitError::Poll)?;
        poll.registry()
            .register(
                &mut SourceFd(&signals.as_fd().as_raw_fd()),
                SIGNALS,
                Interest::READABLE,
            )
            .map_err(InitError::Poll)?;
        let supervisor_path = spawn::find_supervisor(args.supervisor.as_deref(), argv0);
        let carried = match args.deserialize.map(reexec::take) {
            Some(Ok(c)) => {
                eprintln!(
                    "cairn-init: took over {} stored fds and {} exits from the previous cairn-init",
                    c.fds.len(),
                    c.exits.len()
                );
                c
            }
            Some(Err(e)) => {
                eprintln!("cairn-init: {e}; starting with an empty fd store");
                reexec::Carried::default()
            }
            None => reexec::Carried::default(),
        };
        let mut store = FdStore::default();
        for (name, fd) in carried.fds {
            store.put(name, fd);
        }
        // A re-exec keeps the running supervisor: watch its link again, send no hello.
        let supervisor = carried.supervisor.and_then(|s| {
            poll.registry()
                .register(
                    &mut SourceFd(&s.link.as_raw_fd()),
                    LINK,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| eprintln!("cairn-init: cannot watch the kept supervisor link: {e}"))
                .ok()?;
            Some(Supervisor {
                pid: s.pid,
                link: Some(s.link),
                started: Instant::now(),
                taken: s.taken,
            })
        });
        Ok(Init {
            mode,
            args,
            supervisor_path,
            poll,
            signals,
            store,
            outbox: Outbox::default(),
            supervisor,
            generation: carried.generation,
            restarts: carried.restarts,
            backoff: BACKOFF_MIN,
            next_start: Instant::now(),
            pending_exits: carried.exits.into_iter().collect(),
            pending_signal: None,
            reaped_orphans: 0,
            started_realtime_usec: proto::procinfo::realtime_usec(),
            buf: seqpacket::PacketBuf::new().map_err(InitError::Buffer)?,
            argv: Vec::new(),
            switching: None,
        })
    }

    /// The loop. Never returns.
    pub fn run(&mut self) -> ! {
        let mut events = Events::with_capacity(16);
        loop {
            let now = Instant::now();
            let timeout = match self.supervisor {
                Some(_) => None,
                None if self.next_start <= now => {
                    self.start_supervisor();
                    continue;
                }
                None => Some(self.next_start - now),
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    eprintln!("cairn-init: poll: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            for ev in events.iter() {
                match ev.token() {
                    SIGNALS => self.read_signals(),
                    LINK if ev.is_readable() || ev.is_read_closed() => self.read_link(),
                    _ => {}
                }
            }
            self.flush();
        }
    }

    fn start_supervisor(&mut self) {
        let (ours, theirs) = match seqpacket::pair() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cairn-init: cannot create the supervisor link: {e}");
                self.schedule_restart();
                return;
            }
        };
        if let Err(e) = seqpacket::set_nonblocking(ours.as_fd()) {
            eprintln!("cairn-init: link: {e}");
        }
        self.generation = self.generation.wrapping_add(1);
        let pid = match spawn::supervisor(
            &self.supervisor_path,
            &theirs,
            self.mode,
            self.generation,
            &self.args.forward,
        ) {
            Ok(pid) => pid,
            Err(e) => {
                eprintln!(
                    "cairn-init: cannot start {}: {e}",
                    self.supervisor_path.display()
                );
                self.schedule_restart();
                return;
            }
        };
        drop(theirs);
        if let Err(e) = self.poll.registry().register(
            &mut SourceFd(&ours.as_raw_fd()),
            LINK,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            eprintln!("cairn-init: cannot watch the supervisor link: {e}");
        }
        self.outbox.clear();
        let chunks = self.store.chunks();
        self.outbox
            .push(store::hello(self.generation, !self.mode.container, &chunks));
        for (i, c) in chunks.into_iter().enumerate() {
            self.outbox
                .push(store::chunk(u32::try_from(i).unwrap_or(u32::MAX), c));
        }
        self.supervisor = Some(Supervisor {
            pid,
            link: Some(ours),
            started: Instant::now(),
            taken: false,
        });
        self.flush();
    }

    fn schedule_restart(&mut self) {
        self.next_start = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn supervisor_died(&mut self, how: &str) {
        if let Some(s) = self.supervisor.take() {
            eprintln!("cairn-init: supervisor (pid {}) {how}", s.pid);
            if let Some(link) = s.link {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&link.as_raw_fd()));
            }
            if s.started.elapsed() >= STABLE_AFTER {
                self.backoff = BACKOFF_MIN;
            }
        }
        self.outbox.clear();
        self.restarts = self.restarts.wrapping_add(1);
        self.schedule_restart();
    }

    fn read_signals(&mut self) {
        loop {
            match self.signals.read_signal() {
                Ok(Some(info)) => self.on_signal(i32::try_from(info.ssi_signo).unwrap_or(0)),
                Ok(None) => return,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    eprintln!("cairn-init: signalfd: {e}");
                    return;
                }
            }
        }
    }

    fn on_signal(&mut self, signo: i32) {
        let sig = Signal::try_from(signo).ok();
        match sig {
            Some(Signal::SIGCHLD) => self.reap(),
            Some(
                Signal::SIGINT
                | Signal::SIGTERM
                | Signal::SIGPWR
                | Signal::SIGHUP
                | Signal::SIGUSR1
                | Signal::SIGUSR2,
            ) => self.forward_signal(signo),
            _ if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signo) => {
                self.forward_signal(signo)
            }
            _ => {}
        }
    }

    fn forward_signal(&mut self, signo: i32) {
        match &self.supervisor {
            Some(s) if s.taken => self.outbox.push(store::signal(signo)),
            _ => self.pending_signal = Some(signo),
        }
    }

    fn reap(&mut self) {
        loop {
            let exit = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => ChildExit {
                    pid: pid.as_raw(),
                    code,
                    signal: 0,
                    core_dumped: false,
                },
                Ok(WaitStatus::Signaled(pid, sig, core)) => ChildExit {
                    pid: pid.as_raw(),
                    code: 0,
                    signal: sig as i32,
                    core_dumped: core,
                },
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Err(Errno::EINTR) | Ok(_) => continue,
                Err(e) => {
                    eprintln!("cairn-init: waitpid: {e}");
                    return;
                }
            };
            if self.supervisor.as_ref().map(|s| s.pid) == Some(exit.pid) {
                let how = if exit.signal != 0 {
                    format!("killed by signal {}", exit.signal)
                } else {
                    format!("exited with status {}", exit.code)
                };
                self.supervisor_died(&how);
                if let Some((root, init)) = self.switching.take() {
                    // Returns only if it failed: then a supervisor starts again in this root.
                    self.switch_root_and_exec(&root, &init);
                    self.next_start = Instant::now();
                }
                continue;
            }
            self.reaped_orphans = self.reaped_orphans.wrapping_add(1);
            match &self.supervisor {
                Some(s) if s.taken => self.outbox.push(store::child_exited(&exit)),
                _ => {
                    if self.pending_exits.len() >= MAX_PENDING_EXITS {
                        self.pending_exits.pop_front();
                    }
                    self.pending_exits.push_back(exit);
                }
            }
        }
    }

    fn read_link(&mut self) {
        loop {
            let Some(link) = self.supervisor.as_ref().and_then(|s| s.link.as_ref()) else {
                return;
            };
            let packet = match seqpacket::recv(link.as_fd(), &mut self.buf) {
                Ok(p) => p,
                Err(SeqpacketError::Io(Errno::EAGAIN)) => return,
                Err(SeqpacketError::Closed) => {
                    self.link_closed();
                    return;
                }
                Err(e) => {
                    eprintln!("cairn-init: link: {e}");
                    continue;
                }
            };
            match store::decode(packet) {
                Ok(req) => self.on_request(req),
                Err(e) => eprintln!("cairn-init: {e}"),
            }
        }
    }

    /// The supervisor closed its end but is still alive: it cannot be talked to, and a new one
    /// can. Kill it; its SIGCHLD restarts it.
    fn link_closed(&mut self) {
        if let Some(s) = self.supervisor.as_mut() {
            if let Some(link) = s.link.take() {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&link.as_raw_fd()));
            }
            let _ = nix::sys::signal::kill(Pid::from_raw(s.pid), Signal::SIGKILL);
        }
    }

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Store(entries) => {
                for (name, fd) in entries {
                    self.store.put(name, fd);
                }
            }
            Request::Remove(names) => {
                for n in names {
                    self.store.remove(&n);
                }
            }
            Request::Introspect => self.outbox.push(store::status(&store::StatusFacts {
                started_realtime_usec: self.started_realtime_usec,
                stored_names: self.store.names().map(str::to_string).collect(),
                stored_fds: u32::try_from(self.store.len()).unwrap_or(u32::MAX),
                reaped_orphans: self.reaped_orphans,
                supervisor_restarts: self.restarts,
            })),
            Request::Taken => {
                if let Some(s) = self.supervisor.as_mut() {
                    s.taken = true;
                }
                while let Some(exit) = self.pending_exits.pop_front() {
                    self.outbox.push(store::child_exited(&exit));
                }
                if let Some(sig) = self.pending_signal.take() {
                    self.outbox.push(store::signal(sig));
                }
            }
            Request::Reexec(path) => self.reexec(&path),
            Request::SupervisorBinary(path) => {
                eprintln!("cairn-init: the supervisor is {path} from now on");
                self.supervisor_path = PathBuf::from(path);
            }
            Request::SwitchRoot { root, init } => {
                if self.mode.container || !self.mode.is_pid1 {
                    eprintln!("cairn-init: switch-root refused: not the machine's PID 1");
                    return;
                }
                eprintln!("cairn-init: switching root to {root} (init {init})");
                self.switching = Some((PathBuf::from(root), PathBuf::from(init)));
                // The supervisor saved its state and stopped its helpers before asking; its
                // death (reaped above) starts the switch.
                if let Some(s) = &self.supervisor {
                    let _ = nix::sys::signal::kill(Pid::from_raw(s.pid), Signal::SIGKILL);
                }
            }
            Request::Shutdown(kind) => {
                let grace = Duration::from_millis(self.args.stop_timeout_ms.unwrap_or(5000));
                shutdown::final_shutdown(kind, self.mode, grace)
            }
        }
    }

    /// switch_root, then exec `init` (inside the new root) with the fd store and the exits
    /// not yet forwarded. Returns only on failure, with the root as it was if the failure
    /// came before the move.
    fn switch_root_and_exec(&mut self, root: &std::path::Path, init: &std::path::Path) {
        // Checked before anything moves: an init that is not there must not leave a root
        // without one.
        let inside = root.join(init.strip_prefix("/").unwrap_or(init));
        if !inside.is_file() {
            eprintln!(
                "cairn-init: switch-root: {} is not in {}; staying",
                init.display(),
                root.display()
            );
            return;
        }
        if let Err(e) = switch_root::switch_root(root) {
            eprintln!("cairn-init: switch-root to {} failed: {e}", root.display());
            return;
        }
        self.exec_carrying(init, false);
    }

    /// `reexec`: exec `path` (empty: this binary) in place of this pid1, keeping the store,
    /// the pending exits and the supervisor with its link. Returns only on failure (said).
    fn reexec(&mut self, path: &str) {
        let own = self
            .argv
            .first()
            .and_then(|a| std::fs::canonicalize(a).ok())
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
        let path = if path.is_empty() {
            own
        } else {
            PathBuf::from(path)
        };
        eprintln!("cairn-init: re-executing {}", path.display());
        // What is queued for the supervisor goes first: the next pid1 starts with an empty
        // outbox.
        self.flush();
        self.exec_carrying(&path, true);
        eprintln!("cairn-init: re-exec failed; going on as before");
    }

    /// Writes the carry memfd and execs `init` with `--deserialize FD` and the same words.
    /// `keep_supervisor`: the running supervisor and its link go along (a re-exec; after
    /// switch-root the supervisor is gone). Returns only if the exec failed.
    fn exec_carrying(&mut self, init: &std::path::Path, keep_supervisor: bool) {
        use std::os::unix::ffi::OsStrExt;
        let fds: Vec<(&str, std::os::fd::RawFd)> = self.store.raw().collect();
        let exits: Vec<ChildExit> = self.pending_exits.iter().copied().collect();
        let supervisor = self
            .supervisor
            .as_ref()
            .filter(|_| keep_supervisor)
            .and_then(|s| {
                Some(reexec::SupervisorLine {
                    pid: s.pid,
                    link: s.link.as_ref()?.as_raw_fd(),
                    taken: s.taken,
                })
            });
        let carry = match reexec::prepare(&fds, &exits, self.generation, self.restarts, supervisor)
        {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("cairn-init: cannot carry the fd store over: {e}");
                return;
            }
        };
        let mut argv: Vec<std::ffi::CString> = Vec::new();
        let c = |b: &[u8]| std::ffi::CString::new(b).unwrap_or_default();
        argv.push(c(init.as_os_str().as_bytes()));
        argv.push(c(b"--deserialize"));
        argv.push(c(carry.as_raw_fd().to_string().as_bytes()));
        // A re-exec keeps the supervisor binary it has (another build of pid1 may live
        // elsewhere); after switch-root the new root's is found beside its cairn-init.
        if keep_supervisor {
            argv.push(c(b"--supervisor"));
            argv.push(c(self.supervisor_path.as_os_str().as_bytes()));
        }
        // The same words again (the kernel's), without a previous --deserialize or a
        // --supervisor path of the old root.
        let mut it = self.argv.iter().skip(1);
        while let Some(a) = it.next() {
            match a.as_bytes() {
                b"--deserialize" | b"--supervisor" => {
                    it.next();
                }
                b => argv.push(c(b)),
            }
        }
        let path = c(init.as_os_str().as_bytes());
        let e = nix::unistd::execv(&path, &argv);
        eprintln!("cairn-init: exec {}: {e:?}", init.display());
        // The exec failed: the fds stay ours, close-on-exec again.
        for (_, fd) in &fds {
            // SAFETY: F_SETFD on fds this process owns (the store's).
            unsafe { libc::fcntl(*fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        if let Some(s) = supervisor {
            // SAFETY: as above, the supervisor link this process owns.
            unsafe { libc::fcntl(s.link, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }

    fn flush(&mut self) {
        let Some(link) = self.supervisor.as_ref().and_then(|s| s.link.as_ref()) else {
            return;
        };
        if self.outbox.flush(link) == Flushed::Closed {
            self.link_closed();
        }
    }
}

//! The supervisor's end of the pid1 link (SOCK_SEQPACKET, one Cap'n Proto message a packet,
//! fds as SCM_RIGHTS; see proto/schema/pid1.capnp).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use futures::channel::oneshot;
use nix::errno::Errno;
use proto::pid1_capnp::{to_init, to_supervisor, ShutdownKind};
use proto::seqpacket::{self, Packet, SeqpacketError};
use proto::SCM_MAX_FD;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// pid1's own facts, as it reported them.
#[derive(Debug, Clone, Default)]
pub struct InitStatus {
    pub pid: i32,
    pub version: String,
    pub binary: String,
    pub started_realtime_usec: u64,
    pub rss_bytes: u64,
    pub open_fds: u32,
    pub stored_fds: u32,
    pub stored_names: Vec<String>,
    pub reaped_orphans: u64,
    pub supervisor_restarts: u32,
}

/// What pid1 handed a new supervisor.
pub struct Handback {
    pub generation: u32,
    pub system_mode: bool,
    pub fds: Vec<(String, OwnedFd)>,
}

/// Something pid1 tells the supervisor after the hand-back.
#[derive(Debug)]
pub enum Event {
    ChildExited {
        pid: i32,
        code: i32,
        signal: i32,
        core_dumped: bool,
    },
    Signal(i32),
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("pid1 link: {0}")]
    Packet(#[from] SeqpacketError),
    #[error("pid1 link: {0}")]
    Io(#[from] std::io::Error),
    #[error("pid1 link: bad message: {0}")]
    Decode(#[from] capnp::Error),
    #[error("pid1 link: unexpected {0} during the hand-back")]
    Unexpected(&'static str),
    #[error("pid1 link: fd chunk names {names} fds but carries {fds}")]
    FdCount { names: usize, fds: usize },
}

impl From<capnp::NotInSchema> for LinkError {
    fn from(e: capnp::NotInSchema) -> Self {
        LinkError::Decode(e.into())
    }
}

impl From<std::str::Utf8Error> for LinkError {
    fn from(e: std::str::Utf8Error) -> Self {
        LinkError::Decode(e.into())
    }
}

pub struct InitLink {
    io: AsyncFd<OwnedFd>,
    status_waiters: RefCell<VecDeque<oneshot::Sender<InitStatus>>>,
    /// Where packets from cairn-init land; borrowed only between readiness and the read.
    buf: RefCell<seqpacket::PacketBuf>,
}

impl InitLink {
    /// Takes the link fd cairn-init passed (CAIRN_INIT_FD), if any.
    pub fn from_env() -> Option<OwnedFd> {
        let fd: RawFd = std::env::var("CAIRN_INIT_FD").ok()?.parse().ok()?;
        // SAFETY: F_GETFD only reads the fd's flags; it fails with EBADF for a closed fd.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return None;
        }
        // SAFETY: the fd is open (checked above) and was inherited for this process alone.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // Services and helpers must not inherit pid1's link.
        let _ = nix::fcntl::fcntl(
            &owned,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        Some(owned)
    }

    pub fn new(fd: OwnedFd) -> std::io::Result<InitLink> {
        seqpacket::set_nonblocking(fd.as_fd())?;
        Ok(InitLink {
            io: proto::fdstream::register(fd)?,
            status_waiters: RefCell::new(VecDeque::new()),
            buf: RefCell::new(seqpacket::PacketBuf::new()?),
        })
    }

    async fn recv(&self) -> Result<Packet, LinkError> {
        loop {
            let mut guard = self.io.ready(Interest::READABLE).await?;
            let got = seqpacket::recv(self.io.get_ref().as_fd(), &mut self.buf.borrow_mut());
            match got {
                Err(SeqpacketError::Io(Errno::EAGAIN)) => guard.clear_ready(),
                other => return Ok(other?),
            }
        }
    }

    async fn send(
        &self,
        msg: &capnp::message::Builder<capnp::message::HeapAllocator>,
        fds: &[RawFd],
    ) -> Result<(), LinkError> {
        let bytes = seqpacket::encode(msg);
        loop {
            let mut guard = self.io.ready(Interest::WRITABLE).await?;
            match seqpacket::send_bytes(self.io.get_ref().as_fd(), &bytes, fds) {
                Err(SeqpacketError::Io(Errno::EAGAIN)) => guard.clear_ready(),
                other => return Ok(other?),
            }
        }
    }

    /// Reads the Hello and the fd store that follows it.
    pub async fn handback(&self) -> Result<Handback, LinkError> {
        let hello = self.recv().await?;
        let root = hello.message.get_root::<to_supervisor::Reader>()?;
        let (generation, system_mode, chunks) = match root.which()? {
            to_supervisor::Hello(h) => {
                let h = h?;
                (h.get_generation(), h.get_system_mode(), h.get_chunks())
            }
            _ => return Err(LinkError::Unexpected("a message before hello")),
        };
        let mut fds = Vec::new();
        for _ in 0..chunks {
            let p = self.recv().await?;
            let root = p.message.get_root::<to_supervisor::Reader>()?;
            let to_supervisor::FdChunk(c) = root.which()? else {
                return Err(LinkError::Unexpected("a message inside the fd store"));
            };
            let names = c?.get_names()?;
            if names.len() as usize != p.fds.len() {
                return Err(LinkError::FdCount {
                    names: names.len() as usize,
                    fds: p.fds.len(),
                });
            }
            for (name, fd) in names.iter().zip(p.fds) {
                fds.push((name?.to_str()?.to_string(), fd));
            }
        }
        Ok(Handback {
            generation,
            system_mode,
            fds,
        })
    }

    /// Reads the next event; answers to `introspect` are routed to their waiter.
    pub async fn next_event(&self) -> Result<Event, LinkError> {
        loop {
            let p = self.recv().await?;
            let root = p.message.get_root::<to_supervisor::Reader>()?;
            match root.which()? {
                to_supervisor::ChildExited(c) => {
                    let c = c?;
                    return Ok(Event::ChildExited {
                        pid: c.get_pid(),
                        code: c.get_code(),
                        signal: c.get_signal(),
                        core_dumped: c.get_core_dumped(),
                    });
                }
                to_supervisor::Signal(s) => return Ok(Event::Signal(s)),
                to_supervisor::Status(s) => {
                    let s = s?;
                    let status = InitStatus {
                        pid: s.get_pid(),
                        version: s.get_version()?.to_str()?.to_string(),
                        binary: s.get_binary()?.to_str()?.to_string(),
                        started_realtime_usec: s.get_started_realtime_usec(),
                        rss_bytes: s.get_rss_bytes(),
                        open_fds: s.get_open_fds(),
                        stored_fds: s.get_stored_fds(),
                        stored_names: s
                            .get_stored_names()?
                            .iter()
                            .filter_map(|n| n.ok()?.to_string().ok())
                            .collect(),
                        reaped_orphans: s.get_reaped_orphans(),
                        supervisor_restarts: s.get_supervisor_restarts(),
                    };
                    if let Some(w) = self.status_waiters.borrow_mut().pop_front() {
                        let _ = w.send(status);
                    }
                }
                to_supervisor::Hello(_) | to_supervisor::FdChunk(_) => {
                    eprintln!("cairn-supervisor: pid1 link: ignoring a late hand-back packet");
                }
            }
        }
    }

    /// Keeps these fds in pid1's store (duplicates are sent; the caller keeps its own).
    pub async fn store_fds(&self, entries: &[(&str, BorrowedFd<'_>)]) -> Result<(), LinkError> {
        for chunk in entries.chunks(SCM_MAX_FD) {
            let mut msg = capnp::message::Builder::new_default();
            {
                let root = msg.init_root::<to_init::Builder>();
                let mut names = root.init_store_fds(u32::try_from(chunk.len()).unwrap_or(0));
                for (i, (name, _)) in chunk.iter().enumerate() {
                    names.set(u32::try_from(i).unwrap_or(0), *name);
                }
            }
            let raw: Vec<RawFd> = chunk.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
            self.send(&msg, &raw).await?;
        }
        Ok(())
    }

    pub async fn remove_fds(&self, names: &[&str]) -> Result<(), LinkError> {
        let mut msg = capnp::message::Builder::new_default();
        {
            let root = msg.init_root::<to_init::Builder>();
            let mut list = root.init_remove_fds(u32::try_from(names.len()).unwrap_or(0));
            for (i, n) in names.iter().enumerate() {
                list.set(u32::try_from(i).unwrap_or(0), *n);
            }
        }
        self.send(&msg, &[]).await
    }

    /// Tells pid1 the store has been taken: it may now forward exits and signals.
    pub async fn taken(&self) -> Result<(), LinkError> {
        let mut msg = capnp::message::Builder::new_default();
        msg.init_root::<to_init::Builder>().set_taken(());
        self.send(&msg, &[]).await
    }

    pub async fn shutdown(&self, kind: ShutdownKind) -> Result<(), LinkError> {
        let mut msg = capnp::message::Builder::new_default();
        msg.init_root::<to_init::Builder>().set_shutdown(kind);
        self.send(&msg, &[]).await
    }

    /// Tells pid1 which supervisor binary to start from now on.
    pub async fn supervisor_binary(&self, path: &str) -> Result<(), LinkError> {
        let mut msg = capnp::message::Builder::new_default();
        msg.init_root::<to_init::Builder>()
            .set_supervisor_binary(path);
        self.send(&msg, &[]).await
    }

    /// Asks pid1 to exec `binary` (empty: its own) in its place, keeping everything.
    pub async fn reexec(&self, binary: &str) -> Result<(), LinkError> {
        let mut msg = capnp::message::Builder::new_default();
        msg.init_root::<to_init::Builder>().set_reexec(binary);
        self.send(&msg, &[]).await
    }

    /// Asks pid1 to switch root and exec `init` there; pid1 kills this supervisor first.
    pub async fn switch_root(&self, root: &str, init: &str) -> Result<(), LinkError> {
        let mut msg = capnp::message::Builder::new_default();
        let mut r = msg.init_root::<to_init::Builder>().init_switch_root();
        r.set_root(root);
        r.set_init(init);
        self.send(&msg, &[]).await
    }

    /// Asks pid1 for its facts. The answer arrives through [`InitLink::next_event`], which
    /// must be running.
    pub async fn introspect(&self) -> Result<InitStatus, LinkError> {
        let (tx, rx) = oneshot::channel();
        self.status_waiters.borrow_mut().push_back(tx);
        let mut msg = capnp::message::Builder::new_default();
        msg.init_root::<to_init::Builder>().set_introspect(());
        self.send(&msg, &[]).await?;
        rx.await
            .map_err(|_| LinkError::Unexpected("link closed before pid1 answered"))
    }
}

//! The fd store pid1 keeps for the supervisor, and the outbox of packets waiting to go to it.
//!
//! The store outlives every supervisor: listening sockets, the serialized state memfd, log pipes.
//! When a new supervisor starts it gets a Hello and the whole store back in chunks of at most
//! 253 fds. The link is non-blocking (a wedged supervisor must not wedge pid1), so packets that
//! do not fit in the socket buffer wait here, each owning duplicates of the fds it carries.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use proto::pid1_capnp::{to_supervisor, ShutdownKind};
use proto::seqpacket::{self, SeqpacketError};
use proto::SCM_MAX_FD;

/// Named fds. Names are unique; storing a name again replaces (and closes) the old fd.
#[derive(Default)]
pub struct FdStore {
    entries: Vec<(String, OwnedFd)>,
}

impl FdStore {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn put(&mut self, name: String, fd: OwnedFd) {
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = fd,
            None => self.entries.push((name, fd)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(n, _)| n != name);
    }

    /// Every entry as (name, fd number), for carrying the store across an exec.
    pub fn raw(&self) -> impl Iterator<Item = (&str, std::os::fd::RawFd)> {
        use std::os::fd::AsRawFd;
        self.entries
            .iter()
            .map(|(n, fd)| (n.as_str(), fd.as_raw_fd()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The store as hand-back packets: chunks of at most 253 duplicated fds with their names.
    /// A duplicate that cannot be made (EMFILE) is left out and reported.
    pub fn chunks(&self) -> Vec<Vec<(String, OwnedFd)>> {
        let mut out = Vec::new();
        let mut current = Vec::new();
        for (name, fd) in &self.entries {
            match fd.try_clone() {
                Ok(dup) => current.push((name.clone(), dup)),
                Err(e) => eprintln!("cairn-init: cannot hand back fd {name}: {e}"),
            }
            if current.len() == SCM_MAX_FD {
                out.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }
}

/// One packet waiting to be sent, with the fds it carries.
pub struct Outgoing {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

impl Outgoing {
    fn new(msg: capnp::message::Builder<capnp::message::HeapAllocator>, fds: Vec<OwnedFd>) -> Self {
        Outgoing {
            bytes: seqpacket::encode(&msg),
            fds,
        }
    }
}

/// Packets for the supervisor, in order.
#[derive(Default)]
pub struct Outbox {
    queue: VecDeque<Outgoing>,
}

/// The outbox's answer to a flush.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    All,
    /// The socket is full: wait for it to become writable.
    Blocked,
    /// The supervisor's end is gone.
    Closed,
}

impl Outbox {
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    pub fn push(&mut self, p: Outgoing) {
        self.queue.push_back(p);
    }

    pub fn flush(&mut self, link: &OwnedFd) -> Flushed {
        while let Some(p) = self.queue.front() {
            let raw: Vec<RawFd> = p.fds.iter().map(|f| f.as_raw_fd()).collect();
            match seqpacket::send_bytes(link.as_fd(), &p.bytes, &raw) {
                Ok(()) => {
                    self.queue.pop_front();
                }
                Err(SeqpacketError::Io(Errno::EAGAIN)) => return Flushed::Blocked,
                Err(SeqpacketError::Closed) => return Flushed::Closed,
                Err(e) => {
                    // A packet the kernel refuses (ENOBUFS, EMSGSIZE…) would block the queue
                    // for ever: drop it and say so.
                    eprintln!("cairn-init: dropping a packet for the supervisor: {e}");
                    self.queue.pop_front();
                }
            }
        }
        Flushed::All
    }
}

pub fn hello(generation: u32, system_mode: bool, chunks: &[Vec<(String, OwnedFd)>]) -> Outgoing {
    let mut msg = capnp::message::Builder::new_default();
    {
        let root = msg.init_root::<to_supervisor::Builder>();
        let mut h = root.init_hello();
        h.set_generation(generation);
        h.set_system_mode(system_mode);
        let total: usize = chunks.iter().map(Vec::len).sum();
        h.set_stored_fds(u32::try_from(total).unwrap_or(u32::MAX));
        h.set_chunks(u32::try_from(chunks.len()).unwrap_or(u32::MAX));
    }
    Outgoing::new(msg, Vec::new())
}

pub fn chunk(index: u32, entries: Vec<(String, OwnedFd)>) -> Outgoing {
    let mut msg = capnp::message::Builder::new_default();
    let mut fds = Vec::with_capacity(entries.len());
    {
        let root = msg.init_root::<to_supervisor::Builder>();
        let mut c = root.init_fd_chunk();
        c.set_index(index);
        let mut names = c.init_names(u32::try_from(entries.len()).unwrap_or(0));
        for (i, (name, fd)) in entries.into_iter().enumerate() {
            names.set(u32::try_from(i).unwrap_or(0), name.as_str());
            fds.push(fd);
        }
    }
    Outgoing::new(msg, fds)
}

pub fn child_exited(exit: &ChildExit) -> Outgoing {
    let mut msg = capnp::message::Builder::new_default();
    {
        let root = msg.init_root::<to_supervisor::Builder>();
        let mut c = root.init_child_exited();
        c.set_pid(exit.pid);
        c.set_code(exit.code);
        c.set_signal(exit.signal);
        c.set_core_dumped(exit.core_dumped);
    }
    Outgoing::new(msg, Vec::new())
}

pub fn signal(signo: i32) -> Outgoing {
    let mut msg = capnp::message::Builder::new_default();
    msg.init_root::<to_supervisor::Builder>().set_signal(signo);
    Outgoing::new(msg, Vec::new())
}

pub struct StatusFacts {
    pub started_realtime_usec: u64,
    pub stored_names: Vec<String>,
    pub stored_fds: u32,
    pub reaped_orphans: u64,
    pub supervisor_restarts: u32,
}

pub fn status(f: &StatusFacts) -> Outgoing {
    let mut msg = capnp::message::Builder::new_default();
    {
        let root = msg.init_root::<to_supervisor::Builder>();
        let mut s = root.init_status();
        s.set_pid(i32::try_from(std::process::id()).unwrap_or(-1));
        s.set_version(proto::VERSION);
        s.set_started_realtime_usec(f.started_realtime_usec);
        s.set_rss_bytes(proto::procinfo::rss_bytes());
        s.set_open_fds(proto::procinfo::open_fds());
        s.set_stored_fds(f.stored_fds);
        s.set_reaped_orphans(f.reaped_orphans);
        s.set_supervisor_restarts(f.supervisor_restarts);
        s.set_binary(proto::procinfo::binary_path().as_str());
        let mut names = s.init_stored_names(u32::try_from(f.stored_names.len()).unwrap_or(0));
        for (i, n) in f.stored_names.iter().enumerate() {
            names.set(u32::try_from(i).unwrap_or(0), n.as_str());
        }
    }
    Outgoing::new(msg, Vec::new())
}

/// A reaped process, as waitpid(2) told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildExit {
    pub pid: i32,
    pub code: i32,
    pub signal: i32,
    pub core_dumped: bool,
}

/// What the supervisor asked for.
pub enum Request {
    Store(Vec<(String, OwnedFd)>),
    Remove(Vec<String>),
    Shutdown(ShutdownKind),
    Introspect,
    Taken,
    SwitchRoot { root: String, init: String },
    Reexec(String),
    SupervisorBinary(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("bad packet from the supervisor: {0}")]
    Decode(#[from] capnp::Error),
    #[error("bad packet from the supervisor: a name is not UTF-8: {0}")]
    Utf8(#[from] std::str::Utf8Error),
    #[error("bad packet from the supervisor: unknown variant {0}")]
    Unknown(u16),
    #[error("storeFds names {names} fds but {fds} came with it")]
    FdCount { names: usize, fds: usize },
}

impl From<capnp::NotInSchema> for RequestError {
    fn from(e: capnp::NotInSchema) -> Self {
        RequestError::Unknown(e.0)
    }
}

pub fn decode(packet: seqpacket::Packet) -> Result<Request, RequestError> {
    use proto::pid1_capnp::to_init;
    let root = packet.message.get_root::<to_init::Reader>()?;
    Ok(match root.which()? {
        to_init::StoreFds(names) => {
            let names = names?;
            if names.len() as usize != packet.fds.len() {
                return Err(RequestError::FdCount {
                    names: names.len() as usize,
                    fds: packet.fds.len(),
                });
            }
            let mut out = Vec::with_capacity(packet.fds.len());
            for (name, fd) in names.iter().zip(packet.fds) {
                out.push((name?.to_string()?, fd));
            }
            Request::Store(out)
        }
        to_init::RemoveFds(names) => {
            let mut out = Vec::new();
            for n in names?.iter() {
                out.push(n?.to_string()?);
            }
            Request::Remove(out)
        }
        to_init::Shutdown(kind) => Request::Shutdown(kind?),
        to_init::Introspect(()) => Request::Introspect,
        to_init::Taken(()) => Request::Taken,
        to_init::Reexec(path) => Request::Reexec(path?.to_string()?),
        to_init::SupervisorBinary(path) => Request::SupervisorBinary(path?.to_string()?),
        to_init::SwitchRoot(r) => {
            let r = r?;
            Request::SwitchRoot {
                root: r.get_root()?.to_string()?,
                init: r.get_init()?.to_string()?,
            }
        }
    })
}

/// The fuzz target's body (`pid1/fuzz`, `make fuzz`): any bytes, read as a packet that came
/// without fds, must decode to a request or an error, never a panic.
pub fn fuzz_decode(data: &[u8]) {
    if let Ok(message) = seqpacket::decode(data) {
        let _ = decode(seqpacket::Packet {
            message,
            fds: Vec::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutated_packets_decode_or_fail_cleanly() {
        use proto::pid1_capnp::to_init;
        let mut seeds = Vec::new();
        for which in 0..3 {
            let mut msg = capnp::message::Builder::new_default();
            let mut root = msg.init_root::<to_init::Builder>();
            match which {
                0 => {
                    let mut names = root.init_store_fds(2);
                    names.set(0, "a");
                    names.set(1, "control.socket");
                }
                1 => {
                    let mut names = root.init_remove_fds(1);
                    names.set(0, "a");
                }
                _ => root.set_shutdown(ShutdownKind::Poweroff),
            }
            seeds.push(seqpacket::encode(&msg));
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in &seeds {
            fuzz_decode(seed);
            for _ in 0..5000 {
                let mut b = seed.clone();
                for _ in 0..=(next() % 4) {
                    let at = (next() % b.len() as u64) as usize;
                    b[at] = next() as u8;
                }
                b.truncate(b.len() - (next() % 3) as usize);
                fuzz_decode(&b);
            }
        }
    }

    fn fd() -> OwnedFd {
        nix::unistd::pipe().unwrap().0
    }

    #[test]
    fn storing_a_name_again_replaces_it() {
        let mut s = FdStore::default();
        s.put("a".into(), fd());
        s.put("b".into(), fd());
        s.put("a".into(), fd());
        assert_eq!(s.names().collect::<Vec<_>>(), vec!["a", "b"]);
        s.remove("a");
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn hand_back_goes_in_chunks_of_at_most_253() {
        let mut s = FdStore::default();
        let base = fd();
        for i in 0..600 {
            s.put(format!("fd{i}"), base.try_clone().unwrap());
        }
        let chunks = s.chunks();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![253, 253, 94]
        );
        assert_eq!(chunks[2][93].0, "fd599");
    }
}

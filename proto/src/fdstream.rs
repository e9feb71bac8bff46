//! File descriptors beside the RPC bytes on one Unix stream socket.
//!
//! capnp-rpc 0.27 carries no fds (its `attachedFd` is unused), so cairn sends them itself, as
//! SCM_RIGHTS ancillary data on the very stream that carries the RPC messages. The rules:
//!
//! - **Naming.** Each direction counts the fds it carries from 0, in order. An RPC field names an
//!   fd by that index (`NamedFd.fd`). The sender learns the index from [`FdHandle::send_fd`], the
//!   receiver claims the fd with [`FdHandle::take`].
//! - **Ordering.** `send_fd` queues the fd *before* the message that names it is built; the
//!   writer attaches queued fds to the next bytes it sends. The stream is ordered, so an fd
//!   arrives with or before the message naming it: no race and no acknowledgement.
//! - **Ownership.** Once `sendmsg` has returned, the kernel holds its own reference and the
//!   queued copy is closed. Only fds still in the queue stay open on the sending side.
//! - **Bounds.** One `sendmsg` carries at most 253 fds (`SCM_MAX_FD`); more wait for the next
//!   bytes (larger sets are sent as numbered chunks at the RPC level). A receiver holds at most
//!   `max_unclaimed` fds nobody has taken: a peer that pushes more breaks the connection.
//! - **Backpressure.** With `Limits::pause_reads_while_blocked` (untrusted peers), the reader
//!   stops reading while the writer cannot write: a peer that sends requests without reading
//!   the answers fills its own socket buffer, not our memory. Never on both sides of one
//!   connection (two sides that both wait for the other to read would wait for ever).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use nix::cmsg_space;
use nix::sys::socket::{
    recvmsg, sendmsg, shutdown, ControlMessage, ControlMessageOwned, MsgFlags, Shutdown,
};
use tokio::io::unix::AsyncFd;

use crate::SCM_MAX_FD;

/// How many received fds a connection between cairn's own processes may hold unclaimed. Calls
/// are read ahead of their dispatch, and their fds arrive with them: the supervisor starting
/// 16,000 socket units at once hands the activator 16,000 fds faster than it claims them (with
/// 4,096 here the activator's link broke: `make bench`). The real bound is RLIMIT_NOFILE,
/// which every component raises to its hard limit.
pub const DEFAULT_MAX_UNCLAIMED: usize = 1 << 20;

/// What one RPC connection may make this side hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Received fds not yet claimed by a call.
    pub max_unclaimed_fds: usize,
    /// The largest message read, in 8-byte words. capnp allocates what a message's segment
    /// table announces before the bytes arrive, so this bounds what a peer that sends only a
    /// header can make us allocate.
    pub max_message_words: usize,
    /// Stop reading while our answers cannot be written (see the module's Backpressure).
    pub pause_reads_while_blocked: bool,
}

impl Limits {
    /// Between cairn's own processes (and cairnctl reading the supervisor's answers, which
    /// can be large): capnp's default 64 MiB.
    pub const TRUSTED: Limits = Limits {
        max_unclaimed_fds: DEFAULT_MAX_UNCLAIMED,
        max_message_words: 8 * 1024 * 1024,
        pause_reads_while_blocked: false,
    };
    /// A peer anyone may be (the control socket is 0666): a request is a few names and
    /// numbers, so 1 MiB is plenty.
    pub const UNTRUSTED_PEER: Limits = Limits {
        max_unclaimed_fds: 64,
        max_message_words: 128 * 1024,
        pause_reads_while_blocked: true,
    };
}

/// Registers an owned fd with the current tokio reactor.
pub fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd stays open, and keeps returning the same raw fd, for as long as it
    // lives; the AsyncFd owns it, so it outlives the registration.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

/// Registers `fd` for POLLPRI only (`/proc/self/mountinfo` signals changes that way).
pub fn register_priority(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: as in `register`: the AsyncFd owns the fd for as long as it is registered.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::PRIORITY) }
        .map_err(|e| e.into_parts().1)
}

pub use crate::seqpacket::set_nonblocking;

struct Shared {
    io: AsyncFd<OwnedFd>,
    state: RefCell<FdState>,
}

struct FdState {
    /// Fds queued to go with the next bytes written, and the index the first of them will get.
    outgoing: VecDeque<OwnedFd>,
    next_out: u64,
    /// Fds received and not yet claimed, by index; and the index the next one will get.
    incoming: BTreeMap<u64, OwnedFd>,
    next_in: u64,
    max_unclaimed: usize,
    /// Whether the reader waits while a write is blocked, whether one is, and the reader's
    /// waker to call when it no longer is.
    pause_reads: bool,
    write_blocked: bool,
    read_waker: Option<Waker>,
}

/// The application's side of the adapter: queue fds to send, claim fds received.
#[derive(Clone)]
pub struct FdHandle(Rc<Shared>);

/// The byte stream the RPC system reads (a `futures::io::AsyncRead`).
pub struct FdReader(Rc<Shared>);

/// The byte stream the RPC system writes (a `futures::io::AsyncWrite`).
pub struct FdWriter(Rc<Shared>);

/// Wraps a connected Unix stream socket. Must be called inside a tokio runtime.
pub fn new(sock: OwnedFd, max_unclaimed: usize) -> io::Result<(FdReader, FdWriter, FdHandle)> {
    set_nonblocking(sock.as_fd())?;
    let shared = Rc::new(Shared {
        io: register(sock)?,
        state: RefCell::new(FdState {
            outgoing: VecDeque::new(),
            next_out: 0,
            incoming: BTreeMap::new(),
            next_in: 0,
            max_unclaimed,
            pause_reads: false,
            write_blocked: false,
            read_waker: None,
        }),
    });
    Ok((
        FdReader(shared.clone()),
        FdWriter(shared.clone()),
        FdHandle(shared),
    ))
}

impl FdHandle {
    /// Queues `fd` to be sent; returns the index the peer will know it by.
    pub fn send_fd(&self, fd: OwnedFd) -> u64 {
        let mut st = self.0.state.borrow_mut();
        let index = st.next_out;
        st.next_out += 1;
        st.outgoing.push_back(fd);
        index
    }

    /// Queues a duplicate of `fd` (close-on-exec), keeping the caller's copy.
    pub fn send_dup(&self, fd: BorrowedFd<'_>) -> io::Result<u64> {
        Ok(self.send_fd(fd.try_clone_to_owned()?))
    }

    /// Claims the received fd with this index. `None` if it has not arrived, was already
    /// claimed, or never existed.
    pub fn take(&self, index: u64) -> Option<OwnedFd> {
        self.0.state.borrow_mut().incoming.remove(&index)
    }

    /// How many received fds nobody has claimed.
    pub fn unclaimed(&self) -> usize {
        self.0.state.borrow().incoming.len()
    }

    /// How many fds wait in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.0.state.borrow().outgoing.len()
    }

    /// The socket itself, e.g. to read SO_PEERCRED.
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.0.io.get_ref().as_fd()
    }
}

impl Shared {
    /// The writer wrote (or failed for good): a reader paused for it reads again.
    fn unblock_writes(&self) {
        let waker = {
            let mut st = self.state.borrow_mut();
            st.write_blocked = false;
            st.read_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

fn recv_some(shared: &Shared, fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut cmsg = cmsg_space!([RawFd; SCM_MAX_FD]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    )?;
    let mut received = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: the kernel just installed this fd in our table for us; nothing else
                // owns it.
                received.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err(io::Error::other("fds lost: control message truncated"));
    }
    let mut st = shared.state.borrow_mut();
    for fd in received {
        let index = st.next_in;
        st.next_in += 1;
        st.incoming.insert(index, fd);
    }
    if st.incoming.len() > st.max_unclaimed {
        return Err(io::Error::other(format!(
            "peer sent more than {} fds nobody claimed",
            st.max_unclaimed
        )));
    }
    Ok(msg.bytes)
}

fn send_some(shared: &Shared, fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let mut st = shared.state.borrow_mut();
    let count = st.outgoing.len().min(SCM_MAX_FD);
    let raw: Vec<RawFd> = st
        .outgoing
        .iter()
        .take(count)
        .map(|f| f.as_raw_fd())
        .collect();
    // With more fds queued than one message may carry, send one byte now so that the rest can
    // ride on the following bytes.
    let len = if st.outgoing.len() > SCM_MAX_FD {
        1.min(buf.len())
    } else {
        buf.len()
    };
    let iov = [IoSlice::new(buf.get(..len).unwrap_or(buf))];
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &rights };
    let n = sendmsg::<()>(
        fd,
        &iov,
        cmsgs,
        MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        None,
    )?;
    // The kernel has its references now: close ours.
    st.outgoing.drain(..count);
    Ok(n)
}

impl futures::io::AsyncRead for FdReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &*self.0;
        {
            let mut st = shared.state.borrow_mut();
            if st.pause_reads && st.write_blocked {
                st.read_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        loop {
            let mut guard = ready!(shared.io.poll_read_ready(cx))?;
            match guard.try_io(|afd| recv_some(shared, afd.get_ref().as_raw_fd(), buf)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }
}

impl futures::io::AsyncWrite for FdWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        crate::failpoint::hit("bus::rpc_send");
        let shared = &*self.0;
        loop {
            let mut guard = match shared.io.poll_write_ready(cx) {
                Poll::Pending => {
                    shared.state.borrow_mut().write_blocked = true;
                    return Poll::Pending;
                }
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(e)) => {
                    shared.unblock_writes();
                    return Poll::Ready(Err(e));
                }
            };
            match guard.try_io(|afd| send_some(shared, afd.get_ref().as_raw_fd(), buf)) {
                Ok(result) => {
                    shared.unblock_writes();
                    return Poll::Ready(result);
                }
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = shutdown(self.0.io.get_ref().as_raw_fd(), Shutdown::Write);
        Poll::Ready(Ok(()))
    }
}

/// Builds a two-party RPC system over `sock` with this adapter. `bootstrap` makes the
/// capability offered to the peer; it gets the connection's [`FdHandle`], so a server can claim
/// the fds its callers send.
pub fn rpc_system(
    sock: OwnedFd,
    side: capnp_rpc::rpc_twoparty_capnp::Side,
    limits: Limits,
    bootstrap: impl FnOnce(&FdHandle) -> Option<capnp::capability::Client>,
) -> io::Result<(
    capnp_rpc::RpcSystem<capnp_rpc::rpc_twoparty_capnp::Side>,
    FdHandle,
)> {
    let (reader, writer, handle) = new(sock, limits.max_unclaimed_fds)?;
    handle.0.state.borrow_mut().pause_reads = limits.pause_reads_while_blocked;
    let mut options = capnp::message::ReaderOptions::new();
    options.traversal_limit_in_words(Some(limits.max_message_words));
    let network = capnp_rpc::twoparty::VatNetwork::new(
        futures::io::BufReader::new(reader),
        writer,
        side,
        options,
    );
    let boot = bootstrap(&handle);
    Ok((capnp_rpc::RpcSystem::new(Box::new(network), boot), handle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn pipe_fd() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe().unwrap()
    }

    #[test]
    fn fds_are_named_by_arrival_order() {
        rt().block_on(async {
            let (a, b) = pair();
            let (_ar, mut aw, ah) = new(a, 16).unwrap();
            let (mut br, _bw, bh) = new(b, 16).unwrap();
            let (r1, w1) = pipe_fd();
            let (r2, w2) = pipe_fd();
            assert_eq!(ah.send_fd(w1), 0);
            assert_eq!(ah.send_fd(w2), 1);
            aw.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            br.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
            assert_eq!(bh.unclaimed(), 2);
            let got2 = bh.take(1).unwrap();
            let got1 = bh.take(0).unwrap();
            assert!(bh.take(0).is_none());
            nix::unistd::write(&got1, b"1").unwrap();
            nix::unistd::write(&got2, b"2").unwrap();
            let mut c = [0u8; 1];
            nix::unistd::read(&r1, &mut c).unwrap();
            assert_eq!(&c, b"1");
            nix::unistd::read(&r2, &mut c).unwrap();
            assert_eq!(&c, b"2");
            assert_eq!(ah.queued(), 0);
        });
    }

    #[test]
    fn more_than_scm_max_fd_go_in_several_messages() {
        rt().block_on(async {
            let (a, b) = pair();
            let (_ar, mut aw, ah) = new(a, 1000).unwrap();
            let (mut br, _bw, bh) = new(b, 1000).unwrap();
            let (_r, w) = pipe_fd();
            for i in 0..600u64 {
                assert_eq!(ah.send_dup(w.as_fd()).unwrap(), i);
            }
            let payload = [7u8; 16];
            let write = async {
                aw.write_all(&payload).await.unwrap();
            };
            let read = async {
                let mut buf = [0u8; 16];
                br.read_exact(&mut buf).await.unwrap();
            };
            futures::join!(write, read);
            assert_eq!(ah.queued(), 0);
            assert_eq!(bh.unclaimed(), 600);
        });
    }

    /// A header announcing more than the limit ends the connection at once, before anything
    /// is allocated; with the trusted limit the same header would be waited on.
    #[test]
    fn a_message_over_the_limit_ends_the_connection() {
        let local = tokio::task::LocalSet::new();
        rt().block_on(local.run_until(async {
            let (a, b) = pair();
            let (rpc, _) = rpc_system(
                a,
                capnp_rpc::rpc_twoparty_capnp::Side::Server,
                Limits::UNTRUSTED_PEER,
                |_| None,
            )
            .unwrap();
            let served = tokio::task::spawn_local(rpc);
            // One segment of 2^20 words (8 MiB): over the untrusted limit, under the trusted.
            nix::unistd::write(&b, &[0, 0, 0, 0, 0, 0, 0x10, 0]).unwrap();
            let result = tokio::time::timeout(std::time::Duration::from_secs(30), served)
                .await
                .expect("the connection ends instead of waiting for 8 MiB")
                .unwrap();
            let err = result.unwrap_err();
            assert!(err.to_string().contains("too large"), "{err}");
        }));
    }

    /// Counts `introspect` calls and answers each with a 4 KiB name.
    struct Counting(Rc<std::cell::Cell<usize>>);

    impl crate::bus_capnp::component::Server for Counting {
        async fn introspect(
            self: Rc<Self>,
            _: crate::bus_capnp::component::IntrospectParams,
            mut results: crate::bus_capnp::component::IntrospectResults,
        ) -> Result<(), capnp::Error> {
            self.0.set(self.0.get() + 1);
            results
                .get()
                .init_info()
                .set_name("x".repeat(4096).as_str());
            Ok(())
        }
    }

    /// A reader that returns nothing until `open`: a peer that does not read its answers.
    struct Gated {
        inner: FdReader,
        open: Rc<std::cell::Cell<bool>>,
        waker: Rc<RefCell<Option<Waker>>>,
    }

    impl futures::io::AsyncRead for Gated {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if !self.open.get() {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    /// A client that sends 20,000 calls and reads no answer: an untrusted-peer server stops
    /// reading once its answers back up, so it has served only what fits in the socket
    /// buffers; once the client reads, every call is answered. With the trusted limits the
    /// server would read (and answer into memory) all 20,000 at once.
    #[test]
    fn a_peer_that_reads_no_answers_stops_being_read() {
        const CALLS: usize = 20_000;
        let local = tokio::task::LocalSet::new();
        rt().block_on(local.run_until(async {
            let (a, b) = pair();
            let served = Rc::new(std::cell::Cell::new(0));
            let counter = served.clone();
            let (server, _) = rpc_system(
                a,
                capnp_rpc::rpc_twoparty_capnp::Side::Server,
                Limits::UNTRUSTED_PEER,
                move |_| {
                    Some(
                        capnp_rpc::new_client::<crate::bus_capnp::component::Client, _>(Counting(
                            counter,
                        ))
                        .client,
                    )
                },
            )
            .unwrap();
            tokio::task::spawn_local(server);

            let (reader, writer, _) = new(b, 16).unwrap();
            let open = Rc::new(std::cell::Cell::new(false));
            let waker = Rc::new(RefCell::new(None::<Waker>));
            let gated = Gated {
                inner: reader,
                open: open.clone(),
                waker: waker.clone(),
            };
            let network = capnp_rpc::twoparty::VatNetwork::new(
                futures::io::BufReader::new(gated),
                writer,
                capnp_rpc::rpc_twoparty_capnp::Side::Client,
                capnp::message::ReaderOptions::new(),
            );
            let mut client_rpc = capnp_rpc::RpcSystem::new(Box::new(network), None);
            let component: crate::bus_capnp::component::Client =
                client_rpc.bootstrap(capnp_rpc::rpc_twoparty_capnp::Side::Server);
            tokio::task::spawn_local(client_rpc);
            let calls: Vec<_> = (0..CALLS)
                .map(|_| component.introspect_request().send().promise)
                .collect();
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            let before = served.get();
            assert!(
                before > 0 && before < CALLS / 4,
                "served {before} of {CALLS} calls without the client reading"
            );
            open.set(true);
            if let Some(w) = waker.borrow_mut().take() {
                w.wake();
            }
            for c in calls {
                c.await.unwrap();
            }
            assert_eq!(served.get(), CALLS);
        }));
    }

    #[test]
    fn too_many_unclaimed_fds_break_the_connection() {
        rt().block_on(async {
            let (a, b) = pair();
            let (_ar, mut aw, ah) = new(a, 16).unwrap();
            let (mut br, _bw, _bh) = new(b, 4).unwrap();
            let (_r, w) = pipe_fd();
            for _ in 0..5 {
                ah.send_dup(w.as_fd()).unwrap();
            }
            aw.write_all(b"x").await.unwrap();
            let mut buf = [0u8; 1];
            let err = br.read(&mut buf).await.unwrap_err();
            assert!(err.to_string().contains("more than 4 fds"), "{err}");
        });
    }
}

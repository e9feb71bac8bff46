//! One Cap'n Proto message per SOCK_SEQPACKET packet, with fds as SCM_RIGHTS: the pid1 ↔
//! supervisor link. Plain serialization and blocking-or-not sockets only, no runtime, so that
//! pid1 can use it; the supervisor calls [`recv`] when its event loop says the socket is
//! readable.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::cmsg_space;
use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::SCM_MAX_FD;

/// The largest packet either side sends. A packet of 253 fd names fits with room to spare.
pub const MAX_PACKET: usize = 128 * 1024;

/// A receive buffer of [`MAX_PACKET`] bytes in an anonymous mapping of its own: the kernel
/// provides each page when a packet is first written to it, so a link whose packets are a few
/// hundred bytes holds a page or two, not 128 KiB. From the heap, the buffer cost all of it:
/// calloc clears (so touches) memory it takes from the heap's top, and a freed 128 KiB chunk
/// raises glibc's mmap threshold so that the next one comes from the heap.
pub struct PacketBuf {
    ptr: std::ptr::NonNull<u8>,
}

impl PacketBuf {
    pub fn new() -> std::io::Result<PacketBuf> {
        // SAFETY: a new private anonymous mapping, at an address the kernel chooses; no
        // existing memory is involved.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAX_PACKET,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        std::ptr::NonNull::new(p.cast::<u8>())
            .map(|ptr| PacketBuf { ptr })
            .ok_or_else(|| std::io::Error::other("mmap returned a null mapping"))
    }
}

impl std::ops::Deref for PacketBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping is MAX_PACKET bytes, readable, zero-filled by the kernel (so
        // initialized), and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), MAX_PACKET) }
    }
}

impl std::ops::DerefMut for PacketBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and &mut self makes this the only reference to the mapping.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), MAX_PACKET) }
    }
}

impl Drop for PacketBuf {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new, of that length, unmapped once; no slice of it
        // outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), MAX_PACKET) };
    }
}

// SAFETY: PacketBuf owns its mapping alone, like a Box<[u8]>; nothing in it is tied to a thread.
unsafe impl Send for PacketBuf {}

impl std::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PacketBuf({MAX_PACKET} bytes)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeqpacketError {
    #[error("link i/o: {0}")]
    Io(#[from] Errno),
    #[error("the peer closed the link")]
    Closed,
    #[error("packet truncated (over {MAX_PACKET} bytes or {SCM_MAX_FD} fds)")]
    Truncated,
    #[error("more than {SCM_MAX_FD} fds in one packet ({0})")]
    TooManyFds(usize),
    #[error("bad message: {0}")]
    Decode(#[from] capnp::Error),
}

/// A received packet: the decoded message and the fds that came with it, in order.
pub struct Packet {
    pub message: capnp::message::Reader<capnp::serialize::OwnedSegments>,
    pub fds: Vec<OwnedFd>,
}

/// A connected SOCK_SEQPACKET pair, both ends close-on-exec.
pub fn pair() -> Result<(OwnedFd, OwnedFd), SeqpacketError> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Sets O_NONBLOCK on an fd.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    // One ioctl, not F_GETFL then F_SETFL: the supervisor does this for every service it
    // starts, and under emulation each system call counts (docs/performance.md).
    let on: libc::c_int = 1;
    // SAFETY: FIONBIO reads one int from the pointer, which lives across the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONBIO, &on) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Serializes `message` into the bytes of one packet.
pub fn encode<A: capnp::message::Allocator>(message: &capnp::message::Builder<A>) -> Vec<u8> {
    capnp::serialize::write_message_to_words(message)
}

/// Sends `message` as one packet carrying `fds`. Once this returns the kernel holds its own
/// references: the caller may close its copies.
pub fn send<A: capnp::message::Allocator>(
    sock: BorrowedFd<'_>,
    message: &capnp::message::Builder<A>,
    fds: &[RawFd],
) -> Result<(), SeqpacketError> {
    if fds.len() > SCM_MAX_FD {
        return Err(SeqpacketError::TooManyFds(fds.len()));
    }
    send_bytes(sock, &encode(message), fds)
}

/// Sends already-encoded bytes as one packet carrying `fds`. On a non-blocking socket whose
/// buffer is full this returns `Io(EAGAIN)` and sends nothing.
pub fn send_bytes(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> Result<(), SeqpacketError> {
    if fds.len() > SCM_MAX_FD {
        return Err(SeqpacketError::TooManyFds(fds.len()));
    }
    let iov = [IoSlice::new(bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Err(SeqpacketError::Closed),
            Err(e) => return Err(SeqpacketError::Io(e)),
        }
    }
}

/// Receives one packet into `buf` (at least [`MAX_PACKET`] bytes). On a non-blocking socket
/// with nothing to read this returns `Io(EAGAIN)`.
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Packet, SeqpacketError> {
    let mut cmsg = cmsg_space!([RawFd; SCM_MAX_FD]);
    let (len, flags, fds) = loop {
        let mut iov = [IoSliceMut::new(buf)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for c in msg.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(raw) = c {
                        for fd in raw {
                            // SAFETY: the kernel just installed this fd in our table for us;
                            // nothing else owns it.
                            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                        }
                    }
                }
                break (msg.bytes, msg.flags, fds);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Err(SeqpacketError::Closed),
            Err(e) => return Err(SeqpacketError::Io(e)),
        }
    };
    if flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
        return Err(SeqpacketError::Truncated);
    }
    if len == 0 && fds.is_empty() {
        return Err(SeqpacketError::Closed);
    }
    let bytes = buf.get(..len).ok_or(SeqpacketError::Truncated)?;
    Ok(Packet {
        message: decode(bytes)?,
        fds,
    })
}

/// Reads the message a packet holds. The segment table is checked against the bytes that came
/// first: capnp would otherwise allocate what a bogus header claims (up to its 64 MiB traversal
/// limit) before finding the packet short, and pid1 must not be made to do that.
pub fn decode(
    bytes: &[u8],
) -> Result<capnp::message::Reader<capnp::serialize::OwnedSegments>, capnp::Error> {
    let options = capnp::message::ReaderOptions::new();
    capnp::serialize::read_message_from_flat_slice(&mut &bytes[..], options)?;
    capnp::serialize::read_message(&mut &bytes[..], options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pid1_capnp::to_init;
    use std::os::fd::AsFd;

    #[test]
    fn message_and_fds_round_trip() {
        let (a, b) = pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut msg = capnp::message::Builder::new_default();
        {
            let root = msg.init_root::<to_init::Builder>();
            let mut names = root.init_store_fds(1);
            names.set(0, "pipe");
        }
        send(a.as_fd(), &msg, &[w.as_raw_fd()]).unwrap();
        drop(w);
        let mut buf = vec![0u8; MAX_PACKET];
        let p = recv(b.as_fd(), &mut buf).unwrap();
        let root = p.message.get_root::<to_init::Reader>().unwrap();
        match root.which().unwrap() {
            to_init::StoreFds(names) => {
                assert_eq!(names.unwrap().get(0).unwrap().to_str().unwrap(), "pipe")
            }
            _ => panic!("wrong variant"),
        }
        assert_eq!(p.fds.len(), 1);
        // The received write end still works.
        nix::unistd::write(&p.fds[0], b"x").unwrap();
        let mut got = [0u8; 1];
        nix::unistd::read(&r, &mut got).unwrap();
        assert_eq!(&got, b"x");
    }

    #[test]
    fn a_header_claiming_more_than_came_is_refused() {
        // One segment of 2^22 words (32 MiB, under capnp's traversal limit) declared, 8 bytes
        // present.
        let mut bytes = vec![0, 0, 0, 0, 0, 0, 0x40, 0];
        bytes.extend_from_slice(&[0; 8]);
        assert!(decode(&bytes).is_err());
        let mut msg = capnp::message::Builder::new_default();
        msg.init_root::<to_init::Builder>().set_taken(());
        assert!(decode(&encode(&msg)).is_ok());
    }

    #[test]
    fn a_packet_buffer_is_zeroed_writable_and_its_own_mapping() {
        let mut a = PacketBuf::new().unwrap();
        let b = PacketBuf::new().unwrap();
        assert_eq!(a.len(), MAX_PACKET);
        assert!(a.iter().all(|&x| x == 0));
        a[MAX_PACKET - 1] = 7;
        a[0] = 1;
        assert_eq!((a[0], a[MAX_PACKET - 1]), (1, 7));
        assert!(b.iter().all(|&x| x == 0));
        // Its pages are a mapping of its own, not malloc's: a malloc chunk, even one mapped
        // alone, starts past a header, never at a page's start; and no heap holds it. (Not
        // the exact range: the kernel may merge it with a neighbouring anonymous mapping.)
        let start = a.as_ptr() as usize;
        assert_eq!(start % 4096, 0, "{start:#x}");
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let own = maps.lines().any(|l| {
            let range = l.split(' ').next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let lo = usize::from_str_radix(lo, 16).unwrap();
            let hi = usize::from_str_radix(hi, 16).unwrap();
            lo <= start && start + MAX_PACKET <= hi && !l.ends_with("[heap]")
        });
        assert!(own, "{start:#x} is not in an anonymous mapping:\n{maps}");
    }

    #[test]
    fn a_full_size_packet_arrives_whole_in_a_packet_buffer() {
        let (a, b) = pair().unwrap();
        let mut msg = capnp::message::Builder::new_default();
        {
            let root = msg.init_root::<to_init::Builder>();
            let mut names = root.init_store_fds(1);
            names.set(0, "x".repeat(MAX_PACKET - 1024).as_str());
        }
        send(a.as_fd(), &msg, &[]).unwrap();
        let mut buf = PacketBuf::new().unwrap();
        let p = recv(b.as_fd(), &mut buf).unwrap();
        let root = p.message.get_root::<to_init::Reader>().unwrap();
        match root.which().unwrap() {
            to_init::StoreFds(names) => {
                assert_eq!(names.unwrap().get(0).unwrap().len(), MAX_PACKET - 1024)
            }
            _ => panic!("wrong variant"),
        }
    }

    #[test]
    fn closed_peer_is_reported() {
        let (a, b) = pair().unwrap();
        drop(a);
        let mut buf = vec![0u8; MAX_PACKET];
        assert!(matches!(
            recv(b.as_fd(), &mut buf),
            Err(SeqpacketError::Closed)
        ));
    }

    #[test]
    fn too_many_fds_refused_before_sending() {
        let (a, _b) = pair().unwrap();
        let msg = capnp::message::Builder::new_default();
        let fds = vec![0; SCM_MAX_FD + 1];
        assert!(matches!(
            send(a.as_fd(), &msg, &fds),
            Err(SeqpacketError::TooManyFds(254))
        ));
    }
}

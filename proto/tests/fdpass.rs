//! The fd-carrying bus across two real processes: a child runs the real helper skeleton
//! (`proto::component::run`) on fd 3 and stores a listening TCP socket plus 300 pipe fds with
//! the supervisor (two `storeFds` calls: at most 253 a call); this test plays the supervisor's
//! Registry. A second child instance gets all 301 back through `register`/`restoreMore` and
//! accepts, on the restored listener, a connection that waited in its backlog.
//!
//! The child is `examples/fdpass_peer.rs` (cargo builds examples for `cargo test`).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::rc::Rc;

use cairn_proto as proto;
use capnp_rpc::rpc_twoparty_capnp::Side;
use proto::bus_capnp::{component, registry};
use proto::fdstream::{self, FdHandle};

const PIPES: usize = 300;

/// What the test's Registry keeps, shared across both helper instances.
#[derive(Default)]
struct Kept {
    fds: Vec<(String, OwnedFd)>,
    registered: Vec<String>,
    components: Vec<component::Client>,
}

struct TestRegistry {
    kept: Rc<RefCell<Kept>>,
    conn: FdHandle,
    pending: RefCell<Vec<(String, OwnedFd)>>,
}

impl TestRegistry {
    fn fill(
        &self,
        mut list: capnp::struct_list::Builder<'_, proto::bus_capnp::named_fd::Owned>,
        batch: Vec<(String, OwnedFd)>,
    ) {
        for (i, (name, fd)) in batch.into_iter().enumerate() {
            let idx = self.conn.send_fd(fd);
            let mut e = list.reborrow().get(i as u32);
            e.set_name(name.as_str());
            e.set_fd(idx);
        }
    }

    fn batch(&self) -> (Vec<(String, OwnedFd)>, bool) {
        let mut p = self.pending.borrow_mut();
        let n = p.len().min(proto::SCM_MAX_FD);
        let b: Vec<_> = p.drain(..n).collect();
        (b, !p.is_empty())
    }
}

impl registry::Server for TestRegistry {
    async fn register(
        self: Rc<Self>,
        params: registry::RegisterParams,
        mut results: registry::RegisterResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let name = p.get_info()?.get_name()?.to_string()?;
        {
            let mut k = self.kept.borrow_mut();
            k.registered.push(name);
            k.components.push(p.get_component()?);
            let dups: Vec<_> = k
                .fds
                .iter()
                .map(|(n, f)| (n.clone(), f.try_clone().unwrap()))
                .collect();
            *self.pending.borrow_mut() = dups;
        }
        let (b, more) = self.batch();
        let mut r = results.get();
        r.set_more(more);
        self.fill(r.init_restored(b.len() as u32), b);
        Ok(())
    }

    async fn restore_more(
        self: Rc<Self>,
        _: registry::RestoreMoreParams,
        mut results: registry::RestoreMoreResults,
    ) -> Result<(), capnp::Error> {
        let (b, more) = self.batch();
        let mut r = results.get();
        r.set_more(more);
        self.fill(r.init_restored(b.len() as u32), b);
        Ok(())
    }

    async fn store_fds(
        self: Rc<Self>,
        params: registry::StoreFdsParams,
        _: registry::StoreFdsResults,
    ) -> Result<(), capnp::Error> {
        for nf in params.get()?.get_fds()?.iter() {
            let fd = self
                .conn
                .take(nf.get_fd())
                .ok_or_else(|| capnp::Error::failed("fd did not arrive".into()))?;
            self.kept
                .borrow_mut()
                .fds
                .push((nf.get_name()?.to_string()?, fd));
        }
        Ok(())
    }

    async fn remove_fds(
        self: Rc<Self>,
        _: registry::RemoveFdsParams,
        _: registry::RemoveFdsResults,
    ) -> Result<(), capnp::Error> {
        Ok(())
    }
}

/// Spawns this test binary as a helper in `role`, with its end of a bus on fd 3, and serves
/// the test Registry on our end until the child exits. Returns the child's exit code.
fn run_child(role: &str, kept: &Rc<RefCell<Kept>>) -> i32 {
    let (ours, theirs) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let fd = theirs.as_raw_fd();
    // target/debug/deps/fdpass-HASH → target/debug/examples/fdpass_peer
    let exe = std::env::current_exe().unwrap();
    let peer = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/fdpass_peer");
    assert!(
        peer.is_file(),
        "{} is not built: a full `cargo test` builds it, or `cargo build -p cairn-proto --example fdpass_peer`",
        peer.display()
    );
    let mut cmd = std::process::Command::new(peer);
    cmd.arg(role);
    // SAFETY: async-signal-safe calls only (dup2/fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || proto::child::place_fd(fd, proto::BUS_FD));
    }
    let mut child = cmd.spawn().unwrap();
    drop(theirs);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let kept2 = kept.clone();
    local.block_on(&rt, async move {
        let (rpc, _) =
            fdstream::rpc_system(ours, Side::Server, fdstream::Limits::TRUSTED, |conn| {
                let server = TestRegistry {
                    kept: kept2,
                    conn: conn.clone(),
                    pending: RefCell::new(Vec::new()),
                };
                Some(capnp_rpc::new_client::<registry::Client, _>(server).client)
            })
            .unwrap();
        // The child exits when done, which ends the connection.
        let _ = rpc.await;
    });
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn fds_cross_processes_and_come_back_after_a_restart() {
    let kept = Rc::new(RefCell::new(Kept::default()));
    assert_eq!(run_child("store", &kept), 0, "first instance failed");
    {
        let k = kept.borrow();
        assert_eq!(k.registered, vec!["activator"]);
        assert_eq!(k.fds.len(), PIPES + 1);
    }
    // The stored listener is a real, listening socket in this process now: connect to it
    // while no helper runs; the connection waits in its backlog.
    let addr = {
        let k = kept.borrow();
        let (_, fd) = k.fds.iter().find(|(n, _)| n == "listener").unwrap();
        let l = TcpListener::from(fd.try_clone().unwrap());
        l.local_addr().unwrap()
    };
    let mut waiting = TcpStream::connect(addr).unwrap();
    waiting.write_all(b"ping").unwrap();
    // A second instance gets every fd back (over two calls) and serves that connection.
    assert_eq!(run_child("restore", &kept), 0, "second instance failed");
    let mut answer = [0u8; 4];
    waiting.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"pong");
    // Each stored pipe write end still works: write through ours, read the matching end the
    // child left in its keeping... the read ends were closed with the first child, so a write
    // reports EPIPE — proving these are the child's pipes, not copies of something else.
    let k = kept.borrow();
    let (_, pipe0) = k.fds.iter().find(|(n, _)| n == "pipe0").unwrap();
    let err = nix::unistd::write(pipe0, b"x").unwrap_err();
    assert_eq!(err, nix::errno::Errno::EPIPE);
}

//! What several end-to-end tests share: speaking the control API directly (not through
//! cairnctl), for what cairnctl does not do — pipelined calls, fds taken from answers.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::Path;

use capnp_rpc::rpc_twoparty_capnp::Side;
use proto::control_capnp::control;
use proto::fdstream;

/// Runs `f` on a current-thread runtime with a connection to the control socket at `socket`:
/// the bootstrap `Control` and the connection's fd handle (fds that come with answers).
pub fn with_control<F, Fut>(socket: &Path, f: F)
where
    F: FnOnce(control::Client, fdstream::FdHandle) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
        let (mut rpc, fds) = fdstream::rpc_system(
            OwnedFd::from(stream),
            Side::Client,
            fdstream::Limits::TRUSTED,
            |_| None,
        )
        .unwrap();
        let ctl: control::Client = rpc.bootstrap(Side::Server);
        tokio::task::spawn_local(async move {
            let _ = rpc.await;
        });
        f(ctl, fds).await;
    });
}

//! The `Activator` capability the supervisor calls, and the loops that watch sockets.
//!
//! Accept=no: the first readiness of any of a unit's sockets is reported once
//! (`Activations.triggered`) and the unit is no longer watched: the service takes the traffic
//! from there. Accept=yes: each connection is accepted (blocking, close-on-exec, as systemd
//! passes it) and handed over (`Activations.accepted`) until `unwatch`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;

use proto::bus_capnp::{activations, activator, listen_address, listen_spec, watched_socket};
use proto::fdstream::FdHandle;

use crate::bind::{self, Addr, BindIpv6Only, Kind, Options};

struct Watch {
    tasks: Vec<tokio::task::AbortHandle>,
    fds: u32,
    accept: bool,
    triggers: Rc<std::cell::Cell<u64>>,
}

#[derive(Default)]
struct State {
    watched: BTreeMap<String, Watch>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub struct ActivatorServer {
    fds: FdHandle,
    sink: Sink,
    state: Rc<RefCell<State>>,
    calls: Rc<std::cell::Cell<u64>>,
}

impl ActivatorServer {
    pub fn new(fds: FdHandle) -> ActivatorServer {
        ActivatorServer {
            fds,
            sink: Rc::new(RefCell::new(None)),
            state: Rc::new(RefCell::new(State::default())),
            calls: Rc::new(std::cell::Cell::new(0)),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> capnp::Error {
    capnp::Error::failed(e.to_string())
}

/// A `ListenSpec` as the bind module takes it.
fn spec(s: listen_spec::Reader<'_>) -> Result<(Kind, Addr, Options), capnp::Error> {
    use proto::bus_capnp::ListenKind as K;
    let kind = match s.get_kind()? {
        K::Stream => Kind::Stream,
        K::Datagram => Kind::Datagram,
        K::SeqPacket => Kind::SeqPacket,
        K::Fifo => Kind::Fifo,
        K::Special => Kind::Special,
        K::Netlink => Kind::Netlink,
    };
    let addr = match s.get_address()?.which()? {
        listen_address::Unix(p) => Addr::Unix(PathBuf::from(p?.to_str()?)),
        listen_address::Abstract(n) => Addr::Abstract(n?.to_vec()),
        listen_address::Inet(i) => {
            let a = i.get_address()?.to_str()?;
            let iface = i.get_interface()?.to_str()?;
            Addr::Inet {
                addr: a.parse().map_err(|e| failed(format!("{a}: {e}")))?,
                iface: (!iface.is_empty()).then(|| iface.to_string()),
            }
        }
        listen_address::Path(p) => Addr::Path(PathBuf::from(p?.to_str()?)),
        listen_address::Netlink(n) => Addr::Netlink {
            protocol: n.get_protocol(),
            group: n.get_group(),
        },
    };
    let text = |t: capnp::text::Reader<'_>| -> Result<Option<String>, capnp::Error> {
        let t = t.to_str()?;
        Ok((!t.is_empty()).then(|| t.to_string()))
    };
    let pos = |v: u64| (v > 0).then_some(v);
    let mut symlinks = Vec::new();
    for l in s.get_symlinks()?.iter() {
        symlinks.push(PathBuf::from(l?.to_str()?));
    }
    let opts = Options {
        backlog: s.get_backlog(),
        socket_mode: s.get_socket_mode(),
        directory_mode: s.get_directory_mode(),
        uid: u32::try_from(s.get_uid()).ok(),
        gid: u32::try_from(s.get_gid()).ok(),
        bind_ipv6_only: match s.get_bind_ipv6_only()? {
            proto::bus_capnp::BindIpv6Only::Default => BindIpv6Only::Default,
            proto::bus_capnp::BindIpv6Only::Both => BindIpv6Only::Both,
            proto::bus_capnp::BindIpv6Only::Ipv6Only => BindIpv6Only::Ipv6Only,
        },
        bind_to_device: text(s.get_bind_to_device()?)?,
        reuse_port: s.get_reuse_port(),
        free_bind: s.get_free_bind(),
        transparent: s.get_transparent(),
        broadcast: s.get_broadcast(),
        pass_credentials: s.get_pass_credentials(),
        pass_security: s.get_pass_security(),
        keep_alive: s.get_keep_alive(),
        keep_alive_time_sec: pos(s.get_keep_alive_time_sec()),
        no_delay: s.get_no_delay(),
        priority: (s.get_priority() >= 0).then(|| s.get_priority()),
        receive_buffer: pos(s.get_receive_buffer()),
        send_buffer: pos(s.get_send_buffer()),
        ip_tos: (s.get_ip_tos() >= 0).then(|| s.get_ip_tos()),
        ip_ttl: u32::try_from(s.get_ip_ttl()).ok(),
        mark: u32::try_from(s.get_mark()).ok(),
        pipe_size: pos(s.get_pipe_size()),
        symlinks,
    };
    Ok((kind, addr, opts))
}

impl activator::Server for ActivatorServer {
    async fn open(
        self: Rc<Self>,
        params: activator::OpenParams,
        mut results: activator::OpenResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        let p = params.get()?;
        let unit = p.get_unit()?.to_str()?.to_string();
        let mut made = Vec::new();
        for s in p.get_listen()?.iter() {
            let (kind, addr, opts) = spec(s)?;
            // The error names the address already.
            let (fd, warnings) = bind::open_with_warnings(kind, &addr, &opts).map_err(failed)?;
            for w in warnings {
                eprintln!("cairn-activator: {unit}: {w}");
            }
            made.push(fd);
        }
        eprintln!("cairn-activator: {unit}: {} sockets made", made.len());
        proto::failpoint::hit("activator::between_bind_and_handover");
        let mut list = results
            .get()
            .init_fds(u32::try_from(made.len()).unwrap_or(0));
        for (i, fd) in made.into_iter().enumerate() {
            list.set(u32::try_from(i).unwrap_or(0), self.fds.send_fd(fd));
        }
        Ok(())
    }

    async fn watch(
        self: Rc<Self>,
        params: activator::WatchParams,
        _results: activator::WatchResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        let p = params.get()?;
        let unit = p.get_unit()?.to_str()?.to_string();
        let accept = p.get_accept();
        let mut fds = Vec::new();
        for idx in p.get_fds()?.iter() {
            fds.push(
                self.fds
                    .take(idx)
                    .ok_or_else(|| failed(format!("{unit}: socket fd #{idx} did not arrive")))?,
            );
        }
        let n = u32::try_from(fds.len()).unwrap_or(0);
        let triggers = Rc::new(std::cell::Cell::new(0));
        let tasks = if accept {
            fds.into_iter()
                .map(|fd| {
                    tokio::task::spawn_local(accept_loop(
                        unit.clone(),
                        fd,
                        self.fds.clone(),
                        self.sink.clone(),
                        triggers.clone(),
                    ))
                    .abort_handle()
                })
                .collect()
        } else {
            let task = tokio::task::spawn_local(wait_for_traffic(
                unit.clone(),
                fds,
                self.sink.clone(),
                self.state.clone(),
                triggers.clone(),
            ));
            vec![task.abort_handle()]
        };
        // Replacing an earlier watch of the unit drops (aborts) it.
        self.state.borrow_mut().watched.insert(
            unit,
            Watch {
                tasks,
                fds: n,
                accept,
                triggers,
            },
        );
        Ok(())
    }

    async fn unwatch(
        self: Rc<Self>,
        params: activator::UnwatchParams,
        _results: activator::UnwatchResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        let unit = params.get()?.get_unit()?.to_str()?.to_string();
        self.state.borrow_mut().watched.remove(&unit);
        Ok(())
    }

    async fn list(
        self: Rc<Self>,
        _params: activator::ListParams,
        mut results: activator::ListResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        let st = self.state.borrow();
        let mut list = results
            .get()
            .init_sockets(u32::try_from(st.watched.len()).unwrap_or(0));
        for (i, (unit, w)) in st.watched.iter().enumerate() {
            let mut b: watched_socket::Builder<'_> =
                list.reborrow().get(u32::try_from(i).unwrap_or(0));
            b.set_unit(unit.as_str());
            b.set_fds(w.fds);
            b.set_accept(w.accept);
            b.set_triggers(w.triggers.get());
        }
        Ok(())
    }
}

/// Accept=no: waits until any of the sockets is readable, reports it once, and stops
/// watching (the fds are this process's copies; closing them closes nothing of the service's).
async fn wait_for_traffic(
    unit: String,
    fds: Vec<OwnedFd>,
    sink: Sink,
    state: Rc<RefCell<State>>,
    triggers: Rc<std::cell::Cell<u64>>,
) {
    let mut watched = Vec::new();
    for fd in fds {
        match proto::fdstream::register(fd) {
            Ok(a) => watched.push(a),
            // A regular file (ListenSpecial=) cannot be polled: it is passed, never watched.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => eprintln!("cairn-activator: {unit}: cannot watch a socket: {e}"),
        }
    }
    if watched.is_empty() {
        return;
    }
    let waits = watched.iter().map(|a| Box::pin(a.readable()));
    let _ = futures::future::select_all(waits).await;
    triggers.set(triggers.get() + 1);
    let mut req = sink_of(&sink).await.triggered_request();
    req.get().set_unit(unit.as_str());
    if let Err(e) = req.send().promise.await {
        eprintln!("cairn-activator: {unit}: cannot report traffic: {e}");
    }
    drop(watched);
    // Done: forget the watch unless a newer one replaced it meanwhile.
    let mut st = state.borrow_mut();
    if st
        .watched
        .get(&unit)
        .is_some_and(|w| Rc::ptr_eq(&w.triggers, &triggers))
    {
        // Removing would abort this very task; take it out without dropping it here.
        if let Some(mut w) = st.watched.remove(&unit) {
            w.tasks.clear();
        }
    }
}

/// Accept=yes: accepts every connection and hands it to the supervisor.
async fn accept_loop(
    unit: String,
    fd: OwnedFd,
    fds: FdHandle,
    sink: Sink,
    triggers: Rc<std::cell::Cell<u64>>,
) {
    // Non-blocking, so that a connection that went away between readiness and accept4 never
    // blocks the loop; an Accept=yes listener is nobody else's (instances get connections).
    if let Err(e) = proto::fdstream::set_nonblocking(std::os::fd::AsFd::as_fd(&fd)) {
        eprintln!("cairn-activator: {unit}: {e}");
    }
    let listener = match proto::fdstream::register(fd) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cairn-activator: {unit}: cannot watch a socket: {e}");
            return;
        }
    };
    loop {
        let mut guard = match listener.readable().await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("cairn-activator: {unit}: {e}");
                return;
            }
        };
        // SAFETY: accept4 on a listening socket we own; a null address is allowed. The
        // returned fd, if any, is new and owned by nobody else.
        let conn = unsafe {
            libc::accept4(
                listener.get_ref().as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if conn < 0 {
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN) => guard.clear_ready(),
                // The peer gave up before we took it; what else waits is still there.
                Some(libc::ECONNABORTED | libc::EINTR) => {}
                _ => {
                    eprintln!("cairn-activator: {unit}: accept: {err}");
                    guard.clear_ready();
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
            continue;
        }
        // SAFETY: accept4 returned a new fd that nothing else owns.
        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
        proto::failpoint::hit("activator::after_accept");
        triggers.set(triggers.get() + 1);
        let (local, remote) = bind::conn_addrs(&conn);
        let (pid, uid) = match bind::peer_credentials(&conn) {
            Some((pid, uid, _gid)) => (pid, i64::from(uid)),
            None => (-1, -1),
        };
        let mut req = sink_of(&sink).await.accepted_request();
        {
            let mut b = req.get();
            b.set_unit(unit.as_str());
            b.set_conn(fds.send_fd(conn));
            b.set_local(local.as_str());
            b.set_remote(remote.as_str());
            b.set_peer_pid(pid);
            b.set_peer_uid(uid);
        }
        let unit2 = unit.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = req.send().promise.await {
                eprintln!("cairn-activator: {unit2}: cannot hand over a connection: {e}");
            }
        });
    }
}

/// The supervisor's activations sink, known once `attachActivator` has answered (the
/// supervisor may call `watch` before that answer arrives).
type Sink = Rc<RefCell<Option<activations::Client>>>;

async fn sink_of(sink: &Sink) -> activations::Client {
    loop {
        if let Some(s) = sink.borrow().as_ref() {
            return s.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// The helper's work once registered: offer the Activator capability and serve it until the
/// process ends.
pub async fn work(registered: proto::component::Registered) {
    let server = ActivatorServer::new(registered.fds.clone());
    let sink = server.sink.clone();
    let state = server.state.clone();
    *registered.details.borrow_mut() = Some(Box::new(move || {
        let s = state.borrow();
        vec![proto::component::Section {
            title: format!("sockets watched, by unit ({})", s.watched.len()),
            facts: s
                .watched
                .iter()
                .map(|(unit, w)| {
                    (
                        unit.clone(),
                        format!(
                            "{} fds, Accept={}, {} triggers",
                            w.fds,
                            if w.accept { "yes" } else { "no" },
                            w.triggers.get()
                        ),
                    )
                })
                .collect(),
        }]
    }));
    let client: activator::Client = capnp_rpc::new_client(server);
    let mut req = registered.registry.attach_activator_request();
    req.get().set_activator(client);
    match req.send().promise.await {
        Ok(reply) => match reply.get().and_then(|r| r.get_activations()) {
            Ok(s) => *sink.borrow_mut() = Some(s),
            Err(e) => eprintln!("cairn-activator: attaching: {e}"),
        },
        Err(e) => eprintln!("cairn-activator: attaching: {e}"),
    }
    futures::future::pending::<()>().await;
}

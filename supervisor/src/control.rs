//! The control API on RUNTIME-DIR/control (proto/schema/control.capnp).
//!
//! The socket is mode 0666 in a 0755 directory: anyone may connect. What a peer may do is
//! decided by its SO_PEERCRED uid, once, when it connects: uid 0 can obtain the `Manager`
//! capability; every other uid only a `Viewer`, and `manager()` refuses with
//! "permission denied". The listening socket lives in pid1's fd store, so a connection made
//! while the supervisor restarts waits in the backlog instead of being refused.
//!
//! A caller cannot make the supervisor hold more than a bounded amount for it: a request is at
//! most 1 MiB (`Limits::UNTRUSTED_PEER`), a connection has at most MAX_CALLS_IN_FLIGHT calls
//! waiting for answers, a caller that does not read its answers stops being read
//! (`fdstream`), and an unprivileged uid holds at most MAX_CONNECTIONS_PER_USER connections.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use capnp_rpc::rpc_twoparty_capnp::Side;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use proto::control_capnp::{component_status, control, manager, viewer};
use proto::fdstream;
use proto::pid1_capnp::ShutdownKind;

use crate::components::HelperState;
use crate::control_request as request;
use crate::control_units as units;
use crate::info::Info;
use crate::say;
use crate::world::WorldRef;

/// How long a component has to answer `introspect` before it is listed as not answering.
const INTROSPECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot create the runtime directory {path}: {source}")]
    RuntimeDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: String },
    #[error("cannot bind the control socket {path}: {source}")]
    Bind {
        path: String,
        source: std::io::Error,
    },
}

/// Creates RUNTIME-DIR (0755) and binds `control` in it (0666), replacing a stale socket.
pub fn bind(runtime_dir: &Path) -> Result<OwnedFd, ControlError> {
    let dir_err = |source| ControlError::RuntimeDir {
        path: runtime_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(runtime_dir).map_err(dir_err)?;
    std::fs::set_permissions(runtime_dir, std::fs::Permissions::from_mode(0o755))
        .map_err(dir_err)?;
    let path = runtime_dir.join("control");
    let shown = path.display().to_string();
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if !meta.file_type().is_socket() {
            return Err(ControlError::NotASocket { path: shown });
        }
        let _ = std::fs::remove_file(&path);
    }
    let bind_err = |source| ControlError::Bind {
        path: shown.clone(),
        source,
    };
    let listener = std::os::unix::net::UnixListener::bind(&path).map_err(bind_err)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).map_err(bind_err)?;
    Ok(OwnedFd::from(listener))
}

/// (st_dev, st_ino) of the file at `path`.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Whether the stored listener is still the socket at `path`: the file there must be the one
/// recorded when it was bound. If someone removed or replaced it, bind again.
pub fn still_bound(recorded: Option<(u64, u64)>, path: &Path) -> bool {
    recorded.is_some() && file_id(path) == recorded
}

/// Accepts connections for ever.
pub async fn serve(world: WorldRef, listener: OwnedFd) {
    let std_listener = std::os::unix::net::UnixListener::from(listener);
    if let Err(e) = std_listener.set_nonblocking(true) {
        say!("control socket: {e}");
    }
    let listener = match tokio::net::UnixListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            say!("control socket: {e}");
            return;
        }
    };
    let users = Users::default();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => accept(&world, &users, stream),
            Err(e) => {
                say!("control socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Open connections by unprivileged uid, and whether the supervisor said that the uid hit
/// MAX_CONNECTIONS_PER_USER (said once until all of the uid's connections have closed).
#[derive(Clone, Default)]
struct Users(Rc<RefCell<HashMap<u32, (u32, bool)>>>);

impl Users {
    /// Counts a connection of `uid`, or refuses it.
    fn admit(&self, uid: u32) -> bool {
        if uid == 0 {
            return true;
        }
        let mut map = self.0.borrow_mut();
        let (open, told) = map.entry(uid).or_default();
        if *open >= MAX_CONNECTIONS_PER_USER {
            if !*told {
                *told = true;
                say!(
                    "control socket: uid {uid} holds {MAX_CONNECTIONS_PER_USER} connections; \
                     refusing more until some close"
                );
            }
            return false;
        }
        *open += 1;
        true
    }

    fn leave(&self, uid: u32) {
        let mut map = self.0.borrow_mut();
        if let Some((open, _)) = map.get_mut(&uid) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&uid);
            }
        }
    }
}

fn accept(world: &WorldRef, users: &Users, stream: tokio::net::UnixStream) {
    let fd: OwnedFd = match stream.into_std() {
        Ok(s) => s.into(),
        Err(e) => {
            say!("control socket: {e}");
            return;
        }
    };
    let cred = match getsockopt(&fd.as_fd(), PeerCredentials) {
        Ok(c) => c,
        Err(e) => {
            say!("control socket: SO_PEERCRED: {e}");
            return;
        }
    };
    let world = world.clone();
    let (uid, pid) = (cred.uid(), cred.pid());
    if !users.admit(uid) {
        return;
    }
    let rpc = fdstream::rpc_system(fd, Side::Server, fdstream::Limits::UNTRUSTED_PEER, |fds| {
        let server = ControlServer {
            world,
            uid,
            pid,
            calls: InFlight::default(),
            fds: fds.clone(),
        };
        Some(capnp_rpc::new_client::<control::Client, _>(server).client)
    });
    match rpc {
        Ok((rpc, _)) => {
            let users = users.clone();
            tokio::task::spawn_local(async move {
                let _ = rpc.await;
                users.leave(uid);
            });
        }
        Err(e) => {
            users.leave(uid);
            say!("control socket: {e}");
        }
    }
}

struct ControlServer {
    world: WorldRef,
    uid: u32,
    pid: i32,
    calls: InFlight,
    /// This connection's fd side: fds handed to the client (`connectComponent`).
    fds: fdstream::FdHandle,
}

/// Calls one connection may have in flight (asked, not yet answered). A call that waits
/// (`enqueue` with `wait`, a helper's status) holds its place until it is answered; a caller
/// that asks for more at once is refused, call by call, until answers come back.
pub const MAX_CALLS_IN_FLIGHT: u32 = 64;

/// Connections one unprivileged uid may hold open at once: each costs the supervisor an fd
/// and an RPC system, and its fds are the services' fds too.
pub const MAX_CONNECTIONS_PER_USER: u32 = 32;

/// A connection's calls in flight, shared by every capability served on it.
#[derive(Clone, Default)]
struct InFlight(Rc<Cell<u32>>);

/// One call's place among its connection's calls in flight.
struct CallGuard(Rc<Cell<u32>>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl InFlight {
    /// Counts a call, or refuses it when the connection has too many in flight.
    fn enter(&self, world: &WorldRef) -> Result<CallGuard, capnp::Error> {
        let n = self.0.get();
        if n >= MAX_CALLS_IN_FLIGHT {
            return Err(capnp::Error::overloaded(format!(
                "too many calls in flight on this connection ({MAX_CALLS_IN_FLIGHT}): \
                 wait for answers before asking more"
            )));
        }
        self.0.set(n + 1);
        world.borrow_mut().calls += 1;
        Ok(CallGuard(self.0.clone()))
    }
}

impl control::Server for ControlServer {
    async fn whoami(
        self: Rc<Self>,
        _params: control::WhoamiParams,
        mut results: control::WhoamiResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.calls.enter(&self.world)?;
        let mut r = results.get();
        r.set_uid(self.uid);
        r.set_pid(self.pid);
        r.set_privileged(self.uid == 0);
        Ok(())
    }

    async fn viewer(
        self: Rc<Self>,
        _params: control::ViewerParams,
        mut results: control::ViewerResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.calls.enter(&self.world)?;
        results
            .get()
            .set_viewer(capnp_rpc::new_client(ViewerServer {
                world: self.world.clone(),
                fds: Some(self.fds.clone()),
                calls: self.calls.clone(),
            }));
        Ok(())
    }

    async fn manager(
        self: Rc<Self>,
        _params: control::ManagerParams,
        mut results: control::ManagerResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.calls.enter(&self.world)?;
        if self.uid != 0 {
            return Err(capnp::Error::failed(format!(
                "permission denied: uid {} may only read; changing state needs root",
                self.uid
            )));
        }
        results
            .get()
            .set_manager(capnp_rpc::new_client(ManagerServer {
                view: ViewerServer {
                    world: self.world.clone(),
                    fds: Some(self.fds.clone()),
                    calls: self.calls.clone(),
                },
            }));
        Ok(())
    }
}

/// Read-only methods.
struct ViewerServer {
    world: WorldRef,
    fds: Option<fdstream::FdHandle>,
    calls: InFlight,
}

/// One row of `component list`.
struct Row {
    info: Info,
    state: String,
    restarts: u32,
}

async fn with_timeout<T>(
    f: impl std::future::Future<Output = Result<T, capnp::Error>>,
) -> Result<T, capnp::Error> {
    match tokio::time::timeout(INTROSPECT_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(capnp::Error::failed("no answer".into())),
    }
}

/// Every component's row, asking each running helper (each within INTROSPECT_TIMEOUT).
async fn rows(world: &WorldRef) -> Vec<Row> {
    let (link, me, helpers) = {
        let w = world.borrow();
        let me = Info::own("supervisor", w.started_realtime_usec, w.calls);
        let helpers: Vec<_> = w
            .helpers
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    h.component.clone(),
                    h.state,
                    h.restarts,
                    h.pid,
                    h.info.clone(),
                )
            })
            .collect();
        (w.link.clone(), me, helpers)
    };
    let mut rows = Vec::new();
    let mut supervisor_restarts = 0;
    if let Some(link) = link {
        let status = tokio::time::timeout(INTROSPECT_TIMEOUT, link.introspect()).await;
        if let Ok(Ok(s)) = &status {
            // pid1 counts the supervisor's restarts; it outlives them.
            supervisor_restarts = s.supervisor_restarts;
        }
        let row = match status {
            Ok(Ok(s)) => Row {
                info: Info {
                    name: "init".into(),
                    pid: s.pid,
                    version: s.version,
                    binary: s.binary,
                    started_realtime_usec: s.started_realtime_usec,
                    rss_bytes: s.rss_bytes,
                    open_fds: s.open_fds,
                    calls_served: 0,
                },
                state: "running".into(),
                restarts: 0,
            },
            _ => Row {
                info: Info {
                    name: "init".into(),
                    ..Info::default()
                },
                state: "not answering".into(),
                restarts: 0,
            },
        };
        rows.push(row);
    }
    rows.push(Row {
        info: me,
        state: "running".into(),
        restarts: supervisor_restarts,
    });
    for (name, client, state, restarts, pid, cached) in helpers {
        let mut row = Row {
            info: cached.unwrap_or_else(|| Info {
                name: name.clone(),
                ..Info::default()
            }),
            state: state.as_str().to_string(),
            restarts,
        };
        row.info.pid = pid.unwrap_or(0);
        if let (Some(client), HelperState::Running) = (client, state) {
            let req = client.introspect_request();
            let answer = with_timeout(async move {
                let reply = req.send().promise.await?;
                Info::read(reply.get()?.get_info()?)
            })
            .await;
            match answer {
                Ok(info) => row.info = info,
                Err(_) => row.state = "not answering".into(),
            }
        }
        rows.push(row);
    }
    rows
}

async fn list_components_into(
    world: &WorldRef,
    mut results: viewer::ListComponentsResults,
) -> Result<(), capnp::Error> {
    {
        let rows = rows(world).await;
        let mut list = results
            .get()
            .init_components(u32::try_from(rows.len()).unwrap_or(0));
        for (i, row) in rows.iter().enumerate() {
            let mut b: component_status::Builder<'_> =
                list.reborrow().get(u32::try_from(i).unwrap_or(0));
            row.info.write(b.reborrow().init_info());
            b.set_state(row.state.as_str());
            b.set_restarts(row.restarts);
        }
        Ok(())
    }
}

/// The read-only methods, shared by `Viewer` and `Manager` (which extends it).
macro_rules! impl_viewer {
    ($t:ty) => {
        impl viewer::Server for $t {
            async fn version(
                self: Rc<Self>,
                _params: viewer::VersionParams,
                mut results: viewer::VersionResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                results.get().set_version(proto::VERSION);
                Ok(())
            }

            async fn list_components(
                self: Rc<Self>,
                _params: viewer::ListComponentsParams,
                results: viewer::ListComponentsResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                list_components_into(self.world(), results).await
            }

            async fn component_status(
                self: Rc<Self>,
                params: viewer::ComponentStatusParams,
                results: viewer::ComponentStatusResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                let rows = rows(self.world())
                    .await
                    .into_iter()
                    .map(|r| r.info)
                    .collect();
                crate::control_components::status(self.world(), rows, params, results).await
            }

            async fn connect_component(
                self: Rc<Self>,
                params: viewer::ConnectComponentParams,
                results: viewer::ConnectComponentResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                crate::control_components::connect(self.world(), self.fds(), params, results).await
            }

            async fn list_units(
                self: Rc<Self>,
                params: viewer::ListUnitsParams,
                results: viewer::ListUnitsResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::list_units(self.world(), params, results)
            }

            async fn status(
                self: Rc<Self>,
                params: viewer::StatusParams,
                results: viewer::StatusResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::status(self.world(), params, results)
            }

            async fn show(
                self: Rc<Self>,
                params: viewer::ShowParams,
                results: viewer::ShowResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::show(self.world(), params, results)
            }

            async fn cat(
                self: Rc<Self>,
                params: viewer::CatParams,
                results: viewer::CatResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::cat(self.world(), params, results)
            }

            async fn list_dependencies(
                self: Rc<Self>,
                params: viewer::ListDependenciesParams,
                results: viewer::ListDependenciesResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::list_dependencies(self.world(), params, results)
            }

            async fn list_jobs(
                self: Rc<Self>,
                params: viewer::ListJobsParams,
                results: viewer::ListJobsResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::list_jobs(self.world(), params, results)
            }

            async fn why(
                self: Rc<Self>,
                params: viewer::WhyParams,
                results: viewer::WhyResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::why(self.world(), params, results)
            }

            async fn why_not(
                self: Rc<Self>,
                params: viewer::WhyNotParams,
                results: viewer::WhyNotResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::why_not(self.world(), params, results)
            }

            async fn log(
                self: Rc<Self>,
                params: viewer::LogParams,
                results: viewer::LogResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::log(self.world(), params, results)
            }

            async fn analyze(
                self: Rc<Self>,
                params: viewer::AnalyzeParams,
                results: viewer::AnalyzeResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::analyze(self.world(), params, results)
            }

            async fn list_sockets(
                self: Rc<Self>,
                params: viewer::ListSocketsParams,
                results: viewer::ListSocketsResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::list_sockets(self.world(), params, results)
            }

            async fn graph(
                self: Rc<Self>,
                params: viewer::GraphParams,
                results: viewer::GraphResults,
            ) -> Result<(), capnp::Error> {
                let _call = self.enter()?;
                units::graph(self.world(), params, results)
            }
        }
    };
}

impl ViewerServer {
    fn world(&self) -> &WorldRef {
        &self.world
    }

    fn enter(&self) -> Result<CallGuard, capnp::Error> {
        self.calls.enter(&self.world)
    }

    fn fds(&self) -> Option<&fdstream::FdHandle> {
        self.fds.as_ref()
    }
}

impl ManagerServer {
    fn world(&self) -> &WorldRef {
        &self.view.world
    }

    fn enter(&self) -> Result<CallGuard, capnp::Error> {
        self.view.enter()
    }

    fn fds(&self) -> Option<&fdstream::FdHandle> {
        self.view.fds.as_ref()
    }
}

impl_viewer!(ViewerServer);
impl_viewer!(ManagerServer);

/// Everything a Viewer can do, and the methods that change state.
struct ManagerServer {
    view: ViewerServer,
}

impl manager::Server for ManagerServer {
    async fn shutdown(
        self: Rc<Self>,
        params: manager::ShutdownParams,
        _results: manager::ShutdownResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        let kind: ShutdownKind = request::shutdown(params.get()?)?;
        // Answer first: the caller should hear "ok" before everything stops.
        let world = self.view.world.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            crate::shutdown(&world, kind).await;
        });
        Ok(())
    }

    async fn switch_root(
        self: Rc<Self>,
        params: manager::SwitchRootParams,
        _results: manager::SwitchRootResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        let (root, init) = request::switch_root(params.get()?)?;
        let world = self.view.world.clone();
        let init =
            crate::switch_root::validate(&world, &root, &init).map_err(capnp::Error::failed)?;
        // Answer first: the caller (often a unit of the initrd) hears "ok" before it all goes.
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            crate::switch_root::run(world, root, init).await;
        });
        Ok(())
    }

    async fn daemon_reexec(
        self: Rc<Self>,
        params: manager::DaemonReexecParams,
        _results: manager::DaemonReexecResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        let (init, binary) = request::daemon_reexec(params.get()?)?;
        if !init {
            return crate::persist::reexec(&self.view.world, binary.as_deref())
                .await
                .map_err(capnp::Error::failed);
        }
        if let Some(b) = &binary {
            crate::components::check_binary(std::path::Path::new(b), "init")
                .map_err(capnp::Error::failed)?;
        }
        let binary = binary.unwrap_or_default();
        let link = self.view.world.borrow().link.clone();
        let Some(link) = link else {
            return Err(capnp::Error::failed(
                "no pid1 link: this supervisor runs without cairn-init".into(),
            ));
        };
        link.reexec(&binary)
            .await
            .map_err(|e| capnp::Error::failed(format!("cannot ask pid1: {e}")))?;
        say!(
            "asked cairn-init to re-execute {}",
            if binary.is_empty() { "itself" } else { &binary }
        );
        Ok(())
    }

    async fn set_failpoint(
        self: Rc<Self>,
        params: manager::SetFailpointParams,
        _results: manager::SetFailpointResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        let request::Failpoint {
            component: name,
            point,
            action,
        } = request::set_failpoint(params.get()?)?;
        if name == "supervisor" {
            proto::failpoint::set(&point, &action).map_err(capnp::Error::failed)?;
        } else {
            let client = {
                let mut w = self.view.world.borrow_mut();
                let h = w
                    .helpers
                    .iter_mut()
                    .find(|h| h.name == name)
                    .ok_or_else(|| capnp::Error::failed(format!("no component {name:?}")))?;
                // Passed only while starting: armed for the next instance too.
                if proto::failpoint::AT_START.contains(&point.as_str()) {
                    h.next_failpoints.push((point.clone(), action.clone()));
                }
                h.component
                    .clone()
                    .ok_or_else(|| capnp::Error::failed(format!("cairn-{name} is not running")))?
            };
            let mut req = client.failpoint_request();
            req.get().set_point(point.as_str());
            req.get().set_action(action.as_str());
            req.send().promise.await?;
        }
        say!("fail point {point} of {name} set to {action}");
        Ok(())
    }

    async fn restart_component(
        self: Rc<Self>,
        params: manager::RestartComponentParams,
        mut results: manager::RestartComponentResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        let (name, binary) = request::restart_component(params.get()?)?;
        let binary = binary.map(std::path::PathBuf::from);
        let pid = crate::components::restart(&self.view.world, &name, binary)
            .await
            .map_err(capnp::Error::failed)?;
        results.get().set_pid(pid);
        Ok(())
    }

    async fn enqueue(
        self: Rc<Self>,
        params: manager::EnqueueParams,
        results: manager::EnqueueResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        units::enqueue(&self.view.world, params, results).await
    }

    async fn kill(
        self: Rc<Self>,
        params: manager::KillParams,
        _results: manager::KillResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        units::kill(&self.view.world, params)
    }

    async fn daemon_reload(
        self: Rc<Self>,
        _params: manager::DaemonReloadParams,
        _results: manager::DaemonReloadResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        crate::reload_units(&self.view.world);
        Ok(())
    }

    async fn snapshot(
        self: Rc<Self>,
        params: manager::SnapshotParams,
        mut results: manager::SnapshotResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        let name = crate::control_request::snapshot(params.get()?)?;
        let unit = crate::snapshot::create(&self.view.world, name)?;
        results.get().set_unit(unit.as_str());
        Ok(())
    }

    async fn delete_snapshot(
        self: Rc<Self>,
        params: manager::DeleteSnapshotParams,
        _results: manager::DeleteSnapshotResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        let name = crate::control_request::delete_snapshot(params.get()?)?;
        crate::snapshot::delete(&self.view.world, &name)
    }

    async fn reset_failed(
        self: Rc<Self>,
        params: manager::ResetFailedParams,
        _results: manager::ResetFailedResults,
    ) -> Result<(), capnp::Error> {
        let _call = self.enter()?;
        units::reset_failed(&self.view.world, params)
    }
}

//! The helpers (activator, mounter, devmon) as internal units: spawned with their end of a bus
//! socketpair on fd 3, registered over Cap'n Proto RPC, restarted with back-off when they die,
//! and given back the fds they stored.

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use capnp_rpc::rpc_twoparty_capnp::Side;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;
use proto::bus_capnp::{activations, component, registry};
use proto::fdstream::{self, FdHandle};
use proto::SCM_MAX_FD;

use crate::info::Info;
use crate::say;
use crate::warn;
use crate::world::WorldRef;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// The lifecycle of a helper process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperState {
    /// Spawned, not yet registered.
    Starting,
    Running,
    /// Dead; a restart is scheduled.
    Restarting,
    /// Stopped for shutdown.
    Stopped,
}

impl HelperState {
    pub fn as_str(self) -> &'static str {
        match self {
            HelperState::Starting => "starting",
            HelperState::Running => "running",
            HelperState::Restarting => "restarting",
            HelperState::Stopped => "stopped",
        }
    }
}

pub struct Helper {
    pub name: String,
    pub state: HelperState,
    pub pid: Option<i32>,
    pub restarts: u32,
    started: Option<Instant>,
    backoff: Duration,
    /// Bumped at every spawn, so that events of an earlier instance are recognised as stale.
    generation: u64,
    pub component: Option<component::Client>,
    pub info: Option<Info>,
    /// The fds this helper stored, kept across its restarts (and in pid1's store).
    pub fds: Vec<(String, OwnedFd)>,
    /// The bus connection's fd side: to send it fds (`component status`'s sockets).
    pub bus: Option<proto::fdstream::FdHandle>,
    /// `cairnctl component replace`: the binary to run instead of the one beside the
    /// supervisor, from the next start on.
    pub binary: Option<std::path::PathBuf>,
    /// A restart was asked for (`component restart|replace`): the next instance starts as soon
    /// as this one has exited, with no back-off.
    restart_asked: bool,
    /// Fail points for the next instance only (`CAIRN_FAILPOINTS`), for points passed at start.
    pub next_failpoints: Vec<(String, String)>,
}

impl Helper {
    pub fn new(name: &str, restarts: u32) -> Helper {
        Helper {
            name: name.to_string(),
            state: HelperState::Restarting,
            pid: None,
            restarts,
            started: None,
            backoff: BACKOFF_MIN,
            generation: 0,
            component: None,
            info: None,
            fds: Vec::new(),
            binary: None,
            restart_asked: false,
            bus: None,
            next_failpoints: Vec::new(),
        }
    }

    /// The name of one of this helper's fds in pid1's store.
    pub fn store_name(helper: &str, fd: &str) -> String {
        format!("helper.{helper}.{fd}")
    }
}

/// Starts helper `idx`. On failure, schedules another try.
pub fn spawn(world: &WorldRef, idx: usize) {
    let (name, bin, container, failpoints) = {
        let mut w = world.borrow_mut();
        if w.shutting_down {
            return;
        }
        let (helper_dir, container) = (w.helper_dir.clone(), w.container);
        let Some(h) = w.helpers.get_mut(idx) else {
            return;
        };
        let failpoints: Vec<String> = std::mem::take(&mut h.next_failpoints)
            .into_iter()
            .map(|(p, a)| format!("{p}={a}"))
            .collect();
        let bin = h
            .binary
            .clone()
            .unwrap_or_else(|| helper_dir.join(format!("cairn-{}", h.name)));
        (h.name.clone(), bin, container, failpoints.join(";"))
    };
    let result = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)
    .and_then(|(ours, theirs)| {
        let pid = spawn_process(&bin, &theirs, container, &failpoints)?;
        Ok((ours, pid))
    });
    let (ours, pid) = match result {
        Ok(r) => r,
        Err(e) => {
            warn!("cannot start {}: {e}", bin.display());
            schedule_restart(world, idx);
            return;
        }
    };
    let generation = {
        let mut w = world.borrow_mut();
        let Some(h) = w.helpers.get_mut(idx) else {
            return;
        };
        h.generation += 1;
        h.pid = Some(pid);
        h.state = HelperState::Starting;
        h.started = Some(Instant::now());
        h.component = None;
        h.generation
    };
    let w2 = world.clone();
    let rpc = fdstream::rpc_system(ours, Side::Server, fdstream::Limits::TRUSTED, |fds| {
        let server = RegistryServer {
            world: w2,
            idx,
            generation,
            fds: fds.clone(),
            pending: RefCell::new(Vec::new()),
        };
        Some(capnp_rpc::new_client::<registry::Client, _>(server).client)
    });
    let rpc = match rpc {
        Ok((rpc, handle)) => {
            if let Some(h) = world.borrow_mut().helpers.get_mut(idx) {
                h.bus = Some(handle);
            }
            rpc
        }
        Err(e) => {
            warn!("cannot set up the bus of cairn-{name}: {e}");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            return;
        }
    };
    let w3 = world.clone();
    tokio::task::spawn_local(async move {
        if let Err(e) = rpc.await {
            say!("bus of cairn-{name} closed: {e}");
        }
        link_closed(&w3, idx, generation);
    });
}

fn spawn_process(
    bin: &std::path::Path,
    bus: &OwnedFd,
    container: bool,
    failpoints: &str,
) -> std::io::Result<i32> {
    let fd = bus.as_raw_fd();
    let mut cmd = Command::new(bin);
    if !failpoints.is_empty() {
        cmd.env("CAIRN_FAILPOINTS", failpoints);
    }
    cmd.env("CAIRN_BUS_FD", proto::BUS_FD.to_string());
    // Container mode: helpers touch nothing shared with the host (devmon loads no modules).
    if container {
        cmd.env("CAIRN_CONTAINER", "1");
    } else {
        cmd.env_remove("CAIRN_CONTAINER");
    }
    // SAFETY: runs between fork and exec and calls only async-signal-safe functions
    // (sigprocmask, sigaction, dup2, fcntl); nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            proto::child::reset_signals();
            proto::child::place_fd(fd, proto::BUS_FD)
        });
    }
    let child = cmd.spawn()?;
    Ok(i32::try_from(child.id()).unwrap_or(-1))
}

/// The bus of one instance closed. A helper whose link broke exits by itself; make sure.
fn link_closed(world: &WorldRef, idx: usize, generation: u64) {
    let mut w = world.borrow_mut();
    let Some(h) = w.helpers.get_mut(idx) else {
        return;
    };
    if h.generation != generation {
        return;
    }
    h.component = None;
    if let Some(pid) = h.pid {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    // Generations count per helper: only this helper's capability goes.
    let name = h.name.clone();
    drop(w);
    match name.as_str() {
        "activator" => crate::runtime::sockets::detach(world, generation),
        "mounter" => crate::runtime::mounts::detach(world, generation),
        _ => {}
    }
}

/// A process exited: if it is a helper, schedule its restart. Returns whether it was one.
pub fn on_exit(world: &WorldRef, pid: i32, how: &str) -> bool {
    let idx = {
        let mut w = world.borrow_mut();
        let shutting_down = w.shutting_down;
        let Some(idx) = w.helpers.iter().position(|h| h.pid == Some(pid)) else {
            return false;
        };
        let (name, restarts) = {
            let Some(h) = w.helpers.get_mut(idx) else {
                return false;
            };
            h.pid = None;
            h.component = None;
            if shutting_down {
                h.state = HelperState::Stopped;
                return true;
            }
            // An instance that registered was working: it was killed or crashed at work, not
            // failing to start, so the next one comes at once (after the shortest delay).
            // Back-off grows only for instances that die before registering.
            let registered = h.state == HelperState::Running;
            h.state = HelperState::Restarting;
            h.restarts += 1;
            if registered || h.started.is_some_and(|s| s.elapsed() >= STABLE_AFTER) {
                h.backoff = BACKOFF_MIN;
            }
            if std::mem::take(&mut h.restart_asked) {
                h.backoff = Duration::ZERO;
                say!(
                    "cairn-{} (pid {pid}) {how}; starting it again, as asked",
                    h.name
                );
            } else {
                say!("cairn-{} (pid {pid}) {how}; restarting", h.name);
            }
            (h.name.clone(), h.restarts)
        };
        w.state.helper_restarts.insert(name, restarts);
        idx
    };
    crate::save_state(world);
    schedule_restart(world, idx);
    true
}

/// `cairnctl component restart NAME` (and `replace NAME BINARY`): the helper is asked to shut
/// down (SIGKILL after 2 s), and the next instance — of `binary` when given — starts as soon
/// as it has exited and gets every fd back, as after a crash. Returns once the new instance
/// has registered (at most 10 s): its pid.
pub async fn restart(
    world: &WorldRef,
    name: &str,
    binary: Option<std::path::PathBuf>,
) -> Result<i32, String> {
    let (idx, old_pid, client) = {
        let mut w = world.borrow_mut();
        if w.shutting_down {
            return Err("the manager is shutting down".into());
        }
        let Some(idx) = w.helpers.iter().position(|h| h.name == name) else {
            let known: Vec<&str> = w.helpers.iter().map(|h| h.name.as_str()).collect();
            return Err(match name {
                "init" | "supervisor" => format!(
                    "{name} is not restarted this way (cairnctl daemon-reexec is issue 9's, not built yet)"
                ),
                _ => format!("no component {name:?} (helpers: {})", known.join(", ")),
            });
        };
        if let Some(b) = &binary {
            check_binary(b, name)?;
        }
        let Some(h) = w.helpers.get_mut(idx) else {
            return Err(format!("no component {name:?}"));
        };
        if let Some(b) = binary {
            h.binary = Some(b);
        }
        h.restart_asked = true;
        (idx, h.pid, h.component.clone())
    };
    match (old_pid, client) {
        (Some(pid), Some(c)) => {
            let asked =
                tokio::time::timeout(Duration::from_secs(2), c.shutdown_request().send().promise)
                    .await;
            if !matches!(asked, Ok(Ok(_))) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        (Some(pid), None) => {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Not running (between two instances): the next start uses the new binary.
        (None, _) => {}
    }
    for _ in 0..500 {
        {
            let w = world.borrow();
            if let Some(h) = w.helpers.get(idx) {
                if h.state == HelperState::Running && h.pid.is_some() && h.pid != old_pid {
                    return Ok(h.pid.unwrap_or(0));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("cairn-{name} did not come back within 10 s"))
}

/// A replacement binary must be an executable file that says it is this component
/// (`BINARY --version` prints `cairn-NAME VERSION`).
pub fn check_binary(path: &std::path::Path, name: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{}: not an executable file", path.display()));
    }
    let out = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} --version: {e}", path.display()))?;
    let said = String::from_utf8_lossy(&out.stdout);
    let want = format!("cairn-{name} ");
    if !out.status.success() || !said.starts_with(&want) {
        return Err(format!(
            "{} is not cairn-{name}: `--version` said {:?}",
            path.display(),
            said.trim()
        ));
    }
    Ok(())
}

fn schedule_restart(world: &WorldRef, idx: usize) {
    let delay = {
        let mut w = world.borrow_mut();
        let Some(h) = w.helpers.get_mut(idx) else {
            return;
        };
        h.state = HelperState::Restarting;
        let d = h.backoff;
        h.backoff = (h.backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        d
    };
    let world = world.clone();
    tokio::task::spawn_local(async move {
        tokio::time::sleep(delay).await;
        spawn(&world, idx);
    });
}

fn gone() -> capnp::Error {
    capnp::Error::failed("this helper is no longer configured".into())
}

/// The supervisor's side of one helper's bus: the bootstrap capability it calls.
struct RegistryServer {
    world: WorldRef,
    idx: usize,
    generation: u64,
    fds: FdHandle,
    /// Stored fds still to be handed back through `restoreMore`.
    pending: RefCell<Vec<(String, OwnedFd)>>,
}

impl RegistryServer {
    fn current(&self) -> Result<(), capnp::Error> {
        let w = self.world.borrow();
        match w.helpers.get(self.idx) {
            Some(h) if h.generation == self.generation => Ok(()),
            _ => Err(capnp::Error::failed(
                "this helper instance has been replaced".into(),
            )),
        }
    }

    /// Sends up to 253 pending fds; returns whether more remain.
    fn restore_chunk(
        &self,
        mut list: capnp::struct_list::Builder<'_, proto::bus_capnp::named_fd::Owned>,
        batch: Vec<(String, OwnedFd)>,
    ) {
        for (i, (name, fd)) in batch.into_iter().enumerate() {
            let index = self.fds.send_fd(fd);
            let mut e = list.reborrow().get(u32::try_from(i).unwrap_or(0));
            e.set_name(name.as_str());
            e.set_fd(index);
        }
    }

    fn next_batch(&self) -> (Vec<(String, OwnedFd)>, bool) {
        let mut pending = self.pending.borrow_mut();
        let n = pending.len().min(SCM_MAX_FD);
        let batch: Vec<_> = pending.drain(..n).collect();
        (batch, !pending.is_empty())
    }
}

impl registry::Server for RegistryServer {
    async fn register(
        self: Rc<Self>,
        params: registry::RegisterParams,
        mut results: registry::RegisterResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let p = params.get()?;
        let info = Info::read(p.get_info()?)?;
        let component = p.get_component()?;
        {
            let mut w = self.world.borrow_mut();
            let h = w.helpers.get_mut(self.idx).ok_or_else(gone)?;
            if info.name != h.name {
                return Err(capnp::Error::failed(format!(
                    "registered as {:?} on the bus of {}",
                    info.name, h.name
                )));
            }
            let mut dups = Vec::new();
            for (name, fd) in &h.fds {
                dups.push((name.clone(), fd.try_clone()?));
            }
            *self.pending.borrow_mut() = dups;
            h.component = Some(component);
            h.info = Some(info);
            h.state = HelperState::Running;
        }
        let (batch, more) = self.next_batch();
        let mut r = results.get();
        r.set_more(more);
        self.restore_chunk(
            r.init_restored(u32::try_from(batch.len()).unwrap_or(0)),
            batch,
        );
        Ok(())
    }

    async fn restore_more(
        self: Rc<Self>,
        _params: registry::RestoreMoreParams,
        mut results: registry::RestoreMoreResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let (batch, more) = self.next_batch();
        let mut r = results.get();
        r.set_more(more);
        self.restore_chunk(
            r.init_restored(u32::try_from(batch.len()).unwrap_or(0)),
            batch,
        );
        Ok(())
    }

    async fn store_fds(
        self: Rc<Self>,
        params: registry::StoreFdsParams,
        _results: registry::StoreFdsResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let list = params.get()?.get_fds()?;
        if list.len() as usize > SCM_MAX_FD {
            return Err(capnp::Error::failed(format!(
                "storeFds takes at most {SCM_MAX_FD} fds a call, got {}",
                list.len()
            )));
        }
        let mut claimed = Vec::new();
        for nf in list.iter() {
            let name = nf.get_name()?.to_str()?.to_string();
            let fd = self.fds.take(nf.get_fd()).ok_or_else(|| {
                capnp::Error::failed(format!("fd {name} (#{}) did not arrive", nf.get_fd()))
            })?;
            claimed.push((name, fd));
        }
        let (link, helper, dups) = {
            let mut w = self.world.borrow_mut();
            let link = w.link.clone();
            let h = w.helpers.get_mut(self.idx).ok_or_else(gone)?;
            let mut dups = Vec::new();
            for (name, fd) in claimed {
                dups.push((Helper::store_name(&h.name, &name), fd.try_clone()?));
                match h.fds.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = fd,
                    None => h.fds.push((name, fd)),
                }
            }
            (link, h.name.clone(), dups)
        };
        if let Some(link) = link {
            let entries: Vec<(&str, _)> =
                dups.iter().map(|(n, f)| (n.as_str(), f.as_fd())).collect();
            link.store_fds(&entries).await.map_err(|e| {
                capnp::Error::failed(format!("keeping fds of {helper} in pid1: {e}"))
            })?;
        }
        Ok(())
    }

    async fn attach_devmon(
        self: Rc<Self>,
        _params: registry::AttachDevmonParams,
        mut results: registry::AttachDevmonResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let is_devmon = {
            let w = self.world.borrow();
            w.helpers.get(self.idx).is_some_and(|h| h.name == "devmon")
        };
        if !is_devmon {
            return Err(capnp::Error::failed(
                "only cairn-devmon may attach as devmon".into(),
            ));
        }
        let sink = crate::runtime::devices::DeviceEventsServer {
            world: self.world.clone(),
        };
        results.get().set_events(capnp_rpc::new_client::<
            proto::bus_capnp::device_events::Client,
            _,
        >(sink));
        Ok(())
    }

    async fn attach_mounter(
        self: Rc<Self>,
        params: registry::AttachMounterParams,
        mut results: registry::AttachMounterResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let is_mounter = {
            let w = self.world.borrow();
            w.helpers.get(self.idx).is_some_and(|h| h.name == "mounter")
        };
        if !is_mounter {
            return Err(capnp::Error::failed(
                "only cairn-mounter may attach as the mounter".into(),
            ));
        }
        let client = params.get()?.get_mounter()?;
        let sink = crate::runtime::mounts::MountEventsServer {
            world: self.world.clone(),
            generation: self.generation,
        };
        results.get().set_events(capnp_rpc::new_client::<
            proto::bus_capnp::mount_events::Client,
            _,
        >(sink));
        crate::runtime::mounts::attach(
            &self.world,
            crate::runtime::mounts::MounterLink {
                client,
                generation: self.generation,
            },
        );
        Ok(())
    }

    async fn attach_activator(
        self: Rc<Self>,
        params: registry::AttachActivatorParams,
        mut results: registry::AttachActivatorResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let is_activator = {
            let w = self.world.borrow();
            w.helpers
                .get(self.idx)
                .is_some_and(|h| h.name == "activator")
        };
        if !is_activator {
            return Err(capnp::Error::failed(
                "only cairn-activator may attach as the activator".into(),
            ));
        }
        let client = params.get()?.get_activator()?;
        let sink = ActivationsServer {
            world: self.world.clone(),
            fds: self.fds.clone(),
            generation: self.generation,
        };
        results
            .get()
            .set_activations(capnp_rpc::new_client::<activations::Client, _>(sink));
        crate::runtime::sockets::attach(
            &self.world,
            crate::runtime::sockets::ActivatorLink {
                client,
                fds: self.fds.clone(),
                generation: self.generation,
            },
        );
        Ok(())
    }

    async fn remove_fds(
        self: Rc<Self>,
        params: registry::RemoveFdsParams,
        _results: registry::RemoveFdsResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let mut names = Vec::new();
        for n in params.get()?.get_names()?.iter() {
            names.push(n?.to_str()?.to_string());
        }
        let (link, stored) = {
            let mut w = self.world.borrow_mut();
            let link = w.link.clone();
            let h = w.helpers.get_mut(self.idx).ok_or_else(gone)?;
            h.fds.retain(|(n, _)| !names.contains(n));
            let stored: Vec<String> = names
                .iter()
                .map(|n| Helper::store_name(&h.name, n))
                .collect();
            (link, stored)
        };
        if let Some(link) = link {
            let refs: Vec<&str> = stored.iter().map(String::as_str).collect();
            link.remove_fds(&refs)
                .await
                .map_err(|e| capnp::Error::failed(e.to_string()))?;
        }
        Ok(())
    }
}

/// Where the activator reports traffic. Only translates: the work is in
/// `runtime::sockets`.
struct ActivationsServer {
    world: WorldRef,
    fds: FdHandle,
    generation: u64,
}

impl ActivationsServer {
    fn current(&self) -> Result<(), capnp::Error> {
        let w = self.world.borrow();
        match &w.io.sockets.activator {
            Some(l) if l.generation == self.generation => Ok(()),
            _ => Err(capnp::Error::failed(
                "this activator has been replaced".into(),
            )),
        }
    }
}

impl activations::Server for ActivationsServer {
    async fn triggered(
        self: Rc<Self>,
        params: activations::TriggeredParams,
        _results: activations::TriggeredResults,
    ) -> Result<(), capnp::Error> {
        self.current()?;
        let unit = params.get()?.get_unit()?.to_str()?.to_string();
        crate::runtime::sockets::triggered(&self.world, &unit);
        Ok(())
    }

    async fn accepted(
        self: Rc<Self>,
        params: activations::AcceptedParams,
        _results: activations::AcceptedResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        // Claim the fd first, so that it is closed even when the call is refused.
        let conn = self.fds.take(p.get_conn()).ok_or_else(|| {
            capnp::Error::failed(format!("connection fd #{} did not arrive", p.get_conn()))
        })?;
        self.current()?;
        let unit = p.get_unit()?.to_str()?.to_string();
        let peer = crate::runtime::sockets::Peer {
            local: p.get_local()?.to_str()?.to_string(),
            remote: p.get_remote()?.to_str()?.to_string(),
            pid: p.get_peer_pid(),
            uid: p.get_peer_uid(),
        };
        crate::runtime::sockets::accepted(&self.world, &unit, conn, peer);
        Ok(())
    }
}

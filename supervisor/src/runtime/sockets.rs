//! The runtime side of socket units: the sockets the supervisor holds (copies of what the
//! activator made, also parked in pid1's store as `socket.UNIT.N`, so neither a dead activator
//! nor a dead supervisor loses one), what the socket machine's actions do, the fds a service
//! gets, and the instances of Accept=yes sockets.

use std::collections::BTreeMap;

use std::rc::Rc;

use proto::bus_capnp::{activator, listen_spec, ListenKind as WireKind};
use proto::fdstream::FdHandle;

use super::*;
use crate::manager::socket::{SockAction, SockEvent, SockState};
use crate::unit::socket_config::{Address, BindIpv6Only, Listen, ListenKind, SocketConfig};

/// One socket of a unit, as the supervisor keeps it.
pub struct HeldSocket {
    pub fd: OwnedFd,
    /// Its name in pid1's store.
    pub key: String,
}

#[derive(Default)]
pub struct SocketIo {
    /// In Listen*= order.
    pub held: Vec<HeldSocket>,
    pub resume: Option<tokio::task::AbortHandle>,
    /// Accept=yes: connections taken so far (the N of instance names).
    pub accepted: u64,
    /// Accept=yes: the live instances and the source each serves (for
    /// MaxConnectionsPerSource=).
    pub instances: BTreeMap<UnitId, String>,
}

/// The attached activator: its capability and the fd side of its bus.
pub struct ActivatorLink {
    pub client: activator::Client,
    pub fds: FdHandle,
    pub generation: u64,
}

/// What the runtime keeps for all socket units.
#[derive(Default)]
pub struct Sockets {
    pub units: BTreeMap<UnitId, SocketIo>,
    pub activator: Option<ActivatorLink>,
    /// Units waiting for an activator to open their sockets.
    pub pending_open: Vec<UnitId>,
    /// Accept=yes instance → its socket.
    pub instance_of: BTreeMap<UnitId, UnitId>,
    /// Slots of dead instances, by template, for the next connection.
    pub free_instances: BTreeMap<String, Vec<UnitId>>,
}

/// pid1's store name of a unit's N-th socket.
fn store_key(unit: &str, n: usize) -> String {
    format!("socket.{unit}.{n}")
}

pub(super) fn action(world: &WorldRef, unit: UnitId, a: SockAction) {
    match a {
        SockAction::Spawn { list, index } => {
            if let Err(e) = spawn_command(world, unit, list, index, false) {
                spawn_failed(world, unit, false, &e.to_string());
            }
        }
        SockAction::KillControl => {
            kill_unit(world, unit, libc::SIGTERM, Whom::Control, false);
        }
        SockAction::Open => open(world, unit),
        SockAction::Close => close(world, unit),
        SockAction::Watch => watch(world, unit),
        SockAction::Unwatch => unwatch(world, unit),
        SockAction::ArmResume(d) => {
            let w2 = world.clone();
            let handle = tokio::task::spawn_local(async move {
                tokio::time::sleep(d).await;
                w2.borrow_mut().manager.push_socket(unit, SockEvent::Resume);
                process(&w2);
            });
            let mut w = world.borrow_mut();
            let io = w.io.sockets.units.entry(unit).or_default();
            if let Some(old) = io.resume.replace(handle.abort_handle()) {
                old.abort();
            }
        }
        // The manager's own business; never passed on.
        SockAction::StartService | SockAction::Log(_) => {}
    }
}

fn config(world: &WorldRef, unit: UnitId) -> Option<(String, Rc<crate::unit::config::UnitConfig>)> {
    let w = world.borrow();
    let u = w.manager.units.get(unit)?;
    Some((u.name.clone(), u.config().clone()))
}

/// SocketUser=/SocketGroup= as numbers.
fn owner(c: &SocketConfig) -> Result<(i64, i64), String> {
    let uid = match &c.socket_user {
        None => -1,
        Some(u) => match u.parse::<u32>() {
            Ok(n) => i64::from(n),
            Err(_) => match nix::unistd::User::from_name(u) {
                Ok(Some(u)) => i64::from(u.uid.as_raw()),
                _ => return Err(format!("SocketUser={u}: no such user")),
            },
        },
    };
    let gid = match &c.socket_group {
        None => -1,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => i64::from(n),
            Err(_) => match nix::unistd::Group::from_name(g) {
                Ok(Some(g)) => i64::from(g.gid.as_raw()),
                _ => return Err(format!("SocketGroup={g}: no such group")),
            },
        },
    };
    Ok((uid, gid))
}

fn fill_spec(mut b: listen_spec::Builder<'_>, l: &Listen, c: &SocketConfig, ids: (i64, i64)) {
    b.set_kind(match l.kind {
        ListenKind::Stream => WireKind::Stream,
        ListenKind::Datagram => WireKind::Datagram,
        ListenKind::SequentialPacket => WireKind::SeqPacket,
        ListenKind::Fifo => WireKind::Fifo,
        ListenKind::Special => WireKind::Special,
        ListenKind::Netlink => WireKind::Netlink,
    });
    {
        let mut a = b.reborrow().init_address();
        match &l.address {
            Address::Unix(p) => a.set_unix(p.to_string_lossy().as_ref()),
            Address::Abstract(n) => a.set_abstract(n.as_bytes()),
            Address::Inet {
                ip,
                port,
                interface,
            } => {
                let mut i = a.init_inet();
                i.set_address(std::net::SocketAddr::new(*ip, *port).to_string().as_str());
                i.set_interface(interface.as_deref().unwrap_or(""));
            }
            Address::Path(p) => a.set_path(p.to_string_lossy().as_ref()),
            Address::Netlink { family, group } => {
                let mut n = a.init_netlink();
                n.set_protocol(crate::unit::socket_config::netlink_protocol(family).unwrap_or(-1));
                n.set_group(*group);
            }
        }
    }
    b.set_backlog(c.backlog);
    b.set_socket_mode(c.socket_mode);
    b.set_directory_mode(c.directory_mode);
    b.set_uid(ids.0);
    b.set_gid(ids.1);
    b.set_bind_ipv6_only(match c.bind_ipv6_only {
        BindIpv6Only::Default => proto::bus_capnp::BindIpv6Only::Default,
        BindIpv6Only::Both => proto::bus_capnp::BindIpv6Only::Both,
        BindIpv6Only::Ipv6Only => proto::bus_capnp::BindIpv6Only::Ipv6Only,
    });
    b.set_bind_to_device(c.bind_to_device.as_deref().unwrap_or(""));
    b.set_reuse_port(c.reuse_port);
    b.set_free_bind(c.free_bind);
    b.set_transparent(c.transparent);
    b.set_broadcast(c.broadcast);
    b.set_pass_credentials(c.pass_credentials);
    b.set_pass_security(c.pass_security);
    b.set_keep_alive(c.keep_alive);
    b.set_keep_alive_time_sec(c.keep_alive_time_sec.unwrap_or(0));
    b.set_no_delay(c.no_delay);
    b.set_priority(c.priority.unwrap_or(-1));
    b.set_receive_buffer(c.receive_buffer.unwrap_or(0));
    b.set_send_buffer(c.send_buffer.unwrap_or(0));
    b.set_ip_tos(c.ip_tos.unwrap_or(-1));
    b.set_ip_ttl(c.ip_ttl.and_then(|t| i32::try_from(t).ok()).unwrap_or(-1));
    b.set_mark(c.mark.map(i64::from).unwrap_or(-1));
    b.set_pipe_size(c.pipe_size.unwrap_or(0));
    let mut s = b.init_symlinks(u32::try_from(c.symlinks.len()).unwrap_or(0));
    for (i, p) in c.symlinks.iter().enumerate() {
        s.set(u32::try_from(i).unwrap_or(0), p.to_string_lossy().as_ref());
    }
}

/// Makes the unit's sockets: takes back the ones pid1 kept (after a supervisor restart: never
/// bound twice), else asks the activator (or waits for one).
fn open(world: &WorldRef, unit: UnitId) {
    let Some((name, cfg)) = config(world, unit) else {
        return;
    };
    let restored = world
        .borrow()
        .io
        .sockets
        .units
        .get(&unit)
        .is_some_and(|s| !s.held.is_empty() && s.held.len() == cfg.socket.listen.len());
    if restored {
        let mut w = world.borrow_mut();
        let engaged = w.manager.triggered_engaged(unit);
        w.manager
            .push_socket(unit, SockEvent::ServiceActive(engaged));
        w.manager.push_socket(unit, SockEvent::Opened(true));
        return;
    }
    let ids = match owner(&cfg.socket) {
        Ok(ids) => ids,
        Err(e) => {
            opened(world, unit, &name, Err(e));
            return;
        }
    };
    let link = world
        .borrow()
        .io
        .sockets
        .activator
        .as_ref()
        .map(|l| (l.client.clone(), l.fds.clone()));
    let Some((client, fds)) = link else {
        let mut w = world.borrow_mut();
        if !w.io.sockets.pending_open.contains(&unit) {
            w.io.sockets.pending_open.push(unit);
        }
        return;
    };
    let world = world.clone();
    tokio::task::spawn_local(async move {
        let mut req = client.open_request();
        req.get().set_unit(name.as_str());
        {
            let n = u32::try_from(cfg.socket.listen.len()).unwrap_or(0);
            let mut list = req.get().init_listen(n);
            for (i, l) in cfg.socket.listen.iter().enumerate() {
                fill_spec(
                    list.reborrow().get(u32::try_from(i).unwrap_or(0)),
                    l,
                    &cfg.socket,
                    ids,
                );
            }
        }
        let result = async {
            let reply = req.send().promise.await?;
            let mut got = Vec::new();
            for idx in reply.get()?.get_fds()?.iter() {
                got.push(fds.take(idx).ok_or_else(|| {
                    capnp::Error::failed(format!("socket fd #{idx} did not arrive"))
                })?);
            }
            Ok::<_, capnp::Error>(got)
        }
        .await;
        match result {
            Ok(got) if got.len() == cfg.socket.listen.len() => {
                opened(&world, unit, &name, Ok(got));
            }
            Ok(got) => opened(
                &world,
                unit,
                &name,
                Err(format!(
                    "the activator made {} sockets for {} Listen*= lines",
                    got.len(),
                    cfg.socket.listen.len()
                )),
            ),
            // The activator died meanwhile: the next one opens them.
            Err(e) if e.kind == capnp::ErrorKind::Disconnected => {
                world.borrow_mut().io.sockets.pending_open.push(unit);
            }
            Err(e) => opened(&world, unit, &name, Err(e.to_string())),
        }
        process(&world);
    });
}

/// The sockets are there (kept, and parked in pid1) or could not be made.
fn opened(world: &WorldRef, unit: UnitId, name: &str, r: Result<Vec<OwnedFd>, String>) {
    let fds = match r {
        Ok(fds) => fds,
        Err(e) => {
            warn!("{name}: cannot open the sockets: {e}");
            let mut w = world.borrow_mut();
            if let Some(s) = w.manager.socket_mut(unit) {
                s.spawn_error = Some(e.clone());
            }
            if let Some(rt) = w.manager.rt_mut(unit) {
                let now = proto::procinfo::realtime_usec();
                rt.log
                    .push_line(0, now, &format!("cannot open the sockets: {e}"));
            }
            w.manager.push_socket(unit, SockEvent::Opened(false));
            return;
        }
    };
    let mut to_pid1 = Vec::new();
    let link = {
        let mut w = world.borrow_mut();
        let engaged = w.manager.triggered_engaged(unit);
        let io = w.io.sockets.units.entry(unit).or_default();
        io.held.clear();
        for (n, fd) in fds.into_iter().enumerate() {
            let key = store_key(name, n);
            if let Ok(dup) = fd.try_clone() {
                to_pid1.push((key.clone(), dup));
            }
            io.held.push(HeldSocket { fd, key });
        }
        w.manager
            .push_socket(unit, SockEvent::ServiceActive(engaged));
        w.manager.push_socket(unit, SockEvent::Opened(true));
        w.link.clone()
    };
    if let Some(link) = link {
        tokio::task::spawn_local(async move {
            let entries: Vec<(&str, BorrowedFd<'_>)> = to_pid1
                .iter()
                .map(|(k, f)| (k.as_str(), f.as_fd()))
                .collect();
            if let Err(e) = link.store_fds(&entries).await {
                warn!("cannot keep sockets in pid1: {e}");
            }
        });
    }
}

/// The unit stopped: its sockets go (from here and from pid1), and with RemoveOnStop= their
/// files and Symlinks=.
fn close(world: &WorldRef, unit: UnitId) {
    let Some((name, cfg)) = config(world, unit) else {
        return;
    };
    let (keys, link) = {
        let mut w = world.borrow_mut();
        w.io.sockets.pending_open.retain(|u| *u != unit);
        let keys: Vec<String> =
            w.io.sockets
                .units
                .get_mut(&unit)
                .map(|io| io.held.drain(..).map(|h| h.key).collect())
                .unwrap_or_default();
        (keys, w.link.clone())
    };
    if let (Some(link), false) = (link, keys.is_empty()) {
        tokio::task::spawn_local(async move {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let _ = link.remove_fds(&refs).await;
        });
    }
    if cfg.socket.remove_on_stop {
        let nodes = cfg.socket.listen.iter().filter_map(|l| match l.kind {
            ListenKind::Special | ListenKind::Netlink => None,
            ListenKind::Stream
            | ListenKind::Datagram
            | ListenKind::SequentialPacket
            | ListenKind::Fifo => l.address.node(),
        });
        for p in nodes.chain(cfg.socket.symlinks.iter().map(|p| p.as_path())) {
            // remove_file never follows a symlink: a link is removed, not its target.
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => say!("{name}: RemoveOnStop: {}: {e}", p.display()),
            }
        }
    }
}

fn watch(world: &WorldRef, unit: UnitId) {
    let (name, accept, link, dups) = {
        let w = world.borrow();
        let Some(u) = w.manager.units.get(unit) else {
            return;
        };
        let Some(link) = w.io.sockets.activator.as_ref() else {
            return;
        };
        let Some(io) = w.io.sockets.units.get(&unit) else {
            return;
        };
        let mut idxs = Vec::new();
        for h in &io.held {
            match link.fds.send_dup(h.fd.as_fd()) {
                Ok(i) => idxs.push(i),
                Err(e) => warn!("{}: cannot pass a socket to the activator: {e}", u.name),
            }
        }
        (
            u.name.clone(),
            u.config().socket.accept,
            link.client.clone(),
            idxs,
        )
    };
    let mut req = link.watch_request();
    req.get().set_unit(name.as_str());
    req.get().set_accept(accept);
    {
        let mut l = req.get().init_fds(u32::try_from(dups.len()).unwrap_or(0));
        for (i, idx) in dups.iter().enumerate() {
            l.set(u32::try_from(i).unwrap_or(0), *idx);
        }
    }
    tokio::task::spawn_local(async move {
        if let Err(e) = req.send().promise.await {
            if e.kind != capnp::ErrorKind::Disconnected {
                warn!("{name}: the activator cannot watch its sockets: {e}");
            }
        }
    });
}

fn unwatch(world: &WorldRef, unit: UnitId) {
    let (name, link) = {
        let w = world.borrow();
        let Some(link) = w.io.sockets.activator.as_ref() else {
            return;
        };
        let name = w.manager.units.get(unit).map(|u| u.name.clone());
        (name.unwrap_or_default(), link.client.clone())
    };
    let mut req = link.unwatch_request();
    req.get().set_unit(name.as_str());
    tokio::task::spawn_local(async move {
        let _ = req.send().promise.await;
    });
}

/// An activator registered: it opens what waited for it and watches every listening socket
/// (a restarted activator is handed the very same sockets: nothing is bound again).
pub fn attach(world: &WorldRef, link: ActivatorLink) {
    let (pending, listening) = {
        let mut w = world.borrow_mut();
        w.io.sockets.activator = Some(link);
        let pending = std::mem::take(&mut w.io.sockets.pending_open);
        let listening: Vec<UnitId> = w
            .io
            .sockets
            .units
            .keys()
            .copied()
            .filter(|u| {
                matches!(w.manager.rt.get(*u as usize).map(|r| &r.kind),
                    Some(Kind::Socket(s)) if s.machine.state == SockState::Listening && !s.machine.paused)
            })
            .collect();
        (pending, listening)
    };
    for u in pending {
        open(world, u);
    }
    for u in listening {
        watch(world, u);
    }
    process(world);
}

/// The activator of this generation is gone.
pub fn detach(world: &WorldRef, generation: u64) {
    let mut w = world.borrow_mut();
    if w.io
        .sockets
        .activator
        .as_ref()
        .is_some_and(|l| l.generation == generation)
    {
        w.io.sockets.activator = None;
    }
}

/// Traffic on an Accept=no socket.
pub fn triggered(world: &WorldRef, name: &str) {
    let unit = world.borrow().manager.units.lookup(name);
    if let Some(unit) = unit {
        world
            .borrow_mut()
            .manager
            .push_socket(unit, SockEvent::Triggered);
        process(world);
    }
}

/// Who is at the other end of a connection.
pub struct Peer {
    pub local: String,
    pub remote: String,
    pub pid: i32,
    pub uid: i64,
}

/// A connection accepted on an Accept=yes socket: one instance of `PREFIX@.service` for it,
/// unless MaxConnections=, MaxConnectionsPerSource= or the trigger limit say no (then the
/// connection is closed, and the refusal logged).
pub fn accepted(world: &WorldRef, name: &str, conn: OwnedFd, peer: Peer) {
    let Some(socket) = world.borrow().manager.units.lookup(name) else {
        return;
    };
    let Some((_, cfg)) = config(world, socket) else {
        return;
    };
    let source = match peer.remote.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => format!("uid {}", peer.uid),
    };
    let refusal = {
        let mut w = world.borrow_mut();
        let now = proto::procinfo::realtime_usec();
        let io = w.io.sockets.units.entry(socket).or_default();
        let live = io.instances.len();
        let from_source = io.instances.values().filter(|s| **s == source).count();
        if live >= cfg.socket.max_connections as usize {
            Some(format!(
                "too many incoming connections ({live}, MaxConnections={}); dropping the connection from {}",
                cfg.socket.max_connections, peer.remote
            ))
        } else if cfg.socket.max_connections_per_source > 0
            && from_source >= cfg.socket.max_connections_per_source as usize
        {
            Some(format!(
                "too many incoming connections from {source} ({from_source}, MaxConnectionsPerSource={}); dropping the connection",
                cfg.socket.max_connections_per_source
            ))
        } else {
            let (ok, actions) = match w.manager.socket_mut(socket) {
                Some(s) => {
                    let spec = s.spec.clone();
                    s.machine.allow_accept(&spec, now)
                }
                None => (false, Vec::new()),
            };
            let mut out = Vec::new();
            w.manager.socket_actions(socket, actions, &mut out);
            w.manager.defer(out);
            (!ok).then(|| {
                format!(
                    "not accepting now (trigger limit); dropping the connection from {}",
                    peer.remote
                )
            })
        }
    };
    if let Some(r) = refusal {
        say!("{name}: {r}");
        drop(conn);
        process(world);
        return;
    }
    let prefix = name.strip_suffix(".socket").unwrap_or(name);
    let prefix = prefix.split('@').next().unwrap_or(prefix).to_string();
    let template = format!("{prefix}@.service");
    let n = {
        let mut w = world.borrow_mut();
        let io = w.io.sockets.units.entry(socket).or_default();
        let n = io.accepted;
        io.accepted += 1;
        n
    };
    use crate::unit::socket_config::{
        accept_instance_name, accept_instance_name_unix, accept_instance_name_unix_unknown,
    };
    let instance = match (
        peer.local.parse::<std::net::SocketAddr>(),
        peer.remote.parse::<std::net::SocketAddr>(),
    ) {
        (Ok(l), Ok(r)) => accept_instance_name(&prefix, n, &l, &r),
        _ => match (u32::try_from(peer.pid), u32::try_from(peer.uid)) {
            (Ok(pid), Ok(uid)) if pid > 0 => accept_instance_name_unix(&prefix, n, pid, uid),
            _ => accept_instance_name_unix_unknown(&prefix, n),
        },
    };
    let id = {
        let mut guard = world.borrow_mut();
        let w = &mut *guard;
        let reuse = w
            .io
            .sockets
            .free_instances
            .get_mut(&template)
            .and_then(|v| {
                while let Some(id) = v.pop() {
                    let idle = w
                        .manager
                        .rt
                        .get(id as usize)
                        .is_some_and(|r| r.job.is_none())
                        && w.manager.active_state(id) == crate::job::graph::ActiveState::Inactive;
                    if idle {
                        return Some(id);
                    }
                }
                None
            });
        let catalog = w.catalog.clone();
        let spec = w.spec.clone();
        let id = w
            .manager
            .add_runtime_unit(&catalog, &instance, &spec, reuse);
        if reuse.is_some() {
            w.io.units.remove(&id);
        }
        w.io.units.entry(id).or_default().connection = Some(conn);
        w.io.sockets.instance_of.insert(id, socket);
        w.io.sockets
            .units
            .entry(socket)
            .or_default()
            .instances
            .insert(id, source);
        let mut out = Vec::new();
        w.manager.start_instance(socket, id, &mut out);
        w.manager.defer(out);
        id
    };
    let _ = id;
    process(world);
}

/// A unit stopped: if it served a connection, the connection goes and its slot is free for
/// the next one.
pub fn instance_stopped(world: &WorldRef, unit: UnitId) {
    let mut w = world.borrow_mut();
    let Some(socket) = w.io.sockets.instance_of.remove(&unit) else {
        return;
    };
    if let Some(io) = w.io.units.get_mut(&unit) {
        io.connection = None;
    }
    if let Some(io) = w.io.sockets.units.get_mut(&socket) {
        io.instances.remove(&unit);
    }
    let failed = w.manager.active_state(unit) == crate::job::graph::ActiveState::Failed;
    let template = w
        .manager
        .units
        .get(unit)
        .and_then(|u| crate::unit::name::parse(&u.name).ok())
        .and_then(|n| n.template());
    // A failed instance stays for `status` until reset-failed, as in systemd.
    if let (Some(t), false) = (template, failed) {
        w.io.sockets.free_instances.entry(t).or_default().push(unit);
    }
}

/// The fds a service's main process gets by LISTEN_FDS: those of the sockets that trigger it
/// and of its Sockets=, in Listen*= order, named by FileDescriptorName= (else the socket
/// unit's name); for an Accept=yes instance without StandardInput=socket, its connection
/// (named `connection`).
pub(crate) fn for_spawn(
    world: &WorldRef,
    unit: UnitId,
    input: &crate::unit::exec_config::Input,
) -> (Vec<OwnedFd>, Vec<String>) {
    let w = world.borrow();
    let mut fds = Vec::new();
    let mut names = Vec::new();
    let Some(u) = w.manager.units.get(unit) else {
        return (fds, names);
    };
    let mut sockets: Vec<UnitId> = u.deps(crate::job::graph::Dep::TriggeredBy).collect();
    for s in &u.config().service.sockets {
        if let Some(id) = w.manager.units.lookup(s) {
            if !sockets.contains(&id) {
                sockets.push(id);
            }
        }
    }
    for s in sockets {
        let (Some(su), Some(io)) = (w.manager.units.get(s), w.io.sockets.units.get(&s)) else {
            continue;
        };
        let fdname = su
            .config()
            .socket
            .file_descriptor_name
            .clone()
            .unwrap_or_else(|| su.name.clone());
        for h in &io.held {
            if let Ok(dup) = h.fd.try_clone() {
                fds.push(dup);
                names.push(fdname.clone());
            }
        }
    }
    if *input != crate::unit::exec_config::Input::Socket {
        if let Some(conn) = w.io.units.get(&unit).and_then(|io| io.connection.as_ref()) {
            if let Ok(dup) = conn.try_clone() {
                fds.push(dup);
                names.push("connection".into());
            }
        }
    }
    (fds, names)
}

/// After a supervisor restart: the sockets pid1 kept (`socket.UNIT.N`) go back to their units;
/// starting the unit then takes them instead of binding new ones.
pub fn restore(world: &WorldRef, entries: Vec<(String, OwnedFd)>) {
    let mut by_unit: BTreeMap<String, Vec<(usize, String, OwnedFd)>> = BTreeMap::new();
    for (key, fd) in entries {
        let Some(rest) = key.strip_prefix("socket.") else {
            continue;
        };
        let Some((unit, n)) = rest.rsplit_once('.') else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else {
            continue;
        };
        by_unit
            .entry(unit.to_string())
            .or_default()
            .push((n, key, fd));
    }
    let mut w = world.borrow_mut();
    for (name, mut list) in by_unit {
        let Some(unit) = w.manager.units.lookup(&name) else {
            say!("sockets of {name} from pid1's store have no unit any more; closing them");
            continue;
        };
        list.sort_by_key(|(n, _, _)| *n);
        let io = w.io.sockets.units.entry(unit).or_default();
        io.held = list
            .into_iter()
            .map(|(_, key, fd)| HeldSocket { fd, key })
            .collect();
    }
}

/// A row of `cairnctl list-sockets`.
pub struct SocketRow {
    pub listen: String,
    pub kind: &'static str,
    pub unit: String,
    pub activates: String,
    pub state: &'static str,
    pub paused: bool,
    pub triggers: u64,
    pub refused: u64,
    pub connections: u32,
}

pub fn rows(world: &WorldRef) -> Vec<SocketRow> {
    let w = world.borrow();
    let mut rows = Vec::new();
    for u in &w.manager.units.list {
        let Some(Kind::Socket(s)) = w.manager.rt.get(u.id as usize).map(|r| &r.kind) else {
            continue;
        };
        let activates = match crate::manager::units::triggered_service(&u.name, &u.config()) {
            Some(svc) => svc,
            None => {
                let prefix = u.name.strip_suffix(".socket").unwrap_or(&u.name);
                format!("{prefix}@.service")
            }
        };
        let connections =
            w.io.sockets
                .units
                .get(&u.id)
                .map(|io| u32::try_from(io.instances.len()).unwrap_or(u32::MAX))
                .unwrap_or(0);
        for l in &u.config().socket.listen {
            rows.push(SocketRow {
                listen: l.address.describe(),
                kind: l.kind.key(),
                unit: u.name.clone(),
                activates: activates.clone(),
                state: s.machine.state.as_str(),
                paused: s.machine.paused,
                triggers: s.machine.triggers,
                refused: s.machine.refused,
                connections,
            });
        }
    }
    rows
}

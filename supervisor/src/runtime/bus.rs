//! The system bus ("Parallelizing Bus Services"): once `dbus.service` is active, the
//! supervisor connects to the bus (zbus, on this event loop) and
//! - takes `org.freedesktop.systemd1`, the name dbus-daemon (`--systemd-activation`) sends
//!   its `org.freedesktop.systemd1.Activator.ActivationRequest(unit)` signals to when a client
//!   asks for a name whose D-Bus service file says `SystemdService=unit` — dbus-daemon queues
//!   the requests (and the clients' calls) until that name has an owner. Each request starts
//!   the unit (a second request while the first start runs merges into the same job); a start
//!   that fails is reported back with `ActivationFailure(unit, error, message)`, which fails
//!   the clients' calls at once instead of at their timeout;
//! - watches `NameOwnerChanged`: a Type=dbus service is started when its `BusName=` gets an
//!   owner (at connection time, names already owned count).
//!
//! The bus is optional: no address configured (container mode), no dbus.service, a
//! connection that fails or breaks — Type=dbus services then wait for their name until their
//! timeout, and activation requests wait in dbus-daemon for the next connection.

use std::path::PathBuf;

use futures::StreamExt;

use crate::job::graph::ActiveState;
use crate::job::types::JobResult;
use crate::job::types::{JobMode, JobType};
use crate::service::machine::Event;
use crate::world::WorldRef;
use crate::{say, warn};

/// The unit whose activity means the bus is there (systemd's SPECIAL_DBUS_SERVICE).
pub const DBUS_SERVICE: &str = "dbus.service";
const ACTIVATOR: &str = "org.freedesktop.systemd1.Activator";
const MANAGER_NAME: &str = "org.freedesktop.systemd1";

#[derive(Default)]
pub struct Bus {
    /// The system bus socket (None: no bus).
    pub address: Option<PathBuf>,
    pub conn: Option<zbus::Connection>,
    connecting: bool,
    /// After a failed connection, no new attempt before this (doubling from 1 s to 60 s, so
    /// that a bus that is gone while dbus.service looks active does not flood the log).
    retry_at: Option<std::time::Instant>,
    backoff: std::time::Duration,
    /// Activation requests handled.
    pub activations: u64,
}

impl Bus {
    /// The bus at `address` (None: no bus), not connected yet.
    pub fn new(address: Option<PathBuf>) -> Bus {
        Bus {
            address,
            ..Bus::default()
        }
    }
}

/// Connects when the bus should be there and is not connected yet: called after each round
/// of the manager's work (cheap when there is nothing to do).
pub fn poll(world: &WorldRef) {
    let path = {
        let w = world.borrow();
        let b = &w.io.bus;
        let Some(path) = b.address.clone() else {
            return;
        };
        if b.conn.is_some() || b.connecting || w.shutting_down {
            return;
        }
        if b.retry_at.is_some_and(|t| std::time::Instant::now() < t) {
            return;
        }
        let up = w
            .manager
            .units
            .lookup(DBUS_SERVICE)
            .is_some_and(|id| w.manager.active_state(id) == ActiveState::Active);
        if !up {
            return;
        }
        path
    };
    world.borrow_mut().io.bus.connecting = true;
    tokio::task::spawn_local(run(world.clone(), path));
}

async fn run(world: WorldRef, path: PathBuf) {
    let conn = match connect(&path).await {
        Ok(c) => c,
        Err(e) => {
            let mut w = world.borrow_mut();
            let b = &mut w.io.bus;
            b.backoff = (b.backoff * 2).clamp(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(60),
            );
            b.retry_at = Some(std::time::Instant::now() + b.backoff);
            b.connecting = false;
            warn!(
                "system bus {}: {e} (trying again in {:?} at the earliest)",
                path.display(),
                b.backoff
            );
            return;
        }
    };
    say!("connected to the system bus ({})", path.display());
    {
        let mut w = world.borrow_mut();
        w.io.bus.conn = Some(conn.clone());
        w.io.bus.connecting = false;
        w.io.bus.retry_at = None;
        w.io.bus.backoff = std::time::Duration::ZERO;
    }
    let mut stream = zbus::MessageStream::from(&conn);
    if let Err(e) = setup(&world, &conn).await {
        warn!("system bus: {e}");
    }
    while let Some(msg) = stream.next().await {
        let Ok(msg) = msg else { continue };
        handle(&world, &conn, &msg);
    }
    say!("the system bus connection ended");
    world.borrow_mut().io.bus.conn = None;
    crate::runtime::process(&world);
}

async fn connect(path: &std::path::Path) -> zbus::Result<zbus::Connection> {
    let addr = format!("unix:path={}", path.display());
    zbus::connection::Builder::address(addr.as_str())?
        .build()
        .await
}

/// Takes the manager's name, subscribes to NameOwnerChanged, and starts the Type=dbus
/// services whose name is already owned.
async fn setup(world: &WorldRef, conn: &zbus::Connection) -> zbus::Result<()> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    dbus.add_match_rule(
        zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender("org.freedesktop.DBus")?
            .interface("org.freedesktop.DBus")?
            .member("NameOwnerChanged")?
            .build(),
    )
    .await?;
    match dbus
        .request_name(
            MANAGER_NAME.try_into()?,
            zbus::fdo::RequestNameFlags::DoNotQueue.into(),
        )
        .await
    {
        Ok(
            zbus::fdo::RequestNameReply::PrimaryOwner | zbus::fdo::RequestNameReply::AlreadyOwner,
        ) => {}
        Ok(other) => warn!("system bus: {MANAGER_NAME} not ours ({other:?}): no bus activation"),
        Err(e) => warn!("system bus: cannot take {MANAGER_NAME} ({e}): no bus activation"),
    }
    for name in waiting_names(world) {
        let Ok(bus_name) = zbus::names::BusName::try_from(name.as_str()) else {
            continue;
        };
        if dbus.name_has_owner(bus_name).await.unwrap_or(false) {
            name_taken(world, &name);
        }
    }
    Ok(())
}

/// The bus names of Type=dbus services waiting for theirs.
fn waiting_names(world: &WorldRef) -> Vec<String> {
    let w = world.borrow();
    w.manager
        .units
        .list
        .iter()
        .filter(|u| w.manager.active_state(u.id) == ActiveState::Activating)
        .filter_map(|u| u.config().service.bus_name.clone())
        .collect()
}

fn handle(world: &WorldRef, conn: &zbus::Connection, msg: &zbus::Message) {
    let h = msg.header();
    if h.message_type() != zbus::message::Type::Signal {
        return;
    }
    let (Some(iface), Some(member)) = (h.interface(), h.member()) else {
        return;
    };
    let from_bus = h
        .sender()
        .is_some_and(|s| s.as_str() == "org.freedesktop.DBus");
    match (iface.as_str(), member.as_str()) {
        ("org.freedesktop.DBus", "NameOwnerChanged") if from_bus => {
            if let Ok((name, _old, new)) = msg.body().deserialize::<(String, String, String)>() {
                if !new.is_empty() {
                    name_taken(world, &name);
                }
            }
        }
        (ACTIVATOR, "ActivationRequest") if from_bus => {
            if let Ok(unit) = msg.body().deserialize::<String>() {
                activate(world, conn, unit);
            }
        }
        _ => {}
    }
}

/// A bus name got an owner: the Type=dbus services waiting for it are started.
fn name_taken(world: &WorldRef, name: &str) {
    let units: Vec<u32> = {
        let w = world.borrow();
        w.manager
            .units
            .list
            .iter()
            // Only a starting service waits for its name; the others' settings are not read
            // (an idle unit's would be parsed again, at every client that connects).
            .filter(|u| w.manager.active_state(u.id) == ActiveState::Activating)
            .filter(|u| u.config().service.bus_name.as_deref() == Some(name))
            .map(|u| u.id)
            .collect()
    };
    if units.is_empty() {
        return;
    }
    for u in units {
        world.borrow_mut().manager.push(u, Event::Ready);
    }
    crate::runtime::process(world);
}

/// dbus-daemon asks for `unit`: start it; a failure goes back as ActivationFailure.
fn activate(world: &WorldRef, conn: &zbus::Connection, unit: String) {
    world.borrow_mut().io.bus.activations += 1;
    say!("{unit}: activation requested on the system bus");
    let planned = {
        let mut w = world.borrow_mut();
        match crate::view::lookup_or_load(&mut w, &unit) {
            Err(_) => Err((
                "org.freedesktop.systemd1.NoSuchUnit",
                format!("Unit {unit} not found."),
            )),
            Ok(id) => {
                let mut out = Vec::new();
                let r = w
                    .manager
                    .enqueue(id, JobType::Start, JobMode::Replace, &mut out);
                w.manager.defer(out);
                match r {
                    Ok(job) => {
                        let (tx, rx) = futures::channel::oneshot::channel();
                        w.io.waiters.entry(job).or_default().push(tx);
                        Ok(rx)
                    }
                    Err(e) => Err((
                        "org.freedesktop.systemd1.TransactionIsDestructive",
                        e.to_string(),
                    )),
                }
            }
        }
    };
    crate::runtime::process(world);
    let conn = conn.clone();
    tokio::task::spawn_local(async move {
        let failure = match planned {
            Err(f) => Some(f),
            Ok(rx) => match rx.await.unwrap_or(JobResult::Canceled) {
                JobResult::Done => None,
                r => Some((
                    "org.freedesktop.systemd1.UnitFailed",
                    format!("Unit {unit} failed to start ({}).", r.as_str()),
                )),
            },
        };
        if let Some((error, message)) = failure {
            say!("{unit}: bus activation failed: {message}");
            if let Err(e) = conn
                .emit_signal(
                    Some("org.freedesktop.DBus"),
                    "/org/freedesktop/systemd1",
                    ACTIVATOR,
                    "ActivationFailure",
                    &(unit.as_str(), error, message.as_str()),
                )
                .await
            {
                warn!("system bus: cannot report the failed activation of {unit}: {e}");
            }
        }
    });
}

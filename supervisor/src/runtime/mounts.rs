//! The runtime side of mount units: asking the mounter to mount and unmount, and taking in the
//! mount table it reports (a mount point with no unit becomes one, as in systemd). fstab
//! becomes mount units in `fstab.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use proto::bus_capnp::{mount_events, mount_point, mounter};

use super::*;
use crate::manager::automount::{AutomountAction, AutomountEvent};
use crate::manager::mount::{MountAction, MountEvent};
use crate::unit::mount_config;

/// The attached mounter.
pub struct MounterLink {
    pub client: mounter::Client,
    pub generation: u64,
}

#[derive(Default)]
pub struct Mounts {
    pub mounter: Option<MounterLink>,
    /// Requests waiting for a mounter.
    pub pending: Vec<(UnitId, MountAction)>,
    pub pending_auto: Vec<(UnitId, AutomountAction)>,
    /// The mount table, as last reported: mount point → (what, type).
    pub table: BTreeMap<String, (String, String)>,
    /// The fstab to read when the mounter attaches (None: none).
    pub fstab: Option<std::path::PathBuf>,
    /// Set once fstab was read (or there was none to read): the default target may start.
    pub fstab_done: bool,
    fstab_started: bool,
}

pub(super) fn action(world: &WorldRef, unit: UnitId, a: MountAction) {
    match a {
        MountAction::ArmTimer(d) => arm_timer(world, unit, d),
        MountAction::DisarmTimer => disarm_timer(world, unit),
        MountAction::Mount | MountAction::Unmount => {
            let client = world
                .borrow()
                .io
                .mounts
                .mounter
                .as_ref()
                .map(|l| l.client.clone());
            match client {
                Some(c) => send(world, unit, a, c),
                None => world.borrow_mut().io.mounts.pending.push((unit, a)),
            }
        }
    }
}

fn send(world: &WorldRef, unit: UnitId, a: MountAction, client: mounter::Client) {
    let Some((name, cfg)) = ({
        let w = world.borrow();
        w.manager
            .units
            .get(unit)
            .map(|u| (u.name.clone(), u.config().clone()))
    }) else {
        return;
    };
    let m = &cfg.mount;
    let where_ = match mount_config::verify_where(&name, m.where_.as_deref()) {
        Ok(w) => w,
        Err(e) => {
            finish(world, unit, &name, a, Err(e));
            return;
        }
    };
    let world = world.clone();
    match a {
        MountAction::Mount => {
            let mut req = client.mount_request();
            {
                let mut r = req.get().init_request();
                r.set_what(m.what.as_deref().unwrap_or(""));
                r.set_where(where_.as_str());
                r.set_type(m.fstype.as_deref().unwrap_or(""));
                r.set_options(m.options.as_str());
                r.set_sloppy(m.sloppy_options);
                r.set_directory_mode(m.directory_mode);
                r.set_fsck(m.fsck);
                r.set_read_write_only(m.read_write_only);
                r.set_makefs(m.makefs);
                r.set_growfs(m.growfs);
                r.set_device_timeout_msec(
                    m.device_timeout
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                        .unwrap_or(0),
                );
            }
            tokio::task::spawn_local(async move {
                let r = async {
                    let reply = req.send().promise.await?;
                    Ok::<_, capnp::Error>(reply.get()?.get_fsck_result()?.to_string()?)
                }
                .await;
                match r {
                    Err(e) if e.kind == capnp::ErrorKind::Disconnected => {
                        world.borrow_mut().io.mounts.pending.push((unit, a));
                    }
                    r => finish(&world, unit, &name, a, r.map_err(|e| e.to_string())),
                }
                process(&world);
            });
        }
        MountAction::Unmount => {
            let mut req = client.unmount_request();
            req.get().set_where(where_.as_str());
            req.get().set_lazy(m.lazy_unmount);
            req.get().set_force(m.force_unmount);
            tokio::task::spawn_local(async move {
                match req.send().promise.await {
                    Err(e) if e.kind == capnp::ErrorKind::Disconnected => {
                        world.borrow_mut().io.mounts.pending.push((unit, a));
                    }
                    r => finish(
                        &world,
                        unit,
                        &name,
                        a,
                        r.map(|_| String::new()).map_err(|e| e.to_string()),
                    ),
                }
                process(&world);
            });
        }
        MountAction::ArmTimer(_) | MountAction::DisarmTimer => {}
    }
}

/// Where an automount unit's point is.
fn automount_where(
    world: &WorldRef,
    unit: UnitId,
) -> Option<(String, Rc<crate::unit::config::UnitConfig>)> {
    let w = world.borrow();
    let u = w.manager.units.get(unit)?;
    let where_ =
        mount_config::verify_where(&u.name, u.config().automount.where_.as_deref()).ok()?;
    Some((where_, u.config().clone()))
}

pub(super) fn automount_action(world: &WorldRef, unit: UnitId, a: AutomountAction) {
    if let AutomountAction::ArmDeadline { token, after } = a {
        let w2 = world.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(after).await;
            w2.borrow_mut()
                .manager
                .push_automount(unit, AutomountEvent::Deadline(token));
            process(&w2);
        });
        return;
    }
    let client = world
        .borrow()
        .io
        .mounts
        .mounter
        .as_ref()
        .map(|l| l.client.clone());
    match client {
        Some(c) => send_auto(world, unit, a, c),
        None => world.borrow_mut().io.mounts.pending_auto.push((unit, a)),
    }
}

fn send_auto(world: &WorldRef, unit: UnitId, a: AutomountAction, client: mounter::Client) {
    let Some((where_, cfg)) = automount_where(world, unit) else {
        return;
    };
    let world = world.clone();
    let requeue = move |world: &WorldRef, e: &capnp::Error, a: &AutomountAction| -> bool {
        if e.kind == capnp::ErrorKind::Disconnected {
            world
                .borrow_mut()
                .io
                .mounts
                .pending_auto
                .push((unit, a.clone()));
            true
        } else {
            false
        }
    };
    match a {
        AutomountAction::Arm => {
            let mut req = client.automount_request();
            req.get().set_where(where_.as_str());
            req.get().set_timeout_idle_sec(
                cfg.automount
                    .timeout_idle
                    .map(|d| d.as_secs().max(1))
                    .unwrap_or(0),
            );
            req.get().set_directory_mode(cfg.automount.directory_mode);
            tokio::task::spawn_local(async move {
                let r = req.send().promise.await;
                match r {
                    Err(e) if requeue(&world, &e, &a) => {}
                    r => {
                        if let Err(e) = &r {
                            say!("automount {where_}: {e}");
                            if let Some(x) = world.borrow_mut().manager.automount_mut(unit) {
                                x.error = Some(e.to_string());
                            }
                        }
                        world
                            .borrow_mut()
                            .manager
                            .push_automount(unit, AutomountEvent::Armed(r.is_ok()));
                    }
                }
                process(&world);
            });
        }
        AutomountAction::Disarm => {
            let mut req = client.unautomount_request();
            req.get().set_where(where_.as_str());
            tokio::task::spawn_local(async move {
                if let Err(e) = req.send().promise.await {
                    say!("automount {where_}: removing the autofs point: {e}");
                }
                world
                    .borrow_mut()
                    .manager
                    .push_automount(unit, AutomountEvent::Disarmed);
                process(&world);
            });
        }
        AutomountAction::Answer { ref tokens, ready } => {
            let mut req = client.answer_request();
            req.get().set_where(where_.as_str());
            req.get().set_ready(ready);
            {
                let mut l = req
                    .get()
                    .init_tokens(u32::try_from(tokens.len()).unwrap_or(0));
                for (i, t) in tokens.iter().enumerate() {
                    l.set(u32::try_from(i).unwrap_or(0), *t);
                }
            }
            tokio::task::spawn_local(async move {
                match req.send().promise.await {
                    Err(e) if requeue(&world, &e, &a) => {}
                    Err(e) => say!("automount {where_}: answering the kernel: {e}"),
                    Ok(_) => {}
                }
            });
        }
        AutomountAction::StartMount
        | AutomountAction::StopMount
        | AutomountAction::ArmDeadline { .. } => {}
    }
}

fn rearm(world: &WorldRef, unit: UnitId, client: mounter::Client) {
    let Some((where_, cfg)) = automount_where(world, unit) else {
        return;
    };
    let mut req = client.automount_request();
    req.get().set_where(where_.as_str());
    req.get().set_timeout_idle_sec(
        cfg.automount
            .timeout_idle
            .map(|d| d.as_secs().max(1))
            .unwrap_or(0),
    );
    req.get().set_directory_mode(cfg.automount.directory_mode);
    tokio::task::spawn_local(async move {
        if let Err(e) = req.send().promise.await {
            say!("automount {where_}: re-arming: {e}");
        }
    });
}

/// A process touched an automount point (the token is recorded here before anything else).
pub fn requested(world: &WorldRef, where_: &str, token: u32, pid: i32) {
    let unit = mount_config::unit_of_path(where_, "automount")
        .and_then(|n| world.borrow().manager.units.lookup(&n));
    match unit {
        Some(u) => {
            world
                .borrow_mut()
                .manager
                .push_automount(u, AutomountEvent::Requested(token));
            let _ = pid;
            process(world);
        }
        None => {
            warn!("automount request for {where_} (pid {pid}) with no automount unit; failing it");
            let client = world
                .borrow()
                .io
                .mounts
                .mounter
                .as_ref()
                .map(|l| l.client.clone());
            if let Some(c) = client {
                let mut req = c.answer_request();
                req.get().set_where(where_);
                req.get().set_ready(false);
                req.get().init_tokens(1).set(0, token);
                tokio::task::spawn_local(async move {
                    let _ = req.send().promise.await;
                });
            }
        }
    }
}

/// The kernel asks to expire an idle automounted file system.
pub fn expire(world: &WorldRef, where_: &str, token: u32) {
    let unit = mount_config::unit_of_path(where_, "automount")
        .and_then(|n| world.borrow().manager.units.lookup(&n));
    if let Some(u) = unit {
        world
            .borrow_mut()
            .manager
            .push_automount(u, AutomountEvent::Expire(token));
        process(world);
    }
}

/// The mounter answered (or the request could not even be made).
fn finish(world: &WorldRef, unit: UnitId, name: &str, a: MountAction, r: Result<String, String>) {
    let mut w = world.borrow_mut();
    let ok = r.is_ok();
    if let Err(e) = &r {
        // The mounter's messages name the step (fsck, mount, umount) and the reason.
        let e = e
            .trim_start_matches("Failed: ")
            .trim_start_matches("remote exception: ");
        say!("{name}: {e}");
        if let Some(rt) = w.manager.rt_mut(unit) {
            rt.log
                .push_line(0, proto::procinfo::realtime_usec(), &format!("<3>{e}"));
        }
        if let Some(m) = w.manager.mount_mut(unit) {
            m.error = Some(e.to_string());
        }
    }
    if let (Ok(fsck), Some(m)) = (&r, w.manager.mount_mut(unit)) {
        if a == MountAction::Mount {
            m.error = None;
            m.fsck = (!fsck.is_empty() && fsck != "not checked").then(|| fsck.clone());
            if fsck.contains("growfs:") {
                say!("{name}: {fsck}");
            }
        }
    }
    let ev = match a {
        MountAction::Mount => MountEvent::Mounted(ok),
        _ => MountEvent::Unmounted(ok),
    };
    w.manager.push_mount(unit, ev);
}

/// A mounter registered: fstab is read through it (once), and requests that waited go to it.
pub fn attach(world: &WorldRef, link: MounterLink) {
    let (client, pending, pending_auto, fstab) = {
        let mut w = world.borrow_mut();
        let client = link.client.clone();
        w.io.mounts.mounter = Some(link);
        let pending = std::mem::take(&mut w.io.mounts.pending);
        let pending_auto = std::mem::take(&mut w.io.mounts.pending_auto);
        let m = &mut w.io.mounts;
        let fstab = if m.fstab_started || m.fstab_done {
            None
        } else {
            m.fstab.clone()
        };
        m.fstab_started |= fstab.is_some();
        (client, pending, pending_auto, fstab)
    };
    for (unit, a) in pending {
        send(world, unit, a, client.clone());
    }
    for (unit, a) in pending_auto {
        send_auto(world, unit, a, client.clone());
    }
    // A new mounter re-attached the points it found in its store; arming again (idempotent)
    // gives them back their idle timeouts.
    let armed: Vec<UnitId> = world
        .borrow()
        .manager
        .rt
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            matches!(&r.kind, Kind::Automount(a) if matches!(a.machine.state,
                crate::manager::automount::AutomountState::Waiting
                    | crate::manager::automount::AutomountState::Running))
        })
        .filter_map(|(i, _)| UnitId::try_from(i).ok())
        .collect();
    for unit in armed {
        rearm(world, unit, client.clone());
    }
    if let Some(path) = fstab {
        tokio::task::spawn_local(super::fstab::load_fstab(world.clone(), path, client));
    }
}

/// The mounter of this generation is gone.
pub fn detach(world: &WorldRef, generation: u64) {
    let mut w = world.borrow_mut();
    if w.io
        .mounts
        .mounter
        .as_ref()
        .is_some_and(|l| l.generation == generation)
    {
        w.io.mounts.mounter = None;
    }
}

/// The mount table changed. Mount units learn whether their mount point is there; a mount
/// point without a unit gets one (loaded from what the table says), so that `list-units`
/// shows every mount, those made by hand too.
pub fn table_changed(
    world: &WorldRef,
    mounts: capnp::struct_list::Reader<'_, mount_point::Owned>,
) -> Result<(), capnp::Error> {
    let mut table = BTreeMap::new();
    for m in mounts.iter() {
        // An autofs point is the automount's, not a mount of the file system meant there:
        // only what is stacked on it counts (the last entry of a path is the topmost).
        if m.get_type()?.to_str()? == "autofs" {
            table.remove(m.get_where()?.to_str()?);
            continue;
        }
        table.insert(
            m.get_where()?.to_str()?.to_string(),
            (
                m.get_what()?.to_str()?.to_string(),
                m.get_type()?.to_str()?.to_string(),
            ),
        );
    }
    {
        let mut guard = world.borrow_mut();
        let w = &mut *guard;
        let mut known: BTreeSet<String> = BTreeSet::new();
        let ids: Vec<UnitId> = w
            .manager
            .units
            .list
            .iter()
            .filter(|u| u.utype == crate::unit::name::UnitType::Mount)
            .map(|u| u.id)
            .collect();
        for id in ids {
            let Some(u) = w.manager.units.get(id) else {
                continue;
            };
            let Ok(where_) =
                mount_config::verify_where(&u.name, u.config().mount.where_.as_deref())
            else {
                continue;
            };
            let present = table.contains_key(&where_);
            known.insert(where_);
            if let Some(m) = w.manager.mount_mut(id) {
                if m.machine.seen != present || !present {
                    w.manager.push_mount(id, MountEvent::Seen(present));
                }
            }
        }
        for (where_, (what, fstype)) in &table {
            if known.contains(where_) {
                continue;
            }
            let Some(name) = mount_config::unit_of_path(where_, "mount") else {
                continue;
            };
            if w.manager.units.lookup(&name).is_some() {
                continue;
            }
            let mut cfg = crate::unit::config::UnitConfig::default();
            cfg.unit.description = Some(where_.clone());
            cfg.mount.what = Some(what.clone());
            cfg.mount.where_ = Some(where_.clone());
            cfg.mount.fstype = Some(fstype.clone());
            let catalog = w.catalog.clone();
            let id = w.manager.add_synthetic_unit(
                &catalog,
                &name,
                crate::unit::name::UnitType::Mount,
                cfg,
            );
            w.manager.push_mount(id, MountEvent::Seen(true));
        }
        w.io.mounts.table = table;
    }
    process(world);
    Ok(())
}

/// The sink the mounter reports the mount table to.
pub struct MountEventsServer {
    pub world: WorldRef,
    pub generation: u64,
}

impl mount_events::Server for MountEventsServer {
    async fn changed(
        self: Rc<Self>,
        params: mount_events::ChangedParams,
        _results: mount_events::ChangedResults,
    ) -> Result<(), capnp::Error> {
        let current = self
            .world
            .borrow()
            .io
            .mounts
            .mounter
            .as_ref()
            .is_some_and(|l| l.generation == self.generation);
        if !current {
            return Err(capnp::Error::failed(
                "this mounter has been replaced".into(),
            ));
        }
        table_changed(&self.world, params.get()?.get_mounts()?)
    }

    async fn requested(
        self: Rc<Self>,
        params: mount_events::RequestedParams,
        _results: mount_events::RequestedResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        requested(
            &self.world,
            p.get_where()?.to_str()?,
            p.get_token(),
            p.get_pid(),
        );
        Ok(())
    }

    async fn expire(
        self: Rc<Self>,
        params: mount_events::ExpireParams,
        _results: mount_events::ExpireResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        expire(&self.world, p.get_where()?.to_str()?, p.get_token());
        Ok(())
    }
}

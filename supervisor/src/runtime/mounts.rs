//! The runtime side of mount units: asking the mounter to mount and unmount, taking in the
//! mount table it reports (a mount point with no unit becomes one, as in systemd), and turning
//! fstab into mount units at startup (as systemd's fstab generator does: unit files in
//! RUNTIME-DIR/generator, the lowest-priority directory of the unit path).

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
        tokio::task::spawn_local(load_fstab(world.clone(), path, client));
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

/// One generated unit file per fstab line, as systemd-fstab-generator writes them.
pub fn generated_unit(e: &FstabLine, fstab: &str) -> Option<(String, String, bool, bool)> {
    let name = mount_config::unit_of_path(&e.where_, "mount")?;
    let opts: Vec<&str> = e.options.split(',').collect();
    let has = |o: &str| opts.contains(&o);
    let value = |k: &str| {
        opts.iter()
            .filter_map(|o| o.strip_prefix(k))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let mut unit = format!(
        "# Generated by cairn from {fstab}:{line}\n[Unit]\nDescription={w}\nDocumentation=man:fstab(5)\nSourcePath={fstab}\n",
        line = e.line,
        w = e.where_
    );
    for r in value("x-systemd.requires=") {
        unit.push_str(&format!("Requires={r}\nAfter={r}\n"));
    }
    for r in value("x-systemd.requires-mounts-for=") {
        unit.push_str(&format!("RequiresMountsFor={r}\n"));
    }
    for r in value("x-systemd.before=") {
        unit.push_str(&format!("Before={r}\n"));
    }
    for r in value("x-systemd.after=") {
        unit.push_str(&format!("After={r}\n"));
    }
    unit.push_str(&format!("\n[Mount]\nWhat={}\nWhere={}\n", e.what, e.where_));
    if !e.fstype.is_empty() && e.fstype != "auto" {
        unit.push_str(&format!("Type={}\n", e.fstype));
    }
    unit.push_str(&format!("Options={}\n", e.options));
    if let Some(t) = value("x-systemd.mount-timeout=").first() {
        unit.push_str(&format!("TimeoutSec={t}\n"));
    }
    if let Some(t) = value("x-systemd.device-timeout=").first() {
        unit.push_str(&format!("X-CairnDeviceTimeoutSec={t}\n"));
    }
    if has("x-systemd.rw-only") {
        unit.push_str("ReadWriteOnly=yes\n");
    }
    if has("x-systemd.makefs") {
        unit.push_str("X-CairnMakefs=yes\n");
    }
    if has("x-systemd.growfs") {
        unit.push_str("X-CairnGrowfs=yes\n");
    }
    // fsck for block devices with a pass number (systemd-fsck@ in systemd).
    if e.passno > 0 && e.what.starts_with("/dev/") {
        unit.push_str("X-CairnFsck=yes\n");
    }
    let noauto = has("noauto");
    let nofail = has("nofail");
    Some((name, unit, !noauto, !nofail))
}

/// The automount unit of an fstab line with x-systemd.automount.
pub fn generated_automount(e: &FstabLine, fstab: &str) -> Option<(String, String)> {
    let name = mount_config::unit_of_path(&e.where_, "automount")?;
    let idle = e
        .options
        .split(',')
        .find_map(|o| o.strip_prefix("x-systemd.idle-timeout="));
    let mut unit = format!(
        "# Generated by cairn from {fstab}:{line}\n[Unit]\nDescription={w}\nDocumentation=man:fstab(5)\nSourcePath={fstab}\n\n[Automount]\nWhere={w}\n",
        line = e.line,
        w = e.where_
    );
    if let Some(i) = idle {
        unit.push_str(&format!("TimeoutIdleSec={i}\n"));
    }
    Some((name, unit))
}

/// What the mounter read of one fstab line.
pub struct FstabLine {
    pub line: u32,
    pub what: String,
    pub where_: String,
    pub fstype: String,
    pub options: String,
    pub passno: u32,
}

/// Reads fstab through the mounter and writes the generated units; then the default target
/// may start. Errors name fstab's line; those lines are skipped.
pub async fn load_fstab(world: WorldRef, path: std::path::PathBuf, client: mounter::Client) {
    let mut req = client.fstab_request();
    req.get().set_path(path.to_string_lossy().as_ref());
    let reply = req.send().promise.await;
    let mut lines = Vec::new();
    match &reply {
        Ok(r) => {
            let parsed = (|| -> Result<(), capnp::Error> {
                let r = r.get()?;
                for e in r.get_errors()?.iter() {
                    say!("{}, skipping the line", e?.to_str()?);
                }
                for e in r.get_entries()?.iter() {
                    lines.push(FstabLine {
                        line: e.get_line(),
                        what: e.get_what()?.to_str()?.to_string(),
                        where_: e.get_where()?.to_str()?.to_string(),
                        fstype: e.get_type()?.to_str()?.to_string(),
                        options: e.get_options()?.to_str()?.to_string(),
                        passno: e.get_passno(),
                    });
                }
                Ok(())
            })();
            if let Err(e) = parsed {
                say!("{}: {e}", path.display());
            }
        }
        Err(e) => warn!("cannot read {}: {e}", path.display()),
    }
    let dir = world.borrow().config.runtime_dir.join("generator");
    let before = snapshot(&dir);
    if let Err(e) = write_generated(&dir, &lines, &path.display().to_string()) {
        warn!("cannot write the units of {}: {e}", path.display());
    }
    if !world.borrow().container && crate::in_initrd() {
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        if let Some(root) = sysroot_line(&cmdline) {
            if let Err(e) = write_one(&dir, &root, "/proc/cmdline") {
                warn!("cannot write sysroot.mount (root= on the kernel command line): {e}");
            }
        }
    }
    world.borrow_mut().io.mounts.fstab_done = true;
    // The units were loaded before fstab was read: load again only if what fstab generates
    // is not what they were loaded with (a boot without fstab entries loads once).
    if snapshot(&dir) != before {
        crate::reload_units(&world);
    }
    crate::start_default(&world);
}

/// A directory's files and links, recursively, with their contents or targets (the
/// generator's directory: a few small files); directories only through what they hold.
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_symlink() => {
                    let target = std::fs::read_link(&p).unwrap_or_default();
                    out.push((p, target.into_os_string().into_encoded_bytes()));
                }
                // An empty directory (local-fs.target.wants/ with nothing in it) adds no unit.
                Ok(t) if t.is_dir() => todo.push(p),
                Ok(_) => out.push((p.clone(), std::fs::read(&p).unwrap_or_default())),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// The initrd's root file system from the kernel command line (`root= rootfstype=
/// rootflags=`), as an fstab line for /sysroot that initrd-root-fs.target requires (systemd's
/// fstab generator in the initrd). It is mounted read-only, as dracut does, whatever `ro`/`rw`
/// say: the real root remounts `/` read-write when the command line says `rw`
/// ([`crate::boot::remount_root`]), so the file system is checked and mounted once, safely.
/// None without a root= cairn can mount (a device path or a LABEL=/UUID=/PARTUUID=/PARTLABEL=
/// tag).
pub fn sysroot_line(cmdline: &str) -> Option<FstabLine> {
    let (mut root, mut fstype, mut flags) = (None, "auto", None);
    for w in cmdline.split_whitespace() {
        match w.split_once('=') {
            Some(("root", v)) => root = Some(v),
            Some(("rootfstype", v)) => fstype = v,
            Some(("rootflags", v)) => flags = Some(v),
            _ => {}
        }
    }
    let root = root?;
    let what = match root.split_once('=') {
        Some(("LABEL", v)) => format!("/dev/disk/by-label/{v}"),
        Some(("UUID", v)) => format!("/dev/disk/by-uuid/{}", v.to_ascii_lowercase()),
        Some(("PARTUUID", v)) => format!("/dev/disk/by-partuuid/{}", v.to_ascii_lowercase()),
        Some(("PARTLABEL", v)) => format!("/dev/disk/by-partlabel/{v}"),
        _ if root.starts_with("/dev/") => root.to_string(),
        _ => return None,
    };
    let mut options: Vec<&str> = flags.into_iter().collect();
    options.push("ro");
    options.push("x-systemd.required-by=initrd-root-fs.target");
    options.push("x-systemd.before=initrd-root-fs.target");
    Some(FstabLine {
        line: 0,
        what,
        where_: "/sysroot".into(),
        fstype: fstype.to_string(),
        options: options.join(","),
        passno: 1,
    })
}

fn write_generated(dir: &std::path::Path, lines: &[FstabLine], fstab: &str) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("local-fs.target.wants"))?;
    std::fs::create_dir_all(dir.join("local-fs.target.requires"))?;
    for e in lines {
        write_one(dir, e, fstab)?;
    }
    Ok(())
}

/// One fstab line's unit(s) and the links that pull it in.
fn write_one(dir: &std::path::Path, e: &FstabLine, fstab: &str) -> std::io::Result<()> {
    if e.fstype == "swap" || e.where_ == "none" || !e.where_.starts_with('/') {
        return Ok(());
    }
    let Some((mut name, text, pulled, required)) = generated_unit(e, fstab) else {
        return Ok(());
    };
    std::fs::write(dir.join(&name), text)?;
    // x-systemd.automount: the automount is what local-fs.target pulls in; the mount
    // waits for the first access.
    if e.options.split(',').any(|o| o == "x-systemd.automount") {
        if let Some((auto, text)) = generated_automount(e, fstab) {
            std::fs::write(dir.join(&auto), text)?;
            name = auto;
        }
    }
    // x-systemd.wanted-by= / required-by= name who pulls it in, instead of
    // local-fs.target (systemd.mount(5)).
    let by = |k: &str| -> Vec<String> {
        e.options
            .split(',')
            .filter_map(|o| o.strip_prefix(k))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (wanted_by, required_by) = (by("x-systemd.wanted-by="), by("x-systemd.required-by="));
    let mut links: Vec<String> = wanted_by.iter().map(|u| format!("{u}.wants")).collect();
    links.extend(required_by.iter().map(|u| format!("{u}.requires")));
    if links.is_empty() && pulled {
        links.push(if required {
            "local-fs.target.requires".into()
        } else {
            "local-fs.target.wants".into()
        });
    }
    for sub in links {
        std::fs::create_dir_all(dir.join(&sub))?;
        let _ = std::os::unix::fs::symlink(format!("../{name}"), dir.join(&sub).join(&name));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_on_the_kernel_command_line_becomes_sysroot() {
        let l =
            sysroot_line("console=ttyS0 root=LABEL=cairnroot rootfstype=ext4 rw quiet").unwrap();
        assert_eq!(l.what, "/dev/disk/by-label/cairnroot");
        assert_eq!(l.where_, "/sysroot");
        assert_eq!(l.fstype, "ext4");
        assert_eq!(
            l.options,
            "ro,x-systemd.required-by=initrd-root-fs.target,x-systemd.before=initrd-root-fs.target"
        );
        assert_eq!(l.passno, 1);
        let l = sysroot_line("root=/dev/vda rootflags=noatime,data=ordered ro").unwrap();
        assert_eq!((l.what.as_str(), l.fstype.as_str()), ("/dev/vda", "auto"));
        assert!(
            l.options.starts_with("noatime,data=ordered,ro,"),
            "{}",
            l.options
        );
        assert_eq!(
            sysroot_line("root=UUID=ABCD-1234").unwrap().what,
            "/dev/disk/by-uuid/abcd-1234"
        );
        // No root= or one cairn cannot mount: nothing.
        assert!(sysroot_line("quiet").is_none());
        assert!(sysroot_line("root=/dev/nfs").is_some());
        assert!(sysroot_line("root=nfs:server:/x").is_none());
        // The generated unit fscks it, and initrd-root-fs.target requires it.
        let (name, text, pulled, required) =
            generated_unit(&sysroot_line("root=/dev/vda").unwrap(), "/proc/cmdline").unwrap();
        assert_eq!(name, "sysroot.mount");
        assert!(text.contains("X-CairnFsck=yes"), "{text}");
        assert!(text.contains("Before=initrd-root-fs.target"), "{text}");
        assert!(pulled && required);
    }
}

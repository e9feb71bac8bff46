//! Snapshots (systemd's until v228): `cairnctl snapshot [NAME]` records which units are active
//! now as the unit `NAME.snapshot`, which wants and is ordered after each of them;
//! `cairnctl isolate NAME.snapshot` then starts what was up and stops what was not (except
//! what `IgnoreOnIsolate=` keeps: mounts, devices, snapshots).
//!
//! A snapshot is a unit file in RUNTIME-DIR/snapshots, a directory of the unit path: it
//! survives `daemon-reload` and `daemon-reexec` (the runtime directory is kept), not a reboot
//! (it is a tmpfs). Creating one adds that one unit to the table (no reload of the others);
//! deleting one removes its file and forgets the unit.

use std::path::PathBuf;

use crate::job::graph::ActiveState;
use crate::say;
use crate::unit::load::LoadState;
use crate::unit::name::UnitType;
use crate::world::WorldRef;

/// The snapshots' directory under the runtime directory.
pub fn dir(runtime_dir: &std::path::Path) -> PathBuf {
    runtime_dir.join("snapshots")
}

fn failed(msg: String) -> capnp::Error {
    capnp::Error::failed(msg)
}

/// The units a snapshot taken now records: every loaded unit that is active (or on its way
/// there), except those a start cannot bring back (devices), other snapshots, and instances
/// made for one connection (Accept=yes: the connection is gone by the time it is isolated).
fn active_units(w: &crate::world::World) -> Vec<String> {
    let m = &w.manager;
    m.units
        .list
        .iter()
        .filter(|u| u.load == LoadState::Loaded && !u.is_synthetic())
        .filter(|u| !matches!(u.utype, UnitType::Device | UnitType::Snapshot))
        .filter(|u| w.io.units.get(&u.id).is_none_or(|i| i.connection.is_none()))
        .filter(|u| {
            matches!(
                m.active_state(u.id),
                ActiveState::Active | ActiveState::Activating | ActiveState::Reloading
            )
        })
        .map(|u| u.name.clone())
        .collect()
}

/// The unit file of a snapshot of `units`.
pub fn unit_text(name: &str, units: &[String]) -> String {
    let mut t = format!(
        "# A snapshot taken with `cairnctl snapshot`: isolate it to return to this state.\n\
         [Unit]\nDescription=Snapshot {name}\nAllowIsolate=yes\nIgnoreOnIsolate=yes\n\
         DefaultDependencies=no\n"
    );
    // One line per unit: a long line is still a line per unit to read.
    for u in units {
        t.push_str(&format!("Wants={u}\nAfter={u}\n"));
    }
    t
}

/// `cairnctl snapshot [NAME]`: the snapshot's unit name.
pub fn create(world: &WorldRef, name: Option<String>) -> Result<String, capnp::Error> {
    let (name, text, dir, reuse) = {
        let w = world.borrow();
        let taken = |n: &str| {
            w.manager
                .units
                .lookup(n)
                .and_then(|id| w.manager.units.get(id))
                .is_some_and(|u| u.load != LoadState::NotFound)
        };
        let name = match name {
            Some(n) if taken(&n) => {
                return Err(failed(format!("{n} exists already; delete it first")))
            }
            Some(n) => n,
            None => match (1..=u32::MAX)
                .map(|i| format!("snapshot-{i}.snapshot"))
                .find(|n| !taken(n))
            {
                Some(n) => n,
                None => return Err(failed("no free snapshot name".into())),
            },
        };
        let units = active_units(&w);
        let text = unit_text(&name, &units);
        let reuse = w.manager.units.lookup(&name);
        (name, text, dir(&w.config.runtime_dir), reuse)
    };
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(&name), &text))
        .map_err(|e| failed(format!("cannot write {}: {e}", dir.join(&name).display())))?;
    let mut w = world.borrow_mut();
    let cat = crate::unit::load::Catalog::scan(std::slice::from_ref(&dir));
    let spec = w.spec.clone();
    w.manager.add_runtime_unit(&cat, &name, &spec, reuse);
    say!("{name}: snapshot taken");
    Ok(name)
}

/// `cairnctl delete NAME.snapshot`.
pub fn delete(world: &WorldRef, name: &str) -> Result<(), capnp::Error> {
    let mut w = world.borrow_mut();
    let id = crate::view::lookup(&w, name)?;
    let path = dir(&w.config.runtime_dir).join(name);
    let is_snapshot = w.manager.units.get(id).is_some_and(|u| {
        u.utype == UnitType::Snapshot && u.fragment.as_deref() == Some(path.as_path())
    });
    if !is_snapshot {
        return Err(failed(format!(
            "{name} is not a snapshot (only units made by `cairnctl snapshot` can be deleted)"
        )));
    }
    if w.manager
        .rt
        .get(id as usize)
        .is_some_and(|r| r.job.is_some())
    {
        return Err(failed(format!(
            "{name} has a job queued; wait for it to finish"
        )));
    }
    std::fs::remove_file(&path)
        .map_err(|e| failed(format!("cannot remove {}: {e}", path.display())))?;
    w.manager.forget_unit(id);
    say!("{name}: snapshot deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_wants_and_follows_each_unit() {
        let t = unit_text("s.snapshot", &["a.service".into(), "b.socket".into()]);
        let (file, warnings) = crate::unit::syntax::parse(&t);
        assert!(warnings.is_empty());
        let mut c = crate::unit::config::UnitConfig::default();
        let mut w = Vec::new();
        crate::unit::config::apply(
            &mut c,
            UnitType::Snapshot,
            &file,
            std::path::Path::new("/run/cairn/snapshots/s.snapshot"),
            &Default::default(),
            &mut w,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.unit.wants, ["a.service", "b.socket"]);
        assert_eq!(c.unit.after, ["a.service", "b.socket"]);
        assert!(c.unit.allow_isolate);
        assert_eq!(c.unit.ignore_on_isolate, Some(true));
        assert_eq!(c.unit.default_dependencies, Some(false));
    }
}

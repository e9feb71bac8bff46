//! Loading the unit table: at start-up (`load_units`), and at `daemon-reload`
//! (`reload_units`), which reads again only what changed; the SysV scripts are translated
//! before each scan of the unit path. Warnings are logged once, when a unit is (re)read.

use std::path::PathBuf;
use std::rc::Rc;

use crate::world::WorldRef;
use crate::{runtime, say, warn};

/// Scans the unit path and loads every unit; warnings are logged once, here.
pub fn load_units(
    dirs: &[PathBuf],
    spec: &crate::unit::specifier::Context,
    previous: &[String],
) -> (crate::manager::Units, crate::unit::load::Catalog) {
    let catalog = crate::unit::load::Catalog::scan(dirs);
    let units = build_units(&catalog, spec, previous);
    (units, catalog)
}

/// Loads every unit of `catalog` (and what they reference); warnings are logged once, here.
fn build_units(
    catalog: &crate::unit::load::Catalog,
    spec: &crate::unit::specifier::Context,
    previous: &[String],
) -> crate::manager::Units {
    for w in &catalog.warnings {
        say!("{w}");
    }
    let units = crate::manager::Units::build(catalog, spec, previous);
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for u in &units.list {
        *counts.entry(u.load.as_str()).or_default() += 1;
        log_loaded(u);
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    say!("units: {}", summary.join(", "));
    units
}

/// What loading a unit found wrong: its warnings (file:line) and why it cannot load.
fn log_loaded(u: &crate::manager::UnitEntry) {
    for w in &u.warnings {
        say!("{w}");
    }
    if let Some(why) = u.load.reason() {
        say!("{}: {}: {why}", u.name, u.load.as_str());
    }
}

/// Translates the SysV scripts of `init_d` into the last of `dirs` (the late generator
/// directory); a unit of the same name anywhere before it (or shipped) keeps its script from
/// being translated. Warnings go to the log, as unit files' do.
pub(crate) fn generate_sysv(init_d: Option<&std::path::Path>, dirs: &[PathBuf]) {
    let (Some(init_d), Some((late, before))) = (init_d, dirs.split_last()) else {
        return;
    };
    let native = |unit: &str| {
        before
            .iter()
            .any(|d| d.join(unit).symlink_metadata().is_ok())
            || crate::unit::builtin::UNITS.iter().any(|(n, _)| *n == unit)
    };
    let generated = crate::unit::sysv::generate(init_d, &native);
    for w in &generated.warnings {
        say!("{w}");
    }
    if let Err(e) = crate::unit::sysv::write(late, &generated) {
        warn!(
            "cannot write the units of the SysV scripts in {}: {e}",
            init_d.display()
        );
    }
}

/// `daemon-reload`: reread the unit path. Unit ids stay stable (units keep their slot), so
/// jobs, pids, timers and log readers keep pointing at the right unit. Only the units whose
/// files (or `.wants/`, masks, drop-ins) changed are read again ([`manager::Units::refresh`]);
/// a change that is not local (aliases, mounts) builds the whole table again.
pub fn reload_units(world: &WorldRef) {
    let catalog = {
        let w = world.borrow();
        generate_sysv(w.sysv_init_d.as_deref(), &w.unit_dirs);
        crate::unit::load::Catalog::scan(&w.unit_dirs)
    };
    let spec = world.borrow().spec.clone();
    let refreshed = {
        let mut w = world.borrow_mut();
        let old_catalog = w.catalog.clone();
        let mut units = std::mem::take(&mut w.manager.units);
        let r = units.refresh(&old_catalog, &catalog, &spec);
        w.manager.units = units;
        r
    };
    match refreshed {
        Some(r) => {
            for w in &catalog.warnings {
                say!("{w}");
            }
            let mut w = world.borrow_mut();
            for id in r.changed.iter().chain(&r.added) {
                if let Some(u) = w.manager.units.get(*id) {
                    log_loaded(u);
                }
            }
            say!(
                "units: {} read again, {} added, {} as they were",
                r.changed.len(),
                r.added.len(),
                w.manager.units.list.len() - r.changed.len() - r.added.len()
            );
            w.manager.refreshed(&r);
            w.catalog = Rc::new(catalog);
        }
        None => {
            let previous: Vec<String> = {
                let w = world.borrow();
                w.manager
                    .units
                    .list
                    .iter()
                    .map(|u| u.name.clone())
                    .collect()
            };
            let mut units = build_units(&catalog, &spec, &previous);
            let mut w = world.borrow_mut();
            units.keep_synthetic(&catalog, &w.manager.units);
            w.manager.reload(units);
            w.catalog = Rc::new(catalog);
        }
    }
    // The old table is freed; glibc keeps freed memory mapped unless asked (10,000 units:
    // 78 MB after three reloads without this, 44 MB before the first).
    runtime::trim_heap();
    runtime::process(world);
}

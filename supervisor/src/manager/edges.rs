//! A unit's edges before they are resolved to units: the names its settings, the catalog and
//! the implicit and default dependencies give it ([`edge_names`]), and what a build keeps of
//! them until every unit is in ([`PendingEdges`]). Split out of `units.rs`.

use super::units::{device_of_mount, triggered_service};
use crate::job::graph::{Dep, UnitId};
use crate::unit::config::UnitConfig;
use crate::unit::load::Catalog;
use crate::unit::name::UnitType;

/// The names unit `name`'s settings give it edges to, before they are resolved to units: its
/// dependency settings, its `.wants/`/`.requires/` entries, the implicit and default ones.
/// A function of the settings and the catalog only, so that a build takes them from the
/// load's parse (a unit that keeps only its text would be parsed again for them).
pub(super) fn edge_names(
    cat: &Catalog,
    name: &str,
    utype: UnitType,
    from_file: bool,
    c: &UnitConfig,
) -> Vec<(Dep, String)> {
    let default_deps = c.unit.default_dependencies.unwrap_or(true);
    let mut edges: Vec<(Dep, String)> = Vec::new();
    let un = &c.unit;
    for (d, names) in [
        (Dep::Requires, &un.requires),
        (Dep::Requisite, &un.requisite),
        (Dep::Wants, &un.wants),
        (Dep::BindsTo, &un.binds_to),
        (Dep::PartOf, &un.part_of),
        (Dep::Conflicts, &un.conflicts),
        (Dep::Before, &un.before),
        (Dep::After, &un.after),
        (Dep::OnFailure, &un.on_failure),
        (Dep::OnSuccess, &un.on_success),
    ] {
        edges.extend(names.iter().map(|n| (d, n.clone())));
    }
    for w in cat.deps_dir(name, true) {
        edges.push((Dep::Wants, w));
    }
    for r in cat.deps_dir(name, false) {
        edges.push((Dep::Requires, r));
    }
    // systemd's service_add_extras(): a Type=dbus service needs the bus, whatever
    // DefaultDependencies= says.
    if utype == UnitType::Service
        && c.service.bus_name.is_some()
        && matches!(
            c.service.stype,
            None | Some(crate::service::machine::ServiceType::Dbus)
        )
    {
        edges.push((Dep::Requires, "dbus.socket".into()));
        edges.push((Dep::After, "dbus.socket".into()));
    }
    // [Install] WantedBy=/RequiredBy= of a unit is honoured once it is enabled, which is the
    // `.wants/` symlink scanned above (enable/disable: issue 12).
    if default_deps {
        match utype {
            UnitType::Service => {
                edges.push((Dep::Requires, "sysinit.target".into()));
                edges.push((Dep::After, "sysinit.target".into()));
                edges.push((Dep::After, "basic.target".into()));
                edges.push((Dep::Conflicts, "shutdown.target".into()));
                edges.push((Dep::Before, "shutdown.target".into()));
            }
            UnitType::Target => {
                edges.push((Dep::Conflicts, "shutdown.target".into()));
                edges.push((Dep::Before, "shutdown.target".into()));
            }
            // systemd's mount_add_default_dependencies(): local file systems before
            // local-fs.target (unless nofail or _netdev), all before umount.target.
            UnitType::Mount => {
                let opts = &c.mount.options;
                let has = |o: &str| opts.split(',').any(|x| x == o);
                if has("_netdev") {
                    edges.push((Dep::After, "network-online.target".into()));
                    edges.push((Dep::Before, "remote-fs.target".into()));
                } else {
                    edges.push((Dep::After, "local-fs-pre.target".into()));
                    if !has("nofail") {
                        edges.push((Dep::Before, "local-fs.target".into()));
                    }
                }
                edges.push((Dep::Conflicts, "umount.target".into()));
                edges.push((Dep::Before, "umount.target".into()));
            }
            // systemd's socket_add_default_dependencies().
            UnitType::Socket => {
                edges.push((Dep::Before, "sockets.target".into()));
                edges.push((Dep::Requires, "sysinit.target".into()));
                edges.push((Dep::After, "sysinit.target".into()));
                edges.push((Dep::Conflicts, "shutdown.target".into()));
                edges.push((Dep::Before, "shutdown.target".into()));
            }
            _ => {}
        }
    }
    // A socket is ordered before the service it triggers (socket_add_extras()); a service
    // wants and is ordered after the sockets of its Sockets=.
    if utype == UnitType::Socket {
        if let Some(svc) = triggered_service(name, c) {
            edges.push((Dep::Before, svc.clone()));
            edges.push((Dep::Triggers, svc));
        }
    }
    // A mount of a device node is bound to and after the device's unit (it waits for
    // exactly its device, and is unmounted when the device goes).
    // Not for mounts found in the mount table (systemd binds only those it was told to
    // mount), nor for the root file system.
    let is_root = c.mount.where_.as_deref() == Some("/");
    if utype == UnitType::Mount && from_file && !is_root {
        if let Some(dev) = device_of_mount(c) {
            edges.push((Dep::BindsTo, dev.clone()));
            edges.push((Dep::After, dev));
        }
    }
    // A mount requires and is after the mounts of the directories above it; any unit
    // requires and is after the mounts of its RequiresMountsFor= paths (and theirs).
    let mut mount_paths: Vec<String> = c.unit.requires_mounts_for.to_vec();
    if utype == UnitType::Mount {
        if let Ok(w) = crate::unit::mount_config::verify_where(name, c.mount.where_.as_deref()) {
            if let Some(parent) = std::path::Path::new(&w).parent() {
                mount_paths.push(parent.display().to_string());
            }
        }
    }
    for p in mount_paths {
        let mut cur = Some(std::path::PathBuf::from(p));
        while let Some(path) = cur {
            let s = path.display().to_string();
            // (Those that are not loaded are left out when the names are resolved.)
            if let Some(n) = crate::unit::mount_config::unit_of_path(&s, "mount") {
                edges.push((Dep::Requires, n.clone()));
                edges.push((Dep::After, n));
            }
            cur = path.parent().map(|p| p.to_path_buf());
        }
    }
    // An automount is before and triggers the mount of its path (systemd's
    // automount_add_trigger_dependencies()).
    if utype == UnitType::Automount {
        if let Ok(w) = crate::unit::mount_config::verify_where(name, c.automount.where_.as_deref())
        {
            if let Some(m) = crate::unit::mount_config::unit_of_path(&w, "mount") {
                edges.push((Dep::Before, m.clone()));
                edges.push((Dep::Triggers, m));
            }
            if default_deps {
                edges.push((Dep::Before, "local-fs.target".into()));
                edges.push((Dep::Conflicts, "umount.target".into()));
                edges.push((Dep::Before, "umount.target".into()));
            }
        }
    }
    if utype == UnitType::Service {
        for s in &c.service.sockets {
            edges.push((Dep::Wants, s.clone()));
            edges.push((Dep::After, s.clone()));
        }
    }
    edges
}

/// The edge names of every unit a build loads ([`edge_names`]), until all units are in and
/// the names can be resolved: in one pool of text and one list, two allocations however many
/// units (a vector of names per unit, freed after the build, would leave the heap in holes).
#[derive(Default)]
pub(super) struct PendingEdges {
    pool: String,
    /// (unit, edge type, start and end in `pool`), in unit order.
    edges: Vec<(UnitId, Dep, u32, u32)>,
    /// Where the next unit's edges start in `edges`.
    next: usize,
}

impl PendingEdges {
    pub(super) fn add(&mut self, id: UnitId, names: Vec<(Dep, String)>) {
        for (d, n) in names {
            let start = u32::try_from(self.pool.len()).unwrap_or(u32::MAX);
            self.pool.push_str(&n);
            let end = u32::try_from(self.pool.len()).unwrap_or(u32::MAX);
            self.edges.push((id, d, start, end));
        }
    }

    /// Unit `id`'s edge names; units are asked for in the order they were added.
    pub(super) fn of(&mut self, id: UnitId) -> impl Iterator<Item = (Dep, &str)> {
        let from = self.next;
        while self.edges.get(self.next).is_some_and(|e| e.0 == id) {
            self.next += 1;
        }
        let pool = &self.pool;
        self.edges
            .get(from..self.next)
            .unwrap_or_default()
            .iter()
            .map(move |&(_, d, a, b)| (d, pool.get(a as usize..b as usize).unwrap_or_default()))
    }
}

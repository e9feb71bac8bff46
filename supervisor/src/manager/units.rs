//! The unit table: every loaded unit, its names, and its dependency edges in both directions.
//! Built from the catalog at start and at `daemon-reload`; units referenced but not found are
//! kept as `not-found` placeholders, as systemd does, so that a dependency on them fails
//! visibly instead of vanishing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;

use thin_vec::ThinVec;

use crate::job::graph::{Dep, UnitId};
use crate::unit::config::{UnitConfig, Warning};
use crate::unit::load::{self, Catalog, LoadState};
use crate::unit::name::{self, UnitType};
use crate::unit::specifier;

use super::edges::{edge_names, PendingEdges};
pub use super::settings::Settings;

pub struct UnitEntry {
    pub id: UnitId,
    pub name: String,
    /// Other names (aliases) this unit answers to.
    pub aliases: ThinVec<String>,
    pub utype: UnitType,
    pub load: LoadState,
    pub fragment: Option<Box<std::path::Path>>,
    pub dropins: ThinVec<PathBuf>,
    /// Read through [`UnitEntry::config`].
    pub settings: Settings,
    pub warnings: ThinVec<Warning>,
    pub deps: Deps,
    /// What it was loaded from ([`load::stamp`]): `daemon-reload` reads it again only when
    /// that moved. 0: always read again.
    pub stamp: u64,
}

/// A unit's edges, one `u32` each: the dependency type in the top 5 bits, the unit at the
/// other end below, sorted, so that each type's units are one run. With 10,000 units loaded a
/// unit has a dozen edges: 48 bytes here, where a vector per type took half a kilobyte.
/// Unit ids must stay below 2^27 (134 million units).
#[derive(Debug, Default, Clone)]
pub struct Deps(ThinVec<u32>);

const ID_BITS: u32 = 27;
const ID_MASK: u32 = (1 << ID_BITS) - 1;

fn pack(d: Dep, u: UnitId) -> Option<u32> {
    (u <= ID_MASK).then_some(((d as u32) << ID_BITS) | u)
}

impl Deps {
    /// The units at the other end of edges of type `d`, in id order.
    pub fn get(&self, d: Dep) -> impl Iterator<Item = UnitId> + '_ {
        let kind = d as u32;
        let start = self.0.partition_point(|x| x >> ID_BITS < kind);
        self.0
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |x| *x >> ID_BITS == kind)
            .map(|x| x & ID_MASK)
    }

    pub fn insert(&mut self, d: Dep, u: UnitId) {
        let Some(x) = pack(d, u) else { return };
        if let Err(at) = self.0.binary_search(&x) {
            self.0.insert(at, x);
        }
    }

    pub fn remove(&mut self, d: Dep, u: UnitId) {
        let Some(x) = pack(d, u) else { return };
        if let Ok(at) = self.0.binary_search(&x) {
            self.0.remove(at);
        }
    }

    /// Every (type, other unit) edge.
    pub fn all(&self) -> impl Iterator<Item = (Dep, UnitId)> + '_ {
        self.0.iter().filter_map(|x| {
            Dep::ALL
                .get((x >> ID_BITS) as usize)
                .map(|d| (*d, x & ID_MASK))
        })
    }

    /// Gives back what the vector holds beyond its edges.
    pub fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl UnitEntry {
    /// Takes what a new load of the same name found (its slot, name, aliases and edges stay).
    fn take(&mut self, cat: &Catalog, mut l: load::Loaded, spec: &Rc<specifier::Context>) {
        let names = edge_names(cat, &l.name, l.utype, l.fragment.is_some(), &l.config);
        self.settings = Settings::of(&mut l, spec, &names);
        self.utype = l.utype;
        self.load = l.state;
        self.fragment = l.fragment.map(PathBuf::into_boxed_path);
        self.dropins = l.dropins.into();
        self.warnings = l.warnings.into();
        self.stamp = l.stamp;
    }

    /// The unit's settings (parsed again for a unit that keeps only its text: hold on to the
    /// result rather than asking twice).
    pub fn config(&self) -> Rc<UnitConfig> {
        let fragment = self.fragment.as_deref().unwrap_or(std::path::Path::new(""));
        self.settings
            .get(self.utype, &self.name, fragment, &self.dropins)
    }

    /// Loaded without a file: made from the mount table.
    pub fn is_synthetic(&self) -> bool {
        self.fragment.is_none() && self.load == LoadState::Loaded
    }

    pub fn deps(&self, d: Dep) -> impl Iterator<Item = UnitId> + '_ {
        self.deps.get(d)
    }

    pub fn description(&self) -> String {
        self.config()
            .unit
            .description
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }

    /// systemd's defaults: mounts, devices and snapshots are kept on isolate.
    pub fn ignore_on_isolate(&self) -> bool {
        self.config().unit.ignore_on_isolate.unwrap_or(matches!(
            self.utype,
            UnitType::Mount | UnitType::Device | UnitType::Snapshot | UnitType::Automount
        ))
    }
}

/// What [`Units::refresh`] loaded again (`changed`) and added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub changed: Vec<UnitId>,
    pub added: Vec<UnitId>,
}

#[derive(Default)]
pub struct Units {
    pub list: Vec<UnitEntry>,
    pub(super) names: super::names::Names,
    /// How long a start job waits for a device, when a mount says (x-systemd.device-timeout=;
    /// the shortest of those that name it). Others wait DEVICE_TIMEOUT.
    pub device_timeouts: BTreeMap<UnitId, std::time::Duration>,
    /// The units with StopWhenUnneeded=yes, so that the loop looks at those only (it scanned
    /// every unit on every pass).
    pub stop_when_unneeded: BTreeSet<UnitId>,
    /// The specifiers' context of the last load, shared by the units that keep their text.
    spec: Option<Rc<specifier::Context>>,
}

/// The inverse of each dependency kind, as systemd records both ends.
pub fn inverse(d: Dep) -> Option<Dep> {
    d.inverse()
}

impl Units {
    pub fn get(&self, id: UnitId) -> Option<&UnitEntry> {
        self.list.get(id as usize)
    }

    pub fn lookup(&self, name: &str) -> Option<UnitId> {
        self.names.get(&self.list, name)
    }

    /// One context for every unit loaded with an equal one.
    fn spec_rc(&mut self, spec: &specifier::Context) -> Rc<specifier::Context> {
        match &self.spec {
            Some(s) if **s == *spec => s.clone(),
            _ => {
                let s = Rc::new(spec.clone());
                self.spec = Some(s.clone());
                s
            }
        }
    }

    /// Adds what a load found; its edge names (from the load's parse), not yet connected.
    fn add(
        &mut self,
        cat: &Catalog,
        l: load::Loaded,
        spec: &specifier::Context,
    ) -> (UnitId, Vec<(Dep, String)>) {
        let spec = self.spec_rc(spec);
        self.add_with(cat, l, &spec)
    }

    fn add_with(
        &mut self,
        cat: &Catalog,
        mut l: load::Loaded,
        spec: &Rc<specifier::Context>,
    ) -> (UnitId, Vec<(Dep, String)>) {
        let id = UnitId::try_from(self.list.len()).unwrap_or(UnitId::MAX);
        let names = edge_names(cat, &l.name, l.utype, l.fragment.is_some(), &l.config);
        let settings = Settings::of(&mut l, spec, &names);
        self.list.push(UnitEntry {
            id,
            name: l.name,
            aliases: ThinVec::new(),
            utype: l.utype,
            load: l.state,
            fragment: l.fragment.map(PathBuf::into_boxed_path),
            dropins: l.dropins.into(),
            settings,
            warnings: l.warnings.into(),
            deps: Deps::default(),
            stamp: l.stamp,
        });
        self.names.insert(&self.list, id);
        self.note_config(id);
        (id, names)
    }

    /// Keeps `stop_when_unneeded` true to unit `id`'s configuration.
    fn note_config(&mut self, id: UnitId) {
        if self
            .get(id)
            .is_some_and(|u| u.settings.stop_when_unneeded())
        {
            self.stop_when_unneeded.insert(id);
        } else {
            self.stop_when_unneeded.remove(&id);
        }
    }

    fn edge(&mut self, from: UnitId, d: Dep, to: UnitId) {
        if from == to {
            return;
        }
        if let Some(u) = self.list.get_mut(from as usize) {
            u.deps.insert(d, to);
        }
        if let (Some(inv), Some(u)) = (inverse(d), self.list.get_mut(to as usize)) {
            u.deps.insert(inv, from);
        }
    }

    /// Builds the table: every unit the catalog has, then whatever they reference.
    ///
    /// `previous` (the names of the table being replaced, by id) come first, so that a
    /// `daemon-reload` keeps every unit at its id.
    pub fn build(cat: &Catalog, spec: &specifier::Context, previous: &[String]) -> Units {
        let mut units = Units::default();
        let mut queue: Vec<String> = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for n in previous.iter().cloned().chain(cat.names()) {
            if seen.insert(n.clone()) {
                queue.push(n);
            }
        }
        let mut i = 0;
        let mut pending = PendingEdges::default();
        let shared_spec = units.spec_rc(spec);
        while let Some(name) = queue.get(i).cloned() {
            i += 1;
            let l = load::load(cat, &name, spec);
            let referenced = referenced_names(&l);
            // From the load's parse, at hand only here (a unit that keeps its text drops it).
            let (id, names) = units.add_with(cat, l, &shared_spec);
            pending.add(id, names);
            for r in referenced {
                let canon = cat.resolve(&r);
                if name::parse(&canon).is_ok() && seen.insert(canon.clone()) {
                    queue.push(canon);
                }
            }
        }
        // Aliases answer to their canonical unit.
        for (alias, target) in &cat.aliases {
            let canon = cat.resolve(target);
            if let Some(id) = units.lookup(&canon) {
                units.names.alias(alias.clone(), id);
                if let Some(u) = units.list.get_mut(id as usize) {
                    u.aliases.push(alias.clone());
                }
            }
        }
        let ids: Vec<UnitId> = (0..units.list.len())
            .filter_map(|i| UnitId::try_from(i).ok())
            .collect();
        for id in ids {
            units.connect(cat, id, pending.of(id));
            if units.get(id).is_some_and(|u| u.utype == UnitType::Mount) {
                let c = units.get(id).map(|u| u.config()).unwrap_or_default();
                units.note_device_timeout(id, &c);
            }
        }
        drop(pending);
        for u in &mut units.list {
            u.deps.shrink();
        }
        units.list.shrink_to_fit();
        units
    }

    /// Loads, at run time, a unit no other unit referenced (`cairnctl start getty@tty5.service`:
    /// an instance of a template) with what it references that is not loaded yet, as `build`
    /// does; their edges go to the units already there and to each other. The new ids.
    pub fn load_on_demand(
        &mut self,
        cat: &Catalog,
        name: &str,
        spec: &specifier::Context,
    ) -> Vec<UnitId> {
        let mut queue = vec![name.to_string()];
        let mut added = Vec::new();
        let shared_spec = self.spec_rc(spec);
        // A template that references itself by ever-new instance names stops here.
        while let Some(n) = queue.pop().filter(|_| added.len() < 1024) {
            if self.lookup(&n).is_some() {
                continue;
            }
            let l = load::load(cat, &n, spec);
            for r in referenced_names(&l) {
                let canon = cat.resolve(&r);
                if name::parse(&canon).is_ok() && self.lookup(&canon).is_none() {
                    queue.push(canon);
                }
            }
            added.push(self.add_with(cat, l, &shared_spec));
        }
        for (id, names) in &added {
            self.connect_names(cat, *id, names);
        }
        added.into_iter().map(|(id, _)| id).collect()
    }

    /// Loads one unit at run time (an Accept=yes instance) and adds it with its edges to the
    /// units already there. With `reuse`, the dead instance of the same template in that slot
    /// is replaced (same template, same edges), so that connections do not grow the table.
    pub fn add_runtime(
        &mut self,
        cat: &Catalog,
        name: &str,
        spec: &specifier::Context,
        reuse: Option<UnitId>,
    ) -> UnitId {
        let l = load::load(cat, name, spec);
        if let Some(id) = reuse {
            if (id as usize) < self.list.len() {
                self.names.remove(&self.list, id);
                let spec = self.spec_rc(spec);
                if let Some(u) = self.list.get_mut(id as usize) {
                    u.name = l.name.clone();
                    u.take(cat, l, &spec);
                }
                self.names.insert(&self.list, id);
                self.note_config(id);
                return id;
            }
        }
        let (id, names) = self.add(cat, l, spec);
        self.connect_names(cat, id, &names);
        id
    }

    /// Forgets a unit (a deleted snapshot): it stays in its slot, as not-found, with no edges
    /// left in either direction.
    pub fn forget(&mut self, id: UnitId) {
        let Some(u) = self.list.get_mut(id as usize) else {
            return;
        };
        u.load = LoadState::NotFound;
        u.fragment = None;
        u.dropins.clear();
        u.settings = Settings::default();
        u.warnings.clear();
        u.stamp = 0;
        self.cut_edges(id);
        self.note_config(id);
    }

    /// Removes every edge of unit `id`, in both directions; the units it had edges with.
    fn cut_edges(&mut self, id: UnitId) -> Vec<UnitId> {
        let Some(u) = self.list.get_mut(id as usize) else {
            return Vec::new();
        };
        let deps = std::mem::take(&mut u.deps);
        let mut others = Vec::new();
        for (d, o) in deps.all() {
            others.push(o);
            let Some(inv) = inverse(d) else { continue };
            if let Some(other) = self.list.get_mut(o as usize) {
                other.deps.remove(inv, id);
            }
        }
        others
    }

    /// `daemon-reload` without reading again what did not change. Each unit whose
    /// [`load::stamp`] moved is loaded again: its edges are cut and made again from its new
    /// settings and from those of the units it had edges with (which may name it); units new
    /// to the catalog, or newly referenced, are added. Nothing else is read or touched.
    ///
    /// None (nothing changed here) when the change is not local and the caller builds the
    /// table again: the aliases or broken names changed, a mount, automount or device unit
    /// changed or appeared (other units' edges depend on which of those exist), or so much
    /// changed that building again is as cheap.
    pub fn refresh(
        &mut self,
        old_cat: &Catalog,
        cat: &Catalog,
        spec: &specifier::Context,
    ) -> Option<Refreshed> {
        if old_cat.aliases != cat.aliases || old_cat.broken != cat.broken {
            return None;
        }
        let now = std::time::SystemTime::now();
        let limit = self.list.len() / 4 + 16;
        let structural = |t: UnitType| {
            matches!(
                t,
                UnitType::Mount | UnitType::Automount | UnitType::Device | UnitType::Swap
            )
        };
        // What changed, loaded again (nothing in the table is touched yet).
        let mut changed: Vec<(UnitId, load::Loaded)> = Vec::new();
        for u in &self.list {
            // Units without a file (devices, mounts from the mount table) too: a `.wants/`
            // directory or a drop-in may name them, and they are structural.
            let s = load::stamp(cat, &u.name, now);
            if u.stamp != 0 && s == u.stamp {
                continue;
            }
            if changed.len() >= limit || structural(u.utype) {
                return None;
            }
            let l = load::load(cat, &u.name, spec);
            if structural(l.utype) {
                return None;
            }
            changed.push((u.id, l));
        }
        // New units: in the catalog, or referenced by what was loaded again.
        let mut queue: Vec<String> = cat.names();
        for (_, l) in &changed {
            queue.extend(referenced_names(l).iter().map(|r| cat.resolve(r)));
        }
        let mut added: Vec<load::Loaded> = Vec::new();
        let mut pending: BTreeSet<String> = BTreeSet::new();
        while let Some(n) = queue.pop() {
            if self.lookup(&n).is_some() || name::parse(&n).is_err() || !pending.insert(n.clone()) {
                continue;
            }
            if added.len() >= limit {
                return None;
            }
            let l = load::load(cat, &n, spec);
            if structural(l.utype) {
                return None;
            }
            queue.extend(referenced_names(&l).iter().map(|r| cat.resolve(r)));
            added.push(l);
        }
        // Now the table: cut, replace, add, then the edges of all of those.
        let mut out = Refreshed::default();
        let mut neighbours: BTreeSet<UnitId> = BTreeSet::new();
        let spec_rc = self.spec_rc(spec);
        for (id, l) in changed {
            neighbours.extend(self.cut_edges(id));
            if let Some(u) = self.list.get_mut(id as usize) {
                u.take(cat, l, &spec_rc);
            }
            self.note_config(id);
            out.changed.push(id);
        }
        for l in added {
            out.added.push(self.add_with(cat, l, &spec_rc).0);
        }
        for (alias, target) in &cat.aliases {
            let canon = cat.resolve(target);
            let Some(id) = self.lookup(&canon).filter(|id| out.added.contains(id)) else {
                continue;
            };
            self.names.alias(alias.clone(), id);
            if let Some(u) = self.list.get_mut(id as usize) {
                u.aliases.push(alias.clone());
            }
        }
        // The edges of the changed units and of those they had edges with; when units were
        // added, also of every unit that may name one: one named only by Before=/After= (or by
        // a default dependency) is not in the table until it has a file, and any unit may name
        // it. A unit that keeps its text says whether it may without being parsed (the filter
        // of its edge names); the others are done again, in memory. Idempotent; nothing is
        // read.
        neighbours.extend(&out.changed);
        neighbours.extend(&out.added);
        if !out.added.is_empty() {
            let names: Vec<String> = out
                .added
                .iter()
                .filter_map(|id| self.get(*id))
                .flat_map(|u| std::iter::once(u.name.clone()).chain(u.aliases.iter().cloned()))
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            neighbours.extend(
                self.list
                    .iter()
                    .filter(|u| u.settings.may_name(&names))
                    .map(|u| u.id),
            );
        }
        let redo: Vec<UnitId> = neighbours.into_iter().collect();
        for id in redo {
            self.add_edges(cat, id);
        }
        Some(out)
    }

    /// `daemon-reload` keeps the units that have no file (mount points found in the mount
    /// table): the rebuilt table has them as not-found placeholders, which they are not.
    pub fn keep_synthetic(&mut self, cat: &Catalog, old: &Units) {
        let kept: Vec<UnitId> = old
            .list
            .iter()
            .filter(|u| u.is_synthetic())
            .filter(|u| {
                self.get(u.id)
                    .is_some_and(|n| n.name == u.name && n.load == LoadState::NotFound)
            })
            .map(|u| u.id)
            .collect();
        for id in kept {
            let (Some(o), Some(n)) = (old.list.get(id as usize), self.list.get_mut(id as usize))
            else {
                continue;
            };
            n.load = LoadState::Loaded;
            n.settings = o.settings.clone();
            self.note_config(id);
            // The placeholder's edges came from a default configuration (a mount's default
            // options: before local-fs.target): gone with it.
            self.cut_edges(id);
            self.add_edges(cat, id);
        }
    }

    /// Adds a unit that has no file: a mount point found in the mount table. Its edges go to
    /// the units already there.
    pub fn add_synthetic(
        &mut self,
        cat: &Catalog,
        name: &str,
        utype: UnitType,
        config: UnitConfig,
    ) -> UnitId {
        // No file: its settings stay as given, and no specifier is expanded again.
        let spec = self.spec.clone().unwrap_or_default();
        let loaded = load::Loaded {
            name: name.to_string(),
            utype,
            fragment: None,
            dropins: Vec::new(),
            config,
            state: LoadState::Loaded,
            warnings: Vec::new(),
            extra_wants: Vec::new(),
            extra_requires: Vec::new(),
            stamp: load::stamp(cat, name, std::time::SystemTime::now()),
            texts: Vec::new(),
        };
        let (id, names) = self.add_with(cat, loaded, &spec);
        self.connect_names(cat, id, &names);
        id
    }

    fn add_edges(&mut self, cat: &Catalog, id: UnitId) {
        let Some(u) = self.get(id) else { return };
        let c = u.config();
        let (name, utype, from_file) = (u.name.clone(), u.utype, u.fragment.is_some());
        let names = edge_names(cat, &name, utype, from_file, &c);
        self.connect(cat, id, names.iter().map(|(d, n)| (*d, n.as_str())));
        self.note_device_timeout(id, &c);
    }

    /// [`Units::add_edges`] with the edge names of the unit's load (no parse again).
    fn connect_names(&mut self, cat: &Catalog, id: UnitId, names: &[(Dep, String)]) {
        self.connect(cat, id, names.iter().map(|(d, n)| (*d, n.as_str())));
        if let Some(c) = self
            .get(id)
            .filter(|u| u.utype == UnitType::Mount)
            .map(|u| u.config())
        {
            self.note_device_timeout(id, &c);
        }
    }

    /// x-systemd.device-timeout= of a mount: the start job of its device waits that long.
    fn note_device_timeout(&mut self, id: UnitId, c: &UnitConfig) {
        let Some(u) = self.get(id) else { return };
        let is_root = c.mount.where_.as_deref() == Some("/");
        if u.utype != UnitType::Mount || u.fragment.is_none() || is_root {
            return;
        }
        if let (Some(t), Some(d)) = (
            c.mount.device_timeout,
            device_of_mount(c).and_then(|dev| self.lookup(&dev)),
        ) {
            let e = self.device_timeouts.entry(d).or_insert(t);
            *e = (*e).min(t);
        }
    }

    /// Gives unit `id` its edges to the units `names` name (those loaded), and a target its
    /// ordering after what it pulls in.
    fn connect<'a>(
        &mut self,
        cat: &Catalog,
        id: UnitId,
        names: impl Iterator<Item = (Dep, &'a str)>,
    ) {
        let Some(u) = self.get(id) else { return };
        let utype = u.utype;
        let default_deps = u.settings.default_dependencies().unwrap_or(true);
        let self_name = u.name.clone();
        for (d, n) in names {
            let canon = cat.resolve(n);
            if canon == self_name {
                continue;
            }
            if let Some(to) = self.lookup(&canon) {
                self.edge(id, d, to);
            }
        }
        // A target is ordered after what it wants or requires (unless that unit opted out of
        // default dependencies), so that reaching it means they are up.
        if utype == UnitType::Target && default_deps {
            let pulled: Vec<UnitId> = self
                .get(id)
                .map(|u| u.deps(Dep::Wants).chain(u.deps(Dep::Requires)).collect())
                .unwrap_or_default();
            for p in pulled {
                let opted_out = self
                    .get(p)
                    .is_some_and(|o| o.settings.default_dependencies() == Some(false));
                if !opted_out {
                    self.edge(id, Dep::After, p);
                }
            }
        }
    }
}

/// The device unit a mount's What= names (`/dev/vdb1` → `dev-vdb1.device`).
pub fn device_of_mount(c: &crate::unit::config::UnitConfig) -> Option<String> {
    let what = c.mount.what.as_deref()?;
    if !what.starts_with("/dev/") {
        return None;
    }
    name::try_escape_path(what)
        .ok()
        .map(|n| format!("{n}.device"))
}

/// The service a socket unit starts: Service=, else the service of the same name. None with
/// Accept=yes, whose instances (`foo@….service`) are made per connection.
pub fn triggered_service(socket: &str, c: &crate::unit::config::UnitConfig) -> Option<String> {
    if c.socket.accept {
        return None;
    }
    if let Some(s) = &c.socket.service {
        return Some(s.clone());
    }
    let stem = socket.strip_suffix(".socket")?;
    Some(format!("{stem}.service"))
}

fn referenced_names(l: &load::Loaded) -> Vec<String> {
    let u = &l.config.unit;
    let mut v: Vec<String> = [
        &u.requires,
        &u.requisite,
        &u.wants,
        &u.binds_to,
        &u.part_of,
        &u.conflicts,
        &u.on_failure,
        &u.on_success,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    v.extend(l.config.service.sockets.iter().cloned());
    if l.utype == UnitType::Mount && l.state == load::LoadState::Loaded {
        v.extend(device_of_mount(&l.config));
    }
    if l.utype == UnitType::Automount && l.state == load::LoadState::Loaded {
        if let Some(m) = crate::unit::mount_config::path_of_unit(&l.name)
            .and_then(|p| crate::unit::mount_config::unit_of_path(&p, "mount"))
        {
            v.push(m);
        }
    }
    if l.utype == UnitType::Socket && l.state == load::LoadState::Loaded {
        v.extend(triggered_service(&l.name, &l.config));
    }
    v.extend(l.extra_wants.iter().cloned());
    v.extend(l.extra_requires.iter().cloned());
    v
}

#[cfg(test)]
#[path = "units_tests.rs"]
pub(super) mod tests;

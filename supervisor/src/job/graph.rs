//! The view of the unit graph the engine needs, and [`TestGraph`], a small in-memory
//! implementation for tests.

use std::collections::{BTreeMap, BTreeSet};

use crate::job::types::JobType;

/// A unit, as numbered by the caller's unit table.
pub type UnitId = u32;

/// A dependency between two units, named after the unit-file settings (and their inverses,
/// which systemd records on the other unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dep {
    Requires,
    Requisite,
    Wants,
    BindsTo,
    PartOf,
    Conflicts,
    ConflictedBy,
    Before,
    After,
    RequiredBy,
    /// Inverse of `Requisite=`. Stopping or restarting a unit propagates along it, exactly as
    /// along `RequiredBy` (systemd's `UNIT_REQUISITE_OF`).
    RequisiteOf,
    WantedBy,
    BoundBy,
    ConsistsOf,
    PropagatesStopTo,
    StopPropagatedFrom,
    OnFailure,
    OnSuccess,
    Upholds,
    /// Inverse of `Upholds=`; it has no effect on transactions.
    UpheldBy,
    /// A socket (or, later, a path or timer) starts this unit on traffic. No effect on
    /// transactions; the runtime follows it.
    Triggers,
    TriggeredBy,
}

impl Dep {
    /// Every dependency type, in declaration order.
    pub const ALL: [Dep; 22] = [
        Dep::Requires,
        Dep::Requisite,
        Dep::Wants,
        Dep::BindsTo,
        Dep::PartOf,
        Dep::Conflicts,
        Dep::ConflictedBy,
        Dep::Before,
        Dep::After,
        Dep::RequiredBy,
        Dep::RequisiteOf,
        Dep::WantedBy,
        Dep::BoundBy,
        Dep::ConsistsOf,
        Dep::PropagatesStopTo,
        Dep::StopPropagatedFrom,
        Dep::OnFailure,
        Dep::OnSuccess,
        Dep::Upholds,
        Dep::UpheldBy,
        Dep::Triggers,
        Dep::TriggeredBy,
    ];

    /// The unit-file / D-Bus property name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dep::Requires => "Requires",
            Dep::Requisite => "Requisite",
            Dep::Wants => "Wants",
            Dep::BindsTo => "BindsTo",
            Dep::PartOf => "PartOf",
            Dep::Conflicts => "Conflicts",
            Dep::ConflictedBy => "ConflictedBy",
            Dep::Before => "Before",
            Dep::After => "After",
            Dep::RequiredBy => "RequiredBy",
            Dep::RequisiteOf => "RequisiteOf",
            Dep::WantedBy => "WantedBy",
            Dep::BoundBy => "BoundBy",
            Dep::ConsistsOf => "ConsistsOf",
            Dep::PropagatesStopTo => "PropagatesStopTo",
            Dep::StopPropagatedFrom => "StopPropagatedFrom",
            Dep::OnFailure => "OnFailure",
            Dep::OnSuccess => "OnSuccess",
            Dep::Upholds => "Upholds",
            Dep::UpheldBy => "UpheldBy",
            Dep::Triggers => "Triggers",
            Dep::TriggeredBy => "TriggeredBy",
        }
    }

    /// Inverse of [`Dep::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The dependency systemd records on the other unit, if it records one the engine knows.
    pub fn inverse(self) -> Option<Dep> {
        Some(match self {
            Dep::Requires => Dep::RequiredBy,
            Dep::RequiredBy => Dep::Requires,
            Dep::Requisite => Dep::RequisiteOf,
            Dep::RequisiteOf => Dep::Requisite,
            Dep::Wants => Dep::WantedBy,
            Dep::WantedBy => Dep::Wants,
            Dep::BindsTo => Dep::BoundBy,
            Dep::BoundBy => Dep::BindsTo,
            Dep::PartOf => Dep::ConsistsOf,
            Dep::ConsistsOf => Dep::PartOf,
            Dep::Conflicts => Dep::ConflictedBy,
            Dep::ConflictedBy => Dep::Conflicts,
            Dep::Before => Dep::After,
            Dep::After => Dep::Before,
            Dep::PropagatesStopTo => Dep::StopPropagatedFrom,
            Dep::StopPropagatedFrom => Dep::PropagatesStopTo,
            Dep::Upholds => Dep::UpheldBy,
            Dep::UpheldBy => Dep::Upholds,
            Dep::Triggers => Dep::TriggeredBy,
            Dep::TriggeredBy => Dep::Triggers,
            Dep::OnFailure | Dep::OnSuccess => return None,
        })
    }
}

/// A unit's high-level state (systemd's `UnitActiveState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveState {
    Active,
    Reloading,
    Inactive,
    Failed,
    Activating,
    Deactivating,
    Maintenance,
}

impl ActiveState {
    /// Every state, in declaration order.
    pub const ALL: [ActiveState; 7] = [
        ActiveState::Active,
        ActiveState::Reloading,
        ActiveState::Inactive,
        ActiveState::Failed,
        ActiveState::Activating,
        ActiveState::Deactivating,
        ActiveState::Maintenance,
    ];

    /// The name systemd uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveState::Active => "active",
            ActiveState::Reloading => "reloading",
            ActiveState::Inactive => "inactive",
            ActiveState::Failed => "failed",
            ActiveState::Activating => "activating",
            ActiveState::Deactivating => "deactivating",
            ActiveState::Maintenance => "maintenance",
        }
    }

    /// Inverse of [`ActiveState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// `UNIT_IS_ACTIVE_OR_RELOADING()`: the state [`crate::job::types::collapse`] looks at.
    pub fn is_active_or_reloading(self) -> bool {
        matches!(self, ActiveState::Active | ActiveState::Reloading)
    }

    /// `UNIT_IS_ACTIVE_OR_ACTIVATING()`.
    pub fn is_active_or_activating(self) -> bool {
        matches!(
            self,
            ActiveState::Active | ActiveState::Activating | ActiveState::Reloading
        )
    }

    /// `UNIT_IS_INACTIVE_OR_FAILED()`.
    pub fn is_inactive_or_failed(self) -> bool {
        matches!(self, ActiveState::Inactive | ActiveState::Failed)
    }
}

/// What the engine needs to know about units. Implementations must be deterministic: the
/// engine's output order follows the order of the vectors returned here.
pub trait Graph {
    /// The units `u` has dependency `d` on, already including inverse edges (if A Requires B
    /// then B has RequiredBy A). Self-edges are ignored by the engine, as systemd refuses them.
    fn deps(&self, u: UnitId, d: Dep) -> Vec<UnitId>;
    /// The unit's primary name, e.g. `a.service`.
    fn name(&self, u: UnitId) -> &str;
    fn active_state(&self, u: UnitId) -> ActiveState;
    /// `IgnoreOnIsolate=`.
    fn ignore_on_isolate(&self, u: UnitId) -> bool;
    /// `AllowIsolate=`.
    fn allow_isolate(&self, u: UnitId) -> bool;
    /// Whether the unit supports reloading (a reload job is not applicable otherwise).
    fn can_reload(&self, u: UnitId) -> bool;
    /// False for not-found / bad-setting / masked units: any job but a stop fails for them.
    fn is_loaded(&self, u: UnitId) -> bool;
    /// The job queued (installed) for the unit, with its "irreversible" flag.
    fn installed_job(&self, u: UnitId) -> Option<(JobType, bool)>;
    /// Every unit (for isolate and flush).
    fn all_units(&self) -> Vec<UnitId>;
}

#[derive(Debug, Clone)]
struct TestUnit {
    name: String,
    /// Edges per dependency type, indexed by `Dep as usize`, in insertion order.
    deps: [Vec<UnitId>; Dep::ALL.len()],
    state: ActiveState,
    loaded: bool,
    can_reload: bool,
    allow_isolate: bool,
    ignore_on_isolate: bool,
    job: Option<(JobType, bool)>,
}

/// A small in-memory [`Graph`] for tests: units are numbered in order of first mention.
///
/// It can be built with methods or from a line-based description ([`TestGraph::parse`]):
///
/// ```text
/// # comment
/// a.service Requires b.service c.service   # <unit> <Dep> <unit>... (inverse added too)
/// b.service active                         # <unit> <attribute>...
/// x.target allow-isolate
/// l.service ignore-on-isolate active
/// m.service not-loaded
/// n.service no-reload
/// q.service job=stop                       # an installed job; job=stop! is irreversible
/// ```
#[derive(Debug, Clone, Default)]
pub struct TestGraph {
    units: Vec<TestUnit>,
    ids: BTreeMap<String, UnitId>,
    /// For ignoring duplicate edges without scanning a 10,000-entry fan-out.
    edge_set: BTreeSet<(UnitId, Dep, UnitId)>,
}

impl TestGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the description format shown on the type.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut g = Self::new();
        for (lineno, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(unit) = words.next() else { continue };
            let rest: Vec<&str> = words.collect();
            let err = |what: &str| format!("line {}: {what}: {raw:?}", lineno + 1);
            let id = g.unit(unit);
            if let Some(dep) = rest.first().and_then(|w| Dep::parse(w)) {
                if rest.len() < 2 {
                    return Err(err("dependency without target"));
                }
                for other in rest.iter().skip(1) {
                    if *other == unit {
                        return Err(err("self-dependency"));
                    }
                    g.dep(unit, dep, other);
                }
                continue;
            }
            for attr in rest {
                if let Some(state) = ActiveState::parse(attr) {
                    g.set_state(id, state);
                } else if let Some(job) = attr.strip_prefix("job=") {
                    let (job, irreversible) = match job.strip_suffix('!') {
                        Some(j) => (j, true),
                        None => (job, false),
                    };
                    let t = JobType::parse(job).ok_or_else(|| err("unknown job type"))?;
                    g.set_installed_job(id, Some((t, irreversible)));
                } else {
                    match attr {
                        "not-loaded" => g.set_loaded(id, false),
                        "no-reload" => g.set_can_reload(id, false),
                        "allow-isolate" => g.set_allow_isolate(id, true),
                        "ignore-on-isolate" => g.set_ignore_on_isolate(id, true),
                        _ => return Err(err("unknown attribute")),
                    };
                }
            }
        }
        Ok(g)
    }

    /// The id of `name`, adding the unit (loaded, inactive) if it is new.
    pub fn unit(&mut self, name: &str) -> UnitId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        // More than u32::MAX units cannot be numbered; saturate rather than panic (a test
        // graph never gets anywhere near that).
        let id = UnitId::try_from(self.units.len()).unwrap_or(UnitId::MAX);
        self.units.push(TestUnit {
            name: name.to_owned(),
            deps: std::array::from_fn(|_| Vec::new()),
            state: ActiveState::Inactive,
            loaded: true,
            can_reload: true,
            allow_isolate: false,
            ignore_on_isolate: false,
            job: None,
        });
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// The id of an existing unit.
    pub fn id(&self, name: &str) -> Option<UnitId> {
        self.ids.get(name).copied()
    }

    /// Adds `a <d> b` and its inverse (once; duplicates are ignored).
    pub fn dep(&mut self, a: &str, d: Dep, b: &str) -> &mut Self {
        let (a, b) = (self.unit(a), self.unit(b));
        self.dep_ids(a, d, b)
    }

    /// [`TestGraph::dep`] by id.
    pub fn dep_ids(&mut self, a: UnitId, d: Dep, b: UnitId) -> &mut Self {
        self.add_edge(a, d, b);
        if let Some(inv) = d.inverse() {
            self.add_edge(b, inv, a);
        }
        self
    }

    fn add_edge(&mut self, a: UnitId, d: Dep, b: UnitId) {
        if self.edge_set.insert((a, d, b)) {
            self.with_unit(a, |x| {
                if let Some(list) = x.deps.get_mut(d as usize) {
                    list.push(b);
                }
            });
        }
    }

    fn with_unit(&mut self, u: UnitId, f: impl FnOnce(&mut TestUnit)) -> &mut Self {
        if let Some(unit) = usize::try_from(u).ok().and_then(|i| self.units.get_mut(i)) {
            f(unit);
        }
        self
    }

    pub fn set_state(&mut self, u: UnitId, s: ActiveState) -> &mut Self {
        self.with_unit(u, |x| x.state = s)
    }

    pub fn set_loaded(&mut self, u: UnitId, v: bool) -> &mut Self {
        self.with_unit(u, |x| x.loaded = v)
    }

    pub fn set_can_reload(&mut self, u: UnitId, v: bool) -> &mut Self {
        self.with_unit(u, |x| x.can_reload = v)
    }

    pub fn set_allow_isolate(&mut self, u: UnitId, v: bool) -> &mut Self {
        self.with_unit(u, |x| x.allow_isolate = v)
    }

    pub fn set_ignore_on_isolate(&mut self, u: UnitId, v: bool) -> &mut Self {
        self.with_unit(u, |x| x.ignore_on_isolate = v)
    }

    pub fn set_installed_job(&mut self, u: UnitId, job: Option<(JobType, bool)>) -> &mut Self {
        self.with_unit(u, |x| x.job = job)
    }

    fn get(&self, u: UnitId) -> Option<&TestUnit> {
        usize::try_from(u).ok().and_then(|i| self.units.get(i))
    }
}

impl Graph for TestGraph {
    fn deps(&self, u: UnitId, d: Dep) -> Vec<UnitId> {
        self.get(u)
            .and_then(|x| x.deps.get(d as usize))
            .cloned()
            .unwrap_or_default()
    }

    fn name(&self, u: UnitId) -> &str {
        self.get(u).map_or("<unknown>", |x| x.name.as_str())
    }

    fn active_state(&self, u: UnitId) -> ActiveState {
        self.get(u).map_or(ActiveState::Inactive, |x| x.state)
    }

    fn ignore_on_isolate(&self, u: UnitId) -> bool {
        self.get(u).is_some_and(|x| x.ignore_on_isolate)
    }

    fn allow_isolate(&self, u: UnitId) -> bool {
        self.get(u).is_some_and(|x| x.allow_isolate)
    }

    fn can_reload(&self, u: UnitId) -> bool {
        self.get(u).is_some_and(|x| x.can_reload)
    }

    fn is_loaded(&self, u: UnitId) -> bool {
        self.get(u).is_some_and(|x| x.loaded)
    }

    fn installed_job(&self, u: UnitId) -> Option<(JobType, bool)> {
        self.get(u).and_then(|x| x.job)
    }

    fn all_units(&self) -> Vec<UnitId> {
        (0..self.units.len())
            .filter_map(|i| UnitId::try_from(i).ok())
            .collect()
    }
}

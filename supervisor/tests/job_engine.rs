//! Transaction tests, modelled on systemd's src/test/test-engine.c: a small fixture graph,
//! one request per test, and exact assertions on the resulting jobs (type after collapse,
//! whether they matter, why they are there), on dropped jobs and on refusals.

use cairn_supervisor::job::graph::{Dep, Graph, TestGraph, UnitId};
use cairn_supervisor::job::transaction::{plan, Dropped, Plan, Reason, TxError};
use cairn_supervisor::job::types::{JobMode, JobType};
use JobMode::*;
use JobType::*;

/// The shared fixture (about ten units); tests append lines to change states or add edges.
const BASE: &str = "
# a needs b, would like c, and starts after both
a.service Requires b.service
a.service Wants c.service
a.service After b.service c.service
# d cannot run alongside a
d.service Conflicts a.service
# e is part of a, f is bound to a, stopping a stops p
e.service PartOf a.service
f.service BindsTo a.service
a.service PropagatesStopTo p.service
# r needs h to be running already
r.service Requisite h.service
n.service no-reload
";

fn graph(extra: &str) -> TestGraph {
    match TestGraph::parse(&format!("{BASE}\n{extra}")) {
        Ok(g) => g,
        Err(e) => panic!("bad fixture: {e}"),
    }
}

fn id(g: &TestGraph, name: &str) -> UnitId {
    g.id(name).unwrap_or_else(|| panic!("no unit {name}"))
}

fn run(g: &TestGraph, unit: &str, t: JobType, mode: JobMode) -> Result<Plan, TxError> {
    plan(g, id(g, unit), t, mode)
}

fn ok(g: &TestGraph, unit: &str, t: JobType, mode: JobMode) -> Plan {
    run(g, unit, t, mode).unwrap_or_else(|e| panic!("{unit}/{t} refused: {e}"))
}

fn err(g: &TestGraph, unit: &str, t: JobType, mode: JobMode) -> String {
    match run(g, unit, t, mode) {
        Ok(p) => panic!("{unit}/{t} accepted: {:?}", render(g, &p)),
        Err(e) => e.to_string(),
    }
}

fn reason(g: &TestGraph, r: &Reason) -> String {
    match r {
        Reason::Anchor => "anchor".into(),
        Reason::Dep { from, dep } => format!("{} {}", g.name(*from), dep.as_str()),
        Reason::Isolate => "isolate".into(),
        Reason::Conflict { with } => format!("conflict {}", g.name(*with)),
    }
}

/// "unit/type <- reason", with "!" after the type when the job matters to the anchor.
fn render(g: &TestGraph, p: &Plan) -> Vec<String> {
    p.jobs
        .iter()
        .map(|j| {
            let m = if j.matters_to_anchor { "!" } else { "" };
            format!(
                "{}/{}{m} <- {}",
                g.name(j.unit),
                j.jtype,
                reason(g, &j.reason)
            )
        })
        .collect()
}

fn names(g: &TestGraph, units: &[UnitId]) -> Vec<String> {
    units.iter().map(|&u| g.name(u).to_owned()).collect()
}

/// The provenance chain of `unit`'s job back to the anchor (what `cairnctl why` prints).
fn why(g: &TestGraph, p: &Plan, unit: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut u = id(g, unit);
    for _ in 0..p.jobs.len() {
        let Some(j) = p.jobs.iter().find(|j| j.unit == u) else {
            panic!("{} has no job", g.name(u))
        };
        out.push(format!(
            "{}/{} <- {}",
            g.name(u),
            j.jtype,
            reason(g, &j.reason)
        ));
        match j.reason {
            Reason::Anchor => return out,
            Reason::Dep { from, .. } | Reason::Conflict { with: from } => u = from,
            Reason::Isolate => return out,
        }
    }
    panic!("reason chain of {unit} does not end at the anchor: {out:?}")
}

// ---- What a start pulls in --------------------------------------------------------------

#[test]
fn start_pulls_requirements_and_wants() {
    let g = graph("");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires",
            "c.service/start <- a.service Wants",
        ]
    );
    // d is inactive: the stop its Conflicts= asks for is redundant.
    assert!(p.dropped.is_empty() && p.replaces.is_empty() && p.ignored.is_empty());
}

#[test]
fn start_stops_units_that_conflict_with_it_without_mattering() {
    let g = graph("d.service active");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires",
            "c.service/start <- a.service Wants",
            "d.service/stop <- conflict a.service",
        ]
    );
}

#[test]
fn conflicts_stop_matters_and_propagates_along_bound_by_part_of_and_propagates_stop_to() {
    let g = graph("a.service active\ne.service active\nf.service active\np.service active");
    let p = ok(&g, "d.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "d.service/start! <- anchor",
            "a.service/stop! <- conflict d.service",
            "f.service/stop! <- a.service BoundBy",
            "e.service/stop! <- a.service ConsistsOf",
            "p.service/stop! <- a.service PropagatesStopTo",
        ]
    );
}

#[test]
fn active_requirements_are_redundant_and_their_wants_are_collected() {
    // b already runs; its own Wants= target is not started again by starting a (systemd
    // drops the redundant b/start and garbage-collects what only it pulled in).
    let g = graph("b.service active\nb.service Wants w.service");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "c.service/start <- a.service Wants"
        ]
    );
}

#[test]
fn the_anchor_is_never_redundant() {
    let g = graph("a.service active\nb.service active\nc.service active");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(render(&g, &p), ["a.service/start! <- anchor"]);
}

// ---- Stop and restart propagation ---------------------------------------------------------

#[test]
fn stop_propagates_to_required_by_and_onwards() {
    let g = graph(
        "a.service active\nb.service active\ne.service active\nf.service active\n\
         r.service active\nh.service active",
    );
    let p = ok(&g, "b.service", Stop, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "b.service/stop! <- anchor",
            "a.service/stop! <- b.service RequiredBy",
            "f.service/stop! <- a.service BoundBy",
            "e.service/stop! <- a.service ConsistsOf",
        ]
    );
    // Stopping a Requisite= target stops its requirer too (RequisiteOf).
    let p = ok(&g, "h.service", Stop, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "h.service/stop! <- anchor",
            "r.service/stop! <- h.service RequisiteOf"
        ]
    );
}

#[test]
fn stopping_a_unit_that_did_not_load_is_allowed() {
    let g = graph("gone.service not-loaded active");
    let p = ok(&g, "gone.service", Stop, Replace);
    assert_eq!(render(&g, &p), ["gone.service/stop! <- anchor"]);
}

#[test]
fn restart_propagates_as_try_restart() {
    // e (PartOf a) runs and is restarted; f (BindsTo a) does not run and is left alone.
    let g = graph("a.service active\nb.service active\nc.service active\ne.service active");
    let p = ok(&g, "a.service", Restart, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/restart! <- anchor",
            "e.service/restart! <- a.service ConsistsOf"
        ]
    );
    // A restart also (re)starts requirements that are not running.
    let g = graph("a.service active\ne.service active");
    let p = ok(&g, "a.service", Restart, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/restart! <- anchor",
            "b.service/start! <- a.service Requires",
            "c.service/start <- a.service Wants",
            "e.service/restart! <- a.service ConsistsOf",
        ]
    );
}

// ---- Collapse of state-dependent types ---------------------------------------------------

#[test]
fn try_restart_of_an_inactive_unit_is_a_nop() {
    let g = graph("");
    let p = ok(&g, "a.service", TryRestart, Replace);
    assert_eq!(render(&g, &p), ["a.service/nop! <- anchor"]);
    let g = graph("a.service active\nb.service active\nc.service active");
    let p = ok(&g, "a.service", TryRestart, Replace);
    assert_eq!(render(&g, &p), ["a.service/restart! <- anchor"]);
}

#[test]
fn reload_or_start_collapses_on_the_unit_state() {
    let g = graph("a.service active");
    assert_eq!(
        render(&g, &ok(&g, "a.service", ReloadOrStart, Replace)),
        ["a.service/reload! <- anchor"]
    );
    let g = graph("");
    assert_eq!(
        render(&g, &ok(&g, "a.service", ReloadOrStart, Replace)),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires",
            "c.service/start <- a.service Wants",
        ]
    );
    let g = graph("");
    assert_eq!(
        render(&g, &ok(&g, "a.service", TryReload, Replace)),
        ["a.service/nop! <- anchor"]
    );
}

#[test]
fn reload_of_a_unit_that_cannot_reload_is_refused() {
    let g = graph("n.service active");
    assert_eq!(
        err(&g, "n.service", Reload, Replace),
        "job type reload is not applicable for unit n.service"
    );
}

// ---- Modes that ignore dependencies --------------------------------------------------------

#[test]
fn ignore_modes_add_no_dependency_at_all() {
    // Both pass ignore_requirements=true in systemd: not even Wants= is followed.
    let g = graph("d.service active");
    for mode in [IgnoreDependencies, IgnoreRequirements] {
        let p = ok(&g, "a.service", Start, mode);
        assert_eq!(render(&g, &p), ["a.service/start! <- anchor"], "{mode}");
    }
}

// ---- Units that did not load -----------------------------------------------------------------

#[test]
fn a_required_unit_that_did_not_load_fails_the_plan() {
    let g = graph("b.service not-loaded");
    assert_eq!(
        err(&g, "a.service", Start, Replace),
        "unit b.service is not loaded"
    );
    let g = graph("a.service not-loaded");
    assert_eq!(
        err(&g, "a.service", Start, Replace),
        "unit a.service is not loaded"
    );
}

#[test]
fn a_wanted_unit_that_did_not_load_is_ignored() {
    let g = graph("c.service not-loaded");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires"
        ]
    );
    assert_eq!(p.ignored.len(), 1);
    assert_eq!(g.name(p.ignored[0].unit), "c.service");
    assert_eq!(
        p.ignored[0].error.to_string(),
        "unit c.service is not loaded"
    );
}

#[test]
fn a_wanted_unit_whose_requirement_did_not_load_is_dropped_with_its_branch() {
    let g = graph("c.service Requires m.service\nc.service Wants c2.service\nm.service not-loaded");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires"
        ]
    );
    let ignored: Vec<String> = p
        .ignored
        .iter()
        .map(|i| format!("{}/{}: {}", g.name(i.unit), i.jtype, i.error))
        .collect();
    assert_eq!(
        ignored,
        [
            "m.service/start: unit m.service is not loaded",
            "c.service/start: unit m.service is not loaded",
            "c2.service/start: unit m.service is not loaded",
        ]
    );
}

#[test]
fn failure_propagation_does_not_depend_on_discovery_order() {
    // m is reached first through a Wants= branch and only later through a Requires= chain;
    // the requirement still fails the plan (systemd's recursion would depend on the order).
    let g = graph(
        "t.target Wants x.service\nt.target Requires y.service\nx.service Requires m.service\n\
         y.service Requires z.service\nz.service Requires m.service\nm.service not-loaded",
    );
    assert_eq!(
        err(&g, "t.target", Start, Replace),
        "unit m.service is not loaded"
    );
}

// ---- Requisite= ------------------------------------------------------------------------------

#[test]
fn requisite_on_an_inactive_unit_is_refused() {
    let g = graph("");
    assert_eq!(
        err(&g, "r.service", Start, Replace),
        "requisite h.service is not active (required by r.service)"
    );
}

#[test]
fn requisite_on_an_active_unit_is_redundant() {
    let g = graph("h.service active");
    assert_eq!(
        render(&g, &ok(&g, "r.service", Start, Replace)),
        ["r.service/start! <- anchor"]
    );
}

#[test]
fn requisite_on_a_unit_with_a_queued_start_is_verified_later() {
    let g = graph("h.service job=start");
    assert_eq!(
        render(&g, &ok(&g, "r.service", Start, Replace)),
        [
            "r.service/start! <- anchor",
            "h.service/verify-active! <- r.service Requisite"
        ]
    );
}

#[test]
fn requisite_also_required_becomes_a_start() {
    // VerifyActive merges into Start.
    let g = graph("r.service Requires h.service");
    assert_eq!(
        render(&g, &ok(&g, "r.service", Start, Replace)),
        // The Requires= link was added first, so it is the reason.
        [
            "r.service/start! <- anchor",
            "h.service/start! <- r.service Requires"
        ]
    );
}

#[test]
fn requisite_of_a_wanted_unit_fails_at_run_time_only() {
    let g = graph("a.service Wants r.service");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires",
            "c.service/start <- a.service Wants",
            "r.service/start <- a.service Wants",
            "h.service/verify-active <- r.service Requisite",
        ]
    );
}

// ---- Merging jobs of one unit ------------------------------------------------------------------

#[test]
fn unmergeable_job_that_does_not_matter_is_dropped() {
    // s needs b; k is only wanted, but k's Conflicts= wants b stopped. The stop does not
    // matter to s, so it is dropped, and with it k (whose requirement it was).
    let g = graph(
        "s.target Requires b.service\ns.target Wants k.service\nk.service Conflicts b.service",
    );
    let p = ok(&g, "s.target", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "s.target/start! <- anchor",
            "b.service/start! <- s.target Requires"
        ]
    );
}

#[test]
fn unmergeable_jobs_that_both_matter_are_refused() {
    let g = graph("s.target Requires b.service k.service\nk.service Conflicts b.service");
    assert_eq!(
        err(&g, "s.target", Start, Replace),
        "transaction contains conflicting jobs 'start' and 'stop' for b.service, and both \
         matter (probably contradicting requirement dependencies)"
    );
}

#[test]
fn neither_matters_the_stop_asked_for_by_conflicts_wins() {
    // Both wanted; k's Conflicts= asks for b's stop, so b's start is dropped.
    let g = graph(
        "s.target Wants b.service k.service\nk.service Conflicts b.service\nb.service active",
    );
    let p = ok(&g, "s.target", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "s.target/start! <- anchor",
            "k.service/start <- s.target Wants",
            "b.service/stop <- conflict k.service",
        ]
    );
}

#[test]
fn neither_matters_a_stop_pulled_by_conflicted_by_loses() {
    // From b's point of view: b Conflicts= k. Starting k would stop b (ConflictedBy, not
    // asked for by b) and starting b stops k (asked for by b): b wins.
    let g = graph(
        "s.target Wants b.service k.service\nb.service Conflicts k.service\nk.service active",
    );
    let p = ok(&g, "s.target", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "s.target/start! <- anchor",
            "b.service/start <- s.target Wants",
            "k.service/stop <- conflict b.service",
        ]
    );
}

// ---- Ordering cycles ---------------------------------------------------------------------------

#[test]
fn ordering_cycle_through_a_wanted_job_is_broken() {
    let g = graph(
        "w.target Requires x.service\nw.target Wants y.service\n\
         x.service After y.service\ny.service After x.service",
    );
    let p = ok(&g, "w.target", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "w.target/start! <- anchor",
            "x.service/start! <- w.target Requires"
        ]
    );
    assert_eq!(
        p.dropped,
        [Dropped {
            unit: id(&g, "y.service"),
            cycle: vec![id(&g, "x.service"), id(&g, "y.service")],
        }]
    );
}

#[test]
fn ordering_cycle_of_jobs_that_matter_is_refused() {
    let g = graph(
        "w.target Requires x.service y.service\nx.service After y.service\ny.service After x.service",
    );
    assert_eq!(
        err(&g, "w.target", Start, Replace),
        "ordering cycle between x.service and y.service that cannot be broken: \
         x.service/start and y.service/start both matter"
    );
    let g = graph(
        "w.target Requires x.service y.service z.service\nx.service Before y.service\n\
         y.service Before z.service\nz.service Before x.service",
    );
    assert_eq!(
        err(&g, "w.target", Start, Replace),
        "ordering cycle between x.service, y.service and z.service that cannot be broken: \
         x.service/start, y.service/start and z.service/start all matter"
    );
}

#[test]
fn ordering_cycle_prefers_dropping_the_wanted_job() {
    // Cycle x -> y -> z -> x (each runs before the next). y is wanted, z is required by y:
    // neither matters. systemd would take z, the first one walking back from the point of
    // detection; the wanted y is preferred, and z goes with it as garbage.
    let g = graph(
        "w.target Requires x.service\nw.target Wants y.service\ny.service Requires z.service\n\
         y.service After x.service\nz.service After y.service\nx.service After z.service",
    );
    let p = ok(&g, "w.target", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "w.target/start! <- anchor",
            "x.service/start! <- w.target Requires"
        ]
    );
    assert_eq!(p.dropped.len(), 1);
    assert_eq!(g.name(p.dropped[0].unit), "y.service");
    assert_eq!(
        names(&g, &p.dropped[0].cycle),
        ["x.service", "y.service", "z.service"]
    );
}

#[test]
fn several_cycles_are_broken_one_after_the_other() {
    let g = graph(
        "w.target Requires x.service v.service\nw.target Wants y.service u.service\n\
         x.service After y.service\ny.service After x.service\n\
         v.service After u.service\nu.service After v.service",
    );
    let p = ok(&g, "w.target", Start, Replace);
    let dropped: Vec<&str> = p.dropped.iter().map(|d| g.name(d.unit)).collect();
    assert_eq!(dropped, ["y.service", "u.service"]);
    assert_eq!(p.jobs.len(), 3);
}

#[test]
fn start_and_stop_with_mutual_ordering_is_no_cycle() {
    // test-engine.c's start/stop ordering case: the stop of v goes first in either
    // direction of the ordering, so After= both ways does not form a cycle.
    let g = graph(
        "u.service Conflicts v.service\nu.service After v.service\nv.service After u.service\n\
         v.service active",
    );
    let p = ok(&g, "u.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "u.service/start! <- anchor",
            "v.service/stop! <- conflict u.service"
        ]
    );
    assert!(p.dropped.is_empty());
}

#[test]
fn ordering_cycle_through_a_queued_job_is_refused() {
    let g = graph(
        "pq.service Requires q.service\nq.service After x.service\nx.service After q.service\n\
         x.service job=start",
    );
    assert_eq!(
        err(&g, "pq.service", Start, Replace),
        "ordering cycle between q.service and x.service that cannot be broken: \
         q.service/start and x.service/start (already queued) cannot be dropped \
         (they matter or are already queued)"
    );
}

#[test]
fn ignore_dependencies_ignores_ordering_against_queued_jobs() {
    let g = graph("q.service After x.service\nx.service After q.service\nx.service job=start");
    assert!(run(&g, "q.service", Start, Replace).is_err());
    let p = ok(&g, "q.service", Start, IgnoreDependencies);
    assert_eq!(render(&g, &p), ["q.service/start! <- anchor"]);
    // ignore-requirements still honours ordering.
    assert!(run(&g, "q.service", Start, IgnoreRequirements).is_err());
}

// ---- Queued jobs and modes -----------------------------------------------------------------------

#[test]
fn fail_mode_refuses_to_replace_a_queued_job() {
    let g = graph("b.service job=stop");
    assert_eq!(
        err(&g, "a.service", Start, Fail),
        "transaction for a.service/start is destructive (b.service has 'stop' job queued, \
         but 'start' is included in transaction)"
    );
}

#[test]
fn replace_mode_replaces_a_queued_job() {
    let g = graph("b.service job=stop");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(names(&g, &p.replaces), ["b.service"]);
    assert_eq!(p.jobs.len(), 3);
}

#[test]
fn irreversible_queued_jobs_are_never_replaced() {
    let g = graph("b.service job=stop!");
    for mode in [Replace, ReplaceIrreversibly, Flush] {
        assert_eq!(
            err(&g, "a.service", Start, mode),
            "transaction for a.service/start is destructive (b.service has 'stop' job queued, \
             but 'start' is included in transaction)",
            "{mode}"
        );
    }
    // Without dependencies the plan does not touch b.
    assert!(run(&g, "a.service", Start, IgnoreRequirements).is_ok());
}

#[test]
fn fail_mode_drops_wanted_jobs_that_would_replace_queued_jobs_or_stop_running_units() {
    // c is only wanted and has a stop queued; d runs and would be stopped without
    // mattering. In mode fail both are left alone (transaction_minimize_impact()).
    let g = graph("c.service job=stop\nd.service active");
    let p = ok(&g, "a.service", Start, Fail);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires"
        ]
    );
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(p.jobs.len(), 4);
    assert_eq!(names(&g, &p.replaces), ["c.service"]);
}

#[test]
fn queued_jobs_that_merge_are_not_replaced() {
    let g = graph("b.service job=start\nc.service job=restart");
    let p = ok(&g, "a.service", Start, Fail);
    assert!(p.replaces.is_empty());
    assert_eq!(p.jobs.len(), 3);
}

#[test]
fn a_redundant_job_is_kept_to_cancel_a_conflicting_queued_job() {
    let g = graph("b.service active job=stop\nc.service active");
    let p = ok(&g, "a.service", Start, Replace);
    assert_eq!(
        render(&g, &p),
        [
            "a.service/start! <- anchor",
            "b.service/start! <- a.service Requires"
        ]
    );
    assert_eq!(names(&g, &p.replaces), ["b.service"]);
}

#[test]
fn flush_cancels_every_other_queued_job() {
    let g = graph(
        "z.service job=start\nl.service job=start ignore-on-isolate\ni.service job=stop!\n\
         c.service job=start",
    );
    let p = ok(&g, "a.service", Start, Flush);
    // c's queued start merges; l is IgnoreOnIsolate=; i's job is irreversible.
    assert_eq!(names(&g, &p.replaces), ["z.service"]);
    let p = ok(&g, "a.service", Start, Replace);
    assert!(p.replaces.is_empty());
}

// ---- Isolate -------------------------------------------------------------------------------------

const ISOLATE: &str = "
g.target allow-isolate
g.target Wants m.service
m.service active
m.service Wants q.service
o.service active
l.service active ignore-on-isolate
i.service
j.service job=start
o2.service active
o2.service BindsTo o.service
";

#[test]
fn isolate_stops_everything_else() {
    let g = graph(ISOLATE);
    let p = ok(&g, "g.target", Start, Isolate);
    let mut rendered = render(&g, &p);
    // Units of BASE that are inactive are left alone; check the interesting part.
    rendered.retain(|j| !j.starts_with(['a', 'b', 'c', 'd', 'e', 'f', 'h', 'n', 'p', 'r']));
    assert_eq!(
        rendered,
        [
            "g.target/start! <- anchor",
            // m runs already (its start was redundant), but isolate collects no garbage:
            // what m wants is still started.
            "q.service/start <- m.service Wants",
            // Units are visited in id order; o2 is stopped through o before its own turn.
            "o.service/stop! <- isolate",
            "o2.service/stop! <- o.service BoundBy",
            "j.service/stop! <- isolate",
        ]
    );
    assert_eq!(names(&g, &p.replaces), ["j.service"]);
}

#[test]
fn isolate_needs_allow_isolate_and_a_start() {
    let g = graph(ISOLATE);
    assert_eq!(
        err(&g, "a.service", Start, Isolate),
        "unit a.service may not be isolated"
    );
    assert_eq!(
        err(&g, "g.target", Stop, Isolate),
        "isolate is only valid for start jobs, not for g.target/stop"
    );
}

// ---- Provenance and determinism ----------------------------------------------------------------

#[test]
fn reasons_form_a_chain_back_to_the_anchor() {
    let g = graph(
        "t.target Wants u1.service\nu1.service Requires u2.service\nu2.service BindsTo u3.service",
    );
    let p = ok(&g, "t.target", Start, Replace);
    assert_eq!(
        why(&g, &p, "u3.service"),
        [
            "u3.service/start <- u2.service BindsTo",
            "u2.service/start <- u1.service Requires",
            "u1.service/start <- t.target Wants",
            "t.target/start <- anchor",
        ]
    );
}

#[test]
fn a_job_that_matters_names_its_requirement_chain() {
    // v is wanted directly by t, but also required through u1: its reason is the
    // requirement, even though the Wants= edge is shorter.
    let g = graph(
        "t.target Wants v.service\nt.target Requires u1.service\nu1.service Requires v.service",
    );
    let p = ok(&g, "t.target", Start, Replace);
    assert_eq!(
        why(&g, &p, "v.service"),
        [
            "v.service/start <- u1.service Requires",
            "u1.service/start <- t.target Requires",
            "t.target/start <- anchor",
        ]
    );
    assert!(p.jobs.iter().all(|j| j.matters_to_anchor));
}

#[test]
fn plans_are_deterministic() {
    let g = graph(&format!("{ISOLATE}\nd.service active\nc.service job=stop"));
    for (unit, t, mode) in [
        ("a.service", Start, Replace),
        ("g.target", Start, Isolate),
        ("a.service", Restart, Fail),
    ] {
        let first = run(&g, unit, t, mode);
        for _ in 0..5 {
            assert_eq!(run(&g, unit, t, mode), first);
        }
    }
}

#[test]
fn self_dependencies_are_ignored() {
    let mut g = TestGraph::new();
    let a = g.unit("a.service");
    g.dep_ids(a, Dep::Requires, a).dep_ids(a, Dep::After, a);
    let p = plan(&g, a, Start, Replace).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.jobs.len(), 1);
    assert!(TestGraph::parse("a.service Requires a.service").is_err());
}

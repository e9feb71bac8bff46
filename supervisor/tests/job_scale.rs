//! 10,000-unit graphs: planning must give the right plan and must not recurse (a 10,000-long
//! chain would overflow a recursive implementation's stack). How long it takes is measured by
//! `make bench`, not asserted here: timed tests are flaky on a loaded machine.

use std::time::Instant;

use cairn_supervisor::job::graph::{ActiveState, Dep, TestGraph, UnitId};
use cairn_supervisor::job::transaction::{plan, Plan};
use cairn_supervisor::job::types::{JobMode, JobType};

const N: u32 = 10_000;
fn timed(what: &str, f: impl FnOnce() -> Plan) -> Plan {
    let t = Instant::now();
    let p = f();
    let took = t.elapsed();
    println!("{what}: {} jobs in {took:?}", p.jobs.len());
    p
}

fn ok(g: &TestGraph, u: UnitId, t: JobType, mode: JobMode) -> Plan {
    plan(g, u, t, mode).unwrap_or_else(|e| panic!("refused: {e}"))
}

/// big.target requires (even) or wants (odd) 10,000 services, each ordered before it and
/// after a common dependency they all require.
fn fan_out() -> (TestGraph, UnitId, UnitId) {
    let mut g = TestGraph::new();
    let target = g.unit("big.target");
    let common = g.unit("common.service");
    for i in 0..N {
        let s = g.unit(&format!("s{i}.service"));
        let dep = if i % 2 == 0 {
            Dep::Requires
        } else {
            Dep::Wants
        };
        g.dep_ids(target, dep, s)
            .dep_ids(s, Dep::Before, target)
            .dep_ids(s, Dep::Requires, common)
            .dep_ids(s, Dep::After, common);
    }
    (g, target, common)
}

/// u0 requires and starts after u1, which requires and starts after u2, ... u9999.
fn chain() -> (TestGraph, Vec<UnitId>) {
    let mut g = TestGraph::new();
    let ids: Vec<UnitId> = (0..N).map(|i| g.unit(&format!("u{i}.service"))).collect();
    for w in ids.windows(2) {
        g.dep_ids(w[0], Dep::Requires, w[1])
            .dep_ids(w[0], Dep::After, w[1]);
    }
    (g, ids)
}

#[test]
fn fan_out_of_10000_units() {
    let (g, target, common) = fan_out();
    let p = timed("fan-out start", || {
        ok(&g, target, JobType::Start, JobMode::Replace)
    });
    assert_eq!(p.jobs.len(), N as usize + 2);
    assert!(p.dropped.is_empty());
    assert!(p
        .jobs
        .iter()
        .any(|j| j.unit == common && j.matters_to_anchor));

    // Stopping the common dependency stops all 10,000 services (RequiredBy), and the
    // target through the ones it requires.
    let mut g = g;
    for u in 0..N + 2 {
        g.set_state(u, ActiveState::Active);
    }
    let p = timed("fan-out stop", || {
        ok(&g, common, JobType::Stop, JobMode::Replace)
    });
    assert_eq!(p.jobs.len(), N as usize + 2);

    // Isolating to the target with everything else running.
    g.set_allow_isolate(target, true);
    let extra = g.unit("extra.service");
    g.set_state(extra, ActiveState::Active);
    let p = timed("fan-out isolate", || {
        ok(&g, target, JobType::Start, JobMode::Isolate)
    });
    // The anchor plus the stop of the one unit outside the target; the rest runs already.
    assert_eq!(p.jobs.len(), 2);
}

#[test]
fn chain_of_10000_units() {
    let (g, ids) = chain();
    let first = ids[0];
    let last = ids[ids.len() - 1];
    let p = timed("chain start", || {
        ok(&g, first, JobType::Start, JobMode::Replace)
    });
    assert_eq!(p.jobs.len(), N as usize);
    assert!(p.jobs.iter().all(|j| j.matters_to_anchor));

    // Stopping the end of the chain propagates along 10,000 RequiredBy edges.
    let mut g = g;
    for &u in &ids {
        g.set_state(u, ActiveState::Active);
    }
    let p = timed("chain stop", || {
        ok(&g, last, JobType::Stop, JobMode::Replace)
    });
    assert_eq!(p.jobs.len(), N as usize);

    // Restart propagates as try-restart up the whole chain.
    let p = timed("chain restart", || {
        ok(&g, last, JobType::Restart, JobMode::Replace)
    });
    assert_eq!(p.jobs.len(), N as usize);
    assert!(p.jobs.iter().all(|j| j.jtype == JobType::Restart));
}

#[test]
fn chain_of_10000_units_closed_into_a_cycle_by_a_wanted_unit() {
    // u9999 wants w, starts after w, and w starts after u0: a 10,001-job cycle broken by
    // dropping w.
    let (mut g, ids) = chain();
    let (first, last) = (ids[0], ids[ids.len() - 1]);
    let w = g.unit("w.service");
    g.dep_ids(last, Dep::Wants, w)
        .dep_ids(last, Dep::After, w)
        .dep_ids(w, Dep::After, first);
    let p = timed("chain cycle", || {
        ok(&g, first, JobType::Start, JobMode::Replace)
    });
    assert_eq!(p.jobs.len(), N as usize);
    assert_eq!(p.dropped.len(), 1);
    assert_eq!(p.dropped[0].unit, w);
    assert_eq!(p.dropped[0].cycle.len(), N as usize + 1);

    // With Requires= instead, nothing can be dropped.
    g.dep_ids(last, Dep::Requires, w);
    let e = plan(&g, first, JobType::Start, JobMode::Replace);
    assert!(
        matches!(e, Err(cairn_supervisor::job::transaction::TxError::OrderingCycle { ref cycle, .. }) if cycle.len() == N as usize + 1)
    );
}

#[test]
fn five_thousand_separate_cycles() {
    // Each x_i is required and y_i wanted, ordered after each other: 5,000 cycles, each
    // broken by dropping y_i. Searching again from scratch after each drop would be
    // quadratic.
    let mut g = TestGraph::new();
    let target = g.unit("t.target");
    for i in 0..N / 2 {
        let x = g.unit(&format!("x{i}.service"));
        let y = g.unit(&format!("y{i}.service"));
        g.dep_ids(target, Dep::Requires, x)
            .dep_ids(target, Dep::Wants, y)
            .dep_ids(x, Dep::After, y)
            .dep_ids(y, Dep::After, x);
    }
    let p = timed("5000 cycles", || {
        ok(&g, target, JobType::Start, JobMode::Replace)
    });
    assert_eq!(p.dropped.len(), N as usize / 2);
    assert_eq!(p.jobs.len(), N as usize / 2 + 1);
}

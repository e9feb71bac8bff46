//! Exhaustive checks of the job-type algebra (every pair and every triple, both unit states).

use std::cmp::Ordering;

use cairn_supervisor::job::graph::ActiveState;
use cairn_supervisor::job::types::{
    collapse, is_conflicting, is_redundant, is_superset, job_order, merge, merge_and_collapse,
    mergeable, runs_after, JobMode, JobResult, JobType,
};
use JobType::*;

const STATES: [bool; 2] = [false, true];

/// The types `collapse` can return: systemd's merging domain plus `Nop`.
fn collapsed_types() -> impl Iterator<Item = JobType> {
    JobType::ALL.into_iter().filter(|t| !t.is_state_dependent())
}

#[test]
fn merge_is_symmetric() {
    for a in JobType::ALL {
        for b in JobType::ALL {
            assert_eq!(merge(a, b), merge(b, a), "{a} {b}");
        }
    }
}

#[test]
fn merge_is_idempotent() {
    for a in JobType::ALL {
        assert_eq!(merge(a, a), Some(a), "{a}");
    }
}

#[test]
fn nop_is_the_identity() {
    for a in JobType::ALL {
        assert_eq!(merge(Nop, a), Some(a), "{a}");
    }
}

#[test]
fn stop_merges_only_with_itself_and_nop() {
    for a in JobType::ALL {
        assert_eq!(mergeable(Stop, a), matches!(a, Stop | Nop), "{a}");
    }
}

/// The 5x5 core is systemd's `job_merging_table[]`, transcribed from its lower triangle.
#[test]
fn core_matches_systemd_job_merging_table() {
    let systemd: [(JobType, JobType, Option<JobType>); 10] = [
        (VerifyActive, Start, Some(Start)),
        (Stop, Start, None),
        (Stop, VerifyActive, None),
        (Reload, Start, Some(ReloadOrStart)),
        (Reload, VerifyActive, Some(Reload)),
        (Reload, Stop, None),
        (Restart, Start, Some(Restart)),
        (Restart, VerifyActive, Some(Restart)),
        (Restart, Stop, None),
        (Restart, Reload, Some(Restart)),
    ];
    for (a, b, want) in systemd {
        assert_eq!(merge(a, b), want, "{a} {b}");
    }
}

/// Law 6 of the table: the extension to state-dependent types is pointwise.
#[test]
fn merge_commutes_with_collapse() {
    for a in JobType::ALL {
        for b in JobType::ALL {
            let per_state: Vec<Option<JobType>> = STATES
                .iter()
                .map(|&s| merge_and_collapse(collapse(a, s), collapse(b, s), s))
                .collect();
            match merge(a, b) {
                Some(r) => {
                    for (&s, want) in STATES.iter().zip(&per_state) {
                        assert_eq!(Some(collapse(r, s)), *want, "{a} {b} active={s}");
                    }
                }
                None => {
                    // Undefined in some state, or no single type behaves like that.
                    let representable = per_state.iter().all(Option::is_some)
                        && JobType::ALL.iter().any(|&r| {
                            STATES
                                .iter()
                                .zip(&per_state)
                                .all(|(&s, want)| Some(collapse(r, s)) == *want)
                        });
                    assert!(!representable, "{a} {b} should merge");
                }
            }
        }
    }
}

/// systemd's job.c: "If the resulting type is collapsed immediately afterwards, merging is
/// associative". Precisely: for every a, b, c of all nine types and each unit state,
/// `collapse(merge(collapse(merge(a, b)), c)) == collapse(merge(a, collapse(merge(b, c))))`
/// whenever both sides are defined.
#[test]
fn merge_then_collapse_is_associative() {
    let mut checked = 0;
    for s in STATES {
        for a in JobType::ALL {
            for b in JobType::ALL {
                for c in JobType::ALL {
                    let left =
                        merge_and_collapse(a, b, s).and_then(|ab| merge_and_collapse(ab, c, s));
                    let right =
                        merge_and_collapse(b, c, s).and_then(|bc| merge_and_collapse(a, bc, s));
                    if let (Some(l), Some(r)) = (left, right) {
                        assert_eq!(l, r, "({a} {b}) {c} vs {a} ({b} {c}), active={s}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 200, "only {checked} defined triples");
}

/// On systemd's merging domain (the collapsed types other than `Nop`), for each unit state:
/// mergeability is transitive, and "if a merged with b cannot be merged with c, then a or b
/// cannot be merged with c" (which `delete_one_unmergeable_job()` relies on).
#[test]
fn mergeability_is_transitive_on_the_merging_domain() {
    let domain: Vec<JobType> = JobType::ALL
        .into_iter()
        .filter(|t| t.is_mergeable())
        .collect();
    assert_eq!(
        domain,
        collapsed_types().filter(|&t| t != Nop).collect::<Vec<_>>()
    );
    for s in STATES {
        for &a in &domain {
            for &b in &domain {
                for &c in &domain {
                    if mergeable(a, b) && mergeable(b, c) {
                        assert!(mergeable(a, c), "{a} {b} {c}");
                    }
                    if let Some(ab) = merge_and_collapse(a, b, s) {
                        if !mergeable(ab, c) {
                            assert!(
                                !mergeable(a, c) || !mergeable(b, c),
                                "{a} {b} {c} active={s}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Transitivity does not extend to `Nop` or the state-dependent types; documented here so
/// that nobody relies on it.
#[test]
fn mergeability_is_not_transitive_outside_the_domain() {
    assert!(mergeable(Stop, Nop) && mergeable(Nop, Start) && !mergeable(Stop, Start));
    assert!(mergeable(TryRestart, Restart) && mergeable(Restart, Start));
    assert!(!mergeable(TryRestart, Start));
}

#[test]
fn superset_is_consistent_with_merge() {
    for a in JobType::ALL {
        for b in JobType::ALL {
            assert_eq!(is_superset(a, b), merge(a, b) == Some(a), "{a} {b}");
        }
        assert!(is_superset(a, Nop));
        assert!(is_superset(Restart, a) || matches!(a, Stop), "{a}");
    }
    assert!(!is_superset(Nop, Start));
    assert!(is_superset(Start, VerifyActive) && !is_superset(VerifyActive, Start));
}

#[test]
fn conflicting_is_the_complement_of_mergeable() {
    for a in JobType::ALL {
        for b in JobType::ALL {
            assert_eq!(is_conflicting(a, b), !mergeable(a, b), "{a} {b}");
        }
    }
}

#[test]
fn collapse_matches_systemd_and_is_idempotent() {
    for s in STATES {
        for t in JobType::ALL {
            let c = collapse(t, s);
            assert!(!c.is_state_dependent(), "{t}");
            assert_eq!(collapse(c, s), c);
            if !t.is_state_dependent() {
                assert_eq!(c, t);
            }
        }
    }
    assert_eq!(collapse(TryRestart, true), Restart);
    assert_eq!(collapse(TryRestart, false), Nop);
    assert_eq!(collapse(TryReload, true), Reload);
    assert_eq!(collapse(TryReload, false), Nop);
    assert_eq!(collapse(ReloadOrStart, true), Reload);
    assert_eq!(collapse(ReloadOrStart, false), Start);
    // Start+Reload lies outside the in-transaction types until collapsed.
    assert_eq!(merge_and_collapse(Start, Reload, true), Some(Reload));
    assert_eq!(merge_and_collapse(Start, Reload, false), Some(Start));
}

#[test]
fn redundancy_matches_systemd() {
    use ActiveState::*;
    let cases = [
        (Start, Active, true),
        (Start, Reloading, true),
        (Start, Activating, false),
        (Start, Inactive, false),
        (VerifyActive, Active, true),
        (VerifyActive, Failed, false),
        (Stop, Inactive, true),
        (Stop, Failed, true),
        (Stop, Deactivating, false),
        (Stop, Maintenance, false),
        (Reload, Reloading, true),
        (Reload, Active, false),
        (Restart, Activating, true),
        (Restart, Active, false),
        (Nop, Active, true),
        (TryRestart, Inactive, true),
        (TryRestart, Active, false),
    ];
    for (t, s, want) in cases {
        assert_eq!(is_redundant(t, s), want, "{t} {s:?}");
    }
}

/// systemd's job_compare() comment, for units a and b with `b After=a`.
#[test]
fn job_order_matches_systemd_examples() {
    // a_after_b=false: "a Before=b" is the same fact as "b After=a".
    let a_before_b = false;
    // start a + start b: start a first.
    assert_eq!(job_order(Start, Start, a_before_b), Ordering::Less);
    // start a + stop b: stop b first.
    assert_eq!(job_order(Start, Stop, a_before_b), Ordering::Greater);
    // stop a + start b: stop a first.
    assert_eq!(job_order(Stop, Start, a_before_b), Ordering::Less);
    // stop a + stop b: stop b first.
    assert_eq!(job_order(Stop, Stop, a_before_b), Ordering::Greater);
    // A restart begins as a stop.
    assert_eq!(job_order(Start, Restart, a_before_b), Ordering::Greater);
    assert!(runs_after(Start, Stop, a_before_b));
    assert!(runs_after(Start, Start, true));
    assert!(!runs_after(Stop, Start, true));
}

#[test]
fn job_order_is_antisymmetric_and_nop_is_unordered() {
    for a in JobType::ALL {
        for b in JobType::ALL {
            for after in STATES {
                assert_eq!(
                    job_order(a, b, after),
                    job_order(b, a, !after).reverse(),
                    "{a} {b} {after}"
                );
                let independent = job_order(a, b, after) == Ordering::Equal;
                assert_eq!(independent, a == Nop || b == Nop, "{a} {b}");
            }
        }
    }
}

#[test]
fn names_round_trip() {
    for t in JobType::ALL {
        assert_eq!(JobType::parse(t.as_str()), Some(t));
    }
    for m in JobMode::ALL {
        assert_eq!(JobMode::parse(m.as_str()), Some(m));
    }
    assert_eq!(
        JobMode::parse("ignore-requirements"),
        Some(JobMode::IgnoreRequirements)
    );
    assert_eq!(JobMode::parse("bogus"), None);
    assert_eq!(JobType::VerifyActive.as_str(), "verify-active");
    let results: Vec<&str> = JobResult::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        results,
        [
            "done",
            "canceled",
            "timeout",
            "failed",
            "dependency",
            "skipped",
            "invalid",
            "assert",
            "unsupported"
        ]
    );
    for s in ActiveState::ALL {
        assert_eq!(ActiveState::parse(s.as_str()), Some(s));
    }
}

//! Step 8: ordering cycles (systemd's `transaction_verify_order()` /
//! `transaction_verify_order_one()`), as an iterative depth-first search.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Dropped, JobIdx, Tx, TxError};
use crate::job::graph::{Dep, Graph, UnitId};
use crate::job::types::{job_order, JobType};

/// A vertex of the ordering graph: the transaction's job for a unit or, if it has none,
/// the unit's queued job (systemd follows queued jobs too, so that a new job cannot close a
/// cycle through jobs that are already waiting).
#[derive(Debug, Clone, Copy)]
struct Node {
    jtype: JobType,
    ignore_order: bool,
    /// The transaction job, if it is one.
    job: Option<JobIdx>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// On the current depth-first path (systemd: `marker != NULL`).
    OnPath,
    /// Fully explored, no cycle reachable (systemd: same generation, `marker == NULL`).
    Done,
}

/// How one depth-first search ended.
enum Search {
    Acyclic,
    /// A cycle was broken. `vertex_changed`: a dropped job's unit has a queued job, which now
    /// stands in for it with other edges, so earlier "cycle-free" verdicts may be stale.
    Broke {
        vertex_changed: bool,
    },
}

struct Frame {
    unit: UnitId,
    succ: Vec<UnitId>,
    next: usize,
}

impl<G: Graph> Tx<'_, G> {
    fn node(&self, u: UnitId) -> Option<Node> {
        if let Some(j) = self.job_of(u) {
            return self.jobs.get(j).map(|job| Node {
                jtype: job.jtype,
                ignore_order: job.ignore_order,
                job: Some(j),
            });
        }
        self.g.installed_job(u).map(|(jtype, _)| Node {
            jtype,
            ignore_order: false,
            job: None,
        })
    }

    /// The units whose job `u`'s job runs before, i.e. the "before" edges of the job
    /// execution order: each of `u`'s `Before=`/`After=` units whose job compares greater
    /// under [`job_order`] (which also makes nops and ignore-order jobs edge-less).
    fn successors(&self, u: UnitId) -> Vec<UnitId> {
        let Some(n) = self.node(u) else {
            return Vec::new();
        };
        if n.ignore_order {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (dep, a_after_b) in [(Dep::Before, false), (Dep::After, true)] {
            for v in self.g.deps(u, dep) {
                if v == u {
                    continue;
                }
                let Some(m) = self.node(v) else { continue };
                if !m.ignore_order && job_order(n.jtype, m.jtype, a_after_b) == Ordering::Less {
                    out.push(v);
                }
            }
        }
        out
    }

    /// Checks the execution order for cycles and breaks each one by dropping a job of the
    /// cycle that does not matter to the anchor, then looks again, until no cycle is left.
    ///
    /// Which job: walking the cycle backwards from where it was detected (as systemd does),
    /// the first one pulled in by a link that does not matter (typically `Wants=`), else the
    /// first that does not matter at all. Dropping it deletes the jobs that require it
    /// (up to the link that does not matter) and, outside isolate mode, whatever only it
    /// pulled in. A cycle with no such job fails the plan.
    ///
    /// systemd restarts the whole search after each drop. Dropping jobs only removes edges,
    /// so units already proven cycle-free stay so and are not searched again; that keeps the
    /// search near-linear even with thousands of cycles. The exception is a dropped unit with
    /// a queued job, whose vertex then changes type: the search then starts over.
    pub(super) fn verify_order(&mut self) -> Result<(), TxError> {
        let mut marks: BTreeMap<UnitId, Mark> = BTreeMap::new();
        // systemd starts a search from every job of the transaction; creation order keeps
        // the choice of dropped jobs deterministic. Dropping jobs never adds any, so the
        // list stays valid (dropped ones are skipped).
        let roots: Vec<UnitId> = self.live_jobs().map(|(_, j)| j.unit).collect();
        let mut i = 0;
        while let Some(&root) = roots.get(i) {
            if marks.contains_key(&root) || self.job_of(root).is_none() {
                i += 1;
                continue;
            }
            match self.search_from(root, &mut marks)? {
                Search::Acyclic => i += 1,
                // Roots before this one are still proven cycle-free: search this one again.
                Search::Broke {
                    vertex_changed: false,
                } => {}
                Search::Broke {
                    vertex_changed: true,
                } => {
                    marks.clear();
                    i = 0;
                }
            }
        }
        Ok(())
    }

    /// One depth-first search from `root` over the execution order. Stops at the first cycle,
    /// which it breaks (or fails on).
    fn search_from(
        &mut self,
        root: UnitId,
        marks: &mut BTreeMap<UnitId, Mark>,
    ) -> Result<Search, TxError> {
        marks.insert(root, Mark::OnPath);
        let mut path = vec![Frame {
            unit: root,
            succ: self.successors(root),
            next: 0,
        }];
        while let Some(top) = path.last_mut() {
            let Some(&next) = top.succ.get(top.next) else {
                marks.insert(top.unit, Mark::Done);
                path.pop();
                continue;
            };
            top.next += 1;
            match marks.get(&next) {
                Some(Mark::Done) => {}
                None => {
                    marks.insert(next, Mark::OnPath);
                    path.push(Frame {
                        unit: next,
                        succ: self.successors(next),
                        next: 0,
                    });
                }
                Some(Mark::OnPath) => {
                    let start = path.iter().position(|f| f.unit == next).unwrap_or(0);
                    let cycle: Vec<UnitId> = path.iter().skip(start).map(|f| f.unit).collect();
                    let victim = self.cycle_victim(&cycle)?;
                    let deleted = self.delete_gc(victim, true);
                    if let Some(u) = self.jobs.get(victim).map(|j| j.unit) {
                        self.dropped.push(Dropped { unit: u, cycle });
                    }
                    // The path is no longer a path; its units get searched again.
                    for f in &path {
                        marks.remove(&f.unit);
                    }
                    let vertex_changed = deleted.jobs.iter().any(|&j| {
                        self.jobs
                            .get(j)
                            .is_some_and(|job| self.g.installed_job(job.unit).is_some())
                    });
                    return Ok(Search::Broke { vertex_changed });
                }
            }
        }
        Ok(Search::Acyclic)
    }

    /// The job to drop to break `cycle`, or the error if none may be dropped.
    fn cycle_victim(&self, cycle: &[UnitId]) -> Result<JobIdx, TxError> {
        let mut first = None;
        for &u in cycle.iter().rev() {
            let Some(j) = self.node(u).and_then(|n| n.job) else {
                continue;
            };
            let Some(job) = self.jobs.get(j) else {
                continue;
            };
            if job.matters {
                continue;
            }
            let wanted = job
                .in_links
                .iter()
                .filter_map(|&l| self.links.get(l))
                .any(|l| l.alive && !l.matters);
            if wanted {
                return Ok(j);
            }
            first.get_or_insert(j);
        }
        first.ok_or_else(|| self.cycle_error(cycle))
    }

    fn cycle_error(&self, cycle: &[UnitId]) -> TxError {
        let mut all_in_tx = true;
        let jobs: Vec<String> = cycle
            .iter()
            .map(|&u| {
                let node = self.node(u);
                let t = node.map_or(JobType::Nop, |n| n.jtype);
                let queued = node.is_some_and(|n| n.job.is_none());
                all_in_tx &= !queued;
                let suffix = if queued { " (already queued)" } else { "" };
                format!("{}/{t}{suffix}", self.g.name(u))
            })
            .collect();
        let names: Vec<String> = cycle.iter().map(|&u| self.name(u)).collect();
        let detail = if all_in_tx {
            let quantifier = if jobs.len() == 2 { "both" } else { "all" };
            format!("{} {quantifier} matter", english_list(&jobs))
        } else {
            format!(
                "{} cannot be dropped (they matter or are already queued)",
                english_list(&jobs)
            )
        };
        TxError::OrderingCycle {
            cycle: cycle.to_vec(),
            units: english_list(&names),
            detail,
        }
    }
}

/// "a", "a and b", "a, b and c".
fn english_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

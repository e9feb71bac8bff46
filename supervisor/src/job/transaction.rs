//! Turning one request into a plan: systemd's `manager_add_job()` +
//! `transaction_add_job_and_dependencies()` + `transaction_activate()` (`src/core/transaction.c`),
//! minus the final "apply" step, which belongs to the caller.
//!
//! [`plan`] runs these numbered steps (the comments in the code use the same numbers):
//!
//! 1. Check the mode and collapse the anchor's type against its unit's state.
//! 2. Build: add the anchor job and, breadth-first from an explicit work queue, every job its
//!    dependencies pull in, each with the link (edge) that pulled it in; in isolate mode add a
//!    stop job for every other running unit.
//! 3. Resolve build failures: a job whose *required* dependency could not be added is
//!    removed together with every job that requires it; reaching the anchor fails the plan.
//! 4. Mark the jobs that matter to the anchor (reachable over requirement links only).
//! 5. Mode `fail` only: drop non-mattering jobs that would stop a running unit or replace a
//!    queued job.
//! 6. Merge the jobs of each unit into one; where two conflict, drop the one that does not
//!    matter (refuse if both matter). Merged types are collapsed against the unit's state.
//! 7. Collapse every type against its unit's state (a guarantee: no state-dependent type
//!    leaves the engine), then drop redundant jobs (starting an active unit, stopping an
//!    inactive one, ...).
//! 8. Find ordering cycles and break each by dropping a job that does not matter; refuse if a
//!    cycle consists of jobs that matter (or are already queued).
//! 9. Collect garbage: jobs nothing pulls in any more.
//! 10. cairn only: refuse if a `Requisite=` unit that matters is certainly not active.
//! 11. Check the plan against the queued jobs according to the mode.
//!
//! Between the deletions of steps 3, 5, 6, 7 and 8 jobs nothing pulls in any more are
//! garbage-collected at once, as systemd's `transaction_collect_garbage()` does between the
//! same steps (except in isolate mode, where systemd never collects garbage).
//!
//! # Deliberate differences from systemd 252
//!
//! * Order: systemd verifies ordering (8) before merging (6), and then looks at only one
//!   job per unit, the one added last, so its result depends on insertion order. Merging
//!   first gives every unit exactly one job for [`job_order`](crate::job::types::job_order) to
//!   compare, and lets a conflict between a wanted stop and a required start be settled by
//!   dropping the stop rather than by an unrelated cycle victim.
//! * Build failures (3) are resolved after building instead of aborting a depth-first
//!   recursion. The outcome no longer depends on which path reaches a unit first, and a
//!   `Wants=`-pulled job whose requirement cannot be added is removed with its branch
//!   (systemd leaves it in the transaction although it logs "ignoring").
//! * Garbage collection also removes groups of jobs that only pull each other in (9).
//! * A cycle is broken preferably at a job pulled in by a `Wants=`-like link (8).
//! * A `Requisite=` that matters and certainly fails is refused up front (10); systemd runs
//!   the transaction and fails the anchor with "dependency" afterwards.
//! * Isolate and flush do not cancel irreversible queued jobs (11), as `systemctl(1)`
//!   documents for `replace-irreversibly`; systemd 252's `transaction_apply()` cancels them.
//!
//! Not modelled: `PropagatesReloadTo=`, `Triggers=` (and job mode `triggering`), mode
//! `restart-dependencies`, "following" units (devices), `RefuseManualStart=` and friends
//! (checked by the caller before planning), perpetual units and `unit_can_start()`.

use std::collections::{BTreeMap, VecDeque};

use crate::job::graph::{Dep, Graph, UnitId};
use crate::job::types::{collapse, JobMode, JobType};

mod activate;
mod build;
mod finish;
mod order;

/// Why a job is in the transaction: the edge that pulled it in (for `cairnctl why`).
///
/// Following `from`/`with` from job to job leads back to the anchor: among the links that
/// pull a job in, the reason is the first one found by a breadth-first walk from the anchor
/// that first follows only requirement links, so a job that matters to the anchor always
/// names a chain of requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The job that was asked for.
    Anchor,
    /// `from`'s job pulled this one in along `from`'s dependency `dep` (e.g. `Requires`
    /// for a start, `RequiredBy` or `ConsistsOf` for a propagated stop or restart).
    Dep { from: UnitId, dep: Dep },
    /// A stop job added because the anchor is being isolated.
    Isolate,
    /// A stop job added because the job for `with` conflicts with this unit (`Conflicts=` in
    /// either direction).
    Conflict { with: UnitId },
}

/// One job of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxJob {
    pub unit: UnitId,
    /// Merged and collapsed: one of `Start`, `VerifyActive`, `Stop`, `Reload`, `Restart`,
    /// `Nop` (only ever the anchor's).
    pub jtype: JobType,
    /// Whether the anchor fails if this job fails (the job is reachable from the anchor over
    /// requirement links only).
    pub matters_to_anchor: bool,
    pub reason: Reason,
}

/// A job dropped to break an ordering cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub unit: UnitId,
    /// The units on the cycle in execution order: each unit's job was to run before the next
    /// one's, and the last one's before the first one's.
    pub cycle: Vec<UnitId>,
}

/// A job that could not be added, or was removed because a job it requires could not be
/// added, without failing the plan (systemd: "Cannot add dependency job, ignoring").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub unit: UnitId,
    pub jtype: JobType,
    pub error: TxError,
}

/// The outcome of [`plan`]: what to install.
///
/// Every job of a plan built in mode `replace-irreversibly` is irreversible; in mode
/// `ignore-dependencies` the anchor's job ignores ordering (the plan then has no other job).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// One job per unit: the anchor's first, then in the order the jobs were discovered
    /// (breadth-first from the anchor, following the order of [`Graph::deps`]).
    pub jobs: Vec<TxJob>,
    /// Jobs dropped to break ordering cycles, in the order the cycles were found.
    pub dropped: Vec<Dropped>,
    /// Units whose queued job this plan cancels (because it conflicts with the plan's job for
    /// the unit, or because the mode is `isolate`/`flush`), sorted. Queued jobs on the other
    /// units of the plan are to be merged with the plan's job ([`crate::job::types::merge`]).
    pub replaces: Vec<UnitId>,
    /// Dependency jobs that could not be added, and the jobs removed because of them, in the
    /// order they were found.
    pub ignored: Vec<Ignored>,
}

/// Why no plan could be built. Messages name the units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// A job other than a stop was asked for, or required, on a unit that did not load.
    #[error("unit {name} is not loaded")]
    NotLoaded { unit: UnitId, name: String },
    /// The unit does not support the job type (e.g. reload).
    #[error("job type {jtype} is not applicable for unit {name}")]
    NotApplicable {
        unit: UnitId,
        name: String,
        jtype: JobType,
    },
    /// Isolate was asked for with a job type other than start.
    #[error("isolate is only valid for start jobs, not for {name}/{jtype}")]
    IsolateNotStart {
        unit: UnitId,
        name: String,
        jtype: JobType,
    },
    /// The anchor has no `AllowIsolate=yes`.
    #[error("unit {name} may not be isolated")]
    IsolateNotAllowed { unit: UnitId, name: String },
    /// Two jobs for one unit cannot be merged and both matter to the anchor.
    #[error(
        "transaction contains conflicting jobs '{a}' and '{b}' for {name}, and both matter \
         (probably contradicting requirement dependencies)"
    )]
    ConflictingJobs {
        unit: UnitId,
        name: String,
        a: JobType,
        b: JobType,
    },
    /// An ordering cycle none of whose jobs may be dropped.
    #[error("ordering cycle between {units} that cannot be broken: {detail}")]
    OrderingCycle {
        /// The units on the cycle, in execution order (see [`Dropped::cycle`]).
        cycle: Vec<UnitId>,
        /// Their names, as an English list.
        units: String,
        /// Why no job on it can be dropped.
        detail: String,
    },
    /// A `Requisite=` unit that matters to the anchor is not active and nothing queued will
    /// start it, so its verify-active job would certainly fail.
    #[error("requisite {name} is not active (required by {by_name})")]
    RequisiteNotActive {
        unit: UnitId,
        name: String,
        by: UnitId,
        by_name: String,
    },
    /// The plan conflicts with a queued job it may not replace (mode `fail`, or an
    /// irreversible job).
    #[error(
        "transaction for {anchor_name}/{anchor_type} is destructive ({name} has '{queued}' job \
         queued, but '{planned}' is included in transaction)"
    )]
    Destructive {
        anchor: UnitId,
        anchor_name: String,
        anchor_type: JobType,
        unit: UnitId,
        name: String,
        queued: JobType,
        planned: JobType,
    },
}

/// Builds the plan for `jtype` on `anchor` in `mode` (see the module documentation).
pub fn plan<G: Graph>(
    g: &G,
    anchor: UnitId,
    jtype: JobType,
    mode: JobMode,
) -> Result<Plan, TxError> {
    // 1. manager_add_job(): isolate only makes sense for start, and only for units that
    //    opted in; then the anchor's type is collapsed against the unit's state, so that a
    //    try-restart of an inactive unit becomes a nop and pulls in nothing.
    if mode == JobMode::Isolate {
        if jtype != JobType::Start {
            return Err(TxError::IsolateNotStart {
                unit: anchor,
                name: g.name(anchor).to_owned(),
                jtype,
            });
        }
        if !g.allow_isolate(anchor) {
            return Err(TxError::IsolateNotAllowed {
                unit: anchor,
                name: g.name(anchor).to_owned(),
            });
        }
    }
    let jtype = collapse(jtype, g.active_state(anchor).is_active_or_reloading());

    // 2. Build.
    let mut tx = Tx::new(g, mode);
    tx.build(anchor, jtype, mode)?;
    if mode == JobMode::Isolate {
        tx.add_isolate_jobs();
    }

    // 3. Resolve the failures recorded while building.
    tx.resolve_add_failures()?;

    // 4. transaction_find_jobs_that_matter_to_anchor().
    tx.mark_matters();

    // 5. transaction_minimize_impact(), only in mode fail.
    if mode == JobMode::Fail {
        tx.minimize_impact();
    }

    // 6. transaction_merge_jobs(), which also collapses merged types.
    tx.merge_jobs()?;

    // 7. Collapse, then transaction_drop_redundant().
    tx.drop_redundant();

    // 8. transaction_verify_order() (src/transaction/order.rs).
    tx.verify_order()?;

    // 9. The final garbage collection (see Tx::sweep_unreachable for how it goes beyond
    //    systemd's).
    if tx.gc {
        tx.sweep_unreachable();
    }

    let reasons = tx.reasons();

    // 10. Requisite check.
    tx.check_requisites(&reasons)?;

    // 11. transaction_is_destructive() and what transaction_apply() will cancel.
    let replaces = tx.check_installed(mode)?;

    Ok(tx.into_plan(&reasons, replaces))
}

type JobIdx = usize;
type LinkIdx = usize;

/// A job of the transaction under construction (systemd's `Job` while in `tr->jobs`).
#[derive(Debug)]
struct Job {
    unit: UnitId,
    jtype: JobType,
    alive: bool,
    matters: bool,
    ignore_order: bool,
    /// Links pulling this job in (systemd's `object_list`), in creation order.
    in_links: Vec<LinkIdx>,
    /// Links from this job to the jobs it pulls in (systemd's `subject_list`).
    out_links: Vec<LinkIdx>,
    /// Number of live links in `in_links`; a non-anchor job at zero is garbage.
    live_in: usize,
}

/// "`subject` needs `object`" (systemd's `JobDependency`).
#[derive(Debug)]
struct Link {
    subject: JobIdx,
    object: JobIdx,
    /// Whether a failure of `object` fails `subject`.
    matters: bool,
    /// Whether this is a stop pulled in by the subject's `Conflicts=`.
    conflicts: bool,
    reason: Reason,
    alive: bool,
}

/// A dependency job that could not be added while building. systemd returns the error up
/// the recursion of `transaction_add_job_and_dependencies()`; see `resolve_add_failures`.
#[derive(Debug)]
struct AddFailure {
    subject: JobIdx,
    unit: UnitId,
    jtype: JobType,
    matters: bool,
    error: TxError,
}

/// What one deletion removed.
#[derive(Debug, Default)]
struct Deleted {
    jobs: Vec<JobIdx>,
    /// Whether the cascade tried to delete the anchor (which is never deleted).
    anchor_hit: bool,
}

struct Tx<'g, G: Graph> {
    g: &'g G,
    jobs: Vec<Job>,
    links: Vec<Link>,
    /// The live jobs of each unit (systemd's `tr->jobs` hashmap of per-unit lists).
    by_unit: BTreeMap<UnitId, Vec<JobIdx>>,
    anchor: JobIdx,
    /// systemd collects garbage in every mode but isolate.
    gc: bool,
    failures: Vec<AddFailure>,
    ignored: Vec<Ignored>,
    dropped: Vec<Dropped>,
}

impl<'g, G: Graph> Tx<'g, G> {
    fn new(g: &'g G, mode: JobMode) -> Self {
        Tx {
            g,
            jobs: Vec::new(),
            links: Vec::new(),
            by_unit: BTreeMap::new(),
            anchor: 0,
            gc: mode != JobMode::Isolate,
            failures: Vec::new(),
            ignored: Vec::new(),
            dropped: Vec::new(),
        }
    }

    fn name(&self, u: UnitId) -> String {
        self.g.name(u).to_owned()
    }

    fn is_alive(&self, j: JobIdx) -> bool {
        self.jobs.get(j).is_some_and(|x| x.alive)
    }

    fn live_jobs(&self) -> impl Iterator<Item = (JobIdx, &Job)> {
        self.jobs.iter().enumerate().filter(|(_, j)| j.alive)
    }

    /// The single live job of `u` (valid once step 6 merged each unit's jobs).
    fn job_of(&self, u: UnitId) -> Option<JobIdx> {
        self.by_unit.get(&u).and_then(|l| l.first()).copied()
    }

    // ---- Deletion and garbage collection ---------------------------------------------

    /// `transaction_delete_job()`: removes `start` and its links. With `cascade`, every job
    /// linked to a deleted job by a link that matters is deleted as well (its requirement
    /// is gone). With `gc`, every job left without a live incoming link is deleted too
    /// (`transaction_collect_garbage()`, applied incrementally). The anchor is never
    /// deleted; reaching it is reported instead.
    fn delete(&mut self, start: JobIdx, cascade: bool, gc: bool) -> Deleted {
        let mut out = Deleted::default();
        let mut work = vec![start];
        while let Some(j) = work.pop() {
            if j == self.anchor {
                out.anchor_hit = true;
                continue;
            }
            let Some(job) = self.jobs.get_mut(j) else {
                continue;
            };
            if !job.alive {
                continue;
            }
            job.alive = false;
            job.live_in = 0;
            let unit = job.unit;
            let in_links = std::mem::take(&mut job.in_links);
            let out_links = std::mem::take(&mut job.out_links);
            if let Some(list) = self.by_unit.get_mut(&unit) {
                list.retain(|&x| x != j);
                if list.is_empty() {
                    self.by_unit.remove(&unit);
                }
            }
            out.jobs.push(j);

            for l in in_links {
                let Some(link) = self.links.get_mut(l) else {
                    continue;
                };
                if link.alive {
                    link.alive = false;
                    if cascade && link.matters {
                        work.push(link.subject);
                    }
                }
            }
            for l in out_links {
                let Some(link) = self.links.get_mut(l) else {
                    continue;
                };
                if !link.alive {
                    continue;
                }
                link.alive = false;
                let o = link.object;
                if let Some(obj) = self.jobs.get_mut(o) {
                    obj.live_in = obj.live_in.saturating_sub(1);
                    if gc && obj.alive && obj.live_in == 0 && o != self.anchor {
                        work.push(o);
                    }
                }
            }
        }
        out
    }

    /// Deletes, with this transaction's garbage-collection setting.
    fn delete_gc(&mut self, j: JobIdx, cascade: bool) -> Deleted {
        let gc = self.gc;
        self.delete(j, cascade, gc)
    }

    /// Which jobs are reachable from the anchor over live links (only over links that
    /// matter if `matters_only`), in breadth-first order with the link that reached them.
    fn walk(
        &self,
        matters_only: bool,
        seeds: &[JobIdx],
        seen: &mut [bool],
    ) -> Vec<(JobIdx, Option<LinkIdx>)> {
        let mut order: Vec<(JobIdx, Option<LinkIdx>)> = Vec::new();
        let mut queue: VecDeque<JobIdx> = seeds.iter().copied().collect();
        while let Some(j) = queue.pop_front() {
            let Some(job) = self.jobs.get(j) else {
                continue;
            };
            for &l in &job.out_links {
                let Some(link) = self.links.get(l) else {
                    continue;
                };
                if !link.alive || (matters_only && !link.matters) {
                    continue;
                }
                if let Some(s) = seen.get_mut(link.object) {
                    if !*s {
                        *s = true;
                        order.push((link.object, Some(l)));
                        queue.push_back(link.object);
                    }
                }
            }
        }
        order
    }

    /// Deletes every job that cannot be reached from the anchor. systemd's garbage
    /// collector only deletes jobs with no incoming link, so a group of jobs that pull each
    /// other in survives once its puller is gone; this sweep removes such islands too.
    fn sweep_unreachable(&mut self) {
        let mut seen = vec![false; self.jobs.len()];
        if let Some(s) = seen.get_mut(self.anchor) {
            *s = true;
        }
        self.walk(false, &[self.anchor], &mut seen);
        let unreachable: Vec<JobIdx> = self
            .live_jobs()
            .map(|(j, _)| j)
            .filter(|&j| !seen.get(j).copied().unwrap_or(false))
            .collect();
        for j in unreachable {
            self.delete(j, false, false);
        }
    }
}

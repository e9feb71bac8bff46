//! Steps 4 to 7: which jobs matter, minimizing impact, merging, collapsing and dropping
//! redundant jobs.

use super::{JobIdx, Tx, TxError};
use crate::job::graph::{Graph, UnitId};
use crate::job::types::{
    collapse, is_conflicting, is_redundant, merge_and_collapse, mergeable, JobType,
};

impl<G: Graph> Tx<'_, G> {
    // ---- 4. Matters ----------------------------------------------------------------------

    /// `transaction_find_jobs_that_matter_to_anchor()`, as a breadth-first walk.
    pub(super) fn mark_matters(&mut self) {
        let mut seen = vec![false; self.jobs.len()];
        if let Some(s) = seen.get_mut(self.anchor) {
            *s = true;
        }
        self.walk(true, &[self.anchor], &mut seen);
        for (job, m) in self.jobs.iter_mut().zip(seen) {
            job.matters = job.alive && m;
        }
    }

    // ---- 5. Minimize impact (mode fail) ---------------------------------------------------

    /// `transaction_minimize_impact()`: in mode fail, a job the anchor does not need is not
    /// worth stopping a running unit or replacing a queued job for. (A single pass equals
    /// systemd's rescans: neither criterion depends on other jobs.)
    pub(super) fn minimize_impact(&mut self) {
        for j in 0..self.jobs.len() {
            let Some(job) = self.jobs.get(j) else {
                continue;
            };
            if !job.alive || job.matters {
                continue;
            }
            let stops_running_unit = job.jtype == JobType::Stop
                && self.g.active_state(job.unit).is_active_or_activating();
            let changes_queued_job = self
                .g
                .installed_job(job.unit)
                .is_some_and(|(t, _)| is_conflicting(job.jtype, t));
            if stops_running_unit || changes_queued_job {
                self.delete_gc(j, true);
            }
        }
    }

    // ---- 6. Merging -------------------------------------------------------------------------

    fn unit_active(&self, u: UnitId) -> bool {
        self.g.active_state(u).is_active_or_reloading()
    }

    fn conflicted_by(&self, j: JobIdx) -> bool {
        self.jobs.get(j).is_some_and(|job| {
            job.in_links
                .iter()
                .filter_map(|&l| self.links.get(l))
                .any(|l| l.alive && l.conflicts)
        })
    }

    /// Merges the types of `list` in order; `None` if some job does not merge.
    fn fold_types(&self, unit: UnitId, list: &[JobIdx]) -> Option<JobType> {
        let active = self.unit_active(unit);
        let mut types = list
            .iter()
            .filter_map(|&j| self.jobs.get(j))
            .map(|x| x.jtype);
        let first = types.next()?;
        types.try_fold(first, |t, k| merge_and_collapse(t, k, active))
    }

    /// `delete_one_unmergeable_job()`: picks the job to drop from the first pair that does
    /// not merge, or fails if both matter.
    fn pick_unmergeable(&self, unit: UnitId, list: &[JobIdx]) -> Result<JobIdx, TxError> {
        let info = |j: JobIdx| self.jobs.get(j).map(|x| (x.jtype, x.matters));
        for (i, &a) in list.iter().enumerate() {
            for &b in list.iter().skip(i + 1) {
                let (Some((ta, ma)), Some((tb, mb))) = (info(a), info(b)) else {
                    continue;
                };
                if mergeable(ta, tb) {
                    continue;
                }
                return match (ma, mb) {
                    // Neither matters: think positive and drop the stop, unless it was
                    // pulled in by a Conflicts= of another job, in which case drop the
                    // other job (the conflicting unit asked for this stop).
                    (false, false) if ta == JobType::Stop => {
                        Ok(if self.conflicted_by(a) { b } else { a })
                    }
                    (false, false) if tb == JobType::Stop => {
                        Ok(if self.conflicted_by(b) { a } else { b })
                    }
                    (false, _) => Ok(a),
                    (true, false) => Ok(b),
                    (true, true) => Err(TxError::ConflictingJobs {
                        unit,
                        name: self.name(unit),
                        a: ta,
                        b: tb,
                    }),
                };
            }
        }
        // Unreachable while the table's law "if merge(a, b) cannot merge with c, then a or b
        // cannot merge with c" holds; report the conflict rather than panic.
        let t = |k: usize| {
            list.get(k)
                .and_then(|&j| self.jobs.get(j))
                .map_or(JobType::Nop, |x| x.jtype)
        };
        Err(TxError::ConflictingJobs {
            unit,
            name: self.name(unit),
            a: t(0),
            b: t(1),
        })
    }

    /// `transaction_merge_jobs()`. Deleting a job can only remove jobs of other units, which
    /// never makes another unit's jobs less mergeable, so one pass over the units (each
    /// repeated until its jobs merge) is equivalent to systemd's restart-after-each-drop.
    pub(super) fn merge_jobs(&mut self) -> Result<(), TxError> {
        let units: Vec<UnitId> = self
            .by_unit
            .iter()
            .filter(|(_, l)| l.len() > 1)
            .map(|(u, _)| *u)
            .collect();
        for &u in &units {
            loop {
                let list = self.by_unit.get(&u).cloned().unwrap_or_default();
                if list.len() < 2 || self.fold_types(u, &list).is_some() {
                    break;
                }
                let victim = self.pick_unmergeable(u, &list)?;
                self.delete_gc(victim, true);
            }
        }
        for u in units {
            let list = self.by_unit.get(&u).cloned().unwrap_or_default();
            if list.len() < 2 {
                continue;
            }
            let Some(t) = self.fold_types(u, &list) else {
                // Cannot happen after the loop above; refuse rather than guess.
                return Err(self.pick_unmergeable(u, &list).err().unwrap_or(
                    TxError::ConflictingJobs {
                        unit: u,
                        name: self.name(u),
                        a: JobType::Nop,
                        b: JobType::Nop,
                    },
                ));
            };
            // The anchor stays the anchor (systemd merges the others into it).
            let target = if list.contains(&self.anchor) {
                self.anchor
            } else {
                list.first().copied().unwrap_or(self.anchor)
            };
            for &k in list.iter().filter(|&&k| k != target) {
                self.merge_into(target, k);
            }
            if let Some(job) = self.jobs.get_mut(target) {
                job.jtype = t;
                job.in_links.sort_unstable();
                job.out_links.sort_unstable();
            }
            self.by_unit.insert(u, vec![target]);
        }
        Ok(())
    }

    /// `transaction_merge_and_delete_job()`: moves `other`'s links to `target`.
    fn merge_into(&mut self, target: JobIdx, other: JobIdx) {
        let Some(o) = self.jobs.get_mut(other) else {
            return;
        };
        o.alive = false;
        o.live_in = 0;
        let (in_links, out_links) = (
            std::mem::take(&mut o.in_links),
            std::mem::take(&mut o.out_links),
        );
        let (matters, ignore_order) = (o.matters, o.ignore_order);
        let mut live_in = 0;
        for &l in &in_links {
            if let Some(link) = self.links.get_mut(l) {
                link.object = target;
                live_in += usize::from(link.alive);
            }
        }
        for &l in &out_links {
            if let Some(link) = self.links.get_mut(l) {
                link.subject = target;
            }
        }
        if let Some(t) = self.jobs.get_mut(target) {
            t.in_links.extend(in_links);
            t.out_links.extend(out_links);
            t.live_in += live_in;
            t.matters |= matters;
            t.ignore_order |= ignore_order;
        }
    }

    // ---- 7. Redundant jobs ----------------------------------------------------------------

    /// `transaction_drop_redundant()`: a job that would not change its unit is dropped,
    /// unless it is the anchor or must replace a conflicting queued job. Its dependencies
    /// are not deleted with it, but lose this puller; in every mode but isolate that makes
    /// the ones nothing else pulls in garbage (so the requirements of an already-active
    /// unit are not started again).
    ///
    /// systemd runs this before merging and again after; after merging each unit has a
    /// single job, and "all of the unit's jobs are redundant" becomes "its job is".
    pub(super) fn drop_redundant(&mut self) {
        // 7a. Collapse every type against its unit's state. Types entered the transaction
        // collapsed and merged types were collapsed by merge_and_collapse(), so this changes
        // nothing; doing it here makes "no state-dependent type leaves the engine" a property
        // of this step rather than of everything before it. collapse() is idempotent.
        for j in 0..self.jobs.len() {
            let Some(unit) = self.jobs.get(j).filter(|x| x.alive).map(|x| x.unit) else {
                continue;
            };
            let active = self.unit_active(unit);
            if let Some(job) = self.jobs.get_mut(j) {
                job.jtype = collapse(job.jtype, active);
            }
        }
        // 7b. Drop the redundant ones.
        for j in 0..self.jobs.len() {
            let Some(job) = self.jobs.get(j) else {
                continue;
            };
            if !job.alive || j == self.anchor {
                continue;
            }
            let redundant = is_redundant(job.jtype, self.g.active_state(job.unit));
            let replaces_queued = self
                .g
                .installed_job(job.unit)
                .is_some_and(|(t, _)| is_conflicting(job.jtype, t));
            if redundant && !replaces_queued {
                self.delete_gc(j, false);
            }
        }
    }
}

//! After step 8: reasons, the requisite check (step 10), queued jobs (step 11), the plan.

use std::collections::BTreeSet;

use super::{Plan, Reason, Tx, TxError, TxJob};
use crate::job::graph::{ActiveState, Graph, UnitId};
use crate::job::types::{is_conflicting, JobMode, JobType};

impl<G: Graph> Tx<'_, G> {
    // ---- Reasons ------------------------------------------------------------------------

    /// The [`Reason`] of every live job (see there), indexed by job.
    pub(super) fn reasons(&self) -> Vec<Option<Reason>> {
        let mut reasons: Vec<Option<Reason>> = vec![None; self.jobs.len()];
        if let Some(r) = reasons.get_mut(self.anchor) {
            *r = Some(Reason::Anchor);
        }
        let mut seen = vec![false; self.jobs.len()];
        if let Some(s) = seen.get_mut(self.anchor) {
            *s = true;
        }
        let mut found = self.walk(true, &[self.anchor], &mut seen);
        let mut seeds = vec![self.anchor];
        seeds.extend(found.iter().map(|(j, _)| *j));
        found.extend(self.walk(false, &seeds, &mut seen));
        for (j, l) in found {
            let reason = l.and_then(|l| self.links.get(l)).map(|l| l.reason.clone());
            if let Some(r) = reasons.get_mut(j) {
                *r = reason;
            }
        }
        // Without garbage collection (isolate mode) a job can outlive its puller (e.g. the
        // requirement of a unit whose start was redundant); name the puller anyway.
        for (j, job) in self.live_jobs() {
            if let Some(r @ None) = reasons.get_mut(j) {
                *r = job
                    .in_links
                    .first()
                    .and_then(|&l| self.links.get(l))
                    .map(|l| l.reason.clone());
            }
        }
        reasons
    }

    // ---- 10. Requisites ---------------------------------------------------------------------

    /// A verify-active job fails at run time unless its unit is active, activating, or has a
    /// queued start it merges into. systemd enqueues it anyway, so its requirer (and the
    /// anchor) fail with "dependency" after the rest of the transaction, conflict stops
    /// included, has run. For a verify-active job that matters cairn refuses up front
    /// instead; one that does not matter is kept and fails at run time, as in systemd.
    pub(super) fn check_requisites(&self, reasons: &[Option<Reason>]) -> Result<(), TxError> {
        for (j, job) in self.live_jobs() {
            if j == self.anchor || job.jtype != JobType::VerifyActive || !job.matters {
                continue;
            }
            let state = self.g.active_state(job.unit);
            let fine = matches!(
                state,
                ActiveState::Active | ActiveState::Reloading | ActiveState::Activating
            );
            let queued_start = matches!(
                self.g.installed_job(job.unit),
                Some((JobType::Start | JobType::Restart, _))
            );
            if fine || queued_start {
                continue;
            }
            let by = match reasons.get(j) {
                Some(Some(Reason::Dep { from, .. })) => *from,
                _ => self.jobs.get(self.anchor).map_or(job.unit, |a| a.unit),
            };
            return Err(TxError::RequisiteNotActive {
                unit: job.unit,
                name: self.name(job.unit),
                by,
                by_name: self.name(by),
            });
        }
        Ok(())
    }

    // ---- 11. Queued jobs -------------------------------------------------------------------

    /// `transaction_is_destructive()`, plus the list of queued jobs `transaction_apply()` /
    /// `job_install()` will cancel.
    pub(super) fn check_installed(&self, mode: JobMode) -> Result<Vec<UnitId>, TxError> {
        let mut replaces = BTreeSet::new();
        for (_, job) in self.live_jobs() {
            let Some((queued, irreversible)) = self.g.installed_job(job.unit) else {
                continue;
            };
            if !is_conflicting(queued, job.jtype) {
                continue; // job_install() merges the two.
            }
            if mode == JobMode::Fail || irreversible {
                let (anchor, anchor_type) = self
                    .jobs
                    .get(self.anchor)
                    .map_or((job.unit, job.jtype), |a| (a.unit, a.jtype));
                return Err(TxError::Destructive {
                    anchor,
                    anchor_name: self.name(anchor),
                    anchor_type,
                    unit: job.unit,
                    name: self.name(job.unit),
                    queued,
                    planned: job.jtype,
                });
            }
            replaces.insert(job.unit);
        }
        if matches!(mode, JobMode::Isolate | JobMode::Flush) {
            // transaction_apply() cancels every queued job outside the transaction except on
            // IgnoreOnIsolate= units. It would cancel irreversible jobs too; cairn keeps them,
            // as systemctl(1) promises they are not replaced by later transactions.
            for u in self.g.all_units() {
                if let Some((_, irreversible)) = self.g.installed_job(u) {
                    if !irreversible
                        && !self.g.ignore_on_isolate(u)
                        && !self.by_unit.contains_key(&u)
                    {
                        replaces.insert(u);
                    }
                }
            }
        }
        Ok(replaces.into_iter().collect())
    }

    pub(super) fn into_plan(self, reasons: &[Option<Reason>], replaces: Vec<UnitId>) -> Plan {
        let jobs = self
            .live_jobs()
            .map(|(j, job)| TxJob {
                unit: job.unit,
                jtype: job.jtype,
                matters_to_anchor: job.matters,
                reason: reasons.get(j).cloned().flatten().unwrap_or(Reason::Anchor),
            })
            .collect();
        Plan {
            jobs,
            dropped: self.dropped,
            replaces,
            ignored: self.ignored,
        }
    }
}

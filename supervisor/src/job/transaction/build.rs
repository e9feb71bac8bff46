//! Steps 2 and 3: building the transaction from the unit graph, and resolving the dependency
//! jobs that could not be added.

use std::collections::{BTreeSet, VecDeque};

use super::{AddFailure, Ignored, Job, JobIdx, Link, Reason, Tx, TxError};
use crate::job::graph::{Dep, Graph, UnitId};
use crate::job::types::{collapse, JobMode, JobType};

/// How a pulled-in job is linked to its puller: systemd's `matters` and `conflicts` flags of
/// a `JobDependency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pull {
    /// The puller fails if this job fails (`Requires=`, `Requisite=`, stop and restart
    /// propagation, isolate).
    Required,
    /// Best effort (`Wants=`, `Upholds=`, the stop asked for by another unit's
    /// `Conflicts=`).
    Optional,
    /// A stop asked for by the puller's own `Conflicts=`: required, and flagged so that
    /// step 6 keeps it over a start that does not matter.
    Conflict,
}

impl Pull {
    fn matters(self) -> bool {
        self != Pull::Optional
    }
}

impl<G: Graph> Tx<'_, G> {
    // ---- 2. Building ------------------------------------------------------------------

    /// The checks of `transaction_add_job_and_dependencies()` that can refuse a job, then
    /// `transaction_add_one_job()`: reuse the unit's job of the same type or create one.
    fn add_one(&mut self, unit: UnitId, jtype: JobType) -> Result<(JobIdx, bool), TxError> {
        // bus_unit_validate_load_state() is skipped for stops: a unit whose file vanished
        // must still be stoppable.
        if jtype != JobType::Stop && !self.g.is_loaded(unit) {
            return Err(TxError::NotLoaded {
                unit,
                name: self.name(unit),
            });
        }
        // unit_job_is_applicable(): only reload depends on the unit in this model.
        if jtype == JobType::Reload && !self.g.can_reload(unit) {
            return Err(TxError::NotApplicable {
                unit,
                name: self.name(unit),
                jtype,
            });
        }
        let existing = self.by_unit.get(&unit).and_then(|list| {
            list.iter()
                .copied()
                .find(|&j| self.jobs.get(j).is_some_and(|x| x.jtype == jtype))
        });
        if let Some(j) = existing {
            return Ok((j, false));
        }
        let j = self.jobs.len();
        self.jobs.push(Job {
            unit,
            jtype,
            alive: true,
            matters: false,
            ignore_order: false,
            in_links: Vec::new(),
            out_links: Vec::new(),
            live_in: 0,
        });
        self.by_unit.entry(unit).or_default().push(j);
        Ok((j, true))
    }

    fn link(
        &mut self,
        subject: JobIdx,
        object: JobIdx,
        matters: bool,
        conflicts: bool,
        reason: Reason,
    ) {
        let l = self.links.len();
        self.links.push(Link {
            subject,
            object,
            matters,
            conflicts,
            reason,
            alive: true,
        });
        if let Some(s) = self.jobs.get_mut(subject) {
            s.out_links.push(l);
        }
        if let Some(o) = self.jobs.get_mut(object) {
            o.in_links.push(l);
            o.live_in += 1;
        }
    }

    /// One recursive call of `transaction_add_job_and_dependencies()` with `by = subject`,
    /// except that expanding the new job's own dependencies is queued instead of recursed
    /// into, so a 10,000-unit chain cannot overflow the stack. Breadth-first order yields
    /// the same jobs and links as systemd's depth-first recursion: whether a job exists and
    /// what it pulls in depend only on its unit and type.
    fn pull(
        &mut self,
        subject: JobIdx,
        unit: UnitId,
        jtype: JobType,
        kind: Pull,
        reason: Reason,
        queue: &mut VecDeque<JobIdx>,
    ) {
        let (matters, conflicts) = (kind.matters(), kind == Pull::Conflict);
        // unit_add_dependency() refuses self-dependencies; ignore them if a graph has some.
        if self.jobs.get(subject).is_some_and(|s| s.unit == unit) {
            return;
        }
        match self.add_one(unit, jtype) {
            Ok((object, is_new)) => {
                self.link(subject, object, matters, conflicts, reason);
                if is_new && jtype != JobType::Nop {
                    queue.push_back(object);
                }
            }
            Err(error) => self.failures.push(AddFailure {
                subject,
                unit,
                jtype,
                matters,
                error,
            }),
        }
    }

    pub(super) fn build(
        &mut self,
        anchor: UnitId,
        jtype: JobType,
        mode: JobMode,
    ) -> Result<(), TxError> {
        // The anchor's own failure is the plan's failure.
        let (a, _) = self.add_one(anchor, jtype)?;
        self.anchor = a;
        if let Some(job) = self.jobs.get_mut(a) {
            job.ignore_order = mode == JobMode::IgnoreDependencies;
        }
        // Both ignore modes pass ignore_requirements=true, which adds no dependency at all,
        // not even Wants=; they differ only in ignore_order. A nop pulls in nothing.
        if matches!(
            mode,
            JobMode::IgnoreDependencies | JobMode::IgnoreRequirements
        ) || jtype == JobType::Nop
        {
            return Ok(());
        }
        let mut queue = VecDeque::from([a]);
        self.drain(&mut queue);
        Ok(())
    }

    fn drain(&mut self, queue: &mut VecDeque<JobIdx>) {
        while let Some(j) = queue.pop_front() {
            self.expand(j, queue);
        }
    }

    /// The dependency part of `transaction_add_job_and_dependencies()` for a new job, with
    /// systemd 252's unit-dependency atoms spelled out as dependency types.
    fn expand(&mut self, j: JobIdx, queue: &mut VecDeque<JobIdx>) {
        let Some((unit, jtype)) = self.jobs.get(j).map(|x| (x.unit, x.jtype)) else {
            return;
        };
        let g = self.g;
        let dep_reason = |dep| Reason::Dep { from: unit, dep };

        if matches!(jtype, JobType::Start | JobType::Restart) {
            // UNIT_ATOM_PULL_IN_START: the dependency's failure fails us.
            for dep in [Dep::Requires, Dep::BindsTo] {
                for u in g.deps(unit, dep) {
                    self.pull(j, u, JobType::Start, Pull::Required, dep_reason(dep), queue);
                }
            }
            // UNIT_ATOM_PULL_IN_START_IGNORED: best effort.
            for dep in [Dep::Wants, Dep::Upholds] {
                for u in g.deps(unit, dep) {
                    self.pull(j, u, JobType::Start, Pull::Optional, dep_reason(dep), queue);
                }
            }
            // UNIT_ATOM_PULL_IN_VERIFY.
            for u in g.deps(unit, Dep::Requisite) {
                let r = dep_reason(Dep::Requisite);
                self.pull(j, u, JobType::VerifyActive, Pull::Required, r, queue);
            }
            // UNIT_ATOM_PULL_IN_STOP: our Conflicts= must stop; the link is flagged so that
            // step 6 prefers keeping such a stop over a start nobody needs.
            for u in g.deps(unit, Dep::Conflicts) {
                let r = Reason::Conflict { with: unit };
                self.pull(j, u, JobType::Stop, Pull::Conflict, r, queue);
            }
            // UNIT_ATOM_PULL_IN_STOP_IGNORED: units that list us in Conflicts= are stopped
            // too, but that stop does not matter to us.
            for u in g.deps(unit, Dep::ConflictedBy) {
                let r = Reason::Conflict { with: unit };
                self.pull(j, u, JobType::Stop, Pull::Optional, r, queue);
            }
        }

        match jtype {
            JobType::Restart => {
                // UNIT_ATOM_PROPAGATE_RESTART, propagated as try-restart so that units which
                // are not running are not started; try-restart collapses right away and a
                // nop is not added at all.
                for dep in [
                    Dep::RequiredBy,
                    Dep::RequisiteOf,
                    Dep::BoundBy,
                    Dep::ConsistsOf,
                ] {
                    for u in g.deps(unit, dep) {
                        let active = g.active_state(u).is_active_or_reloading();
                        let nt = collapse(JobType::TryRestart, active);
                        if nt != JobType::Nop {
                            self.pull(j, u, nt, Pull::Required, dep_reason(dep), queue);
                        }
                    }
                }
            }
            JobType::Stop => {
                // UNIT_ATOM_PROPAGATE_STOP.
                for dep in [
                    Dep::RequiredBy,
                    Dep::RequisiteOf,
                    Dep::BoundBy,
                    Dep::ConsistsOf,
                    Dep::PropagatesStopTo,
                ] {
                    for u in g.deps(unit, dep) {
                        self.pull(j, u, JobType::Stop, Pull::Required, dep_reason(dep), queue);
                    }
                }
            }
            // Verify-active, reload and nop need no dependency handling (reload propagation,
            // PropagatesReloadTo=, is not part of this model).
            _ => {}
        }
    }

    /// `transaction_add_isolate_jobs()`: stop every unit that runs (or has a queued job),
    /// unless it is `IgnoreOnIsolate=` or already has a job in the transaction. The stops
    /// matter and hang off the anchor.
    pub(super) fn add_isolate_jobs(&mut self) {
        let mut units = self.g.all_units();
        units.sort_unstable();
        units.dedup();
        let mut queue = VecDeque::new();
        let failures_before = self.failures.len();
        for u in units {
            // The unit's settings last: an idle unit's are parsed again when asked.
            if (self.g.active_state(u).is_inactive_or_failed() && self.g.installed_job(u).is_none())
                // "Is there already something listed for this?" This includes jobs that
                // step 3 may yet remove: a unit whose start cannot be satisfied is left
                // alone rather than stopped.
                || self.by_unit.contains_key(&u)
                || self.g.ignore_on_isolate(u)
            {
                continue;
            }
            self.pull(
                self.anchor,
                u,
                JobType::Stop,
                Pull::Required,
                Reason::Isolate,
                &mut queue,
            );
            // Drain before looking at the next unit, as systemd's recursion does, so that a
            // unit already stopped by propagation is not listed twice.
            self.drain(&mut queue);
        }
        // systemd ignores errors from adding isolate jobs ("Cannot add isolate job,
        // ignoring"). Stops cannot fail here, but keep that contract explicit.
        for f in self.failures.iter_mut().skip(failures_before) {
            f.matters = false;
        }
    }

    // ---- 3. Build failures --------------------------------------------------------------

    /// systemd returns an error up its recursion when a dependency job cannot be added:
    /// requirement links pass it on, `Wants=`-style links swallow it, and "not applicable"
    /// errors are swallowed everywhere. Here the same rule is applied after building, by
    /// deleting the job whose requirement failed with `transaction_delete_job(..., true)`
    /// semantics: every job requiring a deleted job is deleted too. If that reaches the
    /// anchor the plan fails with the first such error (in discovery order).
    ///
    /// Unlike systemd, where the outcome depends on which path the depth-first recursion
    /// happens to take first and a `Wants=`-pulled job whose requirement failed stays in
    /// the transaction, this is order-independent and removes the unsatisfiable branch.
    pub(super) fn resolve_add_failures(&mut self) -> Result<(), TxError> {
        let failures = std::mem::take(&mut self.failures);
        let mut seen = BTreeSet::new();
        for f in failures {
            if seen.insert((f.unit, f.jtype)) {
                self.ignored.push(Ignored {
                    unit: f.unit,
                    jtype: f.jtype,
                    error: f.error.clone(),
                });
            }
            let swallowed = !f.matters || matches!(f.error, TxError::NotApplicable { .. });
            if swallowed || !self.is_alive(f.subject) {
                continue;
            }
            // Always collect the branch's garbage, even in isolate mode: it was pulled in
            // only for the job that cannot be satisfied.
            let deleted = self.delete(f.subject, true, true);
            if deleted.anchor_hit {
                return Err(f.error);
            }
            for j in deleted.jobs {
                if let Some(job) = self.jobs.get(j) {
                    if seen.insert((job.unit, job.jtype)) {
                        self.ignored.push(Ignored {
                            unit: job.unit,
                            jtype: job.jtype,
                            error: f.error.clone(),
                        });
                    }
                }
            }
        }
        self.sweep_unreachable();
        Ok(())
    }
}

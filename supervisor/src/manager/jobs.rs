//! The job queue: installing a transaction's plan, deciding which jobs may run, running them,
//! and finishing them with a result that propagates to what depended on them.

use std::collections::{BTreeMap, BTreeSet};

use super::{Effect, Kind, Manager};
use crate::job::graph::{ActiveState, Dep, Graph, UnitId};
use crate::job::transaction::{self, Reason, TxError};
use crate::job::types::{collapse, merge, runs_after, JobMode, JobResult, JobType};
use crate::service::machine::{Event, State};
use crate::unit::condition;

pub type JobId = u32;

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error("the plan for {0} has no job for it")]
    NoAnchor(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Waiting,
    Running,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Running => "running",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub unit: UnitId,
    pub jtype: JobType,
    pub state: JobState,
    pub reason: Reason,
    /// A restart job whose stop half is running.
    restart_stopping: bool,
    /// Queued with replace-irreversibly: no later transaction may replace it.
    pub irreversible: bool,
}

#[derive(Debug, Default)]
pub struct Jobs {
    map: BTreeMap<JobId, Job>,
    next: JobId,
    /// The jobs in `Waiting`, so that each pass of the loop looks at those only (it ran once
    /// per event over every job: 16,000 socket starts took 9 s, `make bench`).
    waiting: BTreeSet<JobId>,
}

impl Jobs {
    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.map.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Job> {
        self.map.values()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Manager {
    /// Plans and installs a job for `unit` (the anchor) with its dependencies.
    pub fn enqueue(
        &mut self,
        unit: UnitId,
        jtype: JobType,
        mode: JobMode,
        out: &mut Vec<Effect>,
    ) -> Result<JobId, EnqueueError> {
        let plan = transaction::plan(&*self, unit, jtype, mode)?;
        for i in &plan.ignored {
            out.push(Effect::Log(format!(
                "cannot add dependency job {}/{}, ignoring: {}",
                Graph::name(&*self, i.unit),
                i.jtype.as_str(),
                i.error
            )));
        }
        for d in &plan.dropped {
            let names: Vec<&str> = d.cycle.iter().map(|u| Graph::name(&*self, *u)).collect();
            out.push(Effect::Log(format!(
                "ordering cycle found ({}); dropped the job of {} to break it",
                names.join(" → "),
                Graph::name(&*self, d.unit)
            )));
        }
        for old in &plan.replaces {
            if let Some(id) = self.rt.get(*old as usize).and_then(|r| r.job) {
                self.finish(id, JobResult::Canceled, out);
            }
        }
        let mut anchor = None;
        for tx in plan.jobs {
            let id = self.install(tx.unit, tx.jtype, tx.reason.clone(), out);
            if let Some(j) = self.jobs.map.get_mut(&id) {
                j.irreversible |= mode == JobMode::ReplaceIrreversibly;
            }
            if tx.unit == unit {
                anchor = Some(id);
            }
        }
        anchor.ok_or_else(|| EnqueueError::NoAnchor(Graph::name(&*self, unit).to_string()))
    }

    /// Internal requests (BindsTo=, triggers): errors are logged, not returned.
    pub(super) fn enqueue_quiet(
        &mut self,
        unit: UnitId,
        jtype: JobType,
        reason: Reason,
        out: &mut Vec<Effect>,
    ) {
        self.enqueue_quiet_mode(unit, jtype, JobMode::Replace, reason, out)
    }

    /// Likewise with a job mode (OnFailureJobMode=).
    pub(super) fn enqueue_quiet_mode(
        &mut self,
        unit: UnitId,
        jtype: JobType,
        mode: JobMode,
        reason: Reason,
        out: &mut Vec<Effect>,
    ) {
        let irreversible = mode == JobMode::ReplaceIrreversibly;
        match transaction::plan(&*self, unit, jtype, mode) {
            Ok(plan) => {
                for old in &plan.replaces {
                    if let Some(id) = self.rt.get(*old as usize).and_then(|r| r.job) {
                        self.finish(id, JobResult::Canceled, out);
                    }
                }
                for tx in plan.jobs {
                    let r = if tx.unit == unit {
                        reason.clone()
                    } else {
                        tx.reason.clone()
                    };
                    let id = self.install(tx.unit, tx.jtype, r, out);
                    if let Some(j) = self.jobs.map.get_mut(&id) {
                        j.irreversible |= irreversible;
                    }
                }
            }
            Err(e) => out.push(Effect::Log(format!("{}: {e}", Graph::name(&*self, unit)))),
        }
    }

    fn install(
        &mut self,
        unit: UnitId,
        jtype: JobType,
        reason: Reason,
        out: &mut Vec<Effect>,
    ) -> JobId {
        if let Some(existing) = self.rt.get(unit as usize).and_then(|r| r.job) {
            // A queued job on a unit of the plan merges with the plan's job.
            if let Some(j) = self.jobs.map.get_mut(&existing) {
                match merge(j.jtype, jtype) {
                    Some(m) if m == j.jtype => return existing,
                    Some(m) if j.state == JobState::Waiting => {
                        j.jtype = m;
                        return existing;
                    }
                    _ => {}
                }
            }
            self.finish(existing, JobResult::Canceled, out);
        }
        let id = self.jobs.next;
        self.jobs.next = self.jobs.next.wrapping_add(1);
        self.jobs.waiting.insert(id);
        self.jobs.map.insert(
            id,
            Job {
                id,
                unit,
                jtype,
                state: JobState::Waiting,
                reason,
                restart_stopping: false,
                irreversible: false,
            },
        );
        if let Some(rt) = self.rt_mut(unit) {
            rt.job = Some(id);
            // Read here: a job may be queued between two passes of the loop (a control call).
            rt.job_queued = (
                proto::procinfo::realtime_usec(),
                proto::procinfo::monotonic_usec(),
            );
        }
        id
    }

    fn is_runnable(&self, job: &Job) -> bool {
        if job.jtype == JobType::Nop {
            return true;
        }
        let me_stop = matches!(job.jtype, JobType::Stop | JobType::Restart);
        // A start must wait for the unit's own stop (e.g. after a restart's stop half, or a
        // unit still shutting down).
        if !me_stop && self.active_state(job.unit) == ActiveState::Deactivating {
            return false;
        }
        // A reload waits for the unit to be up.
        if job.jtype == JobType::Reload && self.active_state(job.unit) == ActiveState::Activating {
            return false;
        }
        let Some(u) = self.units.get(job.unit) else {
            return true;
        };
        for (dep, me_after) in [(Dep::After, true), (Dep::Before, false)] {
            for other in u.deps(dep) {
                let Some(oj) = self.rt.get(other as usize).and_then(|r| r.job) else {
                    continue;
                };
                let Some(o) = self.jobs.map.get(&oj) else {
                    continue;
                };
                // systemd's rule (job_compare): starts follow the edge, stops run against it,
                // and a stop goes before a start whatever the edge's direction.
                if runs_after(job.jtype, o.jtype, me_after) {
                    return false;
                }
            }
        }
        true
    }

    /// Starts every waiting job that may run. Returns whether any did.
    pub(super) fn run_runnable(&mut self, out: &mut Vec<Effect>) -> bool {
        debug_assert_eq!(
            self.jobs.waiting,
            self.jobs
                .map
                .values()
                .filter(|j| j.state == JobState::Waiting)
                .map(|j| j.id)
                .collect::<BTreeSet<_>>(),
            "the waiting set is every job in Waiting"
        );
        let ready: Vec<JobId> = self
            .jobs
            .waiting
            .iter()
            .filter_map(|id| self.jobs.map.get(id))
            .filter(|j| self.is_runnable(j))
            .map(|j| j.id)
            .collect();
        let any = !ready.is_empty();
        for id in ready {
            self.run(id, out);
        }
        any
    }

    fn run(&mut self, id: JobId, out: &mut Vec<Effect>) {
        let Some(job) = self.jobs.map.get(&id) else {
            return;
        };
        let (unit, reason, jtype) = (job.unit, job.reason.clone(), job.jtype);
        let active = matches!(
            self.active_state(unit),
            ActiveState::Active | ActiveState::Reloading
        );
        let jtype = collapse(jtype, active);
        if let Some(job) = self.jobs.map.get_mut(&id) {
            job.state = JobState::Running;
            job.jtype = jtype;
            self.jobs.waiting.remove(&id);
        }
        let before = self.active_state(unit);
        // Services and sockets have machines that take Start and Stop events; other units
        // (targets) change state at once.
        let is_service = matches!(
            self.rt.get(unit as usize).map(|r| &r.kind),
            Some(Kind::Service(_) | Kind::Socket(_) | Kind::Mount(_) | Kind::Automount(_))
        );
        // A device comes and goes with the hardware: a start job waits for it (up to
        // DEVICE_TIMEOUT), a stop job has nothing to do.
        let is_device = matches!(
            self.rt.get(unit as usize).map(|r| &r.kind),
            Some(Kind::Device(_))
        );
        if is_device {
            match jtype {
                JobType::Start if !active => {
                    if let Some(rt) = self.rt_mut(unit) {
                        rt.started_by = Some(reason);
                    }
                    let t = self
                        .units
                        .device_timeouts
                        .get(&unit)
                        .copied()
                        .unwrap_or(super::DEVICE_TIMEOUT);
                    out.push(Effect::Service {
                        unit,
                        action: crate::service::machine::Action::ArmTimer(t),
                    });
                    self.dirty.push(unit);
                    return;
                }
                JobType::Stop | JobType::Restart if jtype == JobType::Stop => {
                    self.finish(id, JobResult::Done, out);
                    return;
                }
                _ => {}
            }
        }
        match jtype {
            JobType::Nop => self.finish(id, JobResult::Done, out),
            JobType::VerifyActive => {
                let r = if active {
                    JobResult::Done
                } else {
                    JobResult::Dependency
                };
                self.finish(id, r, out);
            }
            JobType::Start => {
                if !Graph::is_loaded(&*self, unit) {
                    self.finish(id, JobResult::Failed, out);
                    return;
                }
                if active {
                    self.finish(id, JobResult::Done, out);
                    return;
                }
                if !self.conditions_pass(unit) {
                    let asserted = self
                        .rt
                        .get(unit as usize)
                        .is_some_and(|r| r.assert_failed().is_some());
                    self.finish(
                        id,
                        if asserted {
                            JobResult::Assert
                        } else {
                            JobResult::Done
                        },
                        out,
                    );
                    self.state_changed(unit, before, out);
                    return;
                }
                if let Some(rt) = self.rt_mut(unit) {
                    rt.started_by = Some(reason);
                }
                if is_service {
                    self.push(unit, Event::Start);
                } else {
                    if let Some(rt) = self.rt_mut(unit) {
                        if let Kind::Simple(s) = &mut rt.kind {
                            s.active = true;
                        }
                    }
                    self.state_changed(unit, before, out);
                }
            }
            JobType::Stop | JobType::Restart => {
                let inactive = matches!(
                    self.active_state(unit),
                    ActiveState::Inactive | ActiveState::Failed
                );
                if jtype == JobType::Restart {
                    if let Some(j) = self.jobs.map.get_mut(&id) {
                        if inactive {
                            // Nothing to stop: the restart is a start.
                            j.jtype = JobType::Start;
                            j.state = JobState::Waiting;
                            self.jobs.waiting.insert(id);
                            return;
                        }
                        j.restart_stopping = true;
                    }
                } else if inactive {
                    self.finish(id, JobResult::Done, out);
                    return;
                }
                if is_service {
                    let ev = if jtype == JobType::Restart {
                        Event::StopForRestart
                    } else {
                        Event::Stop
                    };
                    self.push(unit, ev);
                } else {
                    if let Some(rt) = self.rt_mut(unit) {
                        if let Kind::Simple(s) = &mut rt.kind {
                            s.active = false;
                        }
                    }
                    self.state_changed(unit, before, out);
                }
            }
            JobType::Reload => {
                if !active {
                    self.finish(id, JobResult::Failed, out);
                    return;
                }
                if is_service {
                    self.push(unit, Event::Reload);
                }
                self.dirty.push(unit);
            }
            JobType::TryRestart | JobType::TryReload | JobType::ReloadOrStart => {
                // collapse() never leaves these.
                self.finish(id, JobResult::Done, out);
            }
        }
    }

    /// Evaluates Condition*= and Assert*=; records which failed.
    fn conditions_pass(&mut self, unit: UnitId) -> bool {
        let Some(u) = self.units.get(unit) else {
            return true;
        };
        // Most units have none: their settings are not parsed again for nothing.
        let (cond, assert) = if u.settings.has_checks() {
            let cfg = u.config();
            (
                condition::evaluate(&cfg.unit.conditions, &condition::Host)
                    .err()
                    .map(|c| c.describe(false)),
                condition::evaluate(&cfg.unit.asserts, &condition::Host)
                    .err()
                    .map(|c| c.describe(true)),
            )
        } else {
            (None, None)
        };
        let Some(rt) = self.rt_mut(unit) else {
            return true;
        };
        let passed = cond.is_none() && assert.is_none();
        rt.set_checks(cond, assert);
        passed
    }

    /// After a unit changed: is its running job done?
    pub(super) fn check_job(&mut self, unit: UnitId, out: &mut Vec<Effect>) {
        let Some(id) = self.rt.get(unit as usize).and_then(|r| r.job) else {
            return;
        };
        let Some(job) = self.jobs.map.get(&id) else {
            return;
        };
        if job.state != JobState::Running {
            return;
        }
        let state = self.active_state(unit);
        let machine = match self.rt.get(unit as usize).map(|r| &r.kind) {
            Some(Kind::Service(s)) => Some((s.machine.state, s.machine.result)),
            _ => None,
        };
        let device_wait = match self.rt.get(unit as usize).map(|r| &r.kind) {
            Some(Kind::Device(d)) => Some(d.wait_failed),
            _ => None,
        };
        let result = match (job.jtype, state) {
            (JobType::Start, ActiveState::Active) => Some(JobResult::Done),
            // A start job on a device waits for it; past the timeout it fails.
            (JobType::Start, ActiveState::Inactive) if device_wait.is_some() => {
                device_wait.filter(|f| *f).map(|_| JobResult::Timeout)
            }
            (JobType::Start, ActiveState::Failed) => Some(JobResult::Failed),
            (JobType::Start, ActiveState::Inactive) => Some(match machine {
                Some((_, crate::service::policy::ServiceResult::Success)) | None => JobResult::Done,
                Some(_) => JobResult::Failed,
            }),
            // Entering the restart delay ends the start job as failed, as systemd does.
            (JobType::Start, ActiveState::Activating)
                if machine.is_some_and(|(s, _)| s == State::AutoRestart) =>
            {
                Some(JobResult::Failed)
            }
            (JobType::Stop, ActiveState::Inactive | ActiveState::Failed) => Some(JobResult::Done),
            // An unmount that failed (busy) leaves the mount up: the stop job fails.
            (JobType::Stop | JobType::Restart, ActiveState::Active)
                if matches!(self.rt.get(unit as usize).map(|r| &r.kind),
                    Some(Kind::Mount(m)) if m.machine.unmount_failed) =>
            {
                Some(JobResult::Failed)
            }
            (JobType::Restart, ActiveState::Inactive | ActiveState::Failed) => {
                if let Some(j) = self.jobs.map.get_mut(&id) {
                    j.jtype = JobType::Start;
                    j.state = JobState::Waiting;
                    j.restart_stopping = false;
                    self.jobs.waiting.insert(id);
                }
                None
            }
            (JobType::Reload, ActiveState::Active) => {
                Some(match self.rt.get(unit as usize).map(|r| &r.kind) {
                    Some(Kind::Service(s)) if s.machine.reload_failed => JobResult::Failed,
                    _ => JobResult::Done,
                })
            }
            (JobType::Reload, ActiveState::Inactive | ActiveState::Failed) => {
                Some(JobResult::Failed)
            }
            _ => None,
        };
        if let Some(r) = result {
            self.finish(id, r, out);
        }
    }

    /// Ends a job. A failed start fails the start jobs that needed it (result `dependency`).
    pub(super) fn finish(&mut self, id: JobId, result: JobResult, out: &mut Vec<Effect>) {
        let Some(job) = self.jobs.map.remove(&id) else {
            return;
        };
        self.jobs.waiting.remove(&id);
        if let Some(rt) = self.rt_mut(job.unit) {
            if rt.job == Some(id) {
                rt.job = None;
            }
            rt.last_job = Some((job.jtype, result, job.reason.clone()));
        }
        self.tell_triggering_sockets(job.unit);
        out.push(Effect::JobFinished {
            job: id,
            unit: job.unit,
            result,
        });
        // As systemd's job_finish_and_invalidate: a job that failed for a dependency or timed
        // out starts the unit's OnFailure= units (a failure of the unit itself does so when
        // the unit enters the failed state).
        if matches!(result, JobResult::Dependency | JobResult::Timeout) {
            out.push(Effect::Log(format!(
                "{}: job {} failed with result '{}'",
                Graph::name(&*self, job.unit),
                job.jtype.as_str(),
                result.as_str()
            )));
            self.start_on_failure(job.unit, out);
        }
        let failed = !matches!(result, JobResult::Done | JobResult::Skipped);
        if !failed || !matches!(job.jtype, JobType::Start | JobType::VerifyActive) {
            return;
        }
        let mut needers: Vec<UnitId> = self
            .units
            .get(job.unit)
            .map(|u| {
                u.deps(Dep::RequiredBy)
                    .chain(u.deps(Dep::BoundBy))
                    .collect()
            })
            .unwrap_or_default();
        if let Reason::Dep {
            from,
            dep: Dep::Requires | Dep::Requisite | Dep::BindsTo,
        } = job.reason
        {
            needers.push(from);
        }
        for n in needers {
            let Some(nid) = self.rt.get(n as usize).and_then(|r| r.job) else {
                continue;
            };
            let is_start = self
                .jobs
                .map
                .get(&nid)
                .is_some_and(|j| matches!(j.jtype, JobType::Start | JobType::VerifyActive));
            if is_start {
                self.finish(nid, JobResult::Dependency, out);
            }
        }
    }

    /// Cancels every job (shutdown, isolate to nothing).
    pub fn cancel_all(&mut self, out: &mut Vec<Effect>) {
        let ids: Vec<JobId> = self.jobs.map.keys().copied().collect();
        for id in ids {
            self.finish(id, JobResult::Canceled, out);
        }
    }
}

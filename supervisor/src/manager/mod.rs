//! The manager: units, their run-time state, and the job queue.
//!
//! Pure in the sense of the brief (§5): it never forks, kills or sleeps. Events go in
//! ([`Manager::push`]), and [`Manager::step`] turns them into [`Effect`]s — spawn, signal,
//! arm a timer, find a main pid — for the thin loop in `runtime.rs` to carry out, which feeds
//! back what happened as new events. Jobs run as soon as every job ordered before them has
//! finished: that is the parallelism.

pub mod automount;
mod edges;
mod feed;
pub mod jobs;
pub mod log;
pub mod mount;
mod names;
pub mod rt;
pub mod settings;
pub mod socket;
mod triggers;
pub mod units;

use std::collections::{BTreeMap, VecDeque};

use crate::job::graph::{ActiveState, Dep, Graph, UnitId};
use crate::job::transaction::Reason;
use crate::job::types::{JobMode, JobResult, JobType};
use crate::service::machine::{self, Action, Event};
use crate::unit::load::LoadState;
use crate::unit::name::UnitType;

pub use jobs::{Job, JobId, JobState};
pub use rt::*;
pub use units::{UnitEntry, Units};

/// What the outer loop must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Service {
        unit: UnitId,
        action: Action,
    },
    /// A job finished: wake whoever waits on it.
    JobFinished {
        job: JobId,
        unit: UnitId,
        result: JobResult,
    },
    /// Say something in the supervisor's log.
    Log(String),
    /// A service went inactive or failed: its RuntimeDirectory= goes.
    Stopped {
        unit: UnitId,
    },
    Socket {
        unit: UnitId,
        action: socket::SockAction,
    },
    Mount {
        unit: UnitId,
        action: mount::MountAction,
    },
    Automount {
        unit: UnitId,
        action: automount::AutomountAction,
    },
}

pub struct Manager {
    pub units: Units,
    pub rt: Vec<UnitRt>,
    pub jobs: jobs::Jobs,
    events: VecDeque<(UnitId, Event)>,
    /// Units whose state changed since the job queue last looked.
    dirty: Vec<UnitId>,
    /// pid → (unit, is the main process)
    pub pids: BTreeMap<i32, (UnitId, bool)>,
    pub now_usec: u64,
    /// CLOCK_MONOTONIC at the same moment as `now_usec`.
    pub now_mono_usec: u64,
    /// Effects produced outside `step` (by `enqueue`), returned by the next `step`.
    deferred: Vec<Effect>,
    /// The last processes reaped: (pid, unit, was the main process). A process may send its
    /// last notify datagram and exit before the datagram is read; it is still its unit's.
    pub recent_exits: VecDeque<(i32, UnitId, bool)>,
}

impl Manager {
    pub fn new(units: Units) -> Manager {
        let rt = units.list.iter().map(UnitRt::new).collect();
        Manager {
            units,
            rt,
            jobs: jobs::Jobs::default(),
            events: VecDeque::new(),
            dirty: Vec::new(),
            pids: BTreeMap::new(),
            now_usec: 0,
            now_mono_usec: 0,
            deferred: Vec::new(),
            recent_exits: VecDeque::new(),
        }
    }

    /// Keeps effects for the next `step`.
    pub fn defer(&mut self, mut out: Vec<Effect>) {
        self.deferred.append(&mut out);
    }

    /// `daemon-reload`: the new table keeps every old unit at its id; units keep their
    /// run-time state, services take their new settings (used from their next action on).
    pub fn reload(&mut self, units: Units) {
        self.units = units;
        for i in 0..self.units.list.len() {
            self.take_settings(i);
        }
    }

    /// After [`Units::refresh`]: the units it loaded again take their new settings, those it
    /// added get their run-time record; no other unit is looked at.
    pub fn refreshed(&mut self, r: &units::Refreshed) {
        for id in r.changed.iter().chain(&r.added) {
            self.take_settings(*id as usize);
        }
    }

    /// Unit `i`'s run-time record takes the settings of its (new) entry in the table.
    fn take_settings(&mut self, i: usize) {
        let Some(u) = self.units.list.get(i) else {
            return;
        };
        match self.rt.get_mut(i) {
            Some(rt) => {
                let fresh = UnitRt::new(u);
                match (&mut rt.kind, fresh.kind) {
                    (Kind::Service(s), Kind::Service(f)) => s.spec = f.spec,
                    (Kind::Socket(s), Kind::Socket(f)) => s.spec = f.spec,
                    (Kind::Mount(m), Kind::Mount(f)) => m.timeout = f.timeout,
                    // A target (any unit without processes) keeps its state: it has no
                    // settings the record holds.
                    (Kind::Simple(_), Kind::Simple(_)) => {}
                    (kind @ Kind::Simple(_), k) => *kind = k,
                    // A unit whose file changed type under the same name (or that lost
                    // its file) keeps running as what it was until it stops.
                    (
                        Kind::Service(_)
                        | Kind::Socket(_)
                        | Kind::Mount(_)
                        | Kind::Automount(_)
                        | Kind::Device(_),
                        _,
                    ) => {}
                }
            }
            None => self.rt.push(UnitRt::new(u)),
        }
    }

    /// Loads a unit nothing referenced, and what it references (see
    /// [`Units::load_on_demand`]).
    pub fn load_on_demand(
        &mut self,
        cat: &crate::unit::load::Catalog,
        name: &str,
        spec: &crate::unit::specifier::Context,
    ) -> Option<UnitId> {
        for id in self.units.load_on_demand(cat, name, spec) {
            if let Some(u) = self.units.get(id) {
                let fresh = UnitRt::new(u);
                match self.rt.get_mut(id as usize) {
                    Some(slot) => *slot = fresh,
                    None => self.rt.push(fresh),
                }
            }
        }
        self.units.lookup(name)
    }

    /// Adds a unit loaded at run time (see [`Units::add_runtime`]); a reused slot starts over.
    pub fn add_runtime_unit(
        &mut self,
        cat: &crate::unit::load::Catalog,
        name: &str,
        spec: &crate::unit::specifier::Context,
        reuse: Option<UnitId>,
    ) -> UnitId {
        let id = self.units.add_runtime(cat, name, spec, reuse);
        if let Some(u) = self.units.get(id) {
            let fresh = UnitRt::new(u);
            match self.rt.get_mut(id as usize) {
                Some(slot) => *slot = fresh,
                None => self.rt.push(fresh),
            }
        }
        id
    }

    /// Forgets a unit (a deleted snapshot); its slot starts over, not-found.
    pub fn forget_unit(&mut self, id: UnitId) {
        self.units.forget(id);
        if let (Some(u), Some(slot)) = (self.units.get(id), self.rt.get_mut(id as usize)) {
            *slot = UnitRt::new(u);
        }
    }

    /// Adds a unit with no file (a mount point found in the mount table).
    pub fn add_synthetic_unit(
        &mut self,
        cat: &crate::unit::load::Catalog,
        name: &str,
        utype: UnitType,
        config: crate::unit::config::UnitConfig,
    ) -> UnitId {
        let id = self.units.add_synthetic(cat, name, utype, config);
        if let Some(u) = self.units.get(id) {
            let fresh = UnitRt::new(u);
            match self.rt.get_mut(id as usize) {
                Some(slot) => *slot = fresh,
                None => self.rt.push(fresh),
            }
        }
        id
    }

    pub fn unit(&self, id: UnitId) -> Option<(&UnitEntry, &UnitRt)> {
        Some((self.units.get(id)?, self.rt.get(id as usize)?))
    }

    pub fn rt_mut(&mut self, id: UnitId) -> Option<&mut UnitRt> {
        self.rt.get_mut(id as usize)
    }

    pub fn service_mut(&mut self, id: UnitId) -> Option<&mut ServiceRt> {
        match &mut self.rt.get_mut(id as usize)?.kind {
            Kind::Service(s) => Some(s),
            Kind::Socket(_)
            | Kind::Mount(_)
            | Kind::Automount(_)
            | Kind::Device(_)
            | Kind::Simple(_) => None,
        }
    }

    pub fn socket_mut(&mut self, id: UnitId) -> Option<&mut SocketRt> {
        match &mut self.rt.get_mut(id as usize)?.kind {
            Kind::Socket(s) => Some(s),
            Kind::Service(_)
            | Kind::Mount(_)
            | Kind::Automount(_)
            | Kind::Device(_)
            | Kind::Simple(_) => None,
        }
    }

    pub fn mount_mut(&mut self, id: UnitId) -> Option<&mut MountRt> {
        match &mut self.rt.get_mut(id as usize)?.kind {
            Kind::Mount(m) => Some(m),
            Kind::Service(_)
            | Kind::Socket(_)
            | Kind::Automount(_)
            | Kind::Device(_)
            | Kind::Simple(_) => None,
        }
    }

    pub fn automount_mut(&mut self, id: UnitId) -> Option<&mut AutomountRt> {
        match &mut self.rt.get_mut(id as usize)?.kind {
            Kind::Automount(a) => Some(a),
            Kind::Service(_)
            | Kind::Socket(_)
            | Kind::Mount(_)
            | Kind::Device(_)
            | Kind::Simple(_) => None,
        }
    }

    pub fn device_mut(&mut self, id: UnitId) -> Option<&mut DeviceRt> {
        match &mut self.rt.get_mut(id as usize)?.kind {
            Kind::Device(d) => Some(d),
            Kind::Service(_)
            | Kind::Socket(_)
            | Kind::Mount(_)
            | Kind::Automount(_)
            | Kind::Simple(_) => None,
        }
    }

    /// devmon saw the device appear (ready) or go. A device that appears with no job of its
    /// own starts what it wants (systemd's retroactive start of a unit that became active).
    pub fn device_seen(&mut self, unit: UnitId, present: bool, out: &mut Vec<Effect>) {
        let before = self.active_state(unit);
        let Some(d) = self.device_mut(unit) else {
            return;
        };
        if d.present == present {
            return;
        }
        d.present = present;
        d.wait_failed = false;
        self.state_changed(unit, before, out);
        let has_job = self.rt.get(unit as usize).is_some_and(|r| r.job.is_some());
        let wants_any = self.units.get(unit).is_some_and(|u| {
            u.deps(crate::job::graph::Dep::Wants).next().is_some()
                || u.deps(crate::job::graph::Dep::Requires).next().is_some()
        });
        if present && !has_job && wants_any {
            self.enqueue_quiet(unit, JobType::Start, Reason::Anchor, out);
        }
    }

    /// Queues an event for an automount unit.
    pub fn push_automount(&mut self, unit: UnitId, ev: automount::AutomountEvent) {
        self.events.push_back((unit, Event::Automount(ev)));
    }

    /// Queues an event for a mount unit.
    pub fn push_mount(&mut self, unit: UnitId, ev: mount::MountEvent) {
        self.events.push_back((unit, Event::Mount(ev)));
    }

    /// Records the control process of a unit (service or socket).
    pub fn set_control_pid(&mut self, id: UnitId, pid: Option<i32>) {
        match self.rt.get_mut(id as usize).map(|r| &mut r.kind) {
            Some(Kind::Service(s)) => s.control_pid = pid,
            Some(Kind::Socket(s)) => s.control_pid = pid,
            Some(Kind::Mount(_) | Kind::Automount(_) | Kind::Device(_) | Kind::Simple(_))
            | None => {}
        }
    }

    /// Queues an event for a socket unit.
    pub fn push_socket(&mut self, unit: UnitId, ev: socket::SockEvent) {
        self.events.push_back((unit, Event::Socket(ev)));
    }

    pub fn active_state(&self, id: UnitId) -> ActiveState {
        let Some(rt) = self.rt.get(id as usize) else {
            return ActiveState::Inactive;
        };
        match &rt.kind {
            Kind::Service(s) => s.machine.active(),
            Kind::Socket(s) => s.machine.active(),
            Kind::Mount(m) => m.machine.active(),
            Kind::Automount(a) => a.machine.active(),
            Kind::Device(d) if d.present => ActiveState::Active,
            Kind::Device(_) => ActiveState::Inactive,
            Kind::Simple(t) if t.active => ActiveState::Active,
            Kind::Simple(_) => {
                if rt.assert_failed().is_some() {
                    ActiveState::Failed
                } else {
                    ActiveState::Inactive
                }
            }
        }
    }

    /// The sub-state systemd would show (`running`, `exited`, `dead`, …).
    pub fn sub_state(&self, id: UnitId) -> &'static str {
        match self.rt.get(id as usize).map(|r| &r.kind) {
            Some(Kind::Service(s)) => s.machine.state.as_str(),
            Some(Kind::Socket(s)) => s.machine.state.as_str(),
            Some(Kind::Mount(m)) => m.machine.state.as_str(),
            Some(Kind::Automount(a)) => a.machine.state.as_str(),
            Some(Kind::Device(d)) if d.present => "plugged",
            Some(Kind::Simple(t)) if t.active => "active",
            _ => "dead",
        }
    }

    /// Queues an event for a unit.
    pub fn push(&mut self, unit: UnitId, ev: Event) {
        self.events.push_back((unit, ev));
    }

    /// Forgets a process that never became what it was spawned to be (its exec failed).
    pub fn forget_pid(&mut self, pid: i32) {
        let Some((unit, _)) = self.pids.remove(&pid) else {
            return;
        };
        if let Some(s) = self.service_mut(unit) {
            if s.main_pid == Some(pid) {
                s.main_pid = None;
            }
            if s.control_pid == Some(pid) {
                s.control_pid = None;
            }
        }
        if let Some(s) = self.socket_mut(unit) {
            if s.control_pid == Some(pid) {
                s.control_pid = None;
            }
        }
    }

    /// A process was reaped. Returns false if it belonged to no unit.
    pub fn child_exited(&mut self, pid: i32, status: crate::service::policy::ExitStatus) -> bool {
        let Some((unit, main)) = self.pids.remove(&pid) else {
            return false;
        };
        if self.recent_exits.len() >= 64 {
            self.recent_exits.pop_front();
        }
        self.recent_exits.push_back((pid, unit, main));
        if let Some(s) = self.service_mut(unit) {
            if main && s.main_pid == Some(pid) {
                s.main_pid = None;
                self.push(unit, Event::MainExited(status));
            } else if !main && s.control_pid == Some(pid) {
                s.control_pid = None;
                self.push(unit, Event::ControlExited(status));
            }
        }
        if let Some(s) = self.socket_mut(unit) {
            if !main && s.control_pid == Some(pid) {
                s.control_pid = None;
                self.push_socket(unit, socket::SockEvent::ControlExited(status));
            }
        }
        true
    }

    /// Runs queued events and runnable jobs until nothing changes. Returns the effects, in
    /// order.
    pub fn step(&mut self) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.deferred);
        loop {
            while let Some((unit, ev)) = self.events.pop_front() {
                self.feed(unit, ev, &mut out);
            }
            let dirty = std::mem::take(&mut self.dirty);
            for u in dirty {
                self.check_job(u, &mut out);
            }
            if !self.events.is_empty() || !self.dirty.is_empty() {
                continue;
            }
            if !self.run_runnable(&mut out) && self.events.is_empty() && self.dirty.is_empty() {
                if self.stop_unneeded(&mut out) {
                    continue;
                }
                break;
            }
        }
        out
    }

    /// Counts a start against StartLimitIntervalSec=/StartLimitBurst=; false when over.
    fn start_allowed(&mut self, unit: UnitId) -> bool {
        let (interval, burst) = match self.units.get(unit) {
            Some(u) => u.settings.start_limit(),
            None => return true,
        };
        let now = self.now_usec;
        let Some(rt) = self.rt_mut(unit) else {
            return true;
        };
        if interval.is_zero() || burst == 0 {
            return true;
        }
        let window = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        while rt
            .starts
            .first()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            rt.starts.remove(0);
        }
        if rt.starts.len() >= burst as usize {
            return false;
        }
        rt.starts.push(now);
        true
    }

    /// Queues the start of `unit`'s OnFailure= units, with its OnFailureJobMode=.
    pub(super) fn start_on_failure(&mut self, unit: UnitId, out: &mut Vec<Effect>) {
        let Some(u) = self.units.get(unit) else {
            return;
        };
        let handlers: Vec<UnitId> = u.deps(Dep::OnFailure).collect();
        let mode = u
            .config()
            .unit
            .on_failure_job_mode
            .unwrap_or(JobMode::Replace);
        let name = u.name.clone();
        for h in handlers {
            out.push(Effect::Log(format!(
                "{name}: starting {} (OnFailure=, job mode {})",
                Graph::name(&*self, h),
                mode.as_str()
            )));
            self.enqueue_quiet_mode(
                h,
                JobType::Start,
                mode,
                Reason::Dep {
                    from: unit,
                    dep: Dep::OnFailure,
                },
                out,
            );
        }
    }

    /// Bookkeeping after a unit may have changed state: timestamps, OnFailure, BindsTo.
    pub fn state_changed(&mut self, unit: UnitId, before: ActiveState, out: &mut Vec<Effect>) {
        let after = self.active_state(unit);
        self.dirty.push(unit);
        self.tell_triggering_sockets(unit);
        if before == after {
            return;
        }
        let (now, mono) = (self.now_usec, self.now_mono_usec);
        if let Some(rt) = self.rt_mut(unit) {
            rt.state_change_usec = now;
            if after == ActiveState::Active {
                rt.active_enter_usec = now;
                rt.active_enter_mono = mono;
            }
            if after == ActiveState::Activating {
                rt.activating_enter_usec = now;
                rt.activating_enter_mono = mono;
            }
            // A failure (also one followed by an automatic restart) is kept for `status`.
            let failure = match &rt.kind {
                Kind::Service(s)
                    if s.machine.result != crate::service::policy::ServiceResult::Success
                        && matches!(
                            s.machine.state,
                            machine::State::Failed | machine::State::AutoRestart
                        ) =>
                {
                    Some(Box::new(Failure {
                        realtime_usec: now,
                        result: s.machine.result.as_str(),
                        exit: s.machine.last_exit.map(|e| e.describe()),
                        last_lines: rt.log.tail(5, None).into_iter().map(|r| r.text).collect(),
                    }))
                }
                _ => None,
            };
            if failure.is_some() {
                rt.last_failure = failure;
            }
        }
        let Some(u) = self.units.get(unit) else {
            return;
        };
        let name = u.name.clone();
        let bound: Vec<UnitId> = u.deps(Dep::BoundBy).collect();
        let on_success: Vec<UnitId> = u.deps(Dep::OnSuccess).collect();
        // Stopped for good — not the stop half of a restart job, which keeps the fd store.
        let restart_job = self
            .rt
            .get(unit as usize)
            .and_then(|r| r.job)
            .and_then(|j| self.jobs.get(j))
            .is_some_and(|j| j.jtype == JobType::Restart);
        if matches!(after, ActiveState::Inactive | ActiveState::Failed)
            && u.utype == UnitType::Service
            && !restart_job
        {
            out.push(Effect::Stopped { unit });
        }
        let clean = match self.rt.get(unit as usize).map(|r| &r.kind) {
            Some(Kind::Service(s)) => {
                s.machine.result == crate::service::policy::ServiceResult::Success
            }
            _ => true,
        };
        if after == ActiveState::Inactive && before != ActiveState::Inactive && clean {
            for h in on_success {
                self.enqueue_quiet(
                    h,
                    JobType::Start,
                    Reason::Dep {
                        from: unit,
                        dep: Dep::OnSuccess,
                    },
                    out,
                );
            }
        }
        if after == ActiveState::Failed {
            out.push(Effect::Log(format!("{name}: failed")));
            self.start_on_failure(unit, out);
        }
        // A unit that goes down takes down what is bound to it (BindsTo=), unless a job of its
        // own is bringing it back or it is about to restart by itself.
        let restarting = matches!(
            self.rt.get(unit as usize).map(|r| &r.kind),
            Some(Kind::Service(s)) if s.machine.state == machine::State::AutoRestart
        );
        let coming_back = self
            .rt
            .get(unit as usize)
            .and_then(|r| r.job)
            .and_then(|j| self.jobs.get(j))
            .is_some_and(|j| matches!(j.jtype, JobType::Start | JobType::Restart));
        let down = matches!(after, ActiveState::Inactive | ActiveState::Failed)
            && !matches!(before, ActiveState::Inactive | ActiveState::Failed)
            && !restarting
            && !coming_back;
        if down {
            for b in bound {
                if matches!(
                    self.active_state(b),
                    ActiveState::Active | ActiveState::Activating
                ) {
                    self.enqueue_quiet(
                        b,
                        JobType::Stop,
                        Reason::Dep {
                            from: unit,
                            dep: Dep::BindsTo,
                        },
                        out,
                    );
                }
            }
        }
    }
}

impl Manager {
    /// StopWhenUnneeded=: a unit nobody active needs any more is stopped. Returns whether a
    /// stop was queued.
    fn stop_unneeded(&mut self, out: &mut Vec<Effect>) -> bool {
        debug_assert!(self
            .units
            .list
            .iter()
            .all(|u| u.settings.stop_when_unneeded()
                == self.units.stop_when_unneeded.contains(&u.id)));
        let candidates: Vec<UnitId> = self.units.stop_when_unneeded.iter().copied().collect();
        let mut queued = false;
        for id in candidates {
            let has_job = self.rt.get(id as usize).is_some_and(|r| r.job.is_some());
            if has_job || !matches!(self.active_state(id), ActiveState::Active) {
                continue;
            }
            let Some(u) = self.units.get(id) else {
                continue;
            };
            let needed = [
                Dep::RequiredBy,
                Dep::WantedBy,
                Dep::BoundBy,
                Dep::RequisiteOf,
            ]
            .iter()
            .flat_map(|d| u.deps(*d))
            .any(|o| {
                matches!(
                    self.active_state(o),
                    ActiveState::Active | ActiveState::Activating | ActiveState::Reloading
                ) || self.rt.get(o as usize).is_some_and(|r| r.job.is_some())
            });
            if !needed {
                out.push(Effect::Log(format!("{}: unneeded, stopping", u.name)));
                self.enqueue_quiet(id, JobType::Stop, Reason::Anchor, out);
                queued = true;
            }
        }
        queued
    }
}

impl Graph for Manager {
    fn deps(&self, u: UnitId, d: Dep) -> Vec<UnitId> {
        self.units
            .get(u)
            .map(|e| e.deps(d).collect())
            .unwrap_or_default()
    }
    fn name(&self, u: UnitId) -> &str {
        self.units.get(u).map(|e| e.name.as_str()).unwrap_or("?")
    }
    fn active_state(&self, u: UnitId) -> ActiveState {
        Manager::active_state(self, u)
    }
    fn ignore_on_isolate(&self, u: UnitId) -> bool {
        self.units.get(u).is_some_and(|e| e.ignore_on_isolate())
    }
    fn allow_isolate(&self, u: UnitId) -> bool {
        self.units
            .get(u)
            .is_some_and(|e| e.config().unit.allow_isolate)
    }
    fn can_reload(&self, u: UnitId) -> bool {
        matches!(self.rt.get(u as usize).map(|r| &r.kind), Some(Kind::Service(s)) if !s.spec.reload.is_empty())
    }
    fn is_loaded(&self, u: UnitId) -> bool {
        self.units
            .get(u)
            .is_some_and(|e| e.load == LoadState::Loaded)
    }
    fn installed_job(&self, u: UnitId) -> Option<(JobType, bool)> {
        let id = self.rt.get(u as usize)?.job?;
        self.jobs.get(id).map(|j| (j.jtype, j.irreversible))
    }
    fn all_units(&self) -> Vec<UnitId> {
        (0..self.units.list.len())
            .filter_map(|i| UnitId::try_from(i).ok())
            .collect()
    }
}

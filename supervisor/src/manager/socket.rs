//! A socket unit's lifecycle, pure: events in, actions out (brief §5, STYLE habit 4).
//!
//! ```text
//! dead ─start→ start-pre → opening → start-post → listening ⇄ running
//!                  (ExecStartPre)  (activator)  (ExecStartPost)   │
//!   ↑                                                              stop
//! dead/failed ← stop-post (ExecStopPost) ← close ← stop-pre (ExecStopPre) ←┘
//! ```
//!
//! `listening`: the activator watches the sockets. `running`: the service they trigger is
//! active or starting, and owns the traffic; the sockets are not watched. With Accept=yes the
//! socket stays `listening` and each connection is its own instance.
//!
//! Trigger storms never latch the socket (systemd 252 fails it on TriggerLimit=): when more
//! than the limit's burst of triggers arrive within its interval, watching pauses for a
//! back-off (the interval, doubling per consecutive pause up to a minute) and resumes by
//! itself. What waits in the kernel's queues stays there meanwhile.

use std::collections::VecDeque;
use std::time::Duration;

use crate::job::graph::ActiveState;
use crate::service::machine::ExecList;
use crate::service::policy::{result_of, ExitStatus, ServiceResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SockState {
    #[default]
    Dead,
    StartPre,
    /// The activator is creating the sockets.
    Opening,
    StartPost,
    Listening,
    Running,
    StopPre,
    StopPost,
    Failed,
}

impl SockState {
    pub fn as_str(self) -> &'static str {
        match self {
            SockState::Dead => "dead",
            SockState::StartPre => "start-pre",
            SockState::Opening => "opening",
            SockState::StartPost => "start-post",
            SockState::Listening => "listening",
            SockState::Running => "running",
            SockState::StopPre => "stop-pre",
            SockState::StopPost => "stop-post",
            SockState::Failed => "failed",
        }
    }

    pub fn active(self) -> ActiveState {
        match self {
            SockState::Dead => ActiveState::Inactive,
            SockState::Failed => ActiveState::Failed,
            SockState::StartPre | SockState::Opening | SockState::StartPost => {
                ActiveState::Activating
            }
            SockState::Listening | SockState::Running => ActiveState::Active,
            SockState::StopPre | SockState::StopPost => ActiveState::Deactivating,
        }
    }
}

/// What happened to a socket unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockEvent {
    Start,
    Stop,
    ControlExited(ExitStatus),
    /// A command could not be started at all.
    SpawnFailed,
    /// The activator made the sockets (`true`), or could not (the runtime logs why).
    Opened(bool),
    /// Traffic on an Accept=no socket (the activator stopped watching it).
    Triggered,
    /// The triggered service became active or activating (`true`) or inactive or failed.
    ServiceActive(bool),
    /// A trigger-limit pause is over.
    Resume,
    /// The triggered service's start was refused by its start limit: the socket stops,
    /// failed (Accept=no only).
    ServiceStartLimitHit,
}

/// What the outer loop must do for a socket unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAction {
    /// Run command `index` of `list` (StartPre, StartPost, Stop = ExecStopPre=, StopPost) as
    /// the control process.
    Spawn {
        list: ExecList,
        index: usize,
    },
    /// SIGTERM the control process (a stop during start-pre or start-post).
    KillControl,
    /// Ask the activator for the sockets.
    Open,
    /// Drop the sockets (and, with RemoveOnStop=, their files).
    Close,
    Watch,
    Unwatch,
    /// Start the triggered service.
    StartService,
    /// Send `Resume` after this long.
    ArmResume(Duration),
    Log(String),
}

/// What the machine needs to know of the unit's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SockSpec {
    /// Per command of each list: is its failure ignored (`-` prefix)?
    pub start_pre: Vec<bool>,
    pub start_post: Vec<bool>,
    pub stop_pre: Vec<bool>,
    pub stop_post: Vec<bool>,
    pub accept: bool,
    /// (interval, burst); burst 0 or interval 0 means no limit.
    pub trigger_limit: (u64, u32),
}

impl SockSpec {
    fn list(&self, l: ExecList) -> &[bool] {
        match l {
            ExecList::StartPre => &self.start_pre,
            ExecList::StartPost => &self.start_post,
            ExecList::Stop => &self.stop_pre,
            ExecList::StopPost => &self.stop_post,
            ExecList::Start | ExecList::Reload => &[],
        }
    }
}

const PAUSE_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct SockMachine {
    pub state: SockState,
    pub result: ServiceResult,
    /// The control command running, if any.
    current: Option<(ExecList, usize)>,
    has_control: bool,
    stop_requested: bool,
    /// The sockets exist (between a successful open and the close).
    opened: bool,
    pub service_active: bool,
    /// Watching is paused by the trigger limit.
    pub paused: bool,
    consecutive_pauses: u32,
    /// Times of the recent triggers, for the limit.
    recent: VecDeque<u64>,
    /// Triggers and accepted connections since the manager started.
    pub triggers: u64,
    pub refused: u64,
}

type Out = Vec<SockAction>;

impl SockMachine {
    pub fn active(&self) -> ActiveState {
        self.state.active()
    }

    /// Feeds one event at time `now_usec`; returns what to do, in order.
    pub fn handle(&mut self, spec: &SockSpec, ev: SockEvent, now_usec: u64) -> Out {
        let mut out = Vec::new();
        match ev {
            SockEvent::Start => self.on_start(spec, &mut out),
            SockEvent::Stop => self.on_stop(spec, &mut out),
            SockEvent::ControlExited(st) => self.on_control_exited(spec, Some(st), &mut out),
            SockEvent::SpawnFailed => self.on_control_exited(spec, None, &mut out),
            SockEvent::Opened(r) => self.on_opened(spec, r, &mut out),
            SockEvent::Triggered => self.on_triggered(spec, now_usec, &mut out),
            SockEvent::ServiceActive(a) => self.on_service_active(a, &mut out),
            SockEvent::Resume => self.on_resume(&mut out),
            SockEvent::ServiceStartLimitHit => self.on_service_start_limit_hit(spec, &mut out),
        }
        out
    }

    /// Accept=yes: may one more connection start an instance now? Counts it against the
    /// trigger limit; when over, pauses watching (the caller closes nothing: the connection
    /// in hand is refused, what is still queued waits).
    pub fn allow_accept(&mut self, spec: &SockSpec, now_usec: u64) -> (bool, Out) {
        let mut out = Vec::new();
        if self.state != SockState::Listening || self.paused {
            return (false, out);
        }
        let ok = self.count_trigger(spec, now_usec, &mut out);
        (ok, out)
    }

    fn fail(&mut self, r: ServiceResult) {
        if self.result == ServiceResult::Success {
            self.result = r;
        }
    }

    fn spawn(&mut self, list: ExecList, index: usize, out: &mut Out) {
        self.current = Some((list, index));
        self.has_control = true;
        out.push(SockAction::Spawn { list, index });
    }

    fn on_start(&mut self, spec: &SockSpec, out: &mut Out) {
        match self.state {
            SockState::Dead | SockState::Failed => {
                self.result = ServiceResult::Success;
                self.stop_requested = false;
                self.paused = false;
                self.consecutive_pauses = 0;
                self.recent.clear();
                if spec.start_pre.is_empty() {
                    self.enter_opening(out);
                } else {
                    self.state = SockState::StartPre;
                    self.spawn(ExecList::StartPre, 0, out);
                }
            }
            SockState::StartPre
            | SockState::Opening
            | SockState::StartPost
            | SockState::Listening
            | SockState::Running
            | SockState::StopPre
            | SockState::StopPost => {}
        }
    }

    fn enter_opening(&mut self, out: &mut Out) {
        self.state = SockState::Opening;
        out.push(SockAction::Open);
    }

    fn on_opened(&mut self, spec: &SockSpec, ok: bool, out: &mut Out) {
        if self.state != SockState::Opening {
            // A stale answer (the unit was stopped meanwhile): drop what it brought.
            if ok && !self.opened {
                out.push(SockAction::Close);
            }
            return;
        }
        match ok {
            true => {
                self.opened = true;
                if self.stop_requested {
                    self.enter_stop_pre(spec, out);
                } else if spec.start_post.is_empty() {
                    self.enter_listening(out);
                } else {
                    self.state = SockState::StartPost;
                    self.spawn(ExecList::StartPost, 0, out);
                }
            }
            false => {
                self.fail(ServiceResult::Resources);
                self.enter_stop_post(spec, out);
            }
        }
    }

    fn enter_listening(&mut self, out: &mut Out) {
        // Only Accept=no sockets hear of their service (Accept=yes ones trigger none).
        if self.service_active {
            self.state = SockState::Running;
        } else {
            self.state = SockState::Listening;
            if !self.paused {
                out.push(SockAction::Watch);
            }
        }
    }

    fn on_control_exited(&mut self, spec: &SockSpec, st: Option<ExitStatus>, out: &mut Out) {
        self.has_control = false;
        let Some((list, index)) = self.current.take() else {
            return;
        };
        let r = match st {
            Some(st) => result_of(st, &[], &[]),
            None => ServiceResult::Resources,
        };
        let ignored = st.is_some() && spec.list(list).get(index).copied().unwrap_or(false);
        let ok = r == ServiceResult::Success || ignored;
        let next = index + 1 < spec.list(list).len();
        match self.state {
            SockState::StartPre if self.stop_requested => self.enter_stop_post(spec, out),
            SockState::StartPre if ok && next => self.spawn(list, index + 1, out),
            SockState::StartPre if ok => self.enter_opening(out),
            SockState::StartPre => {
                self.fail(r);
                self.enter_stop_post(spec, out);
            }
            SockState::StartPost if self.stop_requested => self.enter_stop_pre(spec, out),
            SockState::StartPost if ok && next => self.spawn(list, index + 1, out),
            SockState::StartPost if ok => self.enter_listening(out),
            SockState::StartPost => {
                self.fail(r);
                self.enter_stop_pre(spec, out);
            }
            SockState::StopPre => {
                if !ok {
                    self.fail(r);
                }
                if next {
                    self.spawn(list, index + 1, out);
                } else {
                    self.close(out);
                    self.enter_stop_post(spec, out);
                }
            }
            SockState::StopPost => {
                if !ok {
                    self.fail(r);
                }
                if next {
                    self.spawn(list, index + 1, out);
                } else {
                    self.finish();
                }
            }
            SockState::Dead
            | SockState::Opening
            | SockState::Listening
            | SockState::Running
            | SockState::Failed => {}
        }
    }

    fn on_stop(&mut self, spec: &SockSpec, out: &mut Out) {
        match self.state {
            SockState::StartPre | SockState::StartPost => {
                self.stop_requested = true;
                if self.has_control {
                    out.push(SockAction::KillControl);
                }
            }
            SockState::Opening => self.stop_requested = true,
            SockState::Listening | SockState::Running => {
                out.push(SockAction::Unwatch);
                self.enter_stop_pre(spec, out);
            }
            SockState::Dead | SockState::Failed | SockState::StopPre | SockState::StopPost => {}
        }
    }

    fn enter_stop_pre(&mut self, spec: &SockSpec, out: &mut Out) {
        if spec.stop_pre.is_empty() {
            self.close(out);
            self.enter_stop_post(spec, out);
        } else {
            self.state = SockState::StopPre;
            self.spawn(ExecList::Stop, 0, out);
        }
    }

    fn close(&mut self, out: &mut Out) {
        if self.opened {
            self.opened = false;
            out.push(SockAction::Close);
        }
    }

    fn enter_stop_post(&mut self, spec: &SockSpec, out: &mut Out) {
        self.close(out);
        if spec.stop_post.is_empty() {
            self.finish();
        } else {
            self.state = SockState::StopPost;
            self.spawn(ExecList::StopPost, 0, out);
        }
    }

    fn finish(&mut self) {
        self.paused = false;
        self.state = if self.result == ServiceResult::Success {
            SockState::Dead
        } else {
            SockState::Failed
        };
    }

    /// Counts one trigger; false (and a pause) when over the limit.
    fn count_trigger(&mut self, spec: &SockSpec, now: u64, out: &mut Out) -> bool {
        let (interval, burst) = spec.trigger_limit;
        self.triggers += 1;
        if interval == 0 || burst == 0 {
            return true;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= interval)
        {
            self.recent.pop_front();
        }
        if self.recent.len() < burst as usize {
            self.recent.push_back(now);
            if self.recent.len() == 1 {
                self.consecutive_pauses = 0;
            }
            return true;
        }
        self.triggers -= 1;
        self.refused += 1;
        self.paused = true;
        let shift = self.consecutive_pauses.min(16);
        self.consecutive_pauses += 1;
        let delay = Duration::from_micros(interval)
            .saturating_mul(1u32 << shift)
            .min(PAUSE_MAX);
        out.push(SockAction::Unwatch);
        out.push(SockAction::Log(format!(
            "trigger limit hit ({burst} in {:?}); pausing for {delay:?}",
            Duration::from_micros(interval)
        )));
        out.push(SockAction::ArmResume(delay));
        false
    }

    fn on_triggered(&mut self, spec: &SockSpec, now: u64, out: &mut Out) {
        if self.state != SockState::Listening || self.paused {
            return;
        }
        if !self.count_trigger(spec, now, out) {
            return;
        }
        if spec.accept {
            return;
        }
        self.state = SockState::Running;
        out.push(SockAction::StartService);
    }

    fn on_service_active(&mut self, active: bool, out: &mut Out) {
        self.service_active = active;
        match (self.state, active) {
            (SockState::Listening, true) => {
                self.state = SockState::Running;
                out.push(SockAction::Unwatch);
            }
            (SockState::Running, false) => {
                self.state = SockState::Listening;
                if !self.paused {
                    out.push(SockAction::Watch);
                }
            }
            (SockState::Listening, false)
            | (SockState::Running, true)
            | (
                SockState::Dead
                | SockState::StartPre
                | SockState::Opening
                | SockState::StartPost
                | SockState::StopPre
                | SockState::StopPost
                | SockState::Failed,
                _,
            ) => {}
        }
    }

    fn on_service_start_limit_hit(&mut self, spec: &SockSpec, out: &mut Out) {
        if spec.accept || !matches!(self.state, SockState::Listening | SockState::Running) {
            return;
        }
        self.service_active = false;
        self.fail(ServiceResult::ServiceStartLimitHit);
        out.push(SockAction::Unwatch);
        out.push(SockAction::Log(
            "the service it triggers hit its start limit; stopping".into(),
        ));
        self.enter_stop_pre(spec, out);
    }

    fn on_resume(&mut self, out: &mut Out) {
        if !self.paused {
            return;
        }
        self.paused = false;
        out.push(SockAction::Log(
            "trigger limit pause over; watching again".into(),
        ));
        if self.state == SockState::Listening {
            out.push(SockAction::Watch);
        }
    }

    /// After a supervisor restart: the sockets exist (their fds came back from pid1).
    pub fn adopt_listening(&mut self, service_active: bool) {
        self.opened = true;
        self.service_active = service_active;
        self.state = if service_active {
            SockState::Running
        } else {
            SockState::Listening
        };
    }
}

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;

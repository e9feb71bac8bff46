//! An automount unit's lifecycle, pure: events in, actions out.
//!
//! ```text
//! dead ─start→ arming ─armed→ waiting ⇄ running ─stop→ disarming → dead
//! ```
//!
//! `waiting`: the autofs point is there and nothing is mounted on it; a process that touches
//! it is held by the kernel until its request (a token) is answered. `running`: the mount is
//! up. Every token is answered: `ready` once the mount is active, `fail` (the process gets
//! ENOENT) when the mount fails or its deadline passes — never a hang. A failure does not
//! latch the unit: it goes on waiting, and the next access tries the mount again (systemd's
//! users report automounts that never recover; this one does).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::job::graph::ActiveState;
use crate::service::policy::ServiceResult;

/// How long a request may wait when the mount has no TimeoutSec= (systemd's default start
/// timeout).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutomountState {
    #[default]
    Dead,
    Arming,
    Waiting,
    Running,
    Disarming,
    Failed,
}

impl AutomountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AutomountState::Dead => "dead",
            AutomountState::Arming => "arming",
            AutomountState::Waiting => "waiting",
            AutomountState::Running => "running",
            AutomountState::Disarming => "disarming",
            AutomountState::Failed => "failed",
        }
    }

    pub fn active(self) -> ActiveState {
        match self {
            AutomountState::Dead => ActiveState::Inactive,
            AutomountState::Arming => ActiveState::Activating,
            AutomountState::Waiting | AutomountState::Running => ActiveState::Active,
            AutomountState::Disarming => ActiveState::Deactivating,
            AutomountState::Failed => ActiveState::Failed,
        }
    }
}

/// The state of the mount unit an automount triggers, as it matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountIs {
    /// Mounted.
    Up,
    /// Not mounted, and no job will bring it (dead, failed, or its start job failed).
    Down,
    /// Mounting, or a start job is queued.
    Coming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutomountEvent {
    Start,
    Stop,
    /// The mounter set up the autofs point (or could not).
    Armed(bool),
    /// The mounter removed it.
    Disarmed,
    /// A process touched the point; the kernel holds it until `token` is answered.
    Requested(u32),
    /// The mount unit changed.
    Mount(MountIs),
    /// A request's deadline passed.
    Deadline(u32),
    /// The kernel asks to expire the idle mount (`token` answered once it is unmounted).
    Expire(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomountAction {
    Arm,
    Disarm,
    /// Queue a start of the mount unit.
    StartMount,
    /// Queue a stop of the mount unit (idle expiry).
    StopMount,
    /// Answer these tokens: ready (the mount is up) or fail (ENOENT).
    Answer {
        tokens: Vec<u32>,
        ready: bool,
    },
    /// Send `Deadline(token)` after this long.
    ArmDeadline {
        token: u32,
        after: Duration,
    },
}

#[derive(Debug, Clone, Default)]
pub struct AutomountMachine {
    pub state: AutomountState,
    pub result: ServiceResult,
    /// Requests not answered yet.
    pub pending: BTreeSet<u32>,
    /// An expire request waiting for the unmount.
    pub expiring: Option<u32>,
    /// Requests answered so far, and how many of them with an error.
    pub answered: u64,
    pub failed_answers: u64,
}

type Out = Vec<AutomountAction>;

impl AutomountMachine {
    pub fn active(&self) -> ActiveState {
        self.state.active()
    }

    /// `mount`: the mount unit's state now; `deadline`: how long a request may wait.
    pub fn handle(&mut self, ev: AutomountEvent, mount: MountIs, deadline: Duration) -> Out {
        let mut out = Vec::new();
        match (self.state, ev) {
            (AutomountState::Dead | AutomountState::Failed, AutomountEvent::Start) => {
                self.result = ServiceResult::Success;
                self.state = AutomountState::Arming;
                out.push(AutomountAction::Arm);
            }
            (_, AutomountEvent::Start) => {}
            (AutomountState::Arming, AutomountEvent::Armed(true)) => {
                self.state = if mount == MountIs::Up {
                    AutomountState::Running
                } else {
                    AutomountState::Waiting
                };
            }
            (AutomountState::Arming, AutomountEvent::Armed(false)) => {
                self.result = ServiceResult::Resources;
                self.state = AutomountState::Failed;
            }
            (_, AutomountEvent::Armed(_)) => {}
            (AutomountState::Waiting | AutomountState::Running, AutomountEvent::Requested(t)) => {
                match mount {
                    MountIs::Up => self.answer(vec![t], true, &mut out),
                    MountIs::Coming | MountIs::Down => {
                        let first = self.pending.is_empty();
                        self.pending.insert(t);
                        out.push(AutomountAction::ArmDeadline {
                            token: t,
                            after: deadline,
                        });
                        if first && mount == MountIs::Down {
                            out.push(AutomountAction::StartMount);
                        }
                    }
                }
            }
            // Not armed (any more): nobody may wait on us.
            (
                AutomountState::Dead
                | AutomountState::Arming
                | AutomountState::Disarming
                | AutomountState::Failed,
                AutomountEvent::Requested(t),
            ) => self.answer(vec![t], false, &mut out),
            (state, AutomountEvent::Mount(m)) => {
                match m {
                    MountIs::Up => {
                        let all: Vec<u32> = std::mem::take(&mut self.pending).into_iter().collect();
                        if !all.is_empty() {
                            self.answer(all, true, &mut out);
                        }
                        if state == AutomountState::Waiting {
                            self.state = AutomountState::Running;
                        }
                    }
                    MountIs::Down => {
                        // Failed (or gone): every waiter hears it now; the point stays armed.
                        let all: Vec<u32> = std::mem::take(&mut self.pending).into_iter().collect();
                        if !all.is_empty() {
                            self.answer(all, false, &mut out);
                        }
                        if let Some(t) = self.expiring.take() {
                            self.answer(vec![t], true, &mut out);
                        }
                        if state == AutomountState::Running {
                            self.state = AutomountState::Waiting;
                        }
                    }
                    MountIs::Coming => {}
                }
            }
            (_, AutomountEvent::Deadline(t)) => {
                if self.pending.remove(&t) {
                    self.answer(vec![t], false, &mut out);
                }
            }
            (AutomountState::Running, AutomountEvent::Expire(t)) => {
                self.expiring = Some(t);
                out.push(AutomountAction::StopMount);
            }
            (_, AutomountEvent::Expire(t)) => self.answer(vec![t], true, &mut out),
            (
                AutomountState::Waiting | AutomountState::Running | AutomountState::Arming,
                AutomountEvent::Stop,
            ) => {
                let all: Vec<u32> = std::mem::take(&mut self.pending).into_iter().collect();
                if !all.is_empty() {
                    self.answer(all, false, &mut out);
                }
                self.state = AutomountState::Disarming;
                out.push(AutomountAction::Disarm);
            }
            (
                AutomountState::Dead | AutomountState::Disarming | AutomountState::Failed,
                AutomountEvent::Stop,
            ) => {}
            (AutomountState::Disarming, AutomountEvent::Disarmed) => {
                self.state = AutomountState::Dead
            }
            (_, AutomountEvent::Disarmed) => {}
        }
        out
    }

    fn answer(&mut self, tokens: Vec<u32>, ready: bool, out: &mut Out) {
        self.answered += tokens.len() as u64;
        if !ready {
            self.failed_answers += tokens.len() as u64;
        }
        out.push(AutomountAction::Answer { tokens, ready });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(5);

    fn armed() -> AutomountMachine {
        let mut m = AutomountMachine::default();
        assert_eq!(
            m.handle(AutomountEvent::Start, MountIs::Down, D),
            vec![AutomountAction::Arm]
        );
        m.handle(AutomountEvent::Armed(true), MountIs::Down, D);
        assert_eq!(m.state, AutomountState::Waiting);
        m
    }

    #[test]
    fn the_first_access_mounts_and_every_waiter_is_answered_ready() {
        let mut m = armed();
        let a = m.handle(AutomountEvent::Requested(1), MountIs::Down, D);
        assert_eq!(
            a,
            vec![
                AutomountAction::ArmDeadline { token: 1, after: D },
                AutomountAction::StartMount
            ]
        );
        // Others arrive while it mounts: they wait too, no second start.
        let a = m.handle(AutomountEvent::Requested(2), MountIs::Coming, D);
        assert_eq!(a, vec![AutomountAction::ArmDeadline { token: 2, after: D }]);
        let a = m.handle(AutomountEvent::Mount(MountIs::Up), MountIs::Up, D);
        assert_eq!(
            a,
            vec![AutomountAction::Answer {
                tokens: vec![1, 2],
                ready: true
            }]
        );
        assert_eq!(m.state, AutomountState::Running);
        // Once up, a request (after an expiry raced it) is answered at once.
        let a = m.handle(AutomountEvent::Requested(3), MountIs::Up, D);
        assert_eq!(
            a,
            vec![AutomountAction::Answer {
                tokens: vec![3],
                ready: true
            }]
        );
    }

    #[test]
    fn a_failed_mount_answers_everyone_at_once_and_the_next_access_retries() {
        let mut m = armed();
        m.handle(AutomountEvent::Requested(1), MountIs::Down, D);
        m.handle(AutomountEvent::Requested(2), MountIs::Coming, D);
        let a = m.handle(AutomountEvent::Mount(MountIs::Down), MountIs::Down, D);
        assert_eq!(
            a,
            vec![AutomountAction::Answer {
                tokens: vec![1, 2],
                ready: false
            }]
        );
        assert_eq!(m.state, AutomountState::Waiting, "still armed");
        assert_eq!(m.active(), ActiveState::Active, "never latched as failed");
        let a = m.handle(AutomountEvent::Requested(3), MountIs::Down, D);
        assert!(a.contains(&AutomountAction::StartMount));
        assert_eq!(m.failed_answers, 2);
    }

    #[test]
    fn a_deadline_fails_only_its_own_request() {
        let mut m = armed();
        m.handle(AutomountEvent::Requested(1), MountIs::Down, D);
        m.handle(AutomountEvent::Requested(2), MountIs::Coming, D);
        let a = m.handle(AutomountEvent::Deadline(1), MountIs::Coming, D);
        assert_eq!(
            a,
            vec![AutomountAction::Answer {
                tokens: vec![1],
                ready: false
            }]
        );
        // A deadline of an answered request does nothing.
        assert_eq!(
            m.handle(AutomountEvent::Deadline(1), MountIs::Coming, D),
            vec![]
        );
        assert_eq!(m.pending.len(), 1);
    }

    #[test]
    fn expiry_stops_the_mount_and_answers_once_it_is_down() {
        let mut m = armed();
        m.handle(AutomountEvent::Mount(MountIs::Up), MountIs::Up, D);
        assert_eq!(
            m.handle(AutomountEvent::Expire(9), MountIs::Up, D),
            vec![AutomountAction::StopMount]
        );
        let a = m.handle(AutomountEvent::Mount(MountIs::Down), MountIs::Down, D);
        assert_eq!(
            a,
            vec![AutomountAction::Answer {
                tokens: vec![9],
                ready: true
            }]
        );
        assert_eq!(m.state, AutomountState::Waiting, "re-armed");
    }

    #[test]
    fn stop_fails_the_waiters_and_disarms() {
        let mut m = armed();
        m.handle(AutomountEvent::Requested(4), MountIs::Down, D);
        let a = m.handle(AutomountEvent::Stop, MountIs::Coming, D);
        assert_eq!(
            a,
            vec![
                AutomountAction::Answer {
                    tokens: vec![4],
                    ready: false
                },
                AutomountAction::Disarm
            ]
        );
        m.handle(AutomountEvent::Disarmed, MountIs::Down, D);
        assert_eq!(m.state, AutomountState::Dead);
        // A request that slips in after is failed, not left hanging.
        let a = m.handle(AutomountEvent::Requested(5), MountIs::Down, D);
        assert_eq!(
            a,
            vec![AutomountAction::Answer {
                tokens: vec![5],
                ready: false
            }]
        );
    }
}

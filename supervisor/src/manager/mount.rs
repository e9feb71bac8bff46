//! A mount unit's lifecycle, pure: events in, actions out.
//!
//! ```text
//! dead ─start→ mounting ─done→ mounted ─stop→ unmounting ─done→ dead
//!                 │ error/timeout                  │ error
//!                 ↓                                ↓
//!               failed                          mounted (the stop job fails)
//! ```
//!
//! The kernel's mount table has the last word: the mounter reports it after every change, and
//! a mount point that appears (mounted by hand, or ours) makes the unit `mounted`; one that
//! disappears makes it `dead` — whatever the unit thought.

use std::time::Duration;

use crate::job::graph::ActiveState;
use crate::service::policy::ServiceResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountState {
    #[default]
    Dead,
    Mounting,
    Mounted,
    Unmounting,
    Failed,
}

impl MountState {
    pub fn as_str(self) -> &'static str {
        match self {
            MountState::Dead => "dead",
            MountState::Mounting => "mounting",
            MountState::Mounted => "mounted",
            MountState::Unmounting => "unmounting",
            MountState::Failed => "failed",
        }
    }

    pub fn active(self) -> ActiveState {
        match self {
            MountState::Dead => ActiveState::Inactive,
            MountState::Mounting => ActiveState::Activating,
            MountState::Mounted => ActiveState::Active,
            MountState::Unmounting => ActiveState::Deactivating,
            MountState::Failed => ActiveState::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountEvent {
    Start,
    Stop,
    /// The mounter answered a mount request.
    Mounted(bool),
    /// The mounter answered an unmount request.
    Unmounted(bool),
    /// The mount table has (`true`) or lacks the unit's mount point.
    Seen(bool),
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountAction {
    Mount,
    Unmount,
    ArmTimer(Duration),
    DisarmTimer,
}

#[derive(Debug, Clone, Default)]
pub struct MountMachine {
    pub state: MountState,
    pub result: ServiceResult,
    /// Whether the mount table has it, as last reported.
    pub seen: bool,
    /// The last unmount failed (the stop job fails; the unit stays mounted).
    pub unmount_failed: bool,
}

type Out = Vec<MountAction>;

impl MountMachine {
    pub fn active(&self) -> ActiveState {
        self.state.active()
    }

    pub fn handle(&mut self, timeout: Option<Duration>, ev: MountEvent) -> Out {
        let mut out = Vec::new();
        match (self.state, ev) {
            (MountState::Dead | MountState::Failed, MountEvent::Start) => {
                self.result = ServiceResult::Success;
                self.unmount_failed = false;
                if self.seen {
                    // Already there (by hand, or before us): nothing to do.
                    self.state = MountState::Mounted;
                } else {
                    self.state = MountState::Mounting;
                    out.push(MountAction::Mount);
                    if let Some(t) = timeout {
                        out.push(MountAction::ArmTimer(t));
                    }
                }
            }
            (
                MountState::Mounting | MountState::Mounted | MountState::Unmounting,
                MountEvent::Start,
            ) => {}
            (MountState::Mounted, MountEvent::Stop) => {
                self.unmount_failed = false;
                self.state = MountState::Unmounting;
                out.push(MountAction::Unmount);
                if let Some(t) = timeout {
                    out.push(MountAction::ArmTimer(t));
                }
            }
            // A stop while mounting waits for the mount to settle; the job engine queues it.
            (MountState::Mounting, MountEvent::Stop) => {}
            (MountState::Dead | MountState::Failed | MountState::Unmounting, MountEvent::Stop) => {}
            (MountState::Mounting, MountEvent::Mounted(true)) => {
                self.seen = true;
                self.state = MountState::Mounted;
                out.push(MountAction::DisarmTimer);
            }
            (MountState::Mounting, MountEvent::Mounted(false)) => {
                self.result = ServiceResult::ExitCode;
                self.state = MountState::Failed;
                out.push(MountAction::DisarmTimer);
            }
            (MountState::Mounting, MountEvent::Timeout) => {
                self.result = ServiceResult::Timeout;
                self.state = MountState::Failed;
            }
            (MountState::Unmounting, MountEvent::Unmounted(true)) => {
                self.seen = false;
                self.state = MountState::Dead;
                out.push(MountAction::DisarmTimer);
            }
            (MountState::Unmounting, MountEvent::Unmounted(false) | MountEvent::Timeout) => {
                self.unmount_failed = true;
                self.state = if self.seen {
                    MountState::Mounted
                } else {
                    MountState::Dead
                };
                out.push(MountAction::DisarmTimer);
            }
            (state, MountEvent::Seen(present)) => {
                self.seen = present;
                match (state, present) {
                    (MountState::Dead | MountState::Failed | MountState::Mounting, true) => {
                        if state == MountState::Mounting {
                            out.push(MountAction::DisarmTimer);
                        }
                        self.state = MountState::Mounted;
                    }
                    (MountState::Mounted, false) => self.state = MountState::Dead,
                    // The mounter's answer settles these.
                    (MountState::Unmounting, _)
                    | (MountState::Mounting, false)
                    | (MountState::Mounted, true)
                    | (MountState::Dead | MountState::Failed, false) => {}
                }
            }
            // Late answers and timers of a phase that is over.
            (
                MountState::Dead
                | MountState::Mounted
                | MountState::Unmounting
                | MountState::Failed,
                MountEvent::Mounted(_),
            )
            | (
                MountState::Dead | MountState::Mounting | MountState::Mounted | MountState::Failed,
                MountEvent::Unmounted(_),
            )
            | (MountState::Dead | MountState::Mounted | MountState::Failed, MountEvent::Timeout) => {
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Option<Duration> = Some(Duration::from_secs(90));

    #[test]
    fn mount_then_unmount() {
        let mut m = MountMachine::default();
        assert_eq!(
            m.handle(T, MountEvent::Start),
            vec![
                MountAction::Mount,
                MountAction::ArmTimer(Duration::from_secs(90))
            ]
        );
        assert_eq!(m.active(), ActiveState::Activating);
        m.handle(T, MountEvent::Mounted(true));
        assert_eq!(m.state, MountState::Mounted);
        assert_eq!(m.handle(T, MountEvent::Stop)[0], MountAction::Unmount);
        m.handle(T, MountEvent::Unmounted(true));
        assert_eq!(m.state, MountState::Dead);
    }

    #[test]
    fn a_failed_mount_fails_and_can_be_retried() {
        let mut m = MountMachine::default();
        m.handle(T, MountEvent::Start);
        m.handle(T, MountEvent::Mounted(false));
        assert_eq!(m.active(), ActiveState::Failed);
        assert_eq!(m.result, ServiceResult::ExitCode);
        assert_eq!(m.handle(T, MountEvent::Start)[0], MountAction::Mount);
        m.handle(T, MountEvent::Timeout);
        assert_eq!(m.result, ServiceResult::Timeout);
    }

    #[test]
    fn the_mount_table_has_the_last_word() {
        let mut m = MountMachine::default();
        // Mounted by hand.
        m.handle(T, MountEvent::Seen(true));
        assert_eq!(m.state, MountState::Mounted);
        // Unmounted by hand.
        m.handle(T, MountEvent::Seen(false));
        assert_eq!(m.state, MountState::Dead);
        // Starting a mount that is already there does nothing.
        m.handle(T, MountEvent::Seen(true));
        m.handle(T, MountEvent::Seen(false));
        m.handle(T, MountEvent::Seen(true));
        assert_eq!(m.handle(T, MountEvent::Start), vec![]);
    }

    #[test]
    fn a_busy_unmount_leaves_it_mounted() {
        let mut m = MountMachine::default();
        m.handle(T, MountEvent::Seen(true));
        m.handle(T, MountEvent::Stop);
        m.handle(T, MountEvent::Unmounted(false));
        assert_eq!(m.state, MountState::Mounted);
        assert!(m.unmount_failed);
    }
}

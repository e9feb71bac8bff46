//! Sockets and the services they trigger: feeding a socket unit's machine, starting its
//! service on traffic, and telling a socket when its service comes and goes (so that it
//! watches exactly while nobody else owns the traffic).

use super::automount::{AutomountAction, AutomountEvent, MountIs};
use super::socket::{SockAction, SockEvent};
use super::{Effect, Kind, Manager};
use crate::job::graph::{ActiveState, Dep, UnitId};
use crate::job::transaction::Reason;
use crate::job::types::JobType;

impl Manager {
    pub(super) fn feed_socket(&mut self, unit: UnitId, ev: SockEvent, out: &mut Vec<Effect>) {
        let now = self.now_usec;
        let Some(s) = self.socket_mut(unit) else {
            return;
        };
        let spec = s.spec.clone();
        let actions = s.machine.handle(&spec, ev, now);
        self.socket_actions(unit, actions, out);
    }

    /// Carries out what is the manager's own business (starting the triggered service) and
    /// passes the rest on as effects.
    pub(crate) fn socket_actions(
        &mut self,
        unit: UnitId,
        actions: Vec<SockAction>,
        out: &mut Vec<Effect>,
    ) {
        for action in actions {
            match action {
                SockAction::StartService => self.start_triggered(unit, out),
                SockAction::Log(text) => {
                    let name = self.units.get(unit).map(|u| u.name.clone());
                    out.push(Effect::Log(format!("{}: {text}", name.unwrap_or_default())));
                }
                a @ (SockAction::Spawn { .. }
                | SockAction::KillControl
                | SockAction::Open
                | SockAction::Close
                | SockAction::Watch
                | SockAction::Unwatch
                | SockAction::ArmResume(_)) => out.push(Effect::Socket { unit, action: a }),
            }
        }
    }

    /// Traffic on an Accept=no socket: start the service it triggers.
    fn start_triggered(&mut self, socket: UnitId, out: &mut Vec<Effect>) {
        let services: Vec<UnitId> = self
            .units
            .get(socket)
            .map(|u| u.deps(Dep::Triggers).collect())
            .unwrap_or_default();
        for svc in &services {
            self.enqueue_quiet(
                *svc,
                JobType::Start,
                Reason::Dep {
                    from: socket,
                    dep: Dep::Triggers,
                },
                out,
            );
        }
        // A service that could not even be queued (not found, masked) leaves the socket
        // listening again; the trigger limit keeps that from spinning.
        let any = services.iter().any(|s| self.service_engaged(*s));
        // (The start limit is checked when the queued job runs: a refused start reaches the
        // socket through `tell_triggering_sockets`, not here, where a service's last result
        // may be an old one.)
        if !any {
            self.push_socket(socket, SockEvent::ServiceActive(false));
        }
    }

    /// The service's last start was refused by its start limit (systemd's `start_limit_hit`).
    fn start_limit_hit(&self, svc: UnitId) -> bool {
        matches!(
            self.rt.get(svc as usize).map(|r| &r.kind),
            Some(Kind::Service(s))
                if s.machine.result == crate::service::policy::ServiceResult::StartLimitHit
        ) && self.active_state(svc) == ActiveState::Failed
    }

    /// Does a service this socket triggers own its traffic now?
    pub fn triggered_engaged(&self, socket: UnitId) -> bool {
        self.units
            .get(socket)
            .is_some_and(|u| u.deps(Dep::Triggers).any(|s| self.service_engaged(s)))
    }

    /// Starts the instance made for one connection of an Accept=yes socket.
    pub fn start_instance(&mut self, socket: UnitId, instance: UnitId, out: &mut Vec<Effect>) {
        self.enqueue_quiet(
            instance,
            JobType::Start,
            Reason::Dep {
                from: socket,
                dep: Dep::Triggers,
            },
            out,
        );
    }

    /// Active, starting, stopping or with a job: it owns (or is about to own) the sockets.
    fn service_engaged(&self, svc: UnitId) -> bool {
        let has_job = self.rt.get(svc as usize).is_some_and(|r| r.job.is_some());
        has_job
            || matches!(
                self.active_state(svc),
                ActiveState::Active
                    | ActiveState::Activating
                    | ActiveState::Reloading
                    | ActiveState::Deactivating
            )
    }

    /// A unit changed state or finished a job: the sockets that trigger it learn whether it
    /// still owns their traffic.
    pub(super) fn tell_triggering_sockets(&mut self, unit: UnitId) {
        self.tell_triggering_automounts(unit);
        let sockets: Vec<UnitId> = match self.units.get(unit) {
            Some(u) => u.deps(Dep::TriggeredBy).collect(),
            None => return,
        };
        if sockets.is_empty() {
            return;
        }
        let engaged = self.service_engaged(unit);
        // A service refused by its start limit stops the sockets that trigger it (systemd's
        // socket_trigger_notify()); otherwise they would hand it their traffic again and again.
        if !engaged && self.start_limit_hit(unit) {
            for s in sockets {
                let listening = matches!(
                    self.rt.get(s as usize).map(|r| &r.kind),
                    Some(Kind::Socket(k)) if !k.spec.accept && matches!(
                        k.machine.state,
                        super::socket::SockState::Listening | super::socket::SockState::Running
                    )
                );
                if listening {
                    self.push_socket(s, SockEvent::ServiceStartLimitHit);
                }
            }
            return;
        }
        for s in sockets {
            let differs = matches!(
                self.rt.get(s as usize).map(|r| &r.kind),
                Some(Kind::Socket(k)) if k.machine.service_active != engaged
                    || (!engaged && k.machine.state == super::socket::SockState::Running)
            );
            if differs {
                self.push_socket(s, SockEvent::ServiceActive(engaged));
            }
        }
    }
}

impl Manager {
    /// The mount an automount triggers, and how it stands.
    fn automount_target(&self, automount: UnitId) -> Option<(UnitId, MountIs)> {
        let m = self.units.get(automount)?.deps(Dep::Triggers).next()?;
        let has_start_job = self
            .rt
            .get(m as usize)
            .and_then(|r| r.job)
            .and_then(|j| self.jobs.get(j))
            .is_some_and(|j| matches!(j.jtype, JobType::Start | JobType::Restart));
        let is = match self.active_state(m) {
            ActiveState::Active | ActiveState::Reloading => MountIs::Up,
            ActiveState::Activating => MountIs::Coming,
            _ if has_start_job => MountIs::Coming,
            ActiveState::Inactive
            | ActiveState::Failed
            | ActiveState::Deactivating
            | ActiveState::Maintenance => MountIs::Down,
        };
        Some((m, is))
    }

    pub(super) fn feed_automount(
        &mut self,
        unit: UnitId,
        ev: AutomountEvent,
        out: &mut Vec<Effect>,
    ) {
        let (mount, is) = self.automount_target(unit).unwrap_or((unit, MountIs::Down));
        let deadline = self
            .units
            .get(mount)
            .and_then(|u| u.config().mount.timeout)
            .unwrap_or(super::automount::DEFAULT_DEADLINE);
        let Some(a) = self.automount_mut(unit) else {
            return;
        };
        let actions = a.machine.handle(ev, is, deadline);
        for action in actions {
            match action {
                AutomountAction::StartMount | AutomountAction::StopMount => {
                    let jtype = if action == AutomountAction::StartMount {
                        JobType::Start
                    } else {
                        JobType::Stop
                    };
                    if mount != unit {
                        self.enqueue_quiet(
                            mount,
                            jtype,
                            Reason::Dep {
                                from: unit,
                                dep: Dep::Triggers,
                            },
                            out,
                        );
                    }
                    // A mount that cannot even be queued is down: the waiters hear it now.
                    if jtype == JobType::Start
                        && self.rt.get(mount as usize).is_none_or(|r| r.job.is_none())
                    {
                        self.push_automount(unit, AutomountEvent::Mount(MountIs::Down));
                    }
                }
                a => out.push(Effect::Automount { unit, action: a }),
            }
        }
    }

    /// A mount changed or finished a job: the automounts that trigger it learn how it stands.
    pub(super) fn tell_triggering_automounts(&mut self, mount: UnitId) {
        let autos: Vec<UnitId> = match self.units.get(mount) {
            Some(u) => u
                .deps(Dep::TriggeredBy)
                .filter(|a| {
                    matches!(
                        self.rt.get(*a as usize).map(|r| &r.kind),
                        Some(Kind::Automount(_))
                    )
                })
                .collect(),
            None => return,
        };
        for a in autos {
            if let Some((_, is)) = self.automount_target(a) {
                if is != MountIs::Coming {
                    self.push_automount(a, AutomountEvent::Mount(is));
                }
            }
        }
    }
}

//! Sockets and the services they trigger: feeding a socket unit's machine, starting its
//! service on traffic, and telling a socket when its service comes and goes (so that it
//! watches exactly while nobody else owns the traffic).

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
        if !any {
            self.push_socket(socket, SockEvent::ServiceActive(false));
        }
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
        let sockets: Vec<UnitId> = match self.units.get(unit) {
            Some(u) => u.deps(Dep::TriggeredBy).collect(),
            None => return,
        };
        if sockets.is_empty() {
            return;
        }
        let engaged = self.service_engaged(unit);
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

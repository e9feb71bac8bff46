//! Feeding one event to a unit: each kind of unit has its machine (service, socket, mount,
//! automount) or none (devices, targets); the manager's single queue carries the service
//! `Event`s, which are translated here for the other kinds.

use super::*;

impl Manager {
    pub(super) fn feed(&mut self, unit: UnitId, ev: Event, out: &mut Vec<Effect>) {
        let ev = match ev {
            Event::Start | Event::RestartTimer if !self.start_allowed(unit) => {
                if let Some(u) = self.units.get(unit) {
                    let (interval, burst) = u.settings.start_limit();
                    out.push(Effect::Log(format!(
                        "{}: start request repeated too quickly (StartLimitBurst={burst} within {interval:?}); refusing",
                        u.name
                    )));
                }
                Event::StartLimitHit
            }
            ev => ev,
        };
        let before = self.active_state(unit);
        if let Some(Kind::Device(_)) = self.rt.get(unit as usize).map(|r| &r.kind) {
            if ev == Event::Timeout {
                let waiting = self.rt.get(unit as usize).is_some_and(|r| r.job.is_some());
                if let Some(d) = self.device_mut(unit) {
                    if !d.present && waiting {
                        d.wait_failed = true;
                    }
                }
                self.dirty.push(unit);
            }
            return;
        }
        if let Some(Kind::Automount(_)) = self.rt.get(unit as usize).map(|r| &r.kind) {
            let aev = match ev {
                Event::Automount(e) => Some(e),
                Event::Start | Event::RestartTimer => Some(automount::AutomountEvent::Start),
                Event::Stop | Event::StopForRestart => Some(automount::AutomountEvent::Stop),
                _ => None,
            };
            if let Some(aev) = aev {
                self.feed_automount(unit, aev, out);
            }
            self.state_changed(unit, before, out);
            return;
        }
        if let Some(Kind::Mount(_)) = self.rt.get(unit as usize).map(|r| &r.kind) {
            let mev = match ev {
                Event::Mount(e) => Some(e),
                Event::Start | Event::RestartTimer => Some(mount::MountEvent::Start),
                Event::Stop | Event::StopForRestart => Some(mount::MountEvent::Stop),
                Event::Timeout => Some(mount::MountEvent::Timeout),
                Event::StartLimitHit => {
                    if let Some(m) = self.mount_mut(unit) {
                        m.machine.result = crate::service::policy::ServiceResult::StartLimitHit;
                        m.machine.state = mount::MountState::Failed;
                    }
                    None
                }
                Event::Socket(_)
                | Event::Automount(_)
                | Event::OomKilled
                | Event::Reload
                | Event::MainExited(_)
                | Event::ControlExited(_)
                | Event::Spawned { .. }
                | Event::SpawnFailed { .. }
                | Event::Ready
                | Event::MainPidKnown(_)
                | Event::CgroupEmpty
                | Event::WatchdogPing
                | Event::WatchdogTimeout
                | Event::ExtendTimeout(_)
                | Event::Stopping
                | Event::Reloading => None,
            };
            if let (Some(mev), Some(m)) = (mev, self.mount_mut(unit)) {
                let timeout = m.timeout;
                for action in m.machine.handle(timeout, mev) {
                    out.push(Effect::Mount { unit, action });
                }
            }
            self.state_changed(unit, before, out);
            return;
        }
        if let Some(Kind::Socket(_)) = self.rt.get(unit as usize).map(|r| &r.kind) {
            let sev = match ev {
                Event::Socket(e) => Some(e),
                Event::Start => Some(socket::SockEvent::Start),
                Event::Stop | Event::StopForRestart => Some(socket::SockEvent::Stop),
                Event::ControlExited(st) => Some(socket::SockEvent::ControlExited(st)),
                Event::SpawnFailed { .. } => Some(socket::SockEvent::SpawnFailed),
                Event::StartLimitHit => {
                    if let Some(s) = self.socket_mut(unit) {
                        s.machine.result = crate::service::policy::ServiceResult::StartLimitHit;
                        s.machine.state = socket::SockState::Failed;
                    }
                    None
                }
                Event::Mount(_)
                | Event::Automount(_)
                | Event::OomKilled
                | Event::Reload
                | Event::MainExited(_)
                | Event::Spawned { .. }
                | Event::Ready
                | Event::MainPidKnown(_)
                | Event::Timeout
                | Event::CgroupEmpty
                | Event::RestartTimer
                | Event::WatchdogPing
                | Event::WatchdogTimeout
                | Event::ExtendTimeout(_)
                | Event::Stopping
                | Event::Reloading => None,
            };
            if let Some(sev) = sev {
                self.feed_socket(unit, sev, out);
            }
            self.state_changed(unit, before, out);
            return;
        }
        let Some(s) = self.service_mut(unit) else {
            return;
        };
        let spec = s.spec.clone();
        let actions = s.machine.handle(&spec, ev);
        for action in actions {
            out.push(Effect::Service { unit, action });
        }
        self.state_changed(unit, before, out);
    }
}

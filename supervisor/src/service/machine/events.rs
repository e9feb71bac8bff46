//! The service state machine's transitions, one function per event (see machine.rs for the
//! states, the events and the phases they move through). Every `match` lists every state.

use super::*;

impl Machine {
    pub(super) fn on_start(&mut self, spec: &Spec, out: &mut Out) {
        match self.state {
            State::Dead | State::Failed | State::AutoRestart => self.enter_start_pre(spec, out),
            // Already on the way up or up; stopping states finish first (the job waits).
            State::StartPre
            | State::Start
            | State::StartPost
            | State::Running
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill => {}
        }
    }

    pub(super) fn on_stop(&mut self, spec: &Spec, out: &mut Out) {
        self.stop_requested = true;
        match self.state {
            State::Dead | State::Failed => {}
            State::AutoRestart => {
                out.push(Action::DisarmTimer);
                self.state = if self.result == ServiceResult::Success {
                    State::Dead
                } else {
                    State::Failed
                };
            }
            State::StartPre | State::Start | State::StartPost | State::Reload => {
                self.enter_signal(spec, State::StopSigterm, out)
            }
            State::Running | State::Exited => self.enter_stop(spec, out),
            State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill => {}
        }
    }

    pub(super) fn on_reload(&mut self, spec: &Spec, out: &mut Out) {
        match self.state {
            State::Running | State::Exited if !spec.reload.is_empty() => {
                self.state = State::Reload;
                self.reload_failed = false;
                self.arm(spec.timeout_start, out);
                self.spawn(ExecList::Reload, 0, false, out);
            }
            State::Dead
            | State::StartPre
            | State::Start
            | State::StartPost
            | State::Running
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_main_exited(&mut self, spec: &Spec, st: ExitStatus, out: &mut Out) {
        self.has_main = false;
        self.last_exit = Some(st);
        let r = result_of(st, &spec.success_codes, &spec.success_signals);
        match self.state {
            State::Start if spec.stype == ServiceType::Oneshot => {
                let index = self.current.map(|c| c.1).unwrap_or(0);
                if r == ServiceResult::Success || spec.ignores(ExecList::Start, index) {
                    if index + 1 < spec.start.len() {
                        self.spawn(ExecList::Start, index + 1, true, out);
                    } else {
                        self.enter_start_post(spec, out);
                    }
                } else {
                    self.fail(r);
                    self.enter_signal(spec, State::StopSigterm, out);
                }
            }
            State::Start => {
                // Died before READY=1 (notify), or before its exec was confirmed.
                self.fail(if r == ServiceResult::Success {
                    ServiceResult::Protocol
                } else {
                    r
                });
                self.enter_signal(spec, State::StopSigterm, out);
            }
            State::StartPost | State::Reload => self.fail(r),
            State::Running => {
                self.fail(r);
                self.enter_running(spec, out);
            }
            State::Stop | State::StopPost => self.fail_unless_stopping(r),
            State::StopSigterm | State::StopSigkill | State::FinalSigterm | State::FinalSigkill => {
                self.advance_when_drained(spec, out)
            }
            State::Dead | State::StartPre | State::Exited | State::Failed | State::AutoRestart => {}
        }
    }

    /// In a kill phase, moves on once nothing of the service is left: after the stop
    /// signals to ExecStopPost=, after the final signals to dead.
    fn advance_when_drained(&mut self, spec: &Spec, out: &mut Out) {
        if self.anything_left(spec) {
            return;
        }
        match self.state {
            State::StopSigterm | State::StopSigkill => self.enter_stop_post(spec, out),
            State::FinalSigterm | State::FinalSigkill => self.enter_dead(spec, out),
            _ => {}
        }
    }

    /// A main process that exits while we stop it on request is not a failure.
    fn fail_unless_stopping(&mut self, r: ServiceResult) {
        if !self.stop_requested {
            self.fail(r);
        }
    }

    pub(super) fn on_control_exited(&mut self, spec: &Spec, st: ExitStatus, out: &mut Out) {
        self.has_control = false;
        let (list, index) = self.current.unwrap_or((ExecList::Start, 0));
        let r = result_of(st, &[], &[]);
        let ok = r == ServiceResult::Success || spec.ignores(list, index);
        let next = index + 1 < spec.list(list).len();
        match self.state {
            State::StartPre if ok && next => self.spawn(list, index + 1, false, out),
            State::StartPre if ok => self.enter_start(spec, out),
            State::StartPre => {
                self.fail(r);
                self.enter_signal(spec, State::StopSigterm, out);
            }
            State::Start if ok => {
                // Type=forking: the parent exited; find the daemon it left.
                out.push(Action::FindMainPid);
            }
            State::Start => {
                self.fail(r);
                self.enter_signal(spec, State::StopSigterm, out);
            }
            State::StartPost if ok && next => self.spawn(list, index + 1, false, out),
            State::StartPost if ok => self.enter_running(spec, out),
            State::StartPost => {
                self.fail(r);
                self.enter_signal(spec, State::StopSigterm, out);
            }
            State::Reload if ok && next => self.spawn(list, index + 1, false, out),
            State::Reload => {
                self.reload_failed = !ok;
                self.enter_running(spec, out);
            }
            // A failing ExecStop=/ExecStopPost= command ends its list and is recorded.
            State::Stop if ok && next => self.spawn(list, index + 1, false, out),
            State::Stop => {
                if !ok {
                    self.fail(r);
                }
                self.enter_signal(spec, State::StopSigterm, out)
            }
            State::StopPost if ok && next => self.spawn(list, index + 1, false, out),
            State::StopPost => {
                if !ok {
                    self.fail(r);
                }
                self.enter_signal(spec, State::FinalSigterm, out)
            }
            State::StopSigterm | State::StopSigkill | State::FinalSigterm | State::FinalSigkill => {
                self.advance_when_drained(spec, out)
            }
            State::Dead | State::Running | State::Exited | State::Failed | State::AutoRestart => {}
        }
    }

    pub(super) fn on_spawned(&mut self, spec: &Spec, main: bool, out: &mut Out) {
        match self.state {
            State::Start
                if main
                    && matches!(
                        spec.stype,
                        ServiceType::Simple | ServiceType::Exec | ServiceType::Idle
                    ) =>
            {
                self.enter_start_post(spec, out)
            }
            State::Dead
            | State::StartPre
            | State::Start
            | State::StartPost
            | State::Running
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_spawn_failed(&mut self, spec: &Spec, main: bool, out: &mut Out) {
        // The process that was to run does not exist.
        if main {
            self.has_main = false;
        } else {
            self.has_control = false;
        }
        match self.state {
            State::StartPre | State::Start | State::StartPost => {
                self.fail(ServiceResult::Resources);
                self.enter_signal(spec, State::StopSigterm, out)
            }
            State::Reload => {
                self.reload_failed = true;
                self.enter_running(spec, out);
            }
            State::Stop => {
                self.fail(ServiceResult::Resources);
                self.enter_signal(spec, State::StopSigterm, out)
            }
            State::StopPost => {
                self.fail(ServiceResult::Resources);
                self.enter_signal(spec, State::FinalSigterm, out)
            }
            State::StopSigterm | State::StopSigkill | State::FinalSigterm | State::FinalSigkill => {
                self.advance_when_drained(spec, out)
            }
            State::Running | State::Dead | State::Exited | State::Failed | State::AutoRestart => {}
        }
    }

    pub(super) fn on_ready(&mut self, spec: &Spec, out: &mut Out) {
        match self.state {
            // READY=1 (Type=notify), or the bus name taken (Type=dbus: the runtime's bus
            // watcher says so with the same event).
            State::Start if matches!(spec.stype, ServiceType::Notify | ServiceType::Dbus) => {
                self.enter_start_post(spec, out)
            }
            // READY=1 after RELOADING=1: the reload is over.
            State::Reload if !self.has_control => self.enter_running(spec, out),
            State::Dead
            | State::StartPre
            | State::Start
            | State::StartPost
            | State::Running
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_main_pid(&mut self, spec: &Spec, found: bool, out: &mut Out) {
        match self.state {
            State::Start => {
                self.has_main = found;
                self.main_known = found;
                if !found && spec.has_pid_file {
                    // PIDFile= was promised and is not there.
                    self.fail(ServiceResult::Protocol);
                    self.enter_signal(spec, State::StopSigterm, out);
                } else {
                    self.enter_start_post(spec, out);
                }
            }
            State::Running | State::StartPost | State::Reload => self.has_main = found,
            State::Dead
            | State::StartPre
            | State::Exited
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_timeout(&mut self, spec: &Spec, out: &mut Out) {
        match self.state {
            State::StartPre | State::Start | State::StartPost => {
                self.fail(ServiceResult::Timeout);
                self.enter_signal(spec, State::StopSigterm, out);
            }
            State::Reload => {
                out.push(Action::Kill {
                    signal: libc::SIGKILL,
                    whom: Whom::Control,
                });
                self.reload_failed = true;
                self.enter_running(spec, out);
            }
            State::Stop => {
                self.fail(ServiceResult::Timeout);
                self.enter_signal(spec, State::StopSigterm, out);
            }
            State::StopSigterm => {
                self.fail(ServiceResult::Timeout);
                if spec.send_sigkill {
                    self.enter_signal(spec, State::StopSigkill, out);
                } else {
                    self.enter_stop_post(spec, out);
                }
            }
            // Still not gone after SIGKILL: carry on and leave it behind (logged by caller).
            State::StopSigkill => self.enter_stop_post(spec, out),
            State::StopPost => {
                self.fail(ServiceResult::Timeout);
                self.enter_signal(spec, State::FinalSigterm, out);
            }
            State::FinalSigterm => {
                if spec.send_sigkill {
                    self.enter_signal(spec, State::FinalSigkill, out);
                } else {
                    self.enter_dead(spec, out);
                }
            }
            State::FinalSigkill => self.enter_dead(spec, out),
            State::Dead | State::Running | State::Exited | State::Failed | State::AutoRestart => {}
        }
    }

    pub(super) fn on_cgroup_empty(&mut self, spec: &Spec, out: &mut Out) {
        self.cgroup_empty = true;
        match self.state {
            State::StopSigterm | State::StopSigkill | State::FinalSigterm | State::FinalSigkill => {
                self.advance_when_drained(spec, out)
            }
            // A forking daemon without a main pid ends when its cgroup does.
            State::Running if !self.has_main => self.enter_running(spec, out),
            State::Dead
            | State::StartPre
            | State::Start
            | State::StartPost
            | State::Running
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopPost
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_watchdog_ping(&mut self, spec: &Spec, out: &mut Out) {
        if let (State::Running | State::Reload, Some(w)) = (self.state, spec.watchdog) {
            out.push(Action::ArmWatchdog(w));
        }
    }

    pub(super) fn on_watchdog_timeout(&mut self, spec: &Spec, out: &mut Out) {
        match self.state {
            State::Running | State::Reload | State::StartPost => {
                // systemd's WatchdogSignal= default: SIGABRT to the main process, for a core
                // dump, then the usual stop.
                self.fail(ServiceResult::Watchdog);
                self.aborting = true;
                out.push(Action::Kill {
                    signal: libc::SIGABRT,
                    whom: Whom::Main,
                });
                self.enter_signal(spec, State::StopSigterm, out);
            }
            State::Dead
            | State::StartPre
            | State::Start
            | State::Exited
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_extend_timeout(&mut self, d: Duration, out: &mut Out) {
        match self.state {
            State::StartPre
            | State::Start
            | State::StartPost
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill => out.push(Action::ArmTimer(d)),
            State::Dead | State::Running | State::Exited | State::Failed | State::AutoRestart => {}
        }
    }

    pub(super) fn on_stopping(&mut self, spec: &Spec, out: &mut Out) {
        match self.state {
            // The service stops by itself: wait for it (no signal yet) as systemd does.
            State::Running | State::Reload | State::StartPost | State::Start => {
                out.push(Action::DisarmWatchdog);
                self.state = State::StopSigterm;
                self.arm(spec.timeout_stop, out);
            }
            State::Dead
            | State::StartPre
            | State::Exited
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_reloading(&mut self, out: &mut Out) {
        match self.state {
            State::Running => {
                self.state = State::Reload;
                self.reload_failed = false;
                let _ = out;
            }
            State::Dead
            | State::StartPre
            | State::Start
            | State::StartPost
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed
            | State::AutoRestart => {}
        }
    }

    pub(super) fn on_start_limit_hit(&mut self, out: &mut Out) {
        match self.state {
            State::Dead | State::Failed | State::AutoRestart => {
                out.push(Action::DisarmTimer);
                self.result = ServiceResult::StartLimitHit;
                self.state = State::Failed;
            }
            State::StartPre
            | State::Start
            | State::StartPost
            | State::Running
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill => {}
        }
    }

    pub(super) fn on_restart_timer(&mut self, spec: &Spec, out: &mut Out) {
        match self.state {
            State::AutoRestart => {
                self.restarts += 1;
                self.enter_start_pre(spec, out);
            }
            State::Dead
            | State::StartPre
            | State::Start
            | State::StartPost
            | State::Running
            | State::Exited
            | State::Reload
            | State::Stop
            | State::StopSigterm
            | State::StopSigkill
            | State::StopPost
            | State::FinalSigterm
            | State::FinalSigkill
            | State::Failed => {}
        }
    }
}

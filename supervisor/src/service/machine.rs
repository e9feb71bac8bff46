//! A service's lifecycle as a pure state machine: events in, actions out.
//!
//! It follows systemd's service.c (the states and the order of Exec* phases) without its
//! syscalls: the runtime around it spawns, signals and arms timers as the actions say, and
//! feeds back what happened (a process exited, READY=1 arrived, a timer fired, the cgroup
//! emptied). It knows *whether* a main or control process exists, never their pids.
//!
//! The start path:  StartPre* → Start → StartPost* → Running (or Exited with RemainAfterExit)
//! The stop path:   Stop* (ExecStop) → StopSigterm → StopSigkill → StopPost* → FinalSigterm
//!                  → FinalSigkill → Dead | Failed → (AutoRestart → the start path)
//!
//! Every transition is a `match` over the state with no wildcard arm, so a new state does not
//! compile until each event says what it does there.

use std::time::Duration;

use super::policy::{result_of, should_restart, ExitStatus, RestartPolicy, ServiceResult};
use crate::job::graph::ActiveState as Active;

mod events;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    Simple,
    Exec,
    Forking,
    Oneshot,
    Notify,
    Idle,
    /// Started once its `BusName=` is taken on the system bus.
    Dbus,
}

impl ServiceType {
    pub fn parse(s: &str) -> Option<ServiceType> {
        Some(match s {
            "simple" => ServiceType::Simple,
            "exec" => ServiceType::Exec,
            "forking" => ServiceType::Forking,
            "oneshot" => ServiceType::Oneshot,
            "notify" => ServiceType::Notify,
            "idle" => ServiceType::Idle,
            "dbus" => ServiceType::Dbus,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Simple => "simple",
            ServiceType::Exec => "exec",
            ServiceType::Forking => "forking",
            ServiceType::Oneshot => "oneshot",
            ServiceType::Notify => "notify",
            ServiceType::Idle => "idle",
            ServiceType::Dbus => "dbus",
        }
    }
}

/// Which Exec* list a command comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecList {
    StartPre,
    Start,
    StartPost,
    Reload,
    Stop,
    StopPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum KillMode {
    #[default]
    ControlGroup,
    Mixed,
    Process,
    None,
}

impl KillMode {
    pub fn parse(s: &str) -> Option<KillMode> {
        Some(match s {
            "control-group" => KillMode::ControlGroup,
            "mixed" => KillMode::Mixed,
            "process" => KillMode::Process,
            "none" => KillMode::None,
            _ => return None,
        })
    }
}

/// What the machine needs to know of a service's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spec {
    pub stype: ServiceType,
    pub remain_after_exit: bool,
    pub has_pid_file: bool,
    /// For each Exec* list, one entry per command: whether its failure is ignored ('-').
    pub start_pre: Vec<bool>,
    pub start: Vec<bool>,
    pub start_post: Vec<bool>,
    pub reload: Vec<bool>,
    pub stop: Vec<bool>,
    pub stop_post: Vec<bool>,
    pub restart: RestartPolicy,
    pub restart_sec: Duration,
    /// RestartSteps= and RestartMaxDelaySec=: exponential back-off.
    pub restart_steps: u32,
    pub restart_max_delay: Option<Duration>,
    /// WatchdogSec=: the service must send WATCHDOG=1 at least this often once running.
    pub watchdog: Option<Duration>,
    pub timeout_start: Option<Duration>,
    pub timeout_stop: Option<Duration>,
    pub kill_mode: KillMode,
    pub kill_signal: i32,
    pub send_sigkill: bool,
    /// FinalKillSignal= (SIGKILL by default): the signal of the SIGKILL stages.
    pub final_kill_signal: i32,
    /// RestartKillSignal= (KillSignal= by default): the signal when stopping for a restart.
    pub restart_kill_signal: i32,
    /// TimeoutAbortSec= (TimeoutStopSec= by default): how long a watchdog's SIGABRT may take
    /// (a core dump) before SIGKILL.
    pub timeout_abort: Option<Duration>,
    /// SendSIGHUP=: SIGHUP right after KillSignal= (for shells and the like).
    pub send_sighup: bool,
    pub success_codes: Vec<i32>,
    pub success_signals: Vec<i32>,
    /// RestartPreventExitStatus= / RestartForceExitStatus=: (codes, signals).
    pub restart_prevent: (Vec<i32>, Vec<i32>),
    pub restart_force: (Vec<i32>, Vec<i32>),
    /// NotifyAccess= in force (`runtime::notify_access`): read at every notify message.
    pub notify_access: crate::unit::config::NotifyAccess,
}

fn exit_matches(e: Option<ExitStatus>, list: &(Vec<i32>, Vec<i32>)) -> bool {
    match e {
        Some(ExitStatus::Code(c)) => list.0.contains(&c),
        Some(ExitStatus::Signal { signal, .. }) => list.1.contains(&signal),
        None => false,
    }
}

impl Spec {
    fn list(&self, l: ExecList) -> &[bool] {
        match l {
            ExecList::StartPre => &self.start_pre,
            ExecList::Start => &self.start,
            ExecList::StartPost => &self.start_post,
            ExecList::Reload => &self.reload,
            ExecList::Stop => &self.stop,
            ExecList::StopPost => &self.stop_post,
        }
    }

    fn ignores(&self, l: ExecList, i: usize) -> bool {
        self.list(l).get(i).copied().unwrap_or(false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Dead,
    StartPre,
    Start,
    StartPost,
    Running,
    Exited,
    Reload,
    Stop,
    StopSigterm,
    StopSigkill,
    StopPost,
    FinalSigterm,
    FinalSigkill,
    Failed,
    AutoRestart,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Dead => "dead",
            State::StartPre => "start-pre",
            State::Start => "start",
            State::StartPost => "start-post",
            State::Running => "running",
            State::Exited => "exited",
            State::Reload => "reload",
            State::Stop => "stop",
            State::StopSigterm => "stop-sigterm",
            State::StopSigkill => "stop-sigkill",
            State::StopPost => "stop-post",
            State::FinalSigterm => "final-sigterm",
            State::FinalSigkill => "final-sigkill",
            State::Failed => "failed",
            State::AutoRestart => "auto-restart",
        }
    }
}

/// The unit active state (systemd's, as `is-active` reports it) of a service state.
pub fn active_of(s: State) -> Active {
    match s {
        State::Dead => Active::Inactive,
        State::Failed => Active::Failed,
        State::StartPre | State::Start | State::StartPost | State::AutoRestart => {
            Active::Activating
        }
        State::Running | State::Exited => Active::Active,
        State::Reload => Active::Reloading,
        State::Stop
        | State::StopSigterm
        | State::StopSigkill
        | State::StopPost
        | State::FinalSigterm
        | State::FinalSigkill => Active::Deactivating,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Start,
    Stop,
    Reload,
    /// The main process exited.
    MainExited(ExitStatus),
    /// The current control process (an ExecStartPre/…/ExecStopPost command) exited.
    ControlExited(ExitStatus),
    /// A command's exec succeeded (`main`: it is the main process).
    Spawned {
        main: bool,
    },
    /// A command could not be started at all (exec failed, no such user…).
    SpawnFailed {
        main: bool,
    },
    /// READY=1 from the main process (Type=notify).
    Ready,
    /// A main pid was learned (PIDFile=, MAINPID=, or the one process left after forking);
    /// `false` when none could be found.
    MainPidKnown(bool),
    Timeout,
    CgroupEmpty,
    RestartTimer,
    /// A start (asked for, or by Restart=) would exceed StartLimitBurst= within
    /// StartLimitIntervalSec=: the unit fails instead.
    StartLimitHit,
    /// WATCHDOG=1: the service is alive.
    WatchdogPing,
    /// WatchdogSec= passed without a ping, or WATCHDOG=trigger.
    WatchdogTimeout,
    /// EXTEND_TIMEOUT_USEC=: give the current start/stop phase at least this long from now.
    ExtendTimeout(Duration),
    /// STOPPING=1: the service is shutting down by itself.
    Stopping,
    /// RELOADING=1: the service reloads by itself; READY=1 ends it.
    Reloading,
    /// A stop that a restart job will follow (RestartKillSignal=).
    StopForRestart,
    /// The OOM killer killed a process of the unit (its result, unless one was set before).
    OomKilled,
    /// An event of a socket unit (the manager's queue carries every kind).
    Socket(crate::manager::socket::SockEvent),
    /// An event of a mount unit.
    Mount(crate::manager::mount::MountEvent),
    /// An event of an automount unit.
    Automount(crate::manager::automount::AutomountEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whom {
    Main,
    Control,
    /// Per KillMode: the whole cgroup (control-group), main gets the signal and the rest
    /// SIGKILL only at the final stage (mixed), main only (process), nobody (none).
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run command `index` of `list`; as the main process if `main`, else as the control one.
    Spawn {
        list: ExecList,
        index: usize,
        main: bool,
    },
    Kill {
        signal: i32,
        whom: Whom,
    },
    ArmTimer(Duration),
    DisarmTimer,
    /// Find the main pid (PIDFile=, or guess); answer with `Event::MainPidKnown`.
    FindMainPid,
    /// (Re)arm the watchdog timer; it fires `Event::WatchdogTimeout`.
    ArmWatchdog(Duration),
    DisarmWatchdog,
}

#[derive(Debug, Clone)]
pub struct Machine {
    pub state: State,
    pub result: ServiceResult,
    pub has_main: bool,
    pub has_control: bool,
    pub cgroup_empty: bool,
    /// The command running (or last run) and its list.
    pub current: Option<(ExecList, usize)>,
    /// Stop was asked for: no restart afterwards.
    stop_requested: bool,
    /// The unit got as far as running (ExecStop= runs only then, as in systemd).
    started: bool,
    /// The main pid was known at some point of this run (forking: found after the parent
    /// exited). A forking service whose main pid was never found runs while its cgroup does.
    main_known: bool,
    /// The last reload failed (kept apart from `result`: a failed reload does not fail the
    /// unit).
    pub reload_failed: bool,
    /// This stop is the first half of a restart.
    restarting: bool,
    /// The watchdog fired: the stop after SIGABRT waits TimeoutAbortSec=.
    aborting: bool,
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            state: State::Dead,
            result: ServiceResult::Success,
            has_main: false,
            has_control: false,
            cgroup_empty: true,
            current: None,
            stop_requested: false,
            started: false,
            main_known: false,
            reload_failed: false,
            restarting: false,
            aborting: false,
            restarts: 0,
            last_exit: None,
        }
    }
}

type Out = Vec<Action>;

impl Machine {
    pub fn active(&self) -> Active {
        active_of(self.state)
    }

    /// Feeds one event; returns what to do, in order.
    pub fn handle(&mut self, spec: &Spec, ev: Event) -> Out {
        let mut out = Vec::new();
        match ev {
            Event::Start => self.on_start(spec, &mut out),
            Event::Stop => self.on_stop(spec, &mut out),
            Event::Reload => self.on_reload(spec, &mut out),
            Event::MainExited(st) => self.on_main_exited(spec, st, &mut out),
            Event::ControlExited(st) => self.on_control_exited(spec, st, &mut out),
            Event::Spawned { main } => self.on_spawned(spec, main, &mut out),
            Event::SpawnFailed { main } => self.on_spawn_failed(spec, main, &mut out),
            Event::Ready => self.on_ready(spec, &mut out),
            Event::MainPidKnown(found) => self.on_main_pid(spec, found, &mut out),
            Event::Timeout => self.on_timeout(spec, &mut out),
            Event::CgroupEmpty => self.on_cgroup_empty(spec, &mut out),
            Event::RestartTimer => self.on_restart_timer(spec, &mut out),
            Event::StartLimitHit => self.on_start_limit_hit(&mut out),
            Event::WatchdogPing => self.on_watchdog_ping(spec, &mut out),
            Event::WatchdogTimeout => self.on_watchdog_timeout(spec, &mut out),
            Event::ExtendTimeout(d) => self.on_extend_timeout(d, &mut out),
            Event::Stopping => self.on_stopping(spec, &mut out),
            Event::Reloading => self.on_reloading(&mut out),
            Event::StopForRestart => {
                self.restarting = true;
                self.on_stop(spec, &mut out)
            }
            Event::OomKilled => self.fail(ServiceResult::OomKill),
            // Socket and mount units' events never reach a service.
            Event::Socket(_) | Event::Mount(_) | Event::Automount(_) => {}
        }
        out
    }

    fn fail(&mut self, r: ServiceResult) {
        if self.result == ServiceResult::Success {
            self.result = r;
        }
    }

    /// Takes over a service found running (after a supervisor restart).
    /// After a supervisor restart: it ran and exited, and stays active (RemainAfterExit=yes).
    pub fn adopt_exited(&mut self) {
        self.state = State::Exited;
        self.has_main = false;
        self.main_known = false;
        self.cgroup_empty = true;
        self.started = true;
    }

    /// After a supervisor restart: it was waiting to restart; the timer is armed again.
    pub fn adopt_auto_restart(&mut self) {
        self.state = State::AutoRestart;
        self.has_main = false;
        self.main_known = false;
        self.cgroup_empty = true;
    }

    /// After a supervisor restart: it had failed, for `result`.
    pub fn adopt_failed(&mut self, result: ServiceResult) {
        self.state = State::Failed;
        self.result = result;
        self.has_main = false;
        self.main_known = false;
        self.cgroup_empty = true;
    }

    pub fn adopt_running(&mut self) {
        self.state = State::Running;
        self.has_main = true;
        self.main_known = true;
        self.cgroup_empty = false;
        self.started = true;
    }

    fn spawn(&mut self, list: ExecList, index: usize, main: bool, out: &mut Out) {
        self.current = Some((list, index));
        if main {
            self.has_main = true;
            self.main_known = true;
        } else {
            self.has_control = true;
        }
        self.cgroup_empty = false;
        out.push(Action::Spawn { list, index, main });
    }

    fn arm(&self, t: Option<Duration>, out: &mut Out) {
        match t {
            Some(d) => out.push(Action::ArmTimer(d)),
            None => out.push(Action::DisarmTimer),
        }
    }

    // ---- the start path ----

    fn enter_start_pre(&mut self, spec: &Spec, out: &mut Out) {
        self.result = ServiceResult::Success;
        self.stop_requested = false;
        self.started = false;
        self.main_known = false;
        self.reload_failed = false;
        self.last_exit = None;
        if spec.start_pre.is_empty() {
            self.enter_start(spec, out);
        } else {
            self.state = State::StartPre;
            self.arm(spec.timeout_start, out);
            self.spawn(ExecList::StartPre, 0, false, out);
        }
    }

    fn enter_start(&mut self, spec: &Spec, out: &mut Out) {
        if spec.start.is_empty() {
            // Only a oneshot with RemainAfterExit may have no ExecStart (checked at load).
            self.enter_start_post(spec, out);
            return;
        }
        match spec.stype {
            // Active once its exec succeeded (`Spawned`): a missing binary fails the start
            // job instead of looking like a crash after it (Type=exec's rule, for simple too).
            ServiceType::Simple
            | ServiceType::Exec
            | ServiceType::Idle
            | ServiceType::Notify
            | ServiceType::Dbus
            | ServiceType::Oneshot => {
                self.state = State::Start;
                self.arm(spec.timeout_start, out);
                self.spawn(ExecList::Start, 0, true, out);
            }
            ServiceType::Forking => {
                self.state = State::Start;
                self.arm(spec.timeout_start, out);
                self.spawn(ExecList::Start, 0, false, out);
            }
        }
    }

    fn enter_start_post(&mut self, spec: &Spec, out: &mut Out) {
        if spec.start_post.is_empty() {
            self.enter_running(spec, out);
        } else {
            self.state = State::StartPost;
            self.arm(spec.timeout_start, out);
            self.spawn(ExecList::StartPost, 0, false, out);
        }
    }

    fn enter_running(&mut self, spec: &Spec, out: &mut Out) {
        out.push(Action::DisarmTimer);
        self.current = None;
        if self.result != ServiceResult::Success {
            // systemd's service_enter_running: a failure goes straight to the signals;
            // ExecStop= is for stopping a healthy service.
            self.enter_signal(spec, State::StopSigterm, out);
        } else if self.has_main {
            self.state = State::Running;
            self.started = true;
            if let Some(w) = spec.watchdog {
                out.push(Action::ArmWatchdog(w));
            }
        } else if spec.remain_after_exit {
            self.state = State::Exited;
            self.started = true;
        } else if spec.stype == ServiceType::Forking && !self.main_known && !self.cgroup_empty {
            // Forked daemon whose main pid was never found: running while its cgroup is.
            self.state = State::Running;
            self.started = true;
        } else {
            self.enter_stop(spec, out);
        }
    }

    // ---- the stop path ----

    fn enter_stop(&mut self, spec: &Spec, out: &mut Out) {
        if self.started && !spec.stop.is_empty() {
            self.state = State::Stop;
            self.arm(spec.timeout_stop, out);
            self.spawn(ExecList::Stop, 0, false, out);
        } else {
            self.enter_signal(spec, State::StopSigterm, out);
        }
    }

    /// Something still to wait for after a signal?
    fn anything_left(&self, spec: &Spec) -> bool {
        self.has_main
            || self.has_control
            || (!self.cgroup_empty && spec.kill_mode == KillMode::ControlGroup)
    }

    fn enter_signal(&mut self, spec: &Spec, s: State, out: &mut Out) {
        let signal = match s {
            State::StopSigterm if self.restarting => spec.restart_kill_signal,
            State::StopSigterm | State::FinalSigterm => spec.kill_signal,
            _ => spec.final_kill_signal,
        };
        let skip = matches!(s, State::StopSigkill | State::FinalSigkill) && !spec.send_sigkill;
        // Wait only for what was signalled: with KillMode=none nothing is, and the stop goes
        // on at once, as in systemd.
        let send = spec.kill_mode != KillMode::None && !skip && self.anything_left(spec);
        if send {
            out.push(Action::Kill {
                signal,
                whom: Whom::All,
            });
            if signal != libc::SIGKILL {
                out.push(Action::Kill {
                    signal: libc::SIGCONT,
                    whom: Whom::All,
                });
            }
            if spec.send_sighup && matches!(s, State::StopSigterm | State::FinalSigterm) {
                out.push(Action::Kill {
                    signal: libc::SIGHUP,
                    whom: Whom::All,
                });
            }
            self.state = s;
            let t = if self.aborting && s == State::StopSigterm {
                spec.timeout_abort.or(spec.timeout_stop)
            } else {
                spec.timeout_stop
            };
            self.arm(t, out);
            return;
        }
        match s {
            State::StopSigterm => self.enter_signal(spec, State::StopSigkill, out),
            State::StopSigkill => self.enter_stop_post(spec, out),
            State::FinalSigterm => self.enter_signal(spec, State::FinalSigkill, out),
            _ => self.enter_dead(spec, out),
        }
    }

    fn enter_stop_post(&mut self, spec: &Spec, out: &mut Out) {
        if spec.stop_post.is_empty() {
            self.enter_signal(spec, State::FinalSigterm, out);
        } else {
            self.state = State::StopPost;
            self.arm(spec.timeout_stop, out);
            self.spawn(ExecList::StopPost, 0, false, out);
        }
    }

    fn enter_dead(&mut self, spec: &Spec, out: &mut Out) {
        out.push(Action::DisarmTimer);
        out.push(Action::DisarmWatchdog);
        self.restarting = false;
        self.aborting = false;
        self.current = None;
        self.has_main = false;
        self.has_control = false;
        let prevented = exit_matches(self.last_exit, &spec.restart_prevent);
        let forced = exit_matches(self.last_exit, &spec.restart_force);
        if !self.stop_requested
            && !prevented
            && self.result != ServiceResult::StartLimitHit
            && (forced || should_restart(spec.restart, self.result))
        {
            self.state = State::AutoRestart;
            out.push(Action::ArmTimer(super::policy::restart_delay(
                spec.restart_sec,
                spec.restart_steps,
                spec.restart_max_delay,
                self.restarts,
            )));
        } else if self.result == ServiceResult::Success {
            self.state = State::Dead;
        } else {
            self.state = State::Failed;
        }
    }
}

//! The run-time record of each unit (`UnitRt`): its kind's machine and what the manager keeps
//! about it (job, timestamps, log ring, last failure), and the service `Spec` derived from a
//! `[Service]` section (interned: one value per distinct spec). Split out of `mod.rs`.

use super::{automount, log, mount, socket, JobId, UnitEntry};
use crate::job::transaction::Reason;
use crate::job::types::{JobResult, JobType};
use crate::service::machine::{self, Machine, Spec};
use crate::unit::config::ServiceSection;
use crate::unit::load::LoadState;
use crate::unit::name::UnitType;

/// Run-time state of a target (and of every other unit without processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Simple {
    pub active: bool,
}

pub enum Kind {
    Service(Box<ServiceRt>),
    Socket(Box<SocketRt>),
    Mount(Box<MountRt>),
    Automount(Box<AutomountRt>),
    Device(Box<DeviceRt>),
    Simple(Simple),
}

/// A device unit: active while devmon reports the device present and ready.
#[derive(Default)]
pub struct DeviceRt {
    pub present: bool,
    pub syspath: String,
    /// The uevent's properties, `KEY=VALUE`.
    pub props: Vec<String>,
    /// A start job waited for the device past JobTimeoutSec= (90 s).
    pub wait_failed: bool,
}

/// How long a start job waits for a device (systemd's DefaultDeviceTimeoutSec).
pub const DEVICE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

pub struct AutomountRt {
    pub machine: automount::AutomountMachine,
    pub error: Option<String>,
}

pub struct MountRt {
    pub machine: mount::MountMachine,
    /// TimeoutSec= of the mount.
    pub timeout: Option<std::time::Duration>,
    /// Why the last mount or unmount failed, or what fsck said.
    pub error: Option<String>,
    pub fsck: Option<String>,
}

pub struct SocketRt {
    pub machine: socket::SockMachine,
    pub spec: socket::SockSpec,
    pub control_pid: Option<i32>,
    /// Why the last spawn failed, for status.
    pub spawn_error: Option<String>,
}

/// What the socket machine needs from a socket unit's settings.
pub fn sock_spec_of(c: &crate::unit::config::UnitConfig) -> socket::SockSpec {
    let ignores = |v: &[crate::unit::exec::ExecCommand]| -> Vec<bool> {
        v.iter().map(|c| c.ignore_failure).collect()
    };
    let s = &c.service;
    socket::SockSpec {
        start_pre: ignores(&s.exec_start_pre),
        start_post: ignores(&s.exec_start_post),
        stop_pre: ignores(&s.exec_stop),
        stop_post: ignores(&s.exec_stop_post),
        accept: c.socket.accept,
        trigger_limit: {
            // PollLimit*= (systemd 255) pauses instead of failing, which is what cairn does for
            // TriggerLimit*= too; the stricter of the two applies.
            let (ti, tb) = c.socket.trigger_limit();
            let (pi, pb) = c.socket.poll_limit();
            let given =
                c.socket.poll_limit_interval_usec.is_some() || c.socket.poll_limit_burst.is_some();
            if given && pb != 0 && pi != 0 && (tb == 0 || pb < tb) {
                (pi, pb)
            } else {
                (ti, tb)
            }
        },
    }
}

pub struct ServiceRt {
    pub machine: Machine,
    pub spec: std::rc::Rc<Spec>,
    pub main_pid: Option<i32>,
    pub control_pid: Option<i32>,
    /// Why the last spawn failed ("/bin/x: ENOENT"), for status.
    pub spawn_error: Option<String>,
    pub status_text: Option<String>,
}

/// A unit's life since the manager started.
pub struct UnitRt {
    pub job: Option<JobId>,
    pub kind: Kind,
    /// The Condition*= and Assert*= that failed at its last start, if any did (one pointer
    /// for the two: most units never have one).
    checks: Option<Box<Checks>>,
    /// The last job that ran on this unit and how it ended, for `why-not`.
    pub last_job: Option<(JobType, JobResult, Reason)>,
    /// Why the unit is (or was last) started: the provenance of its last start job.
    pub started_by: Option<Reason>,
    pub state_change_usec: u64,
    pub active_enter_usec: u64,
    /// When it last began to start (realtime), for `analyze blame`.
    pub activating_enter_usec: u64,
    /// The same three moments on CLOCK_MONOTONIC.
    pub activating_enter_mono: u64,
    pub active_enter_mono: u64,
    /// When its last job was queued: (realtime, monotonic) µs.
    pub job_queued: (u64, u64),
    pub log: log::LazyRing,
    /// When the last starts happened (for StartLimitBurst=); `reset-failed` clears it.
    pub starts: thin_vec::ThinVec<u64>,
    /// What the last failure left: how the main process ended, the result, when, and the last
    /// log lines then. Kept across restarts.
    pub last_failure: Option<Box<Failure>>,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub realtime_usec: u64,
    pub result: &'static str,
    pub exit: Option<String>,
    pub last_lines: Vec<String>,
}

/// What failed of a unit's conditions and assertions ([`UnitRt::condition_failed`]).
#[derive(Debug, Default)]
struct Checks {
    condition: Option<Box<str>>,
    assert: Option<Box<str>>,
}

impl UnitRt {
    /// The condition that failed at the last start (why it was skipped).
    pub fn condition_failed(&self) -> Option<&str> {
        self.checks.as_ref()?.condition.as_deref()
    }

    /// The assertion that failed at the last start (why it failed).
    pub fn assert_failed(&self) -> Option<&str> {
        self.checks.as_ref()?.assert.as_deref()
    }

    /// What the last start's checks found (None: passed).
    pub fn set_checks(&mut self, condition: Option<String>, assert: Option<String>) {
        self.checks = (condition.is_some() || assert.is_some()).then(|| {
            Box::new(Checks {
                condition: condition.map(String::into_boxed_str),
                assert: assert.map(String::into_boxed_str),
            })
        });
    }

    /// `reset-failed`: a failed assertion is forgotten.
    pub fn clear_assert(&mut self) {
        let condition = self.condition_failed().map(str::to_string);
        self.set_checks(condition, None);
    }

    pub(super) fn new(u: &UnitEntry) -> UnitRt {
        let kind = match (u.utype, &u.load) {
            (UnitType::Service, LoadState::Loaded) => Kind::Service(Box::new(ServiceRt {
                machine: Machine::default(),
                spec: u.settings.service_spec(),
                main_pid: None,
                control_pid: None,
                spawn_error: None,
                status_text: None,
            })),
            (UnitType::Device, LoadState::Loaded) => Kind::Device(Box::default()),
            (UnitType::Automount, LoadState::Loaded) => Kind::Automount(Box::new(AutomountRt {
                machine: automount::AutomountMachine::default(),
                error: None,
            })),
            (UnitType::Mount, LoadState::Loaded) => Kind::Mount(Box::new(MountRt {
                machine: mount::MountMachine::default(),
                timeout: u.config().mount.timeout,
                error: None,
                fsck: None,
            })),
            (UnitType::Socket, LoadState::Loaded) => Kind::Socket(Box::new(SocketRt {
                machine: socket::SockMachine::default(),
                spec: sock_spec_of(&u.config()),
                control_pid: None,
                spawn_error: None,
            })),
            _ => Kind::Simple(Simple::default()),
        };
        UnitRt {
            job: None,
            kind,
            checks: None,
            last_job: None,
            started_by: None,
            state_change_usec: 0,
            active_enter_usec: 0,
            activating_enter_usec: 0,
            activating_enter_mono: 0,
            active_enter_mono: 0,
            job_queued: (0, 0),
            log: log::LazyRing::default(),
            starts: thin_vec::ThinVec::new(),
            last_failure: None,
        }
    }
}

/// What the machine needs from a service section.
/// One `Spec` per distinct value: most services have the same one (with 10,000 loaded, a
/// copy each was 400 bytes a unit). Kept for the life of the process: there are a handful.
pub fn intern(spec: Spec) -> std::rc::Rc<Spec> {
    thread_local! {
        static SPECS: std::cell::RefCell<std::collections::HashSet<std::rc::Rc<Spec>>> =
            std::cell::RefCell::new(std::collections::HashSet::new());
    }
    SPECS.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(found) = s.get(&spec) {
            return found.clone();
        }
        let rc = std::rc::Rc::new(spec);
        s.insert(rc.clone());
        rc
    })
}

pub fn spec_of(s: &ServiceSection) -> Spec {
    let ignores = |v: &[crate::unit::exec::ExecCommand]| -> Vec<bool> {
        v.iter().map(|c| c.ignore_failure).collect()
    };
    let stype = s.stype.unwrap_or(if s.exec_start.is_empty() {
        machine::ServiceType::Oneshot
    } else if s.bus_name.is_some() {
        machine::ServiceType::Dbus
    } else {
        machine::ServiceType::Simple
    });
    // With s6's readiness protocol the service is up when it says so, as Type=notify.
    let stype = match (s.notification_fd, stype) {
        (Some(_), machine::ServiceType::Simple | machine::ServiceType::Exec) => {
            machine::ServiceType::Notify
        }
        (_, t) => t,
    };
    Spec {
        stype,
        remain_after_exit: s.remain_after_exit,
        has_pid_file: s.pid_file.is_some(),
        start_pre: ignores(&s.exec_start_pre),
        start: ignores(&s.exec_start),
        start_post: ignores(&s.exec_start_post),
        reload: ignores(&s.exec_reload),
        stop: ignores(&s.exec_stop),
        stop_post: ignores(&s.exec_stop_post),
        restart: s.restart,
        restart_sec: s.restart_sec,
        restart_steps: s.restart_steps,
        restart_max_delay: s.restart_max_delay,
        watchdog: s.watchdog,
        // oneshot: no start timeout unless one was given (systemd's default is infinity).
        timeout_start: if stype == machine::ServiceType::Oneshot
            && s.timeout_start == Some(crate::service::policy::DEFAULT_TIMEOUT)
        {
            None
        } else {
            s.timeout_start
        },
        timeout_stop: s.timeout_stop,
        kill_mode: s.kill_mode,
        kill_signal: s.kill_signal,
        send_sigkill: s.send_sigkill,
        final_kill_signal: s.final_kill_signal,
        restart_kill_signal: s.restart_kill_signal.unwrap_or(s.kill_signal),
        timeout_abort: s.timeout_abort.or(s.timeout_stop),
        send_sighup: s.send_sighup,
        success_codes: s.success_codes.to_vec(),
        success_signals: s.success_signals.to_vec(),
        restart_prevent: (s.restart_prevent.0.to_vec(), s.restart_prevent.1.to_vec()),
        notify_access: crate::runtime::notify_access(s, stype),
        restart_force: (s.restart_force.0.to_vec(), s.restart_force.1.to_vec()),
    }
}

//! The service state machine driven by events alone: no processes.

use std::time::Duration;

use super::machine::*;
use super::policy::{ExitStatus, RestartPolicy, ServiceResult};
use crate::job::graph::ActiveState as Active;

fn spec(stype: ServiceType) -> Spec {
    Spec {
        stype,
        remain_after_exit: false,
        has_pid_file: false,
        start_pre: vec![],
        start: vec![false],
        start_post: vec![],
        reload: vec![],
        stop: vec![],
        stop_post: vec![],
        restart: RestartPolicy::No,
        restart_sec: Duration::from_millis(100),
        restart_steps: 0,
        restart_max_delay: None,
        watchdog: None,
        timeout_start: Some(Duration::from_secs(90)),
        timeout_stop: Some(Duration::from_secs(90)),
        kill_mode: KillMode::ControlGroup,
        kill_signal: libc::SIGTERM,
        send_sigkill: true,
        final_kill_signal: libc::SIGKILL,
        restart_kill_signal: libc::SIGTERM,
        timeout_abort: None,
        send_sighup: false,
        success_codes: vec![],
        success_signals: vec![],
        restart_prevent: (vec![], vec![]),
        restart_force: (vec![], vec![]),
        notify_access: crate::unit::config::NotifyAccess::None,
    }
}

const OK: ExitStatus = ExitStatus::Code(0);
const BAD: ExitStatus = ExitStatus::Code(1);

fn spawned(out: &[Action]) -> Vec<(ExecList, usize, bool)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Spawn { list, index, main } => Some((*list, *index, *main)),
            _ => None,
        })
        .collect()
}

fn kills(out: &[Action]) -> Vec<i32> {
    out.iter()
        .filter_map(|a| match a {
            Action::Kill { signal, .. } => Some(*signal),
            _ => None,
        })
        .collect()
}

/// Start, and the exec of the main process succeeded.
fn start(m: &mut Machine, s: &Spec) -> Vec<Action> {
    let mut out = m.handle(s, Event::Start);
    out.extend(m.handle(s, Event::Spawned { main: true }));
    out
}

/// Lets a service die quietly: main gone and cgroup empty.
fn main_gone(m: &mut Machine, s: &Spec, st: ExitStatus) -> Vec<Action> {
    let mut out = m.handle(s, Event::MainExited(st));
    out.extend(m.handle(s, Event::CgroupEmpty));
    out
}

#[test]
fn simple_is_active_once_spawned_and_dead_after_a_clean_exit() {
    let s = spec(ServiceType::Simple);
    let mut m = Machine::default();
    let out = m.handle(&s, Event::Start);
    assert_eq!(spawned(&out), vec![(ExecList::Start, 0, true)]);
    assert_eq!(
        m.active(),
        Active::Activating,
        "until its exec is confirmed"
    );
    m.handle(&s, Event::Spawned { main: true });
    assert_eq!(m.state, State::Running);
    assert_eq!(m.active(), Active::Active);
    main_gone(&mut m, &s, OK);
    assert_eq!(m.state, State::Dead);
    assert_eq!(m.result, ServiceResult::Success);
}

#[test]
fn a_failed_main_process_leaves_the_unit_failed_with_the_reason() {
    let s = spec(ServiceType::Simple);
    let mut m = Machine::default();
    start(&mut m, &s);
    main_gone(&mut m, &s, BAD);
    assert_eq!(m.state, State::Failed);
    assert_eq!(m.result, ServiceResult::ExitCode);
    assert_eq!(m.last_exit, Some(BAD));
}

#[test]
fn oneshot_runs_every_execstart_in_turn_and_remains() {
    let mut s = spec(ServiceType::Oneshot);
    s.start = vec![false, false];
    s.remain_after_exit = true;
    let mut m = Machine::default();
    let out = m.handle(&s, Event::Start);
    assert_eq!(spawned(&out), vec![(ExecList::Start, 0, true)]);
    assert_eq!(m.active(), Active::Activating);
    let out = m.handle(&s, Event::MainExited(OK));
    assert_eq!(spawned(&out), vec![(ExecList::Start, 1, true)]);
    m.handle(&s, Event::MainExited(OK));
    assert_eq!(m.state, State::Exited);
    assert_eq!(m.active(), Active::Active);
}

#[test]
fn oneshot_without_remain_ends_inactive_and_an_ignored_failure_goes_on() {
    let mut s = spec(ServiceType::Oneshot);
    s.start = vec![true, false];
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    let out = m.handle(&s, Event::MainExited(BAD));
    assert_eq!(
        spawned(&out),
        vec![(ExecList::Start, 1, true)],
        "'-' ignores the failure"
    );
    m.handle(&s, Event::MainExited(OK));
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Dead);
    assert_eq!(m.result, ServiceResult::Success);
}

#[test]
fn notify_waits_for_ready() {
    let s = spec(ServiceType::Notify);
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    assert_eq!(m.state, State::Start);
    m.handle(&s, Event::Ready);
    assert_eq!(m.state, State::Running);
}

/// Type=dbus: running once the bus name is taken (the bus watcher's `Ready`), not at exec.
#[test]
fn dbus_waits_for_its_name() {
    let s = spec(ServiceType::Dbus);
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    m.handle(&s, Event::Spawned { main: true });
    assert_eq!(m.state, State::Start);
    m.handle(&s, Event::Ready);
    assert_eq!(m.state, State::Running);
}

#[test]
fn notify_dying_before_ready_is_a_protocol_failure() {
    let s = spec(ServiceType::Notify);
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    main_gone(&mut m, &s, OK);
    assert_eq!(m.state, State::Failed);
    assert_eq!(m.result, ServiceResult::Protocol);
}

#[test]
fn forking_finds_its_daemon_after_the_parent_exits() {
    let mut s = spec(ServiceType::Forking);
    s.has_pid_file = true;
    let mut m = Machine::default();
    let out = m.handle(&s, Event::Start);
    assert_eq!(spawned(&out), vec![(ExecList::Start, 0, false)]);
    let out = m.handle(&s, Event::ControlExited(OK));
    assert!(out.contains(&Action::FindMainPid));
    m.handle(&s, Event::MainPidKnown(true));
    assert_eq!(m.state, State::Running);
    // A missing PID file is a failure.
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    m.handle(&s, Event::ControlExited(OK));
    m.handle(&s, Event::MainPidKnown(false));
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Failed);
}

#[test]
fn restart_on_failure_arms_the_timer_then_starts_again() {
    let mut s = spec(ServiceType::Simple);
    s.restart = RestartPolicy::OnFailure;
    s.restart_sec = Duration::from_millis(250);
    let mut m = Machine::default();
    start(&mut m, &s);
    let out = main_gone(&mut m, &s, BAD);
    assert_eq!(m.state, State::AutoRestart);
    assert!(out.contains(&Action::ArmTimer(Duration::from_millis(250))));
    let out = m.handle(&s, Event::RestartTimer);
    assert_eq!(spawned(&out), vec![(ExecList::Start, 0, true)]);
    assert_eq!(m.restarts, 1);
    m.handle(&s, Event::Spawned { main: true });
    assert_eq!(m.state, State::Running);
    // A clean exit is not restarted under on-failure.
    main_gone(&mut m, &s, OK);
    assert_eq!(m.state, State::Dead);
}

#[test]
fn a_requested_stop_runs_execstop_then_signals_and_never_restarts() {
    let mut s = spec(ServiceType::Simple);
    s.stop = vec![false];
    s.stop_post = vec![false];
    s.restart = RestartPolicy::Always;
    let mut m = Machine::default();
    start(&mut m, &s);
    let out = m.handle(&s, Event::Stop);
    assert_eq!(spawned(&out), vec![(ExecList::Stop, 0, false)]);
    assert_eq!(m.active(), Active::Deactivating);
    let out = m.handle(&s, Event::ControlExited(OK));
    assert_eq!(kills(&out), vec![libc::SIGTERM, libc::SIGCONT]);
    assert_eq!(m.state, State::StopSigterm);
    m.handle(
        &s,
        Event::MainExited(ExitStatus::Signal {
            signal: libc::SIGTERM,
            core_dumped: false,
        }),
    );
    let out = m.handle(&s, Event::CgroupEmpty);
    assert_eq!(spawned(&out), vec![(ExecList::StopPost, 0, false)]);
    m.handle(&s, Event::ControlExited(OK));
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Dead, "Restart=always does not undo a stop");
    assert_eq!(m.result, ServiceResult::Success);
}

#[test]
fn a_stop_that_times_out_escalates_to_sigkill() {
    let s = spec(ServiceType::Simple);
    let mut m = Machine::default();
    start(&mut m, &s);
    m.handle(&s, Event::Stop);
    assert_eq!(m.state, State::StopSigterm);
    let out = m.handle(&s, Event::Timeout);
    assert_eq!(kills(&out), vec![libc::SIGKILL]);
    assert_eq!(m.state, State::StopSigkill);
    main_gone(
        &mut m,
        &s,
        ExitStatus::Signal {
            signal: libc::SIGKILL,
            core_dumped: false,
        },
    );
    assert_eq!(m.state, State::Failed);
    assert_eq!(m.result, ServiceResult::Timeout);
}

#[test]
fn a_failing_start_pre_stops_the_start_unless_ignored() {
    let mut s = spec(ServiceType::Simple);
    s.start_pre = vec![false];
    let mut m = Machine::default();
    let out = m.handle(&s, Event::Start);
    assert_eq!(spawned(&out), vec![(ExecList::StartPre, 0, false)]);
    let out = m.handle(&s, Event::ControlExited(BAD));
    assert!(spawned(&out).is_empty(), "ExecStart never runs");
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Failed);

    s.start_pre = vec![true];
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    let out = m.handle(&s, Event::ControlExited(BAD));
    assert_eq!(spawned(&out), vec![(ExecList::Start, 0, true)]);
}

#[test]
fn an_exec_failure_fails_the_unit_with_resources() {
    let mut s = spec(ServiceType::Simple);
    s.start_post = vec![false];
    s.stop = vec![false];
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    let out = m.handle(&s, Event::SpawnFailed { main: true });
    assert!(
        spawned(&out).is_empty(),
        "neither ExecStartPost= nor ExecStop= runs"
    );
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Failed);
    assert_eq!(m.result, ServiceResult::Resources);
}

#[test]
fn stopping_during_restart_delay_cancels_the_restart() {
    let mut s = spec(ServiceType::Simple);
    s.restart = RestartPolicy::Always;
    let mut m = Machine::default();
    start(&mut m, &s);
    main_gone(&mut m, &s, OK);
    assert_eq!(m.state, State::AutoRestart);
    let out = m.handle(&s, Event::Stop);
    assert!(out.contains(&Action::DisarmTimer));
    assert_eq!(m.state, State::Dead);
    assert!(m.handle(&s, Event::RestartTimer).is_empty());
}

#[test]
fn reload_runs_execreload_and_returns_to_running() {
    let mut s = spec(ServiceType::Simple);
    s.reload = vec![false];
    let mut m = Machine::default();
    start(&mut m, &s);
    let out = m.handle(&s, Event::Reload);
    assert_eq!(spawned(&out), vec![(ExecList::Reload, 0, false)]);
    assert_eq!(m.active(), Active::Reloading);
    m.handle(&s, Event::ControlExited(OK));
    assert_eq!(m.state, State::Running);
}

#[test]
fn a_crash_goes_to_the_signals_without_execstop() {
    let mut s = spec(ServiceType::Simple);
    s.stop = vec![false];
    let mut m = Machine::default();
    start(&mut m, &s);
    let out = m.handle(&s, Event::MainExited(BAD));
    assert!(
        spawned(&out).is_empty(),
        "ExecStop= is for stopping a healthy service"
    );
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Failed);
}

#[test]
fn a_clean_exit_of_the_main_process_still_runs_execstop_and_clears_leftovers() {
    let mut s = spec(ServiceType::Simple);
    s.stop = vec![false];
    let mut m = Machine::default();
    start(&mut m, &s);
    let out = m.handle(&s, Event::MainExited(OK));
    assert_eq!(spawned(&out), vec![(ExecList::Stop, 0, false)]);
    let out = m.handle(&s, Event::ControlExited(OK));
    assert_eq!(
        kills(&out),
        vec![libc::SIGTERM, libc::SIGCONT],
        "leftover children"
    );
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Dead);
}

#[test]
fn kill_mode_none_does_not_wait_for_what_it_did_not_signal() {
    let mut s = spec(ServiceType::Simple);
    s.kill_mode = KillMode::None;
    let mut m = Machine::default();
    start(&mut m, &s);
    let out = m.handle(&s, Event::Stop);
    assert!(kills(&out).is_empty());
    assert_eq!(m.state, State::Dead);
}

#[test]
fn a_failed_reload_does_not_fail_the_unit() {
    let mut s = spec(ServiceType::Simple);
    s.reload = vec![false];
    s.restart = RestartPolicy::OnFailure;
    let mut m = Machine::default();
    start(&mut m, &s);
    m.handle(&s, Event::Reload);
    m.handle(&s, Event::ControlExited(BAD));
    assert_eq!(m.state, State::Running);
    assert!(m.reload_failed);
    assert_eq!(m.result, ServiceResult::Success);
    // A clean exit later is still clean: no restart under on-failure.
    main_gone(&mut m, &s, OK);
    assert_eq!(m.state, State::Dead);
}

#[test]
fn the_main_process_dying_during_a_reload_stops_the_unit() {
    let mut s = spec(ServiceType::Simple);
    s.reload = vec![false];
    let mut m = Machine::default();
    start(&mut m, &s);
    m.handle(&s, Event::Reload);
    m.handle(&s, Event::MainExited(BAD));
    m.handle(&s, Event::ControlExited(OK));
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Failed);
}

#[test]
fn a_forking_daemon_whose_main_pid_exits_is_stopped_even_with_children_left() {
    let mut s = spec(ServiceType::Forking);
    s.has_pid_file = true;
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    m.handle(&s, Event::ControlExited(OK));
    m.handle(&s, Event::MainPidKnown(true));
    assert_eq!(m.state, State::Running);
    let out = m.handle(&s, Event::MainExited(OK));
    assert_eq!(kills(&out), vec![libc::SIGTERM, libc::SIGCONT]);
    m.handle(&s, Event::CgroupEmpty);
    assert_eq!(m.state, State::Dead);
}

#[test]
fn a_failing_execstop_ends_its_list_and_is_recorded() {
    let mut s = spec(ServiceType::Simple);
    s.stop = vec![false, false];
    let mut m = Machine::default();
    start(&mut m, &s);
    m.handle(&s, Event::Stop);
    let out = m.handle(&s, Event::ControlExited(BAD));
    assert!(
        spawned(&out).is_empty(),
        "the second ExecStop= does not run"
    );
    main_gone(&mut m, &s, OK);
    assert_eq!(m.result, ServiceResult::ExitCode);
}

#[test]
fn restart_prevent_and_force_exit_status_override_restart() {
    let mut s = spec(ServiceType::Simple);
    s.restart = RestartPolicy::OnFailure;
    s.restart_prevent = (vec![7], vec![]);
    let mut m = Machine::default();
    start(&mut m, &s);
    main_gone(&mut m, &s, ExitStatus::Code(7));
    assert_eq!(m.state, State::Failed, "7 prevents the restart");
    s.restart = RestartPolicy::No;
    s.restart_force = (vec![0], vec![libc::SIGUSR1]);
    let mut m = Machine::default();
    start(&mut m, &s);
    main_gone(&mut m, &s, OK);
    assert_eq!(
        m.state,
        State::AutoRestart,
        "0 forces it even with Restart=no"
    );
}

#[test]
fn restart_back_off_follows_the_recorded_schedule() {
    let mut s = spec(ServiceType::Simple);
    s.restart = RestartPolicy::Always;
    s.restart_sec = Duration::from_millis(100);
    s.restart_steps = 2;
    s.restart_max_delay = Some(Duration::from_millis(400));
    let mut m = Machine::default();
    start(&mut m, &s);
    let mut schedule = Vec::new();
    for _ in 0..4 {
        let out = main_gone(&mut m, &s, BAD);
        schedule.extend(out.iter().filter_map(|a| match a {
            Action::ArmTimer(d) => Some(d.as_millis()),
            _ => None,
        }));
        m.handle(&s, Event::RestartTimer);
        m.handle(&s, Event::Spawned { main: true });
    }
    // Start and stop timeouts (90 s) are armed too; the restart delays are the short ones.
    let delays: Vec<u128> = schedule.into_iter().filter(|d| *d <= 400).collect();
    assert_eq!(delays, vec![100, 200, 400, 400]);
}

#[test]
fn the_watchdog_is_armed_when_running_re_armed_by_pings_and_fires() {
    let mut s = spec(ServiceType::Notify);
    s.watchdog = Some(Duration::from_secs(3));
    s.restart = RestartPolicy::OnWatchdog;
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    let out = m.handle(&s, Event::Ready);
    assert!(out.contains(&Action::ArmWatchdog(Duration::from_secs(3))));
    let out = m.handle(&s, Event::WatchdogPing);
    assert_eq!(out, vec![Action::ArmWatchdog(Duration::from_secs(3))]);
    let out = m.handle(&s, Event::WatchdogTimeout);
    assert_eq!(
        kills(&out)[0],
        libc::SIGABRT,
        "SIGABRT first, for a core dump"
    );
    assert_eq!(m.result, ServiceResult::Watchdog);
    main_gone(
        &mut m,
        &s,
        ExitStatus::Signal {
            signal: libc::SIGABRT,
            core_dumped: true,
        },
    );
    assert_eq!(m.state, State::AutoRestart, "Restart=on-watchdog");
}

#[test]
fn extend_timeout_stopping_and_reloading_from_the_service() {
    let s = spec(ServiceType::Notify);
    let mut m = Machine::default();
    m.handle(&s, Event::Start);
    let out = m.handle(&s, Event::ExtendTimeout(Duration::from_secs(300)));
    assert_eq!(out, vec![Action::ArmTimer(Duration::from_secs(300))]);
    m.handle(&s, Event::Ready);
    m.handle(&s, Event::Reloading);
    assert_eq!(m.active(), Active::Reloading);
    m.handle(&s, Event::Ready);
    assert_eq!(m.state, State::Running, "READY=1 ends a RELOADING=1");
    let out = m.handle(&s, Event::Stopping);
    assert!(kills(&out).is_empty(), "it stops by itself: no signal yet");
    assert_eq!(m.active(), Active::Deactivating);
    main_gone(&mut m, &s, OK);
    assert_eq!(m.state, State::Dead);
}

#[test]
fn a_restart_stops_with_restart_kill_signal_and_an_abort_waits_timeout_abort() {
    let mut s = spec(ServiceType::Simple);
    s.restart_kill_signal = libc::SIGUSR2;
    s.timeout_abort = Some(Duration::from_secs(7));
    s.watchdog = Some(Duration::from_secs(1));
    let mut m = Machine::default();
    start(&mut m, &s);
    let out = m.handle(&s, Event::StopForRestart);
    assert_eq!(kills(&out)[0], libc::SIGUSR2);
    main_gone(&mut m, &s, OK);
    start(&mut m, &s);
    let out = m.handle(&s, Event::WatchdogTimeout);
    assert_eq!(kills(&out)[0], libc::SIGABRT);
    assert!(
        out.contains(&Action::ArmTimer(Duration::from_secs(7))),
        "{out:?}"
    );
}

use super::*;

fn spec() -> SockSpec {
    SockSpec {
        trigger_limit: (2_000_000, 3),
        ..Default::default()
    }
}

fn run(m: &mut SockMachine, s: &SockSpec, evs: &[SockEvent]) -> Vec<SockAction> {
    evs.iter().flat_map(|e| m.handle(s, *e, 0)).collect()
}

const OK: SockEvent = SockEvent::ControlExited(ExitStatus::Code(0));
const BAD: SockEvent = SockEvent::ControlExited(ExitStatus::Code(1));

#[test]
fn start_opens_then_watches_and_stop_closes() {
    let s = spec();
    let mut m = SockMachine::default();
    assert_eq!(run(&mut m, &s, &[SockEvent::Start]), vec![SockAction::Open]);
    assert_eq!(m.state, SockState::Opening);
    assert_eq!(m.active(), ActiveState::Activating);
    assert_eq!(
        run(&mut m, &s, &[SockEvent::Opened(true)]),
        vec![SockAction::Watch]
    );
    assert_eq!(m.state, SockState::Listening);
    assert_eq!(
        run(&mut m, &s, &[SockEvent::Stop]),
        vec![SockAction::Unwatch, SockAction::Close]
    );
    assert_eq!(m.state, SockState::Dead);
}

#[test]
fn commands_run_in_their_phases() {
    let s = SockSpec {
        start_pre: vec![false, false],
        start_post: vec![false],
        stop_pre: vec![false],
        stop_post: vec![false],
        ..spec()
    };
    let mut m = SockMachine::default();
    let a = run(
        &mut m,
        &s,
        &[SockEvent::Start, OK, OK, SockEvent::Opened(true), OK],
    );
    assert_eq!(
        a,
        vec![
            SockAction::Spawn {
                list: ExecList::StartPre,
                index: 0
            },
            SockAction::Spawn {
                list: ExecList::StartPre,
                index: 1
            },
            SockAction::Open,
            SockAction::Spawn {
                list: ExecList::StartPost,
                index: 0
            },
            SockAction::Watch,
        ]
    );
    let a = run(&mut m, &s, &[SockEvent::Stop, OK, OK]);
    assert_eq!(
        a,
        vec![
            SockAction::Unwatch,
            SockAction::Spawn {
                list: ExecList::Stop,
                index: 0
            },
            SockAction::Close,
            SockAction::Spawn {
                list: ExecList::StopPost,
                index: 0
            },
        ]
    );
    assert_eq!(m.state, SockState::Dead);
}

#[test]
fn a_failed_start_pre_runs_stop_post_and_fails() {
    let s = SockSpec {
        start_pre: vec![false],
        stop_post: vec![false],
        ..spec()
    };
    let mut m = SockMachine::default();
    let a = run(&mut m, &s, &[SockEvent::Start, BAD, OK]);
    assert_eq!(
        a,
        vec![
            SockAction::Spawn {
                list: ExecList::StartPre,
                index: 0
            },
            SockAction::Spawn {
                list: ExecList::StopPost,
                index: 0
            },
        ]
    );
    assert_eq!(m.state, SockState::Failed);
    assert_eq!(m.result, ServiceResult::ExitCode);
    // A `-` prefix ignores the failure.
    let s = SockSpec {
        start_pre: vec![true],
        ..spec()
    };
    let mut m = SockMachine::default();
    let a = run(&mut m, &s, &[SockEvent::Start, BAD]);
    assert_eq!(a.last(), Some(&SockAction::Open));
}

#[test]
fn a_socket_that_cannot_be_opened_fails_with_the_reason() {
    let s = spec();
    let mut m = SockMachine::default();
    let a = run(&mut m, &s, &[SockEvent::Start, SockEvent::Opened(false)]);
    assert_eq!(a, vec![SockAction::Open]);
    assert_eq!(m.state, SockState::Failed);
    assert_eq!(m.result, ServiceResult::Resources);
    // And it can be started again.
    assert_eq!(run(&mut m, &s, &[SockEvent::Start]), vec![SockAction::Open]);
}

/// A listening Accept=no socket that traffic has just made start its service.
fn triggered(s: &SockSpec) -> SockMachine {
    let mut m = SockMachine::default();
    run(&mut m, s, &[SockEvent::Start, SockEvent::Opened(true)]);
    assert_eq!(
        run(&mut m, s, &[SockEvent::Triggered]),
        vec![SockAction::StartService]
    );
    m
}

#[test]
fn traffic_starts_the_service_and_its_end_rearms_the_watch() {
    let s = spec();
    let mut m = triggered(&s);
    assert_eq!(m.state, SockState::Running);
    // The service starting and running changes nothing more.
    assert_eq!(run(&mut m, &s, &[SockEvent::ServiceActive(true)]), vec![]);
    assert_eq!(
        run(&mut m, &s, &[SockEvent::ServiceActive(false)]),
        vec![SockAction::Watch]
    );
    assert_eq!(m.state, SockState::Listening);
    // A service started directly takes the sockets over.
    assert_eq!(
        run(&mut m, &s, &[SockEvent::ServiceActive(true)]),
        vec![SockAction::Unwatch]
    );
    assert_eq!(m.state, SockState::Running);
}

#[test]
fn a_socket_started_while_its_service_runs_is_running_and_unwatched() {
    let s = spec();
    let mut m = SockMachine::default();
    run(
        &mut m,
        &s,
        &[SockEvent::ServiceActive(true), SockEvent::Start],
    );
    assert_eq!(run(&mut m, &s, &[SockEvent::Opened(true)]), vec![]);
    assert_eq!(m.state, SockState::Running);
}

#[test]
fn a_trigger_storm_pauses_and_resumes_without_latching() {
    let s = spec();
    let mut m = SockMachine::default();
    run(&mut m, &s, &[SockEvent::Start, SockEvent::Opened(true)]);
    for t in 0..3 {
        let a = m.handle(&s, SockEvent::Triggered, t * 10);
        assert_eq!(a, vec![SockAction::StartService]);
        m.handle(&s, SockEvent::ServiceActive(true), t * 10);
        m.handle(&s, SockEvent::ServiceActive(false), t * 10 + 1);
    }
    let a = m.handle(&s, SockEvent::Triggered, 40);
    assert_eq!(a.first(), Some(&SockAction::Unwatch));
    assert_eq!(
        a.last(),
        Some(&SockAction::ArmResume(Duration::from_secs(2)))
    );
    assert!(m.paused);
    assert_eq!(m.state, SockState::Listening);
    assert_eq!(m.active(), ActiveState::Active, "never failed");
    assert_eq!(m.refused, 1);
    // Nothing restarts the watch while paused.
    assert_eq!(m.handle(&s, SockEvent::ServiceActive(false), 50), vec![]);
    let a = m.handle(&s, SockEvent::Resume, 2_000_040);
    assert_eq!(a.last(), Some(&SockAction::Watch));
    // Still inside the window: the next pause is twice as long.
    let a = m.handle(&s, SockEvent::Triggered, 1_000_000);
    assert_eq!(
        a.last(),
        Some(&SockAction::ArmResume(Duration::from_secs(4)))
    );
    // After the window, triggers pass again.
    m.handle(&s, SockEvent::Resume, 5_000_000);
    assert_eq!(
        m.handle(&s, SockEvent::Triggered, 9_000_000),
        vec![SockAction::StartService]
    );
}

#[test]
fn accept_yes_counts_connections_and_never_runs() {
    let s = SockSpec {
        accept: true,
        ..spec()
    };
    let mut m = SockMachine::default();
    run(&mut m, &s, &[SockEvent::Start, SockEvent::Opened(true)]);
    for _ in 0..3 {
        assert_eq!(m.allow_accept(&s, 1), (true, vec![]));
    }
    let (ok, a) = m.allow_accept(&s, 2);
    assert!(!ok);
    assert!(a.contains(&SockAction::Unwatch));
    assert_eq!(m.state, SockState::Listening);
    assert_eq!(m.triggers, 3);
}

#[test]
fn stop_during_start_pre_kills_it_and_ends_dead() {
    let s = SockSpec {
        start_pre: vec![false],
        ..spec()
    };
    let mut m = SockMachine::default();
    run(&mut m, &s, &[SockEvent::Start]);
    assert_eq!(
        run(&mut m, &s, &[SockEvent::Stop]),
        vec![SockAction::KillControl]
    );
    let a = run(
        &mut m,
        &s,
        &[SockEvent::ControlExited(ExitStatus::Signal {
            signal: 15,
            core_dumped: false,
        })],
    );
    assert_eq!(a, vec![]);
    assert_eq!(m.state, SockState::Dead);
}

#[test]
fn stop_while_opening_closes_what_arrives() {
    let s = spec();
    let mut m = SockMachine::default();
    run(&mut m, &s, &[SockEvent::Start, SockEvent::Stop]);
    assert_eq!(
        run(&mut m, &s, &[SockEvent::Opened(true)]),
        vec![SockAction::Close]
    );
    assert_eq!(m.state, SockState::Dead);
}

#[test]
fn a_service_that_hit_its_start_limit_fails_the_socket() {
    // systemd's socket_trigger_notify(): the socket stops listening, failed with
    // service-start-limit-hit, instead of handing the traffic to nobody again and again.
    let s = spec();
    let mut m = triggered(&s);
    assert_eq!(
        run(&mut m, &s, &[SockEvent::ServiceStartLimitHit]),
        vec![
            SockAction::Unwatch,
            SockAction::Log("the service it triggers hit its start limit; stopping".into()),
            SockAction::Close
        ]
    );
    assert_eq!(m.state, SockState::Failed);
    assert_eq!(m.result, ServiceResult::ServiceStartLimitHit);
    assert_eq!(m.result.as_str(), "service-start-limit-hit");
    // Started again, it listens again.
    assert_eq!(
        run(&mut m, &s, &[SockEvent::Start, SockEvent::Opened(true)]),
        vec![SockAction::Open, SockAction::Watch]
    );
    // Accept=yes sockets trigger no service of their own: nothing to hear.
    let s = SockSpec {
        accept: true,
        ..spec()
    };
    let mut m = SockMachine::default();
    run(&mut m, &s, &[SockEvent::Start, SockEvent::Opened(true)]);
    assert!(run(&mut m, &s, &[SockEvent::ServiceStartLimitHit]).is_empty());
    assert_eq!(m.state, SockState::Listening);
}

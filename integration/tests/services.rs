//! Tier 3 for services' lifecycle: readiness protocols, restarts and limits, timeouts, the
//! watchdog, containment, what a crash leaves, logs — real processes in a sandbox.

use std::time::Duration;

use cairn_integration::{out, wait, Sandbox};

#[test]
fn a_double_forking_service_is_fully_killed_on_stop() {
    let mut sb = Sandbox::builder()
        .unit(
            "forker.service",
            "[Service]\nType=forking\nExecStart=/bin/sh -c '(sleep 1001 &) ; (sh -c \"sleep 1002 & sleep 1003\" &) ; exit 0'\n",
        )
        .unit("default.target", "[Unit]\nWants=forker.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "forker active with its processes", 10, |sb| {
        Ok(sb.is_active("forker.service") && sb.cgroup_procs("forker.service").len() >= 3)
    });
    let procs = sb.cgroup_procs("forker.service");
    let o = sb.ctl(&["stop", "forker.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(sb.active_state("forker.service"), "inactive");
    assert!(sb.cgroup_procs("forker.service").is_empty());
    for p in procs {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists()
                || std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true),
            "pid {p} survived"
        );
    }
}

#[test]
fn a_crashing_service_is_restarted_per_restart_setting() {
    let mut sb = Sandbox::builder()
        .unit(
            "crashy.service",
            "[Service]\nRestart=on-failure\nRestartSec=100ms\nExecStart=/bin/sh -c 'echo run >> @DIR@/crashy.log; exit 3'\n",
        )
        .unit(
            "once.service",
            "[Service]\nRestart=no\nExecStart=/bin/sh -c 'echo run >> @DIR@/once.log; exit 3'\n",
        )
        .unit("default.target", "[Unit]\nWants=crashy.service once.service\n")
        .start()
        .unwrap();
    let dir = sb.dir().to_path_buf();
    wait(&mut sb, "crashy restarted 3 times", 15, |_| {
        Ok(std::fs::read_to_string(dir.join("crashy.log"))
            .unwrap_or_default()
            .lines()
            .count()
            >= 4)
    });
    let restarts: u32 = sb.property("crashy.service", "NRestarts").parse().unwrap();
    assert!(restarts >= 3, "{restarts}");
    wait(&mut sb, "once failed", 10, |sb| {
        Ok(sb.active_state("once.service") == "failed")
    });
    let status = out(&sb.ctl(&["status", "once.service"]));
    assert!(status.contains("status=3"), "{status}");
    assert!(status.contains("exit-code"), "{status}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read_to_string(dir.join("once.log"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    // Stopping ends the restart loop.
    let o = sb.ctl(&["stop", "crashy.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let n = std::fs::read_to_string(dir.join("crashy.log"))
        .unwrap()
        .lines()
        .count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read_to_string(dir.join("crashy.log"))
            .unwrap()
            .lines()
            .count(),
        n
    );
}

#[test]
fn logs_are_kept_per_unit() {
    let mut sb = Sandbox::builder()
        .unit(
            "talker.service",
            "[Service]\nExecStart=/bin/sh -c 'echo one; echo \"<3>two\"; echo three >&2; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nWants=talker.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "three lines", 10, |sb| {
        Ok(
            String::from_utf8_lossy(&sb.ctl(&["log", "talker.service"]).stdout)
                .lines()
                .count()
                >= 3,
        )
    });
    let log = String::from_utf8_lossy(&sb.ctl(&["log", "talker", "-n", "2"]).stdout).into_owned();
    assert!(!log.contains("one"), "{log}");
    assert!(log.contains("two") && log.contains("three"), "{log}");
    let o = sb.ctl(&["log", "talker", "--output", "json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["priority"], 3);
    let status = out(&sb.ctl(&["status", "talker"]));
    assert!(status.contains("three"), "{status}");
}

#[test]
fn a_notify_service_is_active_only_once_it_says_ready() {
    let mut sb = Sandbox::builder()
        .unit(
            "notifier.service",
            "[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c 'while [ ! -e @DIR@/go ]; do sleep 0.05; done; systemd-notify --ready --status=serving; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nDescription=none\n")
        .start()
        .unwrap();
    let o = sb.ctl(&["start", "--no-block", "notifier.service"]);
    assert!(o.status.success(), "{}", out(&o));
    wait(&mut sb, "activating", 5, |sb| {
        Ok(sb.active_state("notifier.service") == "activating")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sb.active_state("notifier.service"),
        "activating",
        "not ready yet"
    );
    std::fs::write(sb.dir().join("go"), "").unwrap();
    wait(&mut sb, "active after READY=1", 10, |sb| {
        Ok(sb.is_active("notifier.service"))
    });
    assert_eq!(sb.property("notifier.service", "StatusText"), "serving");
}

#[test]
fn a_forking_service_with_a_pid_file_is_tracked_by_it() {
    let mut sb = Sandbox::builder()
        .unit(
            "daemon.service",
            "[Service]\nType=forking\nPIDFile=@DIR@/daemon.pid\n\
             ExecStart=/bin/sh -c 'sleep 1000 & echo $! > @DIR@/daemon.pid'\n",
        )
        .unit("default.target", "[Unit]\nWants=daemon.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "daemon active", 10, |sb| {
        Ok(sb.is_active("daemon.service"))
    });
    let pid_in_file: i32 = std::fs::read_to_string(sb.dir().join("daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let main: i32 = sb.property("daemon.service", "MainPID").parse().unwrap();
    assert!(main > 0);
    // The file holds the pid as the sandbox sees it; MainPID is the same number.
    assert_eq!(main, pid_in_file);
    // The main process dying takes the unit down.
    sb.kill(i64::from(main), "KILL").unwrap();
    wait(&mut sb, "daemon failed", 10, |sb| {
        Ok(sb.active_state("daemon.service") == "failed")
    });
}

#[test]
fn a_start_that_times_out_fails_and_is_killed() {
    let mut sb = Sandbox::builder()
        .unit(
            "slow.service",
            "[Service]\nType=notify\nTimeoutStartSec=1\nExecStart=/bin/sleep 1000\n",
        )
        .unit("default.target", "[Unit]\nDescription=none\n")
        .start()
        .unwrap();
    let o = sb.ctl(&["start", "slow.service"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("Job for slow.service failed"),
        "{}",
        out(&o)
    );
    assert_eq!(sb.active_state("slow.service"), "failed");
    assert_eq!(sb.property("slow.service", "Result"), "timeout");
    assert!(
        sb.cgroup_procs("slow.service").is_empty(),
        "the process was killed"
    );
    let why_not = out(&sb.ctl(&["why-not", "slow.service"]));
    assert!(why_not.contains("timeout"), "{why_not}");
    wait(&mut sb, "nothing left", 2, |sb| {
        Ok(sb.cgroup_procs("slow.service").is_empty())
    });
}

#[test]
fn an_exec_failure_fails_the_start_with_the_errno() {
    let sb = Sandbox::builder()
        .unit("missing.service", "[Service]\nExecStart=/nonexistent/binary --flag\n")
        .unit("after.service", "[Unit]\nRequires=missing.service\nAfter=missing.service\n[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("default.target", "[Unit]\nDescription=none\n")
        .start()
        .unwrap();
    let o = sb.ctl(&["start", "after.service"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert_eq!(sb.active_state("missing.service"), "failed");
    let status = out(&sb.ctl(&["status", "missing.service"]));
    assert!(status.contains("/nonexistent/binary: ENOENT"), "{status}");
    assert!(status.contains("resources"), "{status}");
    assert_eq!(
        sb.active_state("after.service"),
        "inactive",
        "its requirement failed first"
    );
}

#[test]
fn the_start_limit_stops_a_restart_loop_until_reset_failed() {
    let mut sb = Sandbox::builder()
        .unit(
            "loop.service",
            "[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=3\n[Service]\nRestart=always\nRestartSec=50ms\nExecStart=/bin/sh -c 'echo run >> @DIR@/loop.log; exit 1'\n",
        )
        .unit("default.target", "[Unit]\nWants=loop.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "start limit hit", 10, |sb| {
        Ok(sb.property("loop.service", "Result") == "start-limit-hit")
    });
    assert_eq!(sb.active_state("loop.service"), "failed");
    std::thread::sleep(Duration::from_millis(300));
    let runs = std::fs::read_to_string(sb.dir().join("loop.log"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(runs, 3, "StartLimitBurst=3");
    assert_eq!(
        sb.ctl(&["start", "loop.service"]).status.code(),
        Some(1),
        "still refused"
    );
    let o = sb.ctl(&["reset-failed", "loop.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let dir = sb.dir().to_path_buf();
    sb.ctl(&["start", "--no-block", "loop.service"]);
    wait(&mut sb, "it runs again", 10, |_| {
        Ok(std::fs::read_to_string(dir.join("loop.log"))
            .unwrap_or_default()
            .lines()
            .count()
            > 3)
    });
}

#[test]
fn output_of_a_running_service_is_still_read_after_a_supervisor_crash() {
    let mut sb = Sandbox::builder()
        .unit(
            "ticker.service",
            "[Service]\nExecStart=/bin/sh -c 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done'\n",
        )
        .unit("default.target", "[Unit]\nWants=ticker.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "ticking", 10, |sb| {
        Ok(out(&sb.ctl(&["log", "ticker"])).contains("tick 3"))
    });
    let procs = sb.cgroup_procs("ticker.service");
    let sup = sb.component("supervisor").unwrap();
    sb.kill(sup.pid, "KILL").unwrap();
    wait(&mut sb, "supervisor back", 10, |sb| {
        Ok(sb.component("supervisor")?.pid != sup.pid)
    });
    // The writer never saw a broken pipe: the same process is still ticking, and the new
    // supervisor reads it from the pipe pid1 kept.
    wait(&mut sb, "new ticks read", 10, |sb| {
        let log = out(&sb.ctl(&["log", "ticker", "-n", "3"]));
        Ok(log.contains("tick") && !log.contains("tick 1\n"))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sb.cgroup_procs("ticker.service")
            .iter()
            .any(|p| procs.contains(p)),
        "same shell"
    );
    assert!(sb.is_active("ticker.service"));
}

#[test]
fn notify_access_is_enforced_by_credentials() {
    let mut sb = Sandbox::builder()
        .unit(
            "strict.service",
            "[Service]\nType=notify\nTimeoutStartSec=2\nExecStart=/bin/sh -c 'sh -c \"systemd-notify --ready; true\"; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nDescription=none\n")
        .start()
        .unwrap();
    // systemd-notify sends with its parent's pid (root may), and its parent here is a second
    // shell, not the main process: with the default NotifyAccess=main its READY=1 is refused,
    // and the start times out.
    let o = sb.ctl(&["start", "strict.service"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert_eq!(sb.property("strict.service", "Result"), "timeout");
    sb.wait_until(Duration::from_secs(2), |sb| {
        Ok(sb
            .log_text()
            .contains("notify: message for strict.service from pid")
            && sb.log_text().contains("refused: NotifyAccess=main"))
    })
    .unwrap();
}

#[test]
fn the_watchdog_fires_when_the_service_stops_pinging() {
    let mut sb = Sandbox::builder()
        .unit(
            "dog.service",
            "[Service]\nType=notify\nNotifyAccess=all\nWatchdogSec=1\nRestart=on-watchdog\nRestartSec=10s\n\
             ExecStart=/bin/sh -c 'echo usec=$WATCHDOG_USEC; systemd-notify --ready; for i in 1 2 3 4; do systemd-notify WATCHDOG=1; sleep 0.3; done; echo stopped pinging; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nWants=dog.service\n")
        .start()
        .unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.property("dog.service", "Result") == "watchdog")
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", out(&sb.ctl(&["status", "dog"]))));
    let log = out(&sb.ctl(&["log", "dog.service"]));
    assert!(log.contains("usec=1000000"), "{log}");
    assert!(log.contains("stopped pinging"), "{log}");
    // The pings kept it alive past one WatchdogSec; then it was killed (SIGABRT) and waits to
    // restart per Restart=on-watchdog.
    sb.wait_until(Duration::from_secs(5), |sb| {
        Ok(sb.active_state("dog.service") == "activating")
    })
    .unwrap();
    let status = out(&sb.ctl(&["status", "dog.service"]));
    assert!(status.contains("signal=ABRT"), "{status}");
}

#[test]
fn a_flooding_service_is_throttled_not_the_manager() {
    let mut sb = Sandbox::builder()
        .unit(
            "flood.service",
            "[Service]\nExecStart=/bin/sh -c 'yes cairn-flood-line | head -n 30000; echo \"<3>done flooding\"; exec sleep 1000'\n",
        )
        .unit("calm.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("default.target", "[Unit]\nWants=flood.service calm.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "both up", 10, |sb| {
        Ok(sb.is_active("flood.service") && sb.is_active("calm.service"))
    });
    // The manager answers throughout.
    for _ in 0..5 {
        assert!(sb.is_active("calm.service"));
    }
    // Past the burst the lines were dropped (and counted); the ring stayed bounded.
    let all = String::from_utf8_lossy(&sb.ctl(&["log", "flood", "-n", "5000"]).stdout).into_owned();
    assert!(all.lines().count() <= 1000, "the ring is bounded");
    wait(&mut sb, "the drop counted", 10, |sb| {
        Ok(sb
            .property("flood.service", "LogLinesSuppressed")
            .parse::<u64>()
            .unwrap_or(0)
            >= 20_000)
    });
    // -p err keeps only lines of that priority or above: none of the flood's info lines.
    let errors =
        String::from_utf8_lossy(&sb.ctl(&["log", "flood", "-p", "err"]).stdout).into_owned();
    assert!(!errors.contains("cairn-flood-line"), "{errors}");
    let o = sb.ctl(&["log", "flood", "-p", "loud"]);
    assert_eq!(o.status.code(), Some(2), "a bad priority is a usage error");
}

#[test]
fn a_fork_storm_is_contained_and_fully_killed() {
    let mut sb = Sandbox::builder()
        .unit(
            "storm.service",
            "[Service]\nExecStart=/bin/sh -c 'for i in $(seq 300); do (sleep 1000 &); done; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nWants=storm.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "the storm is in its cgroup", 20, |sb| {
        Ok(sb.cgroup_procs("storm.service").len() > 300)
    });
    let o = sb.ctl(&["stop", "storm.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        sb.cgroup_procs("storm.service").is_empty(),
        "nothing of a stopped unit is left"
    );
    assert_eq!(sb.active_state("storm.service"), "inactive");
}

#[test]
fn what_a_crash_leaves_is_shown_also_after_the_restart() {
    let mut sb = Sandbox::builder()
        .unit(
            "crasher.service",
            "[Service]\nRestart=on-failure\nRestartSec=200ms\n\
             ExecStart=/bin/sh -c 'echo about to crash; if [ ! -e @DIR@/crashed ]; then touch @DIR@/crashed; kill -SEGV $$$$; fi; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nWants=crasher.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "restarted and running", 10, |sb| {
        Ok(sb.is_active("crasher.service") && sb.property("crasher.service", "NRestarts") == "1")
    });
    let status = out(&sb.ctl(&["status", "crasher.service"]));
    assert!(
        status.contains("Last failure: signal (signal=SEGV"),
        "{status}"
    );
    assert!(status.contains("| about to crash"), "{status}");
    assert!(status.contains("Restarts: 1"), "{status}");
}

#[test]
fn a_stop_that_is_ignored_escalates_to_sigkill() {
    let mut sb = Sandbox::builder()
        .unit(
            "stubborn.service",
            "[Service]\nTimeoutStopSec=1\nExecStart=/bin/sh -c 'trap \"\" TERM; while true; do sleep 0.1; done'\n",
        )
        .unit("default.target", "[Unit]\nWants=stubborn.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "up", 10, |sb| Ok(sb.is_active("stubborn.service")));
    let o = sb.ctl(&["stop", "stubborn.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        sb.cgroup_procs("stubborn.service").is_empty(),
        "SIGKILL after TimeoutStopSec="
    );
    assert_eq!(sb.property("stubborn.service", "Result"), "timeout");
}

#[test]
fn dynamic_user_is_refused_clearly() {
    let sb = Sandbox::builder()
        .unit(
            "dyn.service",
            "[Service]\nDynamicUser=yes\nExecStart=/bin/true\n",
        )
        .unit("default.target", "[Unit]\nDescription=none\n")
        .start()
        .unwrap();
    let status = out(&sb.ctl(&["status", "dyn.service"]));
    assert!(
        status.contains("bad-setting") && status.contains("DynamicUser=yes is not supported"),
        "{status}"
    );
}

#[test]
fn s6_notification_fd_is_a_readiness_protocol_too() {
    let mut sb = Sandbox::builder()
        .unit(
            "s6style.service",
            "[Service]\nX-NotificationFD=5\nExecStart=/bin/sh -c 'while [ ! -e @DIR@/go ]; do sleep 0.05; done; echo >&5; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nDescription=none\n")
        .start()
        .unwrap();
    sb.ctl(&["start", "--no-block", "s6style.service"]);
    wait(&mut sb, "activating", 5, |sb| {
        Ok(sb.active_state("s6style.service") == "activating")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sb.active_state("s6style.service"),
        "activating",
        "no newline yet"
    );
    std::fs::write(sb.dir().join("go"), "").unwrap();
    wait(&mut sb, "ready after the newline", 10, |sb| {
        Ok(sb.is_active("s6style.service"))
    });
}

#[test]
fn the_fd_store_hands_a_listener_to_the_next_instance() {
    let bin = cairn_integration::bin("cairn-test-fdstore");
    let mut sb = Sandbox::builder()
        .unit(
            "keeper.service",
            &format!(
                "[Service]\nNotifyAccess=main\nFileDescriptorStoreMax=4\nRestart=on-failure\nRestartSec=100ms\n\
                 ExecStart={} @DIR@/port\n",
                bin.display()
            ),
        )
        .unit("default.target", "[Unit]\nWants=keeper.service\n")
        .start()
        .unwrap();
    let port_file = sb.dir().join("port");
    wait(
        &mut sb,
        "the first instance stored its listener",
        10,
        |_| Ok(port_file.exists()),
    );
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.property("keeper.service", "NRestarts") == "1" && sb.is_active("keeper.service"))
    })
    .unwrap_or_else(|e| {
        panic!(
            "the next instance runs: {e:#}\n{}\n{}",
            out(&sb.ctl(&["status", "keeper", "-n", "30"])),
            sb.log_text()
        )
    });
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The listener outlived the process that bound it: the new one answers on it.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut conn), &mut answer).unwrap();
    assert_eq!(
        answer.trim(),
        "from-store listener",
        "{}",
        out(&sb.ctl(&["status", "keeper"]))
    );
}

#[test]
fn the_fd_store_survives_a_supervisor_crash() {
    let bin = cairn_integration::bin("cairn-test-fdstore");
    let mut sb = Sandbox::builder()
        .unit(
            "keeper.service",
            &format!(
                "[Service]\nNotifyAccess=main\nFileDescriptorStoreMax=4\nExecStart={} @DIR@/port stay\n",
                bin.display()
            ),
        )
        .unit("default.target", "[Unit]\nWants=keeper.service\n")
        .start()
        .unwrap();
    let port_file = sb.dir().join("port");
    wait(&mut sb, "the listener stored", 10, |_| {
        Ok(port_file.exists())
    });
    std::thread::sleep(Duration::from_millis(200));
    let sup = sb.component("supervisor").unwrap();
    sb.kill(sup.pid, "KILL").unwrap();
    wait(&mut sb, "a new supervisor", 10, |sb| {
        Ok(sb.component("supervisor")?.pid != sup.pid)
    });
    // A restart keeps the store: the new instance gets the listener pid1 kept.
    let o = sb.ctl(&["restart", "keeper.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut conn), &mut answer).unwrap();
    assert_eq!(answer.trim(), "from-store listener", "{}", sb.log_text());
}

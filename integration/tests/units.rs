//! Tier 3 for units, jobs and services: real binaries in a sandbox, real processes.

use cairn_integration::{out, wait, Sandbox};

/// 50 oneshot services that can only finish once all 50 have started: a serial start would
/// never finish (each would hit its timeout). The target is active only if they ran at once.
#[test]
fn fifty_services_start_in_parallel() {
    let mut b = Sandbox::builder();
    let mut wants = String::new();
    for i in 0..50 {
        let name = format!("p{i}.service");
        wants.push_str(&name);
        wants.push(' ');
        b = b.unit(
            &name,
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=30\n\
             ExecStart=/bin/sh -c 'touch @DIR@/barrier/%n; while [ $(ls @DIR@/barrier | wc -l) -lt 50 ]; do sleep 0.05; done'\n",
        );
    }
    b = b.unit(
        "fifty.target",
        &format!("[Unit]\nDescription=Fifty\nRequires={wants}\nAfter={wants}\n"),
    );
    let mut sb = b
        .unit("default.target", "[Unit]\nDescription=nothing\n")
        .start()
        .unwrap();
    std::fs::create_dir_all(sb.dir().join("barrier")).unwrap();
    let o = sb.ctl(&["start", "fifty.target"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.is_active("fifty.target"));
    for i in 0..50 {
        assert!(sb.is_active(&format!("p{i}.service")), "p{i}");
    }
    wait(&mut sb, "jobs drained", 5, |sb| {
        Ok(String::from_utf8_lossy(&sb.ctl(&["list-jobs"]).stdout).contains("No jobs"))
    });
}

#[test]
fn ordering_is_honoured() {
    let mut sb = Sandbox::builder()
        .unit(
            "first.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'sleep 0.5; touch @DIR@/first-done'\n",
        )
        .unit(
            "second.service",
            "[Unit]\nAfter=first.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/test -e @DIR@/first-done\n",
        )
        .unit("default.target", "[Unit]\nWants=second.service first.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "both active", 10, |sb| {
        Ok(sb.is_active("first.service") && sb.is_active("second.service"))
    });
}

#[test]
fn bad_settings_and_bad_values_fail_only_their_unit() {
    let mut sb = Sandbox::builder()
        .unit(
            "noexec.service",
            "[Unit]\nDescription=no ExecStart\n[Service]\nType=simple\n",
        )
        .unit(
            "typo.service",
            "[Service]\nExecStart=/bin/sleep 1000\nRestartSec=soon\n",
        )
        .unit("good.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit(
            "default.target",
            "[Unit]\nWants=noexec.service typo.service good.service\n",
        )
        .start()
        .unwrap();
    wait(&mut sb, "good and typo up", 10, |sb| {
        Ok(sb.is_active("good.service") && sb.is_active("typo.service"))
    });
    let status = out(&sb.ctl(&["status", "noexec.service"]));
    assert!(status.contains("bad-setting"), "{status}");
    assert!(status.contains("no ExecStart="), "{status}");
    let log = sb.log_text();
    let units = sb.units.display().to_string();
    assert!(
        log.contains(&format!(
            "{units}/typo.service:3: RestartSec: not a time span"
        )),
        "{log}"
    );
    let o = sb.ctl(&["start", "noexec.service"]);
    assert!(!o.status.success());
    assert!(
        out(&o).contains("not loaded") || out(&o).contains("bad-setting"),
        "{}",
        out(&o)
    );
}

#[test]
fn conflicts_stop_the_other_unit() {
    let mut sb = Sandbox::builder()
        .unit("one.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit(
            "two.service",
            "[Unit]\nConflicts=one.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .unit("default.target", "[Unit]\nWants=one.service\n")
        .start()
        .unwrap();
    wait(&mut sb, "one up", 10, |sb| Ok(sb.is_active("one.service")));
    let o = sb.ctl(&["start", "two.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.is_active("two.service"));
    assert_eq!(sb.active_state("one.service"), "inactive");
    let why_not = out(&sb.ctl(&["why-not", "one.service"]));
    assert!(why_not.contains("two.service"), "{why_not}");
}

#[test]
fn isolate_stops_what_the_target_does_not_want() {
    let mut sb = Sandbox::builder()
        .unit("keep.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("drop.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit(
            "sticky.service",
            "[Unit]\nIgnoreOnIsolate=yes\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .unit(
            "small.target",
            "[Unit]\nAllowIsolate=yes\nWants=keep.service\n",
        )
        .unit(
            "default.target",
            "[Unit]\nWants=keep.service drop.service sticky.service\n",
        )
        .start()
        .unwrap();
    wait(&mut sb, "all three up", 10, |sb| {
        Ok(sb.is_active("keep.service")
            && sb.is_active("drop.service")
            && sb.is_active("sticky.service"))
    });
    let o = sb.ctl(&["isolate", "small.target"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.is_active("small.target"));
    assert!(sb.is_active("keep.service"));
    assert!(sb.is_active("sticky.service"), "IgnoreOnIsolate keeps it");
    wait(&mut sb, "drop stopped", 10, |sb| {
        Ok(sb.active_state("drop.service") == "inactive")
    });
    // A target without AllowIsolate= refuses.
    let o = sb.ctl(&["isolate", "default.target"]);
    assert!(!o.status.success());
    assert!(out(&o).contains("may not be isolated"), "{}", out(&o));
}

#[test]
fn a_failed_condition_skips_quietly_and_why_not_says_so() {
    let sb = Sandbox::builder()
        .unit(
            "cond.service",
            "[Unit]\nConditionPathExists=/nonexistent/cairn\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .unit("default.target", "[Unit]\nDescription=none\n")
        .start()
        .unwrap();
    let o = sb.ctl(&["start", "cond.service"]);
    assert!(
        o.status.success(),
        "a failed condition is not a failure: {}",
        out(&o)
    );
    assert_eq!(sb.active_state("cond.service"), "inactive");
    let why_not = out(&sb.ctl(&["why-not", "cond.service"]));
    assert!(
        why_not.contains("ConditionPathExists=/nonexistent/cairn"),
        "{why_not}"
    );
    let status = out(&sb.ctl(&["status", "cond.service"]));
    assert!(
        status.contains("Condition: start condition unmet"),
        "{status}"
    );
}

#[test]
fn why_prints_the_chain_and_why_not_the_failed_dependency() {
    let mut sb = Sandbox::builder()
        .unit("leaf.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("mid.target", "[Unit]\nWants=leaf.service\n")
        .unit("broken.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
        .unit("needy.service", "[Unit]\nRequires=broken.service\nAfter=broken.service\n[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("default.target", "[Unit]\nWants=mid.target needy.service\n")
        .start()
        .unwrap();
    wait(
        &mut sb,
        "leaf up",
        10,
        |sb| Ok(sb.is_active("leaf.service")),
    );
    let why = out(&sb.ctl(&["why", "leaf.service"]));
    let lines: Vec<&str> = why.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 3, "{why}");
    assert!(lines[0].starts_with("default.target: requested"), "{why}");
    assert!(
        lines[1].contains("mid.target: pulled in by default.target (Wants=mid.target)"),
        "{why}"
    );
    assert!(
        lines[2].contains("leaf.service: pulled in by mid.target (Wants=leaf.service)"),
        "{why}"
    );
    wait(&mut sb, "broken failed", 10, |sb| {
        Ok(sb.active_state("broken.service") == "failed")
    });
    let why_not = out(&sb.ctl(&["why-not", "needy.service"]));
    assert!(
        why_not.contains("dependency failed: broken.service"),
        "{why_not}"
    );
}

#[test]
fn services_survive_a_supervisor_crash_and_stay_tracked() {
    let mut sb = Sandbox::builder()
        .unit("long.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("default.target", "[Unit]\nWants=long.service\n")
        .start()
        .unwrap();
    wait(
        &mut sb,
        "long up",
        10,
        |sb| Ok(sb.is_active("long.service")),
    );
    let procs = sb.cgroup_procs("long.service");
    assert_eq!(procs.len(), 1);
    let sup = sb.component("supervisor").unwrap();
    sb.kill(sup.pid, "KILL").unwrap();
    wait(&mut sb, "supervisor back", 10, |sb| {
        Ok(sb.component("supervisor")?.pid != sup.pid
            && sb.components()?.iter().all(|c| c.state == "running"))
    });
    assert_eq!(
        sb.cgroup_procs("long.service"),
        procs,
        "the service kept running, untouched"
    );
    assert!(sb.is_active("long.service"), "and is still tracked");
    let o = sb.ctl(&["stop", "long.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.cgroup_procs("long.service").is_empty());
}

#[test]
fn unknown_units_and_exit_codes_follow_systemctl() {
    let sb = Sandbox::builder()
        .unit("up.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("default.target", "[Unit]\nWants=up.service\n")
        .start()
        .unwrap();
    assert_eq!(sb.ctl(&["start", "nope.service"]).status.code(), Some(5));
    assert_eq!(sb.ctl(&["status", "nope.service"]).status.code(), Some(4));
    assert_eq!(
        sb.ctl(&["is-active", "nope.service"]).status.code(),
        Some(3)
    );
    assert_eq!(sb.ctl(&["is-failed", "up.service"]).status.code(), Some(1));
    let o = sb.ctl(&["list-units", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["unit"] == "up.service"));
    let o = sb.ctl(&["show", "up.service", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["Id"], "up.service");
    // A non-root client may read but not start.
    assert!(sb.ctl_as(65534, &["status", "up.service"]).status.code() == Some(0));
    assert_eq!(
        sb.ctl_as(65534, &["stop", "up.service"]).status.code(),
        Some(4)
    );
}

#[test]
fn on_failure_on_success_and_stop_when_unneeded() {
    let mut sb = Sandbox::builder()
        .unit(
            "rescuer.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        )
        .unit(
            "cheer.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        )
        .unit(
            "fails.service",
            "[Unit]\nOnFailure=rescuer.service\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
        )
        .unit(
            "works.service",
            "[Unit]\nOnSuccess=cheer.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
        )
        .unit(
            "helper.service",
            "[Unit]\nStopWhenUnneeded=yes\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .unit(
            "user.service",
            "[Unit]\nRequires=helper.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .unit(
            "default.target",
            "[Unit]\nWants=fails.service works.service user.service\n",
        )
        .start()
        .unwrap();
    wait(&mut sb, "handlers ran", 10, |sb| {
        Ok(sb.is_active("rescuer.service") && sb.is_active("cheer.service"))
    });
    let why = out(&sb.ctl(&["why", "rescuer.service"]));
    assert!(why.contains("OnFailure=rescuer.service"), "{why}");
    wait(&mut sb, "helper up", 10, |sb| {
        Ok(sb.is_active("helper.service"))
    });
    let o = sb.ctl(&["stop", "user.service"]);
    assert!(o.status.success(), "{}", out(&o));
    wait(&mut sb, "helper stopped when unneeded", 10, |sb| {
        Ok(sb.active_state("helper.service") == "inactive")
    });
}

#[test]
fn analyze_tells_the_boot_split_and_blames_the_slow() {
    let slow = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStartPre=/bin/sleep 0.4\nExecStart=/bin/true\n";
    let quick = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    let mut sb = cairn_integration::Sandbox::builder()
        .unit(
            "default.target",
            "[Unit]\nWants=slow.service quick.service\nAfter=slow.service quick.service\n",
        )
        .unit("slow.service", slow)
        .unit("quick.service", quick)
        .start()
        .unwrap();
    cairn_integration::wait(&mut sb, "default.target reached", 20, |sb| {
        Ok(sb.is_active("default.target"))
    });
    let time = cairn_integration::out(&sb.ctl(&["analyze"]));
    assert!(
        time.contains("Startup finished in") && time.contains("(userspace)"),
        "{time}"
    );
    assert!(time.contains("default.target reached after"), "{time}");
    let blame = cairn_integration::out(&sb.ctl(&["analyze", "blame"]));
    let lines: Vec<&str> = blame.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.ends_with(" slow.service")),
        "slowest first: {blame}"
    );
    let took: f64 = lines[0].trim().split('s').next().unwrap().parse().unwrap();
    assert!(took >= 0.4, "{blame}");
    assert!(blame.contains(" quick.service"), "{blame}");

    // Each moment on both clocks: queued ≤ began to start ≤ active, 0.4 s apart for the slow.
    let num = |k: &str| -> u64 {
        sb.property("slow.service", k)
            .parse()
            .unwrap_or_else(|_| panic!("{k}"))
    };
    for clock in ["USec", "Monotonic"] {
        let queued = num(&format!("JobQueuedTimestamp{clock}"));
        let began = num(&format!("InactiveExitTimestamp{clock}"));
        let active = num(&format!("ActiveEnterTimestamp{clock}"));
        assert!(queued > 0 && queued <= began, "{clock}: {queued} {began}");
        assert!(active >= began + 400_000, "{clock}: {began} {active}");
    }
    // The chain that held the target back runs through the slow unit, not the quick one.
    let chain = cairn_integration::out(&sb.ctl(&["analyze", "critical-chain"]));
    let body: Vec<&str> = chain.lines().skip(3).collect();
    assert!(
        body.len() >= 2 && body[0].starts_with("default.target @"),
        "{chain}"
    );
    assert!(body[1].starts_with("└─slow.service @"), "{chain}");
    assert!(!chain.contains("quick.service"), "{chain}");
    let plot = sb.ctl(&["analyze", "plot"]);
    let svg = String::from_utf8_lossy(&plot.stdout);
    assert!(plot.status.success() && svg.starts_with("<?xml"), "{svg}");
    assert!(svg.contains(">slow.service (") && svg.trim_end().ends_with("</svg>"));
    let dot = cairn_integration::out(&sb.ctl(&["analyze", "dot", "--order", "default.target"]));
    assert!(
        dot.contains("\"default.target\"->\"slow.service\" [color=\"green\"];"),
        "{dot}"
    );
    assert!(!dot.contains("grey66"), "--order shows only After=: {dot}");
}

#[test]
fn analyze_verify_checks_unit_files_without_a_manager() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("good.service"),
        "[Unit]\nRequires=dep.service\n[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("dep.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("bad.service"),
        "[Unit]\nRequires=missing.service\n[Service]\nExecStart=/bin/true\nTimeoutSec=soon\n",
    )
    .unwrap();
    let ctl = |args: &[&str]| {
        std::process::Command::new(cairn_integration::bin("cairnctl"))
            .args(["--socket", "/nonexistent/control.sock", "analyze", "verify"])
            .args(args)
            .output()
            .unwrap()
    };
    let good = ctl(&[d.path().join("good.service").to_str().unwrap()]);
    assert!(good.status.success(), "{}", cairn_integration::out(&good));
    assert!(good.stderr.is_empty(), "{}", cairn_integration::out(&good));
    let bad = ctl(&[d.path().join("bad.service").to_str().unwrap()]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        cairn_integration::out(&bad)
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    let file = d.path().join("bad.service");
    assert!(
        err.contains(&format!("{}:5: warning: TimeoutSec", file.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}: error: Requires=missing.service: unit not found",
            file.display()
        )),
        "{err}"
    );
}

/// systemd's job_finish_and_invalidate: a start job that fails for a dependency starts the
/// unit's OnFailure= units, though the unit itself never ran (and so never failed).
#[test]
fn on_failure_runs_when_a_dependency_fails_the_job() {
    let mut sb = cairn_integration::Sandbox::builder()
        .unit("default.target", "[Unit]\nWants=top.service\n")
        .unit(
            "top.service",
            "[Unit]\nRequires=bad.service\nAfter=bad.service\nOnFailure=handler.service\n\
             [Service]\nExecStart=/bin/sleep 100\n",
        )
        .unit(
            "bad.service",
            "[Service]\nType=oneshot\nExecStart=/bin/false\n",
        )
        .unit(
            "handler.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        )
        .start()
        .unwrap();
    wait(&mut sb, "handler started by OnFailure=", 20, |sb| {
        Ok(sb.is_active("handler.service"))
    });
    assert_eq!(sb.active_state("top.service"), "inactive");
    assert_eq!(sb.active_state("bad.service"), "failed");
    let log = sb.log_text();
    assert!(
        log.contains("top.service: job start failed with result 'dependency'"),
        "{log}"
    );
}

/// Scenario 6 in a container: a required file system that cannot be mounted fails
/// local-fs.target, which isolates nothing but starts emergency.target irreversibly; in
/// container mode the emergency shell must not take the host's console, so it refuses to start
/// (cairn-init was not started on a terminal here) and says why. The default target is not
/// reached; the manager stays up and answers.
#[test]
fn a_failed_local_file_system_leads_to_emergency_without_taking_the_host_console() {
    let mut sb = cairn_integration::Sandbox::builder()
        .unit(
            "default.target",
            "[Unit]\nRequires=sysinit.target\nAfter=sysinit.target\nWants=app.service\n",
        )
        .unit("app.service", "[Service]\nExecStart=/bin/sleep 100\n")
        .unit(
            "broken-fs.service",
            "[Unit]\nDefaultDependencies=no\nBefore=local-fs.target\n\
             [Service]\nType=oneshot\nExecStart=/bin/false\n",
        )
        .link(
            "local-fs.target.requires/broken-fs.service",
            "../broken-fs.service",
        )
        .start()
        .unwrap();
    wait(&mut sb, "emergency.service tried", 20, |sb| {
        Ok(sb.active_state("emergency.service") == "failed")
    });
    let log = sb.log_text();
    assert!(
        log.contains("local-fs.target: starting emergency.target (OnFailure=, job mode replace-irreversibly)"),
        "{log}"
    );
    let status = out(&sb.ctl(&["status", "emergency.service"]));
    assert!(
        status.contains("TTYPath=/dev/console in container mode"),
        "{status}"
    );
    assert!(!sb.is_active("default.target"));
    assert!(!sb.is_active("app.service"));
    assert!(!sb.is_active("sysinit.target"));
}

/// `quiet` keeps the console to what matters (notice and worse), as with systemd;
/// `cairn.log_level=` sets the level outright.
#[test]
fn quiet_and_log_level_choose_what_the_console_shows() {
    let units = |b: cairn_integration::SandboxBuilder| {
        b.unit("default.target", "[Unit]\nWants=bad.service ok.service\n")
            .unit(
                "bad.service",
                "[Service]\nType=oneshot\nExecStart=/bin/false\n",
            )
            .unit("ok.service", "[Service]\nExecStart=/bin/sleep 100\n")
    };
    let mut quiet = units(cairn_integration::Sandbox::builder().arg("quiet"))
        .start()
        .unwrap();
    wait(&mut quiet, "bad.service failed", 20, |sb| {
        Ok(sb.active_state("bad.service") == "failed")
    });
    let log = quiet.log_text();
    assert!(log.contains("bad.service: failed"), "{log}");
    assert!(
        !log.contains("up (generation"),
        "info lines are hidden: {log}"
    );
    let mut loud = units(
        cairn_integration::Sandbox::builder()
            .arg("quiet")
            .arg("cairn.log_level=info"),
    )
    .start()
    .unwrap();
    wait(&mut loud, "bad.service failed", 20, |sb| {
        Ok(sb.active_state("bad.service") == "failed")
    });
    let log = loud.log_text();
    assert!(log.contains("up (generation"), "{log}");
}

/// A target that is up stays up through `daemon-reload`, also when its own file or its
/// `.wants/` changed (enabling a unit): it has no settings to take but its edges.
#[test]
fn an_active_target_stays_active_through_daemon_reload() {
    let mut sb = Sandbox::builder()
        .unit("t.target", "[Unit]\nWants=a.service\n")
        .unit(
            "a.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        )
        .unit(
            "b.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        )
        .start()
        .unwrap();
    let o = sb.ctl(&["start", "t.target"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(sb.active_state("t.target"), "active");
    // Enabled: a link in t.target.wants/, then the target's file itself.
    let wants = sb.units.join("t.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink("../b.service", wants.join("b.service")).unwrap();
    let o = sb.ctl(&["daemon-reload"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(sb.active_state("t.target"), "active");
    std::fs::write(
        sb.units.join("t.target"),
        "[Unit]\nDescription=changed\nWants=a.service\n",
    )
    .unwrap();
    let o = sb.ctl(&["daemon-reload"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(sb.active_state("t.target"), "active");
    assert_eq!(sb.property("t.target", "Description"), "changed");
    wait(&mut sb, "nothing else changed", 5, |sb| {
        Ok(sb.active_state("a.service") == "active")
    });
}

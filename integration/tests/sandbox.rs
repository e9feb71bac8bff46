//! Tier 3: the real binaries in a sandbox (cairn-init as PID 1 of a fresh PID + mount
//! namespace). Needs root; `make test` runs these.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use cairn_integration::{signal_of, Sandbox};

/// An Accept=yes echo on `@DIR@/echo.sock`: each connection gets its own `cat`. Clients come
/// as fast as they can: no trigger limit.
const ECHO_SOCKET: &str =
    "[Socket]\nListenStream=@DIR@/echo.sock\nAccept=yes\nTriggerLimitIntervalSec=0\n";
const ECHO_SERVICE: &str = "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n";

const COMPONENTS: [&str; 5] = ["init", "supervisor", "activator", "mounter", "devmon"];

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn comes_up_with_five_components() {
    let sb = Sandbox::start().unwrap();
    let list = sb.components().unwrap();
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, COMPONENTS);
    for c in &list {
        assert_eq!(c.state, "running", "{c:?}");
        assert!(c.pid > 0, "{c:?}");
    }
    // pid1 is PID 1 of the sandbox, the supervisor its child.
    assert_eq!(list[0].pid, 1);
    // The table a person sees names every component.
    let out = sb.ctl(&["component", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("NAME"), "{text}");
    for name in COMPONENTS {
        assert!(text.contains(name), "{name} missing in:\n{text}");
    }
    // Each of cairn's processes sits in init.scope of the sandbox's own cgroup tree.
    let procs = std::fs::read_to_string(sb.cgroup.join("init.scope/cgroup.procs")).unwrap();
    assert_eq!(procs.lines().count(), 5, "init.scope holds: {procs}");
    assert!(sb.cgroup.join("system.slice").is_dir());
}

#[test]
fn a_killed_helper_is_restarted() {
    let mut sb = Sandbox::start().unwrap();
    for name in ["activator", "mounter", "devmon"] {
        let before = sb.component(name).unwrap();
        sb.kill(before.pid, "KILL").unwrap();
        sb.wait_until(Duration::from_secs(10), |sb| {
            let c = sb.component(name)?;
            Ok(c.state == "running" && c.pid != before.pid && c.restarts == before.restarts + 1)
        })
        .unwrap_or_else(|e| panic!("{name} was not restarted: {e:#}"));
    }
    // The others were not disturbed.
    assert_eq!(sb.component("supervisor").unwrap().restarts, 0);
    assert!(sb.log_text().contains("cairn-devmon (pid"));
}

/// `component restart` and `component replace` while clients keep connecting to a
/// socket-activated service: every connection is answered (the listening socket stays open in
/// the supervisor and pid1; the kernel queues what arrives between two activators), the new
/// instance runs the binary asked for, and the other components are not disturbed.
#[test]
fn helpers_are_restarted_and_replaced_on_demand_losing_nothing() {
    use std::io::{BufRead, BufReader, Write};
    let mut sb = Sandbox::builder()
        .unit("echo.socket", ECHO_SOCKET)
        .unit("echo@.service", ECHO_SERVICE)
        .unit("default.target", "[Unit]\nWants=echo.socket\n")
        .start()
        .unwrap();
    sb.wait_until(
        Duration::from_secs(10),
        |sb| Ok(sb.is_active("echo.socket")),
    )
    .unwrap();
    let path = sb.dir().join("echo.sock");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut sent, mut answered) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || sent < 50 {
                sent += 1;
                let Ok(mut c) = std::os::unix::net::UnixStream::connect(&path) else {
                    continue;
                };
                let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = writeln!(c, "ping {sent}");
                let mut line = String::new();
                let _ = BufReader::new(&c).read_line(&mut line);
                if line.trim() == format!("ping {sent}") {
                    answered += 1;
                }
            }
            (sent, answered)
        })
    };
    let before = sb.component("activator").unwrap();
    for _ in 0..3 {
        let o = sb.ctl(&["component", "restart", "activator"]);
        assert!(o.status.success(), "{}\n{}", stderr(&o), sb.log_text());
        assert!(stdout(&o).starts_with("cairn-activator restarted: pid "));
    }
    // A copy of the binary stands for a new build.
    let copy = sb.dir().join("cairn-activator.new");
    std::fs::copy(cairn_integration::bin("cairn-activator"), &copy).unwrap();
    let o = sb.ctl(&["component", "replace", "activator", copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (sent, answered) = clients.join().unwrap();
    assert_eq!(
        answered,
        sent,
        "every connection answered\n{}",
        sb.log_text()
    );
    let after = sb.component("activator").unwrap();
    assert_eq!(after.state, "running", "{}", sb.log_text());
    assert_eq!(after.restarts, before.restarts + 4, "{}", sb.log_text());
    assert_eq!(after.binary, copy.display().to_string());
    // The others too, one at a time; a binary that is not the helper is refused.
    for name in ["mounter", "devmon"] {
        let old = sb.component(name).unwrap();
        let o = sb.ctl(&["component", "restart", name]);
        assert!(o.status.success(), "{}\n{}", stderr(&o), sb.log_text());
        // A helper just started may be busy (devmon walks /sys) before it answers.
        sb.wait_until(Duration::from_secs(10), |sb| {
            let new = sb.component(name)?;
            Ok(new.pid != old.pid && new.state == "running")
        })
        .unwrap_or_else(|e| panic!("{name}: {e:#}\n{}", sb.log_text()));
    }
    let o = sb.ctl(&["component", "replace", "devmon", "/bin/true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not cairn-devmon"), "{}", stderr(&o));
    let o = sb.ctl(&["component", "restart", "supervisor"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("daemon-reexec"), "{}", stderr(&o));
    assert_eq!(sb.component("supervisor").unwrap().restarts, 0);
    assert!(sb.is_active("echo.socket"));
}

/// `daemon-reexec --init`: cairn-init execs itself (or another build) in place: still PID 1,
/// the same supervisor on the same link, the services untouched, and the fd store intact —
/// a supervisor killed afterwards gets every fd back from the new pid1.
#[test]
fn pid1_reexecutes_in_place_keeping_the_supervisor_and_the_store() {
    use std::io::{BufRead, BufReader, Write};
    let mut sb = Sandbox::builder()
        .unit("echo.socket", ECHO_SOCKET)
        .unit("echo@.service", ECHO_SERVICE)
        .unit("sleeper.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit(
            "default.target",
            "[Unit]\nWants=echo.socket sleeper.service\n",
        )
        .start()
        .unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.is_active("echo.socket") && sb.is_active("sleeper.service"))
    })
    .unwrap();
    let echo = |sb: &Sandbox, word: &str| -> String {
        let mut c = std::os::unix::net::UnixStream::connect(sb.dir().join("echo.sock")).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        writeln!(c, "{word}").unwrap();
        let mut line = String::new();
        BufReader::new(&c).read_line(&mut line).unwrap();
        line.trim().to_string()
    };
    let supervisor = sb.component("supervisor").unwrap();
    let sleeper = sb.property("sleeper.service", "MainPID");
    let inode = std::fs::metadata(sb.socket()).unwrap().ino();
    let o = sb.ctl(&["daemon-reexec", "--init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.log_text().contains("took over"))
    })
    .unwrap_or_else(|e| panic!("no re-exec: {e:#}\n{}", sb.log_text()));
    // Another build of it: a copy stands for one.
    let copy = sb.dir().join("cairn-init.new");
    std::fs::copy(cairn_integration::bin("cairn-init"), &copy).unwrap();
    let o = sb.ctl(&[
        "daemon-reexec",
        "--init",
        "--binary",
        copy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.component("init")?.binary == copy.display().to_string())
    })
    .unwrap_or_else(|e| panic!("not the new binary: {e:#}\n{}", sb.log_text()));
    let init = sb.component("init").unwrap();
    assert_eq!(init.pid, 1);
    let now = sb.component("supervisor").unwrap();
    assert_eq!(
        (now.pid, now.restarts),
        (supervisor.pid, 0),
        "the same supervisor"
    );
    assert_eq!(sb.property("sleeper.service", "MainPID"), sleeper);
    assert_eq!(echo(&sb, "after reexec"), "after reexec");
    // The store survived: a killed supervisor is handed its sockets by the new pid1.
    sb.kill(supervisor.pid, "KILL").unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        let c = sb.component("supervisor")?;
        Ok(c.state == "running" && c.pid != supervisor.pid)
    })
    .unwrap();
    assert_eq!(std::fs::metadata(sb.socket()).unwrap().ino(), inode);
    assert_eq!(
        echo(&sb, "after a supervisor crash"),
        "after a supervisor crash"
    );
    assert_eq!(sb.property("sleeper.service", "MainPID"), sleeper);
    // Each binary must be the component it replaces.
    let o = sb.ctl(&["daemon-reexec", "--binary", copy.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("is not cairn-supervisor"),
        "{}",
        stderr(&o)
    );
    let o = sb.ctl(&["daemon-reexec", "--init", "--binary", "/bin/true"]);
    assert!(stderr(&o).contains("is not cairn-init"), "{}", stderr(&o));
}

#[test]
fn a_killed_supervisor_is_restarted_and_its_socket_never_refuses() {
    let mut sb = Sandbox::start().unwrap();
    let sup = sb.component("supervisor").unwrap();
    let helpers_before: Vec<i64> = sb.components().unwrap()[2..]
        .iter()
        .map(|c| c.pid)
        .collect();
    let inode = std::fs::metadata(sb.socket()).unwrap().ino();
    sb.kill(sup.pid, "KILL").unwrap();
    // A client connecting while no supervisor runs waits in the listen queue of the socket
    // pid1 keeps, and is served by the next supervisor: no refusal, no reset.
    let out = sb.ctl(&["version"]);
    assert!(out.status.success(), "during restart: {}", stderr(&out));
    sb.wait_until(Duration::from_secs(10), |sb| {
        let list = sb.components()?;
        Ok(list.len() == 5 && list.iter().all(|c| c.state == "running"))
    })
    .unwrap();
    let list = sb.components().unwrap();
    assert_ne!(list[1].pid, sup.pid, "a new supervisor");
    assert_eq!(list[1].restarts, 1, "pid1 counted the restart");
    for (c, old) in list[2..].iter().zip(helpers_before) {
        assert_ne!(
            c.pid, old,
            "{} was started afresh by the new supervisor",
            c.name
        );
    }
    // The old helpers and the old supervisor's spawner saw their links break and exited: only
    // cairn's five processes and the new supervisor's spawner remain in init.scope.
    sb.wait_until(Duration::from_secs(5), |sb| {
        let procs = std::fs::read_to_string(sb.cgroup.join("init.scope/cgroup.procs"))?;
        Ok(procs.lines().count() == 6)
    })
    .unwrap();
    // The socket was handed back through pid1's fd store, not bound again.
    assert_eq!(std::fs::metadata(sb.socket()).unwrap().ino(), inode);
    assert!(sb.log_text().contains("generation 2: took back"));
}

#[test]
fn a_read_only_client_can_read_but_not_change_state() {
    let mut sb = Sandbox::start().unwrap();
    let nobody = 65534;
    let out = sb.ctl_as(nobody, &["component", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("supervisor"));
    let out = sb.ctl_as(nobody, &["whoami"]);
    assert!(stdout(&out).contains("read-only"), "{}", stdout(&out));
    let out = sb.ctl_as(nobody, &["poweroff"]);
    assert_eq!(out.status.code(), Some(4), "LSB: insufficient privilege");
    let err = stderr(&out);
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("uid 65534"), "{err}");
    // Still up.
    std::thread::sleep(Duration::from_millis(200));
    sb.wait_until(Duration::from_secs(2), |sb| Ok(sb.components()?.len() == 5))
        .unwrap();
}

fn shutdown_ends_the_sandbox(verb: &str, signal: i32) {
    let mut sb = Sandbox::start().unwrap();
    let out = sb.ctl(&[verb]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = sb.wait_exit(Duration::from_secs(20)).unwrap();
    // reboot(2) by PID 1 of a PID namespace ends it; unshare passes on the signal.
    assert_eq!(signal_of(&st), Some(signal), "{verb}: {st}");
    let log = sb.log_text();
    assert!(log.contains(&format!("cairn-init: {verb}")), "{log}");
}

#[test]
fn poweroff_ends_the_sandbox_with_sigint() {
    shutdown_ends_the_sandbox("poweroff", libc::SIGINT);
}

#[test]
fn halt_ends_the_sandbox_with_sigint() {
    shutdown_ends_the_sandbox("halt", libc::SIGINT);
}

#[test]
fn reboot_ends_the_sandbox_with_sighup() {
    shutdown_ends_the_sandbox("reboot", libc::SIGHUP);
}

#[test]
fn no_manager_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(cairn_integration::bin("cairnctl"))
        .arg("--socket")
        .arg(dir.path().join("control"))
        .args(["component", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("Failed to connect to"), "{err}");
    assert!(err.contains("is cairn running?"), "{err}");
}

#[test]
fn the_host_is_untouched() {
    let hostname = nix::unistd::gethostname().unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let cgroup;
    {
        let mut sb = Sandbox::start().unwrap();
        cgroup = sb.cgroup.clone();
        assert!(cgroup.is_dir());
        sb.ctl(&["poweroff"]);
        sb.wait_exit(Duration::from_secs(20)).unwrap();
    }
    assert_eq!(nix::unistd::gethostname().unwrap(), hostname);
    // The sandbox mounted its /proc in its own namespace; the host's table is as it was.
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(
        mounts
            .lines()
            .filter(|l| !l.contains("cairn-sandbox"))
            .count(),
        after
            .lines()
            .filter(|l| !l.contains("cairn-sandbox"))
            .count()
    );
    assert!(!cgroup.exists(), "the sandbox's cgroup tree is removed");
}

/// `component status NAME`: each process in its own words. A helper answers on a socket it
/// serves itself (the supervisor only hands the socket over), read-only; pid1 and the
/// supervisor answer through the supervisor.
#[test]
fn each_component_tells_its_own_state() {
    let mut sb = Sandbox::builder()
        .unit("echo.socket", ECHO_SOCKET)
        .unit("echo@.service", ECHO_SERVICE)
        .unit("default.target", "[Unit]\nWants=echo.socket\n")
        .start()
        .unwrap();
    sb.wait_until(
        Duration::from_secs(10),
        |sb| Ok(sb.is_active("echo.socket")),
    )
    .unwrap();
    let status = |args: &[&str]| {
        let mut a = vec!["component", "status"];
        a.extend_from_slice(args);
        let o = sb.ctl(&a);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let act = status(&["activator"]);
    let pid = sb.component("activator").unwrap().pid;
    assert!(
        act.starts_with(&format!("● cairn-activator (pid {pid}) ")),
        "{act}"
    );
    assert!(
        act.contains("Heard: directly, from the process itself"),
        "{act}"
    );
    assert!(act.contains("sockets watched, by unit (1):"), "{act}");
    assert!(
        act.contains("echo.socket  1 fds, Accept=yes, 0 triggers"),
        "{act}"
    );
    let relayed = status(&["activator", "--via-supervisor"]);
    assert!(
        relayed.contains("Heard: through the supervisor"),
        "{relayed}"
    );
    assert!(relayed.contains("echo.socket  1 fds"), "{relayed}");
    let dev = status(&["devmon"]);
    assert!(
        dev.contains("devices and uevents:") && dev.contains("uevents received"),
        "{dev}"
    );
    assert!(dev.contains("devices present ("), "{dev}");
    let mnt = status(&["mounter"]);
    assert!(mnt.contains("automount points (0):"), "{mnt}");
    assert!(mnt.contains("mounts in /proc/self/mountinfo"), "{mnt}");
    let init = status(&["init"]);
    assert!(init.starts_with("● cairn-init (pid 1) "), "{init}");
    assert!(
        init.contains("fd store ") && init.contains("orphans reaped"),
        "{init}"
    );
    assert!(init.contains("the fd store, by name:"), "{init}");
    assert!(init.contains("a listening socket of echo.socket"), "{init}");
    assert!(init.contains("the supervisor's state"), "{init}");
    let sup = status(&["supervisor"]);
    assert!(
        sup.contains("units:") && sup.contains("activator  running, pid"),
        "{sup}"
    );
    let json = sb.ctl(&["--output", "json", "component", "status", "devmon"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["name"], "devmon");
    assert!(v["sections"][0]["facts"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
    let o = sb.ctl(&["component", "status", "nope"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no component \"nope\""),
        "{}",
        stderr(&o)
    );
    // A viewer (not root) may look too: it is all read-only.
    let o = sb.ctl_as(65534, &["component", "status", "activator"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The supervisor's state survives its own death (SIGKILL) and `daemon-reexec`: a oneshot
/// that ran (RemainAfterExit=yes) is still active and not run again, a failed unit is still
/// failed and not retried, a running service keeps its main pid; nothing is started twice.
#[test]
fn the_supervisor_comes_back_without_starting_anything_twice() {
    let mut sb = Sandbox::builder()
        .unit(
            "once.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/bin/sh -c 'echo ran >> @DIR@/once.log'\n",
        )
        .unit(
            "bad.service",
            "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo ran >> @DIR@/bad.log; exit 3'\n",
        )
        .unit("sleeper.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit(
            "default.target",
            "[Unit]\nWants=once.service bad.service sleeper.service\n",
        )
        .start()
        .unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.is_active("once.service")
            && sb.is_active("sleeper.service")
            && sb.active_state("bad.service") == "failed")
    })
    .unwrap();
    let sleeper = sb.property("sleeper.service", "MainPID");
    let dir = sb.dir().to_path_buf();
    let lines = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // Another build of the supervisor: a copy, in another directory than the helpers.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("cairn-supervisor.new");
    std::fs::copy(cairn_integration::bin("cairn-supervisor"), &copy).unwrap();
    for how in ["SIGKILL", "daemon-reexec", "daemon-reexec --binary"] {
        let sup = sb.component("supervisor").unwrap();
        if how == "SIGKILL" {
            // Let the debounced save of the last changes happen first.
            std::thread::sleep(Duration::from_millis(300));
            sb.kill(sup.pid, "KILL").unwrap();
        } else if how == "daemon-reexec" {
            let o = sb.ctl(&["daemon-reexec"]);
            assert!(o.status.success(), "{}", stderr(&o));
        } else {
            let o = sb.ctl(&["daemon-reexec", "--binary", copy.to_str().unwrap()]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        sb.wait_until(Duration::from_secs(10), |sb| {
            let c = sb.component("supervisor")?;
            Ok(c.state == "running" && c.pid != sup.pid)
        })
        .unwrap();
        // Time for anything wrongly started to show.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            lines("once.log"),
            1,
            "{how}: once.service ran again\n{}",
            sb.log_text()
        );
        assert_eq!(
            lines("bad.log"),
            1,
            "{how}: bad.service ran again\n{}",
            sb.log_text()
        );
        assert_eq!(sb.active_state("once.service"), "active", "{how}");
        assert_eq!(sb.active_state("bad.service"), "failed", "{how}");
        assert_eq!(sb.property("bad.service", "Result"), "exit-code", "{how}");
        assert_eq!(sb.property("sleeper.service", "MainPID"), sleeper, "{how}");
        assert!(sb.is_active("default.target"), "{how}");
    }
    assert_eq!(
        sb.component("supervisor").unwrap().binary,
        copy.display().to_string()
    );
    // The helpers were found where the first supervisor found them.
    let list = sb.components().unwrap();
    assert!(
        list.iter().all(|c| c.state == "running"),
        "{}",
        sb.log_text()
    );
}

/// A service waiting out its RestartSec= when the supervisor dies restarts when it was due
/// to, not at once and not never: the timer is in the saved state.
#[test]
fn a_restart_delay_survives_the_supervisor() {
    let mut sb = Sandbox::builder()
        .unit(
            "flaky.service",
            "[Unit]\nStartLimitIntervalSec=0\n\
             [Service]\nExecStart=/bin/sh -c 'date +%%s%%N >> @DIR@/runs; exit 1'\n\
             Restart=always\nRestartSec=3\n",
        )
        .unit("default.target", "[Unit]\nWants=flaky.service\n")
        .start()
        .unwrap();
    let runs = sb.dir().join("runs");
    let count = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .count()
    };
    sb.wait_until(Duration::from_secs(10), |_| Ok(count(&runs) >= 1))
        .unwrap();
    // Now it waits 3 s; the state is saved within 50 ms of the change.
    std::thread::sleep(Duration::from_millis(500));
    let sup = sb.component("supervisor").unwrap();
    sb.kill(sup.pid, "KILL").unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        let c = sb.component("supervisor")?;
        Ok(c.state == "running" && c.pid != sup.pid)
    })
    .unwrap();
    assert_eq!(
        sb.active_state("flaky.service"),
        "activating",
        "waiting to restart\n{}",
        sb.log_text()
    );
    assert_eq!(count(&runs), 1, "not restarted at once\n{}", sb.log_text());
    sb.wait_until(Duration::from_secs(10), |_| Ok(count(&runs) >= 2))
        .unwrap_or_else(|e| panic!("never restarted: {e:#}\n{}", sb.log_text()));
    let times: Vec<u128> = std::fs::read_to_string(&runs)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let gap_ms = (times[1] - times[0]) / 1_000_000;
    assert!(gap_ms >= 2500, "restarted after {gap_ms} ms, RestartSec=3");
}

/// The number after "spawner" in `component status supervisor`: (pid, processes cloned), or
/// None when the supervisor clones by itself.
fn spawner_fact(sb: &Sandbox) -> Option<(i64, u64)> {
    let out = sb.ctl(&["component", "status", "supervisor"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("spawner"))?;
    let rest = line.split_once("pid ")?.1;
    let (pid, rest) = rest.split_once(", ")?;
    let cloned = rest.split_whitespace().next()?;
    Some((pid.parse().ok()?, cloned.parse().ok()?))
}

fn parent_of(sb: &Sandbox, pid: &str) -> String {
    let out = sb
        .nsenter(&["cat", &format!("/proc/{pid}/status")])
        .unwrap();
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Services are cloned by the spawner, and are the supervisor's children all the same; when
/// the spawner dies the supervisor says so and clones by itself.
#[test]
fn services_are_cloned_by_the_spawner_and_by_the_supervisor_without_it() {
    let svc = "[Service]\nExecStart=/bin/sleep 1000\n";
    let mut sb = Sandbox::builder()
        .unit("a.service", svc)
        .unit("b.service", svc)
        .start()
        .unwrap();
    let supervisor = sb.component("supervisor").unwrap().pid.to_string();
    let (spawner, before) = spawner_fact(&sb).expect("a spawner runs");
    let out = sb.ctl(&["start", "a.service"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, after) = spawner_fact(&sb).unwrap();
    assert_eq!(after, before + 1, "a.service was cloned by the spawner");
    let main = sb.property("a.service", "MainPID");
    assert_eq!(parent_of(&sb, &main), supervisor, "the supervisor's child");

    sb.kill(spawner, "KILL").unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.log_text().contains(&format!(
            "the spawner (pid {spawner}) killed by signal 9: services are cloned by the supervisor"
        )))
    })
    .unwrap();
    assert_eq!(spawner_fact(&sb), None);
    let out = sb.ctl(&["start", "b.service"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let main = sb.property("b.service", "MainPID");
    assert_eq!(parent_of(&sb, &main), supervisor);
    assert!(sb.is_active("a.service"), "what the spawner cloned runs on");
}

//! SysV init scripts in the style of Debian's (`/lib/lsb/init-functions`, start-stop-daemon,
//! a PID file), run by cairn as the services `unit::sysv` translates them into: started at
//! boot through their `rc2.d` links, reloaded and stopped by their own `reload` and `stop`,
//! ordered by their headers, a malformed header warned about with file and line (the script
//! still runs), a headerless script run last, a native unit of the same name winning — and
//! Debian's redirect to systemctl kept out of the way whether `/run/systemd/system` exists or
//! not.

use cairn_integration::{out, wait, Sandbox};

/// A Debian-style script: `NAME` runs `/bin/sleep 1000` in the background with a PID file,
/// `reload` appends to DIR/NAME.reloads, `start` appends to DIR/order.
fn debian_script(name: &str, header: &str) -> String {
    format!(
        r#"#!/bin/sh
{header}
PATH=/sbin:/usr/sbin:/bin:/usr/bin
DAEMON=/bin/sleep
PIDFILE=@DIR@/{name}.pid

. /lib/lsb/init-functions

case "$1" in
  start)
    echo {name} >> @DIR@/order
    log_daemon_msg "Starting {name}" "{name}"
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec $DAEMON -- 1000
    log_end_msg $?
    ;;
  stop)
    log_daemon_msg "Stopping {name}" "{name}"
    start-stop-daemon --stop --quiet --retry TERM/5 --pidfile $PIDFILE --remove-pidfile --exec $DAEMON
    log_end_msg $?
    ;;
  reload|force-reload)
    echo reload >> @DIR@/{name}.reloads
    ;;
  status)
    status_of_proc -p $PIDFILE $DAEMON {name} && exit 0 || exit $?
    ;;
  *)
    echo "Usage: $0 {{start|stop|reload|force-reload|status}}" >&2
    exit 3
    ;;
esac
exit 0
"#
    )
}

fn lsb(provides: &str, more: &str) -> String {
    format!(
        "### BEGIN INIT INFO\n# Provides:          {provides}\n# Required-Start:    $remote_fs $syslog\n# Required-Stop:     $remote_fs $syslog\n{more}# Default-Start:     2 3 4 5\n# Default-Stop:      0 1 6\n# Short-Description: {provides} for the test\n### END INIT INFO"
    )
}

fn read_pid(sb: &Sandbox, name: &str) -> Option<i32> {
    std::fs::read_to_string(sb.dir().join(format!("{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The pids of a unit's cgroup as the sandbox sees them (PID files hold those), with the
/// host's pid for each.
fn inner_procs(sb: &Sandbox, unit: &str) -> Vec<(i32, i32)> {
    sb.cgroup_procs(unit)
        .into_iter()
        .filter_map(|host| {
            let status = std::fs::read_to_string(format!("/proc/{host}/status")).ok()?;
            let ns = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
            Some((ns.split_whitespace().last()?.parse().ok()?, host))
        })
        .collect()
}

fn runs_in(sb: &Sandbox, unit: &str, pid: i32) -> bool {
    inner_procs(sb, unit).iter().any(|(inner, _)| *inner == pid)
}

fn sandbox() -> Sandbox {
    Sandbox::builder()
        .file("cairn.ron", "(sysv_init_d: Some(\"@DIR@/init.d\"))\n")
        .arg("--config")
        .arg("@DIR@/cairn.ron")
        .script(
            "init.d/exampled",
            &debian_script("exampled", &lsb("exampled example-daemon", "")),
        )
        .script(
            "init.d/second",
            &debian_script(
                "second",
                &lsb("second", "# Should-Start:      example-daemon\n"),
            ),
        )
        // Line 4 of the file is a key LSB does not know, line 5 is not "Key: value".
        .script(
            "init.d/broken",
            &debian_script(
                "broken",
                "### BEGIN INIT INFO\n# Provides: broken\n# Colour: blue\n# this line has no colon\n### END INIT INFO",
            ),
        )
        .script("init.d/noheader", &debian_script("noheader", ""))
        // The script "native" loses to the unit file native.service.
        .script("init.d/native", &debian_script("native", &lsb("native", "")))
        .unit(
            "native.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        )
        // Not linked in any rc directory: present, not started (update-rc.d disable).
        .script("init.d/disabled", &debian_script("disabled", &lsb("disabled", "")))
        .dir_link("rc2.d/S01exampled", "../init.d/exampled")
        .dir_link("rc2.d/S02second", "../init.d/second")
        .dir_link("rc2.d/S02broken", "../init.d/broken")
        .dir_link("rc2.d/S03noheader", "../init.d/noheader")
        .dir_link("rc2.d/S01native", "../init.d/native")
        .dir_link("rc2.d/K01disabled", "../init.d/disabled")
        .start()
        .unwrap()
}

#[test]
fn debian_style_scripts_run_as_services() {
    let mut sb = sandbox();
    wait(&mut sb, "the scripts linked in rc2.d to run", 20, |sb| {
        Ok(["exampled", "second", "broken", "noheader"]
            .iter()
            .all(|n| sb.is_active(&format!("{n}.service"))))
    });
    // Each daemon runs in its unit's cgroup.
    for name in ["exampled", "second", "broken", "noheader"] {
        let pid = read_pid(&sb, name).unwrap_or_else(|| panic!("{name}: no pid file"));
        let procs = inner_procs(&sb, &format!("{name}.service"));
        assert!(
            procs.iter().any(|(inner, _)| *inner == pid),
            "{name}: daemon {pid} not in {procs:?}"
        );
    }
    // GuessMainPID=no: the daemon is not taken for the main process (the script's stop ends
    // it, not cairn's SIGTERM; KillMode=process then leaves nothing else to kill).
    assert_eq!(sb.property("exampled.service", "MainPID"), "0");
    let late = sb.runtime.join("generator.late");
    assert_eq!(
        sb.property("exampled.service", "FragmentPath"),
        late.join("exampled.service").display().to_string()
    );
    assert_eq!(
        sb.property("exampled.service", "Description"),
        "LSB: exampled example-daemon for the test"
    );
    // Provides: the other name is an alias; Should-Start on it orders after exampled.
    let o = sb.ctl(&["show", "example-daemon.service", "-p", "Id"]);
    assert_eq!(out(&o).trim(), "Id=exampled.service", "{}", out(&o));
    assert!(sb
        .property("second.service", "After")
        .contains("exampled.service"));
    // The headerless script runs after every script with a header.
    let after = sb.property("noheader.service", "After");
    for u in ["exampled.service", "second.service", "broken.service"] {
        assert!(after.contains(u), "noheader After={after}");
    }
    let order = std::fs::read_to_string(sb.dir().join("order")).unwrap();
    assert_eq!(order.lines().last(), Some("noheader"), "{order}");
    // The native unit won: its script was not translated, so neither did its rc link start
    // it (a native unit is enabled by its [Install] section, as under systemd) nor did the
    // script ever run. The disabled script is loaded, not started.
    assert_eq!(sb.active_state("native.service"), "inactive");
    assert_eq!(
        sb.property("native.service", "FragmentPath"),
        sb.units.join("native.service").display().to_string()
    );
    assert!(!order.contains("native"), "{order}");
    assert!(!order.contains("disabled"), "{order}");
    assert_eq!(sb.active_state("disabled.service"), "inactive");
    // The malformed header: a warning with the file and line, the script ran all the same.
    let log = sb.log_text();
    let broken = sb.dir().join("init.d/broken").display().to_string();
    for w in [
        format!("{broken}:4: unknown LSB header key \"Colour\""),
        format!("{broken}:5: LSB header line is not 'Key: value': \"this line has no colon\""),
        format!(
            "{}: no LSB header (### BEGIN INIT INFO); it runs after every script that has one",
            sb.dir().join("init.d/noheader").display()
        ),
    ] {
        assert!(log.contains(&w), "no {w:?} in the log:\n{log}");
    }

    // reload runs the script's reload; stop its stop, which ends the daemon.
    let o = sb.ctl(&["reload", "exampled.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let reloads = std::fs::read_to_string(sb.dir().join("exampled.reloads")).unwrap();
    assert_eq!(reloads, "reload\n");
    let pid = read_pid(&sb, "exampled").unwrap();
    let (_, host_pid) = inner_procs(&sb, "exampled.service")
        .into_iter()
        .find(|(inner, _)| *inner == pid)
        .unwrap();
    let o = sb.ctl(&["stop", "exampled.service"]);
    assert!(o.status.success(), "{}", out(&o));
    wait(&mut sb, "the daemon to end", 10, |_| {
        Ok(!std::path::Path::new(&format!("/proc/{host_pid}")).exists())
    });
    assert_eq!(sb.active_state("exampled.service"), "inactive");
    assert!(
        read_pid(&sb, "exampled").is_none(),
        "the stop removes the pid file"
    );

    // A script added later appears with daemon-reload, and starts by hand.
    std::fs::rename(
        sb.dir().join("init.d/disabled"),
        sb.dir().join("init.d/added"),
    )
    .unwrap();
    let o = sb.ctl(&["daemon-reload"]);
    assert!(o.status.success(), "{}", out(&o));
    let o = sb.ctl(&["start", "added.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.is_active("added.service"));
    // Its header still says "Provides: disabled": the old name is now its alias.
    let o = sb.ctl(&["show", "disabled.service", "-p", "Id"]);
    assert_eq!(out(&o).trim(), "Id=added.service", "{}", out(&o));
}

/// cairn does not create `/run/systemd/system` (it is systemd's "booted with systemd"
/// marker, and cairn serves neither systemd's bus API nor systemctl). Where something else
/// has made it, Debian's init-functions hand a script of /etc/init.d whose parent is not PID 1
/// to systemctl — which is what happens to a script run by hand — while the scripts cairn runs
/// (with SYSTEMCTL_SKIP_REDIRECT=1; their parent is the supervisor) still run themselves.
/// The sandbox's scripts are bind-mounted over /etc/init.d in its own mount namespace, where
/// the redirect looks for them.
#[test]
fn the_systemctl_redirect_stays_out_of_the_way_either_way() {
    let host_had = std::path::Path::new("/run/systemd/system").exists();
    let sb = Sandbox::builder()
        .prelude("mount --bind @DIR@/init.d /etc/init.d")
        .file("cairn.ron", "(sysv_init_d: Some(\"/etc/init.d\"))\n")
        .arg("--config")
        .arg("@DIR@/cairn.ron")
        .script(
            "init.d/exampled",
            &debian_script("exampled", &lsb("exampled", "")),
        )
        .script(
            "init.d/second",
            &debian_script("second", &lsb("second", "")),
        )
        .start()
        .unwrap();
    let by_hand = |sb: &Sandbox| {
        let o = sb.nsenter(&["/etc/init.d/second", "reload"]).unwrap();
        out(&o)
    };
    let reloads =
        |sb: &Sandbox| std::fs::read_to_string(sb.dir().join("second.reloads")).unwrap_or_default();
    let mut last_pid = None;
    for present in [false, true] {
        if present {
            // /run/systemd/system appears, in the sandbox's mount namespace only.
            let o = sb
                .nsenter(&[
                    "sh",
                    "-c",
                    "mount -t tmpfs cairn-test /run/systemd && mkdir /run/systemd/system",
                ])
                .unwrap();
            assert!(o.status.success(), "{}", out(&o));
        }
        // Run by cairn: the script runs itself, its daemon in the unit's cgroup.
        let o = sb.ctl(&["restart", "exampled.service", "second.service"]);
        assert!(o.status.success(), "{}", out(&o));
        let pid = read_pid(&sb, "exampled").expect("a pid file");
        assert_ne!(Some(pid), last_pid, "a new daemon");
        assert!(runs_in(&sb, "exampled.service", pid));
        last_pid = Some(pid);
        assert_eq!(
            sb.property("exampled.service", "FragmentPath"),
            sb.runtime
                .join("generator.late/exampled.service")
                .display()
                .to_string()
        );
        let before = reloads(&sb);
        let o = sb.ctl(&["reload", "second.service"]);
        assert!(o.status.success(), "{}", out(&o));
        assert_eq!(reloads(&sb), format!("{before}reload\n"));
        // Run by hand: itself without /run/systemd/system, systemctl's with it.
        let before = reloads(&sb);
        let said = by_hand(&sb);
        if present {
            assert!(
                said.contains("via systemctl"),
                "expected the redirect: {said}"
            );
            assert_eq!(reloads(&sb), before, "the script itself did not run");
        } else {
            assert!(!said.contains("systemctl"), "{said}");
            assert_eq!(reloads(&sb), format!("{before}reload\n"));
        }
    }
    assert_eq!(
        std::path::Path::new("/run/systemd/system").exists(),
        host_had,
        "the host's /run is untouched"
    );
}

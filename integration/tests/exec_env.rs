//! The execution environment, checked from inside the service: each service reports what it
//! sees (ids, groups, environment, cwd, umask, nice, scheduler, I/O class, affinity, limits,
//! capabilities, no_new_privs, oom score, timer slack) and the test compares with its unit.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use cairn_integration::{out, Sandbox};

/// `key=value` lines the service wrote.
fn report(sb: &Sandbox, name: &str) -> BTreeMap<String, String> {
    std::fs::read_to_string(sb.dir().join("out").join(name))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// /proc/self/status fields.
fn status_field(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// The probe each service runs: `sh @DIR@/probe.sh NAME` writes @DIR@/out/NAME (key=value
/// lines) and @DIR@/out/NAME.status (its /proc/self/status). A script file, so that no
/// quoting or `$` expansion of the unit file gets in the way.
const PROBE: &str = r#"exec > "$DIR/out/$1"
echo uid=$(id -u); echo gid=$(id -g); echo groups=$(id -G); echo umask=$(umask)
echo cwd=$(pwd); echo nofile_soft=$(ulimit -Sn); echo nofile_hard=$(ulimit -Hn)
echo core=$(ulimit -Sc); echo foo=$FOO; echo space=$SPACE; echo unwanted=${UNWANTED-unset}
echo path=$PATH
echo nice=$(cut -d" " -f19 /proc/$$/stat); echo policy=$(cut -d" " -f41 /proc/$$/stat)
echo oom=$(cat /proc/$$/oom_score_adj)
# Read by the shell itself: another process would need CAP_SYS_NICE to read it.
read slack < /proc/$$/timerslack_ns; echo slack=$slack
echo ioprio=$(ionice -p $$)
cp /proc/$$/status "$DIR/out/$1.status"
"#;

fn start_with(units: &[(&str, &str)]) -> Sandbox {
    let mut b = Sandbox::builder().unit("default.target", "[Unit]\nDescription=none\n");
    for (n, t) in units {
        b = b.unit(n, t);
    }
    let sb = b.start().unwrap();
    let dir = sb.dir().join("out");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(
        sb.dir().join("probe.sh"),
        format!("DIR={}\n{PROBE}", sb.dir().display()),
    )
    .unwrap();
    sb
}

#[test]
fn every_process_knob_is_seen_from_inside() {
    let unit = "[Service]\nType=oneshot\nRemainAfterExit=yes\nUser=nobody\nGroup=nogroup\n\
         SupplementaryGroups=100 1\nEnvironment=FOO=bar \"SPACE=a b\" UNWANTED=x\n\
         UnsetEnvironment=UNWANTED\nWorkingDirectory=@DIR@/out\nUMask=0027\nNice=7\n\
         CPUSchedulingPolicy=batch\nIOSchedulingClass=idle\nCPUAffinity=0\n\
         LimitNOFILE=321:654\nLimitCORE=0\nNoNewPrivileges=yes\nOOMScoreAdjust=123\n\
         TimerSlackNSec=4242\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_KILL\n\
         AmbientCapabilities=CAP_NET_BIND_SERVICE\n\
         ExecStart=/bin/sh @DIR@/probe.sh knobs\n";
    let sb = start_with(&[("knobs.service", unit)]);
    let o = sb.ctl(&["start", "knobs.service"]);
    assert!(
        o.status.success(),
        "{}\n{}",
        out(&o),
        out(&sb.ctl(&["status", "knobs"]))
    );
    let r = report(&sb, "knobs");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    assert_eq!(r["uid"], nobody.uid.to_string(), "{r:?}");
    assert_eq!(r["gid"], nogroup.gid.to_string());
    let groups: Vec<&str> = r["groups"].split_whitespace().collect();
    assert!(
        groups.contains(&"100") && groups.contains(&"1"),
        "{groups:?}"
    );
    assert_eq!(r["umask"], "0027");
    assert_eq!(r["cwd"], sb.dir().join("out").display().to_string());
    assert_eq!(r["nofile_soft"], "321");
    assert_eq!(r["nofile_hard"], "654");
    assert_eq!(r["core"], "0");
    assert_eq!(r["foo"], "bar");
    assert_eq!(r["space"], "a b");
    assert_eq!(r["unwanted"], "unset");
    assert!(r["path"].contains("/usr/bin"));
    assert_eq!(r["nice"], "7");
    assert_eq!(r["policy"], libc::SCHED_BATCH.to_string());
    assert_eq!(r["oom"], "123");
    assert_eq!(r["slack"], "4242");
    assert_eq!(r["ioprio"], "idle");
    let status = std::fs::read_to_string(sb.dir().join("out/knobs.status")).unwrap();
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Cpus_allowed_list"), "0");
    let bnd = u64::from_str_radix(&status_field(&status, "CapBnd"), 16).unwrap();
    assert_eq!(
        bnd,
        (1 << 10) | (1 << 5),
        "CAP_NET_BIND_SERVICE and CAP_KILL"
    );
    let amb = u64::from_str_radix(&status_field(&status, "CapAmb"), 16).unwrap();
    assert_eq!(
        amb,
        1 << 10,
        "CAP_NET_BIND_SERVICE, ambient for a non-root user"
    );
}

#[test]
fn defaults_are_systemds() {
    let unit =
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh @DIR@/probe.sh defaults\n";
    let sb = start_with(&[("defaults.service", unit)]);
    let o = sb.ctl(&["start", "defaults.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let r = report(&sb, "defaults");
    assert_eq!(r["uid"], "0");
    assert_eq!(r["umask"], "0022");
    assert_eq!(r["cwd"], "/");
    assert_eq!(r["nofile_soft"], "1024");
    assert_eq!(
        r["path"],
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    let status = std::fs::read_to_string(sb.dir().join("out/defaults.status")).unwrap();
    // IgnoreSIGPIPE=yes by default: SIGPIPE (13) is ignored.
    let ign = u64::from_str_radix(&status_field(&status, "SigIgn"), 16).unwrap();
    assert!(ign & (1 << 12) != 0, "SigIgn {ign:x}");
    assert_eq!(status_field(&status, "NoNewPrivs"), "0");
}

#[test]
fn standard_streams_go_where_the_unit_says() {
    let sb = start_with(&[
        (
            "files.service",
            "[Service]\nType=oneshot\nStandardOutput=append:@DIR@/out/app.log\nStandardError=truncate:@DIR@/out/err.log\n\
             ExecStart=/bin/sh -c 'echo to-out; echo to-err >&2'\n",
        ),
        (
            "quiet.service",
            "[Service]\nType=oneshot\nStandardOutput=null\nStandardError=journal\nExecStart=/bin/sh -c 'echo hidden; echo shown >&2'\n",
        ),
    ]);
    for _ in 0..2 {
        let o = sb.ctl(&["start", "files.service"]);
        assert!(
            o.status.success(),
            "{}\n{}",
            out(&o),
            out(&sb.ctl(&["status", "files"]))
        );
    }
    let app = std::fs::read_to_string(sb.dir().join("out/app.log")).unwrap();
    assert_eq!(app, "to-out\nto-out\n", "append: keeps what was there");
    let err = std::fs::read_to_string(sb.dir().join("out/err.log")).unwrap();
    assert_eq!(err, "to-err\n", "truncate: starts afresh");
    assert!(sb.ctl(&["start", "quiet.service"]).status.success());
    std::thread::sleep(Duration::from_millis(200));
    let log = out(&sb.ctl(&["log", "quiet.service"]));
    assert!(!log.contains("hidden") && log.contains("shown"), "{log}");
}

#[test]
fn exec_failures_name_the_reason() {
    let sb = start_with(&[
        (
            "nouser.service",
            "[Service]\nUser=no-such-user-cairn\nExecStart=/bin/true\n",
        ),
        (
            "noexec.service",
            "[Service]\nExecStart=@DIR@/units/noexec.service\n",
        ),
        (
            "nodir.service",
            "[Service]\nWorkingDirectory=/nonexistent/dir\nExecStart=/bin/true\n",
        ),
    ]);
    for (unit, want) in [
        ("nouser.service", "no such user"),
        ("noexec.service", "EACCES"),
        ("nodir.service", "ENOENT"),
    ] {
        let o = sb.ctl(&["start", unit]);
        assert_eq!(o.status.code(), Some(1), "{unit}: {}", out(&o));
        let status = out(&sb.ctl(&["status", unit]));
        assert!(status.contains(want), "{unit}: {status}");
        assert_eq!(sb.active_state(unit), "failed");
    }
}

/// On this host the sandbox's cgroup tree has no memory/pids controller to delegate: a
/// limit must then be a clear warning naming the controller, and the unit still runs. (Real
/// limits are checked in the VM tier, on a full cgroup2.)
#[test]
fn a_limit_without_its_controller_is_a_clear_warning() {
    let mut sb = start_with(&[(
        "limited.service",
        "[Service]\nMemoryMax=64M\nTasksMax=16\nCPUQuota=50%\nExecStart=/bin/sleep 1000\n",
    )]);
    let o = sb.ctl(&["start", "limited.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.is_active("limited.service"));
    let memory = sb.cgroup.join("system.slice/limited.service/memory.max");
    if memory.exists() {
        // The host delegated the controller after all: the limit must be in force.
        assert_eq!(
            std::fs::read_to_string(memory).unwrap().trim(),
            (64u64 << 20).to_string()
        );
        return;
    }
    let status = out(&sb.ctl(&["status", "limited.service", "-n", "20"]));
    assert!(
        status.contains("MemoryMax=67108864: the memory controller is not enabled"),
        "{status}"
    );
    sb.wait_until(Duration::from_secs(2), |sb| {
        Ok(sb
            .log_text()
            .contains("TasksMax=16: the pids controller is not enabled"))
    })
    .unwrap();
}

/// Runs `script` as a oneshot service with `settings` and returns the `key=value` lines it
/// printed (its stdout goes to @DIR@/out/NAME, opened by the supervisor: the service itself
/// may not be able to write there under ProtectSystem=strict).
fn run_probe(sb: &Sandbox, name: &str, settings: &str, script: &str) -> BTreeMap<String, String> {
    std::fs::write(sb.dir().join(format!("{name}.sh")), format!("{script}\n")).unwrap();
    std::fs::write(
        sb.units.join(format!("{name}.service")),
        format!(
            "[Service]\nType=oneshot\n{settings}\nStandardOutput=truncate:{dir}/out/{name}\n\
             ExecStart=/bin/sh {dir}/{name}.sh\n",
            dir = sb.dir().display()
        ),
    )
    .unwrap();
    let o = sb.ctl(&["daemon-reload"]);
    assert!(o.status.success(), "{}", out(&o));
    let o = sb.ctl(&["start", &format!("{name}.service")]);
    assert!(
        o.status.success(),
        "{}\n{}\nreport: {:?}",
        out(&o),
        out(&sb.ctl(&["status", name])),
        std::fs::read_to_string(sb.dir().join("out").join(name))
    );
    report(sb, name)
}

#[test]
fn read_only_inaccessible_and_private_views() {
    let sb = start_with(&[]);
    let dir = sb.dir().display().to_string();
    std::fs::create_dir_all(sb.dir().join("ro")).unwrap();
    std::fs::create_dir_all(sb.dir().join("ro/rw")).unwrap();
    std::fs::create_dir_all(sb.dir().join("secret")).unwrap();
    std::fs::write(sb.dir().join("secret/key"), "hidden").unwrap();
    std::fs::set_permissions(
        sb.dir().join("ro/rw"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    // As root, with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped (root would see through
    // a mode-000 node otherwise).
    let r = run_probe(
        &sb,
        "views",
        &format!(
            "ReadOnlyPaths={dir}/ro\nReadWritePaths={dir}/ro/rw\nInaccessiblePaths={dir}/secret\n\
             CapabilityBoundingSet=~CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH"
        ),
        &format!(
            "touch {dir}/ro/x 2>/dev/null && echo ro=writable || echo ro=$(touch {dir}/ro/x 2>&1 | grep -o 'Read-only file system')\n\
             touch {dir}/ro/rw/y && echo rw=ok\n\
             cat {dir}/secret/key >/dev/null 2>&1 && echo secret=readable || echo secret=denied"
        ),
    );
    assert_eq!(r["ro"], "Read-only file system", "{r:?}");
    assert_eq!(r["rw"], "ok");
    assert_eq!(r["secret"], "denied");
    assert!(!sb.dir().join("ro/x").exists());
    assert!(sb.dir().join("ro/rw/y").exists());
    // Nothing of this reached the host's mount table.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&format!("{dir}/ro")),
        "a mount leaked to the host"
    );
}

#[test]
fn protect_system_strict_and_private_devices() {
    let sb = start_with(&[]);
    let r = run_probe(
        &sb,
        "strict",
        "ProtectSystem=strict\nPrivateDevices=yes\nStateDirectory=cairn-test-state",
        "touch /etc/cairn-strict-test 2>/dev/null && echo etc=writable || echo etc=readonly\n\
         echo devs=$(ls /dev | tr '\\n' ' ')\n\
         echo null=$(echo x > /dev/null && echo ok)\n\
         touch $STATE_DIRECTORY/file && echo state=$STATE_DIRECTORY",
    );
    assert_eq!(r["etc"], "readonly", "{r:?}");
    assert!(!std::path::Path::new("/etc/cairn-strict-test").exists());
    let devs: Vec<&str> = r["devs"].split_whitespace().collect();
    assert!(
        devs.contains(&"null") && devs.contains(&"urandom"),
        "{devs:?}"
    );
    assert!(
        !devs
            .iter()
            .any(|d| d.starts_with("sd") || d.starts_with("loop")),
        "{devs:?}"
    );
    assert_eq!(r["null"], "ok");
    // StateDirectory= stays writable under ProtectSystem=strict; in a sandbox it lives under
    // the runtime directory, not the host's /var/lib.
    assert_eq!(
        r["state"],
        sb.runtime
            .join("state/cairn-test-state")
            .display()
            .to_string()
    );
    assert!(sb.runtime.join("state/cairn-test-state/file").exists());
}

#[test]
fn runtime_directory_is_owned_and_removed_on_stop() {
    let mut sb = start_with(&[(
        "rd.service",
        "[Service]\nUser=nobody\nRuntimeDirectory=cairn-rd\nRuntimeDirectoryMode=0750\n\
         ExecStart=/bin/sh -c 'touch $RUNTIME_DIRECTORY/pid && exec sleep 1000'\n",
    )]);
    let o = sb.ctl(&["start", "rd.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let path = sb.runtime.join("run/cairn-rd");
    sb.wait_until(Duration::from_secs(5), |_| Ok(path.join("pid").exists()))
        .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    use std::os::unix::fs::MetadataExt;
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(meta.uid(), nobody.uid.as_raw());
    assert_eq!(meta.mode() & 0o7777, 0o750);
    assert!(sb.ctl(&["stop", "rd.service"]).status.success());
    assert!(!path.exists(), "RuntimeDirectory= goes with the service");
}

#[test]
fn private_tmp_is_private() {
    // The sandbox itself lives under /tmp, which PrivateTmp= hides: the report goes through
    // StandardOutput=, opened by the supervisor before the namespace is made.
    let sb = start_with(&[(
        "ptmp.service",
        "[Service]\nType=oneshot\nPrivateTmp=yes\nStandardOutput=file:@DIR@/out/ptmp\n\
         ExecStart=/bin/sh -c 'echo before=$(ls -A /tmp | wc -l); touch /tmp/cairn-ptmp-probe; echo after=$(ls -A /tmp | wc -l)'\n",
    )]);
    let o = sb.ctl(&["start", "ptmp.service"]);
    assert!(
        o.status.success(),
        "{}\n{}",
        out(&o),
        out(&sb.ctl(&["status", "ptmp"]))
    );
    let r = report(&sb, "ptmp");
    assert_eq!(r["before"], "0", "an empty /tmp of its own: {r:?}");
    assert_eq!(r["after"], "1");
    assert!(
        !std::path::Path::new("/tmp/cairn-ptmp-probe").exists(),
        "the host's /tmp never saw it"
    );
}

/// rsyslogd (Debian's) receives the services' lines through the syslog sink, including lines
/// written before it started (kept, then forwarded).
#[test]
fn a_syslog_daemon_receives_service_lines() {
    assert!(
        std::path::Path::new("/usr/sbin/rsyslogd").exists(),
        "rsyslog is not installed (make test installs it)"
    );
    let mut sb = Sandbox::builder()
        .unit("cairn.ron", "(syslog_socket: Some(\"@DIR@/syslog.sock\"))")
        .unit(
            "rsyslog.conf",
            "module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"@DIR@/syslog.sock\" CreatePath=\"on\")\n\
             global(workDirectory=\"@DIR@\")\n\
             *.* action(type=\"omfile\" file=\"@DIR@/syslog.out\")\n",
        )
        .unit(
            "rsyslog.service",
            "[Service]\nType=simple\nExecStart=/usr/sbin/rsyslogd -n -f @DIR@/units/rsyslog.conf -i @DIR@/rsyslog.pid\n",
        )
        .unit(
            "talker.service",
            "[Service]\nSyslogIdentifier=talky\nExecStart=/bin/sh -c 'echo early-line; echo \"<3>early-error\"; while [ ! -e @DIR@/later ]; do sleep 0.1; done; echo late-line; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nWants=talker.service\n")
        .arg("--config")
        .arg("@DIR@/units/cairn.ron")
        .start()
        .unwrap();
    // The talker has spoken before any syslog daemon ran.
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(out(&sb.ctl(&["log", "talker"])).contains("early-error"))
    })
    .unwrap();
    let o = sb.ctl(&["start", "rsyslog.service"]);
    assert!(o.status.success(), "{}", out(&o));
    std::fs::write(sb.dir().join("later"), "").unwrap();
    let syslog = sb.dir().join("syslog.out");
    sb.wait_until(Duration::from_secs(15), |_| {
        let t = std::fs::read_to_string(&syslog).unwrap_or_default();
        Ok(t.contains("late-line") && t.contains("early-line"))
    })
    .unwrap_or_else(|e| panic!("{e:#}: {:?}", std::fs::read_to_string(&syslog)));
    let t = std::fs::read_to_string(&syslog).unwrap();
    assert!(t.contains("talky[") && t.contains("early-error"), "{t}");
    // The persistent log (under the runtime directory in a sandbox) has them too.
    let persistent = std::fs::read_to_string(sb.runtime.join("log/cairn.log")).unwrap();
    assert!(
        persistent.contains("talker.service[") && persistent.contains("early-line"),
        "{persistent}"
    );
}

/// cairn owns the syslog socket (here at @DIR@/devlog instead of /dev/log): messages sent
/// with syslog(3)/logger before any syslog daemon runs, and while the supervisor itself is
/// restarting, reach the unit's log and then the daemon.
#[test]
fn messages_to_the_syslog_socket_are_kept_until_a_daemon_takes_them() {
    let mut sb = Sandbox::builder()
        .unit(
            "cairn.ron",
            "(syslog_listen: Some(\"@DIR@/devlog\"), syslog_socket: Some(\"@DIR@/syslog.sock\"))",
        )
        .unit(
            "rsyslog.conf",
            "module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"@DIR@/syslog.sock\" CreatePath=\"on\")\n\
             global(workDirectory=\"@DIR@\")\n\
             *.* action(type=\"omfile\" file=\"@DIR@/syslog.out\")\n",
        )
        .unit(
            "rsyslog.service",
            "[Service]\nExecStart=/usr/sbin/rsyslogd -n -f @DIR@/units/rsyslog.conf -i @DIR@/rsyslog.pid\n",
        )
        .unit(
            "app.service",
            "[Service]\nExecStart=/bin/sh -c 'logger -u @DIR@/devlog -t appd \"first via the socket\"; \
             while [ ! -e @DIR@/again ]; do sleep 0.05; done; logger -u @DIR@/devlog -t appd \"second, while restarting\"; exec sleep 1000'\n",
        )
        .unit("default.target", "[Unit]\nWants=app.service\n")
        .arg("--config")
        .arg("@DIR@/units/cairn.ron")
        .start()
        .unwrap();
    // logger exits at once, so its message may not be attributable to app.service (its
    // cgroup is gone by the time it is read): the persistent log has it either way.
    let persistent = sb.runtime.join("log/cairn.log");
    let logged = |text: &str| {
        std::fs::read_to_string(&persistent)
            .unwrap_or_default()
            .contains(text)
    };
    sb.wait_until(Duration::from_secs(10), |_| {
        Ok(logged("first via the socket"))
    })
    .unwrap();
    // The supervisor dies; a message sent meanwhile waits in the socket pid1 keeps.
    let sup = sb.component("supervisor").unwrap();
    sb.kill(sup.pid, "KILL").unwrap();
    std::fs::write(sb.dir().join("again"), "").unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.component("supervisor")?.pid != sup.pid && logged("second, while restarting"))
    })
    .unwrap();
    let o = sb.ctl(&["start", "rsyslog.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let syslog = sb.dir().join("syslog.out");
    sb.wait_until(Duration::from_secs(15), |_| {
        Ok(std::fs::read_to_string(&syslog)
            .unwrap_or_default()
            .contains("second, while restarting"))
    })
    .unwrap_or_else(|e| panic!("{e:#}: {:?}", std::fs::read_to_string(&syslog)));
    // (The first message was queued for the daemon in the supervisor that was killed: that
    // queue does not survive a supervisor crash yet — the persistent log has the message.)
    assert!(logged("first via the socket"));
}

#[test]
fn messages_sent_before_the_syslog_daemon_runs_reach_it() {
    let mut sb = Sandbox::builder()
        .unit(
            "cairn.ron",
            "(syslog_listen: Some(\"@DIR@/devlog\"), syslog_socket: Some(\"@DIR@/syslog.sock\"))",
        )
        .unit(
            "rsyslog.conf",
            "module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"@DIR@/syslog.sock\" CreatePath=\"on\")\n\
             global(workDirectory=\"@DIR@\")\n\
             *.* action(type=\"omfile\" file=\"@DIR@/syslog.out\")\n",
        )
        .unit(
            "rsyslog.service",
            "[Service]\nExecStart=/usr/sbin/rsyslogd -n -f @DIR@/units/rsyslog.conf -i @DIR@/rsyslog.pid\n",
        )
        .unit(
            "early.service",
            "[Service]\nType=oneshot\nExecStart=/usr/bin/logger -u @DIR@/devlog -t earlyd \"said before any syslog daemon\"\n",
        )
        .unit("default.target", "[Unit]\nWants=early.service\n")
        .arg("--config")
        .arg("@DIR@/units/cairn.ron")
        .start()
        .unwrap();
    let persistent = sb.runtime.join("log/cairn.log");
    sb.wait_until(Duration::from_secs(10), |_| {
        Ok(std::fs::read_to_string(&persistent)
            .unwrap_or_default()
            .contains("said before"))
    })
    .unwrap();
    let o = sb.ctl(&["start", "rsyslog.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let syslog = sb.dir().join("syslog.out");
    sb.wait_until(Duration::from_secs(15), |_| {
        Ok(std::fs::read_to_string(&syslog)
            .unwrap_or_default()
            .contains("earlyd: said before any syslog daemon"))
    })
    .unwrap_or_else(|e| panic!("{e:#}: {:?}", std::fs::read_to_string(&syslog)));
}

/// TTYReset= puts sane line settings back on TTYPath before the process starts, TTYVHangup=
/// hangs up whoever had it open; without them the terminal is left as it was.
#[test]
fn tty_reset_and_vhangup_prepare_the_terminal() {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = nix::unistd::ttyname(&pty.slave).unwrap();
    let raw = |fd: &std::os::fd::OwnedFd| {
        let mut t = termios::tcgetattr(fd).unwrap();
        t.local_flags.remove(LocalFlags::ECHO | LocalFlags::ICANON);
        termios::tcsetattr(fd, SetArg::TCSANOW, &t).unwrap();
    };
    let cooked = |fd: &std::os::fd::OwnedFd| {
        let l = termios::tcgetattr(fd).unwrap().local_flags;
        l.contains(LocalFlags::ECHO | LocalFlags::ICANON)
    };
    let unit = |extra: &str| {
        format!(
            "[Service]\nType=oneshot\nTTYPath={}\n{extra}ExecStart=/bin/true\n",
            slave.display()
        )
    };
    let sb = start_with(&[
        ("plain.service", &unit("")),
        ("reset.service", &unit("TTYReset=yes\n")),
        ("hangup.service", &unit("TTYVHangup=yes\n")),
        (
            "missing.service",
            "[Service]\nType=oneshot\nTTYPath=@DIR@/no-tty\nTTYReset=yes\nExecStart=/bin/true\n",
        ),
    ]);
    raw(&pty.slave);
    assert!(sb.ctl(&["start", "plain.service"]).status.success());
    assert!(!cooked(&pty.slave), "without TTYReset= the modes stay");
    assert!(sb.ctl(&["start", "reset.service"]).status.success());
    assert!(cooked(&pty.slave), "TTYReset=yes restores ECHO and ICANON");
    nix::unistd::write(&pty.slave, b"x").expect("a terminal not hung up is writable");
    assert!(sb.ctl(&["start", "hangup.service"]).status.success());
    assert_eq!(
        nix::unistd::write(&pty.slave, b"x"),
        Err(nix::errno::Errno::EIO),
        "TTYVHangup=yes hangs up the earlier opener"
    );
    let log = out(&sb.ctl(&["log", "reset.service"]));
    assert!(!log.contains("TTYReset"), "no failure reported: {log}");
    // A terminal that cannot be reset is reported in the unit's log; the start goes on.
    assert!(sb.ctl(&["start", "missing.service"]).status.success());
    let log = out(&sb.ctl(&["log", "missing.service"]));
    assert!(
        log.contains("TTYReset=yes:") && log.contains("no-tty") && log.contains("ENOENT"),
        "{log}"
    );
}

//! D-Bus: Debian's dbus-daemon, socket-activated by cairn (`--address=systemd:`,
//! `--systemd-activation`, Type=notify as Debian's dbus.service); a bus service activated on
//! first call through `SystemdService=` — two clients at the same moment both answered, the
//! service started once; a failed activation reported back at once (ActivationFailure);
//! Type=dbus ready when its BusName= is taken.

use std::process::{Command, Output};

use std::time::Duration;

use cairn_integration::{bin, out, run_with_deadline, wait, Sandbox};

const BUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>systemd:</listen>
  <auth>EXTERNAL</auth>
  <servicedir>@DIR@/services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="signal"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#;

fn sandbox() -> Sandbox {
    let service = bin("cairn-test-bus-service").display().to_string();
    let env = "Environment=DBUS_SYSTEM_BUS_ADDRESS=unix:path=@DIR@/system_bus_socket\n";
    Sandbox::builder()
        .file("cairn.ron", "(system_bus: Some(\"@DIR@/system_bus_socket\"))\n")
        .arg("--config")
        .arg("@DIR@/cairn.ron")
        .file("bus.conf", BUS_CONF)
        .file(
            "services/org.cairn.Test.service",
            "[D-BUS Service]\nName=org.cairn.Test\nExec=/bin/false\nUser=root\nSystemdService=cairn-test.service\n",
        )
        .file(
            "services/org.cairn.Broken.service",
            "[D-BUS Service]\nName=org.cairn.Broken\nExec=/bin/false\nUser=root\nSystemdService=broken.service\n",
        )
        .file(
            "services/org.cairn.Missing.service",
            "[D-BUS Service]\nName=org.cairn.Missing\nExec=/bin/false\nUser=root\nSystemdService=missing.service\n",
        )
        .unit(
            "dbus.socket",
            "[Socket]\nListenStream=@DIR@/system_bus_socket\n",
        )
        .unit(
            "dbus.service",
            "[Unit]\nRequires=dbus.socket\n[Service]\nType=notify\nNotifyAccess=main\n\
             ExecStart=/usr/bin/dbus-daemon --config-file=@DIR@/bus.conf --nofork --nopidfile --systemd-activation\n",
        )
        .unit(
            "cairn-test.service",
            &format!("[Service]\nType=dbus\nBusName=org.cairn.Test\n{env}ExecStart={service} org.cairn.Test @DIR@/starts\n"),
        )
        .unit(
            "other.service",
            &format!("[Service]\nBusName=org.cairn.Other\n{env}ExecStart={service} org.cairn.Other @DIR@/other-starts\n"),
        )
        .unit(
            "broken.service",
            "[Service]\nType=dbus\nBusName=org.cairn.Broken\nExecStart=/bin/false\n",
        )
        .unit("default.target", "[Unit]\nWants=dbus.socket\n")
        .start()
        .unwrap()
}

fn dbus_send(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = Command::new("dbus-send");
    c.env(
        "DBUS_SYSTEM_BUS_ADDRESS",
        format!("unix:path={}", sb.dir().join("system_bus_socket").display()),
    )
    .args(["--system", "--print-reply", "--reply-timeout=20000"])
    .args(args);
    c
}

fn ping(sb: &Sandbox, dest: &str, from: &str) -> Command {
    dbus_send(
        sb,
        &[
            &format!("--dest={dest}"),
            "/org/cairn/Test",
            "org.cairn.Test.Ping",
            &format!("string:{from}"),
        ],
    )
}

/// A client never hangs a test: 30 s at most (a bus that never answers is a failure).
fn run(cmd: Command) -> Output {
    run_with_deadline(cmd, Duration::from_secs(30))
}

fn has_owner(sb: &Sandbox, name: &str) -> bool {
    let o: Output = run(dbus_send(
        sb,
        &[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &format!("string:{name}"),
        ],
    ));
    assert!(o.status.success(), "{}", out(&o));
    out(&o).contains("boolean true")
}

#[test]
fn bus_activation_starts_a_service_once_for_clients_arriving_together() {
    let mut sb = sandbox();
    wait(&mut sb, "dbus.socket", 10, |sb| {
        Ok(sb.is_active("dbus.socket"))
    });
    assert_eq!(sb.active_state("dbus.service"), "inactive");
    assert_eq!(sb.active_state("cairn-test.service"), "inactive");
    // Two clients at once: the first connection starts dbus-daemon (socket activation), both
    // calls wait in it for org.cairn.Test, whose activation goes to cairn.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run(ping(&sb, "org.cairn.Test", "a")));
        let b = s.spawn(|| run(ping(&sb, "org.cairn.Test", "b")));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "a: {}\n{}", out(&a), sb.log_text());
    assert!(b.status.success(), "b: {}\n{}", out(&b), sb.log_text());
    let starts = std::fs::read_to_string(sb.dir().join("starts")).unwrap();
    assert_eq!(starts.lines().count(), 1, "started once: {starts}");
    let pid = starts.trim();
    assert!(
        out(&a).contains(&format!("pong a from {pid}")),
        "{}",
        out(&a)
    );
    assert!(
        out(&b).contains(&format!("pong b from {pid}")),
        "{}",
        out(&b)
    );
    assert!(sb.is_active("dbus.service"));
    assert!(sb.is_active("cairn-test.service"));
    assert!(sb
        .log_text()
        .contains("cairn-test.service: activation requested on the system bus"));

    // A unit that fails to start, and one that does not exist: the callers hear it at once
    // (not at their 20-s timeout) from dbus-daemon, which cairn told.
    for (dest, unit) in [
        ("org.cairn.Broken", "broken.service"),
        ("org.cairn.Missing", "missing.service"),
    ] {
        let t = std::time::Instant::now();
        let o = run(ping(&sb, dest, "c"));
        assert!(!o.status.success(), "{}", out(&o));
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(out(&o).contains(unit), "{dest}: {}", out(&o));
    }
    assert_eq!(sb.active_state("broken.service"), "failed");
}

#[test]
fn a_dbus_service_is_started_when_its_name_is_taken() {
    let mut sb = sandbox();
    wait(&mut sb, "dbus.socket", 10, |sb| {
        Ok(sb.is_active("dbus.socket"))
    });
    let o = sb.ctl(&["start", "dbus.service"]);
    assert!(o.status.success(), "{}", out(&o));
    wait(&mut sb, "the supervisor on the bus", 10, |sb| {
        Ok(sb.log_text().contains("connected to the system bus"))
    });
    // BusName= alone means Type=dbus; Requires=/After=dbus.socket come with it.
    assert_eq!(sb.property("other.service", "Type"), "dbus");
    assert!(sb
        .property("other.service", "Requires")
        .contains("dbus.socket"));
    // The service takes its name 300 ms after it starts: the start job ends only then.
    let o = sb.ctl(&["start", "other.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        has_owner(&sb, "org.cairn.Other"),
        "the job ended before the name was taken"
    );
    assert!(sb.is_active("other.service"));
}

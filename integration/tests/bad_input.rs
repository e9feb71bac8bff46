//! The bad-input corpus (`integration/bad-input/`): unit files broken in every way a person or
//! a package manages to, an fstab with broken lines, sockets with addresses that cannot be.
//! Each is given to a running manager (copied into its unit directory, `daemon-reload`, then
//! started); each must fail alone with the error `expected.txt` names — file:line and a
//! reason a person understands — and the manager must still be up, its good units still
//! working.

use std::path::Path;
use std::time::Duration;

use cairn_integration::{out, Sandbox};

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bad-input")
}

#[test]
fn every_bad_input_fails_alone_with_a_clear_error() {
    let mut sb = Sandbox::builder()
        .unit("good.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit(
            "default.target",
            "[Unit]\nWants=good.service local-fs.target\n",
        )
        .file(
            "fstab",
            &std::fs::read_to_string(corpus().join("fstab")).unwrap(),
        )
        .file("cairn.ron", "(fstab: Some(\"@DIR@/fstab\"))\n")
        .arg("--config")
        .arg("@DIR@/cairn.ron")
        .start()
        .unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.is_active("good.service"))
    })
    .unwrap();
    let good_pid = sb.property("good.service", "MainPID");
    // The corpus goes in as it is (symlinks, a directory, binary bytes), and a 1 MiB line.
    let o = std::process::Command::new("cp")
        .arg("-a")
        .arg(corpus().join("units").join("."))
        .arg(&sb.units)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    std::fs::write(
        sb.units.join("long.service"),
        format!("[Service]\nExecStart=/bin/true {}\n", "x".repeat(1 << 20)),
    )
    .unwrap();
    let o = sb.ctl(&["daemon-reload"]);
    assert!(o.status.success(), "daemon-reload: {}", out(&o));
    let units = sb.units.display().to_string();
    let expected = std::fs::read_to_string(corpus().join("expected.txt")).unwrap();
    let mut wrong = Vec::new();
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (unit, want) = line.split_once(" | ").expect("UNIT | expected text");
        let want = want
            .replace("@UNITS@", &units)
            .replace("@DIR@", &sb.dir().display().to_string());
        // What `start` answered counts: a refused transaction is said there.
        let started = if unit == "fstab" {
            String::new()
        } else {
            out(&sb.ctl(&["start", unit]))
        };
        // What a person looks at: the unit's status, and the manager's log.
        let t = std::time::Instant::now();
        let seen = loop {
            let status = if unit == "fstab" {
                String::new()
            } else {
                out(&sb.ctl(&["status", unit]))
            };
            let seen = format!("{started}\n{status}\n{}", sb.log_text());
            if seen.contains(&want) || t.elapsed() > Duration::from_secs(5) {
                break seen;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !seen.contains(&want) {
            wrong.push(format!(
                "{unit}: expected {want:?} in its status or the log; status:\n{}",
                out(&sb.ctl(&["status", unit]))
            ));
        }
    }
    // The manager is up, and what was good still is.
    assert!(sb.ctl(&["version"]).status.success());
    assert!(sb.is_active("good.service"));
    assert_eq!(sb.property("good.service", "MainPID"), good_pid);
    let o = sb.ctl(&["restart", "good.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.is_active("good.service"));
    assert!(
        wrong.is_empty(),
        "{}\n---- log ----\n{}",
        wrong.join("\n\n"),
        sb.log_text()
    );
}

/// Unit files someone else could have written are refused, with a warning that says why:
/// a file owned by another user, a file anyone may write, a unit directory anyone may write.
#[test]
fn units_others_could_write_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mut sb = Sandbox::builder()
        .unit("good.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("default.target", "[Unit]\nWants=good.service\n")
        .start()
        .unwrap();
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.is_active("good.service"))
    })
    .unwrap();
    let unit = "[Service]\nExecStart=/bin/true\n";
    let foreign = sb.units.join("foreign.service");
    std::fs::write(&foreign, unit).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    let open = sb.units.join("open.service");
    std::fs::write(&open, unit).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = sb.ctl(&["daemon-reload"]);
    assert!(o.status.success(), "{}", out(&o));
    for (name, why) in [
        ("foreign.service", "owned by uid 65534, not root"),
        ("open.service", "writable by anyone (mode 666)"),
    ] {
        let o = sb.ctl(&["start", name]);
        assert!(!o.status.success(), "{name} started");
        let status = out(&sb.ctl(&["status", name]));
        assert!(status.contains(why), "{name}: {status}");
        assert!(sb.log_text().contains(why), "{}", sb.log_text());
    }
    assert!(sb.is_active("good.service"));
    // A unit directory anyone may write to: none of its units is taken.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("x.service"), unit).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = std::process::Command::new(cairn_integration::bin("cairnctl"))
        .args(["analyze", "verify"])
        .arg(d.path().join("x.service"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let said = out(&o);
    assert!(
        said.contains("writable by anyone (mode 777); its units are refused"),
        "{said}"
    );
}

/// A service that floods the notify socket, and one that floods its output, are throttled —
/// never the manager: it keeps answering, and stops them when asked.
#[test]
fn a_flooding_service_does_not_stall_the_manager() {
    let flood = "import os, socket\n\
                 s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
                 a = os.environ['NOTIFY_SOCKET']\n\
                 s.sendto(b'READY=1', a)\n\
                 while True:\n    s.sendto(b'STATUS=flood', a)\n";
    let mut sb = Sandbox::builder()
        .unit("good.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .file("flood.py", flood)
        .unit(
            "notify-flood.service",
            "[Service]\nType=notify\nNotifyAccess=all\nExecStart=/usr/bin/python3 @DIR@/flood.py\n",
        )
        .unit(
            "log-flood.service",
            "[Service]\nExecStart=/usr/bin/yes a line of flood\n",
        )
        .unit(
            "default.target",
            "[Unit]\nWants=good.service notify-flood.service log-flood.service\n",
        )
        .start()
        .unwrap();
    sb.wait_until(Duration::from_secs(20), |sb| {
        Ok(sb.is_active("good.service")
            && sb.is_active("notify-flood.service")
            && sb.is_active("log-flood.service"))
    })
    .unwrap();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let o = cairn_integration::run_with_deadline(
            sb.ctl_cmd(&["status", "good.service"]),
            Duration::from_secs(20),
        );
        assert!(o.status.success(), "status under the flood: {}", out(&o));
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the manager took {:?} to answer under the flood",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for unit in ["notify-flood.service", "log-flood.service"] {
        let o = cairn_integration::run_with_deadline(
            sb.ctl_cmd(&["stop", unit]),
            Duration::from_secs(30),
        );
        assert!(o.status.success(), "stop {unit}: {}", out(&o));
    }
    assert!(sb.is_active("good.service"));
}

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

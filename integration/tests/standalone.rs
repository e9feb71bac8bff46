//! Each helper alone in the foreground against the fake supervisor (`--standalone`): what it
//! would ask or tell the supervisor is printed. No sandbox: these touch nothing but a temporary
//! directory.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_integration::bin;

/// Runs `cmd` until its stdout holds every one of `want` (at most 10 s), then kills it; the
/// output so far.
fn until(mut cmd: Command, want: &[&str], poke: impl Fn()) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let text = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let t = Instant::now();
    let mut poked = false;
    while t.elapsed() < Duration::from_secs(10) {
        let now = text.lock().unwrap().clone();
        if !poked && now.contains("watching") && now.matches("watching").count() >= 2 {
            poke();
            poked = true;
        }
        if want.iter().all(|w| now.contains(w)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let s = text.lock().unwrap().clone();
    s
}

#[test]
fn the_activator_alone_opens_the_sockets_of_a_unit_dir_and_says_what_it_would_report() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().display().to_string();
    std::fs::write(
        d.path().join("echo.socket"),
        format!("[Socket]\nListenStream={p}/echo.sock\nAccept=yes\n"),
    )
    .unwrap();
    std::fs::write(
        d.path().join("log.socket"),
        format!("[Socket]\nListenDatagram={p}/log.sock\n"),
    )
    .unwrap();
    let mut cmd = Command::new(bin("cairn-activator"));
    cmd.arg("--standalone").arg(d.path());
    let dir = d.path().to_path_buf();
    let out = until(
        cmd,
        &[
            "echo.socket accepted a connection",
            "log.socket has traffic",
        ],
        move || {
            let _ = std::os::unix::net::UnixStream::connect(dir.join("echo.sock"));
            let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
            let _ = s.send_to(b"x", dir.join("log.sock"));
        },
    );
    assert!(
        out.contains("→ supervisor: register cairn-activator"),
        "{out}"
    );
    assert!(out.contains("echo.socket: watching (Accept=yes)"), "{out}");
    assert!(out.contains("log.socket: watching (Accept=no)"), "{out}");
    assert!(
        out.contains("→ supervisor: echo.socket accepted a connection"),
        "{out}"
    );
    assert!(
        out.contains("→ supervisor: log.socket has traffic: start its service"),
        "{out}"
    );
}

#[test]
fn the_mounter_alone_reads_an_fstab_as_the_supervisor_would_get_it() {
    let d = tempfile::tempdir().unwrap();
    let fstab = d.path().join("fstab");
    std::fs::write(&fstab, "tmpfs /mnt/x tmpfs size=1m 0 0\ngarbage\n").unwrap();
    let mut cmd = Command::new(bin("cairn-mounter"));
    cmd.arg("--standalone").arg(&fstab);
    let out = until(
        cmd,
        &["fstab:1: tmpfs on /mnt/x", "missing mount point"],
        || {},
    );
    assert!(out.contains("→ supervisor: attach the mounter"), "{out}");
    assert!(out.contains("→ supervisor: the mount table: "), "{out}");
    assert!(
        out.contains(&format!("{}:2: missing mount point", fstab.display())),
        "{out}"
    );
    assert!(
        out.contains("tmpfs on /mnt/x type tmpfs (size=1m)"),
        "{out}"
    );
}

//! A socket whose service is refused by its start limit stops listening, failed with
//! `service-start-limit-hit`, as systemd's does: the traffic is not handed to nobody again and
//! again.

use std::io::Write;

use cairn_integration::{out, wait, Sandbox};

/// e.socket listening for e.service, which always fails and may start `burst` times a minute.
fn listening(burst: u32) -> Sandbox {
    let mut sb = Sandbox::builder()
        .unit("default.target", "[Unit]\nWants=e.socket\n")
        .unit("e.socket", "[Socket]\nListenStream=@DIR@/e.sock\n")
        .unit(
            "e.service",
            &format!(
                "[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst={burst}\n[Service]\nExecStart=/bin/false\n"
            ),
        )
        .start()
        .unwrap();
    wait(&mut sb, "e.socket listening", 20, |sb| {
        Ok(sb.active_state("e.socket") == "active")
    });
    sb
}

#[test]
fn a_service_over_its_start_limit_fails_its_socket() {
    let mut sb = listening(2);
    // One connection, never served: each failed start leaves it queued, so the socket triggers
    // again until the service's start limit refuses it.
    let mut c = std::os::unix::net::UnixStream::connect(sb.dir().join("e.sock")).unwrap();
    c.write_all(b"hello\n").unwrap();
    wait(&mut sb, "e.socket failed", 20, |sb| {
        Ok(sb.active_state("e.socket") == "failed")
    });
    assert_eq!(sb.property("e.socket", "Result"), "service-start-limit-hit");
    assert_eq!(sb.property("e.service", "Result"), "start-limit-hit");
    assert!(sb
        .log_text()
        .contains("e.socket: the service it triggers hit its start limit"));
    // No socket file left listening for nobody; the starts stopped at the limit.
    assert!(
        !sb.log_text().contains("trigger limit hit"),
        "{}",
        sb.log_text()
    );
    // Once the service is forgiven, the socket can listen again.
    let o = sb.ctl(&["reset-failed", "e.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let o = sb.ctl(&["start", "e.socket"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(sb.active_state("e.socket"), "active");
}

/// The start limit is the service's answer to a start: a socket whose service cannot even be
/// queued (masked, after it once hit its limit) goes back to listening, as before — it does
/// not fail on that old result.
#[test]
fn an_old_start_limit_result_does_not_fail_the_socket_again() {
    let mut sb = listening(1);
    let c = std::os::unix::net::UnixStream::connect(sb.dir().join("e.sock")).unwrap();
    wait(&mut sb, "e.socket failed", 20, |sb| {
        Ok(sb.active_state("e.socket") == "failed")
    });
    drop(c);
    assert_eq!(sb.property("e.service", "Result"), "start-limit-hit");
    // Masked: no job can be queued for it any more.
    std::os::unix::fs::symlink("/dev/null", sb.units.join("e.service.tmp")).unwrap();
    std::fs::rename(sb.units.join("e.service.tmp"), sb.units.join("e.service")).unwrap();
    let o = sb.ctl(&["daemon-reload"]);
    assert!(o.status.success(), "{}", out(&o));
    let o = sb.ctl(&["start", "e.socket"]);
    assert!(o.status.success(), "{}", out(&o));
    let mut c = std::os::unix::net::UnixStream::connect(sb.dir().join("e.sock")).unwrap();
    c.write_all(b"hello\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sb.active_state("e.socket"), "active");
    assert_ne!(sb.property("e.socket", "Result"), "service-start-limit-hit");
}

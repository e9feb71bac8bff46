//! A socket whose service is refused by its start limit stops listening, failed with
//! `service-start-limit-hit`, as systemd's does: the traffic is not handed to nobody again and
//! again.

use std::io::Write;

use cairn_integration::{out, wait, Sandbox};

#[test]
fn a_service_over_its_start_limit_fails_its_socket() {
    let mut sb = Sandbox::builder()
        .unit("default.target", "[Unit]\nWants=e.socket\n")
        .unit("e.socket", "[Socket]\nListenStream=@DIR@/e.sock\n")
        .unit(
            "e.service",
            "[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=2\n[Service]\nExecStart=/bin/false\n",
        )
        .start()
        .unwrap();
    wait(&mut sb, "e.socket listening", 20, |sb| {
        Ok(sb.active_state("e.socket") == "active")
    });
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

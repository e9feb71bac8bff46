//! A client of the control socket cannot make the supervisor hold more than a bounded amount
//! for it: calls in flight per connection, connections per unprivileged user. The client that
//! pushes past a bound is refused; the manager and everyone else go on.

use std::os::fd::IntoRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_integration::Sandbox;

mod common;

const IN_FLIGHT: usize = 64;
const PER_USER: usize = 32;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 100 `start --wait` calls on one connection for a unit that takes 3 s: 64 wait for the job,
/// the other 36 are refused at once; another client is answered meanwhile; once the job is
/// done, every waiting call hears "done" and the connection may ask again.
#[test]
fn calls_in_flight_on_one_connection_are_bounded() {
    let sb = Sandbox::builder()
        .unit(
            "slow.service",
            "[Service]\nType=oneshot\nExecStart=/bin/sleep 3\n",
        )
        .start()
        .unwrap();
    let sb = &sb;
    common::with_control(&sb.socket(), |ctl, _| async move {
        let manager = ctl
            .manager_request()
            .send()
            .promise
            .await
            .unwrap()
            .get()
            .unwrap()
            .get_manager()
            .unwrap();
        let calls: Vec<_> = (0..100)
            .map(|_| {
                let mut req = manager.enqueue_request();
                req.get().set_name("slow.service");
                req.get().set_type("start");
                req.get().set_wait(true);
                tokio::task::spawn_local(req.send().promise)
            })
            .collect();
        // The refusals come back at once, while the job still runs.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let finished: Vec<bool> = calls.iter().map(|c| c.is_finished()).collect();
        assert_eq!(
            finished.iter().filter(|f| **f).count(),
            100 - IN_FLIGHT,
            "only the calls over the bound are answered before the job ends"
        );
        // Everyone else is answered meanwhile.
        let out = sb.ctl(&["show", "slow.service"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut done = 0;
        let mut refused = 0;
        for c in calls {
            match c.await.unwrap() {
                Ok(reply) => {
                    assert_eq!(
                        reply.get().unwrap().get_result().unwrap().to_str().unwrap(),
                        "done"
                    );
                    done += 1;
                }
                Err(e) => {
                    let e = e.to_string();
                    assert!(
                        e.contains("too many calls in flight on this connection (64)"),
                        "{e}"
                    );
                    refused += 1;
                }
            }
        }
        assert_eq!((done, refused), (IN_FLIGHT, 100 - IN_FLIGHT));
        // Answered calls give their places back.
        let again = ctl.whoami_request().send().promise.await;
        assert!(again.is_ok(), "the connection may ask again");
    });
}

/// A process of uid 65534 holds 40 connections: 32 are served, the rest closed; cairnctl as
/// that uid is refused while root's works; once the holder exits, the uid may connect again.
#[test]
fn an_unprivileged_user_holds_a_bounded_number_of_connections() {
    let mut sb = Sandbox::start().unwrap();
    let socket = sb.socket();
    let addr = nix::sys::socket::UnixAddr::new(&socket).unwrap();
    let mut holder = Command::new("/bin/sleep");
    holder
        .arg("1000")
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null());
    // SAFETY: between fork and exec the closure only makes sockets and connects them (no
    // allocation: the address was built before the fork).
    unsafe {
        holder.pre_exec(move || {
            for _ in 0..40 {
                let s = nix::sys::socket::socket(
                    nix::sys::socket::AddressFamily::Unix,
                    nix::sys::socket::SockType::Stream,
                    nix::sys::socket::SockFlag::empty(),
                    None,
                )?;
                nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&s), &addr)?;
                // Kept across exec: sleep holds them.
                let _ = s.into_raw_fd();
            }
            Ok(())
        });
    }
    /// Killed however the test ends.
    struct Holder(std::process::Child);
    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let holder = Holder(holder.spawn().unwrap());
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.log_text().contains(&format!(
            "control socket: uid 65534 holds {PER_USER} connections; refusing more"
        )))
    })
    .unwrap();
    let out = sb.ctl_as(65534, &["list-units"]);
    assert!(
        !out.status.success(),
        "a 33rd connection of uid 65534 is refused"
    );
    let out = sb.ctl(&["list-units"]);
    assert!(
        out.status.success(),
        "root is not counted: {}",
        stderr(&out)
    );
    drop(holder);
    sb.wait_until(Duration::from_secs(10), |sb| {
        Ok(sb.ctl_as(65534, &["list-units"]).status.success())
    })
    .unwrap();
}

//! Socket activation in the sandbox: the activator makes the sockets, the supervisor keeps
//! them, services get them by the LISTEN_FDS protocol, and nothing queued is ever lost — not
//! when the service crashes, not when the activator or the supervisor is SIGKILLed.
//!
//! The service is `cairn-test-sockd` (integration/src/bin): it records what it was handed and
//! echoes lines. Clients run in the test process, outside the sandbox's PID namespace.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_integration::{bin, out, wait, Sandbox};

fn sockd() -> String {
    bin("cairn-test-sockd").display().to_string()
}

/// A sandbox whose default target pulls in `sockets` (socket units, started at boot).
fn start(units: &[(&str, String)], sockets: &[&str]) -> Sandbox {
    let mut b = Sandbox::builder().unit("default.target", "[Unit]\nWants=sockets.target\n");
    for (n, t) in units {
        b = b.unit(n, t);
    }
    for s in sockets {
        b = b.link(&format!("sockets.target.wants/{s}"), &format!("../{s}"));
    }
    let mut sb = b.start().unwrap();
    for s in sockets {
        wait(&mut sb, &format!("{s} listening"), 20, |sb| {
            Ok(sb.active_state(s) == "active")
        });
    }
    sb
}

fn dir(sb: &Sandbox) -> PathBuf {
    sb.dir().to_path_buf()
}

/// Sends a line, returns the answer line ("" when the connection closed without one).
fn ask(path: &Path, line: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(s, "{line}")?;
    let mut answer = String::new();
    BufReader::new(&s).read_line(&mut answer)?;
    Ok(answer.trim_end().to_string())
}

fn ask_tcp(port: u16, line: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(s, "{line}")?;
    let mut answer = String::new();
    BufReader::new(&s).read_line(&mut answer)?;
    Ok(answer.trim_end().to_string())
}

/// The `.env` lines the daemon's instances wrote: one map per instance.
fn instances(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn list_sockets(sb: &Sandbox) -> Vec<serde_json::Value> {
    let o = sb.ctl(&["list-sockets", "--output", "json"]);
    assert!(o.status.success(), "{}", out(&o));
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// SIGKILLs the activator again and again (as soon as a new one runs, a few ms later) until
/// `stop` is set; returns how many times.
fn kill_activator_repeatedly(sb: &Sandbox, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u32> {
    let cgroup = sb.cgroup.clone();
    std::thread::spawn(move || {
        let mut kills = 0;
        let mut last = None;
        while !stop.load(Ordering::SeqCst) {
            let procs =
                std::fs::read_to_string(cgroup.join("init.scope/cgroup.procs")).unwrap_or_default();
            let pid = procs
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .find(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/comm"))
                        .is_ok_and(|c| c.trim() == "cairn-activator")
                });
            if let Some(p) = pid {
                if last != Some(p) {
                    std::thread::sleep(Duration::from_millis(5));
                    // SAFETY: kill(2) with a pid and a signal; no memory is involved.
                    if unsafe { libc::kill(p, libc::SIGKILL) } == 0 {
                        kills += 1;
                    }
                    last = Some(p);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        kills
    })
}

#[test]
fn accept_no_hands_every_socket_over_by_the_listen_fds_protocol() {
    let port = free_port();
    let socket = format!(
        "[Socket]\nListenStream=@DIR@/s.sock\nListenDatagram=@DIR@/d.sock\nListenFIFO=@DIR@/f.fifo\n\
         ListenStream=127.0.0.1:{port}\nFileDescriptorName=echo\n"
    );
    let service = format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd());
    let sb = start(
        &[("echo.socket", socket), ("echo.service", service)],
        &["echo.socket"],
    );
    let d = dir(&sb);
    // Nothing runs before traffic: the socket waits alone.
    assert_eq!(sb.active_state("echo.service"), "inactive");
    let show = out(&sb.ctl(&["show", "echo.socket"]));
    assert!(
        show.contains(&format!("Listen=127.0.0.1:{port} (Stream)")),
        "{show}"
    );
    assert!(show.contains("f.fifo (FIFO)"), "{show}");
    // A datagram sent now waits in the kernel for the daemon this traffic starts.
    UnixDatagram::unbound()
        .unwrap()
        .send_to(b"early datagram", d.join("d.sock"))
        .unwrap();
    assert_eq!(ask(&d.join("s.sock"), "hello").unwrap(), "echo hello");
    assert_eq!(ask_tcp(port, "over tcp").unwrap(), "echo over tcp");
    std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("f.fifo"))
        .unwrap()
        .write_all(b"through the fifo\n")
        .unwrap();
    let inst = instances(&d.join("out.env"));
    assert_eq!(inst.len(), 1, "{inst:?}");
    let i = &inst[0];
    assert_eq!(
        i["pid_ok"], "true",
        "LISTEN_PID is the daemon's own pid: {i:?}"
    );
    assert_eq!(i["fds"], "4");
    assert_eq!(i["names"], "echo:echo:echo:echo");
    // In Listen*= order, open and without FD_CLOEXEC.
    assert_eq!(i["types"], "stream,dgram,file,stream");
    wait(&mut { sb }, "the datagram and the fifo line", 10, |sb| {
        let got = std::fs::read_to_string(sb.dir().join("out")).unwrap_or_default();
        Ok(got.contains("early datagram") && got.contains("through the fifo"))
    });
}

#[test]
fn list_sockets_and_status_show_what_listens() {
    let socket = "[Socket]\nListenStream=@DIR@/a.sock\nListenDatagram=@DIR@/b.sock\n".to_string();
    let service = format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd());
    let sb = start(
        &[("a.socket", socket), ("a.service", service)],
        &["a.socket"],
    );
    let rows = list_sockets(&sb);
    let a: Vec<_> = rows.iter().filter(|r| r["unit"] == "a.socket").collect();
    assert_eq!(a.len(), 2, "{rows:?}");
    assert_eq!(a[0]["listen"], format!("{}/a.sock", sb.dir().display()));
    assert_eq!(a[0]["type"], "ListenStream");
    assert_eq!(a[1]["type"], "ListenDatagram");
    assert_eq!(a[0]["activates"], "a.service");
    assert_eq!(a[0]["state"], "listening");
    ask(&sb.dir().join("a.sock"), "x").unwrap();
    let rows = list_sockets(&sb);
    let a = rows.iter().find(|r| r["unit"] == "a.socket").unwrap();
    assert_eq!(a["state"], "running");
    assert_eq!(a["triggers"], 1);
    let status = out(&sb.ctl(&["status", "a.socket"]));
    assert!(status.contains("active (running)"), "{status}");
    assert!(status.contains("a.sock (ListenStream)"), "{status}");
    let text = out(&sb.ctl(&["list-sockets"]));
    assert!(text.contains("2 sockets listed"), "{text}");
    assert_eq!(sb.property("a.service", "TriggeredBy"), "a.socket");
    assert_eq!(sb.property("a.socket", "Triggers"), "a.service");
}

#[test]
fn the_next_instance_gets_what_queued_while_none_ran() {
    let socket = "[Socket]\nListenDatagram=@DIR@/d.sock\n".to_string();
    let service = format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd());
    let mut sb = start(
        &[("q.socket", socket), ("q.service", service)],
        &["q.socket"],
    );
    let d = dir(&sb);
    let tx = UnixDatagram::unbound().unwrap();
    tx.send_to(b"one", d.join("d.sock")).unwrap();
    wait(&mut sb, "q.service started by traffic", 10, |sb| {
        Ok(sb.is_active("q.service"))
    });
    let o = sb.ctl(&["stop", "q.service"]);
    assert!(o.status.success(), "{}", out(&o));
    // The socket watches again; these wait in the kernel until the next instance reads them.
    for i in 0..50 {
        tx.send_to(format!("queued {i}").as_bytes(), d.join("d.sock"))
            .unwrap();
    }
    wait(&mut sb, "all 51 datagrams read", 20, |sb| {
        let got = std::fs::read_to_string(sb.dir().join("out")).unwrap_or_default();
        Ok(got.lines().count() == 51)
    });
    assert_eq!(instances(&d.join("out.env")).len(), 2);
    // Started directly, a service still gets its sockets, and the socket stops watching.
    sb.ctl(&["stop", "q.service"]);
    let o = sb.ctl(&["start", "q.service"]);
    assert!(o.status.success(), "{}", out(&o));
    // Started (Type=simple: once spawned); the daemon writes its line a moment later.
    wait(&mut sb, "the third instance's line", 10, |_| {
        Ok(instances(&d.join("out.env")).len() == 3)
    });
    let inst = instances(&d.join("out.env"));
    assert_eq!(inst.len(), 3);
    assert_eq!(inst[2]["fds"], "1");
    assert_eq!(
        inst[2]["names"], "q.socket",
        "FileDescriptorName= defaults to the unit"
    );
    assert_eq!(sb.property("q.socket", "SubState"), "running");
}

/// The seed's promise: a syslog-like server and 20 clients started at the same instant; every
/// client's message arrives, and none waited for the server to be ready.
#[test]
fn twenty_clients_at_once_none_waits_for_a_slow_server() {
    let socket = "[Socket]\nListenStream=@DIR@/log.sock\n".to_string();
    let service = format!(
        "[Service]\nEnvironment=SOCKD_DELAY_MS=1500\nExecStart={} serve @DIR@/out\n",
        sockd()
    );
    let sb = start(
        &[("log.socket", socket), ("log.service", service)],
        &["log.socket"],
    );
    let path = sb.dir().join("log.sock");
    let barrier = Arc::new(std::sync::Barrier::new(20));
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut s = UnixStream::connect(&path).unwrap();
                writeln!(s, "client {i}").unwrap();
                // The message is in the kernel's hands: this client is done waiting.
                let sent = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut answer = String::new();
                BufReader::new(&s).read_line(&mut answer).unwrap();
                (sent, answer.trim_end().to_string())
            })
        })
        .collect();
    let results: Vec<(u128, String)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let inst = instances(&sb.dir().join("out.env"));
    assert_eq!(inst.len(), 1);
    let ready: u128 = inst[0]["ready_usec"].parse().unwrap();
    for (i, (sent, answer)) in results.iter().enumerate() {
        assert_eq!(answer, &format!("echo client {i}"));
        assert!(
            *sent < ready,
            "client {i} finished sending {} ms before the server was ready",
            (ready - sent) / 1000
        );
    }
}

/// A server that crashes after every 10th request while clients keep sending: no request is
/// lost, no client sees a refused connection.
#[test]
fn a_server_crashing_every_tenth_request_loses_none() {
    let socket = "[Socket]\nListenStream=@DIR@/c.sock\n".to_string();
    let service = format!(
        "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart={} crash @DIR@/out 10\n",
        sockd()
    );
    let sb = start(
        &[("c.socket", socket), ("c.service", service)],
        &["c.socket"],
    );
    let path = sb.dir().join("c.sock");
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let line = format!("c{c} r{i}");
                    let answer = ask(&path, &line).unwrap_or_else(|e| panic!("{line}: {e}"));
                    assert_eq!(answer, format!("echo {line}"));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let n = instances(&sb.dir().join("out.env")).len();
    assert!(
        n >= 10,
        "100 requests at 10 per instance take 10 instances, saw {n}"
    );
}

/// SIGKILL the activator again and again while 10,000 connections go to an Accept=no socket
/// whose server exits every 500 requests (so that the activator must trigger it again and
/// again): every connection is served, and the socket is never bound again.
#[test]
fn killing_the_activator_loses_no_connection() {
    let socket = "[Socket]\nListenStream=@DIR@/k.sock\n".to_string();
    let service = format!(
        "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart={} crash @DIR@/out 500\n",
        sockd()
    );
    let sb = start(
        &[("k.socket", socket), ("k.service", service)],
        &["k.socket"],
    );
    let path = sb.dir().join("k.sock");
    let inode = std::fs::metadata(&path).unwrap().ino();
    let stop = Arc::new(AtomicBool::new(false));
    let killer = kill_activator_repeatedly(&sb, stop.clone());
    let started = Instant::now();
    for i in 0..10_000 {
        let line = format!("r{i}");
        let answer = ask(&path, &line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(answer, format!("echo {line}"));
    }
    stop.store(true, Ordering::SeqCst);
    let kills = killer.join().unwrap();
    eprintln!(
        "10,000 connections in {:?} with the activator SIGKILLed {kills} times",
        started.elapsed()
    );
    assert!(kills >= 5, "the activator was killed only {kills} times");
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "never re-bound"
    );
    assert!(instances(&sb.dir().join("out.env")).len() >= 20);
    let a = sb.component("activator").unwrap();
    assert!(a.restarts >= u64::from(kills.min(5)), "{a:?}");
}

#[test]
fn accept_yes_starts_one_instance_per_connection() {
    let port = free_port();
    let socket =
        format!("[Socket]\nListenStream=127.0.0.1:{port}\nListenStream=@DIR@/i.sock\nAccept=yes\n");
    let service = format!(
        "[Service]\nExecStart={} inetd @DIR@/out\nStandardInput=socket\n",
        sockd()
    );
    let mut sb = start(
        &[("inetd.socket", socket), ("inetd@.service", service)],
        &["inetd.socket"],
    );
    let d = dir(&sb);
    // systemd's instance names: N-LOCAL-REMOTE for inet (N-PID-UID, or N-unknown from another
    // PID namespace, for AF_UNIX). Held open, the instance stays to be seen.
    let mut held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let me = held.local_addr().unwrap().port();
    let name = format!("inetd@0-127.0.0.1:{port}-127.0.0.1:{me}.service");
    wait(&mut sb, &name, 10, |sb| Ok(sb.is_active(&name)));
    writeln!(held, "first").unwrap();
    let mut answer = String::new();
    BufReader::new(&held).read_line(&mut answer).unwrap();
    assert_eq!(answer, "inetd first\n");
    assert_eq!(ask(&d.join("i.sock"), "second").unwrap(), "inetd second");
    let inst = instances(&d.join("out.env"));
    assert_eq!(inst.len(), 2);
    assert_eq!(inst[0]["stdin"], "stream", "the connection is stdin");
    assert_eq!(inst[0]["fds"], "0");
    let rows = list_sockets(&sb);
    let r = rows.iter().find(|r| r["unit"] == "inetd.socket").unwrap();
    assert_eq!(r["activates"], "inetd@.service");
    assert_eq!(r["triggers"], 2);
}

#[test]
fn accept_yes_without_standard_input_socket_passes_the_connection_as_fd_3() {
    let socket = "[Socket]\nListenStream=@DIR@/c.sock\nAccept=yes\n".to_string();
    let service = format!("[Service]\nExecStart={} conn @DIR@/out\n", sockd());
    let sb = start(
        &[("c.socket", socket), ("c@.service", service)],
        &["c.socket"],
    );
    assert_eq!(ask(&sb.dir().join("c.sock"), "hi").unwrap(), "conn hi");
    let inst = instances(&sb.dir().join("out.env"));
    assert_eq!(inst[0]["fds"], "1");
    assert_eq!(inst[0]["names"], "connection");
    assert_eq!(inst[0]["types"], "stream");
}

#[test]
fn max_connections_refuses_with_a_logged_reason() {
    let socket = "[Socket]\nListenStream=@DIR@/m.sock\nAccept=yes\nMaxConnections=2\n".to_string();
    let service = format!(
        "[Service]\nExecStart={} inetd @DIR@/out\nStandardInput=socket\n",
        sockd()
    );
    let mut sb = start(
        &[("m.socket", socket), ("m@.service", service)],
        &["m.socket"],
    );
    let path = sb.dir().join("m.sock");
    // Two connections that say nothing keep two instances busy.
    let held: Vec<UnixStream> = (0..2)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    wait(&mut sb, "two instances running", 10, |sb| {
        Ok(instances(&sb.dir().join("out.env")).len() == 2)
    });
    // The third is closed without an instance.
    let third = ask(&path, "third").unwrap_or_default();
    assert_eq!(third, "");
    assert!(
        sb.log_text().contains("MaxConnections=2"),
        "{}",
        sb.log_text()
    );
    drop(held);
    // Once they are done, connections are served again.
    wait(&mut sb, "a connection served again", 10, |_| {
        Ok(ask(&path, "fourth").unwrap_or_default() == "inetd fourth")
    });
}

/// Under activator kills, nothing in the listen queue of an Accept=yes socket is lost; a
/// connection the activator had accepted but not yet handed over dies with it (counted).
#[test]
fn accept_yes_under_activator_kills_loses_only_what_was_in_its_hands() {
    let socket =
        "[Socket]\nListenStream=@DIR@/y.sock\nAccept=yes\nMaxConnections=200\n".to_string();
    let service = format!(
        "[Service]\nExecStart={} inetd @DIR@/out\nStandardInput=socket\n",
        sockd()
    );
    let sb = start(
        &[("y.socket", socket), ("y@.service", service)],
        &["y.socket"],
    );
    let path = sb.dir().join("y.sock");
    let stop = Arc::new(AtomicBool::new(false));
    let killer = kill_activator_repeatedly(&sb, stop.clone());
    let (mut served, mut died) = (0, 0);
    for i in 0..150 {
        match ask(&path, &format!("r{i}")) {
            Ok(a) if a == format!("inetd r{i}") => served += 1,
            Ok(_) => died += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                panic!("connection {i} refused: the socket was closed")
            }
            Err(_) => died += 1,
        }
    }
    stop.store(true, Ordering::SeqCst);
    let kills = killer.join().unwrap();
    eprintln!("Accept=yes: {served} served, {died} died in the activator's hands, {kills} kills");
    assert_eq!(served + died, 150);
    assert!(served >= 100, "{served} served, {died} died");
}

#[test]
fn a_trigger_storm_pauses_the_socket_and_it_resumes_by_itself() {
    // A service that never reads: each start leaves the datagram queued and ends at once.
    let socket =
        "[Socket]\nListenDatagram=@DIR@/t.sock\nTriggerLimitIntervalSec=2s\nTriggerLimitBurst=3\n"
            .to_string();
    let service = "[Service]\nExecStart=/bin/true\nStartLimitBurst=100\n".to_string();
    let mut sb = start(
        &[("t.socket", socket), ("t.service", service)],
        &["t.socket"],
    );
    UnixDatagram::unbound()
        .unwrap()
        .send_to(b"never read", sb.dir().join("t.sock"))
        .unwrap();
    wait(&mut sb, "the socket paused", 10, |sb| {
        Ok(sb.property("t.socket", "Paused") == "yes")
    });
    // Never latched as failed (systemd 252 would fail it): still active, and it says why.
    assert_eq!(sb.active_state("t.socket"), "active");
    let status = out(&sb.ctl(&["status", "t.socket"]));
    assert!(status.contains("paused by the trigger limit"), "{status}");
    assert!(sb.log_text().contains("trigger limit hit"));
    wait(&mut sb, "the socket watching again", 15, |sb| {
        Ok(sb.log_text().contains("watching again"))
    });
}

#[test]
fn a_socket_that_cannot_be_made_fails_alone_with_the_path_named() {
    // A regular file (a unit file) where the socket should go.
    let blocker = "[Socket]\nListenStream=@DIR@/units/good.service\n".to_string();
    let good = "[Socket]\nListenStream=@DIR@/good.sock\n".to_string();
    let empty = "[Socket]\nAccept=yes\n".to_string();
    let bad_addr =
        "[Socket]\nListenStream=not an address\nListenStream=@DIR@/ok2.sock\n".to_string();
    let service = format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd());
    let mut b = Sandbox::builder().unit(
        "default.target",
        "[Unit]\nWants=blocked.socket good.socket empty.socket badaddr.socket\n",
    );
    for (n, t) in [
        ("blocked.socket", &blocker),
        ("good.socket", &good),
        ("good.service", &service),
        ("empty.socket", &empty),
        ("badaddr.socket", &bad_addr),
    ] {
        b = b.unit(n, t);
    }
    let mut sb = b.start().unwrap();
    wait(&mut sb, "good.socket listening", 10, |sb| {
        Ok(sb.is_active("good.socket"))
    });
    wait(&mut sb, "blocked.socket failed", 10, |sb| {
        Ok(sb.active_state("blocked.socket") == "failed")
    });
    let o = sb.ctl(&["start", "blocked.socket"]);
    assert!(!o.status.success());
    let status = out(&sb.ctl(&["status", "blocked.socket"]));
    assert!(
        status.contains("units/good.service"),
        "the path is named: {status}"
    );
    assert!(status.contains("regular file"), "{status}");
    let status = out(&sb.ctl(&["status", "empty.socket"]));
    assert!(status.contains("bad-setting"), "{status}");
    assert!(status.contains("no Listen"), "{status}");
    let status = out(&sb.ctl(&["status", "badaddr.socket"]));
    assert!(
        status.contains("badaddr.socket:2"),
        "file:line of the bad value: {status}"
    );
    assert!(
        sb.is_active("badaddr.socket"),
        "the good line still listens"
    );
    assert_eq!(
        ask(&sb.dir().join("good.sock"), "still").unwrap(),
        "echo still"
    );
}

#[test]
fn socket_files_get_their_mode_and_go_with_remove_on_stop() {
    let socket =
        "[Socket]\nListenStream=@DIR@/sub/dir/r.sock\nSocketMode=0600\nDirectoryMode=0700\n\
                  RemoveOnStop=yes\nSymlinks=@DIR@/r-link\n"
            .to_string();
    let service = format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd());
    let sb = start(
        &[("r.socket", socket), ("r.service", service)],
        &["r.socket"],
    );
    let d = dir(&sb);
    let sock = d.join("sub/dir/r.sock");
    let md = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o600);
    assert_eq!(
        std::fs::metadata(d.join("sub"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o700
    );
    assert_eq!(std::fs::read_link(d.join("r-link")).unwrap(), sock);
    assert_eq!(ask(&d.join("r-link"), "via link").unwrap(), "echo via link");
    let o = sb.ctl(&["stop", "r.socket"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(!sock.exists() && std::fs::symlink_metadata(d.join("r-link")).is_err());
}

#[test]
fn a_socket_runs_its_commands_around_the_sockets() {
    let socket = "[Socket]\nListenStream=@DIR@/x.sock\n\
                  ExecStartPre=/bin/sh -c 'echo pre; test -S @DIR@/x.sock || echo no-socket-yet' \n\
                  ExecStartPost=/bin/sh -c 'test -S @DIR@/x.sock && echo post-sees-socket'\n\
                  ExecStopPre=/bin/sh -c 'echo stop-pre'\nExecStopPost=/bin/sh -c 'echo stop-post'\n\
                  StandardOutput=append:@DIR@/order\n"
        .to_string();
    let service = format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd());
    let sb = start(
        &[("x.socket", socket), ("x.service", service)],
        &["x.socket"],
    );
    let o = sb.ctl(&["stop", "x.socket"]);
    assert!(o.status.success(), "{}", out(&o));
    let order = std::fs::read_to_string(sb.dir().join("order")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        [
            "pre",
            "no-socket-yet",
            "post-sees-socket",
            "stop-pre",
            "stop-post"
        ]
    );
}

#[test]
fn the_sockets_survive_a_supervisor_crash_and_are_not_bound_again() {
    let socket = "[Socket]\nListenStream=@DIR@/s.sock\n".to_string();
    let service = format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd());
    let mut sb = start(
        &[("s.socket", socket), ("s.service", service)],
        &["s.socket"],
    );
    let path = sb.dir().join("s.sock");
    let inode = std::fs::metadata(&path).unwrap().ino();
    let sup = sb.component("supervisor").unwrap();
    sb.kill(sup.pid, "KILL").unwrap();
    // Connect while no supervisor runs: the kernel queues it on the socket pid1 keeps.
    let asked = std::thread::spawn(move || ask(&path, "during the gap"));
    wait(&mut sb, "a new supervisor", 20, |sb| {
        Ok(sb.component("supervisor")?.restarts == 1)
    });
    assert_eq!(asked.join().unwrap().unwrap(), "echo during the gap");
    assert_eq!(
        std::fs::metadata(sb.dir().join("s.sock")).unwrap().ino(),
        inode
    );
    assert_eq!(
        sb.log_text().matches("s.socket: 1 sockets made").count(),
        1,
        "made once, at boot"
    );
}

#[test]
fn sockets_eq_gives_a_service_another_units_sockets() {
    let socket =
        "[Socket]\nListenStream=@DIR@/shared.sock\nFileDescriptorName=shared\nService=user.service\n"
            .to_string();
    let service = format!(
        "[Unit]\nDescription=uses another socket\n[Service]\nSockets=shared.socket\nExecStart={} serve @DIR@/out\n",
        sockd()
    );
    let sb = start(&[("shared.socket", socket), ("user.service", service)], &[]);
    let o = sb.ctl(&["start", "user.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        sb.is_active("shared.socket"),
        "Sockets= pulls the socket in"
    );
    let inst = instances(&sb.dir().join("out.env"));
    assert_eq!(inst[0]["names"], "shared");
    assert_eq!(ask(&sb.dir().join("shared.sock"), "s").unwrap(), "echo s");
}

/// Every kind of Listen*= and the socket options travel from the unit file through the
/// supervisor and the activator to the socket the service gets (read back with getsockopt by
/// the service itself).
#[test]
fn every_listen_kind_and_option_reaches_the_service() {
    let port = free_port();
    let abstract_name = format!("cairn-test-{}-{port}", std::process::id());
    let socket = format!(
        "[Socket]\nListenStream=[::1]:{port}\nListenDatagram=@{abstract_name}\n\
         ListenSequentialPacket=@DIR@/seq.sock\nListenNetlink=route 0\nListenSpecial=@DIR@/special\n\
         ListenFIFO=@DIR@/p.fifo\nBindIPv6Only=ipv6-only\nKeepAlive=yes\nKeepAliveTimeSec=77\n\
         NoDelay=yes\nReusePort=yes\nPriority=5\nMark=7\nIPTTL=33\nReceiveBuffer=256K\n\
         SendBuffer=128K\nPassCredentials=yes\nBroadcast=no\nPipeSize=128K\nBacklog=17\n"
    );
    let service = format!(
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={} probe @DIR@/out\n",
        sockd()
    );
    let mut b = Sandbox::builder().unit("default.target", "[Unit]\n");
    b = b
        .unit("probe.socket", &socket)
        .unit("probe.service", &service);
    let sb = b.start().unwrap();
    std::fs::write(
        sb.dir().join("special"),
        "a regular file is special enough\n",
    )
    .unwrap();
    let o = sb.ctl(&["start", "probe.socket"]);
    assert!(o.status.success(), "{}\n{}", out(&o), sb.log_text());
    let o = sb.ctl(&["start", "probe.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let lines: Vec<String> = std::fs::read_to_string(sb.dir().join("out.probe"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let field = |l: &str, k: &str| -> String {
        l.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or("?")
            .to_string()
    };
    // [::1]:port, stream, every option.
    let s = &lines[0];
    assert_eq!(field(s, "family"), libc::AF_INET6.to_string(), "{s}");
    assert_eq!(field(s, "acceptconn"), "1");
    assert_eq!(field(s, "keepalive"), "1");
    assert_eq!(field(s, "keepidle"), "77");
    assert_eq!(field(s, "nodelay"), "1");
    assert_eq!(field(s, "v6only"), "1");
    assert_eq!(field(s, "reuseport"), "1");
    assert_eq!(field(s, "priority"), "5");
    assert_eq!(field(s, "mark"), "7");
    assert_eq!(field(s, "hops"), "33", "IPTTL= is the hop limit on IPv6");
    // The kernel doubles what SO_RCVBUF/SO_SNDBUF(FORCE) are given.
    assert_eq!(field(s, "rcvbuf"), (2 * 256 * 1024).to_string());
    assert_eq!(field(s, "sndbuf"), (2 * 128 * 1024).to_string());
    // @abstract datagram, seqpacket, netlink, the special file, the FIFO.
    assert_eq!(field(&lines[1], "family"), libc::AF_UNIX.to_string());
    assert_eq!(field(&lines[1], "type"), libc::SOCK_DGRAM.to_string());
    assert_eq!(field(&lines[2], "type"), libc::SOCK_SEQPACKET.to_string());
    assert_eq!(field(&lines[2], "acceptconn"), "1");
    assert_eq!(
        field(&lines[2], "passcred"),
        "1",
        "PassCredentials= on AF_UNIX"
    );
    assert_eq!(field(&lines[3], "family"), libc::AF_NETLINK.to_string());
    assert_eq!(field(&lines[4], "kind"), "file");
    assert_eq!(field(&lines[5], "pipe_size"), (128 * 1024).to_string());
    let show = out(&sb.ctl(&["show", "probe.socket"]));
    assert!(
        show.contains(&format!("Listen=@{abstract_name} (Datagram)")),
        "{show}"
    );
    assert!(show.contains("Listen=route 0 (Netlink)"), "{show}");
    assert!(show.contains("Backlog=17"), "{show}");
}

#[test]
fn max_connections_per_source_counts_each_peer() {
    let socket =
        "[Socket]\nListenStream=@DIR@/p.sock\nAccept=yes\nMaxConnectionsPerSource=1\n".to_string();
    let service = format!(
        "[Service]\nExecStart={} inetd @DIR@/out\nStandardInput=socket\n",
        sockd()
    );
    let mut sb = start(
        &[("p.socket", socket), ("p@.service", service)],
        &["p.socket"],
    );
    let path = sb.dir().join("p.sock");
    // One connection that says nothing keeps its instance busy; the same peer (uid 0 on
    // AF_UNIX) may not open a second.
    let held = UnixStream::connect(&path).unwrap();
    wait(&mut sb, "one instance running", 10, |sb| {
        Ok(instances(&sb.dir().join("out.env")).len() == 1)
    });
    assert_eq!(ask(&path, "second").unwrap_or_default(), "");
    assert!(
        sb.log_text().contains("MaxConnectionsPerSource=1"),
        "{}",
        sb.log_text()
    );
    drop(held);
    wait(&mut sb, "served again once the first is gone", 10, |_| {
        Ok(ask(&path, "third").unwrap_or_default() == "inetd third")
    });
}

#[test]
fn standard_input_fd_name_is_that_socket() {
    let socket = "[Socket]\nListenStream=@DIR@/n.sock\nFileDescriptorName=myfd\n".to_string();
    let service = format!(
        "[Service]\nExecStart={} serve @DIR@/out\nStandardInput=fd:myfd\nStandardOutput=journal\n",
        sockd()
    );
    let sb = start(
        &[("n.socket", socket), ("n.service", service)],
        &["n.socket"],
    );
    assert_eq!(ask(&sb.dir().join("n.sock"), "x").unwrap(), "echo x");
    let inst = instances(&sb.dir().join("out.env"));
    assert_eq!(
        inst[0]["stdin"], "stream",
        "stdin is the listening socket named myfd"
    );
    assert_eq!(inst[0]["names"], "myfd");
    // A name none of its sockets has: the start fails, saying so.
    let bad = format!(
        "[Service]\nExecStart={} serve @DIR@/out2\nStandardInput=fd:nosuch\nSockets=n.socket\n",
        sockd()
    );
    std::fs::write(
        sb.units.join("bad.service"),
        bad.replace("@DIR@", &sb.dir().display().to_string()),
    )
    .unwrap();
    assert!(sb.ctl(&["daemon-reload"]).status.success());
    let o = sb.ctl(&["start", "bad.service"]);
    assert!(!o.status.success());
    let status = out(&sb.ctl(&["status", "bad.service"]));
    assert!(status.contains("fd:nosuch"), "{status}");
}

/// Thousands of socket units started at once: every one is bound and watched, none refused.
/// The supervisor's watch calls are read by the activator ahead of their dispatch, with their
/// fds; `make bench` found the activator's link broken at 16,000 (release build) when the
/// bound on such fds was 4,096. In this debug build the activator keeps up at 4,500 even with
/// that bound, so this guards the scale, not that one constant.
#[test]
fn thousands_of_sockets_started_at_once_are_all_watched() {
    const N: usize = 4500;
    let sb = Sandbox::builder().socket_units(N).start().unwrap();
    std::fs::create_dir_all(sb.dir().join("socks")).unwrap();
    let out = sb.ctl(&["start", "socks.target"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bound = std::fs::read_dir(sb.dir().join("socks")).unwrap().count();
    assert_eq!(bound, N);
    let log = sb.log_text();
    assert!(!log.contains("cannot watch its sockets"), "{log}");
    let list = sb.ctl(&["list-sockets"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains(&format!("{N} sockets listed")),
        "{}",
        text.lines().last().unwrap_or("")
    );
}

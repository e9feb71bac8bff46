//! The fault-injection suite (issue 9, "break on purpose"). While load runs — clients
//! connecting to a socket-activated daemon, services cycling through restarts, accesses to an
//! automount, a loop device plugged and unplugged — each component is SIGKILLed in turn and
//! each fail point is made to abort its process; after every fault the invariants are checked:
//!
//! - every connection was answered (the socket is Accept=no: the kernel queues while a
//!   component is down, nothing is in a helper's hands);
//! - every automount access was answered, with the file system;
//! - a loop device plugged and unplugged turns its device unit on and off;
//! - no unit in a wrong state (the socket active, each cycling service running or starting);
//! - no service duplicated or orphaned (at most one process in its cgroup, its main pid
//!   among them);
//! - no zombie in the sandbox;
//! - no fd leaked (pid1's and the supervisor's open fds stable) and pid1's fd store intact.
//!
//! `make test` runs one round; `make fault-soak [ROUNDS=N]` runs N and prints the table
//! (component × fault × rounds × invariants held). Needs root, like the other sandbox tests.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_integration::{bin, out, Sandbox};

/// Services cycling through restarts: 10, or FAULT_SERVICES (`make fault-soak` runs 50).
fn cycling() -> usize {
    std::env::var("FAULT_SERVICES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}

fn sockd() -> String {
    bin("cairn-test-sockd").display().to_string()
}

/// Clients: one line per connection to the Accept=no echo socket, answered `echo LINE`.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(path: std::path::PathBuf) -> Load {
        use std::io::{BufRead, BufReader, Write};
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let (s, a, st) = (sent.clone(), answered.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let n = s.fetch_add(1, Ordering::SeqCst) + 1;
                let ok = (|| -> std::io::Result<bool> {
                    let mut c = std::os::unix::net::UnixStream::connect(&path)?;
                    c.set_read_timeout(Some(Duration::from_secs(30)))?;
                    writeln!(c, "req {n}")?;
                    let mut line = String::new();
                    BufReader::new(&c).read_line(&mut line)?;
                    Ok(line.trim() == format!("echo req {n}"))
                })()
                .unwrap_or(false);
                if ok {
                    a.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Load {
            stop,
            sent,
            answered,
            thread: Some(thread),
        }
    }

    /// Waits (at most 30 s) until every connection made so far was answered.
    fn settled(&self) -> Result<u64, String> {
        let t = Instant::now();
        loop {
            // A connection in flight counts as sent: wait for it.
            let (s, a) = (
                self.sent.load(Ordering::SeqCst),
                self.answered.load(Ordering::SeqCst),
            );
            if a + 1 >= s {
                let later = self.answered.load(Ordering::SeqCst);
                if later + 1 >= self.sent.load(Ordering::SeqCst) {
                    return Ok(later);
                }
            }
            if t.elapsed() > Duration::from_secs(30) {
                return Err(format!("connections: {a} of {s} answered"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.sent.load(Ordering::SeqCst),
            self.answered.load(Ordering::SeqCst),
        )
    }
}

fn inside(sb: &Sandbox, cmd: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg("-t")
        .arg(sb.init_pid().unwrap().to_string())
        .args(["-m", "-p", "--", "/bin/sh", "-c", cmd]);
    c
}

/// One access to the automount, answered with the file system type.
fn access(sb: &Sandbox) -> Result<(), String> {
    let d = sb.dir().display().to_string();
    let o = cairn_integration::run_with_deadline(
        inside(sb, &format!("stat -f -c %T {d}/auto/.")),
        Duration::from_secs(30),
    );
    let said = String::from_utf8_lossy(&o.stdout).trim().to_string();
    if said == "tmpfs" {
        Ok(())
    } else {
        Err(format!("automount access answered {said:?}: {}", out(&o)))
    }
}

/// One line to a stream socket of the sandbox; the line that came back.
fn talk(sb: &Sandbox, sock: &str, line: &str) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Write};
    let mut c = std::os::unix::net::UnixStream::connect(sb.dir().join(sock))
        .map_err(|e| format!("{sock}: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    writeln!(c, "{line}").map_err(|e| e.to_string())?;
    let mut back = String::new();
    BufReader::new(&c)
        .read_line(&mut back)
        .map_err(|e| e.to_string())?;
    Ok(back.trim().to_string())
}

/// A loop device plugged and unplugged: its device unit follows (devmon is back and hears
/// uevents).
fn device_cycle(sb: &Sandbox) -> Result<(), String> {
    let img = sb.dir().join("loop.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(1 << 20))
        .map_err(|e| e.to_string())?;
    let o = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .map_err(|e| e.to_string())?;
    let dev = String::from_utf8_lossy(&o.stdout).trim().to_string();
    if !o.status.success() || dev.is_empty() {
        return Err(format!("losetup: {}", out(&o)));
    }
    let unit = format!("{}.device", dev.trim_start_matches('/').replace('/', "-"));
    let wait = |active: bool| {
        let t = Instant::now();
        while sb.is_active(&unit) != active {
            if t.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    };
    let plugged = wait(true);
    let _ = Command::new("losetup").arg("-d").arg(&dev).status();
    // Another test (they run in parallel) may take the freed device at once: then it is
    // plugged again, with another file, and that is not ours to judge.
    let taken_again = || {
        let name = dev.trim_start_matches("/dev/");
        std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
            .is_ok_and(|f| Path::new(f.trim()) != img)
    };
    let unplugged = wait(false) || taken_again();
    match (plugged, unplugged) {
        (true, true) => Ok(()),
        (false, _) => Err(format!("{unit} never became active")),
        (true, false) => Err(format!("{unit} stayed active after the device went")),
    }
}

/// What must not grow or change.
struct Baseline {
    init_fds: u64,
    supervisor_fds: u64,
    stored: String,
}

fn json(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--output", "json"];
    a.extend_from_slice(args);
    let o = sb.ctl(&a);
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

fn open_fds(sb: &Sandbox, name: &str) -> u64 {
    json(sb, &["component", "list"])
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name).cloned())
        .and_then(|r| r["open_fds"].as_u64())
        .unwrap_or(0)
}

fn stored(sb: &Sandbox) -> String {
    json(sb, &["component", "status", "init"])["sections"][0]["facts"][0][1]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn baseline(sb: &Sandbox) -> Baseline {
    Baseline {
        init_fds: open_fds(sb, "init"),
        supervisor_fds: open_fds(sb, "supervisor"),
        stored: stored(sb),
    }
}

/// Processes of the sandbox's PID namespace that are zombies (state Z), by pid outside.
fn zombies(sb: &Sandbox) -> Vec<String> {
    let Ok(init) = sb.init_pid() else {
        return Vec::new();
    };
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).ok();
    let mut z = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok() != ns {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if let Some(after) = stat.rsplit_once(") ") {
            if after.1.starts_with('Z') {
                z.push(stat);
            }
        }
    }
    z
}

/// A host pid's pid in the sandbox's namespace (the last NSpid field).
fn ns_pid(host: i32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{host}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// One cycling service as it must be: running or between runs, its MainPID its process.
fn cycling_ok(sb: &Sandbox, unit: &str) -> Result<(), String> {
    let state = sb.active_state(unit);
    if !matches!(state.as_str(), "active" | "activating" | "deactivating") {
        return Err(format!("{unit} is {state}"));
    }
    let procs = sb.cgroup_procs(unit);
    // Pids inside the sandbox; the cgroup lists them as the host sees them: compared through
    // NSpid.
    let main: i64 = sb.property(unit, "MainPID").parse().unwrap_or(0);
    if main > 0 && !procs.is_empty() {
        let inside: Vec<i64> = procs.iter().filter_map(|p| ns_pid(*p)).collect();
        if !inside.is_empty() && !inside.contains(&main) {
            return Err(format!(
                "{unit}: MainPID {main} is not its process {inside:?}"
            ));
        }
    }
    Ok(())
}

/// Every invariant; the first one broken, in words.
fn check(sb: &Sandbox, load: &Load, base: &Baseline) -> Result<(), String> {
    // The components are back.
    let t = Instant::now();
    loop {
        let list = sb.components().map_err(|e| e.to_string())?;
        if list.len() == 5 && list.iter().all(|c| c.state == "running") {
            break;
        }
        if t.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "components not all running: {:?}",
                list.iter()
                    .map(|c| (c.name.clone(), c.state.clone()))
                    .collect::<Vec<_>>()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    load.settled()?;
    access(sb)?;
    device_cycle(sb)?;
    if !sb.is_active("echo.socket") {
        return Err(format!("echo.socket is {}", sb.active_state("echo.socket")));
    }
    // A oneshot that ran at boot is still active and never ran again.
    let once = std::fs::read_to_string(sb.dir().join("once.log")).unwrap_or_default();
    if once.lines().count() != 1 || !sb.is_active("once.service") {
        return Err(format!(
            "once.service ran {} times, is {}",
            once.lines().count(),
            sb.active_state("once.service")
        ));
    }
    // The socket's daemon was started once and still is the one: never twice.
    let echo = sb.cgroup_procs("echo.service");
    if echo.len() != 1 {
        return Err(format!("echo.service has processes {echo:?}"));
    }
    // Each cycling service restarts every 0.4 s: what is read of its state at one instant may
    // be half of a restart, so that is judged wrong only if it stays wrong for 2 s. Two
    // processes at once are never right: judged at once.
    for i in 1..=cycling() {
        let unit = format!("cycle@{i}.service");
        let procs = sb.cgroup_procs(&unit);
        if procs.len() > 1 {
            return Err(format!("{unit} has {} processes: {procs:?}", procs.len()));
        }
        let t = Instant::now();
        loop {
            match cycling_ok(sb, &unit) {
                Ok(()) => break,
                Err(e) if t.elapsed() > Duration::from_secs(2) => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let t = Instant::now();
    loop {
        let z = zombies(sb);
        if z.is_empty() {
            break;
        }
        if t.elapsed() > Duration::from_secs(5) {
            return Err(format!("zombies: {z:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (i, s) = (open_fds(sb, "init"), open_fds(sb, "supervisor"));
    if i > base.init_fds + 4 {
        return Err(format!("pid1's fds grew from {} to {i}", base.init_fds));
    }
    if s > base.supervisor_fds + 16 {
        return Err(format!(
            "the supervisor's fds grew from {} to {s}",
            base.supervisor_fds
        ));
    }
    let st = stored(sb);
    if st != base.stored {
        return Err(format!("pid1's fd store went from {} to {st}", base.stored));
    }
    Ok(())
}

fn failpoint(sb: &Sandbox, name: &str, point: &str, action: &str) -> Result<(), String> {
    let o = sb.ctl(&["component", "failpoint", name, point, action]);
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("setting {point}: {}", out(&o)))
    }
}

/// The pid of a running component; waits a little for one that is between instances (a
/// lookup that fails is retried, never taken as pid 0).
fn pid_of(sb: &Sandbox, name: &str) -> i64 {
    let t = Instant::now();
    loop {
        match sb.component(name) {
            Ok(c) if c.pid > 0 => return c.pid,
            other if t.elapsed() > Duration::from_secs(20) => {
                panic!(
                    "{name}: no running process to find: {:?}",
                    other.map(|c| c.state)
                )
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Waits until `name` runs as another process than `old` (it died and came back).
fn replaced(sb: &Sandbox, name: &str, old: i64) -> Result<(), String> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if let Ok(c) = sb.component(name) {
            if c.pid != old && c.pid != 0 && c.state == "running" {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{name} (pid {old}) did not die and come back"))
}

type Fault = (
    &'static str,
    &'static str,
    fn(&Sandbox) -> Result<(), String>,
);

fn faults() -> Vec<Fault> {
    fn kill(sb: &Sandbox, name: &str) -> Result<(), String> {
        let pid = pid_of(sb, name);
        sb.kill(pid, "KILL").map_err(|e| e.to_string())?;
        replaced(sb, name, pid)
    }
    vec![
        ("activator", "SIGKILL", |sb| kill(sb, "activator")),
        ("mounter", "SIGKILL", |sb| kill(sb, "mounter")),
        ("devmon", "SIGKILL", |sb| kill(sb, "devmon")),
        ("supervisor", "SIGKILL", |sb| kill(sb, "supervisor")),
        ("supervisor", "daemon-reexec", |sb| {
            let pid = pid_of(sb, "supervisor");
            let o = sb.ctl(&["daemon-reexec"]);
            if !o.status.success() {
                return Err(format!("daemon-reexec: {}", out(&o)));
            }
            replaced(sb, "supervisor", pid)
        }),
        ("init", "daemon-reexec --init", |sb| {
            let o = sb.ctl(&["daemon-reexec", "--init"]);
            if !o.status.success() {
                return Err(format!("daemon-reexec --init: {}", out(&o)));
            }
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        }),
        ("supervisor", "supervisor::before_spawn=abort", |sb| {
            // The next restart of a cycling service spawns.
            let pid = pid_of(sb, "supervisor");
            failpoint(sb, "supervisor", "supervisor::before_spawn", "abort")?;
            replaced(sb, "supervisor", pid)
        }),
        ("supervisor", "supervisor::after_spawn=abort", |sb| {
            let pid = pid_of(sb, "supervisor");
            failpoint(sb, "supervisor", "supervisor::after_spawn", "abort")?;
            replaced(sb, "supervisor", pid)
        }),
        ("supervisor", "supervisor::mid_serialization=abort", |sb| {
            // A helper's restart is saved in the state.
            let pid = pid_of(sb, "supervisor");
            failpoint(sb, "supervisor", "supervisor::mid_serialization", "abort")?;
            let devmon = pid_of(sb, "devmon");
            let _ = sb.kill(devmon, "KILL");
            replaced(sb, "supervisor", pid)
        }),
        ("mounter", "mounter::before_autofs_ready=abort", |sb| {
            // Wait for the idle expiry, so that the next access mounts again.
            let d = sb.dir().display().to_string();
            let t = Instant::now();
            while inside(sb, &format!("grep -q ' {d}/auto tmpfs ' /proc/self/mounts"))
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
            {
                if t.elapsed() > Duration::from_secs(20) {
                    return Err("the automount did not expire".into());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let pid = pid_of(sb, "mounter");
            failpoint(sb, "mounter", "mounter::before_autofs_ready", "abort")?;
            access(sb)?;
            replaced(sb, "mounter", pid)
        }),
        ("activator", "activator::after_accept=abort", |sb| {
            // Accept=yes: the one connection in the activator's hands when it dies is lost
            // (as with systemd: an accepted connection lives in one process); the next is
            // served by the next activator.
            let pid = pid_of(sb, "activator");
            failpoint(sb, "activator", "activator::after_accept", "abort")?;
            let _ = talk(sb, "acc.sock", "lost");
            replaced(sb, "activator", pid)?;
            match talk(sb, "acc.sock", "after") {
                Ok(line) if line == "after" => Ok(()),
                other => Err(format!("Accept=yes after the abort: {other:?}")),
            }
        }),
        (
            "activator",
            "activator::between_bind_and_handover=abort",
            |sb| {
                // A socket unit started now: its sockets are bound, then the activator dies
                // before handing them over; the start must still succeed (with the next one).
                let pid = pid_of(sb, "activator");
                failpoint(
                    sb,
                    "activator",
                    "activator::between_bind_and_handover",
                    "abort",
                )?;
                let o = sb.ctl(&["start", "late.socket"]);
                replaced(sb, "activator", pid)?;
                let t = Instant::now();
                while !sb.is_active("late.socket") {
                    if t.elapsed() > Duration::from_secs(10) {
                        return Err(format!(
                            "late.socket is {} ({})",
                            sb.active_state("late.socket"),
                            out(&o)
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = sb.ctl(&["stop", "late.socket"]);
                Ok(())
            },
        ),
        ("devmon", "devmon::mid_coldplug=abort (next start)", |sb| {
            // Passed only at start: armed for the next devmon, which dies mid-coldplug; the
            // one after it coldplugs.
            failpoint(sb, "devmon", "devmon::mid_coldplug", "abort")?;
            let pid = pid_of(sb, "devmon");
            sb.kill(pid, "KILL").map_err(|e| e.to_string())?;
            replaced(sb, "devmon", pid)?;
            let died = |sb: &Sandbox| {
                sb.log_text()
                    .lines()
                    .any(|l| l.contains("cairn-devmon (pid") && l.contains("killed by signal 6"))
            };
            let t = Instant::now();
            while !died(sb) {
                if t.elapsed() > Duration::from_secs(10) {
                    return Err("no devmon died at the fail point".into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }),
        ("activator", "bus::rpc_send=sleep(20), then off", |sb| {
            failpoint(sb, "activator", "bus::rpc_send", "sleep(20)")?;
            std::thread::sleep(Duration::from_millis(500));
            failpoint(sb, "activator", "bus::rpc_send", "off")
        }),
    ]
}

#[test]
fn every_component_fails_on_purpose_and_nothing_is_lost() {
    let rounds: usize = std::env::var("FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let fstab = "tmpfs @DIR@/auto tmpfs size=1m,x-systemd.automount,x-systemd.idle-timeout=1 0 0\n";
    let mut b = Sandbox::builder()
        .unit("echo.socket", "[Socket]\nListenStream=@DIR@/echo.sock\n")
        .unit(
            "echo.service",
            &format!("[Service]\nExecStart={} serve @DIR@/out\n", sockd()),
        )
        .unit(
            "acc.socket",
            "[Socket]\nListenStream=@DIR@/acc.sock\nAccept=yes\n",
        )
        .unit(
            "acc@.service",
            "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
        )
        .unit("late.socket", "[Socket]\nListenStream=@DIR@/late.sock\n")
        .unit(
            "once.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/bin/sh -c 'echo ran >> @DIR@/once.log'\n",
        )
        .unit("late.service", "[Service]\nExecStart=/bin/cat\n")
        .unit(
            "cycle@.service",
            "[Unit]\nStartLimitIntervalSec=0\n\
             [Service]\nExecStart=/bin/sleep 0.3\nRestart=always\nRestartSec=100ms\n",
        )
        .file("fstab", fstab)
        .file("cairn.ron", "(fstab: Some(\"@DIR@/fstab\"))\n")
        .arg("--config")
        .arg("@DIR@/cairn.ron");
    let wants: Vec<String> = (1..=cycling())
        .map(|i| format!("cycle@{i}.service"))
        .collect();
    b = b.unit(
        "default.target",
        &format!(
            "[Unit]\nWants=echo.socket acc.socket once.service local-fs.target {}\n",
            wants.join(" ")
        ),
    );
    let mut sb = b.start().unwrap();
    sb.wait_until(Duration::from_secs(20), |sb| {
        Ok(sb.is_active("echo.socket") && sb.is_active("local-fs.target"))
    })
    .unwrap();
    let load = Load::start(sb.dir().join("echo.sock"));
    load.settled().unwrap();
    access(&sb).unwrap();
    let base = baseline(&sb);
    let faults = faults();
    let mut held = vec![0usize; faults.len()];
    let mut failures = Vec::new();
    for round in 1..=rounds {
        for (i, (component, fault, inject)) in faults.iter().enumerate() {
            let r = inject(&sb).and_then(|()| check(&sb, &load, &base));
            match r {
                Ok(()) => held[i] += 1,
                Err(e) => failures.push(format!("round {round}, {component} {fault}: {e}")),
            }
        }
    }
    let (sent, answered) = load.finish();
    let mut table = format!(
        "\n{:<12} {:<44} {:>6} {:>16}\n",
        "component", "fault", "rounds", "invariants held"
    );
    for (i, (component, fault, _)) in faults.iter().enumerate() {
        table.push_str(&format!(
            "{component:<12} {fault:<44} {rounds:>6} {:>16}\n",
            format!("{}/{rounds}", held[i])
        ));
    }
    table.push_str(&format!("connections answered: {answered} of {sent}\n"));
    eprintln!("{table}");
    assert!(
        failures.is_empty(),
        "{}\n{table}\n---- log ----\n{}",
        failures.join("\n"),
        sb.log_text()
    );
}

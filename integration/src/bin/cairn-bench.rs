//! `make bench`: figures, never pass/fail. Prints a table; no goal is enforced here.
//!
//! Now: the size of each release binary, the resident memory of each component in a sandbox,
//! the time from `unshare` to five running components, how long each component takes to
//! serve again after SIGKILL, the engine, 1,000 services, the cost of the execution
//! environment, and socket activation beside systemd-socket-activate. Medians of several
//! runs.

use std::time::{Duration, Instant};

use anyhow::Result;
use cairn_integration::{bin, bin_dir, Sandbox};

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    println!("cairn bench — binaries from {}", bin_dir().display());
    // `CAIRN_BENCH=activation` runs that part alone (while working on it).
    match std::env::var("CAIRN_BENCH").as_deref() {
        Ok("activation") => return activation(),
        Ok("automount") => return automount(),
        Ok("devices") => return devices(),
        Ok("thousand") => return thousand_services(),
        Ok("boot") => return boot(),
        Ok("reload") => return reload_one_changed(),
        Ok("sockets") => return many_sockets(),
        _ => {}
    }
    println!();
    println!("{:<20} {:>12}", "binary", "size");
    for b in [
        "cairn-init",
        "cairn-supervisor",
        "cairn-activator",
        "cairn-mounter",
        "cairn-devmon",
        "cairnctl",
    ] {
        let size = std::fs::metadata(bin(b))?.len();
        println!("{b:<20} {:>9} KiB", size / 1024);
    }

    let mut startup = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let sb = Sandbox::start()?;
        startup.push(t.elapsed());
        drop(sb);
    }

    let sb = Sandbox::start()?;
    let out = sb.ctl(&["component", "list", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    println!();
    println!("{:<12} {:>10} {:>6}", "component", "RSS", "fds");
    let mut total = 0;
    for r in rows.as_array().into_iter().flatten() {
        let rss = r["rss_bytes"].as_u64().unwrap_or(0);
        total += rss;
        println!(
            "{:<12} {:>6} KiB {:>6}",
            r["name"].as_str().unwrap_or("?"),
            rss / 1024,
            r["open_fds"].as_u64().unwrap_or(0)
        );
    }
    println!("{:<12} {:>6} KiB", "all", total / 1024);
    // RSS counts the shared C library's pages in full; PSS shares them out.
    if let Ok(init) = sb.init_pid() {
        let pss = std::fs::read_to_string(format!("/proc/{init}/smaps_rollup"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Pss:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        println!("{:<12} {:>6} KiB (PSS)", "init", pss);
    }

    println!();
    println!(
        "{:<44} {:>10}",
        "sandbox start to 5 running components", "median"
    );
    println!("{:<44} {:>10}", "", ms(median(startup)));

    println!();
    println!(
        "{:<44} {:>10}",
        "recovery after SIGKILL (to serving again)", "median"
    );
    drop(sb);
    // A fresh sandbox for every round, so each measures a first restart (no back-off yet).
    for name in ["activator", "mounter", "devmon", "supervisor"] {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let mut sb = Sandbox::start()?;
            let before = sb.component(name)?;
            let t = Instant::now();
            sb.kill(before.pid, "KILL")?;
            sb.wait_until(Duration::from_secs(30), |sb| {
                let list = sb.components()?;
                Ok(list
                    .iter()
                    .all(|c| c.state == "running" && (c.name != name || c.pid != before.pid)))
            })?;
            times.push(t.elapsed());
        }
        println!("{name:<44} {:>10}", ms(median(times)));
    }
    engine()?;
    thousand_services()?;
    reload_one_changed()?;
    many_sockets()?;
    spawn_cost()?;
    activation()?;
    automount()?;
    devices()?;
    boot()?;
    Ok(())
}

/// The boot benchmark in the VM ([`cairn_integration::bench_boot::report`]).
fn boot() -> Result<()> {
    cairn_integration::bench_boot::report(&bin_dir())
}

/// devmon's coldplug walk of this machine's /sys (with its blkid probes), in this process;
/// and the time from attaching a loop device to its device unit being active in a sandbox
/// (the uevent, devmon, the supervisor; polled through cairnctl, about 1 ms apart).
fn devices() -> Result<()> {
    use std::process::Command;
    let mut walk = Vec::new();
    let mut n = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        n = cairn_devmon::sysfs::coldplug("/sys").len();
        walk.push(t.elapsed());
    }
    let tmp = tempfile::tempdir()?;
    let img = tmp.path().join("d.img");
    std::fs::File::create(&img)?.set_len(1 << 20)?;
    let sb = Sandbox::start()?;
    let mut latency = Vec::new();
    for _ in 0..RUNS {
        let o = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&img)
            .output()?;
        let t = Instant::now();
        let dev = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let unit = format!("{}.device", dev.trim_start_matches('/').replace('/', "-"));
        while !sb.is_active(&unit) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        latency.push(t.elapsed());
        let _ = Command::new("losetup").args(["-d", &dev]).status();
    }
    println!();
    println!("{:<44} {:>10}", "devices", "median");
    println!(
        "{:<44} {:>10}",
        format!("  coldplug walk of /sys ({n} device units)"),
        ms(median(walk))
    );
    println!(
        "{:<44} {:>10}",
        "  losetup to its device unit active",
        ms(median(latency))
    );
    Ok(())
}

/// The first access to an automounted ext4 (loop device) until it returns, beside mounting the
/// same device by hand and then accessing it; each run from a new `nsenter` into the sandbox.
fn automount() -> Result<()> {
    use std::process::Command;
    // At most 5: the mount unit starts once a round, and StartLimitBurst= is 5 in 10 s.
    const ROUNDS: usize = 5;
    let tmp = tempfile::tempdir()?;
    let img = tmp.path().join("disk.img");
    std::fs::File::create(&img)?.set_len(16 << 20)?;
    anyhow::ensure!(
        Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&img)
            .status()?
            .success(),
        "mkfs.ext4 failed"
    );
    let o = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&img)
        .output()?;
    let dev = String::from_utf8_lossy(&o.stdout).trim().to_string();
    anyhow::ensure!(o.status.success(), "losetup failed");
    let run = || -> Result<()> {
        let sb = Sandbox::builder()
            .unit("default.target", "[Unit]\nWants=local-fs.target\n")
            .file(
                "fstab",
                &format!("{dev} @DIR@/auto ext4 x-systemd.automount 0 0\n"),
            )
            .file("cairn.ron", "(fstab: Some(\"@DIR@/fstab\"))\n")
            .arg("--config")
            .arg("@DIR@/cairn.ron")
            .start()?;
        let mut sb = sb;
        sb.wait_until(Duration::from_secs(20), |sb| {
            Ok(sb.is_active("local-fs.target"))
        })?;
        let d = sb.dir().display().to_string();
        let init = sb.init_pid()?.to_string();
        let inside = |cmd: &str| -> Result<Duration> {
            let t = Instant::now();
            let st = Command::new("nsenter")
                .args(["-t", &init, "-m", "-p", "--", "/bin/sh", "-c", cmd])
                .stdout(std::process::Stdio::null())
                .status()?;
            anyhow::ensure!(st.success(), "{cmd} failed");
            Ok(t.elapsed())
        };
        let o = Command::new("systemd-escape")
            .args(["--path", "--suffix=mount"])
            .arg(format!("{d}/auto"))
            .output()?;
        let unit = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let mut auto = Vec::new();
        let mut plain = Vec::new();
        for _ in 0..ROUNDS {
            let first = inside(&format!("stat -f {d}/auto/lost+found"));
            let first = first.map_err(|e| anyhow::anyhow!("{e}\n{}", sb.log_text()))?;
            auto.push(first);
            anyhow::ensure!(sb.ctl(&["stop", &unit]).status.success(), "stop failed");
            plain.push(inside(&format!(
                "mkdir -p {d}/plain && mount {dev} {d}/plain && stat -f {d}/plain/lost+found"
            ))?);
            inside(&format!("umount {d}/plain"))?;
        }
        println!();
        println!(
            "{:<44} {:>10}",
            "automount (ext4 on a loop device)", "median"
        );
        println!(
            "{:<44} {:>10}",
            "  first access, through autofs and cairn",
            ms(median(auto))
        );
        println!(
            "{:<44} {:>10}",
            "  mount(8) by hand, then the access",
            ms(median(plain))
        );
        Ok(())
    };
    let r = run();
    let _ = Command::new("losetup").args(["-d", &dev]).status();
    r
}

/// One request on a fresh connection: connect, a line, the answer.
fn request(path: &std::path::Path) -> Result<Duration> {
    use std::io::{BufRead, Write};
    let t = Instant::now();
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(s, "ping")?;
    let mut answer = String::new();
    std::io::BufReader::new(&s).read_line(&mut answer)?;
    anyhow::ensure!(answer == "echo ping\n", "unexpected answer {answer:?}");
    Ok(t.elapsed())
}

/// Connections per second, sequential, each a request.
fn rate(path: &std::path::Path) -> Result<f64> {
    const N: u32 = 2000;
    let t = Instant::now();
    for _ in 0..N {
        request(path)?;
    }
    Ok(f64::from(N) / t.elapsed().as_secs_f64())
}

/// Waits until a socket listens at `path` (it exists between bind and listen, refusing), as
/// /proc/net/unix shows it — without connecting, which would start an activated daemon.
fn wait_for(path: &std::path::Path) {
    let t = Instant::now();
    let want = path.display().to_string();
    while t.elapsed() < Duration::from_secs(10) {
        let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
        let listening = table.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 is listening.
            f.get(3) == Some(&"00010000") && f.get(7) == Some(&want.as_str())
        });
        if listening {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The median of three runs of [`rate`].
fn median_rate(path: &std::path::Path) -> Result<f64> {
    let mut r = [rate(path)?, rate(path)?, rate(path)?];
    r.sort_by(f64::total_cmp);
    Ok(r[1])
}

/// Socket activation: the first connection's latency through activation (the daemon is
/// started by it) and connections per second once the daemon runs, through cairn, through
/// systemd's `systemd-socket-activate`, and with the daemon listening by itself.
fn activation() -> Result<()> {
    const ROUNDS: usize = 15;
    let sockd = bin("cairn-test-sockd").display().to_string();
    println!();
    println!(
        "{:<44} {:>10} {:>12}",
        "socket activation (unix stream, echo)", "first conn", "conns/s"
    );
    // cairn: the socket listens, the service is stopped between rounds.
    let sb = Sandbox::builder()
        .unit("default.target", "[Unit]\nWants=echo.socket\n")
        .unit("echo.socket", "[Socket]\nListenStream=@DIR@/echo.sock\n")
        // Started ROUNDS times within seconds on purpose: no start limit.
        .unit(
            "echo.service",
            &format!(
                "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart={sockd} serve @DIR@/out\n"
            ),
        )
        .start()?;
    let path = sb.dir().join("echo.sock");
    let mut sb = sb;
    sb.wait_until(
        Duration::from_secs(10),
        |sb| Ok(sb.is_active("echo.socket")),
    )?;
    let mut first = Vec::new();
    for _ in 0..ROUNDS {
        first.push(request(&path)?);
        let o = sb.ctl(&["stop", "echo.service"]);
        anyhow::ensure!(o.status.success(), "stop failed");
    }
    request(&path)?;
    let cairn_rate = median_rate(&path)?;
    println!(
        "{:<44} {:>10} {:>12.0}",
        "  cairn (activator, then the service)",
        ms(median(first)),
        cairn_rate
    );
    drop(sb);
    // systemd-socket-activate: listens, execs the daemon on the first connection.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");
    let mut first = Vec::new();
    let mut sd_rate = 0.0;
    let have_sd = std::path::Path::new("/usr/bin/systemd-socket-activate").exists();
    if have_sd {
        for round in 0..ROUNDS {
            let mut child = std::process::Command::new("systemd-socket-activate")
                .arg("-l")
                .arg(&path)
                .args([sockd.as_str(), "serve"])
                .arg(dir.path().join("out"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()?;
            wait_for(&path);
            first.push(request(&path)?);
            if round == ROUNDS - 1 {
                sd_rate = median_rate(&path)?;
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&path);
        }
        println!(
            "{:<44} {:>10} {:>12.0}",
            "  systemd-socket-activate",
            ms(median(first)),
            sd_rate
        );
    } else {
        println!(
            "{:<44} {:>10}",
            "  systemd-socket-activate", "not installed"
        );
    }
    // The daemon listening by itself: no activation; the first connection of a running daemon.
    let mut child = std::process::Command::new(&sockd)
        .arg("serve")
        .arg(dir.path().join("out"))
        .env("SOCKD_LISTEN", &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    wait_for(&path);
    std::thread::sleep(Duration::from_millis(50));
    let warm = request(&path)?;
    let own_rate = median_rate(&path)?;
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "{:<44} {:>10} {:>12.0}",
        "  the daemon listening by itself (running)",
        ms(warm),
        own_rate
    );
    Ok(())
}

/// The cost per service of the execution environment: 200 bare services vs 200 with a full
/// one (user, groups, limits, capabilities, scheduling, a mount-namespace view).
fn spawn_cost() -> Result<()> {
    const N: usize = 200;
    const FULL: &str = "User=nobody\nGroup=nogroup\nSupplementaryGroups=100\n\
        Environment=A=1 B=2 C=3\nUMask=0077\nNice=5\nLimitNOFILE=4096\nLimitCORE=0\n\
        CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nNoNewPrivileges=yes\nOOMScoreAdjust=100\n\
        ProtectSystem=strict\nPrivateTmp=yes\nPrivateDevices=yes\n";
    println!();
    println!(
        "{:<44} {:>10}",
        "spawn cost per service (200 at once)", "median"
    );
    for (label, extra) in [("bare", ""), ("full environment", FULL)] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let mut b = Sandbox::builder();
            let mut wants = String::new();
            for i in 0..N {
                let name = format!("e{i}.service");
                b = b.unit(
                    &name,
                    &format!("[Service]\n{extra}ExecStart=/bin/sleep 1000\n"),
                );
                wants.push_str(&name);
                wants.push(' ');
            }
            let sb = b
                .unit(
                    "env.target",
                    &format!("[Unit]\nWants={wants}\nAfter={wants}\n"),
                )
                .unit("default.target", "[Unit]\nDescription=nothing\n")
                .start()?;
            let t = Instant::now();
            let o = sb.ctl(&["start", "env.target"]);
            anyhow::ensure!(
                o.status.success(),
                "{label}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            times.push(t.elapsed() / N as u32);
        }
        println!(
            "  {label:<42} {:>10}",
            format!("{:.2} ms", median(times).as_secs_f64() * 1000.0)
        );
    }
    Ok(())
}

/// Loading 10,000 unit files and planning the transaction of a target that pulls them all:
/// the supervisor's own code, in this process, no sandbox.
fn engine() -> Result<()> {
    use cairn_supervisor::job::types::{JobMode, JobType};
    use cairn_supervisor::manager::{Manager, Units};
    use cairn_supervisor::unit::load::Catalog;
    use cairn_supervisor::unit::specifier::Context;

    const N: usize = 10_000;
    let dir = tempfile::tempdir()?;
    let mut wants = String::new();
    for i in 0..N {
        let name = format!("s{i}.service");
        std::fs::write(
            dir.path().join(&name),
            format!("[Unit]\nDescription=s{i}\nAfter=s{}.service\n[Service]\nExecStart=/bin/sleep 1000\n", i / 2),
        )?;
        wants.push_str(&name);
        wants.push(' ');
    }
    std::fs::write(
        dir.path().join("big.target"),
        format!("[Unit]\nWants={wants}\n"),
    )?;
    let ctx = Context {
        runtime_dir: "/run".into(),
        ..Default::default()
    };
    let dirs = vec![dir.path().to_path_buf()];
    let mut load = Vec::new();
    let mut plan = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let units = Units::build(&Catalog::scan(&dirs), &ctx, &[]);
        load.push(t.elapsed());
        let mut m = Manager::new(units);
        let target = m.units.lookup("big.target").expect("big.target");
        let t = Instant::now();
        let mut out = Vec::new();
        m.enqueue(target, JobType::Start, JobMode::Replace, &mut out)?;
        plan.push(t.elapsed());
        assert!(m.jobs.len() > N, "{} jobs", m.jobs.len());
    }
    println!();
    println!("{:<44} {:>10}", "engine, 10,000 services (median of 3)", "");
    println!(
        "{:<44} {:>10}",
        "  scan + load + build the unit table",
        ms(median(load))
    );
    println!(
        "{:<44} {:>10}",
        "  transaction for a target pulling all",
        ms(median(plan))
    );
    Ok(())
}

fn cpu_ticks(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// The CPU time `pid` used since it had used `ticks` (from [`cpu_ticks`]).
fn cpu_since(pid: i32, ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(cpu_ticks(pid).saturating_sub(ticks) as f64 / hz)
}

fn host_pid_of(sb: &Sandbox, comm: &str) -> Option<i32> {
    let procs = std::fs::read_to_string(sb.cgroup.join("init.scope/cgroup.procs")).ok()?;
    procs
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| comm.starts_with(c.trim()))
                // The supervisor's spawner has its comm; not its arguments.
                && !std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.windows(9).any(|w| w == b"--spawner"))
        })
}

/// The supervisor's RSS, as `component list` reports it.
fn supervisor_rss(sb: &Sandbox) -> Result<u64> {
    let rows: serde_json::Value =
        serde_json::from_slice(&sb.ctl(&["component", "list", "--output", "json"]).stdout)?;
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "supervisor")
        .and_then(|r| r["rss_bytes"].as_u64())
        .unwrap_or(0))
}

/// `daemon-reload` in a sandbox with 10,000 units loaded (not started) after one file changed:
/// wall time and supervisor CPU, median of 3. (systemd 252 in the same kind of VM, from the
/// issue: 3.1 s with 1,000 loaded, 152–179 s with 10,000.)
fn reload_one_changed() -> Result<()> {
    const N: usize = 10_000;
    let mut b = Sandbox::builder();
    for i in 0..N {
        b = b.unit(
            &format!("r{i}.service"),
            &format!(
                "[Unit]\nAfter=r{}.service\n[Service]\nExecStart=/bin/sleep 1000\n",
                i / 2
            ),
        );
    }
    let sb = b.start()?;
    let sup = host_pid_of(&sb, "cairn-supervisor").unwrap_or(0);
    let loaded_rss = supervisor_rss(&sb)?;
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for round in 0..3 {
        std::fs::write(
            sb.dir().join("units/r77.service"),
            format!("[Unit]\nDescription=changed {round}\n[Service]\nExecStart=/bin/sleep 1000\n"),
        )?;
        let ticks = cpu_ticks(sup);
        let t = Instant::now();
        let o = sb.ctl(&["daemon-reload"]);
        wall.push(t.elapsed());
        anyhow::ensure!(o.status.success(), "daemon-reload failed");
        cpu.push(cpu_since(sup, ticks));
    }
    println!();
    println!(
        "{:<44} {:>10}",
        "daemon-reload, 10,000 loaded, one changed", "median"
    );
    println!("{:<44} {:>10}", "  wall time", ms(median(wall)));
    println!("{:<44} {:>10}", "  supervisor CPU", ms(median(cpu)));
    println!(
        "{:<44} {:>6} KiB",
        "  supervisor RSS, 10,000 loaded",
        loaded_rss / 1024
    );
    println!(
        "{:<44} {:>6} KiB",
        "  supervisor RSS after the reloads",
        supervisor_rss(&sb)? / 1024
    );
    Ok(())
}

/// 16,000 socket units (a Unix stream socket each, Accept=no) started at once in the sandbox:
/// time until every one listens, and what that costs the supervisor and the activator.
fn many_sockets() -> Result<()> {
    const N: usize = 16_000;
    let sb = Sandbox::builder().socket_units(N).start()?;
    std::fs::create_dir_all(sb.dir().join("socks"))?;
    let t = Instant::now();
    let o = sb.ctl(&["start", "socks.target"]);
    let wall = t.elapsed();
    anyhow::ensure!(
        o.status.success(),
        "start failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listening = std::fs::read_dir(sb.dir().join("socks"))?.count();
    if listening < N {
        let log = sb.log_text();
        let lines: Vec<&str> = log.lines().collect();
        println!("  only {listening} of {N} bound; the log's last lines:");
        for l in lines.iter().rev().take(12).rev() {
            println!("    {l}");
        }
        let failed = sb.ctl(&["list-units", "--failed"]);
        println!(
            "    {}",
            String::from_utf8_lossy(&failed.stdout)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let rows: serde_json::Value =
        serde_json::from_slice(&sb.ctl(&["component", "list", "--output", "json"]).stdout)?;
    let field = |n: &str, f: &str| {
        rows.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == n)
            .and_then(|r| r[f].as_u64())
            .unwrap_or(0)
    };
    println!();
    println!("{:<44} {:>10}", "16,000 socket units in the sandbox", "");
    println!("{:<44} {:>10}", "  start them all, to listening", ms(wall));
    println!("{:<44} {:>10}", "  socket files bound", listening);
    println!(
        "{:<44} {:>6} KiB",
        "  supervisor RSS then",
        field("supervisor", "rss_bytes") / 1024
    );
    println!(
        "{:<44} {:>6} KiB",
        "  activator RSS then",
        field("activator", "rss_bytes") / 1024
    );
    println!(
        "{:<44} {:>10}",
        "  activator's open fds then",
        field("activator", "open_fds")
    );
    // The supervisor hands the burst's freed heap back once quiet for a second.
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "{:<44} {:>6} KiB",
        "  supervisor RSS 3 s later",
        supervisor_rss(&sb)? / 1024
    );
    Ok(())
}

/// 1,000 services started at once in the sandbox: wall time, supervisor CPU, memory.
fn thousand_services() -> Result<()> {
    const N: usize = 1000;
    let mut b = Sandbox::builder();
    let mut wants = String::new();
    for i in 0..N {
        let name = format!("t{i}.service");
        b = b.unit(&name, "[Service]\nExecStart=/bin/sleep 1000\n");
        wants.push_str(&name);
        wants.push(' ');
    }
    b = b
        .unit(
            "thousand.target",
            &format!("[Unit]\nWants={wants}\nAfter={wants}\n"),
        )
        .unit("default.target", "[Unit]\nDescription=nothing\n");
    let sb = b.start()?;
    let sup = host_pid_of(&sb, "cairn-supervisor").unwrap_or(0);
    let ticks = cpu_ticks(sup);
    // CAIRN_BENCH_STRACE=FILE: the supervisor's system calls during the start, counted.
    let strace = std::env::var("CAIRN_BENCH_STRACE").ok().map(|file| {
        let child = std::process::Command::new("strace")
            .args(["-c", "-o", &file, "-p", &sup.to_string()])
            .spawn();
        std::thread::sleep(std::time::Duration::from_millis(300));
        child
    });
    let t = Instant::now();
    let o = sb.ctl(&["start", "thousand.target"]);
    let wall = t.elapsed();
    if let Some(Ok(mut child)) = strace {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let _ = child.wait();
    }
    anyhow::ensure!(
        o.status.success(),
        "start failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cpu = cpu_since(sup, ticks).as_secs_f64();
    let rows: serde_json::Value =
        serde_json::from_slice(&sb.ctl(&["component", "list", "--output", "json"]).stdout)?;
    let rss = |n: &str| {
        rows.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == n)
            .and_then(|r| r["rss_bytes"].as_u64())
            .unwrap_or(0)
            / 1024
    };
    println!();
    println!("{:<44} {:>10}", "1,000 services in the sandbox", "");
    println!("{:<44} {:>10}", "  wall time to start them all", ms(wall));
    println!(
        "{:<44} {:>7.0} ms",
        "  supervisor CPU for that",
        cpu * 1000.0
    );
    let fds = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "supervisor")
        .and_then(|r| r["open_fds"].as_u64())
        .unwrap_or(0);
    println!("{:<44} {:>10}", "  supervisor's open fds then", fds);
    println!("{:<44} {:>6} KiB", "  cairn-init RSS", rss("init"));
    println!(
        "{:<44} {:>6} KiB",
        "  supervisor RSS, 1,000 units loaded",
        rss("supervisor")
    );
    Ok(())
}

//! The sandbox harness: cairn's real binaries with cairn-init as PID 1 of a fresh PID + mount
//! namespace (`unshare --pid --mount --fork --mount-proc`), a temporary unit directory and
//! runtime directory, and a cgroup subtree of its own under the host's cgroup2 tree.
//!
//! A [`Sandbox`] is always torn down when dropped (its namespace killed, its cgroups removed),
//! and prints its log when the test is failing. Later issues build on this: start a sandbox
//! on a temp unit dir, drive it with [`Sandbox::ctl`], look inside with [`Sandbox::nsenter`].

pub mod bench_boot;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Where the binaries are: `CAIRN_BIN_DIR`, else the workspace's `target/debug`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CAIRN_BIN_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`; `make test` does)",
        p.display()
    );
    p
}

/// The sandbox tier needs root (namespaces, cgroups). Fails loudly rather than skipping.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the sandbox tests need root (unshare, cgroups); run them through `make test` as root"
    );
}

/// The host's cgroup2 mount point.
pub fn cgroup2_mount() -> Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    for line in info.lines() {
        if let Some((left, right)) = line.split_once(" - ") {
            if right.split(' ').next() == Some("cgroup2") {
                if let Some(mp) = left.split(' ').nth(4) {
                    return Ok(PathBuf::from(mp));
                }
            }
        }
    }
    bail!("no cgroup2 file system mounted")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Files to put in the unit directory before the sandbox starts.
#[derive(Default)]
pub struct SandboxBuilder {
    units: Vec<(String, String)>,
    files: Vec<(String, String, u32)>,
    links: Vec<(String, String)>,
    dir_links: Vec<(String, String)>,
    prelude: Option<String>,
    args: Vec<String>,
    expect_components: usize,
}

impl SandboxBuilder {
    pub fn unit(mut self, name: &str, text: &str) -> Self {
        self.units.push((name.into(), text.into()));
        self
    }

    /// A file in the sandbox's directory (a config, an fstab), `@DIR@` replaced.
    pub fn file(mut self, name: &str, text: &str) -> Self {
        self.files.push((name.into(), text.into(), 0o644));
        self
    }

    /// An executable file in the sandbox's directory (an init script), `@DIR@` replaced.
    pub fn script(mut self, name: &str, text: &str) -> Self {
        self.files.push((name.into(), text.into(), 0o755));
        self
    }

    /// A symlink in the sandbox's directory (`rc2.d/S01x` → `../init.d/x`).
    pub fn dir_link(mut self, path: &str, target: &str) -> Self {
        self.dir_links.push((path.into(), target.into()));
        self
    }

    /// A symlink in the unit directory (aliases, `.wants/` entries).
    pub fn link(mut self, path: &str, target: &str) -> Self {
        self.links.push((path.into(), target.into()));
        self
    }

    /// N socket units `k0.socket` … (a Unix stream socket each, in `@DIR@/socks/`, which the
    /// caller creates) with their services, and `socks.target`, which wants every socket.
    pub fn socket_units(mut self, n: usize) -> Self {
        let mut wants = String::new();
        for i in 0..n {
            self = self
                .unit(
                    &format!("k{i}.socket"),
                    &format!("[Socket]\nListenStream=@DIR@/socks/k{i}.sock\n"),
                )
                .unit(
                    &format!("k{i}.service"),
                    "[Service]\nExecStart=/bin/sleep 1000\n",
                );
            wants.push_str(&format!("k{i}.socket "));
        }
        self.unit("socks.target", &format!("[Unit]\nWants={wants}\n"))
    }

    /// A shell command run inside the sandbox's namespaces before cairn-init replaces the
    /// shell as their PID 1 (a bind mount over a host path, seen by nothing outside), `@DIR@`
    /// replaced.
    pub fn prelude(mut self, sh: &str) -> Self {
        self.prelude = Some(sh.into());
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// Wait for this many running components before returning (default 5).
    pub fn expect_components(mut self, n: usize) -> Self {
        self.expect_components = n;
        self
    }

    pub fn start(self) -> Result<Sandbox> {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix("cairn-sandbox-")
            .tempdir()?;
        // Unprivileged clients must reach the control socket inside.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let units = dir.path().join("units");
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(&units)?;
        for (name, text) in &self.units {
            // Drop-ins (`foo.service.d/x.conf`) need their directory.
            if let Some(parent) = units.join(name).parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(
                units.join(name),
                text.replace("@DIR@", &dir.path().display().to_string()),
            )?;
        }
        for (name, text, mode) in &self.files {
            let p = dir.path().join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&p, text.replace("@DIR@", &dir.path().display().to_string()))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))?;
        }
        for (path, target) in &self.dir_links {
            let p = dir.path().join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(target, p)?;
        }
        for (path, target) in &self.links {
            let p = units.join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(target, p)?;
        }
        let cgroup = cgroup2_mount()?.join(format!("cairn-test-{}-{n}", std::process::id()));
        let log_path = dir.path().join("log");
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--mount", "--fork", "--mount-proc"]);
        if let Some(sh) = &self.prelude {
            let sh = sh.replace("@DIR@", &dir.path().display().to_string());
            cmd.args(["sh", "-c", &format!("{sh} && exec \"$0\" \"$@\"")]);
        }
        cmd.arg(bin("cairn-init"))
            .arg("--units")
            .arg(&units)
            .arg("--runtime-dir")
            .arg(&runtime)
            .arg("--cgroup-root")
            .arg(&cgroup)
            .arg("--stop-timeout-ms")
            .arg("2000")
            .args(
                self.args
                    .iter()
                    .map(|a| a.replace("@DIR@", &dir.path().display().to_string())),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().context("spawning unshare")?;
        let mut sb = Sandbox {
            dir,
            units,
            runtime,
            cgroup,
            log: log_path,
            child,
            exit: None,
        };
        let want = if self.expect_components == 0 {
            5
        } else {
            self.expect_components
        };
        sb.wait_until(Duration::from_secs(20), |sb| {
            Ok(sb
                .components()?
                .iter()
                .filter(|c| c.state == "running")
                .count()
                == want)
        })
        .context("the sandbox did not come up")?;
        Ok(sb)
    }
}

/// One row of `cairnctl component list --output json`.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub pid: i64,
    pub state: String,
    pub restarts: u64,
    pub binary: String,
}

pub struct Sandbox {
    dir: tempfile::TempDir,
    pub units: PathBuf,
    pub runtime: PathBuf,
    pub cgroup: PathBuf,
    pub log: PathBuf,
    child: Child,
    exit: Option<ExitStatus>,
}

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    pub fn start() -> Result<Sandbox> {
        Self::builder().start()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime.join("control")
    }

    /// Runs cairnctl against this sandbox. A call that takes over a minute is killed and
    /// fails the test with what it printed: a wedged manager must not hang the suite.
    pub fn ctl(&self, args: &[&str]) -> Output {
        run_with_deadline(self.ctl_cmd(args), Duration::from_secs(60))
    }

    pub fn ctl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("cairnctl"));
        c.arg("--socket").arg(self.socket()).args(args);
        c
    }

    /// Runs cairnctl as another user (through setpriv).
    pub fn ctl_as(&self, uid: u32, args: &[&str]) -> Output {
        Command::new("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={uid}"))
            .arg("--clear-groups")
            .arg(bin("cairnctl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("running setpriv cairnctl")
    }

    pub fn components(&self) -> Result<Vec<Component>> {
        let out = self.ctl(&["component", "list", "--output", "json"]);
        if !out.status.success() {
            bail!(
                "component list failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let rows = v.as_array().context("not a list")?;
        Ok(rows
            .iter()
            .map(|r| Component {
                name: r["name"].as_str().unwrap_or_default().to_string(),
                pid: r["pid"].as_i64().unwrap_or(0),
                state: r["state"].as_str().unwrap_or_default().to_string(),
                restarts: r["restarts"].as_u64().unwrap_or(0),
                binary: r["binary"].as_str().unwrap_or_default().to_string(),
            })
            .collect())
    }

    /// `cairnctl is-active UNIT` says "active".
    pub fn is_active(&self, unit: &str) -> bool {
        String::from_utf8_lossy(&self.ctl(&["is-active", unit]).stdout).trim() == "active"
    }

    /// The state `is-active` prints.
    pub fn active_state(&self, unit: &str) -> String {
        String::from_utf8_lossy(&self.ctl(&["is-active", unit]).stdout)
            .trim()
            .to_string()
    }

    /// One property from `cairnctl show`.
    pub fn property(&self, unit: &str, key: &str) -> String {
        let out = self.ctl(&["show", unit, "-p", key]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            .unwrap_or_default()
    }

    /// The pids in a unit's cgroup, as the host sees them.
    pub fn cgroup_procs(&self, unit: &str) -> Vec<i32> {
        std::fs::read_to_string(
            self.cgroup
                .join("system.slice")
                .join(unit)
                .join("cgroup.procs"),
        )
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
    }

    pub fn component(&self, name: &str) -> Result<Component> {
        self.components()?
            .into_iter()
            .find(|c| c.name == name)
            .with_context(|| format!("no component {name}"))
    }

    /// The host pid of cairn-init (unshare's child).
    pub fn init_pid(&self) -> Result<i32> {
        let pid = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        children
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .context("cairn-init is not running")
    }

    /// Runs a command inside the sandbox's PID and mount namespaces.
    pub fn nsenter(&self, cmd: &[&str]) -> Result<Output> {
        let pid = self.init_pid()?;
        Ok(Command::new("nsenter")
            .arg("-t")
            .arg(pid.to_string())
            .args(["-m", "-p", "--"])
            .args(cmd)
            .output()?)
    }

    /// Sends a signal to a process of the sandbox, by its pid inside.
    pub fn kill(&self, pid_inside: i64, signal: &str) -> Result<()> {
        // kill(0) and kill(-N) signal process groups — with nsenter in ours, the test itself
        // (a pid of 0 from a failed lookup once SIGKILLed the fault test).
        anyhow::ensure!(
            pid_inside > 0,
            "refusing to send {signal} to pid {pid_inside}: that names a process group"
        );
        let out = self.nsenter(&["/bin/kill", &format!("-{signal}"), &pid_inside.to_string()])?;
        if !out.status.success() {
            bail!("kill failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Polls `cond` every 20 ms until it holds or `timeout` passes.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut cond: impl FnMut(&Sandbox) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match cond(self) {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(e) => Some(e),
            };
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exit = Some(st);
                bail!("the sandbox exited ({st}) while waiting");
            }
            if Instant::now() > deadline {
                match last {
                    Some(e) => bail!("timed out after {timeout:?}; last error: {e:#}"),
                    None => bail!("timed out after {timeout:?}"),
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the sandbox to end; returns how unshare ended.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.exit {
                return Ok(st);
            }
            if let Some(st) = self.child.try_wait()? {
                self.exit = Some(st);
                return Ok(st);
            }
            if Instant::now() > deadline {
                bail!("the sandbox did not end within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn teardown(&mut self) {
        if self.exit.is_none() {
            if let Ok(pid) = self.init_pid() {
                // SIGKILL of a namespace's init kills every process in it.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
        remove_cgroup_tree(&self.cgroup);
    }
}

/// Removes a cgroup directory tree, deepest first, waiting briefly for dying processes.
pub fn remove_cgroup_tree(root: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while root.exists() && Instant::now() < deadline {
        let mut dirs = Vec::new();
        collect_dirs(root, &mut dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = std::fs::remove_dir(&d);
        }
        if root.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.teardown();
        if std::thread::panicking() {
            eprintln!(
                "---- sandbox log ({}) ----\n{}\n---- end of sandbox log ----",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// Runs a command to completion, killing it after `limit` (and saying so). Its output is read
/// by threads as it comes, so a command that prints a lot never blocks on a full pipe.
pub fn run_with_deadline(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning a command");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let (o, e) = (
                    out.join().unwrap_or_default(),
                    err.join().unwrap_or_default(),
                );
                panic!(
                    "{cmd:?} did not finish within {limit:?}; it printed: {}{}",
                    String::from_utf8_lossy(&o),
                    String::from_utf8_lossy(&e)
                );
            }
        }
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// What a command printed, stdout then stderr, for assertion messages.
pub fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Waits up to `secs` for `cond`, failing the test with `what` and the last error.
pub fn wait(sb: &mut Sandbox, what: &str, secs: u64, cond: impl FnMut(&Sandbox) -> Result<bool>) {
    sb.wait_until(Duration::from_secs(secs), cond)
        .unwrap_or_else(|e| panic!("{what}: {e:#}"));
}

/// The signal that ended a process, if one did.
pub fn signal_of(st: &ExitStatus) -> Option<i32> {
    st.signal()
}

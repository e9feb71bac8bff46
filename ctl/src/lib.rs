//! cairnctl: the command-line client. systemctl's verbs and exit codes, over the control API
//! (proto/schema/control.capnp) on RUNTIME-DIR/control.

pub mod analyze;
pub mod client;
pub mod compat;
pub mod component;
pub mod install;
pub mod output;
pub mod units;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// systemctl's exit codes (LSB), as cairnctl uses them.
pub mod exit {
    pub const OK: i32 = 0;
    /// A request failed, or no manager answered.
    pub const FAILURE: i32 = 1;
    /// Bad usage (clap's own code).
    pub const USAGE: i32 = 2;
    /// The caller may only read.
    pub const PERMISSION: i32 = 4;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Ron,
}

#[derive(Debug, Parser)]
#[command(
    name = "cairnctl",
    version,
    about = "Control the cairn init system and service manager."
)]
pub struct Cli {
    /// The control socket of the instance to talk to.
    #[arg(
        long,
        env = "CAIRN_SOCKET",
        default_value = "/run/cairn/control",
        global = true
    )]
    pub socket: PathBuf,
    /// Operate on the unit files below DIR (an image), with no manager: enable, disable,
    /// reenable, preset, mask, unmask, is-enabled, list-unit-files.
    #[arg(long = "root", id = "image_root", value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
    /// Output format of listings.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text, global = true)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect cairn's own processes.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Stop everything and power the machine off (end the container/sandbox).
    Poweroff,
    /// Stop everything and reboot (a container's parent sees SIGHUP).
    Reboot,
    /// Stop everything and halt.
    Halt,
    /// Leave the initramfs: make ROOT (a mounted file system, usually /sysroot) the root and
    /// run INIT there (default: /usr/lib/cairn/cairn-init, else /sbin/init). Services the new
    /// root has units for keep running.
    SwitchRoot {
        root: String,
        #[arg(default_value = "")]
        init: String,
    },
    /// Show the uid the manager sees for this client and what it may do.
    Whoami,
    /// Print the manager's version.
    Version,
    #[command(flatten)]
    Unit(UnitCommand),
    #[command(flatten)]
    Install(InstallCommand),
}

/// systemctl's unit file verbs: links in /etc/cairn/system as `[Install]` says. Without
/// `--root`, a running manager reloads its units afterwards (`--now` also starts or stops).
#[derive(Debug, Subcommand)]
pub enum InstallCommand {
    /// Make the links `[Install]` asks for (WantedBy=, RequiredBy=, Alias=, Also=); a unit
    /// given by its absolute path is linked in first.
    Enable {
        #[arg(required = true)]
        units: Vec<String>,
        /// Start them too.
        #[arg(long)]
        now: bool,
    },
    /// Make unit files outside the unit path part of it (a link in /etc/cairn/system).
    Link {
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Remove every link to the units (and their Also= units).
    Disable {
        #[arg(required = true)]
        units: Vec<String>,
        /// Stop them too.
        #[arg(long)]
        now: bool,
    },
    /// Disable, then enable.
    Reenable {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long)]
        now: bool,
    },
    /// Enable or disable as the preset files (system-preset/*.preset) say.
    Preset {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long)]
        now: bool,
    },
    /// Link the units to /dev/null: they cannot be started at all.
    Mask {
        #[arg(required = true)]
        units: Vec<String>,
        /// Stop them too.
        #[arg(long)]
        now: bool,
    },
    /// Remove the /dev/null links.
    Unmask {
        #[arg(required = true)]
        units: Vec<String>,
    },
    /// Print each unit file's state; exit 0 if one is enabled (or static, indirect, alias,
    /// generated).
    IsEnabled {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Every unit file with its state and what the presets say.
    ListUnitFiles { patterns: Vec<String> },
}

/// systemctl's unit verbs. A name without a type suffix means NAME.service.
#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Start units (and what they require), waiting for their jobs.
    Start {
        #[arg(required = true)]
        units: Vec<String>,
        /// Queue the jobs and return at once.
        #[arg(long)]
        no_block: bool,
        /// replace, fail, isolate, ignore-dependencies, ignore-requirements, flush
        #[arg(long, default_value = "replace")]
        job_mode: String,
    },
    /// Stop units (and what requires them).
    Stop {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long)]
        no_block: bool,
    },
    /// Stop then start units.
    Restart {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long)]
        no_block: bool,
    },
    /// Restart units that are running; leave the others alone.
    TryRestart {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long)]
        no_block: bool,
    },
    /// Run the units' ExecReload=.
    Reload {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long)]
        no_block: bool,
    },
    /// Start a unit and stop everything it does not need.
    Isolate {
        unit: String,
        #[arg(long)]
        no_block: bool,
    },
    /// Send a signal to a unit's processes.
    Kill {
        #[arg(required = true)]
        units: Vec<String>,
        #[arg(long, short = 's', default_value = "SIGTERM")]
        signal: String,
        /// all, main or control
        #[arg(long, default_value = "all")]
        kill_whom: String,
    },
    /// A unit's state, recent log and what went wrong.
    Status {
        #[arg(required = true)]
        units: Vec<String>,
        /// How many log lines to show.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: u32,
    },
    /// A unit's properties (KEY=VALUE).
    Show {
        unit: String,
        /// Only these properties (repeat, or comma-separated).
        #[arg(long, short = 'p')]
        property: Vec<String>,
    },
    /// The files a unit was loaded from.
    Cat {
        #[arg(required = true)]
        units: Vec<String>,
    },
    /// Loaded units that are active, failed or have a job (--all: every unit).
    ListUnits {
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// What a unit pulls in (--reverse: what pulls it in).
    ListDependencies {
        unit: String,
        #[arg(long)]
        reverse: bool,
    },
    /// Queued and running jobs.
    ListJobs,
    /// Socket units' listening addresses, what they activate, and how often they did.
    ListSockets,
    /// How the boot went: `time` (the default: kernel and userspace), `blame` (each unit's
    /// start, slowest first), `critical-chain [UNIT…]`, `plot` (an SVG of the boot), `dot
    /// [--order|--require] [PATTERN…]` (the dependency graph for Graphviz), `verify FILE…`
    /// (check unit files; no manager needed).
    Analyze {
        #[arg(default_value = "time")]
        what: String,
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Exit 0 if any unit is active, 3 otherwise.
    IsActive {
        #[arg(required = true)]
        units: Vec<String>,
    },
    /// Exit 0 if any unit is failed, 1 otherwise.
    IsFailed {
        #[arg(required = true)]
        units: Vec<String>,
    },
    /// Reread unit files.
    DaemonReload,
    /// Record which units are active now as NAME.snapshot (default: snapshot-N); `isolate
    /// NAME.snapshot` returns to that state. Kept until reboot (or `delete`).
    Snapshot { name: Option<String> },
    /// Remove snapshots.
    Delete {
        #[arg(required = true)]
        snapshots: Vec<String>,
    },
    /// Re-execute a process of cairn in place, losing nothing: the supervisor (its units'
    /// states kept, services untouched), or with `--init` cairn-init (its fd store and the
    /// supervisor's link kept). `--binary PATH` runs another build of it.
    DaemonReexec {
        #[arg(long)]
        init: bool,
        #[arg(long)]
        binary: Option<std::path::PathBuf>,
    },
    /// Forget that units failed.
    ResetFailed { units: Vec<String> },
    /// The chain of dependencies that started a unit.
    Why { unit: String },
    /// What kept a unit from running: a failed job, a condition, a conflict, a dependency.
    WhyNot { unit: String },
    /// A unit's output.
    Log {
        unit: String,
        /// Keep printing new lines.
        #[arg(long, short = 'f')]
        follow: bool,
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: u32,
        /// Only this priority and more important: emerg, alert, crit, err, warning, notice,
        /// info, debug, or 0–7.
        #[arg(long, short = 'p')]
        priority: Option<String>,
        /// Only lines from the last N seconds, or (`@N`) since N seconds after the epoch.
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Every process of cairn: init, supervisor and the helpers.
    List,
    /// One process of cairn in its own words (a helper is asked directly, on a socket it
    /// serves itself, unless --via-supervisor).
    Status {
        name: String,
        #[arg(long)]
        via_supervisor: bool,
    },
    /// Set a fail point (testing: debug builds, or release with fault-injection): POINT is
    /// `NAME::place` (see `cairnctl component failpoint --list`), ACTION `off`, `abort`,
    /// `exit`, `panic`, `sleep(MS)`, `N*ACTION`… Root only.
    Failpoint {
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        point: Option<String>,
        action: Option<String>,
        #[arg(long)]
        list: bool,
    },
    /// Restart a helper (activator, mounter, devmon); it gets every fd back.
    Restart { name: String },
    /// Run another binary for a helper from now on (it must say `cairn-NAME …` to
    /// `--version`), restarting it.
    Replace {
        name: String,
        binary: std::path::PathBuf,
    },
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> i32 {
    match client::execute(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// clap's own consistency checks (two arguments of one id — `--root` and switch-root's
    /// ROOT once were — panic at parse time otherwise).
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn switch_root_and_root_do_not_collide() {
        let c = Cli::try_parse_from(["cairnctl", "switch-root", "/sysroot"]).unwrap();
        assert!(c.root.is_none());
        assert!(matches!(c.command, Command::SwitchRoot { ref root, .. } if root == "/sysroot"));
        let c = Cli::try_parse_from(["cairnctl", "enable", "--root=/img", "foo"]).unwrap();
        assert_eq!(c.root.as_deref(), Some(std::path::Path::new("/img")));
    }
}

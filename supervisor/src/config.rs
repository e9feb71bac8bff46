//! The supervisor's command line, as cairn-init passes it on.

use std::path::PathBuf;

use clap::Parser;

/// The helpers a supervisor runs unless told otherwise.
pub const HELPERS: &[&str] = &["activator", "mounter", "devmon"];

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cairn-supervisor",
    version,
    about = "cairn's supervisor: units, jobs, spawning, cgroups, the control API.",
    long_about = "cairn's supervisor. Started by cairn-init with its end of the pid1 link on fd 3 \
                  (CAIRN_INIT_FD); run by hand without it, it has no fd store and exits on \
                  poweroff. It starts the helpers (cairn-activator, cairn-mounter, cairn-devmon, \
                  found beside its own binary or in /usr/lib/cairn) with their bus on fd 3."
)]
pub struct Config {
    /// Run as the spawner (started by the supervisor itself, socket on fd 3).
    #[arg(long, hide = true)]
    pub spawner: bool,
    /// Container mode: change nothing shared with the host.
    #[arg(long, conflicts_with = "system")]
    pub container: bool,
    /// System mode: this is the machine's init.
    #[arg(long)]
    pub system: bool,
    /// The unit directory (with cairn's standard targets, the whole unit path).
    #[arg(long)]
    pub units: Option<PathBuf>,
    /// The unit to start.
    #[arg(long, default_value = "default.target")]
    pub target: String,
    /// Where the control socket lives.
    #[arg(long, default_value = "/run/cairn")]
    pub runtime_dir: PathBuf,
    /// The cgroup v2 directory cairn owns.
    #[arg(long)]
    pub cgroup_root: Option<PathBuf>,
    /// The manager's configuration file (RON); default /etc/cairn/cairn.ron in system mode.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which helpers to run (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = HELPERS.iter().map(|s| s.to_string()))]
    pub helpers: Vec<String>,
    /// Words from the kernel command line that cairn-init did not know.
    #[arg(last = true)]
    pub kernel_args: Vec<String>,
}

impl Config {
    pub fn control_socket(&self) -> PathBuf {
        self.runtime_dir.join("control")
    }

    /// Container mode unless `--system` was given.
    pub fn container_mode(&self) -> bool {
        !self.system
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_kernel_words() {
        let c = Config::parse_from(["s", "--container", "--units", "/u", "--", "single", "--x"]);
        assert!(c.container_mode());
        assert_eq!(c.helpers, vec!["activator", "mounter", "devmon"]);
        assert_eq!(c.kernel_args, vec!["single", "--x"]);
        assert_eq!(c.control_socket(), PathBuf::from("/run/cairn/control"));
    }

    #[test]
    fn helpers_can_be_chosen() {
        let c = Config::parse_from(["s", "--helpers", "devmon"]);
        assert_eq!(c.helpers, vec!["devmon"]);
    }
}

//! cairn-init's command line. Hand-parsed: pid1 stays small and must never refuse to boot
//! because the kernel passed it a word it does not know (`single`, `emergency`, `quiet` …).

use std::ffi::OsString;
use std::path::PathBuf;

/// What pid1 reads for itself; the whole command line is passed on to the supervisor.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    /// `--units DIR`: the sandbox/container interface. Implies container mode.
    pub units: Option<OsString>,
    /// `--supervisor PATH`: run this supervisor binary instead of the sibling one.
    pub supervisor: Option<PathBuf>,
    /// `--container` / `--system`: force the mode.
    pub force_container: Option<bool>,
    /// `--stop-timeout-ms N`: grace between SIGTERM and SIGKILL at final shutdown.
    pub stop_timeout_ms: Option<u64>,
    /// `--deserialize FD`: a previous cairn-init (before switch-root) left its fd store and
    /// pending exits in this memfd.
    pub deserialize: Option<i32>,
    pub help: bool,
    pub version: bool,
    /// Everything to hand to the supervisor: known options with their values, then `--` and the
    /// words pid1 does not know.
    pub forward: Vec<OsString>,
}

/// Options taking a value that pid1 forwards to the supervisor untouched.
const FORWARDED_WITH_VALUE: &[&str] = &["--target", "--runtime-dir", "--cgroup-root", "--config"];

pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Args {
    let mut args = Args::default();
    let mut unknown = Vec::new();
    let mut it = argv.into_iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_str().unwrap_or("");
        match s {
            "--units" => {
                if let Some(v) = it.next() {
                    args.forward.push(a.clone());
                    args.forward.push(v.clone());
                    args.units = Some(v);
                }
            }
            "--supervisor" => args.supervisor = it.next().map(PathBuf::from),
            "--stop-timeout-ms" => {
                args.stop_timeout_ms = it.next().and_then(|v| v.to_str()?.parse().ok())
            }
            "--deserialize" => args.deserialize = it.next().and_then(|v| v.to_str()?.parse().ok()),
            "--container" => args.force_container = Some(true),
            "--system" => args.force_container = Some(false),
            "--help" | "-h" => args.help = true,
            "--version" => args.version = true,
            _ if FORWARDED_WITH_VALUE.contains(&s) => {
                if let Some(v) = it.next() {
                    args.forward.push(a);
                    args.forward.push(v);
                }
            }
            _ => unknown.push(a),
        }
    }
    if !unknown.is_empty() {
        args.forward.push("--".into());
        args.forward.extend(unknown);
    }
    args
}

pub const USAGE: &str = "\
cairn-init: cairn's PID 1. Reaps orphans, keeps the fd store, (re)starts cairn-supervisor,
and powers off, reboots or halts on the supervisor's word.

usage: cairn-init [--units DIR] [--target NAME] [--runtime-dir DIR] [--cgroup-root PATH]
                  [--supervisor PATH] [--container|--system] [--stop-timeout-ms N]

  --units DIR        run as a container/sandbox init: DIR plus cairn's standard targets is the
                     whole unit path (implies --container)
  --target NAME      the unit to start (default: default.target)
  --runtime-dir DIR  where the control socket lives (default: /run/cairn)
  --cgroup-root PATH the cgroup v2 directory cairn owns (default: the cgroup2 mount in system
                     mode, the current cgroup in container mode)
  --supervisor PATH  the supervisor binary (default: cairn-supervisor beside this binary, then
                     /usr/lib/cairn/cairn-supervisor)

Container mode is chosen by --units, by `container=` in the environment, or when this is not
the initial PID namespace's PID 1; it changes nothing shared with the host.
Words it does not know (from the kernel command line) are passed to the supervisor.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Args {
        parse(v.iter().map(OsString::from))
    }

    #[test]
    fn known_options_are_read_and_forwarded() {
        let a = p(&[
            "init",
            "--units",
            "/u",
            "--target",
            "x.target",
            "--supervisor",
            "/s",
        ]);
        assert_eq!(a.units.as_deref(), Some(std::ffi::OsStr::new("/u")));
        assert_eq!(a.supervisor, Some(PathBuf::from("/s")));
        assert_eq!(a.forward, vec!["--units", "/u", "--target", "x.target"]);
    }

    #[test]
    fn kernel_words_never_fail_and_go_after_a_separator() {
        let a = p(&["/init", "single", "quiet", "--weird"]);
        assert_eq!(a.forward, vec!["--", "single", "quiet", "--weird"]);
        assert!(a.units.is_none());
    }

    #[test]
    fn a_missing_value_is_ignored_not_fatal() {
        let a = p(&["init", "--units"]);
        assert!(a.units.is_none());
        assert!(a.forward.is_empty());
    }
}

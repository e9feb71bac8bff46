//! The supervisor's one piece of state, shared by the tasks of its single-threaded loop as
//! `Rc<RefCell<World>>`. No borrow is held across an `.await`.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use crate::cgroup::Cgroups;
use crate::components::Helper;
use crate::config::Config;
use crate::init_link::InitLink;
use crate::state::State;

pub struct World {
    pub config: Config,
    pub container: bool,
    /// This supervisor instance's start; `state.boot_realtime_usec` is the boot's.
    pub started_realtime_usec: u64,
    /// Control-API calls served.
    pub calls: u64,
    /// None when run by hand, without cairn-init.
    pub link: Option<Rc<InitLink>>,
    pub generation: u32,
    pub cgroups: Option<Cgroups>,
    pub helpers: Vec<Helper>,
    /// Where the helper binaries are.
    pub helper_dir: PathBuf,
    pub state: State,
    pub shutting_down: bool,
    /// The default target was started (it is started once, after fstab's units are in).
    pub default_started: bool,
    /// A save of the units' states is due (`persist::changed`).
    pub save_pending: bool,
    /// Units that sent an unreadable notify message (said once each).
    pub notify_complained: std::collections::BTreeSet<crate::job::graph::UnitId>,
    /// The unit started at boot (`--target`, or `cairn.unit=`), for `analyze`.
    pub boot_target: String,
    /// Units, jobs, services.
    pub manager: crate::manager::Manager,
    /// What the outer loop keeps per unit (log pipes, timers, cgroups) and job waiters.
    pub io: crate::runtime::Io,
    /// The unit search path, first match wins.
    pub unit_dirs: Vec<PathBuf>,
    /// The SysV init scripts translated into the last directory of `unit_dirs` (the late
    /// generator directory) before each scan (`unit::sysv`).
    pub sysv_init_d: Option<PathBuf>,
    /// What the last scan of it found (for units loaded later: Accept=yes instances).
    pub catalog: Rc<crate::unit::load::Catalog>,
    pub spec: crate::unit::specifier::Context,
}

pub type WorldRef = Rc<RefCell<World>>;

impl World {
    pub fn helper_index(&self, name: &str) -> Option<usize> {
        self.helpers.iter().position(|h| h.name == name)
    }
}

/// The console's log level, as syslog numbers (0 emerg … 7 debug): lines less important are
/// not printed. info (6) by default; `quiet` on the kernel command line makes it notice (5);
/// `cairn.log_level=` (or `systemd.log_level=`) sets it ([`log_level_from`]).
pub static LOG_LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(6);

/// Whether a line of this level is printed.
pub fn logs(level: u8) -> bool {
    level <= LOG_LEVEL.load(std::sync::atomic::Ordering::Relaxed)
}

/// The level the kernel command line asks for, if it asks: a name (`debug`, `info`,
/// `notice`, `warning`, `err`, `crit`, `alert`, `emerg`) or 0–7; the last word wins.
pub fn log_level_from<'a>(words: impl Iterator<Item = &'a str>) -> Option<u8> {
    let mut level = None;
    for w in words {
        if w == "quiet" && level.is_none() {
            level = Some(5);
            continue;
        }
        let Some(v) = w
            .strip_prefix("cairn.log_level=")
            .or_else(|| w.strip_prefix("systemd.log_level="))
        else {
            continue;
        };
        let named = crate::unit::exec_config::PRIORITIES
            .iter()
            .position(|n| *n == v)
            .and_then(|i| u8::try_from(i).ok());
        if let Some(l) = named.or_else(|| v.parse::<u8>().ok().filter(|l| *l <= 7)) {
            level = Some(l);
        }
    }
    level
}

/// Writes one line to stderr with one write(2): on a console shared with other processes (a
/// shell, pid1) a line is never cut by another's output, as `eprintln!`'s pieces can be.
pub fn line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let text = format!("cairn-supervisor: {args}\n");
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Logs one line (info) to the supervisor's stderr (the console, or the sandbox log).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if $crate::world::logs(6) {
            $crate::world::line(format_args!($($arg)*))
        }
    };
}

/// A line at notice level: what a person watching the console should see even with `quiet`.
#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => {
        if $crate::world::logs(5) {
            $crate::world::line(format_args!($($arg)*))
        }
    };
}

/// A line at warning level: something failed or was refused.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        if $crate::world::logs(4) {
            $crate::world::line(format_args!($($arg)*))
        }
    };
}

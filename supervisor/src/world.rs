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
    /// The unit started at boot (`--target`, or `cairn.unit=`), for `analyze`.
    pub boot_target: String,
    /// Units, jobs, services.
    pub manager: crate::manager::Manager,
    /// What the outer loop keeps per unit (log pipes, timers, cgroups) and job waiters.
    pub io: crate::runtime::Io,
    /// The unit search path, first match wins.
    pub unit_dirs: Vec<PathBuf>,
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

/// Logs one line to the supervisor's stderr (the console, or the sandbox log).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("cairn-supervisor: {}", format_args!($($arg)*)) };
}

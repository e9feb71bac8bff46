//! cairn-devmon: kernel uevents and /sys into device units.
//!
//! - `uevent`: the message parser (pure; fuzzed).
//! - `sysfs`: which devices are units, readiness, coldplug.
//! - `server`: the netlink socket and the reports to the supervisor.

pub mod modules;
pub mod server;
pub mod sysfs;
pub mod uevent;

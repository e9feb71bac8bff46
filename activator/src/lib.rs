//! cairn-activator: creates the sockets of socket units, watches them, and tells the
//! supervisor when one has traffic.
//!
//! The supervisor decides and keeps; the activator makes and watches. Every socket it makes
//! goes straight back to the supervisor (which parks a copy in pid1's store), so a dead
//! activator loses nothing: the next one is handed the same sockets with `watch`, and what
//! arrived meanwhile waits in the kernel's queues.
//!
//! - `bind`: making one socket, FIFO, special file or netlink socket with its options.
//! - `server`: the `Activator` capability (open, watch, unwatch, list) and the watch loops.

pub mod bind;
pub mod server;
pub mod standalone;

/// Raises RLIMIT_NOFILE to the kernel's `fs.nr_open`: the activator holds a copy of every
/// socket it watches (brief §1).
pub fn raise_nofile() {
    let max = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, max, max);
}

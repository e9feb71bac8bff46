//! cairn's bus: the contract between its processes.
//!
//! - [`generated`]: the Rust code for `schema/*.capnp` (committed; `make proto` regenerates it).
//! - [`seqpacket`]: one Cap'n Proto message per SOCK_SEQPACKET packet with SCM_RIGHTS, the
//!   pid1 ↔ supervisor link. No async runtime, so pid1 can use it.
//! - [`fdstream`] (feature `rpc`): the AsyncRead/AsyncWrite adapter that carries fds beside the
//!   RPC bytes on a Unix stream.
//! - [`component`] (feature `rpc`): the skeleton every helper runs: connect, register, answer
//!   introspection, exit when told or when the link breaks.
//!
//! A component may depend on this crate, never on another component's crate.

pub mod generated {
    #![allow(clippy::all, unused, missing_docs)]
    pub mod bus_capnp;
    pub mod control_capnp;
    pub mod pid1_capnp;
}

pub use generated::{bus_capnp, control_capnp, pid1_capnp};

pub mod child;
pub mod procinfo;
pub mod seqpacket;

#[cfg(feature = "rpc")]
pub mod component;
#[cfg(feature = "rpc")]
pub mod fdstream;

/// The version every component reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The fd on which a helper finds its end of the bus, and pid1's link in the supervisor.
pub const BUS_FD: i32 = 3;

/// The most fds one SCM_RIGHTS message may carry (the kernel's SCM_MAX_FD).
pub const SCM_MAX_FD: usize = 253;

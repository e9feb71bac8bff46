//! cairn-mounter: reads fstab, runs fsck, mounts and unmounts, and watches the mount table.
//!
//! - `fstab`: the fstab parser (pure); `options`: mount options into flags and data (pure).
//! - `mountinfo`: /proc/self/mountinfo, read and watched.
//! - `server`: the `Mounter` capability and the watch.

pub mod autofs;
pub mod automount;
pub mod fstab;
pub mod mountinfo;
pub mod options;
pub mod server;

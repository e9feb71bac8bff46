//! What the supervisor keeps across its own crash: serialized as RON into a memfd that lives in
//! pid1's fd store under [`STATE_FD`], rewritten on every change that matters.
//!
//! The format carries a version; a state of another version is refused with a clear message,
//! never misread.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};

pub const STATE_FD: &str = "supervisor.state";
pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// When the first supervisor of this boot started.
    pub boot_realtime_usec: u64,
    /// Restarts of each helper since boot.
    pub helper_restarts: BTreeMap<String, u32>,
    /// (st_dev, st_ino) of the control socket's file when it was bound. fstat on the socket
    /// gives the sockfs inode, not the file's, so this is how a restarted supervisor knows the
    /// stored listener is still the one at the path.
    #[serde(default)]
    pub control_socket_file: Option<(u64, u64)>,
    /// Likewise for the syslog socket cairn owns.
    #[serde(default)]
    pub syslog_socket_file: Option<(u64, u64)>,
    /// When this boot left the initrd (`cairnctl switch-root`), realtime µs; 0 if it did not.
    #[serde(default)]
    pub switch_root_realtime_usec: u64,
    /// Every unit that is not dead, as it was (`persist`), and the jobs in flight.
    #[serde(default)]
    pub units: Vec<SavedUnit>,
    #[serde(default)]
    pub jobs: Vec<SavedJob>,
    /// The boot's default target was started: a new supervisor does not start it again.
    #[serde(default)]
    pub default_started: bool,
    /// Where the helpers' binaries were found (for a supervisor started from elsewhere).
    #[serde(default)]
    pub helper_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedUnit {
    pub name: String,
    /// The service's state (`running`, `exited`, `failed`, …), or `active` for a target.
    pub state: String,
    pub result: String,
    pub main_pid: i32,
    /// A service waiting to restart: when (realtime µs).
    #[serde(default)]
    pub due_usec: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedJob {
    pub unit: String,
    pub jtype: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state memfd: {0}")]
    Io(#[from] std::io::Error),
    #[error("state memfd: {0}")]
    Memfd(#[from] nix::Error),
    #[error("state is not valid RON: {0}")]
    Parse(#[from] ron::error::SpannedError),
    #[error("state cannot be written: {0}")]
    Serialize(#[from] ron::Error),
    #[error("state has version {found}, this supervisor reads version {STATE_VERSION}")]
    Version { found: u32 },
}

impl State {
    pub fn new(boot_realtime_usec: u64) -> State {
        State {
            version: STATE_VERSION,
            boot_realtime_usec,
            helper_restarts: BTreeMap::new(),
            control_socket_file: None,
            syslog_socket_file: None,
            switch_root_realtime_usec: 0,
            units: Vec::new(),
            jobs: Vec::new(),
            default_started: false,
            helper_dir: None,
        }
    }

    pub fn to_ron(&self) -> Result<String, StateError> {
        Ok(ron::ser::to_string_pretty(
            self,
            ron::ser::PrettyConfig::default(),
        )?)
    }

    pub fn from_ron(text: &str) -> Result<State, StateError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        // Read the version alone first, so a newer format is refused by its number rather than
        // by whatever field it happens to add.
        let v: Versioned = ron::Options::default()
            .without_recursion_limit()
            .from_str::<ron::Value>(text)
            .ok()
            .and_then(|v| v.into_rust::<Versioned>().ok())
            .unwrap_or(Versioned { version: 0 });
        if v.version != STATE_VERSION {
            return Err(StateError::Version { found: v.version });
        }
        Ok(ron::from_str(text)?)
    }

    /// A fresh memfd holding this state.
    pub fn to_memfd(&self) -> Result<OwnedFd, StateError> {
        let fd = nix::sys::memfd::memfd_create(
            c"cairn-supervisor-state",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )?;
        let mut f = std::fs::File::from(fd);
        f.write_all(self.to_ron()?.as_bytes())?;
        Ok(OwnedFd::from(f))
    }

    pub fn from_fd(fd: OwnedFd) -> Result<State, StateError> {
        let mut f = std::fs::File::from(fd);
        f.seek(SeekFrom::Start(0))?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        State::from_ron(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_memfd() {
        let mut s = State::new(42);
        s.helper_restarts.insert("activator".into(), 3);
        s.switch_root_realtime_usec = 7;
        s.units.push(SavedUnit {
            name: "bad.service".into(),
            state: "failed".into(),
            result: "exit-code".into(),
            main_pid: 0,
            due_usec: 0,
        });
        s.jobs.push(SavedJob {
            unit: "a.target".into(),
            jtype: "start".into(),
        });
        s.default_started = true;
        let back = State::from_fd(s.to_memfd().unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn another_version_is_refused_by_number() {
        let err = State::from_ron("(version: 7, boot_realtime_usec: 1, helper_restarts: {}, x: 1)")
            .unwrap_err();
        assert!(err.to_string().contains("version 7"), "{err}");
        let err = State::from_ron("garbage").unwrap_err();
        assert!(err.to_string().contains("version 0"), "{err}");
    }
}

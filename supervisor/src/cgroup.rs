//! cgroupfs, driven by plain file I/O.
//!
//! The `cgroups-rs` crate (0.5) was tried and rejected (docs/architecture.md says why): on a
//! hybrid host it silently picks v1, it cannot use a v2 tree that is not at /sys/fs/cgroup,
//! it has no `cgroup.events`, and its `apply()` discards write errors. cairn needs exactly one
//! hierarchy (v2, wherever it is mounted) and every write error reported.
//!
//! Layout under the root cairn owns (ARCHITECTURE.md §1):
//! `<root>/init.scope` holds pid1, the supervisor and the helpers (cgroup v2 allows no
//! processes in a cgroup whose controllers are enabled for its children);
//! `<root>/system.slice/NAME.service` holds each service.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup2 file system is mounted (looked in /proc/self/mountinfo)")]
    NoUnifiedHierarchy,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot move pid {pid} into {path}: {source}")]
    Move {
        pid: i32,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: controller not enabled for this cgroup")]
    ControllerNotEnabled { file: PathBuf },
    #[error("cannot write {file}: {source}")]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
}

/// Where the cgroup2 hierarchy is mounted, from mountinfo text.
pub fn unified_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split(' ').next()?;
        let mountpoint = left.split(' ').nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mountpoint))
    })
}

/// The calling process's cgroup v2 path (the `0::` line of /proc/self/cgroup).
pub fn own_path(proc_self_cgroup: &str) -> Option<String> {
    proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// The cgroup tree cairn owns.
#[derive(Debug, Clone)]
pub struct Cgroups {
    root: PathBuf,
}

impl Cgroups {
    /// Picks the root: `explicit` if given; in system mode the hierarchy's root; in container
    /// mode the cgroup we were started in (a container runtime delegates it to us) — unless that
    /// is the host's root, which we must not take over, in which case a fresh child of it.
    pub fn discover(explicit: Option<&Path>, container: bool) -> Result<Cgroups, CgroupError> {
        if let Some(root) = explicit {
            return Ok(Cgroups {
                root: root.to_path_buf(),
            });
        }
        let mountinfo = read("/proc/self/mountinfo")?;
        let mount = unified_mount(&mountinfo).ok_or(CgroupError::NoUnifiedHierarchy)?;
        if !container {
            return Ok(Cgroups { root: mount });
        }
        let own = own_path(&read("/proc/self/cgroup")?).unwrap_or_else(|| "/".into());
        let own = own.trim_start_matches('/');
        let root = if own.is_empty() {
            mount.join(format!("cairn-{}", std::process::id()))
        } else {
            // We sit in init.scope of our own tree after a supervisor restart.
            let p = mount.join(own);
            match p.file_name().and_then(|n| n.to_str()) {
                Some("init.scope") => p.parent().map(Path::to_path_buf).unwrap_or(p),
                _ => p,
            }
        };
        Ok(Cgroups { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn init_scope(&self) -> PathBuf {
        self.root.join("init.scope")
    }

    pub fn system_slice(&self) -> PathBuf {
        self.root.join("system.slice")
    }

    /// The cgroup of a service unit.
    pub fn service(&self, unit: &str) -> PathBuf {
        self.system_slice().join(unit)
    }

    /// Creates the root, init.scope and system.slice, and moves `pids` into init.scope.
    pub fn setup(&self, pids: &[i32]) -> Result<(), CgroupError> {
        for dir in [self.root.clone(), self.init_scope(), self.system_slice()] {
            create(&dir)?;
        }
        for &pid in pids {
            move_pid(&self.init_scope(), pid)?;
        }
        Ok(())
    }
}

fn read(path: &str) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.into(),
        source,
    })
}

pub fn create(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(source) => Err(CgroupError::Create {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Writes `pid` into `dir/cgroup.procs`.
pub fn move_pid(dir: &Path, pid: i32) -> Result<(), CgroupError> {
    write_file(&dir.join("cgroup.procs"), &pid.to_string()).map_err(|e| match e {
        CgroupError::Write { source, .. } => CgroupError::Move {
            pid,
            path: dir.to_path_buf(),
            source,
        },
        other => other,
    })
}

/// Writes a cgroup control file. Opened without O_CREAT: a missing file means the controller
/// is not enabled (ENOENT), which is reported as such; EACCES stays a permission problem.
pub fn write_file(file: &Path, value: &str) -> Result<(), CgroupError> {
    let mut f =
        std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => CgroupError::ControllerNotEnabled {
                    file: file.to_path_buf(),
                },
                _ => CgroupError::Write {
                    file: file.to_path_buf(),
                    source,
                },
            })?;
    f.write_all(value.as_bytes())
        .map_err(|source| CgroupError::Write {
            file: file.to_path_buf(),
            source,
        })
}

/// The pids in a cgroup (not its children).
pub fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
";

    #[test]
    fn finds_the_v2_tree_on_a_hybrid_host() {
        assert_eq!(
            unified_mount(HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(unified_mount("1 2 0:1 / / rw - ext4 /dev/sda rw\n"), None);
    }

    #[test]
    fn own_path_reads_the_v2_line() {
        let s = "9:name=systemd:/\n4:memory:/x\n0::/system.slice/foo.service\n";
        assert_eq!(own_path(s).as_deref(), Some("/system.slice/foo.service"));
    }

    #[test]
    fn a_missing_control_file_means_controller_not_enabled() {
        let d = tempfile::tempdir().unwrap();
        let err = write_file(&d.path().join("memory.max"), "1M").unwrap_err();
        assert!(
            matches!(err, CgroupError::ControllerNotEnabled { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("controller not enabled"));
    }

    #[test]
    fn explicit_root_is_used_as_given() {
        let c = Cgroups::discover(Some(Path::new("/sys/fs/cgroup/unified/t")), true).unwrap();
        assert_eq!(
            c.init_scope(),
            PathBuf::from("/sys/fs/cgroup/unified/t/init.scope")
        );
        assert_eq!(
            c.service("a.service"),
            PathBuf::from("/sys/fs/cgroup/unified/t/system.slice/a.service")
        );
    }
}

//! The `[Mount]` and `[Automount]` sections (systemd.mount(5), systemd.automount(5)), and the
//! rule that binds a mount or automount unit's name to its path.
//!
//! Pure: no syscalls. The mounter (issue 6) turns these settings into mount(2) calls and
//! autofs mount points; the supervisor decides when.

use std::time::Duration;

use super::name;
use super::values::{parse_bool, parse_timespan};

/// systemd's DefaultTimeoutStartSec, which TimeoutSec= of a mount defaults to.
pub const DEFAULT_MOUNT_TIMEOUT: Duration = Duration::from_secs(90);

/// `[Mount]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSection {
    pub what: Option<String>,
    /// `Where=`, simplified; `None` until given (then it comes from the unit's name).
    pub where_: Option<String>,
    pub fstype: Option<String>,
    pub options: String,
    pub sloppy_options: bool,
    pub lazy_unmount: bool,
    pub force_unmount: bool,
    pub read_write_only: bool,
    pub directory_mode: u32,
    /// `TimeoutSec=`: how long mounting (with its fsck) or unmounting may take.
    pub timeout: Option<Duration>,
    /// `X-CairnFsck=yes` (a cairn extension, written for fstab lines with a pass number):
    /// `fsck -a` What= before mounting (systemd pulls in systemd-fsck@.service instead).
    pub fsck: bool,
    /// `X-CairnDeviceTimeoutSec=` (written for fstab's x-systemd.device-timeout=): how long
    /// to wait for What= to appear. Until devmon's device units (issue 7) this is a wait for
    /// the path; systemd waits for the device unit, 90 s by default, as here.
    pub device_timeout: Option<Duration>,
    /// `X-CairnMakefs=` / `X-CairnGrowfs=` (fstab's x-systemd.makefs / x-systemd.growfs):
    /// make the file system when the device has none; grow it to the device after mounting.
    pub makefs: bool,
    pub growfs: bool,
}

impl Default for MountSection {
    fn default() -> Self {
        MountSection {
            what: None,
            where_: None,
            fstype: None,
            options: String::new(),
            sloppy_options: false,
            lazy_unmount: false,
            force_unmount: false,
            read_write_only: false,
            directory_mode: 0o755,
            timeout: Some(DEFAULT_MOUNT_TIMEOUT),
            fsck: false,
            device_timeout: Some(DEFAULT_MOUNT_TIMEOUT),
            makefs: false,
            growfs: false,
        }
    }
}

/// `[Automount]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomountSection {
    pub where_: Option<String>,
    /// `TimeoutIdleSec=`: unmount after this long unused (None: never).
    pub timeout_idle: Option<Duration>,
    pub directory_mode: u32,
}

impl Default for AutomountSection {
    fn default() -> Self {
        AutomountSection {
            where_: None,
            timeout_idle: None,
            directory_mode: 0o755,
        }
    }
}

/// A bad value: the caller logs it with file:line and ignores the assignment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?}: {reason}")]
pub struct MountConfigError {
    pub key: String,
    pub value: String,
    pub reason: &'static str,
}

fn bad(key: &str, value: &str, reason: &'static str) -> MountConfigError {
    MountConfigError {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    }
}

fn path(key: &str, value: &str) -> Result<Option<String>, MountConfigError> {
    if value.is_empty() {
        return Ok(None);
    }
    if !value.starts_with('/') || !name::path_is_valid(value) {
        return Err(bad(key, value, "not an absolute path"));
    }
    Ok(Some(name::path_simplify(value)))
}

fn mode(key: &str, value: &str) -> Result<u32, MountConfigError> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| bad(key, value, "not an octal mode"))
}

fn boolean(key: &str, value: &str) -> Result<bool, MountConfigError> {
    parse_bool(value).ok_or_else(|| bad(key, value, "not a boolean"))
}

fn timeout(key: &str, value: &str) -> Result<Option<Duration>, MountConfigError> {
    match parse_timespan(value) {
        // 0 means no timeout, as infinity does.
        Some(Some(d)) if d.is_zero() => Ok(None),
        Some(t) => Ok(t),
        None => Err(bad(key, value, "not a time span")),
    }
}

/// One `[Mount]` key. `Ok(false)`: not a key of this section (the caller tries the shared
/// execution settings, then warns).
pub fn apply_mount(m: &mut MountSection, key: &str, value: &str) -> Result<bool, MountConfigError> {
    match key {
        "What" => m.what = (!value.is_empty()).then(|| value.to_string()),
        "Where" => m.where_ = path(key, value)?,
        "Type" => m.fstype = (!value.is_empty()).then(|| value.to_string()),
        "Options" => m.options = value.to_string(),
        "SloppyOptions" => m.sloppy_options = boolean(key, value)?,
        "LazyUnmount" => m.lazy_unmount = boolean(key, value)?,
        "ForceUnmount" => m.force_unmount = boolean(key, value)?,
        "ReadWriteOnly" => m.read_write_only = boolean(key, value)?,
        "DirectoryMode" => m.directory_mode = mode(key, value)?,
        "TimeoutSec" => m.timeout = timeout(key, value)?,
        "X-CairnFsck" => m.fsck = boolean(key, value)?,
        "X-CairnDeviceTimeoutSec" => m.device_timeout = timeout(key, value)?,
        "X-CairnMakefs" => m.makefs = boolean(key, value)?,
        "X-CairnGrowfs" => m.growfs = boolean(key, value)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// One `[Automount]` key.
pub fn apply_automount(
    a: &mut AutomountSection,
    key: &str,
    value: &str,
) -> Result<bool, MountConfigError> {
    match key {
        "Where" => a.where_ = path(key, value)?,
        "TimeoutIdleSec" => a.timeout_idle = timeout(key, value)?,
        "DirectoryMode" => a.directory_mode = mode(key, value)?,
        // systemd 250+: options for the autofs mount itself; accepted and not needed here.
        "ExtraOptions" => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// The path a mount or automount unit's name stands for: `home-lennart.mount` → `/home/lennart`.
pub fn path_of_unit(unit: &str) -> Option<String> {
    let stem = unit
        .strip_suffix(".mount")
        .or_else(|| unit.strip_suffix(".automount"))?;
    name::unescape_path(stem).ok()
}

/// The unit name of a mount point: `/home/lennart` → `home-lennart.mount`.
pub fn unit_of_path(path: &str, suffix: &str) -> Option<String> {
    name::try_escape_path(path)
        .ok()
        .map(|s| format!("{s}.{suffix}"))
}

/// systemd's `mount_verify()` / `automount_verify()`: the name must be the escaped Where=
/// (a missing Where= is taken from the name), and a mount needs What=.
pub fn verify_where(unit: &str, where_: Option<&str>) -> Result<String, String> {
    let from_name = path_of_unit(unit)
        .ok_or_else(|| format!("cannot turn the unit name {unit} into a path; refusing"))?;
    match where_ {
        None => Ok(from_name),
        Some(w) if w == from_name => Ok(from_name),
        Some(w) => {
            let suffix = unit.rsplit('.').next().unwrap_or("mount");
            Err(format!(
                "Where={w} does not match the unit name (it would be {}); refusing",
                unit_of_path(w, suffix).unwrap_or_else(|| "?".into())
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_land_where_they_belong() {
        let mut m = MountSection::default();
        for (k, v) in [
            ("What", "/dev/vdb1"),
            ("Where", "/srv//data/"),
            ("Type", "ext4"),
            ("Options", "noatime,errors=remount-ro"),
            ("LazyUnmount", "yes"),
            ("DirectoryMode", "0700"),
            ("TimeoutSec", "5s"),
        ] {
            assert_eq!(apply_mount(&mut m, k, v), Ok(true), "{k}");
        }
        assert_eq!(m.where_.as_deref(), Some("/srv/data"));
        assert_eq!(m.directory_mode, 0o700);
        assert_eq!(m.timeout, Some(Duration::from_secs(5)));
        assert!(m.lazy_unmount);
        assert_eq!(apply_mount(&mut m, "Bogus", "1"), Ok(false));
        assert!(apply_mount(&mut m, "Where", "relative").is_err());
        assert!(apply_mount(&mut m, "DirectoryMode", "999").is_err());
        let mut a = AutomountSection::default();
        assert_eq!(apply_automount(&mut a, "TimeoutIdleSec", "2min"), Ok(true));
        assert_eq!(a.timeout_idle, Some(Duration::from_secs(120)));
    }

    #[test]
    fn names_and_paths_follow_systemd_escape() {
        assert_eq!(path_of_unit("-.mount").as_deref(), Some("/"));
        assert_eq!(
            path_of_unit("home-lennart.mount").as_deref(),
            Some("/home/lennart")
        );
        assert_eq!(
            unit_of_path("/srv/my data", "mount").as_deref(),
            Some("srv-my\\x20data.mount")
        );
        assert_eq!(
            unit_of_path("/home/lennart", "automount").as_deref(),
            Some("home-lennart.automount")
        );
        assert_eq!(verify_where("srv-a.mount", None), Ok("/srv/a".into()));
        assert_eq!(
            verify_where("srv-a.mount", Some("/srv/a")),
            Ok("/srv/a".into())
        );
        let e = verify_where("srv-a.mount", Some("/srv/b")).unwrap_err();
        assert!(
            e.contains("Where=/srv/b") && e.contains("srv-b.mount"),
            "{e}"
        );
    }
}

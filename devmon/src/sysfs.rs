//! Which devices become units, whether they are ready, and coldplug from /sys.
//!
//! Without udev (none runs in cairn's systems), devmon applies the rules that matter for
//! units itself: block devices and partitions, network interfaces and ttys are units (udev's
//! 99-systemd.rules tags them `systemd`), as is anything carrying `SYSTEMD_WANTS`,
//! `SYSTEMD_ALIAS` or a `systemd` tag; a loop device is ready only while a file is attached
//! (`loop/backing_file` exists), and `SYSTEMD_READY=0` makes any device not ready.

use std::collections::BTreeMap;
use std::path::Path;

use crate::uevent::{self, Uevent};

/// A device as devmon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `/sys/devices/…`.
    pub syspath: String,
    pub subsystem: String,
    /// `/dev/…`, when it has a node.
    pub devname: Option<String>,
    /// A network interface's name.
    pub ifname: Option<String>,
    pub ready: bool,
    /// `SYSTEMD_WANTS=` (space-separated unit names).
    pub wants: Vec<String>,
    pub props: BTreeMap<String, String>,
}

/// udev's encoding of a name in a /dev/disk/by-* link: bytes outside `[A-Za-z0-9#+-.:=@_]`
/// become `\xNN` (a `/` in a label must not make a directory).
pub fn encode_devnode_name(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"#+-.:=@_".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Without udev: what blkid finds on a block device (`ID_FS_UUID`, `ID_FS_LABEL`,
/// `ID_FS_TYPE`, `ID_PART_ENTRY_UUID`, `ID_PART_ENTRY_NAME`, as udev names them), and the
/// /dev/disk/by-* links udev would make (`DEVLINKS`), so that fstab's UUID= and LABEL= find
/// their device units.
pub fn probe(devname: &str) -> BTreeMap<String, String> {
    let mut props = BTreeMap::new();
    let Ok(o) = std::process::Command::new("blkid")
        .args(["-p", "-o", "export", devname])
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return props;
    };
    let mut links = Vec::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        // `-o export` escapes for the shell: `cairn\ test`.
        let mut v_plain = String::new();
        let mut esc = false;
        for c in v.chars() {
            if c == '\\' && !esc {
                esc = true;
                continue;
            }
            esc = false;
            v_plain.push(c);
        }
        let v = v_plain.as_str();
        let (prop, dir) = match k {
            "UUID" => ("ID_FS_UUID", Some("by-uuid")),
            "LABEL" => ("ID_FS_LABEL", Some("by-label")),
            "TYPE" => ("ID_FS_TYPE", None),
            "PART_ENTRY_UUID" => ("ID_PART_ENTRY_UUID", Some("by-partuuid")),
            "PART_ENTRY_NAME" => ("ID_PART_ENTRY_NAME", Some("by-partlabel")),
            _ => continue,
        };
        props.insert(prop.to_string(), v.to_string());
        if let Some(dir) = dir {
            links.push(format!("/dev/disk/{dir}/{}", encode_devnode_name(v)));
        }
    }
    if !links.is_empty() {
        props.insert("DEVLINKS".into(), links.join(" "));
    }
    props
}

/// Where sysfs is (tests point it elsewhere).
pub const SYS: &str = "/sys";

fn tagged_systemd(u: &Uevent) -> bool {
    ["TAGS", "CURRENT_TAGS"]
        .iter()
        .filter_map(|k| u.get(k))
        .any(|t| t.split(':').any(|x| x == "systemd"))
}

/// Where udevd keeps what its rules said of each device.
pub const UDEV_DATA: &str = "/run/udev/data";

/// The udev database's record of a device: `b8:1` (block), `c4:64` (char), `n2` (network
/// interface, by ifindex), else `+SUBSYSTEM:SYSNAME`.
fn udev_db_id(u: &Uevent) -> Option<String> {
    let (maj, min) = (u.get("MAJOR"), u.get("MINOR"));
    if let (Some(maj), Some(min)) = (maj, min) {
        let kind = if u.subsystem() == "block" { 'b' } else { 'c' };
        return Some(format!("{kind}{maj}:{min}"));
    }
    if let Some(i) = u.get("IFINDEX") {
        return Some(format!("n{i}"));
    }
    let sysname = u.devpath.rsplit('/').next()?;
    Some(format!("+{}:{sysname}", u.subsystem()))
}

/// When udev runs, what its rules said of the device: `E:KEY=VALUE` properties
/// (SYSTEMD_WANTS=, SYSTEMD_READY=, ID_FS_UUID=, …), `G:` tags and `S:` links (under /dev).
pub fn merge_udev_db(u: &mut Uevent, dir: &Path) {
    let Some(id) = udev_db_id(u) else { return };
    let Ok(text) = std::fs::read_to_string(dir.join(id)) else {
        return;
    };
    let mut tags = Vec::new();
    let mut links = Vec::new();
    for line in text.lines() {
        if let Some(kv) = line.strip_prefix("E:") {
            if let Some((k, v)) = kv.split_once('=') {
                u.props.insert(k.to_string(), v.to_string());
            }
        } else if let Some(t) = line.strip_prefix("G:") {
            tags.push(t.to_string());
        } else if let Some(s) = line.strip_prefix("S:") {
            links.push(format!("/dev/{s}"));
        }
    }
    if !tags.is_empty() {
        u.props
            .insert("TAGS".into(), format!(":{}:", tags.join(":")));
    }
    if !links.is_empty() {
        u.props.insert("DEVLINKS".into(), links.join(" "));
    }
}

/// A device that is a unit, or None.
pub fn classify(sys: &str, u: &Uevent) -> Option<Device> {
    let mut merged;
    let u = if Path::new(UDEV_DATA).is_dir() {
        merged = u.clone();
        merge_udev_db(&mut merged, Path::new(UDEV_DATA));
        &merged
    } else {
        u
    };
    let subsystem = u.subsystem().to_string();
    let unit_worthy = matches!(subsystem.as_str(), "block" | "net" | "tty")
        || u.get("SYSTEMD_WANTS").is_some()
        || u.get("SYSTEMD_ALIAS").is_some()
        || tagged_systemd(u);
    if !unit_worthy {
        return None;
    }
    // Virtual consoles and ptys are not worth units (udev tags only real serial lines).
    if subsystem == "tty" {
        let name = u.get("DEVNAME").unwrap_or("");
        let real = name.starts_with("ttyS")
            || name.starts_with("hvc")
            || name.starts_with("ttyUSB")
            || name.starts_with("ttyACM")
            || name == "console";
        if !real {
            return None;
        }
    }
    let syspath = format!("{sys}{}", u.devpath);
    let mut ready = u.get("SYSTEMD_READY") != Some("0");
    if subsystem == "block" && u.get("DEVNAME").is_some_and(|n| n.starts_with("loop")) {
        ready &= Path::new(&syspath).join("loop/backing_file").exists();
    }
    let mut props = u.props.clone();
    // No udev: probe what is on a ready block device ourselves (udev's DEVLINKS win).
    if subsystem == "block" && ready && u.get("DEVLINKS").is_none() && u.action != "remove" {
        if let Some(n) = u.get("DEVNAME") {
            let dev = if n.starts_with('/') {
                n.to_string()
            } else {
                format!("/dev/{n}")
            };
            props.extend(probe(&dev));
        }
    }
    Some(Device {
        devname: u.get("DEVNAME").map(|n| {
            if n.starts_with('/') {
                n.to_string()
            } else {
                format!("/dev/{n}")
            }
        }),
        ifname: u.get("INTERFACE").map(str::to_string),
        wants: u
            .get("SYSTEMD_WANTS")
            .map(|w| w.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        subsystem,
        syspath,
        ready,
        props,
    })
}

/// Every unit-worthy device now, from `/sys/class/{block,net,tty}` (each entry a link to
/// the device's directory, whose `uevent` file has its properties).
pub fn coldplug(sys: &str) -> Vec<Device> {
    let mut out = BTreeMap::new();
    for class in ["block", "net", "tty"] {
        let Ok(dir) = std::fs::read_dir(Path::new(sys).join("class").join(class)) else {
            continue;
        };
        for e in dir.flatten() {
            let Ok(real) = std::fs::canonicalize(e.path()) else {
                continue;
            };
            let Some(devpath) = real.to_str().and_then(|p| p.strip_prefix(sys)) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(real.join("uevent")) else {
                continue;
            };
            let mut u = uevent::parse_file(devpath, &text);
            u.props
                .entry("SUBSYSTEM".into())
                .or_insert_with(|| class.to_string());
            if let Some(d) = classify(sys, &u) {
                out.insert(d.syspath.clone(), d);
            }
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(devpath: &str, props: &[(&str, &str)]) -> Uevent {
        let mut u = uevent::parse_file(devpath, "");
        for (k, v) in props {
            u.props.insert((*k).into(), (*v).into());
        }
        u
    }

    #[test]
    fn what_becomes_a_unit() {
        let d = classify(
            "/sys",
            &ev(
                "/devices/pci/block/sda/sda1",
                &[("SUBSYSTEM", "block"), ("DEVNAME", "sda1")],
            ),
        )
        .unwrap();
        assert_eq!(d.devname.as_deref(), Some("/dev/sda1"));
        assert!(d.ready);
        let n = classify(
            "/sys",
            &ev(
                "/devices/virtual/net/lo",
                &[("SUBSYSTEM", "net"), ("INTERFACE", "lo")],
            ),
        )
        .unwrap();
        assert_eq!(n.ifname.as_deref(), Some("lo"));
        assert!(classify(
            "/sys",
            &ev(
                "/devices/virtual/tty/tty3",
                &[("SUBSYSTEM", "tty"), ("DEVNAME", "tty3")]
            )
        )
        .is_none());
        assert!(classify(
            "/sys",
            &ev(
                "/devices/platform/serial8250/tty/ttyS0",
                &[("SUBSYSTEM", "tty"), ("DEVNAME", "ttyS0")]
            )
        )
        .is_some());
        assert!(classify(
            "/sys",
            &ev("/devices/x/input/mouse0", &[("SUBSYSTEM", "input")])
        )
        .is_none());
        let w = classify(
            "/sys",
            &ev(
                "/devices/usb/1-1",
                &[
                    ("SUBSYSTEM", "usb"),
                    ("SYSTEMD_WANTS", "bluetooth.target x.service"),
                ],
            ),
        )
        .unwrap();
        assert_eq!(w.wants, ["bluetooth.target", "x.service"]);
        assert!(classify(
            "/sys",
            &ev(
                "/devices/y",
                &[("SUBSYSTEM", "misc"), ("TAGS", ":seat:systemd:")]
            )
        )
        .is_some());
    }

    #[test]
    fn readiness() {
        let d = classify(
            "/sys",
            &ev(
                "/devices/x",
                &[
                    ("SUBSYSTEM", "block"),
                    ("DEVNAME", "sdz"),
                    ("SYSTEMD_READY", "0"),
                ],
            ),
        )
        .unwrap();
        assert!(!d.ready);
        // A loop device with no backing file (no such directory here) is not ready.
        let l = classify(
            "/nonexistent-sys",
            &ev(
                "/devices/virtual/block/loop7",
                &[("SUBSYSTEM", "block"), ("DEVNAME", "loop7")],
            ),
        )
        .unwrap();
        assert!(!l.ready);
    }

    #[test]
    fn the_udev_database_adds_properties_tags_and_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("+usb:1-1"),
            "S:bluetooth/dongle\nE:SYSTEMD_WANTS=bluetooth.target\nG:systemd\nG:seat\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b8:1"), "E:SYSTEMD_READY=0\n").unwrap();
        let mut u = ev("/devices/pci/usb1/1-1", &[("SUBSYSTEM", "usb")]);
        merge_udev_db(&mut u, dir.path());
        assert_eq!(u.get("TAGS"), Some(":systemd:seat:"));
        assert_eq!(u.get("DEVLINKS"), Some("/dev/bluetooth/dongle"));
        let d = classify("/sys", &u).unwrap();
        assert_eq!(d.wants, ["bluetooth.target"]);
        let mut b = ev(
            "/devices/pci/block/sda/sda1",
            &[
                ("SUBSYSTEM", "block"),
                ("MAJOR", "8"),
                ("MINOR", "1"),
                ("DEVNAME", "sda1"),
            ],
        );
        merge_udev_db(&mut b, dir.path());
        assert!(
            !classify("/sys", &b).unwrap().ready,
            "SYSTEMD_READY=0 from udev"
        );
    }

    #[test]
    fn coldplug_of_this_host_has_lo() {
        let all = coldplug(SYS);
        assert!(
            all.iter().any(|d| d.ifname.as_deref() == Some("lo")),
            "{all:?}"
        );
    }
}

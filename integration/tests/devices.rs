//! Device units from real uevents in the sandbox (which shares the host's /sys and netlink):
//! a loop device is a unit while a file is attached, pulls in what it wants when it appears,
//! and stops what is bound to it when it goes; synthetic uevents reach devmon; a device that
//! goes while devmon is dead is reported gone by its coldplug.

use std::process::Command;

use cairn_integration::{out, wait, Sandbox};

/// Attaches `img` to a free loop device, named in advance so that units can refer to it;
/// detached on drop.
struct Loop(String);

impl Loop {
    fn free() -> String {
        let o = Command::new("losetup").arg("-f").output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn attach(dev: &str, img: &std::path::Path) -> bool {
        Command::new("losetup")
            .arg(dev)
            .arg(img)
            .status()
            .unwrap()
            .success()
    }

    fn detach(&self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.detach();
    }
}

fn unit_of(dev: &str) -> String {
    format!("{}.device", dev.trim_start_matches('/').replace('/', "-"))
}

/// Starts a sandbox, then attaches a loop device with units wanting and bound to it.
fn plug(extra: &[(&str, &str)]) -> (Sandbox, Loop, String) {
    let mut b = Sandbox::builder().unit("default.target", "[Unit]\n");
    for (n, t) in extra {
        b = b.unit(n, t);
    }
    let mut sb = b.start().unwrap();
    let img = sb.dir().join("lo.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    // Name the device first (units refer to it), then attach; another test may have taken it
    // meanwhile, so try again.
    for _ in 0..20 {
        let dev = Loop::free();
        let unit = unit_of(&dev);
        let wants = sb.units.join(format!("{unit}.wants"));
        std::fs::create_dir_all(&wants).unwrap();
        let _ = std::os::unix::fs::symlink("../onplug.service", wants.join("onplug.service"));
        std::fs::write(
            sb.units.join("bound.service"),
            format!("[Unit]\nBindsTo={unit}\nAfter={unit}\n[Service]\nExecStart=/bin/sleep 1000\n"),
        )
        .unwrap();
        let o = sb.ctl(&["daemon-reload"]);
        assert!(o.status.success(), "{}", out(&o));
        if Loop::attach(&dev, &img) {
            let l = Loop(dev);
            wait(&mut sb, "the loop device unit active", 10, |sb| {
                Ok(sb.is_active(&unit))
            });
            return (sb, l, unit);
        }
    }
    panic!("no free loop device");
}

#[test]
fn a_loop_device_pulls_in_what_it_wants_and_stops_what_is_bound_to_it() {
    let onplug = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    let (mut sb, dev, unit) = plug(&[("onplug.service", onplug)]);
    wait(&mut sb, "onplug.service started by the device", 10, |sb| {
        Ok(sb.is_active("onplug.service"))
    });
    assert!(sb
        .property(&unit, "SysFSPath")
        .starts_with("/sys/devices/virtual/block/loop"));
    let o = sb.ctl(&["start", "bound.service"]);
    assert!(o.status.success(), "{}", out(&o));
    // Detached: not ready any more (the block device stays in /sys), so the unit goes, and
    // what is bound to it stops.
    dev.detach();
    wait(&mut sb, "the device unit inactive", 10, |sb| {
        Ok(sb.active_state(&unit) == "inactive")
    });
    wait(&mut sb, "bound.service stopped", 10, |sb| {
        Ok(sb.active_state("bound.service") == "inactive")
    });
}

#[test]
fn a_synthetic_uevent_reaches_devmon() {
    let mut sb = Sandbox::start().unwrap();
    let unit = "sys-subsystem-net-devices-lo.device";
    wait(&mut sb, "lo's unit from coldplug", 10, |sb| {
        Ok(sb.is_active(unit))
    });
    // Argument names are letters and digits only (the kernel refuses `_`).
    let uuid = format!("{:08x}-0000-4000-8000-000000000000", std::process::id());
    std::fs::write(
        "/sys/class/net/lo/uevent",
        format!("change {uuid} CAIRNTEST={}", std::process::id()),
    )
    .unwrap();
    wait(
        &mut sb,
        "the synthetic uevent's arguments on the unit",
        10,
        |sb| {
            Ok(sb.property(unit, "SYNTH_UUID") == uuid
                && sb.property(unit, "SYNTH_ARG_CAIRNTEST") == std::process::id().to_string())
        },
    );
}

#[test]
fn a_device_removed_while_devmon_is_dead_is_reported_gone() {
    let onplug = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    let (mut sb, dev, unit) = plug(&[("onplug.service", onplug)]);
    let devmon = sb.component("devmon").unwrap();
    // Stop devmon from coming back at once: kill it and detach in the gap; whether the new
    // devmon sees the detach as an event or only in its coldplug, the unit must end inactive.
    sb.kill(devmon.pid, "KILL").unwrap();
    dev.detach();
    wait(&mut sb, "a new devmon", 10, |sb| {
        Ok(sb.component("devmon")?.restarts >= 1 && sb.component("devmon")?.state == "running")
    });
    wait(&mut sb, "the device reported gone", 10, |sb| {
        Ok(sb.active_state(&unit) == "inactive")
    });
}

/// A mount of a device waits for exactly that device: it mounts when the device appears, and
/// `why-not` on the device says what the wait is for.
#[test]
fn a_mount_waits_for_its_device() {
    let mut sb = Sandbox::builder()
        .unit("default.target", "[Unit]\n")
        .start()
        .unwrap();
    let img = sb.dir().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let o = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    for _ in 0..20 {
        let dev = Loop::free();
        let unit = unit_of(&dev);
        std::fs::write(
            sb.units.join("data.mount"),
            format!(
                "[Mount]\nWhat={dev}\nWhere={}/data\nType=ext4\nX-CairnDeviceTimeoutSec=30s\n",
                sb.dir().display()
            ),
        )
        .unwrap();
        // The name must match Where=.
        let name = String::from_utf8_lossy(
            &Command::new("systemd-escape")
                .args(["--path", "--suffix=mount"])
                .arg(sb.dir().join("data"))
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_string();
        std::fs::rename(sb.units.join("data.mount"), sb.units.join(&name)).unwrap();
        assert!(sb.ctl(&["daemon-reload"]).status.success());
        let o = sb.ctl(&["start", "--no-block", &name]);
        assert!(o.status.success(), "{}", out(&o));
        wait(&mut sb, "the device's start job waiting", 10, |sb| {
            Ok(out(&sb.ctl(&["list-jobs"])).contains(&unit))
        });
        let why = out(&sb.ctl(&["why-not", &unit]));
        let state = sb.active_state(&name);
        // Another test (they run in parallel) may have attached this loop device meanwhile:
        // then try another. Checked after reading both, so that they saw no device either.
        if sb.is_active(&unit) {
            sb.ctl(&["stop", &name]);
            continue;
        }
        assert!(
            why.contains("a start job waits for it (at most 30s)"),
            "{why}"
        );
        assert_eq!(state, "inactive");
        if Loop::attach(&dev, &img) {
            let _l = Loop(dev);
            wait(&mut sb, "mounted once the device appeared", 20, |sb| {
                Ok(sb.is_active(&name))
            });
            let o = sb.ctl(&["stop", &name]);
            assert!(o.status.success(), "{}", out(&o));
            return;
        }
        sb.ctl(&["stop", &name]);
    }
    panic!("no free loop device");
}

/// Without udev, devmon probes block devices (blkid) for the names udev would give them:
/// `dev-disk-by\x2duuid-….device` is active, and fstab's `UUID=` finds its device.
#[test]
fn fstab_uuid_finds_its_device_through_devmons_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("u.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let uuid = format!("c0ffee00-0000-4000-8000-{:012x}", std::process::id());
    let o = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-U", &uuid, "-L", "cairn test"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let o = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&img)
        .output()
        .unwrap();
    let _dev = Loop(String::from_utf8_lossy(&o.stdout).trim().to_string());
    let mut sb = Sandbox::builder()
        .unit("default.target", "[Unit]\nWants=local-fs.target\n")
        .file(
            "fstab",
            &format!("UUID={uuid} @DIR@/byuuid ext4 defaults 0 0\n"),
        )
        .file("cairn.ron", "(fstab: Some(\"@DIR@/fstab\"))\n")
        .arg("--config")
        .arg("@DIR@/cairn.ron")
        .start()
        .unwrap();
    let by_uuid = format!("dev-disk-by\\x2duuid-{}.device", uuid.replace('-', "\\x2d"));
    wait(&mut sb, "the by-uuid device unit", 10, |sb| {
        Ok(sb.is_active(&by_uuid))
    });
    // A label with a space, encoded as udev does (and escaped once more in the unit name).
    assert!(sb.is_active("dev-disk-by\\x2dlabel-cairn\\x5cx20test.device"));
    wait(&mut sb, "local-fs.target with the UUID= mount", 20, |sb| {
        Ok(sb.is_active("local-fs.target"))
    });
    let name = String::from_utf8_lossy(
        &Command::new("systemd-escape")
            .args(["--path", "--suffix=mount"])
            .arg(sb.dir().join("byuuid"))
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string();
    assert!(sb.is_active(&name), "{}", sb.log_text());
    let requires = sb.property(&name, "BindsTo");
    assert!(requires.contains(&by_uuid), "{requires}");
}

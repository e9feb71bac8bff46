//! Mount units and fstab in the sandbox: the mounter reads fstab (through the supervisor's
//! `fstab:` setting), mounts in the sandbox's own mount namespace, watches the mount table,
//! and unmounts in reverse order. Mounts happen inside the sandbox only: `unshare --mount`
//! gives it a private namespace.

use std::process::Command;

use cairn_integration::{out, wait, Sandbox};

/// The sandbox's mount table, as its init sees it: mount point → (type, options).
fn table(sb: &Sandbox) -> Vec<(String, String, String)> {
    let pid = sb.init_pid().unwrap();
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let h: Vec<&str> = head.split(' ').collect();
            let t: Vec<&str> = tail.split(' ').collect();
            Some((
                h.get(4)?.replace("\\040", " "),
                t.first()?.to_string(),
                format!("{},{}", h.get(5)?, t.get(2).unwrap_or(&"")),
            ))
        })
        .collect()
}

fn mounted(sb: &Sandbox, path: &str) -> Option<(String, String)> {
    table(sb)
        .into_iter()
        .rev()
        .find(|(w, _, _)| w == path)
        .map(|(_, t, o)| (t, o))
}

/// The mount unit of a path, as `systemd-escape --path --suffix=mount` names it.
fn unit_for(path: &str) -> String {
    let o = Command::new("systemd-escape")
        .args(["--path", "--suffix=mount", path])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn start(fstab: &str, units: &[(&str, &str)]) -> Sandbox {
    let mut sb = start_only(fstab, units);
    wait(&mut sb, "local-fs.target reached", 20, |sb| {
        Ok(sb.is_active("local-fs.target"))
    });
    sb
}

fn start_only(fstab: &str, units: &[(&str, &str)]) -> Sandbox {
    let mut b = Sandbox::builder()
        .unit("default.target", "[Unit]\nWants=local-fs.target\n")
        .file("fstab", fstab)
        .file("cairn.ron", "(fstab: Some(\"@DIR@/fstab\"))\n")
        .arg("--config")
        .arg("@DIR@/cairn.ron");
    for (n, t) in units {
        b = b.unit(n, t);
    }
    b.start().unwrap()
}

#[test]
fn fstab_mounts_in_order_and_a_bad_line_is_skipped_with_its_number() {
    let fstab = "# the sandbox's fstab\n\
                 tmpfs @DIR@/mnt/t tmpfs size=1m,mode=0750 0 0\n\
                 @DIR@/units @DIR@/mnt/bind none bind,ro 0 0\n\
                 tmpfs @DIR@/mnt/t/nested tmpfs size=1m 0 0\n\
                 garbage\n\
                 tmpfs @DIR@/mnt/my\\040space tmpfs nosuid,nodev 0 0\n\
                 tmpfs @DIR@/mnt/later tmpfs noauto 0 0\n";
    let sb = start(fstab, &[]);
    let d = sb.dir().display().to_string();
    let (t, o) = mounted(&sb, &format!("{d}/mnt/t")).expect("tmpfs mounted");
    assert_eq!(t, "tmpfs");
    assert!(o.contains("size=1024k") && o.contains("mode=750"), "{o}");
    assert!(mounted(&sb, &format!("{d}/mnt/t/nested")).is_some());
    assert!(mounted(&sb, &format!("{d}/mnt/my space"))
        .unwrap()
        .1
        .contains("nosuid"));
    assert!(mounted(&sb, &format!("{d}/mnt/later")).is_none(), "noauto");
    // The nested mount requires and is after its parent.
    let nested = unit_for(&format!("{d}/mnt/t/nested"));
    let requires = sb.property(&nested, "Requires");
    assert!(
        requires.contains(&unit_for(&format!("{d}/mnt/t"))),
        "{requires}"
    );
    let log = sb.log_text();
    assert!(
        log.contains("fstab:5: missing mount point"),
        "the bad line, by number: {log}"
    );
    assert_eq!(
        sb.active_state(&unit_for(&format!("{d}/mnt/later"))),
        "inactive"
    );
    // The bind mount is read-only (a bind mount takes its flags with a remount).
    let (_, o) = mounted(&sb, &format!("{d}/mnt/bind")).expect("bind mounted");
    assert!(o.starts_with("ro,"), "{o}");
}

#[test]
fn stop_unmounts_children_first_and_start_of_noauto_mounts() {
    let fstab = "tmpfs @DIR@/mnt/a tmpfs size=1m 0 0\n\
                 tmpfs @DIR@/mnt/a/b tmpfs size=1m 0 0\n\
                 tmpfs @DIR@/mnt/c tmpfs noauto 0 0\n";
    let sb = start(fstab, &[]);
    let d = sb.dir().display().to_string();
    let name = unit_for;
    let a = name(&format!("{d}/mnt/a"));
    let ab = name(&format!("{d}/mnt/a/b"));
    let c = name(&format!("{d}/mnt/c"));
    assert!(sb.is_active(&a) && sb.is_active(&ab));
    let o = sb.ctl(&["stop", &a]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(!sb.is_active(&ab), "stopping the parent stops the child");
    assert!(mounted(&sb, &format!("{d}/mnt/a")).is_none());
    let o = sb.ctl(&["start", &ab]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(sb.is_active(&a), "the child pulls its parent in");
    let o = sb.ctl(&["start", &c]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(mounted(&sb, &format!("{d}/mnt/c")).is_some());
    let status = out(&sb.ctl(&["status", &c]));
    assert!(status.contains("active (mounted)"), "{status}");
}

#[test]
fn mounts_made_by_hand_come_and_go_as_units() {
    let sb = start("", &[]);
    let d = sb.dir().display().to_string();
    let o = sb
        .nsenter(&[
            "/bin/sh",
            "-c",
            &format!("mkdir -p {d}/hand && mount -t tmpfs byhand {d}/hand"),
        ])
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let name = unit_for(&format!("{d}/hand"));
    let mut sb = sb;
    wait(&mut sb, "the hand-made mount is an active unit", 10, |sb| {
        Ok(sb.is_active(&name))
    });
    assert_eq!(sb.property(&name, "What"), "byhand");
    sb.nsenter(&["/bin/umount", &format!("{d}/hand")]).unwrap();
    wait(&mut sb, "and inactive once unmounted", 10, |sb| {
        Ok(sb.active_state(&name) == "inactive")
    });
}

#[test]
fn a_busy_mount_says_who_holds_it() {
    let fstab = "tmpfs @DIR@/busy tmpfs size=1m 0 0\n";
    let holder = "[Service]\nWorkingDirectory=@DIR@/busy\nExecStart=/bin/sleep 1000\n";
    let sb = start(fstab, &[("holder.service", holder)]);
    let d = sb.dir().display().to_string();
    let o = sb.ctl(&["start", "holder.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let unit = unit_for(&format!("{d}/busy"));
    let o = sb.ctl(&["stop", &unit]);
    assert!(!o.status.success(), "a busy unmount fails the stop job");
    let status = out(&sb.ctl(&["status", &unit]));
    assert!(status.contains("target is busy"), "{status}");
    assert!(status.contains("(sleep)"), "names the holder: {status}");
    assert!(sb.is_active(&unit));
}

#[test]
fn a_failing_fsck_fails_the_mount_with_the_reason() {
    // A loop device holding no file system: fsck exits 8 (operational error).
    let tmp = tempfile::tempdir().unwrap();
    let dev = Loop::zeros(tmp.path());
    let fstab = format!("{} @DIR@/data ext4 defaults 0 2\n", dev.0);
    let sb = start_only(&fstab, &[]);
    let d = sb.dir().display().to_string();
    let unit = unit_for(&format!("{d}/data"));
    let mut sb = sb;
    wait(&mut sb, "the mount failed", 10, |sb| {
        Ok(sb.active_state(&unit) == "failed")
    });
    let status = out(&sb.ctl(&["status", &unit]));
    assert!(status.contains("fsck exited with status 8"), "{status}");
    assert!(status.contains("operational error"), "{status}");
    // What requires it fails too: local-fs.target is not reached, and says why.
    assert_ne!(sb.active_state("local-fs.target"), "active");
    let why = out(&sb.ctl(&["why-not", "local-fs.target"]));
    assert!(why.contains(&unit), "{why}");
}

#[test]
fn a_mount_unit_whose_name_does_not_match_where_is_refused() {
    let unit = "[Mount]\nWhat=tmpfs\nWhere=/somewhere/else\nType=tmpfs\n";
    let sb = start("", &[("srv-data.mount", unit)]);
    let status = out(&sb.ctl(&["status", "srv-data.mount"]));
    assert!(status.contains("bad-setting"), "{status}");
    assert!(
        status.contains("Where=/somewhere/else does not match the unit name"),
        "{status}"
    );
    assert!(status.contains("somewhere-else.mount"), "{status}");
}

/// A loop device holding a fresh ext4: detached on drop.
struct Loop(String);

impl Loop {
    /// A loop device over zeros: no file system on it.
    fn zeros(dir: &std::path::Path) -> Loop {
        let img = dir.join("zeros.img");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        Loop::attach(&img)
    }

    fn attach(img: &std::path::Path) -> Loop {
        let o = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(img)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", out(&o));
        Loop(String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    fn new(dir: &std::path::Path) -> Loop {
        let img = dir.join("disk.img");
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(8 << 20).unwrap();
        let o = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "cairntest"])
            .arg(&img)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", out(&o));
        Loop::attach(&img)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

#[test]
fn an_ext4_with_a_pass_number_is_checked_then_mounted() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = Loop::new(tmp.path());
    let fstab = format!("{} @DIR@/data ext4 noatime 0 2\n", dev.0);
    let sb = start(&fstab, &[]);
    let d = sb.dir().display().to_string();
    let (t, o) = mounted(&sb, &format!("{d}/data")).expect("ext4 mounted");
    assert_eq!(t, "ext4");
    assert!(o.contains("noatime"), "{o}");
    let unit = unit_for(&format!("{d}/data"));
    assert_eq!(sb.property(&unit, "Fsck"), "clean", "fsck ran first");
    let o = sb.ctl(&["stop", &unit]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(mounted(&sb, &format!("{d}/data")).is_none());
    drop(sb);
}

/// Runs `cmd` inside the sandbox's PID and mount namespaces (a process of another PID
/// namespace would get ENOENT from autofs without a request reaching the mounter).
fn inside(sb: &Sandbox, cmd: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg("-t")
        .arg(sb.init_pid().unwrap().to_string())
        .args(["-m", "-p", "--", "/bin/sh", "-c", cmd]);
    c
}

#[test]
fn an_automount_mounts_on_first_access_and_expires_when_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = Loop::new(tmp.path());
    let fstab = format!(
        "{} @DIR@/auto ext4 x-systemd.automount,x-systemd.idle-timeout=2 0 2\n",
        dev.0
    );
    // A service that starts and finishes while the file system is not mounted: it does not
    // wait for it.
    let early = "[Service]\nType=oneshot\nExecStart=/bin/true\n";
    let mut sb = start(&fstab, &[("early.service", early)]);
    let d = sb.dir().display().to_string();
    let auto = unit_for(&format!("{d}/auto")).replace(".mount", ".automount");
    let mount = unit_for(&format!("{d}/auto"));
    assert_eq!(sb.property(&auto, "SubState"), "waiting");
    let o = sb.ctl(&["start", "early.service"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(
        sb.active_state(&mount),
        "inactive",
        "nothing touched it yet"
    );
    // The first access waits for fsck and the mount, then sees the ext4.
    let o = inside(&sb, &format!("stat -f -c %T {d}/auto/lost+found/.."))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", out(&o), sb.log_text());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ext2/ext3");
    assert!(sb.is_active(&mount));
    assert_eq!(sb.property(&mount, "Fsck"), "clean");
    // Idle for 2 s: expired, unmounted, armed again.
    wait(&mut sb, "the idle mount expired", 20, |sb| {
        Ok(sb.active_state(&mount) == "inactive")
    });
    assert_eq!(sb.property(&auto, "SubState"), "waiting");
    // And the next access mounts it again.
    let o = inside(&sb, &format!("ls {d}/auto")).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("lost+found"));
}

#[test]
fn a_failing_automount_answers_with_an_error_at_once_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = Loop::new(tmp.path());
    // The device is named through a link that does not exist yet (no udev here to make
    // /dev/disk/by-label entries).
    let fstab =
        "@DIR@/late-dev @DIR@/late ext4 x-systemd.automount,x-systemd.device-timeout=1s 0 0\n";
    let sb = start(fstab, &[]);
    let d = sb.dir().display().to_string();
    let mount = unit_for(&format!("{d}/late"));
    // No device within its timeout (1 s): the access gets an error, it is not left hanging.
    let o = inside(&sb, &format!("ls {d}/late")).output().unwrap();
    assert!(!o.status.success(), "no device: an error");
    assert_eq!(sb.active_state(&mount), "failed");
    let status = out(&sb.ctl(&["status", &mount]));
    assert!(status.contains("the device timeout"), "{status}");
    let auto = mount.replace(".mount", ".automount");
    assert_eq!(
        sb.active_state(&auto),
        "active",
        "the automount is not latched"
    );
    // The device appears; the next access works.
    std::os::unix::fs::symlink(&dev.0, sb.dir().join("late-dev")).unwrap();
    let o = inside(&sb, &format!("ls {d}/late")).output().unwrap();
    assert!(o.status.success(), "{}\n{}", out(&o), sb.log_text());
    assert!(String::from_utf8_lossy(&o.stdout).contains("lost+found"));
}

#[test]
fn killing_the_mounter_leaves_no_automount_waiter_unanswered() {
    // The mount waits for a slow unit first, so that the waiters are still waiting when the
    // mounter is SIGKILLed.
    let fstab =
        "tmpfs @DIR@/slow tmpfs size=1m,x-systemd.automount,x-systemd.requires=slow.service 0 0\n";
    let slow = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 2\n";
    let sb = start(fstab, &[("slow.service", slow)]);
    let d = sb.dir().display().to_string();
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            inside(&sb, &format!("stat -f -c %T {d}/slow/."))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let auto = unit_for(&format!("{d}/slow")).replace(".mount", ".automount");
    // The kernel holds all 20 behind one request (one token per mount point).
    let status = out(&sb.ctl(&["status", &auto]));
    assert!(status.contains("1 requests waiting"), "{status}");
    // The mounter says so too, in its own words.
    let own = out(&sb.ctl(&["component", "status", "mounter"]));
    assert!(own.contains(&format!("{d}/slow  tokens ")), "{own}");
    let mounter = sb.component("mounter").unwrap();
    sb.kill(mounter.pid, "KILL").unwrap();
    let mut answers = Vec::new();
    for w in waiters {
        let o = w.wait_with_output().unwrap();
        answers.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    assert!(
        answers.iter().all(|a| a == "tmpfs"),
        "{answers:?}\n{}",
        sb.log_text()
    );
    assert!(sb.component("mounter").unwrap().restarts >= 1);
}

#[test]
fn makefs_growfs_and_wanted_by_from_fstab() {
    let tmp = tempfile::tempdir().unwrap();
    // An empty device: x-systemd.makefs makes the ext4.
    let empty = Loop::zeros(tmp.path());
    // A 4 MiB ext4 on a 16 MiB device: x-systemd.growfs grows it.
    let img = tmp.path().join("small.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let o = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .arg("4M")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let small = Loop::attach(&img);
    let fstab = format!(
        "{} @DIR@/made ext4 x-systemd.makefs,x-systemd.wanted-by=data.target 0 0\n\
         {} @DIR@/grown ext4 x-systemd.growfs 0 0\n",
        empty.0, small.0
    );
    let sb = start(&fstab, &[("data.target", "[Unit]\nDescription=data\n")]);
    let d = sb.dir().display().to_string();
    // Wanted by data.target, not local-fs.target: not mounted until that is started.
    assert!(mounted(&sb, &format!("{d}/made")).is_none());
    let o = sb.ctl(&["start", "data.target"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(mounted(&sb, &format!("{d}/made")).unwrap().0, "ext4");
    // Growing a mounted ext4 needs CAP_SYS_RESOURCE (some machines, this one among them,
    // withhold it): grown where allowed, else the failure is said and the mount stays up.
    let o = sb
        .nsenter(&["/usr/bin/stat", "-f", "-c", "%b %S", &format!("{d}/grown")])
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut it = text
        .split_whitespace()
        .map(|x| x.parse::<u64>().unwrap_or(0));
    let bytes = it.next().unwrap_or(0) * it.next().unwrap_or(0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    const CAP_SYS_RESOURCE: u32 = 24;
    if caps & (1 << CAP_SYS_RESOURCE) != 0 {
        assert!(
            bytes > 12 << 20,
            "grown to the device: {bytes} bytes ({text})"
        );
    } else {
        let unit = unit_for(&format!("{d}/grown"));
        let mut sb = sb;
        wait(&mut sb, "the growfs failure said", 10, |sb| {
            Ok(sb.property(&unit, "Fsck").contains("growfs: "))
        });
        assert!(sb.is_active(&unit));
    }
}

#[test]
fn sloppy_options_mount_despite_options_the_file_system_does_not_know() {
    let strict =
        "[Mount]\nWhat=tmpfs\nWhere=@DIR@/strict\nType=tmpfs\nOptions=size=1m,cairnbogus=1\n";
    let sloppy = "[Mount]\nWhat=tmpfs\nWhere=@DIR@/sloppy\nType=tmpfs\nOptions=size=1m,cairnbogus=1\nSloppyOptions=yes\n";
    let b = Sandbox::builder().unit("default.target", "[Unit]\n");
    let sb = b.start().unwrap();
    let d = sb.dir().display().to_string();
    for (path, text) in [("strict", strict), ("sloppy", sloppy)] {
        let name = unit_for(&format!("{d}/{path}"));
        std::fs::write(sb.units.join(&name), text.replace("@DIR@", &d)).unwrap();
    }
    assert!(sb.ctl(&["daemon-reload"]).status.success());
    let o = sb.ctl(&["start", &unit_for(&format!("{d}/strict"))]);
    assert!(!o.status.success(), "an unknown option fails the mount");
    let status = out(&sb.ctl(&["status", &unit_for(&format!("{d}/strict"))]));
    assert!(
        status.contains("Invalid argument") || status.contains("EINVAL"),
        "{status}"
    );
    let o = sb.ctl(&["start", &unit_for(&format!("{d}/sloppy"))]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(mounted(&sb, &format!("{d}/sloppy")).is_some());
}

/// The units are loaded at start and fstab is read after, through the mounter; an fstab that
/// generates nothing does not make the supervisor load every unit a second time before the
/// default target starts (one with entries does: the other tests here).
#[test]
fn units_are_loaded_once_when_fstab_adds_nothing() {
    let mut sb = start_only("# nothing to mount\n", &[]);
    wait(&mut sb, "default.target started", 20, |sb| {
        Ok(sb.log_text().contains("starting default.target"))
    });
    let log = sb.log_text();
    assert_eq!(log.matches("cairn-supervisor: units: ").count(), 1, "{log}");
}

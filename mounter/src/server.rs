//! The `Mounter` capability the supervisor calls, and the mountinfo watch.
//!
//! mount(2), umount2(2) and fsck can take long (a slow disk, a network file system), so they
//! run on tokio's blocking pool; the event loop keeps answering.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;

use nix::mount::{MntFlags, MsFlags};
use std::cell::RefCell;

use proto::bus_capnp::{mount_events, mount_point, mounter, registry};
use proto::fdstream::FdHandle;

use crate::automount::{self, Shared};
use crate::{autofs, fstab, mountinfo, options};

fn failed(e: impl std::fmt::Display) -> capnp::Error {
    capnp::Error::failed(e.to_string())
}

/// What `mount` was asked, owned (it crosses into the blocking pool).
#[derive(Debug, Clone)]
pub struct Request {
    pub what: String,
    pub where_: String,
    pub fstype: String,
    pub options: String,
    pub sloppy: bool,
    pub directory_mode: u32,
    pub fsck: bool,
    pub read_write_only: bool,
    pub device_timeout: std::time::Duration,
    pub makefs: bool,
    pub growfs: bool,
}

fn quiet(cmd: &mut std::process::Command) -> std::io::Result<std::process::ExitStatus> {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
}

/// x-systemd.makefs: when blkid finds no file system on the device, make one of the mount's
/// type (systemd-makefs does the same).
fn makefs(r: &Request) -> Result<(), String> {
    let probe = std::process::Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "TYPE", &r.what])
        .output()
        .map_err(|e| format!("cannot run blkid: {e}"))?;
    if !String::from_utf8_lossy(&probe.stdout).trim().is_empty() {
        return Ok(());
    }
    if r.fstype.is_empty() || r.fstype == "auto" {
        return Err(format!(
            "{}: x-systemd.makefs needs a file system type",
            r.what
        ));
    }
    let st = quiet(std::process::Command::new(format!("mkfs.{}", r.fstype)).arg(&r.what))
        .map_err(|e| format!("cannot run mkfs.{}: {e}", r.fstype))?;
    if !st.success() {
        return Err(format!("mkfs.{} {} failed ({st})", r.fstype, r.what));
    }
    Ok(())
}

/// x-systemd.growfs: grow the mounted file system to its device (ext2/3/4 online with
/// resize2fs, xfs with xfs_growfs), as systemd-growfs does.
fn growfs(r: &Request) -> Result<(), String> {
    let st = match r.fstype.as_str() {
        "ext2" | "ext3" | "ext4" => quiet(std::process::Command::new("resize2fs").arg(&r.what)),
        "xfs" => quiet(std::process::Command::new("xfs_growfs").arg(&r.where_)),
        t => {
            return Err(format!(
                "{}: x-systemd.growfs does not know how to grow {t}",
                r.where_
            ))
        }
    }
    .map_err(|e| format!("{}: growing: {e}", r.where_))?;
    if !st.success() {
        return Err(format!(
            "{}: growing the file system failed ({st})",
            r.where_
        ));
    }
    Ok(())
}

/// A /dev/disk/by-* link that nobody made (no udev, and devmon makes them only in system
/// mode): the device it stands for, found by its tag (`findfs UUID=…`).
fn find_by_tag(what: &str) -> Option<String> {
    let rest = what.strip_prefix("/dev/disk/")?;
    let (dir, name) = rest.split_once('/')?;
    let tag = match dir {
        "by-uuid" => "UUID",
        "by-label" => "LABEL",
        "by-partuuid" => "PARTUUID",
        "by-partlabel" => "PARTLABEL",
        _ => return None,
    };
    let value = mountinfo::unescape_hex(name);
    let o = std::process::Command::new("findfs")
        .arg(format!("{tag}={value}"))
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dev = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !dev.is_empty()).then_some(dev)
}

/// Waits (polling) up to the device timeout for the device (or file) a mount needs; the
/// request with What= as found. The supervisor already waited for the device unit; this
/// covers What= that is not a device and a by-* link nobody made.
fn wait_for_what(r: &Request) -> Result<Request, String> {
    let needs = r.what.starts_with('/');
    let t = std::time::Instant::now();
    while needs && !Path::new(&r.what).exists() {
        if let Some(dev) = find_by_tag(&r.what) {
            let mut found = r.clone();
            found.what = dev;
            return Ok(found);
        }
        if t.elapsed() >= r.device_timeout {
            return Err(format!(
                "{}: not there after {:?} (the device timeout)",
                r.what, r.device_timeout
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(r.clone())
}

/// fsck(8)'s exit status, as systemd-fsck reads it: anything but 0 or 1 fails the mount.
pub fn fsck_verdict(code: i32) -> Result<&'static str, String> {
    match code {
        0 => Ok("clean"),
        1 => Ok("errors corrected"),
        c => {
            let mut why = Vec::new();
            for (bit, text) in [
                (2, "the system should be rebooted"),
                (4, "errors left uncorrected"),
                (8, "operational error"),
                (16, "usage or syntax error"),
                (32, "canceled by request"),
                (128, "shared-library error"),
            ] {
                if c & bit != 0 {
                    why.push(text);
                }
            }
            Err(format!("fsck exited with status {c}: {}", why.join(", ")))
        }
    }
}

fn run_fsck(what: &str) -> Result<&'static str, String> {
    let st = std::process::Command::new("fsck")
        .args(["-a", what])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run fsck: {e}"))?;
    match st.code() {
        Some(c) => fsck_verdict(c),
        None => Err(format!("fsck {what} was killed ({st})")),
    }
}

/// Creates the missing directories of `path` with `mode` (existing ones are left alone).
fn make_dirs(path: &Path, mode: u32) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        make_dirs(parent, mode)?;
    }
    match std::fs::create_dir(path) {
        Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Candidate types for `auto`: /etc/filesystems, else the block file systems the kernel has.
fn auto_types() -> Vec<String> {
    if let Ok(t) = std::fs::read_to_string("/etc/filesystems") {
        let v: Vec<String> = t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "*")
            .map(str::to_string)
            .collect();
        if !v.is_empty() {
            return v;
        }
    }
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("nodev"))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Mounts on top of one of our automount points, through its fd (never by path: a process
/// outside the point's process group would wait on itself). Blocking.
pub fn mount_on_autofs(m: &autofs::AutofsMount, r: &Request) -> Result<String, String> {
    let r = &wait_for_what(r)?;
    if r.makefs {
        makefs(r)?;
    }
    let verdict = if r.fsck {
        run_fsck(&r.what).map_err(|e| format!("{}: {e}", r.what))?
    } else {
        "not checked"
    };
    let o = options::parse_mount_options(&r.options);
    if !o.bad.is_empty() {
        return Err(format!("{}: {}", r.where_, o.bad.join("; ")));
    }
    let attr = automount::attrs(o.flags);
    if o.bind || o.rbind {
        autofs::bind_onto(m, Path::new(&r.what), o.rbind, attr).map_err(|e| e.to_string())?;
        return Ok(verdict.to_string());
    }
    let types: Vec<String> = if r.fstype.is_empty() || r.fstype == "auto" {
        auto_types()
    } else {
        vec![r.fstype.clone()]
    };
    let mut last = String::from("no file system type to try");
    for t in &types {
        match autofs::mount_on_top(m, t, &r.what, &o.data, attr) {
            Ok(()) => return Ok(verdict.to_string()),
            Err(e) => last = format!("mount {} on {} ({t}): {e}", r.what, r.where_),
        }
    }
    Err(last)
}

fn attempt_without_data(r: &Request, types: &[String], flags: MsFlags) -> Result<(), nix::Error> {
    let mut last = nix::Error::ENODEV;
    for t in types {
        let fstype = (!t.is_empty()).then_some(t.as_str());
        match nix::mount::mount(
            Some(r.what.as_str()),
            r.where_.as_str(),
            fstype,
            flags,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// fsck if asked, then mount(2) (and the propagation change, if any). Blocking.
pub fn mount(r: &Request) -> Result<String, String> {
    let r = &wait_for_what(r)?;
    if r.makefs {
        makefs(r)?;
    }
    let verdict = if r.fsck {
        run_fsck(&r.what).map_err(|e| format!("{}: {e}", r.what))?
    } else {
        "not checked"
    };
    make_dirs(Path::new(&r.where_), r.directory_mode)
        .map_err(|e| format!("cannot create {}: {e}", r.where_))?;
    let o = options::parse_mount_options(&r.options);
    if !o.bad.is_empty() {
        return Err(format!("{}: {}", r.where_, o.bad.join("; ")));
    }
    if o.needs_loop {
        return Err(format!(
            "{}: loop devices are not set up by cairn yet (attach it with losetup and name the device)",
            r.what
        ));
    }
    // The flags that are options of the mount (ro, nosuid, …), apart from the kind of call.
    let call = MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT;
    let extra = o.flags - call;
    let mut flags = o.flags;
    let bind = o.bind || o.rbind;
    if bind {
        flags |= MsFlags::MS_BIND;
        if o.rbind {
            flags |= MsFlags::MS_REC;
        }
    }
    let data = (!o.data.is_empty()).then_some(o.data.as_str());
    let types: Vec<String> = if bind {
        vec![String::new()]
    } else if r.fstype.is_empty() || r.fstype == "auto" {
        auto_types()
    } else {
        vec![r.fstype.clone()]
    };
    let attempt = |flags: MsFlags| -> Result<(), nix::Error> {
        let mut last = nix::Error::ENODEV;
        for t in &types {
            let fstype = (!t.is_empty()).then_some(t.as_str());
            match nix::mount::mount(
                Some(r.what.as_str()),
                r.where_.as_str(),
                fstype,
                flags,
                data,
            ) {
                Ok(()) => return Ok(()),
                // `auto`: a type that does not recognise the device; try the next.
                Err(e @ (nix::Error::EINVAL | nix::Error::ENODEV)) if types.len() > 1 => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    };
    let mut result = attempt(flags);
    // SloppyOptions=: options the file system does not know are not fatal (mount -s). The
    // kernel names no culprit, so the retry drops the file-system options altogether.
    if let (Err(nix::Error::EINVAL), true, Some(_)) = (result, r.sloppy, data) {
        eprintln!(
            "cairn-mounter: {}: the file system refused {:?}; SloppyOptions=yes: mounting without them",
            r.where_, o.data
        );
        result = attempt_without_data(r, &types, flags);
    }
    // A read-only device mounts read-only, unless ReadWriteOnly= says not to (as mount(8)).
    if let Err(nix::Error::EACCES | nix::Error::EROFS) = result {
        if !r.read_write_only && !flags.contains(MsFlags::MS_RDONLY) {
            result = attempt(flags | MsFlags::MS_RDONLY);
        }
    }
    // A bind mount ignores most flags on the first call; apply them with a remount.
    if result.is_ok() && bind && !extra.is_empty() {
        let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra;
        if let Err(e) = nix::mount::mount(
            None::<&str>,
            r.where_.as_str(),
            None::<&str>,
            remount,
            None::<&str>,
        ) {
            return Err(format!(
                "{}: remounting the bind mount with its options: {e}",
                r.where_
            ));
        }
    }
    if let (Ok(()), Some(p)) = (result, o.propagation) {
        if let Err(e) = nix::mount::mount(
            None::<&str>,
            r.where_.as_str(),
            None::<&str>,
            p,
            None::<&str>,
        ) {
            return Err(format!("{}: setting propagation: {e}", r.where_));
        }
    }
    result.map_err(|e| {
        let t = if bind { "bind" } else { r.fstype.as_str() };
        format!("mount {} on {} ({t}): {e}", r.what, r.where_)
    })?;
    // As systemd-growfs (a service of its own there): a failure to grow leaves the mount up,
    // and is said.
    if r.growfs {
        if let Err(e) = growfs(r) {
            eprintln!("cairn-mounter: {e}");
            return Ok(format!("{verdict}; growfs: {e}"));
        }
    }
    Ok(verdict.to_string())
}

/// The processes that hold something under `dir` (cwd, root, an open file, a mapping), like
/// `fuser -m`: for a "target is busy" that names who.
pub fn holders(dir: &str) -> Vec<String> {
    let under = |p: &Path| {
        let s = p.to_string_lossy();
        s == dir || s.starts_with(&format!("{}/", dir.trim_end_matches('/')))
    };
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in procs.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let base = e.path();
        let mut hit = ["cwd", "root", "exe"]
            .iter()
            .filter_map(|l| std::fs::read_link(base.join(l)).ok())
            .any(|p| under(&p));
        if !hit {
            if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
                hit = fds
                    .flatten()
                    .filter_map(|f| std::fs::read_link(f.path()).ok())
                    .any(|p| under(&p));
            }
        }
        if hit {
            let comm = std::fs::read_to_string(base.join("comm")).unwrap_or_default();
            out.push(format!("{pid} ({})", comm.trim()));
        }
    }
    out
}

/// umount2(2) with the unit's fallbacks. Blocking.
pub fn unmount(where_: &str, lazy: bool, force: bool) -> Result<(), String> {
    let mut flags = MntFlags::empty();
    if force {
        flags |= MntFlags::MNT_FORCE;
    }
    match nix::mount::umount2(where_, flags) {
        Ok(()) => Ok(()),
        Err(nix::Error::EBUSY) if lazy => nix::mount::umount2(where_, flags | MntFlags::MNT_DETACH)
            .map_err(|e| format!("umount {where_}: {e}")),
        Err(nix::Error::EBUSY) => {
            let who = holders(where_);
            Err(format!(
                "umount {where_}: target is busy{}",
                if who.is_empty() {
                    String::new()
                } else {
                    format!(" (held by {})", who.join(", "))
                }
            ))
        }
        Err(e) => Err(format!("umount {where_}: {e}")),
    }
}

fn fill_mounts(
    mut list: capnp::struct_list::Builder<'_, mount_point::Owned>,
    mounts: &[mountinfo::Mount],
) {
    for (i, m) in mounts.iter().enumerate() {
        let mut b = list.reborrow().get(u32::try_from(i).unwrap_or(0));
        b.set_where(m.where_.as_str());
        b.set_what(m.what.as_str());
        b.set_type(m.fstype.as_str());
        b.set_options(m.options.as_str());
    }
}

pub struct MounterServer {
    pub points: Shared,
    pub registry: registry::Client,
    pub fds: FdHandle,
    /// Where to report requests (known once attached).
    pub events: Rc<RefCell<Option<mount_events::Client>>>,
}

impl mounter::Server for MounterServer {
    async fn fstab(
        self: Rc<Self>,
        params: mounter::FstabParams,
        mut results: mounter::FstabResults,
    ) -> Result<(), capnp::Error> {
        let path = params.get()?.get_path()?.to_str()?.to_string();
        let (entries, errors) = match std::fs::read_to_string(&path) {
            Ok(text) => fstab::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), Vec::new()),
            Err(e) => return Err(failed(format!("{path}: {e}"))),
        };
        let mut r = results.get();
        let mut list = r
            .reborrow()
            .init_entries(u32::try_from(entries.len()).unwrap_or(0));
        for (i, e) in entries.iter().enumerate() {
            let mut b = list.reborrow().get(u32::try_from(i).unwrap_or(0));
            b.set_line(u32::try_from(e.line).unwrap_or(0));
            b.set_what(e.what.as_str());
            b.set_where(e.where_.as_str());
            b.set_type(e.fstype.as_str());
            b.set_options(e.options.as_str());
            b.set_passno(e.passno);
        }
        let mut errs = r.init_errors(u32::try_from(errors.len()).unwrap_or(0));
        for (i, e) in errors.iter().enumerate() {
            errs.set(
                u32::try_from(i).unwrap_or(0),
                format!("{path}:{}: {}", e.line, e.message).as_str(),
            );
        }
        Ok(())
    }

    async fn mount(
        self: Rc<Self>,
        params: mounter::MountParams,
        mut results: mounter::MountResults,
    ) -> Result<(), capnp::Error> {
        let q = params.get()?.get_request()?;
        let req = Request {
            what: q.get_what()?.to_str()?.to_string(),
            where_: q.get_where()?.to_str()?.to_string(),
            fstype: q.get_type()?.to_str()?.to_string(),
            options: q.get_options()?.to_str()?.to_string(),
            sloppy: q.get_sloppy(),
            directory_mode: q.get_directory_mode(),
            fsck: q.get_fsck(),
            read_write_only: q.get_read_write_only(),
            device_timeout: std::time::Duration::from_millis(q.get_device_timeout_msec()),
            makefs: q.get_makefs(),
            growfs: q.get_growfs(),
        };
        // On an automount point: through its fds (copies, for the blocking pool).
        let point = self.points.borrow().by_where.get(&req.where_).cloned();
        let point = match point {
            Some(m) => Some(autofs::AutofsMount {
                path: m.path.clone(),
                pipe_r: m.pipe_r.try_clone().map_err(failed)?,
                ioctl_fd: m.ioctl_fd.try_clone().map_err(failed)?,
                dev: m.dev,
            }),
            None => None,
        };
        let verdict = tokio::task::spawn_blocking(move || match point {
            Some(m) => mount_on_autofs(&m, &req),
            None => mount(&req),
        })
        .await
        .map_err(failed)?
        .map_err(failed)?;
        results.get().set_fsck_result(verdict.as_str());
        Ok(())
    }

    async fn unmount(
        self: Rc<Self>,
        params: mounter::UnmountParams,
        _results: mounter::UnmountResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let where_ = p.get_where()?.to_str()?.to_string();
        let (lazy, force) = (p.get_lazy(), p.get_force());
        tokio::task::spawn_blocking(move || unmount(&where_, lazy, force))
            .await
            .map_err(failed)?
            .map_err(failed)
    }

    async fn mounts(
        self: Rc<Self>,
        _params: mounter::MountsParams,
        mut results: mounter::MountsResults,
    ) -> Result<(), capnp::Error> {
        let m = mountinfo::read().map_err(failed)?;
        fill_mounts(
            results
                .get()
                .init_mounts(u32::try_from(m.len()).unwrap_or(0)),
            &m,
        );
        Ok(())
    }

    async fn automount(
        self: Rc<Self>,
        params: mounter::AutomountParams,
        _results: mounter::AutomountResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let where_ = p.get_where()?.to_str()?.to_string();
        let idle = (p.get_timeout_idle_sec() > 0)
            .then(|| std::time::Duration::from_secs(p.get_timeout_idle_sec()));
        // The supervisor may ask before the answer to our attach (which names the sink) is in.
        let events = loop {
            if let Some(e) = self.events.borrow().clone() {
                break e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        };
        let existing = self.points.borrow().by_where.get(&where_).cloned();
        let m = match existing {
            // Ours already (re-attached after a restart): keep it, with this timeout.
            Some(m) => {
                autofs::set_timeout(&m, idle).map_err(failed)?;
                let taken = self.points.borrow_mut().by_where.remove(&where_);
                drop(m);
                match taken.map(Rc::try_unwrap) {
                    Some(Ok(m)) => m,
                    Some(Err(m)) => {
                        self.points.borrow_mut().by_where.insert(where_, m);
                        return Ok(());
                    }
                    None => return Ok(()),
                }
            }
            None => {
                let m = autofs::mount_direct(Path::new(&where_), idle, p.get_directory_mode())
                    .map_err(failed)?;
                automount::store(&self.registry, &self.fds, &m).await?;
                m
            }
        };
        automount::start(&self.points, m, events, idle);
        Ok(())
    }

    async fn answer(
        self: Rc<Self>,
        params: mounter::AnswerParams,
        _results: mounter::AnswerResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let where_ = p.get_where()?.to_str()?.to_string();
        let tokens: Vec<u32> = p.get_tokens()?.iter().collect();
        let m = self
            .points
            .borrow()
            .by_where
            .get(&where_)
            .cloned()
            .ok_or_else(|| failed(format!("{where_} is not an automount point of ours")))?;
        // A token the kernel no longer knows (its process gave up) is only worth a line.
        for (t, e) in autofs::answer(&*m, &tokens, p.get_ready()) {
            eprintln!("cairn-mounter: automount {where_}: answering token {t}: {e}");
        }
        automount::pending_done(&where_, &tokens);
        Ok(())
    }

    async fn unautomount(
        self: Rc<Self>,
        params: mounter::UnautomountParams,
        _results: mounter::UnautomountResults,
    ) -> Result<(), capnp::Error> {
        let where_ = params.get()?.get_where()?.to_str()?.to_string();
        automount::forget(&self.registry, &where_).await;
        automount::stop(&self.points, &where_).map_err(failed)
    }
}

/// Reports the mount table now and after every change (POLLPRI on mountinfo).
async fn watch(events: mount_events::Client) {
    let file = match std::fs::File::open("/proc/self/mountinfo") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cairn-mounter: cannot watch /proc/self/mountinfo: {e}");
            return;
        }
    };
    let afd = match proto::fdstream::register_priority(std::os::fd::OwnedFd::from(file)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cairn-mounter: cannot watch /proc/self/mountinfo: {e}");
            return;
        }
    };
    loop {
        let m = mountinfo::read().unwrap_or_default();
        let mut req = events.changed_request();
        fill_mounts(
            req.get().init_mounts(u32::try_from(m.len()).unwrap_or(0)),
            &m,
        );
        if let Err(e) = req.send().promise.await {
            eprintln!("cairn-mounter: cannot report the mount table: {e}");
            return;
        }
        match afd.ready(tokio::io::Interest::PRIORITY).await {
            Ok(mut g) => g.clear_ready(),
            Err(e) => {
                eprintln!("cairn-mounter: mountinfo watch: {e}");
                return;
            }
        }
    }
}

/// The helper's work once registered: offer the Mounter capability, then report the mount
/// table as it changes.
pub async fn work(registered: proto::component::Registered) {
    // The automount points an earlier mounter made: re-attached before anything is asked.
    let restored = automount::restore(registered.restored);
    let points: Shared = Rc::default();
    let events_slot = Rc::new(RefCell::new(None));
    let shown = points.clone();
    *registered.details.borrow_mut() = Some(Box::new(move || {
        let p = shown.borrow();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|t| t.lines().count())
            .unwrap_or(0);
        vec![
            proto::component::Section {
                title: format!("automount points ({})", p.by_where.len()),
                facts: p
                    .by_where
                    .iter()
                    .map(|(w, m)| (w.clone(), format!("autofs, device {}", m.dev)))
                    .collect(),
            },
            proto::component::Section {
                title: "autofs requests waiting for an answer".into(),
                facts: automount::pending()
                    .into_iter()
                    .map(|(w, t)| {
                        let tokens: Vec<String> = t.iter().map(u32::to_string).collect();
                        (w, format!("tokens {}", tokens.join(" ")))
                    })
                    .collect(),
            },
            proto::component::Section {
                title: "mount table".into(),
                facts: vec![("mounts in /proc/self/mountinfo".into(), mounts.to_string())],
            },
        ]
    }));
    let server = MounterServer {
        points: points.clone(),
        registry: registered.registry.clone(),
        fds: registered.fds.clone(),
        events: events_slot.clone(),
    };
    for m in &restored {
        eprintln!("cairn-mounter: automount {}: re-attached", m.path.display());
    }
    let client: mounter::Client = capnp_rpc::new_client(server);
    let mut req = registered.registry.attach_mounter_request();
    req.get().set_mounter(client);
    match req.send().promise.await {
        Ok(reply) => match reply.get().and_then(|r| r.get_events()) {
            Ok(events) => {
                *events_slot.borrow_mut() = Some(events.clone());
                for m in restored {
                    // The kernel kept the idle timeout; the expiry goes on with it.
                    let idle = autofs::get_timeout(&m).unwrap_or_else(|e| {
                        eprintln!("cairn-mounter: {e}; no idle expiry for this point");
                        None
                    });
                    automount::start(&points, m, events.clone(), idle);
                }
                watch(events).await
            }
            Err(e) => eprintln!("cairn-mounter: attaching: {e}"),
        },
        Err(e) => eprintln!("cairn-mounter: attaching: {e}"),
    }
    futures::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsck_exit_codes_as_systemd_fsck_reads_them() {
        assert_eq!(fsck_verdict(0), Ok("clean"));
        assert_eq!(fsck_verdict(1), Ok("errors corrected"));
        let e = fsck_verdict(4).unwrap_err();
        assert!(e.contains("status 4") && e.contains("uncorrected"), "{e}");
        let e = fsck_verdict(12).unwrap_err();
        assert!(
            e.contains("uncorrected") && e.contains("operational"),
            "{e}"
        );
        assert!(
            fsck_verdict(2).is_err(),
            "reboot needed is a failure for a mount"
        );
    }
}

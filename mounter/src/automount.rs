//! Automount points: direct autofs mounts whose requests the mounter reports to the supervisor
//! and answers as it is told.
//!
//! Surviving a restart: each point's pipe and ioctl fds are stored with the supervisor (and so
//! in pid1's store) under `autofs:WHERE:pipe` / `autofs:WHERE:ioctl`; a new mounter gets them
//! back at `register`, re-attaches (the kernel keeps the point, and every held process keeps
//! waiting), reads what is queued in the pipe, and answers the tokens the supervisor recorded.
//! A new mounter is in a new process group, not the one the autofs point was made for, so it
//! never touches the point by path: the real file system goes on top through the new mount
//! API, onto the stored fd (`autofs::mount_on_top`, `bind_onto`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use proto::bus_capnp::{mount_events, registry};
use proto::fdstream::FdHandle;

use crate::autofs::{self, AutofsMount, Packet};

/// The automount points this mounter holds, by mount point.
#[derive(Default)]
pub struct Points {
    pub by_where: BTreeMap<String, Rc<AutofsMount>>,
    tasks: BTreeMap<String, Vec<tokio::task::AbortHandle>>,
}

pub type Shared = Rc<RefCell<Points>>;

thread_local! {
    /// Requests reported to the supervisor and not answered yet, by point (for `component
    /// status`); the kernel keeps the real ones.
    static PENDING: RefCell<BTreeMap<String, std::collections::BTreeSet<u32>>> =
        const { RefCell::new(BTreeMap::new()) };
}

/// A request (or expiry) of `where_` reported, waiting for its answer.
pub fn pending_add(where_: &str, token: u32) {
    PENDING.with(|p| {
        p.borrow_mut()
            .entry(where_.to_string())
            .or_default()
            .insert(token);
    });
}

/// These tokens of `where_` were answered.
pub fn pending_done(where_: &str, tokens: &[u32]) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(set) = p.get_mut(where_) {
            for t in tokens {
                set.remove(t);
            }
            if set.is_empty() {
                p.remove(where_);
            }
        }
    });
}

/// Every point with tokens waiting: (point, tokens).
pub fn pending() -> Vec<(String, Vec<u32>)> {
    PENDING.with(|p| {
        p.borrow()
            .iter()
            .map(|(w, t)| (w.clone(), t.iter().copied().collect()))
            .collect()
    })
}

fn store_name(where_: &str, what: &str) -> String {
    format!("autofs:{where_}:{what}")
}

/// Keeps the point's fds with the supervisor (and pid1), for the next mounter.
pub async fn store(
    registry: &registry::Client,
    fds: &FdHandle,
    m: &AutofsMount,
) -> Result<(), capnp::Error> {
    let mut req = registry.store_fds_request();
    {
        let mut list = req.get().init_fds(2);
        for (i, (what, fd)) in [("pipe", &m.pipe_r), ("ioctl", &m.ioctl_fd)]
            .into_iter()
            .enumerate()
        {
            let idx = fds
                .send_dup(fd.as_fd())
                .map_err(|e| capnp::Error::failed(e.to_string()))?;
            let mut nf = list.reborrow().get(u32::try_from(i).unwrap_or(0));
            nf.set_name(store_name(&m.path.display().to_string(), what).as_str());
            nf.set_fd(idx);
        }
    }
    req.send().promise.await.map(drop)
}

pub async fn forget(registry: &registry::Client, where_: &str) {
    let mut req = registry.remove_fds_request();
    {
        let mut l = req.get().init_names(2);
        l.set(0, store_name(where_, "pipe").as_str());
        l.set(1, store_name(where_, "ioctl").as_str());
    }
    let _ = req.send().promise.await;
}

/// The points an earlier mounter stored: re-attached, each with its pipe and ioctl fd.
pub fn restore(restored: Vec<(String, OwnedFd)>) -> Vec<AutofsMount> {
    let mut pipes: BTreeMap<String, OwnedFd> = BTreeMap::new();
    let mut ioctls: BTreeMap<String, OwnedFd> = BTreeMap::new();
    for (name, fd) in restored {
        let Some(rest) = name.strip_prefix("autofs:") else {
            continue;
        };
        if let Some(w) = rest.strip_suffix(":pipe") {
            pipes.insert(w.to_string(), fd);
        } else if let Some(w) = rest.strip_suffix(":ioctl") {
            ioctls.insert(w.to_string(), fd);
        }
    }
    let mut out = Vec::new();
    for (w, pipe) in pipes {
        match autofs::reattach(Path::new(&w), pipe, ioctls.remove(&w)) {
            Ok(m) => out.push(m),
            Err(e) => eprintln!("cairn-mounter: automount {w}: cannot re-attach: {e}"),
        }
    }
    out
}

/// Reads the point's requests and reports each to the supervisor; the supervisor answers
/// through `Mounter.answer`.
pub async fn serve(m: Rc<AutofsMount>, events: mount_events::Client) {
    let where_ = m.path.display().to_string();
    let pipe = match m.pipe_r.try_clone().map(proto::fdstream::register) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) | Err(e) => {
            eprintln!("cairn-mounter: automount {where_}: cannot watch its pipe: {e}");
            return;
        }
    };
    loop {
        let packets = match autofs::read_packets(&m) {
            Ok(p) => p,
            Err(autofs::AutofsError::PipeClosed) => return,
            Err(e) => {
                eprintln!("cairn-mounter: automount {where_}: {e}");
                return;
            }
        };
        for p in packets {
            match p {
                Packet::Missing { token, pid, .. } => {
                    pending_add(&where_, token);
                    let mut req = events.requested_request();
                    req.get().set_where(where_.as_str());
                    req.get().set_token(token);
                    req.get().set_pid(pid);
                    if let Err(e) = req.send().promise.await {
                        // Nobody to decide: the process must not hang on us.
                        eprintln!("cairn-mounter: automount {where_}: cannot report a request ({e}); failing it");
                        let _ = autofs::fail(&m, token);
                        pending_done(&where_, &[token]);
                    }
                }
                Packet::Expire { token, .. } => {
                    pending_add(&where_, token);
                    let mut req = events.expire_request();
                    req.get().set_where(where_.as_str());
                    req.get().set_token(token);
                    if req.send().promise.await.is_err() {
                        let _ = autofs::fail(&m, token);
                    }
                }
            }
        }
        match pipe.readable().await {
            Ok(mut g) => g.clear_ready(),
            Err(e) => {
                eprintln!("cairn-mounter: automount {where_}: {e}");
                return;
            }
        }
    }
}

/// Asks the kernel, every `every`, to expire what has been idle for the point's timeout (the
/// kernel then sends an Expire request, which `serve` reports). The ioctl blocks until that
/// request is answered, so it runs on a thread of its own.
pub async fn expire_timer(m: Rc<AutofsMount>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match autofs::spawn_expire(&m, false) {
            Ok(thread) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            Err(e) => eprintln!("cairn-mounter: automount {}: expire: {e}", m.path.display()),
        }
    }
}

/// Starts serving a point (its requests, and its expiry when it has an idle timeout).
pub fn start(
    points: &Shared,
    m: AutofsMount,
    events: mount_events::Client,
    idle: Option<Duration>,
) {
    let where_ = m.path.display().to_string();
    let m = Rc::new(m);
    let mut tasks = vec![tokio::task::spawn_local(serve(m.clone(), events)).abort_handle()];
    if let Some(idle) = idle {
        let every = (idle / 2).max(Duration::from_secs(1));
        tasks.push(tokio::task::spawn_local(expire_timer(m.clone(), every)).abort_handle());
    }
    let mut p = points.borrow_mut();
    p.by_where.insert(where_.clone(), m);
    if let Some(old) = p.tasks.insert(where_, tasks) {
        old.iter().for_each(|t| t.abort());
    }
}

/// Stops serving a point and unmounts it (pending requesters get ENOENT).
pub fn stop(points: &Shared, where_: &str) -> Result<(), String> {
    let (m, tasks) = {
        let mut p = points.borrow_mut();
        (p.by_where.remove(where_), p.tasks.remove(where_))
    };
    tasks.into_iter().flatten().for_each(|t| t.abort());
    match m.map(Rc::try_unwrap) {
        Some(Ok(m)) => m.umount().map_err(|e| e.to_string()),
        // Still referenced by a task being torn down: unmount by path.
        Some(Err(m)) => autofs::umount_autofs(&m.path).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// mount(2)'s flags as the new mount API's `MOUNT_ATTR_*` bits (the ones it has).
pub fn attrs(flags: nix::mount::MsFlags) -> u64 {
    use nix::mount::MsFlags as F;
    let mut a = 0u64;
    for (f, m) in [
        (F::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (F::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (F::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (F::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (F::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (F::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
        (F::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ] {
        if flags.contains(f) {
            a |= m;
        }
    }
    a
}

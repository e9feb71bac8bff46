//! `cairnctl switch-root ROOT [INIT]`: leaving the initramfs (ARCHITECTURE.md §8).
//!
//! The supervisor prepares and pid1 acts: stop the services the new root has no unit file for
//! (nothing would manage them there), record the running services and their main pids and the
//! moment of the switch in the state memfd, stop the helpers (they restart from the new root,
//! their fds kept by pid1), and hand pid1 the request. pid1 kills this supervisor, does the
//! switch_root dance and execs the new root's cairn-init, which starts a new supervisor; that
//! one adopts what kept running (their pids unchanged: they stay pid1's children).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::job::graph::ActiveState;
use crate::job::types::{JobMode, JobType};
use crate::say;
use crate::unit::load::Catalog;
use crate::unit::name::UnitType;
use crate::warn;
use crate::world::WorldRef;

/// Where cairn-init is looked for in the new root when no INIT is given, in order.
const INITS: [&str; 2] = ["/usr/lib/cairn/cairn-init", "/sbin/init"];

/// Checks what can be checked before anything stops; the init path to exec.
pub fn validate(world: &WorldRef, root: &str, init: &str) -> Result<String, String> {
    let w = world.borrow();
    if w.container {
        return Err("switch-root is for the machine's init; this is container mode".into());
    }
    if w.link.is_none() {
        return Err("no pid1 link: switch-root needs cairn-init".into());
    }
    if w.shutting_down {
        return Err("already shutting down or switching root".into());
    }
    let r = Path::new(root);
    if !r.is_absolute() || r == Path::new("/") || !r.is_dir() {
        return Err(format!(
            "{root}: the new root must be an existing directory other than /"
        ));
    }
    let inside = |p: &str| r.join(p.trim_start_matches('/'));
    if !init.is_empty() {
        return if inside(init).is_file() {
            Ok(init.to_string())
        } else {
            Err(format!("{init} is not a file in {root}"))
        };
    }
    // A symlink is judged by its name only: its target means something inside the new root.
    INITS
        .iter()
        .find(|p| inside(p).symlink_metadata().is_ok())
        .map(|p| p.to_string())
        .ok_or_else(|| format!("{root} has none of {}", INITS.join(", ")))
}

/// The unit directories of the new root (the same list, under it).
fn new_root_catalog(world: &WorldRef, root: &str) -> Catalog {
    let dirs: Vec<PathBuf> = crate::unit_path(&world.borrow().config)
        .iter()
        .map(|d| Path::new(root).join(d.strip_prefix("/").unwrap_or(d)))
        .collect();
    Catalog::scan(&dirs)
}

/// Does the switch; returns only if pid1 did not (then this supervisor exits and pid1 starts
/// a fresh one, which adopts the services).
pub async fn run(world: WorldRef, root: String, init: String) {
    world.borrow_mut().shutting_down = true;
    // 1. What the new root will not know is stopped here, cleanly.
    let cat = new_root_catalog(&world, &root);
    let strangers: Vec<(u32, String)> = {
        let w = world.borrow();
        w.manager
            .units
            .list
            .iter()
            .filter(|u| u.utype == UnitType::Service)
            .filter(|u| {
                !matches!(
                    w.manager.active_state(u.id),
                    ActiveState::Inactive | ActiveState::Failed
                )
            })
            .filter(|u| {
                let template = crate::unit::name::parse(&u.name)
                    .ok()
                    .and_then(|n| n.template());
                !cat.fragments.contains_key(&u.name)
                    && !cat.aliases.contains_key(&u.name)
                    && !template.is_some_and(|t| cat.fragments.contains_key(&t))
            })
            .map(|u| (u.id, u.name.clone()))
            .collect()
    };
    let mut waits = Vec::new();
    for (id, name) in &strangers {
        say!("switch-root: stopping {name}: {root} has no unit for it");
        let mut w = world.borrow_mut();
        let mut out = Vec::new();
        let r = w
            .manager
            .enqueue(*id, JobType::Stop, JobMode::Replace, &mut out);
        w.manager.defer(out);
        if let Ok(job) = r {
            let (tx, rx) = futures::channel::oneshot::channel();
            w.io.waiters.entry(job).or_default().push(tx);
            waits.push(rx);
        }
    }
    crate::runtime::process(&world);
    if tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(waits))
        .await
        .is_err()
    {
        warn!("switch-root: services did not all stop within 30 s; going on");
    }
    // 2. The state the next supervisor starts from.
    let (link, memfd, clients) = {
        let mut w = world.borrow_mut();
        // Of the initrd's units only the services with a process are kept (the new root adopts
        // them by name, with their main pid); the new root starts its own default target.
        let (units, _) = crate::persist::snapshot(&w);
        w.state.units = units.into_iter().filter(|u| u.main_pid > 0).collect();
        w.state.switch_root_realtime_usec = proto::procinfo::realtime_usec();
        w.state.jobs.clear();
        w.state.default_started = false;
        w.save_pending = true;
        let clients: Vec<_> = w
            .helpers
            .iter()
            .filter_map(|h| h.component.clone())
            .collect();
        (w.link.clone(), w.state.to_memfd(), clients)
    };
    let Some(link) = link else { return };
    match memfd {
        Ok(fd) => {
            use std::os::fd::AsFd;
            if let Err(e) = link
                .store_fds(&[(crate::state::STATE_FD, fd.as_fd())])
                .await
            {
                warn!("switch-root: cannot save the state: {e}");
            }
        }
        Err(e) => warn!("switch-root: cannot save the state: {e}"),
    }
    // 3. The helpers go; the new root's start with the fds pid1 keeps.
    say!("switch-root: stopping the helpers");
    let stops = clients.into_iter().map(|c| async move {
        let _ =
            tokio::time::timeout(Duration::from_secs(2), c.shutdown_request().send().promise).await;
    });
    futures::future::join_all(stops).await;
    // 4. pid1's turn.
    say!("switch-root: handing over to pid1 ({root}, {init})");
    if let Err(e) = link.switch_root(&root, &init).await {
        warn!("switch-root: cannot ask pid1: {e}");
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    warn!("switch-root: pid1 did not switch; exiting so that a fresh supervisor takes over");
    std::process::exit(1);
}

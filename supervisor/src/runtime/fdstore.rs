//! The file-descriptor store of services (sd_notify's FDSTORE=1): fds a service hands back
//! are kept by the supervisor (and in pid1's store, so they outlive a supervisor crash) and
//! passed to its next process by the LISTEN_FDS protocol, with their FDNAME= as
//! LISTEN_FDNAMES. Bounded by FileDescriptorStoreMax= (0 by default: nothing is kept). The
//! store goes when the unit stops (not when it restarts by itself).

use super::*;

/// pid1's store name of a unit's stored fd: `fdstore.UNIT.SEQ.NAME`.
pub(crate) fn store_key(unit: &str, seq: u64, name: &str) -> String {
    format!("fdstore.{unit}.{seq}.{name}")
}

/// FDSTORE=1 (with FDNAME=) keeps the datagram's fds; FDSTOREREMOVE=1 with FDNAME= drops
/// those of that name. Anything else: the fds are closed (dropped) here.
pub fn fd_store(
    world: &WorldRef,
    unit: UnitId,
    assignments: &[(String, String)],
    fds: Vec<OwnedFd>,
) {
    let get = |k: &str| {
        assignments
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let name = get("FDNAME").unwrap_or("stored").to_string();
    if get("FDSTOREREMOVE") == Some("1") {
        remove(world, unit, &name);
        return;
    }
    if get("FDSTORE") != Some("1") || fds.is_empty() {
        return;
    }
    let (unit_name, max, link) = {
        let w = world.borrow();
        let Some(u) = w.manager.units.get(unit) else {
            return;
        };
        (
            u.name.clone(),
            u.config().service.fd_store_max,
            w.link.clone(),
        )
    };
    let mut to_pid1 = Vec::new();
    {
        let mut w = world.borrow_mut();
        let io = w.io.units.entry(unit).or_default();
        for fd in fds {
            if io.fdstore.len() >= max {
                say!(
                    "{unit_name}: FDSTORE refused: FileDescriptorStoreMax={max} reached (the fd is closed)"
                );
                continue;
            }
            io.fdstore_seq += 1;
            let key = store_key(&unit_name, io.fdstore_seq, &name);
            if let Ok(dup) = fd.try_clone() {
                to_pid1.push((key.clone(), dup));
            }
            io.fdstore.push((name.clone(), key, fd));
        }
    }
    if let (Some(link), false) = (link, to_pid1.is_empty()) {
        tokio::task::spawn_local(async move {
            let entries: Vec<(&str, BorrowedFd<'_>)> = to_pid1
                .iter()
                .map(|(k, f)| (k.as_str(), f.as_fd()))
                .collect();
            if let Err(e) = link.store_fds(&entries).await {
                warn!("cannot keep stored fds in pid1: {e}");
            }
        });
    }
}

fn remove(world: &WorldRef, unit: UnitId, name: &str) {
    let (keys, link) = {
        let mut w = world.borrow_mut();
        let link = w.link.clone();
        let io = w.io.units.entry(unit).or_default();
        let keys: Vec<String> = io
            .fdstore
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, k, _)| k.clone())
            .collect();
        io.fdstore.retain(|(n, _, _)| n != name);
        (keys, link)
    };
    forget_in_pid1(link, keys);
}

fn forget_in_pid1(link: Option<std::rc::Rc<crate::init_link::InitLink>>, keys: Vec<String>) {
    if let (Some(link), false) = (link, keys.is_empty()) {
        tokio::task::spawn_local(async move {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let _ = link.remove_fds(&refs).await;
        });
    }
}

/// The unit stopped for good: its store goes (FileDescriptorStorePreserve=no).
pub fn flush(world: &WorldRef, unit: UnitId) {
    let (keys, link) = {
        let mut w = world.borrow_mut();
        let link = w.link.clone();
        let io = w.io.units.entry(unit).or_default();
        let keys: Vec<String> = io.fdstore.drain(..).map(|(_, k, _)| k).collect();
        (keys, link)
    };
    forget_in_pid1(link, keys);
}

/// After a supervisor restart: fds pid1 kept under `fdstore.UNIT.SEQ.NAME` go back to their
/// unit's store.
pub fn restore(world: &WorldRef, entries: Vec<(String, OwnedFd)>) {
    for (key, fd) in entries {
        let Some(rest) = key.strip_prefix("fdstore.") else {
            continue;
        };
        // UNIT may contain dots: the last two fields are SEQ and NAME.
        let mut parts = rest.rsplitn(3, '.');
        let (Some(name), Some(seq), Some(unit_name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(unit) = world.borrow().manager.units.lookup(unit_name) else {
            say!("stored fd {key} has no unit any more; closing it");
            continue;
        };
        let mut w = world.borrow_mut();
        let io = w.io.units.entry(unit).or_default();
        io.fdstore_seq = io.fdstore_seq.max(seq.parse().unwrap_or(0));
        io.fdstore.push((name.to_string(), key, fd));
    }
}

/// What a service's main process gets from the store: the fds (for LISTEN_FDS, at 3, 4, …)
/// and their names.
pub(crate) fn for_spawn(world: &WorldRef, unit: UnitId) -> (Vec<OwnedFd>, Vec<String>) {
    let w = world.borrow();
    let Some(io) = w.io.units.get(&unit) else {
        return (Vec::new(), Vec::new());
    };
    let mut fds = Vec::new();
    let mut names = Vec::new();
    for (name, _, fd) in &io.fdstore {
        if let Ok(dup) = fd.try_clone() {
            fds.push(dup);
            names.push(name.clone());
        }
    }
    (fds, names)
}

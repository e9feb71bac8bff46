//! Ending: what a signal to PID 1 means, and the orderly shutdown — shutdown.target stops
//! every unit in reverse order, the helpers are told to stop, and pid1 is handed the final
//! act (kill what is left, sync, unmount, reboot(2)).

use std::time::Duration;

use proto::pid1_capnp::ShutdownKind;

use crate::world::WorldRef;
use crate::{job, runtime};
use crate::{say, warn};

/// What a signal to PID 1 means: as systemd reads them (SIGINT is ctrl-alt-del, SIGPWR,
/// SIGRTMIN+3/4/5; SIGTERM ends a container), and in system mode also busybox init's
/// SIGUSR1/SIGUSR2/SIGTERM, which busybox's `halt`, `poweroff` and `reboot` send — ash runs
/// its own applets before anything on PATH, so in a busybox userland those are what a person
/// typing `poweroff` gets. (systemd re-executes itself on SIGTERM; cairn's re-exec is
/// `cairnctl daemon-reexec`.)
pub fn signal_action(signo: i32, container: bool) -> Option<ShutdownKind> {
    let rtmin = libc::SIGRTMIN();
    match signo {
        libc::SIGINT => Some(ShutdownKind::Reboot), // ctrl-alt-del
        libc::SIGTERM if container => Some(ShutdownKind::Poweroff),
        libc::SIGTERM => Some(ShutdownKind::Reboot),
        libc::SIGUSR1 if !container => Some(ShutdownKind::Halt),
        libc::SIGUSR2 if !container => Some(ShutdownKind::Poweroff),
        libc::SIGPWR => Some(ShutdownKind::Poweroff),
        s if s == rtmin + 3 => Some(ShutdownKind::Halt),
        s if s == rtmin + 4 => Some(ShutdownKind::Poweroff),
        s if s == rtmin + 5 => Some(ShutdownKind::Reboot),
        _ => None,
    }
}

pub(crate) async fn on_init_signal(world: &WorldRef, signo: i32) {
    let container = world.borrow().container;
    match signal_action(signo, container) {
        Some(kind) => {
            say!("signal {signo} to PID 1: {}", kind_name(kind));
            shutdown(world, kind).await;
        }
        None => say!("signal {signo} to PID 1: ignored"),
    }
}

pub fn kind_name(kind: ShutdownKind) -> &'static str {
    match kind {
        ShutdownKind::Poweroff => "poweroff",
        ShutdownKind::Reboot => "reboot",
        ShutdownKind::Halt => "halt",
    }
}

/// Starts shutdown.target (which every unit with default dependencies conflicts with) and
/// waits for its job, at most 90 s.
async fn stop_units(world: &WorldRef) {
    let rx = {
        let mut w = world.borrow_mut();
        let Some(id) = w.manager.units.lookup("shutdown.target") else {
            return;
        };
        let mut out = Vec::new();
        let r = w.manager.enqueue(
            id,
            job::types::JobType::Start,
            job::types::JobMode::ReplaceIrreversibly,
            &mut out,
        );
        w.manager.defer(out);
        match r {
            Ok(job) => {
                let (tx, rx) = futures::channel::oneshot::channel();
                w.io.waiters.entry(job).or_default().push(tx);
                Some(rx)
            }
            Err(e) => {
                say!("shutdown.target: {e}");
                None
            }
        }
    };
    runtime::process(world);
    if let Some(rx) = rx {
        if tokio::time::timeout(Duration::from_secs(90), rx)
            .await
            .is_err()
        {
            warn!("units did not all stop within 90 s; going on");
        }
    }
}

/// Stops the units and the helpers, then hands over to pid1 for the final kill, sync and reboot(2).
pub async fn shutdown(world: &WorldRef, kind: ShutdownKind) {
    let (clients, link) = {
        let mut w = world.borrow_mut();
        if w.shutting_down {
            return;
        }
        w.shutting_down = true;
        let clients: Vec<_> = w
            .helpers
            .iter()
            .filter_map(|h| h.component.clone())
            .collect();
        (clients, w.link.clone())
    };
    stop_units(world).await;
    say!("{}: stopping the helpers", kind_name(kind));
    let stops = clients.into_iter().map(|c| async move {
        let _ =
            tokio::time::timeout(Duration::from_secs(2), c.shutdown_request().send().promise).await;
    });
    futures::future::join_all(stops).await;
    match link {
        Some(l) => {
            if let Err(e) = l.shutdown(kind).await {
                warn!("cannot hand over to pid1: {e}");
            }
        }
        None => std::process::exit(0),
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn signals_map_as_systemd_and_busybox_read_them() {
        assert_eq!(
            signal_action(libc::SIGINT, false),
            Some(ShutdownKind::Reboot)
        );
        assert_eq!(
            signal_action(libc::SIGTERM, true),
            Some(ShutdownKind::Poweroff)
        );
        // busybox's halt/poweroff/reboot, in system mode only.
        assert_eq!(
            signal_action(libc::SIGTERM, false),
            Some(ShutdownKind::Reboot)
        );
        assert_eq!(
            signal_action(libc::SIGUSR2, false),
            Some(ShutdownKind::Poweroff)
        );
        assert_eq!(
            signal_action(libc::SIGUSR1, false),
            Some(ShutdownKind::Halt)
        );
        assert_eq!(signal_action(libc::SIGUSR2, true), None);
        assert_eq!(
            signal_action(libc::SIGRTMIN() + 3, false),
            Some(ShutdownKind::Halt)
        );
        assert_eq!(signal_action(libc::SIGUSR1, true), None);
    }
}

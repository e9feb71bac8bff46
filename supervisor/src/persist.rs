//! What the supervisor keeps of its units across its own death or `daemon-reexec`
//! (ARCHITECTURE.md §3): each unit that is not dead — a service's state, result and main pid,
//! an active target — and the jobs in flight, written into the state memfd in pid1's store a
//! moment after each change (debounced: at most one save per [`DEBOUNCE`]).
//!
//! A new supervisor of the same boot puts them back before anything starts: running services
//! are adopted (by cgroup, with the saved main pid), a oneshot that ran stays active without
//! running again, a failed unit stays failed with its result, targets stay active, and the
//! jobs that were in flight are queued again — then the default target is not started anew.
//! A service caught between states (starting, stopping) has its job queued again and so goes
//! on to where it was heading.

use std::time::Duration;

use crate::job::types::{JobMode, JobType};
use crate::manager::{Kind, Simple};
use crate::service::machine::State;
use crate::service::policy::ServiceResult;
use crate::state::{SavedJob, SavedUnit};
use crate::world::{World, WorldRef};
use crate::{say, warn};

/// The longest a change waits before it is saved.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Units that are not dead, and the jobs in flight, as the state keeps them.
pub fn snapshot(w: &World) -> (Vec<SavedUnit>, Vec<SavedJob>) {
    let m = &w.manager;
    let mut units = Vec::new();
    for u in &m.units.list {
        let Some(rt) = m.rt.get(u.id as usize) else {
            continue;
        };
        let saved = match &rt.kind {
            Kind::Service(s) if s.machine.state != State::Dead => Some(SavedUnit {
                name: u.name.clone(),
                state: s.machine.state.as_str().to_string(),
                result: s.machine.result.as_str().to_string(),
                main_pid: s.main_pid.unwrap_or(0),
                due_usec: if s.machine.state == State::AutoRestart {
                    w.io.units.get(&u.id).map_or(0, |io| io.timer_due_usec)
                } else {
                    0
                },
            }),
            // Their resources come back by themselves (sockets from pid1's store, automount
            // points re-attached by the mounter); the unit is started again over them.
            Kind::Simple(Simple { active: true }) | Kind::Socket(_) | Kind::Automount(_)
                if m.active_state(u.id) == crate::job::graph::ActiveState::Active =>
            {
                Some(SavedUnit {
                    name: u.name.clone(),
                    state: "active".into(),
                    result: String::new(),
                    main_pid: 0,
                    due_usec: 0,
                })
            }
            // Mounts come back from the kernel's table (the mounter reports it), devices from
            // devmon's coldplug.
            _ => None,
        };
        units.extend(saved);
    }
    let jobs = m
        .jobs
        .iter()
        .filter_map(|j| {
            Some(SavedJob {
                unit: m.units.get(j.unit)?.name.clone(),
                jtype: j.jtype.as_str().to_string(),
            })
        })
        .collect();
    (units, jobs)
}

/// Saves soon: the first change arms one timer; the changes until it fires ride along.
pub fn changed(world: &WorldRef) {
    {
        let mut w = world.borrow_mut();
        if w.save_pending || w.link.is_none() || w.shutting_down {
            return;
        }
        w.save_pending = true;
    }
    let world = world.clone();
    tokio::task::spawn_local(async move {
        tokio::time::sleep(DEBOUNCE).await;
        save_now(&world);
    });
}

/// Refreshes the units and jobs in the state and stores it with pid1.
pub fn save_now(world: &WorldRef) {
    {
        let mut w = world.borrow_mut();
        // Shutting down or switching root: the state was written for the next one on
        // purpose (switch-root clears the units); a save that was due must not undo it.
        if w.shutting_down {
            return;
        }
        w.save_pending = false;
        let (units, jobs) = snapshot(&w);
        w.state.units = units;
        w.state.jobs = jobs;
        w.state.default_started = w.default_started;
    }
    crate::save_state(world);
}

/// After adoption by cgroup: puts the saved states back and queues the saved jobs. Returns
/// whether there was a saved state to go by (then the default target is not started again).
pub fn restore(world: &WorldRef) -> bool {
    let (units, jobs, default_started) = {
        let w = world.borrow();
        (
            w.state.units.clone(),
            w.state.jobs.clone(),
            w.state.default_started,
        )
    };
    if units.is_empty() && jobs.is_empty() && !default_started {
        return false;
    }
    let mut out = Vec::new();
    let mut w = world.borrow_mut();
    let mut back = 0;
    let mut presumed = Vec::new();
    let mut later = Vec::new();
    for s in &units {
        let Some(id) = w.manager.units.lookup(&s.name) else {
            say!("{}: was {} before, but is not loaded now", s.name, s.state);
            continue;
        };
        let Some(rt) = w.manager.rt.get_mut(id as usize) else {
            continue;
        };
        match &mut rt.kind {
            Kind::Simple(simple) if s.state == "active" => {
                simple.active = true;
                back += 1;
            }
            Kind::Socket(_) | Kind::Automount(_) if s.state == "active" => {
                let _ = w
                    .manager
                    .enqueue(id, JobType::Start, JobMode::Replace, &mut out);
                back += 1;
            }
            // Processes in its cgroup (adopted already, by cgroup): they are what was
            // started, whatever the saved state says — a process spawned just before the last
            // supervisor died, after its last save, must not get a twin.
            Kind::Service(svc) if svc.main_pid.is_some() => back += 1,
            Kind::Service(svc) => match s.state.as_str() {
                // Adopted already when its processes are there. When its cgroup is empty,
                // its main process ended while no supervisor ran: it is taken as running
                // with its saved pid, so that the exit pid1 forwards next is applied to it
                // (restart policy and all).
                "running" | "reload" if svc.main_pid.is_none() && s.main_pid > 0 => {
                    svc.machine.adopt_running();
                    svc.main_pid = Some(s.main_pid);
                    w.manager.pids.insert(s.main_pid, (id, true));
                    presumed.push((id, s.main_pid));
                    back += 1;
                }
                "running" | "reload" => back += 1,
                "exited" => {
                    svc.machine.adopt_exited();
                    back += 1;
                }
                "failed" => {
                    svc.machine
                        .adopt_failed(ServiceResult::parse(&s.result).unwrap_or_default());
                    back += 1;
                }
                // Between two runs: it starts again when it was due to (RestartSec= kept).
                "auto-restart" => {
                    svc.machine.adopt_auto_restart();
                    later.push((id, s.due_usec));
                    back += 1;
                }
                _ => {}
            },
            _ => {}
        }
    }
    let mut requeued = 0;
    for j in &jobs {
        let (Some(id), Some(t)) = (w.manager.units.lookup(&j.unit), JobType::parse(&j.jtype))
        else {
            continue;
        };
        match w.manager.enqueue(id, t, JobMode::Replace, &mut out) {
            Ok(_) => requeued += 1,
            Err(e) => warn!(
                "{}: the {} job in flight cannot be queued again: {e}",
                j.unit, j.jtype
            ),
        }
    }
    w.default_started = default_started;
    w.manager.defer(out);
    drop(w);
    say!("state of the previous supervisor: {back} units put back, {requeued} jobs queued again");
    // The restart timers, for what is left of them: the machine restarts as from its own.
    for (id, due) in later {
        let delay = Duration::from_micros(due.saturating_sub(proto::procinfo::realtime_usec()));
        crate::runtime::arm_timer(world, id, delay);
    }
    if !presumed.is_empty() {
        let world = world.clone();
        tokio::task::spawn_local(async move { settle_presumed(&world, presumed).await });
    }
    true
}

/// A main pid taken from the saved state whose process is gone and whose exit pid1 did not
/// forward (the previous supervisor had it already, after its last save): the exit is
/// unknown, and is taken as a clean one, so that the unit does not stay "running" forever.
async fn settle_presumed(world: &WorldRef, presumed: Vec<(u32, i32)>) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (id, pid) in presumed {
        let still = {
            let w = world.borrow();
            w.manager
                .pids
                .get(&pid)
                .is_some_and(|(u, main)| *u == id && *main)
        };
        if still && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            say!("main pid {pid} of a unit ended while no supervisor ran; its exit status is unknown");
            crate::runtime::child_exited(world, pid, crate::service::policy::ExitStatus::Code(0));
        }
    }
    crate::runtime::process(world);
}

/// `cairnctl daemon-reexec [--binary PATH]`: the state is saved (and stored with pid1) now,
/// pid1 is told the new binary if there is one, then this supervisor exits; cairn-init starts
/// the next one at once, which takes the state and the fd
/// store back, adopts the services and queues the jobs again. Services are not restarted:
/// they keep running, pid1's children meanwhile.
pub async fn reexec(world: &WorldRef, binary: Option<&str>) -> Result<(), String> {
    if let Some(b) = binary {
        crate::components::check_binary(std::path::Path::new(b), "supervisor")?;
    }
    let (link, memfd) = {
        let mut w = world.borrow_mut();
        if w.shutting_down {
            return Err("the manager is shutting down".into());
        }
        let Some(link) = w.link.clone() else {
            return Err("no pid1 link: nothing would start the next supervisor".into());
        };
        let (units, jobs) = snapshot(&w);
        w.state.units = units;
        w.state.jobs = jobs;
        w.state.default_started = w.default_started;
        // No other save may race this one.
        w.save_pending = true;
        (link, w.state.to_memfd().map_err(|e| e.to_string())?)
    };
    use std::os::fd::AsFd;
    link.store_fds(&[(crate::state::STATE_FD, memfd.as_fd())])
        .await
        .map_err(|e| format!("cannot store the state with pid1: {e}"))?;
    if let Some(b) = binary {
        link.supervisor_binary(b)
            .await
            .map_err(|e| format!("cannot tell pid1 the new binary: {e}"))?;
    }
    say!("daemon-reexec: state saved; this supervisor exits, cairn-init starts the next");
    tokio::task::spawn_local(async {
        // The caller hears "ok" first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        std::process::exit(0);
    });
    Ok(())
}

//! The unit methods of the control API: decode the request, ask the manager, fill the answer.

use futures::channel::oneshot;
use proto::control_capnp::{manager, viewer};

use crate::control_request as request;
use crate::job::types::{JobResult, JobType};
use crate::manager::Kind;
use crate::service::machine::State;
use crate::view;
use crate::world::WorldRef;

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

pub fn list_units(
    world: &WorldRef,
    params: viewer::ListUnitsParams,
    mut results: viewer::ListUnitsResults,
) -> Result<(), capnp::Error> {
    let all = params.get()?.get_all();
    let w = world.borrow();
    let ids = view::listed(&w.manager, all);
    let mut list = results.get().init_units(idx(ids.len()));
    for (i, id) in ids.iter().enumerate() {
        view::fill_summary(&w.manager, *id, list.reborrow().get(idx(i)));
    }
    Ok(())
}

pub fn status(
    world: &WorldRef,
    params: viewer::StatusParams,
    mut results: viewer::StatusResults,
) -> Result<(), capnp::Error> {
    let req = request::status(params.get()?)?;
    let w = world.borrow();
    let id = view::lookup(&w, &req.name)?;
    view::fill_status(&w, id, req.lines, results.get().init_status());
    Ok(())
}

pub fn show(
    world: &WorldRef,
    params: viewer::ShowParams,
    mut results: viewer::ShowResults,
) -> Result<(), capnp::Error> {
    let name = request::show(params.get()?)?;
    let w = world.borrow();
    let id = view::lookup(&w, &name)?;
    let props = view::properties(&w, id);
    let mut list = results.get().init_properties(idx(props.len()));
    for (i, (k, v)) in props.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_key(k.as_str());
        e.set_value(v.as_str());
    }
    Ok(())
}

pub fn cat(
    world: &WorldRef,
    params: viewer::CatParams,
    mut results: viewer::CatResults,
) -> Result<(), capnp::Error> {
    let name = request::cat(params.get()?)?;
    let w = world.borrow();
    let id = view::lookup(&w, &name)?;
    let files = view::cat(&w, id);
    let mut list = results.get().init_files(idx(files.len()));
    for (i, (k, v)) in files.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_key(k.as_str());
        e.set_value(v.as_str());
    }
    Ok(())
}

pub fn list_dependencies(
    world: &WorldRef,
    params: viewer::ListDependenciesParams,
    mut results: viewer::ListDependenciesResults,
) -> Result<(), capnp::Error> {
    let (name, reverse) = request::list_dependencies(params.get()?)?;
    let w = world.borrow();
    let id = view::lookup(&w, &name)?;
    let tree = view::dependency_tree(&w.manager, id, reverse);
    let mut list = results.get().init_tree(idx(tree.len()));
    for (i, (depth, u)) in tree.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_depth(*depth);
        e.set_name(
            w.manager
                .units
                .get(*u)
                .map(|x| x.name.as_str())
                .unwrap_or("?"),
        );
        e.set_active(crate::job::graph::ActiveState::as_str(
            w.manager.active_state(*u),
        ));
    }
    Ok(())
}

pub fn list_jobs(
    world: &WorldRef,
    _params: viewer::ListJobsParams,
    mut results: viewer::ListJobsResults,
) -> Result<(), capnp::Error> {
    let w = world.borrow();
    let jobs: Vec<_> = w.manager.jobs.iter().cloned().collect();
    let mut list = results.get().init_jobs(idx(jobs.len()));
    for (i, j) in jobs.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_id(j.id);
        e.set_unit(
            w.manager
                .units
                .get(j.unit)
                .map(|x| x.name.as_str())
                .unwrap_or("?"),
        );
        e.set_type(j.jtype.as_str());
        e.set_state(j.state.as_str());
    }
    Ok(())
}

/// `analyze`: the boot split and each unit's start. The kernel's share is the time from the
/// kernel's start (realtime now minus CLOCK_BOOTTIME now) to this boot's first supervisor;
/// userspace's, from then until the default target became active.
pub fn analyze(
    world: &WorldRef,
    _params: viewer::AnalyzeParams,
    mut results: viewer::AnalyzeResults,
) -> Result<(), capnp::Error> {
    let w = world.borrow();
    let now = proto::procinfo::realtime_usec();
    let boottime = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000
                + u64::try_from(t.tv_nsec()).unwrap_or(0) / 1000
        })
        .unwrap_or(0);
    let kernel_start = now.saturating_sub(boottime);
    let first = w.state.boot_realtime_usec;
    let target = if w.boot_target.is_empty() {
        w.config.target.clone()
    } else {
        w.boot_target.clone()
    };
    let target_active = w
        .manager
        .units
        .lookup(&target)
        .and_then(|id| w.manager.rt.get(id as usize))
        .map(|r| r.active_enter_usec)
        .unwrap_or(0);
    // With an initrd, userspace begins at switch-root.
    let switched = w.state.switch_root_realtime_usec;
    let userspace_start = if switched > 0 { switched } else { first };
    let mut r = results.get();
    r.set_kernel_usec(first.saturating_sub(kernel_start));
    r.set_initrd_usec(if switched > 0 {
        switched.saturating_sub(first)
    } else {
        0
    });
    // 0 while the target is not active (or became active before the switch).
    r.set_userspace_usec(target_active.saturating_sub(userspace_start));
    r.set_target(target.as_str());
    r.set_userspace_start_usec(first);
    let rows: Vec<(String, u64, u64)> = w
        .manager
        .units
        .list
        .iter()
        .filter_map(|u| {
            let rt = w.manager.rt.get(u.id as usize)?;
            (rt.active_enter_usec > 0).then(|| {
                (
                    u.name.clone(),
                    rt.activating_enter_usec,
                    rt.active_enter_usec,
                )
            })
        })
        .collect();
    let mut list = r.init_units(idx(rows.len()));
    for (i, (n, a, b)) in rows.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_name(n.as_str());
        e.set_activating_usec(*a);
        e.set_active_usec(*b);
    }
    Ok(())
}

/// The kinds `analyze dot` draws; each is recorded on the unit that declared it.
const GRAPH_KINDS: [crate::job::graph::Dep; 7] = {
    use crate::job::graph::Dep;
    [
        Dep::Requires,
        Dep::Requisite,
        Dep::Wants,
        Dep::BindsTo,
        Dep::PartOf,
        Dep::Conflicts,
        Dep::After,
    ]
};

pub fn graph(
    world: &WorldRef,
    _params: viewer::GraphParams,
    mut results: viewer::GraphResults,
) -> Result<(), capnp::Error> {
    let w = world.borrow();
    let units = &w.manager.units;
    let mut edges: Vec<(&str, &str, &'static str)> = Vec::new();
    for u in &units.list {
        for kind in GRAPH_KINDS {
            for to in u.deps(kind) {
                if let Some(t) = units.get(to) {
                    edges.push((u.name.as_str(), t.name.as_str(), kind.as_str()));
                }
            }
        }
    }
    let mut list = results.get().init_edges(idx(edges.len()));
    for (i, (from, to, kind)) in edges.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_from(*from);
        e.set_to(*to);
        e.set_kind(*kind);
    }
    Ok(())
}

pub fn list_sockets(
    world: &WorldRef,
    _params: viewer::ListSocketsParams,
    mut results: viewer::ListSocketsResults,
) -> Result<(), capnp::Error> {
    let rows = crate::runtime::sockets::rows(world);
    let mut list = results.get().init_sockets(idx(rows.len()));
    for (i, r) in rows.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_listen(r.listen.as_str());
        e.set_type(r.kind);
        e.set_unit(r.unit.as_str());
        e.set_activates(r.activates.as_str());
        e.set_state(r.state);
        e.set_paused(r.paused);
        e.set_triggers(r.triggers);
        e.set_refused(r.refused);
        e.set_connections(r.connections);
    }
    Ok(())
}

fn text_list(mut b: capnp::text_list::Builder<'_>, items: &[String]) {
    for (i, t) in items.iter().enumerate() {
        b.set(idx(i), t.as_str());
    }
}

pub fn why(
    world: &WorldRef,
    params: viewer::WhyParams,
    mut results: viewer::WhyResults,
) -> Result<(), capnp::Error> {
    let name = request::why(params.get()?)?;
    let w = world.borrow();
    let id = view::lookup(&w, &name)?;
    let chain = view::why(&w.manager, id);
    text_list(results.get().init_chain(idx(chain.len())), &chain);
    Ok(())
}

pub fn why_not(
    world: &WorldRef,
    params: viewer::WhyNotParams,
    mut results: viewer::WhyNotResults,
) -> Result<(), capnp::Error> {
    let name = request::why_not(params.get()?)?;
    let w = world.borrow();
    let id = view::lookup(&w, &name)?;
    let reasons = view::why_not(&w.manager, id);
    text_list(results.get().init_reasons(idx(reasons.len())), &reasons);
    Ok(())
}

pub fn log(
    world: &WorldRef,
    params: viewer::LogParams,
    mut results: viewer::LogResults,
) -> Result<(), capnp::Error> {
    let req = request::log(params.get()?)?;
    let w = world.borrow();
    let id = view::lookup(&w, &req.name)?;
    let Some(rt) = w.manager.rt.get(id as usize) else {
        return Err(view::not_found(&req.name));
    };
    let recs = rt
        .log
        .tail_filtered(req.lines, req.after, req.max_priority, req.since_usec);
    let mut r = results.get();
    r.set_cursor(rt.log.next_seq());
    let mut list = r.init_lines(idx(recs.len()));
    for (i, rec) in recs.iter().enumerate() {
        let mut e = list.reborrow().get(idx(i));
        e.set_seq(rec.seq);
        e.set_realtime_usec(rec.realtime_usec);
        e.set_pid(rec.pid);
        e.set_priority(rec.priority);
        e.set_text(rec.text.as_str());
    }
    Ok(())
}

pub async fn enqueue(
    world: &WorldRef,
    params: manager::EnqueueParams,
    mut results: manager::EnqueueResults,
) -> Result<(), capnp::Error> {
    let request::Enqueue {
        name,
        jtype,
        mode,
        wait,
    } = request::enqueue(params.get()?)?;
    let (id, rx) = {
        let mut w = world.borrow_mut();
        let unit = view::lookup_or_load(&mut w, &name)?;
        let u = w
            .manager
            .units
            .get(unit)
            .ok_or_else(|| view::not_found(&name))?;
        if matches!(jtype, JobType::Start | JobType::Restart) && u.config().unit.refuse_manual_start
        {
            return Err(capnp::Error::failed(format!("operation refused, unit {name} may be requested by dependency only (it is configured to refuse manual start/stop)")));
        }
        if jtype == JobType::Stop && u.config().unit.refuse_manual_stop {
            return Err(capnp::Error::failed(format!("operation refused, unit {name} may be requested by dependency only (it is configured to refuse manual start/stop)")));
        }
        let mut out = Vec::new();
        let planned = w.manager.enqueue(unit, jtype, mode, &mut out);
        // The effects of cancelled jobs etc. run below with the rest.
        w.manager.defer(out);
        let id = planned.map_err(|e| capnp::Error::failed(tx_error(&w, &e)))?;
        let (tx, rx) = oneshot::channel();
        w.io.waiters.entry(id).or_default().push(tx);
        (id, rx)
    };
    crate::runtime::process(world);
    let mut r = results.get();
    r.set_job(id);
    if wait {
        let result = rx.await.unwrap_or(JobResult::Canceled);
        r.set_result(result.as_str());
    }
    Ok(())
}

pub fn kill(world: &WorldRef, params: manager::KillParams) -> Result<(), capnp::Error> {
    let req = request::kill(params.get()?)?;
    let unit = view::lookup(&world.borrow(), &req.name)?;
    crate::runtime::kill_unit(world, unit, req.signal as i32, req.whom, true);
    crate::runtime::process(world);
    Ok(())
}

/// A transaction's refusal in words: a unit that did not load says how (systemctl's "Unit
/// X is masked." rather than "not loaded").
fn tx_error(w: &crate::world::World, e: &crate::manager::jobs::EnqueueError) -> String {
    use crate::job::transaction::TxError;
    use crate::manager::jobs::EnqueueError;
    use crate::unit::load::LoadState;
    let EnqueueError::Tx(TxError::NotLoaded { unit, name }) = e else {
        return e.to_string();
    };
    match w.manager.units.get(*unit).map(|u| &u.load) {
        Some(LoadState::Masked) => format!("unit {name} is masked"),
        Some(LoadState::NotFound) => format!("unit {name} not found"),
        Some(LoadState::NotSupported) => {
            format!("unit {name} is of a type cairn does not run (not-supported)")
        }
        Some(l @ (LoadState::BadSetting(r) | LoadState::Error(r))) => {
            format!("unit {name} failed to load ({}): {r}", l.as_str())
        }
        _ => e.to_string(),
    }
}

pub fn reset_failed(
    world: &WorldRef,
    params: manager::ResetFailedParams,
) -> Result<(), capnp::Error> {
    let name = request::reset_failed(params.get()?)?;
    let mut w = world.borrow_mut();
    let ids: Vec<u32> = if name.is_empty() {
        (0..w.manager.rt.len())
            .filter_map(|i| u32::try_from(i).ok())
            .collect()
    } else {
        vec![view::lookup(&w, &name)?]
    };
    for id in ids {
        if let Some(rt) = w.manager.rt_mut(id) {
            rt.clear_assert();
            rt.starts.clear();
            if let Kind::Service(s) = &mut rt.kind {
                if s.machine.state == State::Failed {
                    s.machine.state = State::Dead;
                    s.machine.result = crate::service::policy::ServiceResult::Success;
                }
            }
        }
    }
    Ok(())
}

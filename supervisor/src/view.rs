//! What the read-only control methods answer: unit listings, status, properties, file text,
//! dependency trees, jobs, logs, and `why` / `why-not`.

use std::collections::BTreeSet;

use proto::control_capnp::{unit_status, unit_summary};

use crate::job::graph::{Dep, Graph, UnitId};
use crate::job::transaction::Reason;
use crate::job::types::JobResult;
use crate::manager::{Kind, Manager};
use crate::world::World;

pub fn not_found(name: &str) -> capnp::Error {
    capnp::Error::failed(format!("unit {name} not found"))
}

pub fn lookup(w: &World, name: &str) -> Result<UnitId, capnp::Error> {
    w.manager.units.lookup(name).ok_or_else(|| not_found(name))
}

/// [`lookup`], loading an instance of a template on demand (`start getty@tty5.service`), as
/// systemd does: the name must be an instance whose template has a file.
pub fn lookup_or_load(w: &mut World, name: &str) -> Result<UnitId, capnp::Error> {
    if let Some(id) = w.manager.units.lookup(name) {
        return Ok(id);
    }
    let template = crate::unit::name::parse(name)
        .ok()
        .filter(|n| n.instance.as_deref().is_some_and(|i| !i.is_empty()))
        .and_then(|n| n.template());
    if !template.is_some_and(|t| w.catalog.fragments.contains_key(&t)) {
        return Err(not_found(name));
    }
    let catalog = w.catalog.clone();
    let spec = w.spec.clone();
    w.manager
        .load_on_demand(&catalog, name, &spec)
        .ok_or_else(|| not_found(name))
}

pub fn fill_summary(m: &Manager, id: UnitId, mut b: unit_summary::Builder<'_>) {
    let Some((u, rt)) = m.unit(id) else { return };
    b.set_name(u.name.as_str());
    b.set_load(u.load.as_str());
    b.set_active(crate::job::graph::ActiveState::as_str(m.active_state(id)));
    b.set_sub(m.sub_state(id));
    b.set_description(u.description());
    let job = rt
        .job
        .and_then(|j| m.jobs.get(j))
        .map(|j| j.jtype.as_str())
        .unwrap_or("");
    b.set_job(job);
}

/// Units shown by list-units: loaded ones that are active, failed, or have a job; with
/// `all`, every unit.
pub fn listed(m: &Manager, all: bool) -> Vec<UnitId> {
    let mut v: Vec<UnitId> = m
        .units
        .list
        .iter()
        .filter(|u| {
            all || m.active_state(u.id) != crate::job::graph::ActiveState::Inactive
                || m.rt.get(u.id as usize).is_some_and(|r| r.job.is_some())
        })
        .map(|u| u.id)
        .collect();
    v.sort_by(|a, b| Graph::name(m, *a).cmp(Graph::name(m, *b)));
    v
}

pub fn fill_status(w: &World, id: UnitId, lines: usize, mut b: unit_status::Builder<'_>) {
    let m = &w.manager;
    let Some((u, rt)) = m.unit(id) else { return };
    fill_summary(m, id, b.reborrow().init_summary());
    b.set_load_reason(u.load.reason().unwrap_or(""));
    b.set_fragment(
        u.fragment
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
            .as_str(),
    );
    let mut d = b
        .reborrow()
        .init_dropins(u32::try_from(u.dropins.len()).unwrap_or(0));
    for (i, p) in u.dropins.iter().enumerate() {
        d.set(
            u32::try_from(i).unwrap_or(0),
            p.display().to_string().as_str(),
        );
    }
    let mut a = b
        .reborrow()
        .init_aliases(u32::try_from(u.aliases.len()).unwrap_or(0));
    for (i, n) in u.aliases.iter().enumerate() {
        a.set(u32::try_from(i).unwrap_or(0), n.as_str());
    }
    b.set_since_realtime_usec(rt.state_change_usec);
    if let Kind::Service(s) = &rt.kind {
        b.set_main_pid(s.main_pid.unwrap_or(0));
        b.set_control_pid(s.control_pid.unwrap_or(0));
        b.set_result(s.machine.result.as_str());
        b.set_last_exit(
            s.machine
                .last_exit
                .map(|e| e.describe())
                .unwrap_or_default()
                .as_str(),
        );
        b.set_restarts(s.machine.restarts);
        b.set_spawn_error(s.spawn_error.as_deref().unwrap_or(""));
        b.set_status_text(s.status_text.as_deref().unwrap_or(""));
        b.set_service_type(s.spec.stype.as_str());
    }
    if let Kind::Mount(m) = &rt.kind {
        b.set_result(m.machine.result.as_str());
        b.set_spawn_error(m.error.as_deref().unwrap_or(""));
        let c = &u.config().mount;
        let mut text = format!(
            "What: {}; Where: {}; Type: {}",
            c.what.as_deref().unwrap_or("?"),
            crate::unit::mount_config::verify_where(&u.name, c.where_.as_deref())
                .unwrap_or_default(),
            c.fstype.as_deref().unwrap_or("auto")
        );
        if let Some(f) = &m.fsck {
            text.push_str(&format!("; fsck: {f}"));
        }
        b.set_status_text(text.as_str());
    }
    if let Kind::Device(d) = &rt.kind {
        b.set_status_text(format!("Device: {}", d.syspath).as_str());
    }
    if let Kind::Automount(a) = &rt.kind {
        b.set_result(a.machine.result.as_str());
        b.set_spawn_error(a.error.as_deref().unwrap_or(""));
        b.set_status_text(
            format!(
                "Where: {}; {} requests waiting; {} answered ({} with an error)",
                crate::unit::mount_config::verify_where(
                    &u.name,
                    u.config().automount.where_.as_deref()
                )
                .unwrap_or_default(),
                a.machine.pending.len(),
                a.machine.answered,
                a.machine.failed_answers
            )
            .as_str(),
        );
    }
    if let Kind::Socket(s) = &rt.kind {
        b.set_control_pid(s.control_pid.unwrap_or(0));
        b.set_result(s.machine.result.as_str());
        b.set_spawn_error(s.spawn_error.as_deref().unwrap_or(""));
        b.set_status_text(socket_status(u, s).as_str());
    }
    b.set_condition_failed(rt.condition_failed().unwrap_or(""));
    b.set_assert_failed(rt.assert_failed().unwrap_or(""));
    if let Some(dir) = w.io.units.get(&id).and_then(|i| i.cgroup.as_ref()) {
        b.set_cgroup(dir.display().to_string().as_str());
        let procs = crate::cgroup::procs(dir);
        let mut t = b
            .reborrow()
            .init_tasks(u32::try_from(procs.len()).unwrap_or(0));
        for (i, p) in procs.iter().enumerate() {
            t.set(u32::try_from(i).unwrap_or(0), *p);
        }
    }
    let mut warn = b
        .reborrow()
        .init_warnings(u32::try_from(u.warnings.len()).unwrap_or(0));
    for (i, x) in u.warnings.iter().enumerate() {
        warn.set(u32::try_from(i).unwrap_or(0), x.to_string().as_str());
    }
    b.set_last_failure(
        rt.last_failure
            .as_ref()
            .map(|f| {
                let mut s = format!("{} at {}", f.result, f.realtime_usec);
                if let Some(e) = &f.exit {
                    s.push_str(&format!(", {e}"));
                }
                for l in &f.last_lines {
                    s.push_str(&format!("\n  | {l}"));
                }
                s
            })
            .unwrap_or_default()
            .as_str(),
    );
    let recs = rt.log.tail(lines, None);
    let mut l = b.init_log(u32::try_from(recs.len()).unwrap_or(0));
    for (i, r) in recs.iter().enumerate() {
        let mut e = l.reborrow().get(u32::try_from(i).unwrap_or(0));
        e.set_seq(r.seq);
        e.set_realtime_usec(r.realtime_usec);
        e.set_pid(r.pid);
        e.set_priority(r.priority);
        e.set_text(r.text.as_str());
    }
}

fn names(m: &Manager, id: UnitId, d: Dep) -> String {
    let mut v: Vec<&str> = m
        .units
        .get(id)
        .map(|u| u.deps(d).map(|o| Graph::name(m, o)).collect())
        .unwrap_or_default();
    v.sort();
    v.join(" ")
}

/// systemctl show's properties (the ones cairn has so far).
pub fn properties(w: &World, id: UnitId) -> Vec<(String, String)> {
    let m = &w.manager;
    let Some((u, rt)) = m.unit(id) else {
        return Vec::new();
    };
    let mut p: Vec<(String, String)> = vec![
        ("Id".into(), u.name.clone()),
        (
            "Names".into(),
            std::iter::once(u.name.clone())
                .chain(u.aliases.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("Description".into(), u.description().to_string()),
        ("LoadState".into(), u.load.as_str().into()),
        (
            "ActiveState".into(),
            crate::job::graph::ActiveState::as_str(m.active_state(id)).into(),
        ),
        ("SubState".into(), m.sub_state(id).into()),
        (
            "FragmentPath".into(),
            u.fragment
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        (
            "DropInPaths".into(),
            u.dropins
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "StateChangeTimestampUSec".into(),
            rt.state_change_usec.to_string(),
        ),
        (
            "ActiveEnterTimestampUSec".into(),
            rt.active_enter_usec.to_string(),
        ),
        (
            "ActiveEnterTimestampMonotonic".into(),
            rt.active_enter_mono.to_string(),
        ),
        (
            "InactiveExitTimestampUSec".into(),
            rt.activating_enter_usec.to_string(),
        ),
        (
            "InactiveExitTimestampMonotonic".into(),
            rt.activating_enter_mono.to_string(),
        ),
        // cairn's own: when the unit's last job was queued (for boot analysis).
        ("JobQueuedTimestampUSec".into(), rt.job_queued.0.to_string()),
        (
            "JobQueuedTimestampMonotonic".into(),
            rt.job_queued.1.to_string(),
        ),
        ("CanReload".into(), yes(Graph::can_reload(m, id))),
        ("AllowIsolate".into(), yes(u.config().unit.allow_isolate)),
        ("IgnoreOnIsolate".into(), yes(u.ignore_on_isolate())),
        (
            "ConditionResult".into(),
            yes(rt.condition_failed().is_none()),
        ),
        ("AssertResult".into(), yes(rt.assert_failed().is_none())),
        ("LogLinesSuppressed".into(), rt.log.suppressed().to_string()),
        (
            "LastFailure".into(),
            rt.last_failure
                .as_ref()
                .map(|f| {
                    format!(
                        "{} {} {}",
                        f.realtime_usec,
                        f.result,
                        f.exit.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
        ),
    ];
    for (k, d) in [
        ("Requires", Dep::Requires),
        ("Requisite", Dep::Requisite),
        ("Wants", Dep::Wants),
        ("BindsTo", Dep::BindsTo),
        ("PartOf", Dep::PartOf),
        ("Conflicts", Dep::Conflicts),
        ("ConflictedBy", Dep::ConflictedBy),
        ("RequiredBy", Dep::RequiredBy),
        ("WantedBy", Dep::WantedBy),
        ("BoundBy", Dep::BoundBy),
        ("ConsistsOf", Dep::ConsistsOf),
        ("Before", Dep::Before),
        ("After", Dep::After),
        ("OnFailure", Dep::OnFailure),
        ("OnSuccess", Dep::OnSuccess),
        ("Triggers", Dep::Triggers),
        ("TriggeredBy", Dep::TriggeredBy),
    ] {
        p.push((k.into(), names(m, id, d)));
    }
    if let Kind::Device(d) = &rt.kind {
        p.push(("SysFSPath".into(), d.syspath.clone()));
        // The uevent's properties, as udevadm info shows them.
        for kv in &d.props {
            if let Some((k, v)) = kv.split_once('=') {
                p.push((k.to_string(), v.to_string()));
            }
        }
    }
    if let Kind::Mount(m) = &rt.kind {
        let c = &u.config().mount;
        p.push(("What".into(), c.what.clone().unwrap_or_default()));
        p.push((
            "Where".into(),
            crate::unit::mount_config::verify_where(&u.name, c.where_.as_deref())
                .unwrap_or_default(),
        ));
        p.push(("Type".into(), c.fstype.clone().unwrap_or_default()));
        p.push(("Options".into(), c.options.clone()));
        p.push(("Result".into(), m.machine.result.as_str().into()));
        p.push(("Fsck".into(), m.fsck.clone().unwrap_or_default()));
    }
    if let Kind::Socket(s) = &rt.kind {
        let c = &u.config().socket;
        // As systemctl shows it: `Listen=ADDRESS (Stream)`, one per line.
        for l in &c.listen {
            let kind = l.kind.key().trim_start_matches("Listen");
            p.push((
                "Listen".into(),
                format!("{} ({kind})", l.address.describe()),
            ));
        }
        p.push(("Accept".into(), yes_no(c.accept)));
        p.push(("Result".into(), s.machine.result.as_str().into()));
        p.push(("ControlPID".into(), s.control_pid.unwrap_or(0).to_string()));
        p.push(("NTriggers".into(), s.machine.triggers.to_string()));
        p.push(("NRefused".into(), s.machine.refused.to_string()));
        p.push(("Paused".into(), yes_no(s.machine.paused)));
        p.push(("Backlog".into(), c.backlog.to_string()));
        p.push(("SocketMode".into(), format!("{:04o}", c.socket_mode)));
        p.push(("MaxConnections".into(), c.max_connections.to_string()));
        p.push((
            "FileDescriptorName".into(),
            c.file_descriptor_name
                .clone()
                .unwrap_or_else(|| u.name.clone()),
        ));
        let (ti, tb) = s.spec.trigger_limit;
        p.push(("TriggerLimitIntervalUSec".into(), ti.to_string()));
        p.push(("TriggerLimitBurst".into(), tb.to_string()));
    }
    if let Kind::Service(s) = &rt.kind {
        p.push(("Type".into(), s.spec.stype.as_str().into()));
        p.push(("Restart".into(), s.spec.restart.as_str().into()));
        p.push((
            "RestartUSec".into(),
            s.spec.restart_sec.as_micros().to_string(),
        ));
        p.push(("MainPID".into(), s.main_pid.unwrap_or(0).to_string()));
        p.push(("ControlPID".into(), s.control_pid.unwrap_or(0).to_string()));
        p.push(("Result".into(), s.machine.result.as_str().into()));
        p.push(("NRestarts".into(), s.machine.restarts.to_string()));
        p.push((
            "StatusText".into(),
            s.status_text.clone().unwrap_or_default(),
        ));
        if let Some(e) = s.machine.last_exit {
            p.push(("ExecMainStatus".into(), e.describe()));
        }
        let cfg = &u.config().service;
        let cmds = |v: &[crate::unit::exec::ExecCommand]| -> String {
            v.iter()
                .map(|c| format!("{{ path={} ; argv[]={} }}", c.path, c.argv.join(" ")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        p.push(("ExecStart".into(), cmds(&cfg.exec_start)));
        p.push(("ExecStop".into(), cmds(&cfg.exec_stop)));
    }
    if let Some(dir) = w.io.units.get(&id).and_then(|i| i.cgroup.as_ref()) {
        p.push(("ControlGroup".into(), dir.display().to_string()));
    }
    p
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// The files a unit was loaded from, with their text.
pub fn cat(w: &World, id: UnitId) -> Vec<(String, String)> {
    let Some(u) = w.manager.units.get(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(f) = &u.fragment {
        let text = std::fs::read_to_string(f).unwrap_or_else(|_| {
            crate::unit::builtin::UNITS
                .iter()
                .find(|(n, _)| *n == u.name)
                .map(|(_, t)| t.to_string())
                .unwrap_or_default()
        });
        out.push((f.display().to_string(), text));
    }
    for d in &u.dropins {
        out.push((
            d.display().to_string(),
            std::fs::read_to_string(d).unwrap_or_default(),
        ));
    }
    out
}

/// list-dependencies: the tree along Requires/Requisite/Wants/BindsTo/ConsistsOf (or the
/// reverse edges), each unit once.
pub fn dependency_tree(m: &Manager, id: UnitId, reverse: bool) -> Vec<(u32, UnitId)> {
    let kinds: &[Dep] = if reverse {
        &[Dep::RequiredBy, Dep::WantedBy, Dep::BoundBy, Dep::PartOf]
    } else {
        &[
            Dep::Requires,
            Dep::Requisite,
            Dep::Wants,
            Dep::BindsTo,
            Dep::ConsistsOf,
        ]
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![(0u32, id)];
    while let Some((depth, u)) = stack.pop() {
        out.push((depth, u));
        if !seen.insert(u) {
            continue;
        }
        let mut children: Vec<UnitId> = kinds.iter().flat_map(|d| m.deps(u, *d)).collect();
        children.sort_by(|a, b| Graph::name(m, *b).cmp(Graph::name(m, *a)));
        children.dedup();
        for c in children {
            stack.push((depth + 1, c));
        }
    }
    out
}

fn dep_word(d: Dep) -> &'static str {
    d.as_str()
}

/// One step of provenance, as `why` prints it.
fn reason_text(m: &Manager, unit: UnitId, r: &Reason) -> String {
    let me = Graph::name(m, unit);
    match r {
        Reason::Anchor => format!("{me}: requested (the anchor of its transaction)"),
        Reason::Dep { from, dep } => {
            format!(
                "{me}: pulled in by {} ({}={me})",
                Graph::name(m, *from),
                dep_word(*dep)
            )
        }
        Reason::Isolate => format!("{me}: stopped by an isolate"),
        Reason::Conflict { with } => format!(
            "{me}: stopped because {} conflicts with it",
            Graph::name(m, *with)
        ),
    }
}

/// `why UNIT`: from the unit back to the anchor that pulled it in, printed anchor first.
pub fn why(m: &Manager, id: UnitId) -> Vec<String> {
    let mut chain = Vec::new();
    let mut cur = id;
    let mut seen = BTreeSet::new();
    while seen.insert(cur) {
        let Some(rt) = m.rt.get(cur as usize) else {
            break;
        };
        // A running job's reason, else why it was last started.
        let reason = rt
            .job
            .and_then(|j| m.jobs.get(j))
            .map(|j| j.reason.clone())
            .or_else(|| rt.started_by.clone());
        let Some(reason) = reason else {
            chain.push(format!(
                "{}: not started by any job since the manager started",
                Graph::name(m, cur)
            ));
            break;
        };
        chain.push(reason_text(m, cur, &reason));
        match reason {
            Reason::Dep { from, .. } => cur = from,
            Reason::Conflict { with } => cur = with,
            Reason::Anchor | Reason::Isolate => break,
        }
    }
    chain.reverse();
    chain
}

/// `why-not UNIT`: what kept it from running.
pub fn why_not(m: &Manager, id: UnitId) -> Vec<String> {
    let Some((u, rt)) = m.unit(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let state = m.active_state(id);
    if state == crate::job::graph::ActiveState::Active {
        out.push(format!("{} is active", u.name));
        return out;
    }
    if let Some(r) = u.load.reason() {
        out.push(format!(
            "{} cannot be loaded ({}): {r}",
            u.name,
            u.load.as_str()
        ));
    } else if u.load != crate::unit::load::LoadState::Loaded {
        out.push(format!("{} is {}", u.name, u.load.as_str()));
    }
    if let Some(c) = rt.condition_failed() {
        out.push(format!("condition failed: {c} (the unit was skipped)"));
    }
    if let Some(a) = rt.assert_failed() {
        out.push(format!("assertion failed: {a}"));
    }
    if let Some(j) = rt.job.and_then(|j| m.jobs.get(j)) {
        let waiting: Vec<String> = u
            .deps(Dep::After)
            .filter(|o| m.rt.get(*o as usize).is_some_and(|r| r.job.is_some()))
            .map(|o| Graph::name(m, o).to_string())
            .collect();
        out.push(format!(
            "a {} job is {}{}",
            j.jtype.as_str(),
            j.state.as_str(),
            if waiting.is_empty() {
                String::new()
            } else {
                format!(", ordered after {}", waiting.join(", "))
            }
        ));
    }
    match &rt.last_job {
        Some((jt, JobResult::Dependency, _)) => {
            let failed: Vec<String> = [Dep::Requires, Dep::Requisite, Dep::BindsTo]
                .iter()
                .flat_map(|d| u.deps(*d))
                .filter(|o| {
                    m.rt.get(*o as usize)
                        .and_then(|r| r.last_job.as_ref())
                        .is_some_and(|(_, r, _)| !matches!(r, JobResult::Done | JobResult::Skipped))
                        || matches!(m.active_state(*o), crate::job::graph::ActiveState::Failed)
                })
                .map(|o| Graph::name(m, o).to_string())
                .collect();
            out.push(format!(
                "its {} job failed because a dependency failed: {}",
                jt.as_str(),
                if failed.is_empty() {
                    "(unknown)".to_string()
                } else {
                    failed.join(", ")
                }
            ));
        }
        Some((jt, JobResult::Canceled, reason)) => {
            out.push(format!(
                "its {} job was canceled ({})",
                jt.as_str(),
                reason_text(m, id, reason)
            ));
        }
        Some((jt, r, _)) if !matches!(r, JobResult::Done | JobResult::Skipped) => {
            out.push(format!(
                "its last {} job ended: {}",
                jt.as_str(),
                r.as_str()
            ));
        }
        _ => {}
    }
    // A device that a job waits for: say what for, and how long (users of systemd get "timed
    // out waiting for device" with no clue).
    if let Kind::Device(d) = &rt.kind {
        if !d.present {
            let t = m
                .units
                .device_timeouts
                .get(&id)
                .copied()
                .unwrap_or(crate::manager::DEVICE_TIMEOUT);
            let waiting = rt.job.is_some();
            let what = crate::unit::name::unescape_path(u.name.trim_end_matches(".device"))
                .unwrap_or_else(|_| u.name.clone());
            out.push(format!(
                "devmon has not reported {what} present and ready{}",
                if waiting {
                    format!("; a start job waits for it (at most {t:?})")
                } else if d.wait_failed {
                    format!("; the start job gave up after {t:?}")
                } else {
                    String::new()
                }
            ));
            if what.starts_with("/dev/loop") {
                out.push("a loop device is ready only while a file is attached (losetup)".into());
            }
        }
    }
    if let Kind::Service(s) = &rt.kind {
        if let Some(e) = &s.spawn_error {
            out.push(format!("could not start a process: {e}"));
        }
        if s.machine.result != crate::service::policy::ServiceResult::Success {
            let exit = s
                .machine
                .last_exit
                .map(|e| format!(" ({})", e.describe()))
                .unwrap_or_default();
            out.push(format!(
                "it ended with result {}{exit}",
                s.machine.result.as_str()
            ));
        }
    }
    for c in u.deps(Dep::Conflicts).chain(u.deps(Dep::ConflictedBy)) {
        if matches!(
            m.active_state(c),
            crate::job::graph::ActiveState::Active | crate::job::graph::ActiveState::Activating
        ) {
            out.push(format!(
                "it conflicts with {}, which is {}",
                Graph::name(m, c),
                crate::job::graph::ActiveState::as_str(m.active_state(c))
            ));
        }
    }
    if out.is_empty() {
        out.push(format!(
            "{} is {}: nothing asked for it to start",
            u.name,
            crate::job::graph::ActiveState::as_str(state)
        ));
    }
    out
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// What `status` says of a socket unit besides its state: what it listens on, how often it
/// triggered, and a trigger-limit pause (which ends by itself).
fn socket_status(u: &crate::manager::UnitEntry, s: &crate::manager::SocketRt) -> String {
    let listen: Vec<String> = u
        .config()
        .socket
        .listen
        .iter()
        .map(|l| format!("{} ({})", l.address.describe(), l.kind.key()))
        .collect();
    let mut text = format!(
        "Listen: {}; triggered {} times",
        listen.join(", "),
        s.machine.triggers
    );
    if s.machine.paused {
        text.push_str(&format!(
            "; paused by the trigger limit ({} refused), resumes by itself",
            s.machine.refused
        ));
    }
    text
}

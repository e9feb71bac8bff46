//! The unit verbs: systemctl's start/stop/…/status/show/cat/list-*/is-*/why/why-not/log.

use std::io::IsTerminal;

use proto::control_capnp::{control, unit_status, unit_summary};
use serde::Serialize;

use crate::client::{manager, viewer, CtlError};
use crate::output::render;
use crate::Format;
use crate::{exit, UnitCommand};

/// systemctl's rule: a name without a type suffix is a service.
pub fn complete(name: &str) -> String {
    const TYPES: &[&str] = &[
        ".service",
        ".socket",
        ".target",
        ".mount",
        ".automount",
        ".device",
        ".snapshot",
        ".timer",
        ".path",
        ".slice",
        ".swap",
        ".scope",
    ];
    if TYPES.iter().any(|t| name.ends_with(t)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub unit: String,
    pub load: String,
    pub active: String,
    pub sub: String,
    pub description: String,
    pub job: String,
}

impl Summary {
    fn read(r: unit_summary::Reader<'_>) -> capnp::Result<Summary> {
        Ok(Summary {
            unit: r.get_name()?.to_string()?,
            load: r.get_load()?.to_string()?,
            active: r.get_active()?.to_string()?,
            sub: r.get_sub()?.to_string()?,
            description: r.get_description()?.to_string()?,
            job: r.get_job()?.to_string()?,
        })
    }
}

/// Seconds since the epoch → "2026-11-28 22:46:18 UTC".
pub fn timestamp(usec: u64) -> String {
    if usec == 0 {
        return "n/a".into();
    }
    let (y, mo, d, h, mi, s, _) = proto::procinfo::utc_fields(usec);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

fn ago(usec: u64) -> String {
    crate::output::duration_since(usec)
}

fn print_status(s: unit_status::Reader<'_>, colour: bool) -> capnp::Result<String> {
    let sum = Summary::read(s.get_summary()?)?;
    let mut out = String::new();
    let dot = match (colour, sum.active.as_str()) {
        (true, "active") => "\x1b[32m●\x1b[0m",
        (true, "failed") => "\x1b[31m×\x1b[0m",
        (_, "failed") => "×",
        _ => "●",
    };
    out += &format!("{dot} {} - {}\n", sum.unit, sum.description);
    let fragment = s.get_fragment()?.to_string()?;
    let reason = s.get_load_reason()?.to_string()?;
    let mut loaded = format!("     Loaded: {}", sum.load);
    if !fragment.is_empty() {
        loaded += &format!(" ({fragment})");
    }
    if !reason.is_empty() {
        loaded += &format!("\n             Reason: {reason}");
    }
    out += &loaded;
    out.push('\n');
    let dropins = s.get_dropins()?;
    if !dropins.is_empty() {
        let list: Vec<String> = dropins
            .iter()
            .filter_map(|d| d.ok()?.to_string().ok())
            .collect();
        out += &format!("    Drop-In: {}\n", list.join("\n             "));
    }
    let since = s.get_since_realtime_usec();
    let result = s.get_result()?.to_string()?;
    let mut active = format!("     Active: {} ({})", sum.active, sum.sub);
    if sum.active == "failed" && !result.is_empty() {
        active += &format!(" (Result: {result})");
    }
    if since > 0 {
        active += &format!(" since {}; {} ago", timestamp(since), ago(since));
    }
    out += &active;
    out.push('\n');
    if !sum.job.is_empty() {
        out += &format!("        Job: {}\n", sum.job);
    }
    let cond = s.get_condition_failed()?.to_string()?;
    if !cond.is_empty() {
        out += &format!("  Condition: start condition unmet: {cond}\n");
    }
    let assert = s.get_assert_failed()?.to_string()?;
    if !assert.is_empty() {
        out += &format!("     Assert: start assertion failed: {assert}\n");
    }
    let last = s.get_last_exit()?.to_string()?;
    let main = s.get_main_pid();
    if main > 0 {
        out += &format!("   Main PID: {main}\n");
    } else if !last.is_empty() {
        out += &format!("   Main PID: (exited, {last})\n");
    }
    if s.get_restarts() > 0 {
        out += &format!("   Restarts: {}\n", s.get_restarts());
    }
    let failure = s.get_last_failure()?.to_string()?;
    if !failure.is_empty() {
        // "RESULT at USEC[, EXIT]" and the last lines: the time shown as a date.
        let mut lines = failure.lines();
        let head = lines.next().unwrap_or_default();
        let head = match head.split_once(" at ") {
            Some((result, rest)) => {
                let (usec, exit) = rest.split_once(", ").unwrap_or((rest, ""));
                let when = usec.parse::<u64>().map(timestamp).unwrap_or_default();
                if exit.is_empty() {
                    format!("{result} at {when}")
                } else {
                    format!("{result} ({exit}) at {when}")
                }
            }
            None => head.to_string(),
        };
        out += &format!("Last failure: {head}\n");
        for l in lines {
            out += &format!("             {l}\n");
        }
    }
    let err = s.get_spawn_error()?.to_string()?;
    if !err.is_empty() {
        out += &format!("      Error: {err}\n");
    }
    let status = s.get_status_text()?.to_string()?;
    if !status.is_empty() {
        out += &format!("     Status: \"{status}\"\n");
    }
    let cg = s.get_cgroup()?.to_string()?;
    if !cg.is_empty() {
        out += &format!("     CGroup: {cg}\n");
        for t in s.get_tasks()?.iter() {
            out += &format!("             └─{t}\n");
        }
    }
    for w in s.get_warnings()?.iter() {
        out += &format!("    Warning: {}\n", w?.to_string()?);
    }
    let log = s.get_log()?;
    if !log.is_empty() {
        out.push('\n');
        for l in log.iter() {
            out += &format!(
                "{} {}[{}]: {}\n",
                timestamp(l.get_realtime_usec()),
                sum.unit,
                l.get_pid(),
                l.get_text()?.to_string()?
            );
        }
    }
    Ok(out)
}

pub async fn run(
    control: &control::Client,
    cmd: &UnitCommand,
    format: Format,
) -> Result<i32, CtlError> {
    match cmd {
        UnitCommand::Start {
            units,
            no_block,
            job_mode,
        } => enqueue(control, units, "start", job_mode, !*no_block).await,
        UnitCommand::Stop { units, no_block } => {
            enqueue(control, units, "stop", "replace", !*no_block).await
        }
        UnitCommand::Restart { units, no_block } => {
            enqueue(control, units, "restart", "replace", !*no_block).await
        }
        UnitCommand::TryRestart { units, no_block } => {
            enqueue(control, units, "try-restart", "replace", !*no_block).await
        }
        UnitCommand::Reload { units, no_block } => {
            enqueue(control, units, "reload", "replace", !*no_block).await
        }
        UnitCommand::Isolate { unit, no_block } => {
            enqueue(
                control,
                std::slice::from_ref(unit),
                "start",
                "isolate",
                !*no_block,
            )
            .await
        }
        UnitCommand::Kill {
            units,
            signal,
            kill_whom,
        } => {
            let m = manager(control).await?;
            let sig = parse_signal(signal)?;
            for u in units {
                let mut req = m.kill_request();
                req.get().set_name(complete(u).as_str());
                req.get().set_signal(sig);
                req.get().set_whom(kill_whom.as_str());
                req.send().promise.await?;
            }
            Ok(exit::OK)
        }
        UnitCommand::Snapshot { name } => {
            let m = manager(control).await?;
            let mut req = m.snapshot_request();
            req.get().set_name(name.as_deref().unwrap_or(""));
            let reply = req.send().promise.await?;
            println!("{}", reply.get()?.get_unit()?.to_str()?);
            Ok(exit::OK)
        }
        UnitCommand::Delete { snapshots } => {
            let m = manager(control).await?;
            for s in snapshots {
                // A name without a type is a snapshot's; one with another type is refused
                // by the manager as not a snapshot.
                let name = if complete(s) == *s {
                    s.clone()
                } else {
                    format!("{s}.snapshot")
                };
                let mut req = m.delete_snapshot_request();
                req.get().set_name(name.as_str());
                req.send().promise.await?;
            }
            Ok(exit::OK)
        }
        UnitCommand::DaemonReload => {
            let m = manager(control).await?;
            m.daemon_reload_request().send().promise.await?;
            Ok(exit::OK)
        }
        UnitCommand::DaemonReexec { init, binary } => {
            let binary = match binary {
                Some(b) => std::fs::canonicalize(b)
                    .map_err(|e| CtlError::Usage(format!("{}: {e}", b.display())))?
                    .to_string_lossy()
                    .into_owned(),
                None => String::new(),
            };
            let m = manager(control).await?;
            let mut req = m.daemon_reexec_request();
            req.get().set_init(*init);
            req.get().set_binary(binary.as_str());
            req.send().promise.await?;
            Ok(exit::OK)
        }
        UnitCommand::ResetFailed { units } => {
            let m = manager(control).await?;
            let names: Vec<String> = if units.is_empty() {
                vec![String::new()]
            } else {
                units.iter().map(|u| complete(u)).collect()
            };
            for n in names {
                let mut req = m.reset_failed_request();
                req.get().set_name(n.as_str());
                req.send().promise.await?;
            }
            Ok(exit::OK)
        }
        UnitCommand::Status { units, lines } => {
            let v = viewer(control).await?;
            let colour = std::io::stdout().is_terminal();
            let mut code = exit::OK;
            for (i, u) in units.iter().enumerate() {
                let name = complete(u);
                let mut req = v.status_request();
                req.get().set_name(name.as_str());
                req.get().set_lines(*lines);
                match req.send().promise.await {
                    Ok(reply) => {
                        let s = reply.get()?.get_status()?;
                        if i > 0 {
                            println!();
                        }
                        print!("{}", print_status(s, colour)?);
                        let active = s.get_summary()?.get_active()?.to_string()?;
                        if active != "active" && active != "reloading" && code == exit::OK {
                            code = 3;
                        }
                    }
                    Err(e) if e.to_string().contains("not found") => {
                        eprintln!("Unit {name} could not be found.");
                        code = 4;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(code)
        }
        UnitCommand::Show { unit, property } => {
            let v = viewer(control).await?;
            let mut req = v.show_request();
            req.get().set_name(complete(unit).as_str());
            let reply = req.send().promise.await?;
            let mut props = Vec::new();
            for p in reply.get()?.get_properties()?.iter() {
                props.push((p.get_key()?.to_string()?, p.get_value()?.to_string()?));
            }
            if !property.is_empty() {
                props.retain(|(k, _)| property.iter().any(|p| p.split(',').any(|x| x == k)));
            }
            match format {
                Format::Json => {
                    let map: serde_json::Map<String, serde_json::Value> = props
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&map).unwrap_or_default());
                }
                Format::Ron | Format::Text => {
                    for (k, v) in props {
                        println!("{k}={v}");
                    }
                }
            }
            Ok(exit::OK)
        }
        UnitCommand::Cat { units } => {
            let v = viewer(control).await?;
            for u in units {
                let mut req = v.cat_request();
                req.get().set_name(complete(u).as_str());
                let reply = req.send().promise.await?;
                for f in reply.get()?.get_files()?.iter() {
                    println!("# {}", f.get_key()?.to_string()?);
                    print!("{}", f.get_value()?.to_string()?);
                    println!();
                }
            }
            Ok(exit::OK)
        }
        UnitCommand::ListUnits { all } => {
            let v = viewer(control).await?;
            let mut req = v.list_units_request();
            req.get().set_all(*all);
            let reply = req.send().promise.await?;
            let mut rows = Vec::new();
            for r in reply.get()?.get_units()?.iter() {
                rows.push(Summary::read(r)?);
            }
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                ),
                Format::Ron => println!(
                    "{}",
                    ron::ser::to_string_pretty(&rows, Default::default()).unwrap_or_default()
                ),
                Format::Text => {
                    let mut t = vec![["UNIT", "LOAD", "ACTIVE", "SUB", "JOB", "DESCRIPTION"]
                        .map(String::from)
                        .to_vec()];
                    for r in &rows {
                        t.push(vec![
                            r.unit.clone(),
                            r.load.clone(),
                            r.active.clone(),
                            r.sub.clone(),
                            r.job.clone(),
                            r.description.clone(),
                        ]);
                    }
                    print!("{}", render(&t, std::io::stdout().is_terminal(), 99));
                    println!("\n{} units listed.", rows.len());
                }
            }
            Ok(exit::OK)
        }
        UnitCommand::ListDependencies { unit, reverse } => {
            let v = viewer(control).await?;
            let mut req = v.list_dependencies_request();
            req.get().set_name(complete(unit).as_str());
            req.get().set_reverse(*reverse);
            let reply = req.send().promise.await?;
            #[derive(Serialize)]
            struct Node {
                depth: u32,
                unit: String,
                active: String,
            }
            let mut nodes = Vec::new();
            for n in reply.get()?.get_tree()?.iter() {
                nodes.push(Node {
                    depth: n.get_depth(),
                    unit: n.get_name()?.to_string()?,
                    active: n.get_active()?.to_string()?,
                });
            }
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&nodes).unwrap_or_default()
                ),
                Format::Ron => println!(
                    "{}",
                    ron::ser::to_string_pretty(&nodes, Default::default()).unwrap_or_default()
                ),
                Format::Text => {
                    for n in nodes {
                        let mark = if n.active == "active" { "●" } else { "○" };
                        println!("{}{mark} {}", "  ".repeat(n.depth as usize), n.unit);
                    }
                }
            }
            Ok(exit::OK)
        }
        UnitCommand::ListJobs => {
            let v = viewer(control).await?;
            let reply = v.list_jobs_request().send().promise.await?;
            #[derive(Serialize)]
            struct J {
                job: u32,
                unit: String,
                r#type: String,
                state: String,
            }
            let mut jobs = Vec::new();
            for j in reply.get()?.get_jobs()?.iter() {
                jobs.push(J {
                    job: j.get_id(),
                    unit: j.get_unit()?.to_string()?,
                    r#type: j.get_type()?.to_string()?,
                    state: j.get_state()?.to_string()?,
                });
            }
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&jobs).unwrap_or_default()
                ),
                Format::Ron => println!(
                    "{}",
                    ron::ser::to_string_pretty(&jobs, Default::default()).unwrap_or_default()
                ),
                Format::Text => {
                    if jobs.is_empty() {
                        println!("No jobs running.");
                    } else {
                        let mut t =
                            vec![["JOB", "UNIT", "TYPE", "STATE"].map(String::from).to_vec()];
                        for j in &jobs {
                            t.push(vec![
                                j.job.to_string(),
                                j.unit.clone(),
                                j.r#type.clone(),
                                j.state.clone(),
                            ]);
                        }
                        print!("{}", render(&t, false, 99));
                        println!("\n{} jobs listed.", jobs.len());
                    }
                }
            }
            Ok(exit::OK)
        }
        UnitCommand::Analyze { what, args } => crate::analyze::run(control, what, args).await,
        UnitCommand::ListSockets => {
            let v = viewer(control).await?;
            let reply = v.list_sockets_request().send().promise.await?;
            #[derive(Serialize)]
            struct S {
                listen: String,
                r#type: String,
                unit: String,
                activates: String,
                state: String,
                paused: bool,
                triggers: u64,
                refused: u64,
                connections: u32,
            }
            let mut rows = Vec::new();
            for s in reply.get()?.get_sockets()?.iter() {
                rows.push(S {
                    listen: s.get_listen()?.to_string()?,
                    r#type: s.get_type()?.to_string()?,
                    unit: s.get_unit()?.to_string()?,
                    activates: s.get_activates()?.to_string()?,
                    state: s.get_state()?.to_string()?,
                    paused: s.get_paused(),
                    triggers: s.get_triggers(),
                    refused: s.get_refused(),
                    connections: s.get_connections(),
                });
            }
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                ),
                Format::Ron => println!(
                    "{}",
                    ron::ser::to_string_pretty(&rows, Default::default()).unwrap_or_default()
                ),
                Format::Text => {
                    let mut t = vec![[
                        "LISTEN",
                        "TYPE",
                        "UNIT",
                        "ACTIVATES",
                        "STATE",
                        "TRIGGERS",
                        "CONNS",
                    ]
                    .map(String::from)
                    .to_vec()];
                    for r in &rows {
                        let state = if r.paused {
                            format!("{} (paused)", r.state)
                        } else {
                            r.state.clone()
                        };
                        t.push(vec![
                            r.listen.clone(),
                            r.r#type.clone(),
                            r.unit.clone(),
                            r.activates.clone(),
                            state,
                            r.triggers.to_string(),
                            r.connections.to_string(),
                        ]);
                    }
                    print!("{}", render(&t, false, 99));
                    println!("\n{} sockets listed.", rows.len());
                }
            }
            Ok(exit::OK)
        }
        UnitCommand::IsActive { units } | UnitCommand::IsFailed { units } => {
            let failed_check = matches!(cmd, UnitCommand::IsFailed { .. });
            let v = viewer(control).await?;
            let mut any = false;
            for u in units {
                let mut req = v.status_request();
                req.get().set_name(complete(u).as_str());
                req.get().set_lines(0);
                let state = match req.send().promise.await {
                    Ok(reply) => reply
                        .get()?
                        .get_status()?
                        .get_summary()?
                        .get_active()?
                        .to_string()?,
                    Err(e) if e.to_string().contains("not found") => "inactive".to_string(),
                    Err(e) => return Err(e.into()),
                };
                println!("{state}");
                any |= if failed_check {
                    state == "failed"
                } else {
                    state == "active" || state == "reloading"
                };
            }
            Ok(match (failed_check, any) {
                (_, true) => exit::OK,
                (true, false) => 1,
                (false, false) => 3,
            })
        }
        UnitCommand::Why { unit } => {
            let v = viewer(control).await?;
            let mut req = v.why_request();
            req.get().set_name(complete(unit).as_str());
            let reply = req.send().promise.await?;
            for (i, l) in reply.get()?.get_chain()?.iter().enumerate() {
                println!("{}{}", "  ".repeat(i), l?.to_string()?);
            }
            Ok(exit::OK)
        }
        UnitCommand::WhyNot { unit } => {
            let v = viewer(control).await?;
            let mut req = v.why_not_request();
            req.get().set_name(complete(unit).as_str());
            let reply = req.send().promise.await?;
            for l in reply.get()?.get_reasons()?.iter() {
                println!("{}", l?.to_string()?);
            }
            Ok(exit::OK)
        }
        UnitCommand::Log {
            unit,
            follow,
            lines,
            priority,
            since,
        } => {
            let v = viewer(control).await?;
            let name = complete(unit);
            let max_priority = match priority {
                None => 7,
                Some(p) => parse_priority(p)?,
            };
            let since_usec = match since {
                None => 0,
                Some(s) => parse_since(s)?,
            };
            let mut after = 0u64;
            let mut first = true;
            loop {
                let mut req = v.log_request();
                req.get().set_name(name.as_str());
                req.get().set_lines(if first { *lines } else { u32::MAX });
                req.get().set_after(after);
                req.get().set_max_priority(max_priority);
                req.get().set_since_usec(since_usec);
                let reply = req.send().promise.await?;
                let r = reply.get()?;
                #[derive(Serialize)]
                struct L {
                    time_usec: u64,
                    pid: i32,
                    priority: u8,
                    text: String,
                }
                for l in r.get_lines()?.iter() {
                    let rec = L {
                        time_usec: l.get_realtime_usec(),
                        pid: l.get_pid(),
                        priority: l.get_priority(),
                        text: l.get_text()?.to_string()?,
                    };
                    match format {
                        Format::Json => {
                            println!("{}", serde_json::to_string(&rec).unwrap_or_default())
                        }
                        Format::Ron => println!("{}", ron::to_string(&rec).unwrap_or_default()),
                        Format::Text => println!(
                            "{} {name}[{}]: {}",
                            timestamp(rec.time_usec),
                            rec.pid,
                            rec.text
                        ),
                    }
                }
                after = r.get_cursor();
                first = false;
                if !*follow {
                    return Ok(exit::OK);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

/// syslog priority names, as journalctl -p takes them.
pub fn parse_priority(s: &str) -> Result<u8, CtlError> {
    const NAMES: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    if let Ok(n) = s.parse::<u8>() {
        if n <= 7 {
            return Ok(n);
        }
    }
    NAMES
        .iter()
        .position(|n| *n == s)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| CtlError::Usage(format!("unknown priority {s:?} (emerg … debug, or 0–7)")))
}

/// `N` seconds ago, or `@N` seconds after the epoch, as realtime microseconds.
pub fn parse_since(s: &str) -> Result<u64, CtlError> {
    let bad = || CtlError::Usage(format!("--since: {s:?} is neither N (seconds ago) nor @N"));
    match s.strip_prefix('@') {
        Some(abs) => abs.parse::<u64>().map(|v| v * 1_000_000).map_err(|_| bad()),
        None => {
            let ago = s.parse::<u64>().map_err(|_| bad())?;
            Ok(proto::procinfo::realtime_usec().saturating_sub(ago * 1_000_000))
        }
    }
}

fn parse_signal(s: &str) -> Result<i32, CtlError> {
    cairn_supervisor::unit::service_keys::signal_number(s)
        .ok_or_else(|| CtlError::Usage(format!("unknown signal {s:?}")))
}

async fn enqueue(
    control: &control::Client,
    units: &[String],
    jtype: &str,
    mode: &str,
    wait: bool,
) -> Result<i32, CtlError> {
    let m = manager(control).await?;
    let mut code = exit::OK;
    // All jobs are queued first, then awaited: they run in parallel.
    let mut pending = Vec::new();
    for u in units {
        let name = complete(u);
        let mut req = m.enqueue_request();
        req.get().set_name(name.as_str());
        req.get().set_type(jtype);
        req.get().set_mode(mode);
        req.get().set_wait(wait);
        pending.push((name, req.send().promise));
    }
    for (name, p) in pending {
        match p.await {
            Ok(reply) => {
                let result = reply.get()?.get_result()?.to_string()?;
                if wait && result != "done" {
                    eprintln!(
                        "Job for {name} failed ({result}).\nSee \"cairnctl status {name}\" and \"cairnctl why-not {name}\" for details."
                    );
                    code = exit::FAILURE;
                }
            }
            Err(e) => {
                let e = CtlError::from(e);
                eprintln!("Failed to {jtype} {name}: {e}");
                code = match e {
                    CtlError::PermissionDenied(_) => exit::PERMISSION,
                    _ if e.to_string().contains("not found") => 5,
                    _ => exit::FAILURE,
                };
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_utc() {
        assert_eq!(super::timestamp(0), "n/a");
        // date -u -d @1795996799
        assert_eq!(
            super::timestamp(1_795_996_799_000_000),
            "2026-11-29 23:59:59 UTC"
        );
    }
}

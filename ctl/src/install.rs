//! `enable`, `disable`, `reenable`, `preset`, `mask`, `unmask`, `is-enabled`,
//! `list-unit-files`: the unit files' links (`cairn_supervisor::unit::install`), made here, by
//! the client, as the files are the caller's to change (root's: /etc/cairn/system). Then,
//! without `--root`, the running manager reloads its units, and `--now` starts or stops them.

use std::path::Path;

use cairn_supervisor::unit::install::{Change, InstallError, Root};

use crate::client::CtlError;
use crate::units::complete;
use crate::{exit, Cli, Command, Format, InstallCommand, UnitCommand};

const NO_INSTALL: &str = "The unit files have no installation config (WantedBy=, RequiredBy=, \
Also=, Alias= settings in the [Install] section, and DefaultInstance= for template units). \
This means they are not meant to be enabled using cairnctl: they are started by another \
unit's Wants=/Requires= (or a .wants/ link), by activation (a socket, a device, an \
automount), or, for templates, enabled with an instance name (NAME@INSTANCE.service).";

fn failed(verb: &str, e: InstallError) -> CtlError {
    CtlError::Rpc(format!("Failed to {verb} unit: {e}"))
}

/// What a verb did to the files, and what the manager should do next.
pub struct Outcome {
    pub code: i32,
    pub changed: bool,
    /// `--now`: start (true) or stop (false) these.
    pub now: Option<(bool, Vec<String>)>,
}

fn report(changes: &[Change]) {
    for c in changes {
        eprintln!("{c}");
    }
}

/// Runs an install verb on the files; the manager's part is the caller's.
pub fn files(cli: &Cli, cmd: &InstallCommand) -> Result<Outcome, CtlError> {
    let now = matches!(
        cmd,
        InstallCommand::Enable { now: true, .. }
            | InstallCommand::Disable { now: true, .. }
            | InstallCommand::Reenable { now: true, .. }
            | InstallCommand::Preset { now: true, .. }
            | InstallCommand::Mask { now: true, .. }
    );
    if now && cli.root.is_some() {
        return Err(CtlError::Usage(
            "--now cannot be combined with --root (there is no manager to ask)".into(),
        ));
    }
    let root = Root::new(cli.root.clone().unwrap_or_else(|| "/".into()));
    let names = |units: &[String]| units.iter().map(|u| complete(u)).collect::<Vec<_>>();
    let done = |changes: Vec<Change>, now: Option<(bool, Vec<String>)>| {
        report(&changes);
        Outcome {
            code: exit::OK,
            changed: !changes.is_empty(),
            now,
        }
    };
    Ok(match cmd {
        InstallCommand::Enable { units, now } => {
            let units = names(units);
            let (changes, nothing) = root.enable(&units).map_err(|e| failed("enable", e))?;
            if !nothing.is_empty() {
                eprintln!("{NO_INSTALL}");
            }
            // A unit given by its path starts by its name.
            let started = units
                .iter()
                .map(|u| match u.strip_prefix('/') {
                    Some(_) => u.rsplit('/').next().unwrap_or(u).to_string(),
                    None => u.clone(),
                })
                .collect();
            done(changes, now.then_some((true, started)))
        }
        InstallCommand::Link { paths } => {
            let (changes, _) = root.link_files(paths).map_err(|e| failed("link", e))?;
            done(changes, None)
        }
        InstallCommand::Disable { units, now } => {
            let units = names(units);
            let changes = root.disable(&units).map_err(|e| failed("disable", e))?;
            done(changes, now.then(|| (false, units)))
        }
        InstallCommand::Reenable { units, now } => {
            let units = names(units);
            let mut changes = root.disable(&units).map_err(|e| failed("disable", e))?;
            let (more, _) = root.enable(&units).map_err(|e| failed("enable", e))?;
            changes.extend(more);
            done(changes, now.then(|| (true, units)))
        }
        InstallCommand::Preset { units, now } => {
            let units = names(units);
            let changes = root.preset(&units).map_err(|e| failed("preset", e))?;
            let on: Vec<String> = units
                .iter()
                .filter(|u| root.preset_of(u))
                .cloned()
                .collect();
            done(changes, now.then_some((true, on)))
        }
        InstallCommand::Mask { units, now } => {
            let units = names(units);
            let changes = root.mask(&units).map_err(|e| failed("mask", e))?;
            done(changes, now.then(|| (false, units)))
        }
        InstallCommand::Unmask { units } => {
            let changes = root
                .unmask(&names(units))
                .map_err(|e| failed("unmask", e))?;
            done(changes, None)
        }
        InstallCommand::IsEnabled { units, quiet } => {
            let mut code = exit::FAILURE;
            for u in names(units) {
                match root.state(&u) {
                    Ok(s) => {
                        if !quiet {
                            println!("{}", s.as_str());
                        }
                        if s.counts_as_enabled() {
                            code = exit::OK;
                        }
                    }
                    Err(_) => {
                        eprintln!(
                            "Failed to get unit file state for {u}: No such file or directory"
                        )
                    }
                }
            }
            Outcome {
                code,
                changed: false,
                now: None,
            }
        }
        InstallCommand::ListUnitFiles { patterns } => {
            let rows: Vec<_> = root
                .list()
                .into_iter()
                .filter(|(n, _, _)| {
                    patterns.is_empty()
                        || patterns
                            .iter()
                            .any(|p| cairn_supervisor::unit::install::glob(p, n))
                })
                .collect();
            let preset = |p: Option<bool>| match p {
                Some(true) => "enabled",
                Some(false) => "disabled",
                None => "-",
            };
            match cli.output {
                Format::Text => {
                    let mut table = vec![vec![
                        "UNIT FILE".to_string(),
                        "STATE".to_string(),
                        "PRESET".to_string(),
                    ]];
                    for (n, s, p) in &rows {
                        table.push(vec![n.clone(), s.as_str().into(), preset(*p).into()]);
                    }
                    print!("{}", crate::output::render(&table, false, 1));
                    println!("\n{} unit files listed.", rows.len());
                }
                Format::Json | Format::Ron => {
                    let v: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|(n, s, p)| {
                            serde_json::json!({"unit_file": n, "state": s.as_str(), "preset": preset(*p)})
                        })
                        .collect();
                    println!("{}", serde_json::Value::Array(v));
                }
            }
            Outcome {
                code: exit::OK,
                changed: false,
                now: None,
            }
        }
    })
}

/// The manager's part: a reload after changes, then `--now`'s jobs. Without a manager
/// running, changes apply at its next start (said once); `--now` then fails.
pub fn manager_commands(cli: &Cli, outcome: &Outcome) -> Vec<Cli> {
    if cli.root.is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let running = Path::new(&cli.socket).exists();
    if outcome.changed {
        if running {
            out.push(sub(cli, UnitCommand::DaemonReload));
        } else if outcome.now.is_none() {
            eprintln!(
                "cairn is not running here ({} does not exist): the change applies when it starts.",
                cli.socket.display()
            );
        }
    }
    match &outcome.now {
        Some((true, units)) if !units.is_empty() => out.push(sub(
            cli,
            UnitCommand::Start {
                units: units.clone(),
                no_block: false,
                job_mode: "replace".into(),
            },
        )),
        Some((false, units)) if !units.is_empty() => out.push(sub(
            cli,
            UnitCommand::Stop {
                units: units.clone(),
                no_block: false,
            },
        )),
        _ => {}
    }
    out
}

fn sub(cli: &Cli, c: UnitCommand) -> Cli {
    Cli {
        socket: cli.socket.clone(),
        root: None,
        output: cli.output,
        command: Command::Unit(c),
    }
}

//! The `[Service]` keys (and those a socket or mount shares with services: kill, execution,
//! environment): typed into a [`ServiceSection`], each bad value a warning with file:line.
//! Split out of `config.rs`, which applies a whole unit file.

use std::time::Duration;

use super::config::{bool_key, valid_bus_name, Ctx, NotifyAccess, ServiceSection};
use super::name::UnitType;
use super::values::{parse_bool, parse_timespan, split_words};
use crate::service::machine::{KillMode, ServiceType};
use crate::service::policy::RestartPolicy;

pub(super) fn service_key(
    s: &mut ServiceSection,
    key: &str,
    value: &str,
    line: usize,
    ctx: &mut Ctx<'_>,
) -> bool {
    match key {
        "Type" => match ServiceType::parse(value) {
            Some(t) => s.stype = Some(t),
            None => ctx.warn(
                line,
                format!("Type: unknown service type {value:?}, ignoring"),
            ),
        },
        "RemainAfterExit" => bool_key(&mut s.remain_after_exit, key, value, line, ctx),
        "GuessMainPID" => bool_key(&mut s.guess_main_pid, key, value, line, ctx),
        "PIDFile" => s.pid_file = (!value.is_empty()).then(|| value.to_string()),
        "Restart" => match RestartPolicy::parse(value) {
            Some(r) => s.restart = r,
            None => ctx.warn(line, format!("Restart: unknown value {value:?}, ignoring")),
        },
        "RestartSec" => {
            if let Some(t) = timeout(key, value, line, ctx) {
                s.restart_sec = t.unwrap_or(Duration::ZERO);
            }
        }
        "TimeoutSec" => {
            if let Some(t) = timeout(key, value, line, ctx) {
                s.timeout_start = t;
                s.timeout_stop = t;
            }
        }
        "TimeoutStartSec" => {
            if let Some(t) = timeout(key, value, line, ctx) {
                s.timeout_start = t;
            }
        }
        "TimeoutStopSec" => {
            if let Some(t) = timeout(key, value, line, ctx) {
                s.timeout_stop = t;
            }
        }
        "Environment" => {
            if value.is_empty() {
                s.environment.clear();
            } else {
                for w in split_words(value).unwrap_or_default() {
                    match w.split_once('=') {
                        Some((k, v)) if !k.is_empty() => {
                            s.environment.retain(|(ek, _)| ek != k);
                            s.environment.push((k.to_string(), v.to_string()));
                        }
                        _ => ctx.warn(
                            line,
                            format!("Environment: invalid assignment {w:?}, ignoring"),
                        ),
                    }
                }
            }
        }
        "EnvironmentFile" => {
            if value.is_empty() {
                s.environment_files.clear();
            } else {
                let (optional, path) = match value.strip_prefix('-') {
                    Some(p) => (true, p),
                    None => (false, value),
                };
                s.environment_files.push((path.to_string(), optional));
            }
        }
        "WorkingDirectory" => s.working_directory = (!value.is_empty()).then(|| value.to_string()),
        "User" => s.user = (!value.is_empty()).then(|| value.to_string()),
        "Group" => s.group = (!value.is_empty()).then(|| value.to_string()),
        "KillMode" => match KillMode::parse(value) {
            Some(k) => s.kill_mode = k,
            None => ctx.warn(line, format!("KillMode: unknown value {value:?}, ignoring")),
        },
        "KillSignal" => match signal_number(value) {
            Some(n) => s.kill_signal = n,
            None => ctx.warn(
                line,
                format!("KillSignal: unknown signal {value:?}, ignoring"),
            ),
        },
        "SendSIGKILL" => bool_key(&mut s.send_sigkill, key, value, line, ctx),
        "SendSIGHUP" => bool_key(&mut s.send_sighup, key, value, line, ctx),
        "RestartKillSignal" => match signal_number(value) {
            Some(n) => s.restart_kill_signal = Some(n),
            None => ctx.warn(
                line,
                format!("RestartKillSignal: unknown signal {value:?}, ignoring"),
            ),
        },
        "TimeoutAbortSec" => {
            if let Some(t) = timeout(key, value, line, ctx) {
                s.timeout_abort = t;
            }
        }
        "DynamicUser" => match parse_bool(value) {
            Some(false) => {}
            Some(true) => s.dynamic_user = true,
            None => ctx.warn(
                line,
                format!("DynamicUser: not a boolean: {value:?}, ignoring"),
            ),
        },
        "FileDescriptorStoreMax" => match value.parse::<usize>() {
            Ok(n) => s.fd_store_max = n.min(crate::spawn::MAX_PASSED),
            Err(_) => ctx.warn(line, format!("{key}: not a number: {value:?}, ignoring")),
        },
        "X-NotificationFD" => match value.parse::<i32>() {
            Ok(n) if (3..1024).contains(&n) => s.notification_fd = Some(n),
            _ => ctx.warn(
                line,
                format!("{key}: not an fd number from 3 to 1023: {value:?}, ignoring"),
            ),
        },
        "FinalKillSignal" => match signal_number(value) {
            Some(n) => s.final_kill_signal = n,
            None => ctx.warn(
                line,
                format!("FinalKillSignal: unknown signal {value:?}, ignoring"),
            ),
        },
        "SuccessExitStatus" => {
            if value.is_empty() {
                s.success_codes.clear();
                s.success_signals.clear();
            }
            for w in value.split_whitespace() {
                if let Ok(code) = w.parse::<i32>() {
                    s.success_codes.push(code);
                } else if let Some(sig) = signal_number(w) {
                    s.success_signals.push(sig);
                } else {
                    ctx.warn(line, format!("SuccessExitStatus: {w:?} is neither an exit code nor a signal, ignoring"));
                }
            }
        }
        "RestartPreventExitStatus" | "RestartForceExitStatus" => {
            let dst = if key == "RestartPreventExitStatus" {
                &mut s.restart_prevent
            } else {
                &mut s.restart_force
            };
            if value.is_empty() {
                dst.0.clear();
                dst.1.clear();
            }
            for w in value.split_whitespace() {
                if let Ok(code) = w.parse::<i32>() {
                    dst.0.push(code);
                } else if let Some(sig) = signal_number(w) {
                    dst.1.push(sig);
                } else {
                    ctx.warn(
                        line,
                        format!("{key}: {w:?} is neither an exit code nor a signal, ignoring"),
                    );
                }
            }
        }
        // Accepted so that existing unit files load without noise, and not applied yet (the
        // rest of issue 4: mount-namespace views, directories, watchdog, NotifyAccess…).
        "WatchdogSec" => {
            if let Some(t) = timeout(key, value, line, ctx) {
                s.watchdog = t;
            }
        }
        "NotifyAccess" => match value {
            "none" => s.notify_access = Some(NotifyAccess::None),
            "main" => s.notify_access = Some(NotifyAccess::Main),
            "exec" => s.notify_access = Some(NotifyAccess::Exec),
            "all" => s.notify_access = Some(NotifyAccess::All),
            _ => ctx.warn(
                line,
                format!("NotifyAccess: unknown value {value:?}, ignoring"),
            ),
        },
        "Sockets" => {
            if value.is_empty() {
                s.sockets.clear();
            }
            for w in value.split_whitespace() {
                match super::name::parse(w) {
                    Ok(n)
                        if n.utype == UnitType::Socket
                            && n.instance.is_none()
                            && !n.is_template() =>
                    {
                        s.sockets.push(w.to_string())
                    }
                    _ => ctx.warn(
                        line,
                        format!("Sockets: not a socket unit name: {w:?}, ignoring"),
                    ),
                }
            }
        }
        "BusName" => {
            if valid_bus_name(value) {
                s.bus_name = Some(value.to_string());
            } else {
                ctx.warn(
                    line,
                    format!("BusName: {value:?} is not a valid D-Bus name, ignoring"),
                );
            }
        }
        "Slice" | "Delegate" | "KillSignalOverride" => {}
        "MemoryMax" | "MemoryHigh" | "MemoryLow" | "MemoryMin" | "MemorySwapMax" | "TasksMax"
        | "CPUQuota" | "CPUWeight" | "IOWeight" | "AllowedCPUs" => {
            match super::resource::parse(key, value) {
                Ok(Some(l)) => {
                    s.limits.retain(|o| o.file != l.file);
                    s.limits.push(l);
                }
                Ok(None) => return false,
                Err(e) => ctx.warn(line, format!("{e}, ignoring")),
            }
        }
        "RestartSteps" => match value.parse::<u32>() {
            Ok(n) => s.restart_steps = n,
            Err(_) => ctx.warn(line, format!("{key}: not a number: {value:?}, ignoring")),
        },
        "RestartMaxDelaySec" => {
            if let Some(t) = timeout(key, value, line, ctx) {
                s.restart_max_delay = t;
            }
        }
        k => match super::exec_config::apply(&mut s.exec, k, value) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => ctx.warn(line, format!("{e}, ignoring")),
        },
    }
    true
}

fn timeout(key: &str, value: &str, line: usize, ctx: &mut Ctx<'_>) -> Option<Option<Duration>> {
    match parse_timespan(value) {
        // systemd: 0 means no timeout, as infinity does.
        Some(Some(d)) if d.is_zero() => Some(None),
        Some(t) => Some(t),
        None => {
            ctx.warn(line, format!("{key}: not a time span: {value:?}, ignoring"));
            None
        }
    }
}

/// A signal by number or name, with or without `SIG` (`15`, `TERM`, `SIGTERM`).
pub fn signal_number(value: &str) -> Option<i32> {
    if let Ok(n) = value.parse::<i32>() {
        return Some(n);
    }
    let name = if value.starts_with("SIG") {
        value.to_string()
    } else {
        format!("SIG{value}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

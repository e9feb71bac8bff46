//! A unit file's settings, typed. Applying a parsed file to a [`UnitConfig`] is where systemd's
//! rules for keys live: an unknown key or an unparsable value is a warning with file:line and
//! is ignored; an empty assignment resets a list; specifiers are expanded first.

use std::path::{Path, PathBuf};
use std::time::Duration;
use thin_vec::ThinVec;

use super::condition::{Condition, ConditionKind};
use super::exec::{self, ExecCommand};
use super::name::UnitType;
use super::service_keys::service_key;
use super::shared::Shared;
use super::specifier;
use super::syntax::UnitFile;
use super::values::{parse_bool, parse_timespan, split_words};
use crate::service::machine::{KillMode, ServiceType};
use crate::service::policy::{RestartPolicy, DEFAULT_RESTART_SEC, DEFAULT_TIMEOUT};

/// A problem in a unit file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

#[derive(Debug, Clone)]
pub struct UnitSection {
    pub description: Option<String>,
    pub documentation: ThinVec<String>,
    pub requires: ThinVec<String>,
    pub requisite: ThinVec<String>,
    pub wants: ThinVec<String>,
    pub binds_to: ThinVec<String>,
    pub part_of: ThinVec<String>,
    pub conflicts: ThinVec<String>,
    pub before: ThinVec<String>,
    pub after: ThinVec<String>,
    pub on_failure: ThinVec<String>,
    pub on_success: ThinVec<String>,
    pub requires_mounts_for: ThinVec<String>,
    pub default_dependencies: Option<bool>,
    pub stop_when_unneeded: bool,
    pub refuse_manual_start: bool,
    pub refuse_manual_stop: bool,
    pub allow_isolate: bool,
    /// OnFailureJobMode=: how the OnFailure= units' start is queued (default replace).
    pub on_failure_job_mode: Option<crate::job::types::JobMode>,
    pub ignore_on_isolate: Option<bool>,
    pub conditions: ThinVec<Condition>,
    pub asserts: ThinVec<Condition>,
    /// StartLimitIntervalSec=/StartLimitBurst=: at most `burst` starts within `interval`
    /// (systemd's defaults: 5 in 10 s; an interval of 0 disables the limit).
    pub start_limit_interval: Duration,
    pub start_limit_burst: u32,
    /// SuccessAction=/FailureAction= (recorded; acted on with the boot issue).
    pub success_action: Option<String>,
    pub failure_action: Option<String>,
}

impl Default for UnitSection {
    fn default() -> Self {
        UnitSection {
            description: None,
            documentation: ThinVec::new(),
            requires: ThinVec::new(),
            requisite: ThinVec::new(),
            wants: ThinVec::new(),
            binds_to: ThinVec::new(),
            part_of: ThinVec::new(),
            conflicts: ThinVec::new(),
            before: ThinVec::new(),
            after: ThinVec::new(),
            on_failure: ThinVec::new(),
            on_success: ThinVec::new(),
            requires_mounts_for: ThinVec::new(),
            default_dependencies: None,
            stop_when_unneeded: false,
            refuse_manual_start: false,
            refuse_manual_stop: false,
            allow_isolate: false,
            on_failure_job_mode: None,
            ignore_on_isolate: None,
            conditions: ThinVec::new(),
            asserts: ThinVec::new(),
            start_limit_interval: Duration::from_secs(10),
            start_limit_burst: 5,
            success_action: None,
            failure_action: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InstallSection {
    pub wanted_by: ThinVec<String>,
    pub required_by: ThinVec<String>,
    pub alias: ThinVec<String>,
    pub also: ThinVec<String>,
    pub default_instance: Option<String>,
}

/// Who may send notify messages for a service (systemd.service(5), NotifyAccess=).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyAccess {
    None,
    Main,
    /// The main process and the control processes (Exec* commands).
    Exec,
    /// Any process of the unit's cgroup.
    All,
}

#[derive(Debug, Clone)]
pub struct ServiceSection {
    pub stype: Option<ServiceType>,
    pub remain_after_exit: bool,
    pub exec_start_pre: ThinVec<ExecCommand>,
    pub exec_start: ThinVec<ExecCommand>,
    pub exec_start_post: ThinVec<ExecCommand>,
    pub exec_reload: ThinVec<ExecCommand>,
    pub exec_stop: ThinVec<ExecCommand>,
    pub exec_stop_post: ThinVec<ExecCommand>,
    pub pid_file: Option<String>,
    /// GuessMainPID=: without PIDFile=, a forking service's main process is the one process
    /// left in its cgroup (yes, the default); no: it has no main process.
    pub guess_main_pid: bool,
    pub restart: RestartPolicy,
    pub restart_sec: Duration,
    pub timeout_start: Option<Duration>,
    pub timeout_stop: Option<Duration>,
    pub environment: ThinVec<(String, String)>,
    /// (path, optional: the `-` prefix)
    pub environment_files: ThinVec<(String, bool)>,
    pub working_directory: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub kill_mode: KillMode,
    pub kill_signal: i32,
    pub send_sigkill: bool,
    pub final_kill_signal: i32,
    pub restart_kill_signal: Option<i32>,
    /// DynamicUser=yes: not supported (the unit is refused rather than run as root).
    pub dynamic_user: bool,
    /// FileDescriptorStoreMax=: how many fds FDSTORE=1 may keep (0: none).
    pub fd_store_max: usize,
    /// X-NotificationFD=N (cairn's extension, s6's notification-fd): the service is ready
    /// when it writes a newline to fd N.
    pub notification_fd: Option<i32>,
    pub timeout_abort: Option<Duration>,
    pub send_sighup: bool,
    pub success_codes: ThinVec<i32>,
    pub success_signals: ThinVec<i32>,
    /// RestartPreventExitStatus=/RestartForceExitStatus=: exit codes (and signals) that never /
    /// always restart, whatever Restart= says.
    pub restart_prevent: (ThinVec<i32>, ThinVec<i32>),
    pub restart_force: (ThinVec<i32>, ThinVec<i32>),
    pub restart_steps: u32,
    pub restart_max_delay: Option<Duration>,
    pub watchdog: Option<Duration>,
    /// NotifyAccess=: none, main, exec, all (None: the default, main for Type=notify).
    pub notify_access: Option<NotifyAccess>,
    /// cgroup limits, in the order given (a later one of the same file wins).
    pub limits: ThinVec<super::resource::Limit>,
    /// The execution environment.
    pub exec: Shared<super::exec_config::ExecContext>,
    /// Sockets=: socket units whose fds this service gets (it also Wants= and is After= them).
    pub sockets: ThinVec<String>,
    /// BusName=: the D-Bus name a Type=dbus service takes when it is ready (BusName= alone
    /// implies Type=dbus).
    pub bus_name: Option<String>,
}

impl Default for ServiceSection {
    fn default() -> Self {
        ServiceSection {
            stype: None,
            remain_after_exit: false,
            exec_start_pre: ThinVec::new(),
            exec_start: ThinVec::new(),
            exec_start_post: ThinVec::new(),
            exec_reload: ThinVec::new(),
            exec_stop: ThinVec::new(),
            exec_stop_post: ThinVec::new(),
            pid_file: None,
            guess_main_pid: true,
            restart: RestartPolicy::No,
            restart_sec: DEFAULT_RESTART_SEC,
            timeout_start: Some(DEFAULT_TIMEOUT),
            timeout_stop: Some(DEFAULT_TIMEOUT),
            environment: ThinVec::new(),
            environment_files: ThinVec::new(),
            working_directory: None,
            user: None,
            group: None,
            kill_mode: KillMode::ControlGroup,
            kill_signal: libc::SIGTERM,
            send_sigkill: true,
            final_kill_signal: libc::SIGKILL,
            restart_kill_signal: None,
            dynamic_user: false,
            notification_fd: None,
            fd_store_max: 0,
            timeout_abort: None,
            send_sighup: false,
            success_codes: ThinVec::new(),
            success_signals: ThinVec::new(),
            restart_prevent: (ThinVec::new(), ThinVec::new()),
            restart_force: (ThinVec::new(), ThinVec::new()),
            restart_steps: 0,
            restart_max_delay: None,
            watchdog: None,
            notify_access: None,
            limits: ThinVec::new(),
            exec: Default::default(),
            sockets: ThinVec::new(),
            bus_name: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct UnitConfig {
    pub unit: UnitSection,
    /// The sections below are shared with every unit that leaves them as they are by default
    /// (copy on write: [`super::shared`]).
    pub install: Shared<InstallSection>,
    pub service: Shared<ServiceSection>,
    /// `[Socket]`: what to listen on and how. The socket's own commands (ExecStartPre=,
    /// ExecStartPost=, ExecStopPre=, ExecStopPost=) and its execution and kill settings live in
    /// `service`, as systemd shares its ExecContext and KillContext between unit types:
    /// ExecStopPre= lands in `exec_stop`.
    pub socket: Shared<super::socket_config::SocketConfig>,
    /// `[Mount]` and `[Automount]`; their execution settings, too, live in `service`.
    pub mount: Shared<super::mount_config::MountSection>,
    pub automount: Shared<super::mount_config::AutomountSection>,
    /// Errors that make the unit unusable as written (systemd refuses to load it): an Exec*=
    /// line it cannot parse. The loader turns them into `bad-setting`.
    pub fatal: Vec<String>,
}

pub(super) struct Ctx<'a> {
    file: &'a Path,
    warnings: &'a mut Vec<Warning>,
}

impl Ctx<'_> {
    pub(super) fn warn(&mut self, line: usize, message: String) {
        self.warnings.push(Warning {
            file: self.file.to_path_buf(),
            line,
            message,
        });
    }
}

/// Applies every section of `file` that belongs to a unit of type `utype`.
pub fn apply(
    cfg: &mut UnitConfig,
    utype: UnitType,
    file: &UnitFile,
    path: &Path,
    spec: &specifier::Context,
    warnings: &mut Vec<Warning>,
) {
    let type_section = match utype {
        UnitType::Service => Some("Service"),
        UnitType::Socket => Some("Socket"),
        UnitType::Mount => Some("Mount"),
        UnitType::Automount => Some("Automount"),
        _ => None,
    };
    let mut ctx = Ctx {
        file: path,
        warnings,
    };
    for section in &file.sections {
        let known = section.name == "Unit"
            || section.name == "Install"
            || Some(section.name.as_str()) == type_section;
        if !known {
            if !section.name.starts_with("X-") {
                ctx.warn(
                    section.line,
                    format!("unknown section [{}], ignoring", section.name),
                );
            }
            continue;
        }
        for e in &section.entries {
            if (section.name == "Service" || section.name == "Socket") && e.key.starts_with("Exec")
            {
                // Exec lines expand specifiers word by word, after splitting, as systemd does.
                let s = &mut cfg.service;
                let dst = match (section.name.as_str(), e.key.as_str()) {
                    (_, "ExecStartPre") => Some(&mut s.exec_start_pre),
                    ("Service", "ExecStart") => Some(&mut s.exec_start),
                    (_, "ExecStartPost") => Some(&mut s.exec_start_post),
                    ("Service", "ExecReload") => Some(&mut s.exec_reload),
                    ("Service", "ExecStop") | ("Socket", "ExecStopPre") => Some(&mut s.exec_stop),
                    (_, "ExecStopPost") => Some(&mut s.exec_stop_post),
                    _ => None,
                };
                match dst {
                    Some(dst) => exec_key(
                        dst,
                        &mut cfg.fatal,
                        &e.key,
                        &e.value,
                        e.line,
                        spec,
                        &mut ctx,
                    ),
                    None => ctx.warn(
                        e.line,
                        format!(
                            "unknown key {} in section [{}], ignoring",
                            e.key, section.name
                        ),
                    ),
                }
                continue;
            }
            let value = match specifier::expand(&e.value, spec) {
                Ok(v) => v,
                Err(err) => {
                    ctx.warn(e.line, format!("{}: {err}, ignoring", e.key));
                    continue;
                }
            };
            let handled = match section.name.as_str() {
                "Unit" => unit_key(&mut cfg.unit, &e.key, &value, e.line, &mut ctx),
                "Install" => install_key(&mut cfg.install, &e.key, &value),
                "Socket" => socket_key(cfg, &e.key, &value, e.line, &mut ctx),
                "Mount" => match super::mount_config::apply_mount(&mut cfg.mount, &e.key, &value) {
                    Ok(true) => true,
                    Ok(false) => shared_key(cfg, &e.key, &value, e.line, &mut ctx),
                    Err(err) => {
                        ctx.warn(e.line, format!("{err}, ignoring"));
                        true
                    }
                },
                "Automount" => {
                    match super::mount_config::apply_automount(&mut cfg.automount, &e.key, &value) {
                        Ok(true) => true,
                        Ok(false) => false,
                        Err(err) => {
                            ctx.warn(e.line, format!("{err}, ignoring"));
                            true
                        }
                    }
                }
                _ => service_key(&mut cfg.service, &e.key, &value, e.line, &mut ctx),
            };
            // X- keys are vendor extensions: ignored quietly, as systemd does.
            if !handled && !e.key.starts_with("X-") {
                ctx.warn(
                    e.line,
                    format!(
                        "unknown key {} in section [{}], ignoring",
                        e.key, section.name
                    ),
                );
            }
        }
    }
}

/// A list setting: words appended; an empty value resets it.
pub(super) fn list(dst: &mut ThinVec<String>, value: &str) {
    if value.is_empty() {
        dst.clear();
        return;
    }
    match split_words(value) {
        Ok(words) => dst.extend(words),
        Err(_) => dst.extend(value.split_whitespace().map(str::to_string)),
    }
}

pub(super) fn bool_key(dst: &mut bool, key: &str, value: &str, line: usize, ctx: &mut Ctx<'_>) {
    match parse_bool(value) {
        Some(b) => *dst = b,
        None => ctx.warn(line, format!("{key}: not a boolean: {value:?}, ignoring")),
    }
}

fn unit_key(u: &mut UnitSection, key: &str, value: &str, line: usize, ctx: &mut Ctx<'_>) -> bool {
    match key {
        "Description" => u.description = Some(value.to_string()),
        "Documentation" => list(&mut u.documentation, value),
        "Requires" => list(&mut u.requires, value),
        "Requisite" => list(&mut u.requisite, value),
        "Wants" => list(&mut u.wants, value),
        "BindsTo" => list(&mut u.binds_to, value),
        "PartOf" => list(&mut u.part_of, value),
        "Conflicts" => list(&mut u.conflicts, value),
        "Before" => list(&mut u.before, value),
        "After" => list(&mut u.after, value),
        "OnFailure" => list(&mut u.on_failure, value),
        "OnSuccess" => list(&mut u.on_success, value),
        "RequiresMountsFor" => list(&mut u.requires_mounts_for, value),
        "DefaultDependencies" => {
            let mut b = true;
            bool_key(&mut b, key, value, line, ctx);
            u.default_dependencies = Some(b);
        }
        "StopWhenUnneeded" => bool_key(&mut u.stop_when_unneeded, key, value, line, ctx),
        "RefuseManualStart" => bool_key(&mut u.refuse_manual_start, key, value, line, ctx),
        "RefuseManualStop" => bool_key(&mut u.refuse_manual_stop, key, value, line, ctx),
        "AllowIsolate" => bool_key(&mut u.allow_isolate, key, value, line, ctx),
        "OnFailureJobMode" => match crate::job::types::JobMode::parse(value) {
            Some(m) => u.on_failure_job_mode = Some(m),
            None => ctx.warn(
                line,
                format!("OnFailureJobMode: unknown job mode {value:?}, ignoring"),
            ),
        },
        "IgnoreOnIsolate" => {
            let mut b = false;
            bool_key(&mut b, key, value, line, ctx);
            u.ignore_on_isolate = Some(b);
        }
        k if k.starts_with("Condition") || k.starts_with("Assert") => {
            let assert = k.starts_with("Assert");
            let name = k
                .trim_start_matches("Condition")
                .trim_start_matches("Assert");
            let dst = if assert {
                &mut u.asserts
            } else {
                &mut u.conditions
            };
            if value.is_empty() {
                dst.clear();
                return true;
            }
            match ConditionKind::parse(name) {
                Some(kind) => dst.push(Condition::new(kind, value, line)),
                None => return false,
            }
        }
        "SuccessAction" => u.success_action = (!value.is_empty()).then(|| value.to_string()),
        "FailureAction" => u.failure_action = (!value.is_empty()).then(|| value.to_string()),
        "StartLimitIntervalSec" | "StartLimitInterval" => match parse_timespan(value) {
            Some(t) => u.start_limit_interval = t.unwrap_or(Duration::ZERO),
            None => ctx.warn(line, format!("{key}: not a time span: {value:?}, ignoring")),
        },
        "StartLimitBurst" => match value.parse::<u32>() {
            Ok(n) => u.start_limit_burst = n,
            Err(_) => ctx.warn(line, format!("{key}: not a number: {value:?}, ignoring")),
        },
        // Accepted, not acted on yet (job timeouts: issue 4).
        "JobTimeoutSec"
        | "JobRunningTimeoutSec"
        | "JobTimeoutAction"
        | "StartLimitAction"
        | "SourcePath"
        | "CollectMode" => {}
        _ => return false,
    }
    true
}

/// A well-known D-Bus name (the D-Bus specification: two or more elements of
/// `[A-Za-z0-9_-]`, not starting with a digit, separated by dots; at most 255 bytes).
pub fn valid_bus_name(n: &str) -> bool {
    let elements: Vec<&str> = n.split('.').collect();
    n.len() <= 255
        && elements.len() >= 2
        && elements.iter().all(|e| {
            !e.is_empty()
                && !e.starts_with(|c: char| c.is_ascii_digit())
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

fn install_key(i: &mut InstallSection, key: &str, value: &str) -> bool {
    match key {
        "WantedBy" => list(&mut i.wanted_by, value),
        "RequiredBy" => list(&mut i.required_by, value),
        "Alias" => list(&mut i.alias, value),
        "Also" => list(&mut i.also, value),
        "DefaultInstance" => i.default_instance = Some(value.to_string()),
        _ => return false,
    }
    true
}

fn exec_key(
    dst: &mut ThinVec<ExecCommand>,
    fatal: &mut Vec<String>,
    key: &str,
    value: &str,
    line: usize,
    spec: &specifier::Context,
    ctx: &mut Ctx<'_>,
) {
    if value.trim().is_empty() {
        dst.clear();
        return;
    }
    let parsed = exec::parse_detailed(value, Some(spec));
    dst.extend(parsed.commands);
    for w in parsed.warnings {
        ctx.warn(line, format!("{key}: {w}"));
    }
    if let Some(e) = parsed.error {
        if parsed.fatal {
            fatal.push(format!("{}:{line}: {key}: {e}", ctx.file.display()));
        } else {
            ctx.warn(line, format!("{key}: {e}, ignoring the rest of the line"));
        }
    }
}

/// A `[Socket]` key: the socket's own settings, else the execution, kill and cgroup settings
/// it shares with services (for its ExecStartPre= and friends). Keys that only make sense for
/// a service (Type=, Restart=, …) are unknown here, as in systemd.
fn socket_key(
    cfg: &mut UnitConfig,
    key: &str,
    value: &str,
    line: usize,
    ctx: &mut Ctx<'_>,
) -> bool {
    match super::socket_config::apply(&mut cfg.socket, key, value) {
        Ok(true) => return true,
        Ok(false) => {}
        Err(e) => {
            ctx.warn(line, format!("{e}, ignoring"));
            return true;
        }
    }
    shared_key(cfg, key, value, line, ctx)
}

/// The execution, kill and cgroup settings every unit type with processes shares (sockets'
/// and mounts' commands); keys only a service has are unknown here.
fn shared_key(
    cfg: &mut UnitConfig,
    key: &str,
    value: &str,
    line: usize,
    ctx: &mut Ctx<'_>,
) -> bool {
    const SERVICE_ONLY: &[&str] = &[
        "Type",
        "RemainAfterExit",
        "PIDFile",
        "Restart",
        "RestartSec",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "RestartKillSignal",
        "TimeoutAbortSec",
        "FileDescriptorStoreMax",
        "X-NotificationFD",
        "SuccessExitStatus",
        "RestartPreventExitStatus",
        "RestartForceExitStatus",
        "WatchdogSec",
        "NotifyAccess",
        "GuessMainPID",
        "BusName",
        "Sockets",
        "RestartSteps",
        "RestartMaxDelaySec",
    ];
    if SERVICE_ONLY.contains(&key) {
        return false;
    }
    service_key(&mut cfg.service, key, value, line, ctx)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bus_names_are_checked() {
        for ok in ["org.cairn.Test", "a.b", "a-b._c.d9"] {
            assert!(valid_bus_name(ok), "{ok}");
        }
        for bad in [
            "",
            "org",
            "org..x",
            "1org.x",
            "org.9x",
            ":1.5",
            "org.x/y",
            &"a.".repeat(200),
        ] {
            assert!(!valid_bus_name(bad), "{bad}");
        }
    }

    use super::*;
    use crate::unit::syntax;

    fn load(text: &str) -> (UnitConfig, Vec<Warning>) {
        let (file, syntax_warnings) = syntax::parse(text);
        assert!(
            syntax_warnings.is_empty(),
            "{:?}",
            syntax_warnings
                .iter()
                .map(|w| &w.message)
                .collect::<Vec<_>>()
        );
        let mut cfg = UnitConfig::default();
        let mut w = Vec::new();
        let ctx = specifier::Context {
            unit: "a.service".into(),
            runtime_dir: "/run".into(),
            ..Default::default()
        };
        apply(
            &mut cfg,
            UnitType::Service,
            &file,
            Path::new("/u/a.service"),
            &ctx,
            &mut w,
        );
        (cfg, w)
    }

    #[test]
    fn keys_land_where_they_belong() {
        let (c, w) = load(
            "[Unit]\nDescription=A %n\nWants=b.service c.service\nAfter=b.service\n\
             [Service]\nType=oneshot\nExecStart=/bin/true\nExecStart=-/bin/false x\n\
             Restart=on-failure\nRestartSec=2s\nEnvironment=A=1 \"B=2 3\"\n\
             [Install]\nWantedBy=multi-user.target\n",
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.unit.description.as_deref(), Some("A a.service"));
        assert_eq!(c.unit.wants, vec!["b.service", "c.service"]);
        assert_eq!(c.service.stype, Some(ServiceType::Oneshot));
        assert_eq!(c.service.exec_start.len(), 2);
        assert!(c.service.exec_start[1].ignore_failure);
        assert_eq!(c.service.restart, RestartPolicy::OnFailure);
        assert_eq!(c.service.restart_sec, Duration::from_secs(2));
        assert_eq!(
            c.service.environment,
            vec![("A".into(), "1".into()), ("B".into(), "2 3".into())]
        );
        assert_eq!(c.install.wanted_by, vec!["multi-user.target"]);
    }

    #[test]
    fn an_empty_assignment_resets_a_list() {
        let (c, _) = load("[Service]\nExecStart=/bin/a\nExecStart=\nExecStart=/bin/b\n[Unit]\nWants=x.service\nWants=\n");
        assert_eq!(c.service.exec_start.len(), 1);
        assert_eq!(c.service.exec_start[0].path, "/bin/b");
        assert!(c.unit.wants.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_warn_with_file_and_line() {
        let (c, w) = load("[Service]\nExecStart=/bin/a\nFrobnicate=yes\nRestartSec=soon\nRemainAfterExit=perhaps\n");
        let text: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text[0].starts_with("/u/a.service:3: unknown key Frobnicate"),
            "{text:?}"
        );
        assert!(
            text[1].starts_with("/u/a.service:4: RestartSec: not a time span"),
            "{text:?}"
        );
        assert!(
            text[2].starts_with("/u/a.service:5: RemainAfterExit: not a boolean"),
            "{text:?}"
        );
        assert_eq!(
            c.service.restart_sec, DEFAULT_RESTART_SEC,
            "the bad value is ignored"
        );
    }

    #[test]
    fn conditions_and_asserts_are_collected() {
        let (c, w) = load("[Unit]\nConditionPathExists=!/nonexistent\nAssertPathIsDirectory=/\nConditionBogus=1\n");
        assert_eq!(c.unit.conditions.len(), 1);
        assert!(c.unit.conditions[0].negate);
        assert_eq!(c.unit.asserts.len(), 1);
        assert_eq!(w.len(), 1, "{w:?}");
    }
}

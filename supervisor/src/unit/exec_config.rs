//! The execution environment of a service's processes (systemd.exec(5)): who it runs as, its
//! limits, scheduling, capabilities and standard streams. Parsed here; applied in the child
//! between clone and exec (`crate::spawn`), from values the parent prepares.

use std::collections::BTreeMap;

use super::capability;
use super::values::{parse_bool, parse_size};

/// Where a standard stream goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Output {
    /// The unit's log (systemd's `journal`, and `syslog`, `kmsg` and their `+console` forms
    /// until those sinks exist: issue 4's logging part).
    #[default]
    Log,
    Null,
    /// stderr only: wherever stdout goes.
    Inherit,
    Tty,
    File(String),
    Append(String),
    Truncate(String),
    /// The connection of an Accept=yes socket.
    Socket,
    /// `fd:NAME`, as for StandardInput=.
    Fd(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Input {
    #[default]
    Null,
    Tty,
    File(String),
    /// The connection of an Accept=yes socket (stdout and stderr follow it by default).
    Socket,
    /// `fd:NAME`: the socket of the service's socket units whose FileDescriptorName= is NAME.
    Fd(String),
}

/// syslog's priority names, by number (0 emerg … 7 debug).
pub const PRIORITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Resource limits by name, as `LimitNOFILE=` etc. spell them, and their RLIMIT_ number.
pub const LIMITS: &[(&str, u32)] = &[
    ("LimitCPU", libc::RLIMIT_CPU),
    ("LimitFSIZE", libc::RLIMIT_FSIZE),
    ("LimitDATA", libc::RLIMIT_DATA),
    ("LimitSTACK", libc::RLIMIT_STACK),
    ("LimitCORE", libc::RLIMIT_CORE),
    ("LimitRSS", libc::RLIMIT_RSS),
    ("LimitNOFILE", libc::RLIMIT_NOFILE),
    ("LimitAS", libc::RLIMIT_AS),
    ("LimitNPROC", libc::RLIMIT_NPROC),
    ("LimitMEMLOCK", libc::RLIMIT_MEMLOCK),
    ("LimitLOCKS", libc::RLIMIT_LOCKS),
    ("LimitSIGPENDING", libc::RLIMIT_SIGPENDING),
    ("LimitMSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("LimitNICE", libc::RLIMIT_NICE),
    ("LimitRTPRIO", libc::RLIMIT_RTPRIO),
    ("LimitRTTIME", libc::RLIMIT_RTTIME),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecContext {
    pub supplementary_groups: Vec<String>,
    pub pass_environment: Vec<String>,
    pub unset_environment: Vec<String>,
    pub root_directory: Option<String>,
    pub umask: u32,
    pub nice: Option<i32>,
    pub cpu_sched_policy: Option<i32>,
    pub cpu_sched_priority: Option<i32>,
    pub cpu_sched_reset_on_fork: bool,
    /// (class, priority) for ioprio_set.
    pub io_class: Option<u32>,
    pub io_priority: Option<u32>,
    pub cpu_affinity: Vec<usize>,
    /// RLIMIT_ number → (soft, hard); u64::MAX is infinity.
    pub limits: BTreeMap<u32, (u64, u64)>,
    /// Capabilities kept in the bounding set (None: all).
    pub capability_bounding_set: Option<u64>,
    pub ambient_capabilities: u64,
    pub no_new_privileges: bool,
    pub secure_bits: u32,
    pub oom_score_adjust: Option<i32>,
    pub timer_slack_nsec: Option<u64>,
    pub personality: Option<u64>,
    pub ignore_sigpipe: bool,
    pub standard_input: Input,
    pub standard_output: Output,
    /// StandardOutput= was given: otherwise, with StandardInput=tty or socket, stdout follows
    /// stdin (systemd's `service_fix_stdio()`).
    pub standard_output_set: bool,
    pub standard_error: Output,
    pub tty_path: String,
    /// TTYReset=, TTYVHangup=, TTYVTDisallocate=: done to TTYPath before each process starts.
    pub tty_reset: bool,
    pub tty_vhangup: bool,
    pub tty_vt_disallocate: bool,
    /// StandardInput=tty-force: take the terminal as controlling tty even from another session.
    pub tty_force: bool,
    pub syslog_identifier: Option<String>,
    /// SyslogFacility= (daemon by default) and SyslogLevel= (the priority of a line without a
    /// `<N>` prefix; info by default).
    pub syslog_facility: u8,
    pub syslog_level: u8,
    /// The mount-namespace view (a private mount namespace when any of these is set).
    pub read_only_paths: Vec<String>,
    pub read_write_paths: Vec<String>,
    pub inaccessible_paths: Vec<String>,
    pub temporary_file_system: Vec<String>,
    /// (source, destination, read-only)
    pub bind_paths: Vec<(String, String, bool)>,
    pub protect_system: ProtectSystem,
    pub protect_home: ProtectHome,
    pub private_tmp: bool,
    pub private_devices: bool,
    /// RuntimeDirectory= etc.: (kind, relative path); with their modes.
    pub directories: Vec<(DirKind, String)>,
    pub directory_modes: [u32; 4],
}

/// ProtectSystem= (systemd.exec(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtectSystem {
    #[default]
    No,
    /// /usr and /boot read-only.
    Yes,
    /// …and /etc.
    Full,
    /// The whole file system read-only but /dev, /proc, /sys (and ReadWritePaths=).
    Strict,
}

/// ProtectHome= (systemd.exec(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtectHome {
    #[default]
    No,
    /// /home, /root, /run/user inaccessible.
    Yes,
    ReadOnly,
    Tmpfs,
}

/// RuntimeDirectory=, StateDirectory=, CacheDirectory=, LogsDirectory=.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirKind {
    Runtime = 0,
    State = 1,
    Cache = 2,
    Logs = 3,
}

impl DirKind {
    /// The environment variable systemd passes with the directory's full path.
    pub fn env(self) -> &'static str {
        match self {
            DirKind::Runtime => "RUNTIME_DIRECTORY",
            DirKind::State => "STATE_DIRECTORY",
            DirKind::Cache => "CACHE_DIRECTORY",
            DirKind::Logs => "LOGS_DIRECTORY",
        }
    }
}

impl ExecContext {
    /// Whether the service needs a mount namespace of its own.
    pub fn needs_mount_namespace(&self) -> bool {
        !self.read_only_paths.is_empty()
            || !self.inaccessible_paths.is_empty()
            || !self.temporary_file_system.is_empty()
            || !self.bind_paths.is_empty()
            || self.protect_system != ProtectSystem::No
            || self.protect_home != ProtectHome::No
            || self.private_tmp
            || self.private_devices
    }
}

impl Default for ExecContext {
    fn default() -> Self {
        ExecContext {
            supplementary_groups: Vec::new(),
            pass_environment: Vec::new(),
            unset_environment: Vec::new(),
            root_directory: None,
            umask: 0o022,
            nice: None,
            cpu_sched_policy: None,
            cpu_sched_priority: None,
            cpu_sched_reset_on_fork: false,
            io_class: None,
            io_priority: None,
            cpu_affinity: Vec::new(),
            limits: BTreeMap::new(),
            capability_bounding_set: None,
            ambient_capabilities: 0,
            no_new_privileges: false,
            secure_bits: 0,
            oom_score_adjust: None,
            timer_slack_nsec: None,
            personality: None,
            ignore_sigpipe: true,
            standard_input: Input::Null,
            standard_output: Output::Log,
            standard_output_set: false,
            standard_error: Output::Inherit,
            tty_path: "/dev/console".into(),
            tty_reset: false,
            tty_vhangup: false,
            tty_vt_disallocate: false,
            tty_force: false,
            syslog_identifier: None,
            syslog_facility: 3,
            syslog_level: 6,
            read_only_paths: Vec::new(),
            read_write_paths: Vec::new(),
            inaccessible_paths: Vec::new(),
            temporary_file_system: Vec::new(),
            bind_paths: Vec::new(),
            protect_system: ProtectSystem::No,
            protect_home: ProtectHome::No,
            private_tmp: false,
            private_devices: false,
            directories: Vec::new(),
            directory_modes: [0o755; 4],
        }
    }
}

/// A list of absolute paths; `-` (ignore if missing) and `+` prefixes are accepted.
fn path_list(dst: &mut Vec<String>, value: &str) {
    if value.is_empty() {
        dst.clear();
        return;
    }
    dst.extend(value.split_whitespace().map(|w| w.to_string()));
}

/// A limit value: a number (with K/M/G… for sizes), or `infinity`.
fn limit_value(s: &str, is_size: bool) -> Option<u64> {
    if s == "infinity" {
        return Some(u64::MAX);
    }
    if is_size {
        parse_size(s)
    } else {
        s.parse().ok()
    }
}

/// `soft:hard` or one value for both.
pub fn parse_limit(key: &str, value: &str) -> Option<(u64, u64)> {
    let is_size = matches!(
        key,
        "LimitFSIZE"
            | "LimitDATA"
            | "LimitSTACK"
            | "LimitCORE"
            | "LimitRSS"
            | "LimitAS"
            | "LimitMEMLOCK"
            | "LimitMSGQUEUE"
    );
    match value.split_once(':') {
        Some((soft, hard)) => Some((limit_value(soft, is_size)?, limit_value(hard, is_size)?)),
        None => {
            let v = limit_value(value, is_size)?;
            Some((v, v))
        }
    }
}

/// `CAP_A CAP_B`, `~CAP_A` (all but), empty resets; as systemd.exec(5).
fn parse_caps(value: &str) -> Option<(bool, u64)> {
    let (invert, rest) = match value.strip_prefix('~') {
        Some(r) => (true, r),
        None => (false, value),
    };
    let mut mask = 0u64;
    for w in rest.split_whitespace() {
        mask |= 1u64 << capability::parse(w)?;
    }
    Some((invert, mask))
}

fn output(value: &str) -> Option<Output> {
    Some(match value {
        "journal" | "syslog" | "kmsg" | "journal+console" | "syslog+console" | "kmsg+console" => {
            Output::Log
        }
        "null" => Output::Null,
        "inherit" => Output::Inherit,
        "socket" => Output::Socket,
        v if v.starts_with("fd:") => Output::Fd(v.trim_start_matches("fd:").to_string()),
        "fd" => Output::Fd("stdout".into()),
        "tty" => Output::Tty,
        v => {
            if let Some(p) = v.strip_prefix("file:") {
                Output::File(p.to_string())
            } else if let Some(p) = v.strip_prefix("append:") {
                Output::Append(p.to_string())
            } else if let Some(p) = v.strip_prefix("truncate:") {
                Output::Truncate(p.to_string())
            } else {
                return None;
            }
        }
    })
}

fn sched_policy(v: &str) -> Option<i32> {
    Some(match v {
        "other" => libc::SCHED_OTHER,
        "batch" => libc::SCHED_BATCH,
        "idle" => libc::SCHED_IDLE,
        "fifo" => libc::SCHED_FIFO,
        "rr" => libc::SCHED_RR,
        _ => return None,
    })
}

fn io_class(v: &str) -> Option<u32> {
    Some(match v {
        "none" | "0" => 0,
        "realtime" | "1" => 1,
        "best-effort" | "2" => 2,
        "idle" | "3" => 3,
        _ => return None,
    })
}

fn cpu_list(v: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b >= 1024 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                let c: usize = part.parse().ok()?;
                if c >= 1024 {
                    return None;
                }
                out.push(c);
            }
        }
    }
    Some(out)
}

fn personality(v: &str) -> Option<u64> {
    Some(match v {
        "x86-64" | "arm64" | "native" => 0, // PER_LINUX
        "x86" | "arm" => 0x0008_0000,       // PER_LINUX32
        _ => return None,
    })
}

/// Applies one exec key. `Ok(true)` when the key was this module's; `Err` for a bad value
/// (the caller warns with file:line and ignores it).
pub fn apply(c: &mut ExecContext, key: &str, value: &str) -> Result<bool, String> {
    let bad = || format!("{key}: invalid value {value:?}");
    match key {
        "SupplementaryGroups" => {
            if value.is_empty() {
                c.supplementary_groups.clear();
            } else {
                c.supplementary_groups
                    .extend(value.split_whitespace().map(str::to_string));
            }
        }
        "PassEnvironment" => {
            if value.is_empty() {
                c.pass_environment.clear();
            } else {
                c.pass_environment
                    .extend(value.split_whitespace().map(str::to_string));
            }
        }
        "UnsetEnvironment" => {
            if value.is_empty() {
                c.unset_environment.clear();
            } else {
                c.unset_environment
                    .extend(value.split_whitespace().map(str::to_string));
            }
        }
        "RootDirectory" => c.root_directory = (!value.is_empty()).then(|| value.to_string()),
        "UMask" => {
            c.umask = u32::from_str_radix(value, 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(bad)?
        }
        "Nice" => {
            c.nice = Some(
                value
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (-20..=19).contains(n))
                    .ok_or_else(bad)?,
            )
        }
        "CPUSchedulingPolicy" => c.cpu_sched_policy = Some(sched_policy(value).ok_or_else(bad)?),
        "CPUSchedulingPriority" => {
            c.cpu_sched_priority = Some(
                value
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (0..=99).contains(n))
                    .ok_or_else(bad)?,
            )
        }
        "CPUSchedulingResetOnFork" => {
            c.cpu_sched_reset_on_fork = parse_bool(value).ok_or_else(bad)?
        }
        "IOSchedulingClass" => c.io_class = Some(io_class(value).ok_or_else(bad)?),
        "IOSchedulingPriority" => {
            c.io_priority = Some(
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 7)
                    .ok_or_else(bad)?,
            )
        }
        "CPUAffinity" => {
            if value.is_empty() {
                c.cpu_affinity.clear();
            } else {
                c.cpu_affinity.extend(cpu_list(value).ok_or_else(bad)?);
            }
        }
        "CapabilityBoundingSet" => {
            if value.is_empty() {
                c.capability_bounding_set = None;
            } else {
                let (invert, mask) = parse_caps(value).ok_or_else(bad)?;
                let all = (1u64 << capability::NAMES.len()) - 1;
                let current = c
                    .capability_bounding_set
                    .unwrap_or(if invert { all } else { 0 });
                c.capability_bounding_set = Some(if invert {
                    current & !mask
                } else {
                    current | mask
                });
            }
        }
        "AmbientCapabilities" => {
            if value.is_empty() {
                c.ambient_capabilities = 0;
            } else {
                let (invert, mask) = parse_caps(value).ok_or_else(bad)?;
                c.ambient_capabilities = if invert {
                    c.ambient_capabilities & !mask
                } else {
                    c.ambient_capabilities | mask
                };
            }
        }
        "NoNewPrivileges" => c.no_new_privileges = parse_bool(value).ok_or_else(bad)?,
        "SecureBits" => {
            let mut bits = 0;
            for w in value.split_whitespace() {
                bits |= match w {
                    "keep-caps" => 1 << 4,
                    "keep-caps-locked" => 1 << 5,
                    "no-setuid-fixup" => 1 << 2,
                    "no-setuid-fixup-locked" => 1 << 3,
                    "noroot" => 1 << 0,
                    "noroot-locked" => 1 << 1,
                    _ => return Err(bad()),
                };
            }
            c.secure_bits = bits;
        }
        "OOMScoreAdjust" => {
            c.oom_score_adjust = Some(
                value
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (-1000..=1000).contains(n))
                    .ok_or_else(bad)?,
            )
        }
        "TimerSlackNSec" => c.timer_slack_nsec = Some(value.parse::<u64>().map_err(|_| bad())?),
        "Personality" => c.personality = Some(personality(value).ok_or_else(bad)?),
        "IgnoreSIGPIPE" => c.ignore_sigpipe = parse_bool(value).ok_or_else(bad)?,
        "StandardInput" => {
            c.standard_input = match value {
                "null" => Input::Null,
                "tty" | "tty-force" | "tty-fail" => {
                    c.tty_force = value == "tty-force";
                    Input::Tty
                }
                "socket" => Input::Socket,
                // systemd's default name is "stdin" for a bare `fd`.
                "fd" => Input::Fd("stdin".into()),
                v if v.len() > 3 && v.starts_with("fd:") => {
                    Input::Fd(v.trim_start_matches("fd:").to_string())
                }
                v => match v.strip_prefix("file:") {
                    Some(p) => Input::File(p.to_string()),
                    None => {
                        return Err(format!(
                        "{key}: {value:?} is not supported (null, tty, socket, fd:NAME, file:PATH)"
                    ))
                    }
                },
            }
        }
        "StandardOutput" => {
            c.standard_output = output(value).ok_or_else(bad)?;
            c.standard_output_set = true;
        }
        "StandardError" => c.standard_error = output(value).ok_or_else(bad)?,
        "TTYPath" => c.tty_path = value.to_string(),
        "TTYReset" => c.tty_reset = parse_bool(value).ok_or_else(bad)?,
        "TTYVHangup" => c.tty_vhangup = parse_bool(value).ok_or_else(bad)?,
        "TTYVTDisallocate" => c.tty_vt_disallocate = parse_bool(value).ok_or_else(bad)?,
        "ReadOnlyPaths" => path_list(&mut c.read_only_paths, value),
        "ReadWritePaths" => path_list(&mut c.read_write_paths, value),
        "InaccessiblePaths" => path_list(&mut c.inaccessible_paths, value),
        "TemporaryFileSystem" => path_list(&mut c.temporary_file_system, value),
        "BindPaths" | "BindReadOnlyPaths" => {
            if value.is_empty() {
                c.bind_paths
                    .retain(|(_, _, ro)| *ro != (key == "BindReadOnlyPaths"));
            }
            for w in value.split_whitespace() {
                let w = w.trim_start_matches('-');
                let mut parts = w.split(':');
                let src = parts.next().unwrap_or_default().to_string();
                let dst = parts
                    .next()
                    .map(str::to_string)
                    .unwrap_or_else(|| src.clone());
                if !src.starts_with('/') || !dst.starts_with('/') {
                    return Err(bad());
                }
                c.bind_paths.push((src, dst, key == "BindReadOnlyPaths"));
            }
        }
        "ProtectSystem" => {
            c.protect_system = match value {
                "full" => ProtectSystem::Full,
                "strict" => ProtectSystem::Strict,
                v => match parse_bool(v).ok_or_else(bad)? {
                    true => ProtectSystem::Yes,
                    false => ProtectSystem::No,
                },
            }
        }
        "ProtectHome" => {
            c.protect_home = match value {
                "read-only" => ProtectHome::ReadOnly,
                "tmpfs" => ProtectHome::Tmpfs,
                v => match parse_bool(v).ok_or_else(bad)? {
                    true => ProtectHome::Yes,
                    false => ProtectHome::No,
                },
            }
        }
        "PrivateTmp" => c.private_tmp = parse_bool(value).ok_or_else(bad)?,
        "PrivateDevices" => c.private_devices = parse_bool(value).ok_or_else(bad)?,
        "RuntimeDirectory" | "StateDirectory" | "CacheDirectory" | "LogsDirectory" => {
            let kind = match key {
                "RuntimeDirectory" => DirKind::Runtime,
                "StateDirectory" => DirKind::State,
                "CacheDirectory" => DirKind::Cache,
                _ => DirKind::Logs,
            };
            if value.is_empty() {
                c.directories.retain(|(k, _)| *k != kind);
            }
            for w in value.split_whitespace() {
                if w.starts_with('/') || w.split('/').any(|p| p == ".." || p.is_empty()) {
                    return Err(bad());
                }
                c.directories.push((kind, w.to_string()));
            }
        }
        "RuntimeDirectoryMode"
        | "StateDirectoryMode"
        | "CacheDirectoryMode"
        | "LogsDirectoryMode" => {
            let i = match key {
                "RuntimeDirectoryMode" => 0,
                "StateDirectoryMode" => 1,
                "CacheDirectoryMode" => 2,
                _ => 3,
            };
            c.directory_modes[i] = u32::from_str_radix(value, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(bad)?;
        }
        "SyslogIdentifier" => c.syslog_identifier = (!value.is_empty()).then(|| value.to_string()),
        "SyslogFacility" => {
            const F: [&str; 24] = [
                "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
                "authpriv", "ftp", "", "", "", "", "local0", "local1", "local2", "local3",
                "local4", "local5", "local6", "local7",
            ];
            c.syslog_facility = F
                .iter()
                .position(|f| !f.is_empty() && *f == value)
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(bad)?;
        }
        "SyslogLevel" => {
            c.syslog_level = PRIORITIES
                .iter()
                .position(|l| *l == value)
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(bad)?;
        }
        k if k.starts_with("Limit") => {
            let Some((_, res)) = LIMITS.iter().find(|(n, _)| *n == k) else {
                return Ok(false);
            };
            let v = parse_limit(k, value).ok_or_else(bad)?;
            if v.0 > v.1 {
                return Err(format!(
                    "{key}: soft limit {} above hard limit {}",
                    v.0, v.1
                ));
            }
            c.limits.insert(*res, v);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> ExecContext {
        let mut c = ExecContext::default();
        for (k, v) in pairs {
            assert_eq!(apply(&mut c, k, v), Ok(true), "{k}={v}");
        }
        c
    }

    #[test]
    fn terminal_settings() {
        let c = ctx(&[
            ("TTYPath", "/dev/tty3"),
            ("TTYReset", "yes"),
            ("TTYVHangup", "true"),
            ("TTYVTDisallocate", "1"),
        ]);
        assert_eq!(c.tty_path, "/dev/tty3");
        assert!(c.tty_reset && c.tty_vhangup && c.tty_vt_disallocate);
        let d = ExecContext::default();
        assert!(!d.tty_reset && !d.tty_vhangup && !d.tty_vt_disallocate);
        assert!(apply(&mut ExecContext::default(), "TTYReset", "maybe").is_err());
    }

    #[test]
    fn limits_caps_and_scheduling() {
        let c = ctx(&[
            ("LimitNOFILE", "4096:8192"),
            ("LimitCORE", "infinity"),
            ("LimitSTACK", "8M"),
            ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE CAP_KILL"),
            ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
            ("CPUSchedulingPolicy", "batch"),
            ("IOSchedulingClass", "idle"),
            ("CPUAffinity", "0 2-3"),
            ("UMask", "0077"),
            ("Nice", "5"),
        ]);
        assert_eq!(c.limits[&(libc::RLIMIT_NOFILE)], (4096, 8192));
        assert_eq!(c.limits[&(libc::RLIMIT_CORE)], (u64::MAX, u64::MAX));
        assert_eq!(c.limits[&(libc::RLIMIT_STACK)], (8 << 20, 8 << 20));
        assert_eq!(c.capability_bounding_set, Some((1 << 10) | (1 << 5)));
        assert_eq!(c.ambient_capabilities, 1 << 10);
        assert_eq!(c.cpu_sched_policy, Some(libc::SCHED_BATCH));
        assert_eq!(c.io_class, Some(3));
        assert_eq!(c.cpu_affinity, vec![0, 2, 3]);
        assert_eq!(c.umask, 0o077);
        assert_eq!(c.nice, Some(5));
    }

    #[test]
    fn inverted_capability_sets_and_resets() {
        let c = ctx(&[("CapabilityBoundingSet", "~CAP_SYS_ADMIN")]);
        let all = (1u64 << capability::NAMES.len()) - 1;
        assert_eq!(c.capability_bounding_set, Some(all & !(1 << 21)));
        let c = ctx(&[
            ("CapabilityBoundingSet", "CAP_KILL"),
            ("CapabilityBoundingSet", ""),
        ]);
        assert_eq!(c.capability_bounding_set, None);
    }

    #[test]
    fn streams() {
        let c = ctx(&[
            ("StandardOutput", "append:/var/log/x"),
            ("StandardError", "null"),
        ]);
        assert_eq!(c.standard_output, Output::Append("/var/log/x".into()));
        assert_eq!(c.standard_error, Output::Null);
        let d = ExecContext::default();
        assert_eq!(d.standard_output, Output::Log);
        assert!(d.ignore_sigpipe, "systemd's default");
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        let mut c = ExecContext::default();
        for (k, v) in [
            ("Nice", "40"),
            ("UMask", "999"),
            ("LimitNOFILE", "10:5"),
            ("CapabilityBoundingSet", "CAP_FLY"),
            ("CPUSchedulingPolicy", "fast"),
            ("StandardOutput", "printer"),
        ] {
            let e = apply(&mut c, k, v).unwrap_err();
            assert!(e.starts_with(k), "{e}");
        }
        assert_eq!(apply(&mut c, "LimitBOGUS", "1"), Ok(false));
    }
}

//! What ended a service, and whether `Restart=` restarts it (systemd.service(5)'s table).

use std::time::Duration;

/// How a process ended, as waitpid(2) said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal { signal: i32, core_dumped: bool },
}

impl ExitStatus {
    pub fn describe(&self) -> String {
        match self {
            ExitStatus::Code(c) => format!("status={c}"),
            ExitStatus::Signal {
                signal,
                core_dumped,
            } => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map(|s| s.as_str().trim_start_matches("SIG").to_string())
                    .unwrap_or_else(|_| signal.to_string());
                if *core_dumped {
                    format!("signal={name} (core dumped)")
                } else {
                    format!("signal={name}")
                }
            }
        }
    }
}

/// Why a service is in the state it is in (systemd's ServiceResult).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceResult {
    #[default]
    Success,
    /// An Exec* process failed to start (exec failed, bad user…): errno.
    Resources,
    Timeout,
    ExitCode,
    Signal,
    CoreDump,
    /// Main process never said READY or disappeared before it.
    Protocol,
    /// WatchdogSec= passed without a WATCHDOG=1 (or WATCHDOG=trigger).
    Watchdog,
    StartLimitHit,
    /// A socket's: the service it triggers hit its own start limit (systemd's
    /// `SOCKET_FAILURE_SERVICE_START_LIMIT_HIT`).
    ServiceStartLimitHit,
    /// The kernel's OOM killer killed a process of the unit (its MemoryMax=, or the machine's).
    OomKill,
}

impl ServiceResult {
    /// Every result, in declaration order.
    pub const ALL: [ServiceResult; 11] = [
        ServiceResult::Success,
        ServiceResult::Resources,
        ServiceResult::Timeout,
        ServiceResult::ExitCode,
        ServiceResult::Signal,
        ServiceResult::CoreDump,
        ServiceResult::Protocol,
        ServiceResult::Watchdog,
        ServiceResult::StartLimitHit,
        ServiceResult::ServiceStartLimitHit,
        ServiceResult::OomKill,
    ];

    /// Inverse of [`ServiceResult::as_str`].
    pub fn parse(s: &str) -> Option<ServiceResult> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceResult::Success => "success",
            ServiceResult::Resources => "resources",
            ServiceResult::Timeout => "timeout",
            ServiceResult::ExitCode => "exit-code",
            ServiceResult::Signal => "signal",
            ServiceResult::CoreDump => "core-dump",
            ServiceResult::Protocol => "protocol",
            ServiceResult::Watchdog => "watchdog",
            ServiceResult::StartLimitHit => "start-limit-hit",
            ServiceResult::ServiceStartLimitHit => "service-start-limit-hit",
            ServiceResult::OomKill => "oom-kill",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum RestartPolicy {
    #[default]
    No,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnWatchdog,
    OnAbort,
    Always,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Option<RestartPolicy> {
        Some(match s {
            "no" => RestartPolicy::No,
            "on-success" => RestartPolicy::OnSuccess,
            "on-failure" => RestartPolicy::OnFailure,
            "on-abnormal" => RestartPolicy::OnAbnormal,
            "on-watchdog" => RestartPolicy::OnWatchdog,
            "on-abort" => RestartPolicy::OnAbort,
            "always" => RestartPolicy::Always,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnSuccess => "on-success",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::OnAbnormal => "on-abnormal",
            RestartPolicy::OnWatchdog => "on-watchdog",
            RestartPolicy::OnAbort => "on-abort",
            RestartPolicy::Always => "always",
        }
    }
}

/// systemd.service(5):
///
/// | Restart=                  | always | on-success | on-failure | on-abnormal | on-abort |
/// |---------------------------|--------|------------|------------|-------------|----------|
/// | clean exit code or signal |   X    |     X      |            |             |          |
/// | unclean exit code         |   X    |            |     X      |             |          |
/// | unclean signal            |   X    |            |     X      |      X      |    X     |
/// | timeout                   |   X    |            |     X      |      X      |          |
/// | watchdog                  |   X    |            |     X      |      X      |          | (and on-watchdog)
///
/// (Watchdog comes with issue 4.) A clean signal is SIGHUP, SIGINT, SIGTERM or SIGPIPE; a
/// clean exit code is 0 or one listed in SuccessExitStatus (the caller folds that into
/// `result`).
pub fn should_restart(policy: RestartPolicy, result: ServiceResult) -> bool {
    use RestartPolicy as P;
    use ServiceResult as R;
    match (policy, result) {
        (P::No, _) => false,
        (P::Always, R::StartLimitHit) => false,
        (P::Always, _) => true,
        (P::OnSuccess, R::Success) => true,
        (P::OnSuccess, _) => false,
        (P::OnFailure, R::Success | R::StartLimitHit) => false,
        (P::OnFailure, _) => true,
        (P::OnAbnormal, R::Signal | R::CoreDump | R::Timeout | R::Protocol | R::Watchdog) => true,
        (P::OnAbnormal, _) => false,
        (P::OnAbort, R::Signal | R::CoreDump) => true,
        (P::OnAbort, _) => false,
        (P::OnWatchdog, R::Watchdog) => true,
        (P::OnWatchdog, _) => false,
    }
}

/// Folds an exit into a result: clean exits and clean signals are Success.
pub fn result_of(
    status: ExitStatus,
    success_codes: &[i32],
    success_signals: &[i32],
) -> ServiceResult {
    match status {
        ExitStatus::Code(0) => ServiceResult::Success,
        ExitStatus::Code(c) if success_codes.contains(&c) => ServiceResult::Success,
        ExitStatus::Code(_) => ServiceResult::ExitCode,
        ExitStatus::Signal { signal, .. }
            if [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE].contains(&signal)
                || success_signals.contains(&signal) =>
        {
            ServiceResult::Success
        }
        ExitStatus::Signal {
            core_dumped: true, ..
        } => ServiceResult::CoreDump,
        ExitStatus::Signal { .. } => ServiceResult::Signal,
    }
}

/// The delay before restart number `n` (0 for the first): RestartSec= growing exponentially
/// to RestartMaxDelaySec= over RestartSteps= restarts (systemd 254's RestartSteps=). Without
/// steps or a maximum, RestartSec= every time.
pub fn restart_delay(base: Duration, steps: u32, max: Option<Duration>, n: u32) -> Duration {
    let Some(max) = max else { return base };
    if steps == 0 || max <= base {
        return base;
    }
    if n >= steps {
        return max;
    }
    let b = base.as_secs_f64().max(1e-6);
    let ratio = max.as_secs_f64() / b;
    Duration::from_secs_f64(b * ratio.powf(f64::from(n) / f64::from(steps)))
}

/// systemd's defaults.
pub const DEFAULT_RESTART_SEC: Duration = Duration::from_millis(100);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

#[cfg(test)]
mod tests {
    use super::*;
    use RestartPolicy as P;
    use ServiceResult as R;

    #[test]
    fn the_restart_table() {
        let rows = [
            (R::Success, [true, true, false, false, false]),
            (R::ExitCode, [true, false, true, false, false]),
            (R::Signal, [true, false, true, true, true]),
            (R::CoreDump, [true, false, true, true, true]),
            (R::Timeout, [true, false, true, true, false]),
        ];
        let cols = [
            P::Always,
            P::OnSuccess,
            P::OnFailure,
            P::OnAbnormal,
            P::OnAbort,
        ];
        for (result, want) in rows {
            for (p, w) in cols.iter().zip(want) {
                assert_eq!(should_restart(*p, result), w, "{p:?} {result:?}");
            }
            assert!(!should_restart(P::No, result));
        }
    }

    #[test]
    fn restart_delay_grows_to_the_maximum_in_steps() {
        let base = Duration::from_millis(100);
        let max = Some(Duration::from_secs(10));
        let d: Vec<u128> = (0..6)
            .map(|n| restart_delay(base, 4, max, n).as_millis())
            .collect();
        // 100 ms × 100^(n/4): 100, 316, 1000, 3162, then the maximum.
        assert_eq!(d, vec![100, 316, 1000, 3162, 10000, 10000]);
        assert_eq!(restart_delay(base, 0, max, 3), base);
        assert_eq!(restart_delay(base, 4, None, 3), base);
    }

    #[test]
    fn clean_signals_and_success_codes() {
        let sig = |s| ExitStatus::Signal {
            signal: s,
            core_dumped: false,
        };
        assert_eq!(result_of(sig(libc::SIGTERM), &[], &[]), R::Success);
        assert_eq!(result_of(sig(libc::SIGKILL), &[], &[]), R::Signal);
        assert_eq!(result_of(ExitStatus::Code(3), &[3], &[]), R::Success);
        assert_eq!(result_of(ExitStatus::Code(3), &[], &[]), R::ExitCode);
        assert_eq!(
            result_of(
                ExitStatus::Signal {
                    signal: libc::SIGSEGV,
                    core_dumped: true
                },
                &[],
                &[]
            ),
            R::CoreDump
        );
    }
}

//! Job types, modes and results, and the algebra systemd's job engine is built on
//! (`src/core/job.c`: `job_type_lookup_merge()`, `job_type_is_superset()`,
//! `job_type_is_conflicting()`, `job_type_collapse()`, `job_type_is_redundant()`,
//! `job_compare()`).

use std::cmp::Ordering;
use std::fmt;

use crate::job::graph::ActiveState;

/// What a job does to its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobType {
    /// Start the unit (a no-op if it is already active).
    Start,
    /// Succeed if the unit is active, fail otherwise (pulled in by `Requisite=`).
    VerifyActive,
    /// Stop the unit.
    Stop,
    /// Reload the unit's configuration; fails if the unit is not active.
    Reload,
    /// Stop the unit if it runs, then start it.
    Restart,
    /// Restart if active, otherwise do nothing. Never enters a transaction: collapsed first.
    TryRestart,
    /// Reload if active, otherwise do nothing. Never enters a transaction: collapsed first.
    TryReload,
    /// Reload if active, otherwise start. Never enters a transaction: collapsed first.
    ReloadOrStart,
    /// Do nothing (what `TryRestart`/`TryReload` collapse to on an inactive unit).
    Nop,
}

impl JobType {
    /// Every job type, in declaration order.
    pub const ALL: [JobType; 9] = [
        JobType::Start,
        JobType::VerifyActive,
        JobType::Stop,
        JobType::Reload,
        JobType::Restart,
        JobType::TryRestart,
        JobType::TryReload,
        JobType::ReloadOrStart,
        JobType::Nop,
    ];

    /// The name systemd uses (`job_type_to_string()`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Start => "start",
            JobType::VerifyActive => "verify-active",
            JobType::Stop => "stop",
            JobType::Reload => "reload",
            JobType::Restart => "restart",
            JobType::TryRestart => "try-restart",
            JobType::TryReload => "try-reload",
            JobType::ReloadOrStart => "reload-or-start",
            JobType::Nop => "nop",
        }
    }

    /// Inverse of [`JobType::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the type lies in systemd's merging domain (`t < _JOB_TYPE_MAX_MERGING`): the
    /// types that can meet another job on the same unit inside a transaction. `Nop` is
    /// outside it because systemd keeps it in a separate per-unit slot; the three
    /// state-dependent types are outside it because they are collapsed before they enter a
    /// transaction.
    pub fn is_mergeable(self) -> bool {
        matches!(
            self,
            JobType::Start
                | JobType::VerifyActive
                | JobType::Stop
                | JobType::Reload
                | JobType::Restart
        )
    }

    /// Whether the type's meaning depends on the unit's state (it is changed by [`collapse`]).
    pub fn is_state_dependent(self) -> bool {
        matches!(
            self,
            JobType::TryRestart | JobType::TryReload | JobType::ReloadOrStart
        )
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a new transaction treats jobs that are already queued (`systemctl --job-mode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobMode {
    /// Replace conflicting queued jobs (the default).
    Replace,
    /// Refuse if the transaction conflicts with queued jobs.
    Fail,
    /// Start the unit and stop every other unit (only for `start`, needs `AllowIsolate=`).
    Isolate,
    /// Add no dependency jobs and ignore ordering for this job.
    IgnoreDependencies,
    /// Add no dependency jobs, but honour ordering.
    IgnoreRequirements,
    /// Cancel every queued job that is not part of the transaction.
    Flush,
    /// Like `Replace`, and the new jobs may not be replaced later.
    ReplaceIrreversibly,
}

impl JobMode {
    /// Every mode, in declaration order.
    pub const ALL: [JobMode; 7] = [
        JobMode::Replace,
        JobMode::Fail,
        JobMode::Isolate,
        JobMode::IgnoreDependencies,
        JobMode::IgnoreRequirements,
        JobMode::Flush,
        JobMode::ReplaceIrreversibly,
    ];

    /// Parses the names `systemctl --job-mode=` accepts.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The name systemd uses (`job_mode_to_string()`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobMode::Replace => "replace",
            JobMode::Fail => "fail",
            JobMode::Isolate => "isolate",
            JobMode::IgnoreDependencies => "ignore-dependencies",
            JobMode::IgnoreRequirements => "ignore-requirements",
            JobMode::Flush => "flush",
            JobMode::ReplaceIrreversibly => "replace-irreversibly",
        }
    }
}

impl fmt::Display for JobMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobResult {
    /// Completed successfully (or skipped because of an unmet condition).
    Done,
    /// Canceled by a conflicting job or an explicit cancel request.
    Canceled,
    /// The job timeout elapsed.
    Timeout,
    /// The job failed.
    Failed,
    /// A required dependency job did not end with `Done`.
    Dependency,
    /// Negative result of `VerifyActive`.
    Skipped,
    /// `Reload` of an inactive unit.
    Invalid,
    /// An assertion did not hold.
    Assert,
    /// The unit type is not supported on this system.
    Unsupported,
}

impl JobResult {
    /// Every result, in declaration order.
    pub const ALL: [JobResult; 9] = [
        JobResult::Done,
        JobResult::Canceled,
        JobResult::Timeout,
        JobResult::Failed,
        JobResult::Dependency,
        JobResult::Skipped,
        JobResult::Invalid,
        JobResult::Assert,
        JobResult::Unsupported,
    ];

    /// The name systemd uses (`job_result_to_string()`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobResult::Done => "done",
            JobResult::Canceled => "canceled",
            JobResult::Timeout => "timeout",
            JobResult::Failed => "failed",
            JobResult::Dependency => "dependency",
            JobResult::Skipped => "skipped",
            JobResult::Invalid => "invalid",
            JobResult::Assert => "assert",
            JobResult::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for JobResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Short names so that the table below stays one readable grid.
const STA: Option<JobType> = Some(JobType::Start);
const VER: Option<JobType> = Some(JobType::VerifyActive);
const STO: Option<JobType> = Some(JobType::Stop);
const REL: Option<JobType> = Some(JobType::Reload);
const RES: Option<JobType> = Some(JobType::Restart);
const TRS: Option<JobType> = Some(JobType::TryRestart);
const TRL: Option<JobType> = Some(JobType::TryReload);
const ROS: Option<JobType> = Some(JobType::ReloadOrStart);
const NOP: Option<JobType> = Some(JobType::Nop);
const NIL: Option<JobType> = None;

/// The merge of two jobs on one unit; `NIL` means the two conflict.
///
/// Laws (all checked exhaustively by `tests/types.rs`):
///
/// 1. The top-left 5x5 block (Start..Restart) is systemd's `job_merging_table[]`, which stores
///    only the lower triangle of this same matrix.
/// 2. Symmetric: `merge(a, b) == merge(b, a)`.
/// 3. Idempotent: the diagonal is `merge(a, a) == a`.
/// 4. `Nop` is the identity: `merge(Nop, a) == a`. systemd never merges `Nop` (it lives in a
///    separate slot) but defines `is_superset(a, Nop)` and `!is_conflicting(a, Nop)`, which
///    is exactly what an identity element gives.
/// 5. `Stop` merges with nothing but itself (and `Nop`).
/// 6. The rows of the state-dependent types (TryRestart, TryReload, ReloadOrStart) are
///    derived "pointwise": `merge(a, b)` is the type `r` such that, for *both* unit states,
///    `collapse(r) == collapse(merge(collapse(a), collapse(b)))`; it is `NIL` where the merge
///    is undefined in either state or no single type has that behaviour (e.g.
///    TryRestart+Start would be "restart if active, start otherwise", which no type is).
/// 7. After collapsing, for a fixed unit state, merging is associative (whenever both sides
///    are defined), and mergeability is transitive on the collapsed types other than `Nop`
///    (i.e. on systemd's merging domain); if `merge(a, b)` cannot merge with `c` then `a` or
///    `b` cannot either. systemd relies on the last property when it resolves conflicts.
#[rustfmt::skip]
const MERGE: [[Option<JobType>; 9]; 9] = [
    //                   Start VerAct Stop Reload Restart TryRst TryRld RldOrSt Nop
    /* Start         */ [STA,  STA,   NIL, ROS,   RES,    NIL,   ROS,   ROS,    STA],
    /* VerifyActive  */ [STA,  VER,   NIL, REL,   RES,    NIL,   NIL,   ROS,    VER],
    /* Stop          */ [NIL,  NIL,   STO, NIL,   NIL,    NIL,   NIL,   NIL,    STO],
    /* Reload        */ [ROS,  REL,   NIL, REL,   RES,    NIL,   REL,   ROS,    REL],
    /* Restart       */ [RES,  RES,   NIL, RES,   RES,    RES,   RES,   RES,    RES],
    /* TryRestart    */ [NIL,  NIL,   NIL, NIL,   RES,    TRS,   TRS,   NIL,    TRS],
    /* TryReload     */ [ROS,  NIL,   NIL, REL,   RES,    TRS,   TRL,   ROS,    TRL],
    /* ReloadOrStart */ [ROS,  ROS,   NIL, ROS,   RES,    NIL,   ROS,   ROS,    ROS],
    /* Nop           */ [STA,  VER,   STO, REL,   RES,    TRS,   TRL,   ROS,    NOP],
];

/// The merge of two jobs for one unit (systemd's `job_type_lookup_merge()`, extended to all
/// nine types as described on the table); `None` if they conflict.
pub fn merge(a: JobType, b: JobType) -> Option<JobType> {
    MERGE
        .get(a as usize)
        .and_then(|row| row.get(b as usize))
        .copied()
        .flatten()
}

/// Whether `a` and `b` can be merged into one job.
pub fn mergeable(a: JobType, b: JobType) -> bool {
    merge(a, b).is_some()
}

/// Whether doing `a` also does everything `b` does (`job_type_is_superset()`).
pub fn is_superset(a: JobType, b: JobType) -> bool {
    // Spelled out like systemd's version so that the test comparing it with the table is a
    // real check rather than a tautology.
    if b == JobType::Nop {
        return true;
    }
    if a == JobType::Nop {
        return false;
    }
    merge(a, b) == Some(a)
}

/// Whether `a` and `b` cannot both exist for one unit (`job_type_is_conflicting()`).
pub fn is_conflicting(a: JobType, b: JobType) -> bool {
    a != JobType::Nop && b != JobType::Nop && !mergeable(a, b)
}

/// Resolves a state-dependent type against the unit's state (`job_type_collapse()`);
/// `unit_active` is systemd's `UNIT_IS_ACTIVE_OR_RELOADING()`.
pub fn collapse(t: JobType, unit_active: bool) -> JobType {
    match (t, unit_active) {
        (JobType::TryRestart, true) => JobType::Restart,
        (JobType::TryRestart, false) => JobType::Nop,
        (JobType::TryReload, true) => JobType::Reload,
        (JobType::TryReload, false) => JobType::Nop,
        (JobType::ReloadOrStart, true) => JobType::Reload,
        (JobType::ReloadOrStart, false) => JobType::Start,
        (t, _) => t,
    }
}

/// Merges and immediately collapses (`job_type_merge_and_collapse()`); the collapse removes
/// the `ReloadOrStart` that Start+Reload produce.
pub fn merge_and_collapse(a: JobType, b: JobType, unit_active: bool) -> Option<JobType> {
    merge(a, b).map(|t| collapse(t, unit_active))
}

/// Whether a job of type `t` would not change a unit in `state` (`job_type_is_redundant()`).
pub fn is_redundant(t: JobType, state: ActiveState) -> bool {
    match collapse(t, state.is_active_or_reloading()) {
        JobType::Start | JobType::VerifyActive => state.is_active_or_reloading(),
        JobType::Stop => state.is_inactive_or_failed(),
        JobType::Reload => state == ActiveState::Reloading,
        JobType::Restart => state == ActiveState::Activating,
        // collapse() never returns these three; a Nop never changes anything.
        JobType::TryRestart | JobType::TryReload | JobType::ReloadOrStart | JobType::Nop => true,
    }
}

/// The execution order of job `a` (on unit A) relative to job `b` (on unit B), given an
/// ordering dependency between the units: `a_after_b` is true for `A After=B` and false for
/// `A Before=B` (systemd's `job_compare()` with `UNIT_ATOM_AFTER` / `UNIT_ATOM_BEFORE`).
///
/// `Less` means `a` runs first, `Greater` means `a` waits for `b`, `Equal` means the jobs are
/// independent (either is a `Nop`). The unit ordering holds for "positive" jobs and inverts
/// when the later-ordered side is stopping: a stop always goes first, and `Restart` counts as a
/// stop because it begins by stopping. For `B After=A`, systemd documents:
///
/// | jobs              | order                      |
/// |-------------------|----------------------------|
/// | start A + start B | start A, then start B      |
/// | start A + stop B  | stop B, then start A       |
/// | stop A + start B  | stop A, then start B       |
/// | stop A + stop B   | stop B, then stop A        |
///
/// The result is antisymmetric: `job_order(a, b, x) == job_order(b, a, !x).reverse()`.
pub fn job_order(a: JobType, b: JobType, a_after_b: bool) -> Ordering {
    if a == JobType::Nop || b == JobType::Nop {
        return Ordering::Equal;
    }
    let stops = |t: JobType| matches!(t, JobType::Stop | JobType::Restart);
    if a_after_b {
        // job_compare(a, b, AFTER) == -job_compare(b, a, BEFORE): B is before A, so B's job
        // waits for A's exactly when A's job is a stop.
        if stops(a) {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    } else if stops(b) {
        // A is before B, but B is stopping: the stop goes first.
        Ordering::Greater
    } else {
        Ordering::Less
    }
}

/// Whether job `a` has to wait for job `b` (see [`job_order`]). The runtime rule is: a job
/// may run once no job it [`runs_after`] is still queued or running, over every unit listed in
/// its unit's `After=` (`a_after_b = true`) and `Before=` (`a_after_b = false`), unless the job
/// ignores ordering (mode `ignore-dependencies`).
pub fn runs_after(a: JobType, b: JobType, a_after_b: bool) -> bool {
    job_order(a, b, a_after_b) == Ordering::Greater
}

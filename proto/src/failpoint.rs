//! Fail points (issue 9): named risky places where a fault is injected on purpose, to test
//! that a component failing there loses nothing. Built into debug builds (the tests) and into
//! release builds only with the `fault-injection` feature; elsewhere [`hit`] is empty.
//!
//! Set at start from `CAIRN_FAILPOINTS` (`activator::after_accept=abort;supervisor::before_spawn=
//! sleep(200)`; the environment passes from cairn-init to every process), or at run time with
//! `cairnctl component failpoint NAME POINT ACTION` (root only). Actions are the `fail` crate's
//! (`off`, `panic`, `sleep(MS)`, `delay(MS)`, `print(TEXT)`, `pause`, `yield`, a count prefix
//! such as `1*abort`) plus cairn's `abort` (the process dies at once, as from SIGKILL) and
//! `exit` (exit 1).

/// Every fail point: (name, where it is).
pub const POINTS: &[(&str, &str)] = &[
    (
        "supervisor::before_spawn",
        "a service process is about to be cloned",
    ),
    (
        "supervisor::after_spawn",
        "a service process was cloned, not yet recorded",
    ),
    (
        "supervisor::mid_serialization",
        "the state is serialized, not yet stored with pid1",
    ),
    (
        "activator::between_bind_and_handover",
        "sockets are bound, not yet handed over",
    ),
    (
        "activator::after_accept",
        "an Accept=yes connection is accepted, not yet reported",
    ),
    (
        "mounter::before_autofs_ready",
        "an automount is mounted, the waiter not yet told",
    ),
    (
        "devmon::mid_coldplug",
        "devices were walked in /sys, not yet reported",
    ),
    (
        "bus::rpc_send",
        "bytes are about to be written on a bus connection",
    ),
];

/// The points a process passes only while it starts: setting one on a running process arms
/// it for the next instance (the supervisor passes it in CAIRN_FAILPOINTS, once).
pub const AT_START: &[&str] = &["devmon::mid_coldplug"];

/// Whether this build has fail points.
pub const ENABLED: bool = cfg!(any(debug_assertions, feature = "fault-injection"));

/// Passes fail point `name`: does what it is set to do, if anything.
#[inline]
pub fn hit(name: &str) {
    #[cfg(any(debug_assertions, feature = "fault-injection"))]
    fail::fail_point!(name);
    #[cfg(not(any(debug_assertions, feature = "fault-injection")))]
    let _ = name;
}

/// Sets fail point `name` (one of [`POINTS`]) to `action`.
pub fn set(name: &str, action: &str) -> Result<(), String> {
    if !ENABLED {
        return Err(
            "this build has no fail points (build with the fault-injection feature)".into(),
        );
    }
    if !POINTS.iter().any(|(n, _)| *n == name) {
        let names: Vec<&str> = POINTS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "no fail point {name:?} (there are: {})",
            names.join(", ")
        ));
    }
    match action {
        "abort" => fail::cfg_callback(name, || {
            eprintln!("fail point: aborting");
            std::process::abort()
        }),
        "exit" => fail::cfg_callback(name, || std::process::exit(1)),
        other => fail::cfg(name, other),
    }
}

/// Reads `CAIRN_FAILPOINTS` (`NAME=ACTION;…`); each error is said on stderr, with the name of
/// the program.
pub fn setup_from_env(program: &str) {
    let Ok(spec) = std::env::var("CAIRN_FAILPOINTS") else {
        return;
    };
    for item in spec
        .split([';', ','])
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let Some((name, action)) = item.split_once('=') else {
            eprintln!("{program}: CAIRN_FAILPOINTS: {item:?} is not NAME=ACTION");
            continue;
        };
        // Each process sets only its own (and the bus's): the others' names are not errors.
        let own = name.starts_with(&format!("{}::", program.trim_start_matches("cairn-")))
            || name.starts_with("bus::");
        if !own {
            continue;
        }
        if let Err(e) = set(name, action) {
            eprintln!("{program}: CAIRN_FAILPOINTS: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_set_checked_and_hit() {
        const { assert!(ENABLED, "tests are debug builds") };
        assert!(set("nowhere::at_all", "panic")
            .unwrap_err()
            .contains("no fail point"));
        set("devmon::mid_coldplug", "panic").unwrap();
        let r = std::panic::catch_unwind(|| hit("devmon::mid_coldplug"));
        assert!(r.is_err(), "the point panicked");
        set("devmon::mid_coldplug", "off").unwrap();
        hit("devmon::mid_coldplug");
        assert!(set("devmon::mid_coldplug", "bogus(").is_err());
    }
}

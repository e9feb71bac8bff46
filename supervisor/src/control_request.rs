//! The control API's requests, decoded: each method's parameters read from the caller's
//! message and checked (names, job types and modes, signals, paths, priorities) before
//! anything in the manager sees them. A caller may be any local user and the message any
//! bytes, so every reader here returns a clear error instead of passing on what it could not
//! make sense of. Kept apart from the methods so that `fuzzing::control_request` can feed every
//! method's decoder arbitrary messages.

use nix::sys::signal::Signal;
use proto::control_capnp::{manager, viewer};
use proto::pid1_capnp::ShutdownKind;

use crate::job::types::{JobMode, JobType};
use crate::service::machine::Whom;

/// Longer unit names do not exist (systemd's UNIT_NAME_MAX); refusing them early keeps a
/// megabyte of name out of every error message.
pub const NAME_MAX: usize = 256;

fn failed(msg: String) -> capnp::Error {
    capnp::Error::failed(msg)
}

fn text(t: capnp::Result<capnp::text::Reader<'_>>, what: &str) -> capnp::Result<String> {
    t?.to_str()
        .map(str::to_string)
        .map_err(|_| failed(format!("the {what} is not UTF-8")))
}

/// A unit name as given (`foo`, `foo.service`, a path or a device name): the manager resolves
/// it. Empty only where `allow_empty` (reset-failed means every unit then).
fn unit_name(
    t: capnp::Result<capnp::text::Reader<'_>>,
    allow_empty: bool,
) -> capnp::Result<String> {
    let name = text(t, "unit name")?;
    if name.is_empty() && !allow_empty {
        return Err(failed("no unit name given".into()));
    }
    if name.len() > NAME_MAX {
        return Err(failed(format!(
            "unit name too long ({} bytes; at most {NAME_MAX})",
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(failed("unit name contains a NUL byte".into()));
    }
    Ok(name)
}

/// A component's name: a word, checked against the running components by the method.
fn component_name(t: capnp::Result<capnp::text::Reader<'_>>) -> capnp::Result<String> {
    let name = text(t, "component name")?;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(word) {
        return Err(failed(format!(
            "{:?} is not a component name (init, supervisor, activator, mounter, devmon)",
            truncated(&name)
        )));
    }
    Ok(name)
}

/// An optional binary: empty, or an absolute path.
fn binary(t: capnp::Result<capnp::text::Reader<'_>>) -> capnp::Result<Option<String>> {
    let b = text(t, "binary")?;
    if b.is_empty() {
        return Ok(None);
    }
    if !b.starts_with('/') || b.contains('\0') || b.len() > 4096 {
        return Err(failed(format!(
            "{:?}: the binary must be an absolute path",
            truncated(&b)
        )));
    }
    Ok(Some(b))
}

/// At most 80 characters of what a caller sent, for an error message.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    pub lines: usize,
}

pub fn status(p: viewer::status_params::Reader<'_>) -> capnp::Result<Status> {
    Ok(Status {
        name: unit_name(p.get_name(), false)?,
        lines: p.get_lines() as usize,
    })
}

/// show, cat, why, why-not: a unit's name and nothing else.
pub fn show(p: viewer::show_params::Reader<'_>) -> capnp::Result<String> {
    unit_name(p.get_name(), false)
}

pub fn cat(p: viewer::cat_params::Reader<'_>) -> capnp::Result<String> {
    unit_name(p.get_name(), false)
}

pub fn why(p: viewer::why_params::Reader<'_>) -> capnp::Result<String> {
    unit_name(p.get_name(), false)
}

pub fn why_not(p: viewer::why_not_params::Reader<'_>) -> capnp::Result<String> {
    unit_name(p.get_name(), false)
}

pub fn list_dependencies(
    p: viewer::list_dependencies_params::Reader<'_>,
) -> capnp::Result<(String, bool)> {
    Ok((unit_name(p.get_name(), false)?, p.get_reverse()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub name: String,
    pub lines: usize,
    /// Only lines after this sequence number (the caller's cursor, 0: from the start).
    pub after: Option<u64>,
    pub max_priority: u8,
    pub since_usec: u64,
}

pub fn log(p: viewer::log_params::Reader<'_>) -> capnp::Result<Log> {
    let max_priority = p.get_max_priority();
    if max_priority > 7 {
        return Err(failed(format!(
            "priority {max_priority} is not one of 0 (emerg) … 7 (debug)"
        )));
    }
    Ok(Log {
        name: unit_name(p.get_name(), false)?,
        lines: p.get_lines() as usize,
        after: p.get_after().checked_sub(1),
        max_priority,
        since_usec: p.get_since_usec(),
    })
}

pub fn component_status(p: viewer::component_status_params::Reader<'_>) -> capnp::Result<String> {
    component_name(p.get_name())
}

pub fn connect_component(p: viewer::connect_component_params::Reader<'_>) -> capnp::Result<String> {
    component_name(p.get_name())
}

pub fn shutdown(p: manager::shutdown_params::Reader<'_>) -> capnp::Result<ShutdownKind> {
    p.get_kind()
        .map_err(|e| failed(format!("unknown shutdown kind: {e}")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    pub name: String,
    pub jtype: JobType,
    pub mode: JobMode,
    pub wait: bool,
}

pub fn enqueue(p: manager::enqueue_params::Reader<'_>) -> capnp::Result<Enqueue> {
    let type_text = text(p.get_type(), "job type")?;
    let jtype = JobType::ALL
        .into_iter()
        .find(|t| t.as_str() == type_text)
        .ok_or_else(|| failed(format!("unknown job type {:?}", truncated(&type_text))))?;
    let mode_text = text(p.get_mode(), "job mode")?;
    let mode = if mode_text.is_empty() {
        JobMode::Replace
    } else {
        JobMode::parse(&mode_text)
            .ok_or_else(|| failed(format!("unknown job mode {:?}", truncated(&mode_text))))?
    };
    Ok(Enqueue {
        name: unit_name(p.get_name(), false)?,
        jtype,
        mode,
        wait: p.get_wait(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub name: String,
    pub signal: Signal,
    pub whom: Whom,
}

pub fn kill(p: manager::kill_params::Reader<'_>) -> capnp::Result<Kill> {
    let whom = match text(p.get_whom(), "--kill-whom value")?.as_str() {
        "main" => Whom::Main,
        "control" => Whom::Control,
        "" | "all" => Whom::All,
        other => {
            return Err(failed(format!(
                "--kill-whom: unknown value {:?} (main, control, all)",
                truncated(other)
            )))
        }
    };
    let n = p.get_signal();
    let signal = Signal::try_from(n).map_err(|_| failed(format!("{n} is not a signal")))?;
    Ok(Kill {
        name: unit_name(p.get_name(), false)?,
        signal,
        whom,
    })
}

pub fn reset_failed(p: manager::reset_failed_params::Reader<'_>) -> capnp::Result<String> {
    unit_name(p.get_name(), true)
}

/// The name of a snapshot to take: `None` (empty: cairn picks `snapshot-N`), else a unit
/// name of type snapshot; `.snapshot` is added to a name without a type.
pub fn snapshot(p: manager::snapshot_params::Reader<'_>) -> capnp::Result<Option<String>> {
    use crate::unit::name::{self, UnitType};
    let n = unit_name(p.get_name(), true)?;
    if n.is_empty() {
        return Ok(None);
    }
    let n = match name::parse(&n) {
        Ok(u) if u.utype == UnitType::Snapshot => n,
        Ok(u) => {
            return Err(failed(format!(
                "{} is a {} unit's name, not a snapshot's",
                truncated(&n),
                u.utype.suffix()
            )))
        }
        Err(_) => format!("{n}.snapshot"),
    };
    match name::parse(&n) {
        Ok(u) if u.utype == UnitType::Snapshot && u.instance.is_none() && n.len() <= NAME_MAX => {
            Ok(Some(n))
        }
        Ok(_) => Err(failed(format!(
            "{}: a snapshot cannot be a template or an instance",
            truncated(&n)
        ))),
        Err(e) => Err(failed(format!("{}: {e}", truncated(&n)))),
    }
}

pub fn delete_snapshot(p: manager::delete_snapshot_params::Reader<'_>) -> capnp::Result<String> {
    unit_name(p.get_name(), false)
}

/// The new root and the init in it (empty: the usual places), checked against the file
/// system by `switch_root::validate`.
pub fn switch_root(p: manager::switch_root_params::Reader<'_>) -> capnp::Result<(String, String)> {
    let root = text(p.get_root(), "new root")?;
    let init = text(p.get_init(), "init")?;
    if !root.starts_with('/') || root.len() > 4096 || root.contains('\0') {
        return Err(failed(format!(
            "{:?}: the new root must be an absolute path",
            truncated(&root)
        )));
    }
    if init.len() > 4096 || init.contains('\0') {
        return Err(failed("the init path is not a path".into()));
    }
    Ok((root, init))
}

pub fn restart_component(
    p: manager::restart_component_params::Reader<'_>,
) -> capnp::Result<(String, Option<String>)> {
    Ok((component_name(p.get_name())?, binary(p.get_binary())?))
}

pub fn daemon_reexec(
    p: manager::daemon_reexec_params::Reader<'_>,
) -> capnp::Result<(bool, Option<String>)> {
    Ok((p.get_init(), binary(p.get_binary())?))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failpoint {
    pub component: String,
    pub point: String,
    pub action: String,
}

pub fn set_failpoint(p: manager::set_failpoint_params::Reader<'_>) -> capnp::Result<Failpoint> {
    let component = component_name(p.get_name())?;
    let point = text(p.get_point(), "fail point")?;
    let action = text(p.get_action(), "fail point action")?;
    if !point.starts_with(&format!("{component}::")) && !point.starts_with("bus::") {
        return Err(failed(format!(
            "{} is not a fail point of {component}",
            truncated(&point)
        )));
    }
    if action.len() > 256 {
        return Err(failed("fail point action too long".into()));
    }
    Ok(Failpoint {
        component,
        point,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<F: FnOnce(&mut capnp::message::Builder<capnp::message::HeapAllocator>)>(
        fill: F,
    ) -> capnp::message::Builder<capnp::message::HeapAllocator> {
        let mut m = capnp::message::Builder::new_default();
        fill(&mut m);
        m
    }

    fn error<T: std::fmt::Debug>(r: capnp::Result<T>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn names_are_checked_before_the_manager_sees_them() {
        let long = "a".repeat(NAME_MAX + 1);
        let m = message(|m| {
            m.init_root::<viewer::show_params::Builder>()
                .set_name(&long[..])
        });
        let e = error(show(m.get_root_as_reader().unwrap()));
        assert!(
            e.contains("unit name too long (257 bytes; at most 256)"),
            "{e}"
        );
        let m = message(|m| m.init_root::<viewer::show_params::Builder>().set_name(""));
        assert!(error(show(m.get_root_as_reader().unwrap())).contains("no unit name given"));
        // reset-failed without a name means every unit.
        let m = message(|m| {
            m.init_root::<manager::reset_failed_params::Builder>()
                .set_name("")
        });
        assert_eq!(reset_failed(m.get_root_as_reader().unwrap()).unwrap(), "");
        let m = message(|m| {
            m.init_root::<viewer::component_status_params::Builder>()
                .set_name("../../etc")
        });
        let e = error(component_status(m.get_root_as_reader().unwrap()));
        assert!(e.contains("is not a component name"), "{e}");
    }

    #[test]
    fn a_name_that_is_not_utf8_is_refused_not_mangled() {
        let m = message(|m| {
            m.init_root::<viewer::show_params::Builder>()
                .set_name(capnp::text::Reader::from(&b"caf\xe9.service"[..]))
        });
        assert!(error(show(m.get_root_as_reader().unwrap())).contains("not UTF-8"));
    }

    #[test]
    fn snapshot_names_are_snapshots() {
        let name = |n: &'static str| {
            let m = message(move |m| {
                m.init_root::<manager::snapshot_params::Builder>()
                    .set_name(n)
            });
            snapshot(m.get_root_as_reader().unwrap()).map_err(|e| e.to_string())
        };
        assert_eq!(name(""), Ok(None));
        assert_eq!(name("before"), Ok(Some("before.snapshot".into())));
        assert_eq!(name("x.snapshot"), Ok(Some("x.snapshot".into())));
        assert!(name("a.service")
            .unwrap_err()
            .contains("a.service is a service unit's name, not a snapshot's"));
        assert!(name("a@b")
            .unwrap_err()
            .contains("a@b.snapshot: a snapshot cannot be a template or an instance"));
        assert!(name("bad/name").is_err());
    }

    #[test]
    fn kill_refuses_what_is_not_a_signal() {
        let kill_with = |sig: i32, whom: &'static str| {
            message(move |m| {
                let mut p = m.init_root::<manager::kill_params::Builder>();
                p.set_name("a.service");
                p.set_signal(sig);
                p.set_whom(whom);
            })
        };
        let m = kill_with(999, "all");
        assert!(error(kill(m.get_root_as_reader().unwrap())).contains("999 is not a signal"));
        let m = kill_with(9, "everyone");
        let e = error(kill(m.get_root_as_reader().unwrap()));
        assert!(e.contains("--kill-whom: unknown value \"everyone\""), "{e}");
        let m = kill_with(9, "");
        let k = kill(m.get_root_as_reader().unwrap()).unwrap();
        assert_eq!((k.signal, k.whom), (Signal::SIGKILL, Whom::All));
    }

    #[test]
    fn enqueue_reads_type_and_mode() {
        let m = message(|m| {
            let mut p = m.init_root::<manager::enqueue_params::Builder>();
            p.set_name("a.service");
            p.set_type("start");
            p.set_mode("");
        });
        let e = enqueue(m.get_root_as_reader().unwrap()).unwrap();
        assert_eq!((e.jtype, e.mode), (JobType::Start, JobMode::Replace));
        let m = message(|m| {
            let mut p = m.init_root::<manager::enqueue_params::Builder>();
            p.set_name("a.service");
            p.set_type("explode");
        });
        let e = error(enqueue(m.get_root_as_reader().unwrap()));
        assert!(e.contains("unknown job type \"explode\""), "{e}");
        let m = message(|m| {
            let mut p = m.init_root::<manager::enqueue_params::Builder>();
            p.set_name("a.service");
            p.set_type("stop");
            p.set_mode("gently");
        });
        let e = error(enqueue(m.get_root_as_reader().unwrap()));
        assert!(e.contains("unknown job mode \"gently\""), "{e}");
    }

    #[test]
    fn log_priority_and_cursor() {
        let m = message(|m| {
            let mut p = m.init_root::<viewer::log_params::Builder>();
            p.set_name("a.service");
            p.set_max_priority(8);
        });
        let e = error(log(m.get_root_as_reader().unwrap()));
        assert!(e.contains("priority 8 is not one of"), "{e}");
        let m = message(|m| {
            let mut p = m.init_root::<viewer::log_params::Builder>();
            p.set_name("a.service");
            p.set_after(5);
        });
        let l = log(m.get_root_as_reader().unwrap()).unwrap();
        assert_eq!((l.after, l.max_priority), (Some(4), 7));
    }

    #[test]
    fn paths_must_be_absolute() {
        let m = message(|m| {
            let mut p = m.init_root::<manager::restart_component_params::Builder>();
            p.set_name("mounter");
            p.set_binary("cairn-mounter");
        });
        let e = error(restart_component(m.get_root_as_reader().unwrap()));
        assert!(e.contains("must be an absolute path"), "{e}");
        let m = message(|m| {
            m.init_root::<manager::switch_root_params::Builder>()
                .set_root("sysroot")
        });
        let e = error(switch_root(m.get_root_as_reader().unwrap()));
        assert!(e.contains("the new root must be an absolute path"), "{e}");
    }

    #[test]
    fn a_fail_point_belongs_to_its_component() {
        let m = message(|m| {
            let mut p = m.init_root::<manager::set_failpoint_params::Builder>();
            p.set_name("mounter");
            p.set_point("supervisor::after_spawn");
            p.set_action("panic");
        });
        let e = error(set_failpoint(m.get_root_as_reader().unwrap()));
        assert!(
            e.contains("supervisor::after_spawn is not a fail point of mounter"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_shutdown_kind_is_an_error() {
        let m = message(|m| {
            m.init_root::<manager::shutdown_params::Builder>()
                .set_kind(proto::pid1_capnp::ShutdownKind::Poweroff)
        });
        let bytes = m.get_segments_for_output()[0];
        let mut words = capnp::Word::allocate_zeroed_vec(bytes.len() / 8);
        let raw = capnp::Word::words_to_bytes_mut(&mut words);
        raw.copy_from_slice(bytes);
        // The enum is the struct's first data word: past the last enumerant.
        raw[8] = 200;
        let segments: [&[u8]; 1] = [capnp::Word::words_to_bytes(&words)];
        let r = capnp::message::Reader::new(
            capnp::message::SegmentArray::new(&segments),
            Default::default(),
        );
        let e = error(shutdown(r.get_root().unwrap()));
        assert!(e.contains("unknown shutdown kind"), "{e}");
    }
}

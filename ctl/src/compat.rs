//! `poweroff`, `reboot`, `halt` and `shutdown` as symlinks to cairnctl (sysvinit's commands, as
//! systemd provides them): the name it is called by picks the verb.

use std::ffi::OsString;
use std::path::Path;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompatError {
    #[error("{0}: scheduled shutdowns are not supported yet; use `now`")]
    Scheduled(String),
    #[error("unknown option {0}")]
    Unknown(String),
    #[error("usage: {0} [-f] [-p] [--no-wall]   (cairn's {0}: stop every unit and {0})")]
    Help(String),
}

/// If `argv[0]` names a compatibility command, the cairnctl arguments it stands for.
pub fn translate(argv: &[OsString]) -> Option<Result<Vec<OsString>, CompatError>> {
    let name = Path::new(argv.first()?).file_name()?.to_str()?.to_string();
    let rest: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let verb = match name.as_str() {
        "poweroff" | "reboot" | "halt" => legacy(&name, &rest),
        "shutdown" => shutdown(&rest),
        _ => return None,
    };
    Some(verb.map(|v| vec!["cairnctl".into(), v.into()]))
}

/// poweroff/reboot/halt [-f] [-w] [--no-wall] [-p]: `-p` makes halt power off. Anything
/// else is refused: a command that powers off must not guess.
fn legacy(name: &str, args: &[String]) -> Result<&'static str, CompatError> {
    let mut poweroff = false;
    for a in args {
        match a.as_str() {
            "-p" | "--poweroff" => poweroff = true,
            "-f" | "--force" | "-w" | "--wtmp-only" | "--no-wall" | "-n" | "--no-sync" => {}
            "-h" | "--help" => return Err(CompatError::Help(name.to_string())),
            other => return Err(CompatError::Unknown(other.to_string())),
        }
    }
    Ok(match name {
        "reboot" => "reboot",
        "halt" if !poweroff => "halt",
        _ => "poweroff",
    })
}

/// shutdown [-r|-h|-P|-H] [now|+0] [message]
fn shutdown(args: &[String]) -> Result<&'static str, CompatError> {
    let mut verb = "poweroff";
    let mut words = Vec::new();
    for a in args {
        match a.as_str() {
            "-r" | "--reboot" => verb = "reboot",
            "-H" | "--halt" => verb = "halt",
            "-h" | "-P" | "--poweroff" => verb = "poweroff",
            "-f" | "-F" | "-k" | "--no-wall" => {}
            "--help" => return Err(CompatError::Help("shutdown".into())),
            s if s.starts_with('-') => return Err(CompatError::Unknown(s.into())),
            s => words.push(s),
        }
    }
    match words.first() {
        None | Some(&"now") | Some(&"+0") => Ok(verb),
        Some(t) => Err(CompatError::Scheduled((*t).into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[&str]) -> Option<Result<Vec<String>, CompatError>> {
        let argv: Vec<OsString> = v.iter().map(OsString::from).collect();
        translate(&argv)
            .map(|r| r.map(|v| v.into_iter().map(|s| s.into_string().unwrap()).collect()))
    }

    #[test]
    fn names_pick_the_verb() {
        assert_eq!(
            t(&["/usr/sbin/reboot"]),
            Some(Ok(vec!["cairnctl".into(), "reboot".into()]))
        );
        assert_eq!(t(&["halt", "-p"]).unwrap().unwrap()[1], "poweroff");
        assert_eq!(t(&["halt"]).unwrap().unwrap()[1], "halt");
        assert!(t(&["cairnctl", "status"]).is_none());
        assert_eq!(
            t(&["poweroff", "--help"]),
            Some(Err(CompatError::Help("poweroff".into())))
        );
        assert_eq!(
            t(&["reboot", "--bogus"]),
            Some(Err(CompatError::Unknown("--bogus".into())))
        );
    }

    #[test]
    fn shutdown_reads_sysvinit_options() {
        assert_eq!(t(&["shutdown", "-r", "now"]).unwrap().unwrap()[1], "reboot");
        assert_eq!(
            t(&["shutdown", "-h", "now"]).unwrap().unwrap()[1],
            "poweroff"
        );
        assert_eq!(t(&["shutdown"]).unwrap().unwrap()[1], "poweroff");
        assert_eq!(
            t(&["shutdown", "+5"]),
            Some(Err(CompatError::Scheduled("+5".into())))
        );
        assert_eq!(
            t(&["shutdown", "-x"]),
            Some(Err(CompatError::Unknown("-x".into())))
        );
    }
}

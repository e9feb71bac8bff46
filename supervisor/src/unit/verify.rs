//! `cairnctl analyze verify FILE…`: load unit files as the manager would and report what is
//! wrong with them, without a running manager and without starting anything (systemd-analyze
//! verify). Each file's directory goes first in the search path, so its neighbours (a socket's
//! service, a target's wants) are found beside it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::exec::ExecCommand;
use super::load::{self, Catalog, LoadState};
use super::specifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing wrong, with where: `file:line` when a line is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        if self.line > 0 {
            write!(
                f,
                "{}:{}: {what}: {}",
                self.file.display(),
                self.line,
                self.message
            )
        } else {
            write!(f, "{}: {what}: {}", self.file.display(), self.message)
        }
    }
}

/// The directories a bare `ExecStart=` name is looked up in (the manager's default PATH).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Checks each file; `search` is the rest of the unit path (after each file's own directory).
pub fn verify_files(
    files: &[PathBuf],
    search: &[PathBuf],
    spec: &specifier::Context,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in files {
        verify_one(file, search, spec, &mut out);
    }
    out
}

fn verify_one(file: &Path, search: &[PathBuf], spec: &specifier::Context, out: &mut Vec<Finding>) {
    let error = |message: String| Finding {
        severity: Severity::Error,
        file: file.to_path_buf(),
        line: 0,
        message,
    };
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        out.push(error("not a unit file name".into()));
        return;
    };
    match std::fs::metadata(file) {
        Ok(m) if m.is_dir() => {
            out.push(error("is a directory, not a unit file".into()));
            return;
        }
        Ok(_) => {}
        Err(e) => {
            out.push(error(format!("cannot read: {e}")));
            return;
        }
    }
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Some(why) = load::untrusted_dir(dir) {
        out.push(error(format!(
            "{}: {why}; its units are refused",
            dir.display()
        )));
        return;
    }
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(search.iter().cloned());
    let cat = Catalog::scan(&dirs);
    let l = load::load(&cat, name, spec);
    for w in &l.warnings {
        out.push(Finding {
            severity: Severity::Warning,
            file: w.file.clone(),
            line: w.line,
            message: w.message.clone(),
        });
    }
    match &l.state {
        LoadState::Loaded => {}
        LoadState::NotFound => out.push(error(format!("{name}: not found in {}", dir.display()))),
        LoadState::Masked => out.push(error(format!("{name} is masked"))),
        LoadState::NotSupported => {
            out.push(error(format!("{name}: cairn does not run this unit type")))
        }
        LoadState::BadSetting(r) | LoadState::Error(r) => out.push(error(r.clone())),
    }
    if l.state != LoadState::Loaded {
        return;
    }
    let u = &l.config.unit;
    let needed = [
        ("Requires", &u.requires),
        ("Requisite", &u.requisite),
        ("BindsTo", &u.binds_to),
        ("PartOf", &u.part_of),
        ("OnFailure", &u.on_failure),
        ("OnSuccess", &u.on_success),
    ];
    for (key, list) in needed {
        for dep in list {
            if let Some(why) = missing(&cat, dep, spec) {
                out.push(error(format!("{key}={dep}: {why}")));
            }
        }
    }
    for dep in u.wants.iter().chain(&l.extra_wants) {
        if let Some(why) = missing(&cat, dep, spec) {
            out.push(Finding {
                severity: Severity::Warning,
                ..error(format!("Wants={dep}: {why}"))
            });
        }
    }
    let s = &l.config.service;
    let commands = [
        ("ExecStartPre", &s.exec_start_pre),
        ("ExecStart", &s.exec_start),
        ("ExecStartPost", &s.exec_start_post),
        ("ExecReload", &s.exec_reload),
        ("ExecStop", &s.exec_stop),
        ("ExecStopPost", &s.exec_stop_post),
    ];
    for (key, list) in commands {
        for c in list {
            if let Err(why) = executable(c) {
                out.push(error(format!("{key}={}: {why}", c.path)));
            }
        }
    }
}

/// Why `dep` would not load, if it would not.
fn missing(cat: &Catalog, dep: &str, spec: &specifier::Context) -> Option<String> {
    let canonical = cat.aliases.get(dep).map(String::as_str).unwrap_or(dep);
    let l = load::load(cat, canonical, spec);
    match l.state {
        LoadState::Loaded => None,
        LoadState::NotFound => Some("unit not found".into()),
        LoadState::Masked => Some("unit is masked".into()),
        LoadState::NotSupported => Some("unit type not supported".into()),
        LoadState::BadSetting(r) | LoadState::Error(r) => Some(format!("unit is broken: {r}")),
    }
}

fn executable(c: &ExecCommand) -> Result<(), String> {
    let ok = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if c.path.starts_with('/') {
        return match std::fs::metadata(&c.path) {
            Err(e) => Err(format!("command not found: {e}")),
            Ok(_) if !ok(Path::new(&c.path)) => Err("command is not an executable file".into()),
            Ok(_) => Ok(()),
        };
    }
    if PATH.split(':').any(|d| ok(&Path::new(d).join(&c.path))) {
        Ok(())
    } else {
        Err(format!("command not found in {PATH}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn check(dir: &Path, name: &str) -> Vec<String> {
        verify_files(&[dir.join(name)], &[], &specifier::Context::default())
            .iter()
            .map(|f| f.to_string().replace(&dir.display().to_string(), "D"))
            .collect()
    }

    #[test]
    fn a_good_unit_has_nothing_to_say() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "b.service", "[Service]\nExecStart=/bin/true\n");
        write(
            d.path(),
            "a.service",
            "[Unit]\nRequires=b.service\nAfter=b.service\n[Service]\nExecStart=/bin/true\n",
        );
        assert_eq!(check(d.path(), "a.service"), Vec::<String>::new());
    }

    #[test]
    fn each_problem_names_its_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.service",
            "[Unit]\nRequires=gone.service\nWants=also-gone.service\n\
             [Service]\nRestart=sometimes\nExecStart=/no/such/binary\nExecStop=no-such-command-anywhere\n",
        );
        let got = check(d.path(), "a.service");
        assert_eq!(
            got,
            vec![
                "D/a.service:5: warning: Restart: unknown value \"sometimes\", ignoring",
                "D/a.service: error: Requires=gone.service: unit not found",
                "D/a.service: warning: Wants=also-gone.service: unit not found",
                "D/a.service: error: ExecStart=/no/such/binary: command not found: No such file or directory (os error 2)",
                "D/a.service: error: ExecStop=no-such-command-anywhere: command not found in /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ],
            "{got:#?}"
        );
    }

    #[test]
    fn a_unit_that_cannot_work_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.service", "[Service]\nType=forking\n");
        let got = check(d.path(), "a.service");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("D/a.service: error: "), "{got:?}");
        let dir = d.path().join("x.service");
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(
            check(d.path(), "x.service"),
            vec!["D/x.service: error: is a directory, not a unit file"]
        );
        assert_eq!(
            check(d.path(), "nope.service")[0],
            "D/nope.service: error: cannot read: No such file or directory (os error 2)"
        );
    }
}

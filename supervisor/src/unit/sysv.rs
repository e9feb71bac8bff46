//! SysV init scripts as service units (what systemd-sysv-generator did until systemd 260
//! dropped it): each executable in the init.d directory becomes `NAME.service`, written as a
//! unit file into the late generator directory (the lowest priority of the unit path, so a
//! native unit of the same name wins, and it is not generated at all).
//!
//! The LSB header (`### BEGIN INIT INFO` … `### END INIT INFO`) gives the description, the
//! ordering (`Required-Start`/`Should-Start` → `After=`, `X-Start-Before` → `Before=`, the
//! `$facilities` → their targets), the aliases (`Provides`); the `rcN.d/S??NAME` links beside
//! the init.d directory (or `Default-Start` when there are no such directories) say which
//! runlevel targets want it. A header that cannot be read is warned about with its file and
//! line, and the script still runs; a script with no header at all runs last (after every
//! script that has one), with a warning.
//!
//! The unit is systemd's: `Type=forking`, `RemainAfterExit=yes`, `GuessMainPID=no`,
//! `KillMode=process`, `SuccessExitStatus=5 6`, `ExecStart=SCRIPT start`, `ExecStop=SCRIPT
//! stop`, `ExecReload=SCRIPT reload` when the script has a `reload)` case or lists `reload` in
//! its usage. Scripts run with `SYSTEMCTL_SKIP_REDIRECT=1`: Debian's LSB helpers
//! (`/lib/lsb/init-functions.d/40-systemd`) otherwise hand a script whose parent is not PID 1
//! back to `systemctl` whenever `/run/systemd/system` exists — and a cairn service's parent is
//! the supervisor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::name;

/// Longest script read for its header and usage (the header is at the top; init scripts are
/// a few kilobytes).
pub const MAX_SCRIPT: u64 = 1 << 20;

/// An LSB header as written (names not yet mapped to units).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub provides: Vec<String>,
    pub required_start: Vec<String>,
    pub required_stop: Vec<String>,
    pub should_start: Vec<String>,
    pub should_stop: Vec<String>,
    pub default_start: Vec<String>,
    pub default_stop: Vec<String>,
    pub short_description: Option<String>,
    pub description: Option<String>,
    pub start_before: Vec<String>,
    pub interactive: bool,
}

/// Something wrong in a header, at a line (1-based) of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderWarning {
    pub line: usize,
    pub message: String,
}

const BEGIN: &str = "### BEGIN INIT INFO";
const END: &str = "### END INIT INFO";

/// Reads the LSB header of a script's text: `None` when there is none. Every line of the
/// block that is not `# Key: value` (or a continuation of `Description`) is a warning, and
/// so are unknown keys (`X-` keys are for vendors and are ignored), a block without its end
/// line and a second block.
pub fn parse_header(text: &str) -> (Option<Header>, Vec<HeaderWarning>) {
    let mut warnings = Vec::new();
    let mut warn = |line: usize, message: String| warnings.push(HeaderWarning { line, message });
    let mut header: Option<Header> = None;
    let mut inside = false;
    let mut seen_end = false;
    // The key a continuation line continues (only Description may continue).
    let mut last_key: Option<String> = None;
    let mut begin_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if !inside {
            if line.trim_start() == BEGIN {
                if header.is_some() {
                    warn(n, "a second LSB header; only the first counts".into());
                    break;
                }
                header = Some(Header::default());
                inside = true;
                begin_line = n;
            }
            continue;
        }
        if line.trim_start() == END {
            inside = false;
            seen_end = true;
            continue;
        }
        let Some(h) = header.as_mut() else { break };
        let Some(body) = line.strip_prefix('#') else {
            warn(
                n,
                format!("LSB header line does not start with '#': {:?}", clip(line)),
            );
            // A script that forgot its end line: the code starts here.
            inside = false;
            continue;
        };
        // A continuation: '#' then a tab or at least two spaces (LSB 3.1, 20.2).
        if body.starts_with('\t') || body.starts_with("  ") {
            let more = body.trim();
            match last_key.as_deref() {
                Some("Description") if !more.is_empty() => {
                    let d = h.description.get_or_insert_with(String::new);
                    if !d.is_empty() {
                        d.push(' ');
                    }
                    d.push_str(more);
                }
                _ if more.is_empty() => {}
                Some(k) => warn(
                    n,
                    format!("only Description may continue on a further line, not {k}"),
                ),
                None => warn(
                    n,
                    format!(
                        "a continuation line with no key before it: {:?}",
                        clip(more)
                    ),
                ),
            }
            continue;
        }
        let body = body.trim();
        if body.is_empty() {
            continue;
        }
        let Some((key, value)) = body.split_once(':') else {
            warn(
                n,
                format!("LSB header line is not 'Key: value': {:?}", clip(body)),
            );
            last_key = None;
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let words = || {
            value
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        match key {
            "Provides" => h.provides.extend(words()),
            "Required-Start" => h.required_start.extend(words()),
            "Required-Stop" => h.required_stop.extend(words()),
            "Should-Start" => h.should_start.extend(words()),
            "Should-Stop" => h.should_stop.extend(words()),
            "Default-Start" => h.default_start.extend(words()),
            "Default-Stop" => h.default_stop.extend(words()),
            "X-Start-Before" => h.start_before.extend(words()),
            "Short-Description" => h.short_description = Some(value.to_string()),
            "Description" => h.description = Some(value.to_string()),
            "X-Interactive" => h.interactive = value.eq_ignore_ascii_case("true"),
            k if k.starts_with("X-") => {}
            k => warn(n, format!("unknown LSB header key {:?}", clip(k))),
        }
        last_key = Some(key.to_string());
    }
    if header.is_some() && !seen_end {
        warn(
            begin_line,
            format!("LSB header has no {END:?} line; it is read up to its first line without '#'"),
        );
    }
    (header, warnings)
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Whether the script can `reload`: a `reload)` case (with or without alternatives: `reload|
/// force-reload)`), or `reload` in a usage string as systemd looked for it (`{start|reload|`).
pub fn supports_reload(text: &str) -> bool {
    const USAGE: [&str; 6] = [
        "{reload|",
        "|reload|",
        "|reload}",
        "{reload}",
        "|reload\"",
        "{reload\"",
    ];
    text.lines().any(|l| {
        let t = l.trim_start();
        let case_arm = t.split_once(')').is_some_and(|(pattern, _)| {
            let alts: Vec<&str> = pattern
                .split('|')
                .map(|a| a.trim().trim_matches(['"', '\'']))
                .collect();
            alts.iter().all(|a| {
                !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*'))
            }) && alts.contains(&"reload")
        });
        case_arm || USAGE.iter().any(|p| t.contains(p))
    })
}

/// A facility (`$name`) and the target it stands for; `None`: known, stands for nothing
/// (`$syslog`: the log is always there), or `$all` (handled as "after every other script").
fn facility(name: &str) -> Option<Option<&'static str>> {
    Some(match name {
        "$local_fs" => Some("local-fs.target"),
        "$network" => Some("network-online.target"),
        "$named" => Some("nss-lookup.target"),
        "$portmap" => Some("rpcbind.target"),
        "$remote_fs" => Some("remote-fs.target"),
        "$time" => Some("time-sync.target"),
        "$syslog" | "$all" => None,
        _ => return None,
    })
}

/// The target a runlevel stands for (`runlevelN.target`'s canonical name).
fn runlevel_target(level: &str) -> Option<&'static str> {
    match level {
        "1" => Some("rescue.target"),
        "2" | "3" | "4" => Some("multi-user.target"),
        "5" => Some("graphical.target"),
        _ => None,
    }
}

/// The unit a script file name becomes (`foo` and `foo.sh` → `foo.service`), if it can be a
/// unit name (and is not a template instance).
pub fn unit_for_script(file: &str) -> Option<String> {
    let base = file.strip_suffix(".sh").unwrap_or(file);
    let unit = format!("{base}.service");
    (!base.is_empty() && !base.contains('@') && name::parse(&unit).is_ok()).then_some(unit)
}

/// Files in init.d that are not scripts to run (as systemd's `hidden_or_backup_file` and
/// Debian's own leftovers).
fn ignored_file(file: &str) -> bool {
    file.starts_with('.')
        || file.ends_with('~')
        || [
            ".dpkg-old",
            ".dpkg-new",
            ".dpkg-dist",
            ".dpkg-bak",
            ".dpkg-tmp",
            ".rpmnew",
            ".rpmsave",
            ".orig",
            ".bak",
            ".swp",
        ]
        .iter()
        .any(|s| file.ends_with(s))
        || matches!(file, "README" | "skeleton" | "rc" | "rcS" | "functions")
}

/// One script, read.
#[derive(Debug, Clone)]
pub struct Script {
    pub unit: String,
    pub path: PathBuf,
    pub header: Option<Header>,
    pub reload: bool,
    /// Targets that want it (from the rc links, or from `Default-Start`).
    pub wanted_by: BTreeSet<String>,
}

/// What the generator made of an init.d directory.
#[derive(Debug, Default)]
pub struct Generated {
    /// unit name → its unit file's text
    pub units: BTreeMap<String, String>,
    /// alias name → unit name (from `Provides`)
    pub aliases: BTreeMap<String, String>,
    /// target → units it wants
    pub wants: BTreeMap<String, BTreeSet<String>>,
    /// "FILE:LINE: message" (or "FILE: message"), for the log.
    pub warnings: Vec<String>,
}

/// Reads every script of `init_d` that has no native unit (`native(unit)` says whether the
/// unit path has a unit of that name) and translates them.
pub fn generate(init_d: &Path, native: &dyn Fn(&str) -> bool) -> Generated {
    let mut g = Generated::default();
    let Ok(rd) = std::fs::read_dir(init_d) else {
        return g;
    };
    let mut files: Vec<(String, PathBuf)> = rd
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .filter(|(f, _)| !ignored_file(f))
        .collect();
    files.sort();
    let rc = rc_links(init_d);
    let mut scripts = Vec::new();
    for (file, path) in files {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue;
        }
        let Some(unit) = unit_for_script(&file) else {
            g.warnings.push(format!(
                "{}: cannot be a unit name ({file}.service); not run",
                path.display()
            ));
            continue;
        };
        if native(&unit) {
            continue;
        }
        if let Some(why) = super::load::untrusted_file(&path) {
            g.warnings
                .push(format!("{}: {why}; refused", path.display()));
            continue;
        }
        let text = match read_script(&path, meta.len()) {
            Ok(t) => t,
            Err(e) => {
                g.warnings.push(format!("{}: {e}; not run", path.display()));
                continue;
            }
        };
        let (header, warnings) = parse_header(&text);
        for w in warnings {
            g.warnings
                .push(format!("{}:{}: {}", path.display(), w.line, w.message));
        }
        let base = file.strip_suffix(".sh").unwrap_or(&file);
        let wanted_by: BTreeSet<String> = match &rc {
            Some(links) => links.get(base).cloned().unwrap_or_default(),
            None => match &header {
                Some(h) => h
                    .default_start
                    .iter()
                    .filter_map(|l| runlevel_target(l))
                    .map(str::to_string)
                    .collect(),
                None => ["multi-user.target".to_string()].into(),
            },
        };
        if header.is_none() {
            g.warnings.push(format!(
                "{}: no LSB header (### BEGIN INIT INFO); it runs after every script that has one",
                path.display()
            ));
        }
        scripts.push(Script {
            unit,
            reload: supports_reload(&text),
            path,
            header,
            wanted_by,
        });
    }
    translate(&scripts, native, &mut g);
    g
}

fn read_script(path: &Path, len: u64) -> Result<String, String> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(len.min(MAX_SCRIPT) as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SCRIPT).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `rcN.d/S??name` links beside init.d: script base name → targets. `None` when there is no
/// rc directory at all (the header's `Default-Start` decides then).
fn rc_links(init_d: &Path) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let parent = init_d.parent()?;
    let mut any = false;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for level in ["1", "2", "3", "4", "5"] {
        let Ok(rd) = std::fs::read_dir(parent.join(format!("rc{level}.d"))) else {
            continue;
        };
        any = true;
        let Some(target) = runlevel_target(level) else {
            continue;
        };
        for e in rd.flatten() {
            let Some(f) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // S, two digits, the script's name (K links stop: the target's stop does that).
            let Some(rest) = f.strip_prefix('S') else {
                continue;
            };
            if rest.len() < 3 || !rest.as_bytes()[..2].iter().all(u8::is_ascii_digit) {
                continue;
            }
            let base = &rest[2..];
            let base = base.strip_suffix(".sh").unwrap_or(base);
            out.entry(base.to_string())
                .or_default()
                .insert(target.to_string());
        }
    }
    any.then_some(out)
}

/// The unit files, aliases and `.wants` of the scripts read.
pub fn translate(scripts: &[Script], native: &dyn Fn(&str) -> bool, g: &mut Generated) {
    // Names scripts provide → their units (their own names first).
    let mut provided: BTreeMap<String, String> = BTreeMap::new();
    for s in scripts {
        let own = s.unit.trim_end_matches(".service").to_string();
        provided.insert(own, s.unit.clone());
    }
    for s in scripts {
        for p in s.header.iter().flat_map(|h| &h.provides) {
            if p.starts_with('$') {
                continue;
            }
            match provided.get(p) {
                Some(u) if u != &s.unit => g.warnings.push(format!(
                    "{}: Provides {p}, which {u} provides already; ignored",
                    s.path.display()
                )),
                Some(_) => {}
                None => {
                    let alias = format!("{p}.service");
                    if name::parse(&alias).is_err() || p.contains('@') {
                        g.warnings.push(format!(
                            "{}: Provides {p:?}, which cannot be a unit name; ignored",
                            s.path.display()
                        ));
                        continue;
                    }
                    provided.insert(p.clone(), s.unit.clone());
                    if !native(&alias) {
                        g.aliases.insert(alias, s.unit.clone());
                    }
                }
            }
        }
    }
    // Scripts without a header, and those asking for `$all`, run after every other one.
    let last = |s: &Script| {
        s.header.as_ref().is_none_or(|h| {
            h.required_start
                .iter()
                .chain(&h.should_start)
                .any(|n| n == "$all")
        })
    };
    let ordered: Vec<&str> = scripts
        .iter()
        .filter(|s| !last(s))
        .map(|s| s.unit.as_str())
        .collect();
    for s in scripts {
        let mut after: BTreeSet<String> = BTreeSet::new();
        let mut wants: BTreeSet<String> = BTreeSet::new();
        let mut before: BTreeSet<String> = BTreeSet::new();
        let mut map = |n: &str, into: &mut BTreeSet<String>, wants: &mut BTreeSet<String>| {
            if n.starts_with('$') {
                let f = n;
                match facility(f) {
                    Some(Some(t)) => {
                        into.insert(t.to_string());
                        if f == "$network" {
                            wants.insert(t.to_string());
                        }
                    }
                    Some(None) => {}
                    None => g.warnings.push(format!(
                        "{}: unknown LSB facility {f}; ignored",
                        s.path.display()
                    )),
                }
                return;
            }
            let unit = provided
                .get(n)
                .cloned()
                .unwrap_or_else(|| format!("{n}.service"));
            if unit == s.unit {
                return;
            }
            if name::parse(&unit).is_err() {
                g.warnings.push(format!(
                    "{}: {n:?} cannot be a unit name; ignored",
                    s.path.display()
                ));
                return;
            }
            into.insert(unit);
        };
        if let Some(h) = &s.header {
            for n in h.required_start.iter().chain(&h.should_start) {
                map(n, &mut after, &mut wants);
            }
            for n in &h.start_before {
                map(n, &mut before, &mut wants);
            }
        }
        if last(s) {
            after.extend(
                ordered
                    .iter()
                    .filter(|u| **u != s.unit)
                    .map(|u| u.to_string()),
            );
        }
        // Wanted by a target: ordered before it, as the target waits for its scripts.
        before.extend(s.wanted_by.iter().cloned());
        for t in &s.wanted_by {
            g.wants.entry(t.clone()).or_default().insert(s.unit.clone());
        }
        g.units
            .insert(s.unit.clone(), unit_text(s, &after, &wants, &before));
    }
}

/// A value written into a unit file as itself: `%` doubled (no specifier), control
/// characters dropped, no trailing backslash (no continuation).
fn plain(s: &str) -> String {
    let mut v: String = s
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .replace('%', "%%");
    while v.ends_with('\\') {
        v.pop();
    }
    v.trim().to_string()
}

/// A path as one word of a command line: quoted, `\` and `"` escaped, `%` doubled.
fn word(p: &Path) -> String {
    let s = p.display().to_string();
    let mut out = String::from("\"");
    for c in s.chars().filter(|c| !c.is_control()) {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unit_text(
    s: &Script,
    after: &BTreeSet<String>,
    wants: &BTreeSet<String>,
    before: &BTreeSet<String>,
) -> String {
    use std::fmt::Write;
    let h = s.header.clone().unwrap_or_default();
    let name = s.unit.trim_end_matches(".service");
    let description = match (&h.short_description, &h.description) {
        (Some(d), _) | (None, Some(d)) if !plain(d).is_empty() => format!("LSB: {}", plain(d)),
        _ => format!("SysV script {}", plain(name)),
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Generated by cairn from the SysV init script {}; write a native unit named {} to replace it.",
        plain(&s.path.display().to_string()),
        s.unit
    );
    t.push_str("[Unit]\n");
    let _ = writeln!(t, "Description={description}");
    t.push_str("Documentation=man:systemd-sysv-generator(8)\n");
    let _ = writeln!(t, "SourcePath={}", plain(&s.path.display().to_string()));
    for (key, set) in [("After", after), ("Wants", wants), ("Before", before)] {
        if !set.is_empty() {
            let list: Vec<&str> = set.iter().map(String::as_str).collect();
            let _ = writeln!(t, "{key}={}", list.join(" "));
        }
    }
    t.push_str(
        "\n[Service]\nType=forking\nRestart=no\nKillMode=process\nGuessMainPID=no\n\
         RemainAfterExit=yes\nSuccessExitStatus=5 6\nEnvironment=SYSTEMCTL_SKIP_REDIRECT=1\n",
    );
    // An interactive script waits for its user as long as it takes.
    t.push_str(if h.interactive {
        "TimeoutSec=0\n"
    } else {
        "TimeoutSec=5min\n"
    });
    let script = word(&s.path);
    let _ = writeln!(t, "ExecStart=:{script} start");
    let _ = writeln!(t, "ExecStop=:{script} stop");
    if s.reload {
        let _ = writeln!(t, "ExecReload=:{script} reload");
    }
    t
}

/// Writes what was generated into `dir` (the late generator directory), replacing what an
/// earlier run wrote there.
pub fn write(dir: &Path, g: &Generated) -> std::io::Result<()> {
    // What the directory must hold: files (text) and links (target), by path.
    let mut files: BTreeMap<PathBuf, &str> = BTreeMap::new();
    let mut links: BTreeMap<PathBuf, String> = BTreeMap::new();
    for (unit, text) in &g.units {
        files.insert(dir.join(unit), text.as_str());
    }
    for (alias, unit) in &g.aliases {
        links.insert(dir.join(alias), unit.clone());
    }
    for (target, units) in &g.wants {
        let wd = dir.join(format!("{target}.wants"));
        for u in units {
            links.insert(wd.join(u), format!("../{u}"));
        }
    }
    std::fs::create_dir_all(dir)?;
    remove_others(dir, &files, &links)?;
    // Only what differs is written: a unit whose script did not change keeps its file as it
    // was, so `daemon-reload` does not read it again (its stamp stays).
    for (path, text) in &files {
        if std::fs::read(path).ok().as_deref() != Some(text.as_bytes()) {
            std::fs::write(path, text)?;
        }
    }
    for (path, target) in &links {
        if std::fs::read_link(path).ok().as_deref() == Some(Path::new(target)) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_file(path);
        std::os::unix::fs::symlink(target, path)?;
    }
    Ok(())
}

/// Removes from `dir` (and its `.wants/` directories) whatever is not to be there any more:
/// scripts gone, links no longer wanted, files become links and back.
fn remove_others(
    dir: &Path,
    files: &BTreeMap<PathBuf, &str>,
    links: &BTreeMap<PathBuf, String>,
) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let path = e.path();
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            if links.keys().any(|l| l.parent() == Some(path.as_path())) {
                remove_others(&path, files, links)?;
            } else {
                std::fs::remove_dir_all(&path)?;
            }
        } else if (t.is_symlink() && !links.contains_key(&path))
            || (!t.is_symlink() && !files.contains_key(&path))
        {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

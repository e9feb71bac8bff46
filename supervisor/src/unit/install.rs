//! Unit files' installation: `enable`, `disable`, `reenable`, `preset`, `mask`, `unmask`,
//! `is-enabled` and `list-unit-files` (systemctl's, for cairn's unit path). Everything here
//! works on files below a root directory (`/`, or `--root=DIR` for an image with no manager
//! running): links are made in ROOT/etc/cairn/system and point at the unit file's path as seen
//! from inside the root, as systemctl's do.
//!
//! - `enable` follows `[Install]`: `WantedBy=` → `T.wants/NAME`, `RequiredBy=` →
//!   `T.requires/NAME`, `Alias=` → `ALIAS`, `Also=` → those units too; a template is enabled
//!   as its `DefaultInstance=` (or as the instance named), its links named after the instance
//!   and pointing at the template's file. Specifiers in `[Install]` expand for that instance.
//! - `disable` removes every link to the unit (and its `Also=` units) from the two
//!   configuration directories cairn reads, /etc/cairn/system and /etc/systemd/system: a
//!   machine enabled by systemctl is disabled by cairnctl.
//! - `mask` links NAME to /dev/null in /etc/cairn/system; `unmask` removes such links.
//! - `link PATH` (and `enable PATH`) links a unit file from outside the unit path into
//!   /etc/cairn/system.
//! - States as systemctl names them: enabled, enabled-runtime, linked, linked-runtime, alias,
//!   masked, masked-runtime, static, indirect, disabled, generated.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::config::{self, InstallSection, UnitConfig};
use super::name;
use super::specifier;
use super::syntax;

/// The unit path below a root (cairn's directories, then systemd's), then the generators'.
const SEARCH: &[&str] = &[
    "etc/cairn/system",
    "run/cairn/system",
    "usr/lib/cairn/system",
    "etc/systemd/system",
    "run/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];
const GENERATED: &[&str] = &[
    "run/cairn/snapshots",
    "run/cairn/generator",
    "run/cairn/generator.late",
];
/// Where links are made.
pub const CONFIG_DIR: &str = "etc/cairn/system";
/// Directories whose links count (and are removed by `disable`/`unmask`); the runtime ones
/// make a unit enabled-runtime / masked-runtime.
const LINK_DIRS: &[(&str, bool)] = &[
    ("etc/cairn/system", false),
    ("etc/systemd/system", false),
    ("run/cairn/system", true),
    ("run/systemd/system", true),
];
const PRESET_DIRS: &[&str] = &[
    "etc/cairn/system-preset",
    "run/cairn/system-preset",
    "usr/lib/cairn/system-preset",
    "etc/systemd/system-preset",
    "run/systemd/system-preset",
    "usr/lib/systemd/system-preset",
    "lib/systemd/system-preset",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("Unit file {0} does not exist.")]
    NotFound(String),
    #[error("unit {0} is masked.")]
    Masked(String),
    #[error("File {path} already exists{}.", .target.as_ref().map(|t| format!(" and is a symlink to {t}")).unwrap_or_default())]
    Exists {
        path: String,
        target: Option<String>,
    },
    #[error("{0}: {1}")]
    Io(String, String),
    #[error("{0}: {1}")]
    BadName(String, String),
}

/// One change made, reported as systemctl does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Symlink { path: PathBuf, target: PathBuf },
    Removed(PathBuf),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Symlink { path, target } => write!(
                f,
                "Created symlink {} → {}.",
                path.display(),
                target.display()
            ),
            Change::Removed(p) => write!(f, "Removed \"{}\".", p.display()),
        }
    }
}

/// systemctl's unit file states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Enabled,
    EnabledRuntime,
    Alias,
    Masked,
    MaskedRuntime,
    Static,
    Indirect,
    Disabled,
    Generated,
    Linked,
    LinkedRuntime,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::EnabledRuntime => "enabled-runtime",
            State::Alias => "alias",
            State::Masked => "masked",
            State::MaskedRuntime => "masked-runtime",
            State::Static => "static",
            State::Indirect => "indirect",
            State::Disabled => "disabled",
            State::Generated => "generated",
            State::Linked => "linked",
            State::LinkedRuntime => "linked-runtime",
        }
    }

    /// `is-enabled` exits 0 for these.
    pub fn counts_as_enabled(self) -> bool {
        !matches!(
            self,
            State::Disabled
                | State::Masked
                | State::MaskedRuntime
                | State::Linked
                | State::LinkedRuntime
        )
    }
}

/// A unit file found on the unit path.
#[derive(Debug, Clone)]
struct Found {
    /// The name asked for, or, for an alias, the name it stands for.
    name: String,
    /// The file, as seen from inside the root.
    path: PathBuf,
    install: InstallSection,
    generated: bool,
    /// The name asked for is an alias (a link to another unit's file).
    via_alias: bool,
    /// The unit file is outside the unit path, linked in by `link`/`enable PATH`: the link
    /// (outside the root) and whether it is in a runtime directory.
    linked: Option<(PathBuf, bool)>,
}

enum Lookup {
    Found(Found),
    Masked { path: PathBuf, runtime: bool },
    Missing,
}

/// The files below one root.
pub struct Root {
    root: PathBuf,
}

impl Root {
    pub fn new(root: impl Into<PathBuf>) -> Root {
        Root { root: root.into() }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A path inside the root, as the root sees it (`/usr/lib/...`).
    fn inside(&self, p: &Path) -> PathBuf {
        match p.strip_prefix(&self.root) {
            Ok(r) => Path::new("/").join(r),
            Err(_) => p.to_path_buf(),
        }
    }

    /// A link's target, as a path outside the root (an absolute target is inside it).
    fn resolve_link(&self, link: &Path) -> Option<PathBuf> {
        let t = std::fs::read_link(link).ok()?;
        Some(if t.is_absolute() {
            self.root.join(t.strip_prefix("/").unwrap_or(&t))
        } else {
            link.parent()?.join(t)
        })
    }

    fn lookup(&self, unit: &str) -> Lookup {
        let parsed = match name::parse(unit) {
            Ok(p) => p,
            Err(_) => return Lookup::Missing,
        };
        let mut candidates = vec![unit.to_string()];
        if let Some(t) = parsed.template() {
            if t != unit {
                candidates.push(t);
            }
        }
        for cand in &candidates {
            let dirs = SEARCH
                .iter()
                .map(|d| (*d, false))
                .chain(GENERATED.iter().map(|d| (*d, true)));
            for (dir, generated) in dirs {
                let p = self.at(dir).join(cand);
                let Ok(meta) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                let mut via_alias = false;
                let mut linked = None;
                let mut file = p.clone();
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&p).unwrap_or_default();
                    if target == Path::new("/dev/null") {
                        return Lookup::Masked {
                            path: self.inside(&p),
                            runtime: dir.starts_with("run/"),
                        };
                    }
                    let Some(real) = self.resolve_link(&p) else {
                        continue;
                    };
                    let real_name = real.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    via_alias = real_name != cand;
                    let on_path = SEARCH
                        .iter()
                        .chain(GENERATED)
                        .any(|d| real.parent() == Some(self.at(d).as_path()));
                    if !via_alias && !on_path {
                        linked = Some((p.clone(), dir.starts_with("run/")));
                    }
                    file = real;
                }
                if !file.is_file() {
                    continue;
                }
                let real_name = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(cand)
                    .to_string();
                // The unit the name stands for: the instance asked for, of the template found.
                let name = if cand != unit && !via_alias {
                    unit.to_string()
                } else if via_alias {
                    real_name
                } else {
                    cand.clone()
                };
                let install = read_install(&file, &name);
                return Lookup::Found(Found {
                    name,
                    path: self.inside(&file),
                    install,
                    generated,
                    via_alias,
                    linked,
                });
            }
        }
        Lookup::Missing
    }

    fn find(&self, unit: &str) -> Result<Found, InstallError> {
        match self.lookup(unit) {
            Lookup::Found(f) => Ok(f),
            Lookup::Masked { path, .. } => Err(InstallError::Masked(
                self.root
                    .join(path.strip_prefix("/").unwrap_or(&path))
                    .display()
                    .to_string(),
            )),
            Lookup::Missing => Err(InstallError::NotFound(unit.to_string())),
        }
    }

    /// The links `enable` makes for a unit: (link path outside the root, target inside it).
    fn links(&self, f: &Found) -> Vec<(PathBuf, PathBuf)> {
        let config = self.at(CONFIG_DIR);
        let Ok(parsed) = name::parse(&f.name) else {
            return Vec::new();
        };
        let link_name = match (&parsed.instance, &f.install.default_instance) {
            // A template: its default instance, or nothing to link by name.
            (Some(i), Some(def)) if i.is_empty() => Some(f.name.replace("@.", &format!("@{def}."))),
            (Some(i), None) if i.is_empty() => None,
            _ => Some(f.name.clone()),
        };
        let mut out = Vec::new();
        if let Some(link_name) = &link_name {
            for (dirs, suffix) in [
                (&f.install.wanted_by, "wants"),
                (&f.install.required_by, "requires"),
            ] {
                for t in dirs {
                    out.push((
                        config.join(format!("{t}.{suffix}")).join(link_name),
                        f.path.clone(),
                    ));
                }
            }
        }
        for a in &f.install.alias {
            out.push((config.join(a), f.path.clone()));
        }
        out
    }

    /// Visits each unit and, depth first in the order given, its `Also=` units, once each;
    /// with `skip_masked`, a masked unit is passed over instead of being an error.
    fn walk(
        &self,
        units: &[String],
        skip_masked: bool,
        mut visit: impl FnMut(&Found) -> Result<(), InstallError>,
    ) -> Result<(), InstallError> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = units.iter().rev().cloned().collect();
        while let Some(u) = todo.pop() {
            if !seen.insert(u.clone()) {
                continue;
            }
            let f = match self.find(&u) {
                Ok(f) => f,
                Err(InstallError::Masked(_)) if skip_masked => continue,
                Err(e) => return Err(e),
            };
            visit(&f)?;
            todo.extend(f.install.also.iter().rev().cloned());
        }
        Ok(())
    }

    /// `link PATH…`: a unit file outside the unit path made part of it, by a link in
    /// /etc/cairn/system named as the file. The unit names, for what comes next.
    pub fn link_files(&self, paths: &[String]) -> Result<(Vec<Change>, Vec<String>), InstallError> {
        let mut changes = Vec::new();
        let mut names = Vec::new();
        for p in paths {
            let file = self.root.join(p.trim_start_matches('/'));
            let name = Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            name::parse(&name).map_err(|e| InstallError::BadName(p.clone(), e.to_string()))?;
            if !p.starts_with('/') || !file.is_file() {
                return Err(InstallError::NotFound(p.clone()));
            }
            changes.extend(self.link(&self.at(CONFIG_DIR).join(&name), Path::new(p))?);
            names.push(name);
        }
        Ok((changes, names))
    }

    /// `enable`: the links `[Install]` asks for, for each unit and its `Also=` units. An
    /// absolute path is linked in first (`link`), as systemctl does.
    pub fn enable(&self, units: &[String]) -> Result<(Vec<Change>, Vec<String>), InstallError> {
        let (paths, mut names): (Vec<String>, Vec<String>) =
            units.iter().cloned().partition(|u| u.starts_with('/'));
        let (mut changes, linked) = self.link_files(&paths)?;
        names.extend(linked);
        let (more, nothing) = self.enable_names(&names)?;
        changes.extend(more);
        Ok((changes, nothing))
    }

    fn enable_names(&self, units: &[String]) -> Result<(Vec<Change>, Vec<String>), InstallError> {
        let mut changes = Vec::new();
        let mut nothing = Vec::new();
        self.walk(units, false, |f| {
            let links = self.links(f);
            if links.is_empty() && f.install.also.is_empty() {
                nothing.push(f.name.clone());
            }
            for (path, target) in links {
                changes.extend(self.link(&path, &target)?);
            }
            Ok(())
        })?;
        Ok((changes, nothing))
    }

    fn link(&self, path: &Path, target: &Path) -> Result<Option<Change>, InstallError> {
        let io = |e: std::io::Error| InstallError::Io(path.display().to_string(), e.to_string());
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                let have = std::fs::read_link(path).map_err(io)?;
                if have == target {
                    return Ok(None);
                }
                return Err(InstallError::Exists {
                    path: path.display().to_string(),
                    target: Some(have.display().to_string()),
                });
            }
            Ok(_) => {
                return Err(InstallError::Exists {
                    path: path.display().to_string(),
                    target: None,
                })
            }
            Err(_) => {}
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::os::unix::fs::symlink(target, path).map_err(io)?;
        Ok(Some(Change::Symlink {
            path: path.to_path_buf(),
            target: target.to_path_buf(),
        }))
    }

    /// Every link in the configuration directories that enables `f`: named after it (or an
    /// instance of it, for a template) in a `.wants/`/`.requires/` directory, its aliases, and
    /// any other link to its file.
    fn links_to(&self, f: &Found, runtime: Option<bool>) -> Vec<PathBuf> {
        let file = self.root.join(f.path.strip_prefix("/").unwrap_or(&f.path));
        let parsed = name::parse(&f.name).ok();
        let template_prefix = parsed
            .as_ref()
            .filter(|p| p.instance.as_deref() == Some(""))
            .map(|p| format!("{}@", p.prefix));
        let is_instance = parsed
            .as_ref()
            .is_some_and(|p| p.instance.as_deref().is_some_and(|i| !i.is_empty()));
        let names_it = |n: &str| {
            n == f.name
                || f.install.alias.iter().any(|a| a == n)
                || template_prefix.as_ref().is_some_and(|t| {
                    n.starts_with(t.as_str())
                        && n.ends_with(&format!(
                            ".{}",
                            parsed.as_ref().map(|p| p.utype.suffix()).unwrap_or("")
                        ))
                })
        };
        let mut out = Vec::new();
        for (dir, is_runtime) in LINK_DIRS {
            if runtime.is_some_and(|r| r != *is_runtime) {
                continue;
            }
            let dir = self.at(dir);
            let mut check = |p: PathBuf, in_deps_dir: bool| {
                let Ok(m) = std::fs::symlink_metadata(&p) else {
                    return;
                };
                if !m.file_type().is_symlink() {
                    return;
                }
                let n = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string();
                let target = self.resolve_link(&p);
                // An instance is enabled by links of its own name only; the template's file
                // is every instance's.
                let to_file = !is_instance && target.as_deref() == Some(file.as_path());
                if to_file || (in_deps_dir && names_it(&n)) {
                    out.push(p);
                }
            };
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let n = e.file_name().to_string_lossy().into_owned();
                if (n.ends_with(".wants") || n.ends_with(".requires")) && p.is_dir() {
                    if let Ok(inner) = std::fs::read_dir(&p) {
                        for i in inner.flatten() {
                            check(i.path(), true);
                        }
                    }
                } else {
                    check(p, false);
                }
            }
        }
        out.sort();
        out
    }

    /// `disable`: removes the links to each unit and to its `Also=` units (a masked unit
    /// has nothing enabled to remove).
    pub fn disable(&self, units: &[String]) -> Result<Vec<Change>, InstallError> {
        let mut changes = Vec::new();
        self.walk(units, true, |f| {
            let own = self.root.join(f.path.strip_prefix("/").unwrap_or(&f.path));
            // The unit's own file is never removed, even when it is a link (linked units).
            for p in self.links_to(f, None).into_iter().filter(|p| *p != own) {
                changes.push(remove(p)?);
            }
            Ok(())
        })?;
        Ok(changes)
    }

    /// `mask`: NAME → /dev/null in /etc/cairn/system.
    pub fn mask(&self, units: &[String]) -> Result<Vec<Change>, InstallError> {
        let mut changes = Vec::new();
        for u in units {
            name::parse(u).map_err(|e| InstallError::BadName(u.clone(), e.to_string()))?;
            let path = self.at(CONFIG_DIR).join(u);
            if let Some(c) = self.link(&path, Path::new("/dev/null"))? {
                changes.push(c);
            }
        }
        Ok(changes)
    }

    /// `unmask`: removes NAME → /dev/null from the configuration directories.
    pub fn unmask(&self, units: &[String]) -> Result<Vec<Change>, InstallError> {
        let mut changes = Vec::new();
        for u in units {
            for (dir, _) in LINK_DIRS {
                let p = self.at(dir).join(u);
                if std::fs::read_link(&p).is_ok_and(|t| t == Path::new("/dev/null")) {
                    changes.push(remove(p)?);
                }
            }
        }
        Ok(changes)
    }

    /// The unit file state of `unit` (`is-enabled`).
    pub fn state(&self, unit: &str) -> Result<State, InstallError> {
        let f = match self.lookup(unit) {
            Lookup::Found(f) => f,
            Lookup::Masked { runtime, .. } => {
                return Ok(if runtime {
                    State::MaskedRuntime
                } else {
                    State::Masked
                })
            }
            Lookup::Missing => return Err(InstallError::NotFound(unit.to_string())),
        };
        if f.via_alias {
            return Ok(State::Alias);
        }
        if f.generated {
            return Ok(State::Generated);
        }
        // The link that brings a linked unit file in does not enable it.
        let link = f.linked.as_ref().map(|(l, _)| l.clone());
        let enabling = |runtime| {
            self.links_to(&f, Some(runtime))
                .into_iter()
                .any(|p| Some(&p) != link.as_ref())
        };
        if enabling(false) {
            return Ok(State::Enabled);
        }
        if enabling(true) {
            return Ok(State::EnabledRuntime);
        }
        if let Some((_, runtime)) = f.linked {
            return Ok(if runtime {
                State::LinkedRuntime
            } else {
                State::Linked
            });
        }
        let i = &f.install;
        Ok(
            if i.wanted_by.is_empty() && i.required_by.is_empty() && i.alias.is_empty() {
                if i.also.is_empty() {
                    State::Static
                } else {
                    State::Indirect
                }
            } else {
                State::Disabled
            },
        )
    }

    /// What the preset files say of `unit`: `Some(true)` enable, `Some(false)` disable; no
    /// line matches: enable (systemd's default).
    pub fn preset_of(&self, unit: &str) -> bool {
        preset_rules(self)
            .into_iter()
            .find(|(pattern, _)| glob(pattern, unit))
            .is_none_or(|(_, enable)| enable)
    }

    /// `preset`: enable or disable each unit as the preset files say.
    pub fn preset(&self, units: &[String]) -> Result<Vec<Change>, InstallError> {
        // Removals first, then links (as systemctl): a unit disabled by preset does not
        // take away what an enabled one's Also= makes.
        let (on, off): (Vec<String>, Vec<String>) =
            units.iter().cloned().partition(|u| self.preset_of(u));
        let mut changes = self.disable(&off)?;
        changes.extend(self.enable(&on)?.0);
        Ok(changes)
    }

    /// `list-unit-files`: every unit file on the path (first of each name), its state and
    /// what the presets say (`-` for units that cannot be enabled).
    pub fn list(&self) -> Vec<(String, State, Option<bool>)> {
        let mut names = BTreeSet::new();
        for dir in SEARCH.iter().chain(GENERATED) {
            let Ok(rd) = std::fs::read_dir(self.at(dir)) else {
                continue;
            };
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if name::parse(&n).is_ok() && !e.path().is_dir() {
                    names.insert(n);
                }
            }
        }
        names
            .into_iter()
            .filter_map(|n| {
                let s = self.state(&n).ok()?;
                let installable = match self.lookup(&n) {
                    Lookup::Found(f) => {
                        !(f.install.wanted_by.is_empty()
                            && f.install.required_by.is_empty()
                            && f.install.alias.is_empty()
                            && f.install.also.is_empty())
                    }
                    _ => false,
                };
                let preset = installable.then(|| self.preset_of(&n));
                Some((n, s, preset))
            })
            .collect()
    }
}

fn remove(p: PathBuf) -> Result<Change, InstallError> {
    std::fs::remove_file(&p)
        .map_err(|e| InstallError::Io(p.display().to_string(), e.to_string()))?;
    Ok(Change::Removed(p))
}

/// The `[Install]` section of a unit file, its specifiers expanded for `unit`.
fn read_install(path: &Path, unit: &str) -> InstallSection {
    let Ok(text) = std::fs::read_to_string(path) else {
        return InstallSection::default();
    };
    let (file, _) = syntax::parse(&text);
    let mut cfg = UnitConfig::default();
    let spec = specifier::Context {
        unit: unit.to_string(),
        ..Default::default()
    };
    let utype = name::parse(unit)
        .map(|n| n.utype)
        .unwrap_or(name::UnitType::Service);
    config::apply(&mut cfg, utype, &file, path, &spec, &mut Vec::new());
    (*cfg.install).clone()
}

/// Preset rules in order: files by name across the preset directories (an earlier
/// directory's file hides a later one's of the same name), lines in order.
fn preset_rules(root: &Root) -> Vec<(String, bool)> {
    let mut files: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for dir in PRESET_DIRS {
        let Ok(rd) = std::fs::read_dir(root.at(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".preset") {
                files.entry(n).or_insert(e.path());
            }
        }
    }
    let mut rules = Vec::new();
    for p in files.values() {
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let mut w = line.split_whitespace();
            match (w.next(), w.next()) {
                (Some("enable"), Some(pat)) => rules.push((pat.to_string(), true)),
                (Some("disable"), Some(pat)) => rules.push((pat.to_string(), false)),
                _ => {}
            }
        }
    }
    rules
}

/// fnmatch(3) for unit names: `*`, `?` and `[...]` (no escapes: unit names have none).
pub fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && m(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']').filter(|e| *e > 1) else {
                    return s.first() == Some(&'[') && m(&p[1..], &s[1..]);
                };
                let Some(c) = s.first() else { return false };
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('!' | '^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &s[1..])
            }
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    m(&p, &s)
}

#[cfg(test)]
mod tests;

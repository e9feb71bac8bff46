//! Finding and reading unit files: the search path (first match wins), aliases (symlinks,
//! `Alias=` of the shipped targets), masks (symlinks to /dev/null), drop-ins (`NAME.d/*.conf`
//! from every directory, sorted by file name, an earlier directory's file of the same name
//! hiding a later one's), `.wants/` and `.requires/` directories, templates and instances.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::builtin;
use super::config::{self, UnitConfig, Warning};
use super::name::{self, UnitType};
use super::specifier;
use super::syntax;

/// Largest unit file read; longer ones are refused (systemd refuses over 4 MiB too).
pub const MAX_FILE: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    Loaded,
    NotFound,
    /// The unit cannot work as written; the reason says why.
    BadSetting(String),
    /// The file could not be read or parsed at all.
    Error(String),
    Masked,
    /// A unit type cairn does not run (timer, path, slice, swap, scope).
    NotSupported,
}

impl LoadState {
    pub fn as_str(&self) -> &'static str {
        match self {
            LoadState::Loaded => "loaded",
            LoadState::NotFound => "not-found",
            LoadState::BadSetting(_) => "bad-setting",
            LoadState::Error(_) => "error",
            LoadState::Masked => "masked",
            LoadState::NotSupported => "not-supported",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            LoadState::BadSetting(r) | LoadState::Error(r) => Some(r),
            _ => None,
        }
    }
}

/// Where a unit's text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fragment {
    /// The file of the same name in the catalog's `dirs[i]` (its path is made when asked for,
    /// [`Catalog::fragment`]: with 10,000 units, 10,000 allocations fewer).
    File(u16),
    Builtin(&'static str),
}

/// Everything the search path holds, by name.
#[derive(Debug, Default)]
pub struct Catalog {
    pub dirs: Vec<PathBuf>,
    pub fragments: BTreeMap<String, Fragment>,
    /// alias name → canonical name
    pub aliases: BTreeMap<String, String>,
    pub masked: BTreeSet<String>,
    pub wants: BTreeMap<String, Vec<String>>,
    pub requires: BTreeMap<String, Vec<String>>,
    /// unit name → drop-in file name → path (first directory wins)
    pub dropins: BTreeMap<String, BTreeMap<String, PathBuf>>,
    pub warnings: Vec<String>,
    /// Names that cannot load, and why (aliases that lead back to themselves).
    pub broken: BTreeMap<String, String>,
}

impl Catalog {
    /// Scans `dirs` in priority order, then the shipped units.
    pub fn scan(dirs: &[PathBuf]) -> Catalog {
        let mut c = Catalog {
            dirs: dirs.to_vec(),
            ..Catalog::default()
        };
        for (i, dir) in dirs.iter().enumerate() {
            match u16::try_from(i) {
                Ok(i) => c.scan_dir(dir, i),
                Err(_) => c.warnings.push(format!(
                    "{}: too many unit directories; ignored",
                    dir.display()
                )),
            }
        }
        for (name, text) in builtin::UNITS {
            if c.fragments.contains_key(*name)
                || c.aliases.contains_key(*name)
                || c.masked.contains(*name)
            {
                continue;
            }
            match text.strip_prefix("@alias ") {
                Some(target) => {
                    c.aliases.insert(name.to_string(), target.to_string());
                }
                None => {
                    c.fragments
                        .insert(name.to_string(), Fragment::Builtin(text));
                }
            }
        }
        c.break_alias_loops();
        c
    }

    /// Aliases (symlinks to another unit name) that lead back to themselves: each name of the
    /// loop fails to load with the loop spelled out, as systemd's "Too many levels of
    /// symbolic links", instead of looking not found.
    fn break_alias_loops(&mut self) {
        let mut looped: BTreeMap<String, String> = BTreeMap::new();
        for start in self.aliases.keys() {
            let mut path = vec![start.clone()];
            let mut cur = start;
            while let Some(next) = self.aliases.get(cur) {
                if path.contains(next) {
                    path.push(next.clone());
                    looped.insert(
                        start.clone(),
                        format!("symbolic link loop: {}", path.join(" → ")),
                    );
                    break;
                }
                path.push(next.clone());
                cur = next;
            }
        }
        for (name, why) in looped {
            self.aliases.remove(&name);
            self.warnings.push(format!("{name}: {why}; it cannot load"));
            self.broken.insert(name, why);
        }
    }

    /// The fragment a unit loads (its template's, for an instance) and its path.
    pub fn fragment(&self, unit_name: &str) -> Option<(&Fragment, PathBuf)> {
        let template = name::parse(unit_name).ok().and_then(|p| p.template());
        let (key, f) = self.fragments.get_key_value(unit_name).or_else(|| {
            template
                .as_ref()
                .and_then(|t| self.fragments.get_key_value(t.as_str()))
        })?;
        let path = match f {
            Fragment::File(i) => self.dirs.get(usize::from(*i))?.join(key),
            Fragment::Builtin(_) => Path::new(builtin::PATH).join(unit_name),
        };
        Some((f, path))
    }

    fn taken(&self, name: &str) -> bool {
        self.fragments.contains_key(name)
            || self.aliases.contains_key(name)
            || self.masked.contains(name)
    }

    fn scan_dir(&mut self, dir: &Path, index: u16) {
        // A directory anyone may write to could hand the manager anyone's units: refused.
        if let Some(why) = untrusted_dir(dir) {
            self.warnings
                .push(format!("{}: {why}; its units are refused", dir.display()));
            return;
        }
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Some(fname) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = e.path();
            if let Some(unit) = fname.strip_suffix(".wants") {
                self.scan_deps_dir(&path, unit, true);
                continue;
            }
            if let Some(unit) = fname.strip_suffix(".requires") {
                self.scan_deps_dir(&path, unit, false);
                continue;
            }
            if let Some(unit) = fname.strip_suffix(".d") {
                if name::parse(unit).is_ok() && path.is_dir() {
                    self.scan_dropins(&path, unit);
                }
                continue;
            }
            if name::parse(&fname).is_err() || self.taken(&fname) {
                continue;
            }
            // One lstat for a regular file (10,000 units: this loop is most of a reload).
            let mut meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                if target == Path::new("/dev/null") {
                    self.masked.insert(fname);
                    continue;
                }
                let tname = target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                if !tname.is_empty() && tname != fname && name::parse(&tname).is_ok() {
                    self.aliases.insert(fname, tname);
                    continue;
                }
                // A link to a file of the same name elsewhere: what it points to counts (a
                // dangling one fails to load, with the reason).
                meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(_) => {
                        self.fragments.insert(fname, Fragment::File(index));
                        continue;
                    }
                };
            }
            if meta.is_dir() {
                self.warnings.push(format!(
                    "{}: is a directory, not a unit file; ignoring",
                    path.display()
                ));
                continue;
            }
            if let Some(why) = untrusted_meta(&meta) {
                self.warnings
                    .push(format!("{}: {why}; refused", path.display()));
                self.broken
                    .insert(fname, format!("{}: {why}", path.display()));
                continue;
            }
            self.fragments.insert(fname, Fragment::File(index));
        }
    }

    fn scan_deps_dir(&mut self, dir: &Path, unit: &str, wants: bool) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| name::parse(n).is_ok())
            .collect();
        names.sort();
        let map = if wants {
            &mut self.wants
        } else {
            &mut self.requires
        };
        let list = map.entry(unit.to_string()).or_default();
        for n in names {
            if !list.contains(&n) {
                list.push(n);
            }
        }
    }

    fn scan_dropins(&mut self, dir: &Path, unit: &str) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let map = self.dropins.entry(unit.to_string()).or_default();
        for e in rd.flatten() {
            if let Some(n) = e.file_name().to_str() {
                if n.ends_with(".conf") && !map.contains_key(n) {
                    map.insert(n.to_string(), e.path());
                }
            }
        }
    }

    /// The units `name`'s `.wants/` (or `.requires/`) directories name: its own, and its
    /// template's with the instance put in (`getty@.target.wants/x@.service` makes
    /// `getty@tty1.target` want `x@tty1.service`).
    pub fn deps_dir(&self, name: &str, wants: bool) -> Vec<String> {
        let map = if wants { &self.wants } else { &self.requires };
        let mut out: Vec<String> = map.get(name).cloned().unwrap_or_default();
        let Ok(parsed) = name::parse(name) else {
            return out;
        };
        if let (Some(t), Some(i)) = (parsed.template(), parsed.instance.as_deref()) {
            if t != name {
                for dep in map.get(&t).into_iter().flatten() {
                    let dep = dep.replace("@.", &format!("@{i}."));
                    if !out.contains(&dep) {
                        out.push(dep);
                    }
                }
            }
        }
        out
    }

    /// A unit's drop-ins: the template's, then the instance's; by file name across both.
    pub fn dropin_paths(
        &self,
        unit_name: &str,
        template: Option<&str>,
    ) -> BTreeMap<String, PathBuf> {
        let mut dropins: BTreeMap<String, PathBuf> = BTreeMap::new();
        for key in template.into_iter().chain([unit_name]) {
            if let Some(m) = self.dropins.get(key) {
                for (n, p) in m {
                    dropins.insert(n.clone(), p.clone());
                }
            }
        }
        dropins
    }

    /// The canonical name for `name` (following aliases, at most 32 hops).
    pub fn resolve(&self, name: &str) -> String {
        let mut n = name.to_string();
        for _ in 0..32 {
            match self.aliases.get(&n) {
                Some(t) => n = t.clone(),
                None => break,
            }
        }
        n
    }

    /// Every name this catalog can load (canonical names).
    pub fn names(&self) -> Vec<String> {
        let mut v: BTreeSet<String> = self.fragments.keys().cloned().collect();
        v.extend(self.masked.iter().cloned());
        // Loaded, as failing to: `status` then says why.
        v.extend(self.broken.keys().cloned());
        v.into_iter().filter(|n| !n.contains("@.")).collect()
    }
}

/// Why a unit directory cannot be trusted, if it cannot: writable by others (without the
/// sticky bit), or owned by neither root nor this process's user.
pub fn untrusted_dir(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir).ok()?;
    let me = nix::unistd::geteuid().as_raw();
    if m.mode() & 0o002 != 0 && m.mode() & 0o1000 == 0 {
        return Some(format!("writable by anyone (mode {:o})", m.mode() & 0o7777));
    }
    if m.uid() != 0 && m.uid() != me {
        return Some(format!("owned by uid {}, not root", m.uid()));
    }
    None
}

/// Why a unit file cannot be trusted, if it cannot: owned by another user than root (or this
/// process's), or writable by anyone.
pub fn untrusted_file(path: &Path) -> Option<String> {
    untrusted_meta(&std::fs::metadata(path).ok()?)
}

/// [`untrusted_file`] of a file whose status is already at hand.
fn untrusted_meta(m: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    if m.uid() != 0 && m.uid() != me {
        return Some(format!("owned by uid {}, not root", m.uid()));
    }
    if m.mode() & 0o002 != 0 {
        return Some(format!("writable by anyone (mode {:o})", m.mode() & 0o7777));
    }
    None
}

/// A unit read from disk, before its dependencies are resolved to other units.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub name: String,
    pub utype: UnitType,
    pub fragment: Option<PathBuf>,
    pub dropins: Vec<PathBuf>,
    pub config: UnitConfig,
    pub state: LoadState,
    pub warnings: Vec<Warning>,
    /// From `.wants/` and `.requires/` directories.
    pub extra_wants: Vec<String>,
    pub extra_requires: Vec<String>,
    /// What the load read, as one number ([`stamp`]); 0 when it cannot vouch for that.
    pub stamp: u64,
    /// The text of the fragment and of each drop-in in `dropins`, in that order, as read:
    /// what [`parse_files`] makes `config` from once more.
    pub texts: Vec<Box<str>>,
}

/// How long after a file's last change its status can still be the same after another
/// change: file times come from a clock that advances by one tick (a few ms); well over it.
const RACY_NS: i128 = 100_000_000;
/// The same where file times are whole seconds (or happen to fall on one).
const RACY_COARSE_NS: i128 = 2_000_000_000;

/// A number that changes whenever anything a load of `unit_name` would read changes: the
/// files (fragment, or the template's; drop-ins; each by device, inode, size, mode, owner,
/// mtime and ctime), the catalog's masks, its `.wants/`/`.requires/` entries and the
/// fragment's path. `daemon-reload` loads again only the units whose stamp moved.
///
/// 0 (never equal to a later stamp) when a file changed within `RACY_NS` of now: a second
/// change inside the same clock tick would leave its status as it is (git's "racily clean"
/// entries), so such a unit is read again at the next reload.
pub fn stamp(cat: &Catalog, unit_name: &str, now: std::time::SystemTime) -> u64 {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let now_ns = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut racy = false;
    let mut file = |h: &mut std::collections::hash_map::DefaultHasher, p: &Path| {
        p.hash(h);
        match std::fs::metadata(p) {
            Ok(m) => {
                let ctime = i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec());
                // A file system that keeps whole seconds only (FAT, ext4 with small inodes,
                // some NFS): two changes within the same second look alike.
                let window = if m.ctime_nsec() == 0 {
                    RACY_COARSE_NS
                } else {
                    RACY_NS
                };
                racy |= ctime >= now_ns - window;
                (m.dev(), m.ino(), m.size(), m.mode(), m.uid()).hash(h);
                (m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()).hash(h);
            }
            Err(e) => e.kind().hash(h),
        }
    };
    cat.masked.contains(unit_name).hash(&mut h);
    cat.broken.get(unit_name).hash(&mut h);
    let template = name::parse(unit_name).ok().and_then(|p| p.template());
    match cat.fragment(unit_name) {
        Some((Fragment::File(_), p)) => file(&mut h, &p),
        Some((Fragment::Builtin(t), _)) => (t.as_ptr() as usize, t.len()).hash(&mut h),
        None => 0u8.hash(&mut h),
    }
    for p in cat.dropin_paths(unit_name, template.as_deref()).values() {
        file(&mut h, p);
    }
    cat.deps_dir(unit_name, true).hash(&mut h);
    cat.deps_dir(unit_name, false).hash(&mut h);
    match h.finish() {
        _ if racy => 0,
        0 => 1,
        n => n,
    }
}

fn read(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_FILE {
        return Err(format!(
            "{}: {} bytes, over the {MAX_FILE}-byte limit",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not valid UTF-8", path.display()))
}

/// Loads one unit by canonical name. A name with no file (and no template for its instance)
/// is `NotFound`; foreign types are `NotSupported`; bad files `Error`/`BadSetting`.
pub fn load(cat: &Catalog, unit_name: &str, spec_base: &specifier::Context) -> Loaded {
    // Before anything is read: a change after this moves the stamp.
    let stamp = stamp(cat, unit_name, std::time::SystemTime::now());
    let parsed = name::parse(unit_name);
    let utype = parsed
        .as_ref()
        .map(|n| n.utype)
        .unwrap_or(UnitType::Service);
    let mut l = Loaded {
        name: unit_name.to_string(),
        utype,
        fragment: None,
        dropins: Vec::new(),
        config: UnitConfig::default(),
        state: LoadState::NotFound,
        warnings: Vec::new(),
        extra_wants: cat.deps_dir(unit_name, true),
        extra_requires: cat.deps_dir(unit_name, false),
        stamp,
        texts: Vec::new(),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            l.state = LoadState::Error(e.to_string());
            return l;
        }
    };
    if cat.masked.contains(unit_name) {
        l.state = LoadState::Masked;
        return l;
    }
    if let Some(why) = cat.broken.get(unit_name) {
        l.state = LoadState::Error(why.clone());
        return l;
    }
    let template = parsed.template();
    let Some((fragment, frag_path)) = cat.fragment(unit_name) else {
        // A device unit needs no file: it exists (dead until devmon sees the device), as in
        // systemd, so that BindsTo=/After= on it work before the device is there.
        if utype == UnitType::Device {
            l.state = LoadState::Loaded;
        }
        return l;
    };
    // Foreign types load as not-supported, visibly, rather than pretend to work.
    if matches!(
        utype,
        UnitType::Timer | UnitType::Path | UnitType::Slice | UnitType::Swap | UnitType::Scope
    ) {
        l.fragment = Some(frag_path);
        l.state = LoadState::NotSupported;
        return l;
    }
    let text = match fragment {
        Fragment::File(_) => match read(&frag_path) {
            Ok(t) => t,
            Err(e) => {
                l.fragment = Some(frag_path);
                l.state = LoadState::Error(e);
                return l;
            }
        },
        Fragment::Builtin(t) => t.to_string(),
    };
    l.texts.push(text.into_boxed_str());
    for p in cat.dropin_paths(unit_name, template.as_deref()).values() {
        match read(p) {
            Ok(t) => {
                l.dropins.push(p.clone());
                l.texts.push(t.into_boxed_str());
            }
            Err(e) => l.warnings.push(Warning {
                file: p.clone(),
                line: 0,
                message: format!("cannot read drop-in: {e}"),
            }),
        }
    }
    let texts: Vec<&str> = l.texts.iter().map(|t| &**t).collect();
    l.config = parse_files(
        utype,
        unit_name,
        &frag_path,
        &l.dropins,
        &texts,
        spec_base,
        &mut l.warnings,
    );
    l.fragment = Some(frag_path);
    l.state = match verify(&l) {
        Ok(()) => LoadState::Loaded,
        Err(reason) => LoadState::BadSetting(reason),
    };
    l
}

/// The settings of a unit made from the text of its files, `texts[0]` the fragment's at
/// `fragment`, the others the drop-ins' at `dropins`, in order: by [`load`], and again for a
/// unit that keeps only its text (`manager::settings`).
pub fn parse_files(
    utype: UnitType,
    unit_name: &str,
    fragment: &Path,
    dropins: &[PathBuf],
    texts: &[&str],
    spec_base: &specifier::Context,
    warnings: &mut Vec<Warning>,
) -> UnitConfig {
    thread_local! {
        static SPEC: std::cell::RefCell<specifier::Context> = Default::default();
    }
    SPEC.with(|spec| {
        let mut spec = spec.borrow_mut();
        spec.for_unit(spec_base, unit_name, fragment);
        let mut config = UnitConfig::default();
        for (path, text) in std::iter::once(fragment)
            .chain(dropins.iter().map(PathBuf::as_path))
            .zip(texts)
        {
            let (file, syntax_warnings) = syntax::parse(text);
            warnings.extend(syntax_warnings.into_iter().map(|w| Warning {
                file: path.to_path_buf(),
                line: w.line,
                message: w.message,
            }));
            config::apply(&mut config, utype, &file, path, &spec, warnings);
        }
        config
    })
}

/// The settings a unit cannot work without (systemd's `service_verify`).
fn verify(l: &Loaded) -> Result<(), String> {
    if let Some(first) = l.config.fatal.first() {
        return Err(first.clone());
    }
    if l.utype == UnitType::Automount {
        crate::unit::mount_config::verify_where(&l.name, l.config.automount.where_.as_deref())?;
        return Ok(());
    }
    if l.utype == UnitType::Mount {
        crate::unit::mount_config::verify_where(&l.name, l.config.mount.where_.as_deref())?;
        if l.config.mount.what.is_none() {
            return Err("What= setting is missing; refusing".into());
        }
        return Ok(());
    }
    if l.utype == UnitType::Socket {
        if l.config.service.dynamic_user {
            return Err("DynamicUser=yes is not supported by cairn (it would allocate a user); set User= instead".into());
        }
        return crate::unit::socket_config::verify(&l.config.socket);
    }
    if l.utype != UnitType::Service {
        return Ok(());
    }
    let s = &l.config.service;
    use crate::service::machine::ServiceType;
    let stype = s.stype.unwrap_or(if s.exec_start.is_empty() {
        ServiceType::Oneshot
    } else if s.bus_name.is_some() {
        ServiceType::Dbus
    } else {
        ServiceType::Simple
    });
    if stype == ServiceType::Dbus && s.bus_name.is_none() {
        return Err(
            "service is of type D-Bus but no D-Bus service name has been specified; refusing"
                .into(),
        );
    }
    if s.dynamic_user {
        return Err("DynamicUser=yes is not supported by cairn (it would allocate a user); set User= instead".into());
    }
    if s.exec_start.is_empty() && s.exec_stop.is_empty() && l.config.unit.success_action.is_none() {
        return Err("service has no ExecStart=, ExecStop=, or SuccessAction=; refusing".into());
    }
    if s.exec_start.is_empty() && stype != ServiceType::Oneshot {
        return Err("service has no ExecStart= setting, which is only allowed for Type=oneshot services; refusing".into());
    }
    if s.exec_start.len() > 1 && stype != ServiceType::Oneshot {
        return Err("service has more than one ExecStart= setting, which is only allowed for Type=oneshot services; refusing".into());
    }
    use crate::service::policy::RestartPolicy;
    if stype == ServiceType::Oneshot
        && matches!(s.restart, RestartPolicy::Always | RestartPolicy::OnSuccess)
    {
        return Err("service has Restart= set to either always or on-success, which isn't allowed for Type=oneshot services; refusing".into());
    }
    Ok(())
}

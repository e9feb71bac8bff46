//! A unit's settings as the table keeps them: parsed, or only the text they are parsed from.
//!
//! A service or a target keeps the text of its files (a trivial unit: under 200 bytes, where
//! its parsed settings take over a kilobyte) and is parsed again (0.7 µs for such a unit)
//! whenever something asks for its settings: at a spawn, a job's conditions, a stop; not for
//! each line it logs (its syslog settings are kept at the spawn, `runtime::SyslogAs`). Most
//! loaded units never run, and a running one needs its settings only at such moments; systemd
//! keeps every loaded unit parsed (4.6 kB each). The last 16 parses are kept (a start asks
//! several times in a row); otherwise parsing on demand rather than keeping the result while a
//! unit runs also leaves no holes in the heap when it stops. The text is the
//! one read at load, so what a unit does does not depend on when it is parsed: a file changed
//! on disk takes effect at `daemon-reload`, as with systemd. docs/performance.md §11.

use std::path::Path;
use std::rc::Rc;

use super::rt::{intern, spec_of};
use crate::job::graph::Dep;
use crate::service::machine::Spec;
use crate::unit::config::UnitConfig;
use crate::unit::load::{self, LoadState};
use crate::unit::name::UnitType;
use crate::unit::specifier;

#[derive(Debug, Clone)]
pub enum Settings {
    Parsed(Rc<UnitConfig>),
    Text(Rc<Source>),
}

/// What a unit's settings are made from: its files' text as loaded (the fragment's, then each
/// drop-in's in the entry's order), one after the other in one allocation, and the
/// specifiers' context of that load.
///
/// With it, what the manager reads of every unit when it builds the table and its run-time
/// records, taken from the load's parse, so that building does not parse each unit again.
#[derive(Debug)]
pub struct Source {
    spec: Rc<specifier::Context>,
    text: Box<str>,
    /// Where each file but the last ends in `text` (none: a fragment without drop-ins).
    ends: thin_vec::ThinVec<u32>,
    /// [`spec_of`] its `[Service]` section (interned: shared by units alike).
    service: Rc<Spec>,
    /// StartLimitIntervalSec= (µs) and StartLimitBurst=.
    start_limit: (u64, u32),
    stop_when_unneeded: bool,
    /// It has Condition*= or Assert*= settings.
    checks: bool,
    /// DefaultDependencies= as given (a target wanting it reads it).
    default_dependencies: Option<bool>,
    /// The names its edges go to ([`super::edges::edge_names`]), as a 64-bit Bloom filter: a
    /// `daemon-reload` that adds units parses again only the units that may name one.
    names: u64,
}

impl Source {
    fn new(
        spec: Rc<specifier::Context>,
        l: &mut load::Loaded,
        edge_names: &[(Dep, String)],
    ) -> Option<Source> {
        let names = edge_names
            .iter()
            .fold(0, |bloom, (_, n)| bloom | name_bits(n));
        let service = intern(spec_of(&l.config.service));
        let u = &l.config.unit;
        let stop_when_unneeded = u.stop_when_unneeded;
        let interval = u64::try_from(u.start_limit_interval.as_micros()).unwrap_or(u64::MAX);
        let start_limit = (interval, u.start_limit_burst);
        let checks = !u.conditions.is_empty() || !u.asserts.is_empty();
        let default_dependencies = u.default_dependencies;
        let texts = &mut l.texts;
        let mut ends = thin_vec::ThinVec::new();
        let text = if texts.len() == 1 {
            // The usual case, without a copy.
            texts.pop()?
        } else {
            let mut text = String::with_capacity(texts.iter().map(|t| t.len()).sum());
            for (i, t) in texts.iter().enumerate() {
                if i > 0 {
                    ends.push(u32::try_from(text.len()).ok()?);
                }
                text.push_str(t);
            }
            text.into_boxed_str()
        };
        Some(Source {
            spec,
            text,
            ends,
            service,
            start_limit,
            stop_when_unneeded,
            checks,
            default_dependencies,
            names,
        })
    }

    fn texts(&self) -> Vec<&str> {
        let mut start = 0;
        let mut out = Vec::with_capacity(self.ends.len() + 1);
        for end in self.ends.iter().chain(std::iter::once(&u32::MAX)) {
            let end = (*end as usize).min(self.text.len());
            out.push(self.text.get(start..end).unwrap_or_default());
            start = end;
        }
        out
    }
}

/// How many units' settings, parsed again, are kept for the next ask: a start asks for a
/// unit's several times in a row (its conditions, its start limit, the spawn, its cgroup's
/// limits), and the loop starts units in batches. Bounded: 16 parses, some 20 KB.
const RECENT_MAX: usize = 16;

thread_local! {
    static RECENT: std::cell::RefCell<std::collections::VecDeque<(std::rc::Weak<Source>, Rc<UnitConfig>)>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

/// Two bits of 64 for a unit name (a fixed hash: the same in every process).
fn name_bits(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let h = h.finish();
    (1 << (h % 64)) | (1 << ((h >> 6) % 64))
}

impl Default for Settings {
    /// The default settings, one allocation for every unit that has them (not-found ones).
    fn default() -> Self {
        thread_local! {
            static DEFAULT: Rc<UnitConfig> = Rc::new(UnitConfig::default());
        }
        Settings::Parsed(DEFAULT.with(Rc::clone))
    }
}

impl Settings {
    /// What a load found, in the form the table keeps: text for a service or target read from
    /// a file, parsed for the rest (mounts, sockets, devices and automounts are read by the
    /// helpers' set-up at start; units in error keep what the load could make of them).
    pub fn of(
        l: &mut load::Loaded,
        spec: &Rc<specifier::Context>,
        edge_names: &[(Dep, String)],
    ) -> Settings {
        let text_only = l.state == LoadState::Loaded
            && matches!(l.utype, UnitType::Service | UnitType::Target)
            && l.fragment.is_some()
            && !l.texts.is_empty();
        match text_only
            .then(|| Source::new(spec.clone(), l, edge_names))
            .flatten()
        {
            Some(source) => Settings::Text(Rc::new(source)),
            None => Settings::Parsed(Rc::new(std::mem::take(&mut l.config))),
        }
    }

    /// The settings, parsed (again, for a unit that keeps its text).
    pub fn get(
        &self,
        utype: UnitType,
        name: &str,
        fragment: &Path,
        dropins: &[std::path::PathBuf],
    ) -> Rc<UnitConfig> {
        let s = match self {
            Settings::Parsed(c) => return c.clone(),
            Settings::Text(s) => s,
        };
        // A Weak keeps its allocation: no other source can be at the address of one listed.
        let key = Rc::downgrade(s);
        let hit = RECENT.with(|r| {
            r.borrow()
                .iter()
                .find(|(w, _)| w.ptr_eq(&key))
                .map(|(_, c)| c.clone())
        });
        if let Some(c) = hit {
            return c;
        }
        // The warnings were the load's to report: not made twice.
        let c = Rc::new(load::parse_files(
            utype,
            name,
            fragment,
            dropins,
            &s.texts(),
            &s.spec,
            &mut Vec::new(),
        ));
        RECENT.with(|r| {
            let mut r = r.borrow_mut();
            r.push_front((key, c.clone()));
            r.truncate(RECENT_MAX);
        });
        c
    }

    /// The service spec its settings make ([`spec_of`]), without parsing them again.
    pub fn service_spec(&self) -> Rc<Spec> {
        match self {
            Settings::Text(s) => s.service.clone(),
            Settings::Parsed(c) => intern(spec_of(&c.service)),
        }
    }

    /// StartLimitIntervalSec= and StartLimitBurst=, without parsing the settings again.
    pub fn start_limit(&self) -> (std::time::Duration, u32) {
        match self {
            Settings::Text(s) => (
                std::time::Duration::from_micros(s.start_limit.0),
                s.start_limit.1,
            ),
            Settings::Parsed(c) => (c.unit.start_limit_interval, c.unit.start_limit_burst),
        }
    }

    /// Whether it has Condition*= or Assert*= settings, without parsing them again.
    pub fn has_checks(&self) -> bool {
        match self {
            Settings::Text(s) => s.checks,
            Settings::Parsed(c) => !c.unit.conditions.is_empty() || !c.unit.asserts.is_empty(),
        }
    }

    /// Whether its edges may go to a unit of one of `names` (no: they surely do not), without
    /// parsing the settings again.
    pub fn may_name(&self, names: &[&str]) -> bool {
        match self {
            Settings::Text(s) => names.iter().any(|n| {
                let bits = name_bits(n);
                s.names & bits == bits
            }),
            Settings::Parsed(_) => true,
        }
    }

    /// DefaultDependencies= as given, without parsing the settings again.
    pub fn default_dependencies(&self) -> Option<bool> {
        match self {
            Settings::Text(s) => s.default_dependencies,
            Settings::Parsed(c) => c.unit.default_dependencies,
        }
    }

    /// StopWhenUnneeded=, without parsing the settings again.
    pub fn stop_when_unneeded(&self) -> bool {
        match self {
            Settings::Text(s) => s.stop_when_unneeded,
            Settings::Parsed(c) => c.unit.stop_when_unneeded,
        }
    }

    #[cfg(test)]
    pub fn is_parsed(&self) -> bool {
        matches!(self, Settings::Parsed(_))
    }

    /// The same settings, not merely equal ones: nothing was loaded again.
    pub fn ptr_eq(a: &Settings, b: &Settings) -> bool {
        match (a, b) {
            (Settings::Parsed(a), Settings::Parsed(b)) => Rc::ptr_eq(a, b),
            (Settings::Text(a), Settings::Text(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::types::{JobMode, JobType};
    use crate::manager::units::tests::write;
    use crate::manager::{Manager, Units};
    use crate::unit::load::Catalog;

    /// Services and targets of every shape a load handles: drop-ins (one overriding the
    /// fragment), a template's instance, specifiers, a warning; and the types that stay parsed.
    fn units(dir: &Path) -> (Catalog, specifier::Context) {
        write(
            dir,
            "web.service",
            "[Unit]\nDefaultDependencies=no\nDescription=web on %H %y\nAfter=db.service\n[Service]\nExecStart=/bin/web %n %y %H %T\nNoSuchKey=1\n",
        );
        write(dir, "web.service.d/a.conf", "[Service]\nEnvironment=A=1\n");
        write(
            dir,
            "web.service.d/b.conf",
            "[Unit]\nDescription=web (b) %p\n",
        );
        write(
            dir,
            "db.service",
            "[Unit]\nStopWhenUnneeded=yes\nStartLimitIntervalSec=2.5\nStartLimitBurst=3\nConditionPathExists=/\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStop=/bin/true\n",
        );
        write(
            dir,
            "getty@.service",
            "[Unit]\nDescription=getty on %i\n[Service]\nExecStart=/sbin/getty %I\n",
        );
        write(dir, "w.socket", "[Socket]\nListenStream=/run/w.sock\n");
        write(dir, "srv.mount", "[Mount]\nWhat=/dev/vdb\nWhere=/srv\n");
        write(
            dir,
            "multi-user.target",
            "[Unit]\nWants=web.service getty@tty1.service w.socket srv.mount\n",
        );
        let spec = specifier::Context {
            hostname: "h1".into(),
            ..Default::default()
        };
        (Catalog::scan(&[dir.to_path_buf()]), spec)
    }

    #[test]
    fn idle_services_and_targets_keep_text_and_parse_it_as_the_load_did() {
        let d = tempfile::tempdir().unwrap();
        let (cat, spec) = units(d.path());
        let table = Units::build(&cat, &spec, &[]);
        let mut texts = 0;
        for u in &table.list {
            let text = !u.settings.is_parsed();
            let want_text = u.load == LoadState::Loaded
                && u.fragment.is_some()
                && matches!(u.utype, UnitType::Service | UnitType::Target);
            assert_eq!(text, want_text, "{}", u.name);
            texts += usize::from(text);
            let loaded = load::load(&cat, &u.name, &spec);
            assert_eq!(
                format!("{:?}", u.config()),
                format!("{:?}", loaded.config),
                "{}",
                u.name
            );
            // What the table and the records take without parsing again.
            assert_eq!(
                *u.settings.service_spec(),
                spec_of(&loaded.config.service),
                "{}",
                u.name
            );
            assert_eq!(
                u.settings.stop_when_unneeded(),
                loaded.config.unit.stop_when_unneeded
            );
            let c = &loaded.config.unit;
            assert_eq!(
                u.settings.start_limit(),
                (c.start_limit_interval, c.start_limit_burst)
            );
            assert_eq!(u.settings.default_dependencies(), c.default_dependencies);
            assert_eq!(
                u.settings.has_checks(),
                !c.conditions.is_empty() || !c.asserts.is_empty()
            );
            assert_eq!(
                table.stop_when_unneeded.contains(&u.id),
                u.name == "db.service"
            );
        }
        assert!(texts >= 4, "web, db, getty@tty1, multi-user: {texts}");
        let web = table.get(table.lookup("web.service").unwrap()).unwrap();
        assert_eq!(web.description(), "web (b) web");
        assert_eq!(web.dropins.len(), 2);
        assert_eq!(web.warnings.len(), 1, "reported once, by the load");
        let getty = table
            .get(table.lookup("getty@tty1.service").unwrap())
            .unwrap();
        assert_eq!(
            getty.config().service.exec_start[0].argv,
            ["/sbin/getty", "tty1"]
        );
    }

    #[test]
    fn the_last_units_asked_for_are_not_parsed_again() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..=RECENT_MAX {
            write(
                d.path(),
                &format!("s{i}.service"),
                &format!("[Service]\nExecStart=/bin/echo {i}\n"),
            );
        }
        let cat = Catalog::scan(&[d.path().to_path_buf()]);
        let table = Units::build(&cat, &specifier::Context::default(), &[]);
        let unit = |i: usize| {
            table
                .get(table.lookup(&format!("s{i}.service")).unwrap())
                .unwrap()
        };
        let first = unit(0).config();
        assert!(
            Rc::ptr_eq(&first, &unit(0).config()),
            "asked twice, parsed once"
        );
        for i in 1..RECENT_MAX {
            // Each its own: the cache never answers for another unit.
            assert_eq!(
                unit(i).config().service.exec_start[0].argv[1],
                i.to_string()
            );
        }
        assert!(
            Rc::ptr_eq(&first, &unit(0).config()),
            "16 asked: still there"
        );
        let _ = unit(RECENT_MAX).config();
        let again = unit(0).config();
        assert!(
            !Rc::ptr_eq(&first, &again),
            "out of the recent ones: parsed again"
        );
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
    }

    #[test]
    fn a_started_unit_and_a_reload_keep_text_and_the_same_settings() {
        let d = tempfile::tempdir().unwrap();
        let (cat, spec) = units(d.path());
        let mut m = Manager::new(Units::build(&cat, &spec, &[]));
        let id = |m: &Manager, n: &str| m.units.lookup(n).unwrap();
        let text = |m: &Manager, n: &str| !m.units.get(id(m, n)).unwrap().settings.is_parsed();
        let settings =
            |m: &Manager, n: &str| format!("{:?}", m.units.get(id(m, n)).unwrap().config());
        let before = settings(&m, "web.service");
        let mut out = Vec::new();
        m.enqueue(
            id(&m, "multi-user.target"),
            JobType::Start,
            JobMode::Replace,
            &mut out,
        )
        .unwrap();
        assert!(text(&m, "web.service") && text(&m, "multi-user.target"));
        let names: Vec<String> = m.units.list.iter().map(|u| u.name.clone()).collect();
        m.reload(Units::build(&cat, &spec, &names));
        assert!(text(&m, "web.service"));
        assert_eq!(settings(&m, "web.service"), before);
        assert!(!text(&m, "w.socket") && !text(&m, "srv.mount"));
    }
}

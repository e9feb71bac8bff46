//! A unit's settings as the table keeps them: parsed, or only the text they are parsed from.
//!
//! Most loaded units never run: something references them, or they are there to be started by
//! hand. systemd keeps every loaded unit parsed (4.6 kB each); here a service or a target
//! keeps the text of its files (a trivial unit: under 200 bytes) until it gets its first job,
//! and is parsed again (well under a microsecond for such a unit) whenever something asks for
//! its settings before then. The text is the one read at load, so what a unit does does not
//! depend on when it was parsed: a file changed on disk takes effect at `daemon-reload`, as
//! with systemd. docs/performance.md §11.

use std::path::Path;
use std::rc::Rc;

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
#[derive(Debug)]
pub struct Source {
    spec: Rc<specifier::Context>,
    text: Box<str>,
    /// Where each file but the last ends in `text` (none: a fragment without drop-ins).
    ends: thin_vec::ThinVec<u32>,
}

impl Source {
    fn new(spec: Rc<specifier::Context>, texts: &[Box<str>]) -> Option<Source> {
        let mut ends = thin_vec::ThinVec::new();
        let mut text = String::with_capacity(texts.iter().map(|t| t.len()).sum());
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                ends.push(u32::try_from(text.len()).ok()?);
            }
            text.push_str(t);
        }
        Some(Source {
            spec,
            text: text.into_boxed_str(),
            ends,
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
    pub fn of(l: &mut load::Loaded, spec: &Rc<specifier::Context>) -> Settings {
        let text_only = l.state == LoadState::Loaded
            && matches!(l.utype, UnitType::Service | UnitType::Target)
            && l.fragment.is_some()
            && !l.texts.is_empty();
        match text_only
            .then(|| Source::new(spec.clone(), &l.texts))
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
        match self {
            Settings::Parsed(c) => c.clone(),
            Settings::Text(s) => Rc::new(load::parse_again(
                utype,
                name,
                fragment,
                dropins,
                &s.texts(),
                &s.spec,
            )),
        }
    }

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
    use crate::manager::{Manager, Units};
    use crate::unit::load::Catalog;

    fn write(dir: &Path, name: &str, text: &str) {
        if let Some(parent) = dir.join(name).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// Services and targets of every shape a load handles: drop-ins (one overriding the
    /// fragment), a template's instance, specifiers, a warning; and the types that stay parsed.
    fn units(dir: &Path) -> (Catalog, specifier::Context) {
        write(
            dir,
            "web.service",
            "[Unit]\nDescription=web on %H\nAfter=db.service\n[Service]\nExecStart=/bin/web %n\nNoSuchKey=1\n",
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
            "[Service]\nType=oneshot\nExecStart=/bin/true\n",
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
    fn a_job_keeps_the_settings_parsed_and_so_does_a_reload() {
        let d = tempfile::tempdir().unwrap();
        let (cat, spec) = units(d.path());
        let mut m = Manager::new(Units::build(&cat, &spec, &[]));
        let id = |m: &Manager, n: &str| m.units.lookup(n).unwrap();
        let parsed = |m: &Manager, n: &str| m.units.get(id(m, n)).unwrap().settings.is_parsed();
        let mut out = Vec::new();
        m.enqueue(
            id(&m, "db.service"),
            JobType::Start,
            JobMode::Replace,
            &mut out,
        )
        .unwrap();
        assert!(parsed(&m, "db.service"));
        assert!(!parsed(&m, "web.service"));
        // daemon-reload: a new table, every unit as text again; the one with a job is
        // parsed once more, the idle one is not.
        let names: Vec<String> = m.units.list.iter().map(|u| u.name.clone()).collect();
        m.reload(Units::build(&cat, &spec, &names));
        assert!(parsed(&m, "db.service"));
        assert!(!parsed(&m, "web.service"));
    }
}

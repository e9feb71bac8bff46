//! `daemon-reload` without reading what did not change ([`Units::refresh`]): after each change
//! the table it leaves must be the one a full build makes from the same files, and it must
//! have read again only the units the change is about.

use super::*;
use std::path::Path;

pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    if let Some(parent) = dir.join(name).parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(dir.join(name), text).unwrap();
}

/// Everything a full build decides about the table, by unit name (ids differ by build).
fn describe(u: &Units) -> Vec<String> {
    let name = |id: UnitId| u.get(id).map_or("?".to_string(), |e| e.name.clone());
    let mut out: Vec<String> = u
        .list
        .iter()
        .map(|e| {
            let mut deps: Vec<String> = e
                .deps
                .all()
                .map(|(d, o)| format!("{d:?} {}", name(o)))
                .collect();
            deps.sort();
            let mut aliases = e.aliases.clone();
            aliases.sort();
            format!(
                "{} {:?} {:?} {:?} aliases={aliases:?} swu={} {:?}\n  deps={deps:?}\n  config hash={:x}",
                e.name,
                e.load,
                e.fragment,
                e.dropins,
                u.stop_when_unneeded.contains(&e.id),
                u.device_timeouts.get(&e.id),
                {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    format!("{:?}", e.config()).hash(&mut h);
                    h.finish()
                },
            )
        })
        .collect();
    out.sort();
    out
}

/// The table a full `daemon-reload` makes: every unit of `previous` kept (by name).
fn full(dir: &Path, previous: &Units) -> Units {
    let cat = Catalog::scan(&[dir.to_path_buf()]);
    let names: Vec<String> = previous.list.iter().map(|u| u.name.clone()).collect();
    Units::build(&cat, &specifier::Context::default(), &names)
}

/// `units` is the table a full reload would make from `dir`; else what differs, both ways.
fn assert_as_built(units: &Units, dir: &Path, what: &str) {
    let (got, want) = (describe(units), describe(&full(dir, units)));
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    };
    assert!(
        got == want,
        "{what}: not the table a full build makes;\nrefreshed:\n{}\nbuilt:\n{}",
        only(&got, &want).join("\n"),
        only(&want, &got).join("\n")
    );
}

/// Refreshes `units` (built from `old`) against the directory as it is now; the catalog and
/// what was read again, by name.
fn refresh(units: &mut Units, old: &Catalog, dir: &Path) -> (Catalog, Vec<String>, Vec<String>) {
    let cat = Catalog::scan(&[dir.to_path_buf()]);
    let r = units
        .refresh(old, &cat, &specifier::Context::default())
        .expect("a local change");
    let names = |ids: &[UnitId]| {
        let mut v: Vec<String> = ids
            .iter()
            .map(|id| units.get(*id).unwrap().name.clone())
            .collect();
        v.sort();
        v
    };
    let (changed, added) = (names(&r.changed), names(&r.added));
    (cat, changed, added)
}

/// Files changed within the racy window are read again at every reload: the table's files
/// must be older than that before the first build.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(150));
}

#[test]
fn each_change_reads_only_its_unit_and_leaves_the_table_a_full_build_would() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(
        dir,
        "a.service",
        "[Unit]\nWants=b.service\nAfter=b.service\n[Service]\nExecStart=/bin/true\n",
    );
    write(dir, "b.service", "[Service]\nExecStart=/bin/true\n");
    write(
        dir,
        "c.service",
        "[Unit]\nBefore=a.service\n[Service]\nExecStart=/bin/true\n",
    );
    write(
        dir,
        "d.service",
        "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/true\n",
    );
    write(dir, "t.target", "[Unit]\nWants=a.service d.service\n");
    write(dir, "a.service.d/x.conf", "[Service]\nEnvironment=X=1\n");
    settle();
    let mut cat = Catalog::scan(&[dir.to_path_buf()]);
    let mut units = Units::build(&cat, &specifier::Context::default(), &[]);
    let configs = |u: &Units| -> Vec<(String, Settings)> {
        u.list
            .iter()
            .map(|e| (e.name.clone(), e.settings.clone()))
            .collect()
    };

    // Nothing changed: nothing is read.
    let before = configs(&units);
    let (c, changed, added) = refresh(&mut units, &cat, dir);
    cat = c;
    assert_eq!((changed, added), (vec![], vec![]));
    for (name, config) in &before {
        let now = &units.get(units.lookup(name).unwrap()).unwrap().settings;
        assert!(Settings::ptr_eq(config, now), "{name} was read again");
    }

    type Step = (
        &'static str,
        fn(&Path),
        &'static [&'static str],
        &'static [&'static str],
    );
    let steps: &[Step] = &[
        (
            "one file edited; it names a unit not loaded yet",
            |dir| {
                write(
                    dir,
                    "b.service",
                    "[Unit]\nAfter=c.service\nWants=new.service\n[Service]\nExecStart=/bin/false\n",
                )
            },
            &["b.service"],
            &["new.service"],
        ),
        (
            "a new file",
            |dir| {
                write(
                    dir,
                    "e.service",
                    "[Unit]\nRequires=b.service\n[Service]\nExecStart=/bin/true\n",
                )
            },
            &[],
            &["e.service"],
        ),
        (
            "a file removed: its unit stays, not found, with no edges of its own",
            |dir| std::fs::remove_file(dir.join("c.service")).unwrap(),
            &["c.service"],
            &[],
        ),
        (
            "a drop-in added",
            |dir| {
                write(
                    dir,
                    "a.service.d/y.conf",
                    "[Unit]\nRequires=d.service\nStopWhenUnneeded=yes\n",
                )
            },
            &["a.service"],
            &[],
        ),
        (
            "a drop-in edited",
            |dir| write(dir, "a.service.d/x.conf", "[Service]\nEnvironment=X=2\n"),
            &["a.service"],
            &[],
        ),
        (
            "enabled: a link in a .wants/ directory",
            |dir| {
                std::fs::create_dir_all(dir.join("t.target.wants")).unwrap();
                std::os::unix::fs::symlink(
                    dir.join("e.service"),
                    dir.join("t.target.wants/e.service"),
                )
                .unwrap();
            },
            &["t.target"],
            &[],
        ),
        (
            "a unit takes default dependencies again: the target that wants it is after it",
            |dir| write(dir, "d.service", "[Service]\nExecStart=/bin/true\n"),
            &["d.service"],
            &[],
        ),
        (
            "masked",
            |dir| {
                std::os::unix::fs::symlink("/dev/null", dir.join("b.service"))
                    .map(|_| ())
                    .or_else(|_| {
                        std::fs::remove_file(dir.join("b.service"))?;
                        std::os::unix::fs::symlink("/dev/null", dir.join("b.service"))
                    })
                    .unwrap()
            },
            &["b.service"],
            &[],
        ),
    ];
    for (what, change, want_changed, want_added) in steps {
        let before = configs(&units);
        change(dir);
        // Past the racy window, so that what this refresh reads is not read again next time.
        settle();
        let (c, changed, added) = refresh(&mut units, &cat, dir);
        cat = c;
        assert_eq!(changed, *want_changed, "{what}: read again");
        assert_eq!(added, *want_added, "{what}: added");
        assert_as_built(&units, dir, what);
        for (name, config) in &before {
            let now = &units.get(units.lookup(name).unwrap()).unwrap().settings;
            assert_eq!(
                Settings::ptr_eq(config, now),
                !want_changed.contains(&name.as_str()),
                "{what}: {name}"
            );
        }
    }
}

#[test]
fn aliases_and_mounts_are_not_local_changes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(dir, "a.service", "[Service]\nExecStart=/bin/true\n");
    write(
        dir,
        "m.service",
        "[Unit]\nRequiresMountsFor=/srv/data\n[Service]\nExecStart=/bin/true\n",
    );
    settle();
    let cat = Catalog::scan(&[dir.to_path_buf()]);
    let spec = specifier::Context::default();
    let mut units = Units::build(&cat, &spec, &[]);

    std::os::unix::fs::symlink("a.service", dir.join("alias.service")).unwrap();
    let new = Catalog::scan(&[dir.to_path_buf()]);
    assert_eq!(units.refresh(&cat, &new, &spec), None);
    std::fs::remove_file(dir.join("alias.service")).unwrap();

    // A device (no file: from devmon) that something now wants to come with it.
    let cat = Catalog::scan(&[dir.to_path_buf()]);
    units.add_synthetic(
        &cat,
        "dev-vdb.device",
        UnitType::Device,
        UnitConfig::default(),
    );
    settle();
    let unchanged = Catalog::scan(&[dir.to_path_buf()]);
    assert_eq!(
        units.refresh(&cat, &unchanged, &spec),
        Some(Refreshed::default())
    );
    std::fs::create_dir(dir.join("dev-vdb.device.wants")).unwrap();
    std::os::unix::fs::symlink("../a.service", dir.join("dev-vdb.device.wants/a.service")).unwrap();
    let new = Catalog::scan(&[dir.to_path_buf()]);
    assert_eq!(units.refresh(&cat, &new, &spec), None);

    // A new mount: m.service's RequiresMountsFor= now has a unit to require.
    write(dir, "srv.mount", "[Mount]\nWhat=/dev/vdb\nWhere=/srv\n");
    let new = Catalog::scan(&[dir.to_path_buf()]);
    let table = describe(&units);
    assert_eq!(units.refresh(&cat, &new, &spec), None);
    assert_eq!(describe(&units), table, "a refused refresh changes nothing");
}

#[test]
fn a_file_changed_within_the_clock_tick_is_read_again() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.service", "[Service]\nExecStart=/bin/true\n");
    let cat = Catalog::scan(&[d.path().to_path_buf()]);
    let now = std::time::SystemTime::now();
    // Just written: a second write inside the same tick could leave its status as it is.
    assert_eq!(load::stamp(&cat, "a.service", now), 0);
    let later = now + std::time::Duration::from_secs(1);
    let s = load::stamp(&cat, "a.service", later);
    assert_ne!(s, 0);
    assert_eq!(load::stamp(&cat, "a.service", later), s);
    // Any change to what the load reads moves it: the file, a drop-in, a .wants/ entry.
    write(d.path(), "a.service", "[Service]\nExecStart=/bin/false\n");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
    let s2 = load::stamp(&cat, "a.service", later);
    assert_ne!(s2, s);
    write(d.path(), "a.service.d/x.conf", "[Unit]\n");
    let cat = Catalog::scan(&[d.path().to_path_buf()]);
    let s3 = load::stamp(&cat, "a.service", later);
    assert_ne!(s3, s2);
    std::fs::create_dir(d.path().join("a.service.wants")).unwrap();
    std::os::unix::fs::symlink("/x/b.service", d.path().join("a.service.wants/b.service")).unwrap();
    let cat = Catalog::scan(&[d.path().to_path_buf()]);
    assert_ne!(load::stamp(&cat, "a.service", later), s3);
}

#[test]
fn deps_keep_each_type_apart_and_sorted() {
    for (i, d) in Dep::ALL.iter().enumerate() {
        assert_eq!(*d as usize, i, "Dep::ALL is in declaration order");
    }
    let mut deps = Deps::default();
    let big = (1 << 27) - 1;
    for d in Dep::ALL.iter().rev() {
        for u in [7, 0, big, 3, 7] {
            deps.insert(*d, u);
        }
    }
    deps.insert(Dep::Wants, 1 << 27); // past the id space: not recorded
    for d in Dep::ALL {
        assert_eq!(deps.get(d).collect::<Vec<_>>(), vec![0, 3, 7, big], "{d:?}");
    }
    deps.remove(Dep::After, 3);
    deps.remove(Dep::After, 4);
    assert_eq!(deps.get(Dep::After).collect::<Vec<_>>(), vec![0, 7, big]);
    assert_eq!(
        deps.get(Dep::Before).collect::<Vec<_>>(),
        vec![0, 3, 7, big]
    );
    assert_eq!(deps.all().count(), Dep::ALL.len() * 4 - 1);
    assert!(deps.all().any(|e| e == (Dep::TriggeredBy, big)));
}

/// A small deterministic generator (xorshift), so that a failure names its seed and replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Random `[Unit]` lines naming some of the units (and some that never exist, a template's
/// instance among them).
fn random_unit_lines(r: &mut Rng, names: &[&str]) -> String {
    let mut text = String::from("[Unit]\n");
    for key in [
        "Wants",
        "Requires",
        "After",
        "Before",
        "BindsTo",
        "PartOf",
        "Conflicts",
    ] {
        if r.chance(35) {
            text += &format!("{key}={}\n", names[r.below(names.len())]);
        }
    }
    if r.chance(25) {
        text += "DefaultDependencies=no\n";
    }
    if r.chance(15) {
        text += "StopWhenUnneeded=yes\n";
    }
    text
}

#[test]
fn random_changes_leave_the_table_a_full_build_would() {
    const UNITS: [&str; 7] = [
        "u0.service",
        "u1.service",
        "u2.service",
        "u3.service",
        "t0.target",
        "t1.target",
        "g@.service",
    ];
    // What units may name: the files above, units never written, a template's instance.
    const NAMED: [&str; 9] = [
        "u0.service",
        "u1.service",
        "u2.service",
        "u3.service",
        "t0.target",
        "t1.target",
        "gone.service",
        "g@a.service",
        "g@b.service",
    ];
    let mut incremental = 0;
    for seed in [1u64, 7, 42, 1234, 98765] {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let mut r = Rng(seed);
        let mut cat = Catalog::scan(&[dir.to_path_buf()]);
        let spec = specifier::Context::default();
        let mut units = Units::build(&cat, &spec, &[]);
        for step in 0..60 {
            let unit = UNITS[r.below(UNITS.len())];
            let path = dir.join(unit);
            let what = match r.below(6) {
                0 | 1 => {
                    let _ = std::fs::remove_file(&path);
                    let mut text = random_unit_lines(&mut r, &NAMED);
                    if unit.ends_with(".service") {
                        text += "[Service]\nExecStart=/bin/true\n";
                    }
                    write(dir, unit, &text);
                    "written"
                }
                2 => {
                    let _ = std::fs::remove_file(&path);
                    "removed"
                }
                3 => {
                    let text = random_unit_lines(&mut r, &NAMED);
                    let dropin = format!("{unit}.d/x.conf");
                    if r.chance(30) {
                        let _ = std::fs::remove_file(dir.join(&dropin));
                    } else {
                        write(dir, &dropin, &text);
                    }
                    "drop-in"
                }
                4 => {
                    let target = ["t0.target", "t1.target", "g@.service"][r.below(3)];
                    let link = dir.join(format!("{target}.wants")).join(NAMED[r.below(6)]);
                    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
                    if std::fs::remove_file(&link).is_err() {
                        std::os::unix::fs::symlink("/x", &link).unwrap();
                    }
                    ".wants/"
                }
                _ => {
                    let _ = std::fs::remove_file(&path);
                    if r.chance(50) {
                        std::os::unix::fs::symlink("/dev/null", &path).unwrap();
                    }
                    "masked or gone"
                }
            };
            let new = Catalog::scan(&[dir.to_path_buf()]);
            match units.refresh(&cat, &new, &spec) {
                Some(_) => incremental += 1,
                None => {
                    let names: Vec<String> = units.list.iter().map(|u| u.name.clone()).collect();
                    units = Units::build(&new, &spec, &names);
                }
            }
            cat = new;
            assert_as_built(
                &units,
                dir,
                &format!("seed {seed} step {step} ({what} {unit})"),
            );
        }
    }
    // Nothing here is structural: every step went the incremental way.
    assert_eq!(incremental, 5 * 60);
}

#[test]
fn a_unit_named_only_by_after_gets_its_edges_when_its_file_appears() {
    // Before=/After= load nothing: b.service is not in the table until it has a file, and
    // a.service, unchanged, must then be ordered after it.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(
        dir,
        "a.service",
        "[Unit]\nAfter=b.service\n[Service]\nExecStart=/bin/true\n",
    );
    settle();
    let cat = Catalog::scan(&[dir.to_path_buf()]);
    let spec = specifier::Context::default();
    let mut units = Units::build(&cat, &spec, &[]);
    assert!(units.lookup("b.service").is_none());
    write(dir, "b.service", "[Service]\nExecStart=/bin/true\n");
    settle();
    let (_, changed, added) = refresh(&mut units, &cat, dir);
    assert_eq!((changed, added), (vec![], vec!["b.service".to_string()]));
    let (a, b) = (
        units.lookup("a.service").unwrap(),
        units.lookup("b.service").unwrap(),
    );
    assert!(units.get(a).unwrap().deps(Dep::After).any(|x| x == b));
    assert_eq!(describe(&units), describe(&full(dir, &units)));
}

#[test]
fn a_full_reload_keeps_a_mount_from_the_mount_table_with_its_own_edges_only() {
    // The rebuilt table first has the mount as a not-found placeholder, with the edges of a
    // default mount (before local-fs.target); kept as what the mount table said (_netdev),
    // it must have the edges of that configuration only.
    let d = tempfile::tempdir().unwrap();
    let cat = Catalog::scan(&[d.path().to_path_buf()]);
    let spec = specifier::Context::default();
    let mut old = Units::build(&cat, &spec, &[]);
    let mut cfg = UnitConfig::default();
    cfg.mount.where_ = Some("/srv".into());
    cfg.mount.what = Some("server:/srv".into());
    cfg.mount.options = "_netdev".into();
    let m = old.add_synthetic(&cat, "srv.mount", UnitType::Mount, cfg);
    let names: Vec<String> = old.list.iter().map(|u| u.name.clone()).collect();
    let mut new = Units::build(&cat, &spec, &names);
    new.keep_synthetic(&cat, &old);
    let local_fs = new.lookup("local-fs.target").unwrap();
    let edges = |u: &Units| {
        let mut v: Vec<String> = u
            .get(m)
            .unwrap()
            .deps
            .all()
            .map(|(d, o)| format!("{d:?} {}", u.get(o).unwrap().name))
            .collect();
        v.sort();
        v
    };
    assert!(!new.get(m).unwrap().deps(Dep::Before).any(|x| x == local_fs));
    assert_eq!(edges(&new), edges(&old));
}

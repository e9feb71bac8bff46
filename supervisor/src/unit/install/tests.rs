use super::*;

/// The tree of the systemctl comparison (`integration/tests/install.rs` runs systemctl 252
/// on it): units in usr/lib/cairn/system.
fn tree() -> (tempfile::TempDir, Root) {
    let d = tempfile::tempdir().unwrap();
    let lib = d.path().join("usr/lib/cairn/system");
    std::fs::create_dir_all(&lib).unwrap();
    for (n, t) in [
        ("foo.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=foo-alias.service\nAlso=bar.service\n"),
        ("bar.service", "[Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=x.target\n"),
        ("static.service", "[Service]\nExecStart=/bin/true\n"),
        ("tpl@.service", "[Service]\nExecStart=/bin/true %i\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=one\n"),
        ("ind.service", "[Service]\nExecStart=/bin/true\n[Install]\nAlso=bar.service\n"),
        ("spec@.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=group-%i.target\n"),
        ("multi-user.target", "[Unit]\n"),
    ] {
        std::fs::write(lib.join(n), t).unwrap();
    }
    let r = Root::new(d.path());
    (d, r)
}

fn names(changes: &[Change], root: &Path) -> Vec<String> {
    changes
        .iter()
        .map(|c| match c {
            Change::Symlink { path, target } => format!(
                "+ {} → {}",
                path.strip_prefix(root).unwrap().display(),
                target.display()
            ),
            Change::Removed(p) => format!("- {}", p.strip_prefix(root).unwrap().display()),
        })
        .collect()
}

fn state(r: &Root, u: &str) -> &'static str {
    r.state(u).map(State::as_str).unwrap_or("not-found")
}

#[test]
fn enable_makes_the_links_install_asks_for() {
    let (d, r) = tree();
    assert_eq!(state(&r, "foo.service"), "disabled");
    assert_eq!(state(&r, "static.service"), "static");
    assert_eq!(state(&r, "ind.service"), "indirect");
    assert_eq!(state(&r, "tpl@.service"), "disabled");
    assert_eq!(state(&r, "nope.service"), "not-found");
    let (changes, nothing) = r.enable(&["foo.service".into()]).unwrap();
    assert_eq!(
        names(&changes, d.path()),
        [
            "+ etc/cairn/system/multi-user.target.wants/foo.service → /usr/lib/cairn/system/foo.service",
            "+ etc/cairn/system/foo-alias.service → /usr/lib/cairn/system/foo.service",
            "+ etc/cairn/system/x.target.requires/bar.service → /usr/lib/cairn/system/bar.service",
        ]
    );
    assert!(nothing.is_empty());
    // Printed as systemctl prints it.
    assert_eq!(
        changes[0].to_string(),
        format!(
            "Created symlink {}/etc/cairn/system/multi-user.target.wants/foo.service → /usr/lib/cairn/system/foo.service.",
            d.path().display()
        )
    );
    assert_eq!(state(&r, "foo.service"), "enabled");
    assert_eq!(state(&r, "foo-alias.service"), "alias");
    assert_eq!(state(&r, "bar.service"), "enabled");
    // Again: nothing to do, nothing said.
    assert_eq!(r.enable(&["foo.service".into()]).unwrap().0, vec![]);
    // No [Install]: nothing made, and said.
    let (changes, nothing) = r.enable(&["static.service".into()]).unwrap();
    assert!(changes.is_empty());
    assert_eq!(nothing, ["static.service"]);
    assert_eq!(
        r.enable(&["nope.service".into()]).unwrap_err().to_string(),
        "Unit file nope.service does not exist."
    );
}

#[test]
fn disable_removes_every_link_also_systemctls() {
    let (d, r) = tree();
    r.enable(&["foo.service".into()]).unwrap();
    // A link systemctl made before cairn: cairn reads /etc/systemd/system, so it counts.
    let sd = d.path().join("etc/systemd/system/default.target.wants");
    std::fs::create_dir_all(&sd).unwrap();
    std::os::unix::fs::symlink("/usr/lib/cairn/system/foo.service", sd.join("foo.service"))
        .unwrap();
    let mut removed = names(&r.disable(&["foo.service".into()]).unwrap(), d.path());
    removed.sort();
    assert_eq!(
        removed,
        [
            "- etc/cairn/system/foo-alias.service",
            "- etc/cairn/system/multi-user.target.wants/foo.service",
            "- etc/cairn/system/x.target.requires/bar.service",
            "- etc/systemd/system/default.target.wants/foo.service",
        ]
    );
    assert_eq!(state(&r, "foo.service"), "disabled");
    assert_eq!(state(&r, "bar.service"), "disabled");
    assert_eq!(r.disable(&["foo.service".into()]).unwrap(), vec![]);
}

#[test]
fn templates_enable_their_default_instance_or_the_one_named() {
    let (d, r) = tree();
    let (changes, _) = r
        .enable(&[
            "tpl@.service".into(),
            "tpl@two.service".into(),
            "spec@blue.service".into(),
        ])
        .unwrap();
    let mut made = names(&changes, d.path());
    made.sort();
    assert_eq!(
        made,
        [
            "+ etc/cairn/system/group-blue.target.wants/spec@blue.service → /usr/lib/cairn/system/spec@.service",
            "+ etc/cairn/system/multi-user.target.wants/tpl@one.service → /usr/lib/cairn/system/tpl@.service",
            "+ etc/cairn/system/multi-user.target.wants/tpl@two.service → /usr/lib/cairn/system/tpl@.service",
        ]
    );
    assert_eq!(state(&r, "tpl@.service"), "enabled");
    assert_eq!(state(&r, "tpl@one.service"), "enabled");
    assert_eq!(state(&r, "tpl@two.service"), "enabled");
    assert_eq!(state(&r, "tpl@three.service"), "disabled");
    let removed = names(&r.disable(&["tpl@two.service".into()]).unwrap(), d.path());
    assert_eq!(
        removed,
        ["- etc/cairn/system/multi-user.target.wants/tpl@two.service"]
    );
    assert_eq!(state(&r, "tpl@one.service"), "enabled");
}

#[test]
fn mask_hides_a_unit_until_unmasked() {
    let (d, r) = tree();
    let made = names(
        &r.mask(&["foo.service".into(), "nope.service".into()])
            .unwrap(),
        d.path(),
    );
    assert_eq!(
        made,
        [
            "+ etc/cairn/system/foo.service → /dev/null",
            "+ etc/cairn/system/nope.service → /dev/null",
        ]
    );
    assert_eq!(state(&r, "foo.service"), "masked");
    assert_eq!(state(&r, "nope.service"), "masked");
    assert!(r
        .enable(&["foo.service".into()])
        .unwrap_err()
        .to_string()
        .ends_with("/etc/cairn/system/foo.service is masked."));
    // A real file of that name in /etc/cairn/system is not replaced.
    std::fs::write(
        d.path().join("etc/cairn/system/mine.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    assert!(matches!(
        r.mask(&["mine.service".into()]),
        Err(InstallError::Exists { .. })
    ));
    let gone = names(&r.unmask(&["foo.service".into()]).unwrap(), d.path());
    assert_eq!(gone, ["- etc/cairn/system/foo.service"]);
    assert_eq!(state(&r, "foo.service"), "disabled");
    // A runtime mask.
    let run = d.path().join("run/cairn/system");
    std::fs::create_dir_all(&run).unwrap();
    std::os::unix::fs::symlink("/dev/null", run.join("bar.service")).unwrap();
    assert_eq!(state(&r, "bar.service"), "masked-runtime");
}

#[test]
fn presets_decide_first_match_wins_default_enable() {
    let (d, r) = tree();
    let p = d.path().join("usr/lib/cairn/system-preset");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("50-x.preset"),
        "# comment\ndisable foo.service\nenable b*\ndisable *\n",
    )
    .unwrap();
    // An earlier directory's file of the same name hides it.
    let e = d.path().join("etc/cairn/system-preset");
    std::fs::create_dir_all(&e).unwrap();
    std::fs::write(e.join("10-y.preset"), "enable tpl@.service\n").unwrap();
    assert!(!r.preset_of("foo.service"));
    assert!(r.preset_of("bar.service"));
    assert!(r.preset_of("tpl@.service"));
    assert!(!r.preset_of("ind.service"));
    let made = names(
        &r.preset(&["bar.service".into(), "foo.service".into()])
            .unwrap(),
        d.path(),
    );
    assert_eq!(
        made,
        ["+ etc/cairn/system/x.target.requires/bar.service → /usr/lib/cairn/system/bar.service"]
    );
    let listed: Vec<(String, &str, Option<bool>)> = r
        .list()
        .into_iter()
        .map(|(n, s, p)| (n, s.as_str(), p))
        .collect();
    assert!(listed.contains(&("bar.service".into(), "enabled", Some(true))));
    assert!(listed.contains(&("foo.service".into(), "disabled", Some(false))));
    assert!(listed.contains(&("static.service".into(), "static", None)));
}

#[test]
fn generated_units_are_generated() {
    let (d, r) = tree();
    let g = d.path().join("run/cairn/generator.late");
    std::fs::create_dir_all(&g).unwrap();
    std::fs::write(g.join("sysv.service"), "[Service]\nExecStart=/bin/true\n").unwrap();
    assert_eq!(state(&r, "sysv.service"), "generated");
}

#[test]
fn glob_is_fnmatch() {
    assert!(glob("*", "a.service"));
    assert!(glob("b*", "bar.service"));
    assert!(!glob("b*", "foo.service"));
    assert!(glob("getty@tty[1-3].service", "getty@tty2.service"));
    assert!(!glob("getty@tty[!1-3].service", "getty@tty2.service"));
    assert!(glob("?oo.service", "foo.service"));
    assert!(glob("[", "["));
}

use super::*;

use std::os::unix::fs::PermissionsExt;

const DEBIAN_STYLE: &str = "#!/bin/sh
### BEGIN INIT INFO
# Provides:          exampled example-daemon
# Required-Start:    $remote_fs $syslog $network
# Required-Stop:     $remote_fs $syslog
# Should-Start:      othersvc
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: an example daemon
# Description:       It does nothing,
#                    on two lines.
# X-Start-Before:    later
# X-Vendor-Thing:    ignored
### END INIT INFO

. /lib/lsb/init-functions

case \"$1\" in
  start)
    start-stop-daemon --start --quiet --exec /bin/sleep -- 1000
    ;;
  stop)
    start-stop-daemon --stop --quiet --exec /bin/sleep
    ;;
  reload|force-reload)
    ;;
  *)
    echo \"Usage: $0 {start|stop|reload|force-reload}\" >&2
    exit 3
    ;;
esac
";

#[test]
fn a_debian_header_is_read_whole() {
    let (h, warnings) = parse_header(DEBIAN_STYLE);
    assert_eq!(warnings, vec![]);
    let h = h.expect("a header");
    assert_eq!(h.provides, ["exampled", "example-daemon"]);
    assert_eq!(h.required_start, ["$remote_fs", "$syslog", "$network"]);
    assert_eq!(h.required_stop, ["$remote_fs", "$syslog"]);
    assert_eq!(h.should_start, ["othersvc"]);
    assert_eq!(h.default_start, ["2", "3", "4", "5"]);
    assert_eq!(h.default_stop, ["0", "1", "6"]);
    assert_eq!(h.short_description.as_deref(), Some("an example daemon"));
    assert_eq!(
        h.description.as_deref(),
        Some("It does nothing, on two lines.")
    );
    assert_eq!(h.start_before, ["later"]);
    assert!(!h.interactive);
    assert!(supports_reload(DEBIAN_STYLE));
}

#[test]
fn malformed_headers_warn_with_their_line() {
    let text = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: x\n# Bogus-Key: 1\n# no colon here\n#   stray continuation\nnot a comment\n";
    let (h, warnings) = parse_header(text);
    assert_eq!(h.expect("a header").provides, ["x"]);
    let lines: Vec<(usize, &str)> = warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (4, "unknown LSB header key \"Bogus-Key\""),
            (5, "LSB header line is not 'Key: value': \"no colon here\""),
            (6, "a continuation line with no key before it: \"stray continuation\""),
            (7, "LSB header line does not start with '#': \"not a comment\""),
            (
                2,
                "LSB header has no \"### END INIT INFO\" line; it is read up to its first line without '#'"
            ),
        ]
    );
    let (none, w) = parse_header("#!/bin/sh\necho hi\n");
    assert!(none.is_none() && w.is_empty());
    let (_, w) = parse_header("### BEGIN INIT INFO\n### END INIT INFO\n### BEGIN INIT INFO\n");
    assert_eq!(w[0].line, 3);
}

#[test]
fn reload_is_seen_only_where_the_script_offers_it() {
    assert!(supports_reload("case $1 in\n  reload)\n  ;;\nesac\n"));
    assert!(supports_reload("  \"reload\")\n"));
    assert!(supports_reload("  start|reload)\n"));
    assert!(supports_reload("echo \"Usage: $0 {start|stop|reload}\"\n"));
    assert!(!supports_reload(
        DEBIAN_STYLE
            .replace("reload|force-reload)", "force-reload)")
            .replace("|reload|", "|")
            .as_str()
    ));
    assert!(!supports_reload("echo \"we do not reload) here\"\n"));
    assert!(!supports_reload("  force-reload)\n"));
}

#[test]
fn script_names_become_service_names() {
    assert_eq!(unit_for_script("ssh").as_deref(), Some("ssh.service"));
    assert_eq!(
        unit_for_script("hwclock.sh").as_deref(),
        Some("hwclock.service")
    );
    assert_eq!(unit_for_script("a@b"), None);
    assert_eq!(unit_for_script("with space"), None);
    assert_eq!(unit_for_script(".sh"), None);
    assert!(ignored_file("foo.dpkg-old") && ignored_file("README") && ignored_file("x~"));
}

struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        let t = Tree(tempfile::tempdir().unwrap());
        std::fs::create_dir(t.0.path().join("init.d")).unwrap();
        t
    }
    fn script(&self, name: &str, text: &str) -> &Self {
        let p = self.0.path().join("init.d").join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }
    fn rc(&self, level: &str, link: &str, script: &str) -> &Self {
        let d = self.0.path().join(format!("rc{level}.d"));
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink(format!("../init.d/{script}"), d.join(link)).unwrap();
        self
    }
    fn init_d(&self) -> PathBuf {
        self.0.path().join("init.d")
    }
}

fn header(provides: &str, extra: &str) -> String {
    format!("#!/bin/sh\n### BEGIN INIT INFO\n# Provides: {provides}\n{extra}### END INIT INFO\nexit 0\n")
}

#[test]
fn rc_links_decide_which_targets_want_a_script() {
    let t = Tree::new();
    t.script("a", &header("a", "# Default-Start: 2 3 4 5\n"))
        .script("b", &header("b", "# Default-Start: 2 3 4 5\n"))
        .rc("2", "S01a", "a")
        .rc("5", "S02a", "a")
        .rc("3", "K01b", "b");
    let g = generate(&t.init_d(), &|_| false);
    assert_eq!(
        g.wants,
        BTreeMap::from([
            (
                "graphical.target".to_string(),
                BTreeSet::from(["a.service".to_string()])
            ),
            (
                "multi-user.target".to_string(),
                BTreeSet::from(["a.service".to_string()])
            ),
        ])
    );
    // b has only a K link: disabled (update-rc.d disable), present but wanted by nothing.
    assert!(g.units.contains_key("b.service"));
    assert!(g.units["a.service"].contains("Before=graphical.target multi-user.target\n"));
}

#[test]
fn without_rc_directories_default_start_decides() {
    let t = Tree::new();
    t.script("a", &header("a", "# Default-Start: 2 3 4\n"))
        .script("b", &header("b", "# Default-Start: 1\n"))
        .script("plain", "#!/bin/sh\nexit 0\n");
    let g = generate(&t.init_d(), &|_| false);
    let wanted: Vec<(&str, Vec<&str>)> = g
        .wants
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        wanted,
        vec![
            ("multi-user.target", vec!["a.service", "plain.service"]),
            ("rescue.target", vec!["b.service"]),
        ]
    );
}

#[test]
fn facilities_provides_and_the_headerless_are_ordered() {
    let t = Tree::new();
    t.script("exampled", DEBIAN_STYLE)
        .script(
            "othersvc",
            &header("othersvc other", "# Required-Start: $time $bogus\n"),
        )
        .script("late", &header("late", "# Required-Start: $all\n"))
        .script("noheader", "#!/bin/sh\nexit 0\n")
        .script(
            "uses-alias",
            &header("uses-alias", "# Required-Start: other example-daemon\n"),
        )
        .script("notexec", "#!/bin/sh\n");
    std::fs::set_permissions(
        t.init_d().join("notexec"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let g = generate(&t.init_d(), &|_| false);
    assert!(!g.units.contains_key("notexec.service"));
    let ex = &g.units["exampled.service"];
    assert!(
        ex.contains("After=network-online.target othersvc.service remote-fs.target\n"),
        "{ex}"
    );
    assert!(ex.contains("Wants=network-online.target\n"), "{ex}");
    assert!(
        ex.contains("Before=graphical.target later.service multi-user.target\n"),
        "{ex}"
    );
    assert!(ex.contains("Description=LSB: an example daemon\n"));
    assert!(ex.contains("ExecReload=:"));
    assert!(!g.units["othersvc.service"].contains("ExecReload"));
    assert_eq!(
        g.aliases,
        BTreeMap::from([
            (
                "example-daemon.service".to_string(),
                "exampled.service".to_string()
            ),
            ("other.service".to_string(), "othersvc.service".to_string()),
        ])
    );
    // Names provided by a script are that script's unit.
    assert!(g.units["uses-alias.service"].contains("After=exampled.service othersvc.service\n"));
    // $all and no header: after every script with a header that does not ask for $all.
    let after_all = "After=exampled.service othersvc.service uses-alias.service\n";
    assert!(
        g.units["late.service"].contains(after_all),
        "{}",
        g.units["late.service"]
    );
    assert!(g.units["noheader.service"].contains(after_all));
    let warnings = g.warnings.join("\n");
    assert!(
        warnings.contains("othersvc: unknown LSB facility $bogus; ignored"),
        "{warnings}"
    );
    assert!(warnings.contains(
        "noheader: no LSB header (### BEGIN INIT INFO); it runs after every script that has one"
    ));
}

#[test]
fn a_native_unit_wins() {
    let t = Tree::new();
    t.script("a", &header("a alias-of-a", "# Default-Start: 2\n"))
        .script("b", &header("b taken", "# Default-Start: 2\n"));
    let g = generate(&t.init_d(), &|u| u == "a.service" || u == "taken.service");
    assert_eq!(g.units.keys().collect::<Vec<_>>(), ["b.service"]);
    assert!(g.aliases.is_empty());
    assert_eq!(
        g.wants["multi-user.target"],
        BTreeSet::from(["b.service".to_string()])
    );
}

/// The generated file loads through the real loader, without a warning, into what systemd's
/// generator writes — whatever the header says (`%`, quotes, backslashes).
#[test]
fn generated_units_load_as_written() {
    let t = Tree::new();
    let tricky = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: tricky\n# Short-Description: 100% \"odd\" \\\n# X-Interactive: true\n### END INIT INFO\ncase $1 in\n  reload) ;;\nesac\n";
    t.script("tricky", tricky);
    let g = generate(&t.init_d(), &|_| false);
    let out = t.0.path().join("late");
    write(&out, &g).unwrap();
    let cat = crate::unit::load::Catalog::scan(std::slice::from_ref(&out));
    let l = crate::unit::load::load(&cat, "tricky.service", &Default::default());
    assert_eq!(
        l.state,
        crate::unit::load::LoadState::Loaded,
        "{:?}",
        l.state
    );
    assert_eq!(l.warnings, vec![]);
    let c = &l.config;
    assert_eq!(c.unit.description.as_deref(), Some("LSB: 100% \"odd\""));
    let script = t.init_d().join("tricky").display().to_string();
    assert_eq!(c.service.exec_start[0].argv, [script.as_str(), "start"]);
    assert_eq!(c.service.exec_stop[0].argv, [script.as_str(), "stop"]);
    assert_eq!(c.service.exec_reload[0].argv, [script.as_str(), "reload"]);
    assert!(c.service.remain_after_exit);
    assert!(!c.service.guess_main_pid);
    assert_eq!(c.service.timeout_start, None);
    assert_eq!(
        c.service.environment,
        [("SYSTEMCTL_SKIP_REDIRECT".to_string(), "1".to_string())]
    );
}

#[test]
fn writing_again_touches_only_what_changed() {
    // daemon-reload regenerates the units of the scripts every time: a unit whose script did
    // not change must keep its file (inode and times), or its stamp moves and it is read
    // again; what went away must go.
    use std::os::unix::fs::MetadataExt;
    let t = Tree::new();
    t.script("a", &header("a", "# Default-Start: 2 3 4 5\n"))
        .script("b", &header("b b-alias", ""))
        .script("d", &header("d", "# Default-Start: 2 3 4 5\n"))
        .rc("2", "S01a", "a")
        .rc("3", "S01d", "d");
    let out = t.0.path().join("late");
    write(&out, &generate(&t.init_d(), &|_| false)).unwrap();
    let stat = |p: &str| {
        let m = std::fs::symlink_metadata(out.join(p)).unwrap();
        (m.ino(), m.ctime(), m.ctime_nsec())
    };
    let before = (
        stat("a.service"),
        stat("b.service"),
        stat("multi-user.target.wants/a.service"),
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(&out, &generate(&t.init_d(), &|_| false)).unwrap();
    assert_eq!(
        before,
        (
            stat("a.service"),
            stat("b.service"),
            stat("multi-user.target.wants/a.service")
        )
    );
    // b's header changes (its alias goes), d loses its rc link, c appears; a is as it was.
    std::fs::remove_file(t.0.path().join("rc3.d/S01d")).unwrap();
    t.script("b", &header("b", "# Short-Description: now described\n"))
        .script("c", &header("c", ""));
    let g = generate(&t.init_d(), &|_| false);
    write(&out, &g).unwrap();
    assert_eq!(stat("a.service"), before.0);
    assert_ne!(stat("b.service"), before.1);
    assert!(std::fs::read_to_string(out.join("b.service"))
        .unwrap()
        .contains("now described"));
    assert!(out.join("c.service").exists());
    assert!(!out.join("multi-user.target.wants/d.service").exists());
    assert!(std::fs::symlink_metadata(out.join("multi-user.target.wants/a.service")).is_ok());
    assert!(std::fs::symlink_metadata(out.join("b-alias.service")).is_err());
    // What is there is exactly what was generated.
    let cat = crate::unit::load::Catalog::scan(std::slice::from_ref(&out));
    let mut names: Vec<String> = cat.fragments.keys().cloned().collect();
    names.retain(|n| g.units.contains_key(n));
    assert_eq!(names.len(), g.units.len());
}

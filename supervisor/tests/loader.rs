//! The loader on a unit directory made for the test: drop-ins, templates and instances,
//! specifiers, aliases, masks, `.wants/` directories, and the shipped targets.

use std::os::unix::fs::symlink;
use std::path::Path;

use cairn_supervisor::job::graph::Dep;
use cairn_supervisor::manager::Units;
use cairn_supervisor::unit::load::{Catalog, LoadState};
use cairn_supervisor::unit::specifier::Context;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn build(dirs: &[&Path]) -> Units {
    let dirs: Vec<_> = dirs.iter().map(|d| d.to_path_buf()).collect();
    let ctx = Context {
        runtime_dir: "/run".into(),
        ..Default::default()
    };
    Units::build(&Catalog::scan(&dirs), &ctx, &[])
}

fn deps(u: &Units, name: &str, d: Dep) -> Vec<String> {
    let id = u
        .lookup(name)
        .unwrap_or_else(|| panic!("{name} not loaded"));
    let mut v: Vec<String> = u
        .get(id)
        .unwrap()
        .deps(d)
        .map(|o| u.get(o).unwrap().name.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn drop_ins_override_and_extend_in_file_name_order() {
    let t = tempfile::tempdir().unwrap();
    let (high, low) = (t.path().join("etc"), t.path().join("lib"));
    write(
        &low,
        "web.service",
        "[Unit]\nDescription=low\nWants=a.service\n[Service]\nExecStart=/bin/a\n",
    );
    write(
        &high,
        "web.service",
        "[Unit]\nDescription=high\nWants=b.service\n[Service]\nExecStart=/bin/b\n",
    );
    // Drop-ins from both directories; 10-x.conf in the higher directory hides the lower one.
    write(
        &low,
        "web.service.d/10-x.conf",
        "[Unit]\nDescription=hidden\n",
    );
    write(
        &high,
        "web.service.d/10-x.conf",
        "[Unit]\nDescription=from drop-in\n",
    );
    write(
        &low,
        "web.service.d/20-y.conf",
        "[Service]\nExecStart=\nExecStart=/bin/c\n",
    );
    let u = build(&[&high, &low]);
    let id = u.lookup("web.service").unwrap();
    let web = u.get(id).unwrap();
    assert_eq!(
        web.fragment.as_deref(),
        Some(high.join("web.service").as_path())
    );
    assert_eq!(
        web.config().unit.description.as_deref(),
        Some("from drop-in")
    );
    assert_eq!(web.config().service.exec_start.len(), 1);
    assert_eq!(web.config().service.exec_start[0].path, "/bin/c");
    assert_eq!(web.dropins.len(), 2);
    assert_eq!(deps(&u, "web.service", Dep::Wants), vec!["b.service"]);
}

#[test]
fn templates_instances_and_specifiers() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "getty@.service",
        "[Unit]\nDescription=Getty on %I\nAfter=dev-%i.device\n[Service]\nExecStart=/sbin/agetty %I 38400\n",
    );
    write(
        d,
        "getty@tty1.service.d/override.conf",
        "[Service]\nRestart=always\n",
    );
    write(
        d,
        "gettys.target",
        "[Unit]\nWants=getty@tty1.service getty@ttyS0.service\n",
    );
    let u = build(&[d]);
    let one = u.get(u.lookup("getty@tty1.service").unwrap()).unwrap();
    assert_eq!(one.load, LoadState::Loaded);
    assert_eq!(
        one.config().unit.description.as_deref(),
        Some("Getty on tty1")
    );
    assert_eq!(
        one.config().service.exec_start[0].argv,
        ["/sbin/agetty", "tty1", "38400"]
    );
    assert_eq!(
        one.config().service.restart,
        cairn_supervisor::service::policy::RestartPolicy::Always,
        "the instance's own drop-in"
    );
    let s0 = u.get(u.lookup("getty@ttyS0.service").unwrap()).unwrap();
    assert_eq!(
        s0.config().service.restart,
        cairn_supervisor::service::policy::RestartPolicy::No
    );
    // The template itself is not a unit.
    assert!(u.lookup("getty@.service").is_none());
}

#[test]
fn aliases_masks_and_wants_directories() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(d, "real.service", "[Service]\nExecStart=/bin/real\n");
    symlink(d.join("real.service"), d.join("nick.service")).unwrap();
    write(d, "gone.service", "[Service]\nExecStart=/bin/gone\n");
    let masks = t.path().join("masks");
    std::fs::create_dir_all(&masks).unwrap();
    symlink("/dev/null", masks.join("gone.service")).unwrap();
    write(d, "app.target", "[Unit]\nDescription=app\n");
    std::fs::create_dir_all(d.join("app.target.wants")).unwrap();
    symlink("../real.service", d.join("app.target.wants/real.service")).unwrap();
    std::fs::create_dir_all(d.join("app.target.requires")).unwrap();
    symlink(
        "../gone.service",
        d.join("app.target.requires/gone.service"),
    )
    .unwrap();
    let u = build(&[&masks, d]);
    assert_eq!(u.lookup("nick.service"), u.lookup("real.service"));
    let real = u.get(u.lookup("real.service").unwrap()).unwrap();
    assert_eq!(real.aliases, vec!["nick.service"]);
    let gone = u.get(u.lookup("gone.service").unwrap()).unwrap();
    assert_eq!(
        gone.load,
        LoadState::Masked,
        "the higher directory's mask wins"
    );
    assert_eq!(deps(&u, "app.target", Dep::Wants), vec!["real.service"]);
    assert_eq!(deps(&u, "app.target", Dep::Requires), vec!["gone.service"]);
    // A target is ordered after what it pulls in.
    assert!(deps(&u, "app.target", Dep::After).contains(&"real.service".to_string()));
}

#[test]
fn default_dependencies_and_the_shipped_targets() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "s.service", "[Service]\nExecStart=/bin/s\n");
    write(
        t.path(),
        "raw.service",
        "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/r\n",
    );
    let u = build(&[t.path()]);
    assert_eq!(deps(&u, "s.service", Dep::Requires), vec!["sysinit.target"]);
    assert_eq!(
        deps(&u, "s.service", Dep::After),
        vec!["basic.target", "sysinit.target"]
    );
    assert_eq!(
        deps(&u, "s.service", Dep::Conflicts),
        vec!["shutdown.target"]
    );
    assert!(deps(&u, "raw.service", Dep::Requires).is_empty());
    // default.target is an alias of multi-user.target, which is shipped.
    assert_eq!(u.lookup("default.target"), u.lookup("multi-user.target"));
    let mu = u.get(u.lookup("multi-user.target").unwrap()).unwrap();
    assert!(mu.config().unit.allow_isolate);
    assert_eq!(
        deps(&u, "multi-user.target", Dep::Requires),
        vec!["basic.target"]
    );
}

#[test]
fn broken_files_fail_only_themselves() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "two.service",
        "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n",
    );
    write(
        d,
        "quote.service",
        "[Service]\nExecStart=/bin/echo \"unterminated\n",
    );
    std::fs::write(d.join("bin.service"), [0xff, 0xfe, 0, 1, 2]).unwrap();
    std::fs::create_dir_all(d.join("dir.service")).unwrap();
    write(d, "ok.service", "[Service]\nExecStart=/bin/ok\n");
    let u = build(&[d]);
    let state = |n: &str| u.get(u.lookup(n).unwrap()).unwrap().load.clone();
    match state("two.service") {
        LoadState::BadSetting(r) => assert!(r.contains("more than one ExecStart="), "{r}"),
        other => panic!("{other:?}"),
    }
    match state("quote.service") {
        LoadState::BadSetting(r) => assert!(r.contains("quote.service:2"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(state("bin.service"), LoadState::Error(_)));
    assert_eq!(state("ok.service"), LoadState::Loaded);
    // A directory named like a unit is not loaded as one.
    assert!(u.lookup("dir.service").is_none());
}

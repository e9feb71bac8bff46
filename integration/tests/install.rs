//! enable / link / disable / reenable / preset / mask / unmask / is-enabled / list-unit-files:
//! compared with systemctl 252 on the same image (`--root`), then used on a running manager
//! (a reload after each change, `--now`), with templates: DefaultInstance=, instance
//! specifiers in [Install], instance drop-ins and templated `.wants/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cairn_integration::{bin, out, wait, Sandbox};

const UNITS: &[(&str, &str)] = &[
    (
        "foo.service",
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\nAlias=foo-alias.service\nAlso=bar.service\n",
    ),
    (
        "bar.service",
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nRequiredBy=x.target\n",
    ),
    ("static.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
    (
        "tpl@.service",
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=one\n",
    ),
    (
        "spec@.service",
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=group-%i.target\n",
    ),
    (
        "ind.service",
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nAlso=bar.service\n",
    ),
    (
        "nodef@.service",
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n",
    ),
    ("multi-user.target", "[Unit]\n"),
    ("x.target", "[Unit]\n"),
];

/// An image with the units in usr/lib/systemd/system (both read it) and a preset file.
fn image() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let lib = d.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(d.path().join("etc/systemd/system")).unwrap();
    for (n, t) in UNITS {
        std::fs::write(lib.join(n), t).unwrap();
    }
    // A unit file outside the unit path (`enable PATH`, `link`).
    let opt = d.path().join("opt/x");
    std::fs::create_dir_all(&opt).unwrap();
    std::fs::write(
        opt.join("ext.service"),
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    let p = d.path().join("usr/lib/systemd/system-preset");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("50-test.preset"), "disable foo.service\nenable b*\n").unwrap();
    d
}

fn run(tool: &Path, root: &Path, args: &[&str]) -> Output {
    Command::new(tool)
        .arg(format!("--root={}", root.display()))
        .args(args)
        .output()
        .unwrap()
}

/// Every link below the image's configuration directory (etc/systemd/system for systemctl,
/// etc/cairn/system for cairnctl), relative to it, with its target.
fn links(dir: &Path) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if let Ok(t) = std::fs::read_link(&p) {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert((rel, t.display().to_string()));
            } else if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out
}

/// Each name's is-enabled answer (stdout and exit code).
fn states(tool: &Path, root: &Path) -> Vec<(String, String, Option<i32>)> {
    let names = [
        "foo.service",
        "foo-alias.service",
        "bar.service",
        "static.service",
        "tpl@.service",
        "tpl@one.service",
        "tpl@two.service",
        "tpl@three.service",
        "spec@blue.service",
        "ind.service",
        "nodef@.service",
        "x.target",
        "ext.service",
        "nope.service",
    ];
    names
        .iter()
        .map(|n| {
            let o = run(tool, root, &["is-enabled", n]);
            (
                n.to_string(),
                String::from_utf8_lossy(&o.stdout).trim().to_string(),
                o.status.code(),
            )
        })
        .collect()
}

/// The same verbs on two copies of one image, systemctl's and cairnctl's: after each step,
/// the same links (in their own configuration directories) and the same is-enabled answers.
#[test]
fn unit_file_verbs_agree_with_systemctl() {
    let systemctl = PathBuf::from("/usr/bin/systemctl");
    assert!(
        systemctl.exists(),
        "systemctl (Debian's systemd package, which `make deps` installs) is the reference"
    );
    let a = image();
    let b = image();
    let cairnctl = bin("cairnctl");
    let steps: &[&[&str]] = &[
        &[],
        &["enable", "foo.service"],
        &[
            "enable",
            "tpl@.service",
            "tpl@two.service",
            "spec@blue.service",
        ],
        &["disable", "tpl@two.service"],
        &["enable", "ind.service"],
        &["disable", "foo.service"],
        &["reenable", "tpl@.service"],
        &["mask", "static.service", "nope.service"],
        &["unmask", "static.service"],
        &["preset", "foo.service", "bar.service"],
        &["disable", "bar.service"],
        &["mask", "foo.service"],
        &["enable", "foo.service"],
        &["unmask", "foo.service"],
        &["disable", "tpl@.service"],
        &["enable", "/opt/x/ext.service"],
        &["disable", "ext.service"],
        &["link", "/opt/x/ext.service"],
        &["enable", "ext.service"],
        &["disable", "ext.service"],
    ];
    for step in steps {
        if !step.is_empty() {
            let sa = run(&systemctl, a.path(), step);
            let sb = run(&cairnctl, b.path(), step);
            assert_eq!(
                sa.status.code(),
                sb.status.code(),
                "{step:?}: systemctl {} / cairnctl {}",
                out(&sa),
                out(&sb)
            );
        }
        let la = links(&a.path().join("etc/systemd/system"));
        let lb = links(&b.path().join("etc/cairn/system"));
        assert_eq!(la, lb, "links after {step:?}");
        assert_eq!(
            states(&systemctl, a.path()),
            states(&cairnctl, b.path()),
            "is-enabled after {step:?}"
        );
    }
}

/// cairnctl run as if the sandbox's unit directory were /etc/cairn/system: in a mount
/// namespace of its own where `ROOT/etc` is /etc (the manager reads the same directory as
/// its --units).
fn ctl_in_root(sb: &Sandbox, root: &Path, args: &[&str]) -> Output {
    let mut script = format!(
        "mount --bind {} /etc && exec {} --socket {}",
        root.join("etc").display(),
        bin("cairnctl").display(),
        sb.socket().display()
    );
    for a in args {
        script.push(' ');
        script.push_str(a);
    }
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap()
}

#[test]
fn enable_and_disable_on_a_running_manager() {
    let mut builder = Sandbox::builder();
    for (n, t) in UNITS {
        if *n != "multi-user.target" {
            builder = builder.unit(n, t);
        }
    }
    let mut sb = builder
        .unit(
            "greet@.service",
            "[Service]\nExecStart=/bin/sh -c 'echo \"$GREETING %i\" > @DIR@/greet-%i; exec sleep 1000'\nEnvironment=GREETING=hello\n[Install]\nWantedBy=multi-user.target\n",
        )
        // Instance drop-ins: the template's for every instance, the instance's own after it.
        .unit("greet@.service.d/10-all.conf", "[Service]\nEnvironment=GREETING=hi\n")
        .unit("greet@loud.service.d/20-loud.conf", "[Service]\nEnvironment=GREETING=HEY\n")
        // A templated .wants/: every group@X.target wants greet@X.service.
        .unit("group@.target", "[Unit]\n")
        .link("group@.target.wants/greet@.service", "../greet@.service")
        .start()
        .unwrap();
    // ROOT/etc/cairn/system is the manager's unit directory.
    let root = sb.dir().join("root");
    std::fs::create_dir_all(root.join("etc/cairn")).unwrap();
    std::os::unix::fs::symlink(&sb.units, root.join("etc/cairn/system")).unwrap();

    assert_eq!(sb.active_state("foo.service"), "inactive");
    let o = ctl_in_root(&sb, &root, &["enable", "--now", "foo"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains(
            "Created symlink /etc/cairn/system/multi-user.target.wants/foo.service → /etc/cairn/system/foo.service."
        ),
        "{}",
        out(&o)
    );
    assert!(sb.is_active("foo.service"));
    // The manager reloaded: the alias answers, the target wants it.
    let o = sb.ctl(&["show", "foo-alias.service", "-p", "Id"]);
    assert_eq!(out(&o).trim(), "Id=foo.service");
    assert!(sb
        .property("multi-user.target", "Wants")
        .contains("foo.service"));
    let o = ctl_in_root(&sb, &root, &["is-enabled", "foo", "bar"]);
    assert_eq!(out(&o).trim(), "enabled\nenabled");

    let o = ctl_in_root(&sb, &root, &["disable", "--now", "foo"]);
    assert!(o.status.success(), "{}", out(&o));
    wait(&mut sb, "foo to stop", 10, |sb| {
        Ok(sb.active_state("foo.service") == "inactive")
    });
    assert!(!sb
        .property("multi-user.target", "Wants")
        .contains("foo.service"));

    // mask: it cannot start; unmask: it can. (A unit whose file is in /etc/cairn/system
    // itself cannot be masked there, as with systemctl: a shipped unit can.)
    let o = ctl_in_root(&sb, &root, &["mask", "foo"]);
    assert!(!o.status.success());
    assert!(
        out(&o).contains("Failed to mask unit: File /etc/cairn/system/foo.service already exists."),
        "{}",
        out(&o)
    );
    let o = ctl_in_root(&sb, &root, &["mask", "network-online.target"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(sb.property("network-online.target", "LoadState"), "masked");
    let o = sb.ctl(&["start", "network-online.target"]);
    assert!(!o.status.success());
    assert!(out(&o).contains("masked"), "{}", out(&o));
    let o = ctl_in_root(&sb, &root, &["unmask", "network-online.target"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(
        sb.property("network-online.target", "LoadState"),
        "loaded",
        "{}",
        out(&o)
    );
    let o = sb.ctl(&["start", "network-online.target"]);
    assert!(o.status.success(), "{}", out(&o));

    // A template enabled by instance: started with --now; the instance's drop-in wins over
    // the template's, which wins over the file.
    let o = ctl_in_root(&sb, &root, &["enable", "--now", "greet@loud.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let o = sb.ctl(&["start", "group@quiet.target"]);
    assert!(o.status.success(), "{}", out(&o));
    let _ = sb.wait_until(std::time::Duration::from_secs(10), |sb| {
        Ok(sb.dir().join("greet-loud").exists() && sb.dir().join("greet-quiet").exists())
    });
    assert!(
        sb.dir().join("greet-loud").exists() && sb.dir().join("greet-quiet").exists(),
        "{}\n{}",
        out(&sb.ctl(&["list-units", "--all"])),
        out(&sb.ctl(&["status", "greet@loud.service", "greet@quiet.service"]))
    );
    let read = |n: &str| std::fs::read_to_string(sb.dir().join(n)).unwrap();
    assert_eq!(read("greet-loud"), "HEY loud\n");
    assert_eq!(read("greet-quiet"), "hi quiet\n");
    assert!(
        sb.is_active("greet@quiet.service"),
        "wanted through group@.target.wants/"
    );
    assert!(
        sb.property("greet@loud.service", "DropInPaths")
            .ends_with("greet@loud.service.d/20-loud.conf"),
        "{}",
        sb.property("greet@loud.service", "DropInPaths")
    );

    // No manager reachable: the files change all the same, and that is said.
    let o = Command::new(bin("cairnctl"))
        .arg(format!("--root={}", root.display()))
        .args(["disable", "greet@loud.service"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let o = Command::new(bin("cairnctl"))
        .arg(format!("--root={}", root.display()))
        .args(["enable", "--now", "foo"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}

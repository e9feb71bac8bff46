//! Snapshots: `cairnctl snapshot`, `isolate NAME.snapshot`, `delete` — the state recorded is
//! the state returned to, across an isolate to emergency.target and a daemon-reexec.

use std::collections::BTreeSet;

use cairn_integration::{out, wait, Sandbox};

/// The units active now (a snapshot itself and devices aside: a snapshot does not record
/// those).
fn active(sb: &Sandbox) -> BTreeSet<String> {
    let o = sb.ctl(&["list-units", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|u| u["active"] == "active")
        .filter_map(|u| u["unit"].as_str().map(str::to_string))
        .filter(|u| !u.ends_with(".snapshot") && !u.ends_with(".device"))
        .collect()
}

#[test]
fn isolating_a_snapshot_brings_its_state_back() {
    let mut sb = Sandbox::builder()
        .unit("a.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("b.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("extra.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("later.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .unit("s.socket", "[Socket]\nListenStream=@DIR@/s.sock\n")
        .unit("s.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        // The shipped emergency.service is a shell on the console; the sandbox has none.
        .unit(
            "emergency.service",
            "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .unit(
            "default.target",
            "[Unit]\nWants=a.service b.service s.socket\n",
        )
        .start()
        .unwrap();
    wait(&mut sb, "the default target", 10, |sb| {
        Ok(sb.is_active("a.service") && sb.is_active("b.service") && sb.is_active("s.socket"))
    });
    // Something started by hand is part of the state too.
    let o = sb.ctl(&["start", "extra.service"]);
    assert!(o.status.success(), "{}", out(&o));
    let before = active(&sb);
    for u in [
        "a.service",
        "b.service",
        "extra.service",
        "s.socket",
        "default.target",
    ] {
        assert!(before.contains(u), "{u} not in {before:?}");
    }
    assert!(!before.contains("emergency.service"));

    let o = sb.ctl(&["snapshot", "before"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(out(&o).trim(), "before.snapshot");
    assert_eq!(sb.property("before.snapshot", "LoadState"), "loaded");
    // Taken twice: refused, the first kept.
    let o = sb.ctl(&["snapshot", "before"]);
    assert!(!o.status.success());
    assert!(
        out(&o).contains("before.snapshot exists already"),
        "{}",
        out(&o)
    );
    // Without a name: snapshot-N.
    let o = sb.ctl(&["snapshot"]);
    assert_eq!(out(&o).trim(), "snapshot-1.snapshot", "{}", out(&o));
    let o = sb.ctl(&["snapshot"]);
    assert_eq!(out(&o).trim(), "snapshot-2.snapshot", "{}", out(&o));
    // Only root takes snapshots.
    let o = sb.ctl_as(65534, &["snapshot", "mine"]);
    assert!(!o.status.success());
    assert!(out(&o).contains("permission denied"), "{}", out(&o));

    // To emergency.target: everything else stops (a, b, extra, the socket).
    let o = sb.ctl(&["isolate", "emergency.target"]);
    assert!(o.status.success(), "{}", out(&o));
    wait(&mut sb, "the isolate", 10, |sb| {
        Ok(sb.active_state("a.service") == "inactive"
            && sb.active_state("extra.service") == "inactive"
            && sb.active_state("s.socket") == "inactive")
    });
    assert!(sb.is_active("emergency.service"));
    // The snapshots are kept through the isolate (IgnoreOnIsolate=yes) and a reexec.
    let old = sb.component("supervisor").unwrap().pid;
    let o = sb.ctl(&["daemon-reexec"]);
    assert!(o.status.success(), "{}", out(&o));
    wait(&mut sb, "the new supervisor and its helpers", 20, |sb| {
        let c = sb.components()?;
        Ok(c.iter().filter(|c| c.state == "running").count() == 5
            && c.iter().any(|c| c.name == "supervisor" && c.pid != old))
    });
    assert_eq!(sb.property("before.snapshot", "LoadState"), "loaded");
    assert!(sb.is_active("emergency.service"));

    // Back: the same units active again, emergency gone.
    let o = sb.ctl(&["isolate", "before.snapshot"]);
    assert!(o.status.success(), "{}", out(&o));
    let _ = sb.wait_until(std::time::Duration::from_secs(10), |sb| {
        Ok(active(sb) == before)
    });
    assert_eq!(active(&sb), before, "{}", sb.log_text());
    assert_eq!(sb.active_state("emergency.service"), "inactive");
    assert_eq!(sb.active_state("later.service"), "inactive");

    // delete: only snapshots; the unit is gone afterwards.
    let o = sb.ctl(&["delete", "a.service"]);
    assert!(!o.status.success());
    assert!(
        out(&o).contains("a.service is not a snapshot"),
        "{}",
        out(&o)
    );
    let o = sb.ctl(&["delete", "snapshot-1", "snapshot-2.snapshot"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(sb.property("snapshot-1.snapshot", "LoadState"), "not-found");
    assert!(!sb.runtime.join("snapshots/snapshot-2.snapshot").exists());
    // The name is free again.
    let o = sb.ctl(&["snapshot"]);
    assert_eq!(out(&o).trim(), "snapshot-1.snapshot", "{}", out(&o));
}

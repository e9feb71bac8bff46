//! Every unit file of this machine's /lib/systemd/system goes through the loader without a
//! crash. The test prints how many load, and why the others do not (`--nocapture` to see it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use cairn_supervisor::manager::Units;
use cairn_supervisor::unit::load::{Catalog, LoadState};
use cairn_supervisor::unit::specifier::Context;

#[test]
fn every_unit_of_lib_systemd_system_loads_without_a_crash() {
    let dir = PathBuf::from("/lib/systemd/system");
    assert!(
        dir.is_dir(),
        "/lib/systemd/system is missing (Debian's systemd package provides it)"
    );
    let files = std::fs::read_dir(&dir).unwrap().count();
    let cat = Catalog::scan(std::slice::from_ref(&dir));
    let ctx = Context {
        runtime_dir: "/run".into(),
        ..Default::default()
    };
    let units = Units::build(&cat, &ctx, &[]);
    let mut by_state: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut warnings = 0;
    for u in &units.list {
        warnings += u.warnings.len();
        let line = match u.load.reason() {
            Some(r) => format!("{}: {r}", u.name),
            None => u.name.clone(),
        };
        by_state.entry(u.load.as_str()).or_default().push(line);
    }
    println!(
        "{files} entries in {}, {} units:",
        dir.display(),
        units.list.len()
    );
    for (state, names) in &by_state {
        println!("  {:>4} {state}", names.len());
    }
    println!("  {warnings:>4} warnings (unknown keys and values, with file:line)");
    for (state, names) in &by_state {
        if *state == "loaded" {
            continue;
        }
        println!("{state}:");
        for n in names {
            println!("    {n}");
        }
    }
    let loaded = by_state.get("loaded").map(Vec::len).unwrap_or(0);
    assert!(loaded > 100, "only {loaded} units loaded");
    // Units the loader could not read at all would be bugs in the loader.
    let errors: Vec<&String> = by_state.get("error").into_iter().flatten().collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(units.list.iter().any(|u| u.name == "ssh.service"
        || u.name == "systemd-journald.service"
        || u.load == LoadState::Loaded));
}

//! Every fuzz target's body over its committed seeds (`fuzz/seeds/TARGET/`): the regression
//! run that `make test` does; `make fuzz` starts from the same seeds.

use std::path::Path;

#[test]
fn every_target_survives_its_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, body) in cairn_supervisor::fuzzing::TARGETS {
        let dir = root.join(name);
        let seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .collect();
        assert!(!seeds.is_empty(), "{name} has no seeds");
        for s in seeds {
            body(&std::fs::read(s.path()).unwrap());
        }
    }
}

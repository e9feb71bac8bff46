//! The uevent target's body over its committed seeds (`fuzz/seeds/uevent/`).

#[test]
fn uevent_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/uevent");
    let mut n = 0;
    for s in std::fs::read_dir(dir).unwrap().flatten() {
        cairn_devmon::uevent::fuzz_parse(&std::fs::read(s.path()).unwrap());
        n += 1;
    }
    assert!(n > 0);
}

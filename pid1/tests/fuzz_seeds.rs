//! The carry target's body over its committed seeds (`fuzz/seeds/carry/`), as `make test`'s
//! regression run; the seed of the current format reads back.

#[test]
fn carry_seeds_read_or_are_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/carry");
    let mut read = 0;
    for s in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(s.path()).unwrap();
        if cairn_init::reexec::decode(&text).is_ok() {
            read += 1;
        }
    }
    assert!(read >= 1);
}

//! The committed generated code must be what the schemas compile to. Needs Debian's `capnp`
//! (which `make test` installs); without it this test says so and fails, so a missing schema
//! compiler cannot hide drift.

#[path = "support/gen.rs"]
mod gen;

#[test]
fn generated_code_matches_schemas() {
    if std::process::Command::new("capnp")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("the `capnp` schema compiler is not installed (apt-get install capnproto)");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    gen::generate(tmp.path()).expect("capnp compile");
    let committed = gen::proto_dir().join("src").join("generated");
    for schema in gen::SCHEMAS {
        let file = schema.replace(".capnp", "_capnp.rs");
        let fresh = std::fs::read_to_string(tmp.path().join(&file)).expect("fresh output");
        let old = std::fs::read_to_string(committed.join(&file))
            .unwrap_or_else(|e| panic!("{file} is not committed ({e}); run `make proto`"));
        assert!(
            fresh == old,
            "proto/src/generated/{file} differs from what proto/schema/{schema} compiles to; run `make proto`"
        );
    }
}

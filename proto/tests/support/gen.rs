//! Regenerates the Rust code for `proto/schema/*.capnp` into a directory. Shared by
//! `make proto` (examples/gen_proto.rs) and the drift test (tests/schema_drift.rs).

use std::path::{Path, PathBuf};

pub const SCHEMAS: &[&str] = &["pid1.capnp", "bus.capnp", "control.capnp"];

pub fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the schema compiler (Debian's `capnp`, through capnpc-rust) into `out`.
pub fn generate(out: &Path) -> Result<(), capnp::Error> {
    let schema_dir = proto_dir().join("schema");
    let mut cmd = capnpc::CompilerCommand::new();
    cmd.src_prefix(&schema_dir)
        .output_path(out)
        .default_parent_module(vec!["generated".into()]);
    for s in SCHEMAS {
        cmd.file(schema_dir.join(s));
    }
    cmd.run()
}

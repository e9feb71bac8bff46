//! `make proto`: regenerate proto/src/generated from proto/schema.

#[path = "../tests/support/gen.rs"]
mod gen;

fn main() {
    let out = gen::proto_dir().join("src").join("generated");
    if let Err(e) = gen::generate(&out) {
        eprintln!("make proto: {e}");
        std::process::exit(1);
    }
    println!("regenerated {}", out.display());
}

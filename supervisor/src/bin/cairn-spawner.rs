//! cairn-spawner: clones the services' processes for the supervisor (`spawner.rs`). A binary
//! of its own so that it can be small and statically linked (`make release`); the supervisor
//! starts it from beside its own binary, else runs itself as `cairn-supervisor --spawner`.

fn main() {
    if let Err(e) = cairn_supervisor::spawner::main() {
        eprintln!("cairn-spawner: {e}");
        std::process::exit(1);
    }
}

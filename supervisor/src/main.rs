//! cairn-supervisor. `cairn-supervisor --help` for the options; normally started by cairn-init.

use clap::Parser;

fn main() {
    let config = cairn_supervisor::config::Config::parse();
    proto::failpoint::setup_from_env("cairn-supervisor");
    if let Err(e) = cairn_supervisor::run(config) {
        eprintln!("cairn-supervisor: {e}");
        std::process::exit(1);
    }
}

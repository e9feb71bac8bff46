//! cairnctl. `cairnctl --help` lists the verbs.

use clap::Parser;

fn main() {
    let cli = cairnctl::Cli::parse();
    std::process::exit(cairnctl::run(cli));
}

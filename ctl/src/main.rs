//! cairnctl. `cairnctl --help` lists the verbs. Called as `poweroff`, `reboot`, `halt` or
//! `shutdown` (symlinks that `make install` creates), it does what that command does.

use clap::Parser;

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cairnctl::compat::translate(&argv) {
        Some(Ok(args)) => cairnctl::Cli::parse_from(args),
        Some(Err(cairnctl::compat::CompatError::Help(name))) => {
            println!("{}", cairnctl::compat::CompatError::Help(name));
            std::process::exit(cairnctl::exit::OK);
        }
        Some(Err(e)) => {
            eprintln!("{e}");
            std::process::exit(cairnctl::exit::USAGE);
        }
        None => cairnctl::Cli::parse(),
    };
    std::process::exit(cairnctl::run(cli));
}

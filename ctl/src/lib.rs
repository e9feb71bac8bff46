//! cairnctl: the command-line client. systemctl's verbs and exit codes, over the control API
//! (proto/schema/control.capnp) on RUNTIME-DIR/control.

pub mod client;
pub mod compat;
pub mod output;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// systemctl's exit codes (LSB), as cairnctl uses them.
pub mod exit {
    pub const OK: i32 = 0;
    /// A request failed, or no manager answered.
    pub const FAILURE: i32 = 1;
    /// Bad usage (clap's own code).
    pub const USAGE: i32 = 2;
    /// The caller may only read.
    pub const PERMISSION: i32 = 4;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Ron,
}

#[derive(Debug, Parser)]
#[command(
    name = "cairnctl",
    version,
    about = "Control the cairn init system and service manager."
)]
pub struct Cli {
    /// The control socket of the instance to talk to.
    #[arg(
        long,
        env = "CAIRN_SOCKET",
        default_value = "/run/cairn/control",
        global = true
    )]
    pub socket: PathBuf,
    /// Output format of listings.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text, global = true)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect cairn's own processes.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Stop everything and power the machine off (end the container/sandbox).
    Poweroff,
    /// Stop everything and reboot (a container's parent sees SIGHUP).
    Reboot,
    /// Stop everything and halt.
    Halt,
    /// Show the uid the manager sees for this client and what it may do.
    Whoami,
    /// Print the manager's version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Every process of cairn: init, supervisor and the helpers.
    List,
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> i32 {
    match client::execute(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

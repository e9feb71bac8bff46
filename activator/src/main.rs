//! cairn-activator: owns listening sockets and FIFOs, watches them and tells the supervisor when one has traffic (socket activation).
//!
//! For now it is the bare helper process every component shares (proto::component): it
//! registers with the supervisor, answers introspection, keeps the fds its earlier instances
//! stored, and exits when told to or when its link breaks. Its own work comes with issue 5.

const USAGE: &str = "\
cairn-activator: cairn's helper that owns listening sockets and FIFOs, watches them and tells the supervisor when one has traffic (socket activation).

Started by cairn-supervisor, never by hand:
  fd 3           its end of the bus (a Unix stream socket; Cap'n Proto RPC with fds as
                 SCM_RIGHTS). CAIRN_BUS_FD names another fd.
It registers with the supervisor, answers introspection (cairnctl component list), and exits
on request, on SIGTERM/SIGINT, or when the bus breaks.

options: --help, --version
";

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--help") | Some("-h") => {
            print!("{USAGE}");
            return;
        }
        Some("--version") => {
            println!("cairn-activator {}", proto::VERSION);
            return;
        }
        _ => {}
    }
    proto::component::main("activator", |_registered| async {})
}

//! cairn-activator: owns listening sockets and FIFOs, watches them and tells the supervisor
//! when one has traffic (socket activation). The work is in the library (`server`, `bind`).

const USAGE: &str = "\
cairn-activator: cairn's helper that creates the sockets and FIFOs of socket units, watches
them and tells the supervisor when one has traffic (socket activation).

Started by cairn-supervisor, never by hand:
  fd 3           its end of the bus (a Unix stream socket; Cap'n Proto RPC with fds as
                 SCM_RIGHTS). CAIRN_BUS_FD names another fd.
It registers with the supervisor, offers its Activator capability (open, watch, unwatch,
list), answers introspection (cairnctl component list), and exits on request, on
SIGTERM/SIGINT, or when the bus breaks. Every socket it makes is handed to the supervisor at
once, so killing it loses no socket and no queued connection.

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
    cairn_activator::raise_nofile();
    proto::component::main("activator", cairn_activator::server::work)
}

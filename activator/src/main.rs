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

To debug it alone: `cairn-activator --standalone UNIT-DIR` runs it in the foreground against
a fake supervisor in the same process, which asks it to open and watch the sockets of the
*.socket files in UNIT-DIR (only Listen*= and Accept= are read) and prints what it would tell
the supervisor (traffic, accepted connections, which are then closed).

Environment: CAIRN_BUS_FD (the bus fd), CAIRN_FAILPOINTS (fail points, debug builds).
options: --help, --version, --standalone UNIT-DIR
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
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--standalone") {
        let Some(dir) = args.get(2) else {
            eprintln!("usage: cairn-activator --standalone UNIT-DIR");
            std::process::exit(2);
        };
        let listen = match cairn_activator::standalone::read_dir(std::path::Path::new(dir)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cairn-activator: {dir}: {e}");
                std::process::exit(1);
            }
        };
        let plan = proto::standalone::Plan {
            listen,
            fstab: None,
        };
        proto::component::main_with("activator", Some(plan), cairn_activator::server::work)
    }
    proto::component::main("activator", cairn_activator::server::work)
}

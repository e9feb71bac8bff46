//! cairn-mounter: parses fstab, mounts and unmounts, watches /proc/self/mountinfo and answers autofs requests.
//!
//! The work is in the library (`server`, `fstab`, `options`, `mountinfo`, `autofs`,
//! `automount`).

const USAGE: &str = "\
cairn-mounter: cairn's helper that parses fstab, mounts and unmounts, watches /proc/self/mountinfo and answers autofs requests.

Started by cairn-supervisor, never by hand:
  fd 3           its end of the bus (a Unix stream socket; Cap'n Proto RPC with fds as
                 SCM_RIGHTS). CAIRN_BUS_FD names another fd.
It registers with the supervisor, offers its Mounter capability (fstab, mount, unmount,
mounts), reports every change of /proc/self/mountinfo, answers introspection (cairnctl
component list), and exits on request, on SIGTERM/SIGINT, or when the bus breaks.

To debug it alone: `cairn-mounter --standalone [FSTAB]` runs it in the foreground against a
fake supervisor in the same process, which has it read FSTAB (each line as the supervisor
would get it, errors with their line) and prints every change of the mount table it would
report.

Environment: CAIRN_BUS_FD (the bus fd), CAIRN_FAILPOINTS (fail points, debug builds).
options: --help, --version, --standalone [FSTAB]
";

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--help") | Some("-h") => {
            print!("{USAGE}");
            return;
        }
        Some("--version") => {
            println!("cairn-mounter {}", proto::VERSION);
            return;
        }
        _ => {}
    }
    // A process group of its own: autofs points are made for it (its members see through
    // them), and in a fresh PID namespace the inherited group is outside, which autofs refuses.
    let _ = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--standalone") {
        let plan = proto::standalone::Plan {
            listen: Vec::new(),
            fstab: args.get(2).cloned(),
        };
        proto::component::main_with("mounter", Some(plan), cairn_mounter::server::work)
    }
    proto::component::main("mounter", cairn_mounter::server::work)
}

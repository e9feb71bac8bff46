//! cairn-mounter: parses fstab, mounts and unmounts, watches /proc/self/mountinfo and answers autofs requests.
//!
//! The work is in the library (`server`, `fstab`, `options`, `mountinfo`). autofs comes next
//! (issue 6).

const USAGE: &str = "\
cairn-mounter: cairn's helper that parses fstab, mounts and unmounts, watches /proc/self/mountinfo and answers autofs requests.

Started by cairn-supervisor, never by hand:
  fd 3           its end of the bus (a Unix stream socket; Cap'n Proto RPC with fds as
                 SCM_RIGHTS). CAIRN_BUS_FD names another fd.
It registers with the supervisor, offers its Mounter capability (fstab, mount, unmount,
mounts), reports every change of /proc/self/mountinfo, answers introspection (cairnctl
component list), and exits on request, on SIGTERM/SIGINT, or when the bus breaks.

options: --help, --version
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
    proto::component::main("mounter", cairn_mounter::server::work)
}

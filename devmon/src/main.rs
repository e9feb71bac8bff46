//! cairn-devmon: listens to kernel uevents (NETLINK_KOBJECT_UEVENT), coldplugs from /sys and reports device units.
//!
//! The work is in the library (`uevent`, `sysfs`, `server`).

const USAGE: &str = "\
cairn-devmon: cairn's helper that listens to kernel uevents (NETLINK_KOBJECT_UEVENT), coldplugs from /sys and reports device units.

Started by cairn-supervisor, never by hand:
  fd 3           its end of the bus (a Unix stream socket; Cap'n Proto RPC with fds as
                 SCM_RIGHTS). CAIRN_BUS_FD names another fd.
It registers with the supervisor, opens a NETLINK_KOBJECT_UEVENT socket (the kernel's group,
or udev's when udevd runs), reports every unit-worthy device it finds in /sys (coldplug) and
then every uevent of one, answers introspection (cairnctl component list), and exits on
request, on SIGTERM/SIGINT, or when the bus breaks.

To debug it alone: `cairn-devmon --standalone` runs it in the foreground against a fake
supervisor in the same process, which prints the coldplug and every device change it would
report.

Environment: CAIRN_BUS_FD (the bus fd), CAIRN_CONTAINER (load no modules), CAIRN_FAILPOINTS
(fail points, debug builds).
options: --help, --version, --standalone
";

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--help") | Some("-h") => {
            print!("{USAGE}");
            return;
        }
        Some("--version") => {
            println!("cairn-devmon {}", proto::VERSION);
            return;
        }
        _ => {}
    }
    if std::env::args().nth(1).as_deref() == Some("--standalone") {
        // Alone it only watches: no module is loaded, no /dev/disk link made.
        std::env::set_var("CAIRN_CONTAINER", "1");
        let plan = proto::standalone::Plan::default();
        proto::component::main_with("devmon", Some(plan), cairn_devmon::server::work)
    }
    proto::component::main("devmon", cairn_devmon::server::work)
}

//! The netlink uevent socket, coldplug, and reporting to the supervisor.
//!
//! Order matters for losing nothing: the socket is opened (and starts queueing events) before
//! the walk of /sys, so a device that comes or goes during the walk is seen by one or the
//! other; the coldplug set goes first, then the events.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use proto::bus_capnp::{device, device_events, devmon};

use crate::sysfs::{self, Device};
use crate::uevent;

/// Which multicast group: udev's (1 = kernel, 2 = udev) when udevd runs, as libudev decides.
fn group() -> u32 {
    if std::path::Path::new("/run/udev/control").exists() {
        2
    } else {
        1
    }
}

/// A NETLINK_KOBJECT_UEVENT socket bound to `group`, non-blocking, with a large buffer (a burst
/// of uevents at boot must not overflow it).
pub fn open_socket(group: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_KOBJECT_UEVENT,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: socket(2) just returned this fd; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let size: libc::c_int = 128 << 20;
    // SAFETY: setsockopt reads an int from a live local; failure only leaves the default size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    // SAFETY: an all-zero sockaddr_nl is valid; the fields are set below.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = group;
    // SAFETY: bind(2) reads `size_of::<sockaddr_nl>()` bytes of `sa`, a live local.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

pub fn fill(mut b: device::Builder<'_>, d: &Device) {
    b.set_syspath(d.syspath.as_str());
    b.set_subsystem(d.subsystem.as_str());
    b.set_devname(d.devname.as_deref().unwrap_or(""));
    b.set_ifname(d.ifname.as_deref().unwrap_or(""));
    b.set_ready(d.ready);
    let mut w = b
        .reborrow()
        .init_wants(u32::try_from(d.wants.len()).unwrap_or(0));
    for (i, x) in d.wants.iter().enumerate() {
        w.set(u32::try_from(i).unwrap_or(0), x.as_str());
    }
    let mut p = b.init_properties(u32::try_from(d.props.len()).unwrap_or(0));
    for (i, (k, v)) in d.props.iter().enumerate() {
        p.set(u32::try_from(i).unwrap_or(0), format!("{k}={v}").as_str());
    }
}

/// System mode only (container mode writes nothing under the host's /dev): the
/// /dev/disk/by-* links of a device, made when it is there and removed when it goes, as udev
/// would.
pub fn sync_links(d: &Device, present: bool) {
    if !crate::modules::enabled() {
        return;
    }
    let (Some(dev), Some(links)) = (d.devname.as_deref(), d.props.get("DEVLINKS")) else {
        return;
    };
    for l in links.split_whitespace() {
        let link = std::path::Path::new(l);
        let points_here = std::fs::canonicalize(link).is_ok_and(|t| t == std::path::Path::new(dev));
        if present {
            if points_here {
                continue;
            }
            if let Some(parent) = link.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::remove_file(link);
            if let Err(e) = std::os::unix::fs::symlink(dev, link) {
                eprintln!("cairn-devmon: {l}: {e}");
            }
        } else if points_here || std::fs::symlink_metadata(link).is_ok() && !link.exists() {
            let _ = std::fs::remove_file(link);
        }
    }
}

pub struct DevmonServer;

/// What devmon has seen since it started, for `cairnctl component status devmon`.
#[derive(Debug, Default)]
struct Counters {
    received: std::cell::Cell<u64>,
    malformed: std::cell::Cell<u64>,
    reported: std::cell::Cell<u64>,
    by_action: std::cell::RefCell<std::collections::BTreeMap<String, u64>>,
    coldplugged: std::cell::Cell<u64>,
    /// The devices reported present: syspath → (subsystem, devname).
    devices: std::cell::RefCell<std::collections::BTreeMap<String, (String, String)>>,
}

fn known(d: &Device, present: bool) {
    count(|c| {
        let mut all = c.devices.borrow_mut();
        if present {
            all.insert(
                d.syspath.clone(),
                (d.subsystem.clone(), d.devname.clone().unwrap_or_default()),
            );
        } else {
            all.remove(&d.syspath);
        }
    });
}

thread_local! {
    static COUNTERS: Counters = Counters::default();
}

fn count(f: impl FnOnce(&Counters)) {
    COUNTERS.with(f);
}

impl devmon::Server for DevmonServer {
    async fn list(
        self: Rc<Self>,
        _params: devmon::ListParams,
        mut results: devmon::ListResults,
    ) -> Result<(), capnp::Error> {
        let all = sysfs::coldplug(sysfs::SYS);
        let mut l = results
            .get()
            .init_devices(u32::try_from(all.len()).unwrap_or(0));
        for (i, d) in all.iter().enumerate() {
            fill(l.reborrow().get(u32::try_from(i).unwrap_or(0)), d);
        }
        Ok(())
    }
}

/// Reads uevents and reports the unit-worthy ones; malformed ones are logged and dropped.
async fn events_loop(sock: OwnedFd, events: device_events::Client) {
    let afd = match proto::fdstream::register(sock) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cairn-devmon: cannot watch the uevent socket: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; uevent::MAX_SIZE];
    loop {
        let mut guard = match afd.readable().await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("cairn-devmon: {e}");
                return;
            }
        };
        loop {
            // SAFETY: recv(2) writes at most `buf.len()` bytes into `buf`, which we own.
            let n = unsafe {
                libc::recv(
                    afd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EAGAIN) {
                    guard.clear_ready();
                    break;
                }
                // ENOBUFS: the kernel dropped events; a fresh coldplug would be the cure.
                eprintln!("cairn-devmon: uevent socket: {e}");
                continue;
            }
            let msg = buf
                .get(..usize::try_from(n).unwrap_or(0))
                .unwrap_or_default();
            count(|c| c.received.set(c.received.get() + 1));
            let u = match uevent::parse(msg) {
                Ok(u) => u,
                Err(e) => {
                    count(|c| c.malformed.set(c.malformed.get() + 1));
                    eprintln!("cairn-devmon: dropping a malformed uevent: {e}");
                    continue;
                }
            };
            count(|c| {
                *c.by_action
                    .borrow_mut()
                    .entry(u.action.clone())
                    .or_default() += 1
            });
            // A device that needs a driver: load it (system mode only).
            if let (true, "add", Some(alias)) = (
                crate::modules::enabled(),
                u.action.as_str(),
                u.get("MODALIAS"),
            ) {
                let alias = vec![alias.to_string()];
                tokio::task::spawn_blocking(move || crate::modules::load(&alias));
            }
            let Some(d) = sysfs::classify(sysfs::SYS, &u) else {
                continue;
            };
            let present = u.action != "remove";
            sync_links(&d, present && d.ready);
            known(&d, present);
            let mut req = events.changed_request();
            fill(req.get().init_device(), &d);
            req.get().set_present(present);
            req.get().set_action(u.action.as_str());
            count(|c| c.reported.set(c.reported.get() + 1));
            if let Err(e) = req.send().promise.await {
                eprintln!("cairn-devmon: cannot report {}: {e}", d.syspath);
            }
        }
    }
}

/// The helper's work once registered: open the uevent socket, attach, coldplug, then report.
pub async fn work(registered: proto::component::Registered) {
    let sock = match open_socket(group()) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("cairn-devmon: cannot open the uevent socket: {e}");
            None
        }
    };
    *registered.details.borrow_mut() = Some(Box::new(|| {
        COUNTERS.with(|c| {
            let mut facts = vec![
                (
                    "devices at coldplug".to_string(),
                    c.coldplugged.get().to_string(),
                ),
                ("uevents received".to_string(), c.received.get().to_string()),
                (
                    "malformed, dropped".to_string(),
                    c.malformed.get().to_string(),
                ),
                (
                    "device changes reported".to_string(),
                    c.reported.get().to_string(),
                ),
            ];
            for (action, n) in c.by_action.borrow().iter() {
                facts.push((format!("action {action}"), n.to_string()));
            }
            let devices = c.devices.borrow();
            vec![
                proto::component::Section {
                    title: "devices and uevents".into(),
                    facts,
                },
                proto::component::Section {
                    title: format!("devices present ({})", devices.len()),
                    facts: devices
                        .iter()
                        .map(|(sys, (subsystem, devname))| {
                            let dev = if devname.is_empty() {
                                String::new()
                            } else {
                                format!(", {devname}")
                            };
                            (sys.clone(), format!("{subsystem}{dev}"))
                        })
                        .collect(),
                },
            ]
        })
    }));
    let client: devmon::Client = capnp_rpc::new_client(DevmonServer);
    let mut req = registered.registry.attach_devmon_request();
    req.get().set_devmon(client);
    let events = match req.send().promise.await {
        Ok(reply) => match reply.get().and_then(|r| r.get_events()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("cairn-devmon: attaching: {e}");
                return;
            }
        },
        Err(e) => {
            eprintln!("cairn-devmon: attaching: {e}");
            return;
        }
    };
    if crate::modules::enabled() {
        let aliases: Vec<String> = crate::modules::coldplug_aliases(sysfs::SYS)
            .into_iter()
            .collect();
        let n = aliases.len();
        // Before the walk of /sys: the devices these drivers bring are in it.
        let _ = tokio::task::spawn_blocking(move || crate::modules::load(&aliases)).await;
        eprintln!("cairn-devmon: asked modprobe for the drivers of {n} devices");
    }
    let all = sysfs::coldplug(sysfs::SYS);
    proto::failpoint::hit("devmon::mid_coldplug");
    count(|c| c.coldplugged.set(u64::try_from(all.len()).unwrap_or(0)));
    for d in &all {
        sync_links(d, d.ready);
        known(d, true);
    }
    let mut req = events.coldplug_request();
    {
        let mut l = req
            .get()
            .init_devices(u32::try_from(all.len()).unwrap_or(0));
        for (i, d) in all.iter().enumerate() {
            fill(l.reborrow().get(u32::try_from(i).unwrap_or(0)), d);
        }
    }
    if let Err(e) = req.send().promise.await {
        eprintln!("cairn-devmon: cannot report the coldplug: {e}");
    }
    if let Some(sock) = sock {
        events_loop(sock, events).await;
    }
    futures::future::pending::<()>().await;
}

//! `cairn-HELPER --standalone …`: a helper run alone in the foreground, for debugging, against
//! a fake supervisor in the same process. The fake peer registers it, answers as the
//! supervisor would (no fds to restore), and prints every call the helper makes — what it
//! would ask or tell the supervisor — on stdout. It drives the helper a little: the activator
//! is asked to open and watch the sockets named on its command line, the mounter to read an
//! fstab; devmon needs nothing (it coldplugs and reports on its own).

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use capnp_rpc::rpc_twoparty_capnp::Side;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use crate::bus_capnp::{
    activations, activator, device_events, mount_events, mounter, registry, ListenKind,
};
use crate::fdstream::{self, FdHandle};

/// One socket for the activator: `open` then `watch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub unit: String,
    pub kind: ListenKind,
    /// `/path` (AF_UNIX, or a FIFO), `@name` (abstract), or `host:port`.
    pub address: String,
    pub accept: bool,
}

/// What the fake supervisor asks of the helper.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub listen: Vec<Listen>,
    pub fstab: Option<String>,
}

fn say(what: impl std::fmt::Display) {
    println!("→ supervisor: {what}");
}

struct FakeRegistry {
    fds: FdHandle,
    plan: Rc<Plan>,
    /// The helper's fds kept, as the supervisor would (they are closed at exit).
    kept: RefCell<Vec<(String, OwnedFd)>>,
    /// The helper's Component, held as the supervisor holds it: a helper whose Component is
    /// released takes it as being told to stop.
    component: RefCell<Option<crate::bus_capnp::component::Client>>,
}

impl registry::Server for FakeRegistry {
    async fn register(
        self: Rc<Self>,
        params: registry::RegisterParams,
        mut results: registry::RegisterResults,
    ) -> Result<(), capnp::Error> {
        *self.component.borrow_mut() = Some(params.get()?.get_component()?);
        let info = params.get()?.get_info()?;
        say(format_args!(
            "register cairn-{} {} (pid {})",
            info.get_name()?.to_str()?,
            info.get_version()?.to_str()?,
            info.get_pid()
        ));
        results.get().init_restored(0);
        results.get().set_more(false);
        Ok(())
    }

    async fn restore_more(
        self: Rc<Self>,
        _params: registry::RestoreMoreParams,
        mut results: registry::RestoreMoreResults,
    ) -> Result<(), capnp::Error> {
        results.get().init_restored(0);
        Ok(())
    }

    async fn store_fds(
        self: Rc<Self>,
        params: registry::StoreFdsParams,
        _results: registry::StoreFdsResults,
    ) -> Result<(), capnp::Error> {
        for nf in params.get()?.get_fds()?.iter() {
            let name = nf.get_name()?.to_string()?;
            say(format_args!("keep fd {name}"));
            if let Some(fd) = self.fds.take(nf.get_fd()) {
                self.kept.borrow_mut().push((name, fd));
            }
        }
        Ok(())
    }

    async fn remove_fds(
        self: Rc<Self>,
        params: registry::RemoveFdsParams,
        _results: registry::RemoveFdsResults,
    ) -> Result<(), capnp::Error> {
        for n in params.get()?.get_names()?.iter() {
            let n = n?.to_string()?;
            say(format_args!("forget fd {n}"));
            self.kept.borrow_mut().retain(|(k, _)| *k != n);
        }
        Ok(())
    }

    async fn attach_activator(
        self: Rc<Self>,
        params: registry::AttachActivatorParams,
        mut results: registry::AttachActivatorResults,
    ) -> Result<(), capnp::Error> {
        say("attach the activator");
        let act = params.get()?.get_activator()?;
        results
            .get()
            .set_activations(capnp_rpc::new_client(FakeActivations {
                fds: self.fds.clone(),
            }));
        let plan = self.plan.clone();
        let fds = self.fds.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = drive_activator(&act, &plan, &fds).await {
                println!("(standalone) the activator refused: {e}");
            }
        });
        Ok(())
    }

    async fn attach_mounter(
        self: Rc<Self>,
        params: registry::AttachMounterParams,
        mut results: registry::AttachMounterResults,
    ) -> Result<(), capnp::Error> {
        say("attach the mounter");
        let m = params.get()?.get_mounter()?;
        results
            .get()
            .set_events(capnp_rpc::new_client(FakeMountEvents));
        if let Some(path) = self.plan.fstab.clone() {
            tokio::task::spawn_local(async move {
                if let Err(e) = show_fstab(&m, &path).await {
                    println!("(standalone) fstab {path}: {e}");
                }
            });
        }
        Ok(())
    }

    async fn attach_devmon(
        self: Rc<Self>,
        _params: registry::AttachDevmonParams,
        mut results: registry::AttachDevmonResults,
    ) -> Result<(), capnp::Error> {
        say("attach devmon");
        results
            .get()
            .set_events(capnp_rpc::new_client(FakeDeviceEvents));
        Ok(())
    }
}

async fn drive_activator(
    act: &activator::Client,
    plan: &Plan,
    bus: &FdHandle,
) -> Result<(), capnp::Error> {
    for l in &plan.listen {
        let mut req = act.open_request();
        req.get().set_unit(l.unit.as_str());
        {
            let mut spec = req.get().init_listen(1).get(0);
            spec.set_kind(l.kind);
            let mut a = spec.init_address();
            match l.address.as_bytes().first() {
                Some(b'/') if l.kind == ListenKind::Fifo => a.set_path(&l.address),
                Some(b'/') => a.set_unix(&l.address),
                Some(b'@') => a.set_abstract(&l.address.as_bytes()[1..]),
                _ => a.init_inet().set_address(&l.address),
            }
        }
        let reply = req.send().promise.await?;
        // The sockets came to us, as to the supervisor; they go back to be watched.
        let mut fds = Vec::new();
        for i in reply.get()?.get_fds()?.iter() {
            let fd = bus
                .take(i)
                .ok_or_else(|| capnp::Error::failed(format!("socket #{i} did not arrive")))?;
            fds.push(bus.send_fd(fd));
        }
        println!("(standalone) {}: {} made", l.unit, l.address);
        let mut w = act.watch_request();
        w.get().set_unit(l.unit.as_str());
        w.get().set_accept(l.accept);
        let mut list = w.get().init_fds(u32::try_from(fds.len()).unwrap_or(0));
        for (i, f) in fds.iter().enumerate() {
            list.set(u32::try_from(i).unwrap_or(0), *f);
        }
        w.send().promise.await?;
        println!(
            "(standalone) {}: watching (Accept={})",
            l.unit,
            if l.accept { "yes" } else { "no" }
        );
    }
    Ok(())
}

async fn show_fstab(m: &mounter::Client, path: &str) -> Result<(), capnp::Error> {
    let mut req = m.fstab_request();
    req.get().set_path(path);
    let reply = req.send().promise.await?;
    let r = reply.get()?;
    for e in r.get_errors()?.iter() {
        println!("(standalone) {path}: {}", e?.to_str()?);
    }
    for e in r.get_entries()?.iter() {
        println!(
            "(standalone) {path}:{}: {} on {} type {} ({})",
            e.get_line(),
            e.get_what()?.to_str()?,
            e.get_where()?.to_str()?,
            e.get_type()?.to_str()?,
            e.get_options()?.to_str()?
        );
    }
    Ok(())
}

struct FakeActivations {
    fds: FdHandle,
}

impl activations::Server for FakeActivations {
    async fn triggered(
        self: Rc<Self>,
        params: activations::TriggeredParams,
        _results: activations::TriggeredResults,
    ) -> Result<(), capnp::Error> {
        say(format_args!(
            "{} has traffic: start its service",
            params.get()?.get_unit()?.to_str()?
        ));
        Ok(())
    }

    async fn accepted(
        self: Rc<Self>,
        params: activations::AcceptedParams,
        _results: activations::AcceptedResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        say(format_args!(
            "{} accepted a connection {} → {} (pid {}, uid {}): start an instance for it",
            p.get_unit()?.to_str()?,
            p.get_remote()?.to_str()?,
            p.get_local()?.to_str()?,
            p.get_peer_pid(),
            p.get_peer_uid()
        ));
        // No instance here: the connection is closed.
        drop(self.fds.take(p.get_conn()));
        Ok(())
    }
}

struct FakeMountEvents;

impl mount_events::Server for FakeMountEvents {
    async fn changed(
        self: Rc<Self>,
        params: mount_events::ChangedParams,
        _results: mount_events::ChangedResults,
    ) -> Result<(), capnp::Error> {
        let mounts = params.get()?.get_mounts()?;
        say(format_args!("the mount table: {} mounts", mounts.len()));
        Ok(())
    }

    async fn requested(
        self: Rc<Self>,
        params: mount_events::RequestedParams,
        _results: mount_events::RequestedResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        say(format_args!(
            "pid {} waits for {} (token {})",
            p.get_pid(),
            p.get_where()?.to_str()?,
            p.get_token()
        ));
        Ok(())
    }

    async fn expire(
        self: Rc<Self>,
        params: mount_events::ExpireParams,
        _results: mount_events::ExpireResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        say(format_args!(
            "{} is idle: expire it (token {})",
            p.get_where()?.to_str()?,
            p.get_token()
        ));
        Ok(())
    }
}

struct FakeDeviceEvents;

impl device_events::Server for FakeDeviceEvents {
    async fn coldplug(
        self: Rc<Self>,
        params: device_events::ColdplugParams,
        _results: device_events::ColdplugResults,
    ) -> Result<(), capnp::Error> {
        let devices = params.get()?.get_devices()?;
        say(format_args!("coldplug: {} devices", devices.len()));
        for d in devices.iter() {
            println!(
                "    {} ({}{})",
                d.get_syspath()?.to_str()?,
                d.get_subsystem()?.to_str()?,
                match d.get_devname()?.to_str()? {
                    "" => String::new(),
                    n => format!(", {n}"),
                }
            );
        }
        Ok(())
    }

    async fn changed(
        self: Rc<Self>,
        params: device_events::ChangedParams,
        _results: device_events::ChangedResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let d = p.get_device()?;
        say(format_args!(
            "{} {} ({}), {}",
            p.get_action()?.to_str()?,
            d.get_syspath()?.to_str()?,
            d.get_subsystem()?.to_str()?,
            if p.get_present() { "present" } else { "gone" }
        ));
        Ok(())
    }
}

/// Starts the fake supervisor on a thread of its own (its own event loop, as if it were
/// another process) and returns the helper's end of the bus, to use as fd 3 would be.
pub fn fake_supervisor(plan: Plan) -> std::io::Result<OwnedFd> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    std::thread::Builder::new()
        .name("fake-supervisor".into())
        .spawn(move || serve_fake(ours, plan))?;
    Ok(theirs)
}

fn serve_fake(sock: OwnedFd, plan: Plan) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("(standalone) no event loop for the fake supervisor: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let plan = Rc::new(plan);
        let rpc = fdstream::rpc_system(sock, Side::Server, fdstream::Limits::TRUSTED, |fds| {
            let server = FakeRegistry {
                fds: fds.clone(),
                plan,
                kept: RefCell::new(Vec::new()),
                component: RefCell::new(None),
            };
            Some(capnp_rpc::new_client::<registry::Client, _>(server).client)
        });
        match rpc {
            Ok((rpc, _)) => {
                if let Err(e) = rpc.await {
                    println!("(standalone) the bus broke: {e}");
                }
            }
            Err(e) => println!("(standalone) {e}"),
        }
    });
}

//! The skeleton every helper process (activator, mounter, devmon) runs.
//!
//! A helper is started by the supervisor with its end of a Unix stream socketpair on fd 3
//! ([`crate::BUS_FD`]; `CAIRN_BUS_FD` may name another). It speaks Cap'n Proto RPC over it
//! through [`crate::fdstream`], calls `Registry.register` with its own `Component`
//! capability, gets back any fds its earlier instances stored, answers introspection, and
//! exits when told to (`Component.shutdown`, SIGTERM) or when the link breaks: a helper never
//! outlives its supervisor's interest in it.

use std::cell::{Cell, RefCell};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use capnp_rpc::rpc_twoparty_capnp::Side;
use futures::channel::oneshot;
use futures::FutureExt;
use nix::sys::stat::SFlag;

use crate::bus_capnp::{component, component_info, registry};
use crate::fdstream::{self, FdHandle};
use crate::procinfo;

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error(
        "no bus on fd {fd}: cairn-{name} is started by cairn-supervisor, which passes its end of \
         the bus there ({source})"
    )]
    NoBus {
        name: &'static str,
        fd: RawFd,
        source: nix::Error,
    },
    #[error("fd {fd} is not a socket: cairn-{name} must be started by cairn-supervisor")]
    NotASocket { name: &'static str, fd: RawFd },
    #[error("event loop: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("registering with the supervisor: {0}")]
    Register(capnp::Error),
    #[error("the link to the supervisor broke")]
    LinkBroken,
}

/// Why a helper's loop ended normally.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// `Component.shutdown` was called.
    Requested,
    /// SIGTERM or SIGINT.
    Signalled,
}

/// Fills a `ComponentInfo` for the calling process.
pub fn fill_info(
    mut b: component_info::Builder<'_>,
    name: &str,
    started_realtime_usec: u64,
    calls_served: u64,
) {
    b.set_name(name);
    b.set_pid(i32::try_from(std::process::id()).unwrap_or(-1));
    b.set_version(crate::VERSION);
    b.set_binary(procinfo::binary_path().as_str());
    b.set_started_realtime_usec(started_realtime_usec);
    b.set_rss_bytes(procinfo::rss_bytes());
    b.set_open_fds(procinfo::open_fds());
    b.set_calls_served(calls_served);
}

/// One section of a helper's own view: a title and (key, value) facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub facts: Vec<(String, String)>,
}

/// What the helper's work sets so that `details` can describe it.
pub type Details = Rc<RefCell<Option<Box<dyn Fn() -> Vec<Section>>>>>;

struct ComponentServer {
    name: &'static str,
    started: u64,
    calls: Rc<Cell<u64>>,
    shutdown: Cell<Option<oneshot::Sender<()>>>,
    details: Details,
    /// The bus, to claim the sockets `serve` is given; None on a read-only facet.
    bus: Option<FdHandle>,
}

/// Fills a `List(Section)` (an answer's, or one relayed).
pub fn fill_sections(
    mut list: capnp::struct_list::Builder<'_, crate::bus_capnp::section::Owned>,
    sections: &[Section],
) {
    for (i, s) in sections.iter().enumerate() {
        let mut b = list.reborrow().get(u32::try_from(i).unwrap_or(0));
        b.set_title(s.title.as_str());
        let mut facts = b.init_facts(u32::try_from(s.facts.len()).unwrap_or(0));
        for (j, (k, v)) in s.facts.iter().enumerate() {
            let mut f = facts.reborrow().get(u32::try_from(j).unwrap_or(0));
            f.set_key(k.as_str());
            f.set_value(v.as_str());
        }
    }
}

fn read_only() -> capnp::Error {
    capnp::Error::failed("this is a read-only view of the component".into())
}

impl component::Server for ComponentServer {
    async fn introspect(
        self: Rc<Self>,
        _params: component::IntrospectParams,
        mut results: component::IntrospectResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        fill_info(
            results.get().init_info(),
            self.name,
            self.started,
            self.calls.get(),
        );
        Ok(())
    }

    async fn shutdown(
        self: Rc<Self>,
        _params: component::ShutdownParams,
        _results: component::ShutdownResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        if self.bus.is_none() {
            return Err(read_only());
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        Ok(())
    }

    async fn details(
        self: Rc<Self>,
        _params: component::DetailsParams,
        mut results: component::DetailsResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        let sections = match self.details.borrow().as_ref() {
            Some(f) => f(),
            None => Vec::new(),
        };
        let list = results
            .get()
            .init_sections(u32::try_from(sections.len()).unwrap_or(0));
        fill_sections(list, &sections);
        Ok(())
    }

    async fn failpoint(
        self: Rc<Self>,
        params: component::FailpointParams,
        _results: component::FailpointResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        if self.bus.is_none() {
            return Err(read_only());
        }
        let p = params.get()?;
        crate::failpoint::set(p.get_point()?.to_str()?, p.get_action()?.to_str()?)
            .map_err(capnp::Error::failed)
    }

    async fn serve(
        self: Rc<Self>,
        params: component::ServeParams,
        _results: component::ServeResults,
    ) -> Result<(), capnp::Error> {
        self.calls.set(self.calls.get() + 1);
        let Some(bus) = &self.bus else {
            return Err(read_only());
        };
        let index = params.get()?.get_socket()?.get_fd();
        let sock = bus
            .take(index)
            .ok_or_else(|| capnp::Error::failed(format!("socket #{index} did not arrive")))?;
        let facet = ComponentServer {
            name: self.name,
            started: self.started,
            calls: self.calls.clone(),
            shutdown: Cell::new(None),
            details: self.details.clone(),
            bus: None,
        };
        // A client connection: untrusted limits; it carries no fds to us.
        let (rpc, _) =
            fdstream::rpc_system(sock, Side::Server, fdstream::Limits::UNTRUSTED_PEER, |_| {
                Some(capnp_rpc::new_client::<component::Client, _>(facet).client)
            })
            .map_err(|e| capnp::Error::failed(e.to_string()))?;
        tokio::task::spawn_local(async move {
            let _ = rpc.await;
        });
        Ok(())
    }
}

/// Takes the bus fd this process was started with.
fn bus_fd(name: &'static str) -> Result<OwnedFd, ComponentError> {
    let fd: RawFd = std::env::var("CAIRN_BUS_FD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(crate::BUS_FD);
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into `st`; an fd that is not open is reported as EBADF.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        let source = nix::Error::last();
        return Err(ComponentError::NoBus { name, fd, source });
    }
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err(ComponentError::NotASocket { name, fd });
    }
    // SAFETY: fd was checked to be open (fstat succeeded) and was inherited for this process to
    // own: nothing else in the process refers to it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|source| ComponentError::NoBus { name, fd, source })?;
    Ok(owned)
}

/// What a registered helper has to work with.
pub struct Registered {
    pub registry: registry::Client,
    pub fds: FdHandle,
    /// The fds earlier instances of this helper stored, by name.
    pub restored: Vec<(String, OwnedFd)>,
    /// Set it to describe the helper's state for `cairnctl component status`.
    pub details: Details,
}

async fn register(
    name: &'static str,
    registry: &registry::Client,
    fds: &FdHandle,
    me: component::Client,
    started: u64,
) -> Result<Vec<(String, OwnedFd)>, capnp::Error> {
    let mut req = registry.register_request();
    fill_info(req.get().init_info(), name, started, 0);
    req.get().set_component(me);
    let reply = req.send().promise.await?;
    let mut restored = Vec::new();
    let mut more = collect(
        reply.get()?.get_restored()?,
        reply.get()?.get_more(),
        fds,
        &mut restored,
    )?;
    while more {
        let reply = registry.restore_more_request().send().promise.await?;
        more = collect(
            reply.get()?.get_restored()?,
            reply.get()?.get_more(),
            fds,
            &mut restored,
        )?;
    }
    Ok(restored)
}

fn collect(
    list: capnp::struct_list::Reader<'_, crate::bus_capnp::named_fd::Owned>,
    more: bool,
    fds: &FdHandle,
    out: &mut Vec<(String, OwnedFd)>,
) -> Result<bool, capnp::Error> {
    for nf in list.iter() {
        let name = nf.get_name()?.to_string()?;
        let fd = fds.take(nf.get_fd()).ok_or_else(|| {
            capnp::Error::failed(format!(
                "restored fd {name} (#{}) did not arrive",
                nf.get_fd()
            ))
        })?;
        out.push((name, fd));
    }
    Ok(more)
}

/// Runs a helper: connects, registers, then runs `work` until shutdown, a signal, or the link
/// breaking. Blocks; builds its own current-thread runtime.
pub fn run<W, F>(name: &'static str, work: W) -> Result<Exit, ComponentError>
where
    W: FnOnce(Registered) -> F,
    F: std::future::Future<Output = ()> + 'static,
{
    run_with(name, None, work)
}

/// [`run`], or with `standalone`, against a fake supervisor in this process (`--standalone`).
pub fn run_with<W, F>(
    name: &'static str,
    standalone: Option<crate::standalone::Plan>,
    work: W,
) -> Result<Exit, ComponentError>
where
    W: FnOnce(Registered) -> F,
    F: std::future::Future<Output = ()> + 'static,
{
    crate::failpoint::setup_from_env(&format!("cairn-{name}"));
    let sock = match standalone {
        None => Some(bus_fd(name)?),
        Some(_) => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let sock = match (sock, standalone) {
            (Some(s), _) => s,
            (None, Some(plan)) => crate::standalone::fake_supervisor(plan)?,
            (None, None) => return Err(ComponentError::LinkBroken),
        };
        let started = procinfo::realtime_usec();
        let (mut rpc, fds) =
            fdstream::rpc_system(sock, Side::Client, fdstream::Limits::TRUSTED, |_| None)?;
        let registry: registry::Client = rpc.bootstrap(Side::Server);
        let (tx, rx) = oneshot::channel();
        let details: Details = Rc::default();
        let server = ComponentServer {
            name,
            started,
            calls: Rc::new(Cell::new(0)),
            shutdown: Cell::new(Some(tx)),
            details: details.clone(),
            bus: Some(fds.clone()),
        };
        let me: component::Client = capnp_rpc::new_client(server);
        let link = tokio::task::spawn_local(rpc);
        let restored = register(name, &registry, &fds, me, started)
            .await
            .map_err(ComponentError::Register)?;
        tokio::task::spawn_local(work(Registered {
            registry,
            fds,
            restored,
            details,
        }));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        futures::select! {
            _ = rx.fuse() => Ok(Exit::Requested),
            _ = link.fuse() => Err(ComponentError::LinkBroken),
            _ = term.recv().fuse() => Ok(Exit::Signalled),
            _ = int.recv().fuse() => Ok(Exit::Signalled),
        }
    })
}

/// A helper's `main`: runs [`run`], prints the error once, exits 0 on a requested stop.
pub fn main<W, F>(name: &'static str, work: W) -> !
where
    W: FnOnce(Registered) -> F,
    F: std::future::Future<Output = ()> + 'static,
{
    main_with(name, None, work)
}

/// [`main`], alone against a fake supervisor when `standalone` is given.
pub fn main_with<W, F>(
    name: &'static str,
    standalone: Option<crate::standalone::Plan>,
    work: W,
) -> !
where
    W: FnOnce(Registered) -> F,
    F: std::future::Future<Output = ()> + 'static,
{
    match run_with(name, standalone, work) {
        Ok(_) => std::process::exit(0),
        Err(e) => {
            eprintln!("cairn-{name}: {e}");
            std::process::exit(1)
        }
    }
}

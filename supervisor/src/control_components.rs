//! `cairnctl component status NAME`: each process of cairn in its own words.
//!
//! The helpers describe themselves (`Component.details`). A client may hear them through the
//! supervisor (`Viewer.componentStatus`) or straight from the helper: `connectComponent`
//! makes a socketpair, gives one end to the helper (`Component.serve`: a read-only facet on
//! it) and the other to the client beside the answer. capnp-rpc has no three-party hand-off —
//! a capability obtained through the supervisor would be a proxy through it — so this is how
//! cairnctl talks to the helper itself. pid1 and the supervisor answer through the supervisor.

use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use proto::bus_capnp::section;
use proto::component::{fill_sections, Section};
use proto::control_capnp::viewer;
use proto::fdstream::FdHandle;

use crate::components::HelperState;
use crate::job::graph::ActiveState;
use crate::world::WorldRef;

const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

fn fact(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// pid1's view, from its introspection over the link.
async fn init_sections(world: &WorldRef) -> Result<Vec<Section>, capnp::Error> {
    let link = world.borrow().link.clone();
    let Some(link) = link else {
        return Err(capnp::Error::failed(
            "no pid1 link: this supervisor runs without cairn-init".into(),
        ));
    };
    let s = tokio::time::timeout(ANSWER_TIMEOUT, link.introspect())
        .await
        .map_err(|_| capnp::Error::failed("cairn-init is not answering".into()))?
        .map_err(|e| capnp::Error::failed(e.to_string()))?;
    Ok(vec![
        Section {
            title: "pid1".into(),
            facts: vec![
                fact("fd store", format!("{} fds", s.stored_fds)),
                fact("orphans reaped", s.reaped_orphans),
                fact("supervisor restarts", s.supervisor_restarts),
            ],
        },
        Section {
            title: "the fd store, by name".into(),
            facts: s
                .stored_names
                .iter()
                .map(|n| (n.clone(), what_is_stored(n)))
                .collect(),
        },
    ])
}

/// What an fd store entry is, from its name (`runtime::fdstore`, `sockets`, `logs`,
/// `components` name them).
fn what_is_stored(name: &str) -> String {
    let rest = |p: &str| name.strip_prefix(p).unwrap_or(name).to_string();
    if name == crate::state::STATE_FD {
        "the supervisor's state".into()
    } else if name.starts_with("socket.") {
        format!("a listening socket of {}", rest("socket."))
    } else if name.starts_with("log.") {
        format!("the log pipe of {}", rest("log."))
    } else if name.starts_with("helper.") {
        let r = rest("helper.");
        match r.split_once('.') {
            Some((h, what)) => format!("kept for cairn-{h}: {what}"),
            None => format!("kept for {r}"),
        }
    } else if name.starts_with("fdstore.") {
        format!(
            "stored by a service (FileDescriptorStoreMax=): {}",
            rest("fdstore.")
        )
    } else {
        "cairn's own".into()
    }
}

/// The supervisor's own view.
fn supervisor_sections(world: &WorldRef) -> Vec<Section> {
    let w = world.borrow();
    let m = &w.manager;
    let mut by_state = std::collections::BTreeMap::<&str, usize>::new();
    for u in &m.units.list {
        *by_state
            .entry(ActiveState::as_str(m.active_state(u.id)))
            .or_default() += 1;
    }
    let mut units = vec![
        fact("loaded", m.units.list.len()),
        fact("jobs queued", m.jobs.len()),
    ];
    units.extend(by_state.iter().map(|(s, n)| fact(s, n)));
    vec![
        Section {
            title: "supervisor".into(),
            facts: vec![
                fact("generation", w.generation),
                fact("control calls served", w.calls),
                fact("processes tracked", m.pids.len()),
                fact(
                    "spawner",
                    match crate::spawner::pid() {
                        Some(pid) => {
                            format!("pid {pid}, {} processes cloned", crate::spawner::cloned())
                        }
                        None => "none: the supervisor clones by itself".into(),
                    },
                ),
            ],
        },
        Section {
            title: "units".into(),
            facts: units,
        },
        Section {
            title: "helpers".into(),
            facts: w
                .helpers
                .iter()
                .map(|h| {
                    let pid = h.pid.map(|p| format!(", pid {p}")).unwrap_or_default();
                    let bin = h
                        .binary
                        .as_ref()
                        .map(|b| format!(", replaced by {}", b.display()))
                        .unwrap_or_default();
                    (
                        h.name.clone(),
                        format!("{}{pid}, {} restarts{bin}", h.state.as_str(), h.restarts),
                    )
                })
                .collect(),
        },
    ]
}

fn running_helper(
    world: &WorldRef,
    name: &str,
) -> Result<(proto::bus_capnp::component::Client, Option<FdHandle>), capnp::Error> {
    let w = world.borrow();
    let Some(h) = w.helpers.iter().find(|h| h.name == name) else {
        let known: Vec<&str> = w.helpers.iter().map(|h| h.name.as_str()).collect();
        return Err(capnp::Error::failed(format!(
            "no component {name:?} (init, supervisor, {})",
            known.join(", ")
        )));
    };
    match (&h.component, h.state) {
        (Some(c), HelperState::Running) => Ok((c.clone(), h.bus.clone())),
        _ => Err(capnp::Error::failed(format!(
            "cairn-{name} is {} right now",
            h.state.as_str()
        ))),
    }
}

/// `Viewer.componentStatus`: the row of `component list` and the component's sections.
pub async fn status(
    world: &WorldRef,
    rows: Vec<crate::info::Info>,
    params: viewer::ComponentStatusParams,
    mut results: viewer::ComponentStatusResults,
) -> Result<(), capnp::Error> {
    let name = crate::control_request::component_status(params.get()?)?;
    let sections = match name.as_str() {
        "init" => init_sections(world).await?,
        "supervisor" => supervisor_sections(world),
        helper => {
            let (client, _) = running_helper(world, helper)?;
            let req = client.details_request();
            let reply = tokio::time::timeout(ANSWER_TIMEOUT, req.send().promise)
                .await
                .map_err(|_| capnp::Error::failed(format!("cairn-{helper} is not answering")))??;
            let mut out = Vec::new();
            for s in reply.get()?.get_sections()?.iter() {
                out.push(read_section(s)?);
            }
            out
        }
    };
    if let Some(info) = rows.iter().find(|i| i.name == name) {
        info.write(results.get().init_info());
    }
    let list = results
        .get()
        .init_sections(u32::try_from(sections.len()).unwrap_or(0));
    fill_sections(list, &sections);
    Ok(())
}

pub fn read_section(s: section::Reader<'_>) -> Result<Section, capnp::Error> {
    let mut facts = Vec::new();
    for f in s.get_facts()?.iter() {
        facts.push((f.get_key()?.to_string()?, f.get_value()?.to_string()?));
    }
    Ok(Section {
        title: s.get_title()?.to_string()?,
        facts,
    })
}

/// `Viewer.connectComponent`: a socket on which the helper itself serves a read-only
/// Component, handed to the client on its control connection (`fds`).
pub async fn connect(
    world: &WorldRef,
    fds: Option<&FdHandle>,
    params: viewer::ConnectComponentParams,
    mut results: viewer::ConnectComponentResults,
) -> Result<(), capnp::Error> {
    let name = crate::control_request::connect_component(params.get()?)?;
    if name == "init" || name == "supervisor" {
        return Err(capnp::Error::failed(format!(
            "{name} answers through the supervisor (cairnctl component status {name})"
        )));
    }
    let Some(client_fds) = fds else {
        return Err(capnp::Error::failed(
            "this connection cannot carry fds".into(),
        ));
    };
    let (client, bus) = running_helper(world, &name)?;
    let Some(bus) = bus else {
        return Err(capnp::Error::failed(format!(
            "cairn-{name}'s bus cannot carry fds"
        )));
    };
    let (theirs, ours): (OwnedFd, OwnedFd) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| capnp::Error::failed(format!("socketpair: {e}")))?;
    let index = bus.send_fd(theirs);
    let mut req = client.serve_request();
    {
        let mut s = req.get().init_socket();
        s.set_name("client");
        s.set_fd(index);
    }
    tokio::time::timeout(ANSWER_TIMEOUT, req.send().promise)
        .await
        .map_err(|_| capnp::Error::failed(format!("cairn-{name} is not answering")))??;
    results.get().set_socket(client_fds.send_fd(ours));
    Ok(())
}

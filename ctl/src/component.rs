//! `cairnctl component status NAME`: one process of cairn in its own words. A helper is asked
//! directly — the supervisor hands over a socket the helper itself serves (read-only) — unless
//! `--via-supervisor`; pid1 and the supervisor answer through the supervisor.

use capnp_rpc::rpc_twoparty_capnp::Side;
use proto::bus_capnp::{component, component_info};
use proto::control_capnp::control;
use proto::fdstream::{self, FdHandle};
use serde::Serialize;

use crate::client::{viewer, CtlError};
use crate::output::{bytes, duration_since};
use crate::{exit, Format};

#[derive(Debug, Serialize)]
struct Section {
    title: String,
    facts: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
struct Status {
    name: String,
    pid: i32,
    version: String,
    binary: String,
    started_realtime_usec: u64,
    rss_bytes: u64,
    open_fds: u32,
    calls_served: u64,
    /// "directly" (from the helper's own socket) or "via the supervisor".
    heard: String,
    sections: Vec<Section>,
}

fn read_info(i: component_info::Reader<'_>, st: &mut Status) -> capnp::Result<()> {
    st.name = i.get_name()?.to_string()?;
    st.pid = i.get_pid();
    st.version = i.get_version()?.to_string()?;
    st.binary = i.get_binary()?.to_string()?;
    st.started_realtime_usec = i.get_started_realtime_usec();
    st.rss_bytes = i.get_rss_bytes();
    st.open_fds = i.get_open_fds();
    st.calls_served = i.get_calls_served();
    Ok(())
}

fn read_sections(
    list: capnp::struct_list::Reader<'_, proto::bus_capnp::section::Owned>,
) -> capnp::Result<Vec<Section>> {
    let mut out = Vec::new();
    for s in list.iter() {
        let mut facts = Vec::new();
        for f in s.get_facts()?.iter() {
            facts.push((f.get_key()?.to_string()?, f.get_value()?.to_string()?));
        }
        out.push(Section {
            title: s.get_title()?.to_string()?,
            facts,
        });
    }
    Ok(out)
}

fn empty(heard: &str) -> Status {
    Status {
        name: String::new(),
        pid: 0,
        version: String::new(),
        binary: String::new(),
        started_realtime_usec: 0,
        rss_bytes: 0,
        open_fds: 0,
        calls_served: 0,
        heard: heard.into(),
        sections: Vec::new(),
    }
}

/// Asks the helper itself, on a socket the supervisor obtained for us.
async fn direct(control: &control::Client, fds: &FdHandle, name: &str) -> Result<Status, CtlError> {
    let v = viewer(control).await?;
    let mut req = v.connect_component_request();
    req.get().set_name(name);
    let reply = req.send().promise.await?;
    let index = reply.get()?.get_socket();
    let sock = fds
        .take(index)
        .ok_or_else(|| CtlError::Rpc(format!("the socket for cairn-{name} did not arrive")))?;
    let (mut rpc, _) =
        fdstream::rpc_system(sock, Side::Client, fdstream::Limits::TRUSTED, |_| None)?;
    let helper: component::Client = rpc.bootstrap(Side::Server);
    tokio::task::spawn_local(async move {
        let _ = rpc.await;
    });
    let mut st = empty("directly, from the process itself");
    let info = helper.introspect_request().send().promise.await?;
    read_info(info.get()?.get_info()?, &mut st)?;
    let details = helper.details_request().send().promise.await?;
    st.sections = read_sections(details.get()?.get_sections()?)?;
    Ok(st)
}

async fn relayed(control: &control::Client, name: &str) -> Result<Status, CtlError> {
    let v = viewer(control).await?;
    let mut req = v.component_status_request();
    req.get().set_name(name);
    let reply = req.send().promise.await?;
    let r = reply.get()?;
    let mut st = empty("through the supervisor");
    read_info(r.get_info()?, &mut st)?;
    st.sections = read_sections(r.get_sections()?)?;
    Ok(st)
}

fn render(st: &Status) -> String {
    let mut out = format!(
        "● cairn-{} (pid {}) {}\n     Binary: {}\n     Uptime: {}, RSS {}, {} fds, {} calls served\n      Heard: {}\n",
        st.name,
        st.pid,
        st.version,
        st.binary,
        duration_since(st.started_realtime_usec),
        bytes(st.rss_bytes),
        st.open_fds,
        st.calls_served,
        st.heard
    );
    for s in &st.sections {
        out.push_str(&format!("\n{}:\n", s.title));
        let width = s.facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &s.facts {
            out.push_str(&format!("  {k:<width$}  {v}\n"));
        }
    }
    out
}

pub async fn status(
    control: &control::Client,
    fds: &FdHandle,
    name: &str,
    via_supervisor: bool,
    format: Format,
) -> Result<i32, CtlError> {
    let name = name.trim_start_matches("cairn-");
    let st = if via_supervisor || name == "init" || name == "supervisor" {
        relayed(control, name).await?
    } else {
        direct(control, fds, name).await?
    };
    match format {
        Format::Text => print!("{}", render(&st)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&st).map_err(|e| CtlError::Rpc(e.to_string()))?
        ),
        Format::Ron => println!(
            "{}",
            ron::ser::to_string_pretty(&st, ron::ser::PrettyConfig::default())
                .map_err(|e| CtlError::Rpc(e.to_string()))?
        ),
    }
    Ok(exit::OK)
}

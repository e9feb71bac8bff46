//! Talking to the supervisor.

use std::os::fd::OwnedFd;
use std::path::Path;

use capnp_rpc::rpc_twoparty_capnp::Side;
use proto::control_capnp::{control, manager, viewer};
use proto::fdstream::{self, FdHandle};
use proto::pid1_capnp::ShutdownKind;

use crate::output::{self, ComponentRow};
use crate::{exit, Cli, Command, ComponentCommand, UnitCommand};

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(
        "Failed to connect to {path}: {source}\n(is cairn running? name another instance with \
         --socket or CAIRN_SOCKET)"
    )]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("Access denied: {0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Rpc(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
}

impl CtlError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::PermissionDenied(_) => exit::PERMISSION,
            CtlError::Usage(_) => exit::USAGE,
            _ => exit::FAILURE,
        }
    }
}

impl From<std::str::Utf8Error> for CtlError {
    fn from(e: std::str::Utf8Error) -> Self {
        CtlError::Rpc(format!("the manager sent text that is not UTF-8: {e}"))
    }
}

impl From<capnp::Error> for CtlError {
    fn from(e: capnp::Error) -> Self {
        let text = e
            .extra
            .strip_prefix("remote exception: ")
            .unwrap_or(&e.extra)
            .to_string();
        if text.contains("permission denied") {
            CtlError::PermissionDenied(text)
        } else if text.is_empty() {
            CtlError::Rpc(e.to_string())
        } else {
            CtlError::Rpc(text)
        }
    }
}

pub fn execute(cli: &Cli) -> Result<i32, CtlError> {
    // The one verb that needs no manager: checking unit files.
    if let Command::Unit(UnitCommand::Analyze { what, args }) = &cli.command {
        if what == "verify" {
            return Ok(crate::analyze::verify(args));
        }
    }
    // Unit files are changed here, by the client; the manager only reloads them.
    if let Command::Install(cmd) = &cli.command {
        let outcome = crate::install::files(cli, cmd)?;
        for next in crate::install::manager_commands(cli, &outcome) {
            let code = execute(&next)?;
            if code != exit::OK {
                return Ok(code);
            }
        }
        return Ok(outcome.code);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async { session(cli).await })
}

async fn connect(path: &Path) -> Result<(control::Client, FdHandle), CtlError> {
    let stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| CtlError::Connect {
            path: path.display().to_string(),
            source,
        })?;
    let (mut rpc, fds) = fdstream::rpc_system(
        OwnedFd::from(stream),
        Side::Client,
        fdstream::Limits::TRUSTED,
        |_| None,
    )?;
    let control: control::Client = rpc.bootstrap(Side::Server);
    tokio::task::spawn_local(async move {
        let _ = rpc.await;
    });
    Ok((control, fds))
}

pub(crate) async fn viewer(c: &control::Client) -> Result<viewer::Client, CtlError> {
    Ok(c.viewer_request()
        .send()
        .promise
        .await?
        .get()?
        .get_viewer()?)
}

pub(crate) async fn manager(c: &control::Client) -> Result<manager::Client, CtlError> {
    Ok(c.manager_request()
        .send()
        .promise
        .await?
        .get()?
        .get_manager()?)
}

async fn restart_component(
    control: &control::Client,
    name: &str,
    binary: &str,
) -> Result<i32, CtlError> {
    let m = manager(control).await?;
    let mut req = m.restart_component_request();
    req.get().set_name(name);
    req.get().set_binary(binary);
    let reply = req.send().promise.await?;
    println!("cairn-{name} restarted: pid {}", reply.get()?.get_pid());
    Ok(exit::OK)
}

async fn session(cli: &Cli) -> Result<i32, CtlError> {
    let (control, fds) = connect(&cli.socket).await?;
    match &cli.command {
        Command::Component(ComponentCommand::List) => {
            let v = viewer(&control).await?;
            let reply = v.list_components_request().send().promise.await?;
            let mut rows = Vec::new();
            for c in reply.get()?.get_components()?.iter() {
                rows.push(ComponentRow::read(c)?);
            }
            print!("{}", output::components(&rows, cli.output));
            Ok(exit::OK)
        }
        Command::Component(ComponentCommand::Status {
            name,
            via_supervisor,
        }) => crate::component::status(&control, &fds, name, *via_supervisor, cli.output).await,
        Command::Component(ComponentCommand::Failpoint {
            name,
            point,
            action,
            list,
        }) => {
            if *list {
                for (n, what) in proto::failpoint::POINTS {
                    println!("{n:<40} {what}");
                }
                return Ok(exit::OK);
            }
            let (Some(name), Some(point), Some(action)) = (name, point, action) else {
                return Err(CtlError::Usage(
                    "usage: cairnctl component failpoint NAME POINT ACTION".into(),
                ));
            };
            let m = manager(&control).await?;
            let mut req = m.set_failpoint_request();
            req.get().set_name(name.as_str());
            req.get().set_point(point.as_str());
            req.get().set_action(action.as_str());
            req.send().promise.await?;
            Ok(exit::OK)
        }
        Command::Component(ComponentCommand::Restart { name }) => {
            restart_component(&control, name, "").await
        }
        Command::Component(ComponentCommand::Replace { name, binary }) => {
            let abs = std::fs::canonicalize(binary)
                .map_err(|e| CtlError::Usage(format!("{}: {e}", binary.display())))?;
            restart_component(&control, name, &abs.to_string_lossy()).await
        }
        Command::Poweroff | Command::Reboot | Command::Halt => {
            let kind = match cli.command {
                Command::Reboot => ShutdownKind::Reboot,
                Command::Halt => ShutdownKind::Halt,
                _ => ShutdownKind::Poweroff,
            };
            let m = manager(&control).await?;
            let mut req = m.shutdown_request();
            req.get().set_kind(kind);
            req.send().promise.await?;
            Ok(exit::OK)
        }
        Command::SwitchRoot { root, init } => {
            let m = manager(&control).await?;
            let mut req = m.switch_root_request();
            req.get().set_root(root.as_str());
            req.get().set_init(init.as_str());
            req.send().promise.await?;
            Ok(exit::OK)
        }
        Command::Whoami => {
            let reply = control.whoami_request().send().promise.await?;
            let r = reply.get()?;
            println!(
                "uid {} (pid {}): {}",
                r.get_uid(),
                r.get_pid(),
                if r.get_privileged() {
                    "manager (may change state)"
                } else {
                    "viewer (read-only)"
                }
            );
            Ok(exit::OK)
        }
        Command::Unit(u) => crate::units::run(&control, u, cli.output).await,
        // Handled in `execute`, without a session.
        Command::Install(_) => Ok(exit::OK),
        Command::Version => {
            let v = viewer(&control).await?;
            let reply = v.version_request().send().promise.await?;
            println!(
                "cairn {}",
                reply
                    .get()?
                    .get_version()?
                    .to_str()
                    .map_err(capnp::Error::from)?
            );
            Ok(exit::OK)
        }
    }
}

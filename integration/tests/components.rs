//! A helper heard directly: `Viewer.connectComponent` hands the client a socket the helper
//! serves itself, so the conversation goes on while the supervisor is wedged (SIGSTOPped here)
//! — the point of not proxying through it.

use std::time::Duration;

use cairn_integration::Sandbox;
use capnp_rpc::rpc_twoparty_capnp::Side;
use proto::bus_capnp::component;
use proto::fdstream;

mod common;

#[test]
fn a_helper_answers_directly_while_the_supervisor_is_stopped() {
    let mut sb = Sandbox::builder()
        .unit(
            "echo.socket",
            "[Socket]\nListenStream=@DIR@/echo.sock\nAccept=yes\n",
        )
        .unit(
            "echo@.service",
            "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
        )
        .unit("default.target", "[Unit]\nWants=echo.socket\n")
        .start()
        .unwrap();
    sb.wait_until(
        Duration::from_secs(10),
        |sb| Ok(sb.is_active("echo.socket")),
    )
    .unwrap();
    let supervisor = sb.component("supervisor").unwrap().pid;
    let sb = &sb;
    common::with_control(&sb.socket(), |ctl, fds| async move {
        let viewer = ctl
            .viewer_request()
            .send()
            .promise
            .await
            .unwrap()
            .get()
            .unwrap()
            .get_viewer()
            .unwrap();
        let mut req = viewer.connect_component_request();
        req.get().set_name("activator");
        let reply = req.send().promise.await.unwrap();
        let index = reply.get().unwrap().get_socket();
        let sock = fds.take(index).expect("the socket came with the answer");
        let (mut direct, _) =
            fdstream::rpc_system(sock, Side::Client, fdstream::Limits::TRUSTED, |_| None).unwrap();
        let helper: component::Client = direct.bootstrap(Side::Server);
        tokio::task::spawn_local(async move {
            let _ = direct.await;
        });
        // The supervisor stops answering anything.
        sb.kill(supervisor, "STOP").unwrap();
        let asked = tokio::time::timeout(Duration::from_secs(10), async {
            let info = helper.introspect_request().send().promise.await?;
            let name = info.get()?.get_info()?.get_name()?.to_string()?;
            let details = helper.details_request().send().promise.await?;
            let first = details
                .get()?
                .get_sections()?
                .get(0)
                .get_title()?
                .to_string()?;
            // The facet is read-only: no shutdown through it.
            let refused = helper.shutdown_request().send().promise.await.is_err();
            Ok::<_, capnp::Error>((name, first, refused))
        })
        .await;
        sb.kill(supervisor, "CONT").unwrap();
        let (name, first, refused) = asked
            .expect("the helper answered with the supervisor stopped")
            .unwrap();
        assert_eq!(name, "activator");
        assert!(first.starts_with("sockets watched"), "{first}");
        assert!(refused, "shutdown through the read-only facet");
    });
    assert_eq!(sb.component("activator").unwrap().state, "running");
}

//! cairn-test-bus-service NAME RECORD: a tiny D-Bus service for the bus-activation tests. It
//! connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS`), appends its pid to RECORD, waits
//! a little (so that callers arriving together are all queued in dbus-daemon while it
//! starts), then serves `org.cairn.Test.Ping(s) -> s` at /org/cairn/Test and takes NAME.

struct Test;

#[zbus::interface(name = "org.cairn.Test")]
impl Test {
    fn ping(&self, from: String) -> String {
        format!("pong {from} from {}", std::process::id())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> zbus::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(name), Some(record)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: cairn-test-bus-service NAME RECORD");
        std::process::exit(2);
    };
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(record)
            .map_err(|e| zbus::Error::Failure(format!("{record}: {e}")))?;
        let _ = writeln!(f, "{}", std::process::id());
    }
    let conn = zbus::connection::Builder::system()?
        .serve_at("/org/cairn/Test", Test)?
        .build()
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    conn.request_name(name.as_str()).await?;
    std::future::pending::<()>().await;
    Ok(())
}

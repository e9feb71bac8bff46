//! Real Debian daemons, unchanged, started through cairn socket units. Each unit is as close
//! to the Debian package's own as a sandbox allows; what was adapted is said above each test
//! (mostly: paths under the sandbox's directory instead of /run, which is the host's).
//! `make test` installs the daemons (dbus, rsyslog, gpg-agent, busybox) when missing.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use cairn_integration::{out, wait, Sandbox};

fn start(units: &[(&str, String)], sockets: &[&str]) -> Sandbox {
    let mut b = Sandbox::builder().unit("default.target", "[Unit]\nWants=sockets.target\n");
    for (n, t) in units {
        b = b.unit(n, t);
    }
    for s in sockets {
        b = b.link(&format!("sockets.target.wants/{s}"), &format!("../{s}"));
    }
    let mut sb = b.start().unwrap();
    for s in sockets {
        wait(&mut sb, &format!("{s} listening"), 20, |sb| {
            Ok(sb.active_state(s) == "active")
        });
    }
    sb
}

/// Runs a client with a deadline; a hung client fails the test with what it printed.
fn client(cmd: &mut Command) -> std::process::Output {
    cairn_integration::run_with_deadline(
        std::mem::replace(cmd, Command::new("true")),
        Duration::from_secs(60),
    )
}

/// Debian's dbus.socket and dbus.service. Adapted: the socket lives in the sandbox directory
/// (ListenStream=), and dbus-daemon gets the same address in its config, since /run/dbus is
/// the host's. Type=notify, NotifyAccess=main, --address=systemd: as Debian ships them.
#[test]
fn dbus_daemon_from_debians_units_answers_a_call_that_started_it() {
    let socket = "[Unit]\nDescription=D-Bus System Message Bus Socket\n\n[Socket]\n\
                  ListenStream=@DIR@/system_bus_socket\n"
        .to_string();
    let service = "[Unit]\nDescription=D-Bus System Message Bus\nRequires=dbus.socket\n\n\
                   [Service]\nType=notify\nNotifyAccess=main\n\
                   ExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only\n\
                   OOMScoreAdjust=-900\n"
        .to_string();
    let sb = start(
        &[("dbus.socket", socket), ("dbus.service", service)],
        &["dbus.socket"],
    );
    assert_eq!(sb.active_state("dbus.service"), "inactive");
    // This call finds the bus not yet running: it starts it, and is answered once it is up.
    let bus = format!("unix:path={}/system_bus_socket", sb.dir().display());
    let o = client(Command::new("dbus-send").arg(format!("--bus={bus}")).args([
        "--print-reply",
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.ListNames",
    ]));
    assert!(o.status.success(), "{}\n{}", out(&o), sb.log_text());
    assert!(out(&o).contains("org.freedesktop.DBus"), "{}", out(&o));
    // Active once it said READY=1 (as uid messagebus: the notify socket takes anyone's word,
    // NotifyAccess=main decides whose counts).
    let mut sb = sb;
    wait(&mut sb, "dbus.service active", 10, |sb| {
        Ok(sb.is_active("dbus.service"))
    });
    let status = out(&sb.ctl(&["status", "dbus.service"]));
    assert!(status.contains("active (running)"), "{status}");
}

/// Debian's syslog.socket with rsyslog.service. Adapted: the datagram socket is in the sandbox
/// directory, and rsyslogd gets a small config that reads it (imuxsock's SysSock.Name, which
/// rsyslog matches against the sockets it is passed) and writes everything to a file; a
/// drop-in delays its start by half a second, so that all messages are surely sent before it
/// runs. All of them are received.
#[test]
fn rsyslogd_gets_every_message_sent_before_it_started() {
    let socket =
        "[Unit]\nDescription=Syslog Socket\nDefaultDependencies=no\nBefore=sockets.target\n\
                  Conflicts=shutdown.target\nBefore=shutdown.target\n\n[Socket]\n\
                  ListenDatagram=@DIR@/syslog\nSocketMode=0666\nPassCredentials=yes\n\
                  PassSecurity=yes\nReceiveBuffer=8M\nService=rsyslog.service\n"
            .to_string();
    let conf =
        "module(load=\"imuxsock\" SysSock.Name=\"@DIR@/syslog\" SysSock.UsePIDFromSystem=\"on\")\n\
                global(workDirectory=\"@DIR@\")\n\
                *.* action(type=\"omfile\" file=\"@DIR@/messages\")\n";
    let service = "[Unit]\nDescription=System Logging Service\nRequires=syslog.socket\n\n\
                   [Service]\nType=notify\nExecStart=/usr/sbin/rsyslogd -n -iNONE -f @DIR@/rsyslog.conf\n\
                   StandardOutput=null\nRestart=on-failure\nLimitNOFILE=16384\n"
        .to_string();
    let mut sb = Sandbox::builder()
        .unit("default.target", "[Unit]\nWants=sockets.target\n")
        .unit("syslog.socket", &socket)
        .unit("rsyslog.service", &service)
        .unit(
            "rsyslog.service.d/later.conf",
            "[Service]\nExecStartPre=/bin/sleep 0.5\n",
        )
        .link("sockets.target.wants/syslog.socket", "../syslog.socket")
        .start()
        .unwrap();
    // Written before the first message starts rsyslogd.
    std::fs::write(
        sb.dir().join("rsyslog.conf"),
        conf.replace("@DIR@", &sb.dir().display().to_string()),
    )
    .unwrap();
    wait(&mut sb, "syslog.socket listening", 20, |sb| {
        Ok(sb.is_active("syslog.socket"))
    });
    // The first messages start rsyslogd; while it is not running they wait in the socket's
    // queue. That queue holds net.unix.max_dgram_qlen datagrams (10 here; systemd and cairn
    // raise it to 512 as PID 1 of a real system), so 9 go first, and the rest follow,
    // blocking only while the queue is full.
    let path = sb.dir().join("syslog");
    let tx = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let send = |i: usize| {
        let msg = format!("<13>cairn-test[42]: message {i}");
        tx.send_to(msg.as_bytes(), &path).unwrap();
    };
    (0..9).for_each(send);
    assert_eq!(sb.active_state("rsyslog.service"), "activating");
    (9..100).for_each(send);
    wait(&mut sb, "all 100 messages in rsyslog's file", 30, |sb| {
        let got = std::fs::read_to_string(sb.dir().join("messages")).unwrap_or_default();
        Ok((0..100).all(|i| got.contains(&format!("message {i}\n"))))
    });
    wait(&mut sb, "rsyslog.service active (READY=1)", 10, |sb| {
        Ok(sb.is_active("rsyslog.service"))
    });
}

/// gpg-agent --supervised, run as a system service with explicit paths (its Debian units are
/// user units with `%t/gnupg/S.gpg-agent`): it insists on LISTEN_FDNAMES naming its socket
/// `std`, which FileDescriptorName= provides.
#[test]
fn gpg_agent_supervised_finds_its_socket_by_name() {
    let socket = "[Unit]\nDescription=GnuPG cryptographic agent and passphrase cache\n\n[Socket]\n\
                  ListenStream=@DIR@/gnupg/S.gpg-agent\nFileDescriptorName=std\nSocketMode=0600\n\
                  DirectoryMode=0700\n"
        .to_string();
    let service = "[Unit]\nDescription=GnuPG cryptographic agent and passphrase cache\n\
                   Requires=gpg-agent.socket\n\n[Service]\n\
                   ExecStart=/usr/bin/gpg-agent --supervised --homedir @DIR@/gnupg\n"
        .to_string();
    let sb = start(
        &[("gpg-agent.socket", socket), ("gpg-agent.service", service)],
        &["gpg-agent.socket"],
    );
    let home = sb.dir().join("gnupg");
    let o = client(
        Command::new("gpg-connect-agent")
            .arg("--homedir")
            .arg(&home)
            .arg("--no-autostart")
            .args(["GETINFO pid", "GETINFO version", "/bye"]),
    );
    assert!(o.status.success(), "{}\n{}", out(&o), sb.log_text());
    let text = out(&o);
    assert!(text.contains("D 2."), "{text}");
    // The agent that answered is the service's main process.
    let pid = sb.property("gpg-agent.service", "MainPID");
    assert!(
        text.contains(&format!("D {pid}\n")),
        "{text} / MainPID={pid}"
    );
    assert!(sb.is_active("gpg-agent.service"));
}

/// A per-connection service: busybox httpd in inetd mode (-i), one instance per HTTP request.
#[test]
fn busybox_httpd_per_connection_with_accept_yes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = format!("[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n");
    let service = "[Service]\nExecStart=/bin/busybox httpd -i -h @DIR@/www\nStandardInput=socket\n"
        .to_string();
    let sb = start(
        &[("http.socket", socket), ("http@.service", service)],
        &["http.socket"],
    );
    std::fs::create_dir_all(sb.dir().join("www")).unwrap();
    std::fs::write(sb.dir().join("www/hello.txt"), "hello from busybox\n").unwrap();
    for i in 0..5 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "GET /hello.txt HTTP/1.0\r\n\r\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "request {i}: {reply}");
        assert!(reply.ends_with("hello from busybox\n"), "{reply}");
    }
    let rows = out(&sb.ctl(&["list-sockets"]));
    assert!(rows.contains("http@.service"), "{rows}");
}

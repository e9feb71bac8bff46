//! Entry points for the fuzz targets (`supervisor/fuzz/`, run by `make fuzz`): one per parser
//! that reads untrusted or hand-written input. Each takes arbitrary bytes, must never panic, and
//! checks what must hold for every input (round trips, invariants). The same functions run on
//! stable in this module's tests over seeds and pseudo-random inputs, so `make test` keeps them
//! honest between fuzz runs.

use std::path::Path;

use crate::unit::{config, exec, name, socket_config, specifier, syntax, values};

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn spec() -> specifier::Context {
    specifier::Context {
        unit: "fuzz@inst.service".into(),
        runtime_dir: "/run".into(),
        hostname: "box".into(),
        ..Default::default()
    }
}

/// A unit file: the syntax, then every section's keys as each unit type reads them.
pub fn unit_file(data: &[u8]) {
    let (file, _warnings) = syntax::parse_bytes(data);
    for utype in [
        name::UnitType::Service,
        name::UnitType::Target,
        name::UnitType::Socket,
    ] {
        let mut cfg = config::UnitConfig::default();
        let mut warnings = Vec::new();
        config::apply(
            &mut cfg,
            utype,
            &file,
            Path::new("/fuzz.service"),
            &spec(),
            &mut warnings,
        );
        for w in &warnings {
            assert!(w.line >= 1, "a warning names its line: {w:?}");
        }
    }
}

/// An Exec*= value, with and without specifier expansion.
pub fn exec_line(data: &[u8]) {
    let s = text(data);
    let _ = exec::parse_detailed(&s, None);
    let _ = exec::parse_detailed(&s, Some(&spec()));
    let _ = exec::parse(&s);
}

/// Unit names and systemd-escape: escaping round-trips (a NUL byte is refused on the way
/// back, as systemd does).
pub fn unit_name(data: &[u8]) {
    let s = text(data);
    let _ = name::parse(&s);
    let escaped = name::escape(&s);
    if !s.contains('\0') {
        assert_eq!(name::unescape(&escaped).as_deref(), Ok(s.as_str()));
    }
    let _ = name::unescape(&s);
    let _ = name::try_escape_path(&s);
    let _ = name::unescape_path(&s);
    let _ = name::path_simplify(&s);
}

/// Specifier expansion in all its flavours.
pub fn specifiers(data: &[u8]) {
    let s = text(data);
    let ctx = spec();
    let _ = specifier::expand(&s, &ctx);
    let _ = specifier::expand_path(&s, &ctx);
    let _ = specifier::expand_name(&s, &ctx);
    let _ = specifier::expand_strict(&s, &ctx);
}

/// Booleans, time spans, sizes and word lists.
pub fn value_parsers(data: &[u8]) {
    let s = text(data);
    let _ = values::parse_bool(&s);
    let _ = values::parse_timespan(&s);
    let _ = values::parse_timespan_fix_0(&s);
    let _ = values::parse_size(&s);
    let _ = values::parse_size_si(&s);
    let _ = values::split_words(&s);
    let _ = values::split_words_with(&s, values::ExtractFlags::UNQUOTE);
}

/// A `[Socket]` key: the first line is the key, the rest its value; a bad value leaves the
/// config as it was.
pub fn socket_section(data: &[u8]) {
    let s = text(data);
    let (key, value) = s.split_once('\n').unwrap_or(("ListenStream", &s));
    let mut c = socket_config::SocketConfig::default();
    let before = format!("{c:?}");
    if socket_config::apply(&mut c, key, value).is_err() && key != "Symlinks" {
        assert_eq!(
            format!("{c:?}"),
            before,
            "{key}={value:?} failed but changed the config"
        );
    }
    let _ = socket_config::verify(&c);
    for kind in [
        socket_config::ListenKind::Stream,
        socket_config::ListenKind::Datagram,
        socket_config::ListenKind::SequentialPacket,
        socket_config::ListenKind::Fifo,
        socket_config::ListenKind::Special,
        socket_config::ListenKind::Netlink,
    ] {
        let _ = socket_config::parse_address(kind, value);
    }
}

/// What services send: sd_notify datagrams, syslog datagrams, and their output lines.
pub fn service_input(data: &[u8]) {
    for (k, _) in crate::notify::parse(data) {
        assert!(!k.is_empty() && !k.contains('='));
    }
    let (severity, _) = crate::devlog::parse(data);
    assert!(severity < 8);
    let mut ring = crate::manager::log::Ring::default();
    ring.feed(1, 1, data);
    ring.flush(1, 2);
    for r in ring.tail(usize::MAX, None) {
        assert!(r.priority < 8 && !r.text.contains('\n'));
    }
}

/// The manager's RON configuration file.
pub fn manager_config(data: &[u8]) {
    let _ = ron::from_str::<crate::sinks::ManagerConfig>(&text(data));
}

/// The supervisor's own state, as the next supervisor reads it from pid1's store: any text is
/// read or refused with a reason; what is read writes back the same.
pub fn state(data: &[u8]) {
    if let Ok(s) = crate::state::State::from_ron(&text(data)) {
        if let Ok(again) = s.to_ron() {
            assert_eq!(
                crate::state::State::from_ron(&again).ok().as_ref(),
                Some(&s)
            );
        }
    }
}

/// The control API's requests as any local user could send them: the first byte picks the
/// method, the rest is its parameters' message (one segment of words, as the RPC layer hands it
/// over, read with the control socket's traversal limit). Each decoder reads it or refuses it
/// with an error; what it accepts keeps the decoders' promises.
pub fn control_request(data: &[u8]) {
    use crate::control_request as r;
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut words = capnp::Word::allocate_zeroed_vec(rest.len().div_ceil(8));
    capnp::Word::words_to_bytes_mut(&mut words)[..rest.len()].copy_from_slice(rest);
    let bytes = capnp::Word::words_to_bytes(&words);
    let segments: [&[u8]; 1] = [bytes];
    let mut options = capnp::message::ReaderOptions::new();
    options.traversal_limit_in_words(Some(
        proto::fdstream::Limits::UNTRUSTED_PEER.max_message_words,
    ));
    let msg = capnp::message::Reader::new(capnp::message::SegmentArray::new(&segments), options);
    let name_ok = |n: &str, empty: bool| {
        assert!(
            n.len() <= r::NAME_MAX && !n.contains('\0') && (empty || !n.is_empty()),
            "{n:?}"
        );
    };
    let word_ok = |n: &str| assert!(!n.is_empty() && n.len() <= 64, "{n:?}");
    let path_ok = |b: &Option<String>| assert!(b.as_ref().is_none_or(|b| b.starts_with('/')));
    match pick % CONTROL_METHODS {
        0 => {
            if let Ok(x) = msg.get_root().and_then(r::status) {
                name_ok(&x.name, false);
            }
        }
        1 => {
            if let Ok(n) = msg.get_root().and_then(r::show) {
                name_ok(&n, false);
            }
        }
        2 => {
            if let Ok(n) = msg.get_root().and_then(r::cat) {
                name_ok(&n, false);
            }
        }
        3 => {
            if let Ok(n) = msg.get_root().and_then(r::why) {
                name_ok(&n, false);
            }
        }
        4 => {
            if let Ok(n) = msg.get_root().and_then(r::why_not) {
                name_ok(&n, false);
            }
        }
        5 => {
            if let Ok((n, _)) = msg.get_root().and_then(r::list_dependencies) {
                name_ok(&n, false);
            }
        }
        6 => {
            if let Ok(x) = msg.get_root().and_then(r::log) {
                name_ok(&x.name, false);
                assert!(x.max_priority <= 7);
            }
        }
        7 => {
            if let Ok(n) = msg.get_root().and_then(r::component_status) {
                word_ok(&n);
            }
        }
        8 => {
            if let Ok(n) = msg.get_root().and_then(r::connect_component) {
                word_ok(&n);
            }
        }
        9 => {
            let _ = msg.get_root().and_then(r::shutdown);
        }
        10 => {
            if let Ok(x) = msg.get_root().and_then(r::enqueue) {
                name_ok(&x.name, false);
            }
        }
        11 => {
            if let Ok(x) = msg.get_root().and_then(r::kill) {
                name_ok(&x.name, false);
            }
        }
        12 => {
            if let Ok(n) = msg.get_root().and_then(r::reset_failed) {
                name_ok(&n, true);
            }
        }
        13 => {
            if let Ok((root, _)) = msg.get_root().and_then(r::switch_root) {
                assert!(root.starts_with('/'));
            }
        }
        14 => {
            if let Ok((n, b)) = msg.get_root().and_then(r::restart_component) {
                word_ok(&n);
                path_ok(&b);
            }
        }
        15 => {
            if let Ok((_, b)) = msg.get_root().and_then(r::daemon_reexec) {
                path_ok(&b);
            }
        }
        17 => {
            if let Ok(Some(n)) = msg.get_root().and_then(r::snapshot) {
                name_ok(&n, false);
                assert_eq!(
                    name::parse(&n).map(|u| u.utype),
                    Ok(name::UnitType::Snapshot)
                );
            }
        }
        18 => {
            if let Ok(n) = msg.get_root().and_then(r::delete_snapshot) {
                name_ok(&n, false);
            }
        }
        _ => {
            if let Ok(x) = msg.get_root().and_then(r::set_failpoint) {
                word_ok(&x.component);
                assert!(
                    x.point.starts_with(&format!("{}::", x.component))
                        || x.point.starts_with("bus::")
                );
            }
        }
    }
}

/// The methods `control_request` picks from.
const CONTROL_METHODS: u8 = 19;

/// One well-formed request per method, as `control_request` reads them (the seeds of its fuzz
/// target: `fuzz/seeds/control_request/`, checked by a test to match this schema).
pub fn control_request_seeds() -> Vec<Vec<u8>> {
    use proto::control_capnp::{manager, viewer};
    fn seed<F: FnOnce(&mut capnp::message::Builder<capnp::message::HeapAllocator>)>(
        pick: u8,
        fill: F,
    ) -> Vec<u8> {
        let mut m = capnp::message::Builder::new_default();
        fill(&mut m);
        let mut out = vec![pick];
        out.extend_from_slice(m.get_segments_for_output()[0]);
        out
    }
    vec![
        seed(0, |m| {
            let mut p = m.init_root::<viewer::status_params::Builder>();
            p.set_name("sshd.service");
            p.set_lines(10);
        }),
        seed(1, |m| {
            m.init_root::<viewer::show_params::Builder>()
                .set_name("dev-sda1.device")
        }),
        seed(2, |m| {
            m.init_root::<viewer::cat_params::Builder>()
                .set_name("foo@bar.service")
        }),
        seed(3, |m| {
            m.init_root::<viewer::why_params::Builder>()
                .set_name("/data")
        }),
        seed(4, |m| {
            m.init_root::<viewer::why_not_params::Builder>()
                .set_name("x.socket")
        }),
        seed(5, |m| {
            let mut p = m.init_root::<viewer::list_dependencies_params::Builder>();
            p.set_name("default.target");
            p.set_reverse(true);
        }),
        seed(6, |m| {
            let mut p = m.init_root::<viewer::log_params::Builder>();
            p.set_name("web.service");
            p.set_lines(50);
            p.set_after(3);
            p.set_max_priority(4);
            p.set_since_usec(1_700_000_000_000_000);
        }),
        seed(7, |m| {
            m.init_root::<viewer::component_status_params::Builder>()
                .set_name("activator")
        }),
        seed(8, |m| {
            m.init_root::<viewer::connect_component_params::Builder>()
                .set_name("devmon")
        }),
        seed(9, |m| {
            m.init_root::<manager::shutdown_params::Builder>()
                .set_kind(proto::pid1_capnp::ShutdownKind::Reboot)
        }),
        seed(10, |m| {
            let mut p = m.init_root::<manager::enqueue_params::Builder>();
            p.set_name("web.service");
            p.set_type("restart");
            p.set_mode("isolate");
            p.set_wait(true);
        }),
        seed(11, |m| {
            let mut p = m.init_root::<manager::kill_params::Builder>();
            p.set_name("web.service");
            p.set_signal(15);
            p.set_whom("main");
        }),
        seed(12, |m| {
            m.init_root::<manager::reset_failed_params::Builder>()
                .set_name("")
        }),
        seed(13, |m| {
            let mut p = m.init_root::<manager::switch_root_params::Builder>();
            p.set_root("/sysroot");
            p.set_init("/sbin/init");
        }),
        seed(14, |m| {
            let mut p = m.init_root::<manager::restart_component_params::Builder>();
            p.set_name("mounter");
            p.set_binary("/usr/lib/cairn/cairn-mounter");
        }),
        seed(15, |m| {
            let mut p = m.init_root::<manager::daemon_reexec_params::Builder>();
            p.set_init(true);
            p.set_binary("/sbin/cairn-init");
        }),
        seed(16, |m| {
            let mut p = m.init_root::<manager::set_failpoint_params::Builder>();
            p.set_name("supervisor");
            p.set_point("supervisor::after_spawn");
            p.set_action("return");
        }),
        seed(17, |m| {
            m.init_root::<manager::snapshot_params::Builder>()
                .set_name("before-upgrade")
        }),
        seed(18, |m| {
            m.init_root::<manager::delete_snapshot_params::Builder>()
                .set_name("before-upgrade.snapshot")
        }),
    ]
}

/// What the spawner reads from the supervisor (`spawner::decode_request`): any bytes are
/// read or refused, never a panic; what is read encodes and reads back.
pub fn spawn_request(data: &[u8]) {
    use std::os::fd::{AsRawFd, OwnedFd};
    static FDS: std::sync::OnceLock<Vec<OwnedFd>> = std::sync::OnceLock::new();
    let fds = FDS.get_or_init(|| {
        (0..4)
            .filter_map(|_| std::fs::File::open("/dev/null").ok().map(OwnedFd::from))
            .collect()
    });
    if let Ok((cgroup, report, cmd)) = crate::spawner::decode_request(data, fds) {
        let mut e = crate::spawner::Encoder::default();
        e.opt_fd(cgroup);
        e.fd(report);
        crate::spawner::encode(&mut e, &cmd);
        let map: Vec<OwnedFd> = e
            .fds
            .iter()
            .map(|raw| {
                let i = fds
                    .iter()
                    .position(|f| f.as_raw_fd() == *raw)
                    .expect("one of ours");
                fds[i].try_clone().expect("dup")
            })
            .collect();
        assert!(crate::spawner::decode_request(&e.bytes, &map).is_ok());
    }
}

/// An init script: its LSB header read and translated (`unit::sysv`); whatever the header
/// says, the unit written for it reads back without a warning, its commands the script's.
pub fn sysv_script(data: &[u8]) {
    use crate::unit::sysv;
    let text = text(data);
    let (header, _warnings) = sysv::parse_header(&text);
    let script = sysv::Script {
        unit: "fuzz.service".into(),
        path: "/etc/init.d/fuzz".into(),
        reload: sysv::supports_reload(&text),
        wanted_by: ["multi-user.target".to_string()].into(),
        header,
    };
    let mut g = sysv::Generated::default();
    sysv::translate(&[script], &|_| false, &mut g);
    let unit = &g.units["fuzz.service"];
    let (file, warnings) = syntax::parse(unit);
    assert!(warnings.is_empty(), "{warnings:?}\n{unit}");
    let mut cfg = config::UnitConfig::default();
    let mut warnings = Vec::new();
    let path = Path::new("/run/cairn/generator.late/fuzz.service");
    config::apply(
        &mut cfg,
        name::UnitType::Service,
        &file,
        path,
        &spec(),
        &mut warnings,
    );
    assert!(warnings.is_empty(), "{warnings:?}\n{unit}");
    assert_eq!(
        cfg.service.exec_start[0].argv,
        ["/etc/init.d/fuzz", "start"]
    );
    assert_eq!(cfg.service.exec_stop[0].argv, ["/etc/init.d/fuzz", "stop"]);
    assert!(cfg.unit.before.iter().any(|b| b == "multi-user.target"));
}

/// A fuzz target's body.
pub type Body = fn(&[u8]);

/// Every fuzz target's body, by name (for the seed regression test).
pub const TARGETS: &[(&str, Body)] = &[
    ("unit_file", unit_file),
    ("exec_line", exec_line),
    ("unit_name", unit_name),
    ("specifiers", specifiers),
    ("value_parsers", value_parsers),
    ("socket_section", socket_section),
    ("service_input", service_input),
    ("manager_config", manager_config),
    ("state", state),
    ("control_request", control_request),
    ("spawn_request", spawn_request),
    ("sysv_script", sysv_script),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method's well-formed request decodes (the fuzz target starts from what the
    /// decoders accept), and the committed seeds are these requests as the schema lays them
    /// out now (`CAIRN_WRITE_SEEDS=1` rewrites them after a schema change).
    #[test]
    fn control_request_seeds_decode_and_are_committed() {
        use crate::control_request as r;
        let seeds = control_request_seeds();
        assert_eq!(seeds.len(), CONTROL_METHODS as usize);
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/control_request");
        for (i, seed) in seeds.iter().enumerate() {
            let mut words = capnp::Word::allocate_zeroed_vec((seed.len() - 1) / 8);
            capnp::Word::words_to_bytes_mut(&mut words).copy_from_slice(&seed[1..]);
            let segments: [&[u8]; 1] = [capnp::Word::words_to_bytes(&words)];
            let msg = capnp::message::Reader::new(
                capnp::message::SegmentArray::new(&segments),
                Default::default(),
            );
            let ok = match i {
                0 => msg.get_root().and_then(r::status).is_ok(),
                1 => msg.get_root().and_then(r::show).is_ok(),
                2 => msg.get_root().and_then(r::cat).is_ok(),
                3 => msg.get_root().and_then(r::why).is_ok(),
                4 => msg.get_root().and_then(r::why_not).is_ok(),
                5 => msg.get_root().and_then(r::list_dependencies).is_ok(),
                6 => msg.get_root().and_then(r::log).is_ok(),
                7 => msg.get_root().and_then(r::component_status).is_ok(),
                8 => msg.get_root().and_then(r::connect_component).is_ok(),
                9 => msg.get_root().and_then(r::shutdown).is_ok(),
                10 => msg.get_root().and_then(r::enqueue).is_ok(),
                11 => msg.get_root().and_then(r::kill).is_ok(),
                12 => msg.get_root().and_then(r::reset_failed).is_ok(),
                13 => msg.get_root().and_then(r::switch_root).is_ok(),
                14 => msg.get_root().and_then(r::restart_component).is_ok(),
                15 => msg.get_root().and_then(r::daemon_reexec).is_ok(),
                17 => msg.get_root().and_then(r::snapshot).is_ok(),
                18 => msg.get_root().and_then(r::delete_snapshot).is_ok(),
                _ => msg.get_root().and_then(r::set_failpoint).is_ok(),
            };
            assert!(ok, "seed {i} is refused");
            control_request(seed);
            let file = dir.join(format!("method-{i:02}"));
            if std::env::var_os("CAIRN_WRITE_SEEDS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&file, seed).unwrap();
            }
            let committed = std::fs::read(&file).unwrap_or_else(|e| {
                panic!("{}: {e} (CAIRN_WRITE_SEEDS=1 writes it)", file.display())
            });
            assert_eq!(&committed, seed, "{} is stale", file.display());
        }
    }

    /// The fuzz targets' entry points, on their seeds and on pseudo-random inputs (the long runs
    /// are `make fuzz`'s).
    #[test]
    fn entry_points_survive_seeds_and_garbage() {
        let seeds: &[&[u8]] = &[
            b"",
            b"[Unit]\nDescription=x %n\nRequires=a.service\n[Service]\nExecStart=/bin/sh -c 'echo $X'\nRestart=on-failure\nUser=nobody\nMemoryMax=10M\n[Socket]\nListenStream=[::1]:80%lo\n",
            b"[Service]\nExecStart=-@+:!!/bin/true \\\n a b ; /bin/false\n",
            b"/bin/echo \"%i\" ${A} $B '\\x41'",
            b"foo@bar\\x2dbaz.service",
            b"%n %N %p %P %i %I %j %J %f %t %S %C %L %E %T %V %h %u %U %g %G %s %H %l %m %b %v %a %y %Y %% %",
            b"1h 30min 5s 10ms",
            b"1.5G 512M",
            b"ListenStream\n127.0.0.1:0x50",
            b"Symlinks\n/a /b \"/c d\" ../x",
            b"READY=1\nSTATUS=ok\nMAINPID=7\nFDSTORE=1\n=x\nbad",
            b"<13>Nov 28 12:00:00 tag[1]: hello\n\0",
            b"<7>debug\n<9>x\nplain\npartial",
            b"(log_kmsg: true, syslog_socket: Some(\"/dev/log\"), syslog_format: Rfc5424)",
            b"### BEGIN INIT INFO\n# Provides: a b $x\n# Required-Start: $network c %n\n# Short-Description: 50% \\\n# Description: x\n#  y\n### END INIT INFO\n  reload|force-reload)\n",
        ];
        let targets: [fn(&[u8]); 9] = [
            sysv_script,
            unit_file,
            exec_line,
            unit_name,
            specifiers,
            value_parsers,
            socket_section,
            service_input,
            manager_config,
        ];
        let alphabet = b"[]=\\\"' \n\t%$@-+:!;/.0123456789abcxyzKMGhsmu<>{}()\x00\xff\xc3\xa9";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let control: Vec<Vec<u8>> = control_request_seeds();
        for (n, seed) in control.iter().enumerate() {
            for i in 0..2000u64 {
                let mut input = seed.clone();
                let at = 1 + (i as usize * 7 + n) % (input.len() - 1);
                input[at] ^= (next() % 255 + 1) as u8;
                if i % 5 == 0 {
                    input.truncate(1 + (next() as usize) % input.len());
                }
                control_request(&input);
            }
        }
        for t in targets {
            for s in seeds {
                t(s);
            }
            for _ in 0..3000 {
                let seed = seeds[(next() % seeds.len() as u64) as usize];
                let mut input = seed.to_vec();
                for _ in 0..(next() % 8) {
                    let c = alphabet[(next() % alphabet.len() as u64) as usize];
                    let at = (next() % (input.len() as u64 + 1)) as usize;
                    if next() % 3 == 0 && at < input.len() {
                        input.remove(at);
                    } else {
                        input.insert(at, c);
                    }
                }
                t(&input);
            }
        }
    }
}

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
];

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        let targets: [fn(&[u8]); 8] = [
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

//! `cairn-activator --standalone UNIT-DIR`: the sockets of the `*.socket` files in a directory,
//! for a run against the fake supervisor (`proto::standalone`). Only what the activator needs
//! is read — `Listen{Stream,Datagram,SequentialPacket,FIFO}=` and `Accept=` of `[Socket]`; the
//! full unit semantics (drop-ins, specifiers, options) are the supervisor's.

use std::path::Path;

use proto::bus_capnp::ListenKind;
use proto::standalone::Listen;

/// The listens of one socket unit's text; unknown keys and other sections are skipped.
pub fn read_unit(unit: &str, text: &str) -> Vec<Listen> {
    let mut out = Vec::new();
    let mut accept = false;
    let mut in_socket = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_socket = line == "[Socket]";
            continue;
        }
        if !in_socket || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let kind = match k {
            "ListenStream" => ListenKind::Stream,
            "ListenDatagram" => ListenKind::Datagram,
            "ListenSequentialPacket" => ListenKind::SeqPacket,
            "ListenFIFO" => ListenKind::Fifo,
            "Accept" => {
                accept = matches!(v, "yes" | "true" | "on" | "1");
                continue;
            }
            _ => continue,
        };
        if v.is_empty() {
            continue;
        }
        // A bare port is every address, as systemd reads it.
        let address = if v.bytes().all(|b| b.is_ascii_digit()) {
            format!("[::]:{v}")
        } else {
            v.to_string()
        };
        out.push(Listen {
            unit: unit.to_string(),
            kind,
            address,
            accept: false,
        });
    }
    for l in &mut out {
        l.accept = accept;
    }
    out
}

/// Every `*.socket` in `dir`, in name order.
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<Listen>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "socket"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let unit = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(&p) {
            Ok(text) => out.extend(read_unit(&unit, &text)),
            Err(e) => eprintln!("cairn-activator: {}: {e}", p.display()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_and_accept_are_read_from_the_socket_section() {
        let got = read_unit(
            "echo.socket",
            "[Unit]\nListenStream=/not/this\n[Socket]\n# c\nListenStream=/run/echo.sock\n\
             ListenDatagram=@abs\nListenStream=8080\nListenFIFO=/run/f\nAccept=yes\nBacklog=4\n\
             ListenStream=\n[Install]\nWantedBy=sockets.target\n",
        );
        let show: Vec<(ListenKind, &str, bool)> = got
            .iter()
            .map(|l| (l.kind, l.address.as_str(), l.accept))
            .collect();
        assert_eq!(
            show,
            vec![
                (ListenKind::Stream, "/run/echo.sock", true),
                (ListenKind::Datagram, "@abs", true),
                (ListenKind::Stream, "[::]:8080", true),
                (ListenKind::Fifo, "/run/f", true),
            ]
        );
        assert!(read_unit("x.socket", "garbage\n=\n[Socket\n").is_empty());
    }
}

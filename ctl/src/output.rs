//! Rendering: tables (colour only on a terminal) or JSON/RON.

use std::io::IsTerminal;

use proto::control_capnp::component_status;
use serde::Serialize;

use crate::Format;

#[derive(Debug, Clone, Serialize)]
pub struct ComponentRow {
    pub name: String,
    pub pid: i32,
    pub state: String,
    pub restarts: u32,
    pub version: String,
    pub binary: String,
    pub started_realtime_usec: u64,
    pub rss_bytes: u64,
    pub open_fds: u32,
    pub calls_served: u64,
}

impl ComponentRow {
    pub fn read(r: component_status::Reader<'_>) -> capnp::Result<ComponentRow> {
        let info = r.get_info()?;
        Ok(ComponentRow {
            name: info.get_name()?.to_str()?.to_string(),
            pid: info.get_pid(),
            state: r.get_state()?.to_str()?.to_string(),
            restarts: r.get_restarts(),
            version: info.get_version()?.to_str()?.to_string(),
            binary: info.get_binary()?.to_str()?.to_string(),
            started_realtime_usec: info.get_started_realtime_usec(),
            rss_bytes: info.get_rss_bytes(),
            open_fds: info.get_open_fds(),
            calls_served: info.get_calls_served(),
        })
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

pub fn duration_since(realtime_usec: u64) -> String {
    if realtime_usec == 0 {
        return "-".into();
    }
    let now = proto::procinfo::realtime_usec();
    let s = now.saturating_sub(realtime_usec) / 1_000_000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}min {}s", s / 60, s % 60),
        _ => format!("{}h {}min", s / 3600, (s % 3600) / 60),
    }
}

pub fn components(rows: &[ComponentRow], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(rows).unwrap_or_default() + "\n",
        Format::Ron => {
            ron::ser::to_string_pretty(rows, ron::ser::PrettyConfig::default()).unwrap_or_default()
                + "\n"
        }
        Format::Text => {
            let colour = std::io::stdout().is_terminal();
            let mut table = vec![[
                "NAME", "PID", "STATE", "RESTARTS", "UPTIME", "RSS", "FDS", "VERSION", "BINARY",
            ]
            .map(String::from)
            .to_vec()];
            for r in rows {
                table.push(vec![
                    r.name.clone(),
                    if r.pid > 0 {
                        r.pid.to_string()
                    } else {
                        "-".into()
                    },
                    r.state.clone(),
                    r.restarts.to_string(),
                    duration_since(r.started_realtime_usec),
                    bytes(r.rss_bytes),
                    r.open_fds.to_string(),
                    r.version.clone(),
                    r.binary.clone(),
                ]);
            }
            render(&table, colour, 2)
        }
    }
}

/// Left-aligned columns; with colour, the header is bold and column `state_col` is green
/// when "running", red otherwise.
pub fn render(table: &[Vec<String>], colour: bool, state_col: usize) -> String {
    let cols = table.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            table
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in table.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let last = c + 1 == row.len();
            let pad = if last {
                0
            } else {
                widths[c] - cell.chars().count() + 2
            };
            let text = match (colour, i, c == state_col) {
                (true, 0, _) => format!("\x1b[1m{cell}\x1b[0m"),
                (true, _, true) if cell == "running" => format!("\x1b[32m{cell}\x1b[0m"),
                (true, _, true) => format!("\x1b[31m{cell}\x1b[0m"),
                _ => cell.clone(),
            };
            line.push_str(&text);
            line.push_str(&" ".repeat(pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_systemctl() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5K");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0M");
    }

    #[test]
    fn plain_table_has_no_escapes_and_aligns() {
        let t = vec![
            vec!["A".to_string(), "BB".into()],
            vec!["ccc".to_string(), "d".into()],
        ];
        assert_eq!(render(&t, false, 9), "A    BB\nccc  d\n");
    }
}

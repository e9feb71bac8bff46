//! `cairnctl analyze`: the boot split, blame, critical-chain, an SVG plot of the boot, the
//! dependency graph for Graphviz, and `verify` of unit files (offline, like systemd-analyze).
//!
//! The renderers are pure functions of what the supervisor answers, so they are tested without
//! one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use proto::control_capnp::control;

use crate::client::{viewer, CtlError};
use crate::exit;

/// One unit's start, realtime µs (activating 0: it became active without having to start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub name: String,
    pub activating: u64,
    pub active: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: String,
}

/// What `analyze` learns from the supervisor.
#[derive(Debug, Clone, Default)]
pub struct Boot {
    pub kernel_usec: u64,
    /// From cairn-init's start in the initrd to switch-root; 0 without an initrd.
    pub initrd_usec: u64,
    /// 0 while the target is not active yet.
    pub userspace_usec: u64,
    pub userspace_start: u64,
    pub target: String,
    pub units: Vec<Timing>,
}

fn secs(usec: u64) -> String {
    if usec >= 1_000_000 {
        format!("{:.3}s", usec as f64 / 1e6)
    } else {
        format!("{}ms", usec / 1000)
    }
}

pub fn time(b: &Boot) -> String {
    let k = format!("{:.3}s", b.kernel_usec as f64 / 1e6);
    if b.userspace_usec == 0 {
        return format!(
            "Startup: kernel {k} + userspace (not finished: {} is not active yet)\n",
            b.target
        );
    }
    let u = format!("{:.3}s", b.userspace_usec as f64 / 1e6);
    let all = format!(
        "{:.3}s",
        (b.kernel_usec + b.initrd_usec + b.userspace_usec) as f64 / 1e6
    );
    let initrd = if b.initrd_usec > 0 {
        format!(" + {:.3}s (initrd)", b.initrd_usec as f64 / 1e6)
    } else {
        String::new()
    };
    format!(
        "Startup finished in {k} (kernel){initrd} + {u} (userspace) = {all}\n{} reached after {u} in userspace.\n",
        b.target
    )
}

pub fn blame(b: &Boot) -> String {
    let mut rows: Vec<(u64, &str)> = b
        .units
        .iter()
        .filter(|t| t.activating > 0 && t.active >= t.activating)
        .map(|t| (t.active - t.activating, t.name.as_str()))
        .collect();
    rows.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
    rows.iter()
        .map(|(took, name)| format!("{:>10} {name}\n", format!("{:.3}s", *took as f64 / 1e6)))
        .collect()
}

/// systemd-analyze critical-chain: from `unit` down, at each step the `After=` dependency that
/// became active last (before this unit began to start): the chain that held the unit back.
pub fn critical_chain(b: &Boot, edges: &[Edge], unit: &str) -> Result<String, String> {
    let times: BTreeMap<&str, &Timing> = b.units.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut after: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in edges.iter().filter(|e| e.kind == "After") {
        after
            .entry(e.from.as_str())
            .or_default()
            .push(e.to.as_str());
    }
    let Some(top) = times.get(unit) else {
        return Err(format!("{unit} has not become active in this boot"));
    };
    let mut out = String::from(
        "The time when unit became active or started is printed after the \"@\" character.\n\
         The time the unit took to start is printed after the \"+\" character.\n\n",
    );
    let mut seen = BTreeSet::new();
    let mut cur = *top;
    let mut depth = 0usize;
    loop {
        seen.insert(cur.name.as_str());
        let at = secs(cur.active.saturating_sub(b.userspace_start));
        let took = if cur.activating > 0 && cur.active > cur.activating {
            format!(" +{}", secs(cur.active - cur.activating))
        } else {
            String::new()
        };
        if depth == 0 {
            let _ = writeln!(out, "{} @{at}{took}", cur.name);
        } else {
            let _ = writeln!(out, "{}└─{} @{at}{took}", "  ".repeat(depth - 1), cur.name);
        }
        let began = if cur.activating > 0 {
            cur.activating
        } else {
            cur.active
        };
        let next = after
            .get(cur.name.as_str())
            .into_iter()
            .flatten()
            .filter(|n| !seen.contains(*n))
            .filter_map(|n| times.get(n))
            .filter(|t| t.active <= began)
            .max_by(|x, y| x.active.cmp(&y.active).then(y.name.cmp(&x.name)));
        match next {
            Some(t) => {
                cur = t;
                depth += 1;
            }
            None => break,
        }
    }
    Ok(out)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Each unit type's colour in the plot, and its name in the legend.
const COLOURS: [(&str, &str); 7] = [
    (".service", "#e07b39"),
    (".socket", "#4c9be8"),
    (".target", "#59a14f"),
    (".mount", "#b07aa1"),
    (".automount", "#d4a6c8"),
    (".device", "#9c755f"),
    ("", "#bab0ac"),
];

fn colour(name: &str) -> &'static str {
    COLOURS
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|(_, c)| *c)
        .unwrap_or("#bab0ac")
}

/// A step for grid lines that gives about ten of them over `span` µs.
fn grid_step(span: u64) -> u64 {
    let mut decade = 1_000u64;
    loop {
        for m in [1, 2, 5] {
            if span / (decade * m) <= 10 {
                return decade * m;
            }
        }
        decade *= 10;
    }
}

/// An SVG timeline of the boot: the kernel, then one bar per unit from activating to active,
/// coloured by type, in the order they began to start. 500 units make a tall but readable
/// picture (16 px a row).
pub fn plot(b: &Boot) -> String {
    const ROW: u64 = 16;
    const LEFT: u64 = 10;
    const TOP: u64 = 70;
    let start = b.userspace_start;
    let mut rows: Vec<&Timing> = b.units.iter().filter(|t| t.active > 0).collect();
    rows.sort_by_key(|t| {
        (
            if t.activating > 0 {
                t.activating
            } else {
                t.active
            },
            t.active,
            t.name.clone(),
        )
    });
    let end = rows
        .iter()
        .map(|t| t.active.saturating_sub(start))
        .max()
        .unwrap_or(0)
        .max(b.userspace_usec);
    // Time 0 is the kernel's start; userspace begins at kernel_usec.
    let span = (b.kernel_usec + end).max(1_000);
    let width_px: u64 = 1000;
    let x = |usec: u64| LEFT + usec * width_px / span;
    let height = TOP + (rows.len() as u64 + 2) * ROW + 20;
    let total_w = LEFT + width_px + 320;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    let title = if b.userspace_usec > 0 {
        let initrd = if b.initrd_usec > 0 {
            format!(" + {} (initrd)", secs(b.initrd_usec))
        } else {
            String::new()
        };
        format!(
            "Startup finished in {} (kernel){initrd} + {} (userspace) = {}; {} reached",
            secs(b.kernel_usec),
            secs(b.userspace_usec),
            secs(b.kernel_usec + b.initrd_usec + b.userspace_usec),
            b.target
        )
    } else {
        format!("{} not reached yet", b.target)
    };
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        xml(&title)
    );
    let mut lx = LEFT;
    for (suffix, c) in COLOURS {
        let label = if suffix.is_empty() {
            "other"
        } else {
            &suffix[1..]
        };
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"28\" width=\"10\" height=\"10\" fill=\"{c}\"/>\
             <text x=\"{}\" y=\"37\">{label}</text>",
            lx + 14
        );
        lx += 90;
    }
    let step = grid_step(span);
    let mut t = 0;
    while t <= span {
        let gx = x(t);
        let _ = writeln!(
            s,
            "<line x1=\"{gx}\" y1=\"{}\" x2=\"{gx}\" y2=\"{}\" stroke=\"#ddd\"/>\
             <text x=\"{gx}\" y=\"{}\" fill=\"#666\">{}</text>",
            TOP - 10,
            height - 20,
            TOP - 14,
            secs(t)
        );
        t += step;
    }
    let mut y = TOP;
    let _ = writeln!(
        s,
        "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#888\"/>\
         <text x=\"{}\" y=\"{}\">kernel ({})</text>",
        x(0),
        (x(b.kernel_usec) - x(0)).max(1),
        ROW - 4,
        x(b.kernel_usec) + 4,
        y + ROW - 5,
        secs(b.kernel_usec)
    );
    y += ROW;
    for t in rows {
        let from = b.kernel_usec
            + if t.activating > 0 {
                t.activating
            } else {
                t.active
            }
            .saturating_sub(start);
        let to = b.kernel_usec + t.active.saturating_sub(start);
        let took = if t.activating > 0 && t.active > t.activating {
            format!(" ({})", secs(t.active - t.activating))
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}{took}</text>",
            x(from),
            (x(to) - x(from)).max(2),
            ROW - 4,
            colour(&t.name),
            x(to) + 4,
            y + ROW - 5,
            xml(&t.name)
        );
        y += ROW;
    }
    s.push_str("</svg>\n");
    s
}

/// Graphviz colours per dependency kind (systemd-analyze dot's, plus PartOf).
fn edge_colour(kind: &str) -> &'static str {
    match kind {
        "Requires" | "BindsTo" => "black",
        "Requisite" => "darkblue",
        "Wants" => "grey66",
        "PartOf" => "purple",
        "Conflicts" => "red",
        "After" => "green",
        _ => "grey",
    }
}

/// `*` and `?` glob, for unit patterns.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The dependency graph in dot: `order` only After=, `require` only the requirement kinds;
/// with patterns, only edges that touch a unit matching one.
pub fn dot(edges: &[Edge], order: bool, require: bool, patterns: &[String]) -> String {
    let mut s = String::from("digraph cairn {\n");
    s.push_str(
        "  // black = Requires/BindsTo, darkblue = Requisite, grey = Wants, purple = PartOf,\n  \
         // red = Conflicts, green = After\n",
    );
    for e in edges {
        let is_order = e.kind == "After";
        if (order && !is_order) || (require && (is_order || e.kind == "Conflicts")) {
            continue;
        }
        if !patterns.is_empty()
            && !patterns.iter().any(|p| {
                glob(p.as_bytes(), e.from.as_bytes()) || glob(p.as_bytes(), e.to.as_bytes())
            })
        {
            continue;
        }
        let _ = writeln!(
            s,
            "  \"{}\"->\"{}\" [color=\"{}\"];",
            e.from.replace('"', "\\\""),
            e.to.replace('"', "\\\""),
            edge_colour(&e.kind)
        );
    }
    s.push_str("}\n");
    s
}

/// `analyze verify FILE…`: no manager needed. Exit 1 if any file has an error.
pub fn verify(files: &[String]) -> i32 {
    use cairn_supervisor::unit::verify::{verify_files, Severity};
    if files.is_empty() {
        eprintln!("analyze verify: name at least one unit file");
        return exit::USAGE;
    }
    let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    let config =
        <cairn_supervisor::config::Config as clap::Parser>::parse_from(["cairn-supervisor"]);
    let search = cairn_supervisor::unit_path(&config);
    let spec = cairn_supervisor::specifier_context(&config);
    let findings = verify_files(&files, &search, &spec);
    for f in &findings {
        eprintln!("{f}");
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        1
    } else {
        exit::OK
    }
}

async fn boot(control: &control::Client) -> Result<Boot, CtlError> {
    let v = viewer(control).await?;
    let reply = v.analyze_request().send().promise.await?;
    let r = reply.get()?;
    let mut units = Vec::new();
    for t in r.get_units()?.iter() {
        units.push(Timing {
            name: t.get_name()?.to_string()?,
            activating: t.get_activating_usec(),
            active: t.get_active_usec(),
        });
    }
    Ok(Boot {
        kernel_usec: r.get_kernel_usec(),
        initrd_usec: r.get_initrd_usec(),
        userspace_usec: r.get_userspace_usec(),
        userspace_start: r.get_userspace_start_usec(),
        target: r.get_target()?.to_string()?,
        units,
    })
}

async fn edges(control: &control::Client) -> Result<Vec<Edge>, CtlError> {
    let v = viewer(control).await?;
    let reply = v.graph_request().send().promise.await?;
    let mut out = Vec::new();
    for e in reply.get()?.get_edges()?.iter() {
        out.push(Edge {
            from: e.get_from()?.to_string()?,
            to: e.get_to()?.to_string()?,
            kind: e.get_kind()?.to_string()?,
        });
    }
    Ok(out)
}

pub async fn run(control: &control::Client, what: &str, args: &[String]) -> Result<i32, CtlError> {
    match what {
        "time" => print!("{}", time(&boot(control).await?)),
        "blame" => print!("{}", blame(&boot(control).await?)),
        "critical-chain" => {
            let b = boot(control).await?;
            let e = edges(control).await?;
            let units: Vec<String> = if args.is_empty() {
                vec![b.target.clone()]
            } else {
                args.iter().map(|a| crate::units::complete(a)).collect()
            };
            for u in units {
                match critical_chain(&b, &e, &u) {
                    Ok(text) => print!("{text}"),
                    Err(why) => {
                        eprintln!("{why}");
                        return Ok(exit::FAILURE);
                    }
                }
            }
        }
        "plot" => print!("{}", plot(&boot(control).await?)),
        "dot" => {
            let order = args.iter().any(|a| a == "--order");
            let require = args.iter().any(|a| a == "--require");
            let patterns: Vec<String> = args
                .iter()
                .filter(|a| !a.starts_with("--"))
                .cloned()
                .collect();
            print!("{}", dot(&edges(control).await?, order, require, &patterns));
        }
        other => {
            eprintln!(
                "analyze: unknown verb {other:?} (time, blame, critical-chain, plot, dot, verify)"
            );
            return Ok(exit::USAGE);
        }
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000; // userspace start, realtime µs

    fn t(name: &str, activating: u64, active: u64) -> Timing {
        Timing {
            name: name.into(),
            activating: if activating == 0 { 0 } else { S + activating },
            active: S + active,
        }
    }

    fn e(from: &str, to: &str, kind: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            kind: kind.into(),
        }
    }

    fn boot() -> Boot {
        Boot {
            kernel_usec: 1_800_000,
            initrd_usec: 0,
            userspace_usec: 500_000,
            userspace_start: S,
            target: "multi-user.target".into(),
            units: vec![
                t("multi-user.target", 0, 500_000),
                t("db.service", 100_000, 450_000),
                t("web.service", 50_000, 120_000),
                t("db.socket", 10_000, 20_000),
                t("basic.target", 0, 40_000),
            ],
        }
    }

    #[test]
    fn the_critical_chain_follows_the_last_dependency_to_become_active() {
        let edges = vec![
            e("multi-user.target", "web.service", "After"),
            e("multi-user.target", "db.service", "After"),
            e("multi-user.target", "db.service", "Wants"),
            e("db.service", "db.socket", "After"),
            e("db.service", "basic.target", "After"),
            e("basic.target", "db.socket", "After"),
            e("web.service", "basic.target", "After"),
        ];
        let got = critical_chain(&boot(), &edges, "multi-user.target").unwrap();
        let body: Vec<&str> = got.lines().skip(3).collect();
        assert_eq!(
            body,
            vec![
                "multi-user.target @500ms",
                "└─db.service @450ms +350ms",
                "  └─basic.target @40ms",
                "    └─db.socket @20ms +10ms",
            ]
        );
        assert!(critical_chain(&boot(), &edges, "nope.service").is_err());
    }

    #[test]
    fn time_splits_kernel_initrd_and_userspace() {
        let mut b = boot();
        assert_eq!(
            time(&b),
            "Startup finished in 1.800s (kernel) + 0.500s (userspace) = 2.300s\n\
             multi-user.target reached after 0.500s in userspace.\n"
        );
        b.initrd_usec = 700_000;
        assert_eq!(
            time(&b).lines().next().unwrap(),
            "Startup finished in 1.800s (kernel) + 0.700s (initrd) + 0.500s (userspace) = 3.000s"
        );
    }

    #[test]
    fn blame_is_slowest_first_and_skips_units_that_never_started() {
        assert_eq!(
            blame(&boot()),
            "    0.350s db.service\n    0.070s web.service\n    0.010s db.socket\n"
        );
    }

    #[test]
    fn the_plot_is_svg_with_one_bar_per_unit_and_escapes_names() {
        let mut b = boot();
        b.units.push(t("a<&>\".service", 1000, 2000));
        let svg = plot(&b);
        assert!(svg.starts_with("<?xml"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect").count(),
            1 + COLOURS.len() + 1 + b.units.len()
        );
        assert!(svg.contains("a&lt;&amp;&gt;&quot;.service (1ms)"));
        assert!(!svg.contains("a<&"));
        // web.service began 1.8 s (kernel) + 50 ms in, on a 1000-px axis over 2.3 s.
        assert!(svg.contains("<rect x=\"814\""), "{svg}");
        // 500 units make 500 rows.
        b.units = (0..500)
            .map(|i| t(&format!("s{i}.service"), i, i + 1))
            .collect();
        assert_eq!(plot(&b).matches(".service").count(), 500);
    }

    #[test]
    fn dot_colours_edges_by_kind_and_filters() {
        let edges = vec![
            e("a.service", "b.service", "Requires"),
            e("a.service", "b.service", "After"),
            e("a.service", "c.service", "Conflicts"),
            e("d.service", "e.service", "Wants"),
        ];
        let all = dot(&edges, false, false, &[]);
        assert!(all.contains("\"a.service\"->\"b.service\" [color=\"black\"];"));
        assert!(all.contains("\"a.service\"->\"b.service\" [color=\"green\"];"));
        assert!(all.contains("\"a.service\"->\"c.service\" [color=\"red\"];"));
        let order = dot(&edges, true, false, &[]);
        assert_eq!(order.matches("->").count(), 1);
        let require = dot(&edges, false, true, &[]);
        assert_eq!(require.matches("->").count(), 2);
        let only_d = dot(&edges, false, false, &["d.*".into()]);
        assert_eq!(only_d.matches("->").count(), 1);
        assert!(only_d.contains("grey66"));
    }

    #[test]
    fn grid_steps_are_round() {
        assert_eq!(grid_step(2_300_000), 500_000);
        assert_eq!(grid_step(10_000), 1_000);
        assert_eq!(grid_step(60_000_000), 10_000_000);
    }
}

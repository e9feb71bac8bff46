//! `make bench`: figures, never pass/fail. Prints a table; no goal is enforced here.
//!
//! Now: the size of each release binary, the resident memory of each component in a sandbox,
//! the time from `unshare` to five running components, and how long each component takes to
//! serve again after SIGKILL. Medians of several runs.

use std::time::{Duration, Instant};

use anyhow::Result;
use cairn_integration::{bin, bin_dir, Sandbox};

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    println!("cairn bench — binaries from {}", bin_dir().display());
    println!();
    println!("{:<20} {:>12}", "binary", "size");
    for b in [
        "cairn-init",
        "cairn-supervisor",
        "cairn-activator",
        "cairn-mounter",
        "cairn-devmon",
        "cairnctl",
    ] {
        let size = std::fs::metadata(bin(b))?.len();
        println!("{b:<20} {:>9} KiB", size / 1024);
    }

    let mut startup = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let sb = Sandbox::start()?;
        startup.push(t.elapsed());
        drop(sb);
    }

    let sb = Sandbox::start()?;
    let out = sb.ctl(&["component", "list", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    println!();
    println!("{:<12} {:>10} {:>6}", "component", "RSS", "fds");
    let mut total = 0;
    for r in rows.as_array().into_iter().flatten() {
        let rss = r["rss_bytes"].as_u64().unwrap_or(0);
        total += rss;
        println!(
            "{:<12} {:>6} KiB {:>6}",
            r["name"].as_str().unwrap_or("?"),
            rss / 1024,
            r["open_fds"].as_u64().unwrap_or(0)
        );
    }
    println!("{:<12} {:>6} KiB", "all", total / 1024);

    println!();
    println!(
        "{:<44} {:>10}",
        "sandbox start to 5 running components", "median"
    );
    println!("{:<44} {:>10}", "", ms(median(startup)));

    println!();
    println!(
        "{:<44} {:>10}",
        "recovery after SIGKILL (to serving again)", "median"
    );
    drop(sb);
    // A fresh sandbox for every round, so each measures a first restart (no back-off yet).
    for name in ["activator", "mounter", "devmon", "supervisor"] {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let mut sb = Sandbox::start()?;
            let before = sb.component(name)?;
            let t = Instant::now();
            sb.kill(before.pid, "KILL")?;
            sb.wait_until(Duration::from_secs(30), |sb| {
                let list = sb.components()?;
                Ok(list
                    .iter()
                    .all(|c| c.state == "running" && (c.name != name || c.pid != before.pid)))
            })?;
            times.push(t.elapsed());
        }
        println!("{name:<44} {:>10}", ms(median(times)));
    }
    Ok(())
}

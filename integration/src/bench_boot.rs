//! The boot benchmark of `make bench` (issue 11): cairn, systemd 252 and a busybox floor boot
//! the same kernel under the same QEMU (TCG, one CPU) from initramfs images built by
//! `integration/vm/bench/build.sh`, each starting the same N services (`/bin/sleep 1000`,
//! Type=exec) and, for the memory figures, loading units it does not start. The time runs in
//! the guest, from the kernel's "Run /init" to the marker ordered after all N
//! (`integration/vm/bench/report.sh`), which also reports the init system's memory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// One process of the init system at the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    pub pid: u32,
    pub comm: String,
    pub rss_kb: u64,
    pub pss_kb: u64,
    pub cpu_ticks: u64,
}

/// One boot.
#[derive(Debug, Clone, PartialEq)]
pub struct Boot {
    pub system: String,
    pub n: u32,
    pub loaded: u32,
    pub kernel_s: f64,
    pub userspace_s: f64,
    /// Services found running at the target (must be n).
    pub running: u32,
    /// `daemon-reload` after one unit file changed, timed in the guest (boot.sh with
    /// CAIRN_BENCH_RELOAD=1).
    pub reload_s: Option<f64>,
    pub procs: Vec<Proc>,
}

impl Boot {
    /// PID 1 (cairn-init, systemd).
    pub fn pid1(&self) -> Option<&Proc> {
        self.procs.iter().find(|p| p.pid == 1)
    }

    /// The process that manages the units: systemd's PID 1, cairn's supervisor (the first
    /// `cairn-superviso`: the spawner comes after it).
    pub fn manager(&self) -> Option<&Proc> {
        match self.system.as_str() {
            "cairn" => self.procs.iter().find(|p| p.comm == "cairn-superviso"),
            _ => self.pid1(),
        }
    }

    /// RSS and PSS of all the init system's processes.
    pub fn total_kb(&self) -> (u64, u64) {
        self.procs
            .iter()
            .fold((0, 0), |(r, p), x| (r + x.rss_kb, p + x.pss_kb))
    }
}

/// Reads boot.sh's line: `SYSTEM N LOADED KERNEL-S USERSPACE-S RUNNING [reload=S]
/// PID:COMM:RSS:PSS:CPU…`.
pub fn parse(line: &str) -> Option<Boot> {
    let mut w = line.split_whitespace();
    let system = w.next()?.to_string();
    let n = w.next()?.parse().ok()?;
    let loaded = w.next()?.parse().ok()?;
    let kernel_s = w.next()?.parse().ok()?;
    let userspace_s = w.next()?.parse().ok()?;
    let running = w.next()?.parse().ok()?;
    let mut procs = Vec::new();
    let mut reload_s = None;
    for p in w {
        if let Some(r) = p.strip_prefix("reload=") {
            reload_s = Some(r.parse().ok()?);
            continue;
        }
        let f: Vec<&str> = p.split(':').collect();
        let [pid, comm, rss, pss, cpu] = f.as_slice() else {
            return None;
        };
        procs.push(Proc {
            pid: pid.parse().ok()?,
            comm: comm.to_string(),
            rss_kb: rss.parse().ok()?,
            pss_kb: pss.parse().ok()?,
            cpu_ticks: cpu.parse().ok()?,
        });
    }
    Some(Boot {
        system,
        n,
        loaded,
        kernel_s,
        userspace_s,
        running,
        reload_s,
        procs,
    })
}

/// Builds the image for (system, n, loaded) once and boots it `runs` times; with `reload`
/// each boot also times a `daemon-reload` after one of the loaded units' files changed
/// ([`Boot::reload_s`]).
#[allow(clippy::too_many_arguments)]
pub fn run(
    repo: &Path,
    bin_dir: &Path,
    work: &Path,
    system: &str,
    n: u32,
    loaded: u32,
    runs: usize,
    reload: bool,
) -> Result<Vec<Boot>> {
    let scripts = repo.join("integration/vm/bench");
    std::fs::create_dir_all(work)?;
    let image = work.join(format!("{system}-{n}-{loaded}.cpio.gz"));
    let st = Command::new(scripts.join("build.sh"))
        .args([system, &n.to_string(), &loaded.to_string()])
        .arg(&image)
        .arg(bin_dir)
        .stderr(std::process::Stdio::null())
        .status()
        .context("build.sh")?;
    if !st.success() {
        bail!("build.sh {system} {n} {loaded} failed");
    }
    let mut boots = Vec::new();
    for i in 0..runs {
        let log = work.join(format!("{system}-{n}-{loaded}-{i}.log"));
        let out = Command::new(scripts.join("boot.sh"))
            .args([system, &n.to_string(), &loaded.to_string()])
            .arg(&image)
            .arg(&log)
            .env("CAIRN_BENCH_RELOAD", if reload { "1" } else { "0" })
            .output()
            .context("boot.sh")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let boot = text.lines().find_map(parse).with_context(|| {
            format!(
                "{system} N={n} loaded={loaded}: no result ({}); console in {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                log.display()
            )
        })?;
        if reload && boot.reload_s.is_none() {
            bail!(
                "{system} loaded={loaded}: the daemon-reload was not timed; console in {}",
                log.display()
            );
        }
        if boot.running != n {
            bail!(
                "{system} N={n}: {} services running at the target; console in {}",
                boot.running,
                log.display()
            );
        }
        boots.push(boot);
    }
    Ok(boots)
}

/// The run with the median userspace time (runs are odd in number; the lower middle else).
pub fn median(boots: &[Boot]) -> Option<&Boot> {
    let mut v: Vec<&Boot> = boots.iter().collect();
    v.sort_by(|a, b| a.userspace_s.total_cmp(&b.userspace_s));
    v.get((v.len().saturating_sub(1)) / 2).copied()
}

/// The boot benchmark in the VM: cairn, systemd 252 and the busybox floor, N = 10, 100, 500
/// services, medians of CAIRN_BENCH_VM_RUNS boots (3); then 1,000 and 10,000 units loaded
/// (not started) with N = 10. Prints the tables and writes docs/bench-boot.svg and
/// docs/bench-results.md.
pub fn report(bin: &Path) -> Result<()> {
    let runs: usize = std::env::var("CAIRN_BENCH_VM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let repo = repo();
    let work = repo.join("build/bench");
    let mut md = String::new();
    md += "# Benchmark results (generated by `make bench`)\n\n";
    md += &format!(
        "QEMU TCG, one CPU, 2 GiB, the host's Debian kernel; userspace time from the kernel's \
         \"Run /init\" to the marker after all N services (`/bin/sleep 1000`, Type=exec); \
         median of {runs} boots. Floor: a busybox shell forking the same N.\n\n"
    );
    md += "## Boot to target\n\n| N | cairn | systemd 252 | floor | cairn / floor | cairn / systemd |\n| --- | --- | --- | --- | --- | --- |\n";
    println!();
    println!("boot to target in the VM (userspace s, median of {runs})");
    println!(
        "{:>5} {:>8} {:>8} {:>8} {:>13} {:>15}",
        "N", "cairn", "systemd", "floor", "cairn/floor", "cairn/systemd"
    );
    let mut bars = Vec::new();
    let mut mem: Vec<(u32, Boot, Boot)> = Vec::new();
    for n in [10, 100, 500] {
        let mut got = Vec::new();
        for system in ["cairn", "systemd", "floor"] {
            let boots = run(&repo, bin, &work, system, n, 0, runs, false)?;
            let m = median(&boots).cloned().context("no boot")?;
            got.push(m);
        }
        let t = |i: usize| got[i].userspace_s;
        println!(
            "{n:>5} {:>8.2} {:>8.2} {:>8.2} {:>12.2}× {:>14.2}×",
            t(0),
            t(1),
            t(2),
            t(0) / t(2),
            t(0) / t(1)
        );
        md += &format!(
            "| {n} | {:.2} s | {:.2} s | {:.2} s | {:.2}× | {:.2}× |\n",
            t(0),
            t(1),
            t(2),
            t(0) / t(2),
            t(0) / t(1)
        );
        bars.push((
            n,
            got.iter()
                .map(|b| (b.system.clone(), b.userspace_s))
                .collect::<Vec<_>>(),
        ));
        mem.push((n, got[0].clone(), got[1].clone()));
    }
    md += "\n![boot to target](bench-boot.svg)\n\n## Memory at the target\n\n| N | cairn-init RSS | supervisor RSS / PSS | all of cairn RSS / PSS | systemd PID 1 RSS / PSS |\n| --- | --- | --- | --- | --- |\n";
    println!();
    println!("memory at the target (KiB)");
    println!(
        "{:>5} {:>12} {:>16} {:>16} {:>16}",
        "N", "cairn-init", "supervisor", "all of cairn", "systemd PID 1"
    );
    for (n, c, s) in &mem {
        let (init, sup, sd) = (
            c.pid1().map_or(0, |p| p.rss_kb),
            c.manager().map_or((0, 0), |p| (p.rss_kb, p.pss_kb)),
            s.manager().map_or((0, 0), |p| (p.rss_kb, p.pss_kb)),
        );
        let all = c.total_kb();
        println!(
            "{n:>5} {init:>12} {:>16} {:>16} {:>16}",
            format!("{} / {}", sup.0, sup.1),
            format!("{} / {}", all.0, all.1),
            format!("{} / {}", sd.0, sd.1)
        );
        md += &format!(
            "| {n} | {init} KiB | {} / {} KiB | {} / {} KiB | {} / {} KiB |\n",
            sup.0, sup.1, all.0, all.1, sd.0, sd.1
        );
    }
    md += "\n## Units loaded, not started (N = 10)\n\n| loaded | cairn: to target / supervisor RSS | systemd: to target / PID 1 RSS | RSS ratio |\n| --- | --- | --- | --- |\n";
    println!();
    println!("units loaded, not started (N = 10): to target, manager RSS");
    let mut reloads = Vec::new();
    for loaded in [1000, 10000] {
        let c_boots = run(&repo, bin, &work, "cairn", 10, loaded, runs, true)?;
        // systemd's daemon-reload with 10,000 loaded takes minutes under TCG: timed in one
        // boot of its own, the medians from boots without it.
        let (s_boots, s_reload) = if loaded >= 10000 {
            let timed = run(&repo, bin, &work, "systemd", 10, loaded, 1, true)?;
            (
                run(&repo, bin, &work, "systemd", 10, loaded, runs, false)?,
                timed,
            )
        } else {
            let b = run(&repo, bin, &work, "systemd", 10, loaded, runs, true)?;
            (b.clone(), b)
        };
        reloads.push((
            loaded,
            median_reload(&c_boots),
            median_reload(&s_reload),
            s_reload.len(),
        ));
        let (c, s) = (
            median(&c_boots).context("no boot")?,
            median(&s_boots).context("no boot")?,
        );
        let (cr, sr) = (
            c.manager().map_or(0, |p| p.rss_kb),
            s.manager().map_or(0, |p| p.rss_kb),
        );
        println!(
            "{loaded:>6} loaded: cairn {:.2} s / {cr} KiB, systemd {:.2} s / {sr} KiB ({:.2}×)",
            c.userspace_s,
            s.userspace_s,
            cr as f64 / sr.max(1) as f64
        );
        md += &format!(
            "| {loaded} | {:.2} s / {cr} KiB | {:.2} s / {sr} KiB | {:.2}× |\n",
            c.userspace_s,
            s.userspace_s,
            cr as f64 / sr.max(1) as f64
        );
    }
    md += "\n## daemon-reload in the VM, one unit file changed (N = 10)\n\n| loaded | cairn | systemd 252 | cairn / systemd |\n| --- | --- | --- | --- |\n";
    println!();
    println!("daemon-reload in the VM after one unit file changed (s)");
    for (loaded, c, s, s_runs) in reloads {
        let of = if s_runs == 1 { " (one boot)" } else { "" };
        println!(
            "{loaded:>6} loaded: cairn {c:.3}, systemd {s:.3}{of} ({:.4}×)",
            c / s.max(1e-9)
        );
        md += &format!(
            "| {loaded} | {c:.3} s | {s:.3} s{of} | {:.4}× |\n",
            c / s.max(1e-9)
        );
    }
    std::fs::write(repo.join("docs/bench-boot.svg"), chart(&bars))?;
    std::fs::write(repo.join("docs/bench-results.md"), md)?;
    println!();
    println!("written: docs/bench-boot.svg, docs/bench-results.md");
    Ok(())
}

/// The median of the boots' timed daemon-reloads (0 when none was timed).
fn median_reload(boots: &[Boot]) -> f64 {
    let mut v: Vec<f64> = boots.iter().filter_map(|b| b.reload_s).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// Where the scripts live (the repository, from this crate's manifest).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The chart: one group per N, a bar per system (userspace seconds, log scale so that the
/// floor's bars stay visible beside systemd's), each labelled.
pub fn chart(rows: &[(u32, Vec<(String, f64)>)]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 360.0;
    const LEFT: f64 = 60.0;
    const BOTTOM: f64 = 300.0;
    const TOP: f64 = 40.0;
    let colour = |s: &str| match s {
        "cairn" => "#2a7f62",
        "systemd" => "#c0504d",
        _ => "#7f7f7f",
    };
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter().map(|(_, t)| *t))
        .fold(0.01_f64, f64::max);
    // Decades from 0.01 s to the first power of ten above the largest time.
    let lo = 0.01_f64.log10();
    let hi = max.log10().ceil().max(lo + 1.0);
    let y = |t: f64| BOTTOM - (t.max(0.01).log10() - lo) / (hi - lo) * (BOTTOM - TOP);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"14\">Boot to target in the VM (userspace, s, log scale; median of runs)</text>\n"
    );
    let mut decade = lo;
    while decade <= hi + 1e-9 {
        let t = 10f64.powf(decade);
        let yy = y(t);
        svg += &format!(
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            W - 20.0,
            LEFT - 6.0,
            yy + 4.0,
            if t < 1.0 {
                format!("{t:.2}")
            } else {
                format!("{t:.0}")
            }
        );
        decade += 1.0;
    }
    let group = (W - LEFT - 20.0) / rows.len().max(1) as f64;
    for (g, (n, bars)) in rows.iter().enumerate() {
        let bw = group / (bars.len() as f64 + 1.0);
        let x0 = LEFT + g as f64 * group + bw / 2.0;
        for (i, (system, t)) in bars.iter().enumerate() {
            let x = x0 + i as f64 * bw;
            let top = y(*t);
            svg += &format!(
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{t:.2}</text>\n",
                bw * 0.9,
                BOTTOM - top,
                colour(system),
                x + bw * 0.45,
                top - 4.0
            );
        }
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">N = {n}</text>\n",
            LEFT + g as f64 * group + group / 2.0,
            BOTTOM + 18.0
        );
    }
    for (i, s) in ["cairn", "systemd", "floor"].iter().enumerate() {
        let x = LEFT + i as f64 * 150.0;
        svg += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>\n",
            BOTTOM + 32.0,
            colour(s),
            x + 18.0,
            BOTTOM + 43.0,
            if *s == "floor" { "busybox floor" } else { s }
        );
    }
    svg += "</svg>\n";
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_boot_sh_lines() {
        let b = parse("cairn 500 0 1.958 2.703 500 1:init:1956:1023:60 80:cairn-superviso:9200:7157:100 81:cairn-superviso:1900:1640:32").unwrap();
        assert_eq!((b.n, b.loaded, b.running), (500, 0, 500));
        assert_eq!(b.userspace_s, 2.703);
        assert_eq!(b.pid1().unwrap().rss_kb, 1956);
        assert_eq!(b.manager().unwrap().pid, 80);
        assert_eq!(b.total_kb(), (1956 + 9200 + 1900, 1023 + 7157 + 1640));
        let s = parse("systemd 10 0 1.809 0.561 10 1:systemd:10372:10368:40").unwrap();
        assert_eq!(s.manager().unwrap().rss_kb, 10372);
        assert_eq!(s.reload_s, None);
        let r = parse("cairn 10 1000 1.9 0.6 10 reload=0.412 1:init:1956:1023:60").unwrap();
        assert_eq!((r.reload_s, r.pid1().unwrap().rss_kb), (Some(0.412), 1956));
        assert!(parse("cairn 10 1000 1.9 0.6 10 reload=x 1:init:1956:1023:60").is_none());
        assert!(parse("boot.sh: no result").is_none());
        assert!(parse("cairn 1 0 1 1 1 1:init:x:1:1").is_none());
    }

    #[test]
    fn the_median_is_the_middle_run() {
        let b = |t: f64| Boot {
            system: "floor".into(),
            n: 1,
            loaded: 0,
            kernel_s: 1.0,
            userspace_s: t,
            running: 1,
            reload_s: None,
            procs: vec![],
        };
        let runs = [b(3.0), b(1.0), b(2.0)];
        assert_eq!(median(&runs).unwrap().userspace_s, 2.0);
    }

    #[test]
    fn the_chart_has_a_bar_per_system_and_n() {
        let rows = vec![
            (
                10,
                vec![
                    ("cairn".to_string(), 0.5),
                    ("systemd".into(), 0.6),
                    ("floor".into(), 0.06),
                ],
            ),
            (
                500,
                vec![
                    ("cairn".to_string(), 2.7),
                    ("systemd".into(), 14.4),
                    ("floor".into(), 1.3),
                ],
            ),
        ];
        let svg = chart(&rows);
        assert_eq!(
            svg.matches("<rect x=").count(),
            6 + 3,
            "six bars and three legend keys"
        );
        assert!(svg.contains("N = 500") && svg.contains(">14.40<"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}

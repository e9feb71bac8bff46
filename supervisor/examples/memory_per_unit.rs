//! Heap bytes per loaded unit, by part: `cargo run --release -p cairn-supervisor --example
//! memory_per_unit [N]`. Loads N (10,000) services like the benchmark's loaded ones, each with
//! its own `After=`, through a counting allocator, and prints what the catalog, the unit table
//! (configurations, names, edges) and the manager's run-time records hold per unit. Bytes
//! asked of the allocator, not RSS: malloc's own overhead (16 bytes an allocation) and the
//! binary's pages come on top. docs/performance.md §6 quotes it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Blocks held (malloc adds 8 to 24 bytes to each).
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

fn size(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(size(l.size()), Ordering::Relaxed);
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(size(l.size()), Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc`/`realloc` above with layout `l`.
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(size(n) - size(l.size()), Ordering::Relaxed);
        // SAFETY: `p` came from this allocator with layout `l`; the caller's contract holds.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> (isize, isize) {
    (LIVE.load(Ordering::Relaxed), BLOCKS.load(Ordering::Relaxed))
}

fn main() -> std::io::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    for i in 0..n {
        std::fs::write(
            dir.path().join(format!("l{i}.service")),
            format!(
                "[Unit]\nAfter=l{}.service\n[Service]\nExecStart=/bin/sleep 1000\n",
                i / 2
            ),
        )?;
    }
    let dirs = vec![dir.path().to_path_buf()];
    let spec = cairn_supervisor::unit::specifier::Context::default();
    let per = |a: (isize, isize), b: (isize, isize)| {
        let (bytes, blocks) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
        format!("{:>6.0} {:>6.1}", bytes / n as f64, blocks / n as f64)
    };
    let clock = std::time::Instant::now();
    let t0 = live();
    let catalog = cairn_supervisor::unit::load::Catalog::scan(&dirs);
    let t1 = live();
    let units = cairn_supervisor::manager::Units::build(&catalog, &spec, &[]);
    let t2 = live();
    let manager = cairn_supervisor::manager::Manager::new(units);
    let t3 = live();
    let took = clock.elapsed();
    println!("{n} services loaded; per unit:         bytes blocks");
    println!("  catalog (names, paths)          {}", per(t0, t1));
    println!("  unit table (settings, edges)    {}", per(t1, t2));
    println!("  run-time records                {}", per(t2, t3));
    println!("  all                             {}", per(t0, t3));
    println!("catalog, table and records made in {took:.1?}");
    println!(
        "inline sizes: UnitEntry {} UnitConfig {} UnitRt {}",
        std::mem::size_of::<cairn_supervisor::manager::UnitEntry>(),
        std::mem::size_of::<cairn_supervisor::unit::config::UnitConfig>(),
        std::mem::size_of::<cairn_supervisor::manager::UnitRt>()
    );
    drop(manager);
    Ok(())
}

//! The tools behind the release build's function order (docs/performance.md §12):
//! integration/scripts/link-order, which turns a crate's hot-functions.txt (names without
//! crate hashes) into this build's symbols for the linker, and cairn-step-trace, which finds
//! the functions cairn-init runs. The release build itself is `make release`'s, measured by
//! `make bench`.

use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_integration::{bin, require_root};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/link-order")
}

/// Runs link-order; what it printed (the order file's path when it changed the file).
fn link_order(binary: &Path, list: &Path, order: &Path) -> String {
    let out = Command::new(script())
        .args([binary, list, order])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What `nm -C` calls each of `symbols` in `binary`.
fn demangled(binary: &Path, symbols: &[&str]) -> Vec<String> {
    let nm = |demangle: bool| {
        let mut cmd = Command::new("nm");
        cmd.args(["-p", "--defined-only"]);
        if demangle {
            cmd.arg("-C");
        }
        let out = cmd.arg(binary).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let (raw, pretty) = (nm(false), nm(true));
    let pairs: Vec<(&str, &str)> = raw
        .lines()
        .zip(pretty.lines())
        .map(|(r, p)| {
            let r = r.splitn(3, ' ').nth(2).unwrap();
            let p = p.splitn(3, ' ').nth(2).unwrap();
            (r, p)
        })
        .collect();
    symbols
        .iter()
        .map(|s| {
            let (_, p) = pairs.iter().find(|(r, _)| r == s).unwrap();
            p.to_string()
        })
        .collect()
}

#[test]
fn link_order_names_this_builds_symbols_in_the_lists_order_and_says_when_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let binary = bin("cairn-init");
    let (list, order) = (dir.path().join("hot.txt"), dir.path().join("bin.order"));
    // Rust symbols carry a crate hash the names in the list do not; a name the binary lacks
    // is left out.
    let names = [
        "cairn_init::spawn::supervisor",
        "no::such::function",
        "cairn_init::main",
    ];
    std::fs::write(&list, names.join("\n") + "\n").unwrap();
    assert_eq!(
        link_order(&binary, &list, &order),
        format!(" {}", order.display())
    );
    // (The library and the binary both have a cairn_init::main: every symbol of a name is.)
    let text = std::fs::read_to_string(&order).unwrap();
    let symbols: Vec<&str> = text.lines().collect();
    assert!(symbols
        .iter()
        .all(|s| s.starts_with("_ZN") || s.starts_with("_R")));
    assert_eq!(
        in_runs(demangled(&binary, &symbols)),
        ["cairn_init::spawn::supervisor", "cairn_init::main"]
    );

    // The same list again: the file stands, nothing printed (make does not link again).
    assert_eq!(link_order(&binary, &list, &order), "");
    assert_eq!(std::fs::read_to_string(&order).unwrap(), text);

    // The list reordered: so is the file.
    std::fs::write(&list, "cairn_init::main\ncairn_init::spawn::supervisor\n").unwrap();
    assert_eq!(
        link_order(&binary, &list, &order),
        format!(" {}", order.display())
    );
    let again = std::fs::read_to_string(&order).unwrap();
    let again: Vec<&str> = again.lines().collect();
    assert_eq!(
        in_runs(demangled(&binary, &again)),
        ["cairn_init::main", "cairn_init::spawn::supervisor"]
    );
}

/// `names` with each run of equal names as one.
fn in_runs(mut names: Vec<String>) -> Vec<String> {
    names.dedup();
    names
}

/// e_entry of a 64-bit ELF file: where its first instruction is.
fn entry_point(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    u64::from_le_bytes(bytes[24..32].try_into().unwrap())
}

#[test]
fn step_trace_records_a_static_programs_first_instruction_and_passes_on_its_status() {
    require_root();
    // busybox-static: not position-independent, so its addresses are the file's.
    let busybox = Path::new("/bin/busybox");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ran");
    for namespace in [true, false] {
        let mut cmd = Command::new(bin("cairn-step-trace"));
        if !namespace {
            cmd.arg("--no-namespace");
        }
        let status = cmd
            .arg(&out)
            .args([busybox.as_os_str(), "true".as_ref()])
            .status()
            .unwrap();
        assert!(status.success());
        let ran: Vec<u64> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert!(ran.windows(2).all(|w| w[0] < w[1]), "sorted, each once");
        assert!(ran.contains(&entry_point(busybox)), "namespace {namespace}");
        // More than the first few instructions: libc's start, busybox's applet lookup, exit.
        assert!(ran.len() > 1000, "{} addresses", ran.len());
    }
    // The command's exit status is the tracer's.
    let status = Command::new(bin("cairn-step-trace"))
        .arg(&out)
        .args([busybox.as_os_str(), "false".as_ref()])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn link_order_refuses_a_missing_list() {
    let dir = tempfile::tempdir().unwrap();
    let order = dir.path().join("bin.order");
    std::fs::write(&order, "kept\n").unwrap();
    let out = Command::new(script())
        .arg(bin("cairn-init"))
        .arg(dir.path().join("no-such-list.txt"))
        .arg(&order)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read_to_string(&order).unwrap(), "kept\n");
}

// Included by the build scripts of cairn-init and cairn-supervisor (pid1/build.rs,
// supervisor/build.rs). With CAIRN_LINK_ORDER naming a directory that holds BIN.order (a
// symbol a line: `make release` writes it from the crate's hot-functions.txt with
// integration/scripts/link-order), BIN is linked with those functions first and together
// (lld's --symbol-ordering-file), and .init and the PLTs beside them (link/hot-first.ld).
// The kernel maps up to 64 KiB of a binary around each page fault, so functions that run
// scattered over the binary keep all of it resident, and laid out together only their own
// pages (docs/performance.md §12). The order comes through here and not as `cargo rustc`
// arguments because those change the crate's metadata, and with it the hashes in the very
// symbol names the file lists.
fn link_order(bin: &str) {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../link/order.rs");
    println!("cargo:rerun-if-changed=../link/hot-first.ld");
    println!("cargo:rerun-if-env-changed=CAIRN_LINK_ORDER");
    let Some(dir) = std::env::var_os("CAIRN_LINK_ORDER") else {
        return;
    };
    let order = std::path::Path::new(&dir).join(format!("{bin}.order"));
    if !order.exists() {
        // (A missing file named here would run this script again at every build.)
        return;
    }
    println!("cargo:rerun-if-changed={}", order.display());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../link/hot-first.ld");
    for arg in [
        format!("--symbol-ordering-file={}", order.display()),
        // Names of an older build that this one lacks are expected, not worth a warning.
        "--no-warn-symbol-ordering".to_string(),
        format!("-T{}", script.display()),
    ] {
        println!("cargo:rustc-link-arg-bin={bin}=-Wl,{arg}");
    }
}

//! Loading the drivers devices ask for (MODALIAS), in system mode only: a bare initramfs gets
//! its virtio disk this way. Never in container mode, whose kernel is the host's.

use std::collections::BTreeSet;
use std::path::Path;

/// Whether this devmon may load modules (the supervisor says container mode otherwise).
pub fn enabled() -> bool {
    std::env::var_os("CAIRN_CONTAINER").is_none()
}

/// Every `modalias` under /sys/bus/*/devices/*: what coldplug has to load.
pub fn coldplug_aliases(sys: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(buses) = std::fs::read_dir(Path::new(sys).join("bus")) else {
        return out;
    };
    for bus in buses.flatten() {
        let Ok(devices) = std::fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for d in devices.flatten() {
            if let Ok(a) = std::fs::read_to_string(d.path().join("modalias")) {
                let a = a.trim();
                if !a.is_empty() {
                    out.insert(a.to_string());
                }
            }
        }
    }
    out
}

/// `modprobe -a -b -q ALIAS…` (blacklist honoured, unknown aliases quiet), in chunks.
/// Blocking: run it off the event loop.
pub fn load(aliases: &[String]) {
    for chunk in aliases.chunks(256) {
        let st = std::process::Command::new("modprobe")
            .args(["-a", "-b", "-q"])
            .args(chunk)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Err(e) = st {
            eprintln!("cairn-devmon: cannot run modprobe: {e}");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_of_this_host() {
        // Whatever the host has: every entry is a non-empty alias like "pci:v…".
        for a in coldplug_aliases("/sys") {
            assert!(a.contains(':'), "{a}");
        }
        assert!(coldplug_aliases("/nonexistent").is_empty());
    }
}

//! Unit names of paths and devices against the real `systemd-escape` (systemd 252, installed by
//! `make test`): the names device, mount and automount units get must be systemd's, byte for
//! byte, tricky ones included.

use std::process::Command;

use cairn_supervisor::unit::name::{escape, escape_path};

fn systemd_escape(args: &[&str]) -> Option<String> {
    let o = Command::new("systemd-escape").args(args).output().ok()?;
    o.status.success().then(|| {
        String::from_utf8_lossy(&o.stdout)
            .trim_end_matches('\n')
            .to_string()
    })
}

#[test]
fn paths_escape_as_systemd_escape_path_does() {
    let paths = [
        "/",
        "/home/lennart",
        "/srv/my data",
        "/a//b/",
        "/über/straße",
        "/.hidden/x",
        "/a-b_c.d:e",
        "/dev/sda1",
        "/dev/disk/by-uuid/c0ffee00-0000-4000-8000-000000000001",
        "/dev/disk/by-label/my\\x20disk",
        "/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
        "/sys/devices/virtual/block/loop0",
        "/run/user/1000/gvfs",
        "/mnt/tab\there",
    ];
    let Some(_) = systemd_escape(&["--path", "/"]) else {
        panic!("systemd-escape is missing: `make test` installs the systemd package");
    };
    for p in paths {
        let want = systemd_escape(&["--path", p]).unwrap();
        assert_eq!(escape_path(p), want, "{p:?}");
    }
}

#[test]
fn interface_names_escape_as_systemd_escape_does() {
    for ifname in [
        "eth0",
        "wlan-0",
        "veth1@if3",
        "br.lan",
        "enp0s31f6",
        "tun_x",
    ] {
        let want = systemd_escape(&[ifname]).unwrap();
        assert_eq!(escape(ifname), want, "{ifname:?}");
    }
}

use super::*;
use std::cell::RefCell;

fn raw(proto: i32, ptype: i32, token: u32, name: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; PACKET_SIZE];
    let head = [proto, ptype, token as i32, 0, 0, 0];
    let tail = [1000, 100, 4242, 4241, name.len() as i32];
    for (i, v) in head.iter().chain(&tail).enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b[NAME_OFF..NAME_OFF + name.len()].copy_from_slice(name);
    b
}

fn missing(token: u32) -> Packet {
    parse_packet(&raw(5, 5, token, b"")).unwrap()
}

fn expire_packet(token: u32) -> Packet {
    parse_packet(&raw(5, 6, token, b"")).unwrap()
}

/// `struct autofs_v5_packet`, to pin the layout.
#[repr(C)]
struct V5Packet {
    hdr: [i32; 2],
    token_dev: [u32; 2],
    ino: u64,
    ids_len: [u32; 5],
    name: [u8; NAME_MAX + 1],
}

#[test]
fn abi_is_pinned() {
    assert_eq!(std::mem::size_of::<V5Packet>(), PACKET_SIZE);
    assert_eq!(std::mem::offset_of!(V5Packet, name), NAME_OFF);
    assert_eq!(NAME_OFF + NAME_MAX + 1, PACKET_MIN);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(PACKET_SIZE, 304);
    assert_eq!(std::mem::size_of::<DevIoctl>() - 4096, DEV_IOCTL_SIZE);
    let codes = [IOC_READY, IOC_EXPIRE_MULTI, IOC_SETTIMEOUT, DEV_OPENMOUNT];
    assert_eq!(codes, [0x9360, 0x4004_9366, 0xc008_9364, 0xc018_9374]);
    assert_eq!(encode_dev(libc::makedev(8, 1)), 0x801); // new_encode_dev()
    assert_eq!(encode_dev(libc::makedev(0, 0x1234)), 0x0120_0034);
}

#[test]
fn parses_missing_and_expire() {
    let p = parse_packet(&raw(5, 5, 7, b"000000001234abcd")).unwrap();
    let Packet::Missing {
        token,
        pid,
        tgid,
        uid,
        gid,
        name,
    } = p
    else {
        panic!("{p:?}")
    };
    assert_eq!((token, pid, tgid, uid, gid), (7, 4242, 4241, 1000, 100));
    assert_eq!(name, "000000001234abcd");
    let e = parse_packet(&raw(5, 6, 9, b"x")).unwrap();
    assert!(matches!(e, Packet::Expire { token: 9, name } if name == "x"));
    let minimal = &raw(5, 6, 9, b"x")[..PACKET_MIN]; // what a 32-bit layout carries
    assert_eq!(parse_packet(minimal).unwrap().token(), 9);
}

#[test]
fn rejects_short_and_unknown_packets() {
    let b = raw(5, 5, 1, b"a");
    let errs = [
        &b[..PACKET_MIN - 1],
        &[],
        &raw(4, 5, 3, b"a"),
        &raw(5, 0, 3, b"a"),
    ];
    let errs = errs.map(|b| parse_packet(b).unwrap_err().to_string());
    assert!(
        errs[0].contains("299 bytes") && errs[1].contains(" 0 bytes"),
        "{errs:?}"
    );
    assert!(errs[2].contains("protocol 4, type 5, token 3"), "{errs:?}");
    assert!(errs[3].contains("protocol 5, type 0, token 3"), "{errs:?}");
    let mut long = raw(5, 5, 1, b"");
    long[40..44].copy_from_slice(&u32::MAX.to_ne_bytes()); // a bogus len is clamped
    assert!(matches!(parse_packet(&long), Ok(Packet::Missing { .. })));
}

#[test]
fn mountinfo_parsing() {
    let text = b"22 1 0:21 / / rw shared:1 - ext4 /dev/sda rw\n\
        30 22 0:45 / /mnt/a\\040b rw,relatime shared:5 - autofs cairn rw,fd=5\n\
        31 30 0:46 / /mnt/a\\040b rw master:3 - tmpfs tmpfs rw\ngarbage\n";
    let mut v = parse_mountinfo(text);
    assert_eq!(v.len(), 3);
    assert_eq!(v[1].mount_point, Path::new("/mnt/a b"));
    let autofs = (v[1].fstype.as_str(), v[1].dev);
    assert_eq!(autofs, ("autofs", libc::makedev(0, 45)));
    v.retain(|e| e.mount_point == Path::new("/mnt/a b"));
    assert_eq!(topmost(&v).map(|e| e.id), Some(31));
    assert_eq!(topmost(&v[..1]).map(|e| e.id), Some(30));
    assert_eq!(unescape(b"a\\011b\\134\\9"), Path::new("a\tb\\\\9"));
}

/// Records every answer; FAIL of token 13 errors.
#[derive(Default)]
struct Fake(RefCell<Vec<(bool, u32)>>);

impl AutofsOps for Fake {
    fn ready(&self, token: u32) -> Result<(), AutofsError> {
        self.0.borrow_mut().push((true, token));
        Ok(())
    }
    fn fail(&self, token: u32) -> Result<(), AutofsError> {
        self.0.borrow_mut().push((false, token));
        match token {
            13 => Err(sys("fail", Path::new("/x"))(Errno::EINVAL)),
            _ => Ok(()),
        }
    }
}

#[test]
fn pending_mount_then_ready_all() {
    let (t0, fake) = (Instant::now(), Fake::default());
    let mut p = Pending::new(Duration::from_secs(5));
    assert_eq!(p.on_packet(&missing(1), t0), Action::StartMount);
    assert_eq!(p.on_packet(&missing(2), t0), Action::Wait);
    assert_eq!(p.on_packet(&missing(2), t0), Action::Wait);
    assert!(answer(&fake, &p.on_mounted(), true).is_empty());
    assert_eq!(*fake.0.borrow(), vec![(true, 1), (true, 2)]);
    assert!(p.is_empty());
    assert_eq!(p.on_packet(&missing(3), t0), Action::StartMount);
    assert_eq!(p.on_packet(&expire_packet(4), t0), Action::StartUnmount);
    assert!(answer(&fake, &p.on_failed(), false).is_empty());
    assert_eq!(fake.0.borrow().last(), Some(&(false, 3)));
    assert_eq!(p.on_expire_done(), vec![4]); // kept apart from mount waiters
}

#[test]
fn pending_deadlines_fail_everyone() {
    let (t0, fake) = (Instant::now(), Fake::default());
    let secs = Duration::from_secs;
    let mut p = Pending::new(secs(5));
    p.on_packet(&missing(13), t0);
    p.on_packet(&missing(14), t0 + secs(2));
    assert_eq!(p.on_packet(&expire_packet(20), t0), Action::StartUnmount);
    assert_eq!(p.next_deadline(), Some(t0 + secs(5)));
    assert!(p.expired(t0 + secs(4)).is_empty());
    let due = p.expired(t0 + secs(5));
    assert_eq!(due, vec![13, 20]);
    let errs = answer(&fake, &due, false);
    let first = (errs.len(), errs[0].0, errs[0].1.errno());
    assert_eq!(first, (1, 13, Some(Errno::EINVAL)));
    assert_eq!(*fake.0.borrow(), vec![(false, 13), (false, 20)]); // went on past 13
    assert_eq!(p.next_deadline(), Some(t0 + secs(7)));
    assert!(p.on_expire_done().is_empty());
    assert_eq!(p.expired(t0 + secs(60)), vec![14]);
    assert!(p.is_empty() && p.next_deadline().is_none());
}

#[test]
fn rejects_relative_paths_and_nul() {
    let rel = mount_direct(Path::new("rel"), None, 0o755);
    assert!(matches!(rel, Err(AutofsError::Invalid(_))));
    assert!(matches!(cstr("a\0b"), Err(AutofsError::Invalid(_))));
}

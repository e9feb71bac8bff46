//! Kernel uevents, as they come from `NETLINK_KOBJECT_UEVENT` and from `/sys/…/uevent`.
//!
//! A kernel message is `ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0…`. A message udevd re-sends on
//! its own multicast group starts with `libudev\0` and a binary header (magic 0xfeedcafe,
//! network order) whose `properties_off`/`properties_len` locate the same `KEY=VALUE\0` list.
//! Malformed input is an error, never a panic: this is read from a socket anyone in the kernel
//! can write to, and from files.

use std::collections::BTreeMap;

/// The most a uevent may be (the kernel's UEVENT_BUFFER_SIZE is 2048; udev's are larger).
pub const MAX_SIZE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    pub action: String,
    /// `/devices/…`, without `/sys`.
    pub devpath: String,
    pub props: BTreeMap<String, String>,
}

impl Uevent {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.props.get(k).map(String::as_str)
    }

    pub fn subsystem(&self) -> &str {
        self.get("SUBSYSTEM").unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UeventError {
    #[error("empty message")]
    Empty,
    #[error("message of {0} bytes is over the limit")]
    TooLong(usize),
    #[error("no ACTION@DEVPATH header")]
    NoHeader,
    #[error("bad libudev header")]
    BadUdevHeader,
    #[error("property without '=': {0:?}")]
    BadProperty(String),
    #[error("DEVPATH {0:?} does not start with /")]
    BadDevpath(String),
}

const UDEV_MAGIC: u32 = 0xfeed_cafe;

fn props(list: &[u8], into: &mut BTreeMap<String, String>) -> Result<(), UeventError> {
    for field in list.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let s = String::from_utf8_lossy(field);
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| UeventError::BadProperty(s.chars().take(64).collect()))?;
        into.insert(k.to_string(), v.to_string());
    }
    Ok(())
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off.checked_add(4)?)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_ne_bytes)
}

/// Parses one netlink message (kernel or udev).
pub fn parse(msg: &[u8]) -> Result<Uevent, UeventError> {
    if msg.is_empty() {
        return Err(UeventError::Empty);
    }
    if msg.len() > MAX_SIZE {
        return Err(UeventError::TooLong(msg.len()));
    }
    let mut p = BTreeMap::new();
    if msg.starts_with(b"libudev\0") {
        // struct monitor_netlink_header: prefix[8], magic (be32), header_size, properties_off,
        // properties_len, filter words…
        let magic = u32_at(msg, 8).map(u32::from_be);
        let off = u32_at(msg, 16).and_then(|v| usize::try_from(v).ok());
        let len = u32_at(msg, 20).and_then(|v| usize::try_from(v).ok());
        let (Some(UDEV_MAGIC), Some(off), Some(len)) = (magic, off, len) else {
            return Err(UeventError::BadUdevHeader);
        };
        let list = off
            .checked_add(len)
            .and_then(|end| msg.get(off..end))
            .ok_or(UeventError::BadUdevHeader)?;
        props(list, &mut p)?;
    } else {
        let nul = msg.iter().position(|b| *b == 0).unwrap_or(msg.len());
        let head = String::from_utf8_lossy(msg.get(..nul).unwrap_or_default());
        if !head.contains('@') {
            return Err(UeventError::NoHeader);
        }
        props(msg.get(nul..).unwrap_or_default(), &mut p)?;
    }
    let action = p.get("ACTION").cloned().ok_or(UeventError::NoHeader)?;
    let devpath = p.get("DEVPATH").cloned().ok_or(UeventError::NoHeader)?;
    if !devpath.starts_with('/') {
        return Err(UeventError::BadDevpath(devpath));
    }
    Ok(Uevent {
        action,
        devpath,
        props: p,
    })
}

/// A `/sys/…/uevent` file's `KEY=VALUE` lines, for coldplug (the action is `add`).
pub fn parse_file(devpath: &str, text: &str) -> Uevent {
    let mut p = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            p.insert(k.to_string(), v.to_string());
        }
    }
    p.insert("DEVPATH".into(), devpath.to_string());
    p.insert("ACTION".into(), "add".into());
    Uevent {
        action: "add".into(),
        devpath: devpath.to_string(),
        props: p,
    }
}

/// For the fuzz target and its stable test: parse anything, check what holds.
pub fn fuzz_parse(data: &[u8]) {
    if let Ok(u) = parse(data) {
        assert!(u.devpath.starts_with('/'));
        assert_eq!(u.get("ACTION"), Some(u.action.as_str()));
    }
    let _ = parse_file("/devices/x", &String::from_utf8_lossy(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(s: &str) -> Vec<u8> {
        s.replace('|', "\0").into_bytes()
    }

    #[test]
    fn a_kernel_uevent() {
        let m = kernel("add@/devices/virtual/block/loop0|ACTION=add|DEVPATH=/devices/virtual/block/loop0|SUBSYSTEM=block|MAJOR=7|MINOR=0|DEVNAME=loop0|DEVTYPE=disk|SEQNUM=42|");
        let u = parse(&m).unwrap();
        assert_eq!(u.action, "add");
        assert_eq!(u.devpath, "/devices/virtual/block/loop0");
        assert_eq!(u.subsystem(), "block");
        assert_eq!(u.get("DEVNAME"), Some("loop0"));
    }

    #[test]
    fn a_udev_message() {
        let props = b"ACTION=change\0DEVPATH=/devices/x\0SUBSYSTEM=net\0INTERFACE=eth0\0";
        let mut m = b"libudev\0".to_vec();
        m.extend_from_slice(&UDEV_MAGIC.to_be_bytes());
        m.extend_from_slice(&40u32.to_ne_bytes()); // header size
        m.extend_from_slice(&40u32.to_ne_bytes()); // properties offset
        m.extend_from_slice(&(props.len() as u32).to_ne_bytes());
        m.resize(40, 0);
        m.extend_from_slice(props);
        let u = parse(&m).unwrap();
        assert_eq!(u.action, "change");
        assert_eq!(u.get("INTERFACE"), Some("eth0"));
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(parse(b""), Err(UeventError::Empty));
        assert_eq!(parse(b"no header\0A=b"), Err(UeventError::NoHeader));
        assert!(matches!(
            parse(&kernel("add@/x|ACTION=add|junk|")),
            Err(UeventError::BadProperty(_))
        ));
        assert_eq!(
            parse(&kernel("add@/x|ACTION=add|")),
            Err(UeventError::NoHeader)
        );
        assert!(matches!(
            parse(&kernel("add@x|ACTION=add|DEVPATH=x|")),
            Err(UeventError::BadDevpath(_))
        ));
        assert_eq!(parse(b"libudev\0\0\0"), Err(UeventError::BadUdevHeader));
        let mut huge = kernel("add@/x|ACTION=add|DEVPATH=/x|");
        huge.resize(MAX_SIZE + 1, b'a');
        assert!(matches!(parse(&huge), Err(UeventError::TooLong(_))));
    }

    #[test]
    fn a_uevent_file() {
        let u = parse_file("/devices/virtual/net/lo", "INTERFACE=lo\nIFINDEX=1\n");
        assert_eq!(u.action, "add");
        assert_eq!(u.get("INTERFACE"), Some("lo"));
        assert_eq!(u.get("DEVPATH"), Some("/devices/virtual/net/lo"));
    }

    #[test]
    fn fuzz_body_over_mutated_inputs() {
        let seed = kernel("add@/devices/virtual/block/loop0|ACTION=add|DEVPATH=/devices/virtual/block/loop0|SUBSYSTEM=block|");
        let mut x: u32 = 12345;
        for n in 0..2000 {
            let mut m = seed.clone();
            for _ in 0..(n % 7) {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let i = (x as usize) % m.len();
                m[i] = (x >> 8) as u8;
            }
            m.truncate((x as usize) % (m.len() + 1));
            fuzz_parse(&m);
        }
    }
}

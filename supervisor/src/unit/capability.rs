//! Linux capability names (capabilities(7)), for ConditionCapability= now and
//! CapabilityBoundingSet=/AmbientCapabilities= later.

/// In kernel order: the index is the capability's number.
pub const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `CAP_NET_ADMIN`, `cap_net_admin` or a number.
pub fn parse(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return (n < 64).then_some(n);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES
        .iter()
        .position(|n| *n == full)
        .and_then(|i| u32::try_from(i).ok())
}

/// A capability mask line of /proc/PID/status (`CapBnd:\t000001ffffffffff`).
pub fn mask_of(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_masks() {
        assert_eq!(parse("CAP_NET_ADMIN"), Some(12));
        assert_eq!(parse("cap_sys_admin"), Some(21));
        assert_eq!(parse("SYS_BOOT"), Some(22));
        assert_eq!(parse("CAP_BOGUS"), None);
        assert_eq!(parse("40"), Some(40));
        let status = "Name:\tx\nCapEff:\t0000000000000001\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(mask_of(status, "CapBnd"), Some(0x1ff_ffff_ffff));
        assert_eq!(mask_of(status, "CapEff"), Some(1));
    }
}

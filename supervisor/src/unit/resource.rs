//! cgroup limits (systemd.resource-control(5)): each setting becomes a write to one control
//! file of the unit's cgroup. A limit whose controller is not enabled is a clear warning that
//! names the controller — never a silent no-op, and never a failure of the unit.

use super::values::parse_size;

/// One control-file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// The unit-file key, for messages.
    pub key: &'static str,
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

fn size_or_max(v: &str) -> Option<String> {
    if v == "infinity" {
        return Some("max".into());
    }
    parse_size(v).map(|n| n.to_string())
}

/// Parses one key into its write. `Ok(None)` when the key is not a resource-control key.
pub fn parse(key: &str, value: &str) -> Result<Option<Limit>, String> {
    let bad = || format!("{key}: invalid value {value:?}");
    let (key, controller, file, v): (&'static str, _, _, _) = match key {
        "MemoryMax" => ("MemoryMax", "memory", "memory.max", size_or_max(value)),
        "MemoryHigh" => ("MemoryHigh", "memory", "memory.high", size_or_max(value)),
        "MemoryLow" => ("MemoryLow", "memory", "memory.low", size_or_max(value)),
        "MemoryMin" => ("MemoryMin", "memory", "memory.min", size_or_max(value)),
        "MemorySwapMax" => (
            "MemorySwapMax",
            "memory",
            "memory.swap.max",
            size_or_max(value),
        ),
        "TasksMax" => (
            "TasksMax",
            "pids",
            "pids.max",
            if value == "infinity" {
                Some("max".into())
            } else {
                value.parse::<u64>().ok().map(|n| n.to_string())
            },
        ),
        "CPUQuota" => (
            "CPUQuota",
            "cpu",
            "cpu.max",
            value
                .strip_suffix('%')
                .and_then(|p| p.parse::<u64>().ok())
                .filter(|p| *p > 0)
                .map(|p| format!("{} 100000", p * 1000)),
        ),
        "CPUWeight" => (
            "CPUWeight",
            "cpu",
            "cpu.weight",
            value
                .parse::<u64>()
                .ok()
                .filter(|w| (1..=10000).contains(w))
                .map(|w| w.to_string()),
        ),
        "IOWeight" => (
            "IOWeight",
            "io",
            "io.weight",
            value
                .parse::<u64>()
                .ok()
                .filter(|w| (1..=10000).contains(w))
                .map(|w| format!("default {w}")),
        ),
        "AllowedCPUs" => (
            "AllowedCPUs",
            "cpuset",
            "cpuset.cpus",
            (!value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == ',' || c == ' '))
            .then(|| value.replace(' ', ",")),
        ),
        _ => return Ok(None),
    };
    let value = v.ok_or_else(bad)?;
    Ok(Some(Limit {
        key,
        controller,
        file,
        value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_control_file_writes() {
        let l = |k, v| parse(k, v).unwrap().unwrap();
        assert_eq!(l("MemoryMax", "64M").value, (64u64 << 20).to_string());
        assert_eq!(l("MemoryMax", "infinity").value, "max");
        assert_eq!(l("CPUQuota", "50%").value, "50000 100000");
        assert_eq!(l("CPUQuota", "150%").file, "cpu.max");
        assert_eq!(l("TasksMax", "16").value, "16");
        assert_eq!(l("IOWeight", "200").value, "default 200");
        assert_eq!(l("AllowedCPUs", "0-1 3").value, "0-1,3");
        assert_eq!(l("CPUWeight", "100").controller, "cpu");
        assert!(parse("CPUQuota", "fast")
            .unwrap_err()
            .starts_with("CPUQuota"));
        assert!(parse("CPUWeight", "0").is_err());
        assert_eq!(parse("Nice", "1"), Ok(None));
    }
}

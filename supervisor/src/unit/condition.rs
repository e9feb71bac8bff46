//! `Condition*=` and `Assert*=` (systemd.unit(5)). A failed condition skips the unit quietly
//! (its start job succeeds, the unit stays inactive); a failed assert fails the start job.
//!
//! `|` makes a condition a trigger: of the triggering conditions at least one must hold;
//! all non-triggering ones must hold. `!` negates. Evaluation asks a [`Probe`] so that tests
//! need no file system.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    PathExists,
    PathExistsGlob,
    PathIsDirectory,
    PathIsSymbolicLink,
    PathIsMountPoint,
    PathIsReadWrite,
    DirectoryNotEmpty,
    FileNotEmpty,
    FileIsExecutable,
    KernelCommandLine,
    Virtualization,
    Capability,
    Host,
    Environment,
    User,
    Group,
    Architecture,
    FirstBoot,
    Null,
}

impl ConditionKind {
    pub fn parse(s: &str) -> Option<ConditionKind> {
        use ConditionKind as K;
        Some(match s {
            "PathExists" => K::PathExists,
            "PathExistsGlob" => K::PathExistsGlob,
            "PathIsDirectory" => K::PathIsDirectory,
            "PathIsSymbolicLink" => K::PathIsSymbolicLink,
            "PathIsMountPoint" => K::PathIsMountPoint,
            "PathIsReadWrite" => K::PathIsReadWrite,
            "DirectoryNotEmpty" => K::DirectoryNotEmpty,
            "FileNotEmpty" => K::FileNotEmpty,
            "FileIsExecutable" => K::FileIsExecutable,
            "KernelCommandLine" => K::KernelCommandLine,
            "Virtualization" => K::Virtualization,
            "Capability" => K::Capability,
            "Host" => K::Host,
            "Environment" => K::Environment,
            "User" => K::User,
            "Group" => K::Group,
            "Architecture" => K::Architecture,
            "FirstBoot" => K::FirstBoot,
            "Null" => K::Null,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        use ConditionKind as K;
        match self {
            K::PathExists => "PathExists",
            K::PathExistsGlob => "PathExistsGlob",
            K::PathIsDirectory => "PathIsDirectory",
            K::PathIsSymbolicLink => "PathIsSymbolicLink",
            K::PathIsMountPoint => "PathIsMountPoint",
            K::PathIsReadWrite => "PathIsReadWrite",
            K::DirectoryNotEmpty => "DirectoryNotEmpty",
            K::FileNotEmpty => "FileNotEmpty",
            K::FileIsExecutable => "FileIsExecutable",
            K::KernelCommandLine => "KernelCommandLine",
            K::Virtualization => "Virtualization",
            K::Capability => "Capability",
            K::Host => "Host",
            K::Environment => "Environment",
            K::User => "User",
            K::Group => "Group",
            K::Architecture => "Architecture",
            K::FirstBoot => "FirstBoot",
            K::Null => "Null",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub trigger: bool,
    pub negate: bool,
    pub value: String,
    pub line: usize,
}

impl Condition {
    pub fn new(kind: ConditionKind, raw: &str, line: usize) -> Condition {
        let mut v = raw;
        let trigger = v.starts_with('|');
        if trigger {
            v = v[1..].trim_start();
        }
        let negate = v.starts_with('!');
        if negate {
            v = v[1..].trim_start();
        }
        Condition {
            kind,
            trigger,
            negate,
            value: v.to_string(),
            line,
        }
    }

    /// As systemd prints it: `ConditionPathExists=!/x`.
    pub fn describe(&self, assert: bool) -> String {
        format!(
            "{}{}={}{}{}",
            if assert { "Assert" } else { "Condition" },
            self.kind.name(),
            if self.trigger { "|" } else { "" },
            if self.negate { "!" } else { "" },
            self.value
        )
    }
}

/// What conditions ask of the machine.
pub trait Probe {
    fn path_exists(&self, p: &str) -> bool;
    fn glob_matches(&self, pattern: &str) -> bool;
    fn is_dir(&self, p: &str) -> bool;
    fn is_symlink(&self, p: &str) -> bool;
    fn is_mount_point(&self, p: &str) -> bool;
    fn is_read_write(&self, p: &str) -> bool;
    fn dir_not_empty(&self, p: &str) -> bool;
    fn file_not_empty(&self, p: &str) -> bool;
    fn is_executable(&self, p: &str) -> bool;
    fn kernel_cmdline(&self) -> String;
    fn virtualization(&self) -> Option<String>;
    fn has_capability(&self, cap: &str) -> bool;
    fn hostname(&self) -> String;
    fn env(&self, name: &str) -> Option<String>;
    fn user_name(&self) -> String;
    fn architecture(&self) -> &'static str;
}

fn check(c: &Condition, p: &dyn Probe) -> bool {
    use ConditionKind as K;
    let v = c.value.as_str();
    match c.kind {
        K::PathExists => p.path_exists(v),
        K::PathExistsGlob => p.glob_matches(v),
        K::PathIsDirectory => p.is_dir(v),
        K::PathIsSymbolicLink => p.is_symlink(v),
        K::PathIsMountPoint => p.is_mount_point(v),
        K::PathIsReadWrite => p.is_read_write(v),
        K::DirectoryNotEmpty => p.dir_not_empty(v),
        K::FileNotEmpty => p.file_not_empty(v),
        K::FileIsExecutable => p.is_executable(v),
        K::KernelCommandLine => {
            // A word, or KEY=VALUE, or KEY alone matching KEY=anything.
            let cmdline = p.kernel_cmdline();
            cmdline.split_whitespace().any(|w| {
                w == v || (!v.contains('=') && w.split_once('=').is_some_and(|(k, _)| k == v))
            })
        }
        K::Virtualization => match (v, p.virtualization()) {
            ("yes" | "1" | "true", virt) => virt.is_some(),
            ("no" | "0" | "false", virt) => virt.is_none(),
            ("container", Some(virt)) => [
                "lxc",
                "docker",
                "podman",
                "systemd-nspawn",
                "container-other",
            ]
            .contains(&virt.as_str()),
            (want, Some(virt)) => want == virt,
            (_, None) => false,
        },
        K::Capability => p.has_capability(v),
        K::Host => p.hostname() == v,
        K::Environment => match v.split_once('=') {
            Some((k, val)) => p.env(k).as_deref() == Some(val),
            None => p.env(v).is_some(),
        },
        K::User => p.user_name() == v || v == "@system",
        K::Group => true,
        K::Architecture => p.architecture() == v,
        K::FirstBoot => false,
        K::Null => true,
    }
}

/// Evaluates a list as systemd does. Returns the first condition that decided the failure.
pub fn evaluate<'a>(list: &'a [Condition], p: &dyn Probe) -> Result<(), &'a Condition> {
    let mut trigger_seen = None;
    let mut trigger_ok = false;
    for c in list {
        let ok = check(c, p) != c.negate;
        if c.trigger {
            trigger_seen.get_or_insert(c);
            trigger_ok |= ok;
        } else if !ok {
            return Err(c);
        }
    }
    match trigger_seen {
        Some(first) if !trigger_ok => Err(first),
        _ => Ok(()),
    }
}

/// The real machine.
pub struct Host;

impl Probe for Host {
    fn path_exists(&self, p: &str) -> bool {
        std::fs::symlink_metadata(p).is_ok()
    }
    fn glob_matches(&self, pattern: &str) -> bool {
        // Only a trailing '*' in the last component is supported (enough for /dev/sd*).
        let path = std::path::Path::new(pattern);
        let (Some(dir), Some(last)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return false;
        };
        let prefix = last.trim_end_matches('*');
        std::fs::read_dir(dir).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(prefix))
            })
        })
    }
    fn is_dir(&self, p: &str) -> bool {
        std::path::Path::new(p).is_dir()
    }
    fn is_symlink(&self, p: &str) -> bool {
        std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
    }
    fn is_mount_point(&self, p: &str) -> bool {
        std::fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|s| s.lines().any(|l| l.split(' ').nth(4) == Some(p)))
    }
    fn is_read_write(&self, p: &str) -> bool {
        nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
            && nix::sys::statvfs::statvfs(p)
                .is_ok_and(|s| !s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    }
    fn dir_not_empty(&self, p: &str) -> bool {
        std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_some())
    }
    fn file_not_empty(&self, p: &str) -> bool {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0)
    }
    fn is_executable(&self, p: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    fn kernel_cmdline(&self) -> String {
        std::fs::read_to_string("/proc/cmdline").unwrap_or_default()
    }
    fn virtualization(&self) -> Option<String> {
        std::env::var("container").ok().filter(|s| !s.is_empty())
    }
    /// As systemd: the capability is in the manager's bounding set.
    fn has_capability(&self, cap: &str) -> bool {
        let Some(n) = super::capability::parse(cap) else {
            return false;
        };
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| super::capability::mask_of(&s, "CapBnd"))
            .is_some_and(|m| m & (1u64 << n) != 0)
    }
    fn hostname(&self) -> String {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn user_name(&self) -> String {
        "root".into()
    }
    fn architecture(&self) -> &'static str {
        match std::env::consts::ARCH {
            "x86_64" => "x86-64",
            "aarch64" => "arm64",
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Probe for Fake {
        fn path_exists(&self, p: &str) -> bool {
            p == "/yes"
        }
        fn glob_matches(&self, _: &str) -> bool {
            false
        }
        fn is_dir(&self, p: &str) -> bool {
            p == "/"
        }
        fn is_symlink(&self, _: &str) -> bool {
            false
        }
        fn is_mount_point(&self, _: &str) -> bool {
            false
        }
        fn is_read_write(&self, _: &str) -> bool {
            true
        }
        fn dir_not_empty(&self, _: &str) -> bool {
            true
        }
        fn file_not_empty(&self, _: &str) -> bool {
            true
        }
        fn is_executable(&self, _: &str) -> bool {
            true
        }
        fn kernel_cmdline(&self) -> String {
            "root=/dev/vda quiet cairn.unit=x.target".into()
        }
        fn virtualization(&self) -> Option<String> {
            Some("docker".into())
        }
        fn has_capability(&self, _: &str) -> bool {
            true
        }
        fn hostname(&self) -> String {
            "h".into()
        }
        fn env(&self, n: &str) -> Option<String> {
            (n == "A").then(|| "1".into())
        }
        fn user_name(&self) -> String {
            "root".into()
        }
        fn architecture(&self) -> &'static str {
            "x86-64"
        }
    }

    fn c(kind: ConditionKind, v: &str) -> Condition {
        Condition::new(kind, v, 1)
    }

    #[test]
    fn negation_and_triggers() {
        use ConditionKind::*;
        assert!(evaluate(&[c(PathExists, "/yes")], &Fake).is_ok());
        assert!(evaluate(&[c(PathExists, "!/yes")], &Fake).is_err());
        // Triggers: one of them suffices.
        assert!(evaluate(&[c(PathExists, "|/no"), c(PathExists, "|/yes")], &Fake).is_ok());
        assert!(evaluate(&[c(PathExists, "|/no"), c(PathExists, "|/no2")], &Fake).is_err());
        // A failing plain condition fails whatever the triggers say.
        let list = [c(PathExists, "|/yes"), c(PathIsDirectory, "/etc")];
        assert_eq!(evaluate(&list, &Fake).unwrap_err().value, "/etc");
    }

    #[test]
    fn kernel_command_line_words_and_keys() {
        use ConditionKind::*;
        assert!(evaluate(&[c(KernelCommandLine, "quiet")], &Fake).is_ok());
        assert!(evaluate(&[c(KernelCommandLine, "cairn.unit")], &Fake).is_ok());
        assert!(evaluate(&[c(KernelCommandLine, "root=/dev/vda")], &Fake).is_ok());
        assert!(evaluate(&[c(KernelCommandLine, "root=/dev/sda")], &Fake).is_err());
        assert!(evaluate(&[c(Virtualization, "container")], &Fake).is_ok());
        assert!(evaluate(&[c(Environment, "A=1")], &Fake).is_ok());
    }

    #[test]
    fn describe_reads_like_the_unit_file() {
        let cond = c(ConditionKind::PathExists, "|!/x");
        assert_eq!(cond.describe(false), "ConditionPathExists=|!/x");
    }
}

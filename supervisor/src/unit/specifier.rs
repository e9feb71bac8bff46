//! `%` specifiers, ported from systemd 252's `specifier_printf()`
//! (src/shared/specifier.c) and the tables of src/core/unit-printf.c.
//!
//! Rules kept from systemd: "%%" is "%"; '%' followed by a character that is
//! not an ASCII letter or digit is kept verbatim ("%-", "% "); an unknown
//! letter or digit is an error (the caller warns and ignores the setting);
//! a stray '%' at the very end is kept as '%' (see [`expand_strict`] for the
//! stricter variant); a specifier that resolves to "" inserts nothing.
//!
//! Deliberate differences from systemd 252 (it reads the running system,
//! this module is pure):
//! * %y/%Y return `fragment_path` as given: systemd resolves symlinks first,
//!   so pass a canonical path;
//! * %T/%V are "/tmp" and "/var/tmp" (systemd honours $TMPDIR, $TEMP, $TMP
//!   of the manager, normally unset in PID 1), %q is the short hostname
//!   (systemd's fallback when /etc/machine-info has no PRETTY_HOSTNAME);
//! * %A %B %M %o %w %W (os-release) and the deprecated %c %r %R (cgroups)
//!   are [`SpecifierError::Unavailable`] unless supplied through
//!   [`expand_full`]'s `extra` resolver;
//! * %J of a prefix ending in '-' is "" (systemd 252 hits an assertion).

use super::name::{self, NameError, UnitName, PATH_MAX, UNIT_NAME_MAX};
use super::syntax::LONG_LINE_MAX;

/// What specifiers resolve to. In system mode: runtime_dir "/run",
/// state_dir "/var/lib", cache_dir "/var/cache", logs_dir "/var/log",
/// config_dir "/etc", user "root"/0, home "/root".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    // (`for_unit` lists every field: a new one goes there too.)
    /// Full unit name (%n); other unit specifiers are derived from it.
    pub unit: String,
    pub fragment_path: Option<String>,
    pub runtime_dir: String,
    pub state_dir: String,
    pub cache_dir: String,
    pub logs_dir: String,
    pub config_dir: String,
    pub user_name: String,
    pub uid: u32,
    pub group_name: String,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    pub hostname: String,
    pub machine_id: String,
    pub boot_id: String,
    pub kernel_release: String,
    pub architecture: String,
}

impl Context {
    /// Makes `self` `base` for unit `unit` (from `fragment`), in the strings it already has:
    /// parsing a unit again costs no allocation for its context.
    pub fn for_unit(&mut self, base: &Context, unit: &str, fragment: &std::path::Path) {
        let Context {
            unit: _,
            fragment_path: _,
            runtime_dir,
            state_dir,
            cache_dir,
            logs_dir,
            config_dir,
            user_name,
            uid,
            group_name,
            gid,
            home,
            shell,
            hostname,
            machine_id,
            boot_id,
            kernel_release,
            architecture,
        } = base;
        self.unit.clear();
        self.unit.push_str(unit);
        let f = self.fragment_path.get_or_insert_with(String::new);
        f.clear();
        f.push_str(&fragment.to_string_lossy());
        self.runtime_dir.clone_from(runtime_dir);
        self.state_dir.clone_from(state_dir);
        self.cache_dir.clone_from(cache_dir);
        self.logs_dir.clone_from(logs_dir);
        self.config_dir.clone_from(config_dir);
        self.user_name.clone_from(user_name);
        self.uid = *uid;
        self.group_name.clone_from(group_name);
        self.gid = *gid;
        self.home.clone_from(home);
        self.shell.clone_from(shell);
        self.hostname.clone_from(hostname);
        self.machine_id.clone_from(machine_id);
        self.boot_id.clone_from(boot_id);
        self.kernel_release.clone_from(kernel_release);
        self.architecture.clone_from(architecture);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecifierError {
    #[error("unknown specifier '%{0}'")]
    Unknown(char),
    /// Only returned by [`expand_strict`]: systemd keeps a stray final '%'.
    #[error("trailing '%' without specifier")]
    Trailing,
    #[error("specifier '%{0}' is not available here")]
    Unavailable(char),
    #[error("specifier '%{0}' needs a unit with a fragment path")]
    NoFragment(char),
    #[error("specifier '%{spec}' cannot be resolved: {source}")]
    Name { spec: char, source: NameError },
    #[error("result of specifier expansion longer than {0} bytes")]
    TooLong(usize),
}

/// Which of systemd's specifier tables applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `unit_name_printf()`: names of other units (Requires= etc.): only
    /// %i %j %n %N %p, the system and the credential specifiers.
    Name,
    /// `unit_full_printf()`: everything else.
    Full,
}

/// Specifiers of `unit_name_printf()`.
const NAME_TABLE: &str = "ijnNp" /* unit */;
/// `COMMON_SYSTEM_SPECIFIERS` and `COMMON_CREDS_SPECIFIERS`, in both tables.
const COMMON: &str = "aAbBHlqmMovwW" /* system */;
const CREDS: &str = "gGuU";
/// Only in `unit_full_printf_full()`.
const FULL_ONLY: &str = "IJPfyYcrRCdELSthsTV";

impl Table {
    fn contains(self, c: char) -> bool {
        NAME_TABLE.contains(c)
            || COMMON.contains(c)
            || CREDS.contains(c)
            || (self == Table::Full && FULL_ONLY.contains(c))
    }
}

/// `unit_full_printf()`: all specifiers, result limited to LONG_LINE_MAX.
pub fn expand(s: &str, ctx: &Context) -> Result<String, SpecifierError> {
    expand_full(s, ctx, Table::Full, LONG_LINE_MAX, &|_| None, false)
}

/// `unit_path_printf()`, for paths such as an Exec*= executable: result
/// limited to PATH_MAX-1 bytes.
pub fn expand_path(s: &str, ctx: &Context) -> Result<String, SpecifierError> {
    expand_full(s, ctx, Table::Full, PATH_MAX - 1, &|_| None, false)
}

/// `unit_name_printf()`, for unit names in dependency settings.
pub fn expand_name(s: &str, ctx: &Context) -> Result<String, SpecifierError> {
    expand_full(s, ctx, Table::Name, UNIT_NAME_MAX, &|_| None, false)
}

/// [`expand`], but a stray '%' at the end is [`SpecifierError::Trailing`].
pub fn expand_strict(s: &str, ctx: &Context) -> Result<String, SpecifierError> {
    expand_full(s, ctx, Table::Full, LONG_LINE_MAX, &|_| None, true)
}

/// The general form. `extra` is asked first for every specifier of `table`
/// and may supply those this pure module cannot know (os-release ones, a
/// $TMPDIR-based %T, cgroup paths). `max_len` mirrors systemd's limit
/// (exceeding it is an error); `strict` refuses a stray final '%'.
pub fn expand_full(
    s: &str,
    ctx: &Context,
    table: Table,
    max_len: usize,
    extra: &dyn Fn(char) -> Option<String>,
    strict: bool,
) -> Result<String, SpecifierError> {
    let mut unit: Option<Result<UnitName, NameError>> = None;
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
        } else {
            match chars.next() {
                None if strict => return Err(SpecifierError::Trailing),
                None | Some('%') => out.push('%'),
                Some(k) if table.contains(k) => match extra(k) {
                    Some(v) => out.push_str(&v),
                    None => {
                        let parsed = unit.get_or_insert_with(|| name::parse(&ctx.unit));
                        out.push_str(&resolve(k, ctx, parsed)?);
                    }
                },
                Some(k) if k.is_ascii_alphanumeric() => return Err(SpecifierError::Unknown(k)),
                Some(k) => {
                    out.push('%');
                    out.push(k);
                }
            }
        }
        // Checked after every step, like systemd, so an over-long result
        // is reported before a later unknown specifier.
        if out.len() > max_len {
            return Err(SpecifierError::TooLong(max_len));
        }
    }
    Ok(out)
}

/// One built-in specifier. `unit` is the parsed `ctx.unit`; only the
/// specifiers derived from the name need it to be valid.
fn resolve(
    k: char,
    ctx: &Context,
    unit: &Result<UnitName, NameError>,
) -> Result<String, SpecifierError> {
    let u = || {
        unit.as_ref().map_err(|e| SpecifierError::Name {
            spec: k,
            source: e.clone(),
        })
    };
    let unesc =
        |s: &str| name::unescape(s).map_err(|source| SpecifierError::Name { spec: k, source });
    let path_unesc =
        |s: &str| name::unescape_path(s).map_err(|source| SpecifierError::Name { spec: k, source });
    let fragment = || {
        ctx.fragment_path
            .clone()
            .ok_or(SpecifierError::NoFragment(k))
    };
    Ok(match k {
        'n' => ctx.unit.clone(),
        // unit_name_to_prefix_and_instance(): everything before the last '.'.
        'N' => {
            let u = u()?;
            format!(
                "{}{}",
                u.prefix,
                u.instance
                    .as_ref()
                    .map(|i| format!("@{i}"))
                    .unwrap_or_default()
            )
        }
        'p' => u()?.prefix.clone(),
        'P' => unesc(&u()?.prefix)?,
        'i' => u()?.instance.clone().unwrap_or_default(),
        'I' => unesc(u()?.instance.as_deref().unwrap_or(""))?,
        'j' => last_component(&u()?.prefix).to_owned(),
        'J' => unesc(last_component(&u()?.prefix))?,
        'f' => {
            let u = u()?;
            match &u.instance {
                Some(i) => path_unesc(i)?,
                // unit_name_to_path() refuses hashed (over-long) names.
                None if name::is_hashed(u) => {
                    return Err(SpecifierError::Name {
                        spec: k,
                        source: NameError::InvalidPath(u.prefix.clone()),
                    })
                }
                None => path_unesc(&u.prefix)?,
            }
        }
        'y' => fragment()?,
        'Y' => directory_of(&fragment()?).ok_or_else(|| SpecifierError::Name {
            spec: k,
            source: NameError::InvalidPath(ctx.fragment_path.clone().unwrap_or_default()),
        })?,
        'C' => ctx.cache_dir.clone(),
        'd' => format!("{}/credentials/{}", ctx.runtime_dir, ctx.unit),
        'E' => ctx.config_dir.clone(),
        'L' => ctx.logs_dir.clone(),
        'S' => ctx.state_dir.clone(),
        't' => ctx.runtime_dir.clone(),
        'h' => ctx.home.clone(),
        's' => ctx.shell.clone(),
        'a' => ctx.architecture.clone(),
        'b' => ctx.boot_id.clone(),
        'H' => ctx.hostname.clone(),
        'l' | 'q' => short_hostname(&ctx.hostname).to_owned(),
        'm' => ctx.machine_id.clone(),
        'v' => ctx.kernel_release.clone(),
        'g' => ctx.group_name.clone(),
        'G' => ctx.gid.to_string(),
        'u' => ctx.user_name.clone(),
        'U' => ctx.uid.to_string(),
        'T' => "/tmp".to_owned(),
        'V' => "/var/tmp".to_owned(),
        _ => return Err(SpecifierError::Unavailable(k)),
    })
}

/// `specifier_last_component()`: the prefix after its last '-', or the
/// whole prefix. (systemd asserts on %J for a prefix ending in '-'; we
/// return "".)
fn last_component(prefix: &str) -> &str {
    prefix.rsplit_once('-').map_or(prefix, |(_, last)| last)
}

/// `gethostname_short_malloc()`: up to the first '.'.
fn short_hostname(h: &str) -> &str {
    h.split_once('.').map_or(h, |(short, _)| short)
}

/// `path_extract_directory()` for %Y: "/a/b/c" -> "/a/b", "/c" -> "/";
/// `None` for a bare file name, "/" or a path ending in "..".
fn directory_of(path: &str) -> Option<String> {
    let simplified = name::path_simplify(path);
    let (dir, file) = simplified.rsplit_once('/')?;
    if file.is_empty() || file == "." || file == ".." {
        return None;
    }
    Some(if dir.is_empty() {
        "/".to_owned()
    } else {
        dir.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_unit_leaves_nothing_of_what_the_context_held() {
        let base = ctx("a.service");
        let mut scratch = Context {
            unit: "old@x.service".into(),
            fragment_path: None,
            uid: 7,
            gid: 9,
            hostname: "a-much-longer-old-host-name".into(),
            ..Context::default()
        };
        for unit in ["b.service", "getty@tty1.service"] {
            let path = format!("/etc/cairn/{unit}");
            scratch.for_unit(&base, unit, std::path::Path::new(&path));
            let mut want = base.clone();
            want.unit = unit.into();
            want.fragment_path = Some(path);
            assert_eq!(scratch, want);
        }
    }

    /// The system-mode context `systemd-analyze verify` used on the test
    /// machine (hostname "vm").
    fn ctx(unit: &str) -> Context {
        Context {
            unit: unit.to_owned(),
            fragment_path: Some(format!("/tmp/helperA/units/{unit}")),
            runtime_dir: "/run".into(),
            state_dir: "/var/lib".into(),
            cache_dir: "/var/cache".into(),
            logs_dir: "/var/log".into(),
            config_dir: "/etc".into(),
            user_name: "root".into(),
            uid: 0,
            group_name: "root".into(),
            gid: 0,
            home: "/root".into(),
            shell: "/bin/bash".into(),
            hostname: "vm".into(),
            machine_id: "3d1219c7c4c5404aaa1f6d2a48adfda4".into(),
            boot_id: "decc4bdb95074da7af71b2dcd580cbc8".into(),
            kernel_release: "6.18.44-fc-v657".into(),
            architecture: "x86-64".into(),
        }
    }

    #[test]
    fn matches_systemd_analyze_verify() {
        // `systemd-analyze verify` (252.39) echoed the expanded ExecStart=
        // path of a unit "a-b-c@x\x2dy-z.service" in its error message.
        let c = ctx(r"a-b-c@x\x2dy-z.service");
        let input = "/nonexist/n=%n/N=%N/p=%p/P=%P/i=%i/I=%I/j=%j/J=%J/f=%f/y=%y/Y=%Y/\
                     t=%t/S=%S/C=%C/L=%L/E=%E/T=%T/V=%V/h=%h/u=%u/U=%U/g=%g/G=%G/s=%s/d=%d/\
                     l=%l/pct=%%/dash=%-/end%";
        let want = r"/nonexist/n=a-b-c@x\x2dy-z.service/N=a-b-c@x\x2dy-z/p=a-b-c/P=a/b/c/i=x\x2dy-z/I=x-y/z/j=c/J=c/f=/x-y/z/y=/tmp/helperA/units/a-b-c@x\x2dy-z.service/Y=/tmp/helperA/units/t=/run/S=/var/lib/C=/var/cache/L=/var/log/E=/etc/T=/tmp/V=/var/tmp/h=/root/u=root/U=0/g=root/G=0/s=/bin/bash/d=/run/credentials/a-b-c@x\x2dy-z.service/l=vm/pct=%/dash=%-/end%";
        assert_eq!(expand(input, &c).unwrap(), want);

        let c = ctx(r"foo-bar\x2dbaz.service");
        let input = "/nonexist/i=%i/I=%I/j=%j/J=%J/f=%f/N=%N/P=%P/H=%H/q=%q/a=%a/v=%v/m=%m/b=%b/x";
        let want = r"/nonexist/i=/I=/j=bar\x2dbaz/J=bar-baz/f=/foo/bar-baz/N=foo-bar\x2dbaz/P=foo/bar-baz/H=vm/q=vm/a=x86-64/v=6.18.44-fc-v657/m=3d1219c7c4c5404aaa1f6d2a48adfda4/b=decc4bdb95074da7af71b2dcd580cbc8/x";
        assert_eq!(expand(input, &c).unwrap(), want);

        // "Failed to resolve unit specifiers in %Z: Invalid slot".
        assert_eq!(expand("%Z", &c), Err(SpecifierError::Unknown('Z')));
        // "Failed to resolve unit specifiers in '/nonexist/%f/x': Invalid
        // argument": "a--b" unescapes to "/a//b", which is not normalized.
        assert!(matches!(
            expand("/nonexist/%f/x", &ctx("y@a--b.service")),
            Err(SpecifierError::Name { spec: 'f', .. })
        ));
    }

    #[test]
    fn percent_rules() {
        let c = ctx("x.service");
        assert_eq!(expand("", &c).unwrap(), "");
        assert_eq!(expand("100%", &c).unwrap(), "100%");
        assert_eq!(expand("%", &c).unwrap(), "%");
        assert_eq!(expand("%%%%", &c).unwrap(), "%%");
        assert_eq!(expand("%%n", &c).unwrap(), "%n");
        assert_eq!(expand("% %/%\u{e9}%.", &c).unwrap(), "% %/%\u{e9}%.");
        assert_eq!(expand("%i|%I|%j", &c).unwrap(), "||x");
        assert_eq!(expand_strict("a%", &c), Err(SpecifierError::Trailing));
        assert_eq!(expand_strict("a%%", &c).unwrap(), "a%");
        for k in ['Z', 'k', 'x', '0', '9', 'D', 'e'] {
            assert_eq!(
                expand(&format!("a%{k}"), &c),
                Err(SpecifierError::Unknown(k))
            );
        }
        assert_eq!(
            expand("%Z", &c).unwrap_err().to_string(),
            "unknown specifier '%Z'"
        );
    }

    #[test]
    fn tables_and_limits() {
        let c = ctx("foo@bar.service");
        // unit_name_printf() has no unescaping or directory specifiers.
        assert_eq!(
            expand_name("dep@%i.service", &c).unwrap(),
            "dep@bar.service"
        );
        assert_eq!(
            expand_name("%u-%H-%n", &c).unwrap(),
            "root-vm-foo@bar.service"
        );
        for k in ['I', 'P', 'f', 't', 'h', 'T'] {
            assert_eq!(
                expand_name(&format!("%{k}"), &c),
                Err(SpecifierError::Unknown(k))
            );
        }
        let long = "a".repeat(300);
        assert_eq!(
            expand_name(&long, &c),
            Err(SpecifierError::TooLong(UNIT_NAME_MAX))
        );
        assert_eq!(
            expand_path(&"a".repeat(4095), &c).map(|s| s.len()),
            Ok(4095)
        );
        assert_eq!(
            expand_path(&"a".repeat(4096), &c),
            Err(SpecifierError::TooLong(4095))
        );
        // The length error wins over a later unknown specifier.
        let late = format!("{}%Z", "a".repeat(4096));
        assert_eq!(expand_path(&late, &c), Err(SpecifierError::TooLong(4095)));
        assert_eq!(
            expand(&"%%".repeat(LONG_LINE_MAX / 2), &c).map(|s| s.len()),
            Ok(LONG_LINE_MAX / 2)
        );
    }

    #[test]
    fn missing_information() {
        let mut c = ctx("foo.service");
        c.fragment_path = None;
        assert_eq!(expand("%y", &c), Err(SpecifierError::NoFragment('y')));
        assert_eq!(expand("%Y", &c), Err(SpecifierError::NoFragment('Y')));
        for k in ['A', 'B', 'M', 'o', 'w', 'W', 'c', 'r', 'R'] {
            assert_eq!(
                expand(&format!("%{k}"), &c),
                Err(SpecifierError::Unavailable(k))
            );
        }
        let os = |k: char| match k {
            'o' => Some("debian".to_owned()),
            'w' => Some("12".to_owned()),
            'T' => Some("/scratch".to_owned()),
            _ => None,
        };
        let got = expand_full("%o-%w %T %V", &c, Table::Full, 100, &os, false);
        assert_eq!(got.unwrap(), "debian-12 /scratch /var/tmp");
        // A name that does not parse only breaks the name-derived ones.
        c.unit = "not a unit".into();
        assert_eq!(expand("%n %H", &c).unwrap(), "not a unit vm");
        assert!(matches!(
            expand("%p", &c),
            Err(SpecifierError::Name { spec: 'p', .. })
        ));
    }

    #[test]
    fn derived_names() {
        let c = ctx(r"-.mount");
        assert_eq!(expand("%p %P %f %j", &c).unwrap(), "- / / ");
        let c = ctx("foo@.service");
        assert_eq!(expand("%N %i", &c).unwrap(), "foo@ ");
        assert!(expand("%f", &c).is_err(), "empty instance is not a path");
        let c = ctx("a-b-.service");
        assert_eq!(expand("[%j][%J]", &c).unwrap(), "[][]");
        let c = ctx("very-long_0123456789abcdef.mount");
        assert!(expand("%f", &c).is_err(), "hashed names have no path");
        assert_eq!(directory_of("/c").as_deref(), Some("/"));
        assert_eq!(directory_of("//a//b/").as_deref(), Some("/a"));
        assert_eq!(directory_of("c"), None);
        assert_eq!(directory_of("/"), None);
        assert_eq!(directory_of("/a/.."), None);
    }

    #[test]
    fn garbage_never_panics() {
        let c = ctx("x@y.service");
        let bits = [
            "%", "%%", "%\u{e9}", "\0", "%\0", "%Z", "a", "\\", "%f", "%J", "%y", "%Y",
        ];
        for a in bits {
            for b in bits {
                for d in bits {
                    let s = format!("{a}{b}{d}");
                    let _ = expand(&s, &c);
                    let _ = expand_name(&s, &c);
                    let _ = expand_strict(&s, &c);
                    let _ = expand(&s, &Context::default());
                }
            }
        }
    }
}

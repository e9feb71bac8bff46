//! Exec*= command lines, ported from systemd 252's `config_parse_exec()`
//! (src/core/load-fragment.c) and `replace_env_argv()`
//! (src/basic/env-util.c); see systemd.service(5) "COMMAND LINES".
//!
//! Behaviour kept from systemd:
//! * words are split by `extract_first_word(EXTRACT_UNQUOTE|
//!   EXTRACT_CUNESCAPE)`; quotes may start mid-word (`a"b c"` is `ab c`,
//!   although systemd.syntax(7) describes quotes as whole-word only);
//! * an unquoted lone `;` word separates commands, `\;` is a literal `;`
//!   argument, and a quoted `";"` is a literal argument (but a separator
//!   if it is the first word of a command);
//! * prefixes `-`, `@`, `:` once each, plus one of `+`, `!`, `!!`, in any
//!   order; a repeated or conflicting prefix character ends the prefix and
//!   becomes part of the executable name;
//! * the executable must be an absolute path or a bare file name: systemd
//!   252 searches bare names at exec time in `ExecSearchPath=` or, by
//!   default, [`DEFAULT_SEARCH_PATH`]; `path` keeps the bare name. `path`
//!   is simplified ("//bin/./x" -> "/bin/x"); `argv[0]` keeps the original.
//!
//! Field mapping: `'!'` sets `no_setuid` (systemd's EXEC_COMMAND_NO_SETUID:
//! User=/Group= not applied) and `'!!'` sets `ambient`
//! (EXEC_COMMAND_AMBIENT_MAGIC), as systemd.service(5) documents.
//!
//! Deliberate differences: see [`parse`] (strict) versus [`parse_detailed`]
//! (exact); an argument whose escapes produce bytes that are not UTF-8 is
//! an error (systemd passes the raw bytes), and so is a NUL byte.

use std::collections::BTreeMap;

use super::name::{filename_is_valid, path_is_valid, path_simplify};
use super::specifier::{self, Context, SpecifierError};
use super::values::{
    extract_first_word, is_ws, skip_ws, snippet, split_words_with, string_is_safe, strip, tail,
    ExtractFail, ExtractFlags,
};

/// The search path a Debian-built systemd 252 uses for bare executable
/// names (`DEFAULT_PATH` with split /usr, as `systemd-path
/// search-binaries-default` prints).
pub const DEFAULT_SEARCH_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCommand {
    /// Absolute and simplified, or a bare name to search for.
    pub path: String,
    pub argv: Vec<String>,
    /// '-': a failure exit status is recorded but ignored.
    pub ignore_failure: bool,
    /// '@': `argv[0]` is the second word instead of the executable.
    pub argv0_given: bool,
    /// '+': run with full privileges, no sandboxing.
    pub full_privileges: bool,
    /// ':': no environment variable substitution.
    pub no_env_expand: bool,
    /// '!!': like '!' but only on systems without ambient capabilities.
    pub ambient: bool,
    /// '!': sandboxing applies, but User=/Group= credentials are not.
    pub no_setuid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("no command in command line")]
    Empty,
    #[error("empty path in command line {0:?}")]
    EmptyPath(String),
    #[error("unbalanced quoting in {0:?}")]
    UnbalancedQuote(String),
    #[error("unknown escape sequence in {0:?}")]
    BadEscape(String),
    #[error("executable name contains special characters: {0:?}")]
    UnsafePath(String),
    #[error("executable path specifies a directory: {0:?}")]
    Directory(String),
    #[error("neither a valid executable name nor an absolute path: {0:?}")]
    InvalidPath(String),
    #[error("bad prefix combination in {0:?}")]
    BadPrefix(String),
    #[error("empty executable name or zeroeth argument in {0:?}")]
    NoArgv0(String),
    #[error("nul byte in command line")]
    NulByte,
    #[error("argument is not valid utf-8 after unescaping: {0:?}")]
    InvalidUtf8(String),
    #[error("failed to resolve specifiers in {word:?}: {source}")]
    Specifier {
        word: String,
        source: SpecifierError,
    },
}

/// Everything systemd does with one Exec*= value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecParse {
    /// Commands parsed before any error; systemd keeps them even when a
    /// later command on the same line fails.
    pub commands: Vec<ExecCommand>,
    /// Words whose unknown escapes were kept verbatim (`\q` stays `\q`),
    /// each as [`ExecError::BadEscape`]; systemd logs and accepts them.
    pub warnings: Vec<ExecError>,
    /// The error that stopped parsing, if any.
    pub error: Option<ExecError>,
    /// Whether systemd would fail to load the unit because of `error`
    /// (it returns -ENOEXEC). False when the failing command had the '-'
    /// prefix, or when the first word itself could not be split: then
    /// systemd only logs and ignores the rest of the line.
    pub fatal: bool,
}

/// `extract_first_word_and_warn()`: on failure, retry with
/// EXTRACT_UNESCAPE_RELAX; success then means unknown escapes (a warning),
/// failure means unbalanced quotes.
fn next_word(
    b: &[u8],
    pos: &mut Option<usize>,
    value: &str,
    warnings: &mut Vec<ExecError>,
) -> Result<Option<String>, ExecError> {
    let save = *pos;
    let word = match extract_first_word(b, pos, ExtractFlags::UNQUOTE_CUNESCAPE) {
        Ok(w) => w,
        Err(ExtractFail::Escape | ExtractFail::Quote) => {
            *pos = save;
            let relaxed = ExtractFlags {
                unescape_relax: true,
                ..ExtractFlags::UNQUOTE_CUNESCAPE
            };
            match extract_first_word(b, pos, relaxed) {
                Ok(w) => {
                    if let Some(w) = &w {
                        let lossy = String::from_utf8_lossy(w);
                        warnings.push(ExecError::BadEscape(snippet(&lossy)));
                    }
                    w
                }
                Err(_) => return Err(ExecError::UnbalancedQuote(snippet(value))),
            }
        }
    };
    word.map(|w| {
        String::from_utf8(w)
            .map_err(|e| ExecError::InvalidUtf8(snippet(&String::from_utf8_lossy(e.as_bytes()))))
    })
    .transpose()
}

/// Parses one Exec*= value exactly as systemd 252 does, resolving
/// specifiers in each word when `ctx` is given (the executable with
/// `unit_path_printf()`, arguments with `unit_full_printf()`); without
/// `ctx` words are kept verbatim. An empty (blank) value gives no commands
/// and no error: for systemd that resets the list.
pub fn parse_detailed(value: &str, ctx: Option<&Context>) -> ExecParse {
    let mut out = ExecParse::default();
    if value.as_bytes().contains(&0) {
        out.error = Some(ExecError::NulByte);
        out.fatal = true;
        return out;
    }
    if let Err((error, fatal)) = parse_into(value, ctx, &mut out) {
        out.error = Some(error);
        out.fatal = fatal;
    }
    out
}

/// The body of `config_parse_exec()`; errors carry whether they are fatal.
fn parse_into(
    value: &str,
    ctx: Option<&Context>,
    out: &mut ExecParse,
) -> Result<(), (ExecError, bool)> {
    let b = value.as_bytes();
    let mut pos = Some(0);
    loop {
        let first = match next_word(b, &mut pos, value, &mut out.warnings) {
            Ok(Some(w)) => w,
            Ok(None) => return Ok(()),
            // The first word failing is logged but never fatal.
            Err(e) => return Err((e, false)),
        };
        if first == ";" {
            continue;
        }
        let mut cmd = ExecCommand::default();
        let mut rest = first.as_str();
        loop {
            let flags = (cmd.full_privileges, cmd.no_setuid, cmd.ambient);
            match rest.chars().next() {
                Some('-') if !cmd.ignore_failure => cmd.ignore_failure = true,
                Some('@') if !cmd.argv0_given => cmd.argv0_given = true,
                Some(':') if !cmd.no_env_expand => cmd.no_env_expand = true,
                Some('+') if flags == (false, false, false) => cmd.full_privileges = true,
                Some('!') if flags == (false, false, false) => cmd.no_setuid = true,
                Some('!') if flags == (false, true, false) => {
                    cmd.no_setuid = false;
                    cmd.ambient = true;
                }
                _ => break,
            }
            rest = rest.get(1..).unwrap_or("");
        }
        // From here on, '-' turns every error into a logged warning.
        let fatal = !cmd.ignore_failure;
        let path = match ctx {
            Some(ctx) => specifier::expand_path(rest, ctx).map_err(|source| {
                let word = snippet(rest);
                (ExecError::Specifier { word, source }, fatal)
            })?,
            None => rest.to_owned(),
        };
        check_path(&path, value).map_err(|e| (e, fatal))?;
        if !cmd.argv0_given {
            cmd.argv.push(path.clone());
        }
        cmd.path = path_simplify(&path);
        let mut semicolon = false;
        while let Some(p) = pos.filter(|&p| p < b.len()) {
            let at = |i: usize| b.get(i).copied();
            let word_end = |i: usize| at(i).is_none_or(is_ws);
            if at(p) == Some(b';') && word_end(p + 1) {
                pos = Some(skip_ws(b, p + 1));
                semicolon = true;
                break;
            }
            // Checked on the raw text so that "\\;" or "\;x" stay words.
            if tail(b, p).starts_with(b"\\;") && word_end(p + 2) {
                pos = Some(skip_ws(b, p + 2));
                cmd.argv.push(";".to_owned());
                continue;
            }
            let word = match next_word(b, &mut pos, value, &mut out.warnings) {
                Ok(Some(w)) => w,
                Ok(None) => break,
                Err(e) => return Err((e, fatal)),
            };
            let word = match ctx {
                Some(ctx) => specifier::expand(&word, ctx).map_err(|source| {
                    let word = snippet(&word);
                    (ExecError::Specifier { word, source }, fatal)
                })?,
                None => word,
            };
            cmd.argv.push(word);
        }
        if cmd.argv.is_empty() {
            return Err((ExecError::NoArgv0(snippet(value)), fatal));
        }
        out.commands.push(cmd);
        if !semicolon {
            return Ok(());
        }
    }
}

/// The executable checks of `config_parse_exec()`, in systemd's order.
fn check_path(path: &str, value: &str) -> Result<(), ExecError> {
    if path.is_empty() {
        // Only prefix characters ("-", "@"): report the whole value.
        return Err(ExecError::EmptyPath(snippet(value)));
    }
    if !string_is_safe(path) {
        return Err(ExecError::UnsafePath(snippet(path)));
    }
    if path.ends_with('/') {
        return Err(ExecError::Directory(snippet(path)));
    }
    let valid = if path.starts_with('/') {
        path_is_valid(path)
    } else {
        filename_is_valid(path)
    };
    if valid {
        Ok(())
    } else if path.starts_with(['-', '@', ':', '+', '!']) {
        // systemd says "neither a valid executable name nor an absolute
        // path" here too; the cause is a conflicting or repeated prefix.
        Err(ExecError::BadPrefix(snippet(path)))
    } else {
        Err(ExecError::InvalidPath(snippet(path)))
    }
}

/// Strict form of [`parse_detailed`] without specifier resolution: any
/// error, even one systemd would only log (a '-' command, a first word
/// with unbalanced quotes), and any unknown escape sequence (which systemd
/// keeps verbatim with a warning) fails the whole value. A blank value is
/// `Ok(vec![])` (systemd: reset the list); a value with no command at all,
/// such as ";", is [`ExecError::Empty`] (systemd silently does nothing).
pub fn parse(value: &str) -> Result<Vec<ExecCommand>, ExecError> {
    let parsed = parse_detailed(value, None);
    if let Some(e) = parsed.error {
        return Err(e);
    }
    if let Some(w) = parsed.warnings.into_iter().next() {
        return Err(w);
    }
    if parsed.commands.is_empty() && !strip(value).is_empty() {
        return Err(ExecError::Empty);
    }
    Ok(parsed.commands)
}

/// `strv_env_get_n()`: systemd compares against raw "KEY=VALUE" strings,
/// so a name containing '=' can match inside a value ("A=b" finds "b..."
/// of A="b=..."). An empty name never matches.
fn env_get<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    if let Some(v) = env.get(name) {
        return Some(v);
    }
    let (key, rest) = name.split_once('=')?;
    env.get(key)?.strip_prefix(rest)?.strip_prefix('=')
}

/// `replace_env(word, env, 0)`: "${NAME}" is replaced in place, "$$" is
/// "$", anything else (including "$NAME" and "${A:-b}") stays literal.
fn replace_env(word: &str, env: &BTreeMap<String, String>) -> String {
    enum State {
        Word,
        Dollar,
        Variable,
    }
    let b = word.as_bytes();
    let mut out = String::with_capacity(word.len());
    let mut state = State::Word;
    // Start of the text not yet copied; all cuts are next to ASCII bytes.
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        state = match (state, c) {
            (State::Word, b'$') => State::Dollar,
            (State::Word, _) => State::Word,
            (State::Dollar, b'{') => {
                out.push_str(word.get(start..i - 1).unwrap_or(""));
                start = i - 1;
                State::Variable
            }
            (State::Dollar, b'$') => {
                out.push_str(word.get(start..i).unwrap_or(""));
                start = i + 1;
                State::Word
            }
            (State::Dollar, _) => State::Word,
            (State::Variable, b'}') => {
                let name = word.get(start + 2..i).unwrap_or("");
                out.push_str(env_get(env, name).unwrap_or(""));
                start = i + 1;
                State::Word
            }
            // Extended "${A:-b}" syntax is off here: leave it literal.
            (State::Variable, b':') => State::Word,
            (State::Variable, _) => State::Variable,
        };
    }
    out.push_str(word.get(start..).unwrap_or(""));
    out
}

/// `replace_env_argv()`: a word "$NAME" (the whole word, not followed by
/// '{' or '$') becomes the variable's value split into words with quotes
/// respected and removed (zero words if unset or blank); every other word
/// gets `${NAME}` replaced in place without splitting, and "$$" becomes
/// "$". Unset variables are empty.
pub fn expand_env(argv: &[String], env: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    for word in argv {
        match word.strip_prefix('$') {
            Some(name) if !name.starts_with(['{', '$']) => {
                if let Some(v) = env_get(env, name) {
                    // EXTRACT_RELAX never fails; fall back to nothing.
                    out.extend(
                        split_words_with(v, ExtractFlags::RELAX_UNQUOTE).unwrap_or_default(),
                    );
                }
            }
            _ => out.push(replace_env(word, env)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected results come from systemd 252.39's own config_parse_exec()
    // and replace_env_argv(), called from a C harness linked against
    // libsystemd-core-252.so / libsystemd-shared-252.so. "flags" in the
    // comments is systemd's ExecCommandFlags value.

    fn cmd(path: &str, argv: &[&str]) -> ExecCommand {
        ExecCommand {
            path: path.into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }

    fn one(value: &str) -> ExecCommand {
        let mut v = parse(value).unwrap();
        assert_eq!(v.len(), 1, "{value}");
        v.remove(0)
    }

    #[test]
    fn splits_commands_and_quotes() {
        // result 0|cmd flags=1 path="/bin/echo" argv="/bin/echo" "a" "b c"
        // ";" "x" |cmd flags=0 path="/bin/foo" argv="bar" "baz"
        let got = parse(r#"-/bin/echo a "b c" \; x ; @/bin/foo bar baz"#).unwrap();
        let mut first = cmd("/bin/echo", &["/bin/echo", "a", "b c", ";", "x"]);
        first.ignore_failure = true;
        let mut second = cmd("/bin/foo", &["bar", "baz"]);
        second.argv0_given = true;
        assert_eq!(got, [first, second]);

        assert_eq!(one("echo hi"), cmd("echo", &["echo", "hi"]));
        assert_eq!(
            one(r#""/bin/e cho" x"#),
            cmd("/bin/e cho", &["/bin/e cho", "x"])
        );
        assert_eq!(
            one(r#"/bin/echo ";""#),
            cmd("/bin/echo", &["/bin/echo", ";"])
        );
        assert_eq!(one(r#"";" /bin/echo"#), cmd("/bin/echo", &["/bin/echo"]));
        assert_eq!(
            one(r"/bin/echo \\;"),
            cmd("/bin/echo", &["/bin/echo", r"\;"])
        );
        assert_eq!(one("/bin/echo a;"), cmd("/bin/echo", &["/bin/echo", "a;"]));
        assert_eq!(one("/bin/echo ;a"), cmd("/bin/echo", &["/bin/echo", ";a"]));
        assert_eq!(
            one("//bin//./echo x"),
            cmd("/bin/echo", &["//bin//./echo", "x"])
        );
        assert_eq!(
            one(r#"/bin/echo 'a b'c"d e""#),
            cmd("/bin/echo", &["/bin/echo", "a bcd e"])
        );
        assert_eq!(one(r#"/bin/echo """#), cmd("/bin/echo", &["/bin/echo", ""]));
        assert_eq!(
            one(r"/bin/echo \x41\101\u00e9\U0001F600\s"),
            cmd("/bin/echo", &["/bin/echo", "AA\u{e9}\u{1f600} "])
        );
        assert_eq!(one("/bin/.."), cmd("/bin/..", &["/bin/.."]));
        let two = parse("/bin/echo ; ; /bin/true").unwrap();
        assert_eq!(
            two,
            [
                cmd("/bin/echo", &["/bin/echo"]),
                cmd("/bin/true", &["/bin/true"])
            ]
        );
        // The systemd.service(5) example: five arguments.
        assert_eq!(
            one(r"echo / >/dev/null & \;   ls").argv,
            ["echo", "/", ">/dev/null", "&", ";", "ls"]
        );
    }

    #[test]
    fn prefixes() {
        let flags = |v: &str| {
            let c = one(v);
            (
                c.ignore_failure,
                c.full_privileges,
                c.no_setuid,
                c.ambient,
                c.no_env_expand,
            )
        };
        assert_eq!(flags("-/bin/false"), (true, false, false, false, false)); // flags=1
        assert_eq!(flags("+/bin/x"), (false, true, false, false, false)); // flags=2
        assert_eq!(flags("!/bin/x"), (false, false, true, false, false)); // flags=4
        assert_eq!(flags("!!/bin/x"), (false, false, false, true, false)); // flags=8
        assert_eq!(flags(":/bin/x"), (false, false, false, false, true)); // flags=16
                                                                          // flags=19 path="/bin/x" argv="arg0" "a"
        let c = one("@-:+/bin/x arg0 a");
        assert!(c.argv0_given && c.ignore_failure && c.no_env_expand && c.full_privileges);
        assert_eq!(c.path, "/bin/x");
        assert_eq!(c.argv, ["arg0", "a"]);
        // A repeated prefix ends the prefix: "+!echo" runs "!echo" (flags=2).
        assert_eq!(one("+!echo").path, "!echo");
        // No variable expansion at parse time.
        assert_eq!(one(":/bin/echo $X ${Y}").argv, ["/bin/echo", "$X", "${Y}"]);
    }

    fn err(value: &str) -> ExecError {
        parse(value).unwrap_err()
    }

    #[test]
    fn errors() {
        // "Neither a valid executable name nor an absolute path", fatal.
        for v in ["+!/bin/x", "!+/bin/x", "!!!/bin/x", "::/bin/x", "--/bin/x"] {
            assert!(matches!(err(v), ExecError::BadPrefix(_)), "{v}");
        }
        for v in ["bin/echo", "..", "."] {
            assert!(matches!(err(v), ExecError::InvalidPath(_)), "{v}");
        }
        assert!(matches!(err("/bin/"), ExecError::Directory(_)));
        assert!(matches!(err(r#"/bin/ec\"ho"#), ExecError::UnsafePath(_)));
        assert!(matches!(err(r"echo\ttab"), ExecError::UnsafePath(_)));
        assert!(matches!(err("@/bin/echo"), ExecError::NoArgv0(_)));
        assert!(matches!(err("-"), ExecError::EmptyPath(_)));
        assert!(matches!(err("@"), ExecError::EmptyPath(_)));
        assert!(matches!(
            err(r#"/bin/echo "unbalanced"#),
            ExecError::UnbalancedQuote(_)
        ));
        assert!(matches!(
            err(r#"/bin/echo "a\"#),
            ExecError::UnbalancedQuote(_)
        ));
        assert!(matches!(err(r"/bin/echo \q"), ExecError::BadEscape(_)));
        assert!(matches!(err(";"), ExecError::Empty));
        assert!(matches!(err("; ;"), ExecError::Empty));
        assert!(matches!(err("/bin/echo \0"), ExecError::NulByte));
        // systemd passes these raw bytes on; a String cannot hold them.
        assert!(matches!(err(r"/bin/echo \xff"), ExecError::InvalidUtf8(_)));
        assert!(matches!(
            err(r"/bin/echo \ud800"),
            ExecError::InvalidUtf8(_)
        ));
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("  "), Ok(vec![]));
        let long = format!("/{}x", "a/".repeat(2100));
        assert!(matches!(err(&long), ExecError::InvalidPath(_)));
        assert_eq!(
            err("bin/echo").to_string(),
            "neither a valid executable name nor an absolute path: \"bin/echo\""
        );
    }

    #[test]
    fn detailed_matches_systemd() {
        let d = parse_detailed;
        // "Ignoring unknown escape sequences", kept verbatim: "\\q".
        let r = d(r"/bin/echo \q", None);
        assert_eq!(r.commands[0].argv, ["/bin/echo", r"\q"]);
        assert_eq!(r.warnings, [ExecError::BadEscape(r"\q".into())]);
        assert_eq!((r.error, r.fatal), (None, false));
        let r = d(r"/bin/echo '\x00' a\", None);
        assert_eq!(r.commands[0].argv, ["/bin/echo", r"\x00", r"a\"]);
        assert_eq!(r.warnings.len(), 2);
        let r = d(r#"/bin/echo \;x \; ";""#, None);
        assert_eq!(r.commands[0].argv, ["/bin/echo", r"\;x", ";", ";"]);
        // result -8 (ENOEXEC) with the first command kept.
        let r = d(r#"/bin/a ; /bin/b "x"#, None);
        assert_eq!(r.commands, [cmd("/bin/a", &["/bin/a"])]);
        assert!(matches!(r.error, Some(ExecError::UnbalancedQuote(_))) && r.fatal);
        // result 0: the failing command had '-'.
        let r = d(r#"/bin/a ; -/bin/b "x"#, None);
        assert_eq!(r.commands.len(), 1);
        assert!(r.error.is_some() && !r.fatal);
        for (v, fatal) in [
            (r#"-/bin/echo "unbalanced"#, false),
            (r#""unbalanced"#, false), // the first word: logged only
            ("--/bin/x", false),
            ("-", false),
            ("@", true),
            ("+!/bin/x", true),
            ("/bin/", true),
            ("@/bin/echo", true),
        ] {
            let r = d(v, None);
            assert!(r.commands.is_empty() && r.error.is_some(), "{v}");
            assert_eq!(r.fatal, fatal, "{v}");
        }
        assert_eq!(d(";", None), ExecParse::default());
    }

    #[test]
    fn specifiers_resolved_per_word() {
        let ctx = Context {
            unit: r"web@a\x20b.service".into(),
            home: "/root".into(),
            ..Default::default()
        };
        let r = parse_detailed("-%h/bin/run %I %i '%%' 100%", Some(&ctx));
        let c = &r.commands[0];
        assert_eq!(c.path, "/root/bin/run");
        // %I stays one argument even though it contains a space.
        assert_eq!(c.argv, ["/root/bin/run", "a b", r"a\x20b", "%", "100%"]);
        let r = parse_detailed("/bin/echo %Z", Some(&ctx));
        assert!(matches!(r.error, Some(ExecError::Specifier { .. })) && r.fatal);
        let r = parse_detailed("-/bin/%Z", Some(&ctx));
        assert!(r.error.is_some() && !r.fatal);
        // Without a context '%' is just a character.
        assert_eq!(one("/bin/echo %Z").argv, ["/bin/echo", "%Z"]);
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expand(argv: &[&str], e: &BTreeMap<String, String>) -> Vec<String> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        expand_env(&argv, e)
    }

    #[test]
    fn env_expansion_man_page_examples() {
        // systemd.service(5): Environment="ONE=one" 'TWO=two two'
        // ExecStart=echo $ONE $TWO ${TWO} -> "one", "two", "two", "two two".
        let e = env(&[("ONE", "one"), ("TWO", "two two")]);
        assert_eq!(
            expand(&["echo", "$ONE", "$TWO", "${TWO}"], &e),
            ["echo", "one", "two", "two", "two two"]
        );
        // Environment=ONE='one' "TWO='two two' too" THREE=
        let e = env(&[("ONE", "'one'"), ("TWO", "'two two' too"), ("THREE", "")]);
        assert_eq!(
            expand(&["/bin/echo", "${ONE}", "${TWO}", "${THREE}"], &e),
            ["/bin/echo", "'one'", "'two two' too", ""]
        );
        assert_eq!(
            expand(&["/bin/echo", "$ONE", "$TWO", "$THREE"], &e),
            ["/bin/echo", "one", "two two", "too"]
        );
    }

    #[test]
    fn env_expansion_edge_cases() {
        // replace_env_argv() of systemd 252.39.
        let e = env(&[
            ("A", "x y"),
            ("AB", "z"),
            ("B", "=q"),
            ("Q", r#""a b" c\ d 'e"#),
        ]);
        let cases: &[(&str, &[&str])] = &[
            ("$$", &["$"]),
            ("$$A", &["$A"]),
            ("a$$b", &["a$b"]),
            ("$${A}", &["${A}"]),
            ("$", &[]),
            ("$UNSET", &[]),
            ("${UNSET}", &[""]),
            ("${}", &[""]),
            ("$A", &["x", "y"]),
            ("${A}", &["x y"]),
            ("a${A}b${AB}", &["ax ybz"]),
            ("a$A", &["a$A"]),
            ("${A", &["${A"]),
            ("${A:-d}", &["${A:-d}"]),
            ("${A}$A", &["x y$A"]),
            ("$A-x", &[]),
            ("$Q", &["a b", "c d", "e"]),
            ("$A=y", &[]),
            ("$B", &["=q"]),
            ("${B}", &["=q"]),
            ("x$", &["x$"]),
            ("$$$", &["$$"]),
        ];
        for (word, want) in cases {
            assert_eq!(expand(&[word], &e), *want, "{word:?}");
        }
        // A name with '=' matches inside a value, like systemd's raw
        // "KEY=VALUE" comparison: A="x=1 2" makes "${A=x}" "1 2".
        let e = env(&[("A", "x=1 2")]);
        assert_eq!(expand(&["${A=x}", "$A=x"], &e), ["1 2", "1", "2"]);
        assert_eq!(expand(&[], &e), Vec::<String>::new());
    }

    #[test]
    fn garbage_never_panics() {
        let bits = [
            "", " ", ";", "\\;", "\\", "\"", "'", "-", "@", "!", "+", ":", "/", "%", "$", "${",
            "}", "\\x", "\\u", "\0", "\u{e9}", "\\\n", "/bin/x",
        ];
        let ctx = Context::default();
        let e = env(&[("A", "\"'\\"), ("", "x")]);
        for a in bits {
            for b in bits {
                for c in bits {
                    let s = format!("{a}{b}{c}");
                    let _ = parse(&s);
                    let _ = parse_detailed(&s, Some(&ctx));
                    let _ = expand_env(&[s.clone(), format!("${s}")], &e);
                }
            }
        }
        let huge = format!("/bin/echo {}", "\\x41".repeat(300_000));
        assert_eq!(one(&huge).argv[1].len(), 300_000);
    }
}

//! The INI-like file syntax of systemd.syntax(7), as implemented by systemd
//! 252's `config_parse()` and `parse_line()` (src/shared/conf-parser.c) on
//! top of `read_line()` (src/basic/fileio.c).
//!
//! Behaviour kept from systemd, some of it surprising:
//! * lines end at "\n", "\r", "\r\n", "\n\r" or NUL (each marker at most
//!   once per line end, and a NUL always ends it);
//! * trimming only removes " \t\n\r"; a line is a comment if its first
//!   non-blank character is '#' or ';', and that is checked on each
//!   physical line *before* continuations, so comment lines inside a
//!   continuation are skipped and a comment never continues;
//! * a line ending in an odd number of backslashes continues: the last
//!   backslash becomes a space and the next line is appended untrimmed;
//!   a continuation still open at the end of the file is used as is;
//! * a UTF-8 byte order mark is stripped once, from the first line that
//!   starts with one (and only after the comment check);
//! * `[Name]` is a section header; the name is taken verbatim between the
//!   brackets (so `[ A ]` is " A "); "key=value" splits at the first '='.
//!
//! Deliberate differences from systemd 252, which refuses to load the whole
//! unit (the file fails to parse) in these cases:
//! * a line of LONG_LINE_MAX bytes or more, or a continuation growing past
//!   it: here a warning naming the line, and only that entry is dropped;
//! * an invalid section header ("[Service", "[a\"b]"): here a warning, and
//!   the entries up to the next valid header are ignored silently (as for
//!   an unknown section in systemd);
//! * `Entry::line` is the line where the entry starts; systemd reports the
//!   last line of a continued entry (one past it for a continuation still
//!   open at the end of the file).
//!
//! Further: "[]" (systemd: unknown section '') is a warning and its entries
//! are ignored; all other sections, including unknown and "X-" ones, are
//! kept for the caller to judge. [`parse_bytes`] takes raw file contents;
//! a non-comment line that is not UTF-8 is a warning and its entry is
//! ignored (systemd fails the whole file).

use super::values::{skip_ws, snippet, string_is_safe, strip};

/// `LONG_LINE_MAX` of src/basic/fileio.h: 1 MiB.
pub const LONG_LINE_MAX: usize = 1024 * 1024;

const BOM: &str = "\u{feff}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// 1-based line where the entry starts.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFile {
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

impl UnitFile {
    /// All sections called `name`, in file order (sections may repeat).
    pub fn section(&self, name: &str) -> impl Iterator<Item = &Section> {
        let name = name.to_owned();
        self.sections.iter().filter(move |s| s.name == name)
    }

    /// All entries `key` of all sections `section`, in file order.
    pub fn get<'a>(&'a self, section: &str, key: &str) -> impl Iterator<Item = &'a Entry> {
        let key = key.to_owned();
        self.section(section)
            .flat_map(|s| s.entries.iter())
            .filter(move |e| e.key == key)
    }
}

/// Splits like `read_line()`: content of each line without its terminator.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let b = self.rest;
        let end = b
            .iter()
            .position(|c| matches!(c, b'\n' | b'\r' | 0))
            .unwrap_or(b.len());
        // A line end is a run of markers with no marker repeated, and
        // nothing may follow a NUL ("\n\n" is two lines, "\r\n" one).
        let (mut seen_nl, mut seen_cr, mut j) = (false, false, end);
        while let Some(&c) = b.get(j) {
            match c {
                b'\n' if !seen_nl => seen_nl = true,
                b'\r' if !seen_cr => seen_cr = true,
                0 => {
                    j += 1;
                    break;
                }
                _ => break,
            }
            j += 1;
        }
        self.rest = b.get(j..).unwrap_or(&[]);
        b.get(..end)
    }
}

/// Whether `s` ends in an odd number of backslashes, i.e. whether
/// conf-parser's `escaped` flag is set at the end of the line.
fn continues(s: &[u8]) -> bool {
    s.iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// The comment test of `config_parse()`, done on the raw physical line.
fn is_comment(s: &[u8]) -> bool {
    matches!(s.get(skip_ws(s, 0)), Some(b'#' | b';'))
}

#[derive(Default)]
struct Parser {
    file: UnitFile,
    warnings: Vec<Warning>,
    /// Index of the current section; `None` before the first header or
    /// after an invalid one.
    current: Option<usize>,
    /// After an invalid header, entries are dropped without warnings.
    ignoring: bool,
}

impl Parser {
    fn warn(&mut self, line: usize, message: String) {
        self.warnings.push(Warning { line, message });
    }

    /// `parse_line()` for one logical line starting at `line`.
    fn logical_line(&mut self, text: &str, line: usize) {
        let l = strip(text);
        if l.is_empty() {
            return;
        }
        if l.starts_with('[') {
            self.header(l, line);
            return;
        }
        let Some(index) = self.current else {
            if !self.ignoring {
                self.warn(line, "assignment outside of section, ignoring".to_owned());
            }
            return;
        };
        match l.split_once('=') {
            None => self.warn(line, "missing '=', ignoring line".to_owned()),
            Some(("", _)) => self.warn(
                line,
                "missing key name before '=', ignoring line".to_owned(),
            ),
            Some((key, value)) => {
                if let Some(section) = self.file.sections.get_mut(index) {
                    section.entries.push(Entry {
                        key: strip(key).to_owned(),
                        value: strip(value).to_owned(),
                        line,
                    });
                }
            }
        }
    }

    fn header(&mut self, l: &str, line: usize) {
        let problem = match l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            None => "invalid section header",
            Some(name) if !string_is_safe(name) => "bad characters in section header",
            Some("") => "empty section name",
            Some(name) => {
                self.file.sections.push(Section {
                    name: name.to_owned(),
                    line,
                    entries: Vec::new(),
                });
                self.current = Some(self.file.sections.len() - 1);
                self.ignoring = false;
                return;
            }
        };
        self.warn(
            line,
            format!("{problem} {:?}, ignoring section", snippet(l)),
        );
        self.current = None;
        self.ignoring = true;
    }
}

/// Parses a unit file. Never fails: problems become warnings and the
/// affected lines are ignored, as described in the module documentation.
pub fn parse(text: &str) -> (UnitFile, Vec<Warning>) {
    parse_bytes(text.as_bytes())
}

/// [`parse`] for raw file contents. A non-comment line that is not UTF-8
/// gets a warning and its entry is ignored (systemd: "String is not UTF-8
/// clean", and the whole file fails); comment lines may hold any bytes.
pub fn parse_bytes(data: &[u8]) -> (UnitFile, Vec<Warning>) {
    let mut p = Parser::default();
    // The pending logical line (backslash already turned into a space) and
    // the line it started on.
    let mut continuation: Option<(String, usize)> = None;
    // Set while dropping the remaining lines of a refused entry.
    let mut skipping = false;
    let mut bom_seen = false;
    for (index, raw) in (Lines { rest: data }).enumerate() {
        let line = index + 1;
        // read_line() fails before anything else is looked at.
        if raw.len() >= LONG_LINE_MAX {
            let msg = format!("line {line} too long (limit {LONG_LINE_MAX} bytes), ignoring entry");
            p.warn(line, msg);
            continuation = None;
            skipping = continues(raw);
            continue;
        }
        if is_comment(raw) {
            continue;
        }
        let Ok(raw) = std::str::from_utf8(raw) else {
            if !skipping {
                p.warn(
                    line,
                    format!("line {line} is not valid utf-8, ignoring entry"),
                );
            }
            continuation = None;
            skipping = continues(raw);
            continue;
        };
        let mut l = raw;
        if !bom_seen {
            if let Some(rest) = raw.strip_prefix(BOM) {
                l = rest;
                bom_seen = true;
            }
        }
        let escaped = continues(l.as_bytes());
        if skipping {
            skipping = escaped;
            continue;
        }
        let (mut logical, start) = match continuation.take() {
            Some((mut buf, start)) => {
                if buf.len() + l.len() > LONG_LINE_MAX {
                    let msg = format!(
                        "continuation line {line} too long (limit {LONG_LINE_MAX} bytes), ignoring entry"
                    );
                    p.warn(line, msg);
                    skipping = escaped;
                    continue;
                }
                buf.push_str(l);
                (buf, start)
            }
            None => (l.to_owned(), line),
        };
        if escaped {
            logical.pop();
            logical.push(' ');
            continuation = Some((logical, start));
            continue;
        }
        p.logical_line(&logical, start);
    }
    if let Some((logical, start)) = continuation {
        p.logical_line(&logical, start);
    }
    (p.file, p.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected entries were checked against systemd 252.39's config_parse()
    // (C harness linked against libsystemd-shared-252.so); systemd's line
    // numbers, where they differ (end of a continued entry), are noted.

    fn entries(f: &UnitFile) -> Vec<(&str, &str, &str, usize)> {
        f.sections
            .iter()
            .flat_map(|s| {
                s.entries
                    .iter()
                    .map(move |e| (s.name.as_str(), e.key.as_str(), e.value.as_str(), e.line))
            })
            .collect()
    }

    fn messages(w: &[Warning]) -> Vec<(usize, &str)> {
        w.iter().map(|w| (w.line, w.message.as_str())).collect()
    }

    #[test]
    fn basic_file_with_continuations_and_comments() {
        let text = "[Unit]\nDescription=a b  \n  After = x.target\n\n# c\n; c\n[Service]\n\
                    ExecStart=/bin/a \\\n  arg \\\n# comment\n; comment\n  last\nEnv=a\\\\\nNext=1\n";
        let (f, w) = parse(text);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            entries(&f),
            [
                ("Unit", "Description", "a b", 2),
                ("Unit", "After", "x.target", 3),
                // systemd reports line 12, where the entry ends.
                ("Service", "ExecStart", "/bin/a    arg    last", 8),
                ("Service", "Env", "a\\\\", 13),
                ("Service", "Next", "1", 14),
            ]
        );
        assert_eq!((f.sections[0].line, f.sections[1].line), (1, 7));
    }

    #[test]
    fn repeated_sections_and_lookup() {
        let (f, w) = parse("k=v\n[Service]\nA=1\n[Unit]\nA=0\n[Service]\nA=2\nB=3\n");
        assert_eq!(
            messages(&w),
            [(1, "assignment outside of section, ignoring")]
        );
        assert_eq!(f.section("Service").count(), 2);
        let a: Vec<_> = f
            .get("Service", "A")
            .map(|e| (e.value.as_str(), e.line))
            .collect();
        assert_eq!(a, [("1", 3), ("2", 7)]);
        assert_eq!(f.get("Service", "B").count(), 1);
        assert_eq!(f.get("Service", "C").count(), 0);
        assert_eq!(f.get("Nope", "A").count(), 0);
    }

    #[test]
    fn line_endings_like_read_line() {
        let (f, _) = parse("[Service]\r\nA=1\r\nB=2\rC=3\n\rD=4\n\nE=5");
        let got: Vec<_> = entries(&f).into_iter().map(|(_, k, _, l)| (k, l)).collect();
        assert_eq!(got, [("A", 2), ("B", 3), ("C", 4), ("D", 5), ("E", 7)]);
        // NUL ends a line; "\r\r" and "\0\n" are two line ends.
        let (f, _) = parse("[S]\0A=1\r\rB=2\0\nC=3");
        let got: Vec<_> = entries(&f).into_iter().map(|(_, k, _, l)| (k, l)).collect();
        assert_eq!(got, [("A", 2), ("B", 4), ("C", 6)]);
    }

    #[test]
    fn continuation_details() {
        // A continuation open at EOF is used (systemd: line 3).
        let (f, _) = parse("[Service]\nA=x\\");
        assert_eq!(entries(&f), [("Service", "A", "x", 2)]);
        // A comment line never starts a continuation.
        let (f, _) = parse("[Service]\n# c \\\nA=1\n");
        assert_eq!(entries(&f), [("Service", "A", "1", 3)]);
        // An empty line ends it.
        let (f, _) = parse("[Service]\nA=1 \\\n\nB=2");
        assert_eq!(
            entries(&f),
            [("Service", "A", "1", 2), ("Service", "B", "2", 4)]
        );
        // Only an odd number of trailing backslashes continues.
        let (f, _) = parse("[S]\nA=a\\\\\\\nb\nC=c\\\\\n");
        assert_eq!(
            entries(&f),
            [("S", "A", "a\\\\ b", 2), ("S", "C", "c\\\\", 4)]
        );
    }

    #[test]
    fn key_value_rules() {
        let (f, w) = parse("[Service]\n  [Unit]  \nA==b= c\nB =\n\"q\"=\"r\"\nK\t=\tv\u{a0}\n");
        assert!(w.is_empty());
        assert_eq!(
            entries(&f),
            [
                ("Unit", "A", "=b= c", 3),
                ("Unit", "B", "", 4),
                ("Unit", "\"q\"", "\"r\"", 5),
                // Only " \t\n\r" is trimmed, not U+00A0.
                ("Unit", "K", "v\u{a0}", 6),
            ]
        );
        let (_, w) = parse("[S]\nnoeq\n =x\n");
        assert_eq!(
            messages(&w),
            [
                (2, "missing '=', ignoring line"),
                (3, "missing key name before '=', ignoring line")
            ]
        );
    }

    #[test]
    fn byte_order_mark() {
        // Stripped once; a later one stays part of the key, as in systemd.
        let (f, w) = parse("\u{feff}[Service]\nA=1\n\u{feff}B=2\n");
        assert!(w.is_empty());
        assert_eq!(
            entries(&f),
            [("Service", "A", "1", 2), ("Service", "\u{feff}B", "2", 3)]
        );
        // The comment check happens before the BOM is stripped: systemd
        // says "Assignment outside of section" for this first line.
        let (_, w) = parse("\u{feff}# comment\n[S]\n");
        assert_eq!(
            messages(&w),
            [(1, "assignment outside of section, ignoring")]
        );
    }

    #[test]
    fn bad_headers_ignore_their_entries() {
        let (f, w) = parse("[A]\nk=1\n[B\nk=2\nnoeq\n[a\"b]\nk=3\n[]\nk=4\n[X-Vendor]\nk=5\n");
        assert_eq!(
            entries(&f),
            [("A", "k", "1", 2), ("X-Vendor", "k", "5", 11)]
        );
        assert_eq!(
            messages(&w),
            [
                (3, "invalid section header \"[B\", ignoring section"),
                (
                    6,
                    "bad characters in section header \"[a\\\"b]\", ignoring section"
                ),
                (8, "empty section name \"[]\", ignoring section"),
            ]
        );
        // Names are kept verbatim, including inner spaces.
        let (f, _) = parse("[ A ]\nk=v\n[Service]]\nk=w\n");
        assert_eq!(
            entries(&f),
            [(" A ", "k", "v", 2), ("Service]", "k", "w", 4)]
        );
    }

    #[test]
    fn long_lines_are_dropped_with_a_warning() {
        let long = "x".repeat(LONG_LINE_MAX);
        let ok = "y".repeat(LONG_LINE_MAX - 3);
        let text = format!("[S]\nA={long}\nB=1\nC={ok}\nD=2\n");
        let (f, w) = parse(&text);
        let keys: Vec<_> = entries(&f).into_iter().map(|(_, k, _, l)| (k, l)).collect();
        assert_eq!(keys, [("B", 3), ("C", 4), ("D", 5)]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, 2);
        assert!(
            w[0].message.starts_with("line 2 too long"),
            "{}",
            w[0].message
        );

        // A long line inside a continuation drops the whole entry, and a
        // long line that itself continues drops its continuation lines.
        let text = format!("[S]\nA=1 \\\n{long}\nB=2\nC=3 \\\n{long}\\\nmore\nD=4\n");
        let (f, w) = parse(&text);
        let keys: Vec<_> = entries(&f).into_iter().map(|(_, k, _, _)| k).collect();
        assert_eq!(keys, ["B", "D"]);
        assert_eq!(w.len(), 2);

        // Continuation lines that add up to more than LONG_LINE_MAX.
        let half = "z".repeat(LONG_LINE_MAX / 2 + 1);
        let text = format!("[S]\nA={half}\\\n{half}\\\nstill\nB=1\n");
        let (f, w) = parse(&text);
        assert_eq!(entries(&f), [("S", "B", "1", 5)]);
        assert_eq!((w.len(), w[0].line), (1, 3));
        assert!(w[0].message.contains("too long"));
    }

    #[test]
    fn invalid_utf8_lines() {
        // systemd 252.39: A=1 parsed, then "String is not UTF-8 clean" for
        // line 4 and the file fails; a comment may hold any bytes.
        let (f, w) = parse_bytes(b"[S]\n# \xff\nA=1\nB=\xff \\\ncont\nC=2\n");
        assert_eq!(entries(&f), [("S", "A", "1", 3), ("S", "C", "2", 6)]);
        assert_eq!(
            messages(&w),
            [(4, "line 4 is not valid utf-8, ignoring entry")]
        );
        let (f, w) = parse_bytes(b"[S]\nA=1 \\\n\xc3\nB=2");
        assert_eq!(entries(&f), [("S", "B", "2", 4)]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn garbage_never_panics() {
        let bits = [
            "\0", "\\", "\\\\", "[", "]", "=", "#", ";", "\r", "\n", "\u{feff}", " ", "\u{e9}",
            "[]", "a",
        ];
        for a in bits {
            for b in bits {
                for c in bits {
                    for d in bits {
                        let _ = parse(&format!("{a}{b}{c}{d}"));
                    }
                    let mut raw = format!("{a}{b}{c}").into_bytes();
                    raw.insert(raw.len() / 2, 0xff);
                    let _ = parse_bytes(&raw);
                }
            }
        }
        let (f, w) = parse("\\");
        assert!(f.sections.is_empty() && w.is_empty());
        let (f, _) = parse(&"\\\n".repeat(10_000));
        assert!(f.sections.is_empty());
        let (_, w) = parse(&"[".repeat(LONG_LINE_MAX - 1));
        assert!(w[0].message.len() < 200, "messages stay short");
    }
}

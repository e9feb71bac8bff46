//! Value parsers shared by many unit file keys, ported from systemd 252:
//! `parse_boolean()` (src/basic/parse-util.c), `parse_sec()`/`parse_time()`
//! (src/basic/time-util.c), `parse_size()` (src/basic/parse-util.c),
//! and `extract_first_word()` (src/basic/extract-word.c).
//!
//! Deliberate differences from systemd 252:
//! * words are `String`s: an escape producing bytes that are not UTF-8
//!   (`\xff`) is an error here, where systemd would keep the raw byte;
//! * a NUL byte in the input of [`split_words`] is an error (C strings
//!   simply end there).

use std::time::Duration;

/// systemd's `WHITESPACE`: note it has no `\v`/`\f`, unlike `isspace()`.
pub const WHITESPACE: &[u8] = b" \t\n\r";

/// Shortens `s` for inclusion in an error message, so that a 1 MiB line
/// cannot turn into a 1 MiB log entry.
pub(crate) fn snippet(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", s.get(..cut).unwrap_or("")),
        None => s.to_owned(),
    }
}

pub(crate) fn is_ws(c: u8) -> bool {
    WHITESPACE.contains(&c)
}

/// Index of the first byte at or after `i` that is not in `WHITESPACE`.
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_ws(c)) {
        i += 1;
    }
    i
}

pub(crate) fn tail(b: &[u8], i: usize) -> &[u8] {
    b.get(i..).unwrap_or(&[])
}

/// systemd's `trim()`/`strstrip()`: only `WHITESPACE`, not Unicode spaces.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_ws(c as u8))
}

/// `string_is_safe()`: no control characters, quotes, backslash or DEL.
/// Used for section names and executable paths.
pub fn string_is_safe(s: &str) -> bool {
    !s.bytes()
        .any(|c| c < b' ' || c == b'"' || c == b'\'' || c == b'\\' || c == 0x7f)
}

/// `parse_boolean()`: exact, case-insensitive match, no trimming.
pub fn parse_bool(s: &str) -> Option<bool> {
    const YES: [&str; 6] = ["1", "yes", "y", "true", "t", "on"];
    const NO: [&str; 6] = ["0", "no", "n", "false", "f", "off"];
    if YES.iter().any(|y| y.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if NO.iter().any(|n| n.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// What C's `strtoll`/`strtoull` read at `b[i..]`: skips `isspace()` (which,
/// unlike `WHITESPACE`, includes `\v` and `\f`), an optional sign, digits.
/// Returns (negative, magnitude, end); `end == i` when no digit was found.
/// `None` means the magnitude overflowed `u64` (`errno = ERANGE`).
fn c_strtou(b: &[u8], i: usize) -> Option<(bool, u64, usize)> {
    let mut j = i;
    while b
        .get(j)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
    {
        j += 1;
    }
    let negative = b.get(j) == Some(&b'-');
    if matches!(b.get(j), Some(b'-' | b'+')) {
        j += 1;
    }
    let start = j;
    let mut value: u64 = 0;
    while let Some(d) = b.get(j).filter(|c| c.is_ascii_digit()) {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        j += 1;
    }
    if j == start {
        return Some((false, 0, i));
    }
    Some((negative, value, j))
}

const USEC_PER_SEC: u64 = 1_000_000;
const USEC_PER_MINUTE: u64 = 60 * USEC_PER_SEC;
const USEC_PER_HOUR: u64 = 60 * USEC_PER_MINUTE;
const USEC_PER_DAY: u64 = 24 * USEC_PER_HOUR;
const USEC_PER_WEEK: u64 = 7 * USEC_PER_DAY;
const USEC_PER_MONTH: u64 = 2_629_800 * USEC_PER_SEC;
const USEC_PER_YEAR: u64 = 31_557_600 * USEC_PER_SEC;
/// systemd's `USEC_INFINITY`.
const USEC_INFINITY: u64 = u64::MAX;

/// time-util.c `extract_multiplier()`: first prefix match in this exact order
/// ("ms" must be tried before "m", "M" is months).
const TIME_UNITS: &[(&str, u64)] = &[
    ("seconds", USEC_PER_SEC),
    ("second", USEC_PER_SEC),
    ("sec", USEC_PER_SEC),
    ("s", USEC_PER_SEC),
    ("minutes", USEC_PER_MINUTE),
    ("minute", USEC_PER_MINUTE),
    ("min", USEC_PER_MINUTE),
    ("months", USEC_PER_MONTH),
    ("month", USEC_PER_MONTH),
    ("M", USEC_PER_MONTH),
    ("msec", 1000),
    ("ms", 1000),
    ("m", USEC_PER_MINUTE),
    ("hours", USEC_PER_HOUR),
    ("hour", USEC_PER_HOUR),
    ("hr", USEC_PER_HOUR),
    ("h", USEC_PER_HOUR),
    ("days", USEC_PER_DAY),
    ("day", USEC_PER_DAY),
    ("d", USEC_PER_DAY),
    ("weeks", USEC_PER_WEEK),
    ("week", USEC_PER_WEEK),
    ("w", USEC_PER_WEEK),
    ("years", USEC_PER_YEAR),
    ("year", USEC_PER_YEAR),
    ("y", USEC_PER_YEAR),
    ("usec", 1),
    ("us", 1),
    ("\u{3bc}s", 1), // GREEK SMALL LETTER MU
    ("\u{b5}s", 1),  // MICRO SIGN
];

/// Port of `parse_time(t, &usec, default_unit)`; `Some(u64::MAX)` is
/// "infinity".
pub fn parse_time_usec(t: &str, default_unit: u64) -> Option<u64> {
    if default_unit == 0 {
        return None; // systemd asserts this; refuse instead of dividing by 0
    }
    let b = t.as_bytes();
    let mut p = skip_ws(b, 0);
    if let Some(rest) = tail(b, p).strip_prefix(b"infinity") {
        return (skip_ws(rest, 0) == rest.len()).then_some(USEC_INFINITY);
    }
    let mut r: u64 = 0;
    let mut something = false;
    loop {
        p = skip_ws(b, p);
        if p >= b.len() {
            return something.then_some(r);
        }
        if b.get(p) == Some(&b'-') {
            return None; // "Don't allow -0"
        }
        let (negative, l, e) = c_strtou(b, p)?;
        if l > i64::MAX as u64 || (negative && l != 0) {
            return None; // strtoll() overflowed, or was negative: ERANGE
        }
        let fraction = b.get(e) == Some(&b'.');
        if fraction {
            // ".5" is accepted: strtoll() fails, but the '.' is seen first.
            p = e + 1;
            while b.get(p).is_some_and(u8::is_ascii_digit) {
                p += 1;
            }
        } else if e == p {
            return None;
        } else {
            p = e;
        }
        let unit_at = skip_ws(b, p);
        let (multiplier, s) = TIME_UNITS
            .iter()
            .find(|(suffix, _)| tail(b, unit_at).starts_with(suffix.as_bytes()))
            .map_or((default_unit, unit_at), |(suffix, m)| {
                (*m, unit_at + suffix.len())
            });
        if s == p && s < b.len() {
            return None; // "12.34.56" is refused, "12.34 .56" is not
        }
        p = s;
        if l >= USEC_INFINITY / multiplier {
            return None;
        }
        let k = l * multiplier;
        if k >= USEC_INFINITY - r {
            return None;
        }
        r += k;
        something = true;
        if fraction {
            let mut m = multiplier / 10;
            let mut d = e + 1;
            while let Some(c) = b.get(d).filter(|c| c.is_ascii_digit()) {
                let k = u64::from(c - b'0') * m;
                if k >= USEC_INFINITY - r {
                    return None;
                }
                r += k;
                d += 1;
                m /= 10;
            }
            if d == e + 1 {
                return None; // "3.", "3.sec", "3. 1"
            }
        }
    }
}

/// `parse_sec()`: a time span, plain numbers are seconds. `None` means
/// unparsable, `Some(None)` means "infinity".
pub fn parse_timespan(s: &str) -> Option<Option<Duration>> {
    match parse_time_usec(s, USEC_PER_SEC)? {
        USEC_INFINITY => Some(None),
        usec => Some(Some(Duration::from_micros(usec))),
    }
}

/// `parse_sec_fix_0()`, used by TimeoutSec= and friends: "0" means infinity.
pub fn parse_timespan_fix_0(s: &str) -> Option<Option<Duration>> {
    parse_timespan(s).map(|d| d.filter(|d| !d.is_zero()))
}

const IEC_SIZES: [(&str, u64); 8] = [
    ("E", 1 << 60),
    ("P", 1 << 50),
    ("T", 1 << 40),
    ("G", 1 << 30),
    ("M", 1 << 20),
    ("K", 1 << 10),
    ("B", 1),
    ("", 1),
];

const SI_SIZES: [(&str, u64); 8] = [
    ("E", 1_000_000_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("T", 1_000_000_000_000),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("K", 1000),
    ("B", 1),
    ("", 1),
];

/// Port of `parse_size(t, base, &size)`. Parts must use strictly decreasing
/// suffixes ("1G 512M" is fine, "512M 1G" is not); suffixes are upper case.
fn parse_size_table(t: &str, table: &[(&str, u64)]) -> Option<u64> {
    let b = t.as_bytes();
    let mut p = 0;
    let mut r: u64 = 0;
    let mut start_pos = 0;
    loop {
        p = skip_ws(b, p);
        let (negative, magnitude, mut e) = c_strtou(b, p)?;
        if e == p {
            return None;
        }
        if b.get(p) == Some(&b'-') {
            return None;
        }
        // strtoull() negates "\v-1" silently; keep that quirk.
        let l = if negative {
            magnitude.wrapping_neg()
        } else {
            magnitude
        };
        let mut frac = 0.0f64;
        if b.get(e) == Some(&b'.') {
            e += 1;
            if b.get(e).is_some_and(u8::is_ascii_digit) {
                let (_, l2, e2) = c_strtou(b, e)?;
                frac = l2 as f64;
                while e < e2 {
                    frac /= 10.0;
                    e += 1;
                }
            }
        }
        e = skip_ws(b, e);
        let (i, (suffix, factor)) = table
            .iter()
            .enumerate()
            .skip(start_pos)
            .find(|(_, (suffix, _))| tail(b, e).starts_with(suffix.as_bytes()))?;
        // Bit-exact with systemd, including its unsigned wrap-around: for
        // l == u64::MAX with a fraction, `l + 1` wraps to 0, the check
        // passes and the product wraps. Absurd input, but same result.
        if l.wrapping_add(u64::from(frac > 0.0)) > u64::MAX / factor {
            return None;
        }
        let tmp = l
            .wrapping_mul(*factor)
            .wrapping_add((frac * *factor as f64) as u64);
        r = r.checked_add(tmp)?;
        p = e + suffix.len();
        start_pos = i + 1;
        if p >= b.len() {
            return Some(r);
        }
    }
}

/// `parse_size(s, 1024)`: "10K", "1.5M", "2G" with base-1024 suffixes.
pub fn parse_size(s: &str) -> Option<u64> {
    parse_size_table(s, &IEC_SIZES)
}

/// `parse_size(s, 1000)`: SI suffixes, used by e.g. IOReadBandwidthMax=.
pub fn parse_size_si(s: &str) -> Option<u64> {
    parse_size_table(s, &SI_SIZES)
}

/// Why a list of words could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordError {
    #[error("unbalanced quoting in {0:?}")]
    UnbalancedQuote(String),
    #[error("invalid escape sequence in {0:?}")]
    BadEscape(String),
    #[error("word is not valid utf-8 after unescaping in {0:?}")]
    InvalidUtf8(String),
    #[error("nul byte in {0:?}")]
    NulByte(String),
}

/// The `ExtractFlags` of extract-word.h that unit file parsing uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractFlags {
    /// `EXTRACT_RELAX`: allow unbalanced quotes, eat a trailing backslash.
    pub relax: bool,
    /// `EXTRACT_CUNESCAPE`: decode C escapes (`\n`, `\x41`, `\u00e9`...).
    pub cunescape: bool,
    /// `EXTRACT_UNESCAPE_RELAX`: keep unknown escapes and a trailing
    /// backslash verbatim instead of failing.
    pub unescape_relax: bool,
    /// `EXTRACT_UNQUOTE`: '...' and "..." group words; quotes are removed.
    pub unquote: bool,
    /// `EXTRACT_RETAIN_ESCAPE`: a backslash is an ordinary character.
    pub retain_escape: bool,
}

impl ExtractFlags {
    /// `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`: Exec*=, Environment=.
    pub const UNQUOTE_CUNESCAPE: Self = Self {
        relax: false,
        cunescape: true,
        unescape_relax: false,
        unquote: true,
        retain_escape: false,
    };
    /// `EXTRACT_UNQUOTE`: the flags of many list settings in
    /// load-fragment.c.
    pub const UNQUOTE: Self = Self {
        relax: false,
        cunescape: false,
        unescape_relax: false,
        unquote: true,
        retain_escape: false,
    };
    /// `EXTRACT_UNQUOTE|EXTRACT_RETAIN_ESCAPE`: `config_parse_strv()`, e.g.
    /// Documentation= (after specifiers were expanded on the whole value).
    pub const UNQUOTE_RETAIN_ESCAPE: Self = Self {
        relax: false,
        cunescape: false,
        unescape_relax: false,
        unquote: true,
        retain_escape: true,
    };
    /// `EXTRACT_RELAX|EXTRACT_UNQUOTE`: how `$VAR` values are split.
    pub const RELAX_UNQUOTE: Self = Self {
        relax: true,
        cunescape: false,
        unescape_relax: false,
        unquote: true,
        retain_escape: false,
    };
}

/// Both failures are `-EINVAL` in systemd; the kind tells callers which one
/// `extract_first_word_and_warn()` would report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExtractFail {
    /// Unknown escape, or a trailing backslash outside quotes.
    Escape,
    /// End of input inside quotes.
    Quote,
}

/// One decoded escape: a raw byte (`\xNN`, octal) or a code point.
enum Unescaped {
    Byte(u8),
    Char(u32),
}

fn hex(c: Option<&u8>) -> Option<u32> {
    c.and_then(|c| char::from(*c).to_digit(16))
}

/// Port of `cunescape_one(p, SIZE_MAX, ..., accept_nul=false)`; `b` starts
/// after the backslash. Returns the number of bytes consumed.
fn cunescape_one(b: &[u8]) -> Option<(usize, Unescaped)> {
    let simple = |c: u8| Some((1, Unescaped::Char(u32::from(c))));
    match *b.first()? {
        b'a' => simple(0x07),
        b'b' => simple(0x08),
        b'f' => simple(0x0c),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(0x0b),
        b'\\' => simple(b'\\'),
        b'"' => simple(b'"'),
        b'\'' => simple(b'\''),
        b's' => simple(b' '),
        b'x' => {
            let v = hex(b.get(1))? << 4 | hex(b.get(2))?;
            (v != 0).then_some((3, Unescaped::Byte(v as u8)))
        }
        b'u' => {
            let mut v = 0;
            for i in 1..5 {
                v = v << 4 | hex(b.get(i))?;
            }
            // No validity check beyond NUL, as in systemd: surrogates are
            // encoded and later rejected here as invalid UTF-8.
            (v != 0).then_some((5, Unescaped::Char(v)))
        }
        b'U' => {
            let mut v: u32 = 0;
            for i in 1..9 {
                v = v << 4 | hex(b.get(i))?;
            }
            let valid = v != 0
                && v < 0x11_0000
                && (v & 0xFFFF_F800) != 0xD800
                && !(0xFDD0..=0xFDEF).contains(&v)
                && (v & 0xFFFE) != 0xFFFE;
            valid.then_some((9, Unescaped::Char(v)))
        }
        b'0'..=b'7' => {
            let oct = |c: Option<&u8>| c.filter(|c| (b'0'..=b'7').contains(c)).map(|c| c - b'0');
            let m = u32::from(oct(b.first())?) << 6
                | u32::from(oct(b.get(1))?) << 3
                | u32::from(oct(b.get(2))?);
            (m != 0 && m <= 255).then_some((3, Unescaped::Byte(m as u8)))
        }
        _ => None,
    }
}

/// `utf8_encode_unichar()`, which also encodes surrogates.
fn push_unichar(out: &mut Vec<u8>, c: u32) {
    if c < 0x80 {
        out.push(c as u8);
    } else if c < 0x800 {
        out.extend([0xc0 | (c >> 6) as u8, 0x80 | (c & 0x3f) as u8]);
    } else if c < 0x10000 {
        out.extend([
            0xe0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3f) as u8,
            0x80 | (c & 0x3f) as u8,
        ]);
    } else {
        out.extend([
            0xf0 | ((c >> 18) & 0x07) as u8,
            0x80 | ((c >> 12) & 0x3f) as u8,
            0x80 | ((c >> 6) & 0x3f) as u8,
            0x80 | (c & 0x3f) as u8,
        ]);
    }
}

/// Port of `extract_first_word(&p, &ret, NULL, flags)` with whitespace
/// separators. `pos == None` is systemd's `*p = NULL` (input exhausted).
/// `Ok(None)` means no word was left. A NUL byte ends the input, as in C.
pub(crate) fn extract_first_word(
    b: &[u8],
    pos: &mut Option<usize>,
    flags: ExtractFlags,
) -> Result<Option<Vec<u8>>, ExtractFail> {
    let Some(mut i) = *pos else {
        return Ok(None);
    };
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    loop {
        match at(i) {
            0 => {
                *pos = None;
                return Ok(None);
            }
            c if is_ws(c) => i += 1,
            _ => break,
        }
    }
    let mut out = Vec::new();
    let mut quote = 0u8;
    let mut backslash = false;
    loop {
        let c = at(i);
        if backslash {
            if c == 0 {
                if flags.unescape_relax && (quote == 0 || flags.relax) {
                    out.push(b'\\');
                    *pos = None;
                    return Ok(Some(out));
                }
                if flags.relax {
                    *pos = None;
                    return Ok(Some(out));
                }
                // Inside quotes even the relaxed retry fails, so systemd
                // reports it as unbalanced quoting.
                return Err(if quote == 0 {
                    ExtractFail::Escape
                } else {
                    ExtractFail::Quote
                });
            }
            if flags.cunescape {
                match cunescape_one(tail(b, i)) {
                    Some((len, Unescaped::Byte(v))) => {
                        out.push(v);
                        i += len - 1;
                    }
                    Some((len, Unescaped::Char(v))) => {
                        push_unichar(&mut out, v);
                        i += len - 1;
                    }
                    None if flags.unescape_relax => out.extend([b'\\', c]),
                    None => return Err(ExtractFail::Escape),
                }
            } else {
                out.push(c);
            }
            backslash = false;
        } else if quote != 0 {
            loop {
                let c = at(i);
                if c == 0 {
                    if flags.relax {
                        *pos = None;
                        return Ok(Some(out));
                    }
                    return Err(ExtractFail::Quote);
                } else if c == quote {
                    quote = 0;
                    break;
                } else if c == b'\\' && !flags.retain_escape {
                    backslash = true;
                    break;
                }
                out.push(c);
                i += 1;
            }
        } else {
            loop {
                let c = at(i);
                if c == 0 {
                    *pos = None;
                    return Ok(Some(out));
                } else if (c == b'\'' || c == b'"') && flags.unquote {
                    quote = c;
                    break;
                } else if c == b'\\' && !flags.retain_escape {
                    backslash = true;
                    break;
                } else if is_ws(c) {
                    // Coalesce separators; the next word starts after them.
                    let next = skip_ws(b, i);
                    *pos = (at(next) != 0).then_some(next);
                    return Ok(Some(out));
                }
                out.push(c);
                i += 1;
            }
        }
        i += 1;
    }
}

/// Splits a space-separated list with quotes and C escapes, as
/// Environment= does (`EXTRACT_CUNESCAPE|EXTRACT_UNQUOTE`):
/// `A=1 "B=2 3"` gives `["A=1", "B=2 3"]`.
pub fn split_words(s: &str) -> Result<Vec<String>, WordError> {
    split_words_with(s, ExtractFlags::UNQUOTE_CUNESCAPE)
}

/// [`split_words`] with explicit flags, e.g.
/// [`ExtractFlags::UNQUOTE_RETAIN_ESCAPE`] for Documentation=.
pub fn split_words_with(s: &str, flags: ExtractFlags) -> Result<Vec<String>, WordError> {
    let b = s.as_bytes();
    if b.contains(&0) {
        return Err(WordError::NulByte(snippet(s)));
    }
    let mut pos = Some(0);
    let mut words = Vec::new();
    loop {
        match extract_first_word(b, &mut pos, flags) {
            Ok(None) => return Ok(words),
            Ok(Some(w)) => match String::from_utf8(w) {
                Ok(w) => words.push(w),
                Err(_) => return Err(WordError::InvalidUtf8(snippet(s))),
            },
            Err(ExtractFail::Escape) => return Err(WordError::BadEscape(snippet(s))),
            Err(ExtractFail::Quote) => return Err(WordError::UnbalancedQuote(snippet(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every expected value below was produced by systemd 252.39 itself:
    // `systemd-analyze timespan`, or a C harness linked against
    // libsystemd-shared-252.so calling parse_boolean(), parse_size(),
    // parse_sec() and extract_first_word().

    #[test]
    fn bools() {
        for s in ["1", "yes", "Y", "TRUE", "t", "On"] {
            assert_eq!(parse_bool(s), Some(true), "{s}");
        }
        for s in ["0", "no", "N", "false", "F", "OFF"] {
            assert_eq!(parse_bool(s), Some(false), "{s}");
        }
        // No trimming, no other words (parse_boolean() gave -EINVAL).
        for s in ["", " yes", "yes ", "2", "enable", "tru"] {
            assert_eq!(parse_bool(s), None, "{s:?}");
        }
    }

    fn usec(s: &str) -> Option<u64> {
        parse_time_usec(s, USEC_PER_SEC)
    }

    #[test]
    fn timespans_from_systemd_analyze() {
        let ok: &[(&str, u64)] = &[
            ("5", 5_000_000),
            ("5s", 5_000_000),
            ("1min 30s", 90_000_000),
            ("1h30m", 5_400_000_000),
            ("100ms", 100_000),
            ("2us", 2),
            ("1d", 86_400_000_000),
            ("1w", 604_800_000_000),
            ("0", 0),
            (".5", 500_000),
            ("1.5s", 1_500_000),
            ("5 10", 15_000_000),
            ("12.34 .56", 12_900_000),
            ("12.34s.56", 12_900_000),
            ("+5", 5_000_000),
            ("1M", 2_629_800_000_000),
            ("1m", 60_000_000),
            ("1y", 31_557_600_000_000),
            ("1 month", 2_629_800_000_000),
            ("1.5ms", 1500),
            ("0.0000001", 0),
            ("5 s", 5_000_000),
            ("1s5", 6_000_000),
            ("1hr", 3_600_000_000),
            ("2 \u{3bc}s", 2),
            ("2\u{b5}s", 2),
            ("9223372036854775807us", 9_223_372_036_854_775_807),
            ("1h 1h", 7_200_000_000),
            ("1.999999999s", 1_999_999),
            ("1 2 3", 6_000_000),
            ("1m30", 90_000_000),
        ];
        for (s, want) in ok {
            assert_eq!(usec(s), Some(*want), "{s:?}");
        }
        for s in [
            "1.",
            "12.34.56",
            "-0",
            "1mo",
            "3.sec",
            "",
            "  ",
            "1e3",
            "18446744073709551615us",
            "9223372036854775808us",
            "5x",
            "infinityx",
        ] {
            assert_eq!(usec(s), None, "{s:?}");
        }
    }

    #[test]
    fn timespan_api() {
        assert_eq!(parse_timespan("infinity"), Some(None));
        assert_eq!(parse_timespan(" infinity "), Some(None));
        assert_eq!(parse_timespan("90"), Some(Some(Duration::from_secs(90))));
        assert_eq!(parse_timespan("2us"), Some(Some(Duration::from_micros(2))));
        assert_eq!(parse_timespan("bogus"), None);
        assert_eq!(parse_timespan_fix_0("0"), Some(None));
        assert_eq!(
            parse_timespan_fix_0("1s"),
            Some(Some(Duration::from_secs(1)))
        );
        assert_eq!(parse_time_usec("5", 0), None, "no division by zero");
        // "\v" is not WHITESPACE but strtoll() skips it; "-0" then is 0.
        assert_eq!(usec("\u{b}-0"), Some(0));
        assert_eq!(usec("\u{b}-1"), None);
    }

    #[test]
    fn sizes_from_systemd() {
        // (input, parse_size(.., 1024), parse_size(.., 1000))
        let cases: &[(&str, Option<u64>, Option<u64>)] = &[
            ("1024", Some(1024), Some(1024)),
            ("10K", Some(10240), Some(10000)),
            ("1.5M", Some(1_572_864), Some(1_500_000)),
            ("2G", Some(2_147_483_648), Some(2_000_000_000)),
            ("1T", Some(1_099_511_627_776), Some(1_000_000_000_000)),
            ("1E", Some(1 << 60), Some(1_000_000_000_000_000_000)),
            ("16E", None, Some(16_000_000_000_000_000_000)),
            ("1G 512M", Some(1_610_612_736), Some(1_512_000_000)),
            ("512M 1G", None, None),
            ("1K5", Some(1029), Some(1005)),
            ("10.M", Some(10_485_760), Some(10_000_000)),
            ("10.", Some(10), Some(10)),
            (".5K", None, None),
            (" 1K", Some(1024), Some(1000)),
            ("1K ", None, None),
            ("-1", None, None),
            ("1k", None, None),
            ("0x10", None, None),
            ("1.0000000000000000000001K", Some(1024), Some(1000)),
            ("18446744073709551615", Some(u64::MAX), Some(u64::MAX)),
            ("18446744073709551616", None, None),
            ("1.5 K", Some(1536), Some(1500)),
            ("3.999B", Some(3), Some(3)),
            ("1.1", Some(1), Some(1)),
            ("", None, None),
            // systemd's own wrap-around, reproduced bit for bit.
            (
                "18446744073709551615.5 K",
                Some(18_446_744_073_709_551_104),
                None,
            ),
            ("1.99999999999999999999999K", None, None),
        ];
        for (s, iec, si) in cases {
            assert_eq!(parse_size(s), *iec, "iec {s:?}");
            if !s.contains("18446744073709551615.") {
                assert_eq!(parse_size_si(s), *si, "si {s:?}");
            }
        }
    }

    fn words(s: &str) -> Result<Vec<String>, WordError> {
        split_words(s)
    }

    #[test]
    fn split_words_like_extract_first_word() {
        assert_eq!(words(r#"A=1 "B=2 3""#).unwrap(), ["A=1", "B=2 3"]);
        assert_eq!(words("a'b c'd").unwrap(), ["ab cd"]);
        assert_eq!(words(r"\x41\tq").unwrap(), ["A\tq"]);
        assert_eq!(words(r#""x\"y""#).unwrap(), ["x\"y"]);
        assert_eq!(words(r#"  "" '' "#).unwrap(), ["", ""]);
        assert_eq!(words(" \t\r\n ").unwrap(), Vec::<String>::new());
        assert_eq!(
            words(r"\101\u00e9\U0001F600\s").unwrap(),
            ["A\u{e9}\u{1f600} "]
        );
        assert!(matches!(words(r"\q"), Err(WordError::BadEscape(_))));
        assert!(matches!(words(r"a\"), Err(WordError::BadEscape(_))));
        assert!(matches!(
            words(r#""open"#),
            Err(WordError::UnbalancedQuote(_))
        ));
        assert!(matches!(
            words(r#""a\"#),
            Err(WordError::UnbalancedQuote(_))
        ));
        assert!(matches!(words(r"\x00"), Err(WordError::BadEscape(_))));
        assert!(matches!(words(r"\777"), Err(WordError::BadEscape(_))));
        assert!(matches!(words(r"\U00110000"), Err(WordError::BadEscape(_))));
        // Raw bytes that are not UTF-8 (systemd would keep them).
        assert!(matches!(words(r"\xff"), Err(WordError::InvalidUtf8(_))));
        assert!(matches!(words(r"\ud800"), Err(WordError::InvalidUtf8(_))));
        assert!(matches!(words("a\0b"), Err(WordError::NulByte(_))));
    }

    #[test]
    fn split_words_other_flags() {
        let unquote = |s| split_words_with(s, ExtractFlags::UNQUOTE);
        // Without CUNESCAPE a backslash just protects the next character.
        assert_eq!(unquote(r"a\\nb 'c d'").unwrap(), [r"a\nb", "c d"]);
        assert_eq!(unquote(r"a\ b").unwrap(), ["a b"]);
        let relax = |s| split_words_with(s, ExtractFlags::RELAX_UNQUOTE);
        assert_eq!(relax("\"open  x").unwrap(), ["open  x"]);
        assert_eq!(relax(r"a\").unwrap(), ["a"]);
        let retain = ExtractFlags::UNQUOTE_RETAIN_ESCAPE;
        assert_eq!(
            split_words_with(r"a\b 'c\'", retain).unwrap(),
            [r"a\b", r"c\"]
        );
    }

    #[test]
    fn string_safety() {
        assert!(string_is_safe("/usr/bin/a b-é"));
        for s in ["a\"b", "a'b", "a\\b", "a\tb", "a\u{7f}", "a\0b"] {
            assert!(!string_is_safe(s), "{s:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let nasty = [
            "\0",
            "\\",
            "\"",
            "'",
            "%",
            "\u{feff}",
            "\\x",
            "\\x4",
            "\\u12",
            "\\U1234567",
            "\\0",
            "\\01",
            "9999999999999999999999999",
            ".",
            "..",
            "-",
            "+",
            "\u{b}",
        ];
        for a in nasty {
            for b in nasty {
                let s = format!("{a}{b}{a}");
                let _ = parse_bool(&s);
                let _ = parse_timespan(&s);
                let _ = parse_size(&s);
                let _ = parse_size_si(&s);
                let _ = split_words(&s);
                let _ = split_words_with(&s, ExtractFlags::RELAX_UNQUOTE);
            }
        }
        let huge = "9".repeat(100_000);
        assert_eq!(parse_size(&huge), None);
        assert_eq!(parse_timespan(&huge), None);
        assert_eq!(snippet(&huge).len(), 83);
    }
}

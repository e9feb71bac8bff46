//! systemd's `safe_ato*()` (parse-util.c) on top of C `strtoul()`/`strtol()`: whitespace and
//! sign handling, base 0 with `0x`/`0b`/`0o` prefixes and octal `010`, `-EINVAL` vs `-ERANGE`.
//! Unit-file keys that systemd reads with these (ports, modes, ids) read the same here.

use super::values;

/// `-EINVAL` vs `-ERANGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumErr {
    Invalid,
    Range,
}

/// C `isspace()` in the C locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

struct Strto<'a> {
    negative: bool,
    magnitude: std::result::Result<u64, NumErr>,
    rest: &'a str,
}

/// glibc `strtoull(s, &end, base)` for base 0, 2, 8, 10 or 16: skips
/// whitespace, takes a sign, and for base 0/16 a "0x" prefix (base 0 with a
/// leading '0' means octal). `None` when no digits were converted.
fn c_strtoull(s: &str, base: u32) -> Option<Strto<'_>> {
    let t = s.trim_start_matches(is_c_space);
    let (negative, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let mut base = base;
    let mut digits = t;
    if base == 0 || base == 16 {
        if let Some(r) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            if r.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
                base = 16;
                digits = r;
            }
        }
    }
    if base == 0 {
        base = if t.starts_with('0') { 8 } else { 10 };
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    let mut n = 0usize;
    for ch in digits.chars() {
        let Some(d) = ch.to_digit(base) else { break };
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        n += 1;
    }
    if n == 0 {
        return None;
    }
    Some(Strto {
        negative,
        magnitude: if overflow {
            Err(NumErr::Range)
        } else {
            Ok(value)
        },
        // Digits are ASCII, so `n` bytes is a char boundary.
        rest: digits.get(n..).unwrap_or(""),
    })
}

/// `mangle_base()`: Python-style "0b"/"0o" prefixes when no base is given.
fn mangle_base(s: &str, base: u32) -> (&str, u32) {
    if base != 0 {
        return (s, base);
    }
    if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        return (r, 2);
    }
    if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        return (r, 8);
    }
    (s, 0)
}

/// `safe_atou_full()`. Note that with base 0 (the default of `safe_atou()`)
/// this accepts "0x50", "0b1", "0o7" and — via strtoul() — octal "010".
pub(crate) fn safe_atou_full(
    s: &str,
    base: u32,
    refuse_sign: bool,
) -> std::result::Result<u32, NumErr> {
    let t = s.trim_start_matches(is_ws_char);
    if refuse_sign && (t.starts_with('+') || t.starts_with('-')) {
        return Err(NumErr::Invalid);
    }
    let (t, base) = mangle_base(t, base);
    let r = c_strtoull(t, base).ok_or(NumErr::Invalid)?;
    let mag = r.magnitude?;
    if !r.rest.is_empty() {
        return Err(NumErr::Invalid);
    }
    if mag != 0 && r.negative {
        return Err(NumErr::Range);
    }
    u32::try_from(mag).map_err(|_| NumErr::Range)
}

pub(crate) fn safe_atou(s: &str) -> std::result::Result<u32, NumErr> {
    safe_atou_full(s, 0, false)
}

/// `safe_atolli()`-style signed parse (base 0 + mangle_base) into i64.
pub(crate) fn safe_atoli(s: &str) -> std::result::Result<i64, NumErr> {
    let t = s.trim_start_matches(is_ws_char);
    let (t, base) = mangle_base(t, 0);
    let r = c_strtoull(t, base).ok_or(NumErr::Invalid)?;
    let mag = r.magnitude?;
    if !r.rest.is_empty() {
        return Err(NumErr::Invalid);
    }
    if r.negative {
        // strtol() range is -2^63 ..= 2^63-1.
        if mag > (i64::MAX as u64) + 1 {
            return Err(NumErr::Range);
        }
        Ok((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).map_err(|_| NumErr::Range)
    }
}

/// `safe_atoi()`.
pub(crate) fn safe_atoi(s: &str) -> std::result::Result<i32, NumErr> {
    i32::try_from(safe_atoli(s)?).map_err(|_| NumErr::Range)
}

/// systemd's `WHITESPACE` (" \t\n\r").
pub(crate) fn is_ws_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(values::is_ws)
}

//! Numbers as the reference agent reads them.
//!
//! The Datadog agent parses metric values and sample rates with Go's `strconv.ParseFloat` and
//! timestamps / event lengths with `strconv.ParseInt(s, 10, 64)` (or `Atoi`). To accept and
//! reject exactly the lines the agent does, this module reproduces the *syntax* Go accepts;
//! the decimal conversion itself is left to Rust's `str::parse::<f64>`, which, like Go, rounds
//! correctly, so both produce the same `f64` for the same text.
//!
//! Go's float syntax (strconv/atof.go, `special`, `readFloat`, `underscoreOK`):
//! - optional `+`/`-`, then `inf` or `infinity` (any case); `nan` (any case) only without a sign;
//! - or a decimal mantissa (digits with at most one `.`, at least one digit) with an optional
//!   `e`/`E` exponent (optional sign, at least one digit);
//! - or `0x`/`0X`, a hex mantissa and a **mandatory** `p`/`P` exponent (decimal);
//! - `_` is allowed only between digits (or between `0x` and a digit);
//! - a result that overflows to ±∞ is an error (`ErrRange`); underflow silently gives 0.
//!
//! Rust's `str::parse::<i64>` accepts exactly what `ParseInt(s, 10, 64)` accepts (optional
//! `+`/`-`, ASCII digits, no `_` in base 10, overflow is an error), so integers need no helper.

/// Parses `s` like Go's `strconv.ParseFloat(s, 64)`; `None` where Go returns an error.
///
/// `nan`/`inf` literals are returned as NaN/±∞ because Go accepts them; callers that need a
/// finite number check `is_finite()` themselves.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if let Some(v) = special(b) {
        return Some(v);
    }
    let (neg, body) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    // Go only takes the hex branch when at least one byte follows `0x`.
    let hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    if !syntax_ok(body, hex) {
        return None;
    }
    let v = if hex {
        parse_hex(&body[2..])?
    } else {
        // `body` is `s` without its ASCII sign byte, so this slice is on a char boundary.
        parse_decimal(&s[s.len() - body.len()..])?
    };
    Some(if neg { -v } else { v })
}

/// `inf`, `infinity` (optionally signed) and unsigned `nan`, case-insensitively, as the whole
/// string (Go's `special` may match a prefix, but `ParseFloat` then rejects the leftover).
fn special(b: &[u8]) -> Option<f64> {
    if b.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    let (sign, word) = match b.first() {
        Some(b'-') => (-1.0, &b[1..]),
        Some(b'+') => (1.0, &b[1..]),
        _ => (1.0, b),
    };
    if word.eq_ignore_ascii_case(b"inf") || word.eq_ignore_ascii_case(b"infinity") {
        return Some(sign * f64::INFINITY);
    }
    None
}

/// Checks the unsigned mantissa/exponent grammar and the underscore rule of Go.
fn syntax_ok(body: &[u8], hex: bool) -> bool {
    let is_digit = |c: u8| c.is_ascii_digit() || (hex && c.is_ascii_hexdigit());
    let exp_char = if hex { b'p' } else { b'e' };
    let mut i = if hex { 2 } else { 0 };
    let (mut saw_dot, mut saw_digits) = (false, false);
    while i < body.len() {
        match body[i] {
            b'_' => {}
            b'.' if !saw_dot => saw_dot = true,
            c if is_digit(c) => saw_digits = true,
            _ => break,
        }
        i += 1;
    }
    if !saw_digits {
        return false;
    }
    if i < body.len() && (body[i] | 0x20) == exp_char {
        i += 1;
        if matches!(body.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !body.get(i).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while i < body.len() && (body[i].is_ascii_digit() || body[i] == b'_') {
            i += 1;
        }
    } else if hex {
        return false; // a hex mantissa requires a `p` exponent
    }
    i == body.len() && underscores_ok(body, hex)
}

/// Go's `underscoreOK`: every `_` sits between two digits (the `0x` prefix counts as a digit).
fn underscores_ok(body: &[u8], hex: bool) -> bool {
    #[derive(PartialEq)]
    enum Saw {
        Start,
        Digit,
        Underscore,
        Other,
    }
    let (mut saw, start) = if hex {
        (Saw::Digit, 2)
    } else {
        (Saw::Start, 0)
    };
    for &c in &body[start..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = Saw::Digit;
        } else if c == b'_' {
            if saw != Saw::Digit {
                return false;
            }
            saw = Saw::Underscore;
        } else if saw == Saw::Underscore {
            return false;
        } else {
            saw = Saw::Other;
        }
    }
    saw != Saw::Underscore
}

/// Longest underscore-containing decimal we convert; longer ones are rejected (a deliberate,
/// documented limit that keeps the parse path free of heap allocation; no client sends them).
const UNDERSCORE_BUF: usize = 256;

/// Converts a syntactically valid unsigned decimal to `f64`; `None` on overflow.
fn parse_decimal(s: &str) -> Option<f64> {
    let v = if s.contains('_') {
        if s.len() > UNDERSCORE_BUF {
            return None;
        }
        let mut buf = [0u8; UNDERSCORE_BUF];
        let mut n = 0;
        for &c in s.as_bytes().iter().filter(|&&c| c != b'_') {
            buf[n] = c;
            n += 1;
        }
        std::str::from_utf8(&buf[..n]).ok()?.parse::<f64>().ok()?
    } else {
        s.parse::<f64>().ok()?
    };
    // The text is not an `inf` literal (handled by `special`), so ∞ here means overflow.
    v.is_finite().then_some(v)
}

/// Converts a valid hex float (after `0x`, without sign) to `f64`, correctly rounded
/// (round half to even, subnormals included); `None` on overflow, as Go's `atofHex`.
fn parse_hex(body: &[u8]) -> Option<f64> {
    // Accumulate up to 60 significant bits; further non-zero digits only set `sticky`.
    let (mut mant, mut exp, mut sticky, mut after_dot) = (0u64, 0i64, false, false);
    let mut i = 0;
    while i < body.len() && (body[i] | 0x20) != b'p' {
        let c = body[i];
        i += 1;
        let d = match c {
            b'_' => continue,
            b'.' => {
                after_dot = true;
                continue;
            }
            _ => u64::from((c as char).to_digit(16)?),
        };
        if mant < 1 << 60 {
            mant = mant * 16 + d;
            if after_dot {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !after_dot {
                exp += 4;
            }
        }
    }
    exp += read_exponent(&body[i + 1..]);
    if mant == 0 {
        return Some(0.0);
    }
    // Normalise so bit 63 is set: value = mant × 2^exp.
    let lz = mant.leading_zeros();
    mant <<= lz;
    exp -= i64::from(lz);
    // Keep 53 bits (shift 11), or fewer when the result is subnormal (exponent floor −1074).
    let mut q = exp + 11;
    let shift = if q < -1074 { -1074 - exp } else { 11 };
    q = q.max(-1074);
    let mut k = shift_round(mant, shift, sticky);
    if k == 1 << 53 {
        k >>= 1;
        q += 1;
    }
    if k >= 1 << 52 {
        let biased = q + 1075;
        if biased >= 2047 {
            return None; // overflow: Go returns ErrRange
        }
        Some(f64::from_bits(
            ((biased as u64) << 52) | (k & ((1 << 52) - 1)),
        ))
    } else {
        Some(f64::from_bits(k)) // subnormal (or zero after rounding)
    }
}

/// Reads a signed decimal exponent (digits and `_`), saturating far beyond any f64 range.
fn read_exponent(b: &[u8]) -> i64 {
    let (sign, digits) = match b.first() {
        Some(b'-') => (-1, &b[1..]),
        Some(b'+') => (1, &b[1..]),
        _ => (1, b),
    };
    let mut e: i64 = 0;
    for &c in digits.iter().filter(|c| c.is_ascii_digit()) {
        if e < 100_000 {
            e = e * 10 + i64::from(c - b'0');
        }
    }
    sign * e
}

/// `m >> shift`, rounded to nearest, ties to even; `sticky` marks non-zero bits below `m`.
fn shift_round(m: u64, shift: i64, sticky: bool) -> u64 {
    if shift >= 64 {
        // Everything is below the last kept bit; only exactly-half-or-more of 2^shift rounds up.
        let above_half = shift == 64 && m >= 1 << 63 && (m > 1 << 63 || sticky);
        return u64::from(above_half);
    }
    let kept = m >> shift;
    let rem = m & ((1u64 << shift) - 1);
    let half = 1u64 << (shift - 1);
    let round_up = rem > half || (rem == half && (sticky || kept & 1 == 1));
    kept + u64::from(round_up)
}

#[cfg(test)]
mod tests {
    use super::parse_go_float as p;

    #[test]
    fn decimal_forms_go_accepts() {
        assert_eq!(p("1"), Some(1.0));
        assert_eq!(p("+1.5"), Some(1.5));
        assert_eq!(p("-2"), Some(-2.0));
        assert_eq!(p(".5"), Some(0.5));
        assert_eq!(p("5."), Some(5.0));
        assert_eq!(p("1e-05"), Some(1e-5));
        assert_eq!(p("1E+3"), Some(1000.0));
        assert_eq!(p("007"), Some(7.0));
        assert_eq!(p("1_000.5"), Some(1000.5));
        assert_eq!(p("1_23.50_0_0e+1_2"), Some(1.235e14));
        assert_eq!(p("1e-400"), Some(0.0)); // underflow is not an error in Go
    }

    #[test]
    fn decimal_forms_go_rejects() {
        for s in [
            "", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", " 1", "1 ", "1x", "_1", "1_", "1__0",
            "1_.5", "1._5", "1.5_e1", "1.5e_1", "1e400", "-1e400", "+nan", "-NaN", "infx", "0x",
            "0x1", "0x1.8", "1p3", "0xp1", "0x_1p0_",
        ] {
            assert_eq!(p(s), None, "{s:?}");
        }
    }

    #[test]
    fn specials() {
        assert!(p("nan").unwrap().is_nan());
        assert!(p("NaN").unwrap().is_nan());
        assert_eq!(p("inf"), Some(f64::INFINITY));
        assert_eq!(p("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(p("+INF"), Some(f64::INFINITY));
    }

    #[test]
    fn hex_floats() {
        assert_eq!(p("0x1p-2"), Some(0.25));
        assert_eq!(p("0X1.8P1"), Some(3.0));
        assert_eq!(p("-0x10p0"), Some(-16.0));
        assert_eq!(p("0x.8p1"), Some(1.0));
        assert_eq!(p("0x_1p0"), Some(1.0));
        assert_eq!(p("0x1_0p0"), Some(16.0));
        assert_eq!(p("0x0p0"), Some(0.0));
        assert_eq!(p("0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(p("0x1p1024"), None);
        assert_eq!(p("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(p("0x1p-1075"), Some(0.0)); // tie, rounds to even (zero)
        assert_eq!(p("0x1.0000000000001p-1075"), Some(f64::from_bits(1)));
        assert_eq!(p("0x1p-1022"), Some(f64::MIN_POSITIVE));
        // 2^53 + 1 rounds to even (2^53); 2^53 + 3 rounds up to 2^53 + 4.
        assert_eq!(p("0x20000000000001p0"), Some(9007199254740992.0));
        assert_eq!(p("0x20000000000003p0"), Some(9007199254740996.0));
        // More than 60 bits of mantissa: the sticky digit breaks the tie upwards.
        assert_eq!(
            p("0x1000000000000080000001p0"),
            Some(f64::from_bits(0x4530_0000_0000_0001))
        );
        assert_eq!(
            p("0x1000000000000080000000p0"),
            Some(f64::from_bits(0x4530_0000_0000_0000))
        );
    }
}

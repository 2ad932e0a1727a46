//! The one duration grammar of the command line, of config files and of generator specs: Go's
//! `time.ParseDuration` (`1m`, `90s`, `1.5s`, `100ms`, `1m30s`; units `ns us µs ms s m min h`),
//! and a bare number of seconds (`12.5`). `--stop t:`, `--every`, `--flush-interval`,
//! `--duration`, the generator's `duration=` and the agent's duration keys all read durations
//! here. Arithmetic is exact decimal: `35.35s` is exactly 35 350 000 000 ns.

use std::time::Duration;

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A duration in nanoseconds: one or more `number unit` parts (`1m30s`), or one bare number of
/// seconds. Digits may be separated by `_`.
pub fn parse_ns(v: &str) -> Result<u64, String> {
    let bad =
        || format!("expected a duration like 90s, 1.5s, 500ms, 1m30s or 12.5 (seconds), got `{v}`");
    let mut rest = v.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(split);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_ns: u64 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            // A bare number is seconds, alone only.
            "" if parts == 0 && after.is_empty() => NANOS_PER_SEC,
            "m" | "min" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            _ => return Err(bad()),
        };
        total += decimal_ns(number, unit_ns).ok_or_else(bad)?;
        parts += 1;
        rest = after;
    }
    u64::try_from(total).map_err(|_| format!("too long: `{v}`"))
}

/// `number` × `unit_ns`, exactly; `None` when it is not a decimal number or is finer than 1 ns.
fn decimal_ns(number: &str, unit_ns: u64) -> Option<u128> {
    let number: String = number.chars().filter(|&c| c != '_').collect();
    let (whole, frac) = number.split_once('.').unwrap_or((&number, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut ns = whole.checked_mul(u128::from(unit_ns))?;
    // The fraction, digit by digit; digits below 1 ns must be zeros.
    let mut scale = u128::from(unit_ns);
    for d in frac.bytes() {
        let d = u128::from(d - b'0');
        if !scale.is_multiple_of(10) {
            if d != 0 {
                return None;
            }
            continue;
        }
        scale /= 10;
        ns += d * scale;
    }
    Some(ns)
}

/// A command-line duration in seconds ([`parse_ns`]'s grammar).
pub fn parse_seconds(s: &str) -> Option<f64> {
    parse_ns(s).ok().map(|ns| ns as f64 / NANOS_PER_SEC as f64)
}

/// A delay in seconds as a `Duration`, capped at about 30 years: absurd speeds and rates make
/// absurd delays, never a panic.
pub fn to_duration(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.min(1e9)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar() {
        assert_eq!(parse_seconds("1m"), Some(60.0));
        assert_eq!(parse_seconds("90s"), Some(90.0));
        assert_eq!(parse_seconds("1.5s"), Some(1.5));
        assert_eq!(parse_seconds("100ms"), Some(0.1));
        assert_eq!(parse_seconds("12.5"), Some(12.5));
        assert_eq!(parse_seconds("1m30s"), Some(90.0));
        assert_eq!(parse_seconds("2h"), Some(7200.0));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("x"), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("inf"), None);
        assert_eq!(parse_seconds("1 2"), None);
        assert_eq!(parse_ns("35.35"), Ok(35_350_000_000));
        assert_eq!(parse_ns("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_ns(".5"), Ok(500_000_000));
        assert_eq!(parse_ns("1_000ms"), Ok(NANOS_PER_SEC));
        assert!(parse_ns("1.5ns").is_err());
        assert!(parse_ns("5 parsecs").is_err());
        assert!(parse_ns("99999999999h").is_err());
    }
}

//! The agent's duration keys as its config reader (Go's viper) takes them: a Go duration string
//! (`"100ms"`, `"1.5s"`, `"1m30s"`) or a bare integer of nanoseconds. They are read apart from
//! the rest of a settings file because the pipeline keeps whole milliseconds (its timers'
//! resolution), and a value that is not a whole number of them must be refused, not rounded.
//! The grammar of the string itself is the one of every duration lastbucket reads
//! ([`crate::duration`]), with Go's rule that a string needs its unit.

use serde_json::Value;

/// A value of an agent duration key that is not a duration in whole milliseconds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GoDurationError {
    #[error("{0} is not a whole number of nanoseconds")]
    NotWholeNanos(serde_json::Number),
    /// Go's grammar: a string needs its unit (`"100"` is not a duration).
    #[error("{0:?} has no unit (expected e.g. \"100ms\")")]
    NoUnit(String),
    /// The duration grammar's own message.
    #[error("{0}")]
    Grammar(String),
    #[error("expected a duration like \"100ms\", got {0}")]
    NotADuration(Value),
    #[error("{0} is not a whole number of milliseconds (the pipeline's timer resolution)")]
    NotWholeMillis(Value),
}

/// A Go duration (`"100ms"`, `"1.5s"`, `"1m30s"`) or an integer of nanoseconds, in whole
/// milliseconds (the resolution of the pipeline's timers).
pub fn go_duration_ms(v: &Value) -> Result<u64, GoDurationError> {
    let ns: f64 = match v {
        Value::Number(n) => {
            n.as_u64()
                .ok_or_else(|| GoDurationError::NotWholeNanos(n.clone()))? as f64
        }
        Value::String(s) if s.trim().parse::<f64>().is_ok() => {
            return Err(GoDurationError::NoUnit(s.clone()))
        }
        Value::String(s) => crate::duration::parse_ns(s).map_err(GoDurationError::Grammar)? as f64,
        other => return Err(GoDurationError::NotADuration(other.clone())),
    };
    let ms = ns / 1e6;
    if ms.fract() != 0.0 || ms < 1.0 {
        return Err(GoDurationError::NotWholeMillis(v.clone()));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms(&json!("100ms")), Ok(100));
        assert_eq!(go_duration_ms(&json!("1.5s")), Ok(1500));
        assert_eq!(go_duration_ms(&json!("1m30s")), Ok(90_000));
        assert_eq!(go_duration_ms(&json!(200_000_000)), Ok(200));
        assert!(go_duration_ms(&json!("100")).is_err());
        assert!(go_duration_ms(&json!("10us")).is_err());
        assert!(go_duration_ms(&json!("fast")).is_err());
        assert!(go_duration_ms(&json!(true)).is_err());
    }
}

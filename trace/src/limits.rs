//! How much a trace reader and the verifier take in before they refuse, and how values
//! are shown in messages.
//!
//! Traces come from programs paceline does not control. Every quantity that would make a
//! reader's memory or time grow without bound has a limit here, with a default large
//! enough for any real run and a command-line flag that raises it; reaching a limit is a
//! refusal (exit 2) that names the limit and its flag, never a crash.

use std::fmt;

/// The longest a value from the input is shown in a message, in characters.
pub const SHOWN_CHARS: usize = 80;

/// `value` as a message shows it: quoted, cut after [`SHOWN_CHARS`] characters, with its
/// full length said, so that a megabyte value is never echoed back whole.
pub fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => {
            let head = value.get(..cut).unwrap_or_default();
            format!("{head:?}... ({} bytes in all)", value.len())
        }
    }
}

/// Bounds on a trace as read by [`TraceReader`](crate::TraceReader) and checked by the
/// verifier. The defaults are the README's "Resource bounds".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLimits {
    /// Bytes of input, checked before reading a file and again while streaming (a pipe or
    /// a device has no size). `--max-trace-bytes`.
    pub max_file_bytes: u64,
    /// Bytes of one value (field); a line may hold 16 of them. `--max-value-bytes`.
    pub max_value_bytes: u64,
    /// Rows of one batch: bounds row indexes and the `rows` a `batch_start` declares.
    /// `--max-rows-per-batch`.
    pub max_rows_per_batch: u64,
    /// Batches in one trace. `--max-batches`.
    pub max_batches: u64,
    /// Batches started and not yet ended at one time. `--max-open-batches`.
    pub max_open_batches: u64,
    /// Rows seen and not yet ended and returned at one time: the verifier keeps about
    /// 200 bytes for each. `--max-open-rows`.
    pub max_open_rows: u64,
}

impl Default for TraceLimits {
    fn default() -> Self {
        TraceLimits {
            max_file_bytes: 1 << 30,
            max_value_bytes: 1024,
            max_rows_per_batch: 10_000_000,
            max_batches: 10_000_000,
            max_open_batches: 1000,
            max_open_rows: 2_000_000,
        }
    }
}

impl TraceLimits {
    /// Bytes of one line (record): room for 16 values at their limit.
    pub fn max_line_bytes(&self) -> u64 {
        self.max_value_bytes.saturating_mul(16)
    }
}

/// A limit the input reached: what, the limit, and the flag that raises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    /// What reached the limit, in words ("rows open at once").
    pub what: String,
    /// The limit in force.
    pub limit: u64,
    /// The command-line flag that raises it.
    pub flag: &'static str,
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: beyond the limit of {} (raise it with {})",
            self.what, self.limit, self.flag
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_measured() {
        assert_eq!(shown("abc"), "\"abc\"");
        let long = "x".repeat(1_000_000);
        let s = shown(&long);
        assert!(s.len() < 120, "{s}");
        assert!(s.ends_with("... (1000000 bytes in all)"), "{s}");
        // Cut on a character, never inside one.
        let wide = "é".repeat(100);
        assert!(shown(&wide).starts_with(&format!("{:?}", "é".repeat(80))[..81]));
    }
}

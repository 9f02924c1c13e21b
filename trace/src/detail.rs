//! The `detail` column: `key=value` pairs separated by `;`, and every key's spelling.

use std::fmt::Write as _;

/// The keys of the `detail` column, each spelled once.
pub mod key {
    /// `batch_start`: rows in the batch.
    pub const ROWS: &str = "rows";
    /// `batch_start`: who recorded the trace, where it is not the pool itself:
    /// [`SERVER_VANTAGE`](crate::SERVER_VANTAGE) for a provider's own trace of the
    /// requests it received (`paceline serve`).
    pub const VANTAGE: &str = "vantage";
    /// `dispatch`: the row's input tokens, where the row has a token count.
    pub const TOKENS: &str = "tokens";
    /// `capacity`: the wait the answer asked for, in milliseconds, where it gave one.
    pub const RETRY_AFTER_MS: &str = "retry_after_ms";
    /// `capacity`: the simulated limit that refused (`requests`, `tokens`, `outage`).
    pub const LIMIT: &str = "limit";
    /// `permanent`: why the row ended without an answer (`too_large`).
    pub const REASON: &str = "reason";
    /// Answers and `emit`: the HTTP status.
    pub const STATUS: &str = "status";
    /// `backoff`: its length, rounded up to the microsecond.
    pub const BACKOFF_US: &str = "backoff_us";
    /// `retry_timeout`: time since the budget started.
    pub const ELAPSED_US: &str = "elapsed_us";
    /// `retry_timeout`: the budget.
    pub const BUDGET_US: &str = "budget_us";
    /// `emit`: the row's result.
    pub const RESULT: &str = "result";
    /// `emit`: the row's index in its batch.
    pub const SUBMIT_INDEX: &str = "submit_index";
    /// `emit`: the row's place in the order of completion.
    pub const COMPLETE_INDEX: &str = "complete_index";
    /// `emit`: when the batch was called.
    pub const SUBMIT_US: &str = "submit_us";
    /// `emit`: when the row completed.
    pub const COMPLETE_US: &str = "complete_us";
    /// `emit`: how long the entry waited in the reorder buffer.
    pub const BUFFER_WAIT_US: &str = "buffer_wait_us";
    /// `batch_end`: failures the throttle recorded.
    pub const CAPACITY_RETRIES: &str = "capacity_retries";
    /// `batch_end`: successes.
    pub const SUCCESSES: &str = "successes";
    /// `batch_end`: highest `D` in force.
    pub const PEAK_DELAY_MS: &str = "peak_delay_ms";
    /// `batch_end`: time spent at the gate and in backoff.
    pub const TOTAL_THROTTLE_TIME_US: &str = "total_throttle_time_us";
    /// `batch_end`: most permits held at once.
    pub const MAX_CONCURRENT: &str = "max_concurrent";
    /// `batch_end`: `D` when the batch ended.
    pub const DELAY_AT_COMPLETION_MS: &str = "delay_at_completion_ms";

    /// Every key above, for what must tell them all apart (the simulator's I8 digest).
    pub const ALL: [&str; 22] = [
        ROWS,
        VANTAGE,
        TOKENS,
        RETRY_AFTER_MS,
        LIMIT,
        REASON,
        STATUS,
        BACKOFF_US,
        ELAPSED_US,
        BUDGET_US,
        RESULT,
        SUBMIT_INDEX,
        COMPLETE_INDEX,
        SUBMIT_US,
        COMPLETE_US,
        BUFFER_WAIT_US,
        CAPACITY_RETRIES,
        SUCCESSES,
        PEAK_DELAY_MS,
        TOTAL_THROTTLE_TIME_US,
        MAX_CONCURRENT,
        DELAY_AT_COMPLETION_MS,
    ];
}

/// The [`key::VANTAGE`] of a trace written by the provider's side (`paceline serve`): its
/// `dispatch` events are requests as they arrived, its answers what the server said, and
/// it knows nothing of the pool's permits, rows, backoffs or entries.
pub const SERVER_VANTAGE: &str = "server";

/// The value of `key` in a `key=value;key=value` detail string: the first pair, split at
/// `;`, that starts with `key=` (so a key holding a `;` has none).
///
/// Every stage that reads a trace asks this of most `emit` lines, two to four times each:
/// it walks the pairs in one pass over the bytes, ruling a pair out by the byte after the
/// key's length (it must be `=`) before any text is compared, and finding each pair's end
/// eight bytes at a time (`str::split` cost more per pair than the pairs' few bytes).
#[inline]
pub fn detail_value<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
    let [value] = detail_values(detail, [key]);
    value
}

/// The values of several keys, each as [`detail_value`] finds it, in one walk over the
/// pairs: a stage that reads two keys of one line pays for one search. Inlined as far
/// as the walk: most records have no detail at all, and cost a test.
#[inline]
pub fn detail_values<'a, const N: usize>(detail: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    if detail.is_empty() {
        return [None; N];
    }
    walk(detail, keys)
}

/// [`detail_values`]' walk over the pairs.
fn walk<'a, const N: usize>(detail: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    let bytes = detail.as_bytes();
    let mut found = [None; N];
    let mut missing = N;
    let mut start = 0;
    while missing > 0
        && let Some(pair) = bytes.get(start..)
    {
        // Where the next pair starts, once a key's value has shown where this one ends
        // (`Some(None)`: it ends the detail).
        let mut next = None;
        for (key, slot) in keys.iter().zip(&mut found) {
            let key = key.as_bytes();
            // A key with a `;` is no key of a pair (splitting into pairs never finds it);
            // without one, a value's end is its pair's end.
            if slot.is_none()
                && pair.get(key.len()) == Some(&b'=')
                && pair.starts_with(key)
                && !key.contains(&b';')
            {
                let value = start + key.len() + 1;
                let rest = bytes.get(value..).unwrap_or_default();
                let len = separator(rest);
                let end = value + len.unwrap_or(rest.len());
                // Both ends sit next to ASCII bytes (`=`, and `;` or the end): char
                // boundaries, so the text is there.
                *slot = detail.get(value..end);
                debug_assert!(slot.is_some(), "{detail:?} at {value}");
                missing -= 1;
                next = Some(len.map(|_| end + 1));
            }
        }
        let Some(after) = next.unwrap_or_else(|| separator(pair).map(|end| start + end + 1)) else {
            break;
        };
        start = after;
    }
    found
}

/// Where the first `;` of `bytes` is, eight bytes at a time: a word's bytes equal to `;`
/// become zero under XOR, and the lowest zero byte is the lowest one whose top bit
/// survives `(x - 0x01..01) & !x` (a borrow only runs upward, past the first zero).
fn separator(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    const SEMICOLONS: u64 = ONES * b';' as u64;
    let (words, rest) = bytes.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let x = u64::from_le_bytes(*word) ^ SEMICOLONS;
        let zeros = x.wrapping_sub(ONES) & !x & TOPS;
        if zeros != 0 {
            return Some(i * 8 + (zeros.trailing_zeros() / 8) as usize);
        }
    }
    let at = rest.iter().position(|&b| b == b';')?;
    Some(words.len() * 8 + at)
}

/// Builds a detail string into a buffer the caller reuses, so writing a trace allocates
/// nothing per event.
pub struct DetailWriter<'a>(&'a mut String);

impl<'a> DetailWriter<'a> {
    /// Start an empty detail in `buf`.
    pub fn new(buf: &'a mut String) -> Self {
        buf.clear();
        DetailWriter(buf)
    }

    /// Append `key=value`. Always inlined: the keys are constants where it is called, so
    /// their copies are a few moves instead of calls.
    #[inline(always)]
    pub fn text(&mut self, key: &str, value: &str) -> &mut Self {
        if !self.0.is_empty() {
            self.0.push(';');
        }
        self.0.push_str(key);
        self.0.push('=');
        self.0.push_str(value);
        self
    }

    /// Append an integer value. Always inlined, as [`DetailWriter::text`] is.
    #[inline(always)]
    pub fn int<I: itoa::Integer>(&mut self, key: &str, value: I) -> &mut Self {
        self.text(key, itoa::Buffer::new().format(value))
    }

    /// Append a number written the shortest way that reads back exactly.
    pub fn float(&mut self, key: &str, value: f64) -> &mut Self {
        if !self.0.is_empty() {
            self.0.push(';');
        }
        // Writing to a String cannot fail.
        let _ = write!(self.0, "{key}={value}");
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_values_are_found_by_key() {
        assert_eq!(detail_value("a=1;bb=2;c=", "bb"), Some("2"));
        assert_eq!(detail_value("a=1;bb=2;c=", "c"), Some(""));
        assert_eq!(detail_value("a=1", "b"), None);
        // A key is a whole name before `=`, never a prefix of a longer one.
        assert_eq!(detail_value("bb=2;b=3", "b"), Some("3"));
        assert_eq!(detail_value("b;b=é;c=1", "b"), Some("é"));
        assert_eq!(detail_value("", "b"), None);
        assert_eq!(detail_value(";;b=", "b"), Some(""));
        assert_eq!(detail_value("x=a=b", "x"), Some("a=b"));
    }

    /// Every detail of up to six pieces over an alphabet of keys, separators and a
    /// two-byte character gives what splitting it into pairs and stripping `key=` gives.
    #[test]
    fn the_byte_walk_agrees_with_splitting_into_pairs() {
        let pieces = ["a", "b", "=", ";", "é"];
        fn by_pairs<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
            detail
                .split(';')
                .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        }
        let mut details = vec![String::new()];
        for _ in 0..6 {
            let longer: Vec<String> = details
                .iter()
                .flat_map(|d| pieces.iter().map(move |p| format!("{d}{p}")))
                .collect();
            details.extend(longer);
        }
        details.sort();
        details.dedup();
        assert!(details.len() > 5usize.pow(6));
        // With `=` and `;` in keys too: no key with a `;` is found.
        let keys = ["a", "b", "ab", "é", "", "a=b", "a;b", ";"];
        for detail in &details {
            for key in keys {
                assert_eq!(
                    detail_value(detail, key),
                    by_pairs(detail, key),
                    "{detail:?} {key:?}"
                );
                for other in keys {
                    assert_eq!(
                        detail_values(detail, [key, other]),
                        [by_pairs(detail, key), by_pairs(detail, other)],
                        "{detail:?} {key:?} {other:?}"
                    );
                }
            }
        }
    }

    /// The word-at-a-time search finds the first `;` at every place of every length,
    /// among bytes one above and one below it (where a borrow could mislead it) and
    /// bytes with the top bit set.
    #[test]
    fn the_separator_is_the_first_semicolon() {
        let fillers = [b':', b'<', 0xbb, 0x3b ^ 0x80, 0xff, b'a'];
        for len in 0..40 {
            let filler: Vec<u8> = (0..len).map(|i| fillers[i % fillers.len()]).collect();
            assert_eq!(separator(&filler), None, "none in {len}");
            for first in 0..len {
                let mut bytes = filler.clone();
                bytes[first] = b';';
                if first + 3 < len {
                    bytes[first + 3] = b';';
                }
                assert_eq!(separator(&bytes), Some(first), "{bytes:?}");
            }
        }
    }

    #[test]
    fn the_writer_joins_pairs() {
        let mut buf = String::from("stale");
        DetailWriter::new(&mut buf)
            .int(key::ELAPSED_US, 2000u64)
            .float(key::PEAK_DELAY_MS, 0.5)
            .text(key::RESULT, "ok");
        assert_eq!(buf, "elapsed_us=2000;peak_delay_ms=0.5;result=ok");
        assert_eq!(detail_value(&buf, key::PEAK_DELAY_MS), Some("0.5"));
    }
}

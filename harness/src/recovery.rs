//! `expect.recovers`: a liveness expectation judged from the trace alone.
//!
//! After `after_ms`, the pool must be back to `rows_per_min` within `within_ms`. The
//! throughput is counted over a sliding window of one minute: the `ok` answers in
//! `(t - 60 s, t]`. The pool has recovered when some window lying wholly after
//! `after_ms` and ending by `after_ms + within_ms` holds at least `rows_per_min` of them
//! (so `within_ms` is at least a minute). Only successes count: a pool that ends rows
//! quickly by timing them out has not recovered. A run that ends, or reaches its horizon,
//! before recovering has not recovered.

use std::collections::VecDeque;
use std::io;

use paceline_sim::Recovery;
use paceline_trace::{EventName, TraceRecord, TraceSink, ms};

use crate::expect::Mismatch;

/// The window throughput is counted over, in microseconds.
pub const RECOVERY_WINDOW_US: u64 = 60_000_000;

/// Watches a trace stream for `expect.recovers`; a no-op without one.
#[derive(Debug, Default)]
pub(crate) struct RecoveryWatch {
    spec: Option<Recovery>,
    /// Times of the `ok` answers in the current window, after `after`.
    window: VecDeque<u64>,
    /// Most `ok` answers seen in one eligible window.
    best: usize,
    recovered: bool,
    /// Whether the first eligible window, `(after, after + 60 s]`, was counted.
    counted_first: bool,
    /// Whether the trace passed `after + within`: nothing later counts.
    closed: bool,
}

impl RecoveryWatch {
    pub(crate) fn new(spec: Option<Recovery>) -> Self {
        RecoveryWatch {
            spec,
            ..RecoveryWatch::default()
        }
    }

    /// Count the window ending at `end` (the queue holds exactly its answers).
    fn count(&mut self, rows_per_min: u64) {
        self.best = self.best.max(self.window.len());
        if self.window.len() as u64 >= rows_per_min {
            self.recovered = true;
        }
    }

    /// The expectation missed, if it was.
    pub(crate) fn finish(mut self) -> Option<Mismatch> {
        let spec = self.spec?;
        if !self.recovered && !self.counted_first && !self.closed {
            self.count(spec.rows_per_min);
        }
        let first = spec.after_us.saturating_add(RECOVERY_WINDOW_US);
        let last = spec.after_us.saturating_add(spec.within_us);
        (!self.recovered).then(|| Mismatch {
            key: "expect.recovers".into(),
            expected: format!(
                "{} ok rows in some minute ending between {} and {} ms",
                spec.rows_per_min,
                ms(first),
                ms(last)
            ),
            actual: format!("at most {} in any such minute", self.best),
        })
    }
}

impl TraceSink for RecoveryWatch {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        let Some(spec) = self.spec else {
            return Ok(());
        };
        let t = record.t_us;
        if self.recovered || self.closed || record.event != EventName::Ok || t <= spec.after_us {
            return Ok(());
        }
        let first = spec.after_us.saturating_add(RECOVERY_WINDOW_US);
        if t > first && !self.counted_first {
            // The first eligible window ended before this answer: count it as it stood.
            self.counted_first = true;
            self.count(spec.rows_per_min);
            if self.recovered {
                return Ok(());
            }
        }
        if t > spec.after_us.saturating_add(spec.within_us) {
            self.closed = true;
            return Ok(());
        }
        self.window.push_back(t);
        while self
            .window
            .front()
            .is_some_and(|&s| s <= t.saturating_sub(RECOVERY_WINDOW_US))
        {
            self.window.pop_front();
        }
        if t >= first {
            self.counted_first = true;
            self.count(spec.rows_per_min);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ok` answers at these milliseconds through a watch of `spec`.
    fn watch(spec: Recovery, oks_ms: impl IntoIterator<Item = u64>) -> Option<Mismatch> {
        let mut w = RecoveryWatch::new(Some(spec));
        for t in oks_ms {
            let record = TraceRecord {
                t_us: t * 1000,
                event: EventName::Ok,
                batch: Some(0),
                row: Some(0),
                id: "",
                attempt: Some(1),
                delay_ms: None,
                detail: "",
            };
            w.record(&record).expect("a watch never fails");
        }
        w.finish()
    }

    /// After 10 s, 3 ok rows a minute within 90 s: eligible windows end 70 s to 100 s.
    const SPEC: Recovery = Recovery {
        after_us: 10_000_000,
        within_us: 90_000_000,
        rows_per_min: 3,
    };

    #[test]
    fn three_answers_in_one_minute_after_the_mark_recover() {
        // 20, 50 and 75 s: the window (15 s, 75 s] holds all three.
        assert_eq!(watch(SPEC, [20_000, 50_000, 75_000]), None);
        // Two before the first window closes at 70 s, none after: only (10, 70] counts.
        assert!(watch(SPEC, [20_000, 50_000]).is_some());
    }

    #[test]
    fn answers_before_the_mark_do_not_count() {
        // 5 and 9 s are before `after`; 20 s and 65 s make two.
        let missed = watch(SPEC, [5_000, 9_000, 20_000, 65_000]).expect("not recovered");
        assert_eq!(missed.key, "expect.recovers");
        assert_eq!(missed.actual, "at most 2 in any such minute");
    }

    #[test]
    fn a_minute_too_spread_out_or_too_late_does_not_recover() {
        // 20, 50 and 81 s: (21, 81] holds two; the window at 81 s lost 20 s.
        assert!(watch(SPEC, [20_000, 50_000, 81_000]).is_some());
        // 95, 98 and 101 s: 101 s is past 100 s, so the window ending at 98 s has two.
        assert!(watch(SPEC, [95_000, 98_000, 101_000]).is_some());
        // The same at 95, 98 and 100 s (the last eligible instant): recovered.
        assert_eq!(watch(SPEC, [95_000, 98_000, 100_000]), None);
    }
}

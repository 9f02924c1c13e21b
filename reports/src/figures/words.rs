//! The figures in words, one (name, value) line each: what `replay` prints and the
//! report's table shows, worded once.

use paceline_trace::{ResultKind, counted, ms};

use super::{BudgetUse, Figures, Measure, Side};

/// A duration as a person reads it: milliseconds (to a tenth) below a second, then
/// seconds, with minutes or hours beside long ones.
pub fn duration(us: u64) -> String {
    let s = us as f64 / 1e6;
    if us < 1_000_000 && us.is_multiple_of(1000) {
        format!("{} ms", ms(us))
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us < 10_000_000 {
        format!("{s:.2} s")
    } else if s < 600.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{s:.0} s ({:.1} min)", s / 60.0)
    } else {
        format!("{s:.0} s ({:.1} h)", s / 3600.0)
    }
}

fn or_na(v: Option<String>) -> String {
    v.unwrap_or_else(|| "n/a".to_string())
}

fn share(v: Option<f64>) -> String {
    or_na(v.map(|v| format!("{:.0}%", v * 100.0)))
}

fn budget_line(u: &BudgetUse) -> String {
    let b = &u.budget;
    let what = match b.measure {
        Measure::Requests => "requests",
        Measure::Tokens => "tokens",
    };
    let side = match b.side {
        Side::Client => "client budget",
        Side::Provider => "provider limit",
    };
    format!(
        "{} ({side}, {} {what} per {}): {} used over the run, {} in the busiest window",
        b.name,
        b.amount,
        duration(b.per_us),
        share(u.mean),
        share(u.peak)
    )
}

impl Figures {
    /// Every figure as a (name, value) line.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let makespan = match self.horizon_us {
            Some(_) => format!(
                "at least {} (cut off by the horizon)",
                duration(self.makespan_us)
            ),
            None => duration(self.makespan_us),
        };
        let mut results: Vec<String> = ResultKind::ALL
            .iter()
            .filter(|k| self.rows_with(**k) > 0)
            .map(|k| format!("{} {}", k.as_str(), self.rows_with(*k)))
            .collect();
        results.push(if self.unfinished == 0 {
            "none unfinished".to_string()
        } else {
            format!("{} unfinished", self.unfinished)
        });
        let f = &self.failures;
        let latency = or_na(self.latency.map(|l| {
            format!(
                "p50 {}, p95 {}, p99 {}, max {}",
                duration(l.p50_us),
                duration(l.p95_us),
                duration(l.p99_us),
                duration(l.max_us)
            )
        }));
        let w = &self.waits;
        let per_row = |total_us: u64| total_us / self.rows.max(1);
        let mut lines = vec![
            ("makespan", makespan),
            ("rows", format!("{}: {}", self.rows, results.join(", "))),
            (
                "throughput",
                format!(
                    "{} rows/min, {}",
                    or_na(self.rows_per_min.map(|v| format!("{v:.1}"))),
                    self.tokens_per_min.map_or_else(
                        || "tokens/min n/a (no tokens in the trace)".to_string(),
                        |v| format!("{v:.0} tokens/min")
                    )
                ),
            ),
            (
                "attempts",
                format!(
                    "{}, {} per row ({})",
                    self.dispatches,
                    or_na(self.attempts_per_row().map(|v| format!("{v:.2}"))),
                    counted(self.retries, "retry")
                ),
            ),
            (
                "failures",
                format!(
                    "{} (429: {}, 503: {}, 529: {}, other: {})",
                    f.total(),
                    f.status_429,
                    f.status_503,
                    f.status_529,
                    f.other
                ),
            ),
            ("latency", latency),
            (
                "waiting",
                format!(
                    "a row waited on average {} for a permit, {} at the gate, {} in backoff; the pool was paused {}",
                    duration(per_row(w.permit_us)),
                    duration(per_row(w.gate_us)),
                    duration(per_row(w.backoff_us)),
                    or_na(w.paused_us.map(duration))
                ),
            ),
            (
                "peak concurrency",
                format!(
                    "{} held, {} in flight",
                    counted(self.peak_permits, "permit"),
                    counted(self.peak_in_flight, "attempt")
                ),
            ),
        ];
        if self.budgets.is_empty() {
            lines.push(("budgets", "none given".to_string()));
        }
        lines.extend(self.budgets.iter().map(|u| ("budget", budget_line(u))));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(duration(590_000), "590 ms");
        assert_eq!(duration(1_500), "1.5 ms");
        assert_eq!(duration(789_548), "789.5 ms");
        assert_eq!(duration(8_033_000), "8.03 s");
        assert_eq!(duration(38_260_000), "38.3 s");
        assert_eq!(duration(1_000_000_000), "1000 s (16.7 min)");
        assert_eq!(duration(9_000_000_000), "9000 s (2.5 h)");
    }
}

//! Scenarios back to TOML: how `explore` saves what it found as a file users can replay,
//! read and edit. Parsing the text gives back an equal scenario (tested).

use std::fmt::Write as _;

use toml::Value;

use super::{Distribution, Phase, Rows, Scenario};
use crate::provider::{Counts, LimitKind, LimitSpec, Measure, RetryAfter};
use crate::record::answer_name;

fn text(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn ms(us: u64) -> u64 {
    us / 1000
}

/// A distribution as written, its values divided by `scale` (1000 for microseconds
/// written as milliseconds).
fn distribution(d: Distribution, scale: u64) -> String {
    match d {
        Distribution::Fixed(v) => (v / scale).to_string(),
        Distribution::Uniform { min, max } => {
            format!("{{ min = {}, max = {} }}", min / scale, max / scale)
        }
        Distribution::LogNormal { p50, p99 } => {
            format!("{{ p50 = {}, p99 = {} }}", p50 / scale, p99 / scale)
        }
    }
}

/// Nanoseconds per token as milliseconds.
fn per_token(ns: u64) -> String {
    Value::Float(ns as f64 / 1e6).to_string()
}

fn limit(l: &LimitSpec) -> String {
    let measure = match l.measure {
        Measure::Requests => "requests",
        Measure::Tokens => "tokens",
    };
    let kind = match l.kind {
        LimitKind::Window => "window",
        LimitKind::Bucket => "bucket",
    };
    let counts = match l.counts {
        Counts::All => "all",
        Counts::Accepted => "accepted",
    };
    let retry_after = match l.retry_after {
        RetryAfter::Ms => "ms",
        RetryAfter::Seconds => "seconds",
        RetryAfter::None => "none",
    };
    format!(
        "{{ {measure} = {}, per_ms = {}, kind = \"{kind}\", counts = \"{counts}\", retry_after = \"{retry_after}\", status = {} }}",
        l.amount,
        ms(l.per_us),
        l.status
    )
}

fn phase(out: &mut String, p: &Phase) {
    let _ = writeln!(
        out,
        "\n[[service.phases]]\nfrom_ms = {}\nuntil_ms = {}",
        ms(p.from_us),
        ms(p.until_us)
    );
    if let Some(o) = p.outage {
        let wait = o
            .retry_after_ms
            .map_or(String::new(), |r| format!(", retry_after_ms = {r}"));
        let _ = writeln!(out, "outage = {{ status = {}{wait} }}", o.status);
    }
    if let Some(r) = p.capacity_rate {
        let _ = writeln!(out, "capacity_rate = {}", Value::Float(r));
    }
    if let Some(s) = p.capacity_status {
        let _ = writeln!(out, "capacity_status = {s}");
    }
    if let Some(l) = p.latency {
        let _ = writeln!(out, "latency_ms = {}", distribution(l, 1000));
    }
    if let Some(ns) = p.latency_per_output_token_ns {
        let _ = writeln!(out, "latency_per_output_token_ms = {}", per_token(ns));
    }
    if let Some(limits) = &p.limits {
        let items: Vec<String> = limits.iter().map(limit).collect();
        let _ = writeln!(out, "limits = [{}]", items.join(", "));
    }
}

impl Scenario {
    /// The scenario as a TOML file. Times are whole milliseconds, as in any scenario.
    pub fn to_toml(&self) -> String {
        // Writing to a String cannot fail: the results of `writeln!` are ignored.
        let mut out = String::new();
        let _ = writeln!(out, "name = {}", text(&self.name));
        let _ = writeln!(out, "description = {}", text(&self.description));
        let _ = writeln!(out, "seed = {}", self.seed);
        let _ = writeln!(out, "horizon_ms = {}", ms(self.horizon_us));
        if self.timer_slack_us > 0 {
            let _ = writeln!(out, "timer_slack_us = {}", self.timer_slack_us);
        }
        let raw = self.pool.to_raw();
        let _ = writeln!(out, "\n[pool]");
        let _ = writeln!(out, "pool_size = {}", raw.pool_size);
        let _ = writeln!(out, "min_dispatch_delay_ms = {}", raw.min_dispatch_delay_ms);
        let _ = writeln!(out, "max_dispatch_delay_ms = {}", raw.max_dispatch_delay_ms);
        let _ = writeln!(
            out,
            "backoff_multiplier = {}",
            Value::Float(raw.backoff_multiplier)
        );
        let _ = writeln!(out, "recovery_step_ms = {}", raw.recovery_step_ms);
        let _ = writeln!(
            out,
            "max_capacity_retry_seconds = {}",
            raw.max_capacity_retry_seconds
        );
        let _ = writeln!(out, "gate = {}", text(&raw.gate));
        let _ = writeln!(out, "honour_retry_after = {}", raw.honour_retry_after);
        let _ = writeln!(out, "max_retry_after_ms = {}", raw.max_retry_after_ms);
        if let Some(n) = raw.requests_per_minute {
            let _ = writeln!(out, "requests_per_minute = {n}");
        }
        if let Some(n) = raw.tokens_per_minute {
            let _ = writeln!(out, "tokens_per_minute = {n}");
        }
        let service = &self.service;
        let _ = writeln!(out, "\n[service]");
        let _ = writeln!(out, "latency_ms = {}", distribution(service.latency, 1000));
        let _ = writeln!(
            out,
            "latency_per_output_token_ms = {}",
            per_token(service.latency_per_output_token_ns)
        );
        let _ = writeln!(
            out,
            "capacity_rate = {}",
            Value::Float(service.capacity_rate)
        );
        let _ = writeln!(out, "capacity_status = {}", service.capacity_status);
        if let Some(limit) = service.rate_limit {
            let _ = writeln!(
                out,
                "rate_limit = {{ requests = {}, per_ms = {} }}",
                limit.requests,
                ms(limit.per_us)
            );
        }
        for l in &service.limits {
            let _ = writeln!(out, "\n[[service.limits]]");
            // One inline table per limit, unpacked into the array-of-tables form.
            let body = limit(l);
            for pair in body
                .trim_start_matches("{ ")
                .trim_end_matches(" }")
                .split(", ")
            {
                let _ = writeln!(out, "{pair}");
            }
        }
        for p in &service.phases {
            phase(&mut out, p);
        }
        for batch in &self.batches {
            let _ = writeln!(out, "\n[[batches]]\nat_ms = {}", ms(batch.at_us));
            match &batch.rows {
                Rows::Generated {
                    count,
                    ready_every_us,
                    tokens,
                    output_tokens,
                } => {
                    let mut extra = String::new();
                    if let Some(d) = tokens {
                        let _ = write!(extra, ", tokens = {}", distribution(*d, 1));
                    }
                    if let Some(d) = output_tokens {
                        let _ = write!(extra, ", output_tokens = {}", distribution(*d, 1));
                    }
                    let _ = writeln!(
                        out,
                        "generate = {{ count = {count}, ready_every_ms = {}{extra} }}",
                        ms(*ready_every_us)
                    );
                }
                Rows::Listed(rows) => {
                    out.push_str("rows = [\n");
                    for row in rows {
                        let attempts: Vec<String> = row
                            .attempts
                            .iter()
                            .map(|a| {
                                let mut t = format!(
                                    "{{ outcome = {}",
                                    text(answer_name(a.outcome).as_str())
                                );
                                if let Some(status) = a.status {
                                    let _ = write!(t, ", status = {status}");
                                }
                                if let Some(us) = a.latency_us {
                                    let _ = write!(t, ", latency_ms = {}", ms(us));
                                }
                                if let Some(r) = a.retry_after_ms {
                                    let _ = write!(t, ", retry_after_ms = {r}");
                                }
                                t + " }"
                            })
                            .collect();
                        let mut tokens = String::new();
                        if let Some(n) = row.tokens {
                            let _ = write!(tokens, ", tokens = {n}");
                        }
                        if let Some(n) = row.output_tokens {
                            let _ = write!(tokens, ", output_tokens = {n}");
                        }
                        let _ = writeln!(
                            out,
                            "  {{ id = {}, ready_ms = {}{tokens}, attempts = [{}] }},",
                            text(&row.id),
                            ms(row.ready_us),
                            attempts.join(", ")
                        );
                    }
                    out.push_str("]\n");
                }
            }
        }
        for at in &self.shutdowns_us {
            let _ = writeln!(out, "\n[[events]]\nat_ms = {}\nshutdown = true", ms(*at));
        }
        let expect = &self.expect;
        let list = |set: &std::collections::BTreeSet<paceline_trace::Invariant>| {
            let names: Vec<String> = set.iter().map(|i| text(i.id())).collect();
            format!("[{}]", names.join(", "))
        };
        let _ = writeln!(
            out,
            "\n[expect]\nholds = {}\nviolates = {}",
            list(&expect.holds),
            list(&expect.violates)
        );
        if !expect.dispatch_ms.is_empty() {
            let items: Vec<String> = expect
                .dispatch_ms
                .iter()
                .map(|(id, ts)| {
                    let ts: Vec<String> = ts.iter().map(u64::to_string).collect();
                    format!("{} = [{}]", text(id), ts.join(", "))
                })
                .collect();
            let _ = writeln!(out, "dispatch_ms = {{ {} }}", items.join(", "));
        }
        if !expect.results.is_empty() {
            let items: Vec<String> = expect
                .results
                .iter()
                .map(|(id, kind)| format!("{} = {}", text(id), text(kind.as_str())))
                .collect();
            let _ = writeln!(out, "results = {{ {} }}", items.join(", "));
        }
        if let Some(r) = expect.recovers {
            let _ = writeln!(
                out,
                "recovers = {{ after_ms = {}, within_ms = {}, rows_per_min = {} }}",
                ms(r.after_us),
                ms(r.within_us),
                r.rows_per_min
            );
        }
        if let Some(n) = expect.mutant {
            let _ = writeln!(out, "mutant = \"{n}\"");
        }
        if !expect.outcomes.is_empty() {
            let items: Vec<String> = expect
                .outcomes
                .iter()
                .map(|(kind, n)| format!("{} = {n}", kind.as_str()))
                .collect();
            let _ = writeln!(out, "outcomes = {{ {} }}", items.join(", "));
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_library_scenario_round_trips() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        for entry in std::fs::read_dir(dir).expect("scenarios folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let scenario = Scenario::load(&path).expect("valid");
            let again = Scenario::parse(&path, &scenario.to_toml())
                .unwrap_or_else(|e| panic!("{e}\n{}", scenario.to_toml()));
            assert_eq!(scenario, again, "{}", path.display());
        }
    }
}

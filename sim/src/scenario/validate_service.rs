//! Validation of `[service]`: latency and token distributions, random capacity errors,
//! limits and phases. Every refusal names the key with its index
//! (`service.phases[1].limits[0].per_ms`) and says what would be right.

use toml::Value;

use super::file::{LimitFile, OutageFile, PhaseFile, ServiceFile};
use super::service_model::DEFAULT_CAPACITY_STATUS;
use super::source::{Checked, Source};
use super::{Distribution, Outage, Phase, RateLimit, ServiceModel};
use crate::provider::{Counts, LimitKind, LimitSpec, LogNormal, Measure, RetryAfter};

/// The statuses a provider says "slow down" with.
const CAPACITY_STATUSES: [u16; 3] = [429, 503, 529];

impl Source<'_> {
    pub(super) fn service(&self, file: ServiceFile) -> Checked<ServiceModel> {
        let defaults = ServiceModel::default();
        let latency = match file.latency_ms {
            None => defaults.latency,
            Some(v) => {
                let offset = v.span().start;
                self.distribution(v.get_ref(), offset, "service.latency_ms", 1000)?
            }
        };
        let latency_per_output_token_ns = match file.latency_per_output_token_ms {
            None => 0,
            Some(v) => self.per_token(
                *v.get_ref(),
                v.span().start,
                "service.latency_per_output_token_ms",
            )?,
        };
        let capacity_rate = match file.capacity_rate {
            None => 0.0,
            Some(rate) => {
                let offset = rate.span().start;
                self.probability(*rate.get_ref(), offset, "service.capacity_rate")?
            }
        };
        let capacity_status = match file.capacity_status {
            None => DEFAULT_CAPACITY_STATUS,
            Some(s) => {
                self.capacity_status(*s.get_ref(), s.span().start, "service.capacity_status")?
            }
        };
        let rate_limit = match file.rate_limit {
            None => None,
            Some(limit) => {
                let offset = limit.span().start;
                let limit = limit.into_inner();
                if limit.requests == 0 {
                    return Err(self.error(offset, "service.rate_limit.requests", "must be >= 1"));
                }
                if limit.per_ms == 0 {
                    return Err(self.error(offset, "service.rate_limit.per_ms", "must be >= 1"));
                }
                Some(RateLimit {
                    requests: limit.requests,
                    per_us: self.us(limit.per_ms, offset, "service.rate_limit.per_ms")?,
                })
            }
        };
        let limits = file
            .limits
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let offset = l.span().start;
                self.limit(l.into_inner(), offset, &format!("service.limits[{i}]"))
            })
            .collect::<Checked<Vec<_>>>()?;
        let phases = file
            .phases
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let offset = p.span().start;
                self.phase(p.into_inner(), offset, &format!("service.phases[{i}]"))
            })
            .collect::<Checked<Vec<_>>>()?;
        Ok(ServiceModel {
            latency,
            latency_per_output_token_ns,
            capacity_rate,
            capacity_status,
            rate_limit,
            limits,
            phases,
        })
    }

    /// A number, `{ min, max }` (uniform) or `{ p50, p99 }` (log-normal); in the file's
    /// unit, kept in `scale` times it (1000 for milliseconds kept as microseconds).
    pub(super) fn distribution(
        &self,
        value: &Value,
        offset: usize,
        key: &str,
        scale: u64,
    ) -> Checked<Distribution> {
        let whole = |v: &Value, which: &str| -> Checked<u64> {
            match v {
                Value::Integer(n) => {
                    let n = u64::try_from(*n).map_err(|_| {
                        self.error(offset, key, format!("{which}{n}: must be >= 0"))
                    })?;
                    n.checked_mul(scale)
                        .ok_or_else(|| self.error(offset, key, format!("{which}{n}: too large")))
                }
                other => Err(self.error(
                    offset,
                    key,
                    format!("{which}{other}: expected a whole number"),
                )),
            }
        };
        let Value::Table(table) = value else {
            return Ok(Distribution::Fixed(whole(value, "")?));
        };
        let has = |k: &str| table.contains_key(k);
        let pair = |a: &str, b: &str| -> Checked<(u64, u64)> {
            if let Some(extra) = table.keys().find(|k| *k != a && *k != b) {
                return Err(self.error(
                    offset,
                    &format!("{key}.{extra}"),
                    format!("unknown key: write {{ {a} = .., {b} = .. }}"),
                ));
            }
            let get = |k: &str| {
                table.get(k).ok_or_else(|| {
                    self.error(
                        offset,
                        &format!("{key}.{k}"),
                        format!("missing: write {{ {a} = .., {b} = .. }}"),
                    )
                })
            };
            let x = whole(get(a)?, &format!("{a} = "))?;
            let y = whole(get(b)?, &format!("{b} = "))?;
            if x > y {
                return Err(self.error(
                    offset,
                    key,
                    format!("{a} = {} is above {b} = {}", x / scale, y / scale),
                ));
            }
            Ok((x, y))
        };
        if has("p50") || has("p99") {
            let (p50, p99) = pair("p50", "p99")?;
            if p50 == 0 {
                return Err(self.error(
                    offset,
                    &format!("{key}.p50"),
                    "must be > 0: a log-normal has no zero median",
                ));
            }
            // Checked here so that sampling never meets a bad pair.
            LogNormal::from_p50_p99(p50 as f64, p99 as f64)
                .map_err(|e| self.error(offset, key, e.to_string()))?;
            Ok(Distribution::LogNormal { p50, p99 })
        } else {
            let (min, max) = pair("min", "max")?;
            Ok(Distribution::Uniform { min, max })
        }
    }

    fn probability(&self, rate: f64, offset: usize, key: &str) -> Checked<f64> {
        if (0.0..=1.0).contains(&rate) {
            Ok(rate)
        } else {
            Err(self.error(
                offset,
                key,
                format!("{rate}: a probability must be between 0.0 and 1.0"),
            ))
        }
    }

    fn per_token(&self, ms: f64, offset: usize, key: &str) -> Checked<u64> {
        if !(ms.is_finite() && (0.0..=60_000.0).contains(&ms)) {
            return Err(self.error(
                offset,
                key,
                format!("{ms}: milliseconds per output token, from 0 to 60000"),
            ));
        }
        // Kept in whole nanoseconds: 0.02 ms is 20 000 ns.
        Ok((ms * 1e6).round() as u64)
    }

    fn capacity_status(&self, status: i64, offset: usize, key: &str) -> Checked<u16> {
        CAPACITY_STATUSES
            .into_iter()
            .find(|s| i64::from(*s) == status)
            .ok_or_else(|| {
                self.error(
                    offset,
                    key,
                    format!("{status}: a capacity answer is 429, 503 or 529"),
                )
            })
    }

    fn limit(&self, limit: LimitFile, offset: usize, key: &str) -> Checked<LimitSpec> {
        let (measure, amount) = match (limit.requests, limit.tokens) {
            (Some(n), None) => (Measure::Requests, ("requests", n)),
            (None, Some(n)) => (Measure::Tokens, ("tokens", n)),
            (Some(_), Some(_)) => {
                return Err(self.error(
                    offset,
                    key,
                    "a limit counts `requests` or `tokens`, not both: write two limits",
                ));
            }
            (None, None) => {
                return Err(self.error(
                    offset,
                    key,
                    "a limit needs `requests = N` or `tokens = N`",
                ));
            }
        };
        let (name, amount) = amount;
        let amount = u64::try_from(amount)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                self.error(
                    offset,
                    &format!("{key}.{name}"),
                    format!("{amount}: must be >= 1"),
                )
            })?;
        let per_ms = u64::try_from(limit.per_ms)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                self.error(
                    offset,
                    &format!("{key}.per_ms"),
                    format!("{}: must be >= 1", limit.per_ms),
                )
            })?;
        let per_us = self.us(per_ms, offset, &format!("{key}.per_ms"))?;
        // The first option is the default; a value must spell one of them.
        fn choose<T: Copy>(
            src: &Source<'_>,
            offset: usize,
            key: &str,
            value: Option<String>,
            options: &[(&str, T)],
        ) -> Checked<Option<T>> {
            let Some(v) = value else {
                return Ok(options.first().map(|o| o.1));
            };
            match options.iter().find(|o| o.0 == v) {
                Some(o) => Ok(Some(o.1)),
                None => {
                    let names: Vec<&str> = options.iter().map(|o| o.0).collect();
                    Err(src.error(
                        offset,
                        key,
                        format!("{v:?}: write one of {}", quoted(&names)),
                    ))
                }
            }
        }
        let field = |f: &str| format!("{key}.{f}");
        let defaults = LimitSpec::new(measure, amount, per_us);
        let kind = choose(
            self,
            offset,
            &field("kind"),
            limit.kind,
            &[("window", LimitKind::Window), ("bucket", LimitKind::Bucket)],
        )?
        .unwrap_or(defaults.kind);
        let counts = choose(
            self,
            offset,
            &field("counts"),
            limit.counts,
            &[("all", Counts::All), ("accepted", Counts::Accepted)],
        )?
        .unwrap_or(defaults.counts);
        let retry_after = choose(
            self,
            offset,
            &field("retry_after"),
            limit.retry_after,
            &[
                ("ms", RetryAfter::Ms),
                ("seconds", RetryAfter::Seconds),
                ("none", RetryAfter::None),
            ],
        )?
        .unwrap_or(defaults.retry_after);
        let status = match limit.status {
            None => 429,
            Some(s) => self.capacity_status(s, offset, &format!("{key}.status"))?,
        };
        Ok(LimitSpec {
            kind,
            counts,
            retry_after,
            status,
            ..defaults
        })
    }

    fn phase(&self, phase: PhaseFile, offset: usize, key: &str) -> Checked<Phase> {
        let ms = |v: i64, field: &str| -> Checked<u64> {
            let ms = u64::try_from(v).map_err(|_| {
                self.error(
                    offset,
                    &format!("{key}.{field}"),
                    format!("{v}: must be >= 0"),
                )
            })?;
            self.us(ms, offset, &format!("{key}.{field}"))
        };
        let from_us = ms(phase.from_ms, "from_ms")?;
        let until_us = ms(phase.until_ms, "until_ms")?;
        if until_us <= from_us {
            return Err(self.error(
                offset,
                &format!("{key}.until_ms"),
                format!(
                    "{}: a phase must end after it starts (from_ms = {})",
                    phase.until_ms, phase.from_ms
                ),
            ));
        }
        let outage = phase
            .outage
            .map(|o| self.outage(o, offset, &format!("{key}.outage")))
            .transpose()?;
        let capacity_rate = phase
            .capacity_rate
            .map(|r| self.probability(r, offset, &format!("{key}.capacity_rate")))
            .transpose()?;
        let capacity_status = phase
            .capacity_status
            .map(|s| self.capacity_status(s, offset, &format!("{key}.capacity_status")))
            .transpose()?;
        let latency = phase
            .latency_ms
            .map(|v| self.distribution(&v, offset, &format!("{key}.latency_ms"), 1000))
            .transpose()?;
        let latency_per_output_token_ns = phase
            .latency_per_output_token_ms
            .map(|v| self.per_token(v, offset, &format!("{key}.latency_per_output_token_ms")))
            .transpose()?;
        let limits = phase
            .limits
            .map(|list| {
                list.into_iter()
                    .enumerate()
                    .map(|(i, l)| self.limit(l, offset, &format!("{key}.limits[{i}]")))
                    .collect::<Checked<Vec<_>>>()
            })
            .transpose()?;
        Ok(Phase {
            from_us,
            until_us,
            outage,
            capacity_rate,
            capacity_status,
            latency,
            latency_per_output_token_ns,
            limits,
        })
    }

    fn outage(&self, outage: OutageFile, offset: usize, key: &str) -> Checked<Outage> {
        let status = match outage.status {
            None => 503,
            Some(s) => self.capacity_status(s, offset, &format!("{key}.status"))?,
        };
        let retry_after_ms = outage
            .retry_after_ms
            .map(|r| {
                u64::try_from(r).map_err(|_| {
                    self.error(
                        offset,
                        &format!("{key}.retry_after_ms"),
                        format!("{r}: must be >= 0"),
                    )
                })
            })
            .transpose()?;
        Ok(Outage {
            status,
            retry_after_ms,
        })
    }
}

/// `"a", "b" or "c"`.
fn quoted(options: &[&str]) -> String {
    let q: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => q.join(""),
    }
}

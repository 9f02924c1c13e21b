//! Validation of the run a scenario describes: name, horizon, pool, service, batches,
//! rows and scripted attempts.

use std::collections::BTreeSet;

use paceline_core::{Outcome, PoolConfig, RawPoolConfig};
use paceline_trace::{EventName, shown};
use toml::{Spanned, Value};

use crate::record::outcome_of;

use super::file::{BatchFile, File, RowFile};
use super::source::{Checked, Source, key_text, plain_words, value_text};
use super::{
    BatchSpec, DEFAULT_HORIZON_MS, Distribution, RowSpec, Rows, Scenario, ScenarioError,
    ScriptedAttempt,
};

/// A scripted `capacity` without a status is a 429, the status rate limits answer with.
fn default_status(outcome: Outcome) -> Option<u16> {
    (outcome == Outcome::Capacity).then_some(429)
}

impl Source<'_> {
    pub(super) fn scenario(&self, file: File) -> Checked<Scenario> {
        let name_span = file.name.span();
        let name = file.name.into_inner();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.error(
                name_span.start,
                "name",
                format!(
                    "{}: use only letters, digits, '-' and '_' (and at least one)",
                    shown(&name)
                ),
            ));
        }
        let horizon_us = match file.horizon_ms {
            None => DEFAULT_HORIZON_MS * 1000,
            Some(h) => {
                let offset = h.span().start;
                let ms = h.into_inner();
                if ms == 0 {
                    return Err(self.error(offset, "horizon_ms", "must be > 0"));
                }
                self.us(ms, offset, "horizon_ms")?
            }
        };
        let pool = self.pool(file.pool)?;
        let service = self.service(file.service)?;
        if file.batches.is_empty() {
            return Err(ScenarioError {
                file: self.path.to_path_buf(),
                line: None,
                column: None,
                key: Some("batches".into()),
                message: "a scenario needs at least one [[batches]] entry".into(),
            });
        }
        let mut ids = BTreeSet::new();
        let batches = file
            .batches
            .into_iter()
            .enumerate()
            .map(|(i, b)| self.batch(i, b, &mut ids))
            .collect::<Checked<Vec<_>>>()?;
        let rows = batches
            .iter()
            .fold(0u64, |sum, b| sum.saturating_add(b.rows.len() as u64));
        if rows > self.limits.max_rows {
            return Err(ScenarioError {
                file: self.path.to_path_buf(),
                line: None,
                column: None,
                key: Some("batches".into()),
                message: format!(
                    "{rows} rows in all, beyond the limit of {} (raise it with --max-rows)",
                    self.limits.max_rows
                ),
            });
        }
        let mut shutdowns_us = Vec::new();
        for (i, event) in file.events.into_iter().enumerate() {
            let offset = event.span().start;
            let event = event.into_inner();
            if !event.shutdown {
                return Err(self.error(
                    offset,
                    &format!("events[{i}].shutdown"),
                    "an event must do something: the only event is `shutdown = true`",
                ));
            }
            shutdowns_us.push(self.us(event.at_ms, offset, &format!("events[{i}].at_ms"))?);
        }
        let expect = self.expect(file.expect, &ids)?;
        Ok(Scenario {
            name,
            description: file.description,
            seed: file.seed,
            horizon_us,
            pool,
            service,
            batches,
            shutdowns_us,
            expect,
            max_events: self.limits.max_events,
        })
    }

    pub(super) fn pool(&self, pool: Option<Spanned<RawPoolConfig>>) -> Checked<PoolConfig> {
        let Some(pool) = pool else {
            return Ok(PoolConfig::default());
        };
        let span = pool.span();
        PoolConfig::try_from(pool.into_inner()).map_err(|e| {
            let fields = e
                .problems
                .first()
                .map(|p| p.fields.clone())
                .unwrap_or_default();
            let field = fields.last().copied().unwrap_or("pool");
            let offset = self.key_offset(&span, field);
            let mut err = self.error(
                offset,
                &format!("pool.{field}"),
                plain_words(&e.to_string()),
            );
            if fields.len() > 1 {
                err.key = Some(
                    fields
                        .iter()
                        .map(|f| format!("pool.{f}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            err
        })
    }

    fn batch(
        &self,
        index: usize,
        batch: Spanned<BatchFile>,
        ids: &mut BTreeSet<String>,
    ) -> Checked<BatchSpec> {
        let span = batch.span();
        let offset = span.start;
        let rows_at = self.key_offset(&span, "rows");
        let batch = batch.into_inner();
        let path = format!("batches[{index}]");
        let max_rows = self.limits.max_rows_per_batch;
        let at_us = self.us(batch.at_ms, offset, &format!("{path}.at_ms"))?;
        let rows = match (batch.rows, batch.generate) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    offset,
                    &format!("{path}.generate"),
                    "a batch has either `rows` or `generate`, not both",
                ));
            }
            (None, None) => {
                return Err(self.error(
                    offset,
                    &format!("{path}.rows"),
                    "a batch needs `rows` or `generate`",
                ));
            }
            (Some(rows), None) => {
                if rows.is_empty() {
                    return Err(self.error(
                        rows_at,
                        &format!("{path}.rows"),
                        "an empty batch shows nothing: give it at least one row",
                    ));
                }
                if rows.len() as u64 > max_rows {
                    return Err(self.error(
                        rows_at,
                        &format!("{path}.rows"),
                        format!(
                            "at most {max_rows} rows per batch (raise it with --max-rows-per-batch)"
                        ),
                    ));
                }
                Rows::Listed(
                    rows.into_iter()
                        .enumerate()
                        .map(|(i, r)| self.row(&format!("{path}.rows[{i}]"), r, ids))
                        .collect::<Checked<Vec<_>>>()?,
                )
            }
            (None, Some(generate)) => {
                let offset = generate.span().start;
                let generate = generate.into_inner();
                if generate.count == 0 || generate.count > max_rows {
                    return Err(self.error(
                        offset,
                        &format!("{path}.generate.count"),
                        format!(
                            "{}: must be between 1 and {max_rows} (raise the limit with --max-rows-per-batch)",
                            generate.count
                        ),
                    ));
                }
                let every_key = format!("{path}.generate.ready_every_ms");
                let ready_every_us = self.us(generate.ready_every_ms, offset, &every_key)?;
                // The last row's ready time must fit too.
                if ready_every_us.checked_mul(generate.count).is_none() {
                    return Err(self.error(
                        offset,
                        &every_key,
                        "count x ready_every_ms overflows virtual time",
                    ));
                }
                let draws = |v: Option<Value>, key: &str| {
                    v.map(|v| self.distribution(&v, offset, key, 1)).transpose()
                };
                Rows::Generated {
                    count: usize::try_from(generate.count).unwrap_or(usize::MAX),
                    ready_every_us,
                    tokens: draws(generate.tokens, &format!("{path}.generate.tokens"))?,
                    output_tokens: draws(
                        generate.output_tokens,
                        &format!("{path}.generate.output_tokens"),
                    )?,
                }
            }
        };
        Ok(BatchSpec { at_us, rows })
    }

    fn row(
        &self,
        path: &str,
        row: Spanned<RowFile>,
        ids: &mut BTreeSet<String>,
    ) -> Checked<RowSpec> {
        let offset = row.span().start;
        let row = row.into_inner();
        if !row.id.is_empty() && !ids.insert(row.id.clone()) {
            return Err(self.error(
                offset,
                &format!("{path}.id"),
                format!(
                    "{} is used twice: expectations name rows by id, so ids are unique",
                    shown(&row.id)
                ),
            ));
        }
        let ready_us = self.us(row.ready_ms, offset, &format!("{path}.ready_ms"))?;
        let count = |v: Option<i64>, key: &str| -> Checked<Option<u64>> {
            v.map(|n| {
                u64::try_from(n).map_err(|_| {
                    self.error(offset, key, format!("{n}: a token count must be >= 0"))
                })
            })
            .transpose()
        };
        let tokens = count(row.tokens, &format!("{path}.tokens"))?;
        let output_tokens = count(row.output_tokens, &format!("{path}.output_tokens"))?;
        let attempts = row
            .attempts
            .into_iter()
            .enumerate()
            .map(|(i, a)| self.attempt(&format!("{path}.attempts[{i}]"), a))
            .collect::<Checked<Vec<_>>>()?;
        Ok(RowSpec {
            id: row.id,
            ready_us,
            attempts,
            tokens,
            output_tokens,
        })
    }

    fn attempt(&self, key: &str, attempt: Spanned<Value>) -> Checked<ScriptedAttempt> {
        let offset = attempt.span().start;
        let outcome = |v: &Value| -> Checked<Outcome> {
            v.as_str()
                .and_then(EventName::parse)
                .and_then(outcome_of)
                .ok_or_else(|| {
                    self.error(
                        offset,
                        key,
                        format!(
                            "{}: an outcome is \"ok\", \"capacity\", \"retryable\" or \"permanent\"",
                            value_text(v)
                        ),
                    )
                })
        };
        match attempt.get_ref() {
            Value::Table(table) => {
                if let Some(extra) = table.keys().find(|k| {
                    !["outcome", "status", "latency_ms", "retry_after_ms"].contains(&k.as_str())
                }) {
                    return Err(self.error(
                        offset,
                        &format!("{key}.{}", key_text(extra)),
                        "unknown key: an attempt has `outcome`, `status`, `latency_ms` and `retry_after_ms`",
                    ));
                }
                let outcome =
                    outcome(table.get("outcome").ok_or_else(|| {
                        self.error(offset, &format!("{key}.outcome"), "missing")
                    })?)?;
                let status = match table.get("status") {
                    None => default_status(outcome),
                    Some(Value::Integer(n)) if (100..=599).contains(n) => u16::try_from(*n).ok(),
                    Some(other) => {
                        return Err(self.error(
                            offset,
                            &format!("{key}.status"),
                            format!(
                                "{}: an HTTP status is an integer from 100 to 599",
                                value_text(other)
                            ),
                        ));
                    }
                };
                let latency_us = match table.get("latency_ms") {
                    None => None,
                    Some(v) => {
                        match self.distribution(v, offset, &format!("{key}.latency_ms"), 1000)? {
                            Distribution::Fixed(us) => Some(us),
                            _ => {
                                return Err(self.error(
                                    offset,
                                    &format!("{key}.latency_ms"),
                                    "a scripted attempt takes a fixed latency",
                                ));
                            }
                        }
                    }
                };
                let retry_after_ms = match table.get("retry_after_ms") {
                    None => None,
                    Some(Value::Integer(n)) if *n >= 0 && outcome == Outcome::Capacity => {
                        u64::try_from(*n).ok()
                    }
                    Some(other) => {
                        return Err(self.error(
                            offset,
                            &format!("{key}.retry_after_ms"),
                            format!(
                                "{other}: a wait is a whole number of milliseconds >= 0, on a capacity answer"
                            ),
                        ));
                    }
                };
                Ok(ScriptedAttempt {
                    outcome,
                    status,
                    latency_us,
                    retry_after_ms,
                })
            }
            other => {
                let outcome = outcome(other)?;
                Ok(ScriptedAttempt {
                    outcome,
                    status: default_status(outcome),
                    latency_us: None,
                    retry_after_ms: None,
                })
            }
        }
    }
}

//! The scenario file as written, before validation: serde's view of the TOML.

use std::collections::BTreeMap;

use paceline_core::RawPoolConfig;
use serde::Deserialize;
use toml::{Spanned, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) seed: u64,
    pub(super) horizon_ms: Option<Spanned<u64>>,
    pub(super) timer_slack_us: Option<Spanned<i64>>,
    pub(super) pool: Option<Spanned<RawPoolConfig>>,
    #[serde(default)]
    pub(super) service: ServiceFile,
    #[serde(default)]
    pub(super) batches: Vec<Spanned<BatchFile>>,
    #[serde(default)]
    pub(super) events: Vec<Spanned<EventFile>>,
    #[serde(default)]
    pub(super) expect: ExpectFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceFile {
    pub(super) latency_ms: Option<Spanned<Value>>,
    pub(super) latency_per_output_token_ms: Option<Spanned<f64>>,
    pub(super) capacity_rate: Option<Spanned<f64>>,
    pub(super) capacity_status: Option<Spanned<i64>>,
    pub(super) rate_limit: Option<Spanned<RateLimitFile>>,
    #[serde(default)]
    pub(super) limits: Vec<Spanned<LimitFile>>,
    #[serde(default)]
    pub(super) phases: Vec<Spanned<PhaseFile>>,
}

/// `[[service.limits]]` as written: exactly one of `requests` and `tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitFile {
    pub(super) requests: Option<i64>,
    pub(super) tokens: Option<i64>,
    pub(super) per_ms: i64,
    pub(super) kind: Option<String>,
    pub(super) counts: Option<String>,
    pub(super) retry_after: Option<String>,
    pub(super) status: Option<i64>,
}

/// `[[service.phases]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhaseFile {
    pub(super) from_ms: i64,
    pub(super) until_ms: i64,
    pub(super) outage: Option<OutageFile>,
    pub(super) capacity_rate: Option<f64>,
    pub(super) capacity_status: Option<i64>,
    pub(super) latency_ms: Option<Value>,
    pub(super) latency_per_output_token_ms: Option<f64>,
    pub(super) limits: Option<Vec<LimitFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutageFile {
    pub(super) status: Option<i64>,
    pub(super) retry_after_ms: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimitFile {
    pub(super) requests: u64,
    pub(super) per_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchFile {
    #[serde(default)]
    pub(super) at_ms: u64,
    pub(super) rows: Option<Vec<Spanned<RowFile>>>,
    pub(super) generate: Option<Spanned<GenerateFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RowFile {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) ready_ms: u64,
    #[serde(default)]
    pub(super) attempts: Vec<Spanned<Value>>,
    pub(super) tokens: Option<i64>,
    pub(super) output_tokens: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GenerateFile {
    pub(super) count: u64,
    #[serde(default)]
    pub(super) ready_every_ms: u64,
    pub(super) tokens: Option<Value>,
    pub(super) output_tokens: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventFile {
    pub(super) at_ms: u64,
    #[serde(default)]
    pub(super) shutdown: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectFile {
    pub(super) holds: Option<Spanned<Value>>,
    pub(super) violates: Option<Spanned<Vec<String>>>,
    pub(super) dispatch_ms: Option<Spanned<BTreeMap<String, Vec<u64>>>>,
    pub(super) results: Option<Spanned<BTreeMap<String, String>>>,
    pub(super) outcomes: Option<Spanned<BTreeMap<String, u64>>>,
    pub(super) mutant: Option<Spanned<String>>,
    pub(super) recovers: Option<Spanned<RecoversFile>>,
}

/// `expect.recovers` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecoversFile {
    pub(super) after_ms: i64,
    pub(super) within_ms: i64,
    pub(super) rows_per_min: i64,
}

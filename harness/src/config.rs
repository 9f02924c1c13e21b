//! The pool's configuration as the oracle sees it, and I9: the pool accepts exactly the
//! configurations the model's table allows. One rule, used wherever a configuration is
//! judged (scenario runs, `mutants`' random configurations, the property tests).

use paceline_core::{PoolConfig, RawPoolConfig};
use paceline_trace::Invariant;
use paceline_verify::{Findings, PoolRules, PoolTable, Verdict, Violation};

/// A configuration the pool accepted, as the plain numbers the oracle reads.
pub fn table_of(config: &PoolConfig) -> PoolTable {
    let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    PoolTable {
        pool_size: i64::try_from(config.pool_size()).unwrap_or(i64::MAX),
        min_dispatch_delay_ms: signed(config.min_dispatch_delay_ms()),
        max_dispatch_delay_ms: signed(config.max_dispatch_delay_ms()),
        backoff_multiplier: config.backoff_multiplier(),
        recovery_step_ms: signed(config.recovery_step_ms()),
        max_capacity_retry_seconds: signed(config.retry_budget().as_secs()),
        gate: config.gate().as_str().to_string(),
        honour_retry_after: config.honour_retry_after(),
        max_retry_after_ms: i64::try_from(config.max_retry_after().as_millis()).unwrap_or(i64::MAX),
        requests_per_minute: config.requests_per_minute().map(signed),
        tokens_per_minute: config.tokens_per_minute().map(signed),
    }
}

/// A configuration as written, valid or not, as the plain numbers the oracle reads.
pub fn table_of_raw(raw: &RawPoolConfig) -> PoolTable {
    PoolTable {
        pool_size: raw.pool_size,
        min_dispatch_delay_ms: raw.min_dispatch_delay_ms,
        max_dispatch_delay_ms: raw.max_dispatch_delay_ms,
        backoff_multiplier: raw.backoff_multiplier,
        recovery_step_ms: raw.recovery_step_ms,
        max_capacity_retry_seconds: raw.max_capacity_retry_seconds,
        gate: raw.gate.clone(),
        honour_retry_after: raw.honour_retry_after,
        max_retry_after_ms: raw.max_retry_after_ms,
        requests_per_minute: raw.requests_per_minute,
        tokens_per_minute: raw.tokens_per_minute,
    }
}

/// The rules the verifier checks a run of this pool against.
pub fn rules_of(config: &PoolConfig) -> PoolRules {
    table_of(config).rules()
}

/// I9: whether the pool's answer (`accepted`) to `table` is the model's. Violated both
/// ways: a configuration the model rejects but the pool accepted (D4, D9), and one the
/// model allows but the pool refused.
pub fn config_verdict(table: &PoolTable, accepted: bool) -> Verdict {
    let problems = table.problems();
    let mut findings = Findings::default();
    let message = match (accepted, problems.is_empty()) {
        (true, false) => Some(format!(
            "the pool accepted a configuration the model rejects ({}): {table:?}",
            problems.join("; ")
        )),
        (false, true) => Some(format!(
            "the pool refused a configuration the model allows: {table:?}"
        )),
        _ => None,
    };
    if let Some(message) = message {
        findings.push(Violation {
            invariant: Invariant::I9,
            t_us: 0,
            rows: Vec::new(),
            message,
        });
    }
    findings.verdict(None)
}

/// I9 on a configuration as written: the core's validation against the model's table.
pub fn raw_config_verdict(raw: &RawPoolConfig) -> Verdict {
    config_verdict(
        &table_of_raw(raw),
        PoolConfig::try_from(raw.clone()).is_ok(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validated_config_reads_as_the_numbers_written() {
        let raw = RawPoolConfig {
            pool_size: 4,
            min_dispatch_delay_ms: 100,
            recovery_step_ms: 500,
            gate: "min".into(),
            ..RawPoolConfig::default()
        };
        let config = PoolConfig::try_from(raw.clone()).expect("valid");
        assert_eq!(table_of(&config), table_of_raw(&raw));
    }

    #[test]
    fn i9_fails_both_ways_and_holds_when_pool_and_model_agree() {
        let valid = RawPoolConfig::default();
        let invalid = RawPoolConfig {
            pool_size: 0,
            ..RawPoolConfig::default()
        };
        let held = |v: Verdict| matches!(v, Verdict::Held { .. });
        assert!(held(config_verdict(&table_of_raw(&valid), true)));
        assert!(held(config_verdict(&table_of_raw(&invalid), false)));
        assert!(!held(config_verdict(&table_of_raw(&valid), false)));
        assert!(!held(config_verdict(&table_of_raw(&invalid), true)));
        assert!(held(raw_config_verdict(&invalid)));
    }
}

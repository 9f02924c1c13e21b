//! I11 client budget: for every dispatch at `t`, the dispatches in `(t - 60 s, t]` number
//! at most `requests_per_minute` and their tokens sum to at most `tokens_per_minute`,
//! each checked only where configured. Every attempt counts, retries included, from its
//! dispatch. Memory holds the dispatches of one minute.

use std::collections::VecDeque;

use paceline_trace::{EventName, Invariant, key};

use super::violation;
use crate::step::Step;
use crate::verdict::{Findings, Verdict};

const MINUTE_US: u64 = 60_000_000;

#[derive(Debug, Default)]
pub(crate) struct ClientBudget {
    /// Dispatches of the last minute: (time, tokens).
    window: VecDeque<(u64, u64)>,
    tokens: u64,
    saw_tokens: bool,
    findings: Findings,
}

impl ClientBudget {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let ev = step.ev;
        if ev.kind != EventName::Dispatch {
            return;
        }
        let rules = step.rules;
        if rules.requests_per_minute.is_none() && rules.tokens_per_minute.is_none() {
            return;
        }
        let t = ev.t_us;
        // A dispatch at `s` counts while `s + 60 s > t`; the clock's tolerance lets it
        // leave that much sooner (recorded times may be late or early by the jitter, so
        // two dispatches a minute apart on the pool's clock may show a little less).
        while let Some(&(s, cost)) = self.window.front() {
            if s.saturating_add(MINUTE_US) > t.saturating_add(step.tolerance_us) {
                break;
            }
            self.tokens -= cost;
            self.window.pop_front();
        }
        let cost = match ev.detail(key::TOKENS).and_then(|v| v.parse::<u64>().ok()) {
            Some(n) => {
                self.saw_tokens = true;
                n
            }
            None => 0,
        };
        self.window.push_back((t, cost));
        self.tokens = self.tokens.saturating_add(cost);
        if let Some(rpm) = rules.requests_per_minute
            && self.window.len() as u64 > rpm
        {
            let message = format!(
                "{} dispatches in the minute up to this one, over requests_per_minute = {rpm}",
                self.window.len()
            );
            self.findings.push(violation(Invariant::I11, step, message));
        }
        if let Some(tpm) = rules.tokens_per_minute
            && self.tokens > tpm
        {
            let message = format!(
                "{} tokens dispatched in the minute up to this one, over tokens_per_minute = {tpm}",
                self.tokens
            );
            self.findings.push(violation(Invariant::I11, step, message));
        }
    }

    pub(crate) fn finish(
        self,
        rpm: Option<u64>,
        tpm: Option<u64>,
        complete_details: bool,
    ) -> Verdict {
        match (rpm, tpm) {
            (None, None) => Verdict::Held {
                note: Some("no client budget configured".into()),
            },
            (None, Some(_)) if !self.saw_tokens && !complete_details => Verdict::Skipped {
                reason: "tokens_per_minute is set but the trace has no tokens details".into(),
            },
            (Some(_), Some(_)) if !self.saw_tokens && !complete_details => {
                self.findings.verdict(Some(
                    "requests_per_minute checked; tokens_per_minute not (no tokens details)".into(),
                ))
            }
            _ => self.findings.verdict(None),
        }
    }
}

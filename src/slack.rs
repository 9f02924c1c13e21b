//! `--timer-slack-us N`: every timer the pool sets fires late by a seeded amount in
//! `[0, N]` microseconds, in place of the scenario's own `timer_slack_us`.

use paceline_sim::{MAX_TIMER_SLACK_US, Scenario};

/// The flag's value, refused (exit 2) beyond [`MAX_TIMER_SLACK_US`].
pub fn checked(slack: Option<u64>) -> Result<Option<u64>, String> {
    match slack {
        Some(n) if n > MAX_TIMER_SLACK_US => Err(format!(
            "--timer-slack-us {n}: must be from 0 to {MAX_TIMER_SLACK_US} (microseconds)"
        )),
        _ => Ok(slack),
    }
}

/// The scenario with the flag's slack, where one was given.
pub fn apply(scenario: &mut Scenario, slack: Option<u64>) {
    if let Some(n) = slack {
        scenario.timer_slack_us = n;
    }
}

//! `--set KEY=VALUE`, as every command that reads a scenario takes it.

use paceline_sim::Override;

/// Every `--set` argument read, and `--timer-slack-us N` as `timer_slack_us=N` after
/// them (validated like the file's key), or the first one that is not `KEY=VALUE`.
pub fn with_slack(args: &[String], slack: Option<u64>) -> Result<Vec<Override>, String> {
    let mut overrides = parse(args)?;
    if let Some(n) = slack {
        overrides.push(Override::parse(&format!("timer_slack_us={n}"))?);
    }
    Ok(overrides)
}

/// Every `--set` argument read, or the first one that is not `KEY=VALUE`.
pub fn parse(args: &[String]) -> Result<Vec<Override>, String> {
    args.iter().map(|a| Override::parse(a)).collect()
}

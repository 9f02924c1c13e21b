//! `--set KEY=VALUE`, as every command that reads a scenario takes it.

use paceline_sim::Override;

/// Every `--set` argument read, or the first one that is not `KEY=VALUE`.
pub fn parse(args: &[String]) -> Result<Vec<Override>, String> {
    args.iter().map(|a| Override::parse(a)).collect()
}

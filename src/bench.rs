//! `paceline bench`: the scale workload four ways, with rates, peak memory and the ratio
//! of each to a bare event loop measured in the same run.

use paceline_harness::bench;

use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::outln;

pub fn run(rows: u64, limits: &LimitArgs) -> Outcome {
    let ways = match bench::run(rows, &limits.scenario()) {
        Ok(ways) => ways,
        Err(e) => return Outcome::Refused(e),
    };
    outln!(
        "bench: {rows} generated rows, pool 16, gate min, 5% capacity errors, latency 20-200 ms"
    );
    outln!("| way | wall s | dispatches/s | events/s | peak RSS | vs bare loop |");
    outln!("|---|---|---|---|---|---|");
    let bare = ways.first().map_or(1.0, |w| w.dispatches_per_s());
    for w in &ways {
        let rss = w
            .peak_rss
            .map_or("n/a".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6));
        outln!(
            "| {} | {:.2} | {:.0} | {:.0} | {} | {:.3} |",
            w.label,
            w.seconds,
            w.dispatches_per_s(),
            w.events as f64 / w.seconds.max(1e-9),
            rss,
            w.dispatches_per_s() / bare
        );
    }
    outln!("(check runs the scenario twice, for I8: its rates count one run's dispatches)");
    Outcome::Passed
}

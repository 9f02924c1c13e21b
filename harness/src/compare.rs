//! Gate policies side by side: one scenario replayed under `gate = "min"` and
//! `gate = "aimd"` over many seeds. The harness runs; what is measured from each trace
//! is the caller's sink (the reports crate draws the comparison).

use std::io;

use paceline_core::GatePolicy;
use paceline_sim::{RunSummary, Scenario, simulate};
use paceline_trace::TraceSink;

use crate::run::within_budget;

/// The gates compared, in display order.
pub const GATES: [GatePolicy; 2] = [GatePolicy::Min, GatePolicy::Aimd];

/// Per gate, every seed's run: the sink it streamed into and its summary.
pub type GateRuns<S> = Vec<(GatePolicy, Vec<(S, RunSummary)>)>;

/// Replay `scenario` under each gate of [`GATES`] for seeds `0..seeds`, each run into a
/// fresh sink from `sink`; per gate, every run's sink and summary.
pub fn replay_under_gates<S: TraceSink>(
    scenario: &Scenario,
    seeds: u64,
    mut sink: impl FnMut() -> S,
) -> io::Result<GateRuns<S>> {
    GATES
        .into_iter()
        .map(|gate| {
            let mut under = scenario.clone();
            under.pool = under.pool.with_gate(gate);
            let runs = (0..seeds)
                .map(|seed| {
                    let mut s = sink();
                    let summary = simulate(&under, seed, &mut s)?;
                    within_budget(&summary)?;
                    Ok((s, summary))
                })
                .collect::<io::Result<Vec<_>>>()?;
            Ok((gate, runs))
        })
        .collect()
}

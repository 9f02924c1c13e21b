//! Same scenario and seed, same trace bytes (I8), for every scenario users can copy.

use std::path::Path;

use paceline_sim::{Scenario, simulate};
use paceline_trace::CsvTrace;

fn trace_bytes(scenario: &Scenario, seed: u64) -> Vec<u8> {
    let mut csv = CsvTrace::new(Vec::new()).expect("in memory");
    simulate(scenario, seed, &mut csv).expect("in memory");
    csv.finish().expect("in memory")
}

#[test]
fn two_replays_give_byte_identical_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let scenario = Scenario::load(&path).expect("library scenarios are valid");
        for seed in [scenario.seed, 1, 99] {
            let first = trace_bytes(&scenario, seed);
            assert!(first.len() > 100, "{} wrote a trace", path.display());
            assert_eq!(
                first,
                trace_bytes(&scenario, seed),
                "{} seed {seed}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn seeds_change_the_order_of_simultaneous_events() {
    let scenario = Scenario::parse(
        Path::new("inline.toml"),
        r#"
name = "ties"
[pool]
pool_size = 4
min_dispatch_delay_ms = 0
recovery_step_ms = 10
gate = "min"
[service]
latency_ms = 5
[[batches]]
generate = { count = 12 }
"#,
    )
    .expect("valid");
    let traces: std::collections::BTreeSet<Vec<u8>> =
        (0..8).map(|s| trace_bytes(&scenario, s)).collect();
    assert!(
        traces.len() > 1,
        "answers arriving together are shuffled by the seed"
    );
}

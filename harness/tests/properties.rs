//! Property tests: random pools, scripts, latencies, rate limits, batches and shutdowns,
//! replayed in the simulator, keep every invariant; random configurations are accepted
//! exactly when the model's table says so. Failures shrink and are saved under
//! `proptest-regressions/`, which is committed so they run first next time.

use std::path::Path;

use paceline_core::PoolConfig;
use paceline_harness::{check_run, generate, judge, table_of_raw};
use paceline_sim::{Scenario, simulate};
use paceline_trace::{Ending, MemoryTrace};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 300,
        // Relative to the crate, where cargo runs its tests; committed.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/properties.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_invariant_holds_on_random_scenarios(scenario in generate::scenario()) {
        let run = check_run(&scenario, scenario.seed, None).expect("in memory");
        prop_assert_eq!(&run.summary.ending, &Ending::Quiescent);
        let failures = judge(&scenario, &run);
        prop_assert!(failures.is_empty(), "{:#?}", failures);
    }

    #[test]
    fn same_scenario_and_seed_same_trace(scenario in generate::scenario(), seed in 0u64..50) {
        let mut a = MemoryTrace::default();
        let mut b = MemoryTrace::default();
        simulate(&scenario, seed, &mut a).expect("in memory");
        simulate(&scenario, seed, &mut b).expect("in memory");
        prop_assert_eq!(a, b);
    }

    #[test]
    fn scenarios_survive_saving_and_reading_back(scenario in generate::scenario()) {
        let text = scenario.to_toml();
        let again = Scenario::parse(Path::new("saved.toml"), &text);
        prop_assert_eq!(Ok(scenario), again, "{}", text);
    }

    #[test]
    fn configurations_are_accepted_exactly_when_valid(raw in generate::raw_config()) {
        let accepted = PoolConfig::try_from(raw.clone());
        prop_assert_eq!(accepted.is_ok(), table_of_raw(&raw).problems().is_empty(), "{:?} -> {:?}", raw, accepted);
        if let Err(e) = accepted {
            // The message names every field it blames.
            for problem in &e.problems {
                for field in &problem.fields {
                    prop_assert!(problem.message.contains(field));
                }
            }
        }
    }
}

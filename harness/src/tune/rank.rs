//! What a search ranks by: a goal, each run's score on it, and a setting's median and
//! worst over its seeds.

use std::cmp::Ordering;

/// What the best setting is best at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The shortest time to the last result.
    Makespan,
    /// The most rows ended `ok` per minute.
    Throughput,
    /// The fewest failed attempts the pool could have avoided (`capacity`, `retryable`).
    Failures,
    /// The shortest 95th-percentile row latency.
    P95,
}

impl Goal {
    /// Every goal, in the order the table shows them.
    pub const ALL: [Goal; 4] = [Goal::Makespan, Goal::Throughput, Goal::Failures, Goal::P95];

    /// The goal a name spells.
    pub fn parse(name: &str) -> Result<Goal, String> {
        Goal::ALL
            .into_iter()
            .find(|g| g.as_str() == name)
            .ok_or_else(|| {
                format!("--goal {name:?}: the goals are makespan, throughput, failures and p95")
            })
    }

    /// Its name on the command line and in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Makespan => "makespan",
            Goal::Throughput => "throughput",
            Goal::Failures => "failures",
            Goal::P95 => "p95",
        }
    }

    /// The measure's name and unit, for tables.
    pub fn measure(self) -> &'static str {
        match self {
            Goal::Makespan => "makespan (s)",
            Goal::Throughput => "rows/min",
            Goal::Failures => "failures",
            Goal::P95 => "p95 (s)",
        }
    }

    /// The run's value on this goal.
    pub fn of(self, score: &Score) -> f64 {
        match self {
            Goal::Makespan => score.makespan_s,
            Goal::Throughput => score.rows_per_min,
            Goal::Failures => score.failures,
            Goal::P95 => score.p95_s,
        }
    }

    /// Whether more is better on this goal (only throughput).
    pub fn higher_is_better(self) -> bool {
        self == Goal::Throughput
    }

    /// `a` before `b` when `a` is better on this goal.
    pub fn better_first(self, a: f64, b: f64) -> Ordering {
        better_first(self.higher_is_better(), a, b)
    }
}

/// `a` before `b` when `a` is better: larger if `higher_is_better`, else smaller.
fn better_first(higher_is_better: bool, a: f64, b: f64) -> Ordering {
    if higher_is_better {
        b.total_cmp(&a)
    } else {
        a.total_cmp(&b)
    }
}

/// A run's values on every goal, measured by the caller from its trace.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    /// Makespan, in seconds.
    pub makespan_s: f64,
    /// Rows ended `ok` per minute.
    pub rows_per_min: f64,
    /// Avoidable failed attempts.
    pub failures: f64,
    /// 95th-percentile row latency, in seconds.
    pub p95_s: f64,
    /// Rows that did not get through: ended other than `ok` (out of retry budget, shut
    /// down, refused for good). Ranked on before any goal.
    pub rows_not_ok: f64,
}

/// A setting's value on one goal over its seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median: a run's own value (with an even number of seeds, the worse of the
    /// two in the middle), so replaying `median_seed` reproduces it.
    pub median: f64,
    /// The seed whose run gave the median.
    pub median_seed: u64,
    /// The worst run's value.
    pub worst: f64,
}

/// The median and worst of `(seed, value)` pairs, where more is better if
/// `higher_is_better`; `None` without runs.
pub fn spread(higher_is_better: bool, runs: &[(u64, f64)]) -> Option<Spread> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| better_first(higher_is_better, a.1, b.1).then(a.0.cmp(&b.0)));
    let &(median_seed, median) = sorted.get(sorted.len() / 2)?;
    let &(_, worst) = sorted.last()?;
    Some(Spread {
        median,
        median_seed,
        worst,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_a_run_s_own_value_and_the_worst_depends_on_the_goal() {
        let runs = [(0, 30.0), (1, 10.0), (2, 20.0), (3, 40.0)];
        let lower = spread(false, &runs).expect("runs");
        // 10, 20, 30, 40: the worse middle one is 30 (seed 0).
        assert_eq!(
            (lower.median, lower.median_seed, lower.worst),
            (30.0, 0, 40.0)
        );
        let higher = spread(Goal::Throughput.higher_is_better(), &runs).expect("runs");
        // 40, 30, 20, 10: the worse middle one is 20 (seed 2).
        assert_eq!(
            (higher.median, higher.median_seed, higher.worst),
            (20.0, 2, 10.0)
        );
        assert_eq!(spread(false, &[]), None);
        assert!(Goal::parse("speed").is_err());
        assert_eq!(Goal::parse("p95"), Ok(Goal::P95));
    }
}

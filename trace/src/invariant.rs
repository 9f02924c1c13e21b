//! The invariants of the model, by the ids users write in `[expect]` and read in reports.

use std::fmt;

/// One invariant of the model that a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Invariant {
    /// Spacing: consecutive dispatches are at least the required spacing apart.
    I1,
    /// Concurrency: never more than `pool_size` permits or attempts in flight.
    I2,
    /// Order: each batch returns its own rows, once each, in row order.
    I3,
    /// Completeness: every row ends exactly once; nothing is left stuck.
    I4,
    /// Retry budget: no retry after the row's deadline.
    I5,
    /// Throttle law: every reported `D` is the reference throttle's.
    I6,
    /// Stats: reported batch statistics equal those recomputed from the trace.
    I7,
    /// Determinism: same scenario and seed, same trace bytes.
    I8,
    /// Config: the pool accepts exactly the configurations the model allows.
    I9,
    /// Server pause: no dispatch before a capacity answer's `Retry-After` has passed.
    I10,
    /// Client budget: no minute holds more dispatches or tokens than the pool's budget.
    I11,
}

impl Invariant {
    /// Every invariant, in id order.
    pub const ALL: [Invariant; 11] = [
        Invariant::I1,
        Invariant::I2,
        Invariant::I3,
        Invariant::I4,
        Invariant::I5,
        Invariant::I6,
        Invariant::I7,
        Invariant::I8,
        Invariant::I9,
        Invariant::I10,
        Invariant::I11,
    ];

    /// The id users write: `I1` ... `I11`.
    pub fn id(self) -> &'static str {
        match self {
            Invariant::I1 => "I1",
            Invariant::I2 => "I2",
            Invariant::I3 => "I3",
            Invariant::I4 => "I4",
            Invariant::I5 => "I5",
            Invariant::I6 => "I6",
            Invariant::I7 => "I7",
            Invariant::I8 => "I8",
            Invariant::I9 => "I9",
            Invariant::I10 => "I10",
            Invariant::I11 => "I11",
        }
    }

    /// The invariant's short name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::I1 => "spacing",
            Invariant::I2 => "concurrency",
            Invariant::I3 => "order",
            Invariant::I4 => "completeness",
            Invariant::I5 => "retry budget",
            Invariant::I6 => "throttle law",
            Invariant::I7 => "stats",
            Invariant::I8 => "determinism",
            Invariant::I9 => "config",
            Invariant::I10 => "server pause",
            Invariant::I11 => "client budget",
        }
    }

    /// The invariant an id names, if any.
    pub fn parse(s: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|i| i.id() == s)
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

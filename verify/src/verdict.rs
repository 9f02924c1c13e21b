//! What the checks conclude: a verdict per invariant, with the violations that broke it.

use std::collections::BTreeMap;
use std::fmt;

use paceline_trace::{Invariant, ms};

/// How many violations of one invariant are kept in full; the rest are only counted.
pub const KEPT_VIOLATIONS: usize = 20;

/// A row named in a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRef {
    /// The batch number.
    pub batch: u64,
    /// The row's index in its batch.
    pub row: usize,
    /// The row's id, empty if it has none.
    pub id: String,
    /// The attempt involved, where one is.
    pub attempt: Option<u32>,
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.id.is_empty() {
            write!(f, "{} (", self.id)?;
        }
        write!(f, "batch {} row {}", self.batch, self.row)?;
        if let Some(a) = self.attempt {
            write!(f, " attempt {a}")?;
        }
        if !self.id.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// One broken invariant: when, which rows, and expected against actual.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The invariant broken.
    pub invariant: Invariant,
    /// When, in microseconds of the trace.
    pub t_us: u64,
    /// The rows involved.
    pub rows: Vec<RowRef>,
    /// Expected against actual, in words.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {} ms",
            self.invariant,
            self.invariant.name(),
            ms(self.t_us)
        )?;
        if !self.rows.is_empty() {
            let rows: Vec<String> = self.rows.iter().map(ToString::to_string).collect();
            write!(f, ", {}", rows.join(" and "))?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The conclusion about one invariant.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Checked and held; the note says what was checked when the trace allowed only part.
    Held {
        /// What was checked, where the trace allowed only part.
        note: Option<String>,
    },
    /// Broken: the first violations in full, and how many there were.
    Violated {
        /// The first [`KEPT_VIOLATIONS`] violations.
        first: Vec<Violation>,
        /// How many there were in all.
        count: u64,
    },
    /// Not checked: the trace lacks what the invariant needs. Never counts as held.
    Skipped {
        /// Why, in words: what the trace lacks.
        reason: String,
    },
}

impl Verdict {
    /// One word for tables: `held`, `VIOLATED` or `skipped`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Held { .. } => "held",
            Verdict::Violated { .. } => "VIOLATED",
            Verdict::Skipped { .. } => "skipped",
        }
    }
}

/// Violations of one invariant as a check finds them.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    first: Vec<Violation>,
    count: u64,
}

impl Findings {
    /// Count a violation; keep it if fewer than [`KEPT_VIOLATIONS`] are kept.
    pub fn push(&mut self, v: Violation) {
        self.push_counted(v, 1);
    }

    /// Count `count` violations that `v` describes together (rows missing from a batch
    /// of a trillion are counted, not listed); keep `v` as one.
    pub fn push_counted(&mut self, v: Violation, count: u64) {
        self.count = self.count.saturating_add(count);
        if self.first.len() < KEPT_VIOLATIONS {
            self.first.push(v);
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `Held` (with `note`) if nothing was found.
    pub fn verdict(self, note: Option<String>) -> Verdict {
        if self.count == 0 {
            Verdict::Held { note }
        } else {
            Verdict::Violated {
                first: self.first,
                count: self.count,
            }
        }
    }
}

/// A verdict for each invariant that was looked at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// The verdict on each invariant looked at.
    pub verdicts: BTreeMap<Invariant, Verdict>,
}

impl Report {
    /// Record the verdict on `invariant`, replacing any earlier one.
    pub fn set(&mut self, invariant: Invariant, verdict: Verdict) {
        self.verdicts.insert(invariant, verdict);
    }

    /// Whether `invariant` was found broken.
    pub fn is_violated(&self, invariant: Invariant) -> bool {
        matches!(
            self.verdicts.get(&invariant),
            Some(Verdict::Violated { .. })
        )
    }

    /// Whether `invariant` was checked and held.
    pub fn is_held(&self, invariant: Invariant) -> bool {
        matches!(self.verdicts.get(&invariant), Some(Verdict::Held { .. }))
    }

    /// Every violation kept, in invariant order.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.verdicts.values().flat_map(|v| match v {
            Verdict::Violated { first, .. } => first.as_slice(),
            _ => &[],
        })
    }
}

//! The bug zoo: real defects of earlier implementations, switchable at run time so the
//! harness can prove it catches each one. Compiled only with the `mutants` feature;
//! without it every `defect!` check is the constant `false`.
//!
//! The switch is process-wide (the harness checks on many threads at once), so one
//! defect is active at a time.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// A defect of the model's bug zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Defect {
    /// A retry skips the gate once after its backoff ("avoid sleeping twice").
    D1 = 1,
    /// Under `gate = "aimd"` the gate spaces only by `min_dispatch_delay_ms`.
    D2,
    /// Concurrent batches share one reorder buffer without the single-flight lock.
    D3,
    /// `min_dispatch_delay_ms > max_dispatch_delay_ms` is accepted.
    D4,
    /// Success subtracts the step but forgets the floor.
    D5,
    /// Statistics are not reset between batches.
    D6,
    /// "Last dispatch time is zero" is taken to mean "never dispatched".
    D7,
    /// The submitter takes the permit before handing the row over; a failed row then
    /// needs a second permit while its first stays reserved.
    D8,
    /// `min_dispatch_delay_ms = 0` with `recovery_step_ms = 0` is accepted.
    D9,
    /// Bootstrap only when `D == 0`: after recovering to a floor above zero, a failure
    /// merely multiplies the floor.
    D10,
    /// Entries are returned in completion order.
    D11,
    /// A retry is dispatched after the deadline (budget checked only after a failure).
    D12,
    /// The permit is kept during backoff.
    D13,
    /// Shutdown during submission leaves rows not yet submitted without a result.
    D14,
    /// A row back from backoff queues behind rows that have not started.
    D15,
    /// `Retry-After` ignored: the failing row backs off by `D` only.
    D16,
    /// `Retry-After` honoured by the failing row only; the other rows keep dispatching.
    D17,
    /// The token budget is charged when an attempt completes, not when it is dispatched.
    D18,
    /// Retries are not charged to the client budget.
    D19,
    /// The gate books the slot a waiter slept until, not the instant it passed: a late
    /// alarm lets the next row follow too closely.
    D20,
}

impl Defect {
    pub const ALL: [Defect; 20] = [
        Defect::D1,
        Defect::D2,
        Defect::D3,
        Defect::D4,
        Defect::D5,
        Defect::D6,
        Defect::D7,
        Defect::D8,
        Defect::D9,
        Defect::D10,
        Defect::D11,
        Defect::D12,
        Defect::D13,
        Defect::D14,
        Defect::D15,
        Defect::D16,
        Defect::D17,
        Defect::D18,
        Defect::D19,
        Defect::D20,
    ];
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "D{}", *self as u8)
    }
}

static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// Switch `defect` on (and every other off), or all off with `None`.
pub fn activate(defect: Option<Defect>) {
    ACTIVE.store(defect.map_or(0, |d| d as u8), Ordering::SeqCst);
}

/// The defect switched on, if any.
pub fn active() -> Option<Defect> {
    let n = ACTIVE.load(Ordering::SeqCst);
    Defect::ALL.into_iter().find(|d| *d as u8 == n)
}

/// Whether `defect` is on.
pub fn on(defect: Defect) -> bool {
    ACTIVE.load(Ordering::Relaxed) == defect as u8
}

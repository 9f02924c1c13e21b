//! The provider's side of a real API, as pure algorithms.
//!
//! - [`limit`]: request and token limits, sliding windows and buckets, counting every
//!   attempt or only accepted ones; when an attempt fits, and if not, exactly when a
//!   resend would ([`admit_all`] combines several limits as the contract says).
//! - [`lognormal`]: a log-normal through a given p50 and p99, for heavy-tailed latencies
//!   and row token counts, drawn from the run's seeded generator.
//!
//! Nothing here depends on the rest of the crate: times are integer microseconds, and
//! randomness comes only from the generator the caller passes, so the service model can
//! use these pieces without the pieces knowing about scenarios or traces.

pub mod limit;
pub mod lognormal;

pub use limit::{
    Counts, LimitKind, LimitSpec, LimitState, Measure, RetryAfter, Verdict, accept_all, admit_all,
};
pub use lognormal::LogNormal;

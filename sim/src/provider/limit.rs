//! A provider's rate limit, as the README's "Model your provider" describes it.
//!
//! A limit counts requests (each attempt costs 1) or tokens (an attempt costs its row's
//! `tokens`) over `per_us` microseconds, either as a sliding window or as a token bucket.
//! The service asks every limit whether an attempt fits; [`admit_all`] combines the
//! answers as the contract says: an attempt must fit every limit, under `counts = "all"`
//! a refused attempt is recorded in every limit all the same, the wait `R` is the earliest
//! time at which a resend of this same attempt would really fit, and the first refusing
//! limit in list order gives the status.
//!
//! All arithmetic is exact integer arithmetic on microseconds, so a hand-computed answer
//! is the answer, to the microsecond. Each attempt costs O(log n) for a window holding n
//! entries (amortised O(1) expiry plus one binary search for a wait) and O(1) for a
//! bucket.
//!
//! Time must not go backwards for one limit: an earlier `now_us` than one already seen is
//! treated as the latest time seen (the simulator's clock never goes backwards, and a
//! window must stay sorted).

use paceline_core::SlidingWindow;

/// How a limit remembers past attempts.
///
/// Providers document both: a sliding window ("500 requests in any minute") and a
/// token bucket that refills continuously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Sliding window, half-open `(t - per, t]`: an attempt recorded at `s` still counts
    /// at `t` iff `s > t - per`.
    Window,
    /// Bucket holding at most `amount`, starting full, refilling continuously at
    /// `amount` per `per_us`; may go below zero when refused attempts draw on it.
    Bucket,
}

/// Which attempts a limit counts.
///
/// Some providers count unsuccessful requests against the limit too, so resending at
/// once does not help; others count only what they answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// Every attempt counts, a refused one included, from the moment it arrives.
    All,
    /// Only accepted attempts count (recorded by [`LimitState::accept`] or
    /// [`accept_all`]); a refused attempt leaves no trace.
    Accepted,
}

/// How a refusal reports its wait, as the `retry-after-ms` / `Retry-After` headers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// The exact wait, rounded up to the whole millisecond (`retry-after-ms`).
    Ms,
    /// The wait rounded up to whole seconds (`Retry-After`), reported in milliseconds.
    Seconds,
    /// No wait is reported: the client must guess.
    None,
}

/// What a limit counts: providers limit requests per minute and tokens per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Each attempt costs 1.
    Requests,
    /// Each attempt costs its row's input `tokens`.
    Tokens,
}

/// One `[[service.limits]]` entry, in microseconds.
///
/// Plain data, validated by whoever reads the scenario; every value is handled without
/// a panic here (`amount = 0` admits only attempts of cost 0; `per_us = 0` forgets every
/// attempt at once, so anything of cost up to `amount` fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSpec {
    /// Requests or tokens.
    pub measure: Measure,
    /// How many requests or tokens fit in `per_us`.
    pub amount: u64,
    /// The window's length, or the time a bucket takes to refill from empty to full.
    pub per_us: u64,
    /// Sliding window or bucket.
    pub kind: LimitKind,
    /// Whether refused attempts count.
    pub counts: Counts,
    /// How the wait is reported.
    pub retry_after: RetryAfter,
    /// The HTTP status of this limit's refusals (429 unless the scenario says).
    pub status: u16,
}

impl LimitSpec {
    /// A limit with the contract's defaults: `kind = "window"`, `counts = "all"`,
    /// `retry_after = "ms"`, `status = 429`.
    pub fn new(measure: Measure, amount: u64, per_us: u64) -> Self {
        LimitSpec {
            measure,
            amount,
            per_us,
            kind: LimitKind::Window,
            counts: Counts::All,
            retry_after: RetryAfter::Ms,
            status: 429,
        }
    }

    /// What an attempt whose row has `tokens` input tokens costs under this limit: 1 for
    /// a request limit, `tokens` for a token limit.
    pub fn cost(&self, tokens: u64) -> u64 {
        match self.measure {
            Measure::Requests => 1,
            Measure::Tokens => tokens,
        }
    }
}

/// One limit's answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The attempt fits now.
    Fits,
    /// The attempt does not fit now; it would fit `wait_us` (> 0) microseconds later if
    /// nothing else arrived meanwhile.
    Refused {
        /// Microseconds from now until this same attempt fits.
        wait_us: u64,
    },
    /// The attempt costs more than the limit's `amount` (or the limit can no longer
    /// recover enough for it): it never fits, and waiting is pointless. Kept apart from
    /// `Refused` so that no caller mistakes "never" for a very long wait.
    Never,
}

/// The combined answer of every limit to one attempt (see [`admit_all`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The attempt fits every limit; it has been recorded in every `counts = "all"`
    /// limit, and [`accept_all`] records it in the others once it is accepted.
    Fits,
    /// At least one limit refused; a resend fits every limit `wait_us` later.
    Refused {
        /// The status of the first refusing limit in list order.
        status: u16,
        /// The earliest time, from now, at which a resend of this same attempt fits
        /// every limit (the largest of the limits' waits), exact to the microsecond.
        wait_us: u64,
        /// Index of the first refusing limit (the one whose status is given).
        limit_index: usize,
        /// `wait_us` as the first refusing limit reports it (see
        /// [`LimitState::retry_after_ms`]); `None` under `retry_after = "none"`.
        retry_after_ms: Option<u64>,
    },
    /// The attempt can never fit some limit (a request larger than the limit): not
    /// worth retrying.
    Never {
        /// The status of the first limit that can never admit the attempt.
        status: u16,
        /// Index of that limit.
        limit_index: usize,
    },
}

/// The running state of one limit: what it remembers of past attempts.
#[derive(Debug, Clone)]
pub struct LimitState {
    spec: LimitSpec,
    /// The latest time seen; windows and buckets are brought up to it before any answer.
    now_us: u64,
    memory: Memory,
}

#[derive(Debug, Clone)]
enum Memory {
    Window(SlidingWindow),
    Bucket(Bucket),
}

/// A bucket kept as its deficit below full, scaled by `per_us` so that continuous refill
/// is integer: level = amount - deficit / per_us, and `dt` microseconds refill
/// `amount * dt` scaled units. The deficit may exceed `amount * per_us` (a level below
/// zero after refused attempts drew on it).
#[derive(Debug, Clone, Default)]
struct Bucket {
    deficit: u128,
    at_us: u64,
}

impl Bucket {
    fn refill(&mut self, now_us: u64, amount: u64) {
        let dt = now_us - self.at_us;
        self.deficit = self
            .deficit
            .saturating_sub(u128::from(amount) * u128::from(dt));
        self.at_us = now_us;
    }

    fn record(&mut self, cost: u64, per_us: u64) {
        self.deficit = self
            .deficit
            .saturating_add(u128::from(cost) * u128::from(per_us));
    }

    /// Microseconds until the level reaches `cost`, rounded up; `None` if it never will.
    fn wait(&self, cost: u64, amount: u64, per_us: u64) -> Option<u64> {
        // level >= cost  <=>  deficit <= (amount - cost) * per_us
        let allowed = u128::from(amount.checked_sub(cost)?) * u128::from(per_us);
        if self.deficit <= allowed {
            return Some(0);
        }
        if amount == 0 {
            // Nothing refills an empty-capacity bucket that a refused attempt drew on.
            return None;
        }
        let wait = (self.deficit - allowed).div_ceil(u128::from(amount));
        Some(u64::try_from(wait).unwrap_or(u64::MAX))
    }
}

impl LimitState {
    /// A fresh limit: an empty window, or a full bucket.
    pub fn new(spec: LimitSpec) -> Self {
        let memory = match spec.kind {
            LimitKind::Window => Memory::Window(SlidingWindow::new(spec.per_us)),
            LimitKind::Bucket => Memory::Bucket(Bucket::default()),
        };
        LimitState {
            spec,
            now_us: 0,
            memory,
        }
    }

    /// The limit this state follows.
    pub fn spec(&self) -> &LimitSpec {
        &self.spec
    }

    /// What is left of the limit as of the latest time it saw: `amount` less the cost
    /// inside the window, or the bucket's level (rounded down); 0 when at or over the
    /// limit. Read-only: nothing is expired or refilled here, so it describes the limit
    /// just after the attempt it last answered (what an `x-ratelimit-remaining-*` header
    /// says).
    pub fn remaining(&self) -> u64 {
        let LimitSpec { amount, per_us, .. } = self.spec;
        let used = match &self.memory {
            Memory::Window(w) => w.inside(),
            Memory::Bucket(b) => b.deficit.div_ceil(u128::from(per_us.max(1))),
        };
        u64::try_from(u128::from(amount).saturating_sub(used)).unwrap_or(u64::MAX)
    }

    /// Would an attempt of `cost` at `now_us` fit? Records nothing (expired entries and
    /// refill are brought up to date). A `Refused` wait here does not count the attempt
    /// itself; [`LimitState::try_admit`] and [`admit_all`] give the wait that does.
    pub fn check(&mut self, now_us: u64, cost: u64) -> Admission {
        self.advance(now_us);
        match self.wait(cost) {
            None => Admission::Never,
            Some(0) => Admission::Fits,
            Some(wait_us) => Admission::Refused { wait_us },
        }
    }

    /// One attempt of `cost` at `now_us` against this limit alone (a service with one
    /// limit). Under `counts = "all"` the attempt is recorded whether it fits or not, and
    /// a refusal's wait counts it (2 per 1000 ms, accepted at 0 and 300, refused at 600:
    /// wait 700 ms). Under `counts = "accepted"` nothing is recorded here: call
    /// [`LimitState::accept`] once the attempt is accepted.
    #[cfg(test)]
    pub fn try_admit(&mut self, now_us: u64, cost: u64) -> Admission {
        let first = self.check(now_us, cost);
        if self.spec.counts == Counts::All {
            self.record(cost);
        }
        match first {
            Admission::Fits => Admission::Fits,
            // Under "all" the attempt now counts, which can only lengthen the wait.
            Admission::Refused { .. } | Admission::Never => match self.wait(cost) {
                Some(wait_us) if wait_us > 0 => Admission::Refused { wait_us },
                Some(_) => first,
                None => Admission::Never,
            },
        }
    }

    /// Record that an attempt of `cost`, admitted at `now_us`, was accepted. Counts under
    /// `counts = "accepted"`; a no-op under `counts = "all"`, where the attempt was
    /// already recorded when admitted. Call it only for an attempt that was admitted.
    pub fn accept(&mut self, now_us: u64, cost: u64) {
        if self.spec.counts == Counts::Accepted {
            self.advance(now_us);
            self.record(cost);
        }
    }

    /// A wait as this limit reports it, in milliseconds: rounded up to the millisecond
    /// under `Ms`, to whole seconds under `Seconds`, and `None` under `None` (the answer
    /// then carries no `retry_after_ms`). Rounding up, never down: a client that resends
    /// after the reported wait must fit.
    pub fn retry_after_ms(&self, wait_us: u64) -> Option<u64> {
        match self.spec.retry_after {
            RetryAfter::Ms => Some(wait_us.div_ceil(1000)),
            RetryAfter::Seconds => Some(wait_us.div_ceil(1_000_000).saturating_mul(1000)),
            RetryAfter::None => None,
        }
    }

    /// Bring the memory up to `now_us` (never backwards).
    fn advance(&mut self, now_us: u64) {
        let now_us = now_us.max(self.now_us);
        self.now_us = now_us;
        match &mut self.memory {
            Memory::Window(w) => w.expire(now_us),
            Memory::Bucket(b) => b.refill(now_us, self.spec.amount),
        }
    }

    /// Record an attempt of `cost` at the current time.
    fn record(&mut self, cost: u64) {
        match &mut self.memory {
            Memory::Window(w) => w.record(self.now_us, cost),
            Memory::Bucket(b) => b.record(cost, self.spec.per_us),
        }
    }

    /// Microseconds from the current time until an attempt of `cost` fits (0: now).
    fn wait(&self, cost: u64) -> Option<u64> {
        let LimitSpec { amount, per_us, .. } = self.spec;
        match &self.memory {
            Memory::Window(w) => w.wait(self.now_us, cost, amount),
            Memory::Bucket(b) => b.wait(cost, amount, per_us),
        }
    }
}

/// One attempt at `now_us`, whose row has `tokens` input tokens, against every limit (a
/// request limit charges 1, a token limit `tokens`).
///
/// - Every limit fits: the attempt is recorded in every `counts = "all"` limit and the
///   answer is `Fits`; call [`accept_all`] if it is then accepted.
/// - Some limit refuses: the attempt is still recorded in every `counts = "all"` limit,
///   the refusing ones and the others (contract: "a refused attempt counts in every
///   limit"). The wait is the largest, over *every* limit, of the time until a resend
///   fits it with the refused attempt recorded: a limit that admitted the refused attempt
///   may, having recorded it, refuse the resend, and `R` is "the earliest time at which a
///   resend would really fit". Status, index and reporting style come from the first
///   refusing limit in list order.
/// - Some limit can never admit it (its cost exceeds that limit's amount): `Never`, from
///   the first such limit; under `counts = "all"` the attempt is recorded all the same.
pub fn admit_all(limits: &mut [LimitState], now_us: u64, tokens: u64) -> Verdict {
    let mut first_refusal = None;
    let mut first_never = None;
    for (i, limit) in limits.iter_mut().enumerate() {
        let cost = limit.spec.cost(tokens);
        match limit.check(now_us, cost) {
            Admission::Fits => {}
            Admission::Refused { .. } => {
                first_refusal.get_or_insert(i);
            }
            Admission::Never => {
                first_refusal.get_or_insert(i);
                first_never.get_or_insert(i);
            }
        }
    }
    for limit in limits.iter_mut() {
        if limit.spec.counts == Counts::All {
            limit.record(limit.spec.cost(tokens));
        }
    }
    let Some(first) = first_refusal else {
        return Verdict::Fits;
    };
    let mut wait_us = 0;
    for (i, limit) in limits.iter().enumerate() {
        match limit.wait(limit.spec.cost(tokens)) {
            Some(w) => wait_us = wait_us.max(w),
            // Possible without a `Never` from `check` only for a bucket of amount 0
            // drawn below zero; it can no more admit the attempt than a too-small one.
            None => {
                first_never.get_or_insert(i);
            }
        }
    }
    if let Some(i) = first_never {
        return Verdict::Never {
            status: limits[i].spec.status,
            limit_index: i,
        };
    }
    let speaker = &limits[first];
    Verdict::Refused {
        status: speaker.spec.status,
        wait_us,
        limit_index: first,
        retry_after_ms: speaker.retry_after_ms(wait_us),
    }
}

/// Record in every `counts = "accepted"` limit that an attempt admitted by [`admit_all`]
/// at `now_us`, with `tokens` input tokens, was accepted (`counts = "all"` limits recorded
/// it already).
pub fn accept_all(limits: &mut [LimitState], now_us: u64, tokens: u64) {
    for limit in limits.iter_mut() {
        let cost = limit.spec.cost(tokens);
        limit.accept(now_us, cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const MS: u64 = 1000;
    const S: u64 = 1_000_000;

    fn requests(amount: u64, per_us: u64) -> LimitSpec {
        LimitSpec::new(Measure::Requests, amount, per_us)
    }

    fn tokens(amount: u64, per_us: u64) -> LimitSpec {
        LimitSpec::new(Measure::Tokens, amount, per_us)
    }

    fn with(spec: LimitSpec, kind: LimitKind, counts: Counts, status: u16) -> LimitSpec {
        LimitSpec {
            kind,
            counts,
            status,
            ..spec
        }
    }

    #[test]
    fn remaining_is_what_the_last_attempt_left() {
        // A window of 3 per second: two attempts leave 1; a bucket of 10 tokens a
        // second drawn by 4 leaves 6, and refused attempts drive it to 0, never below.
        let mut w = LimitState::new(requests(3, S));
        assert_eq!(w.remaining(), 3);
        w.try_admit(0, 1);
        w.try_admit(10, 1);
        assert_eq!(w.remaining(), 1);
        let mut b = LimitState::new(with(tokens(10, S), LimitKind::Bucket, Counts::All, 429));
        b.try_admit(0, 4);
        assert_eq!(b.remaining(), 6);
        b.try_admit(0, 9);
        assert_eq!(b.remaining(), 0);
    }

    // ---- windows ---------------------------------------------------------------------

    #[test]
    fn spec_example_two_per_second_counts_all_waits_700_ms() {
        // 2 per 1000 ms, counts = all. Accepted at 0 and 300 ms; at 600 ms the window
        // (-400, 600] holds 2, and 2 + 1 > 2: refused. The refused attempt is recorded at
        // 600, so the window holds {0, 300, 600} = 3; a resend fits once 3 - k + 1 <= 2,
        // i.e. k = 2 entries have left: the one at 300 leaves at 300 + 1000 = 1300 ms.
        // R = 1300 - 600 = 700 ms, not 400.
        let mut l = LimitState::new(requests(2, 1000 * MS));
        assert_eq!(l.try_admit(0, 1), Admission::Fits);
        assert_eq!(l.try_admit(300 * MS, 1), Admission::Fits);
        assert_eq!(
            l.try_admit(600 * MS, 1),
            Admission::Refused { wait_us: 700 * MS }
        );
        // The wait is exact: at 1299.999 ms the entry at 300 is still inside
        // (300 > 1299.999 - 1000), at 1300 ms it has left.
        assert_eq!(
            l.clone().check(1300 * MS - 1, 1),
            Admission::Refused { wait_us: 1 }
        );
        assert_eq!(l.check(1300 * MS, 1), Admission::Fits);
    }

    #[test]
    fn spec_example_counts_accepted_waits_400_ms() {
        // Same, counts = accepted: the refused attempt at 600 is not recorded, the window
        // holds {0, 300}; one entry must leave: the one at 0, at 0 + 1000 = 1000 ms.
        // R = 1000 - 600 = 400 ms.
        let spec = with(
            requests(2, 1000 * MS),
            LimitKind::Window,
            Counts::Accepted,
            429,
        );
        let mut l = LimitState::new(spec);
        assert_eq!(l.try_admit(0, 1), Admission::Fits);
        l.accept(0, 1);
        assert_eq!(l.try_admit(300 * MS, 1), Admission::Fits);
        l.accept(300 * MS, 1);
        assert_eq!(
            l.try_admit(600 * MS, 1),
            Admission::Refused { wait_us: 400 * MS }
        );
        // Nothing was recorded: the same answer again.
        assert_eq!(
            l.try_admit(600 * MS, 1),
            Admission::Refused { wait_us: 400 * MS }
        );
        assert_eq!(l.check(1000 * MS, 1), Admission::Fits);
    }

    #[test]
    fn counts_accepted_ignores_admitted_attempts_never_accepted() {
        // counts = accepted, 1 per second: an attempt admitted at 0 but answered with a
        // random 503 (never accepted) leaves the window empty.
        let spec = with(requests(1, S), LimitKind::Window, Counts::Accepted, 429);
        let mut l = LimitState::new(spec);
        assert_eq!(l.try_admit(0, 1), Admission::Fits);
        assert_eq!(l.try_admit(1, 1), Admission::Fits);
        l.accept(1, 1);
        // Now the window holds {1 us}; it leaves at 1 + 1 s.
        assert_eq!(l.try_admit(2, 1), Admission::Refused { wait_us: S - 1 });
    }

    #[test]
    fn the_501st_request_of_a_burst_at_zero_fits_a_minute_later() {
        // 500 per 60 000 ms, all 500 at t = 0 (one entry of 500). The 501st at 0 is
        // refused and recorded (501 at 0). A resend fits once the entry at 0 has left,
        // at 0 + 60 000 ms: R = 60 000 ms under either counting.
        for counts in [Counts::All, Counts::Accepted] {
            let spec = with(requests(500, 60_000 * MS), LimitKind::Window, counts, 429);
            let mut l = LimitState::new(spec);
            for _ in 0..500 {
                assert_eq!(l.try_admit(0, 1), Admission::Fits);
                l.accept(0, 1);
            }
            assert_eq!(
                l.try_admit(0, 1),
                Admission::Refused {
                    wait_us: 60_000 * MS
                }
            );
            // At 59 999.999 ms, 0 > -0.001 ms: the burst is still inside.
            assert_eq!(
                l.clone().check(60_000 * MS - 1, 1),
                Admission::Refused { wait_us: 1 }
            );
            assert_eq!(l.check(60_000 * MS, 1), Admission::Fits);
        }
    }

    #[test]
    fn the_501st_request_of_a_paced_run_fits_after_the_first_ones_leave() {
        // 500 per 60 000 ms, requests at 0, 100, ..., 49 900 ms (i * 100 ms, i < 500).
        // The 501st arrives at 50 000 ms: the window (-10 000, 50 000] holds all 500.
        //   counts = accepted: one entry must leave, the one at 0, at 60 000 ms:
        //     R = 60 000 - 50 000 = 10 000 ms.
        //   counts = all: the refused attempt is recorded at 50 000 (501 inside), two
        //     must leave, the second (100 ms) at 60 100 ms: R = 10 100 ms.
        for (counts, wait_ms) in [(Counts::Accepted, 10_000), (Counts::All, 10_100)] {
            let spec = with(requests(500, 60_000 * MS), LimitKind::Window, counts, 429);
            let mut l = LimitState::new(spec);
            for i in 0..500 {
                assert_eq!(l.try_admit(i * 100 * MS, 1), Admission::Fits);
                l.accept(i * 100 * MS, 1);
            }
            assert_eq!(
                l.try_admit(50_000 * MS, 1),
                Admission::Refused {
                    wait_us: wait_ms * MS
                }
            );
            let at = (50_000 + wait_ms) * MS;
            assert_eq!(
                l.clone().check(at - 1, 1),
                Admission::Refused { wait_us: 1 }
            );
            assert_eq!(l.check(at, 1), Admission::Fits);
        }
    }

    #[test]
    fn token_window_waits_for_enough_tokens_to_leave() {
        // 1000 tokens per second, counts = accepted. 300 at 0, 300 at 100 ms, 300 at
        // 200 ms: 900 inside. 250 at 300 ms: 900 + 250 > 1000; 150 must leave, the entry
        // at 0 (300) is enough: it leaves at 1000 ms, R = 700 ms. 450 at 300 ms: 350 must
        // leave, 0 and 100 ms (600 >= 350): R = 1100 - 300 = 800 ms. 100 fits now.
        let spec = with(tokens(1000, S), LimitKind::Window, Counts::Accepted, 429);
        let mut l = LimitState::new(spec);
        for t in [0, 100 * MS, 200 * MS] {
            assert_eq!(l.try_admit(t, 300), Admission::Fits);
            l.accept(t, 300);
        }
        assert_eq!(
            l.try_admit(300 * MS, 250),
            Admission::Refused { wait_us: 700 * MS }
        );
        assert_eq!(
            l.try_admit(300 * MS, 450),
            Admission::Refused { wait_us: 800 * MS }
        );
        assert_eq!(l.try_admit(300 * MS, 100), Admission::Fits);
    }

    // ---- buckets ---------------------------------------------------------------------

    #[test]
    fn bucket_after_a_burst_admits_exactly_what_has_refilled() {
        // 30 000 tokens per minute, refilling at 30 000 / 60 000 000 us = 1/2000 token
        // per microsecond (0.5 per ms). counts = accepted.
        // t = 0: draw 30 000 (level 0).
        // t = 30 s: level = 30 000 000 us / 2000 = 15 000: 15 000 fits exactly; 15 001
        // lacks 1 token, i.e. 2000 us (2 ms).
        let spec = with(
            tokens(30_000, 60 * S),
            LimitKind::Bucket,
            Counts::Accepted,
            429,
        );
        let mut l = LimitState::new(spec);
        assert_eq!(l.try_admit(0, 30_000), Admission::Fits);
        l.accept(0, 30_000);
        assert_eq!(l.try_admit(0, 1), Admission::Refused { wait_us: 2000 });
        let mut half = l.clone();
        assert_eq!(
            half.try_admit(30 * S, 15_001),
            Admission::Refused { wait_us: 2000 }
        );
        assert_eq!(half.try_admit(30 * S, 15_000), Admission::Fits);
        // 1 us earlier the level is 15 000 - 1/2000: 15 000 lacks 1/2000 token = 1 us.
        assert_eq!(
            l.clone().try_admit(30 * S - 1, 15_000),
            Admission::Refused { wait_us: 1 }
        );
        // The bucket holds at most 30 000: after ten minutes idle, 30 000 fits, and
        // 30 001 never does.
        assert_eq!(l.check(600 * S, 30_000), Admission::Fits);
        assert_eq!(l.check(600 * S, 30_001), Admission::Never);
    }

    #[test]
    fn bucket_under_counts_all_is_drawn_below_zero_by_a_refusal() {
        // Same bucket, counts = all. At 30 s the level is 15 000; 15 001 is refused and
        // drawn: level -1. A resend of 15 001 needs 15 002 tokens at 0.5 per ms:
        // 30 004 ms = 30 004 000 us.
        let spec = with(tokens(30_000, 60 * S), LimitKind::Bucket, Counts::All, 429);
        let mut l = LimitState::new(spec);
        assert_eq!(l.try_admit(0, 30_000), Admission::Fits);
        assert_eq!(
            l.try_admit(30 * S, 15_001),
            Admission::Refused {
                wait_us: 30_004 * MS
            }
        );
        assert_eq!(
            l.clone().check(60 * S + 4 * MS - 1, 15_001),
            Admission::Refused { wait_us: 1 }
        );
        assert_eq!(l.check(60 * S + 4 * MS, 15_001), Admission::Fits);
    }

    #[test]
    fn bucket_wait_rounds_up_to_the_microsecond() {
        // 3 tokens per 10 us (0.3 per us), full at start. Draw 3 at 0. 1 token takes
        // 1 / 0.3 = 3.33 us: ceil = 4. At 3 us the level is 0.9 < 1; at 4 us, 1.2.
        let spec = with(tokens(3, 10), LimitKind::Bucket, Counts::Accepted, 429);
        let mut l = LimitState::new(spec);
        assert_eq!(l.try_admit(0, 3), Admission::Fits);
        l.accept(0, 3);
        assert_eq!(l.check(0, 1), Admission::Refused { wait_us: 4 });
        assert_eq!(l.check(3, 1), Admission::Refused { wait_us: 1 });
        assert_eq!(l.check(4, 1), Admission::Fits);
    }

    // ---- retry_after -----------------------------------------------------------------

    #[test]
    fn retry_after_rounds_up_by_style() {
        let mut spec = requests(1, S);
        let report = |spec: LimitSpec, wait_us| LimitState::new(spec).retry_after_ms(wait_us);
        // 700 001 us = 700.001 ms: 701 ms; 0.700001 s: 1 s = 1000 ms.
        assert_eq!(report(spec, 700_001), Some(701));
        assert_eq!(report(spec, 700_000), Some(700));
        assert_eq!(report(spec, 1), Some(1));
        spec.retry_after = RetryAfter::Seconds;
        assert_eq!(report(spec, 700_001), Some(1000));
        assert_eq!(report(spec, 1_000_000), Some(1000));
        assert_eq!(report(spec, 1_000_001), Some(2000));
        spec.retry_after = RetryAfter::None;
        assert_eq!(report(spec, 700_001), None);
    }

    // ---- combined limits -------------------------------------------------------------

    #[test]
    fn combined_the_larger_wait_wins_and_the_first_refusal_speaks() {
        // L0: 2 requests per 1000 ms window, status 429. L1: 1000 tokens per minute
        // bucket, status 529 (refill 1/60 token per ms). Both counts = all.
        // t = 0, 400 tokens: fits both (L0 {0}; L1 1000 -> 600).
        // t = 300 ms, 400: L0 2 <= 2; L1 600 + 300/60 = 605 >= 400: fits (L1 -> 205).
        // t = 600 ms, 400: L0 3 > 2 refuses; L1 205 + 5 = 210 < 400 refuses.
        //   Recorded in both: L0 {0, 300, 600} -> wait 700 ms (spec example);
        //   L1 210 - 400 = -190, needs 400: 590 tokens * 60 ms = 35 400 ms.
        //   R = max = 35 400 ms; status from L0 (listed first): 429.
        let l0 = with(requests(2, 1000 * MS), LimitKind::Window, Counts::All, 429);
        let l1 = with(tokens(1000, 60 * S), LimitKind::Bucket, Counts::All, 529);
        let mut limits = [LimitState::new(l0), LimitState::new(l1)];
        assert_eq!(admit_all(&mut limits, 0, 400), Verdict::Fits);
        assert_eq!(admit_all(&mut limits, 300 * MS, 400), Verdict::Fits);
        assert_eq!(
            admit_all(&mut limits, 600 * MS, 400),
            Verdict::Refused {
                status: 429,
                wait_us: 35_400 * MS,
                limit_index: 0,
                retry_after_ms: Some(35_400),
            }
        );
        assert_resend_fits_exactly_after(&limits, 600 * MS, 400, 35_400 * MS);

        // Listed the other way round, the bucket speaks: status 529, index 0.
        let mut limits = [LimitState::new(l1), LimitState::new(l0)];
        admit_all(&mut limits, 0, 400);
        admit_all(&mut limits, 300 * MS, 400);
        assert_eq!(
            admit_all(&mut limits, 600 * MS, 400),
            Verdict::Refused {
                status: 529,
                wait_us: 35_400 * MS,
                limit_index: 0,
                retry_after_ms: Some(35_400),
            }
        );
    }

    #[test]
    fn combined_a_limit_that_admitted_the_refused_attempt_can_set_the_wait() {
        // L0: 2 requests per 1000 ms window, counts = all, 429.
        // L1: 10 tokens per 1000 ms bucket (0.01 per ms), counts = accepted, 503.
        // t = 0, 10 tokens: fits; accepted (L0 {0}, L1 level 0).
        // t = 600 ms, 8 tokens: L0 1 + 1 <= 2 fits; L1 level 6 < 8 refuses, needs 2
        //   more: 200 ms. The refusal is recorded in L0 (counts = all): {0, 600}; a
        //   resend fits L0 once 0 has left, at 1000 ms: 400 ms.
        // R = max(200, 400) = 400 ms (a resend at 800 ms would meet L0 full); the only
        // refusing limit, L1, gives the status 503.
        let l0 = with(requests(2, 1000 * MS), LimitKind::Window, Counts::All, 429);
        let l1 = with(
            tokens(10, 1000 * MS),
            LimitKind::Bucket,
            Counts::Accepted,
            503,
        );
        let mut limits = [LimitState::new(l0), LimitState::new(l1)];
        assert_eq!(admit_all(&mut limits, 0, 10), Verdict::Fits);
        accept_all(&mut limits, 0, 10);
        assert_eq!(
            admit_all(&mut limits, 600 * MS, 8),
            Verdict::Refused {
                status: 503,
                wait_us: 400 * MS,
                limit_index: 1,
                retry_after_ms: Some(400),
            }
        );
        assert_resend_fits_exactly_after(&limits, 600 * MS, 8, 400 * MS);
    }

    #[test]
    fn combined_retry_after_is_reported_by_the_first_refusing_limit() {
        // L0 reports whole seconds, L1 nothing. Both 1 request per second, counts = all.
        // Accepted at 0; at 300 ms both refuse, recorded at 300: resend fits once 300
        // has left, at 1300 ms: R = 1000 ms, reported by L0 in seconds: 1 s.
        let mut l0 = requests(1, S);
        l0.retry_after = RetryAfter::Seconds;
        let mut l1 = requests(1, S);
        l1.retry_after = RetryAfter::None;
        let mut limits = [LimitState::new(l0), LimitState::new(l1)];
        assert_eq!(admit_all(&mut limits, 0, 0), Verdict::Fits);
        assert_eq!(
            admit_all(&mut limits, 300 * MS, 0),
            Verdict::Refused {
                status: 429,
                wait_us: 1000 * MS,
                limit_index: 0,
                retry_after_ms: Some(1000),
            }
        );
        let mut limits = [LimitState::new(l1), LimitState::new(l0)];
        admit_all(&mut limits, 0, 0);
        assert!(matches!(
            admit_all(&mut limits, 300 * MS, 0),
            Verdict::Refused {
                retry_after_ms: None,
                ..
            }
        ));
    }

    #[test]
    fn no_limits_admit_everything() {
        assert_eq!(admit_all(&mut [], 0, 1_000_000), Verdict::Fits);
    }

    // ---- never ---------------------------------------------------------------------

    #[test]
    fn a_cost_larger_than_the_amount_never_fits() {
        // 100 tokens per second: 101 never fits, in a window or a bucket, however long
        // one waits; 100 fits an empty window / full bucket.
        for kind in [LimitKind::Window, LimitKind::Bucket] {
            let spec = with(tokens(100, S), kind, Counts::Accepted, 429);
            let mut l = LimitState::new(spec);
            assert_eq!(l.try_admit(0, 101), Admission::Never);
            assert_eq!(l.check(u64::MAX, 101), Admission::Never);
            assert_eq!(l.try_admit(u64::MAX, 100), Admission::Fits);
        }
        // Combined: the first limit that can never admit it speaks, even if an earlier
        // one merely refuses. L0: 1 request per second (status 429), L1: 100 tokens per
        // second (status 400), L2: 50 tokens per second (status 401). At 1 us, 101
        // tokens: L0 refuses (it holds the attempt at 0), L1 and L2 never fit: L1 speaks.
        let l0 = requests(1, S);
        let l1 = LimitSpec {
            status: 400,
            ..tokens(100, S)
        };
        let l2 = LimitSpec {
            status: 401,
            ..tokens(50, S)
        };
        let mut limits = [
            LimitState::new(l0),
            LimitState::new(l1),
            LimitState::new(l2),
        ];
        assert_eq!(admit_all(&mut limits, 0, 10), Verdict::Fits);
        assert_eq!(
            admit_all(&mut limits, 1, 101),
            Verdict::Never {
                status: 400,
                limit_index: 1
            }
        );
    }

    #[test]
    fn degenerate_specs_answer_without_panicking() {
        // amount 0: only cost 0 fits; per 0: nothing is remembered.
        for kind in [LimitKind::Window, LimitKind::Bucket] {
            let mut zero = LimitState::new(LimitSpec {
                kind,
                ..tokens(0, S)
            });
            assert_eq!(zero.try_admit(0, 1), Admission::Never);
            // Under counts = all a bucket of amount 0 was drawn by the refused attempt
            // and never refills; the window forgets it after a second.
            let later = zero.check(5 * S, 0);
            match kind {
                LimitKind::Window => assert_eq!(later, Admission::Fits),
                LimitKind::Bucket => assert_eq!(later, Admission::Never),
            }
            let mut instant = LimitState::new(LimitSpec {
                kind,
                ..requests(1, 0)
            });
            for t in [0, 0, 1, 1] {
                assert_eq!(instant.try_admit(t, 1), Admission::Fits);
            }
        }
    }

    #[test]
    fn time_going_backwards_is_read_as_the_latest_time() {
        let mut l = LimitState::new(requests(1, S));
        assert_eq!(l.try_admit(5 * S, 1), Admission::Fits);
        // 1 s earlier is read as 5 s: the window holds the attempt at 5 s.
        assert_eq!(l.try_admit(4 * S, 1), Admission::Refused { wait_us: S });
    }

    // ---- size ----------------------------------------------------------------------

    #[test]
    fn a_window_of_a_million_entries_is_not_scanned_per_attempt() {
        // A million distinct admissions, then a million refusals each asking for a wait:
        // quadratic work (10^12 steps) would not finish; O(log n) per attempt does.
        let n: u64 = 1_000_000;
        let per = 3600 * S;
        let spec = with(requests(n, per), LimitKind::Window, Counts::Accepted, 429);
        let mut l = LimitState::new(spec);
        for t in 0..n {
            assert_eq!(l.try_admit(t, 1), Admission::Fits);
            l.accept(t, 1);
        }
        for t in n..2 * n {
            // The entries at 0 .. t - per have left (none yet): the oldest, at 0, leaves
            // at per.
            assert_eq!(l.try_admit(t, 1), Admission::Refused { wait_us: per - t });
        }
        // Token window under counts = all: every refusal is recorded (the queue grows to
        // two million), and each wait is a binary search over it. At t >= n the window
        // holds n + (t - n) = t tokens, one per microsecond 0 .. t - 1; the refused
        // attempt makes it t + 1, and a resend of 1 fits once t + 1 - (n - 1) = t - n + 2
        // of the oldest have left, the last of them recorded at t - n + 1, leaving at
        // per + t - n + 1: the wait is per - n + 1 every time.
        let spec = with(tokens(n, per), LimitKind::Window, Counts::All, 429);
        let mut l = LimitState::new(spec);
        for t in 0..n {
            assert_eq!(l.try_admit(t, 1), Admission::Fits);
        }
        for t in n..2 * n {
            assert_eq!(
                l.try_admit(t, 1),
                Admission::Refused {
                    wait_us: per - n + 1
                }
            );
        }
    }

    // ---- against a brute-force model -------------------------------------------------

    /// After a refusal with wait `r` at `now`, a resend fits every limit at `now + r` and
    /// not at `now + r - 1` (checked on copies: nothing is recorded).
    fn assert_resend_fits_exactly_after(limits: &[LimitState], now: u64, tokens: u64, r: u64) {
        let fits_at = |t: u64| {
            let mut copy = limits.to_vec();
            copy.iter_mut().all(|l| {
                let cost = l.spec.cost(tokens);
                l.check(t, cost) == Admission::Fits
            })
        };
        assert!(r > 0);
        assert!(fits_at(now + r), "a resend after {r} us should fit");
        assert!(!fits_at(now + r - 1), "a resend after {} us fits", r - 1);
    }

    /// The naive model: every recorded attempt kept, every question answered by
    /// scanning or replaying the whole history.
    #[derive(Clone)]
    struct Naive {
        spec: LimitSpec,
        records: Vec<(u64, u64)>,
    }

    impl Naive {
        fn fits(&self, t: u64, cost: u64) -> bool {
            let LimitSpec { amount, per_us, .. } = self.spec;
            match self.spec.kind {
                LimitKind::Window => {
                    let inside: u64 = self
                        .records
                        .iter()
                        .filter(|&&(s, _)| s + per_us > t)
                        .map(|&(_, c)| c)
                        .sum();
                    inside + cost <= amount
                }
                LimitKind::Bucket => {
                    let (a, p) = (i128::from(amount), i128::from(per_us));
                    let cap = a * p;
                    let (mut level, mut prev) = (cap, 0);
                    for &(s, c) in &self.records {
                        level = cap.min(level + a * i128::from(s - prev));
                        prev = s;
                        level -= i128::from(c) * p;
                    }
                    level = cap.min(level + a * i128::from(t - prev));
                    level >= i128::from(cost) * p
                }
            }
        }
    }

    #[test]
    fn admit_all_agrees_with_a_brute_force_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(20);
        let mut refusals = 0;
        for _ in 0..60 {
            let n_limits = rng.random_range(1..=3);
            let specs: Vec<LimitSpec> = (0..n_limits)
                .map(|i| LimitSpec {
                    measure: if rng.random::<bool>() {
                        Measure::Requests
                    } else {
                        Measure::Tokens
                    },
                    amount: rng.random_range(1..=20),
                    per_us: rng.random_range(1..=60),
                    kind: if rng.random::<bool>() {
                        LimitKind::Window
                    } else {
                        LimitKind::Bucket
                    },
                    counts: if rng.random::<bool>() {
                        Counts::All
                    } else {
                        Counts::Accepted
                    },
                    retry_after: RetryAfter::Ms,
                    status: 500 + i,
                })
                .collect();
            let mut limits: Vec<LimitState> = specs.iter().map(|&s| LimitState::new(s)).collect();
            let mut naive: Vec<Naive> = specs
                .iter()
                .map(|&spec| Naive {
                    spec,
                    records: Vec::new(),
                })
                .collect();
            let mut t = rng.random_range(0..5);
            for _ in 0..400 {
                t += rng.random_range(0..=6);
                let tokens = rng.random_range(0..=22);
                let verdict = admit_all(&mut limits, t, tokens);
                let fit: Vec<bool> = naive
                    .iter()
                    .map(|n| n.fits(t, n.spec.cost(tokens)))
                    .collect();
                for n in naive.iter_mut() {
                    if n.spec.counts == Counts::All {
                        n.records.push((t, n.spec.cost(tokens)));
                    }
                }
                let first = fit.iter().position(|&f| !f);
                let never = naive
                    .iter()
                    .position(|n| n.spec.cost(tokens) > n.spec.amount);
                match (first, never) {
                    (None, _) => {
                        assert_eq!(verdict, Verdict::Fits);
                        // Accept most admitted attempts (an unaccepted one is a random 503).
                        if rng.random_range(0..4) > 0 {
                            accept_all(&mut limits, t, tokens);
                            for n in naive.iter_mut() {
                                if n.spec.counts == Counts::Accepted {
                                    n.records.push((t, n.spec.cost(tokens)));
                                }
                            }
                        }
                    }
                    (Some(_), Some(i)) => assert_eq!(
                        verdict,
                        Verdict::Never {
                            status: specs[i].status,
                            limit_index: i
                        }
                    ),
                    (Some(i), None) => {
                        let Verdict::Refused {
                            status,
                            wait_us,
                            limit_index,
                            retry_after_ms,
                        } = verdict
                        else {
                            panic!("expected a refusal at {t}, got {verdict:?}");
                        };
                        assert_eq!((status, limit_index), (specs[i].status, i));
                        assert_eq!(retry_after_ms, Some(wait_us.div_ceil(1000)));
                        // Fitting is monotone in time once nothing more arrives, so
                        // "fits at t + R, not at t + R - 1" makes R the earliest.
                        let fits_all =
                            |at: u64| naive.iter().all(|n| n.fits(at, n.spec.cost(tokens)));
                        assert!(wait_us > 0);
                        assert!(fits_all(t + wait_us), "at {t} +{wait_us}: {specs:?}");
                        assert!(!fits_all(t + wait_us - 1), "at {t} +{wait_us}: {specs:?}");
                        refusals += 1;
                    }
                }
            }
        }
        assert!(
            refusals > 1000,
            "the model was exercised: {refusals} refusals"
        );
    }
}

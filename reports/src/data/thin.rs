//! What the charts keep of long runs: every point while a run is short, and beyond that
//! only what a chart of [`BUCKETS`](crate::charts) columns can show, in memory that does
//! not grow with the run. Time only moves forward in a trace, so each structure fills a
//! bucket at a time and doubles its bucket's width when the run outgrows it.

/// Points (or spans, or markers) kept one by one, per series: every chart of a run this
/// short is drawn from exactly what the trace said.
pub const EXACT: usize = 1 << 16;

/// Fine buckets of time per lane once spans are summed: four per column of a chart.
pub const FINE: usize = 4_000;

/// The smallest power of two `w` (at least `from`, itself 0 or a power of two) with
/// `end_us / w < buckets`.
fn width_for(end_us: u64, from: u64, buckets: usize) -> u64 {
    let mut width = from.max(1);
    while end_us / width >= buckets as u64 {
        width = width.saturating_mul(2);
    }
    width
}

/// A bucket being filled: its number, its lowest and its highest point.
type OpenBucket<T> = (u64, (u64, T), (u64, T));

/// What a thinned series ranks its points by: a bucket keeps its lowest (and highest).
pub trait Ranked: Copy {
    /// The point's rank.
    fn rank(&self) -> f64;
}

/// A line's value ranks by itself.
impl Ranked for f64 {
    fn rank(&self) -> f64 {
        *self
    }
}

/// A gap and the spacing it was owed rank by the gap.
impl Ranked for (f64, f64) {
    fn rank(&self) -> f64 {
        self.0
    }
}

/// A series of points in time: every point up to [`EXACT`], then per bucket of time its
/// lowest point (and its highest, for an envelope), in time order.
#[derive(Debug, Clone)]
pub struct Thinned<T> {
    points: Vec<(u64, T)>,
    /// 0 while every point is kept, else the width of a bucket in µs (a power of two:
    /// a time's bucket is the time shifted right by `shift`).
    width_us: u64,
    shift: u32,
    open: Option<OpenBucket<T>>,
    highest_too: bool,
}

impl<T: Ranked> Thinned<T> {
    /// Points ranked by [`Ranked::rank`]; beyond [`EXACT`] a bucket keeps its lowest
    /// point, and its highest if `highest_too` (a line's envelope).
    pub fn new(highest_too: bool) -> Self {
        Thinned {
            points: Vec::new(),
            width_us: 0,
            shift: 0,
            open: None,
            highest_too,
        }
    }

    /// The point `v` at `t_us` (no earlier than the last). Inlined where it is called:
    /// most points fall in the open bucket and only update its extremes.
    #[inline]
    pub fn push(&mut self, t_us: u64, v: T) {
        // A bucket is open only once the series is thinned (`width_us` above 0).
        if let Some((b, lo, hi)) = &mut self.open
            && *b == t_us >> self.shift
        {
            if v.rank() < lo.1.rank() {
                *lo = (t_us, v);
            }
            if v.rank() > hi.1.rank() {
                *hi = (t_us, v);
            }
            return;
        }
        self.push_past_bucket(t_us, v);
    }

    /// A point kept one by one, or the first of a new bucket.
    fn push_past_bucket(&mut self, t_us: u64, v: T) {
        if self.width_us == 0 {
            self.points.push((t_us, v));
            if self.points.len() > EXACT {
                self.coarsen();
            }
            return;
        }
        self.close();
        if self.open.is_some() {
            // Closing widened the buckets and left the last one open: place `v` again.
            self.push(t_us, v);
        } else {
            self.open = Some((t_us >> self.shift, (t_us, v), (t_us, v)));
        }
    }

    /// Move the open bucket's points into the series.
    fn close(&mut self) {
        let Some((_, lo, hi)) = self.open.take() else {
            return;
        };
        let highest = self.highest_too && hi.1.rank() != lo.1.rank();
        match (highest, hi.0 < lo.0) {
            (false, _) => self.points.push(lo),
            (true, true) => self.points.extend([hi, lo]),
            (true, false) => self.points.extend([lo, hi]),
        }
        if self.points.len() > EXACT {
            self.coarsen();
        }
    }

    /// Double the buckets' width until the points fit in a quarter of [`EXACT`] buckets,
    /// and fold the points kept into them.
    fn coarsen(&mut self) {
        // No bucket is open here: points are folded only as they are added or closed.
        let end = self.points.last().map_or(0, |p| p.0);
        self.width_us = width_for(end, self.width_us.saturating_mul(2), EXACT / 4);
        debug_assert!(self.width_us.is_power_of_two(), "{}", self.width_us);
        self.shift = self.width_us.trailing_zeros();
        for (t, v) in std::mem::take(&mut self.points) {
            self.push(t, v);
        }
    }

    /// The points kept, in time order.
    pub fn finish(mut self) -> Vec<(u64, T)> {
        // Closing may widen the buckets and leave the last one open again.
        while self.open.is_some() {
            self.close();
        }
        self.points
    }
}

/// Every `stride`-th item, the stride doubling (and every other item kept dropped)
/// whenever more than `2 * limit` are kept: an evenly spread sample of at most `2 * limit`
/// items, all of them while there are few.
#[derive(Debug, Clone)]
pub struct Sampled<T> {
    items: Vec<T>,
    stride: u64,
    seen: u64,
    limit: usize,
}

impl<T> Sampled<T> {
    /// A sample of at most `2 * limit` items.
    pub fn new(limit: usize) -> Self {
        Sampled {
            items: Vec::new(),
            stride: 1,
            seen: 0,
            limit,
        }
    }

    /// Offer the next item.
    pub fn push(&mut self, item: T) {
        // The stride is a power of two: a multiple of it has no bit below it.
        if self.seen & (self.stride - 1) == 0 {
            self.items.push(item);
            if self.items.len() > 2 * self.limit {
                let mut keep = false;
                self.items.retain(|_| {
                    keep = !keep;
                    keep
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }

    /// The items kept, in the order offered.
    pub fn finish(self) -> Vec<T> {
        self.items
    }
}

/// Time each lane spent in two kinds of span, summed per fine bucket of time whose width
/// doubles as the run grows: what the timeline draws once a run has too many spans to
/// draw one by one.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    /// Width of a fine bucket, in µs: a power of two.
    pub width_us: u64,
    /// Per lane, [`FINE`] buckets of `[kind 0, kind 1]` µs.
    pub cells: Vec<[u64; 2]>,
}

impl Busy {
    /// No time yet on `lanes` lanes.
    pub fn new(lanes: usize) -> Self {
        Busy {
            width_us: 1,
            cells: vec![[0; 2]; lanes * FINE],
        }
    }

    /// Make room for `lanes` lanes (a view's lanes are named as rows appear).
    pub fn ensure_lanes(&mut self, lanes: usize) {
        if self.cells.len() < lanes * FINE {
            self.cells.resize(lanes * FINE, [0; 2]);
        }
    }

    /// Lane `lane` spent `[from_us, to_us)` in `kind` (0 or 1).
    #[inline]
    pub fn add(&mut self, lane: usize, kind: usize, from_us: u64, to_us: u64) {
        // The width is a power of two: a time's bucket is the time shifted.
        debug_assert!(self.width_us.is_power_of_two(), "{}", self.width_us);
        let mut shift = self.width_us.trailing_zeros();
        if to_us >> shift >= FINE as u64 {
            self.widen(width_for(to_us, self.width_us, FINE));
            shift = self.width_us.trailing_zeros();
        }
        let mut from = from_us;
        while from < to_us {
            let bucket = from >> shift;
            let until = to_us.min((bucket + 1).saturating_mul(self.width_us));
            let at = lane * FINE + bucket as usize;
            if let Some(cell) = self.cells.get_mut(at).and_then(|c| c.get_mut(kind)) {
                *cell = cell.saturating_add(until - from);
            }
            from = until;
        }
    }

    /// Fold the buckets into buckets `width_us` wide (a power of two times the old).
    fn widen(&mut self, width_us: u64) {
        let factor = (width_us / self.width_us) as usize;
        let lanes = self.cells.len() / FINE;
        let mut cells = vec![[0u64; 2]; self.cells.len()];
        for lane in 0..lanes {
            for bucket in 0..FINE {
                let [a, b] = self.cells[lane * FINE + bucket];
                let into = &mut cells[lane * FINE + bucket / factor];
                into[0] = into[0].saturating_add(a);
                into[1] = into[1].saturating_add(b);
            }
        }
        self.cells = cells;
        self.width_us = width_us;
    }
}

/// Pauses, merged where they overlap; beyond [`EXACT`] of them, also where the gap
/// between two is below a width that doubles as they grow (a chart cannot show gaps so
/// short against the whole run).
#[derive(Debug, Clone, Default)]
pub struct Pauses {
    spans: Vec<(u64, u64)>,
    gap_us: u64,
}

impl Pauses {
    /// A pause over `[from_us, until_us)`, starting no earlier than the last.
    pub fn push(&mut self, from_us: u64, until_us: u64) {
        match self.spans.last_mut() {
            Some(last) if last.1.saturating_add(self.gap_us) >= from_us => {
                last.1 = last.1.max(until_us)
            }
            _ => self.spans.push((from_us, until_us)),
        }
        if self.spans.len() > EXACT {
            let end = self.spans.last().map_or(0, |s| s.1);
            self.gap_us = width_for(end, self.gap_us.saturating_mul(2), EXACT / 4);
            let spans = std::mem::take(&mut self.spans);
            for (from, until) in spans {
                self.push(from, until);
            }
        }
    }

    /// The pauses, in time order.
    pub fn finish(self) -> Vec<(u64, u64)> {
        self.spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowest_and_highest() -> Thinned<f64> {
        Thinned::new(true)
    }

    #[test]
    fn a_short_series_is_kept_point_for_point() {
        let mut s = lowest_and_highest();
        for i in 0..EXACT as u64 {
            s.push(i, (i % 7) as f64);
        }
        let points = s.finish();
        assert_eq!(points.len(), EXACT);
        assert_eq!(points[12], (12, 5.0));
    }

    #[test]
    fn a_long_series_keeps_each_buckets_extremes_in_bounded_memory() {
        let mut s = lowest_and_highest();
        // Ten million points, one a microsecond; a spike of 1000 at 7 654 321 µs and a dip
        // of -5 at 9 999 990 µs.
        for t in 0..10_000_000u64 {
            let v = match t {
                7_654_321 => 1000.0,
                9_999_990 => -5.0,
                _ => (t % 10) as f64,
            };
            s.push(t, v);
        }
        let points = s.finish();
        assert!(points.len() <= EXACT, "{} points kept", points.len());
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
        assert!(points.contains(&(7_654_321, 1000.0)), "the spike is kept");
        assert!(points.contains(&(9_999_990, -5.0)), "the dip is kept");
        let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        assert_eq!((lo, hi), (-5.0, 1000.0));
    }

    #[test]
    fn the_last_bucket_survives_a_widening_at_the_finish() {
        // Thinned, one bucket short of the limit, with a last bucket holding a dip and a
        // spike: closing it passes the limit and widens the buckets at the finish.
        let mut s = lowest_and_highest();
        s.width_us = 2;
        s.shift = 1;
        s.points = (0..EXACT as u64 - 1).map(|i| (2 * i, 0.0)).collect();
        let end = 2 * EXACT as u64;
        s.open = Some((end / 2, (end, -1.0), (end + 1, 9.0)));
        let points = s.finish();
        assert!(points.len() <= EXACT, "{}", points.len());
        assert!(points.contains(&(end, -1.0)) && points.contains(&(end + 1, 9.0)));
    }

    #[test]
    fn a_sample_spreads_evenly_and_stays_bounded() {
        let mut s = Sampled::new(10);
        for i in 0..1000 {
            s.push(i);
        }
        let kept = s.finish();
        assert!(kept.len() <= 20, "{kept:?}");
        let stride = kept[1] - kept[0];
        assert!(kept.windows(2).all(|w| w[1] - w[0] == stride), "{kept:?}");
        let mut few = Sampled::new(10);
        (0..15).for_each(|i| few.push(i));
        assert_eq!(few.finish(), (0..15).collect::<Vec<_>>());
    }

    #[test]
    fn busy_time_is_conserved_as_buckets_widen() {
        let mut busy = Busy::new(2);
        busy.add(0, 0, 0, 10);
        busy.add(1, 1, 5, 25);
        assert_eq!(busy.width_us, 1);
        // A span far out widens the buckets: every microsecond is still counted once.
        busy.add(0, 0, 1_000_000, 1_000_500);
        assert!(busy.width_us >= 128, "{}", busy.width_us);
        let total = |lane: usize, kind: usize| -> u64 {
            busy.cells[lane * FINE..(lane + 1) * FINE]
                .iter()
                .map(|c| c[kind])
                .sum()
        };
        assert_eq!(total(0, 0), 510);
        assert_eq!(total(1, 1), 20);
        assert_eq!(total(0, 1), 0);
    }

    #[test]
    fn spans_at_the_end_of_time_are_summed_without_overflow() {
        // A trace from elsewhere may stamp events near the largest time there is.
        let mut busy = Busy::new(1);
        busy.add(0, 1, u64::MAX - 10, u64::MAX);
        let total: u64 = busy.cells.iter().map(|c| c[1]).sum();
        assert_eq!(total, 10);
        let mut series = Thinned::<f64>::new(true);
        for i in 0..(EXACT as u64 + 10) {
            series.push(u64::MAX - EXACT as u64 - 10 + i, i as f64);
        }
        assert!(series.finish().len() <= EXACT);
    }

    #[test]
    fn pauses_merge_where_they_overlap_and_stay_bounded() {
        let mut p = Pauses::default();
        p.push(0, 10);
        p.push(5, 20);
        p.push(30, 40);
        assert_eq!(p.clone().finish(), vec![(0, 20), (30, 40)]);
        for i in 0..1_000_000u64 {
            p.push(100 + 10 * i, 105 + 10 * i);
        }
        let spans = p.finish();
        assert!(spans.len() <= EXACT, "{}", spans.len());
        // Merged across short gaps, they still cover every pause and start and end where
        // the pauses do.
        assert_eq!(spans.first().map(|s| s.0), Some(0));
        assert_eq!(spans.last().map(|s| s.1), Some(100 + 10 * 999_999 + 5));
        for i in [0u64, 12_345, 999_999] {
            let (from, until) = (100 + 10 * i, 105 + 10 * i);
            assert!(
                spans.iter().any(|s| s.0 <= from && until <= s.1),
                "pause {i}"
            );
        }
    }
}

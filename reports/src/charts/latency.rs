//! How long rows took from submit to result: the share of rows done within each latency
//! (a cumulative distribution), with p50, p95 and p99 marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;
use crate::ReportError;
use crate::figures::{Latencies, duration};

/// The percentiles marked, and their colours.
const MARKED: [(u64, RGBColor); 3] = [(50, OK), (95, GATE), (99, CAPACITY)];

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sorted: &Latencies,
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    let axis = TimeAxis::of(sorted.max().unwrap_or(0));
    let title = if sorted.is_empty() {
        "Row latency from submit to result: no row ended"
    } else {
        "Row latency from submit to result"
    };
    let mut chart = frame_xy(
        area,
        title,
        (0.0..axis.end, &format!("latency ({})", axis.unit)),
        (0.0..100.0 * HEADROOM, "rows done (%)"),
    )?;
    let n = sorted.len();
    // The latency at each step of the share of rows: every row for small runs, every
    // 0.1% beyond.
    let steps_of_share = n.min(BUCKETS as u64);
    let points: Vec<(f64, f64)> = (1..=steps_of_share)
        .filter_map(|k| {
            let share = k as f64 / steps_of_share as f64;
            let index = (k * n).div_ceil(steps_of_share).max(1) - 1;
            sorted.at_rank(index).map(|l| (axis.at(l), share * 100.0))
        })
        .collect();
    chart
        .draw_series(LineSeries::new(
            steps(&points, axis.end),
            CALL.stroke_width(2),
        ))
        .map_err(err)?
        .label("rows done within the latency")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], CALL.stroke_width(2)));
    for (p, color) in MARKED {
        let Some(at) = sorted.nearest_rank(p) else {
            continue;
        };
        let x = axis.at(at);
        chart
            .draw_series(LineSeries::new(
                [(x, 0.0), (x, 100.0)],
                color.stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("p{p} = {}", duration(at)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    legend(&mut chart)
}

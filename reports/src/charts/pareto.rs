//! A search's trade-off: each setting's makespan against the capacity failures it drew
//! (medians over seeds), the ranked settings marked, their Pareto front drawn, the best
//! labelled. Settings to the lower left are better on both.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;
use crate::ReportError;

/// One setting of a search, as the chart shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoPoint {
    /// The setting's values, short: `pool_size=12 min_dispatch_delay_ms=170`.
    pub label: String,
    /// Median capacity failures over its seeds.
    pub capacity_failures: f64,
    /// Median makespan over its seeds, in seconds.
    pub makespan_s: f64,
    /// Whether it was ranked (every invariant held, every row finished).
    pub ranked: bool,
    /// Whether it is the best by the search's goal.
    pub best: bool,
}

/// Ranked points no other ranked point beats on both axes, by failures.
fn front(points: &[ParetoPoint]) -> Vec<(f64, f64)> {
    let mut ranked: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.ranked)
        .map(|p| (p.capacity_failures, p.makespan_s))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut front: Vec<(f64, f64)> = Vec::new();
    for p in ranked {
        if front.last().is_none_or(|last| p.1 < last.1) {
            front.push(p);
        }
    }
    front
}

/// At most this many front points get their setting written beside them.
const FRONT_LABELS: usize = 10;

/// The chart's height in pixels.
const HEIGHT: u32 = 600;

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[ParetoPoint],
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    let x_max = points
        .iter()
        .map(|p| p.capacity_failures)
        .fold(1.0f64, f64::max)
        * 1.1;
    // Makespans are compared with each other, not with zero: the axis spans theirs,
    // with room above for the legend.
    let highest = points.iter().map(|p| p.makespan_s).fold(0.0f64, f64::max);
    let lowest = points.iter().map(|p| p.makespan_s).fold(highest, f64::min);
    let span = (highest - lowest).max(highest * 0.05).max(1e-3);
    let y = (lowest - span * 0.1).max(0.0)..highest + span * 0.8;
    let mut chart = frame_xy(
        area,
        title,
        (0.0..x_max, "capacity failures (median over seeds)"),
        (y.clone(), "makespan (s, median over seeds)"),
    )?;
    let front = front(points);
    chart
        .draw_series(LineSeries::new(front.clone(), OK.stroke_width(1)))
        .map_err(err)?
        .label("Pareto front of the ranked settings")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], OK));
    let of = |ranked: bool| {
        points
            .iter()
            .filter(move |p| p.ranked == ranked)
            .map(|p| (p.capacity_failures, p.makespan_s))
    };
    chart
        .draw_series(of(false).map(|xy| Circle::new(xy, 4, BACKOFF.stroke_width(1))))
        .map_err(err)?
        .label("not ranked: an invariant broke or rows were left")
        .legend(|(x, y)| Circle::new((x + 8, y), 4, BACKOFF.stroke_width(1)));
    chart
        .draw_series(of(true).map(|xy| Circle::new(xy, 4, CALL.filled())))
        .map_err(err)?
        .label("ranked setting")
        .legend(|(x, y)| Circle::new((x + 8, y), 4, CALL.filled()));
    for p in points.iter().filter(|p| p.best) {
        let xy = (p.capacity_failures, p.makespan_s);
        chart
            .draw_series([Circle::new(xy, 8, OK.stroke_width(3))])
            .map_err(err)?
            .label(format!("best: {}", p.label))
            .legend(|(x, y)| Circle::new((x + 8, y), 6, OK.stroke_width(3)));
    }
    let style = ("sans-serif", 12).into_font().color(&BLACK);
    // One label per place on the front (settings that tie share it), skipping those that
    // would overprint the one before: boxes measured in pixels of the plot, roughly.
    let (width_px, height_px) = (f64::from(WIDTH) - 110.0, f64::from(HEIGHT) - 110.0);
    let px = |(fx, fy): (f64, f64)| {
        (
            fx / x_max * width_px,
            (fy - y.start) / (y.end - y.start) * height_px,
        )
    };
    let mut last_box: Option<(f64, f64, f64)> = None;
    let mut labelled = 0;
    for &xy in &front {
        let alike: Vec<&ParetoPoint> = points
            .iter()
            .filter(|p| p.ranked && (p.capacity_failures, p.makespan_s) == xy)
            .collect();
        let Some(first) = alike.first() else {
            continue;
        };
        let label = match alike.len() {
            1 => format!("  {}  ", first.label),
            n => format!("  {} and {} alike  ", first.label, n - 1),
        };
        let (lx, ly) = px(xy);
        let width = label.chars().count() as f64 * 6.5;
        // Near the right edge a label is written to the left of its point.
        let (left, right, anchor) = if lx + width > width_px {
            (lx - width, lx, HPos::Right)
        } else {
            (lx, lx + width, HPos::Left)
        };
        if labelled >= FRONT_LABELS
            || last_box.is_some_and(|(l, r, h)| left < r && right > l && (ly - h).abs() < 16.0)
        {
            continue;
        }
        last_box = Some((left, right, ly));
        labelled += 1;
        chart
            .draw_series([Text::new(
                label,
                xy,
                style.clone().pos(Pos::new(anchor, VPos::Bottom)),
            )])
            .map_err(err)?;
    }
    legend(&mut chart)
}

/// Draw `pareto.png` and `pareto.svg` into `dir`; returns the files.
pub fn write_pareto(
    title: &str,
    points: &[ParetoPoint],
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    font()?;
    Ok(png_and_svg!(dir, "pareto", HEIGHT, |a| draw(a, title, points)).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(capacity_failures: f64, makespan_s: f64, ranked: bool) -> ParetoPoint {
        ParetoPoint {
            label: String::new(),
            capacity_failures,
            makespan_s,
            ranked,
            best: false,
        }
    }

    #[test]
    fn the_front_keeps_settings_nothing_beats_on_both() {
        let points = [
            point(0.0, 100.0, true),
            point(5.0, 60.0, true),
            point(6.0, 80.0, true),
            point(9.0, 40.0, true),
            point(1.0, 10.0, false),
        ];
        assert_eq!(front(&points), [(0.0, 100.0), (5.0, 60.0), (9.0, 40.0)]);
    }
}

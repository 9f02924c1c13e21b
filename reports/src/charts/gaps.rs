//! Dispatch gaps against the spacing the gate required; I1 violations flagged.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;
use crate::ReportError;
use crate::data::{TraceData, below_spacing};

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &TraceData,
    flagged: &[u64],
    axis: TimeAxis,
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    // (time, gap before it, spacing required) for every dispatch after the first.
    let flat = |&(t, (gap, required)): &(u64, (f64, f64))| (t, gap, required);
    let points: Vec<(u64, f64, f64)> = data.gaps.iter().map(flat).collect();
    let below: Vec<(u64, f64, f64)> = data.broken.iter().map(flat).collect();
    let broken = |p: &(u64, f64, f64)| below_spacing(&(p.1, p.2));
    let shown: Vec<(u64, f64, f64)> = if points.len() <= 4 * BUCKETS {
        points.clone()
    } else {
        // Keep the smallest gap of each column: that is where spacing is tested.
        let mut best: Vec<Option<(u64, f64, f64)>> = vec![None; BUCKETS];
        for p in &points {
            let b = &mut best[axis.bucket(p.0)];
            if b.is_none_or(|q| p.1 < q.1) {
                *b = Some(*p);
            }
        }
        best.into_iter().flatten().collect()
    };
    let y_max = shown.iter().map(|p| p.1.max(p.2)).fold(1.0f64, f64::max) * HEADROOM;
    let mut chart = frame(
        area,
        "Gaps between consecutive dispatches, against the spacing required",
        axis,
        y_max,
        "gap (ms)",
    )?;
    chart
        .draw_series(LineSeries::new(
            shown.iter().flat_map(|p| [(axis.at(p.0), p.2)]),
            GATE.stroke_width(2),
        ))
        .map_err(err)?
        .label("spacing required at that dispatch")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GATE.stroke_width(2)));
    chart
        .draw_series(
            shown
                .iter()
                .filter(|p| !broken(p))
                .map(|p| Circle::new((axis.at(p.0), p.1), 3, CALL.filled())),
        )
        .map_err(err)?
        .label("gap before a dispatch")
        .legend(|(x, y)| Circle::new((x + 8, y), 3, CALL.filled()));
    chart
        .draw_series(
            below
                .iter()
                .map(|p| Circle::new((axis.at(p.0), p.1), 5, CAPACITY.filled())),
        )
        .map_err(err)?
        .label("gap below the spacing (I1 violation)")
        .legend(|(x, y)| Circle::new((x + 8, y), 5, CAPACITY.filled()));
    for &t_us in flagged.iter().take(LABELS) {
        let Some(&(_, gap, required)) = below.iter().chain(&points).find(|p| p.0 == t_us) else {
            continue;
        };
        let label = format!(
            "I1: {} ms apart, {} ms required",
            number(&gap),
            number(&required)
        );
        // Labels in the right half read leftwards, so none runs off the chart.
        let x = axis.at(t_us);
        let h = if x > axis.end / 2.0 {
            HPos::Right
        } else {
            HPos::Left
        };
        let style = ("sans-serif", 14)
            .into_font()
            .color(&CAPACITY)
            .pos(Pos::new(h, VPos::Bottom));
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (x, gap + y_max * 0.03),
                style,
            )))
            .map_err(err)?;
    }
    legend(&mut chart)
}

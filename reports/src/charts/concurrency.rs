//! Permits held and attempts in flight against `pool_size`.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;
use crate::ReportError;
use crate::data::TraceData;

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &TraceData,
    axis: TimeAxis,
    pool_size: usize,
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    let held = steps(&envelope(&data.held, axis, |v| v), axis.end);
    let flying = steps(&envelope(&data.flying, axis, |v| v), axis.end);
    let top = held
        .iter()
        .chain(&flying)
        .map(|p| p.1)
        .fold(pool_size as f64, f64::max);
    let y_max = top * HEADROOM + 0.5;
    let mut chart = frame(
        area,
        "Permits in use and attempts in flight",
        axis,
        y_max,
        "count",
    )?;
    if !data.pauses.is_empty() {
        // The server's pauses, under the lines: the pool must send nothing in them.
        let shade = BACKOFF.mix(0.35);
        chart
            .draw_series(data.pauses.iter().map(|&(from, until)| {
                Rectangle::new(
                    [(axis.at(from), 0.0), (axis.at(until), y_max)],
                    shade.filled(),
                )
            }))
            .map_err(err)?
            .label("server pause (Retry-After)")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], shade.filled()));
    }
    chart
        .draw_series(LineSeries::new(held, GATE.stroke_width(2)))
        .map_err(err)?
        .label("permits held")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GATE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(flying, CALL.stroke_width(2)))
        .map_err(err)?
        .label("attempts in flight")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], CALL.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            [(0.0, pool_size as f64), (axis.end, pool_size as f64)],
            CAPACITY.stroke_width(1),
        ))
        .map_err(err)?
        .label(format!("pool_size = {pool_size}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], CAPACITY));
    legend(&mut chart)
}

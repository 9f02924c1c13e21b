//! The throttle's delay `D` over time, between its floor and ceiling.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;
use crate::ReportError;
use crate::data::TraceData;

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &TraceData,
    axis: TimeAxis,
    min_ms: f64,
    max_ms: f64,
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    let line = steps(&envelope(&data.delay, axis, |d| d), axis.end);
    let top = line.iter().map(|p| p.1).fold(min_ms, f64::max);
    // Show the ceiling when D came near it; otherwise it would flatten the curve.
    let y_max = (if top * 2.0 >= max_ms { max_ms } else { top }).max(1.0) * HEADROOM;
    let mut chart = frame(area, "Throttle delay D over time", axis, y_max, "D (ms)")?;
    chart
        .draw_series(LineSeries::new(line, CALL.stroke_width(2)))
        .map_err(err)?
        .label("D")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], CALL.stroke_width(2)));
    for (value, label, c) in [
        (min_ms, "min_dispatch_delay_ms", OK),
        (max_ms, "max_dispatch_delay_ms", CAPACITY),
    ] {
        if value <= y_max {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, value), (axis.end, value)],
                    c.stroke_width(1),
                ))
                .map_err(err)?
                .label(format!("{label} = {value}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
        }
    }
    legend(&mut chart)
}

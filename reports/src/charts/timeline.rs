//! The timeline: each row (or worker) over time, its waits, calls, backoffs and answers.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;
use crate::ReportError;
use crate::data::{Busy, FINE, MARKS_SHOWN, MarkKind, SpanKind, TraceData};

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &TraceData,
    axis: TimeAxis,
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    let lanes = &data.lanes;
    let n = lanes.names.len().max(1);
    // Lane i is centred on y = n - 1 - i (the first row on top); the band above the
    // lanes holds the legend, so it never covers a lane.
    let top = n as f64 - 0.5 + LEGEND_LANES;
    let title = if data.per_row {
        "Timeline: one lane per row"
    } else {
        "Timeline: one lane per worker (permit slot)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..axis.end, -0.5f64..top)
        .map_err(err)?;
    let names = lanes.names.clone();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels((n + LEGEND_LANES as usize + 1).min(60))
        .y_label_formatter(&move |y| {
            let from_top = (n as f64 - 1.0 - y).round();
            if (y - y.round()).abs() > 0.01 || from_top < 0.0 {
                return String::new();
            }
            names.get(from_top as usize).cloned().unwrap_or_default()
        })
        .x_label_formatter(&number)
        .x_desc(axis.label())
        .draw()
        .map_err(err)?;
    let centre = |lane: u32| n as f64 - 1.0 - lane as f64;
    let lane_y = |lane: u32| -> (f64, f64) { (centre(lane) - 0.3, centre(lane) + 0.3) };
    let color = |kind: SpanKind| match kind {
        SpanKind::Call => CALL,
        SpanKind::Gate => GATE,
        SpanKind::Backoff => BACKOFF,
    };
    match &lanes.busy {
        None => {
            for kind in [SpanKind::Backoff, SpanKind::Gate, SpanKind::Call] {
                if !lanes.spans.iter().any(|s| s.kind == kind) {
                    continue;
                }
                let spans = lanes.spans.iter().filter(|s| s.kind == kind);
                let c = color(kind);
                chart
                    .draw_series(spans.map(|s| {
                        let (y0, y1) = lane_y(s.lane);
                        let (y0, y1) = if kind == SpanKind::Backoff {
                            (y0 + 0.15, y1 - 0.15)
                        } else {
                            (y0, y1)
                        };
                        Rectangle::new(
                            [
                                (axis.at(s.from_us), y0),
                                (
                                    axis.at(s.to_us).max(axis.at(s.from_us) + axis.end / 2000.0),
                                    y1,
                                ),
                            ],
                            c.filled(),
                        )
                    }))
                    .map_err(err)?
                    .label(match kind {
                        SpanKind::Call => "attempt in flight",
                        SpanKind::Gate => "waiting at the gate (permit held)",
                        SpanKind::Backoff => "backoff (no permit)",
                    })
                    .legend(legend_box(c));
            }
        }
        Some(fine) => {
            // Per lane and column: the share of time in flight and at the gate.
            let busy = columns(fine, n, axis);
            let width_us = (axis.end / axis.per_us / BUCKETS as f64).max(1.0);
            for (slot, c, label) in [
                (0, CALL, "share of time in flight"),
                (1, GATE, "share of time at the gate"),
            ] {
                chart
                    .draw_series(busy.iter().enumerate().filter(|(_, v)| v[slot] > 0).map(
                        |(i, v)| {
                            let (lane, b) = (i / BUCKETS, i % BUCKETS);
                            let share = (v[slot] as f64 / width_us).min(1.0) * 0.6;
                            let x0 = b as f64 * axis.end / BUCKETS as f64;
                            let y0 = centre(lane as u32) - 0.3
                                + if slot == 1 { 0.6 - share } else { 0.0 };
                            Rectangle::new(
                                [(x0, y0), (x0 + axis.end / BUCKETS as f64, y0 + share)],
                                c.mix(0.85).filled(),
                            )
                        },
                    ))
                    .map_err(err)?
                    .label(label)
                    .legend(legend_box(c));
            }
        }
    }
    // Successes are left out when aggregated: they would cover everything.
    let aggregated = lanes.busy.is_some();
    for (kind, c, label) in [
        (MarkKind::Ok, OK, "ok"),
        (MarkKind::Capacity, CAPACITY, "capacity error"),
        (MarkKind::Retryable, RETRYABLE, "retryable error"),
        (MarkKind::Permanent, PERMANENT, "permanent error"),
        (MarkKind::RetryTimeout, TIMEOUT, "retry_timeout (final)"),
        (MarkKind::Shutdown, SHUTDOWN, "shutdown (final)"),
    ] {
        if aggregated && kind == MarkKind::Ok {
            continue;
        }
        let all: Vec<_> = lanes.marks.iter().filter(|m| m.kind == kind).collect();
        // Aggregated runs show a thinned, evenly spread sample of small markers.
        let (limit, radius) = if aggregated {
            (3000, 2)
        } else {
            (MARKS_SHOWN, 4)
        };
        let stride = all.len().div_ceil(limit).max(1);
        let these: Vec<(f64, f64)> = all
            .iter()
            .step_by(stride)
            .map(|m| (axis.at(m.t_us), centre(m.lane)))
            .collect();
        if these.is_empty() {
            continue;
        }
        if matches!(kind, MarkKind::RetryTimeout | MarkKind::Shutdown) {
            chart
                .draw_series(
                    these
                        .into_iter()
                        .map(|p| Cross::new(p, 6, c.stroke_width(3))),
                )
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Cross::new((x + 8, y), 5, c.stroke_width(3)));
        } else {
            chart
                .draw_series(
                    these
                        .into_iter()
                        .map(|p| Circle::new(p, radius, c.filled())),
                )
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        }
    }
    legend(&mut chart)
}

/// Per lane and column of the chart, time in flight and at the gate: each fine bucket's
/// time shared between the (at most two) columns it overlaps, in proportion.
fn columns(fine: &Busy, lanes: usize, axis: TimeAxis) -> Vec<[u64; 2]> {
    let mut busy = vec![[0u64; 2]; lanes * BUCKETS];
    let column_us = axis.end / axis.per_us / BUCKETS as f64;
    for (i, cell) in fine.cells.iter().enumerate() {
        let (lane, bucket) = (i / FINE, (i % FINE) as u64);
        if lane >= lanes || *cell == [0, 0] {
            continue;
        }
        let from = bucket.saturating_mul(fine.width_us);
        let (first, last) = (
            axis.bucket(from),
            axis.bucket(from.saturating_add(fine.width_us - 1)),
        );
        // The share of the fine bucket before the second column's start.
        let split =
            ((last as f64 * column_us - from as f64) / fine.width_us as f64).clamp(0.0, 1.0);
        for kind in 0..2 {
            let before = if first == last {
                cell[kind]
            } else {
                (cell[kind] as f64 * split).round() as u64
            };
            busy[lane * BUCKETS + first][kind] += before;
            busy[lane * BUCKETS + last][kind] += cell[kind] - before;
        }
    }
    busy
}

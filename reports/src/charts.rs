//! The four pacing charts, each drawn once for PNG and once for SVG.
//!
//! Text is drawn with a font embedded in the binary (DejaVu Sans), so charts render the
//! same on a machine with no fonts installed. Long runs are aggregated to about one
//! value per pixel column before drawing: a chart of a million events takes no longer to
//! draw than the picture has pixels.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use crate::ReportError;
use crate::data::{MarkKind, SpanKind, TraceData};

/// Columns of aggregation: about the plot's width in pixels.
const BUCKETS: usize = 1000;
/// Above this many spans, the timeline is aggregated per lane and column.
const EXACT_SPANS: usize = 20_000;
/// At most this many violations get a text label on the gap chart.
const LABELS: usize = 8;

pub const WIDTH: u32 = 1200;
/// Lanes' worth of room above the timeline's lanes, for its legend.
const LEGEND_LANES: f64 = 4.5;
/// Share of a chart's height above its data, for the legend.
const HEADROOM: f64 = 1.6;

/// Axis numbers without a trailing `.0`.
pub(crate) fn number(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

const CALL: RGBColor = RGBColor(49, 110, 196);
const GATE: RGBColor = RGBColor(240, 160, 40);
const BACKOFF: RGBColor = RGBColor(170, 170, 190);
const OK: RGBColor = RGBColor(40, 150, 70);
const CAPACITY: RGBColor = RGBColor(215, 40, 40);
const RETRYABLE: RGBColor = RGBColor(170, 60, 170);
const PERMANENT: RGBColor = RGBColor(20, 20, 20);
const TIMEOUT: RGBColor = RGBColor(130, 0, 0);
const SHUTDOWN: RGBColor = RGBColor(110, 110, 110);

/// Register the embedded font once per process.
pub(crate) fn font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ReportError::Chart(
            "the embedded font could not be loaded".into(),
        ))
    }
}

/// The time axis: milliseconds for short runs, seconds beyond two minutes.
#[derive(Clone, Copy)]
struct TimeAxis {
    per_us: f64,
    unit: &'static str,
    end: f64,
}

impl TimeAxis {
    fn of(end_us: u64) -> Self {
        let (per_us, unit) = if end_us > 120_000_000 {
            (1e-6, "s")
        } else {
            (1e-3, "ms")
        };
        TimeAxis {
            per_us,
            unit,
            end: (end_us as f64 * per_us).max(1.0) * 1.02,
        }
    }
    fn at(&self, t_us: u64) -> f64 {
        t_us as f64 * self.per_us
    }
    fn label(&self) -> String {
        format!("time ({})", self.unit)
    }
    fn bucket(&self, t_us: u64) -> usize {
        ((self.at(t_us) / self.end) * BUCKETS as f64).min((BUCKETS - 1) as f64) as usize
    }
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// Draw every chart into `dir` as PNG and SVG; returns the files written.
pub fn draw_all(
    data: &TraceData,
    flagged: &[u64],
    pool_size: usize,
    min_ms: f64,
    max_ms: f64,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    font()?;
    let axis = TimeAxis::of(data.end_us);
    let mut written = Vec::new();
    let lanes = data.lanes.names.len().max(1) as u32;
    let timeline_height =
        ((lanes as f64 + LEGEND_LANES) * 24.0 + 120.0).clamp(300.0, 1700.0) as u32;
    macro_rules! both {
        ($name:expr, $height:expr, $draw:expr) => {{
            let png = dir.join(format!("{}.png", $name));
            let svg = dir.join(format!("{}.svg", $name));
            {
                let area = BitMapBackend::new(&png, (WIDTH, $height)).into_drawing_area();
                $draw(&area)?;
                area.present().map_err(err)?;
            }
            {
                let area = SVGBackend::new(&svg, (WIDTH, $height)).into_drawing_area();
                $draw(&area)?;
                area.present().map_err(err)?;
            }
            written.push(png);
            written.push(svg);
        }};
    }
    both!("timeline", timeline_height, |a| timeline(a, data, axis));
    both!("gaps", 480, |a| gaps(a, data, flagged, axis));
    both!("delay", 420, |a| delay(a, data, axis, min_ms, max_ms));
    both!("concurrency", 420, |a| concurrency(
        a, data, axis, pool_size
    ));
    Ok(written)
}

/// A chart over time with value axis `0..y_max`, titled, with units on both axes.
fn frame<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    axis: TimeAxis,
    y_max: f64,
    y_desc: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, ReportError> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..axis.end, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&number)
        .y_label_formatter(&number)
        .x_desc(axis.label())
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The legend, in the headroom every chart leaves above its data.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<(), ReportError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)
}

fn legend_box(color: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
}

fn timeline<DB: DrawingBackend>(
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
    if lanes.spans.len() <= EXACT_SPANS {
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
    } else {
        // Per lane and column: the share of time in flight and at the gate.
        let mut busy = vec![[0u64; 2]; n * BUCKETS];
        let width_us = (axis.end / axis.per_us / BUCKETS as f64).max(1.0);
        for s in &lanes.spans {
            let slot = match s.kind {
                SpanKind::Call => 0,
                SpanKind::Gate => 1,
                SpanKind::Backoff => continue,
            };
            let (mut from, to) = (s.from_us, s.to_us);
            while from < to {
                let b = axis.bucket(from);
                let bucket_end = ((b + 1) as f64 * width_us) as u64;
                let until = to.min(bucket_end.max(from + 1));
                busy[s.lane as usize * BUCKETS + b][slot] += until - from;
                from = until;
            }
        }
        for (slot, c, label) in [
            (0, CALL, "share of time in flight"),
            (1, GATE, "share of time at the gate"),
        ] {
            chart
                .draw_series(
                    busy.iter()
                        .enumerate()
                        .filter(|(_, v)| v[slot] > 0)
                        .map(|(i, v)| {
                            let (lane, b) = (i / BUCKETS, i % BUCKETS);
                            let share = (v[slot] as f64 / width_us).min(1.0) * 0.6;
                            let x0 = b as f64 * axis.end / BUCKETS as f64;
                            let y0 = centre(lane as u32) - 0.3
                                + if slot == 1 { 0.6 - share } else { 0.0 };
                            Rectangle::new(
                                [(x0, y0), (x0 + axis.end / BUCKETS as f64, y0 + share)],
                                c.mix(0.85).filled(),
                            )
                        }),
                )
                .map_err(err)?
                .label(label)
                .legend(legend_box(c));
        }
    }
    // Successes are left out when aggregated: they would cover everything.
    let aggregated = lanes.spans.len() > EXACT_SPANS;
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
        let (limit, radius) = if aggregated { (3000, 2) } else { (20_000, 4) };
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

fn gaps<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &TraceData,
    flagged: &[u64],
    axis: TimeAxis,
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    // (time, gap before it, spacing required) for every dispatch after the first.
    let points: Vec<(u64, f64, f64)> = data
        .dispatches
        .windows(2)
        .map(|w| (w[1].0, (w[1].0 - w[0].0) as f64 / 1000.0, w[1].1))
        .collect();
    let broken = |p: &(u64, f64, f64)| p.1 + 1e-9 < p.2;
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
            points
                .iter()
                .filter(|p| broken(p))
                .map(|p| Circle::new((axis.at(p.0), p.1), 5, CAPACITY.filled())),
        )
        .map_err(err)?
        .label("gap below the spacing (I1 violation)")
        .legend(|(x, y)| Circle::new((x + 8, y), 5, CAPACITY.filled()));
    for &t_us in flagged.iter().take(LABELS) {
        let Some(&(_, gap, required)) = points.iter().find(|p| p.0 == t_us) else {
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

/// Per column, the lowest and highest value, for lines of many points.
fn envelope<T: Copy>(
    points: &[(u64, T)],
    axis: TimeAxis,
    value: impl Fn(T) -> f64,
) -> Vec<(f64, f64)> {
    if points.len() <= 4 * BUCKETS {
        return points
            .iter()
            .map(|&(t, v)| (axis.at(t), value(v)))
            .collect();
    }
    let mut cols: Vec<Option<(f64, f64)>> = vec![None; BUCKETS];
    for &(t, v) in points {
        let v = value(v);
        let c = &mut cols[axis.bucket(t)];
        *c = Some(c.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    }
    let width = axis.end / BUCKETS as f64;
    cols.into_iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|(lo, hi)| (i as f64 * width, lo, hi)))
        .flat_map(|(x, lo, hi)| [(x, lo), (x, hi)])
        .collect()
}

/// A step line: each value holds until the next change.
fn steps(points: &[(f64, f64)], end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    for (i, &(x, y)) in points.iter().enumerate() {
        if i > 0 {
            out.push((x, points[i - 1].1));
        }
        out.push((x, y));
    }
    if let Some(&(_, y)) = points.last() {
        out.push((end, y));
    }
    out
}

fn delay<DB: DrawingBackend>(
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

fn concurrency<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &TraceData,
    axis: TimeAxis,
    pool_size: usize,
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    let held: Vec<(u64, f64)> = data.load.iter().map(|&(t, h, _)| (t, h as f64)).collect();
    let flying: Vec<(u64, f64)> = data.load.iter().map(|&(t, _, f)| (t, f as f64)).collect();
    let held = steps(&envelope(&held, axis, |v| v), axis.end);
    let flying = steps(&envelope(&flying, axis, |v| v), axis.end);
    let top = held
        .iter()
        .chain(&flying)
        .map(|p| p.1)
        .fold(pool_size as f64, f64::max);
    let mut chart = frame(
        area,
        "Permits in use and attempts in flight",
        axis,
        top * HEADROOM + 0.5,
        "count",
    )?;
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

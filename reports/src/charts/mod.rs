//! The five pacing charts, each drawn once for PNG and once for SVG: one module per
//! chart, and here what they share (frame, legend, font, time axis, aggregation).
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
use rayon::prelude::*;

use crate::ReportError;
use crate::data::TraceData;
use crate::figures::Latencies;

/// Draw a chart into `{dir}/{name}.png` and `{dir}/{name}.svg`, `height` pixels high;
/// evaluates to the two paths. `$draw` is a closure over a drawing area, written once and
/// compiled for each backend (a function could not take one closure for both).
macro_rules! png_and_svg {
    ($dir:expr, $name:expr, $height:expr, $draw:expr) => {{
        let png = $dir.join(format!("{}.png", $name));
        let svg = $dir.join(format!("{}.svg", $name));
        {
            let area =
                plotters::prelude::BitMapBackend::new(&png, ($crate::charts::WIDTH, $height))
                    .into_drawing_area();
            $draw(&area)?;
            area.present().map_err($crate::charts::err)?;
        }
        {
            let area = plotters::prelude::SVGBackend::new(&svg, ($crate::charts::WIDTH, $height))
                .into_drawing_area();
            $draw(&area)?;
            area.present().map_err($crate::charts::err)?;
        }
        [png, svg]
    }};
}

mod concurrency;
mod delay;
mod gaps;
mod latency;
pub(crate) mod pareto;
mod timeline;

/// Columns of aggregation: about the plot's width in pixels.
pub(crate) const BUCKETS: usize = 1000;
/// At most this many violations get a text label on the gap chart.
pub(crate) const LABELS: usize = 8;

/// Every chart's width in pixels.
pub const WIDTH: u32 = 1200;
/// Lanes' worth of room above the timeline's lanes, for its legend.
pub(crate) const LEGEND_LANES: f64 = 4.5;
/// Share of a chart's height above its data, for the legend.
pub(crate) const HEADROOM: f64 = 1.6;

/// Axis numbers without a trailing `.0`.
pub(crate) fn number(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

pub(crate) const CALL: RGBColor = RGBColor(49, 110, 196);
pub(crate) const GATE: RGBColor = RGBColor(240, 160, 40);
pub(crate) const BACKOFF: RGBColor = RGBColor(170, 170, 190);
pub(crate) const OK: RGBColor = RGBColor(40, 150, 70);
pub(crate) const CAPACITY: RGBColor = RGBColor(215, 40, 40);
pub(crate) const RETRYABLE: RGBColor = RGBColor(170, 60, 170);
pub(crate) const PERMANENT: RGBColor = RGBColor(20, 20, 20);
pub(crate) const TIMEOUT: RGBColor = RGBColor(130, 0, 0);
pub(crate) const SHUTDOWN: RGBColor = RGBColor(110, 110, 110);

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
pub(crate) struct TimeAxis {
    pub(crate) per_us: f64,
    pub(crate) unit: &'static str,
    pub(crate) end: f64,
}

impl TimeAxis {
    pub(crate) fn of(end_us: u64) -> Self {
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
    pub(crate) fn at(&self, t_us: u64) -> f64 {
        t_us as f64 * self.per_us
    }
    pub(crate) fn label(&self) -> String {
        format!("time ({})", self.unit)
    }
    pub(crate) fn bucket(&self, t_us: u64) -> usize {
        ((self.at(t_us) / self.end) * BUCKETS as f64).min((BUCKETS - 1) as f64) as usize
    }
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// Draw every chart into `dir` as PNG and SVG; returns the files written.
/// `latencies` are the rows' latencies, sorted.
pub fn draw_all(
    data: &TraceData,
    latencies: &Latencies,
    flagged: &[u64],
    pool_size: usize,
    min_ms: f64,
    max_ms: f64,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    font()?;
    let axis = TimeAxis::of(data.end_us);
    let lanes = data.lanes.names.len().max(1) as u32;
    let timeline_height =
        ((lanes as f64 + LEGEND_LANES) * 24.0 + 120.0).clamp(300.0, 1700.0) as u32;
    type Drawing<'a> = &'a (dyn Fn() -> Result<[PathBuf; 2], ReportError> + Sync);
    let charts: [Drawing<'_>; 5] = [
        &|| {
            Ok(png_and_svg!(dir, "timeline", timeline_height, |a| {
                timeline::draw(a, data, axis)
            }))
        },
        &|| {
            Ok(png_and_svg!(dir, "gaps", 480, |a| gaps::draw(
                a, data, flagged, axis
            )))
        },
        &|| {
            Ok(png_and_svg!(dir, "delay", 420, |a| {
                delay::draw(a, data, axis, min_ms, max_ms)
            }))
        },
        &|| {
            Ok(png_and_svg!(dir, "concurrency", 420, |a| {
                concurrency::draw(a, data, axis, pool_size)
            }))
        },
        &|| {
            Ok(png_and_svg!(dir, "latency", 420, |a| latency::draw(
                a, latencies
            )))
        },
    ];
    // Each chart is its own picture and files: they are drawn side by side where cores
    // are free, and listed (or the first failure reported) in this order.
    let drawn: Vec<Result<[PathBuf; 2], ReportError>> =
        charts.par_iter().map(|draw| draw()).collect();
    let mut written = Vec::new();
    for files in drawn {
        written.extend(files?);
    }
    Ok(written)
}

/// A chart over time with value axis `0..y_max`, titled, with units on both axes.
pub(crate) fn frame<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    axis: TimeAxis,
    y_max: f64,
    y_desc: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, ReportError> {
    frame_xy(
        area,
        title,
        (0.0..axis.end, &axis.label()),
        (0.0..y_max, y_desc),
    )
}

/// A chart over two ranges, titled, each axis described `(range, words)`.
pub(crate) fn frame_xy<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x, x_desc): (std::ops::Range<f64>, &str),
    (y, y_desc): (std::ops::Range<f64>, &str),
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, ReportError> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&number)
        .y_label_formatter(&number)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The legend, in the headroom every chart leaves above its data.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a>(
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

pub(crate) fn legend_box(color: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
}

/// Per column, the lowest and highest value, for lines of many points.
pub(crate) fn envelope<T: Copy>(
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
pub(crate) fn steps(points: &[(f64, f64)], end: f64) -> Vec<(f64, f64)> {
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

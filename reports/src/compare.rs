//! Gate policies side by side: five measures per run, taken from each run's trace by a
//! [`MeasureSink`], drawn per gate over many seeds. (Running the scenario under each
//! gate is the harness's job.)

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use paceline_trace::{EventName, TraceRecord, TraceSink};
use plotters::prelude::*;

use crate::ReportError;
use crate::charts::{WIDTH, err, font, number};

/// What one run did, for the comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunMeasures {
    /// Dispatches per second of the run.
    pub dispatches_per_s: f64,
    /// The smallest gap between two dispatches.
    pub smallest_gap_ms: f64,
    /// Capacity answers.
    pub capacity_errors: f64,
    /// Rows whose retry budget ran out.
    pub retry_timeouts: f64,
    /// When the last event happened.
    pub completion_s: f64,
}

/// Reads one measure of a run.
type Accessor = fn(&RunMeasures) -> f64;

/// The measures in display order: name (with unit) and accessor.
const MEASURES: [(&str, Accessor); 5] = [
    ("dispatch rate (per s)", |m| m.dispatches_per_s),
    ("smallest gap (ms)", |m| m.smallest_gap_ms),
    ("capacity errors drawn", |m| m.capacity_errors),
    ("rows out of budget", |m| m.retry_timeouts),
    ("completion time (s)", |m| m.completion_s),
];

/// Measures one run from its trace as it streams past, keeping nothing else.
#[derive(Debug, Default)]
pub struct MeasureSink {
    last_t: u64,
    dispatches: u64,
    last_dispatch: Option<u64>,
    smallest_gap: Option<u64>,
    capacity: u64,
    retry_timeouts: u64,
}

impl MeasureSink {
    /// What the run did.
    pub fn measures(&self) -> RunMeasures {
        let secs = self.last_t as f64 / 1e6;
        RunMeasures {
            dispatches_per_s: self.dispatches as f64 / secs.max(1e-6),
            smallest_gap_ms: self.smallest_gap.unwrap_or(0) as f64 / 1000.0,
            capacity_errors: self.capacity as f64,
            retry_timeouts: self.retry_timeouts as f64,
            completion_s: secs,
        }
    }
}

impl TraceSink for MeasureSink {
    fn record(&mut self, r: &TraceRecord<'_>) -> io::Result<()> {
        self.last_t = self.last_t.max(r.t_us);
        match r.event {
            EventName::Dispatch => {
                self.dispatches += 1;
                if let Some(last) = self.last_dispatch {
                    let gap = r.t_us.saturating_sub(last);
                    self.smallest_gap = Some(self.smallest_gap.map_or(gap, |g| g.min(gap)));
                }
                self.last_dispatch = Some(r.t_us);
            }
            EventName::Capacity => self.capacity += 1,
            EventName::RetryTimeout => self.retry_timeouts += 1,
            _ => {}
        }
        Ok(())
    }
}

fn spread(runs: &[RunMeasures], value: Accessor) -> (f64, f64, f64) {
    let values: Vec<f64> = runs.iter().map(value).collect();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (
        mean,
        if lo.is_finite() { lo } else { 0.0 },
        if hi.is_finite() { hi } else { 0.0 },
    )
}

/// Draw `compare.png` and `compare.svg`, write `compare.md`; returns the files.
/// `both` holds, per gate (`min` first, then `aimd`), the measures of every seed's run of
/// the scenario `name`.
pub fn write(
    name: &str,
    both: &[(&str, Vec<RunMeasures>); 2],
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    font()?;
    let seeds = both[0].1.len();
    let png = dir.join("compare.png");
    let svg = dir.join("compare.svg");
    let title = format!(
        "{name}: gate = \"{}\" against gate = \"{}\" over {} (bar: mean, line: min to max)",
        both[0].0,
        both[1].0,
        paceline_trace::counted(seeds as u64, "seed")
    );
    draw(
        &BitMapBackend::new(&png, (WIDTH, 420)).into_drawing_area(),
        &title,
        both,
    )?;
    draw(
        &SVGBackend::new(&svg, (WIDTH, 420)).into_drawing_area(),
        &title,
        both,
    )?;
    let mut md = format!(
        "# Gate policies: {name}\n\n{title}\n\n| measure | {} (mean, min-max) | {} (mean, min-max) |\n| --- | --- | --- |\n",
        both[0].0, both[1].0
    );
    for (name, value) in MEASURES {
        let cell = |runs: &[RunMeasures]| {
            let (mean, lo, hi) = spread(runs, value);
            format!("{mean:.2} ({lo:.2}-{hi:.2})")
        };
        let _ = writeln!(
            md,
            "| {name} | {} | {} |",
            cell(&both[0].1),
            cell(&both[1].1)
        );
    }
    md.push_str("\n![compare](compare.png)\n");
    let path = dir.join("compare.md");
    std::fs::write(&path, md).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(vec![png, svg, path])
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    both: &[(&str, Vec<RunMeasures>); 2],
) -> Result<(), ReportError> {
    area.fill(&WHITE).map_err(err)?;
    let area = area.titled(title, ("sans-serif", 18)).map_err(err)?;
    let colors = [RGBColor(240, 160, 40), RGBColor(49, 110, 196)];
    for (panel, (name, value)) in area.split_evenly((1, MEASURES.len())).iter().zip(MEASURES) {
        let stats: Vec<(f64, f64, f64)> =
            both.iter().map(|(_, runs)| spread(runs, value)).collect();
        let highest = stats.iter().map(|s| s.2).fold(0.0f64, f64::max);
        let top = if highest > 0.0 { highest * 1.25 } else { 1.0 };
        let labels = [both[0].0, both[1].0];
        // Bars are centred on x = 0 and x = 1, where the axis names them.
        let mut chart = ChartBuilder::on(panel)
            .caption(name, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .build_cartesian_2d(-0.5f64..1.5f64, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(3)
            .x_label_formatter(&move |x| {
                if (x - x.round()).abs() > 0.01 {
                    return String::new();
                }
                labels
                    .get(x.round() as usize)
                    .map(|l| format!("gate {l}"))
                    .unwrap_or_default()
            })
            .y_label_formatter(&number)
            .draw()
            .map_err(err)?;
        for (i, &(mean, lo, hi)) in stats.iter().enumerate() {
            let x = i as f64;
            chart
                .draw_series([Rectangle::new(
                    [(x - 0.3, 0.0), (x + 0.3, mean)],
                    colors[i].filled(),
                )])
                .map_err(err)?;
            chart
                .draw_series([PathElement::new(
                    vec![(x, lo), (x, hi)],
                    BLACK.stroke_width(2),
                )])
                .map_err(err)?;
        }
    }
    area.present().map_err(err)?;
    Ok(())
}

//! paceline-reports: pacing charts and a summary page a person would rather look at than
//! read.
//!
//! From a trace (CSV, as `replay` writes or any implementation records) and the
//! verifier's verdicts, [`write_report`] draws five charts in PNG and SVG (a timeline of
//! rows or workers, dispatch gaps against the required spacing, the throttle's `D`,
//! permits and calls against `pool_size`, and the distribution of row latency) and
//! writes `index.html` and `summary.md`, which lead with the run's planning
//! [`figures`]. [`compare`] draws a scenario under both gate policies over many seeds;
//! [`write_pareto`] draws a search over settings (`paceline tune`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod charts;
pub mod compare;
mod data;
pub mod figures;
mod page;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use paceline_trace::{
    Ending, Invariant, ReadError, TraceLimits, TraceReader, TraceRecord, TraceSink,
};
use paceline_verify::{PoolRules, PoolTable, Report, Verdict};

use crate::figures::{Figures, FiguresSink, Latencies, Limits};

pub use charts::WIDTH;
pub use charts::pareto::{ParetoPoint, write_pareto};
pub use page::CHARTS;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The trace is not valid trace CSV.
    #[error("{path}: {source}")]
    Trace {
        /// The trace file.
        path: PathBuf,
        /// The line and what is wrong with it.
        source: ReadError,
    },
    /// The drawing library failed.
    #[error("drawing a chart: {0}")]
    Chart(String),
}

/// What a report is about.
pub struct ReportInput<'a> {
    /// The page's title: the scenario's name or the trace's file.
    pub title: &'a str,
    /// A sentence under the title.
    pub description: &'a str,
    /// The pool's configuration, as plain numbers.
    pub pool: &'a PoolTable,
    /// The verifier's verdicts on the trace.
    pub verdicts: &'a Report,
    /// The trace CSV to draw, linked from the page.
    pub trace: &'a Path,
    /// How the run ended, where its driver knows (`None` for a recorded trace).
    pub ending: Option<&'a Ending>,
    /// The budgets and limits the planning figures measure the run against.
    pub limits: &'a Limits,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Draw the charts and write the pages into `dir`, reading the trace under the default
/// [`TraceLimits`]; returns every file written.
pub fn write_report(input: &ReportInput<'_>, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_report_within(input, dir, &TraceLimits::default())
}

/// [`write_report`], the trace held to `limits`. The charts keep about 50 bytes per
/// event (series of changes, spans), so the trace's size limit bounds their memory.
pub fn write_report_within(
    input: &ReportInput<'_>,
    dir: &Path,
    limits: &TraceLimits,
) -> Result<Vec<PathBuf>, ReportError> {
    let file = File::open(input.trace).map_err(io(input.trace))?;
    let trace_err = |source| ReportError::Trace {
        path: input.trace.to_path_buf(),
        source,
    };
    let mut reader =
        TraceReader::with_limits(BufReader::with_capacity(1 << 16, file), limits.clone())
            .map_err(trace_err)?;
    let mut sink = ReportSink::new(input.pool, input.limits.clone());
    while let Some(row) = reader.next_record() {
        // A sink in memory: recording cannot fail.
        let _ = sink.record(&row.map_err(trace_err)?);
    }
    sink.finish(input.ending).write(input, dir)
}

/// What a report draws, gathered as a trace streams by: from a file
/// ([`write_report`]), or from a simulation as it runs (`replay`), which then need not
/// read back the trace it wrote.
pub struct ReportSink {
    rules: PoolRules,
    collector: data::Collector,
    figures: FiguresSink,
}

impl ReportSink {
    /// A report on a pool configured as `pool`, its planning figures measured against
    /// `limits`.
    pub fn new(pool: &PoolTable, limits: Limits) -> Self {
        let rules = pool.rules();
        ReportSink {
            collector: data::Collector::new(&rules),
            figures: FiguresSink::new(limits),
            rules,
        }
    }

    /// The report's two gatherers as sinks of their own, which may be fed on two threads
    /// (each must see every record, in order): the charts' data and the planning
    /// figures. A replay feeds one beside the verifier and the other beside the CSV
    /// writer, which shares the work among the cores more evenly than one sink would.
    pub fn halves(&mut self) -> (ChartsSink<'_>, &mut FiguresSink) {
        (ChartsSink(&mut self.collector), &mut self.figures)
    }

    /// Everything gathered, given how the run ended where its driver knows.
    pub fn finish(self, ending: Option<&Ending>) -> Gathered {
        let (figures, latencies) = self.figures.finish_with_latencies(ending);
        Gathered {
            rules: self.rules,
            data: self.collector.finish(),
            figures,
            latencies,
        }
    }
}

impl TraceSink for ReportSink {
    fn record(&mut self, record: &TraceRecord<'_>) -> std::io::Result<()> {
        self.collector.observe(record);
        self.figures.record(record)
    }
}

/// The charts' half of a [`ReportSink`] ([`ReportSink::halves`]): their series, spans
/// and lanes, gathered as records stream by.
pub struct ChartsSink<'a>(&'a mut data::Collector);

impl TraceSink for ChartsSink<'_> {
    fn record(&mut self, record: &TraceRecord<'_>) -> std::io::Result<()> {
        self.0.observe(record);
        Ok(())
    }
}

/// A report's content, gathered from a whole trace and ready to be drawn.
pub struct Gathered {
    rules: PoolRules,
    data: data::TraceData,
    figures: Figures,
    latencies: Latencies,
}

impl Gathered {
    /// The run's planning figures.
    pub fn figures(&self) -> &Figures {
        &self.figures
    }

    /// Draw the charts and write the pages into `dir`; returns every file written.
    pub fn write(&self, input: &ReportInput<'_>, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (data, figures, rules) = (&self.data, &self.figures, &self.rules);
        // The dispatches the verifier flagged under I1 get a label on the gap chart.
        let flagged: Vec<u64> = match input.verdicts.verdicts.get(&Invariant::I1) {
            Some(Verdict::Violated { first, .. }) => first.iter().map(|v| v.t_us).collect(),
            _ => Vec::new(),
        };
        let mut written = charts::draw_all(
            data,
            &self.latencies,
            &flagged,
            usize::try_from(rules.pool_size).unwrap_or(usize::MAX),
            rules.min_ms,
            rules.max_ms,
            dir,
        )?;
        // The page links the trace beside it when it is there, else where it lies.
        let link = if input.trace.parent() == Some(dir) {
            "trace.csv".to_string()
        } else {
            std::path::absolute(input.trace)
                .unwrap_or_else(|_| input.trace.to_path_buf())
                .display()
                .to_string()
        };
        for (name, text) in [
            ("index.html", page::index_html(input, data, figures, &link)),
            ("summary.md", page::summary_md(input, data, figures, &link)),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}

//! The summary page (`index.html`, self-contained apart from the images beside it) and
//! its Markdown twin (`summary.md`) for CI artifacts.

use std::fmt::Write as _;

use paceline_trace::{Invariant, ms};
use paceline_verify::{Report, Verdict};

use crate::ReportInput;
use crate::data::TraceData;
use crate::figures::Figures;

/// The charts, in page order: file stem and what it shows.
pub const CHARTS: [(&str, &str); 5] = [
    (
        "timeline",
        "Each row (or worker) over time: attempts in flight, waits at the gate, backoffs, answers and final outcomes.",
    ),
    (
        "gaps",
        "The gap before each dispatch against the spacing the gate required then; red points break I1.",
    ),
    (
        "delay",
        "The throttle's delay D, between min_dispatch_delay_ms and max_dispatch_delay_ms.",
    ),
    (
        "concurrency",
        "Permits held and attempts in flight against pool_size.",
    ),
    (
        "latency",
        "Row latency from submit to result: the share of rows done within each latency, p50, p95 and p99 marked.",
    ),
];

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Text for one cell of a Markdown table: a `|` would end the cell and a line break the
/// row, so they are escaped (`\|`, `<br>`), as is `\` before them; Markdown renders the rest.
fn md_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('<', "&lt;")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

/// Text for a Markdown line outside tables (a heading, a paragraph): one line.
fn md_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The line that counts the batches whose statistics are not shown.
fn more_batches(data: &TraceData) -> String {
    format!(
        "{} more batches ended; the first {} are shown (every batch_end is checked under I7).",
        data.batch_stats_more,
        data.batch_stats.len()
    )
}

/// Rows of (name, value) for the configuration table.
fn config_rows(input: &ReportInput<'_>) -> Vec<(&'static str, String)> {
    let t = input.pool;
    vec![
        ("pool_size", t.pool_size.to_string()),
        ("min_dispatch_delay_ms", t.min_dispatch_delay_ms.to_string()),
        ("max_dispatch_delay_ms", t.max_dispatch_delay_ms.to_string()),
        ("backoff_multiplier", t.backoff_multiplier.to_string()),
        ("recovery_step_ms", t.recovery_step_ms.to_string()),
        (
            "max_capacity_retry_seconds",
            t.max_capacity_retry_seconds.to_string(),
        ),
        ("gate", t.gate.clone()),
    ]
}

/// (invariant, name, verdict label, detail) for every verdict.
fn verdict_rows(report: &Report) -> Vec<(Invariant, &'static str, String)> {
    report
        .verdicts
        .iter()
        .map(|(&i, v)| {
            let detail = match v {
                Verdict::Held { note } => note.clone().unwrap_or_default(),
                Verdict::Skipped { reason } => reason.clone(),
                Verdict::Violated { first, count } => {
                    let first = first.first().map(ToString::to_string).unwrap_or_default();
                    if *count > 1 {
                        format!("{first} (and {} more)", count - 1)
                    } else {
                        first
                    }
                }
            };
            (i, v.label(), detail)
        })
        .collect()
}

/// `key=value;...` as (key, value) pairs.
fn pairs(detail: &str) -> Vec<(&str, &str)> {
    detail
        .split(';')
        .filter_map(|p| p.split_once('='))
        .collect()
}

pub fn index_html(
    input: &ReportInput<'_>,
    data: &TraceData,
    figures: &Figures,
    trace_link: &str,
) -> String {
    let mut out = String::new();
    let title = html(input.title);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}: paceline report</title>\n<style>\
body{{font-family:sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.3em .7em;text-align:left}}\
th{{background:#f3f3f3}}.held{{color:#1a7f37}}.VIOLATED{{color:#c00;font-weight:bold}}.skipped{{color:#888}}\
img{{max-width:100%;border:1px solid #ddd}}figure{{margin:1em 0 2em}}\
</style></head><body>\n<h1>{title}</h1>\n<p>{}</p>\n",
        html(input.description)
    );
    out.push_str("<h2>Planning figures</h2>\n<table>\n");
    for (name, value) in figures.lines() {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{}</td></tr>", html(&value));
    }
    out.push_str("</table>\n");
    out.push_str("<h2>Invariants</h2>\n<table><tr><th>id</th><th>invariant</th><th>verdict</th><th>detail</th></tr>\n");
    for (i, name, label, detail) in verdict_rows(input.verdicts)
        .iter()
        .map(|(i, l, d)| (i, i.name(), l, d))
    {
        let _ = writeln!(
            out,
            "<tr><td>{i}</td><td>{name}</td><td class=\"{label}\">{label}</td><td>{}</td></tr>",
            html(detail)
        );
    }
    out.push_str("</table>\n<h2>Outcomes</h2>\n<table><tr><th>result</th><th>rows</th></tr>\n");
    for (kind, n) in &data.outcomes {
        let _ = writeln!(out, "<tr><td>{kind}</td><td>{n}</td></tr>");
    }
    let _ = writeln!(
        out,
        "</table>\n<p>{} events over {} ms.</p>",
        data.events,
        ms(data.end_us)
    );
    out.push_str("<h2>Configuration</h2>\n<table>\n");
    for (k, v) in config_rows(input) {
        let _ = writeln!(out, "<tr><th>{k}</th><td>{}</td></tr>", html(&v));
    }
    out.push_str("</table>\n<h2>Statistics per batch</h2>\n");
    for (batch, detail) in &data.batch_stats {
        let _ = writeln!(out, "<table><tr><th colspan=\"2\">batch {batch}</th></tr>");
        for (k, v) in pairs(detail) {
            let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", html(k), html(v));
        }
        out.push_str("</table>\n");
    }
    if data.batch_stats_more > 0 {
        let _ = writeln!(out, "<p>{}</p>", more_batches(data));
    }
    out.push_str("<h2>Charts</h2>\n");
    for (stem, caption) in CHARTS {
        let _ = writeln!(
            out,
            "<figure><img src=\"{stem}.png\" alt=\"{stem} chart\"><figcaption>{caption} (<a href=\"{stem}.svg\">SVG</a>)</figcaption></figure>"
        );
    }
    let _ = writeln!(
        out,
        "<p>The whole trace: <a href=\"{}\">trace.csv</a>.</p>",
        html(trace_link)
    );
    // Lets a headless browser (and a curious reader) see that every chart loaded.
    out.push_str(
        "<script>addEventListener('load',()=>{const i=[...document.images];\
         document.body.dataset.imagesLoaded=\
         i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;});</script>\n",
    );
    out.push_str("</body></html>\n");
    out
}

pub fn summary_md(
    input: &ReportInput<'_>,
    data: &TraceData,
    figures: &Figures,
    trace_link: &str,
) -> String {
    let mut out = format!(
        "# {}\n\n{}\n\n## Planning figures\n\n| figure | value |\n| --- | --- |\n",
        md_line(input.title),
        md_line(input.description)
    );
    for (name, value) in figures.lines() {
        let _ = writeln!(out, "| {name} | {} |", md_cell(&value));
    }
    out.push_str(
        "\n## Invariants\n\n| id | invariant | verdict | detail |\n| --- | --- | --- | --- |\n",
    );
    for (i, label, detail) in verdict_rows(input.verdicts) {
        let _ = writeln!(
            out,
            "| {i} | {} | {label} | {} |",
            i.name(),
            md_cell(&detail)
        );
    }
    out.push_str("\n## Outcomes\n\n| result | rows |\n| --- | --- |\n");
    for (kind, n) in &data.outcomes {
        let _ = writeln!(out, "| {kind} | {n} |");
    }
    let _ = writeln!(
        out,
        "\n{} events over {} ms.\n\n## Configuration\n\n| key | value |\n| --- | --- |",
        data.events,
        ms(data.end_us)
    );
    for (k, v) in config_rows(input) {
        let _ = writeln!(out, "| {k} | {} |", md_cell(&v));
    }
    for (batch, detail) in &data.batch_stats {
        let _ = writeln!(
            out,
            "\n## Batch {batch}\n\n| statistic | value |\n| --- | --- |"
        );
        for (k, v) in pairs(detail) {
            let _ = writeln!(out, "| {} | {} |", md_cell(k), md_cell(v));
        }
    }
    if data.batch_stats_more > 0 {
        let _ = writeln!(out, "\n{}", more_batches(data));
    }
    out.push_str("\n## Charts\n\n");
    for (stem, caption) in CHARTS {
        let _ = writeln!(out, "![{stem}]({stem}.png)\n\n{caption}\n");
    }
    let link = md_line(trace_link);
    let target = link
        .replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29");
    let _ = writeln!(out, "Trace: [{}]({target})", link.replace(['[', ']'], ""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_and_lines_cannot_break_the_table() {
        assert_eq!(md_cell("a|b\nc\\<i>"), "a\\|b<br>c\\\\&lt;i>");
        assert_eq!(md_line("title\n# injected"), "title # injected");
        assert_eq!(html("<b id=\"x\">&"), "&lt;b id=&quot;x&quot;&gt;&amp;");
    }
}

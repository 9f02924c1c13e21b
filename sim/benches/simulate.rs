//! Simulated events per second on the benchmark workload (`benches/million.toml`: a
//! million rows, pool of 16, 5% capacity errors, uniform latency), trace streamed to a
//! file; and the cost of a provider's limits (`benches/million-provider.toml`). Run with
//! `cargo bench -p paceline-sim`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paceline_sim::{Scenario, simulate};
use paceline_trace::CsvTrace;

fn million(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/million.toml");
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => panic!("the benchmark scenario is valid: {e}"),
    };
    let out = std::env::temp_dir().join(format!("paceline-bench-{}.csv", std::process::id()));
    let run = || {
        let file = BufWriter::with_capacity(1 << 20, File::create(&out).expect("temp file"));
        let mut trace = CsvTrace::new(file).expect("header written");
        let summary = simulate(&scenario, scenario.seed, &mut trace).expect("trace written");
        trace.finish().expect("trace flushed");
        summary.events
    };
    let events = run();
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("million_rows_to_csv_file", |b| b.iter(run));
    group.finish();
    let _ = std::fs::remove_file(&out);
}

criterion_group!(benches, million);

fn million_no_trace(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/million.toml");
    let scenario = Scenario::load(&path).expect("valid");
    let events = simulate(&scenario, 0, &mut paceline_trace::NoTrace)
        .expect("no io")
        .events;
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("million_rows_no_trace", |b| {
        b.iter(|| simulate(&scenario, 0, &mut paceline_trace::NoTrace))
    });
    group.finish();
}
criterion_group!(extra, million_no_trace);

/// The same million rows without and with a provider's limits and a phase, in one run:
/// the ratio of the two is the cost of the limits.
fn provider_limits(c: &mut Criterion) {
    let load = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches")
            .join(name);
        Scenario::load(&path).expect("valid benchmark scenario")
    };
    let mut group = c.benchmark_group("provider");
    group.sample_size(10);
    for (label, scenario) in [
        ("million_rows_plain", load("million.toml")),
        (
            "million_rows_two_limits_and_a_phase",
            load("million-provider.toml"),
        ),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| simulate(&scenario, 0, &mut paceline_trace::NoTrace))
        });
    }
    group.finish();
}
criterion_group!(provider, provider_limits);
criterion_main!(benches, extra, provider);

//! The oracle stands on the trace alone: `paceline-verify` lists no crate of paceline's
//! but `paceline-trace` among its dependencies. Since this test compiles and runs as
//! part of the crate, the crate builds without the pool and the simulator.

#[test]
fn the_oracle_depends_on_the_trace_crate_only() {
    let manifest = include_str!("../Cargo.toml");
    let ours: Vec<&str> = manifest
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("paceline-"))
        .filter_map(|l| l.split(['.', ' ', '=']).next())
        .collect();
    assert_eq!(ours, ["paceline-trace"], "{manifest}");
}

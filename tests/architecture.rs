//! The crate graph is the data flow ARCHITECTURE.md draws: each crate lists only the
//! crates of paceline it may import, in every dependency section of its manifest.

use std::path::Path;

/// A crate's folder, and the crates of ours it may depend on (dev-dependencies too).
const ALLOWED: [(&str, &[&str]); 8] = [
    ("trace", &[]),
    ("core", &[]),
    ("sim", &["paceline-core", "paceline-trace"]),
    ("verify", &["paceline-trace"]),
    (
        "harness",
        &[
            "paceline-core",
            "paceline-sim",
            "paceline-trace",
            "paceline-verify",
        ],
    ),
    ("reports", &["paceline-trace", "paceline-verify"]),
    // The live provider: the simulated service and the trace format; its tests (only)
    // run the real pools against it and judge both traces (verify) with the bug zoo's
    // switch (harness).
    (
        "serve",
        &[
            "paceline-core",
            "paceline-harness",
            "paceline-sim",
            "paceline-trace",
            "paceline-verify",
        ],
    ),
    (
        ".",
        &[
            "paceline-core",
            "paceline-harness",
            "paceline-reports",
            "paceline-serve",
            "paceline-sim",
            "paceline-trace",
            "paceline-verify",
        ],
    ),
];

/// The `paceline-*` names a manifest lists as dependencies of any kind.
fn ours(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.contains("dependencies");
            continue;
        }
        if in_deps && line.starts_with("paceline-") {
            let name = line.split(['.', ' ', '=']).next().unwrap_or_default();
            found.push(name.to_string());
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_crate_imports_only_what_the_data_flow_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (dir, allowed) in ALLOWED {
        let manifest = std::fs::read_to_string(root.join(dir).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{dir}/Cargo.toml: {e}"));
        let found = ours(&manifest);
        for name in &found {
            assert!(
                allowed.contains(&name.as_str()),
                "{dir} depends on {name}, which ARCHITECTURE.md forbids"
            );
        }
    }
}

#[test]
fn the_reader_of_manifests_sees_dependencies_of_every_kind() {
    let manifest = "[dependencies]\npaceline-trace.workspace = true\n[dev-dependencies]\npaceline-sim = { path = \"x\" }\n[features]\npaceline-core = []\n";
    assert_eq!(ours(manifest), ["paceline-sim", "paceline-trace"]);
}

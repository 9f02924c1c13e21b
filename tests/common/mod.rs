//! What the command-line tests share: running the binary and reading what it wrote.
#![allow(dead_code)] // each test binary uses its own share of these

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run `paceline` from the workspace root.
pub fn paceline(args: &[&str]) -> Output {
    paceline_env(args, &[])
}

/// Run `paceline` from the workspace root with extra environment variables.
pub fn paceline_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paceline"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh folder for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paceline-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Write `body` as `name` in a fresh folder; its path.
pub fn write_file(dir: &str, name: &str, body: &str) -> PathBuf {
    let path = temp_dir(dir).join(name);
    std::fs::write(&path, body).expect("temp file");
    path
}

/// Run `paceline` with `args` and read the one JSON document it prints; its exit code.
pub fn document(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let run = paceline(args);
    let stdout = text(&run.stdout);
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {stdout}{}", text(&run.stderr)));
    (run.status.code(), doc)
}

/// Replay `scenario` into a fresh folder, then check its trace with `check-trace` against
/// the scenario's own pool; the output of `check-trace`.
pub fn replay_then_check_trace(scenario: &str, dir: &str) -> Output {
    let out = temp_dir(dir);
    let replay = paceline(&["replay", scenario, "--out", out.to_str().expect("utf-8")]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stdout));
    paceline(&[
        "check-trace",
        out.join("trace.csv").to_str().expect("utf-8"),
        "--pool",
        scenario,
    ])
}

//! `paceline serve`: a scenario's provider, live on an OpenAI-compatible endpoint, until
//! Ctrl-C; the server-side trace is flushed on the way out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use paceline_sim::{Override, Scenario};

use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::outln;

/// What the command line says.
pub struct Options<'a> {
    pub addr: String,
    pub trace: PathBuf,
    pub speed: f64,
    pub allow_non_loopback: bool,
    /// `--set` edits of the scenario.
    pub overrides: &'a [Override],
    pub limits: &'a LimitArgs,
}

pub fn run(path: &Path, o: Options<'_>) -> Outcome {
    let scenario = match Scenario::load_with(path, o.overrides, &o.limits.scenario()) {
        Ok(s) => s,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let Ok(addr) = o.addr.parse::<SocketAddr>() else {
        return Outcome::Refused(format!(
            "--addr {}: an IP address and port, such as 127.0.0.1:8080 or [::1]:8080",
            o.addr
        ));
    };
    let options = paceline_serve::Options {
        trace: Some(o.trace.clone()),
        speed: o.speed,
        seed: None,
        allow_non_loopback: o.allow_non_loopback,
        stop_on_signal: true,
    };
    let server = match paceline_serve::spawn(&scenario, addr, options) {
        Ok(s) => s,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let local = server.local_addr();
    outln!(
        "serving {} on {} (speed {}); Ctrl-C stops",
        scenario.name,
        server.url(),
        o.speed
    );
    outln!("  OpenAI clients: base_url=\"http://{local}/v1\" (any api_key)");
    outln!("  server-side trace: {}", o.trace.display());
    // Scripts read the address from the first line, before any request comes: `outln!`
    // flushes each line.
    let summary = match server.wait() {
        Ok(s) => s,
        Err(e) => return Outcome::Refused(format!("{}: {e}", o.trace.display())),
    };
    let statuses: Vec<String> = summary
        .by_status
        .iter()
        .map(|(status, n)| format!("{status}: {n}"))
        .collect();
    outln!(
        "stopped after {} requests ({}), {} bad requests; {} trace records in {}",
        summary.requests,
        statuses.join(", "),
        summary.bad_requests,
        summary.trace_records,
        o.trace.display()
    );
    outln!(
        "  judge it: paceline check-trace {} --pool {} --tolerance-us 5000",
        o.trace.display(),
        path.display()
    );
    Outcome::Passed
}

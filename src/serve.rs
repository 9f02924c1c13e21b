//! `paceline serve`: a scenario's provider, live on an OpenAI-compatible endpoint, until
//! Ctrl-C; the server-side trace is flushed on the way out.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use paceline_sim::Scenario;

use crate::outcome::Outcome;

/// What the command line says.
pub struct Options {
    pub addr: String,
    pub trace: PathBuf,
    pub speed: f64,
    pub allow_non_loopback: bool,
}

pub fn run(path: &Path, o: Options) -> Outcome {
    let scenario = match Scenario::load(path) {
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
    println!(
        "serving {} on {} (speed {}); Ctrl-C stops",
        scenario.name,
        server.url(),
        o.speed
    );
    println!("  OpenAI clients: base_url=\"http://{local}/v1\" (any api_key)");
    println!("  server-side trace: {}", o.trace.display());
    // Scripts read the address from the first line, before any request comes.
    let _ = std::io::stdout().flush();
    let summary = match server.wait() {
        Ok(s) => s,
        Err(e) => return Outcome::Refused(format!("{}: {e}", o.trace.display())),
    };
    let statuses: Vec<String> = summary
        .by_status
        .iter()
        .map(|(status, n)| format!("{status}: {n}"))
        .collect();
    println!(
        "stopped after {} requests ({}), {} bad requests; {} trace records in {}",
        summary.requests,
        statuses.join(", "),
        summary.bad_requests,
        summary.trace_records,
        o.trace.display()
    );
    println!(
        "  judge it: paceline check-trace {} --pool {} --tolerance-us 5000",
        o.trace.display(),
        path.display()
    );
    Outcome::Passed
}

//! paceline-serve: a live provider that any HTTP client can be judged against.
//!
//! [`spawn`] plays a scenario's `[service]` (latency distributions, request and token
//! limits, phases and outages, `Retry-After`) in wall time on an OpenAI-compatible
//! endpoint, `POST /v1/chat/completions`, and writes the **server-side trace** of every
//! request it answered: a `dispatch` at each arrival (its `row` the request's number,
//! `attempt` from `x-paceline-attempt` (else the OpenAI clients' `x-stainless-retry-count`
//! plus one, else 1), `id` from `x-paceline-row`, `tokens` in its detail) and the answer (`ok`, `capacity` or `permanent`, with
//! `status`, `retry_after_ms` and `limit`) when it goes out. The trace declares itself
//! server-side (`vantage=server` on its `batch_start`), and `paceline check-trace` judges
//! it for what a server can see: I1 arrival spacing, I2 requests in flight, I10 the
//! pauses it asked for, I11 the client's budgets; the pool's own rows (I3-I7) are
//! skipped.
//!
//! Answers are decided one request at a time, in arrival order, behind one lock, on a
//! clock running `speed` times wall time: `speed = 10` plays a ten-minute scenario in a
//! minute, with latencies and waits ten times shorter on the wire. The server binds
//! loopback addresses only, unless told otherwise.
//!
//! ```no_run
//! use std::path::Path;
//! use paceline_serve::{Options, spawn};
//! use paceline_sim::Scenario;
//!
//! let scenario = Scenario::load(Path::new("scenarios/live/429-phase.toml"))?;
//! let options = Options { trace: Some("server-trace.csv".into()), ..Options::default() };
//! let server = spawn(&scenario, "127.0.0.1:0".parse()?, options)?;
//! let url = format!("http://{}/v1/chat/completions", server.local_addr());
//! // ... point a client at `url` ...
//! let summary = server.shutdown()?; // the trace is flushed when this returns
//! println!("{} requests", summary.requests);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod http;
mod provider;
mod recorder;
mod request;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use paceline_sim::Scenario;
use tokio::sync::oneshot;

pub use http::CHAT_PATH;
pub use provider::Summary;
pub use request::{ATTEMPT_HEADER, ROW_HEADER, TOKENS_HEADER};

use crate::http::Shared;
use crate::provider::Provider;
use crate::recorder::Recorder;

/// How to serve a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Where to write the server-side trace; `None` writes none.
    pub trace: Option<PathBuf>,
    /// How many times faster than wall time the scenario's timeline runs (finite, > 0).
    pub speed: f64,
    /// Seed of the service's random draws (latencies, capacity errors); the scenario's
    /// own seed if `None`.
    pub seed: Option<u64>,
    /// Bind an address other than loopback. Off by default: the server is a test
    /// double, not a service to expose.
    pub allow_non_loopback: bool,
    /// Stop on Ctrl-C (SIGINT) or SIGTERM, as the command line does.
    pub stop_on_signal: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trace: None,
            speed: 1.0,
            seed: None,
            allow_non_loopback: false,
            stop_on_signal: false,
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address is not loopback and `allow_non_loopback` is off.
    #[error(
        "{0} is not a loopback address: paceline serve binds 127.0.0.1 or ::1 unless told --allow-non-loopback"
    )]
    NotLoopback(SocketAddr),
    /// `speed` is not a finite number above zero.
    #[error("speed must be a finite number above 0, not {0}")]
    Speed(f64),
    /// Binding, the trace file or a thread failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A running server.
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<io::Result<Summary>>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Serve `scenario`'s `[service]` on `addr` (port 0 picks a free port: see
/// [`ServerHandle::local_addr`]), on a thread of its own with its own runtime, so that
/// blocking and async callers alike can start it. The clock starts now.
pub fn spawn(
    scenario: &Scenario,
    addr: SocketAddr,
    options: Options,
) -> Result<ServerHandle, ServeError> {
    if !addr.ip().is_loopback() && !options.allow_non_loopback {
        return Err(ServeError::NotLoopback(addr));
    }
    if !(options.speed.is_finite() && options.speed > 0.0) {
        return Err(ServeError::Speed(options.speed));
    }
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let (recorder, writer) = Recorder::start(options.trace.as_deref())?;
    let seed = options.seed.unwrap_or(scenario.seed);
    let provider = Provider::new(scenario, seed, options.speed, recorder);
    let (stop, stopped) = oneshot::channel();
    let on_signal = options.stop_on_signal;
    let thread = thread::Builder::new()
        .name("paceline-serve".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("paceline-serve-worker")
                .enable_all()
                .build()?;
            let shared = Arc::new(Shared::new(provider));
            runtime.block_on(serve(listener, Arc::clone(&shared), stopped, on_signal))?;
            let mut summary = shared.provider().summary();
            // Every answer task is done: the last sender goes with the provider.
            drop(shared);
            drop(runtime);
            summary.trace_records = writer.join()?;
            Ok(summary)
        })?;
    Ok(ServerHandle {
        local_addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stopped: oneshot::Receiver<()>,
    on_signal: bool,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = http::router(Arc::clone(&shared));
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal(stopped, on_signal))
        .await?;
    // Answers whose client hung up are still being recorded at their time.
    shared.answers_recorded().await;
    Ok(())
}

/// Resolves when the handle says stop, or on Ctrl-C / SIGTERM if asked.
async fn stop_signal(stopped: oneshot::Receiver<()>, on_signal: bool) {
    if !on_signal {
        let _ = stopped.await;
        return;
    }
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = stopped => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

impl ServerHandle {
    /// The address it listens on (with the port picked, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint's URL, `http://ADDR/v1/chat/completions`.
    pub fn url(&self) -> String {
        format!("http://{}{CHAT_PATH}", self.local_addr)
    }

    /// Stop: no new connections, requests in flight answered and recorded, the trace
    /// flushed and closed. Returns what the server did.
    pub fn shutdown(mut self) -> io::Result<Summary> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join_thread()
    }

    /// Wait until the server stops by itself (on a signal, with
    /// [`Options::stop_on_signal`]), then as [`ServerHandle::shutdown`].
    pub fn wait(mut self) -> io::Result<Summary> {
        self.join_thread()
    }

    fn join_thread(&mut self) -> io::Result<Summary> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the server thread panicked"))?,
            None => Ok(Summary::default()),
        }
    }
}

impl Drop for ServerHandle {
    /// A handle dropped without `shutdown` still stops the server and flushes its trace.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.join_thread();
    }
}

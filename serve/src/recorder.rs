//! The server-side trace: one writer thread fed by a channel, so that however many
//! connections answer at once, every record arrives, in the order the provider decided.
//!
//! Records are sent while the provider's lock is held (see `provider.rs`), so channel
//! order is time order. The writer flushes whenever the channel has been idle for a
//! moment, so the file on disk is a readable trace while the server runs, and flushes for
//! good when the last sender is dropped (the server stopped).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use paceline_trace::{CsvTrace, TraceRow, TraceSink};

/// Idle time after which the writer flushes what it has.
const IDLE_FLUSH: Duration = Duration::from_millis(200);

/// The sending side: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    tx: Option<mpsc::Sender<TraceRow>>,
}

/// The writer thread; joining it says how many records it wrote.
pub(crate) struct Writer {
    thread: Option<thread::JoinHandle<io::Result<u64>>>,
}

impl Recorder {
    /// Start writing the trace to `path` (created or truncated now, so a bad path is
    /// refused before the server listens); `None` records nothing.
    pub(crate) fn start(path: Option<&Path>) -> io::Result<(Recorder, Writer)> {
        let Some(path) = path else {
            return Ok((Recorder { tx: None }, Writer { thread: None }));
        };
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut csv = CsvTrace::new(BufWriter::new(file))?;
        let (tx, rx) = mpsc::channel::<TraceRow>();
        let thread = thread::Builder::new()
            .name("paceline-serve-trace".into())
            .spawn(move || {
                let mut written = 0u64;
                loop {
                    match rx.recv_timeout(IDLE_FLUSH) {
                        Ok(row) => {
                            csv.record(&row.as_record())?;
                            written += 1;
                        }
                        Err(RecvTimeoutError::Timeout) => csv.flush()?,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                csv.finish()?;
                Ok(written)
            })?;
        Ok((
            Recorder { tx: Some(tx) },
            Writer {
                thread: Some(thread),
            },
        ))
    }

    /// Send one record to the writer. A writer that stopped on an I/O error has dropped
    /// its receiver: the error is reported when the server stops.
    pub(crate) fn record(&self, row: TraceRow) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(row);
        }
    }
}

impl Writer {
    /// Wait until every record sent has been written (all senders dropped first), and
    /// say how many there were.
    pub(crate) fn join(mut self) -> io::Result<u64> {
        match self.thread.take() {
            None => Ok(0),
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the trace writer panicked"))?,
        }
    }
}

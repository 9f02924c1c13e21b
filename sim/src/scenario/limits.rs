//! How much a scenario may ask for before it is refused, and the run budget: a file is
//! read within a size, its batches within a row count, and a run within a number of
//! events, each raisable from the command line. Reading a file never takes more than its
//! size limit in memory, whatever the file is (a device, a pipe, binary data).

use std::io::Read;
use std::path::Path;

use super::ScenarioError;

/// Bounds on a scenario and its run. The defaults are the README's "Resource bounds".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioLimits {
    /// Bytes of a scenario file. `--max-scenario-bytes`.
    pub max_file_bytes: u64,
    /// Rows of one batch. `--max-rows-per-batch`.
    pub max_rows_per_batch: u64,
    /// Rows of all batches together: the simulator keeps about 200 bytes for each row
    /// of the batch running and 16 for each row of a batch waiting. `--max-rows`.
    pub max_rows: u64,
    /// Events a run may make before it is cut (a retry storm can ask for billions).
    /// `--max-events`.
    pub max_events: u64,
}

impl Default for ScenarioLimits {
    fn default() -> Self {
        ScenarioLimits {
            max_file_bytes: 16 << 20,
            max_rows_per_batch: super::MAX_ROWS_PER_BATCH,
            max_rows: 10_000_000,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// The run budget when none is given: room for the largest batch allowed (10 million
/// rows make about 63 million events), and a few minutes of simulation under the
/// verifier at worst (a retry storm).
pub const DEFAULT_MAX_EVENTS: u64 = 100_000_000;

fn refused(path: &Path, message: String) -> ScenarioError {
    ScenarioError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        key: None,
        message,
    }
}

/// The text of the file at `path`, read only up to `limits.max_file_bytes` (its size is
/// checked first, and the read is cut there for files that have no size); bytes that
/// are not UTF-8 are refused with the line, column and offset of the first.
pub fn read_text(path: &Path, limits: &ScenarioLimits) -> Result<String, ScenarioError> {
    let unreadable = |e: std::io::Error| refused(path, format!("cannot read the file: {e}"));
    let too_large = |size: &str| {
        refused(
            path,
            format!(
                "{size}larger than the limit of {} bytes for a scenario (raise it with --max-scenario-bytes)",
                limits.max_file_bytes
            ),
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > limits.max_file_bytes {
        return Err(too_large(&format!("{size} bytes, ")));
    }
    let mut bytes = Vec::new();
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_large(""));
    }
    decode(path, bytes)
}

/// Scenario bytes as text; bytes that are not UTF-8 are refused with the line, column
/// and offset of the first (`path` is only named in the error).
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..offset).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default())
            .chars()
            .count()
            + 1;
        ScenarioError {
            file: path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key: None,
            message: format!("not UTF-8 text: invalid byte at offset {offset}"),
        }
    })
}

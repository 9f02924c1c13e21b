//! Pointing into the scenario text: line and column of a byte offset, where a key is
//! written, and the error that names them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A refused scenario file: where, which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// The key, as a dotted path, where known.
    pub key: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The text being read, and where it came from.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

pub(super) type Checked<T> = Result<T, ScenarioError>;

impl Source<'_> {
    pub(super) fn unreadable(path: &Path, e: &std::io::Error) -> ScenarioError {
        ScenarioError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        }
    }

    pub(super) fn error(
        &self,
        offset: usize,
        key: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = self.line_col(offset);
        ScenarioError {
            file: self.path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// Where `key = ...` is written inside `span` (a table's span covers only its
    /// header, so its body up to the next header counts too), or the span's start.
    pub(super) fn key_offset(&self, span: &Range<usize>, key: &str) -> usize {
        let Some(rest) = self.text.get(span.start..) else {
            return span.start;
        };
        let body_end = rest
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .find(|&i| rest[i..].starts_with('['))
            .unwrap_or(rest.len());
        let region = &rest[..body_end.max(span.len()).min(rest.len())];
        let mut from = 0;
        while let Some(found) = region[from..].find(key) {
            let at = from + found;
            let before_ok = region[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
            let after = region[at + key.len()..].trim_start();
            if before_ok && after.starts_with('=') {
                return span.start + at;
            }
            from = at + key.len();
        }
        span.start
    }

    /// The key of the `key = value` whose value starts at `offset`, read from the text.
    pub(super) fn key_before(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset)?;
        let eq = before.rfind('=')?;
        let name: String = before[..eq]
            .trim_end()
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '"')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let name = name.trim_matches('"').to_string();
        (!name.is_empty()).then_some(name)
    }

    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let span = e.span();
        let offset = span.as_ref().map_or(0, |s| s.start);
        let message = e.message().to_string();
        // Unknown fields name themselves; other errors point at a value whose key is
        // just before it.
        let key = match message.strip_prefix("unknown field `") {
            Some(rest) => rest.split('`').next().map(str::to_string),
            None => span.and_then(|s| self.header_at(s.start).or_else(|| self.key_before(s.start))),
        };
        let (line, column) = self.line_col(offset);
        ScenarioError {
            file: self.path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key,
            message: self.in_words(&message, offset),
        }
    }

    pub(super) fn us(&self, ms: u64, offset: usize, key: &str) -> Checked<u64> {
        ms.checked_mul(1000).ok_or_else(|| {
            self.error(
                offset,
                key,
                format!("{ms} ms is too large (at most {} ms)", u64::MAX / 1000),
            )
        })
    }
}

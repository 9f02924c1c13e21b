//! Pointing into the scenario text: line and column of a byte offset, where a key is
//! written, and the error that names them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::ScenarioLimits;

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

/// The text being read, where it came from, and what it may ask for.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) limits: &'a ScenarioLimits,
}

pub(super) type Checked<T> = Result<T, ScenarioError>;

impl Source<'_> {
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
    /// header, so its body up to the next header counts too), or the span's start. An
    /// empty key (`"" = ...` is valid TOML) is never searched for.
    pub(super) fn key_offset(&self, span: &Range<usize>, key: &str) -> usize {
        let Some(rest) = self.text.get(span.start..) else {
            return span.start;
        };
        if key.is_empty() {
            return span.start;
        }
        let body_end = rest
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .find(|&i| rest.get(i..).is_some_and(|r| r.starts_with('[')))
            .unwrap_or(rest.len());
        let region = rest
            .get(..body_end.max(span.len()).min(rest.len()))
            .unwrap_or(rest);
        for (at, _) in region.match_indices(key) {
            let before_ok = region
                .get(..at)
                .and_then(|b| b.chars().next_back())
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
            let after = region
                .get(at + key.len()..)
                .unwrap_or_default()
                .trim_start();
            if before_ok && after.starts_with('=') {
                return span.start + at;
            }
        }
        span.start
    }

    /// The key of the `key = value` whose value starts at `offset`, read from the text.
    pub(super) fn key_before(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset)?;
        let eq = before.rfind('=')?;
        let name: String = before
            .get(..eq)?
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
        let message = plain_words(e.message());
        // Unknown fields name themselves; other errors point at a value whose key is
        // just before it.
        let key = match message.strip_prefix("unknown field `") {
            Some(rest) => rest.split('`').next().map(|k| cut(k, 80)),
            None => span
                .and_then(|s| self.header_at(s.start).or_else(|| self.key_before(s.start)))
                .map(|k| cut(&k, 80)),
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

/// A value from the file as a message shows it: a string quoted, anything else as TOML
/// writes it, cut after 80 characters.
pub(super) fn value_text(value: &toml::Value) -> String {
    match value.as_str() {
        Some(text) => paceline_trace::shown(text),
        None => {
            let text = value.to_string();
            match text.char_indices().nth(80) {
                None => text,
                Some((at, _)) => format!(
                    "{}... ({} bytes in all)",
                    text.get(..at).unwrap_or_default(),
                    text.len()
                ),
            }
        }
    }
}

/// A key from the file as an error's key path shows it: cut after 80 characters.
pub(super) fn key_text(key: &str) -> String {
    cut(key, 80)
}

/// `text` cut after `chars` characters, marked when cut.
fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        None => text.to_string(),
        Some((at, _)) => format!("{}...", text.get(..at).unwrap_or_default()),
    }
}

/// A message from a reader below (TOML, the pool's configuration) in a user's words: no
/// Rust type names, and no value or key of the input longer than 80 characters.
pub(super) fn plain_words(message: &str) -> String {
    const WORDS: [(&str, &str); 16] = [
        (" as i128", ""),
        (" as u128", ""),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected u32", "expected a whole number (0 or more)"),
        ("expected u16", "expected a whole number (0 or more)"),
        ("expected u8", "expected a whole number (0 or more)"),
        ("expected usize", "expected a whole number (0 or more)"),
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a table"),
        ("expected struct ", "expected a table: "),
        ("expected a borrowed string", "expected a string"),
        (
            "expected a string or a table",
            "expected a string or a table",
        ),
    ];
    let mut out = String::with_capacity(message.len().min(512));
    // Cut every quoted or backquoted stretch longer than 80 characters.
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest
            .get(open..)
            .and_then(|r| r.chars().next())
            .unwrap_or('"');
        out.push_str(rest.get(..=open).unwrap_or_default());
        let inner = rest.get(open + 1..).unwrap_or_default();
        let close = inner.find(quote).unwrap_or(inner.len());
        let quoted = inner.get(..close).unwrap_or_default();
        out.push_str(&cut(quoted, 80));
        if quoted.chars().count() > 80 {
            out.push_str(&format!(" ({} bytes in all)", quoted.len()));
        }
        rest = inner.get(close..).unwrap_or_default();
        if let Some(q) = rest.chars().next() {
            out.push(q);
            rest = rest.get(q.len_utf8()..).unwrap_or_default();
        }
    }
    out.push_str(rest);
    for (rust, plain) in WORDS {
        out = out.replace(rust, plain);
    }
    cut(&out, 400)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source<'_> {
        Source {
            path: Path::new("t.toml"),
            text,
            limits: &DEFAULT,
        }
    }

    static DEFAULT: std::sync::LazyLock<ScenarioLimits> =
        std::sync::LazyLock::new(ScenarioLimits::default);

    #[test]
    fn an_empty_key_is_not_searched_for() {
        let text = "[expect]\nresults = { \"\" = \"ok\" }\n";
        let src = source(text);
        assert_eq!(src.key_offset(&(0..8), ""), 0);
        assert_eq!(src.key_offset(&(0..8), "results"), 9);
    }

    #[test]
    fn messages_lose_rust_types_and_long_values() {
        let m = plain_words("invalid type: integer `-5`, expected u64");
        assert_eq!(
            m,
            "invalid type: integer `-5`, expected a whole number (0 or more)"
        );
        let long = format!(
            "invalid type: string \"{}\", expected f64",
            "y".repeat(5000)
        );
        let m = plain_words(&long);
        assert!(m.len() < 200, "{m}");
        assert!(
            m.contains("(5000 bytes in all)") && m.ends_with("expected a number"),
            "{m}"
        );
    }
}

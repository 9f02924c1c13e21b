//! `--set KEY=VALUE`: a scenario edited on the command line, validated like the file.
//!
//! A setting is a dotted path into the file (`pool.pool_size`, `service.capacity_rate`,
//! `horizon_ms`, `batches.0.generate.count`; a number picks an entry of a list) and a
//! TOML value (`8`, `0.1`, `"min"`, `{ min = 1, max = 2 }`; text that is not TOML is
//! taken as a string, so `pool.gate=min` works). The edit is made on the parsed document
//! before the typed reading, so every rule of the file applies to the value set.
//!
//! The document edited is toml's spanned one ([`DeTable`]), not a plain table: values
//! the file wrote keep their places, so an error elsewhere in the file still names its
//! line and column. A value set on the command line has no place in the file; it is
//! given a span past the end of the text, by which an error about it is recognised and
//! blamed on its `--set` instead of on a line.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::ScenarioError;
use super::source::{Checked, Source};

/// One `--set KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The dotted path: `pool.pool_size`.
    pub key: String,
    /// The value as written: `8`.
    pub value: String,
    /// The option that set it, for messages: `--set`, or `--vary` for a setting of a
    /// search.
    pub flag: &'static str,
}

impl Override {
    /// Read `KEY=VALUE`; the error says what is wrong, in words.
    pub fn parse(arg: &str) -> Result<Override, String> {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!(
                "--set {arg:?}: write KEY=VALUE, such as pool.pool_size=8"
            ));
        };
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|segment| segment.trim().is_empty()) {
            return Err(format!(
                "--set {arg:?}: the key is a dotted path such as pool.pool_size or batches.0.generate.count"
            ));
        }
        Ok(Override {
            key: key.to_string(),
            value: value.trim().to_string(),
            flag: "--set",
        })
    }

    /// Whether an error about `key` (as validation names keys: a full path, a bare key,
    /// or several joined by ", ") is about this setting. List entries are compared
    /// without their numbers, however a key writes them (`batches.0.generate.count`,
    /// `batches[0].generate.count`).
    fn concerns(&self, key: &str) -> bool {
        let mine = without_entries(&self.key);
        key.split(", ").map(without_entries).any(|k| {
            k == mine
                || k.starts_with(&format!("{mine}."))
                || mine.starts_with(&format!("{k}."))
                || mine.ends_with(&format!(".{k}"))
        })
    }
}

/// A dotted key without its list entries' numbers: `batches[0].rows.1.id` is
/// `batches.rows.id`.
fn without_entries(key: &str) -> String {
    key.split('.')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .filter(|segment| !segment.bytes().all(|b| b.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(".")
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Where the `i`-th setting "is": just past the end of the text, one byte each.
fn marker(text: &str, i: usize) -> Range<usize> {
    let at = text.len() + 1 + i;
    at..at + 1
}

/// The setting an offset points at, if it is a marker.
fn setting_at(text: &str, offset: usize) -> Option<usize> {
    offset.checked_sub(text.len() + 1)
}

/// The error as the user should read it when it is about `o`: no file position (the value
/// is not in the file), the `--set` named.
fn blamed(mut err: ScenarioError, o: &Override) -> ScenarioError {
    err.line = None;
    err.column = None;
    if err.key.is_none() {
        err.key = Some(o.key.clone());
    }
    err.message = format!("{} (from {} {o})", err.message, o.flag);
    err
}

/// Blame a validation error on the setting it concerns, if any; errors about the file's
/// own text keep their line and column.
pub(super) fn blame(err: ScenarioError, overrides: &[Override]) -> ScenarioError {
    let about = err
        .key
        .as_deref()
        .and_then(|key| overrides.iter().rev().find(|o| o.concerns(key)));
    match about {
        Some(o) => blamed(err, o),
        None => err,
    }
}

impl Source<'_> {
    /// The file read as `T`, with `overrides` applied to the document first.
    pub(super) fn read<T: DeserializeOwned>(&self, overrides: &[Override]) -> Checked<T> {
        if overrides.is_empty() {
            return toml::from_str(self.text).map_err(|e| self.toml_error(&e));
        }
        let doc = DeTable::parse(self.text).map_err(|e| self.toml_error(&e))?;
        let doc_span = doc.span();
        let mut root = DeValue::Table(doc.into_inner());
        for (i, o) in overrides.iter().enumerate() {
            let span = marker(self.text, i);
            let value = self.value_of(o, span.clone())?;
            let path: Vec<&str> = o.key.split('.').map(str::trim).collect();
            set_in(&mut root, &path, &path, value, &span)
                .map_err(|message| self.setting_error(o, message))?;
        }
        // Settings write inside the root, never over it (a key has at least one
        // segment), so it is still the table it was.
        let DeValue::Table(table) = root else {
            return Err(self.error(0, "", "the document is not a table"));
        };
        let doc = Spanned::new(doc_span, table);
        T::deserialize(toml::de::Deserializer::from(doc)).map_err(|e| {
            let setting = e
                .span()
                .and_then(|s| setting_at(self.text, s.start))
                .and_then(|i| overrides.get(i));
            match setting {
                Some(o) => {
                    let mut err = self.toml_error(&e);
                    err.key = Some(o.key.clone());
                    blamed(err, o)
                }
                None => self.toml_error(&e),
            }
        })
    }

    fn setting_error(&self, o: &Override, message: String) -> ScenarioError {
        ScenarioError {
            file: self.path.to_path_buf(),
            line: None,
            column: None,
            key: Some(o.key.clone()),
            message: format!("{message} (from {} {o})", o.flag),
        }
    }

    /// The value of a setting: TOML if it reads as TOML, else the text as a string. Text
    /// that starts like a TOML string, list or table must read as one.
    fn value_of<'v>(&self, o: &'v Override, span: Range<usize>) -> Checked<Spanned<DeValue<'v>>> {
        if super::nesting::too_deep(&o.value).is_some() {
            return Err(self.setting_error(
                o,
                format!(
                    "the value nests [ and {{ more than {} deep",
                    super::nesting::MAX_NESTING
                ),
            ));
        }
        let value = match DeValue::parse(&o.value) {
            Ok(v) => v.into_inner(),
            Err(e) if o.value.starts_with(['{', '[', '"', '\'']) => {
                return Err(self.setting_error(
                    o,
                    format!("the value is not valid TOML: {}", e.message().trim()),
                ));
            }
            Err(_) => DeValue::String(Cow::Borrowed(o.value.as_str())),
        };
        Ok(placed(value, &span))
    }
}

/// A value and everything inside it placed at `span`.
fn placed<'v>(value: DeValue<'v>, span: &Range<usize>) -> Spanned<DeValue<'v>> {
    let value = match value {
        DeValue::Array(items) => {
            let mut array = DeArray::new();
            for item in items.iter() {
                array.push(placed(item.get_ref().clone(), span));
            }
            DeValue::Array(array)
        }
        DeValue::Table(table) => {
            let mut placed_table = DeTable::new();
            for (k, v) in table {
                placed_table.insert(
                    Spanned::new(span.clone(), k.into_inner()),
                    placed(v.into_inner(), span),
                );
            }
            DeValue::Table(placed_table)
        }
        other => other,
    };
    Spanned::new(span.clone(), value)
}

/// The words for a value's type, in messages.
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "true or false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// The first `depth` segments of `full`, joined: where in the path a problem is.
fn prefix(full: &[&str], depth: usize) -> String {
    full.get(..depth).unwrap_or(full).join(".")
}

/// Set `value` at `path` inside `slot`: a key of a table (missing tables on the way are
/// created) or, in a list, an entry's number. `full` is the whole path, for messages.
fn set_in<'v>(
    slot: &mut DeValue<'v>,
    path: &[&str],
    full: &[&str],
    value: Spanned<DeValue<'v>>,
    span: &Range<usize>,
) -> Result<(), String> {
    let Some((&first, rest)) = path.split_first() else {
        return Ok(());
    };
    let here = prefix(full, full.len() - path.len());
    let next = match slot {
        DeValue::Table(table) => table
            .entry(Spanned::new(span.clone(), Cow::Owned(first.to_string())))
            .or_insert_with(|| Spanned::new(span.clone(), DeValue::Table(DeTable::new()))),
        DeValue::Array(items) => {
            let Ok(index) = first.parse::<usize>() else {
                return Err(format!(
                    "`{here}` is a list: name an entry by its number from 0, such as {here}.0"
                ));
            };
            let len = items.len() as u64;
            items.get_mut(index).ok_or_else(|| {
                format!(
                    "`{here}` has {}: {here}.{index} is past its end",
                    paceline_trace::counted(len, "entry")
                )
            })?
        }
        other => {
            return Err(format!(
                "`{here}` is {}, with nothing inside it to set",
                kind(other)
            ));
        }
    };
    if rest.is_empty() {
        *next = value;
        return Ok(());
    }
    set_in(next.get_mut(), rest, full, value, span)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::{Distribution, Rows, Scenario, ScenarioLimits};

    const BASE: &str = r#"name = "base"
[pool]
pool_size = 4
min_dispatch_delay_ms = 100
gate = "min"

[[batches]]
generate = { count = 10 }
"#;

    fn with(settings: &[&str]) -> Result<Scenario, ScenarioError> {
        let overrides: Vec<Override> = settings
            .iter()
            .map(|s| Override::parse(s).expect("KEY=VALUE"))
            .collect();
        Scenario::parse_with(
            Path::new("base.toml"),
            BASE,
            &overrides,
            &ScenarioLimits::default(),
        )
    }

    fn refused(settings: &[&str]) -> String {
        with(settings).expect_err("refused").to_string()
    }

    #[test]
    fn settings_edit_the_file_before_it_is_read() {
        let s = with(&[
            "pool.pool_size=8",
            "pool.gate=aimd",
            "service.capacity_rate=0.1",
            "service.latency_ms={ min = 1, max = 2 }",
            "horizon_ms=7200000",
            "batches.0.generate.count=5000",
            "name=\"renamed\"",
        ])
        .expect("valid");
        assert_eq!(s.pool.pool_size(), 8);
        assert_eq!(s.pool.gate().as_str(), "aimd");
        assert_eq!(s.pool.min_dispatch_delay_ms(), 100, "untouched keys stay");
        assert_eq!(s.service.capacity_rate, 0.1);
        assert_eq!(
            s.service.latency,
            Distribution::Uniform {
                min: 1000,
                max: 2000
            }
        );
        assert_eq!(s.horizon_us, 7_200_000_000);
        assert!(matches!(
            s.batches[0].rows,
            Rows::Generated { count: 5000, .. }
        ));
        assert_eq!(s.name, "renamed");
    }

    #[test]
    fn the_last_setting_of_a_key_wins() {
        let s = with(&["pool.pool_size=8", "pool.pool_size=2"]).expect("valid");
        assert_eq!(s.pool.pool_size(), 2);
    }

    #[test]
    fn a_bad_setting_is_refused_naming_its_key_and_not_a_line() {
        let e = refused(&["pool.pool_sise=8"]);
        assert!(e.starts_with("base.toml: key `pool.pool_sise`: "), "{e}");
        assert!(e.ends_with("(from --set pool.pool_sise=8)"), "{e}");
        let e = refused(&["pool.pool_size=0"]);
        assert!(e.starts_with("base.toml: key `pool.pool_size`: "), "{e}");
        assert!(e.contains("(from --set pool.pool_size=0)"), "{e}");
        let e = refused(&["pool.pool_size=many"]);
        assert!(e.starts_with("base.toml: key `pool.pool_size`: "), "{e}");
        let e = refused(&["service.capacity_rate=2"]);
        assert!(e.contains("key `service.capacity_rate`") && e.contains("between 0.0 and 1.0"));
        let e = refused(&["pool.min_dispatch_delay_ms=9000"]);
        assert!(
            e.contains("(from --set pool.min_dispatch_delay_ms=9000)"),
            "{e}"
        );
        let e = refused(&["seeed=3"]);
        assert!(e.contains("key `seeed`"), "{e}");
        let e = refused(&["batches.0.generate.count=0"]);
        assert!(e.contains("key `batches[0].generate.count`"), "{e}");
        assert!(e.contains("(from --set batches.0.generate.count=0)"), "{e}");
    }

    #[test]
    fn paths_that_lead_nowhere_are_refused_in_words() {
        let e = refused(&["batches.3.generate.count=5"]);
        assert!(
            e.contains("`batches` has 1 entry: batches.3 is past its end"),
            "{e}"
        );
        let e = refused(&["batches.generate.count=5"]);
        assert!(e.contains("name an entry by its number from 0"), "{e}");
        let e = refused(&["pool.pool_size.x=5"]);
        assert!(e.contains("`pool.pool_size` is a whole number"), "{e}");
        let e = refused(&["service.latency_ms={ min = 1"]);
        assert!(e.contains("not valid TOML"), "{e}");
        assert!(Override::parse("pool.pool_size").is_err());
        assert!(Override::parse("pool..x=1").is_err());
    }

    #[test]
    fn a_value_nested_thousands_deep_is_refused_before_it_is_read() {
        let deep = format!("name={}", "{ a = [".repeat(5_000));
        let e = refused(&[deep.as_str()]);
        assert!(
            e.contains("key `name`") && e.contains("more than 128 deep"),
            "{e}"
        );
    }

    #[test]
    fn errors_elsewhere_in_the_file_keep_their_line() {
        let text = BASE.replace("gate = \"min\"", "gate = \"mid\"");
        let e = Scenario::parse_with(
            Path::new("base.toml"),
            &text,
            &[Override::parse("pool.pool_size=8").expect("KEY=VALUE")],
            &ScenarioLimits::default(),
        )
        .expect_err("refused")
        .to_string();
        assert!(e.starts_with("base.toml:5:"), "{e}");
        assert!(!e.contains("--set"), "{e}");
    }
}

//! The parser's complaints in the words of the file format: serde speaks of `i64`,
//! `struct RowFile` and `a sequence`; a user wrote "a whole number", "a row" and "a list".
//! The message keeps what was found and what was expected, translated.

use super::source::Source;

/// The file format's words for what serde expected: Rust types and the file's structs.
const EXPECTED: [(&str, &str); 25] = [
    ("u8", "a whole number, 0 or more"),
    ("u16", "a whole number, 0 or more"),
    ("u32", "a whole number, 0 or more"),
    ("u64", "a whole number, 0 or more"),
    ("usize", "a whole number, 0 or more"),
    ("i8", "a whole number"),
    ("i16", "a whole number"),
    ("i32", "a whole number"),
    ("i64", "a whole number"),
    ("f32", "a number"),
    ("f64", "a number"),
    ("a sequence", "a list"),
    ("a map", "a table"),
    ("struct File", "a scenario file"),
    ("struct RawPoolConfig", "a [pool] table"),
    ("struct ServiceFile", "a [service] table"),
    (
        "struct RateLimitFile",
        "a table such as { requests = 10, per_ms = 1000 }",
    ),
    (
        "struct LimitFile",
        "a [[service.limits]] table such as { requests = 500, per_ms = 60000 }",
    ),
    ("struct PhaseFile", "a [[service.phases]] table"),
    (
        "struct OutageFile",
        "a table such as { status = 503, retry_after_ms = 30000 }",
    ),
    ("struct BatchFile", "a [[batches]] table"),
    ("struct RowFile", "a row, a table such as { id = \"A\" }"),
    ("struct GenerateFile", "a table such as { count = 100 }"),
    ("struct EventFile", "an [[events]] table"),
    ("struct ExpectFile", "an [expect] table"),
];

/// What serde found, as the file shows it: `integer `5`` is `5`, `map` a table.
fn found(text: &str) -> String {
    for prefix in ["integer `", "floating point `", "boolean `"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return rest.split('`').next().unwrap_or(rest).to_string();
        }
    }
    match text {
        "map" => "a table".to_string(),
        "sequence" => "a list".to_string(),
        "unit value" => "nothing".to_string(),
        other => match other.strip_prefix("string ") {
            Some(s) => format!("the string {s}"),
            None => other.to_string(),
        },
    }
}

/// What serde expected, in the file format's words.
fn expected(text: &str) -> String {
    let text = text.trim();
    EXPECTED
        .iter()
        .find(|(rust, _)| *rust == text)
        .map_or_else(|| text.to_string(), |(_, words)| words.to_string())
}

/// A parser message in the file format's words. Messages that name no Rust type pass
/// through unchanged.
pub(super) fn in_words(message: &str) -> String {
    for kind in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(kind)
            && let Some((what, wanted)) = rest.rsplit_once(", expected ")
        {
            return format!("expected {}, found {}", expected(wanted), found(what));
        }
    }
    message.to_string()
}

impl Source<'_> {
    /// A parser message about the value at `offset`, in the file format's words; a table
    /// written where a list of tables belongs (`[batches]` for `[[batches]]`) says so.
    pub(super) fn in_words(&self, message: &str, offset: usize) -> String {
        let words = in_words(message);
        let single_header = self
            .text
            .get(offset..)
            .is_some_and(|t| t.starts_with('[') && !t.starts_with("[["));
        match self.header_at(offset) {
            Some(name) if single_header && words.starts_with("expected a list, found a table") => {
                format!("{words}: write [[{name}]], a list of tables, not [{name}]")
            }
            _ => words,
        }
    }

    /// The key of a table header written at `offset` (`[batches]`, `[[events]]`), where
    /// an error about a whole table points.
    pub(super) fn header_at(&self, offset: usize) -> Option<String> {
        let line = self.text.get(offset..)?.lines().next()?.trim();
        let name = line.strip_prefix('[')?.split(']').next()?;
        let name = name.trim_start_matches('[').trim();
        (!name.is_empty()).then(|| name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::in_words;

    #[test]
    fn rust_types_become_the_format_s_words() {
        assert_eq!(
            in_words("invalid type: string \"many\", expected i64"),
            "expected a whole number, found the string \"many\""
        );
        assert_eq!(
            in_words("invalid value: integer `-5`, expected u64"),
            "expected a whole number, 0 or more, found -5"
        );
        assert_eq!(
            in_words("invalid type: integer `99999999999999999999999` as i128, expected u64"),
            "expected a whole number, 0 or more, found 99999999999999999999999"
        );
        assert_eq!(
            in_words("invalid type: string \"A\", expected struct RowFile"),
            "expected a row, a table such as { id = \"A\" }, found the string \"A\""
        );
        assert_eq!(
            in_words("invalid type: map, expected a sequence"),
            "expected a list, found a table"
        );
        assert_eq!(in_words("missing field `name`"), "missing field `name`");
    }
}

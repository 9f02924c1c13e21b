//! What `plain_words` (in `source`) leaves of the parser's Rust: the names of the file's
//! own structs (`a table: RowFile`) become what a user wrote, and a table written where
//! a list of tables belongs (`[batches]` for `[[batches]]`) is named and explained.

use super::source::Source;

/// The file format's words for the tables serde names by their struct.
const TABLES: [(&str, &str); 14] = [
    ("a table: File", "a scenario file"),
    ("a table: RawPoolConfig", "a [pool] table"),
    ("a table: ServiceFile", "a [service] table"),
    (
        "a table: RateLimitFile",
        "a table such as { requests = 10, per_ms = 1000 }",
    ),
    (
        "a table: LimitFile",
        "a [[service.limits]] table such as { requests = 500, per_ms = 60000 }",
    ),
    ("a table: PhaseFile", "a [[service.phases]] table"),
    (
        "a table: OutageFile",
        "a table such as { status = 503, retry_after_ms = 30000 }",
    ),
    ("a table: BatchFile", "a [[batches]] table"),
    ("a table: RowFile", "a row, a table such as { id = \"A\" }"),
    ("a table: GenerateFile", "a table such as { count = 100 }"),
    ("a table: EventFile", "an [[events]] table"),
    ("a table: ExpectFile", "an [expect] table"),
    ("a table: LenientExpect", "an [expect] table"),
    ("a table: PoolOnly", "a file with a [pool] table"),
];

/// `message` with the file's struct names in the format's words.
fn table_words(message: &str) -> String {
    TABLES.iter().fold(message.to_string(), |m, (rust, words)| {
        m.replace(rust, words)
    })
}

impl Source<'_> {
    /// A parser message about the value at `offset` (already in plain words), with the
    /// file's tables named as the format names them; a table written where a list of
    /// tables belongs (`[batches]` for `[[batches]]`) says so.
    pub(super) fn in_words(&self, message: &str, offset: usize) -> String {
        let words = table_words(message);
        let single_header = self
            .text
            .get(offset..)
            .is_some_and(|t| t.starts_with('[') && !t.starts_with("[["));
        match self.header_at(offset) {
            Some(name) if single_header && words.contains("map, expected a list") => {
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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::table_words;

    #[test]
    fn the_file_s_structs_become_the_format_s_words() {
        assert_eq!(
            table_words("invalid type: string \"A\", expected a table: RowFile"),
            "invalid type: string \"A\", expected a row, a table such as { id = \"A\" }"
        );
        assert_eq!(
            table_words("invalid type: integer `5`, expected a table: GenerateFile"),
            "invalid type: integer `5`, expected a table such as { count = 100 }"
        );
        assert_eq!(table_words("missing field `name`"), "missing field `name`");
    }
}

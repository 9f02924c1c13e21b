//! A check on how deep `[` and `{` nest, made before the TOML reader sees the text.
//!
//! The TOML reader refuses nesting deeper than about a hundred levels, but its error
//! recovery does not: a few thousand lines of `results = { [expect]` (an inline table
//! never closed, with a table header inside) make it recurse until the stack overflows
//! and the process aborts, whatever the thread. Counting brackets outside strings and
//! comments is enough to refuse such text first, and no scenario the reader would accept
//! is refused: it never accepts this depth.

use super::ScenarioError;
use std::path::Path;

/// The deepest nesting of `[` and `{` read; deeper text is refused.
pub const MAX_NESTING: usize = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lex {
    Plain,
    Comment,
    Basic,
    Literal,
    MultiBasic,
    MultiLiteral,
}

/// The byte offset of the first bracket nested deeper than [`MAX_NESTING`], if any.
pub(super) fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut lex = Lex::Plain;
    let mut i = 0;
    let starts = |at: usize, what: &[u8]| bytes.get(at..).is_some_and(|r| r.starts_with(what));
    while let Some(&b) = bytes.get(i) {
        match lex {
            Lex::Plain => match b {
                b'#' => lex = Lex::Comment,
                b'"' if starts(i, b"\"\"\"") => {
                    lex = Lex::MultiBasic;
                    i += 2;
                }
                b'\'' if starts(i, b"'''") => {
                    lex = Lex::MultiLiteral;
                    i += 2;
                }
                b'"' => lex = Lex::Basic,
                b'\'' => lex = Lex::Literal,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(i);
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
            // A line break ends a comment, and a one-line string left open (the reader
            // refuses that anyway), so that one stray quote does not hide the rest.
            Lex::Comment | Lex::Basic | Lex::Literal if b == b'\n' => lex = Lex::Plain,
            Lex::Basic if b == b'\\' => i += 1,
            Lex::Basic if b == b'"' => lex = Lex::Plain,
            Lex::Literal if b == b'\'' => lex = Lex::Plain,
            Lex::MultiBasic if b == b'\\' => i += 1,
            Lex::MultiBasic if starts(i, b"\"\"\"") => {
                lex = Lex::Plain;
                i += 2;
            }
            Lex::MultiLiteral if starts(i, b"'''") => {
                lex = Lex::Plain;
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Refuse text nested too deep, pointing at the bracket that went past the limit.
pub(super) fn check(path: &Path, text: &str) -> Result<(), ScenarioError> {
    let Some(offset) = too_deep(text) else {
        return Ok(());
    };
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Err(ScenarioError {
        file: path.to_path_buf(),
        line: Some(line),
        column: Some(column),
        key: None,
        message: format!(
            "`[` and `{{` nested more than {MAX_NESTING} deep (brackets left open): refused before reading"
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_comments_do_not_count() {
        let deep = "[".repeat(MAX_NESTING + 1);
        assert_eq!(too_deep(&deep), Some(MAX_NESTING));
        for hidden in [
            format!("a = \"{deep}\""),
            format!("a = '{deep}'"),
            format!("a = \"\"\"\n{deep}\n\"\"\""),
            format!("a = '''{deep}'''"),
            format!("# {deep}"),
            format!("a = \"\\\"{deep}\""),
        ] {
            assert_eq!(too_deep(&hidden), None, "{hidden}");
        }
        // An open quote ends at the line's end: what follows still counts.
        assert!(too_deep(&format!("a = \"open\n{deep}")).is_some());
        let balanced = "a = [[1], [2]]\n".repeat(10_000);
        assert_eq!(too_deep(&balanced), None);
    }

    #[test]
    fn open_inline_tables_are_refused_before_they_overflow_the_stack() {
        // Found by the fuzz campaign: the TOML reader's recovery recursed once per line
        // and aborted the process, on a 2 MB thread at 2000 lines, on any at 100000.
        let text = format!(
            "name = \"x\"\n[[batches]]\nrows = [{{}}]\n{}",
            "results = { [expect]\n".repeat(5000)
        );
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || super::super::Scenario::parse(Path::new("deep.toml"), &text))
            .expect("thread");
        let e = handle.join().expect("no overflow").expect_err("refused");
        assert_eq!((e.line, e.column), (Some(131), Some(13)));
        assert!(e.message.contains("nested more than 128 deep"), "{e}");
        assert!(super::super::declared_mutant("a = { [b]\n".repeat(5000).as_str()).is_none());
    }
}

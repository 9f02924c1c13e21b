//! The reader against input that breaks the format or its bounds: each is refused with
//! its line and in words, never a panic, never unbounded memory.

use paceline_trace::{ReadError, TraceLimits, TraceReader};

const HEADER: &str = "t_us,event,batch,row,id,attempt,delay_ms,detail\n";

/// Every row of `text`, or the first error.
fn read(text: &[u8], limits: TraceLimits) -> Result<u64, ReadError> {
    let mut reader = TraceReader::with_limits(text, limits)?;
    let mut rows = 0;
    while let Some(row) = reader.next_row() {
        row?;
        rows += 1;
    }
    Ok(rows)
}

fn refused(text: &str) -> ReadError {
    read(text.as_bytes(), TraceLimits::default()).expect_err("refused")
}

fn trace(rows: &str) -> String {
    format!("{HEADER}0,batch_start,0,,,,0,rows=2\n{rows}")
}

#[test]
fn a_well_formed_trace_reads_through() {
    let text = trace("5,dispatch,0,0,A,1,0,\n5,ok,0,0,A,1,0,\n9,batch_end,0,,,,0,\n");
    assert_eq!(read(text.as_bytes(), TraceLimits::default()), Ok(4));
}

#[test]
fn time_going_backwards_is_refused_with_its_line() {
    let e = refused(&trace("5,dispatch,0,0,A,1,0,\n4,ok,0,0,A,1,0,\n"));
    assert_eq!(e.line, 4);
    assert!(
        e.message
            .contains("t_us = 4 comes before the previous event's 5"),
        "{e}"
    );
}

#[test]
fn an_event_of_a_batch_never_started_is_refused() {
    let e = refused(&trace("5,dispatch,1,0,A,1,0,\n"));
    assert_eq!(e.line, 3);
    assert!(
        e.message.contains("batch 1, which has no batch_start"),
        "{e}"
    );
    let e = refused(&trace("5,batch_start,0,,,,0,rows=1\n"));
    assert!(e.message.contains("batch 0 starts a second time"), "{e}");
    let e = refused(&trace("5,dispatch,,0,A,1,0,\n"));
    assert!(e.message.contains("with no batch"), "{e}");
}

#[test]
fn detail_values_a_check_reads_must_parse() {
    for (row, wanted) in [
        (
            "1,batch_start,1,,,,0,rows=many\n",
            "detail `rows` = \"many\"",
        ),
        (
            "1,backoff,0,0,A,1,0,backoff_us=-5\n",
            "detail `backoff_us` = \"-5\"",
        ),
        (
            "1,emit,0,0,A,1,0,result=fine\n",
            "detail `result` = \"fine\"",
        ),
        (
            "1,batch_end,0,,,,0,successes=2;peak_delay_ms=NaN\n",
            "detail `peak_delay_ms` = \"NaN\"",
        ),
    ] {
        let e = refused(&trace(row));
        assert_eq!(e.line, 3, "{row}");
        assert!(e.message.contains(wanted), "{row}: {e}");
    }
}

#[test]
fn the_header_is_checked() {
    let e = refused("t_us,event,row,row\n0,dispatch,0,0\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("`row` twice"), "{e}");
    let e = refused(HEADER);
    assert_eq!(e.line, 2);
    assert!(e.message.contains("a header but no events"), "{e}");
    let e = refused("");
    assert!(e.message.contains("required column `t_us`"), "{e}");
}

#[test]
fn invalid_utf8_is_located_by_byte_offset() {
    let mut bytes = trace("5,dispatch,0,0,A").into_bytes();
    let offset = bytes.len();
    bytes.extend_from_slice(b"\xc3\x28,1,0,\n");
    let e = read(&bytes, TraceLimits::default()).expect_err("refused");
    assert_eq!(e.line, 3);
    assert!(
        e.message
            .contains(&format!("not UTF-8 text: invalid byte at offset {offset}")),
        "{e}"
    );
}

#[test]
fn long_values_are_refused_and_never_echoed_whole() {
    let e = refused(&trace(&format!(
        "5,dispatch,0,0,{},1,0,\n",
        "x".repeat(5000)
    )));
    assert!(e.message.contains("`id`: a value of 5000 bytes"), "{e}");
    assert!(e.message.contains("--max-value-bytes"), "{e}");
    let limits = TraceLimits {
        max_value_bytes: 1 << 20,
        ..TraceLimits::default()
    };
    let long = "9".repeat(100_000);
    let text = trace(&format!("{long},dispatch,0,0,A,1,0,\n"));
    let e = read(text.as_bytes(), limits).expect_err("refused");
    assert!(e.message.len() < 300, "{} bytes: {e}", e.message.len());
    assert!(e.message.contains("(100000 bytes in all)"), "{e}");
}

#[test]
fn a_line_without_end_is_bounded() {
    // Zero bytes and no line break: refused after a bounded read, not read whole.
    let zeros = std::io::Read::take(std::io::repeat(0), 1 << 30);
    let mut text = std::io::Read::chain(HEADER.as_bytes(), zeros);
    let mut reader = TraceReader::with_limits(&mut text, TraceLimits::default()).expect("header");
    let e = reader.next_row().expect("a row").expect_err("refused");
    assert!(e.message.contains("a line longer than"), "{e}");
    let left = std::io::copy(&mut text, &mut std::io::sink()).expect("in memory");
    assert!(
        left > (1 << 29),
        "the reader stopped early ({left} bytes left)"
    );
}

#[test]
fn the_file_size_is_bounded_while_streaming() {
    let limits = TraceLimits {
        max_file_bytes: 200,
        ..TraceLimits::default()
    };
    let mut rows = String::new();
    for t in 0..100 {
        rows.push_str(&format!("{t},ready,0,{},,,0,\n", t % 2));
    }
    let e = read(trace(&rows).as_bytes(), limits).expect_err("refused");
    assert!(
        e.message.contains("larger than the limit of 200 bytes"),
        "{e}"
    );
}

#[test]
fn row_indexes_and_declared_rows_are_bounded() {
    let e = refused(&trace("5,dispatch,0,18446744073709551615,A,1,0,\n"));
    assert!(e.message.contains("row index 18446744073709551615"), "{e}");
    assert!(e.message.contains("--max-rows-per-batch"), "{e}");
    let e = refused(&trace("5,dispatch,0,18446744073709551616,A,1,0,\n"));
    assert!(e.message.contains("expected a whole number"), "{e}");
    let e = refused(&format!(
        "{HEADER}0,batch_start,0,,,,0,rows=1000000000000\n"
    ));
    assert!(e.message.contains("declares 1000000000000 rows"), "{e}");
}

#[test]
fn batches_are_bounded_in_number_and_open_at_once() {
    let limits = TraceLimits {
        max_open_batches: 2,
        max_batches: 3,
        ..TraceLimits::default()
    };
    let open =
        format!("{HEADER}0,batch_start,0,,,,0,\n0,batch_start,1,,,,0,\n0,batch_start,2,,,,0,\n");
    let e = read(open.as_bytes(), limits.clone()).expect_err("refused");
    assert!(e.message.contains("--max-open-batches"), "{e}");
    let mut many = HEADER.to_string();
    for b in 0..4 {
        many.push_str(&format!("0,batch_start,{b},,,,0,\n0,batch_end,{b},,,,0,\n"));
    }
    let e = read(many.as_bytes(), limits).expect_err("refused");
    assert_eq!(e.line, 8);
    assert!(e.message.contains("4 batches"), "{e}");
}

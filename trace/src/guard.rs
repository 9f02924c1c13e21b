//! The bytes under a trace reader, bounded and checked as they stream: the total, the
//! bytes spent on one record, and UTF-8 with the offset of the first bad byte. The CSV
//! parser above it then never holds more than one bounded record, whatever the input
//! (a device of zeros, a pipe that never ends, a binary file).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;
use std::io;

/// Why the guard stopped the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// More bytes than `limit` in all.
    TooLarge { limit: u64 },
    /// One record took more than `limit` bytes.
    LongLine { limit: u64 },
    /// Not UTF-8 at this 0-based byte offset, on this 1-based line.
    Utf8 { offset: u64, line: u64 },
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::TooLarge { limit } => write!(
                f,
                "the trace is larger than the limit of {limit} bytes (raise it with --max-trace-bytes)"
            ),
            Stop::LongLine { limit } => write!(
                f,
                "a line longer than the limit of {limit} bytes (16 values; raise it with --max-value-bytes)"
            ),
            Stop::Utf8 { offset, .. } => {
                write!(f, "not UTF-8 text: invalid byte at offset {offset}")
            }
        }
    }
}

impl std::error::Error for Stop {}

/// Wraps the input of the CSV parser.
pub(crate) struct Guard<R> {
    inner: R,
    /// Bytes handed on so far.
    read: u64,
    max_total: u64,
    /// Bytes handed on since the reader started its current record.
    since_mark: u64,
    max_since_mark: u64,
    /// Line breaks handed on so far.
    newlines: u64,
    /// The start of a UTF-8 sequence cut by the end of the previous chunk.
    carry: [u8; 4],
    carried: usize,
}

impl<R> Guard<R> {
    /// `max_record` bytes for one record, to which the parser's read-ahead `slack` is
    /// added (it may read that much past a record's end while reading it).
    pub(crate) fn new(inner: R, max_total: u64, max_record: u64, slack: u64) -> Self {
        Guard {
            inner,
            read: 0,
            max_total,
            since_mark: 0,
            max_since_mark: max_record.saturating_add(slack),
            newlines: 0,
            carry: [0; 4],
            carried: 0,
        }
    }

    /// A record starts: count its bytes from here.
    pub(crate) fn mark(&mut self) {
        self.since_mark = 0;
    }

    /// Check the UTF-8 of `chunk`, continuing any sequence the previous chunk cut.
    fn check_utf8(&mut self, chunk: &[u8]) -> Result<(), Stop> {
        let start = self.read;
        let carry_start = start.saturating_sub(self.carried as u64);
        let mut rest = chunk;
        while self.carried > 0 {
            let Some((&byte, tail)) = rest.split_first() else {
                return Ok(());
            };
            if let Some(slot) = self.carry.get_mut(self.carried) {
                *slot = byte;
            }
            self.carried += 1;
            rest = tail;
            let carry = self.carry.get(..self.carried).unwrap_or_default();
            match std::str::from_utf8(carry) {
                Ok(_) => self.carried = 0,
                Err(e) if e.error_len().is_none() && self.carried < 4 => {}
                Err(e) => {
                    // The cut sequence started before this chunk, on the current line.
                    self.carried = 0;
                    return Err(Stop::Utf8 {
                        offset: carry_start + e.valid_up_to() as u64,
                        line: self.newlines + 1,
                    });
                }
            }
        }
        let done = chunk.len() - rest.len();
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) => {
                let at = done + e.valid_up_to();
                match e.error_len() {
                    Some(_) => Err(self.utf8_error(start + at as u64, chunk, at)),
                    None => {
                        let tail = chunk.get(at..).unwrap_or_default();
                        self.carried = tail.len().min(4);
                        for (slot, &b) in self.carry.iter_mut().zip(tail) {
                            *slot = b;
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// The error for a bad byte at `offset`, `at` bytes into `chunk`.
    fn utf8_error(&self, offset: u64, chunk: &[u8], at: usize) -> Stop {
        let before = chunk.get(..at).unwrap_or_default();
        let line = self.newlines + count_newlines(before) + 1;
        Stop::Utf8 { offset, line }
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn stop(reason: Stop) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

impl<R: io::Read> io::Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        if n == 0 && self.carried > 0 {
            // The input ends inside a sequence.
            let offset = self.read.saturating_sub(self.carried as u64);
            let line = self.newlines + 1;
            self.carried = 0;
            return Err(stop(Stop::Utf8 { offset, line }));
        }
        self.check_utf8(chunk).map_err(stop)?;
        self.read += n as u64;
        self.since_mark += n as u64;
        self.newlines += count_newlines(chunk);
        if self.read > self.max_total {
            return Err(stop(Stop::TooLarge {
                limit: self.max_total,
            }));
        }
        if self.since_mark > self.max_since_mark {
            return Err(stop(Stop::LongLine {
                limit: self.max_since_mark,
            }));
        }
        Ok(n)
    }
}

/// The guard's reason, if `e` is one.
pub(crate) fn stopped(e: &io::Error) -> Option<&Stop> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Stop>())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Hands its bytes over `step` at a time, to cut sequences at every place.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn read_all(bytes: &[u8], step: usize) -> Result<Vec<u8>, Stop> {
        let mut g = Guard::new(Trickle { bytes, step }, 1 << 20, 1 << 20, 0);
        let mut out = Vec::new();
        g.read_to_end(&mut out)
            .map_err(|e| stopped(&e).cloned().expect("a guard stop"))?;
        Ok(out)
    }

    #[test]
    fn utf8_cut_anywhere_passes_and_bad_bytes_are_located() {
        let text = "a,é,€,𝄞\nb,ü\n".as_bytes();
        for step in 1..8 {
            assert_eq!(read_all(text, step).expect("valid"), text, "step {step}");
        }
        let mut bad = b"t_us,event,row\n0,ok,0\n1,ok,".to_vec();
        bad.push(0xff);
        for step in 1..8 {
            assert_eq!(
                read_all(&bad, step),
                Err(Stop::Utf8 {
                    offset: 27,
                    line: 3
                }),
                "step {step}"
            );
        }
        // A sequence cut by the end of the input, and one broken in its middle.
        let cut = [b'a', 0xe2, 0x82];
        assert_eq!(read_all(&cut, 1), Err(Stop::Utf8 { offset: 1, line: 1 }));
        let broken = [b'a', b'\n', 0xe2, b'x'];
        for step in 1..4 {
            assert_eq!(
                read_all(&broken, step),
                Err(Stop::Utf8 { offset: 2, line: 2 }),
                "step {step}"
            );
        }
    }

    #[test]
    fn totals_and_records_are_bounded() {
        let mut g = Guard::new(io::repeat(b'0'), 100, 1 << 20, 0);
        let e = g.read_to_end(&mut Vec::new()).expect_err("bounded");
        assert_eq!(stopped(&e), Some(&Stop::TooLarge { limit: 100 }));
        let mut g = Guard::new(io::repeat(b'0'), u64::MAX, 64, 0);
        let e = g.read_to_end(&mut Vec::new()).expect_err("bounded");
        assert_eq!(stopped(&e), Some(&Stop::LongLine { limit: 64 }));
    }
}

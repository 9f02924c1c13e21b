//! Standard output that ends quietly when its reader goes away.
//!
//! Rust ignores SIGPIPE, so `println!` panics when `paceline replay ... | head -1` closes
//! the pipe. Everything the CLI prints goes through [`out!`] and [`outln!`] instead, and
//! a broken pipe ends the process at once with exit code 141 (128 + SIGPIPE, what a shell
//! reports for a program the signal ended), printing nothing more. `println!` and
//! `print!` are disallowed in `clippy.toml` so that no command slips back.

use std::fmt;
use std::io::{self, Write};

/// The exit code after a broken pipe: 128 + SIGPIPE (13).
pub const BROKEN_PIPE: i32 = 141;

/// Write to standard output; on a broken pipe, exit quietly with [`BROKEN_PIPE`].
pub fn write(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        quit(&e);
    }
}

/// End the process after a failed write to standard output.
fn quit(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE);
    }
    // Nothing else to print to: say why on standard error.
    let _ = writeln!(
        io::stderr(),
        "paceline: cannot write to standard output: {e}"
    );
    std::process::exit(2);
}

/// `print!` that ends quietly on a broken pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::pipe::write(format_args!($($arg)*)) };
}

/// `println!` that ends quietly on a broken pipe.
macro_rules! outln {
    () => { $crate::pipe::write(format_args!("\n")) };
    ($($arg:tt)*) => {{
        $crate::pipe::write(format_args!($($arg)*));
        $crate::pipe::write(format_args!("\n"));
    }};
}

pub(crate) use {out, outln};

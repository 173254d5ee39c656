//! Printing to standard output without panicking. `println!` panics when standard output is
//! closed (`training ... | head -1`) or cannot take more (`> /dev/full`); every line the
//! `training` and `infer` binaries print goes through [`line`] (or the [`say!`](crate::say)
//! macro), which returns the error instead, so they end with a clear message, not a panic.

use std::fmt::Arguments;
use std::io::Write;

use anyhow::{Result, anyhow};

/// Writes one line to standard output and flushes it.
pub fn line(text: Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(text)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| anyhow!("cannot write to standard output: {e}"))
}

/// `println!` that returns an error (see [`line`]) instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::line(format_args!($($arg)*))
    };
}

//! Line framing shared by the line-oriented formats (JSON lines, text).
//!
//! Both read one line at a time through a `BufReader` with a cap on the line length, so a
//! binary file taken for text cannot make the reader buffer the whole file.

use std::io::{self, BufRead, Read};

/// Longest line accepted (a 16 MiB datagram in base64 fits).
pub const MAX_LINE_LEN: usize = 24 << 20;

/// One line read by [`read_line`].
pub(crate) enum LineRead {
    /// No more data.
    End,
    /// A line (in the caller's buffer, without its `\n`); `terminated` is false for a last
    /// line without a newline.
    Line { terminated: bool, raw_len: usize },
    /// A line longer than [`MAX_LINE_LEN`].
    TooLong,
}

/// Reads the next line into `buf` (cleared first), without its `\n`.
pub(crate) fn read_line(src: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    buf.clear();
    let n = src.take(MAX_LINE_LEN as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(LineRead::End);
    }
    let terminated = buf.last() == Some(&b'\n');
    if terminated {
        buf.pop();
    } else if n > MAX_LINE_LEN {
        return Ok(LineRead::TooLong);
    }
    Ok(LineRead::Line {
        terminated,
        raw_len: n,
    })
}

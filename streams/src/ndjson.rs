//! A fast NDJSON line reader for `vigil replay` and `vigil publish`.
//!
//! [`NdjsonReader`] reads big blocks and hands out each line as a slice of its buffer, so no line
//! is copied or allocated. Lines end at `\n`; a trailing `\r` is removed, a final line without a
//! newline is read, and a UTF-8 byte-order mark at the start of the input is skipped. Lines of
//! only whitespace are reported as [`Line::Blank`] so the caller can ignore them without counting
//! them as rejected. A line longer than the limit is skipped and reported as
//! [`Line::TooLong`], so one bad line cannot make the reader hold an unbounded amount of memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Bytes read from the input at a time.
pub const READ_CHUNK: usize = 256 * 1024;
/// Default longest line kept; events are at most 64 KiB, so this leaves room for padding.
pub const DEFAULT_MAX_LINE: usize = 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why the input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NdjsonError {
    /// The input file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Reading failed after `line` lines.
    #[error("read error after line {line}: {source}")]
    Read {
        /// Lines read before the error.
        line: u64,
        /// The I/O error.
        source: io::Error,
    },
}

/// One line of input, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line with content (without its line ending).
    Data {
        /// Line number.
        number: u64,
        /// The bytes of the line.
        bytes: &'a [u8],
    },
    /// An empty or whitespace-only line.
    Blank {
        /// Line number.
        number: u64,
    },
    /// A line longer than the reader's limit; its bytes were skipped.
    TooLong {
        /// Line number.
        number: u64,
        /// Its length in bytes.
        len: usize,
    },
}

/// Counts of the lines read by [`read_lines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineCounts {
    /// Every line, blank or not.
    pub lines: u64,
    /// Blank lines among them.
    pub blank: u64,
    /// Lines over the limit among them.
    pub too_long: u64,
}

/// Reads NDJSON lines from any reader, one borrowed line at a time.
pub struct NdjsonReader<R> {
    input: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    max_line: usize,
    line: u64,
    eof: bool,
}

impl<R> std::fmt::Debug for NdjsonReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonReader")
            .field("line", &self.line)
            .field("buffered", &(self.end - self.start))
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl NdjsonReader<Box<dyn Read + Send>> {
    /// Opens a file, or standard input when `path` is `-`.
    pub fn open(path: &Path) -> Result<Self, NdjsonError> {
        let input: Box<dyn Read + Send> = if path == Path::new("-") {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).map_err(|source| NdjsonError::Open {
                path: path.to_path_buf(),
                source,
            })?)
        };
        Ok(NdjsonReader::new(input))
    }
}

impl<R: Read> NdjsonReader<R> {
    /// A reader keeping lines of up to [`DEFAULT_MAX_LINE`] bytes.
    pub fn new(input: R) -> Self {
        NdjsonReader::with_max_line(input, DEFAULT_MAX_LINE)
    }

    /// A reader keeping lines of up to `max_line` bytes (longer ones are [`Line::TooLong`]).
    pub fn with_max_line(input: R, max_line: usize) -> Self {
        NdjsonReader {
            input,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            max_line: max_line.max(1),
            line: 0,
            eof: false,
        }
    }

    /// The next line, or `None` at the end of input.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, NdjsonError> {
        // Bytes of an over-long line already thrown away; once non-zero it exceeds the limit.
        let mut skipped = 0;
        loop {
            let pending = &self.buf[self.start..self.end];
            let newline = memchr::memchr(b'\n', pending);
            let len = newline.unwrap_or(pending.len());
            if skipped + len > self.max_line {
                skipped += len;
                // Keep nothing of an over-long line; resume after its newline.
                self.start += newline.map_or(len, |n| n + 1);
                if newline.is_some() || (self.eof && self.start == self.end) {
                    self.line += 1;
                    return Ok(Some(Line::TooLong {
                        number: self.line,
                        len: skipped,
                    }));
                }
            } else if let Some(n) = newline {
                let (from, to) = (self.start, self.start + n);
                self.start = to + 1;
                return Ok(Some(self.classify(from, to)));
            } else if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let (from, to) = (self.start, self.end);
                self.start = self.end;
                return Ok(Some(self.classify(from, to)));
            }
            self.fill()?;
        }
    }

    /// Numbers and classifies `buf[from..to]`, a whole line within the limit.
    fn classify(&mut self, from: usize, to: usize) -> Line<'_> {
        self.line += 1;
        let number = self.line;
        let mut bytes = &self.buf[from..to];
        if number == 1 {
            bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        }
        if let [rest @ .., b'\r'] = bytes {
            bytes = rest;
        }
        if bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            Line::Blank { number }
        } else {
            Line::Data { number, bytes }
        }
    }

    /// Reads more input after the unconsumed bytes, moving them to the front and growing the
    /// buffer (up to the line limit plus a chunk) when a line does not fit.
    fn fill(&mut self) -> Result<(), NdjsonError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(self.max_line + READ_CHUNK);
            self.buf.resize(grown.max(self.buf.len() + 1), 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(NdjsonError::Read {
                        line: self.line,
                        source,
                    })
                }
            }
        }
    }
}

/// Reads every line of `input`, calling `on_line` for each (blank and over-long lines too),
/// and returns the counts.
pub fn read_lines<R: Read>(
    input: R,
    mut on_line: impl FnMut(Line<'_>),
) -> Result<LineCounts, NdjsonError> {
    let mut reader = NdjsonReader::new(input);
    let mut counts = LineCounts::default();
    while let Some(line) = reader.next_line()? {
        counts.lines += 1;
        match line {
            Line::Blank { .. } => counts.blank += 1,
            Line::TooLong { .. } => counts.too_long += 1,
            Line::Data { .. } => {}
        }
        on_line(line);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max_line: usize) -> Vec<String> {
        let mut reader = NdjsonReader::with_max_line(input, max_line);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(match line {
                Line::Data { number, bytes } => {
                    format!("{number}:{}", String::from_utf8_lossy(bytes))
                }
                Line::Blank { number } => format!("{number}:blank"),
                Line::TooLong { number, len } => format!("{number}:too_long({len})"),
            });
        }
        out
    }

    #[test]
    fn lines_endings_blanks_and_a_final_line_without_newline() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n   \t\r\n{\"b\":2}\n{\"c\":3}";
        assert_eq!(
            collect(input, DEFAULT_MAX_LINE),
            [
                "1:{\"a\":1}",
                "2:blank",
                "3:blank",
                "4:{\"b\":2}",
                "5:{\"c\":3}"
            ]
        );
        assert!(collect(b"", DEFAULT_MAX_LINE).is_empty());
        assert_eq!(collect(b"\n", DEFAULT_MAX_LINE), ["1:blank"]);
    }

    #[test]
    fn over_long_lines_are_skipped_and_reported() {
        let input = b"short\nthis line is long\nok\nlong without newline";
        assert_eq!(
            collect(input, 8),
            ["1:short", "2:too_long(17)", "3:ok", "4:too_long(20)"]
        );
    }

    #[test]
    fn lines_spanning_many_reads_are_whole() {
        // Lines longer than a read chunk, split across reads of odd sizes.
        let long = "x".repeat(READ_CHUNK + 17);
        let text = format!("{long}\n{{}}\n{long}\n");
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(7919);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut lens = Vec::new();
        let counts = read_lines(Trickle(text.as_bytes()), |line| {
            if let Line::Data { bytes, .. } = line {
                lens.push(bytes.len());
            }
        })
        .unwrap();
        assert_eq!(lens, [long.len(), 2, long.len()]);
        assert_eq!(
            counts,
            LineCounts {
                lines: 3,
                blank: 0,
                too_long: 0
            }
        );
    }

    #[test]
    fn open_reports_the_missing_path() {
        let err = NdjsonReader::open(Path::new("/nonexistent/vigil.ndjson")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/vigil.ndjson"),
            "{err}"
        );
    }
}

//! `vigil-load decode`: the replay's floor. Reads an NDJSON event file and decodes every line
//! the way `vigil replay`'s reader does, on one thread, and nothing else: no engine, no output.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use vigil_streams::ndjson::{Line, NdjsonReader};

use crate::report::{figure, rate};

/// Decodes every line of `input`; prints `events`, `decode_rejected` and
/// `decoded_events_per_sec`.
pub fn run(input: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(input)
        .with_context(|| format!("cannot open input file {}", input.display()))?;
    let started = Instant::now();
    let mut lines = NdjsonReader::new(file);
    let (mut events, mut rejected) = (0u64, 0u64);
    while let Some(line) = lines.next_line().context("cannot read the input")? {
        match line {
            Line::Blank { .. } => continue,
            Line::Data { bytes, .. } => {
                if vigil_schema::decode(bytes).is_err() {
                    rejected += 1;
                }
            }
            Line::TooLong { .. } => rejected += 1,
        }
        events += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    figure("events", events);
    figure("decode_rejected", rejected);
    rate("decoded_events_per_sec", events, seconds);
    Ok(())
}

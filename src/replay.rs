//! `vigil replay`: the engine in event time over an NDJSON file of events.
//!
//! Three threads: one reads and decodes lines in batches, one runs the event-time driver, and
//! one writes the alert records, deriving their alert ids (the engine runs here with
//! [`EngineSettings::alert_ids`] off). A bad line is counted as rejected and skipped.

use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use vigil_engine::{
    AlertRecord, AlertState, EngineSettings, EventTimeDriver, Level, PolicyBook, Sink,
};
use vigil_schema::{decode, Event, RejectReason, Rejection};
use vigil_streams::ndjson::{self, NdjsonReader};

/// Lines decoded per batch handed from the reader thread to the engine.
const BATCH: usize = 4096;
/// Batches in flight between the threads.
const BATCHES_IN_FLIGHT: usize = 2;

/// Totals of one replay; printed as the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Non-blank input lines.
    pub events: u64,
    /// Lines not applied.
    pub rejected: u64,
    /// Warnings fired.
    pub warnings: u64,
    /// Breaches fired.
    pub breaches: u64,
    /// Alerts resolved.
    pub resolved: u64,
    /// Alerts retracted.
    pub retracted: u64,
}

/// Counts what the engine reports and hands alert records to the writer thread in batches.
struct Output {
    batch: Vec<AlertRecord>,
    to_writer: SyncSender<Vec<AlertRecord>>,
    /// Batches the writer has emptied, to fill again.
    written: Receiver<Vec<AlertRecord>>,
    summary: ReplaySummary,
}

impl Output {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let empty = self
                .written
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH));
            let batch = std::mem::replace(&mut self.batch, empty);
            // A closed writer has failed; its error is reported when it is joined.
            let _ = self.to_writer.send(batch);
        }
    }
}

impl Sink<()> for Output {
    fn applied(&mut self, _: &Event, _: ()) {}

    fn rejected(&mut self, event: &Event, _: (), rejection: Rejection) {
        self.summary.rejected += 1;
        tracing::debug!(tenant_id = event.tenant_id, ticket_id = %event.ticket_id,
            event_id = %event.event_id, reason = %rejection.reason, "event rejected: {}", rejection.message());
    }

    fn alert(&mut self, record: AlertRecord) {
        match (record.state, record.level) {
            (AlertState::Firing, Level::Warning) => self.summary.warnings += 1,
            (AlertState::Firing, Level::Breach) => self.summary.breaches += 1,
            (AlertState::Resolved, _) => self.summary.resolved += 1,
            (AlertState::Retracted, _) => self.summary.retracted += 1,
            (AlertState::Acknowledged, _) => {}
        }
        self.batch.push(record);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }
}

/// One decoded input line.
enum Line {
    Event(Event),
    Bad(Rejection),
}

/// Runs a replay from `input` (`-` for stdin) to `output` (stdout when `None`).
pub fn run(
    book: Arc<PolicyBook>,
    settings: Arc<EngineSettings>,
    lateness_ms: i64,
    input: &Path,
    output: Option<&Path>,
) -> anyhow::Result<(ReplaySummary, f64)> {
    let reader: Box<dyn Read + Send> = if input == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(
            std::fs::File::open(input)
                .with_context(|| format!("cannot open input file {}", input.display()))?,
        )
    };
    let out: Box<dyn Write + Send> = match output {
        None => Box::new(io::stdout()),
        Some(p) => Box::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create output file {}", p.display()))?,
        ),
    };
    let started = Instant::now();
    let (tx, rx) = sync_channel::<io::Result<Vec<Line>>>(BATCHES_IN_FLIGHT);
    // Emptied batches go back to be filled again, so batches are not allocated on one thread
    // and freed on another for every 4,096 lines.
    let (to_reader, applied) = sync_channel::<Vec<Line>>(BATCHES_IN_FLIGHT + 2);
    let reader_thread = std::thread::Builder::new()
        .name("replay-read".into())
        .spawn(move || {
            let mut lines = NdjsonReader::new(reader);
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let line = match lines.next_line() {
                    Ok(Some(line)) => line,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(io::Error::other(e)));
                        return;
                    }
                };
                batch.push(match line {
                    ndjson::Line::Blank { .. } => continue,
                    ndjson::Line::Data { bytes, .. } => match decode(bytes) {
                        Ok(e) => Line::Event(e),
                        Err(r) => Line::Bad(r),
                    },
                    ndjson::Line::TooLong { .. } => Line::Bad(Rejection::new(
                        RejectReason::InvalidField,
                        "event is larger than 64 KiB",
                    )),
                });
                if batch.len() == BATCH {
                    let empty = applied
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    if tx.send(Ok(std::mem::replace(&mut batch, empty))).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(batch));
        })
        .context("cannot start the reader thread")?;
    let (to_writer, from_engine) = sync_channel::<Vec<AlertRecord>>(BATCHES_IN_FLIGHT);
    let (to_engine, written) = sync_channel::<Vec<AlertRecord>>(BATCHES_IN_FLIGHT + 2);
    let writer_thread = std::thread::Builder::new()
        .name("replay-write".into())
        .spawn(move || -> io::Result<()> {
            let mut out = BufWriter::with_capacity(1 << 16, out);
            for mut batch in from_engine {
                for mut record in batch.drain(..) {
                    record.derive_alert_id();
                    serde_json::to_writer(&mut out, &record)?;
                    out.write_all(b"\n")?;
                }
                let _ = to_engine.try_send(batch);
            }
            out.flush()
        })
        .context("cannot start the writer thread")?;
    // The writer thread derives the alert ids, off the engine's thread.
    let settings = Arc::new(EngineSettings {
        alert_ids: false,
        ..(*settings).clone()
    });
    let mut driver = EventTimeDriver::new(book, settings, lateness_ms);
    let mut sink = Output {
        batch: Vec::with_capacity(BATCH),
        to_writer,
        written,
        summary: ReplaySummary::default(),
    };
    for batch in rx {
        let mut batch = batch.context("cannot read the input")?;
        for line in batch.drain(..) {
            sink.summary.events += 1;
            match line {
                Line::Event(e) => driver.offer(e, (), &mut sink),
                Line::Bad(r) => {
                    sink.summary.rejected += 1;
                    tracing::debug!(reason = %r.reason, "bad input line: {}", r.message());
                }
            }
        }
        let _ = to_reader.try_send(batch);
    }
    driver.finish(&mut sink);
    sink.flush();
    let summary = sink.summary;
    drop(sink);
    let _ = reader_thread.join();
    match writer_thread.join() {
        Ok(written) => written.context("cannot write the alert records")?,
        Err(_) => anyhow::bail!("the alert writer thread failed"),
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        summary.events as f64 / secs
    } else {
        0.0
    };
    Ok((summary, rate))
}

impl ReplaySummary {
    /// The summary line: `events=… rejected=… warnings=… breaches=… resolved=… retracted=… events_per_sec=…`.
    pub fn line(&self, events_per_sec: f64) -> String {
        format!(
            "events={} rejected={} warnings={} breaches={} resolved={} retracted={} events_per_sec={:.0}",
            self.events,
            self.rejected,
            self.warnings,
            self.breaches,
            self.resolved,
            self.retracted,
            events_per_sec
        )
    }
}

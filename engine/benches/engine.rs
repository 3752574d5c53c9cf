//! Benchmarks of the per-event engine path, the figure behind `vigil replay`'s throughput.
//!
//! - `engine/decode`: JSON decode and validation of each line.
//! - `engine/decode_offer`: decode + [`EventTimeDriver::offer`] (+ `finish`) over the whole
//!   workload with a fresh driver per pass: what `vigil replay` does per event, without file
//!   reading and alert writing.
//! - `engine/apply`: [`TenantEngine::apply`] alone on pre-decoded events (no reorder buffer,
//!   no wake-ups, no dedupe).
//! - `calendar/business_between`, `calendar/add_business`: a Monday–Friday business calendar.
//! - `snapshot/write`, `snapshot/restore`: one tenant with [`SNAPSHOT_TICKETS`] open tickets
//!   of all four priorities (the older ones past some thresholds) to a snapshot (state +
//!   encode) and back (decode + restore); the snapshot's size is printed once. Its baseline,
//!   `snapshot/rebuild_by_replay`: the same tenant rebuilt from its events (decode + apply),
//!   which is what a restart without a snapshot does.
//!
//! The workload is vigil-peers' generator (the benchmark file's mix and density), 200,000
//! events in memory. Run with `cargo bench -p vigil-engine --bench engine`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use vigil_engine::calendar::CalendarSpec;
use vigil_engine::calendar::{BusinessCalendar, Calendar};
use vigil_engine::policy::PolicySpec;
use vigil_engine::{AlertRecord, EngineSettings, EventTimeDriver, PolicyBook, Sink, TenantEngine};
use vigil_peers::rng::Rng;
use vigil_peers::workload::Workload;
use vigil_schema::{decode, parse_instant, Event, Rejection};

/// The allocator of `vigil`, so figures match `vigil replay`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events in the in-memory workload.
const EVENTS: u64 = 200_000;
/// Tenants of the workload (as in the 1,000,000-event file).
const TENANTS: u64 = 1_000;
/// The service's default allowed lateness.
const LATENESS_MS: i64 = 300_000;
/// Open tickets of the snapshot benchmark's tenant.
const SNAPSHOT_TICKETS: u64 = 100_000;
/// Instants per calendar benchmark iteration.
const CALENDAR_QUERIES: usize = 1024;

/// The workload as NDJSON and the byte range of each line.
struct Lines {
    text: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Lines {
    fn generate() -> Lines {
        // The 1,000,000-event file spreads tickets over 7 days: keep its density.
        let days = 7.0 * EVENTS as f64 / 1_000_000.0;
        let workload = Workload {
            events: EVENTS,
            tenants: TENANTS,
            first_tenant: 1,
            span_ms: (days * 86_400_000.0) as i64,
            start: parse_instant("2026-11-02T00:00:00Z").expect("a valid instant"),
            seed: 42,
            delay_scale: 1.0,
            shuffle_ms: 0,
        };
        let mut text = Vec::new();
        workload
            .write(&mut text)
            .expect("writing to memory cannot fail");
        let mut ranges = Vec::with_capacity(EVENTS as usize + 16);
        let mut start = 0;
        for (i, b) in text.iter().enumerate() {
            if *b == b'\n' {
                ranges.push((start, i));
                start = i + 1;
            }
        }
        Lines { text, ranges }
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges.iter().map(|&(a, b)| &self.text[a..b])
    }

    fn len(&self) -> u64 {
        self.ranges.len() as u64
    }
}

fn default_book() -> Arc<PolicyBook> {
    Arc::new(
        PolicyBook::build(&PolicySpec::default(), &BTreeMap::new(), &BTreeMap::new())
            .expect("the built-in policy compiles"),
    )
}

/// Counts what the driver reports, as cheaply as `vigil replay`'s counters.
#[derive(Default)]
struct Count {
    applied: u64,
    rejected: u64,
    alerts: u64,
}

impl Sink<()> for Count {
    fn applied(&mut self, _: &Event, _: ()) {
        self.applied += 1;
    }
    fn rejected(&mut self, _: &Event, _: (), _: Rejection) {
        self.rejected += 1;
    }
    fn alert(&mut self, record: AlertRecord) {
        black_box(&record);
        self.alerts += 1;
    }
}

fn engine(c: &mut Criterion) {
    let lines = Lines::generate();
    let book = default_book();
    let settings = Arc::new(EngineSettings::default());
    let mut group = c.benchmark_group("engine");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(lines.len()));

    group.bench_function("decode", |b| {
        b.iter(|| {
            for line in lines.iter() {
                let _ = black_box(decode(line));
            }
        })
    });

    group.bench_function("decode_offer", |b| {
        b.iter(|| {
            let mut driver = EventTimeDriver::new(book.clone(), settings.clone(), LATENESS_MS);
            let mut sink = Count::default();
            for line in lines.iter() {
                match decode(line) {
                    Ok(event) => driver.offer(event, (), &mut sink),
                    Err(_) => sink.rejected += 1,
                }
            }
            driver.finish(&mut sink);
            black_box((sink.applied, sink.rejected, sink.alerts))
        })
    });

    let events: Vec<Event> = lines.iter().filter_map(|l| decode(l).ok()).collect();
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("apply", |b| {
        b.iter_batched(
            || {
                (0..=TENANTS)
                    .map(|t| TenantEngine::new(t, book.clone(), settings.clone()))
                    .collect::<Vec<_>>()
            },
            |mut engines| {
                let mut out = Vec::new();
                let mut rejected = 0u64;
                for event in &events {
                    let engine = &mut engines[event.tenant_id as usize];
                    if engine.apply(event, &mut out).is_err() {
                        rejected += 1;
                    }
                    out.clear();
                }
                black_box(rejected);
                engines
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn business_calendar() -> Calendar {
    let spec = CalendarSpec {
        timezone: "Asia/Shanghai".into(),
        hours: ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| (d.to_string(), "09:00-12:00,13:00-18:00".to_string()))
            .collect(),
        holidays: vec![
            "2026-10-01".into(),
            "2026-12-25".into(),
            "2027-01-01".into(),
        ],
    };
    Calendar::Business(Box::new(
        BusinessCalendar::new("business", &spec).expect("a valid calendar"),
    ))
}

fn calendar(c: &mut Criterion) {
    let cal = business_calendar();
    let start = parse_instant("2026-06-01T00:00:00Z").expect("a valid instant");
    let mut rng = Rng::new(7);
    let week: u64 = 7 * 86_400_000;
    // Spans from minutes to a few weeks, some crossing into the next year.
    let queries: Vec<(i64, i64)> = (0..CALENDAR_QUERIES)
        .map(|_| {
            let from = start + rng.below(220 * 86_400_000) as i64;
            (from, rng.below(3 * week) as i64)
        })
        .collect();
    // Build every year's windows before measuring.
    for &(from, span) in &queries {
        black_box(cal.business_between(from, from + span));
        black_box(cal.add_business(from, span / 4));
    }
    let mut group = c.benchmark_group("calendar");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("business_between", |b| {
        b.iter(|| {
            for &(from, span) in &queries {
                black_box(cal.business_between(black_box(from), from + span));
            }
        })
    });
    group.bench_function("add_business", |b| {
        b.iter(|| {
            for &(from, span) in &queries {
                // A quarter of the span in business time: up to about three weeks of hours.
                black_box(cal.add_business(black_box(from), span / 4));
            }
        })
    });
    group.finish();
}

/// The events that open [`SNAPSHOT_TICKETS`] tickets of one tenant, two a second, as NDJSON
/// lines, and the instant an hour past the middle one.
fn open_ticket_lines() -> (Vec<String>, i64) {
    let start = parse_instant("2026-11-02T00:00:00Z").expect("a valid instant");
    let lines = (0..SNAPSHOT_TICKETS)
        .map(|i| {
            let at = start + (i as i64) * 500;
            let priority = ["CRITICAL", "HIGH", "MEDIUM", "LOW"][(i % 4) as usize];
            format!(
                r#"{{"schema":1,"event_id":"e{i}","event_type":"ticket.created","tenant_id":1,"ticket_id":"TKT-{i}","occurred_at":"{}","priority":"{priority}","service_type":"network"}}"#,
                vigil_schema::format_instant(at)
            )
        })
        .collect();
    (lines, start + (SNAPSHOT_TICKETS as i64) * 250 + 3_600_000)
}

/// The tenant those lines make: what a restart without a snapshot rebuilds (decode, apply).
fn rebuild(
    lines: &[String],
    until: i64,
    book: &Arc<PolicyBook>,
    settings: &Arc<EngineSettings>,
) -> TenantEngine {
    let mut engine = TenantEngine::new(1, book.clone(), settings.clone());
    let mut out = Vec::new();
    for line in lines {
        let event = decode(line.as_bytes()).expect("a valid event");
        engine.advance(event.occurred_at, false, &mut out);
        let _ = engine.apply(&event, &mut out);
    }
    engine.advance(until, false, &mut out);
    engine
}

fn snapshot(c: &mut Criterion) {
    let book = default_book();
    let settings = Arc::new(EngineSettings::default());
    let (lines, until) = open_ticket_lines();
    let engine = rebuild(&lines, until, &book, &settings);
    let bytes = vigil_engine::snapshot::encode(&engine.to_state()).expect("state encodes");
    eprintln!(
        "snapshot of {} open tickets: {} bytes ({:.0} bytes per ticket)",
        engine.open_tickets(),
        bytes.len(),
        bytes.len() as f64 / engine.open_tickets() as f64
    );
    let mut group = c.benchmark_group("snapshot");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .throughput(Throughput::Elements(SNAPSHOT_TICKETS));
    group.bench_function("write", |b| {
        b.iter(|| vigil_engine::snapshot::encode(&black_box(&engine).to_state()))
    });
    group.bench_function("rebuild_by_replay", |b| {
        b.iter(|| rebuild(black_box(&lines), until, &book, &settings))
    });
    group.bench_function("restore", |b| {
        b.iter(|| {
            let state = vigil_engine::snapshot::decode(black_box(&bytes)).expect("it decodes");
            TenantEngine::from_state(state, book.clone(), settings.clone()).expect("it restores")
        })
    });
    group.finish();
}

criterion_group!(benches, engine, calendar, snapshot);
criterion_main!(benches);

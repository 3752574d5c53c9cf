//! SLA reports and what-if on a month of one tenant's history, on this machine:
//!
//! - `reports/<format>`: a monthly report (computed from the store's rollups and facts, then
//!   rendered) over **1,000,000 goal outcomes**, in JSON, CSV, Excel and PDF. Targets: under 5 s
//!   for JSON and CSV, under 30 s for Excel and PDF. Baseline in the same run,
//!   `reports/baseline_read_month`: reading the month's facts row by row (what a report without
//!   rollups must do at the least).
//! - `what_if/two_policies`: the month's 1,000,000 events through the engine twice (policy in
//!   force and a proposal). Target: under 10 s. Baseline, `what_if/baseline_replay`: one
//!   event-time pass over the same events (`vigil replay`'s engine).
//!
//! The history is the peers' SLA workload (one tenant, November 2026), its facts produced by
//! the engine itself and kept in a SQLite store in a temporary directory. Run with
//! `cargo bench -p vigil --bench reports` (the set-up takes a minute or two). PDF needs Debian's
//! `fonts-noto-cjk`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vigil::report::compute::{compute, ReportRequest};
use vigil::report::history::PolicySources;
use vigil::report::model::Period;
use vigil::report::what_if::WhatIfRun;
use vigil::report::{Format, Language, Renderer};
use vigil::store::Store;
use vigil_engine::{EngineSettings, EventTimeDriver, PolicySpec, Sink};
use vigil_schema::{Event, Millis};

/// The allocator of `vigil`, so figures match `vigil what-if`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TENANT: u64 = 1;
/// 2026-11-01T00:00:00Z.
const NOV_1: Millis = 1_793_491_200_000;
const DAY: Millis = 86_400_000;
const MONTH: Period = Period {
    from: NOV_1,
    to: NOV_1 + 30 * DAY,
};

/// The month's events of one tenant, in `occurred_at` order.
fn events(count: u64) -> Vec<Event> {
    let workload = vigil_peers::workload::Workload {
        events: count,
        tenants: 1,
        first_tenant: TENANT,
        span_ms: 29 * DAY,
        start: NOV_1,
        seed: 7,
        delay_scale: 1.0,
        shuffle_ms: 0,
    };
    let mut ndjson = Vec::new();
    workload.write(&mut ndjson).expect("the workload");
    ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| vigil_schema::decode(l).ok())
        .collect()
}

struct Quiet;

impl Sink<()> for Quiet {
    fn applied(&mut self, _: &Event, _: ()) {}
    fn rejected(&mut self, _: &Event, _: (), _: vigil_schema::Rejection) {}
    fn alert(&mut self, _: vigil_engine::AlertRecord) {}
}

/// A store holding the facts the engine derives from `events`; how many goal outcomes.
async fn store_with_facts(events: &[Event]) -> (tempfile::TempDir, Store, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .expect("store");
    let book = Arc::new(PolicySources::default().current().expect("policy"));
    let settings = Arc::new(EngineSettings {
        keep_facts: true,
        ..EngineSettings::default()
    });
    let mut driver = EventTimeDriver::<()>::new(book, settings, 0);
    let mut outcomes = 0u64;
    let utc_day = |_: u64, at: Millis| at.div_euclid(DAY) as i32;
    for chunk in events.chunks(50_000) {
        for e in chunk {
            driver.offer(e.clone(), (), &mut Quiet);
        }
        let facts = driver.take_facts();
        outcomes += facts
            .iter()
            .filter(|f| matches!(f.kind, vigil_engine::FactKind::Stopped(_)))
            .count() as u64;
        for batch in facts.chunks(4_096) {
            store
                .report_facts()
                .record(batch, &utc_day)
                .await
                .expect("facts");
        }
    }
    driver.finish(&mut Quiet);
    let facts = driver.take_facts();
    for batch in facts.chunks(4_096) {
        store
            .report_facts()
            .record(batch, &utc_day)
            .await
            .expect("facts");
    }
    (dir, store, outcomes)
}

fn reports(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // About 2.85 events per goal outcome in this workload.
    let history = events(2_850_000);
    let (_dir, store, outcomes) = runtime.block_on(store_with_facts(&history));
    drop(history);
    eprintln!("{outcomes} goal outcomes in the store");
    let renderer = Renderer::new(std::path::PathBuf::from(
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    ));
    let request = ReportRequest {
        tenant_id: TENANT,
        period: MONTH,
        language: Language::En,
        timezone: "UTC".into(),
    };
    let mut group = c.benchmark_group("reports");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("baseline_read_month", |b| {
        b.iter(|| {
            runtime
                .block_on(store.report_facts().between(TENANT, MONTH.from, MONTH.to))
                .expect("facts")
                .len()
        })
    });
    for format in Format::ALL {
        group.bench_function(format.as_str(), |b| {
            b.iter(|| {
                let report = runtime
                    .block_on(compute(&store, &request, MONTH.to, &|_| {}))
                    .expect("report");
                renderer.render(&report, format).expect("render").len()
            })
        });
    }
    group.finish();
}

fn what_if(c: &mut Criterion) {
    let history = events(1_000_000);
    let sources = PolicySources::default();
    let proposal: PolicySpec =
        serde_json::from_str(r#"{"targets":{"HIGH":{"response":90}}}"#).expect("proposal");
    let run = WhatIfRun {
        current: Arc::new(sources.current().expect("policy")),
        proposed: Arc::new(sources.proposed(Some(TENANT), &proposal).expect("proposal")),
        settings: EngineSettings::default(),
        lateness_ms: 0,
        period: MONTH,
        tenant_id: Some(TENANT),
    };
    let mut group = c.benchmark_group("what_if");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("baseline_replay", |b| {
        b.iter(|| {
            let mut driver = EventTimeDriver::<()>::new(
                run.current.clone(),
                Arc::new(EngineSettings::default()),
                0,
            );
            for e in history.iter().cloned() {
                driver.offer(e, (), &mut Quiet);
            }
            driver.finish(&mut Quiet);
            driver.clock()
        })
    });
    group.bench_function("two_policies", |b| {
        b.iter(|| run.over(history.iter().cloned()).outcome_changes_total)
    });
    group.finish();
}

criterion_group!(benches, reports, what_if);
criterion_main!(benches);

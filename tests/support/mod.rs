//! Shared helpers of the `vigil` integration tests: the real binary as a subprocess (killed on
//! drop), events as JSON, alert records as comparable keys, the SQLite store, HTTP requests,
//! and polling with a deadline. Nothing here sleeps to synchronise: every wait polls an observable
//! condition until a deadline.
//!
//! # Layout
//! - this file: limits, time helpers, [`eventually`].
//! - `events`: [`Ev`] builds one upstream event; [`workload`] a deterministic multi-ticket
//!   workload; [`shuffle_within`] a bounded shuffle of it.
//! - `alerts`: [`Alert`] (a record as JSON) and [`AlertKey`] (what the tests compare).
//! - `cli`: [`run_vigil`] and [`replay`] run the binary; [`Summary`] parses replay's summary.
//! - `service`: [`ServiceSetup`] and [`Service`] run `vigil run`; [`http_get`], [`metric_value`].
//! - `store`: the alert rows and outbox of a store, SQLite or PostgreSQL ([`StoreAt`]):
//!   [`wait_for_store`], [`wait_published`].
//! - `nats`: [`publish_event`], [`drain`], [`header`].
//! - `batches`: [`batch`]es of tickets whose alerts do not depend on timing; [`stream_ids`],
//!   the alert changes published in `VIGIL_ALERTS`.
//! - `api`: [`request`] with tokens and bodies (on [`client`]), [`WsClient`] for `/ws`.
//! - `redis_server`: [`RedisServer`], a real `redis-server` (skipped without one, except under
//!   `CI=true`).
//! - `postgres_server`: [`PostgresServer`], a PostgreSQL server of the test's own, which it may
//!   stop and start (skipped without the server binaries, except under `CI=true`).

#![allow(dead_code)]

mod alerts;
mod api;
mod batches;
mod cli;
mod events;
mod nats;
mod postgres_server;
mod redis_server;
mod service;
mod store;

// Every test file takes what it needs; not all of them need every part.
#[allow(unused_imports)]
pub use {
    alerts::*, api::*, batches::*, cli::*, events::*, nats::*, postgres_server::*, redis_server::*,
    service::*, store::*,
};

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vigil_schema::{format_instant, parse_instant};

/// A peer `test` needs cannot be had here (`why`): says so and lets the test skip, except
/// under `CI=true`, where it fails (CI must run every test).
pub fn skip(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} cannot run under CI=true: {why}"
    );
    eprintln!("skipping {test}: {why}");
}

/// The binary under test.
pub const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// How long a SIGTERMed service may take to exit in tests that are not about shutdown time.
pub const STOP_LIMIT: Duration = Duration::from_secs(45);

/// Milliseconds of one minute.
pub const MIN: i64 = 60_000;
/// Milliseconds of one hour.
pub const HOUR: i64 = 60 * MIN;

/// An RFC 3339 instant as milliseconds.
pub fn ms(rfc3339: &str) -> i64 {
    parse_instant(rfc3339).unwrap_or_else(|| panic!("bad instant {rfc3339:?}"))
}

/// Milliseconds as RFC 3339 (UTC, milliseconds only when not zero).
pub fn ts(ms: i64) -> String {
    format_instant(ms)
}

/// The wall clock, truncated to the second.
pub fn now_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    ms - ms % 1000
}

/// Polls `check` every 50 ms until it returns `Some`, or panics with `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! [`FakePartner`]: start one, script its faults, read what it saw.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::FakePartnerConfig;
use super::faults::{Fault, FaultError, FaultKind, OutageMode, OutageWindow, Share};
use super::observe::{CallCounts, Endpoint, Observed, PutReceived};
use super::server::{self, Connection, PartnerListener};
use super::shared::{lock, Shared};
use super::table::TableError;

/// How long [`FakePartner::stop`] waits for connections to close.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A body that could not be seeded; the ones before it were.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("body {index} not seeded ({seeded} before it were): {error}")]
pub struct SeedError {
    /// Its position in the input, from 0.
    pub index: usize,
    /// Bodies stored before it.
    pub seeded: usize,
    /// Why it was refused.
    pub error: TableError,
}

/// A fake exchange partner serving on a local port until dropped.
///
/// Dropping it stops accepting connections, lets hung requests go and closes idle
/// connections once their in-flight requests are answered.
#[derive(Debug)]
pub struct FakePartner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl FakePartner {
    /// Binds `config.listen` and starts serving.
    pub async fn start(config: FakePartnerConfig) -> io::Result<FakePartner> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config));
        let app =
            server::router(Arc::clone(&shared)).into_make_service_with_connect_info::<Connection>();
        let (stop, stopped) = oneshot::channel::<()>();
        // `serve` only returns on shutdown; a listener failure shows as refused connections.
        let server = tokio::spawn(async move {
            let _ = axum::serve(PartnerListener(listener), app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(FakePartner {
            addr,
            shared,
            stop: Some(stop),
            server,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the partner API, prefix included (`http://127.0.0.1:41234/api`).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.shared.prefix)
    }

    /// The OAuth2 token endpoint (`<url>/oauth/token`).
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.url())
    }

    /// The admin base URL (`http://127.0.0.1:41234/_admin`).
    pub fn admin_url(&self) -> String {
        format!("http://{}/_admin", self.addr)
    }

    /// Stops serving and waits (at most [`STOP_GRACE`]) for in-flight requests to be answered
    /// and connections to close.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.release.notify_waiters();
        if tokio::time::timeout(STOP_GRACE, &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
    }

    // --- faults -------------------------------------------------------------------------

    /// Sets `fault`, replacing the one of its kind.
    pub fn set_fault(&self, fault: Fault) -> Result<(), FaultError> {
        lock(&self.shared.faults).set(fault, Instant::now())
    }

    /// Clears the fault of one kind.
    pub fn clear_fault(&self, kind: FaultKind) {
        lock(&self.shared.faults).clear(kind);
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear_all();
    }

    /// The faults in force (counts left, outage time left).
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).active(Instant::now(), Timestamp::now())
    }

    /// Adds latency to every record call: `min` when `max` is not above it, else uniform in
    /// between.
    pub fn set_latency(&self, min: Duration, max: Duration) {
        self.set_checked(Fault::Latency { min, max });
    }

    /// Answers `status` to the next `n` record calls.
    ///
    /// # Panics
    /// When `status` is not an HTTP status.
    pub fn fail_next(&self, n: u64, status: u16) {
        self.set_checked(Fault::Errors {
            status,
            share: Share::Next(n),
        });
    }

    /// Answers `status` to a `fraction` of record calls (seeded, reproducible).
    ///
    /// # Panics
    /// When `status` is not an HTTP status or `fraction` is outside 0..=1.
    pub fn set_error_rate(&self, fraction: f64, status: u16) {
        self.set_checked(Fault::Errors {
            status,
            share: Share::Fraction(fraction),
        });
    }

    /// Answers 429 with `Retry-After: retry_after_secs` to the next `n` record calls.
    pub fn throttle_next(&self, n: u64, retry_after_secs: u64) {
        self.set_checked(Fault::Throttle {
            retry_after_secs,
            share: Share::Next(n),
        });
    }

    /// Holds the record calls `share` takes unanswered until [`release_hung`](Self::release_hung)
    /// or the hang limit passes, then serves them (see [`Fault::Hang`]).
    pub fn hang(&self, share: Share) {
        self.set_checked(Fault::Hang {
            share,
            store: false,
        });
    }

    /// Answers 200 to the PUTs `share` takes without storing them.
    pub fn drop_writes(&self, share: Share) {
        self.set_checked(Fault::DropWrites { share });
    }

    /// Answers 200 to the PUTs `share` takes and stores them with `field` altered.
    pub fn corrupt_writes(&self, share: Share, field: &str) {
        self.set_checked(Fault::CorruptWrites {
            share,
            field: field.into(),
        });
    }

    /// Turns an outage answering 503 on until turned off (`false` clears any outage).
    pub fn set_down(&self, down: bool) {
        if down {
            self.set_outage(OutageMode::Unavailable, OutageWindow::On);
        } else {
            self.clear_fault(FaultKind::Outage);
        }
    }

    /// Starts an outage of `duration` from now.
    pub fn down_for(&self, duration: Duration, mode: OutageMode) {
        self.set_outage(mode, OutageWindow::For(duration));
    }

    /// Sets an outage.
    ///
    /// # Panics
    /// When a repeating window has a zero period or more down time than its period.
    pub fn set_outage(&self, mode: OutageMode, window: OutageWindow) {
        self.set_checked(Fault::Outage { mode, window });
    }

    fn set_checked(&self, fault: Fault) {
        if let Err(err) = self.set_fault(fault) {
            panic!("cannot set this fault: {err}");
        }
    }

    /// Lets every hung request go; returns how many were hanging.
    pub fn release_hung(&self) -> usize {
        let hung = self.shared.observed.borrow().hung;
        self.shared.release.notify_waiters();
        hung
    }

    // --- observation --------------------------------------------------------------------

    /// Calls of one endpoint by status.
    pub fn calls(&self, endpoint: Endpoint) -> CallCounts {
        let observed = self.shared.observed.borrow();
        observed.calls.get(&endpoint).cloned().unwrap_or_default()
    }

    /// The newest PUTs answered (up to the configured log capacity), oldest first.
    pub fn puts(&self) -> Vec<PutReceived> {
        self.shared.observed.borrow().puts.iter().cloned().collect()
    }

    /// Record ids of the logged PUTs answered 2xx, in order.
    pub fn accepted_put_ids(&self) -> Vec<String> {
        let observed = self.shared.observed.borrow();
        let accepted = observed.puts.iter().filter(|put| {
            put.status
                .is_some_and(|status| (200..300).contains(&status))
        });
        accepted.map(|put| put.record_id.clone()).collect()
    }

    /// PUTs answered (or closed) so far, beyond the log too.
    pub fn puts_total(&self) -> u64 {
        self.shared.observed.borrow().puts_total
    }

    /// Forgets call counts and the PUT log.
    pub fn reset_counts(&self) {
        self.shared.observe(Observed::reset_counts);
    }

    /// Requests hanging now.
    pub fn hung(&self) -> usize {
        self.shared.observed.borrow().hung
    }

    /// OAuth2 tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.shared.guard).tokens_issued()
    }

    /// Forgets every OAuth2 token issued, so callers must fetch a new one (401 until then).
    pub fn expire_tokens(&self) {
        lock(&self.shared.guard).expire_tokens();
    }

    /// Changes the lifetime of OAuth2 tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.shared.guard).set_token_lifetime(lifetime);
    }

    /// Records stored.
    pub fn stored(&self) -> usize {
        lock(&self.shared.table).len()
    }

    /// The body stored under `record_id`, parsed.
    pub fn record(&self, record_id: &str) -> Option<serde_json::Value> {
        let body = self.record_body(record_id)?;
        serde_json::from_slice(&body).ok()
    }

    /// The body stored under `record_id`, as stored.
    pub fn record_body(&self, record_id: &str) -> Option<Bytes> {
        lock(&self.shared.table).get(record_id)
    }

    /// Every stored record by id, parsed (for tests; see
    /// [`for_each_record`](Self::for_each_record) for big tables).
    pub fn records(&self) -> BTreeMap<String, serde_json::Value> {
        let mut all = BTreeMap::new();
        self.for_each_record(|id, body| {
            if let Ok(value) = serde_json::from_slice(body) {
                all.insert(id.to_owned(), value);
            }
        });
        all
    }

    /// Calls `visit` with every stored record, in no particular order, holding the table
    /// (calls wait meanwhile).
    pub fn for_each_record(&self, mut visit: impl FnMut(&str, &[u8])) {
        for (id, body) in lock(&self.shared.table).iter() {
            visit(id, body);
        }
    }

    /// Forgets every record.
    pub fn clear_records(&self) {
        lock(&self.shared.table).clear();
        self.shared.stored(0);
    }

    /// Stores one record directly, as a PUT without faults or authentication would.
    pub fn insert(&self, record_id: &str, body: &serde_json::Value) -> Result<(), TableError> {
        let body =
            serde_json::to_vec(body).map_err(|err| TableError::NotAnObject(err.to_string()))?;
        let mut table = lock(&self.shared.table);
        table.upsert(record_id, Bytes::from(body))?;
        let len = table.len();
        drop(table);
        self.shared.stored(len);
        Ok(())
    }

    /// Stores bodies directly, each under the id in its record id field, stopping at the first
    /// bad one. Fast enough for a million records; returns how many were stored.
    pub fn seed<B: Into<Bytes>>(
        &self,
        bodies: impl IntoIterator<Item = B>,
    ) -> Result<usize, SeedError> {
        let bodies = bodies.into_iter().map(Into::into).enumerate();
        self.shared
            .seed(bodies)
            .map_err(|(index, seeded, error)| SeedError {
                index,
                seeded,
                error,
            })
    }

    // --- waiting ------------------------------------------------------------------------

    /// Waits until at least `n` records are stored, or `timeout`; whether they are.
    pub async fn wait_for_records(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |observed| observed.stored >= n)
            .await
    }

    /// Waits until at least `n` PUTs were answered (any status), or `timeout`.
    pub async fn wait_for_puts(&self, n: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, |observed| observed.puts_total >= n)
            .await
    }

    /// Waits until at least `n` PUTs were answered 2xx, or `timeout`.
    pub async fn wait_for_accepted_puts(&self, n: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, |observed| observed.puts_accepted >= n)
            .await
    }

    /// Waits until at least `n` requests hang, or `timeout`.
    pub async fn wait_hung(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |observed| observed.hung >= n)
            .await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&Observed) -> bool) -> bool {
        let mut rx = self.shared.observed.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|observed| done(observed)))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }
}

impl Drop for FakePartner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.release.notify_waiters();
    }
}

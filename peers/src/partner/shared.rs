//! The partner's state, shared by the API endpoints ([`server`](super::server)), the admin
//! endpoints ([`admin`](super::admin)) and the [`FakePartner`](super::FakePartner) handle.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::{watch, Notify};

use super::auth::Guard;
use super::config::FakePartnerConfig;
use super::observe::Observed;
use super::plan::FaultPlan;
use super::table::{Table, TableError};

/// Bodies seeded under one hold of the table lock, so calls are served during a big seed.
const SEED_BATCH: usize = 10_000;

/// State shared by the handlers and the [`FakePartner`](super::FakePartner) handle. Locks are
/// taken one at a time, never nested.
#[derive(Debug)]
pub(super) struct Shared {
    pub prefix: String,
    pub default_page_size: usize,
    pub max_page_size: usize,
    pub hang_limit: Duration,
    pub table: Mutex<Table>,
    pub faults: Mutex<FaultPlan>,
    pub guard: Mutex<Guard>,
    pub observed: watch::Sender<Observed>,
    /// Wakes every hung request.
    pub release: Notify,
}

impl Shared {
    pub fn new(config: &FakePartnerConfig) -> Shared {
        Shared {
            prefix: config.normalized_prefix(),
            default_page_size: config.default_page_size.max(1),
            max_page_size: config.max_page_size.max(1),
            hang_limit: config.hang_limit,
            table: Mutex::new(Table::new(config.fields.clone(), config.timezone.clone())),
            faults: Mutex::new(FaultPlan::new(config.seed)),
            guard: Mutex::new(Guard::new(config.auth.clone(), config.seed)),
            observed: watch::Sender::new(Observed::new(config.put_log_capacity)),
            release: Notify::new(),
        }
    }

    /// Changes the observation state and wakes its waiters.
    pub fn observe(&self, change: impl FnOnce(&mut Observed)) {
        let mut change = Some(change);
        self.observed.send_modify(|observed| {
            if let Some(change) = change.take() {
                change(observed);
            }
        });
    }

    /// Publishes the table size after a change.
    pub fn stored(&self, len: usize) {
        self.observed.send_if_modified(|observed| {
            let changed = observed.stored != len;
            observed.stored = len;
            changed
        });
    }

    /// Stores bodies that name their own record id, taking the table lock for
    /// [`SEED_BATCH`] bodies at a time. Each body comes with the position reported if it
    /// fails; stops at the first failure. Returns how many were stored.
    pub fn seed(
        &self,
        bodies: impl IntoIterator<Item = (usize, Bytes)>,
    ) -> Result<usize, (usize, usize, TableError)> {
        let mut seeded = 0;
        let mut bodies = bodies.into_iter().peekable();
        while bodies.peek().is_some() {
            let mut table = lock(&self.table);
            for (position, body) in bodies.by_ref().take(SEED_BATCH) {
                if let Err(err) = table.seed(body) {
                    let len = table.len();
                    drop(table);
                    self.stored(len);
                    return Err((position, seeded, err));
                }
                seeded += 1;
            }
            let len = table.len();
            drop(table);
            self.stored(len);
        }
        Ok(seeded)
    }

    /// Waits for a release or the hang limit, counted in `hung` meanwhile.
    pub async fn hang(&self) {
        let released = self.release.notified();
        tokio::pin!(released);
        // Registered before it counts as hung, so a release seen after the count wakes it.
        released.as_mut().enable();
        self.observe(|observed| observed.hung += 1);
        let _counted = HungGuard(self);
        tokio::select! {
            () = released => {}
            () = tokio::time::sleep(self.hang_limit) => {}
        }
    }
}

/// Uncounts a hung request however its wait ends (released, timed out, or the server
/// dropping the call at shutdown).
struct HungGuard<'a>(&'a Shared);

impl Drop for HungGuard<'_> {
    fn drop(&mut self) {
        self.0
            .observe(|observed| observed.hung = observed.hung.saturating_sub(1));
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves usable data here.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A JSON error answer: `{"error": message}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

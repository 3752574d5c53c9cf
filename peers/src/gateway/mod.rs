//! [`FakeGateway`]: an HTTP SMS gateway and signed-webhook receiver for one test.
//!
//! It serves, on 127.0.0.1 on a free port:
//! - `POST /sms`: JSON `{"to","text","idempotency_key"}` or a form with the same fields; the key
//!   may come in the `Idempotency-Key` header instead (if both are given they must agree).
//! - `POST /webhook`: any JSON body, `Idempotency-Key`, `X-Vigil-Timestamp` (Unix seconds) and
//!   `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">` keyed with the secret
//!   given to [`FakeGateway::start`]; a bad or stale signature answers 401.
//!
//! Every request is recorded ([`Request`]). The first accepted request with a key on a route is
//! a [`Delivery`]; a later one with the same key answers 200 `{"status":"duplicate"}` and is
//! counted in [`duplicates`](FakeGateway::duplicates), never delivered again, as gateways that
//! honour idempotency keys do. Faults are queued with [`push_fault`](FakeGateway::push_fault) and
//! each applies to one request, in order; [`set_down`](FakeGateway::set_down) answers 503 to
//! everything until lifted. See [`Fault`] for which faults deliver.
//!
//! A gateway started with [`start_feeding`](FakeGateway::start_feeding) (for `vigil demo`, which
//! runs for hours) hands each delivery over on a bounded channel instead, answering once it is
//! queued (push-back), and keeps no log and only the last [`KEYS_REMEMBERED`] keys;
//! [`start_feeding_with`](FakeGateway::start_feeding_with) chooses the address and how many
//! keys (a benchmark's sink). Every gateway [`counts`](FakeGateway::counts) what came.
//!
//! # Layout
//! - `routes`: the HTTP side: `POST /sms` and `POST /webhook`.
//! - `state`: what arrived, what was delivered, which keys were seen.
//! - `record`: what a test scripts in ([`Fault`]) and reads back ([`Request`], [`Delivery`]).
//! - `signature`: webhook signatures.

mod record;
mod routes;
mod signature;
mod state;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use record::{Delivery, Fault, Outcome, Request, Route};
pub use signature::{sign, verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use state::DEFAULT_TIMESTAMP_TOLERANCE;

use routes::Shared;
use state::Log;

/// Idempotency keys a feeding gateway remembers; the oldest are forgotten first.
pub const KEYS_REMEMBERED: usize = 10_000;

/// Where and how a feeding gateway runs ([`FakeGateway::start_feeding_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedOptions {
    /// The address to listen on (port 0: a free one).
    pub listen: SocketAddr,
    /// Deliveries held for the reader; beyond it the gateway pushes back on the sender.
    pub queue: usize,
    /// Idempotency keys remembered per gateway; the oldest are forgotten first, and a key
    /// forgotten is delivered again.
    pub keys_remembered: usize,
}

/// How many requests came to what, by [`Outcome`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages delivered (a new idempotency key).
    pub delivered: usize,
    /// Requests repeating a delivered key (answered 200, not delivered again).
    pub duplicates: usize,
    /// Invalid requests (answered 4xx): bad body, signature or timestamp, no key.
    pub rejected: usize,
    /// Requests refused by an injected fault or `set_down`.
    pub refused: usize,
}

/// A fake SMS gateway and webhook receiver for one test; stops serving when dropped.
#[derive(Debug)]
pub struct FakeGateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeGateway {
    /// Starts serving on a free port; webhooks must be signed with `webhook_secret`.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start(webhook_secret: &str) -> Self {
        match Self::try_start(webhook_secret).await {
            Ok(gateway) => gateway,
            Err(err) => panic!("cannot start the fake gateway for this test: {err}"),
        }
    }

    /// Starts serving, returning the error instead of panicking.
    pub async fn try_start(webhook_secret: &str) -> io::Result<Self> {
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::serve(webhook_secret, Log::default(), None, listen).await
    }

    /// Starts serving and hands every delivery over on a channel holding up to `queue`; a
    /// request is answered only once its delivery is queued. Keeps no log of requests or
    /// deliveries (the `wait_for…` and listing methods see none) and remembers only the last
    /// [`KEYS_REMEMBERED`] idempotency keys, so it can run for as long as its reader does.
    pub async fn start_feeding(
        webhook_secret: &str,
        queue: usize,
    ) -> io::Result<(Self, mpsc::Receiver<Delivery>)> {
        let options = FeedOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            queue,
            keys_remembered: KEYS_REMEMBERED,
        };
        Self::start_feeding_with(webhook_secret, options).await
    }

    /// [`start_feeding`](Self::start_feeding) where `options` say: on a chosen address (a
    /// benchmark's sink), and remembering as many keys as the run needs to count every
    /// repeated one.
    pub async fn start_feeding_with(
        webhook_secret: &str,
        options: FeedOptions,
    ) -> io::Result<(Self, mpsc::Receiver<Delivery>)> {
        let (feed, deliveries) = mpsc::channel(options.queue);
        let log = Log::bounded(options.keys_remembered);
        let gateway = Self::serve(webhook_secret, log, Some(feed), options.listen).await?;
        Ok((gateway, deliveries))
    }

    async fn serve(
        webhook_secret: &str,
        log: Log,
        feed: Option<mpsc::Sender<Delivery>>,
        listen: SocketAddr,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            log: watch::Sender::new(log),
            secret: webhook_secret.as_bytes().to_vec(),
            feed,
        });
        let app = routes::router(Arc::clone(&shared));
        // `serve` only returns on a listener error, and then every later request fails to
        // connect, which the test sees.
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeGateway {
            addr,
            shared,
            server,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of a route, e.g. `http://127.0.0.1:41234/sms`.
    pub fn url(&self, route: Route) -> String {
        format!("http://{}{}", self.addr, route.path())
    }

    /// Queues a fault for the next request on either route that no earlier fault takes.
    pub fn push_fault(&self, fault: Fault) {
        self.queue(None, fault);
    }

    /// Queues a fault for the next request on `route`.
    pub fn push_fault_on(&self, route: Route, fault: Fault) {
        self.queue(Some(route), fault);
    }

    fn queue(&self, route: Option<Route>, fault: Fault) {
        if let Fault::Status(status) = fault {
            assert!(
                (100..1000).contains(&status),
                "{status} is not an HTTP status"
            );
        }
        self.shared
            .update(|log| log.faults.push_back((route, fault)));
    }

    /// Drops every queued fault not applied yet.
    pub fn clear_faults(&self) {
        self.shared.update(|log| log.faults.clear());
    }

    /// While `true`, every request answers 503 and is not delivered; queued faults wait.
    pub fn set_down(&self, down: bool) {
        self.shared.update(|log| log.down = down);
    }

    /// How far `X-Vigil-Timestamp` may be from this machine's clock
    /// ([`DEFAULT_TIMESTAMP_TOLERANCE`] unless set); `None` accepts any timestamp, for tests
    /// whose service runs on a simulated clock.
    pub fn set_timestamp_tolerance(&self, tolerance: Option<Duration>) {
        self.shared
            .update(|log| log.settings.timestamp_tolerance = tolerance);
    }

    /// Makes `/sms` answer 401 unless `Authorization` is exactly `value`; `None` lifts it.
    pub fn require_authorization(&self, value: Option<&str>) {
        let value = value.map(str::to_owned);
        self.shared.update(|log| log.settings.authorization = value);
    }

    /// Answers every request held by [`Fault::Hold`] so far; returns how many had a client
    /// still waiting.
    pub fn release(&self) -> usize {
        self.shared.update(|log| {
            log.held
                .drain(..)
                .map(|release| release.send(()).is_ok())
                .filter(|&waiting| waiting)
                .count()
        })
    }

    /// Waits until at least `n` held requests have a client waiting, or `timeout`; returns how
    /// many do.
    pub async fn wait_held(&self, n: usize, timeout: Duration) -> usize {
        self.wait_until(timeout, |log| log.held_now() >= n).await;
        self.shared.log.borrow().held_now()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.borrow().requests.clone()
    }

    /// The requests answered 4xx because they were invalid (see [`Outcome::Rejected`]).
    pub fn rejected(&self) -> Vec<Request> {
        let log = self.shared.log.borrow();
        let rejected = log
            .requests
            .iter()
            .filter(|request| matches!(request.outcome, Outcome::Rejected { .. }));
        rejected.cloned().collect()
    }

    /// Every message delivered so far, once per idempotency key and route.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.log.borrow().deliveries.clone()
    }

    /// How many requests repeated a delivered key.
    pub fn duplicates(&self) -> usize {
        self.shared.log.borrow().duplicates
    }

    /// How many requests came to what so far; a feeding gateway counts them too.
    pub fn counts(&self) -> Counts {
        let log = self.shared.log.borrow();
        Counts {
            delivered: log.delivered,
            duplicates: log.duplicates,
            rejected: log.rejected,
            refused: log.refused,
        }
    }

    /// Waits until at least `n` requests arrived, or `timeout`; returns all of them.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        self.wait_until(timeout, |log| log.requests.len() >= n)
            .await;
        self.requests()
    }

    /// Waits until at least `n` requests were answered, or `timeout`; returns all requests.
    pub async fn wait_for_answered(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let answered = |log: &Log| {
            let answered = log.requests.iter().filter(|r| r.status_answered.is_some());
            answered.count() >= n
        };
        self.wait_until(timeout, answered).await;
        self.requests()
    }

    /// Waits until at least `n` messages were delivered, or `timeout`; returns all of them.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.wait_until(timeout, |log| log.deliveries.len() >= n)
            .await;
        self.deliveries()
    }

    /// True when no further request arrives within `window`: a bounded wait for something that
    /// must not happen.
    pub async fn quiet_for(&self, window: Duration) -> bool {
        let seen = self.shared.log.borrow().requests.len();
        !self
            .wait_until(window, |log| log.requests.len() > seen)
            .await
    }

    /// Waits until `done` holds (true) or `timeout` passes (false).
    async fn wait_until(&self, timeout: Duration, done: impl Fn(&Log) -> bool) -> bool {
        let mut rx = self.shared.log.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|log| done(log)))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.server.abort();
        // Held requests answer rather than keep their connections open.
        self.release();
    }
}

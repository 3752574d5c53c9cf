//! The HTTP side of the partner: the record and token endpoints behind faults and
//! authentication, and the listener that can close a connection unanswered.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::{IncomingStream, Listener};
use axum::{Json, Router};
use jiff::civil::Date;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::admin;
use super::auth::{Guard, Signed};
use super::config::FakePartnerConfig;
use super::faults::OutageMode;
use super::observe::{Endpoint, Observed};
use super::plan::{FaultPlan, HangAt, Refusal, Verdict, WriteAction};
use super::table::{corrupt, Table, TableError};

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
    async fn hang(&self) {
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

/// The partner's routes: the API under the prefix, admin at `/_admin/`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let prefix = shared.prefix.clone();
    Router::new()
        .route(&format!("{prefix}/records/{{record_id}}"), put(put_record))
        .route(&format!("{prefix}/records"), get(get_records))
        .route(&format!("{prefix}/oauth/token"), post(token))
        .merge(admin::router())
        .with_state(shared)
}

/// A JSON error answer: `{"error": message}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn ok() -> Response {
    (StatusCode::OK, Json(json!({ "ok": true }))).into_response()
}

/// Runs one call of the partner API: the faults on arrival, then authentication (when
/// `signed` is given), then `work`; counts the call and its answer.
async fn serve_call(
    shared: &Shared,
    connection: &Connection,
    endpoint: Endpoint,
    record_id: Option<&str>,
    signed: Option<Signed<'_>>,
    work: impl FnOnce() -> Response,
) -> Response {
    shared.observe(|observed| observed.received(endpoint));
    let verdict =
        lock(&shared.faults).on_call(endpoint, record_id, Instant::now(), Timestamp::now());
    let response = match verdict {
        Verdict::Down(OutageMode::Close) => {
            connection.kill.store(true, Ordering::Release);
            shared.observe(|observed| observed.answered(endpoint, record_id, None));
            // Never written: the connection fails the write and closes.
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Verdict::Down(OutageMode::Unavailable) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "partner down (injected outage)",
        ),
        Verdict::Serve {
            latency,
            refusal,
            hang,
        } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            match refusal {
                Some(refusal) => refused(refusal),
                None => {
                    if hang == Some(HangAt::BeforeWork) {
                        shared.hang().await;
                    }
                    let checked = match signed {
                        Some(call) => lock(&shared.guard).check(&call, Instant::now(), unix_now()),
                        None => Ok(()),
                    };
                    match checked {
                        Err(reason) => error(StatusCode::UNAUTHORIZED, reason),
                        Ok(()) => {
                            let response = work();
                            if hang == Some(HangAt::AfterWork) {
                                shared.hang().await;
                            }
                            response
                        }
                    }
                }
            }
        }
    };
    let status = response.status().as_u16();
    shared.observe(|observed| observed.answered(endpoint, record_id, Some(status)));
    response
}

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, "injected fault")
        }
        Refusal::Throttle(secs) => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate limited (injected)");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            response
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |pq| pq.as_str())
}

async fn put_record(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    Path(record_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signed = Signed {
        method: "PUT",
        path_and_query: path_and_query(&uri),
        headers: &headers,
        body: &body,
    };
    let work = || write(&shared, &record_id, body.clone());
    serve_call(
        &shared,
        &connection,
        Endpoint::PutRecord,
        Some(&record_id),
        Some(signed),
        work,
    )
    .await
}

/// Stores an accepted PUT as the write faults say.
fn write(shared: &Shared, record_id: &str, body: Bytes) -> Response {
    let day = match lock(&shared.table).inspect(&body) {
        Ok((day, _)) => day,
        Err(err) => return error(StatusCode::UNPROCESSABLE_ENTITY, &err.to_string()),
    };
    let action = lock(&shared.faults).on_write(record_id);
    let mut table = lock(&shared.table);
    match action {
        WriteAction::Drop => return ok(),
        WriteAction::Store => table.put(record_id, body, day),
        WriteAction::Corrupt(field) => match corrupt(&body, &field) {
            // A corrupted `stopped_at` keeps the day the sent record had.
            Ok(altered) => match table.upsert(record_id, altered.clone()) {
                Ok(upserted) => upserted,
                Err(_) => table.put(record_id, altered, day),
            },
            Err(err) => return error(StatusCode::UNPROCESSABLE_ENTITY, &err.to_string()),
        },
    };
    let len = table.len();
    drop(table);
    shared.stored(len);
    ok()
}

/// `GET /records` parameters, read as text so that bad values get a clear 400.
#[derive(Debug, Deserialize)]
struct PageQuery {
    date: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

async fn get_records(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let signed = Signed {
        method: "GET",
        path_and_query: path_and_query(&uri),
        headers: &headers,
        body: b"",
    };
    let work = || page(&shared, &uri);
    serve_call(
        &shared,
        &connection,
        Endpoint::GetRecords,
        None,
        Some(signed),
        work,
    )
    .await
}

fn page(shared: &Shared, uri: &Uri) -> Response {
    let bad = |message: String| error(StatusCode::BAD_REQUEST, &message);
    let query = match Query::<PageQuery>::try_from_uri(uri) {
        Ok(Query(query)) => query,
        Err(err) => return bad(err.body_text()),
    };
    let Some(date) = query.date else {
        return bad("date=YYYY-MM-DD is required".into());
    };
    let Ok(date) = date.parse::<Date>() else {
        return bad(format!("date {date:?} is not YYYY-MM-DD"));
    };
    let number = match query.page.as_deref().map(str::parse::<u64>) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return bad("page must be a whole number from 1".into()),
    };
    let size = match query.page_size.as_deref().map(str::parse::<usize>) {
        None => shared.default_page_size,
        Some(Ok(n)) if n >= 1 => n.min(shared.max_page_size),
        Some(_) => return bad("page_size must be a whole number from 1".into()),
    };
    let page = lock(&shared.table).page(date, number, size);
    let mut response = page.to_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn token(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let work = || {
        let Ok(Form(form)) = form else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match lock(&shared.guard).issue(&headers, &form, Instant::now()) {
            Ok(grant) => Json(json!({
                "access_token": grant.access_token,
                "token_type": "Bearer",
                "expires_in": grant.expires_in.as_secs().max(1),
            }))
            .into_response(),
            Err((status, code)) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                oauth_error(status, code)
            }
        }
    };
    serve_call(&shared, &connection, Endpoint::Token, None, None, work).await
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    let mut response = (status, Json(json!({ "error": code }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"partner\""),
        );
    }
    response
}

/// The partner's listener: TCP with `TCP_NODELAY`, each connection closable from a handler.
pub(super) struct PartnerListener(pub TcpListener);

impl Listener for PartnerListener {
    type Io = ClosableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The TCP listener retries accept errors itself.
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let _ = stream.set_nodelay(true);
        let stream = ClosableStream {
            stream,
            kill: Arc::default(),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection that fails every read and write once `kill` is set, so the server drops it
/// without sending what it was about to.
pub(super) struct ClosableStream {
    stream: TcpStream,
    kill: Arc<AtomicBool>,
}

impl ClosableStream {
    fn killed(&self) -> Option<io::Error> {
        self.kill.load(Ordering::Acquire).then(|| {
            io::Error::new(
                io::ErrorKind::ConnectionReset,
                "closed by an injected outage",
            )
        })
    }
}

impl AsyncRead for ClosableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(err) = self.killed() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClosableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.killed() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.killed() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(err) = self.killed() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Per-connection handle given to handlers: lets an outage close the connection.
#[derive(Debug, Clone)]
pub(super) struct Connection {
    kill: Arc<AtomicBool>,
}

impl Connected<IncomingStream<'_, PartnerListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, PartnerListener>) -> Self {
        Connection {
            kill: Arc::clone(&stream.io().kill),
        }
    }
}

//! The HTTP side of the partner: the record and token endpoints behind faults and
//! authentication, and the listener that can close a connection unanswered.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

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
use tokio::time::Instant;

use super::admin;
use super::auth::Signed;
use super::faults::OutageMode;
use super::observe::Endpoint;
use super::plan::{HangAt, Refusal, Verdict, WriteAction};
use super::shared::{error, lock, Shared};
use super::table::corrupt;

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

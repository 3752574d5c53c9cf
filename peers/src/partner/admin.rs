//! Admin endpoints under `/_admin/` for the standalone partner and benchmark scripts: the
//! same faults and observations as the Rust handle, as JSON. Faults never apply here.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /_admin/stats` | | `{"stored","puts_total","puts_accepted","hung","tokens_issued","calls":{"put_record":{"received","by_status":{"200":n},"closed"},…}}` |
//! | `GET /_admin/faults` | | `[Fault…]` in force |
//! | `POST /_admin/faults` | a [`Fault`] | `{"ok":true}`, 400 `{"error"}` |
//! | `DELETE /_admin/faults` | | `{"ok":true}`: all cleared |
//! | `DELETE /_admin/faults/{kind}` | | `{"ok":true}`: one kind cleared |
//! | `POST /_admin/release` | | `{"released":n}`: hung requests let go |
//! | `GET /_admin/puts?limit=N` | | `{"total","accepted","puts":[{"record_id","status"}…]}` newest last |
//! | `DELETE /_admin/puts` | | `{"ok":true}`: call counts and PUT log reset |
//! | `GET /_admin/records` | | every stored body, NDJSON |
//! | `GET /_admin/records/{id}` | | the stored body, 404 |
//! | `POST /_admin/records` | NDJSON bodies holding the record id field | `{"seeded","stored"}`, 400 `{"error","line","seeded"}` |
//! | `DELETE /_admin/records` | | `{"ok":true}`: table cleared |
//! | `POST /_admin/tokens/expire` | | `{"ok":true}`: issued OAuth2 tokens forgotten |

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::BytesMut;
use futures::StreamExt;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::faults::{Fault, FaultKind};
use super::observe::Endpoint;
use super::shared::{error, lock, Shared};

/// The longest NDJSON line taken by `POST /_admin/records`.
const MAX_SEED_LINE: usize = 1 << 20;
/// Records per chunk of the `GET /_admin/records` answer.
const DUMP_CHUNK: usize = 1_000;

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_admin/stats", get(stats))
        .route(
            "/_admin/faults",
            get(faults).post(set_fault).delete(clear_faults),
        )
        .route("/_admin/faults/{kind}", delete(clear_fault))
        .route("/_admin/release", post(release))
        .route("/_admin/puts", get(puts).delete(reset_puts))
        .route(
            "/_admin/records",
            get(dump)
                .post(seed)
                .delete(clear_records)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/_admin/records/{record_id}", get(record))
        .route("/_admin/tokens/expire", post(expire_tokens))
}

fn done() -> Response {
    Json(json!({ "ok": true })).into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let tokens_issued = lock(&shared.guard).tokens_issued();
    let observed = shared.observed.borrow();
    let calls: serde_json::Map<String, serde_json::Value> = Endpoint::ALL
        .into_iter()
        .map(|endpoint| {
            let counts = observed.calls.get(&endpoint).cloned().unwrap_or_default();
            let name = serde_json::to_value(endpoint)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            (name, serde_json::to_value(counts).unwrap_or_default())
        })
        .collect();
    Json(json!({
        "stored": observed.stored,
        "puts_total": observed.puts_total,
        "puts_accepted": observed.puts_accepted,
        "hung": observed.hung,
        "tokens_issued": tokens_issued,
        "calls": calls,
    }))
    .into_response()
}

async fn faults(State(shared): State<Arc<Shared>>) -> Response {
    let active = lock(&shared.faults).active(Instant::now(), Timestamp::now());
    Json(active).into_response()
}

async fn set_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(err) => return error(StatusCode::BAD_REQUEST, &format!("not a fault: {err}")),
    };
    match lock(&shared.faults).set(fault, Instant::now()) {
        Ok(()) => done(),
        Err(err) => error(StatusCode::BAD_REQUEST, &err.to_string()),
    }
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.faults).clear_all();
    done()
}

async fn clear_fault(State(shared): State<Arc<Shared>>, Path(kind): Path<String>) -> Response {
    match kind.parse::<FaultKind>() {
        Ok(kind) => {
            lock(&shared.faults).clear(kind);
            done()
        }
        Err(err) => error(StatusCode::BAD_REQUEST, &err.to_string()),
    }
}

async fn release(State(shared): State<Arc<Shared>>) -> Response {
    let hung = shared.observed.borrow().hung;
    shared.release.notify_waiters();
    Json(json!({ "released": hung })).into_response()
}

#[derive(Debug, Deserialize)]
struct PutsQuery {
    limit: Option<usize>,
}

async fn puts(State(shared): State<Arc<Shared>>, Query(query): Query<PutsQuery>) -> Response {
    let observed = shared.observed.borrow();
    let limit = query.limit.unwrap_or(usize::MAX);
    let skip = observed.puts.len().saturating_sub(limit);
    let puts: Vec<_> = observed.puts.iter().skip(skip).collect();
    Json(json!({
        "total": observed.puts_total,
        "accepted": observed.puts_accepted,
        "puts": puts,
    }))
    .into_response()
}

async fn reset_puts(State(shared): State<Arc<Shared>>) -> Response {
    shared.observe(|observed| observed.reset_counts());
    done()
}

async fn record(State(shared): State<Arc<Shared>>, Path(record_id): Path<String>) -> Response {
    match lock(&shared.table).get(&record_id) {
        Some(body) => json_body(body),
        None => error(StatusCode::NOT_FOUND, "no such record"),
    }
}

fn json_body(body: Bytes) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Every stored body, one per line, streamed in chunks from a snapshot.
async fn dump(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot: Arc<Vec<Bytes>> = Arc::new(
        lock(&shared.table)
            .iter()
            .map(|(_, body)| body.clone())
            .collect(),
    );
    let starts = (0..snapshot.len()).step_by(DUMP_CHUNK);
    let chunks = futures::stream::iter(starts).map(move |start| {
        let end = (start + DUMP_CHUNK).min(snapshot.len());
        let slice = snapshot.get(start..end).unwrap_or_default();
        let mut chunk = Vec::with_capacity(slice.iter().map(|b| b.len() + 1).sum());
        for body in slice {
            chunk.extend_from_slice(body);
            chunk.push(b'\n');
        }
        Ok::<_, Infallible>(Bytes::from(chunk))
    });
    let mut response = Body::from_stream(chunks).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// Seeds NDJSON bodies as they stream in, a block of complete lines at a time.
async fn seed(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let mut stream = body.into_data_stream();
    let mut pending = BytesMut::new();
    let mut lines_before = 0;
    let mut seeded = 0;
    loop {
        let chunk = match stream.next().await {
            Some(Ok(chunk)) => Some(chunk),
            Some(Err(err)) => {
                return error(StatusCode::BAD_REQUEST, &format!("body not read: {err}"));
            }
            None => None,
        };
        let block = match &chunk {
            Some(chunk) => {
                pending.extend_from_slice(chunk);
                match memchr::memrchr(b'\n', &pending) {
                    Some(last) => pending.split_to(last + 1).freeze(),
                    None if pending.len() > MAX_SEED_LINE => {
                        let message =
                            format!("line {} is over {MAX_SEED_LINE} bytes", lines_before + 1);
                        return error(StatusCode::BAD_REQUEST, &message);
                    }
                    None => continue,
                }
            }
            None => pending.split().freeze(),
        };
        let lines = split_lines(&block, lines_before);
        lines_before += memchr::memchr_iter(b'\n', &block).count();
        match shared.seed(lines) {
            Ok(n) => seeded += n,
            Err((line, n, err)) => {
                let body = json!({ "error": err.to_string(), "line": line, "seeded": seeded + n });
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
        }
        if chunk.is_none() {
            break;
        }
    }
    let stored = shared.observed.borrow().stored;
    Json(json!({ "seeded": seeded, "stored": stored })).into_response()
}

/// The non-blank lines of `block` with their 1-based line numbers, sharing its buffer.
fn split_lines(block: &Bytes, lines_before: usize) -> impl Iterator<Item = (usize, Bytes)> + '_ {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', block)
        .chain((block.last() != Some(&b'\n')).then_some(block.len()));
    let mut number = lines_before;
    std::iter::from_fn(move || loop {
        let end = ends.next()?;
        number += 1;
        let line = block.slice(start..end);
        start = end + 1;
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            return Some((number, line.slice_ref(trimmed)));
        }
    })
}

async fn clear_records(State(shared): State<Arc<Shared>>) -> Response {
    let mut table = lock(&shared.table);
    table.clear();
    drop(table);
    shared.stored(0);
    done()
}

async fn expire_tokens(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.guard).expire_tokens();
    done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_blank_ones_skipped() {
        let block = Bytes::from_static(b"{\"a\":1}\n\n  {\"b\":2}\r\n{\"c\":3}");
        let lines: Vec<_> = split_lines(&block, 10).collect();
        assert_eq!(
            lines,
            [
                (11, Bytes::from_static(b"{\"a\":1}")),
                (13, Bytes::from_static(b"{\"b\":2}")),
                (14, Bytes::from_static(b"{\"c\":3}")),
            ]
        );
    }
}

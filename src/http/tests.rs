//! HTTP tests against a real listener on 127.0.0.1:0 with a minimal HTTP/1.1 client.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use crate::telemetry::local_recorder;
use axum::routing::get;
use axum::Router;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
async fn request(addr: std::net::SocketAddr, method: &str, path: &str, extra: &str) -> Reply {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

struct Server {
    addr: std::net::SocketAddr,
    readiness: Arc<Readiness>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), HttpError>>,
    metrics: crate::telemetry::MetricsHandle,
    _recorder: metrics_exporter_prometheus::PrometheusRecorder,
}

async fn start(options: ServeOptions) -> Server {
    start_with(options, |ops| ops).await
}

/// [`start`] with routes merged into the operational ones before [`finish`].
async fn start_with(options: ServeOptions, routes: impl FnOnce(Router) -> Router) -> Server {
    let (recorder, metrics) = local_recorder().unwrap();
    let readiness = Arc::new(Readiness::new());
    let app = finish(routes(ops_routes(OpsState {
        metrics: metrics.clone(),
        readiness: readiness.clone(),
    })));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(listener, app, options, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        readiness,
        stop: Some(stop),
        task,
        metrics,
        _recorder: recorder,
    }
}

fn assert_envelope(v: &Value, code: u64) {
    assert_eq!(v["code"], code, "{v}");
    assert!(v["message"].is_string(), "{v}");
    assert!(v.get("data").is_some(), "{v}");
    assert!(
        v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    assert!(
        v["request_id"].as_str().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn healthz_answers_in_the_envelope_with_a_request_id() {
    let server = start(ServeOptions::default()).await;
    let reply = request(server.addr, "GET", "/healthz", "").await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_envelope(&v, 200);
    assert_eq!(reply.header("x-request-id"), v["request_id"].as_str());

    let reply = request(server.addr, "GET", "/healthz", "X-Request-Id: abc-123\r\n").await;
    assert_eq!(reply.json()["request_id"], "abc-123");
    assert_eq!(reply.header("x-request-id"), Some("abc-123"));
}

#[tokio::test]
async fn readyz_lists_what_is_not_ready() {
    let server = start(ServeOptions::default()).await;
    let reply = request(server.addr, "GET", "/readyz", "").await;
    assert_eq!(reply.status, 503);
    let v = reply.json();
    assert_envelope(&v, 503);
    let not_ready: Vec<&str> = v["data"]["not_ready"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        not_ready,
        ["nats_connected", "partitions_caught_up", "store_reachable"]
    );

    server.readiness.set_nats_connected(true);
    server.readiness.set_partitions_caught_up(true);
    server.readiness.set_store_reachable(true);
    let reply = request(server.addr, "GET", "/readyz", "").await;
    assert_eq!(reply.status, 200);
    assert_envelope(&reply.json(), 200);

    server.readiness.set_store_reachable(false);
    let reply = request(server.addr, "GET", "/readyz", "").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["data"]["not_ready"][0], "store_reachable");

    server.readiness.set_store_reachable(true);
    server.readiness.set_draining();
    let reply = request(server.addr, "GET", "/readyz", "").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["data"]["not_ready"][0], "draining");
}

#[tokio::test]
async fn metrics_render_the_prometheus_text() {
    let server = start(ServeOptions::default()).await;
    ::metrics::with_local_recorder(&server._recorder, || {
        crate::telemetry::metrics::events_ingested().increment(5);
    });
    let reply = request(server.addr, "GET", "/metrics", "").await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    assert!(
        reply.body.contains("vigil_events_ingested_total 5"),
        "{}",
        reply.body
    );
    assert_eq!(server.metrics.render(), reply.body);
}

#[tokio::test]
async fn unknown_routes_answer_41001_and_wrong_methods_405() {
    let server = start(ServeOptions::default()).await;
    let reply = request(server.addr, "GET", "/nope?x=1", "").await;
    assert_eq!(reply.status, 404);
    let v = reply.json();
    assert_envelope(&v, 41001);
    assert_eq!(v["message"], "no route for GET /nope");

    let reply = request(server.addr, "POST", "/healthz", "Content-Length: 0\r\n").await;
    assert_eq!(reply.status, 405);
    assert_envelope(&reply.json(), envelope::INVALID_PARAMETER.into());
}

#[tokio::test]
async fn shutdown_stops_the_server_gracefully() {
    let mut server = start(ServeOptions::default()).await;
    assert_eq!(
        request(server.addr, "GET", "/healthz", "").await.status,
        200
    );
    let _ = server.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn drain_timeout_bounds_shutdown_with_open_connections() {
    let mut server = start(ServeOptions {
        max_connections: 10,
        drain_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    })
    .await;
    // A connection that sent half a request keeps the server from draining by itself.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = server.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("server stops after the drain timeout")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let server = start(ServeOptions {
        max_connections: 1,
        drain_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let hold = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = tokio::spawn(request(server.addr, "GET", "/healthz", ""));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second connection must wait");
    drop(hold);
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert_eq!(reply.status, 200);
}

#[test]
fn request_ids_from_clients_are_bounded() {
    assert!(RequestId::from_client("abc").is_some());
    assert!(RequestId::from_client("").is_none());
    assert!(RequestId::from_client("has space").is_none());
    assert!(RequestId::from_client(&"x".repeat(envelope::MAX_REQUEST_ID_LEN + 1)).is_none());
    assert_ne!(RequestId::generate(), RequestId::generate());
}

/// Routes for the time-out tests: one that never answers, and a `/ws` that answers late.
fn slow_routes(ops: Router) -> Router {
    ops.route("/stuck", get(std::future::pending::<&'static str>))
        .route(
            router::WEBSOCKET_ROUTE,
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "late but whole"
            }),
        )
}

#[tokio::test]
async fn a_stuck_handler_answers_503_in_the_envelope_after_the_request_timeout() {
    let server = start_with(
        ServeOptions {
            request_timeout: Duration::from_millis(200),
            ..ServeOptions::default()
        },
        slow_routes,
    )
    .await;
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        request(server.addr, "GET", "/stuck", "X-Request-Id: stuck-1\r\n"),
    )
    .await
    .expect("answered, not hanging");
    assert_eq!(reply.status, 503);
    let v = reply.json();
    assert_envelope(&v, u64::from(envelope::REQUEST_TIMED_OUT));
    assert_eq!(v["request_id"], "stuck-1");
    // The same route answers other requests meanwhile: only the stuck one is cut off.
    assert_eq!(
        request(server.addr, "GET", "/healthz", "").await.status,
        200
    );
    // A WebSocket handshake on /ws is not cut off; the header on another route buys nothing.
    let upgrade = "Upgrade: websocket\r\n";
    let ws = request(server.addr, "GET", router::WEBSOCKET_ROUTE, upgrade).await;
    assert_eq!((ws.status, ws.body.as_str()), (200, "late but whole"));
    let other = request(server.addr, "GET", "/stuck", upgrade).await;
    assert_eq!(other.status, 503);
}

#[tokio::test]
async fn a_keep_alive_connection_closes_after_its_last_allowed_request() {
    let server = start(ServeOptions {
        max_requests_per_connection: 2,
        ..ServeOptions::default()
    })
    .await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let req = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    conn.write_all(req).await.unwrap();
    let mut raw = Vec::new();
    // Both answers arrive, then the server closes: read_to_end ends.
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut raw))
        .await
        .expect("the server closes after the second answer")
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert_eq!(
        text.to_ascii_lowercase()
            .matches("connection: close")
            .count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_read_timeout() {
    let server = start(ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    for conn in [&mut idle, &mut half] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf))
            .await
            .expect("closed by the server");
        assert!(
            read.is_err() || buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "{buf:?}"
        );
    }
}

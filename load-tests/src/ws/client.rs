//! One WebSocket client: connects with its tenant's token, subscribes to `metrics` and
//! `alerts`, and counts what arrives until told to stop.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::latency::{Lookup, PublishLog};
use super::message::{self, Kind, SUBSCRIBE};
use super::stats::{MetricsPace, Stats};

/// How long a TCP connect plus WebSocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a client waits for the server's close after sending its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Read buffer per connection: a metrics snapshot is a few KiB; tungstenite's default (128 KiB,
/// allocated up front) would cost 1.3 GB for 10,000 clients.
const READ_BUFFER: usize = 16 * 1024;

/// Everything one client needs.
#[derive(Debug, Clone)]
pub struct ClientSetup {
    /// The client's tenant.
    pub tenant_id: u64,
    /// `ws://host:port/ws`.
    pub url: Arc<str>,
    /// The resolved address of the service.
    pub addr: SocketAddr,
    /// Local address to bind to, if any.
    pub source: Option<IpAddr>,
    /// The tenant's `client_user` token.
    pub token: Arc<str>,
    /// Shared counters.
    pub stats: Arc<Stats>,
    /// Publish instants of breaching tickets.
    pub log: Arc<PublishLog>,
    /// Becomes `true` when the run is over.
    pub stop: watch::Receiver<bool>,
}

/// Runs one client to the end of the run, counting into `setup.stats`.
pub async fn run(mut setup: ClientSetup) {
    let stats = setup.stats.clone();
    let mut ws = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&setup)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(why)) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            stats.reason(why);
            return;
        }
        Err(_) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            stats.reason("connect timeout".into());
            return;
        }
    };
    stats.connected.fetch_add(1, Ordering::Relaxed);
    stats.open.fetch_add(1, Ordering::Relaxed);
    let ended = session(&mut setup, &mut ws).await;
    stats.open.fetch_sub(1, Ordering::Relaxed);
    match ended {
        Ok(()) => {
            // Our close: wait briefly for the server's, so it counts a clean close.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }
        Err(why) => {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            stats.reason(why);
        }
    }
}

/// Opens the TCP connection (from `setup.source` if set) and does the WebSocket handshake with
/// the token in `Authorization`. The error is a short reason for the report.
async fn connect(setup: &ClientSetup) -> Result<WebSocketStream<TcpStream>, String> {
    let socket = if setup.addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("socket: {}", e.kind()))?;
    if let Some(ip) = setup.source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("bind {ip}: {}", e.kind()))?;
    }
    let stream = socket
        .connect(setup.addr)
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    let _ = stream.set_nodelay(true);
    let mut request = (&*setup.url)
        .into_client_request()
        .map_err(|e| format!("request: {e}"))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", setup.token))
        .map_err(|_| "token is not a header value".to_string())?;
    request.headers_mut().insert(AUTHORIZATION, bearer);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| match e {
            WsError::Http(response) => format!("http {}", response.status().as_u16()),
            other => format!("handshake: {}", short(&other)),
        })?;
    Ok(ws)
}

/// Subscribes and reads until the run stops (`Ok`) or the connection ends (`Err` with why).
async fn session(
    setup: &mut ClientSetup,
    ws: &mut WebSocketStream<TcpStream>,
) -> Result<(), String> {
    ws.send(Message::text(SUBSCRIBE))
        .await
        .map_err(|e| format!("send: {}", short(&e)))?;
    let mut subscribed = false;
    let mut pace = MetricsPace::default();
    loop {
        let frame = tokio::select! {
            biased;
            _ = setup.stop.wait_for(|stop| *stop) => return Ok(()),
            frame = ws.next() => frame,
        };
        let received = Instant::now();
        match frame {
            Some(Ok(Message::Text(text))) => {
                if handle(setup, text.as_str(), received, &mut pace) && !subscribed {
                    subscribed = true;
                    setup.stats.subscribed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(match frame {
                    Some(f) => format!("close {}", u16::from(f.code)),
                    None => "close".into(),
                });
            }
            // Pings are answered by tungstenite on the next read.
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(short(&e)),
            None => return Err("eof".into()),
        }
    }
}

/// Counts one text message; returns whether it was a snapshot.
fn handle(setup: &ClientSetup, text: &str, received: Instant, pace: &mut MetricsPace) -> bool {
    let stats = &setup.stats;
    let m = message::parse(text);
    stats.message(m.kind, text.len());
    match m.kind {
        Kind::Alert if m.firing => {
            let tenant = m.tenant_id.unwrap_or(setup.tenant_id);
            let ticket = m.ticket_id.as_deref().unwrap_or("");
            match setup.log.lookup(tenant, ticket, received) {
                Lookup::Latency { latency, first } => {
                    stats.alerts_matched.fetch_add(1, Ordering::Relaxed);
                    stats.latency.record_duration(latency);
                    if first {
                        stats.first_latency.record_duration(latency);
                    }
                }
                Lookup::Unexpected => {
                    stats.alerts_unexpected.fetch_add(1, Ordering::Relaxed);
                }
                Lookup::Foreign => {
                    stats.alerts_foreign.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Kind::Metrics => {
            let (interval, in_last_second) = pace.note(received);
            if let Some(interval) = interval {
                stats.metrics_interval.record_duration(interval);
            }
            stats
                .metrics_max_per_sec
                .fetch_max(in_last_second as u64, Ordering::Relaxed);
        }
        Kind::Error => stats.reason(format!("error message {}", m.code.unwrap_or(0))),
        _ => {}
    }
    m.kind == Kind::Snapshot
}

/// A short, groupable reason for a WebSocket error.
fn short(e: &WsError) -> String {
    match e {
        WsError::Io(io) => format!("io: {}", io.kind()),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "closed".into(),
        WsError::Protocol(p) => format!("protocol: {p}"),
        WsError::Capacity(c) => format!("capacity: {c}"),
        other => other.to_string(),
    }
}

//! One WebSocket connection: a reader (requests, liveness, the connection's limits) and a
//! writer (the client's queue), so a socket that does not drain never blocks reading, pings,
//! or anybody else.
//!
//! Limits, as documented in `[ws]`: a message over `max_message_bytes` closes with 1009; a
//! message over the rate is ignored (the first one answered with error 40005 and how long to
//! wait, the others within that wait not at all); the connection closes with 1008 "token
//! expired" (after an error 40004) when the token it was opened with expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tracing::{debug, Instrument};

use super::limits::{
    is_capacity_error, too_big, Admit, MessageRate, CLOSE_TOO_BIG, TOKEN_EXPIRED_REASON,
    TOO_BIG_REASON,
};
use super::protocol::{self, Channels, Request};
use super::queue::{ClientQueue, Next, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_SLOW};
use super::subscribe::Refusal;
use super::Client;
use crate::http::envelope::{FORBIDDEN, INVALID_PARAMETER, RATE_LIMITED, UNAUTHENTICATED};
use crate::telemetry::metrics::{http_rate_limited, ws_disconnects};

/// What becomes of one message from the client.
enum Verdict {
    /// Handle it.
    Handle,
    /// Ignore it (over the rate).
    Ignore,
    /// Close the connection, for this reason (a metric label).
    Close(&'static str),
}

/// How long a closing connection may take to flush its close frame.
const CLOSE_FLUSH: Duration = Duration::from_secs(5);

impl Client {
    /// Serves the connection until either side closes it.
    pub async fn serve(self, socket: WebSocket) {
        let span = tracing::debug_span!(
            "ws",
            tenant_id = self.caller.claims.tenant_id,
            client = self.id
        );
        async move {
            let (sink, mut stream) = socket.split();
            let writer = tokio::spawn(write(sink, self.queue.clone()));
            let config = &self.hub.inner.config;
            let idle = config.idle_timeout.as_std();
            let mut ping = tokio::time::interval(config.ping_interval.as_std());
            ping.tick().await;
            let mut shutdown = self.hub.inner.shutdown.subscribe();
            let mut last_heard = Instant::now();
            let mut rate = MessageRate::new(config.messages_per_second, config.message_burst);
            let expiry = token_expiry(self.caller.claims.exp);
            tokio::pin!(expiry);
            let reason = loop {
                tokio::select! {
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            last_heard = Instant::now();
                            match self.judge(text.len(), &mut rate) {
                                Verdict::Handle => self.on_request(text.as_str()).await,
                                Verdict::Ignore => {}
                                Verdict::Close(reason) => break reason,
                            }
                        }
                        Some(Ok(Message::Binary(bytes))) => {
                            last_heard = Instant::now();
                            // Not part of the protocol: only its size and rate count.
                            if let Verdict::Close(reason) = self.judge(bytes.len(), &mut rate) {
                                break reason;
                            }
                        }
                        Some(Err(e)) if is_capacity_error(&e) => {
                            self.queue.close(CLOSE_TOO_BIG, TOO_BIG_REASON);
                            break "too_big";
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                            self.queue.close(1000, "closed by the client");
                            break "closed";
                        }
                        Some(Ok(_)) => last_heard = Instant::now(),
                    },
                    () = &mut expiry => {
                        self.queue.push(protocol::error(
                            UNAUTHENTICATED,
                            "token expired: get a new one and connect again",
                        ));
                        self.queue.close(CLOSE_POLICY, TOKEN_EXPIRED_REASON);
                        break "token_expired";
                    }
                    _ = ping.tick() => {
                        if last_heard.elapsed() >= idle {
                            self.queue.close(CLOSE_GOING_AWAY, "idle timeout");
                            break "idle";
                        }
                        self.queue.close_if_stalled();
                        self.queue.ping();
                    }
                    (code, _) = self.queue.closed() => {
                        break if code == CLOSE_SLOW { "slow_client" } else { "closed" };
                    }
                    () = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                        self.queue.close(CLOSE_GOING_AWAY, "server shutting down");
                        break "shutdown";
                    }
                }
            };
            ws_disconnects(reason).increment(1);
            debug!(reason, "WebSocket closing");
            let _ = writer.await;
        }
        .instrument(span)
        .await;
    }

    /// Applies the size cap and the rate to one message of `len` bytes (an over-rate one is
    /// answered here, or not, and must not be handled).
    fn judge(&self, len: usize, rate: &mut MessageRate) -> Verdict {
        let config = &self.hub.inner.config;
        if too_big(len, config.max_message_bytes) {
            self.queue.close(CLOSE_TOO_BIG, TOO_BIG_REASON);
            return Verdict::Close("too_big");
        }
        match rate.admit() {
            Admit::Handle => Verdict::Handle,
            Admit::RefuseAndTell(wait) => {
                http_rate_limited("ws_message").increment(1);
                let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                self.queue.push(protocol::control(
                    "error",
                    serde_json::json!({
                        "code": RATE_LIMITED,
                        "message": format!(
                            "too many messages: at most {} a second (bursts of {}); this one and \
                             any more before retry_after_ms are ignored",
                            config.messages_per_second, config.message_burst
                        ),
                        "retry_after_ms": retry_after_ms,
                    }),
                ));
                Verdict::Ignore
            }
            Admit::Refuse => {
                http_rate_limited("ws_message").increment(1);
                Verdict::Ignore
            }
        }
    }

    async fn on_request(&self, text: &str) {
        let request: Request = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                self.queue.push(protocol::error(
                    INVALID_PARAMETER,
                    &format!(
                        "bad request ({e}); send {{\"op\":\"subscribe\",\"channels\":[\"metrics\",\"alerts\",\"tickets\"]}} or {{\"op\":\"ping\"}}"
                    ),
                ));
                return;
            }
        };
        match request {
            Request::Ping => self
                .queue
                .push(protocol::control("pong", serde_json::json!({}))),
            Request::Subscribe {
                channels,
                tenant_ids,
                resume_from,
            } => {
                let result = match Channels::parse(&channels) {
                    Ok(c) => self.subscribe(c, tenant_ids, resume_from).await,
                    Err(e) => Err(Refusal::Invalid(e)),
                };
                match result {
                    Ok(()) => {}
                    Err(Refusal::Invalid(message)) => {
                        self.queue
                            .push(protocol::error(INVALID_PARAMETER, &message));
                    }
                    Err(Refusal::Forbidden(message)) => {
                        self.queue.push(protocol::error(FORBIDDEN, &message));
                        self.queue.close(CLOSE_POLICY, "forbidden");
                    }
                }
            }
        }
    }
}

/// Completes when a token expiring at `exp` (seconds since the Unix epoch) has expired;
/// never, if that instant is too far away to represent.
async fn token_expiry(exp: u64) {
    let now_ms = u64::try_from(crate::clock::now_ms()).unwrap_or(0);
    let left = Duration::from_millis(exp.saturating_mul(1000).saturating_sub(now_ms));
    match tokio::time::Instant::now().checked_add(left) {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Messages written before one flush, at most.
const WRITE_BATCH: usize = 64;

/// Drains the queue into the socket, writing what is waiting in one flush (one system call
/// for a burst, not one per message). A write that cannot finish because the client does not
/// read is abandoned once the queue closes; the close frame then goes out after what is still
/// buffered, within [`CLOSE_FLUSH`].
async fn write(mut sink: futures::stream::SplitSink<WebSocket, Message>, queue: Arc<ClientQueue>) {
    loop {
        let mut batch = vec![queue.next().await];
        while batch.len() < WRITE_BATCH && !matches!(batch.last(), Some(Next::Close(..))) {
            match queue.try_next() {
                Some(next) => batch.push(next),
                None => break,
            }
        }
        let close = match batch.last() {
            Some(Next::Close(code, reason)) => Some((*code, *reason)),
            _ => None,
        };
        let frames: Vec<Message> = batch
            .into_iter()
            .filter_map(|next| match next {
                Next::Text(text) => Some(Message::Text(text)),
                Next::Ping => Some(Message::Ping(Default::default())),
                Next::Close(..) => None,
            })
            .collect();
        let send = async {
            for frame in frames {
                sink.feed(frame).await?;
            }
            sink.flush().await
        };
        // Biased: what was handed out after a policy close (the error saying why) is still
        // sent; only a write that cannot complete gives way to the close.
        tokio::select! {
            biased;
            sent = send => if sent.is_err() {
                queue.close(1000, "connection lost");
                return;
            },
            _ = queue.closed() => {}
        }
        // A write abandoned for a close leaves its bytes buffered: the close frame follows
        // them (next round, as the queue now answers Close).
        if let Some((code, reason)) = close {
            let frame = Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }));
            let _ = tokio::time::timeout(CLOSE_FLUSH, sink.send(frame)).await;
            return;
        }
    }
}

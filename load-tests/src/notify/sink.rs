//! `vigil-load sms-sink`: a counting stand-in for the SMS gateway and the webhook receiver.
//! It answers every POST with `200 {}` at once and counts messages (requests), the
//! notifications folded into them (an SMS `[Vigil] N alerts:` carries N, any other SMS one; a
//! webhook body carries its `alerts`), repeated idempotency keys, and when the first and last
//! message arrived. `GET /summary` answers the counts as JSON.
//!
//! HTTP/1.1 with keep-alive and `Content-Length` bodies, which is what the notifier's client
//! sends; nothing else is supported. One thread, so that it takes as little of the machine as
//! possible from the service it measures.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::{Buf, BytesMut};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::report::note;

/// Longest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Longest body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the sink has seen.
#[derive(Debug, Default)]
struct Counts {
    messages: AtomicU64,
    sms: AtomicU64,
    webhooks: AtomicU64,
    notifications: AtomicU64,
    largest: AtomicU64,
    bytes: AtomicU64,
    unreadable: AtomicU64,
    first_ms: AtomicU64,
    last_ms: AtomicU64,
    keys: Mutex<HashSet<String>>,
    repeated: AtomicU64,
}

#[derive(Deserialize)]
struct SmsBody {
    text: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Deserialize)]
struct WebhookBody {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    alerts: Vec<serde::de::IgnoredAny>,
}

/// Notifications in an SMS text: `[Vigil] 12 alerts: …` (or `[Vigil] 12条告警:`) carries 12,
/// anything else one.
pub fn notifications_in_sms(text: &str) -> u64 {
    let Some(rest) = text.strip_prefix("[Vigil] ") else {
        return 1;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    if after.starts_with(" alerts:") || after.starts_with("条告警") {
        digits.parse().unwrap_or(1)
    } else {
        1
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Counts {
    fn record(&self, path: &str, body: &[u8]) {
        let (notifications, key) = if path.starts_with("/webhook") {
            self.webhooks.fetch_add(1, Ordering::Relaxed);
            match serde_json::from_slice::<WebhookBody>(body) {
                Ok(b) => (b.alerts.len() as u64, b.message_id),
                Err(_) => (0, None),
            }
        } else {
            self.sms.fetch_add(1, Ordering::Relaxed);
            match serde_json::from_slice::<SmsBody>(body) {
                Ok(b) => (notifications_in_sms(&b.text), b.idempotency_key),
                Err(_) => (0, None),
            }
        };
        if notifications == 0 {
            self.unreadable.fetch_add(1, Ordering::Relaxed);
        }
        let now = unix_ms();
        self.first_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
            .ok();
        self.last_ms.fetch_max(now, Ordering::Relaxed);
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.notifications
            .fetch_add(notifications, Ordering::Relaxed);
        self.largest.fetch_max(notifications, Ordering::Relaxed);
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        if let Some(key) = key {
            let fresh = self.keys.lock().map(|mut k| k.insert(key)).unwrap_or(true);
            if !fresh {
                self.repeated.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn summary(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (messages, first, last) =
            (get(&self.messages), get(&self.first_ms), get(&self.last_ms));
        let span_s = last.saturating_sub(first) as f64 / 1000.0;
        serde_json::json!({
            "messages": messages,
            "sms": get(&self.sms),
            "webhooks": get(&self.webhooks),
            "notifications": get(&self.notifications),
            "largest_message": get(&self.largest),
            "repeated_keys": get(&self.repeated),
            "unreadable": get(&self.unreadable),
            "body_bytes": get(&self.bytes),
            "first_unix_ms": first,
            "last_unix_ms": last,
            "messages_per_sec": if span_s > 0.0 { (messages as f64 / span_s).round() } else { 0.0 },
        })
        .to_string()
    }
}

/// Serves on `listen` until killed.
pub fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        note(format_args!("sink listening on {}", listener.local_addr()?));
        let counts = Arc::new(Counts::default());
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true).ok();
            let counts = counts.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(stream, &counts).await {
                    note(format_args!("sink connection ended: {e}"));
                }
            });
        }
    })
}

/// The head of one request: method, path, body length, and whether the client closes after it.
struct Head {
    method: String,
    path: String,
    length: usize,
    close: bool,
}

fn parse_head(head: &[u8]) -> anyhow::Result<Head> {
    let text = std::str::from_utf8(head).context("request head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let http10 = first.next() == Some("HTTP/1.0");
    let mut length = 0;
    let mut close = http10;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().context("bad content-length")?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            anyhow::bail!("transfer-encoding {value} is not supported");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    anyhow::ensure!(length <= MAX_BODY, "body of {length} bytes is too large");
    Ok(Head {
        method,
        path,
        length,
        close,
    })
}

async fn serve(mut stream: TcpStream, counts: &Counts) -> anyhow::Result<()> {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        let head_len = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            anyhow::ensure!(buf.len() <= MAX_HEAD, "request head too large");
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = parse_head(&buf[..head_len])?;
        while buf.len() < head_len + head.length {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        buf.advance(head_len);
        let body = buf.split_to(head.length);
        let answer = match (head.method.as_str(), head.path.as_str()) {
            ("GET", "/summary") => counts.summary(),
            ("POST", path) => {
                counts.record(path, &body);
                "{}".to_string()
            }
            _ => "{}".to_string(),
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n{answer}",
            answer.len(),
            if head.close { "connection: close\r\n" } else { "" }
        );
        stream.write_all(response.as_bytes()).await?;
        if head.close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_alerts_a_grouped_sms_carries() {
        assert_eq!(notifications_in_sms("[Vigil] 12 alerts: T1 breach;"), 12);
        assert_eq!(notifications_in_sms("[Vigil] 7条告警: T1"), 7);
        assert_eq!(notifications_in_sms("[Vigil] BREACH response T1"), 1);
        assert_eq!(notifications_in_sms("hello"), 1);
    }

    #[tokio::test]
    async fn answers_posts_and_reports_what_it_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let served = counts.clone();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            serve(stream, &served).await.unwrap();
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let body =
            r#"{"to":"+8613800000001","text":"[Vigil] 3 alerts: a; b; c;","idempotency_key":"k1"}"#;
        let req = format!(
            "POST /sms HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        // Twice on one connection: one message repeated.
        c.write_all(req.as_bytes()).await.unwrap();
        c.write_all(req.as_bytes()).await.unwrap();
        c.write_all(b"GET /summary HTTP/1.1\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
        let json = out.rsplit("\r\n\r\n").next().unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["messages"], 2);
        assert_eq!(v["notifications"], 6);
        assert_eq!(v["repeated_keys"], 1);
        assert_eq!(v["largest_message"], 3);
    }
}

//! Local peers for `vigil demo`, so a new user sees notifications without setting anything
//! up: a minimal SMTP server that hands over each mail it takes, and an HTTP SMS gateway
//! that hands over each SMS (once per idempotency key). Both stop when their receiver is
//! dropped. Plain text only: they listen on loopback for the demo and tests.
//!
//! Each hands its messages over on a bounded channel of [`RECEIVED_QUEUE`]; when the reader
//! falls behind, the sink pushes back: it answers the sender only once the message is queued,
//! so a stalled reader slows delivery (and the sender's time-out and retry take over) instead
//! of growing memory.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{channel, Receiver, Sender};
use tokio::sync::Semaphore;

/// Messages a sink holds for its reader; beyond it the sink pushes back on the sender.
pub const RECEIVED_QUEUE: usize = 64;

/// Connections the SMTP sink serves at once; more wait to be accepted.
const SMTP_MAX_CONNECTIONS: usize = 16;
/// The largest mail taken (`552` beyond it).
const SMTP_MAX_MESSAGE_BYTES: usize = 1 << 20;
/// The longest command or data line read.
const SMTP_MAX_LINE_BYTES: u64 = 4096;
/// Recipients per mail.
const SMTP_MAX_RECIPIENTS: usize = 100;
/// A client silent for this long is disconnected.
const SMTP_IDLE: Duration = Duration::from_secs(60);
/// Idempotency keys the SMS sink remembers; the oldest are forgotten first.
const SMS_KEYS_REMEMBERED: usize = 10_000;

/// A mail the SMTP sink took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The text/plain part, decoded.
    pub text: String,
}

/// The demo's SMTP server.
pub struct SmtpSink;

impl SmtpSink {
    /// Listens on `bind` (port 0 for any) and returns the address taken and the mails as they
    /// arrive. Speaks EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT; answers `502` to
    /// anything else (no STARTTLS, no AUTH).
    pub async fn start(bind: SocketAddr) -> io::Result<(SocketAddr, Receiver<ReceivedMail>)> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = channel(RECEIVED_QUEUE);
        tokio::spawn(accept_mail(listener, tx));
        Ok((addr, rx))
    }
}

async fn accept_mail(listener: TcpListener, tx: Sender<ReceivedMail>) {
    let slots = Arc::new(Semaphore::new(SMTP_MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            () = tx.closed() => return,
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = smtp_session(stream, tx).await;
            drop(permit);
        });
    }
}

/// One mail being taken.
#[derive(Default)]
struct Envelope {
    /// Whether `MAIL FROM` was given (the sender itself is not kept).
    has_sender: bool,
    to: Vec<String>,
}

async fn smtp_session(stream: TcpStream, tx: Sender<ReceivedMail>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 vigil-demo ESMTP\r\n").await?;
    let mut envelope = Envelope::default();
    let mut line = Vec::new();
    loop {
        if !read_line(&mut read, &mut line).await? {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end();
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let reply: &str = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => "250-vigil-demo\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n",
            "HELO" => "250 vigil-demo\r\n",
            "MAIL" if envelope.has_sender => "503 5.5.1 MAIL already given\r\n",
            "MAIL" => match path(arg, "FROM:") {
                Some(_) => {
                    envelope.has_sender = true;
                    "250 2.1.0 OK\r\n"
                }
                None => "501 5.5.4 MAIL FROM:<address>\r\n",
            },
            "RCPT" if !envelope.has_sender => "503 5.5.1 MAIL first\r\n",
            "RCPT" if envelope.to.len() >= SMTP_MAX_RECIPIENTS => {
                "452 4.5.3 too many recipients\r\n"
            }
            "RCPT" => match path(arg, "TO:") {
                Some(to) => {
                    envelope.to.push(to);
                    "250 2.1.5 OK\r\n"
                }
                None => "501 5.5.4 RCPT TO:<address>\r\n",
            },
            "DATA" if envelope.to.is_empty() => "503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let taken = std::mem::take(&mut envelope);
                match read_data(&mut read).await? {
                    Some(data) => {
                        let mail = parse_mail(taken, &data);
                        // Waits for room (push-back); a dropped receiver only means nobody
                        // is looking any more.
                        let _ = tx.send(mail).await;
                        "250 2.0.0 queued\r\n"
                    }
                    None => "552 5.3.4 message too big\r\n",
                }
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not implemented\r\n",
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// Reads one line (with its ending) into `line`, at most [`SMTP_MAX_LINE_BYTES`]; `false` at
/// the end of the stream or after [`SMTP_IDLE`] of silence.
async fn read_line<R: AsyncBufRead + Unpin>(read: &mut R, line: &mut Vec<u8>) -> io::Result<bool> {
    line.clear();
    let mut limited = read.take(SMTP_MAX_LINE_BYTES);
    match tokio::time::timeout(SMTP_IDLE, limited.read_until(b'\n', line)).await {
        Ok(Ok(n)) => Ok(n > 0),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// The lines after `DATA` up to the lone `.`, dot-unstuffed; `None` when too big (read to its
/// end all the same, so the session can go on).
async fn read_data<R: AsyncBufRead + Unpin>(read: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut too_big = false;
    loop {
        if !read_line(read, &mut line).await? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == b"." {
            return Ok((!too_big).then_some(data));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() > SMTP_MAX_MESSAGE_BYTES {
            too_big = true;
            data.clear();
        }
        if !too_big {
            data.extend_from_slice(unstuffed);
        }
    }
}

/// The address in `FROM:<a@b> PARAMS` (after `prefix`, case-insensitive).
fn path(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

/// Enough of RFC 5322 and MIME to show a mail: unfolded headers, RFC 2047 encoded words, the
/// first text/plain part (nested multiparts too), base64 and quoted-printable bodies.
fn parse_mail(envelope: Envelope, data: &[u8]) -> ReceivedMail {
    let (headers, body) = split_entity(data);
    ReceivedMail {
        rcpt_to: envelope.to,
        subject: header_value(&headers, "subject")
            .map(decode_words)
            .unwrap_or_default(),
        text: plain_text(&headers, body).unwrap_or_default(),
    }
}

/// Headers (unfolded, names lower-case) and body of a MIME entity.
fn split_entity(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find(data, b"\r\n\r\n") {
        Some(at) => (&data[..at], &data[at + 4..]),
        None => match find(data, b"\n\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &data[data.len()..]),
        },
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    (headers, body)
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A parameter of a header value such as `multipart/alternative; boundary="x"`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The first text/plain part of an entity, decoded.
fn plain_text(headers: &[(String, String)], body: &[u8]) -> Option<String> {
    let content_type = header_value(headers, "content-type").unwrap_or("text/plain");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.starts_with("multipart/") {
        let delimiter = format!("--{}", parameter(content_type, "boundary")?);
        let text = String::from_utf8_lossy(body);
        return text
            .split(delimiter.as_str())
            .skip(1)
            .take_while(|part| !part.starts_with("--"))
            .find_map(|part| {
                let part = part.trim_start_matches(['\r', '\n']).as_bytes();
                let (headers, body) = split_entity(part);
                plain_text(&headers, body)
            });
    }
    if media != "text/plain" {
        return None;
    }
    let encoding = header_value(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "base64" => decode_base64(body)?,
        "quoted-printable" => decode_qp(body, false),
        _ => body.to_vec(),
    };
    Some(
        String::from_utf8_lossy(&bytes)
            .trim_end()
            .replace("\r\n", "\n"),
    )
}

fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Quoted-printable (RFC 2045) or, with `underscore_is_space`, the RFC 2047 `Q` encoding.
fn decode_qp(text: &[u8], underscore_is_space: bool) -> Vec<u8> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'=' if text[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if text[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => match (
                text.get(i + 1).and_then(|&b| hex(b)),
                text.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A header value with its RFC 2047 encoded words (`=?utf-8?b?...?=`) decoded; white space
/// between two encoded words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let decoded = encoded_word(&rest[start..]);
        let gap = &rest[..start];
        match decoded {
            Some((text, len)) => {
                if !(after_word && gap.trim().is_empty()) {
                    out.push_str(gap);
                }
                out.push_str(&text);
                rest = &rest[start + len..];
                after_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the encoded word `s` starts with, and the word's length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let payload = &rest.as_bytes()[..end];
    let bytes = match encoding {
        "B" | "b" => decode_base64(payload)?,
        "Q" | "q" => decode_qp(payload, true),
        _ => return None,
    };
    let len = s.len() - rest.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}

/// An SMS the SMS sink took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSms {
    /// The phone number.
    pub to: String,
    /// The text.
    pub text: String,
}

/// The demo's SMS gateway.
pub struct SmsSink;

#[derive(Debug, Deserialize)]
struct SmsRequest {
    to: String,
    text: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

struct Gateway {
    tx: Sender<ReceivedSms>,
    next_id: AtomicU64,
    /// Idempotency key → id, and the keys oldest first.
    seen: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl SmsSink {
    /// Listens on `bind` (port 0 for any) and returns the URL to POST to and the SMS as they
    /// arrive. Takes `{"to","text","idempotency_key"}` as JSON or as a form, answers
    /// `200 {"status":"queued","id":…}`, and delivers a repeated idempotency key (body field,
    /// else `Idempotency-Key` header) only once.
    pub async fn start(bind: SocketAddr) -> io::Result<(String, Receiver<ReceivedSms>)> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = channel(RECEIVED_QUEUE);
        let closed = tx.clone();
        let gateway = Arc::new(Gateway {
            tx,
            next_id: AtomicU64::new(1),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/sms", axum::routing::post(take_sms))
            .with_state(gateway);
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { closed.closed().await })
                .await
        });
        Ok((format!("http://{addr}/sms"), rx))
    }
}

async fn take_sms(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = if is_form {
        Form::<SmsRequest>::from_request(request, &())
            .await
            .map(|Form(b)| b)
            .map_err(|e| e.body_text())
    } else {
        Json::<SmsRequest>::from_request(request, &())
            .await
            .map(|Json(b)| b)
            .map_err(|e| e.body_text())
    };
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            let answer = serde_json::json!({"status": "error", "error": error});
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
    };
    let key = body.idempotency_key.or_else(|| {
        headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let id = format!("sms-{}", gw.next_id.fetch_add(1, Ordering::Relaxed));
    if let Some(key) = &key {
        let Ok(mut seen) = gw.seen.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let (ids, order) = &mut *seen;
        if let Some(earlier) = ids.get(key) {
            return Json(serde_json::json!({"status": "queued", "id": earlier})).into_response();
        }
        ids.insert(key.clone(), id.clone());
        order.push_back(key.clone());
        if order.len() > SMS_KEYS_REMEMBERED {
            if let Some(oldest) = order.pop_front() {
                ids.remove(&oldest);
            }
        }
    }
    // Answered once queued (push-back); a dropped receiver only means nobody is looking.
    let _ = gw
        .tx
        .send(ReceivedSms {
            to: body.to,
            text: body.text,
        })
        .await;
    Json(serde_json::json!({"status": "queued", "id": id})).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil::http_client::build as http_client;
    use vigil::notify::channel::{Content, Outgoing, SmsSender, SmtpSender};
    use vigil::notify::config::{SmsConfig, SmsFormat, SmtpConfig, TlsMode};
    use vigil::notify::message::Email;

    use super::*;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[tokio::test]
    async fn takes_mail_from_the_smtp_sender() {
        let (addr, mut mails) = SmtpSink::start(loopback()).await.expect("sink");
        let config = SmtpConfig {
            host: addr.ip().to_string(),
            port: addr.port(),
            tls: TlsMode::None,
            from: "vigil@example.com".into(),
            username: None,
            password_env: None,
        };
        let sender = SmtpSender::new(&config, None, Duration::from_secs(10)).expect("sender");
        let text =
            "Ticket TKT-1 breached.\n.leading dot\nAcknowledge: https://vigil.example.com/ack/x=y";
        let msg = Outgoing {
            idempotency_key: "n-1.email".into(),
            tenant_id: 101,
            to: "Oncall <oncall@example.com>".into(),
            content: Content::Email {
                from: None,
                email: Email {
                    subject: "Vigil: [CRITICAL] TKT-1 响应已超时".into(),
                    text: text.into(),
                    html: "<p>TKT-1</p>".into(),
                },
            },
        };
        sender.send(&msg).await.expect("accepted");
        let mail = mails.recv().await.expect("a mail");
        assert_eq!(mail.rcpt_to, ["oncall@example.com"]);
        assert_eq!(mail.subject, "Vigil: [CRITICAL] TKT-1 响应已超时");
        assert_eq!(mail.text, text);
    }

    async fn dialogue(addr: SocketAddr, lines: &[&str]) -> Vec<String> {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut replies = Vec::new();
        let mut reply = String::new();
        read.read_line(&mut reply).await.expect("greeting");
        replies.push(reply.trim_end().to_string());
        for line in lines {
            write
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .expect("write");
            // Data lines get no reply of their own.
            if replies.last().is_some_and(|r| r.starts_with("354")) && *line != "." {
                continue;
            }
            loop {
                reply.clear();
                read.read_line(&mut reply).await.expect("reply");
                if reply.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
            replies.push(reply.trim_end().to_string());
        }
        replies
    }

    #[tokio::test]
    async fn speaks_enough_smtp_and_unstuffs_dots() {
        let (addr, mut mails) = SmtpSink::start(loopback()).await.expect("sink");
        let replies = dialogue(
            addr,
            &[
                "HELO client",
                "RCPT TO:<early@example.com>",
                "MAIL FROM:<a@example.com>",
                "RCPT TO:<dropped@example.com>",
                "RSET",
                "MAIL FROM:<b@example.com> BODY=8BITMIME",
                "rcpt to:<c@example.com>",
                "NOOP",
                "STARTTLS",
                "DATA",
                "Subject: =?utf-8?q?caf=C3=A9_open?= =?utf-8?b?IQ==?=",
                "To: c@example.com",
                "Content-Type: text/plain",
                "Content-Transfer-Encoding: quoted-printable",
                "",
                "..hidden dot line",
                "soft=",
                " break =3D done",
                ".",
                "QUIT",
            ],
        )
        .await;
        let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
        assert_eq!(
            codes,
            [
                "220", "250", "503", "250", "250", "250", "250", "250", "250", "502", "354", "250",
                "221"
            ]
        );
        let mail = mails.recv().await.expect("a mail");
        // RSET dropped the first recipient.
        assert_eq!(mail.rcpt_to, ["c@example.com"]);
        assert_eq!(mail.subject, "café open!");
        assert_eq!(mail.text, ".hidden dot line\nsoft break = done");
    }

    #[tokio::test]
    async fn takes_each_sms_once_per_idempotency_key() {
        let (url, mut sms) = SmsSink::start(loopback()).await.expect("sink");
        let client = http_client(Duration::from_secs(10)).expect("client");
        for format in [SmsFormat::Json, SmsFormat::Form] {
            let config = SmsConfig {
                url: url.clone(),
                format,
                auth_header_env: None,
            };
            let sender = SmsSender::new(&config, None, client.clone()).expect("sender");
            let msg = Outgoing {
                idempotency_key: format!("n-{format:?}"),
                tenant_id: 101,
                to: "+8613800000001".into(),
                content: Content::Sms {
                    text: "[CRITICAL] TKT-1 breached & late".into(),
                },
            };
            sender.send(&msg).await.expect("accepted");
            sender.send(&msg).await.expect("a repeat is accepted too");
            let got = sms.recv().await.expect("an sms");
            assert_eq!(got.to, "+8613800000001");
            assert_eq!(got.text, "[CRITICAL] TKT-1 breached & late");
        }
        // The repeats were not delivered.
        assert!(sms.try_recv().is_err());
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"text":"no number"}"#)
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 400);
    }

    #[tokio::test]
    async fn a_full_queue_pushes_back_on_the_sender() {
        let (url, mut sms) = SmsSink::start(loopback()).await.expect("sink");
        let client = http_client(Duration::from_secs(30)).expect("client");
        let post = |n: usize| {
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"to":"+8613800000001","text":"sms {n}"}}"#))
                .send()
        };
        for n in 0..RECEIVED_QUEUE {
            assert_eq!(post(n).await.expect("an answer").status(), 200);
        }
        let mut waiting = tokio::spawn(post(RECEIVED_QUEUE));
        // Nobody reads: the sender gets no answer.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut waiting)
                .await
                .is_err(),
            "answered although the queue is full"
        );
        assert_eq!(sms.recv().await.expect("an sms").text, "sms 0");
        let answer = waiting.await.expect("task").expect("an answer");
        assert_eq!(answer.status(), 200);
    }
}

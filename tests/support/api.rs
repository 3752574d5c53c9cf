//! The API as a client sees it: requests with headers and bodies (reqwest), tokens from
//! `vigil token`, and a WebSocket client.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

use super::{eventually, ServiceSetup, WAIT};

/// An answer: status, headers (lower-cased names) and the body parsed as JSON (`Null` if not).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as JSON.
    pub json: Value,
    /// The body as text (lossy for a binary body).
    pub text: String,
    /// The body as sent.
    pub bytes: Vec<u8>,
}

impl Answer {
    /// The envelope's `code`.
    pub fn code(&self) -> u64 {
        self.json["code"].as_u64().unwrap_or(0)
    }

    /// The envelope's `data`.
    pub fn data(&self) -> &Value {
        &self.json["data"]
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `method path` with an optional bearer token and JSON body, on 127.0.0.1:`port`.
pub async fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    request_with(port, method, path, token, body, &[]).await
}

/// [`request`] with extra headers.
pub async fn request_with(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client().request(method.clone(), format!("http://127.0.0.1:{port}{path}"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == reqwest::Method::POST {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let answer = request.send().await.expect("an answer in time");
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).trim().to_string();
            (n.as_str().to_string(), value)
        })
        .collect();
    let bytes = answer.bytes().await.expect("read the answer").to_vec();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        headers,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        bytes,
    }
}

/// A client for one test's requests: plain HTTP, [`WAIT`] for the whole request, and a new
/// connection for each request (none is kept alive), so that a request never meets a
/// connection of a service that was stopped meanwhile.
pub fn client() -> reqwest::Client {
    vigil_peers::http::builder()
        .timeout(WAIT)
        .pool_max_idle_per_host(0)
        .build()
        .expect("a plain-HTTP client")
}

impl ServiceSetup {
    /// A token from `vigil token` with this setup's configuration.
    pub fn token(&self, tenant: u64, role: &str, sub: &str) -> String {
        self.token_with_ttl(tenant, role, sub, "2h")
    }

    /// [`ServiceSetup::token`] valid for `ttl` (e.g. `"3s"`).
    pub fn token_with_ttl(&self, tenant: u64, role: &str, sub: &str, ttl: &str) -> String {
        let run = self.vigil(&[
            "token",
            "--tenant",
            &tenant.to_string(),
            "--role",
            role,
            "--sub",
            sub,
            "--ttl",
            ttl,
            "--config",
            self.config.to_str().expect("temp paths are UTF-8"),
        ]);
        assert!(run.status.success(), "{run:?}");
        run.stdout.trim().to_string()
    }
}

/// A WebSocket client of `/ws`.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// How a connection attempt ended.
pub type WsConnect = Result<WsClient, u16>;

impl WsClient {
    /// Connects with `?token=`; `Err(status)` when the upgrade is refused.
    pub async fn connect(port: u16, token: &str) -> WsConnect {
        let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
        Self::connect_request(url.into_client_request().expect("request")).await
    }

    /// Connects with the token in the `Authorization` header.
    pub async fn connect_with_header(port: u16, token: &str) -> WsConnect {
        let mut request = format!("ws://127.0.0.1:{port}/ws")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        Self::connect_request(request).await
    }

    async fn connect_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> WsConnect {
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("WebSocket connect failed: {e}"),
        }
    }

    /// Connects over a socket with a small receive buffer (a client that reads slowly fills
    /// it, and then the server's queue, quickly).
    pub async fn connect_small_buffer(port: u16, token: &str) -> WsClient {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let tcp = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connect");
        let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
        let (stream, _) =
            tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
                .await
                .expect("upgrade");
        WsClient { stream }
    }

    /// Sends a JSON request.
    pub async fn send(&mut self, value: Value) {
        self.stream
            .send(Message::text(value.to_string()))
            .await
            .expect("send");
    }

    /// `{"op":"subscribe",…}` with these channels and extra fields.
    pub async fn subscribe(&mut self, channels: &[&str], extra: Value) {
        let mut request = serde_json::json!({"op": "subscribe", "channels": channels});
        if let (Some(r), Value::Object(fields)) = (request.as_object_mut(), extra) {
            r.extend(fields);
        }
        self.send(request).await;
    }

    /// The next JSON message (pings are answered by the library while reading); `None` when
    /// the connection closed, with the close code in `closed`.
    pub async fn next(&mut self, within: Duration) -> Option<Result<Value, Option<u16>>> {
        loop {
            let frame = tokio::time::timeout(within, self.stream.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Some(Ok(serde_json::from_str(t.as_str()).expect("JSON message")))
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(Err(frame.map(|f| u16::from(f.code))))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Err(None)),
            }
        }
    }

    /// The next message, which must arrive within [`WAIT`] before the connection closes.
    pub async fn message(&mut self) -> Value {
        match self.next(WAIT).await {
            Some(Ok(v)) => v,
            Some(Err(code)) => panic!("connection closed ({code:?}) while a message was expected"),
            None => panic!("no message within {WAIT:?}"),
        }
    }

    /// Messages until one satisfies `stop` (returned last), within [`WAIT`].
    pub async fn until(&mut self, what: &str, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.until_all(what, |seen| seen.last().is_some_and(&stop))
            .await
    }

    /// Messages until all of them together satisfy `done`, within [`WAIT`].
    pub async fn until_all(&mut self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Ok(v)) => {
                    seen.push(v);
                    if done(&seen) {
                        return seen;
                    }
                }
                Some(Err(code)) => panic!("closed ({code:?}) waiting for {what}; saw {seen:#?}"),
                None => panic!("timed out waiting for {what}; saw {seen:#?}"),
            }
        }
    }

    /// Reads frames, answering pings (the library queues the pong), until `n` pings arrived;
    /// panics if the connection closes or a ping is more than [`WAIT`] away.
    pub async fn pings(&mut self, n: usize) {
        let mut seen = 0;
        while seen < n {
            match tokio::time::timeout(WAIT, self.stream.next()).await {
                Ok(Some(Ok(Message::Ping(_)))) => seen += 1,
                Ok(Some(Ok(Message::Close(f)))) => panic!("closed after {seen} pings: {f:?}"),
                Ok(Some(Ok(_))) => {}
                other => panic!("no ping after {seen}: {other:?}"),
            }
        }
    }

    /// Sends a text frame as it is (not necessarily JSON).
    pub async fn send_text(&mut self, text: String) {
        self.stream.send(Message::text(text)).await.expect("send");
    }

    /// Reads until the server closes; the close code and reason (`None` for a connection
    /// dropped without a close frame). Messages before the close are returned too.
    pub async fn close_frame(&mut self) -> (Vec<Value>, Option<(u16, String)>) {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    seen.push(serde_json::from_str(t.as_str()).expect("JSON message"));
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let frame = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return (seen, frame);
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => return (seen, None),
                Err(_) => panic!("the server did not close the connection within {WAIT:?}"),
            }
        }
    }

    /// Reads until the server closes; the close code (`None` for a dropped connection).
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Ok(_)) => continue,
                Some(Err(code)) => return code,
                None => panic!("the server did not close the connection within {WAIT:?}"),
            }
        }
    }
}

/// Asks for a report and waits for its job to finish; the progress view when done.
pub async fn finished_job(port: u16, token: &str, body: Value) -> Value {
    let queued = request(
        port,
        "POST",
        "/api/v1/client/reports/generate",
        Some(token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(queued.status, 201, "{}", queued.text);
    let task = queued.data()["task_id"]
        .as_str()
        .expect("task id")
        .to_string();
    eventually("the report job to finish", || async {
        let p = request(
            port,
            "GET",
            &format!("/api/v1/client/reports/progress/{task}"),
            Some(token),
            None,
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.text);
        assert_ne!(p.data()["state"], "failed", "{}", p.text);
        (p.data()["state"] == "done").then(|| p.data().clone())
    })
    .await
}

/// A finished job's file.
pub async fn download_report(port: u16, token: &str, job: &Value) -> Answer {
    let url = job["download_url"].as_str().expect("download url");
    request(port, "GET", url, Some(token), None).await
}

//! Baselines of the partner benchmark (`load-tests/bench/partner.sh`): what the fake partner
//! takes with nothing of Vigil in the way.
//!
//! - `vigil-load partner-put`: PUTs NDJSON bodies to `/records/{record_id}` over `concurrency`
//!   keep-alive connections (the raw capacity the outbox drain is compared with).
//! - `vigil-load partner-pages`: pages through `GET /records?date=…` until `next_page` is null,
//!   parsing each page (the partner's half of the reconciliation floor).
//!
//! The HTTP/1.1 client here is deliberately minimal (one request at a time per connection,
//! `Content-Length` bodies only, as the fake partner answers), so that the figures are the
//! partner's and the machine's, not a client library's.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigil_load::report::{figure, note, rate};

/// The longest response head read.
const MAX_HEAD: usize = 16 * 1024;
/// The longest response body read (a page of 10,000 records is a few MB).
const MAX_BODY: usize = 256 << 20;

/// What `vigil-load partner-put` does.
#[derive(Debug, Clone, clap::Args)]
pub struct PutOptions {
    /// The partner API's base URL (`http://host:port[/prefix]`).
    #[arg(long)]
    pub url: String,
    /// NDJSON bodies, each holding `record_id`; each is PUT once.
    #[arg(long)]
    pub bodies: PathBuf,
    /// PUT at most this many (all when absent).
    #[arg(long)]
    pub records: Option<usize>,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// What `vigil-load partner-pages` does.
#[derive(Debug, Clone, clap::Args)]
pub struct PagesOptions {
    /// The partner API's base URL (`http://host:port[/prefix]`).
    #[arg(long)]
    pub url: String,
    /// The local date to page through (`YYYY-MM-DD`).
    #[arg(long)]
    pub date: String,
    /// Records per page.
    #[arg(long, default_value_t = 10_000)]
    pub page_size: u32,
}

/// A base URL taken apart: where to connect, the `Host` header and the path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Base {
    addr: String,
    prefix: String,
}

impl Base {
    fn parse(url: &str) -> anyhow::Result<Base> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("{url:?}: only http:// base URLs are supported");
        };
        let (addr, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if addr.is_empty() {
            bail!("{url:?} has no host");
        }
        Ok(Base {
            addr: addr.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// One keep-alive connection making one request at a time.
struct Connection {
    base: Base,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Connection {
    fn new(base: Base) -> Connection {
        Connection {
            base,
            stream: None,
            buf: Vec::with_capacity(MAX_HEAD),
        }
    }

    /// Sends one request and answers the status and body; a failed connection is dropped and
    /// the next request opens another.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let result = self.try_call(method, path, body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn try_call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.base.addr)
                .await
                .with_context(|| format!("cannot connect to {}", self.base.addr))?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let Some(stream) = self.stream.as_mut() else {
            bail!("no connection");
        };
        let mut request = Vec::with_capacity(body.len() + 160);
        request.extend_from_slice(
            format!(
                "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                self.base.prefix,
                self.base.addr,
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(body);
        stream.write_all(&request).await?;
        // The head.
        let head_end = loop {
            if let Some(i) = memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                bail!("response head over {MAX_HEAD} bytes");
            }
            if read_more(stream, &mut self.buf).await? == 0 {
                bail!("connection closed before the response");
            }
        };
        let head =
            std::str::from_utf8(&self.buf[..head_end]).context("response head is not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .context("no status line")?;
        let mut length = None;
        let mut close = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked responses are not supported");
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
        let length = length.unwrap_or(0);
        if length > MAX_BODY {
            bail!("response body of {length} bytes is over {MAX_BODY}");
        }
        while self.buf.len() < head_end + length {
            if read_more(stream, &mut self.buf).await? == 0 {
                bail!("connection closed inside the response body");
            }
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let start = buf.len();
    buf.resize(start + 64 * 1024, 0);
    let n = stream.read(&mut buf[start..]).await;
    buf.truncate(start + *n.as_ref().unwrap_or(&0));
    n
}

/// `id` as one path segment: unreserved characters and `:` as they are, the rest escaped.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `vigil-load partner-put`; prints `puts`, `puts_failed`, `put_seconds`,
/// `puts_per_sec`.
pub fn put(options: PutOptions) -> anyhow::Result<()> {
    let base = Base::parse(&options.url)?;
    let text = std::fs::read(&options.bodies)
        .with_context(|| format!("cannot read {}", options.bodies.display()))?;
    let mut requests = Vec::new();
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if options.records.is_some_and(|max| requests.len() >= max) {
            break;
        }
        #[derive(serde::Deserialize)]
        struct Id {
            record_id: String,
        }
        let id: Id = serde_json::from_slice(line)
            .with_context(|| format!("line {}: no record_id", n + 1))?;
        requests.push((
            format!("/records/{}", path_segment(&id.record_id)),
            line.to_vec(),
        ));
    }
    let total = requests.len();
    note(format_args!(
        "PUT {total} records to {} over {} connections",
        options.url, options.concurrency
    ));
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let runtime = runtime()?;
    let seconds = runtime.block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..options.concurrency.max(1))
            .map(|_| {
                let (requests, next, failed) = (requests.clone(), next.clone(), failed.clone());
                let mut connection = Connection::new(base.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((path, body)) = requests.get(i) else {
                            break;
                        };
                        match connection.call("PUT", path, body).await {
                            Ok((status, _)) if (200..300).contains(&status) => {}
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.context("a PUT task failed")?;
        }
        anyhow::Ok(started.elapsed().as_secs_f64())
    })?;
    let failed = failed.load(Ordering::Relaxed);
    figure("puts", total);
    figure("puts_failed", failed);
    figure("put_seconds", format!("{seconds:.3}"));
    rate("puts_per_sec", total as u64 - failed, seconds);
    Ok(())
}

/// Runs `vigil-load partner-pages`; prints `pages`, `page_records`, `pages_seconds`,
/// `page_records_per_sec`.
pub fn pages(options: PagesOptions) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Page {
        records: Vec<serde_json::Map<String, serde_json::Value>>,
        next_page: Option<u64>,
    }
    let base = Base::parse(&options.url)?;
    let runtime = runtime()?;
    let (pages, records, seconds) = runtime.block_on(async {
        let mut connection = Connection::new(base);
        let started = Instant::now();
        let (mut pages, mut records, mut page) = (0u64, 0u64, Some(1u64));
        while let Some(number) = page {
            let path = format!(
                "/records?date={}&page={number}&page_size={}",
                options.date, options.page_size
            );
            let (status, body) = connection.call("GET", &path, b"").await?;
            if status != 200 {
                bail!(
                    "page {number}: status {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let parsed: Page = serde_json::from_slice(&body)
                .with_context(|| format!("page {number} is not a page of records"))?;
            pages += 1;
            records += parsed.records.len() as u64;
            page = parsed.next_page;
        }
        anyhow::Ok((pages, records, started.elapsed().as_secs_f64()))
    })?;
    figure("pages", pages);
    figure("page_records", records);
    figure("pages_seconds", format!("{seconds:.3}"));
    rate("page_records_per_sec", records, seconds);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_and_ids_are_taken_apart() {
        let base = Base::parse("http://127.0.0.1:9400/api/").unwrap();
        assert_eq!(
            base,
            Base {
                addr: "127.0.0.1:9400".into(),
                prefix: "/api".into()
            }
        );
        assert_eq!(Base::parse("http://h:1").unwrap().prefix, "");
        assert!(Base::parse("https://h:1").is_err());
        assert_eq!(
            path_segment("12:TKT 1/x:response"),
            "12:TKT%201%2Fx:response"
        );
    }
}

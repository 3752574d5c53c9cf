//! Baselines of the partner benchmark (`load-tests/bench/partner.sh`): what the fake partner
//! takes with nothing of Vigil in the way.
//!
//! - `vigil-load partner-put`: PUTs NDJSON bodies to `/records/{record_id}` over `concurrency`
//!   keep-alive connections (the raw capacity the outbox drain is compared with).
//! - `vigil-load partner-pages`: pages through `GET /records?date=…` until `next_page` is null,
//!   parsing each page (the partner's half of the reconciliation floor).
//!
//! Both use reqwest, the HTTP client the service's partner sync uses, with one keep-alive
//! connection per request in flight.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use vigil_load::report::{figure, note, rate};

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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

/// The partner API's base URL without a trailing `/`; only `http://` URLs with a host.
fn base_url(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("{url:?}: only http:// base URLs are supported");
    };
    if rest.is_empty() || rest.starts_with('/') {
        bail!("{url:?} has no host");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// A client keeping up to `connections` idle keep-alive connections to the partner.
fn client(connections: usize) -> reqwest::Client {
    vigil_peers::http::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()
        .expect("a plain-HTTP client builds")
}

/// Sends one request: the status and the body.
async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, bytes::Bytes)> {
    let answer = request.send().await?;
    let status = answer.status().as_u16();
    Ok((status, answer.bytes().await?))
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
    let base = base_url(&options.url)?;
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
            format!("{base}/records/{}", path_segment(&id.record_id)),
            bytes::Bytes::copy_from_slice(line),
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
    let concurrency = options.concurrency.max(1);
    let seconds = runtime.block_on(async {
        let client = client(concurrency);
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (requests, next, failed) = (requests.clone(), next.clone(), failed.clone());
                let client = client.clone();
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((url, body)) = requests.get(i) else {
                            break;
                        };
                        let put = client
                            .put(url)
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(body.clone());
                        match call(put).await {
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
    let base = base_url(&options.url)?;
    let runtime = runtime()?;
    let (pages, records, seconds) = runtime.block_on(async {
        let client = client(1);
        let started = Instant::now();
        let (mut pages, mut records, mut page) = (0u64, 0u64, Some(1u64));
        while let Some(number) = page {
            let url = format!(
                "{base}/records?date={}&page={number}&page_size={}",
                options.date, options.page_size
            );
            let (status, body) = call(client.get(url)).await?;
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
        assert_eq!(
            base_url("http://127.0.0.1:9400/api/").unwrap(),
            "http://127.0.0.1:9400/api"
        );
        assert_eq!(base_url("http://h:1").unwrap(), "http://h:1");
        assert!(base_url("https://h:1").is_err());
        assert!(base_url("http:///api").is_err());
        assert_eq!(
            path_segment("12:TKT 1/x:response"),
            "12:TKT%201%2Fx:response"
        );
    }
}

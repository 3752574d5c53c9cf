//! The configuration center's benchmark (`vigil-load config`, run by
//! `load-tests/bench/config.sh` against three instances):
//!
//! - **Change → applied on every instance.** `--latency-changes` flag changes, one at a time
//!   and `--pace-ms` apart, each PUT to one instance in turn; after each, every instance's
//!   `/metrics` is polled every [`POLL`] until its `vigil_config_applied_seq` reaches the
//!   change's `seq`. The figure per change is from sending the PUT to the last instance seen
//!   applying it (so it includes the PUT's own round trip and up to one poll interval).
//!   Baseline in the same run: `GET /healthz` round trips of the same instances.
//! - **Changes through the API.** `--throughput-changes` changes of tenants' `sla.warn_at`
//!   over `--concurrency` connections spread over the instances (each tenant's key on one
//!   connection, which tracks its version): the sustained rate. Baseline in the same run: the
//!   same number of `GET /api/v1/system-config/{key}` reads at the same concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use vigil_load::report::{figure, note, quantile, rate};

/// How often each instance's `/metrics` is read while waiting for a change.
pub const POLL: Duration = Duration::from_millis(5);
/// How long one change may take to be applied everywhere before the run fails.
const APPLY_LIMIT: Duration = Duration::from_secs(30);

/// What `vigil-load config` does.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigOptions {
    /// The instances' base URLs, comma-separated (`http://127.0.0.1:8080,…`).
    #[arg(long)]
    pub urls: String,
    /// An `ops` token.
    #[arg(long)]
    pub token: String,
    /// Flag changes timed one by one.
    #[arg(long, default_value_t = 200)]
    pub latency_changes: usize,
    /// Pause between timed changes, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub pace_ms: u64,
    /// Changes sent as fast as the API takes them.
    #[arg(long, default_value_t = 5000)]
    pub throughput_changes: usize,
    /// Connections of the throughput part.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn client(connections: usize) -> reqwest::Client {
    vigil_peers::http::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()
        .expect("a plain-HTTP client builds")
}

/// `vigil_config_applied_seq` of one instance.
async fn applied_seq(client: &reqwest::Client, url: &str) -> anyhow::Result<i64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("vigil_config_applied_seq "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as i64))
}

/// PUTs a change; its `seq` and new version.
async fn put(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
    value: Value,
    version: i64,
) -> anyhow::Result<(i64, i64)> {
    let answer = client
        .put(format!("{url}/api/v1/system-config/{key}"))
        .bearer_auth(token)
        .header("If-Match", version.to_string())
        .header("Content-Type", "application/json")
        .body(json!({"value": value, "reason": "configuration benchmark"}).to_string())
        .send()
        .await?;
    let status = answer.status();
    let body: Value = serde_json::from_slice(&answer.bytes().await?)?;
    if !status.is_success() {
        bail!("PUT {key}: {status} {body}");
    }
    let change = &body["data"]["changes"][0];
    Ok((
        change["seq"].as_i64().context("no seq")?,
        change["version"].as_i64().context("no version")?,
    ))
}

/// The current version of `key` (0: never set).
async fn version_of(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
) -> anyhow::Result<i64> {
    let answer = client
        .get(format!("{url}/api/v1/system-config/{key}"))
        .bearer_auth(token)
        .send()
        .await?;
    let body: Value = serde_json::from_slice(&answer.bytes().await?)?;
    body["data"]["version"]
        .as_i64()
        .with_context(|| format!("GET {key}: {body}"))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn print_quantiles(name: &str, mut samples: Vec<i64>) {
    samples.sort_unstable();
    for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        figure(
            &format!("{name}_{label}_ms"),
            format!("{:.2}", quantile(&samples, q) as f64 / 1000.0),
        );
    }
    figure(
        &format!("{name}_max_ms"),
        format!(
            "{:.2}",
            samples.last().copied().unwrap_or(0) as f64 / 1000.0
        ),
    );
}

/// Runs `vigil-load config`.
pub fn run(options: ConfigOptions) -> anyhow::Result<()> {
    let urls: Vec<String> = options
        .urls
        .split(',')
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        bail!("--urls: name at least one instance");
    }
    runtime()?.block_on(async move {
        let client = client(options.concurrency.max(urls.len()));
        latency(&client, &urls, &options).await?;
        throughput(&client, &urls, &options).await
    })
}

async fn latency(
    client: &reqwest::Client,
    urls: &[String],
    options: &ConfigOptions,
) -> anyhow::Result<()> {
    let token = &options.token;
    note(format_args!(
        "{} flag changes, one at a time, {} ms apart, over {} instances",
        options.latency_changes,
        options.pace_ms,
        urls.len()
    ));
    let key = "flags.ws.tickets";
    let mut version = version_of(client, &urls[0], token, key).await?;
    let mut applied = Vec::with_capacity(options.latency_changes);
    let mut baseline = Vec::with_capacity(options.latency_changes);
    for i in 0..options.latency_changes {
        let value = if i % 2 == 0 {
            json!({"on": true, "percent": 100})
        } else {
            json!({"on": true})
        };
        let url = &urls[i % urls.len()];
        let sent = Instant::now();
        let (seq, next) = put(client, url, token, key, value, version).await?;
        version = next;
        let mut waiting: Vec<&String> = urls.iter().collect();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for u in waiting {
                if applied_seq(client, u).await? < seq {
                    still.push(u);
                }
            }
            waiting = still;
            if waiting.is_empty() {
                break;
            }
            if sent.elapsed() > APPLY_LIMIT {
                bail!("change {seq} not applied everywhere within {APPLY_LIMIT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
        applied.push(micros(sent.elapsed()));
        let probe = Instant::now();
        client.get(format!("{url}/healthz")).send().await?;
        baseline.push(micros(probe.elapsed()));
        tokio::time::sleep(Duration::from_millis(options.pace_ms)).await;
    }
    print_quantiles("applied_everywhere", applied);
    print_quantiles("baseline_healthz", baseline);
    Ok(())
}

async fn throughput(
    client: &reqwest::Client,
    urls: &[String],
    options: &ConfigOptions,
) -> anyhow::Result<()> {
    let concurrency = options.concurrency.max(1);
    let total = options.throughput_changes;
    note(format_args!(
        "{total} tenant SLA changes over {concurrency} connections, then as many reads"
    ));
    let failed = Arc::new(AtomicU64::new(0));
    for reads in [false, true] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let client = client.clone();
            let url = urls[worker % urls.len()].clone();
            let token = options.token.clone();
            let failed = failed.clone();
            let share = total / concurrency + usize::from(worker < total % concurrency);
            tasks.push(tokio::spawn(async move {
                // Each worker owns a few tenants' keys and tracks their versions.
                let keys: Vec<String> = (0..8)
                    .map(|k| format!("tenant.{}.sla.warn_at", 1 + worker * 8 + k))
                    .collect();
                let mut versions = vec![None::<i64>; keys.len()];
                for i in 0..share {
                    let slot = i % keys.len();
                    let key = &keys[slot];
                    let ok = if reads {
                        version_of(&client, &url, &token, key).await.is_ok()
                    } else {
                        let version = match versions[slot] {
                            Some(v) => v,
                            None => version_of(&client, &url, &token, key).await.unwrap_or(0),
                        };
                        let value = if i % 2 == 0 {
                            json!([0.5, 0.8])
                        } else {
                            json!([0.6, 0.8])
                        };
                        match put(&client, &url, &token, key, value, version).await {
                            Ok((_, next)) => {
                                versions[slot] = Some(next);
                                true
                            }
                            Err(_) => {
                                versions[slot] = None;
                                false
                            }
                        }
                    };
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.context("a worker panicked")?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let name = if reads { "baseline_reads" } else { "changes" };
        rate(&format!("{name}_per_sec"), total as u64, seconds);
        figure(&format!("{name}_failed"), failed.swap(0, Ordering::Relaxed));
    }
    Ok(())
}

//! `vigil-load ws`: a swarm of WebSocket clients against a running `vigil run`, while events
//! are published to its JetStream; measures how fast alerts reach the clients.
//!
//! 1. Raises the open-file limit, mints one `client_user` token per tenant with the service's
//!    HS256 secret, and connects `clients` WebSocket clients (`ramp` per second) spread evenly
//!    over tenants `1..=tenants`, each subscribing to `["metrics","alerts"]`.
//! 2. Publishes `rate × duration` `ticket.created` events to `vigil.events.<tenant>` at `rate`
//!    per second. A `breach_share` of them are CRITICAL tickets created three days ago, which
//!    breach both goals the moment the service applies them; the instant each is handed to
//!    NATS is recorded.
//! 3. Every firing `alert` a client receives for one of those tickets is a push-latency sample
//!    (receive instant − publish instant): the whole path publish → JetStream → engine →
//!    alert writer → hub → socket. Messages per second by type and the pace of each tenant's
//!    `metrics` updates (coalesced to at most 4/s) are counted too.
//! 4. After `duration` plus `drain` (for the last alerts), clients close and the report is
//!    printed: a `figure value` table on stdout, or with `--json` one JSON line on stdout (the
//!    table then goes to stderr).
//!
//! The service must let that many clients in from one address: run it with the per-IP rate
//! limit off, room for the connections (`[http] max_connections`,
//! `[http] max_connections_per_ip` and `[ws] max_clients` count
//! every WebSocket) and an open-file limit above the client count, e.g.
//! ```text
//! ulimit -n 20000
//! export VIGIL__AUTH__JWT_SECRET="$(openssl rand -base64 48)"
//! VIGIL__HTTP__RATE_LIMIT_PER_IP=0 VIGIL__HTTP__MAX_CONNECTIONS=20000 \
//!   VIGIL__HTTP__MAX_CONNECTIONS_PER_IP=20000 VIGIL__WS__MAX_CLIENTS=20000 \
//!   vigil run --config config/vigil.toml
//! vigil-load ws --clients 10000 --tenants 100 --rate 10000 --duration 30s
//! ```
//!
//! # Layout
//! - `net`: the endpoint, local source addresses, the file-descriptor limit.
//! - `token`: client tokens.
//! - `events`: the published events (pure).
//! - `latency`: publish instants and their lookup by alert (pure).
//! - `histogram`: the lock-free latency histogram (pure).
//! - `message`: reading server messages (pure).
//! - `stats`: shared counters and the report.
//! - `client`: one WebSocket client.
//! - `publish`: the paced publisher.

pub mod client;
pub mod events;
pub mod histogram;
pub mod latency;
pub mod message;
pub mod net;
pub mod publish;
pub mod stats;
pub mod token;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinSet;

use self::client::ClientSetup;
use self::events::EventPlan;
use self::latency::PublishLog;
use self::message::Kind;
use self::stats::{ms, Report, Stats};
use crate::report::note;

/// What `vigil-load ws` runs (its command-line options).
#[derive(Debug, Clone, clap::Args)]
pub struct WsOptions {
    /// The service's base URL; clients connect to `<url>/ws`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The service's NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// WebSocket clients.
    #[arg(long, default_value_t = 10_000)]
    pub clients: usize,
    /// Tenants 1..=N the clients and events are spread over.
    #[arg(long, default_value_t = 100)]
    pub tenants: u64,
    /// Events published per second.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u32,
    /// How long to publish (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_span)]
    pub duration: Duration,
    /// The service's HS256 secret (`[auth] jwt_secret`), to mint client_user tokens; by
    /// default the one the service reads, `VIGIL__AUTH__JWT_SECRET`.
    #[arg(long, env = "VIGIL__AUTH__JWT_SECRET", hide_env_values = true)]
    pub token_secret: String,
    /// Fraction of events that are CRITICAL tickets created 3 days ago (breach at once).
    #[arg(long, default_value_t = 0.005)]
    pub breach_share: f64,
    /// Client connections started per second.
    #[arg(long, default_value_t = 2000)]
    pub ramp: u32,
    /// How long to keep listening after the last event is published.
    #[arg(long, default_value = "5s", value_parser = parse_span)]
    pub drain: Duration,
    /// Local source addresses 127.0.0.1..N for the connections (loopback only; 0: one per
    /// 20,000 clients).
    #[arg(long, default_value_t = 0)]
    pub source_ips: usize,
    /// Print the report as one JSON line on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Reads a duration such as `30s`, `2m`, `1h30m` or `500ms`.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    match vigil_schema::parse_duration(s) {
        Ok(ms) if ms >= 0 => Ok(Duration::from_millis(ms as u64)),
        Ok(_) => Err("must not be negative".into()),
        Err(e) => Err(format!("{e} (e.g. 30s, 2m, 1h30m, 500ms)")),
    }
}

/// Runs the swarm and prints the report.
pub fn run(options: WsOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        options.clients > 0 && options.tenants > 0,
        "--clients and --tenants must be at least 1"
    );
    anyhow::ensure!(
        options.rate > 0 && options.ramp > 0,
        "--rate and --ramp must be at least 1"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&options.breach_share),
        "--breach-share must be within 0..=1"
    );
    match vigil_streams::fd_limit::raise_fd_limit() {
        Ok(limit) if limit < options.clients as u64 + 64 => note(format_args!(
            "warning: the open-file limit is {limit}, too low for {} clients; raise the hard limit (ulimit -Hn)",
            options.clients
        )),
        Ok(_) => {}
        Err(e) => note(format_args!("warning: cannot raise the open-file limit: {e}")),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = options.json;
    let report = runtime.block_on(drive(options))?;
    // Clients still closing are not waited for.
    runtime.shutdown_background();
    if json {
        let _ = write!(std::io::stderr().lock(), "{}", report.table());
        let _ = writeln!(std::io::stdout().lock(), "{}", report.json());
    } else {
        let _ = write!(std::io::stdout().lock(), "{}", report.table());
    }
    if report.failure_reasons.contains_key("http 429") {
        note("the service refused upgrades with 429: run it with VIGIL__HTTP__RATE_LIMIT_PER_IP=0 and [ws] max_clients, max_clients_per_tenant high enough");
    }
    Ok(())
}

async fn drive(o: WsOptions) -> anyhow::Result<Report> {
    let endpoint = net::Endpoint::parse(&o.url)?;
    let sources = net::source_ips(&endpoint, o.source_ips, o.clients)?;
    let addr = tokio::net::lookup_host(&endpoint.authority)
        .await
        .with_context(|| format!("cannot resolve {}", endpoint.authority))?
        .next()
        .with_context(|| format!("{} has no address", endpoint.authority))?;

    let nats = async_nats::connect(&o.nats)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", o.nats))?;
    let js = async_nats::jetstream::new(nats.clone());
    let stream = js
        .stream_by_subject("vigil.events.1")
        .await
        .with_context(|| {
            format!(
                "no stream takes vigil.events.* at {}: start `vigil run` first",
                o.nats
            )
        })?;
    note(format_args!("publishing to stream {stream}"));

    let connect_budget = Duration::from_secs_f64(o.clients as f64 / f64::from(o.ramp)) * 2;
    let ttl = o.duration + o.drain + connect_budget + Duration::from_secs(3600);
    let tokens: Vec<Arc<str>> = token::per_tenant(o.tenants, &o.token_secret, ttl)?
        .into_iter()
        .map(Arc::from)
        .collect();
    let events = (f64::from(o.rate) * o.duration.as_secs_f64())
        .round()
        .max(1.0) as u64;
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let plan = EventPlan::new(run_id, o.tenants, o.breach_share, events);
    note(format_args!(
        "run {}: {} clients over {} tenants at {}, then {events} events at {}/s ({:.1}% breaching)",
        plan.run,
        o.clients,
        o.tenants,
        endpoint.ws_url,
        o.rate,
        o.breach_share * 100.0
    ));
    let log = Arc::new(PublishLog::new(plan, Instant::now()));
    let stats = Arc::new(Stats::new());
    let (stop_tx, stop_rx) = watch::channel(false);

    // Connect at the ramp rate.
    let url: Arc<str> = endpoint.ws_url.clone().into();
    let mut clients = JoinSet::new();
    let connect_started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut next_note = Instant::now() + Duration::from_secs(1);
    let mut spawned = 0;
    while spawned < o.clients {
        tick.tick().await;
        let due = publish::due(connect_started.elapsed(), o.ramp, o.clients as u64) as usize;
        while spawned < due {
            let tenant_id = 1 + (spawned as u64 % o.tenants);
            clients.spawn(client::run(ClientSetup {
                tenant_id,
                url: url.clone(),
                addr,
                source: sources.as_ref().map(|s| s[spawned % s.len()]),
                token: tokens[(tenant_id - 1) as usize].clone(),
                stats: stats.clone(),
                log: log.clone(),
                stop: stop_rx.clone(),
            }));
            spawned += 1;
        }
        if Instant::now() >= next_note {
            next_note += Duration::from_secs(1);
            note(format_args!(
                "{spawned} clients started, {} connected, {} failed",
                stats.connected.load(Ordering::Relaxed),
                stats.failed.load(Ordering::Relaxed)
            ));
        }
    }
    // Wait for every connection to settle and take its snapshots.
    let settle_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connected = stats.connected.load(Ordering::Relaxed);
        let failed = stats.failed.load(Ordering::Relaxed);
        let subscribed = stats.subscribed.load(Ordering::Relaxed);
        let dropped = stats.dropped.load(Ordering::Relaxed);
        if (connected + failed >= o.clients as u64 && subscribed + dropped >= connected)
            || Instant::now() >= settle_deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    note(format_args!(
        "{} connected, {} subscribed, {} failed in {connect_seconds:.1} s; publishing",
        stats.connected.load(Ordering::Relaxed),
        stats.subscribed.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
    ));

    // Publish, then listen for the last alerts.
    let before = stats.messages_by_kind();
    let bytes_before = stats.bytes.load(Ordering::Relaxed);
    let window_started = Instant::now();
    let progress = tokio::spawn(progress(stats.clone()));
    let published = publish::publish(js, &log, o.rate).await?;
    note(format_args!(
        "published {} events ({} not stored) in {:.1} s; listening {:?} more",
        published.events, published.failed, published.seconds, o.drain
    ));
    tokio::time::sleep(o.drain).await;
    let window = window_started.elapsed().as_secs_f64().max(1e-9);
    let after = stats.messages_by_kind();
    let bytes_after = stats.bytes.load(Ordering::Relaxed);
    progress.abort();

    let _ = stop_tx.send(true);
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    if closed.is_err() {
        clients.abort_all();
    }
    nats.flush().await.ok();

    let mut messages_per_sec_by_type = BTreeMap::new();
    let mut messages_by_type = BTreeMap::new();
    for kind in Kind::ALL {
        let i = kind.index();
        if after[i] > 0 {
            messages_by_type.insert(kind.as_str(), after[i]);
            messages_per_sec_by_type.insert(kind.as_str(), (after[i] - before[i]) as f64 / window);
        }
    }
    let in_window: u64 = after.iter().zip(&before).map(|(a, b)| a - b).sum();
    Ok(Report {
        clients: o.clients as u64,
        tenants: o.tenants,
        clients_connected: stats.connected.load(Ordering::Relaxed),
        clients_subscribed: stats.subscribed.load(Ordering::Relaxed),
        clients_failed: stats.failed.load(Ordering::Relaxed),
        clients_dropped: stats.dropped.load(Ordering::Relaxed),
        connect_seconds,
        events_published: published.events,
        events_failed: published.failed,
        breaching_published: published.breaching,
        breaching_alerted: log.alerted_tickets(),
        publish_events_per_sec: published.events as f64 / published.seconds.max(1e-9),
        window_seconds: window,
        push_latency_samples: stats.latency.count(),
        push_latency_p50_ms: ms(stats.latency.quantile(0.5)),
        push_latency_p90_ms: ms(stats.latency.quantile(0.9)),
        push_latency_p99_ms: ms(stats.latency.quantile(0.99)),
        push_latency_max_ms: ms(stats.latency.max()),
        first_push_latency_p50_ms: ms(stats.first_latency.quantile(0.5)),
        first_push_latency_p99_ms: ms(stats.first_latency.quantile(0.99)),
        alerts_unexpected: stats.alerts_unexpected.load(Ordering::Relaxed),
        alerts_foreign: stats.alerts_foreign.load(Ordering::Relaxed),
        messages_per_sec: in_window as f64 / window,
        messages_per_sec_by_type,
        messages_by_type,
        received_mb_per_sec: (bytes_after - bytes_before) as f64 / window / 1e6,
        metrics_interval_p50_ms: ms(stats.metrics_interval.quantile(0.5)),
        metrics_interval_p1_ms: ms(stats.metrics_interval.quantile(0.01)),
        metrics_max_per_sec: stats.metrics_max_per_sec.load(Ordering::Relaxed),
        failure_reasons: stats.reasons(),
    })
}

/// Notes on stderr every 5 s: clients open, messages per second, alerts matched.
async fn progress(stats: Arc<Stats>) {
    let every = Duration::from_secs(5);
    let started = Instant::now();
    let mut last = stats.total_messages();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        let total = stats.total_messages();
        note(format_args!(
            "t={:.0}s: {} clients open, {} dropped, {:.0} messages/s, {} alerts matched, push p99 {:.1} ms",
            started.elapsed().as_secs_f64(),
            stats.open.load(Ordering::Relaxed),
            stats.dropped.load(Ordering::Relaxed),
            (total - last) as f64 / every.as_secs_f64(),
            stats.alerts_matched.load(Ordering::Relaxed),
            ms(stats.latency.quantile(0.99)),
        ));
        last = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_like_the_service_config() {
        assert_eq!(parse_span("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_span("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_span("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_span("soon").is_err());
        assert!(parse_span("").is_err());
    }
}

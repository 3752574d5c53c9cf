//! `vigil-load`: generators and drivers for Vigil's benchmarks and soak tests (commands and
//! figures: see the crate docs in `lib.rs`).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vigil_load::live::{EngineKind, LiveOptions};
use vigil_load::notify::publish::StormOptions;
use vigil_load::notify::watch::WatchOptions;
use vigil_load::partner::PartnerOptions;
use vigil_load::ws::WsOptions;
use vigil_peers::workload::Workload;

mod config_bench;
mod partner_bench;

/// The same allocator as `vigil`, so memory and throughput figures match the service.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Load tools for Vigil: workload generators and benchmark drivers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a deterministic NDJSON event workload (default: the 1,000,000-event benchmark:
    /// 1,000 tenants over 7 days).
    Generate {
        /// Where to write (`-` for stdout).
        #[arg(long, default_value = "-")]
        output: PathBuf,
        /// Number of events.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Number of tenants.
        #[arg(long, default_value_t = 1_000)]
        tenants: u64,
        /// First tenant id.
        #[arg(long, default_value_t = 1)]
        first_tenant: u64,
        /// Days over which tickets are created.
        #[arg(long, default_value_t = 7.0)]
        days: f64,
        /// First creation instant (RFC 3339).
        #[arg(long, default_value = "2026-11-02T00:00:00Z")]
        start: String,
        /// Seed (same seed, same file).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Shuffle events within this many seconds (0 keeps them sorted).
        #[arg(long, default_value_t = 0)]
        shuffle_secs: i64,
    },
    /// The replay's floor: decodes every line of an NDJSON event file on one thread, nothing
    /// else (`decoded_events_per_sec`).
    Decode {
        /// The NDJSON event file.
        #[arg(long)]
        input: PathBuf,
    },
    /// Writes NDJSON that leaves `--tickets` tickets open after `--history` events (created
    /// over the last hour, then assigned in turn; no alert fires): the recovery benchmark's
    /// stream.
    OpenTickets {
        /// Where to write (`-` for stdout).
        #[arg(long, default_value = "-")]
        output: PathBuf,
        /// Tickets opened and left open.
        #[arg(long, default_value_t = 1_000_000)]
        tickets: u64,
        /// Events in all (at least `--tickets`).
        #[arg(long, default_value_t = 1_000_000)]
        history: u64,
        /// Tenants the tickets are spread over.
        #[arg(long, default_value_t = 1_000)]
        tenants: u64,
    },
    /// Measures resident memory per open ticket (`bytes_per_open_ticket`), or with
    /// `--idle-tenants` per idle tenant engine and actor (`bytes_per_idle_tenant_actor`).
    Memory {
        /// Open tickets to create (two goals each).
        #[arg(long, default_value_t = 1_000_000)]
        tickets: u64,
        /// Tenants the tickets are spread over.
        #[arg(long, default_value_t = 10_000)]
        tenants: u64,
        /// Measure this many idle tenants instead of open tickets.
        #[arg(long)]
        idle_tenants: Option<u64>,
    },
    /// Resident memory of the live dedupe memory over many events with unique ids
    /// (`rss_growth_after_window_pct`: growth once the window is full; flat is about 0).
    Dedupe {
        /// Events, each with a new id.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Tenants the ids are spread over.
        #[arg(long, default_value_t = 1_000)]
        tenants: u64,
        /// How long ids are remembered (the stream's retention in `vigil run`), in days.
        #[arg(long, default_value_t = 35)]
        window_days: i64,
        /// Wall-clock time the events span, in days.
        #[arg(long, default_value_t = 350)]
        span_days: i64,
        /// Never expire (the live path before expiry), for the baseline.
        #[arg(long)]
        never_expire: bool,
    },
    /// Against its own nats-server: publishes a workload, measures the raw consume rate and the
    /// applied rate (`applied_to_raw_ratio`), then warning latency with many open goals.
    Live {
        /// Events to publish and consume (0 skips the throughput part).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Tenants of the workload.
        #[arg(long, default_value_t = 1_000)]
        tenants: u64,
        /// Partitions of the events stream.
        #[arg(long, default_value_t = 16)]
        partitions: u32,
        /// Engine of the applied consumption.
        #[arg(long, value_enum, default_value_t = EngineKind::Actors)]
        engine: EngineKind,
        /// Raw/applied measurement pairs (the best of each is reported).
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// Concurrent publishers (each owns a share of the partitions).
        #[arg(long, default_value_t = 4)]
        publishers: usize,
        /// Open tickets for the warning-latency part (0 skips it).
        #[arg(long, default_value_t = 500_000)]
        warn_tickets: u64,
        /// Of those, tickets whose warning falls in the measurement window.
        #[arg(long, default_value_t = 20_000)]
        warnings: u64,
        /// Tenants of the warning-latency tickets.
        #[arg(long, default_value_t = 1_000)]
        warn_tenants: u64,
        /// Seconds over which the due warnings are spread.
        #[arg(long, default_value_t = 20)]
        warn_window_secs: u64,
        /// Do not publish warnings to JetStream (emit latency only).
        #[arg(long)]
        no_publish: bool,
    },
    /// Against a running `vigil run`: connects many WebSocket clients, publishes events of
    /// which a share breach at once, and measures alert push latency (publish -> client),
    /// messages per second and metrics coalescing.
    Ws(WsOptions),
    /// Creates the streams on `--nats` and publishes an alert storm (overdue CRITICAL tickets,
    /// 4 alerts each) followed by a calm backlog (tickets that raise no alert).
    Storm {
        /// NATS URL.
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
        /// Partitions of the events stream (the service's `[nats] partitions`).
        #[arg(long, default_value_t = 16)]
        partitions: u32,
        /// Concurrent publishers (each owns a share of the partitions).
        #[arg(long, default_value_t = 4)]
        publishers: usize,
        /// Tenants.
        #[arg(long, default_value_t = 1_000)]
        tenants: u64,
        /// Overdue tickets (4 alerts each).
        #[arg(long, default_value_t = 25_000)]
        storm_tickets: u64,
        /// Events of the calm backlog after the storm (5 per ticket).
        #[arg(long, default_value_t = 2_000_000)]
        calm_events: u64,
        /// Age of the overdue tickets (over 4h: every alert is due at once).
        #[arg(long, default_value = "5h", value_parser = parse_duration_arg)]
        age: Duration,
        /// Empty the events stream first (a restarted service then has nothing to replay).
        #[arg(long)]
        purge_events: bool,
    },
    /// A counting SMS gateway and webhook receiver (the peers' fake gateway): runs until
    /// SIGTERM or Ctrl-C, then prints messages, the notifications folded into them, and
    /// their rate.
    SmsSink {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
        /// The secret webhooks are signed with (the service's `notify.webhook` secret).
        #[arg(
            long,
            env = "VIGIL_BENCH_WEBHOOK_SECRET",
            hide_env_values = true,
            default_value = "storm-bench"
        )]
        webhook_secret: String,
    },
    /// Follows a service's `/metrics` until it ingested `--events`; prints its ingest rate.
    IngestWatch {
        /// `host:port` of the service's HTTP listener.
        #[arg(long)]
        addr: String,
        /// Events to wait for.
        #[arg(long)]
        events: u64,
        /// Alert changes to time as well (0: none).
        #[arg(long, default_value_t = 0)]
        alerts: u64,
        /// Give up after this long.
        #[arg(long, default_value = "10m", value_parser = parse_duration_arg)]
        timeout: Duration,
    },
    /// A fake exchange partner (records API, auth, fault injection via `/_admin/`) serving
    /// until Ctrl-C; prints `partner_url=…`.
    Partner(PartnerOptions),
    /// Baseline of the partner benchmark: PUTs NDJSON bodies straight to a partner over
    /// `--concurrency` keep-alive connections; prints `puts_per_sec`.
    PartnerPut(partner_bench::PutOptions),
    /// Baseline of the partner benchmark: pages through a partner's records of a date;
    /// prints `page_records_per_sec`.
    PartnerPages(partner_bench::PagesOptions),
    /// The configuration center against running instances: change → applied on every
    /// instance (one change at a time), then changes per second through the API, each with
    /// its baseline (`/healthz` round trips, reads of the same keys).
    Config(config_bench::ConfigOptions),
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    vigil_schema::parse_duration(s)
        .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .map_err(|e| e.to_string())
}

/// Where a generator writes: `path`, or stdout for `-`, buffered.
fn ndjson_output(path: &std::path::Path) -> anyhow::Result<BufWriter<Box<dyn Write>>> {
    let out: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )
    };
    Ok(BufWriter::with_capacity(1 << 20, out))
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::OpenTickets {
            output,
            tickets,
            history,
            tenants,
        } => {
            let mut out = ndjson_output(&output)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            vigil_load::open_tickets::OpenTickets {
                tickets,
                history,
                tenants,
                now,
            }
            .write(&mut out)?;
            out.flush()?;
        }
        Command::Decode { input } => vigil_load::decode::run(&input)?,
        Command::Generate {
            output,
            events,
            tenants,
            first_tenant,
            days,
            start,
            seed,
            shuffle_secs,
        } => {
            let start = vigil_schema::parse_instant(&start)
                .context("--start must be an RFC 3339 instant")?;
            let w = Workload {
                events,
                tenants: tenants.max(1),
                first_tenant,
                span_ms: (days * 86_400_000.0) as i64,
                start,
                seed,
                delay_scale: 1.0,
                shuffle_ms: shuffle_secs * 1000,
            };
            let mut out = ndjson_output(&output)?;
            w.write(&mut out)?;
            out.flush()?;
        }
        Command::Memory {
            tickets,
            tenants,
            idle_tenants,
        } => match idle_tenants {
            Some(n) => vigil_load::memory::idle_tenants(n)?,
            None => vigil_load::memory::open_tickets(tickets, tenants)?,
        },
        Command::Dedupe {
            events,
            tenants,
            window_days,
            span_days,
            never_expire,
        } => vigil_load::dedupe::memory(
            events,
            tenants,
            window_days * 86_400_000,
            span_days * 86_400_000,
            !never_expire,
        )?,
        Command::Live {
            events,
            tenants,
            partitions,
            engine,
            rounds,
            publishers,
            warn_tickets,
            warnings,
            warn_tenants,
            warn_window_secs,
            no_publish,
        } => vigil_load::live::run(LiveOptions {
            events,
            tenants,
            partitions,
            engine,
            rounds,
            publishers,
            warn_tickets,
            warnings,
            warn_tenants,
            warn_window: Duration::from_secs(warn_window_secs),
            publish_alerts: !no_publish,
        })?,
        Command::Ws(options) => vigil_load::ws::run(options)?,
        Command::Storm {
            nats,
            partitions,
            publishers,
            tenants,
            storm_tickets,
            calm_events,
            age,
            purge_events,
        } => vigil_load::notify::publish::run(StormOptions {
            nats,
            partitions,
            publishers,
            tenants,
            storm_tickets,
            calm_events,
            age,
            purge_events,
        })?,
        Command::SmsSink {
            listen,
            webhook_secret,
        } => vigil_load::notify::sink::run(listen, &webhook_secret)?,
        Command::IngestWatch {
            addr,
            events,
            alerts,
            timeout,
        } => vigil_load::notify::watch::run(WatchOptions {
            addr,
            events,
            alerts,
            timeout,
        })?,
        Command::Partner(options) => vigil_load::partner::run(options)?,
        Command::PartnerPut(options) => partner_bench::put(options)?,
        Command::PartnerPages(options) => partner_bench::pages(options)?,
        Command::Config(options) => config_bench::run(options)?,
    }
    Ok(())
}

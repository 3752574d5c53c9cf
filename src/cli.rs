//! Command-line interface: one binary, a subcommand per job, `--help` on each.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Vigil: real-time SLA engine. Consumes ticket events from NATS JetStream, keeps every open
/// ticket's SLA clocks, warns before and alerts at breach, and serves metrics.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr (default: `[log] format` of the configuration for `run`, else text).
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: consume this instance's partitions, keep SLA clocks, record and publish
    /// alerts, serve /metrics, /healthz and /readyz.
    Run {
        /// Configuration file (environment variables VIGIL__SECTION__KEY override it).
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
    /// One-command showcase: starts nats-server (from PATH or NATS_SERVER_BIN), the service on
    /// SQLite with short demo targets, and a synthetic upstream for several tenants; prints the
    /// alerts as they fire.
    Demo {
        /// How long to run before stopping by itself (e.g. "10m"); runs until Ctrl-C if absent.
        #[arg(long)]
        duration: Option<String>,
        /// HTTP listen address of the demo service.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Run the engine in event time over an NDJSON file of events and write one alert record
    /// per alert state change as NDJSON; a summary line goes to stderr.
    Replay {
        /// Input NDJSON file, `-` for stdin.
        #[arg(long)]
        input: PathBuf,
        /// Output file for alert records (stdout if absent).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Configuration file (policies, calendars, allowed lateness). Built-in defaults if
        /// absent and config/vigil.toml does not exist.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Publish an NDJSON file of events to JetStream (an upstream simulator).
    Publish {
        /// Input NDJSON file, `-` for stdin.
        #[arg(long)]
        input: PathBuf,
        /// At most this many events per second (unlimited if absent).
        #[arg(long)]
        rate: Option<u32>,
        /// Configuration file (for the NATS URL).
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
    /// Mint a JWT with the configured signing key and print it (for development and tests).
    Token {
        /// The tenant the token belongs to.
        #[arg(long)]
        tenant: u64,
        /// client_admin, client_manager, client_user, ops or service.
        #[arg(long, value_parser = parse_role)]
        role: vigil::auth::Role,
        /// How long it is valid (e.g. "2h", "30m", "7d").
        #[arg(long, default_value = "2h")]
        ttl: String,
        /// The subject (user id) recorded when the token acknowledges alerts; default
        /// `dev-<role>`.
        #[arg(long)]
        sub: Option<String>,
        /// Configuration file (for the signing key). Built-in defaults if absent and
        /// config/vigil.toml does not exist.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Reconcile one exchange partner's records of one day now and print the report.
    ///
    /// Pages through the partner's records of the day (a local date in the partner's time
    /// zone), compares them with ours by record id and a content hash of the mapped fields,
    /// stores the report and prints it: counts by kind and the first diffs, both sides masked
    /// as records leave Vigil.
    ///
    /// Repairs: records missing or different at the partner are re-queued in the partner
    /// outbox, and the running service (`vigil run`) sends them; this command sends nothing
    /// itself. Records only the partner has are flagged for review and left alone.
    ///
    /// An unfinished run of the partner and day (a crash, an outage) is resumed from its last
    /// saved page. Only one reconciliation of a partner runs at a time, across instances.
    /// Progress goes to stderr. Exits 0 when the run finished, with or without diffs, and
    /// non-zero with the reason otherwise.
    Reconcile {
        /// The partner's id (`id` of its `[[partners]]` entry).
        #[arg(long)]
        partner: String,
        /// The day to reconcile, YYYY-MM-DD, a local date in the partner's time zone.
        #[arg(long, value_parser = parse_date)]
        date: jiff::civil::Date,
        /// Configuration file (partners and store; VIGIL__SECTION__KEY overrides it).
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
        /// How the report is printed: counts and the first diffs (text), or the run and
        /// every kept diff (json).
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Produce one tenant's SLA report over a period from the store's reporting history and
    /// write it to a file (or stdout); progress goes to stderr. With neither --period nor
    /// --from/--to, reports last month (in the tenant's zone).
    Report {
        /// The tenant.
        #[arg(long)]
        tenant: u64,
        #[command(flatten)]
        range: PeriodArgs,
        /// json, csv, xlsx or pdf.
        #[arg(long, default_value = "json", value_parser = parse_report_format)]
        format: vigil::report::Format,
        /// Where to write the file; stdout if absent (json and csv only, unless redirected).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Configuration file (store, reports, tenant files; VIGIL__SECTION__KEY overrides it).
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
    /// Replay a tenant's history through the engine twice, under the policy in force and under
    /// a proposed one, and print both side by side: compliance per priority and service type,
    /// goals whose outcome would change, alerts that would appear or disappear. Reads the
    /// events stream (or an NDJSON export); touches no live state, alert or notification.
    WhatIf {
        /// A TOML file with a `[policy]` table, as in a tenant file: merged over the tenant's
        /// policy (over every tenant's and the default without --tenant).
        #[arg(long)]
        policy: PathBuf,
        /// The tenant (every tenant in the history if absent).
        #[arg(long)]
        tenant: Option<u64>,
        #[command(flatten)]
        range: PeriodArgs,
        /// An NDJSON file of events (`vigil export`) instead of the events stream.
        #[arg(long)]
        input: Option<PathBuf>,
        /// text (for people) or json.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Configuration file (policies, calendars, NATS; VIGIL__SECTION__KEY overrides it).
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
    /// Write a tenant's stored events (from the events stream) as NDJSON, oldest first: every
    /// event up to --to, so that a what-if over the file sees the tickets open at --from.
    Export {
        /// The tenant.
        #[arg(long)]
        tenant: u64,
        /// Events before this are left out: a local date or an RFC 3339 instant (default:
        /// all the stream holds).
        #[arg(long)]
        from: Option<String>,
        /// Events from this on are left out (default: none).
        #[arg(long)]
        to: Option<String>,
        /// Output file (stdout if absent).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Configuration file (NATS, tenant zone).
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
    /// Validate the configuration and print the effective policy of every tenant; exits non-zero
    /// with `file:line: field: problem` for each problem.
    CheckConfig {
        /// Configuration file.
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
}

/// The period of `vigil report` and `vigil what-if`, in the tenant's zone: a calendar period or
/// a range (neither: the last month closed).
#[derive(Debug, Clone, Args)]
pub struct PeriodArgs {
    /// day, week, month, quarter or year of the tenant's zone: the one holding --date, or the
    /// last one closed.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub period: Option<String>,
    /// A local date (YYYY-MM-DD) inside --period.
    #[arg(long, requires = "period")]
    pub date: Option<String>,
    /// Start of a range: a local date (YYYY-MM-DD, its first instant) or an RFC 3339 instant.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End of a range (exclusive), like --from.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
}

impl PeriodArgs {
    /// The period these flags name in `zone`, as of now; an error names the flag at fault.
    pub fn resolve(
        &self,
        zone: &jiff::tz::TimeZone,
    ) -> anyhow::Result<vigil::report::model::Period> {
        vigil::report::period::resolve(
            (
                self.period.as_deref(),
                self.date.as_deref(),
                self.from.as_deref(),
                self.to.as_deref(),
            ),
            zone,
            vigil::clock::now_ms(),
        )
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.field, e.message))
    }
}

/// How `vigil reconcile` and `vigil what-if` print their report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Counts and the first diffs, for people.
    Text,
    /// All of it as one JSON document, for programs (reconcile: `{"run": …, "diffs": […]}`;
    /// what-if: the whole comparison).
    Json,
}

/// A date written `YYYY-MM-DD`, nothing more.
fn parse_date(s: &str) -> Result<jiff::civil::Date, String> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    let date = shape.then(|| s.parse::<jiff::civil::Date>().ok()).flatten();
    date.ok_or_else(|| format!("expected a date as YYYY-MM-DD, e.g. 2026-11-23, not {s:?}"))
}

fn parse_report_format(s: &str) -> Result<vigil::report::Format, String> {
    vigil::report::Format::parse(s).ok_or_else(|| "expected json, csv, xlsx or pdf".to_string())
}

fn parse_role(s: &str) -> Result<vigil::auth::Role, String> {
    vigil::auth::Role::parse(s).ok_or_else(|| {
        "expected client_admin, client_manager, client_user, ops or service".to_string()
    })
}

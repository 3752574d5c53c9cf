//! Command-line interface: one binary, a subcommand per job, `--help` on each.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Validate the configuration and print the effective policy of every tenant; exits non-zero
    /// with `file:line: field: problem` for each problem.
    CheckConfig {
        /// Configuration file.
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
}

fn parse_role(s: &str) -> Result<vigil::auth::Role, String> {
    vigil::auth::Role::parse(s).ok_or_else(|| {
        "expected client_admin, client_manager, client_user, ops or service".to_string()
    })
}

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
    /// Validate the configuration and print the effective policy of every tenant; exits non-zero
    /// with `file:line: field: problem` for each problem.
    CheckConfig {
        /// Configuration file.
        #[arg(long, default_value = "config/vigil.toml")]
        config: PathBuf,
    },
}

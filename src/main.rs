//! `vigil`: the command-line entry point. Parses the command and hands over to its module.
//!
//! # Layout
//! - `cli`: the command-line interface.
//! - `replay`: `vigil replay`, the engine in event time over a file.
//! - `publish`: `vigil publish`, an upstream simulator.
//! - `service`: `vigil run`, the service.
//! - `demo`: `vigil demo`, the service with a nats-server child and a synthetic upstream.
//! - the library (`vigil::`): configuration, store, telemetry, HTTP.

mod cli;
mod demo;
mod publish;
mod replay;
mod service;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use vigil::config::{check_config, VigilConfig};
use vigil::stopped;
use vigil::telemetry;

use cli::{Cli, Command, LogFormat, ReportFormat};

/// mimalloc: events are decoded on one thread and dropped on another; glibc malloc serialises
/// those cross-thread frees on an arena lock, mimalloc does not. It is tuned through its
/// documented environment options, which it reads as the process starts: deployments set
/// `MIMALLOC_PURGE_DELAY=1` so that freed pages go back to the OS after 1 ms rather than
/// mimalloc's default, since the engine's tables grow by reallocation and a longer delay keeps
/// old and new copies resident.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format.map(|f| match f {
        LogFormat::Text => telemetry::LogFormat::Text,
        LogFormat::Json => telemetry::LogFormat::Json,
    });
    // `run` logs as its configuration says (it initialises logging once that is loaded).
    if !matches!(cli.command, Command::Run { .. }) {
        let filter = match cli.command {
            Command::Replay { .. }
            | Command::CheckConfig { .. }
            | Command::Token { .. }
            | Command::Reconcile { .. } => "warn",
            _ => "info",
        };
        if let Err(e) = telemetry::init_logging(format.unwrap_or_default(), filter) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    match dispatch(cli.command, format) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(
    command: Command,
    log_format: Option<telemetry::LogFormat>,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay {
            input,
            output,
            config,
        } => {
            let config = load(config.as_deref())?;
            let book = config
                .policy_book()
                .map_err(|e| anyhow::anyhow!("invalid policy: {e:?}"))?;
            let (summary, rate) = replay::run(
                Arc::new(book),
                Arc::new(config.engine_settings()),
                config.engine.allowed_lateness.as_millis(),
                &input,
                output.as_deref(),
            )?;
            eprintln!("{}", summary.line(rate));
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { config } => match check_config(&config) {
            Ok(report) => {
                use std::io::Write as _;
                std::io::stdout()
                    .write_all(report.as_bytes())
                    .context("cannot write the report")?;
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                for p in problems {
                    eprintln!("{p}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Run { config } => {
            let config = VigilConfig::load_for_serving(&config).map_err(invalid)?;
            telemetry::init_logging(log_format.unwrap_or(config.log.format), &config.log.filter)?;
            raise_fd_limit();
            let metrics = telemetry::install_recorder()?;
            service_runtime()?.block_on(service::run(config, metrics, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish {
            input,
            rate,
            config,
        } => {
            let config = load(Some(&config))?;
            let runtime = tokio::runtime::Runtime::new()?;
            let summary = runtime.block_on(publish::run(&config.nats.url, &input, rate))?;
            eprintln!(
                "published={} duplicates={} failed={} skipped={}",
                summary.stats.published,
                summary.stats.duplicates,
                summary.stats.failed,
                summary.skipped
            );
            Ok(if summary.stats.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Token {
            tenant,
            role,
            ttl,
            sub,
            config,
        } => {
            use std::io::Write as _;
            let config = load(config.as_deref())?;
            if let Some(problem) = vigil::config::secrets::jwt_secret_problem(&config.auth) {
                eprintln!("warning: auth.jwt_secret {problem}; `vigil run` refuses it, so this token is for development only");
            }
            let ttl = vigil_streams::parse_duration(&ttl)
                .ok()
                .and_then(|ms| u64::try_from(ms).ok())
                .filter(|ms| *ms >= 1000)
                .map(std::time::Duration::from_millis)
                .context("--ttl: expected a duration of at least 1s, e.g. 2h")?;
            let minter = vigil::auth::Minter::from_config(&config)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            let sub = sub.unwrap_or_else(|| format!("dev-{role}"));
            let token = minter
                .mint(&sub, tenant, role, now, ttl)
                .context("cannot sign the token")?;
            writeln!(std::io::stdout(), "{token}").context("cannot write the token")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile {
            partner,
            date,
            config,
            format,
        } => {
            use std::io::Write as _;
            let config = load(Some(&config))?;
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(reconcile(&config, &partner, date, format))?;
            std::io::stdout()
                .write_all(report.as_bytes())
                .context("cannot write the report")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { duration, listen } => {
            let duration = duration
                .map(|d| vigil_streams::parse_duration(&d).context("--duration"))
                .transpose()?;
            let metrics = telemetry::install_recorder()?;
            raise_fd_limit();
            service_runtime()?.block_on(demo::run(listen, duration, metrics))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `vigil reconcile`: one manual reconciliation of `partner` and local `day`, progress on
/// stderr; returns the report to print.
async fn reconcile(
    config: &VigilConfig,
    partner: &str,
    day: jiff::civil::Date,
    format: ReportFormat,
) -> anyhow::Result<String> {
    use vigil::partner::reconcile::{report, Reconciler, Trigger};
    let Some(entry) = config.partners.iter().find(|p| p.id == partner) else {
        let ids: Vec<&str> = config.partners.iter().map(|p| p.id.as_str()).collect();
        if ids.is_empty() {
            anyhow::bail!("unknown partner {partner:?}: no [[partners]] are configured");
        }
        anyhow::bail!(
            "unknown partner {partner:?}; configured partners: {}",
            ids.join(", ")
        );
    };
    let store = vigil::store::Store::connect_with(&config.store)
        .await
        .context("cannot open the store")?;
    let clock = Arc::new(vigil_actors::clock::WallClock);
    let link = vigil::partner::connect_all(std::slice::from_ref(entry), clock)
        .map_err(|e| anyhow::anyhow!("cannot set up the partner: {e}"))?
        .pop()
        .context("no link to the partner")?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let holder = format!("{host}:{}:reconcile", std::process::id());
    let reconciler = Reconciler::new(link, store.clone(), holder);
    let display = report::ProgressDisplay::new(format!("{partner} {day}"));
    let result = reconciler
        .run(day, Trigger::Manual, &|p| display.show(p))
        .await;
    display.finish();
    let run = result
        .with_context(|| format!("the reconciliation of {partner} for {day} did not finish"))?;
    let diffs = store
        .reconciliation_diffs(&run.run_id)
        .await
        .context("cannot read the report's diffs")?;
    Ok(match format {
        ReportFormat::Text => report::render_text(&run, &diffs),
        ReportFormat::Json => report::render_json(&run, &diffs) + "\n",
    })
}

/// Every WebSocket client holds a descriptor: take the hard limit of open files, not the
/// usual soft 1024.
fn raise_fd_limit() {
    match vigil_load::ws::net::raise_fd_limit() {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// Loads and validates the configuration for a one-shot command, printing every problem.
fn load(path: Option<&Path>) -> anyhow::Result<VigilConfig> {
    VigilConfig::load_or_default(path).map_err(invalid)
}

/// Every configuration problem, one per line.
fn invalid(problems: Vec<vigil::config::ConfigProblem>) -> anyhow::Error {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    anyhow::anyhow!("invalid configuration:\n{}", lines.join("\n"))
}

/// An actix system on a multi-threaded tokio runtime: NATS, HTTP and the store run on the
/// runtime, tenant actors on their own arbiter threads.
fn service_runtime() -> anyhow::Result<actix_rt::SystemRunner> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(actix_rt::System::with_tokio_rt(move || runtime))
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

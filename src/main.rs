//! `vigil`: the command-line entry point. Parses the command and hands over to its module.
//!
//! # Layout
//! - `cli`: the command-line interface.
//! - `replay`: `vigil replay`, the engine in event time over a file.
//! - `publish`: `vigil publish`, an upstream simulator.
//! - `token`: `vigil token`, a development token signed with the configured key.
//! - `reconcile`: `vigil reconcile`, one reconciliation with a partner now.
//! - `report_cli`: `vigil report`, one tenant's SLA report over a period.
//! - `what_if_cli`: `vigil what-if` and `vigil export`: a tenant's history under a proposed
//!   policy, and the history as NDJSON.
//! - `service`: `vigil run`, the service.
//! - `demo`: `vigil demo`, the service with a nats-server child and a synthetic upstream
//!   (the `demo` feature, on by default: the only user of `vigil-peers` in the binary).
//! - the library (`vigil::`): configuration, store, telemetry, HTTP.

mod cli;
#[cfg(feature = "demo")]
mod demo;
mod publish;
mod reconcile;
mod replay;
mod report_cli;
mod service;
mod token;
mod what_if_cli;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use vigil::config::{check_config, VigilConfig};
use vigil::stopped;
use vigil::telemetry;

use cli::{Cli, Command, LogFormat};

/// mimalloc: events are decoded on one thread and dropped on another; glibc malloc serialises
/// those cross-thread frees on an arena lock, mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of `mimalloc.h`'s `mi_option_e` (the option the environment
/// variable `MIMALLOC_PURGE_DELAY` sets). The Rust bindings name the options around it but not
/// this one, and the environment variable is read only as the process starts, too late for a
/// program to set it for itself.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long mimalloc keeps freed pages before returning them to the OS, in milliseconds.
const PURGE_DELAY_MS: std::ffi::c_long = 50;
/// The same for `vigil replay`, whose peak RSS is a figure it is held to: its tables grow in
/// steps of a quarter, and each step frees the copy before it.
const REPLAY_PURGE_DELAY_MS: std::ffi::c_long = 2;
/// `mi_option_allow_thp` of the same enum (`MIMALLOC_ALLOW_THP`), also unnamed in the bindings.
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Turns transparent huge pages off for this process: for mimalloc, which then stops asking
/// for them, and for the kernel, which then stops backing the arenas mimalloc reserved before
/// `main` with them. Best effort: a kernel without the setting keeps its default.
fn disable_transparent_huge_pages() {
    // SAFETY: sets a plain integer option; mimalloc reads options at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Return freed pages to the OS after 50 ms instead of mimalloc's default: the engine's
    // tables grow by reallocation, and a long delay keeps old and new copies resident. A
    // shorter one costs time in the service: pages freed by one thread and reused by another
    // are returned and faulted in again. `vigil replay` returns them after 2 ms: over 1 M events
    // that lowers its peak RSS from 81–87 MB to 72–73 MB in the same time (0 ms: 71–72 MB;
    // five runs each). An operator's `MIMALLOC_PURGE_DELAY` wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        let delay = match cli.command {
            Command::Replay { .. } => REPLAY_PURGE_DELAY_MS,
            _ => PURGE_DELAY_MS,
        };
        // SAFETY: sets a plain integer option; mimalloc reads options at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay) };
    }
    // No transparent huge pages: mimalloc asks for them on its arenas, and the kernel then
    // zeroes and keeps whole 2 MiB pages where a few KiB are in use. Without them the peak RSS
    // of `vigil replay` over 1 M events is about 14 MB lower and of a 1 M-record reconciliation
    // about 30 MB, in the same time. An operator's `MIMALLOC_ALLOW_THP` wins.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        disable_transparent_huge_pages();
    }
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
            | Command::Reconcile { .. }
            | Command::Report { .. }
            | Command::WhatIf { .. }
            | Command::Export { .. } => "warn",
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
                // A replay's output is its alerts: the dashboards' metrics are not kept.
                Arc::new(vigil_engine::EngineSettings {
                    keep_metrics: false,
                    ..config.engine_settings()
                }),
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
            token::run(&load(config.as_deref())?, tenant, role, &ttl, sub)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile {
            partner,
            date,
            config,
            format,
        } => {
            reconcile::run(&load(Some(&config))?, &partner, date, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            tenant,
            range,
            format,
            output,
            config,
        } => {
            report_cli::run(&load(Some(&config))?, tenant, &range, format, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::WhatIf {
            policy,
            tenant,
            range,
            input,
            format,
            config,
        } => {
            let source = what_if_cli::Source { tenant, input };
            what_if_cli::run(&load(Some(&config))?, &policy, &source, &range, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            tenant,
            from,
            to,
            output,
            config,
        } => {
            what_if_cli::export(&load(Some(&config))?, tenant, (from, to), output)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "demo")]
        Command::Demo { duration, listen } => {
            let duration = duration
                .map(|d| vigil_schema::parse_duration(&d).context("--duration"))
                .transpose()?;
            let metrics = telemetry::install_recorder()?;
            raise_fd_limit();
            service_runtime()?.block_on(demo::run(listen, duration, metrics))?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => {
            anyhow::bail!("this vigil was built without the `demo` feature (on by default)")
        }
    }
}

/// Every WebSocket client holds a descriptor: take the hard limit of open files, not the
/// usual soft 1024.
fn raise_fd_limit() {
    match vigil_streams::fd_limit::raise_fd_limit() {
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

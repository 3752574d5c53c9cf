//! `vigil`: the command-line entry point. Parses the command and hands over to its module.
//!
//! # Layout
//! - `cli`: the command-line interface.
//! - `replay`: `vigil replay`, the engine in event time over a file.

mod cli;
mod replay;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use vigil_actors::{EngineSettings, PolicyBook};

use cli::{Cli, Command};

/// mimalloc: events are decoded on one thread and dropped on another; glibc malloc serialises
/// those cross-thread frees on an arena lock, mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay { input, output, config } => {
            let book = policy_book(config.as_deref())?;
            let (summary, rate) = replay::run(
                Arc::new(book),
                Arc::new(EngineSettings::default()),
                300_000,
                &input,
                output.as_deref(),
            )?;
            eprintln!("{}", summary.line(rate));
            Ok(ExitCode::SUCCESS)
        }
        _ => anyhow::bail!("not built yet"),
    }
}

fn policy_book(_config: Option<&Path>) -> anyhow::Result<PolicyBook> {
    PolicyBook::build(&Default::default(), &BTreeMap::new(), &BTreeMap::new())
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("invalid policy")
}

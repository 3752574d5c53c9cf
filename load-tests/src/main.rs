//! `vigil-load`: generators and drivers for Vigil's benchmarks and soak tests.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vigil_load::workload::Workload;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
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
            let start = vigil_streams::parse_instant(&start)
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
            let out: Box<dyn Write> = if output.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(
                    std::fs::File::create(&output)
                        .with_context(|| format!("cannot create {}", output.display()))?,
                )
            };
            let mut out = BufWriter::with_capacity(1 << 20, out);
            w.write(&mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

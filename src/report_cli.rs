//! `vigil report`: one tenant's SLA report over a period, computed from the store's reporting
//! history and written to a file or stdout, with progress on stderr.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use jiff::tz::TimeZone;
use vigil::config::VigilConfig;
use vigil::report::{Breakdowns, Format, JobRequest, Reports};

use crate::cli::PeriodArgs;

/// Computes the report on a runtime of its own and writes it.
pub fn run(
    config: &VigilConfig,
    tenant: u64,
    range: &PeriodArgs,
    format: Format,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let bytes = runtime.block_on(generate(config, tenant, range, format))?;
    match output {
        Some(path) => std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout()
            .write_all(&bytes)
            .context("cannot write the report")?,
    }
    Ok(())
}

async fn generate(
    config: &VigilConfig,
    tenant: u64,
    range: &PeriodArgs,
    format: Format,
) -> anyhow::Result<Vec<u8>> {
    let store = vigil::store::Store::connect_with(&config.store)
        .await
        .context("cannot open the store")?;
    let reports = Reports::new(
        store.clone(),
        &config.reports,
        config.tenant_reports.clone(),
    );
    let settings = reports.tenant(tenant);
    let tz = TimeZone::get(&settings.timezone).unwrap_or(TimeZone::UTC);
    let period = range.resolve(&tz)?;
    eprintln!(
        "tenant {tenant}: {} to {} ({}), {}",
        vigil_schema::format_instant(period.from),
        vigil_schema::format_instant(period.to),
        settings.timezone,
        format.as_str()
    );
    let request = JobRequest {
        tenant_id: tenant,
        period,
        format,
        breakdowns: Breakdowns::default(),
        requested_by: "cli".into(),
        settings,
    };
    let progress = |p: u8| eprint!("\r{p:3}%");
    let done = reports.generate(&request, &progress).await?;
    eprintln!(
        "\r{} bytes, {} goal outcomes",
        done.bytes.len(),
        done.records
    );
    store.close().await;
    Ok(done.bytes)
}

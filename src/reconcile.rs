//! `vigil reconcile`: one manual reconciliation of a partner's local day, with progress on
//! stderr and the report on stdout.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context;
use vigil::config::VigilConfig;

use crate::cli::ReportFormat;

/// Runs the reconciliation on a runtime of its own and prints the report.
pub fn run(
    config: &VigilConfig,
    partner: &str,
    day: jiff::civil::Date,
    format: ReportFormat,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(reconcile(config, partner, day, format))?;
    std::io::stdout()
        .write_all(report.as_bytes())
        .context("cannot write the report")
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
    let clock = Arc::new(vigil_engine::clock::WallClock);
    // The partner's rate limit counts this run with the instances' deliveries.
    let shared = vigil::limits::SharedLimits::from_setting(&config.cluster.redis_url)
        .await
        .context("cannot set up the shared rate limits")?;
    let (secrets, _) = vigil::runtime_config::follow::secrets_at_start(&store)
        .await
        .context("cannot read the partner's secrets")?;
    let link = vigil::partner::connect_all(
        std::slice::from_ref(entry),
        clock,
        shared.as_ref(),
        &secrets,
    )
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
        .reconciliations()
        .diffs(&run.run_id)
        .await
        .context("cannot read the report's diffs")?;
    Ok(match format {
        ReportFormat::Text => report::render_text(&run, &diffs),
        ReportFormat::Json => report::render_json(&run, &diffs) + "\n",
    })
}

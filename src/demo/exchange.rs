//! The demo's exchange partner: a fake partner (vigil-peers') that goes down for 45 s every
//! 3 minutes and silently loses about one write in twenty, so the breaker can be seen opening
//! and closing and the reconciliation finds and repairs differences. Every few minutes the demo
//! reconciles today's records with it and prints the report's counts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tracing::warn;
use vigil::partner::config::{BreakerConfig, PartnerConfig, RateLimitConfig, TenantSelector};
use vigil::partner::connect_all;
use vigil::partner::reconcile::{Reconciler, Trigger};
use vigil::setting::ConfigDuration;
use vigil::store::Store;
use vigil_engine::clock::WallClock;
use vigil_peers::partner::{FakePartner, FakePartnerConfig, OutageMode, OutageWindow, Share};

use super::println_demo;

/// The demo partner's id.
pub const PARTNER_ID: &str = "demo-exchange";
/// The outage cycle.
const OUTAGE_EVERY: Duration = Duration::from_secs(180);
/// How long each outage lasts.
const OUTAGE_FOR: Duration = Duration::from_secs(45);
/// Share of writes the partner answers but does not keep.
const LOST_WRITES: f64 = 0.05;

/// Starts the fake partner with its faults.
pub async fn start() -> anyhow::Result<FakePartner> {
    let partner = FakePartner::start(FakePartnerConfig::default())
        .await
        .context("cannot start the demo's exchange partner")?;
    partner.set_outage(
        OutageMode::Unavailable,
        OutageWindow::Repeat {
            every: OUTAGE_EVERY,
            down: OUTAGE_FOR,
        },
    );
    partner.drop_writes(Share::Fraction(LOST_WRITES));
    Ok(partner)
}

/// The `[[partners]]` entry for the fake partner: every tenant, a small breaker window so the
/// outage shows quickly, a rate limit, masked assignees, no nightly run (the demo reconciles
/// by itself).
pub fn partner_config(partner: &FakePartner) -> PartnerConfig {
    toml::from_str::<PartnerConfig>(&format!(
        "id = \"{PARTNER_ID}\"\nbase_url = \"{}\"\nreconcile_at = \"off\"",
        partner.url()
    ))
    .map(|mut c| {
        c.tenants = vec![TenantSelector::Pattern("*".into())];
        c.timeout = ConfigDuration::from_secs(2);
        c.retry_delay = ConfigDuration::from_secs(1);
        c.max_retry_delay = ConfigDuration::from_secs(20);
        c.rate_limit = Some(RateLimitConfig {
            per_second: 20,
            burst: 5,
        });
        c.breaker = BreakerConfig {
            window: 6,
            open_for: ConfigDuration::from_secs(15),
            half_open_calls: 2,
            ..BreakerConfig::default()
        };
        c.masking = [("assignee_id".to_string(), "first:2,last:2".to_string())].into();
        c
    })
    .unwrap_or_else(|e| unreachable!("the demo partner's configuration parses: {e}"))
}

/// How often the demo reconciles today's records with the partner.
const RECONCILE_EVERY: Duration = Duration::from_secs(100);

/// Until `stop`: every [`RECONCILE_EVERY`], reconciles today (UTC) with the partner through
/// the store at `store_url`, and prints the counts; the fake partner stops with it.
pub async fn reconcile_now_and_then(
    partner: FakePartner,
    config: PartnerConfig,
    store_url: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut reconciler: Option<Reconciler> = None;
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => break,
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
        }
        // Connected on first use: by then the service has set the store up.
        if reconciler.is_none() {
            match connect(&config, &store_url).await {
                Ok(r) => reconciler = Some(r),
                Err(e) => {
                    warn!(error = %e, "the demo cannot reconcile with its partner yet");
                    continue;
                }
            }
        }
        let Some(reconciler) = &reconciler else {
            continue;
        };
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        match reconciler.run(today, Trigger::Manual, &|_| {}).await {
            Ok(run) => println_demo(&format!(
                "[reconciliation {PARTNER_ID} {}] partner {} / ours {}: {} missing at partner, \
                 {} mismatched (re-sent: {}), {} missing at ours (for review)",
                run.day,
                run.partner_records,
                run.our_records,
                run.missing_at_partner,
                run.mismatched,
                run.repaired,
                run.missing_at_ours,
            )),
            Err(e) => println_demo(&format!("[reconciliation {PARTNER_ID}] not finished: {e}")),
        }
    }
    partner.stop().await;
}

/// A reconciler with its own link to the partner, over the store at `store_url`.
async fn connect(config: &PartnerConfig, store_url: &str) -> Result<Reconciler, String> {
    let store = Store::connect(store_url).await.map_err(|e| e.to_string())?;
    let link = connect_all(
        std::slice::from_ref(config),
        Arc::new(WallClock),
        None,
        &vigil::secrets::Secrets::from_process_env(),
    )?
    .pop()
    .ok_or("no partner link")?;
    Ok(Reconciler::new(link, store, "demo".into()))
}

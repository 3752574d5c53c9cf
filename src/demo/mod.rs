//! `vigil demo`: everything on one machine with one command. Starts a nats-server child with a
//! temporary store, a local SMTP sink and SMS gateway, the service on a temporary SQLite
//! database with short demo targets (so warnings and breaches happen within the first
//! minutes) and an on-call setup that pages through those sinks, and a synthetic upstream
//! publishing tickets for several tenants; prints each alert as it is published and each
//! message as it is delivered, so a new user sees paging, escalation and acknowledgement
//! without any setup.
//!
//! # Layout
//! - `upstream`: the synthetic ticket traffic, with a neglected CRITICAL ticket every few
//!   minutes that escalates.
//! - `oncall`: the demo's `[notify]`: contacts, a weekly rotation, the paging policy, routes
//!   and limits, pointed at the sinks.
//! - `sinks`: the local SMTP sink and HTTP SMS gateway that take the messages (from
//!   `vigil_peers`).
//! - `printer`: prints alerts from `vigil.alerts.*`.
//! - `inbox`: prints each message the sinks take, with its ack link.
//! - `exchange`: a fake exchange partner (from `vigil_peers`) with a recurring outage and lost
//!   writes, and a reconciliation with it every few minutes.

mod exchange;
mod inbox;
mod oncall;
mod printer;
pub mod sinks;
mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tracing::info;
use vigil::auth::Role;
use vigil::config::VigilConfig;
use vigil::telemetry::MetricsHandle;
use vigil_engine::policy::{DurationSpec, Fraction, GoalTargetsSpec};
use vigil_streams::NatsChild;

use oncall::SinkAddrs;
use vigil_peers::gateway::Route;

/// Tenants the demo's upstream publishes for.
pub const DEMO_TENANTS: [u64; 4] = [101, 102, 103, 104];

/// Runs the demo until Ctrl-C (or for `duration` ms).
pub async fn run(
    listen: std::net::SocketAddr,
    duration: Option<i64>,
    metrics: MetricsHandle,
) -> anyhow::Result<()> {
    let nats = tokio::task::spawn_blocking(NatsChild::start)
        .await?
        .context("cannot start nats-server for the demo")?;
    let workdir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (smtp, mails) = sinks::start_smtp()
        .await
        .context("cannot start the demo's SMTP sink")?;
    // Serves until dropped at the end, after the inbox has printed what the service drained.
    let (gateway, sms) = sinks::start_sms()
        .await
        .context("cannot start the demo's SMS gateway")?;
    let sinks = SinkAddrs {
        smtp,
        sms: gateway.url(Route::Sms),
    };
    let partner = exchange::start().await?;
    let mut config = demo_config(
        &nats.url(),
        &workdir.path().join("vigil.db"),
        listen,
        &sinks,
    );
    config.partners = vec![exchange::partner_config(&partner)];
    // A fresh secret per run: the demo never serves with a known one.
    config.auth.jwt_secret =
        vigil::auth::random_secret().context("cannot make a random JWT secret")?;
    let (manager, ops) = demo_tokens(&config)?;
    println_demo(&format!(
        "Vigil demo\n  dashboard    http://{listen}/?token={manager}\n               (tenant {}, client_manager; valid 12 h)\n  ops token    {ops}\n  API          http://{listen}/api/v1/openapi.json\n  nats-server  {} (store in {})\n  metrics      http://{listen}/metrics\n  readiness    http://{listen}/readyz\n  targets      CRITICAL 1m/3m, HIGH 2m/6m, MEDIUM 4m/12m, LOW 8m/30m; warnings at 50% and 80%\n  tenants      {:?}\n  partner      {} ({}): down 45 s every 3 min, loses 1 write in 20; reconciled every 100 s\n{}\nPress Ctrl-C to stop.\n",
        DEMO_TENANTS[0],
        nats.url(),
        nats.store_dir().display(),
        DEMO_TENANTS,
        exchange::PARTNER_ID,
        partner.url(),
        on_call_banner(&config, &sinks),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let url = nats.url();
    let printer = tokio::spawn(printer::print_alerts(url.clone(), stop_rx.clone()));
    let exchange = tokio::spawn(exchange::reconcile_now_and_then(
        partner,
        config.partners[0].clone(),
        config.store.url.clone(),
        stop_rx.clone(),
    ));
    let upstream = tokio::spawn(upstream::run(url, stop_rx));
    // The inbox outlives the service's shutdown, to print what it sends while draining.
    let (inbox_stop, inbox_stop_rx) = tokio::sync::watch::channel(false);
    let inbox = tokio::spawn(inbox::print_messages(
        mails,
        sms,
        config.notify.clone(),
        inbox_stop_rx,
    ));
    let shutdown = async move {
        match duration {
            Some(ms) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(0))) => {}
                    _ = crate::shutdown_signal() => {}
                }
            }
            None => crate::shutdown_signal().await,
        }
        let _ = stop_tx.send(true);
    };
    let result = crate::service::run(config, metrics, shutdown).await;
    let _ = upstream.await;
    let _ = printer.await;
    let _ = exchange.await;
    let _ = inbox_stop.send(true);
    let _ = inbox.await;
    drop(gateway);
    info!("demo stopped");
    drop(nats);
    result
}

/// Login tokens for the demo: a manager of the first demo tenant, and ops.
fn demo_tokens(config: &VigilConfig) -> anyhow::Result<(String, String)> {
    let minter = vigil::auth::Minter::from_config(&config.auth, &config.base_dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let ttl = Duration::from_secs(12 * 3600);
    let manager = minter.mint(
        "demo-manager",
        DEMO_TENANTS[0],
        Role::ClientManager,
        now,
        ttl,
    )?;
    let ops = minter.mint("demo-ops", 0, Role::Ops, now, ttl)?;
    Ok((manager, ops))
}

/// What the banner says about paging: who is on call, where messages appear, how to stop an
/// escalation.
fn on_call_banner(config: &VigilConfig, sinks: &SinkAddrs) -> String {
    let notify = &config.notify;
    let name = |id: &str| {
        notify
            .contact(id)
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let now = vigil_engine::clock::Clock::now(&vigil_engine::clock::WallClock);
    let on_call = notify
        .schedules
        .iter()
        .find(|s| s.id == oncall::SCHEDULE)
        .and_then(|s| vigil::notify::schedule::on_call(s, now))
        .map_or_else(|| "nobody".to_string(), name);
    format!(
        "  on call      {on_call} now ({} take turns weekly); CRITICAL/HIGH breaches page by SMS and email,\n               escalating to {} after {} without an acknowledgement; warnings go by email\n  messages     printed below as [sms   → …] and [email → …] (SMTP sink {}, SMS gateway {})\n  acknowledge  open the ack link in a message, or press Acknowledge on the dashboard, to stop the escalation",
        notify
            .schedules
            .iter()
            .flat_map(|s| s.rotation.iter().map(|id| name(id)))
            .collect::<Vec<_>>()
            .join(" and "),
        name(oncall::ESCALATION_CONTACT),
        oncall::ESCALATE_AFTER,
        sinks.smtp,
        sinks.sms,
    )
}

/// The demo's configuration: short targets, local NATS, a throw-away SQLite file, and
/// notifications to the local sinks.
fn demo_config(
    nats_url: &str,
    db: &std::path::Path,
    listen: SocketAddr,
    sinks: &SinkAddrs,
) -> VigilConfig {
    let mut config = VigilConfig::default();
    let minutes = |r: i64, s: i64| GoalTargetsSpec {
        response: Some(DurationSpec(r * 60_000)),
        resolution: Some(DurationSpec(s * 60_000)),
    };
    config.sla.warn_at = Some(vec![
        Fraction {
            numerator: 5,
            scale: 1,
        },
        Fraction {
            numerator: 8,
            scale: 1,
        },
    ]);
    config.sla.targets = BTreeMap::from([
        ("CRITICAL".into(), minutes(1, 3)),
        ("HIGH".into(), minutes(2, 6)),
        ("MEDIUM".into(), minutes(4, 12)),
        ("LOW".into(), minutes(8, 30)),
    ]);
    config.nats.url = nats_url.to_string();
    config.nats.partitions = 4;
    config.store.url = format!("sqlite://{}", db.display());
    config.http.listen = listen;
    // Ack links point at the demo's own address; with port 0 the service uses the one it got.
    let public_url =
        (listen.port() != 0 && !listen.ip().is_unspecified()).then(|| format!("http://{listen}"));
    config.notify = oncall::notify_config(sinks, public_url);
    config
}

/// The demo talks to a person on stdout.
#[allow(clippy::print_stdout)]
pub fn println_demo(line: &str) {
    println!("{line}");
}

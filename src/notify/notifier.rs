//! The notifier of one instance: the intake following alert changes into the outbox, and the
//! dispatcher sending what is due. Every instance runs both; the durable consumer and the
//! outbox's leases share the work between them.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::info;
use vigil_engine::clock::Clock;

use super::ack_token::LinkSigner;
use super::channel::Providers;
use super::dispatch::Dispatcher;
use super::intake::{self, Intake};
use super::RoutingHandle;
use crate::flags::Flags;
use crate::limits::SharedLimits;
use crate::secrets::{Rebuilt, Secrets};
use crate::store::Store;

/// The running notifier; [`Notifier::join`] waits for it after the stop signal.
pub struct Notifier {
    tasks: Vec<JoinHandle<()>>,
}

impl Notifier {
    /// Starts the notifier when routes are configured (`None` otherwise), with the recipients'
    /// rate limits shared through `shared` when given, following `flags` (`notify.sms`,
    /// `notify.retractions`), with the providers' secrets looked up in `secrets` (and rebuilt
    /// when they change at run time). Creates the notifier's consumer before returning, so start it
    /// before alert changes are published.
    // Above clippy's bound: these are the notifier's independent inputs, each given once by
    // the service.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        routing: RoutingHandle,
        store: Store,
        js: &async_nats::jetstream::Context,
        links: Option<Arc<LinkSigner>>,
        clock: Arc<dyn Clock>,
        public_url: &str,
        shared: Option<&SharedLimits>,
        flags: Flags,
        secrets: Secrets,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Notifier>> {
        let at_start = routing.load();
        if !at_start.enabled() {
            info!("no [[notify.routes]]: notifications are off");
            return Ok(None);
        }
        let config = Arc::new(at_start.main().clone());
        let first = Providers::from_secrets(&config, &secrets)
            .context("cannot set up the notification providers")?;
        let providers = Rebuilt::new("notification providers", &secrets, first, move |s| {
            Providers::from_secrets(&config, s).map_err(|e| e.to_string())
        });
        let consumer = intake::consumer(js)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the notifier's JetStream consumer: {e}"))?;
        let wake = Arc::new(Notify::new());
        let intake = Intake::new(routing.clone(), store.clone(), clock.clone(), wake.clone());
        let dispatcher = Dispatcher::new(routing, store, providers, links, clock, public_url)
            .with_shared_limits(shared)
            .with_flags(flags);
        info!(public_url = %crate::redact::url(public_url), "notifier started");
        Ok(Some(Notifier {
            tasks: vec![
                tokio::spawn(intake.follow(consumer, stop.clone())),
                tokio::spawn(dispatcher.run(wake, stop)),
            ],
        }))
    }

    /// Waits for both tasks to end (after the stop signal).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

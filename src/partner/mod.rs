//! Exchange partners (DESIGN.md §7): every stopped goal goes to each partner serving its
//! tenant through a partner outbox in the store, delivered by a per-partner worker behind a
//! rate limit and a circuit breaker; a nightly reconciliation compares both sides, repairs
//! what differs and keeps a report.

pub mod auth;
pub mod client;
pub mod config;
pub mod link;
pub mod mapping;
pub mod mask;
pub mod nightly;
pub mod reconcile;
pub mod worker;

pub use auth::Authenticator;
pub use client::{Page, PartnerClient};
pub use config::PartnerConfig;
pub use mapping::Mapper;

use std::sync::Arc;

use vigil_actors::clock::Clock;

use link::PartnerLink;

/// Links to every configured partner, with credentials from the process environment.
/// Fails naming the partner and what is missing (an unset variable, a bad URL).
pub fn connect_all(
    partners: &[PartnerConfig],
    clock: Arc<dyn Clock>,
) -> Result<Vec<Arc<PartnerLink>>, String> {
    partners
        .iter()
        .map(|p| {
            let client = PartnerClient::from_process_env(p)
                .map_err(|e| format!("partner {:?}: {e}", p.id))?;
            Ok(Arc::new(PartnerLink::new(p.clone(), client, clock.clone())))
        })
        .collect()
}

//! Exchange partners (DESIGN.md §7): every stopped goal goes to each partner serving its
//! tenant through a partner outbox in the store, delivered by a per-partner worker behind a
//! rate limit and a circuit breaker; a nightly reconciliation compares both sides, repairs
//! what differs and keeps a report.
//!
//! # Layout
//! - [`config`]: `[[partners]]`: settings with their defaults, and the checks serde cannot
//!   express.
//! - [`mapping`]: our record in a partner's shape (renamed, masked), and its content hash.
//! - [`mask`]: masking rules for fields that leave Vigil.
//! - [`auth`]: request authentication (none, API key, OAuth2 tokens, HMAC signatures).
//! - [`client`]: one partner's REST API (`PUT /records/{id}`, `GET /records`).
//! - [`link`]: a partner as this process reaches it: client, rate limit, circuit breaker.
//! - [`worker`]: the outbox worker: due records to the partner, in queue order.
//! - [`reconcile`]: the reconciliation of one partner and one local day (driver, lease,
//!   page fetching, comparison), and its report.
//! - [`nightly`]: when each partner's reconciliation runs.

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

use vigil_engine::clock::Clock;

use crate::limits::SharedLimits;
use link::PartnerLink;

/// Links to every configured partner, with credentials looked up in `secrets`, their
/// rate limits shared through `shared` when given (`[cluster] redis_url`). Fails naming the
/// partner and what is missing (an unset variable, a bad URL).
pub fn connect_all(
    partners: &[PartnerConfig],
    clock: Arc<dyn Clock>,
    shared: Option<&SharedLimits>,
    secrets: &crate::secrets::Secrets,
) -> Result<Vec<Arc<PartnerLink>>, String> {
    partners
        .iter()
        .map(|p| {
            let client =
                PartnerClient::new(p, secrets).map_err(|e| format!("partner {:?}: {e}", p.id))?;
            Ok(Arc::new(PartnerLink::with_shared_limit(
                p.clone(),
                client,
                clock.clone(),
                shared,
            )))
        })
        .collect()
}

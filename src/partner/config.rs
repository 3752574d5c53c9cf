//! `[[partners]]`: exchange partners (DESIGN.md §7), and the checks serde cannot express.
//!
//! # Layout
//! - `settings`: the entry as written ([`PartnerConfig`] and its parts), with every default,
//!   and when the nightly reconciliation runs ([`ReconcileAt`]).
//! - `checks`: every problem serde cannot see, at once, with its field ([`problems`]).
//! - `base_url`: what a base URL or token URL must be (absolute `http(s)`, a host, no query).
//! - `tests`: unit tests through the configuration loader, at their line and field.

mod base_url;
mod checks;
mod settings;

#[cfg(test)]
mod tests;

pub(crate) use base_url::http_base_url;
pub use checks::{problems, PartnerProblem, MAX_CONCURRENCY, MAX_PAGE_SIZE};
pub use settings::{
    AuthConfig, BreakerConfig, HmacHeaders, PartnerConfig, RateLimitConfig, ReconcileAt,
    TenantSelector,
};

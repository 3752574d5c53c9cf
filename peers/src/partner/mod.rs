//! A fake exchange partner (DESIGN.md §7) for tests, the demo and benchmarks: the partner API
//! Vigil speaks, an in-memory record table indexed by local date, optional caller
//! authentication, run-time fault injection and observation.
//!
//! The API, under the base URL `http://<addr><prefix>`:
//! - `PUT /records/{record_id}`: a JSON object, upserted under the path's (percent-decoded)
//!   id; 200 `{"ok":true}`, 422 when it is not an object or its `stopped_at` field (name
//!   configurable) is not an RFC 3339 instant.
//! - `GET /records?date=YYYY-MM-DD&page=N&page_size=M`: `{"records":[…],"next_page":N+1|null}`,
//!   the bodies whose `stopped_at` falls on that local date in the partner's time zone, by
//!   record id; pages from 1, `page_size` 500 by default and capped (10,000 by default).
//! - `POST /oauth/token` (OAuth2 only): `grant_type=client_credentials`, client in HTTP Basic;
//!   `{"access_token","token_type":"Bearer","expires_in"}`.
//!
//! Authentication ([`PartnerAuth`]) and faults ([`Fault`]) apply to these; the admin
//! endpoints under `/_admin/` (see [`admin`]) never see either. Everything the handle sets or
//! reads is also reachable there, for the standalone `vigil-load partner`.
//!
//! # Layout
//! - [`config`]: [`FakePartnerConfig`], [`PartnerAuth`], [`FieldNames`].
//! - [`handle`]: [`FakePartner`], the in-process handle.
//! - `server`: the API endpoints and the listener that can close connections.
//! - `shared`: the state the endpoints, the admin endpoints and the handle share.
//! - [`admin`]: the `/_admin/` endpoints.
//! - [`faults`]: [`Fault`] and its parts, in Rust and as JSON.
//! - `plan`: which faults apply to a call (pure, seeded).
//! - [`auth`]: API key, OAuth2 tokens, HMAC signatures ([`hmac_signature`]).
//! - [`table`]: the record table and its per-day index.
//! - [`observe`]: call counts, the PUT log, what tests can await.

pub mod admin;
pub mod auth;
pub mod config;
pub mod faults;
pub mod handle;
pub mod observe;
mod plan;
mod server;
mod shared;
pub mod table;

pub use auth::hmac_signature;
pub use config::{FakePartnerConfig, FieldNames, PartnerAuth};
pub use faults::{Fault, FaultKind, OutageMode, OutageWindow, Share};
pub use handle::{FakePartner, SeedError};
pub use observe::{CallCounts, Endpoint, PutReceived};
pub use table::TableError;

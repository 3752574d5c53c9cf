//! Who is calling: JWT verification (HS256 shared secret or RS256 public key), the claims and
//! roles of DESIGN.md §5, minting of development tokens (`vigil token`), and the per-request
//! authorisation helpers the API and the WebSocket hub share.
//!
//! # Layout
//! - [`config`]: `[auth]`: the key, and the issuer and audience tokens must name.
//! - [`claims`]: the claims and the roles with what each may do.
//! - [`keys`]: verifying and minting tokens with the configured key.
//! - [`caller`]: an authenticated request: tenant scope checks and security events.

pub mod caller;
pub mod claims;
pub mod config;
pub mod keys;

pub use caller::{bearer_token, Caller};
pub use claims::{Claims, Role};
pub use config::{AuthConfig, DEV_JWT_SECRET};
pub use keys::{random_secret, AuthSetupError, Minter, TokenError, Verifier};

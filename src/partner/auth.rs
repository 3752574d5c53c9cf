//! How requests to a partner are authenticated (`auth = { kind = … }`): nothing, a static
//! key in a header, HMAC-SHA256 signatures, or OAuth2 client-credentials bearer tokens.
//!
//! # Layout
//! - `authenticator`: the [`Authenticator`] of one partner, built from its settings and
//!   secrets; the headers of each request.
//! - `signature`: HMAC-SHA256 request signatures ([`string_to_sign`], [`sign`]).
//! - `oauth2`: OAuth2 bearer tokens: fetched, cached until shortly before they expire,
//!   forgotten after a 401.
//! - `error`: why requests cannot be authenticated ([`AuthError`]).
//! - `tests`: unit tests against known answers and a real token endpoint on `127.0.0.1:0`.

mod authenticator;
mod error;
mod oauth2;
mod signature;

#[cfg(test)]
mod tests;

pub use authenticator::{Authenticator, EnvLookup};
pub use error::AuthError;
pub use oauth2::{DEFAULT_TOKEN_LIFETIME, TOKEN_MARGIN};
pub use signature::{sign, string_to_sign, NONCE_BYTES};

//! `[auth]`: which key verifies tokens (and mints development ones), and which `iss`/`aud`
//! claims they must carry.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[auth]`: JWT verification (and minting by `vigil token`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 shared secret, at least 32 bytes (`openssl rand -base64 48`); better set through
    /// `VIGIL__AUTH__JWT_SECRET` than in the file. Default `"change-me"`, a placeholder that
    /// `vigil run` and `check-config` refuse (see `crate::config::secrets`); `vigil token` still
    /// mints with it for development.
    pub jwt_secret: String,
    /// PEM public key for RS256; when set, tokens are verified with it instead of the secret.
    /// Relative to the main file. Default none.
    pub jwt_public_key_file: Option<PathBuf>,
    /// PEM private key for RS256, used only by `vigil token` to mint development tokens.
    /// Relative to the main file. Default none.
    pub jwt_private_key_file: Option<PathBuf>,
    /// When set, tokens must carry this `iss` claim (and `vigil token` mints it). Default none
    /// (not checked).
    pub jwt_issuer: Option<String>,
    /// When set, tokens must carry this `aud` claim (and `vigil token` mints it). Default none
    /// (not checked).
    pub jwt_audience: Option<String>,
}

/// The development placeholder of `auth.jwt_secret` (refused by `vigil run`).
pub const DEV_JWT_SECRET: &str = "change-me";

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: DEV_JWT_SECRET.into(),
            jwt_public_key_file: None,
            jwt_private_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
        }
    }
}

//! Whether the configured JWT secret may guard a running service: not a development
//! placeholder, and long enough that it cannot be guessed offline from one captured token.

use crate::auth::AuthConfig;

/// Shortest HS256 secret `vigil run` accepts, in bytes (the size of the HMAC-SHA256 output,
/// as RFC 7518 §3.2 requires).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Secrets that appear in Vigil's shipped configuration, examples and docs, and common
/// placeholders; `vigil run` refuses each of them whatever its length (compared ignoring case
/// and surrounding spaces). The one list of them.
pub const KNOWN_DEV_SECRETS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "change-me-in-production",
    "secret",
    "s3cret",
    "jwt-secret",
    "jwt_secret",
    "jwtsecret",
    "your-secret",
    "your-secret-key",
    "your-256-bit-secret",
    "supersecret",
    "super-secret",
    "password",
    "test",
    "testing",
    "dev",
    "development",
    "vigil",
];

/// How to make a secret, for messages.
pub const HOW_TO_SET_A_SECRET: &str = "generate one with `openssl rand -base64 48` and set it \
     as auth.jwt_secret or in the environment variable VIGIL__AUTH__JWT_SECRET (or use RS256 \
     with auth.jwt_public_key_file)";

/// Why `auth` cannot guard a running service, or `None` if it can. RS256 (a public key file)
/// needs no secret.
pub fn jwt_secret_problem(auth: &AuthConfig) -> Option<String> {
    if auth.jwt_public_key_file.is_some() {
        return None;
    }
    let secret = auth.jwt_secret.as_str();
    let normalized = secret.trim().to_ascii_lowercase();
    if KNOWN_DEV_SECRETS.contains(&normalized.as_str()) {
        return Some(format!(
            "is a known development secret; anyone can sign tokens with it: {HOW_TO_SET_A_SECRET}"
        ));
    }
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Some(format!(
            "is {} bytes; an HS256 secret needs at least {MIN_JWT_SECRET_BYTES}: {HOW_TO_SET_A_SECRET}",
            secret.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(secret: &str) -> Option<String> {
        jwt_secret_problem(&AuthConfig {
            jwt_secret: secret.into(),
            ..AuthConfig::default()
        })
    }

    #[test]
    fn placeholders_and_short_secrets_are_refused() {
        for weak in [
            "change-me",
            " CHANGEME ",
            "secret",
            "",
            "x",
            &"a".repeat(31),
        ] {
            let p = problem(weak).unwrap_or_else(|| panic!("{weak:?} accepted"));
            assert!(p.contains("openssl rand -base64 48"), "{p}");
            assert!(p.contains("VIGIL__AUTH__JWT_SECRET"), "{p}");
        }
        assert!(problem(&"a".repeat(32)).is_none());
        assert!(problem("Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5").is_none());
        // The default is a placeholder.
        assert!(jwt_secret_problem(&AuthConfig::default()).is_some());
        // RS256 needs no secret.
        let rs = AuthConfig {
            jwt_public_key_file: Some("k.pem".into()),
            ..AuthConfig::default()
        };
        assert!(jwt_secret_problem(&rs).is_none());
    }
}

//! Client tokens, minted here with the service's HS256 secret (`[auth] jwt_secret`), as
//! `vigil token --tenant T --role client_user` would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The claims of a Vigil token (spec: Auth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// The tenant the user belongs to.
    pub tenant_id: u64,
    /// Role; the load test's clients are `client_user`.
    pub role: &'static str,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
}

impl Claims {
    /// A `client_user` of `tenant_id`, valid for `ttl` from `now` (seconds since the epoch).
    pub fn client_user(tenant_id: u64, now: u64, ttl: Duration) -> Claims {
        Claims {
            sub: format!("vigil-load-{tenant_id}"),
            tenant_id,
            role: "client_user",
            exp: now + ttl.as_secs().max(60),
            iat: now,
        }
    }
}

/// Signs claims with an HS256 secret.
pub fn sign(claims: &Claims, secret: &str) -> anyhow::Result<String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("cannot sign a token")
}

/// One `client_user` token per tenant `1..=tenants` (index `t - 1`), valid for `ttl`.
pub fn per_tenant(tenants: u64, secret: &str, ttl: Duration) -> anyhow::Result<Vec<String>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (1..=tenants)
        .map(|t| sign(&Claims::client_user(t, now, ttl), secret))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Validation};

    #[derive(Debug, serde::Deserialize)]
    struct Read {
        sub: String,
        tenant_id: u64,
        role: String,
        exp: u64,
    }

    #[test]
    fn tokens_verify_with_the_secret_and_carry_the_tenant() {
        let tokens = per_tenant(3, "change-me", Duration::from_secs(3600)).unwrap();
        assert_eq!(tokens.len(), 3);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        for (i, token) in tokens.iter().enumerate() {
            let read = decode::<Read>(token, &DecodingKey::from_secret(b"change-me"), &validation)
                .unwrap()
                .claims;
            assert_eq!(read.tenant_id, i as u64 + 1);
            assert_eq!(read.role, "client_user");
            assert_eq!(read.sub, format!("vigil-load-{}", i + 1));
            assert!(read.exp > 0);
        }
        assert!(decode::<Read>(
            &tokens[0],
            &DecodingKey::from_secret(b"another"),
            &validation
        )
        .is_err());
    }

    #[test]
    fn claims_expire_after_the_ttl() {
        let c = Claims::client_user(12, 1_000, Duration::from_secs(7200));
        assert_eq!((c.exp, c.iat, c.tenant_id), (8_200, 1_000, 12));
        assert_eq!(Claims::client_user(1, 1_000, Duration::ZERO).exp, 1_060);
    }
}

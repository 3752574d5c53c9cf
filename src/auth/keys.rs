//! Verifying and minting tokens with the key `[auth]` configures: an HS256 shared secret, or an
//! RS256 key pair (public key to verify, private key to mint).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::claims::{Claims, Role};
use super::config::AuthConfig;

/// Why the configured key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// A key file could not be read.
    #[error("cannot read {field} {path}: {source}")]
    Read {
        /// The config field naming the file.
        field: &'static str,
        /// The resolved path.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A key file is not a PEM RSA key.
    #[error("{field} {path} is not a PEM RSA key: {reason}")]
    BadKey {
        /// The config field naming the file.
        field: &'static str,
        /// The resolved path.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// RS256 is configured but no private key to mint with.
    #[error(
        "auth.jwt_public_key_file is set (RS256): set auth.jwt_private_key_file to mint tokens"
    )]
    NoPrivateKey,
}

/// Why a token was refused (the caller answers 401, code 40004).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token was sent.
    #[error("missing token: send Authorization: Bearer <JWT>")]
    Missing,
    /// The token's `exp` is past.
    #[error("token expired: get a new one")]
    Expired,
    /// The token's `nbf` is still ahead.
    #[error("token not valid yet (nbf is in the future)")]
    NotYetValid,
    /// Bad signature, wrong algorithm, malformed, or claims missing.
    #[error("invalid token: {0}")]
    Invalid(String),
}

fn read_key(
    config_dir: &Path,
    field: &'static str,
    path: &Path,
) -> Result<Vec<u8>, AuthSetupError> {
    let path = config_dir.join(path);
    std::fs::read(&path).map_err(|source| AuthSetupError::Read {
        field,
        path,
        source,
    })
}

fn bad_key(
    config_dir: &Path,
    field: &'static str,
    path: &Path,
    e: impl ToString,
) -> AuthSetupError {
    AuthSetupError::BadKey {
        field,
        path: config_dir.join(path),
        reason: e.to_string(),
    }
}

/// Checks tokens.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for the configured key: RS256 with `auth.jwt_public_key_file` when set, else
    /// HS256 with `auth.jwt_secret`. Relative key file paths are taken from `config_dir`, the
    /// main configuration file's folder.
    pub fn from_config(auth: &AuthConfig, config_dir: &Path) -> Result<Verifier, AuthSetupError> {
        let field = "auth.jwt_public_key_file";
        let (key, algorithm) = match &auth.jwt_public_key_file {
            Some(path) => {
                let pem = read_key(config_dir, field, path)?;
                let key = DecodingKey::from_rsa_pem(&pem)
                    .map_err(|e| bad_key(config_dir, field, path, e))?;
                (key, Algorithm::RS256)
            }
            None => (
                DecodingKey::from_secret(auth.jwt_secret.as_bytes()),
                Algorithm::HS256,
            ),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &auth.jwt_issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &auth.jwt_audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Without a configured audience, an `aud` claim is not checked.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Verifier { key, validation })
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer => TokenError::Invalid("wrong issuer (iss)".into()),
                ErrorKind::InvalidAudience => TokenError::Invalid("wrong audience (aud)".into()),
                ErrorKind::MissingRequiredClaim(claim) if claim == "iss" || claim == "aud" => {
                    TokenError::Invalid(format!("the {claim} claim is required"))
                }
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm => {
                    TokenError::Invalid("signed with another algorithm".into())
                }
                ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => TokenError::Invalid(
                    "claims must hold sub, tenant_id, role (client_admin, client_manager, \
                     client_user, ops, service) and exp"
                        .into(),
                ),
                _ => TokenError::Invalid("malformed token".into()),
            })
    }
}

/// Mints tokens (for development and tests: `vigil token`).
pub struct Minter {
    key: EncodingKey,
    header: Header,
    issuer: Option<String>,
    audience: Option<String>,
}

/// What a minted token carries: the claims, and the configured issuer and audience.
#[derive(serde::Serialize)]
struct Minted<'a> {
    #[serde(flatten)]
    claims: &'a Claims,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// A random HS256 secret of 48 bytes from the operating system, base64 (64 characters), as
/// `openssl rand -base64 48` makes: for `vigil demo`, which must not run with a known secret.
pub fn random_secret() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl Minter {
    /// A minter for the configured key: RS256 with `auth.jwt_private_key_file` when a public
    /// key is configured, else HS256 with `auth.jwt_secret`. Relative key file paths are taken
    /// from `config_dir`, the main configuration file's folder.
    pub fn from_config(auth: &AuthConfig, config_dir: &Path) -> Result<Minter, AuthSetupError> {
        let field = "auth.jwt_private_key_file";
        let (key, header) = match (&auth.jwt_public_key_file, &auth.jwt_private_key_file) {
            (Some(_), None) => return Err(AuthSetupError::NoPrivateKey),
            (_, Some(path)) => {
                let pem = read_key(config_dir, field, path)?;
                let key = EncodingKey::from_rsa_pem(&pem)
                    .map_err(|e| bad_key(config_dir, field, path, e))?;
                (key, Header::new(Algorithm::RS256))
            }
            (None, None) => (
                EncodingKey::from_secret(auth.jwt_secret.as_bytes()),
                Header::new(Algorithm::HS256),
            ),
        };
        Ok(Minter {
            key,
            header,
            issuer: auth.jwt_issuer.clone(),
            audience: auth.jwt_audience.clone(),
        })
    }

    /// A token for `sub` of `tenant_id` with `role`, valid for `ttl` from `now_s` (seconds
    /// since the Unix epoch).
    pub fn mint(
        &self,
        sub: &str,
        tenant_id: u64,
        role: Role,
        now_s: u64,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: sub.to_string(),
            tenant_id,
            role,
            exp: now_s + ttl.as_secs(),
            iat: Some(now_s),
        };
        let minted = Minted {
            claims: &claims,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        jsonwebtoken::encode(&self.header, &minted, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: &str) -> AuthConfig {
        AuthConfig {
            jwt_secret: secret.into(),
            ..AuthConfig::default()
        }
    }

    fn now() -> u64 {
        crate::clock::now_ms() as u64 / 1000
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let c = config("s3cret");
        let token = Minter::from_config(&c, Path::new(""))
            .unwrap()
            .mint(
                "alice",
                12345,
                Role::ClientManager,
                now(),
                Duration::from_secs(60),
            )
            .unwrap();
        let claims = Verifier::from_config(&c, Path::new(""))
            .unwrap()
            .verify(&token)
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.tenant_id, claims.role),
            ("alice", 12345, Role::ClientManager)
        );
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let c = config("s3cret");
        let minter = Minter::from_config(&c, Path::new("")).unwrap();
        let verifier = Verifier::from_config(&c, Path::new("")).unwrap();
        let expired = minter
            .mint("a", 1, Role::Ops, now() - 7200, Duration::from_secs(60))
            .unwrap();
        assert_eq!(verifier.verify(&expired), Err(TokenError::Expired));
        let good = minter
            .mint("a", 1, Role::ClientUser, now(), Duration::from_secs(60))
            .unwrap();
        // Change the payload (tenant 1 → another) but keep the signature.
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        let forged = minter
            .mint("a", 2, Role::Ops, now(), Duration::from_secs(60))
            .unwrap();
        parts[1] = forged.split('.').nth(1).unwrap().to_string();
        assert!(matches!(
            verifier.verify(&parts.join(".")),
            Err(TokenError::Invalid(_))
        ));
        let other_key = Minter::from_config(&config("other"), Path::new(""))
            .unwrap()
            .mint("a", 1, Role::Ops, now(), Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            verifier.verify(&other_key),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            verifier.verify("not.a.token"),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_token_with_an_unknown_role_is_invalid() {
        let c = config("k");
        let header = Header::new(Algorithm::HS256);
        let claims = serde_json::json!({"sub":"x","tenant_id":1,"role":"root","exp":now()+60});
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"k")).unwrap();
        assert!(matches!(
            Verifier::from_config(&c, Path::new(""))
                .unwrap()
                .verify(&token),
            Err(TokenError::Invalid(_))
        ));
    }

    fn signed(secret: &str, claims: serde_json::Value) -> String {
        let key = EncodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    }

    #[test]
    fn a_token_before_its_nbf_is_refused() {
        let c = config("k");
        let verifier = Verifier::from_config(&c, Path::new("")).unwrap();
        let early = signed(
            "k",
            serde_json::json!({"sub":"x","tenant_id":1,"role":"ops","exp":now()+600,"nbf":now()+300}),
        );
        assert_eq!(verifier.verify(&early), Err(TokenError::NotYetValid));
        let ready = signed(
            "k",
            serde_json::json!({"sub":"x","tenant_id":1,"role":"ops","exp":now()+600,"nbf":now()-1}),
        );
        assert!(verifier.verify(&ready).is_ok());
    }

    #[test]
    fn issuer_and_audience_are_checked_only_when_configured() {
        let claims = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"sub":"x","tenant_id":1,"role":"ops","exp":now()+600});
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };
        let right = signed("k", claims(serde_json::json!({"iss":"idp","aud":"vigil"})));
        let wrong_iss = signed("k", claims(serde_json::json!({"iss":"evil","aud":"vigil"})));
        let wrong_aud = signed("k", claims(serde_json::json!({"iss":"idp","aud":"other"})));
        let neither = signed("k", claims(serde_json::json!({})));

        let open = Verifier::from_config(&config("k"), Path::new("")).unwrap();
        for token in [&right, &wrong_iss, &wrong_aud, &neither] {
            assert!(open.verify(token).is_ok());
        }

        let mut c = config("k");
        c.jwt_issuer = Some("idp".into());
        c.jwt_audience = Some("vigil".into());
        let strict = Verifier::from_config(&c, Path::new("")).unwrap();
        assert!(strict.verify(&right).is_ok());
        for token in [&wrong_iss, &wrong_aud, &neither] {
            assert!(matches!(strict.verify(token), Err(TokenError::Invalid(_))));
        }
        // `vigil token` mints what the verifier expects.
        let minted = Minter::from_config(&c, Path::new(""))
            .unwrap()
            .mint("a", 1, Role::Ops, now(), Duration::from_secs(60))
            .unwrap();
        assert!(strict.verify(&minted).is_ok());
    }

    #[test]
    fn random_secrets_are_long_and_differ() {
        let (a, b) = (random_secret().unwrap(), random_secret().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let c = AuthConfig {
            jwt_secret: a,
            ..AuthConfig::default()
        };
        assert_eq!(crate::config::secrets::jwt_secret_problem(&c), None);
    }

    #[test]
    fn rs256_without_a_private_key_cannot_mint() {
        let mut c = config("k");
        c.jwt_public_key_file = Some("pub.pem".into());
        assert!(matches!(
            Minter::from_config(&c, Path::new("")),
            Err(AuthSetupError::NoPrivateKey)
        ));
    }
}

//! HMAC-SHA256 request signatures (DESIGN.md §7): headers key id, timestamp (Unix seconds),
//! nonce (16 random bytes, lower-case hex) and signature, the lower-case hex HMAC-SHA256 keyed
//! with the shared secret over [`string_to_sign`]:
//!
//! ```text
//! METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nSHA256_HEX(BODY)
//! ```
//!
//! `METHOD` is upper case; `PATH_AND_QUERY` is the path of the request URL exactly as sent,
//! including the base URL's own path and the percent-encoding of record ids
//! (`/api/records/12345%3ATKT-001%3Aresolution`), then `?` and the query when there is one;
//! `SHA256_HEX(BODY)` is the lower-case hex SHA-256 of the body bytes (of the empty string
//! for a GET).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit as _, Mac as _};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use sha2::{Digest as _, Sha256};

use super::AuthError;
use crate::hex::encode as hex;

/// Random bytes in an HMAC nonce.
pub const NONCE_BYTES: usize = 16;

/// The key id, the shared secret and the header names of one partner's signatures.
#[derive(Clone)]
pub(super) struct HmacSigner {
    key_id: HeaderValue,
    secret: Arc<[u8]>,
    names: [HeaderName; 4],
}

impl HmacSigner {
    /// A signer sending `key_id`, keyed with `secret`, with the header names of the key id,
    /// the timestamp, the nonce and the signature, in that order.
    pub(super) fn new(key_id: HeaderValue, secret: Arc<[u8]>, names: [HeaderName; 4]) -> Self {
        HmacSigner {
            key_id,
            secret,
            names,
        }
    }

    /// Adds the signature headers of `method` to `path_and_query` with `body` at `now` to
    /// `out`, with a fresh random nonce.
    pub(super) fn sign_into(
        &self,
        out: &mut HeaderMap,
        method: &Method,
        path_and_query: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let [key_name, timestamp_name, nonce_name, signature_name] = &self.names;
        let timestamp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut random = [0u8; NONCE_BYTES];
        getrandom::fill(&mut random).map_err(AuthError::Random)?;
        let nonce = hex(&random);
        let text = string_to_sign(method, path_and_query, timestamp, &nonce, body);
        out.insert(key_name.clone(), self.key_id.clone());
        out.insert(timestamp_name.clone(), HeaderValue::from(timestamp));
        for (name, value) in [
            (nonce_name, nonce),
            (signature_name, sign(&self.secret, &text)),
        ] {
            // Lower-case hex is always a valid header value.
            if let Ok(value) = HeaderValue::from_str(&value) {
                out.insert(name.clone(), value);
            }
        }
        Ok(())
    }
}

/// The text an HMAC signature covers:
/// `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nSHA256_HEX(BODY)`.
pub fn string_to_sign(
    method: &Method,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{}\n{path_and_query}\n{timestamp}\n{nonce}\n{}",
        method.as_str(),
        hex(&Sha256::digest(body))
    )
}

/// Lower-case hex HMAC-SHA256 of `text` keyed with `secret`.
pub fn sign(secret: &[u8], text: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    };
    mac.update(text.as_bytes());
    hex(&mac.finalize().into_bytes())
}

//! Caller authentication of the record endpoints: API keys, OAuth2 bearer tokens issued by
//! the partner's token endpoint, and HMAC request signatures (DESIGN.md §7) with replay
//! protection. No I/O: the caller passes the clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::config::PartnerAuth;
use crate::rng::Rng;

/// The HMAC key id header.
pub const KEY_ID_HEADER: &str = "x-key-id";
/// The HMAC timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
/// The HMAC nonce header.
pub const NONCE_HEADER: &str = "x-nonce";
/// The HMAC signature header.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// Nonces remembered for replay protection; beyond it the oldest are forgotten.
const NONCES_REMEMBERED: usize = 1_000_000;
/// Live OAuth2 tokens kept; beyond it the oldest are forgotten.
const TOKENS_KEPT: usize = 100_000;

/// The `X-Signature` of a request (DESIGN.md §7): lower-case hex HMAC-SHA256, keyed with
/// `secret`, over `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nSHA256_HEX(BODY)`.
/// `path_and_query` is the request target as sent, base path prefix included.
pub fn hmac_signature(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    let mac = signing_mac(secret, method, path_and_query, timestamp, nonce, body);
    hex(&mac.finalize().into_bytes())
}

/// Whether `given` (hex, either case) is the `X-Signature` of the request. The comparison
/// takes the same time wherever the first wrong byte is (`Mac::verify_slice`), so a caller
/// cannot find a valid signature byte by byte from response times: partners copying this
/// check should keep it that way (never `==` on signatures or secrets).
pub fn signature_matches(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
    given: &str,
) -> bool {
    let Some(given) = unhex(given.trim()) else {
        return false;
    };
    signing_mac(secret, method, path_and_query, timestamp, nonce, body)
        .verify_slice(&given)
        .is_ok()
}

/// Whether a presented secret (API key, client secret) equals the expected one, in time that
/// depends on neither value: both are run through HMAC under a fixed key and the tags are
/// compared with `verify_slice`, so neither a differing byte nor a differing length shows.
pub fn secret_matches(given: &[u8], expected: &[u8]) -> bool {
    let tag = |value: &[u8]| {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"vigil-fake-partner-compare")
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(value);
        mac
    };
    let expected = tag(expected).finalize().into_bytes();
    tag(given).verify_slice(&expected).is_ok()
}

/// The HMAC of a request's canonical form, before finalising.
fn signing_mac(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    let body_hash = hex(&Sha256::digest(body));
    let canonical = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body_hash}");
    mac.update(canonical.as_bytes());
    mac
}

/// Bytes of a hex string (either case), or `None` if it is not hex.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// A record call as the check sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Signed<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A token the partner issued: `{"access_token","token_type":"Bearer","expires_in"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Grant {
    pub access_token: String,
    pub expires_in: Duration,
}

/// Why a token request failed: status and OAuth2 `error` code.
pub(super) type GrantError = (u16, &'static str);

/// The authentication state: configured scheme, nonces seen, tokens issued.
#[derive(Debug)]
pub(super) struct Guard {
    auth: PartnerAuth,
    nonces: HashSet<Box<str>>,
    /// Nonces in arrival order with their timestamps, to forget them once they are stale.
    nonce_order: VecDeque<(u64, Box<str>)>,
    tokens: HashMap<String, Instant>,
    token_order: VecDeque<String>,
    tokens_issued: u64,
    rng: Rng,
}

impl Guard {
    /// Checks callers with `auth`; token values are drawn from `seed`.
    pub fn new(auth: PartnerAuth, seed: u64) -> Guard {
        Guard {
            auth,
            nonces: HashSet::new(),
            nonce_order: VecDeque::new(),
            tokens: HashMap::new(),
            token_order: VecDeque::new(),
            tokens_issued: 0,
            rng: Rng::new(seed ^ 0x5eed_70ce),
        }
    }

    /// Checks a record call at `now` (monotonic, for tokens) and `unix_now` (seconds, for
    /// signatures); an `Err` is the reason for a 401.
    pub fn check(
        &mut self,
        call: &Signed<'_>,
        now: Instant,
        unix_now: u64,
    ) -> Result<(), &'static str> {
        match &self.auth {
            PartnerAuth::None => Ok(()),
            PartnerAuth::ApiKey { header, key } => {
                match call.headers.get(header.as_str()).map(|v| v.as_bytes()) {
                    Some(given) if secret_matches(given, key.as_bytes()) => Ok(()),
                    Some(_) => Err("wrong API key"),
                    None => Err("missing API key"),
                }
            }
            PartnerAuth::OAuth2 { .. } => {
                let token = header_str(call.headers, "authorization")
                    .and_then(|value| {
                        let (scheme, token) = value.split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                    })
                    .ok_or("missing bearer token")?;
                match self.tokens.get(token) {
                    Some(expiry) if now < *expiry => Ok(()),
                    Some(_) => Err("expired token"),
                    None => Err("unknown token"),
                }
            }
            PartnerAuth::Hmac {
                key_id,
                secret,
                tolerance,
            } => {
                let headers = call.headers;
                let given_key = header_str(headers, KEY_ID_HEADER).ok_or("missing X-Key-Id")?;
                if given_key != key_id {
                    return Err("unknown X-Key-Id");
                }
                let timestamp = header_str(headers, TIMESTAMP_HEADER)
                    .ok_or("missing X-Timestamp")?
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| "X-Timestamp is not Unix seconds")?;
                let nonce = header_str(headers, NONCE_HEADER)
                    .filter(|nonce| !nonce.is_empty())
                    .ok_or("missing X-Nonce")?;
                let signature =
                    header_str(headers, SIGNATURE_HEADER).ok_or("missing X-Signature")?;
                if !signature_matches(
                    secret.as_bytes(),
                    call.method,
                    call.path_and_query,
                    timestamp,
                    nonce,
                    call.body,
                    signature,
                ) {
                    return Err("bad signature");
                }
                let tolerance = *tolerance;
                if let Some(tolerance) = tolerance {
                    if unix_now.abs_diff(timestamp) > tolerance.as_secs() {
                        return Err("X-Timestamp too far from now");
                    }
                }
                if self.nonces.contains(nonce) {
                    return Err("reused X-Nonce");
                }
                self.remember_nonce(nonce, timestamp, tolerance, unix_now);
                Ok(())
            }
        }
    }

    fn remember_nonce(
        &mut self,
        nonce: &str,
        timestamp: u64,
        tolerance: Option<Duration>,
        now: u64,
    ) {
        // A nonce whose timestamp is out of the tolerance cannot be replayed any more.
        if let Some(tolerance) = tolerance {
            while let Some((ts, _)) = self.nonce_order.front() {
                if ts.saturating_add(tolerance.as_secs()) >= now {
                    break;
                }
                if let Some((_, old)) = self.nonce_order.pop_front() {
                    self.nonces.remove(&old);
                }
            }
        }
        while self.nonce_order.len() >= NONCES_REMEMBERED {
            if let Some((_, old)) = self.nonce_order.pop_front() {
                self.nonces.remove(&old);
            }
        }
        let nonce: Box<str> = nonce.into();
        self.nonces.insert(nonce.clone());
        self.nonce_order.push_back((timestamp, nonce));
    }

    /// Serves `POST /oauth/token`: `grant_type=client_credentials` with the client in HTTP
    /// Basic or in `client_id`/`client_secret` form fields.
    pub fn issue(
        &mut self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
        now: Instant,
    ) -> Result<Grant, GrantError> {
        let PartnerAuth::OAuth2 {
            client_id,
            client_secret,
            expires_in,
        } = &self.auth
        else {
            return Err((404, "invalid_request"));
        };
        let (id, secret) = basic_credentials(headers)
            .or_else(|| {
                Some((
                    form.get("client_id")?.clone(),
                    form.get("client_secret")?.clone(),
                ))
            })
            .ok_or((401, "invalid_client"))?;
        let id_ok = secret_matches(id.as_bytes(), client_id.as_bytes());
        if !(id_ok & secret_matches(secret.as_bytes(), client_secret.as_bytes())) {
            return Err((401, "invalid_client"));
        }
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            Some(_) => return Err((400, "unsupported_grant_type")),
            None => return Err((400, "invalid_request")),
        }
        let expires_in = *expires_in;
        self.tokens_issued += 1;
        let access_token = format!("tok-{}-{:016x}", self.tokens_issued, self.rng.next_u64());
        self.tokens.retain(|_, expiry| *expiry > now);
        self.token_order
            .retain(|token| self.tokens.contains_key(token));
        while self.token_order.len() >= TOKENS_KEPT {
            if let Some(old) = self.token_order.pop_front() {
                self.tokens.remove(&old);
            }
        }
        self.tokens.insert(access_token.clone(), now + expires_in);
        self.token_order.push_back(access_token.clone());
        Ok(Grant {
            access_token,
            expires_in,
        })
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued
    }

    /// Makes every token issued so far unknown, as if they had expired.
    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
        self.token_order.clear();
    }

    /// Changes the lifetime of tokens issued from now on (OAuth2 only).
    pub fn set_token_lifetime(&mut self, lifetime: Duration) {
        if let PartnerAuth::OAuth2 { expires_in, .. } = &mut self.auth {
            *expires_in = lifetime;
        }
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `Authorization: Basic base64(id:secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = header_str(headers, "authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn signatures_match_an_independent_implementation() {
        // Python: body = hashlib.sha256(b'{"a":1}').hexdigest()
        //   hmac.new(b"s3cret", f"PUT\n/api/records/r%3A1\n1700000000\nn-1\n{body}".encode(),
        //            hashlib.sha256).hexdigest()
        let body_hash = hex(&Sha256::digest(b"{\"a\":1}"));
        assert_eq!(
            body_hash,
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
        let signature = hmac_signature(
            b"s3cret",
            "PUT",
            "/api/records/r%3A1",
            1_700_000_000,
            "n-1",
            b"{\"a\":1}",
        );
        assert_eq!(
            signature,
            "f4f8ce8f42d7f8e1ac24d661165525950ca211f7e703ec2c0989f72e62b9ea0a"
        );
        assert_ne!(
            signature,
            hmac_signature(
                b"s3cret",
                "PUT",
                "/api/records/r%3A1",
                1_700_000_001,
                "n-1",
                b"{\"a\":1}"
            )
        );
    }

    fn signed_headers(secret: &str, pq: &str, ts: u64, nonce: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(KEY_ID_HEADER, HeaderValue::from_static("vigil"));
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from(ts));
        headers.insert(NONCE_HEADER, HeaderValue::from_str(nonce).unwrap());
        let signature = hmac_signature(secret.as_bytes(), "PUT", pq, ts, nonce, body);
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
        headers
    }

    #[test]
    fn hmac_rejects_bad_signatures_stale_timestamps_and_replays() {
        let mut guard = Guard::new(PartnerAuth::hmac("vigil", "s3cret"), 1);
        let now = Instant::now();
        let unix = 1_700_000_000;
        let call = |headers| Signed {
            method: "PUT",
            path_and_query: "/records/a",
            headers,
            body: b"{}",
        };
        let good = signed_headers("s3cret", "/records/a", unix, "n1", b"{}");
        assert_eq!(guard.check(&call(&good), now, unix), Ok(()));
        assert_eq!(guard.check(&call(&good), now, unix), Err("reused X-Nonce"));
        let forged = signed_headers("other", "/records/a", unix, "n2", b"{}");
        assert_eq!(guard.check(&call(&forged), now, unix), Err("bad signature"));
        let stale = signed_headers("s3cret", "/records/a", unix - 301, "n3", b"{}");
        assert_eq!(
            guard.check(&call(&stale), now, unix),
            Err("X-Timestamp too far from now")
        );
        let edge = signed_headers("s3cret", "/records/a", unix + 300, "n4", b"{}");
        assert_eq!(guard.check(&call(&edge), now, unix), Ok(()));
        let other_path = signed_headers("s3cret", "/records/b", unix, "n5", b"{}");
        assert_eq!(
            guard.check(&call(&other_path), now, unix),
            Err("bad signature")
        );
    }

    #[test]
    fn signatures_and_secrets_are_checked_by_value_in_constant_time() {
        let sign = |ts| hmac_signature(b"s3cret", "PUT", "/r/a", ts, "n1", b"{}");
        let matches =
            |given: &str| signature_matches(b"s3cret", "PUT", "/r/a", 7, "n1", b"{}", given);
        let good = sign(7);
        assert!(matches(&good));
        assert!(matches(&good.to_ascii_uppercase()));
        assert!(matches(&format!(" {good} ")));
        let mut one_nibble_off = good.clone().into_bytes();
        one_nibble_off[63] = if one_nibble_off[63] == b'0' {
            b'1'
        } else {
            b'0'
        };
        let one_nibble_off = String::from_utf8(one_nibble_off).unwrap();
        for bad in [
            sign(8).as_str(),
            one_nibble_off.as_str(),
            &good[..62],
            &good[..63],
            "",
            "zz",
            &good.replace(|c: char| c.is_ascii_digit(), "g"),
        ] {
            assert!(!matches(bad), "{bad:?} was taken");
        }
        assert!(secret_matches(b"key-1", b"key-1"));
        for bad in [&b"key-2"[..], b"key-", b"key-11", b""] {
            assert!(!secret_matches(bad, b"key-1"));
        }
    }

    #[test]
    fn tokens_are_issued_to_the_client_and_expire() {
        let mut guard = Guard::new(
            PartnerAuth::OAuth2 {
                client_id: "vigil".into(),
                client_secret: "pw".into(),
                expires_in: Duration::from_secs(60),
            },
            1,
        );
        let now = Instant::now();
        let form: HashMap<String, String> = [
            ("grant_type", "client_credentials"),
            ("client_id", "vigil"),
            ("client_secret", "pw"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let grant = guard.issue(&HeaderMap::new(), &form, now).unwrap();
        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", grant.access_token);
        headers.insert("authorization", HeaderValue::from_str(&bearer).unwrap());
        let call = Signed {
            method: "GET",
            path_and_query: "/records",
            headers: &headers,
            body: b"",
        };
        assert_eq!(guard.check(&call, now, 0), Ok(()));
        assert_eq!(
            guard.check(&call, now + Duration::from_secs(60), 0),
            Err("expired token")
        );
        let mut wrong = form.clone();
        wrong.insert("client_secret".into(), "nope".into());
        assert_eq!(
            guard.issue(&HeaderMap::new(), &wrong, now),
            Err((401, "invalid_client"))
        );
        assert_eq!(guard.tokens_issued(), 1);
        guard.expire_tokens();
        assert_eq!(guard.check(&call, now, 0), Err("unknown token"));
    }
}

//! Ack tokens, the credential of an ack link `{public_url}/ack/{token}` (opened from a phone to
//! acknowledge every alert of a message without logging in): encoding, signing and checking,
//! and the signing key. A token names the message and the contact it went to, carries its
//! expiry, and is signed with HMAC-SHA256. The HTTP handlers are [`crate::api`]'s `ack`.
//!
//! The token is short because it goes into a one-segment SMS: base64url without padding of
//!
//! ```text
//! format (1) | message id | expiry, Unix seconds, big-endian (4) | contact (rest) | MAC (10)
//! ```
//!
//! where the message id is 16 bytes when it is a UUID in canonical form (format 1, what the
//! outbox uses) and otherwise its length as a LEB128 number then its UTF-8 bytes (format 2),
//! and the MAC is the first [`MAC_LEN`] bytes of HMAC-SHA256 over everything before it. With a
//! UUID and a five-letter contact that is 48 characters.
//!
//! The signing key is derived from a secret: the value of the environment variable
//! `notify.link_secret_env` names, or else 32 random bytes kept in the store (table
//! `notify_keys`) so that every instance signs and checks with the same key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use vigil_schema::Millis;

use super::config::NotifyConfig;
use crate::store::{Store, StoreError};

/// Bytes of the truncated MAC: 80 bits, far beyond guessing through a rate-limited endpoint.
pub const MAC_LEN: usize = 10;

/// Shortest secret accepted from the environment.
pub const MIN_SECRET_LEN: usize = 16;

/// Longest token looked at; anything longer is malformed without decoding it.
pub const MAX_TOKEN_LEN: usize = 1024;

/// The name of the stored key in `notify_keys`.
const STORED_KEY: &str = "ack_link";

/// Bytes of a generated key.
const GENERATED_KEY_LEN: usize = 32;

/// What the link key is derived with, so a secret shared with something else (by mistake)
/// still gives a key of its own.
const KEY_CONTEXT: &[u8] = b"vigil ack link v1";

const FORMAT_UUID: u8 = 1;
const FORMAT_TEXT: u8 = 2;

type HmacSha256 = Hmac<Sha256>;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckLink {
    /// The message (`message_id` of its outbox rows).
    pub message_id: String,
    /// The contact it was sent to.
    pub contact: String,
    /// When the link stops working (whole seconds).
    pub expires_at: Millis,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token this service makes (not base64url, too short or too long).
    #[error("the link is malformed")]
    Malformed,
    /// The signature does not match: forged, altered, or signed with another key.
    #[error("the link's signature does not match")]
    BadSignature,
    /// Genuine, but past its expiry.
    #[error("the link has expired")]
    Expired,
}

/// Why the signing key could not be set up (at start).
#[derive(Debug, thiserror::Error)]
pub enum LinkKeyError {
    /// `notify.link_secret_env` names a variable that is not set (or not UTF-8).
    #[error(
        "notify.link_secret_env names the environment variable {var}, which is not set: set it \
         to the secret that signs ack links (at least {MIN_SECRET_LEN} bytes, the same on every \
         instance), or remove link_secret_env to use a key generated and kept in the store"
    )]
    MissingEnv {
        /// The variable.
        var: String,
    },
    /// The variable is set but too short to be a secret.
    #[error(
        "the environment variable {var} (notify.link_secret_env) holds {len} bytes; an ack link \
         secret needs at least {MIN_SECRET_LEN}"
    )]
    ShortSecret {
        /// The variable.
        var: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The operating system gave no random bytes for a new key.
    #[error("cannot generate an ack link key: {0}")]
    Random(getrandom::Error),
    /// The stored key could not be read or written.
    #[error("cannot read or store the ack link key: {0}")]
    Store(#[from] StoreError),
}

impl LinkKeyError {
    /// Whether trying again later can help (the store was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, LinkKeyError::Store(e) if e.is_retryable())
    }
}

/// Signs and checks ack link tokens with one key; cheap to clone.
#[derive(Clone)]
pub struct LinkSigner {
    key: HmacSha256,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner").finish_non_exhaustive()
    }
}

fn hmac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

impl LinkSigner {
    /// A signer whose key is derived from `secret`. Every instance given the same secret signs
    /// and checks the same tokens.
    pub fn new(secret: &[u8]) -> LinkSigner {
        let derived = hmac(secret)
            .chain_update(KEY_CONTEXT)
            .finalize()
            .into_bytes();
        LinkSigner {
            key: hmac(&derived),
        }
    }

    /// The signer of this service: from the environment variable `notify.link_secret_env`
    /// names, else from the key in the store (generated by the first instance to start).
    pub async fn load(config: &NotifyConfig, store: &Store) -> Result<LinkSigner, LinkKeyError> {
        if let Some(var) = &config.link_secret_env {
            let secret =
                std::env::var(var).map_err(|_| LinkKeyError::MissingEnv { var: var.clone() })?;
            if secret.len() < MIN_SECRET_LEN {
                return Err(LinkKeyError::ShortSecret {
                    var: var.clone(),
                    len: secret.len(),
                });
            }
            return Ok(LinkSigner::new(secret.as_bytes()));
        }
        let mut candidate = [0u8; GENERATED_KEY_LEN];
        getrandom::fill(&mut candidate).map_err(LinkKeyError::Random)?;
        let secret = store
            .notify_keys()
            .shared_key(STORED_KEY, &candidate)
            .await?;
        Ok(LinkSigner::new(&secret))
    }

    /// Whether this configuration sends ack links: it routes alerts to people, or names a
    /// link secret.
    pub fn enabled(config: &NotifyConfig) -> bool {
        !config.routes.is_empty() || config.link_secret_env.is_some()
    }

    /// [`LinkSigner::load`] when [`LinkSigner::enabled`], else `None`.
    pub async fn load_if_enabled(
        config: &NotifyConfig,
        store: &Store,
    ) -> Result<Option<LinkSigner>, LinkKeyError> {
        if LinkSigner::enabled(config) {
            LinkSigner::load(config, store).await.map(Some)
        } else {
            Ok(None)
        }
    }

    /// A token for `message_id` sent to `contact`, working until `expires_at` (rounded down to
    /// the second; instants beyond 2106 are cut to then).
    pub fn sign(&self, message_id: &str, contact: &str, expires_at: Millis) -> String {
        let mut body = Vec::with_capacity(1 + 16 + 4 + contact.len() + MAC_LEN);
        match uuid::Uuid::try_parse(message_id) {
            Ok(id) if id.hyphenated().to_string() == message_id => {
                body.push(FORMAT_UUID);
                body.extend_from_slice(id.as_bytes());
            }
            _ => {
                body.push(FORMAT_TEXT);
                push_length(&mut body, message_id.len());
                body.extend_from_slice(message_id.as_bytes());
            }
        }
        let seconds = u32::try_from(expires_at.div_euclid(1000).max(0)).unwrap_or(u32::MAX);
        body.extend_from_slice(&seconds.to_be_bytes());
        body.extend_from_slice(contact.as_bytes());
        let mac = self.key.clone().chain_update(&body).finalize().into_bytes();
        body.extend_from_slice(&mac[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(body)
    }

    /// What `token` says, if this key signed it and it has not expired at `now`. The signature
    /// is checked (in constant time) before anything in the token is believed.
    pub fn verify(&self, token: &str, now: Millis) -> Result<AckLink, LinkError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(LinkError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| LinkError::Malformed)?;
        // Format, a one-byte length (or more), expiry, MAC.
        if bytes.len() < 1 + 1 + 4 + MAC_LEN {
            return Err(LinkError::Malformed);
        }
        let (body, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        self.key
            .clone()
            .chain_update(body)
            .verify_truncated_left(tag)
            .map_err(|_| LinkError::BadSignature)?;
        let link = parse(body).ok_or(LinkError::Malformed)?;
        if now >= link.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }

    /// The link: `{public_url}/ack/{token}` (one slash between them).
    pub fn url(&self, public_url: &str, token: &str) -> String {
        format!("{}/ack/{token}", public_url.trim_end_matches('/'))
    }
}

/// The fields of a signed body.
fn parse(body: &[u8]) -> Option<AckLink> {
    let (format, rest) = body.split_first()?;
    let (message_id, rest) = match *format {
        FORMAT_UUID => {
            let (id, rest) = split(rest, 16)?;
            let id = uuid::Uuid::from_slice(id).ok()?;
            (id.hyphenated().to_string(), rest)
        }
        FORMAT_TEXT => {
            let (len, rest) = read_length(rest)?;
            let (id, rest) = split(rest, len)?;
            (String::from_utf8(id.to_vec()).ok()?, rest)
        }
        _ => return None,
    };
    let (expiry, contact) = split(rest, 4)?;
    let seconds = u32::from_be_bytes(expiry.try_into().ok()?);
    Some(AckLink {
        message_id,
        contact: String::from_utf8(contact.to_vec()).ok()?,
        expires_at: Millis::from(seconds) * 1000,
    })
}

fn split(bytes: &[u8], at: usize) -> Option<(&[u8], &[u8])> {
    (bytes.len() >= at).then(|| bytes.split_at(at))
}

/// Appends `len` as LEB128 (seven bits a byte, low first, high bit: more follow).
fn push_length(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let low = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Reads a LEB128 length of at most four bytes (longer ones cannot fit in a token).
fn read_length(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut len = 0usize;
    for (i, b) in bytes.iter().enumerate().take(4) {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((len, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = "5f0c2a4e-8b1d-5c3e-9f7a-1b2c3d4e5f60";
    const NOW: Millis = 1_795_000_000_000;
    const HOUR: Millis = 3_600_000;

    fn signer() -> LinkSigner {
        LinkSigner::new(b"a secret of the test, long enough")
    }

    #[test]
    fn a_token_round_trips_and_stays_short() {
        let s = signer();
        let token = s.sign(MESSAGE, "alice", NOW + HOUR);
        assert_eq!(token.len(), 48, "{token}");
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let link = s.verify(&token, NOW).unwrap();
        assert_eq!(
            link,
            AckLink {
                message_id: MESSAGE.into(),
                contact: "alice".into(),
                expires_at: NOW + HOUR,
            }
        );
        // An SMS keeps room for the words: a typical link is well under half a segment.
        let url = s.url("https://vigil.example.com/", &token);
        assert_eq!(url, format!("https://vigil.example.com/ack/{token}"));
        assert!(url.len() <= 80, "{url}");
        assert!(crate::notify::message::fits_one_segment(&url));
    }

    #[test]
    fn message_ids_that_are_not_uuids_round_trip_too() {
        let s = signer();
        let long = "m".repeat(300);
        for id in [
            "group-1",
            "",
            "5F0C2A4E-8B1D-5C3E-9F7A-1B2C3D4E5F60",
            long.as_str(),
        ] {
            let token = s.sign(id, "bob", NOW + HOUR);
            assert_eq!(s.verify(&token, NOW).unwrap().message_id, id);
        }
        let contact = "小王";
        let token = s.sign(MESSAGE, contact, NOW + HOUR);
        assert_eq!(s.verify(&token, NOW).unwrap().contact, contact);
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let s = signer();
        let token = s.sign(MESSAGE, "alice", NOW + HOUR);
        // Every single-character change anywhere is caught.
        for i in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let altered: String = chars.into_iter().collect();
            assert!(
                matches!(
                    s.verify(&altered, NOW),
                    Err(LinkError::BadSignature | LinkError::Malformed)
                ),
                "position {i}"
            );
        }
        // Another contact spliced in: the MAC no longer matches.
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let mut spliced = bytes[..21].to_vec();
        spliced.extend_from_slice(b"mallory");
        spliced.extend_from_slice(&bytes[bytes.len() - MAC_LEN..]);
        assert_eq!(
            s.verify(&URL_SAFE_NO_PAD.encode(spliced), NOW),
            Err(LinkError::BadSignature)
        );
        let other = LinkSigner::new(b"another secret, also long enough");
        assert_eq!(other.verify(&token, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        let s = signer();
        for token in [
            "",
            "abc",
            "not base64!",
            "AAAA",
            &"A".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(s.verify(token, NOW), Err(LinkError::Malformed), "{token}");
        }
    }

    #[test]
    fn a_token_works_until_its_expiry_and_not_at_it() {
        let s = signer();
        let token = s.sign(MESSAGE, "alice", NOW + HOUR);
        assert!(s.verify(&token, NOW + HOUR - 1).is_ok());
        assert_eq!(s.verify(&token, NOW + HOUR), Err(LinkError::Expired));
        // Expiry is kept to the second, rounded down.
        let token = s.sign(MESSAGE, "alice", NOW + 1_999);
        assert_eq!(s.verify(&token, NOW).unwrap().expires_at, NOW + 1_000);
        // Instants outside what four bytes of seconds hold are clamped, not wrapped.
        let past = s.sign(MESSAGE, "alice", -5);
        assert_eq!(s.verify(&past, NOW), Err(LinkError::Expired));
        let far = s.sign(MESSAGE, "alice", Millis::MAX);
        assert!(s.verify(&far, NOW).is_ok());
    }

    #[test]
    fn lengths_are_leb128() {
        for len in [0, 1, 127, 128, 300, 16_383, 16_384] {
            let mut out = Vec::new();
            push_length(&mut out, len);
            out.push(0xAA);
            assert_eq!(read_length(&out), Some((len, &[0xAA][..])), "{len}");
        }
        assert_eq!(read_length(&[0x80, 0x80, 0x80, 0x80, 0x01]), None);
    }
}

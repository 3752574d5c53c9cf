//! Sealing secrets for the store: AES-256-GCM with a random 96-bit nonce per value and the
//! secret's name as associated data (a sealed value cannot be moved to another name), under a
//! key every instance reads from the environment variable [`KEY_ENV`] (32 bytes, base64).
//!
//! A sealed value is the text `v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`; the key id
//! (the first 4 bytes of the key's SHA-256, in hex) says which key sealed it, so a value sealed
//! under another key is refused with that reason instead of a bare authentication failure.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// The environment variable holding the sealing key.
pub const KEY_ENV: &str = "VIGIL_SECRETS_KEY";

/// How to make a key, for the errors that ask for one.
pub const HOW_TO_SET_THE_KEY: &str = "generate one with `openssl rand -base64 32` and set it in the environment variable VIGIL_SECRETS_KEY of every instance (the same key everywhere)";

const VERSION: &str = "v1";

/// Why a key or a sealed value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key in the environment is not 32 bytes of base64.
    #[error("{KEY_ENV} is not a key: {0}; {HOW_TO_SET_THE_KEY}")]
    BadKey(String),
    /// No key is set, so secrets cannot be stored or read.
    #[error("secrets are stored encrypted and {KEY_ENV} is not set: {HOW_TO_SET_THE_KEY}")]
    NoKey,
    /// The value was sealed under another key.
    #[error("sealed under key {sealed_with}, not this instance's key {ours}: set the same {KEY_ENV} on every instance, or set the secret again")]
    OtherKey {
        /// The id of the key that sealed it.
        sealed_with: String,
        /// The id of this instance's key.
        ours: String,
    },
    /// Not a sealed value, or altered.
    #[error("not a sealed value of this name, or altered: set the secret again")]
    Corrupt,
}

/// The sealing key of this process.
pub struct SealKey {
    key: LessSafeKey,
    id: String,
    random: SystemRandom,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey").field("id", &self.id).finish()
    }
}

impl SealKey {
    /// The key in [`KEY_ENV`]: `Ok(None)` when it is not set, an error when it is not a key.
    pub fn from_env() -> Result<Option<SealKey>, SealError> {
        match std::env::var(KEY_ENV) {
            Ok(text) => SealKey::from_base64(&text).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(SealError::BadKey("not valid UTF-8".into()))
            }
        }
    }

    /// A key from its base64 text (32 bytes).
    pub fn from_base64(text: &str) -> Result<SealKey, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| SealError::BadKey(format!("not base64 ({e})")))?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey(format!(
                "{} bytes; AES-256 needs 32",
                bytes.len()
            )));
        }
        if bytes.iter().all(|b| *b == bytes[0]) {
            return Err(SealError::BadKey("every byte is the same".into()));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| SealError::BadKey("refused by AES-256-GCM".into()))?;
        Ok(SealKey {
            key: LessSafeKey::new(unbound),
            id: crate::hex::encode(&Sha256::digest(&bytes)[..4]),
            random: SystemRandom::new(),
        })
    }

    /// The key's id (not secret: it only tells keys apart).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plaintext` sealed for the secret `name`.
    pub fn seal(&self, name: &str, plaintext: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Corrupt)?;
        let mut sealed = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(name).as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}:{}:{}", self.id, STANDARD.encode(out)))
    }

    /// The plaintext of a value [`seal`](Self::seal) made for `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Result<String, SealError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Corrupt);
        };
        if id != self.id {
            return Err(SealError::OtherKey {
                sealed_with: id.into(),
                ours: self.id.clone(),
            });
        }
        let bytes = STANDARD.decode(body).map_err(|_| SealError::Corrupt)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Corrupt)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(name).as_bytes()), &mut in_out)
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Corrupt)
    }
}

fn aad(name: &str) -> String {
    format!("vigil-secret:{VERSION}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn a_sealed_value_opens_under_its_name_and_key_only() {
        let key = SealKey::from_base64(KEY).unwrap();
        let sealed = key.seal("SMTP_PASSWORD", "hunter2-but-longer").unwrap();
        assert!(!sealed.contains("hunter2"), "{sealed}");
        assert!(sealed.starts_with(&format!("v1:{}:", key.id())));
        assert_eq!(
            key.open("SMTP_PASSWORD", &sealed).unwrap(),
            "hunter2-but-longer"
        );
        assert_ne!(
            sealed,
            key.seal("SMTP_PASSWORD", "hunter2-but-longer").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(key.open("OTHER", &sealed), Err(SealError::Corrupt));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open("SMTP_PASSWORD", &altered), Err(SealError::Corrupt));
        let other = SealKey::from_base64("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").unwrap();
        assert!(matches!(
            other.open("SMTP_PASSWORD", &sealed),
            Err(SealError::OtherKey { .. })
        ));
    }

    #[test]
    fn keys_that_are_not_keys_are_refused() {
        for bad in [
            "",
            "not base64!",
            "c2hvcnQ=",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(
                matches!(SealKey::from_base64(bad), Err(SealError::BadKey(_))),
                "{bad:?}"
            );
        }
    }
}

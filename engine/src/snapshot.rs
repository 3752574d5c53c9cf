//! Snapshots of engine state: what a tenant's engine holds, written compactly so that a
//! restart loads it instead of replaying the whole stream (DESIGN.md §6).
//!
//! A snapshot is a header and a payload:
//!
//! ```text
//! "VGSN" (4) | format version, u16 LE (2) | XXH3-64 of the payload, u64 LE (8) | payload
//! ```
//!
//! The payload is [`postcard`] (compact, varint, not self-describing) of the caller's value,
//! typically a list of [`TenantState`]. A snapshot of another format version is refused with
//! [`SnapshotError::Version`] (the caller replays instead: never misread), and a payload that
//! does not match its checksum with [`SnapshotError::Checksum`].
//!
//! Policy versions keep their merged settings as JSON text inside the binary payload: their
//! serde shape skips absent fields, which a format without field names cannot decode; the
//! engine recompiles them with the configured calendars on restore.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use vigil_schema::Millis;

use crate::engine::{FiredAlert, GoalClock};
use crate::metrics::{GroupedCompliance, RollingMetrics};

/// The format this build writes and reads. Bump it with every change of the payload's
/// shape, or of what its values mean (such as the hash of ticket ids in
/// [`TenantState::finals`]), and read the format before it with [`decode_format`] to
/// migrate it.
///
/// - 1: the first.
/// - 2: a partition's dedupe memory as its tables hold it (`vigil_schema::dedupe::DedupeImage`).
pub const FORMAT_VERSION: u16 = 2;

const MAGIC: [u8; 4] = *b"VGSN";
const HEADER_LEN: usize = 4 + 2 + 8;

/// Why a snapshot cannot be used. Each means: ignore it and rebuild state from the stream.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot at all, or cut short.
    #[error("not a Vigil snapshot (bad magic or shorter than its header)")]
    NotASnapshot,
    /// Written by a build with another format.
    #[error("snapshot format {found}, this build reads {FORMAT_VERSION}")]
    Version {
        /// The format version in the header.
        found: u16,
    },
    /// The payload does not match the header's checksum.
    #[error("snapshot payload is corrupt (checksum mismatch)")]
    Checksum,
    /// The value could not be written (a bug: engine state always serializes).
    #[error("snapshot cannot be written: {0}")]
    Encode(String),
    /// The payload does not decode as what was asked for.
    #[error("snapshot payload does not decode: {0}")]
    Decode(String),
    /// The state decodes but does not fit this engine (e.g. a policy version that no longer
    /// compiles with the configured calendars).
    #[error("snapshot state cannot be restored: {0}")]
    Restore(String),
}

/// Writes `value` as a snapshot: header, then postcard payload.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, SnapshotError> {
    encode_format(value, FORMAT_VERSION)
}

/// Writes `value` as a snapshot of format `format`: what [`encode`] does, for tests of the
/// migration from an older format.
pub fn encode_format<T: Serialize>(value: &T, format: u16) -> Result<Vec<u8>, SnapshotError> {
    let payload = postcard::to_allocvec(value).map_err(|e| SnapshotError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Reads a snapshot written by [`encode`], checking its magic, format version and checksum.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SnapshotError> {
    decode_format(bytes, FORMAT_VERSION)
}

/// Reads a snapshot of format `format` (an older one, to migrate it), checking its magic,
/// format version and checksum.
pub fn decode_format<T: DeserializeOwned>(bytes: &[u8], format: u16) -> Result<T, SnapshotError> {
    if bytes.len() < HEADER_LEN || bytes[..4] != MAGIC {
        return Err(SnapshotError::NotASnapshot);
    }
    let found = u16::from_le_bytes([bytes[4], bytes[5]]);
    if found != format {
        return Err(SnapshotError::Version { found });
    }
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&bytes[6..HEADER_LEN]);
    let payload = &bytes[HEADER_LEN..];
    if xxhash_rust::xxh3::xxh3_64(payload) != u64::from_le_bytes(sum) {
        return Err(SnapshotError::Checksum);
    }
    postcard::from_bytes(payload).map_err(|e| SnapshotError::Decode(e.to_string()))
}

/// One tenant's engine, as a snapshot holds it. Made by [`crate::TenantEngine::to_state`],
/// restored by [`crate::TenantEngine::from_state`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    /// The tenant.
    pub tenant_id: u64,
    /// Its policy versions, oldest (1) first.
    pub policies: Vec<PolicyVersionState>,
    /// Its open tickets.
    pub tickets: Vec<TicketState>,
    /// Final tickets still remembered: `(became final at, hash of the id)`, oldest first.
    pub finals: Vec<(Millis, u64)>,
    /// Interned service types, by id.
    pub service_types: Vec<Box<str>>,
    /// Interned assignees, by id.
    pub assignees: Vec<Box<str>>,
    /// Rolling service metrics.
    pub metrics: RollingMetrics,
    /// Compliance by priority and service type.
    pub compliance: GroupedCompliance,
}

/// One policy version: enough to compile it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersionState {
    /// Its number.
    pub version: u32,
    /// When it takes effect.
    pub effective_from: Millis,
    /// Its merged settings, as JSON text (see the module docs).
    pub spec_json: String,
}

/// One open ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketState {
    /// The upstream ticket id.
    pub id: Box<str>,
    /// When it was created.
    pub created_at: Millis,
    /// The policy version it runs under.
    pub policy_version: u32,
    /// Which rules of that version apply.
    pub rules: u16,
    /// Interned service type.
    pub service_type: u32,
    /// Interned assignee, or `u32::MAX`.
    pub assignee: u32,
    /// Priority index.
    pub priority: u8,
    /// Status index ([`vigil_schema::Status::index`]).
    pub status: u8,
    /// Response and resolution clocks.
    pub goals: [GoalClock; 2],
    /// Alerts raised so far.
    pub alerts: Vec<FiredAlert>,
    /// The latest `occurred_at` applied.
    pub since: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_what_was_written() {
        let value = (7u64, vec![String::from("a"), String::from("b")]);
        let bytes = encode(&value).unwrap();
        assert_eq!(&bytes[..4], b"VGSN");
        assert_eq!(decode::<(u64, Vec<String>)>(&bytes).unwrap(), value);
    }

    #[test]
    fn other_versions_corrupt_payloads_and_strangers_are_refused() {
        let bytes = encode(&(1u32, 2u32)).unwrap();

        let mut other = bytes.clone();
        other[4..6].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert!(matches!(
            decode::<(u32, u32)>(&other),
            Err(SnapshotError::Version { found }) if found == FORMAT_VERSION + 1
        ));

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            decode::<(u32, u32)>(&flipped),
            Err(SnapshotError::Checksum)
        ));

        assert!(matches!(
            decode::<(u32, u32)>(b"{\"json\":true}"),
            Err(SnapshotError::NotASnapshot)
        ));
        assert!(matches!(
            decode::<(u32, u32)>(&bytes[..HEADER_LEN - 1]),
            Err(SnapshotError::NotASnapshot)
        ));
    }
}

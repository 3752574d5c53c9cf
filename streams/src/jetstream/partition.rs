//! Which partition a tenant's events land in.
//!
//! The events stream maps `vigil.events.<tenant_id>` to `vigil.p.{{partition(P,1)}}.<tenant_id>`.
//! nats-server computes `partition(P,1)` as the 32-bit FNV-1a hash of the subject's first
//! wildcard token (the tenant id as written, in decimal) modulo `P` (`getHashPartition` in
//! nats-server's `server/subject_transform.go`). [`partition_of`] computes the same number, so a
//! publisher or an instance can tell where a tenant lives without asking the server.

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1a of `bytes`, as Go's `hash/fnv.New32a`.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV32_OFFSET, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(FNV32_PRIME)
    })
}

/// The partition (0..`partitions`) nats-server assigns to `vigil.events.<tenant_id>`.
/// A count of 0 (which [`StreamSettings::validate`](super::StreamSettings::validate) rejects)
/// is treated as 1.
pub fn partition_of(tenant_id: u64, partitions: u32) -> u32 {
    let mut buf = [0u8; 20];
    fnv1a32(decimal(tenant_id, &mut buf)) % partitions.max(1)
}

/// Writes `n` in decimal into the end of `buf` and returns the digits, without allocating.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Reference values of FNV-1a 32 (Go's hash/fnv New32a gives the same).
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn partition_hashes_the_decimal_token() {
        for tenant in [1u64, 42, 12345, u64::MAX] {
            let expected = fnv1a32(tenant.to_string().as_bytes()) % 16;
            assert_eq!(partition_of(tenant, 16), expected);
        }
        assert_eq!(partition_of(42, 1), 0);
        assert_eq!(partition_of(42, 0), 0);
    }
}

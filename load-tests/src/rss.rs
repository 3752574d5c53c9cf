//! This process's resident memory, from `/proc/self/status` (Linux).

use std::io;

/// Resident set size now (`VmRSS`), in bytes.
pub fn resident_bytes() -> io::Result<u64> {
    status_field("VmRSS:")
}

/// Peak resident set size so far (`VmHWM`), in bytes.
pub fn peak_resident_bytes() -> io::Result<u64> {
    status_field("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_field(name: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/self/status has no {name} field"),
            )
        })
}

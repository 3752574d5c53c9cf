//! Process metrics (CPU time, resident memory, open and allowed file descriptors) under the
//! Prometheus client conventions ([`PROCESS_CPU_SECONDS`] and the rest), read from Linux's
//! `/proc/self` on every recorder upkeep tick. Elsewhere, or where `/proc` cannot be read,
//! nothing is set and the series are absent: a metric is never a made-up number.

use super::metrics::{
    PROCESS_CPU_SECONDS, PROCESS_MAX_FDS, PROCESS_OPEN_FDS, PROCESS_RESIDENT_MEMORY,
};

/// What the kernel reports of this process; `None` where a file could not be read or parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessSample {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit on open file descriptors (`None` when unlimited).
    pub max_fds: Option<f64>,
}

/// The clock-tick rate `/proc/<pid>/stat` counts CPU time in when the auxiliary vector does not
/// say (Linux's `USER_HZ`, 100 on every mainstream architecture).
const DEFAULT_CLOCK_TICKS: f64 = 100.0;

/// `AT_CLKTCK`: the auxiliary-vector entry holding the clock-tick rate.
const AT_CLKTCK: usize = 17;

impl ProcessSample {
    /// Reads `/proc/self`. A few small reads from the kernel, no allocation beyond the files.
    pub fn read() -> Self {
        let proc = std::path::Path::new("/proc/self");
        let ticks = std::fs::read(proc.join("auxv"))
            .ok()
            .and_then(|auxv| clock_ticks(&auxv))
            .unwrap_or(DEFAULT_CLOCK_TICKS);
        let read = |name: &str| std::fs::read_to_string(proc.join(name)).ok();
        Self {
            cpu_seconds: read("stat").and_then(|s| cpu_seconds(&s, ticks)),
            resident_bytes: read("status").and_then(|s| resident_bytes(&s)),
            open_fds: std::fs::read_dir(proc.join("fd"))
                .ok()
                .map(|dir| dir.count() as f64),
            max_fds: read("limits").and_then(|s| max_fds(&s)),
        }
    }

    /// Sets the process gauges to what was read; a value that could not be read is left as is.
    pub fn record(&self) {
        for (name, value) in [
            (PROCESS_CPU_SECONDS, self.cpu_seconds),
            (PROCESS_RESIDENT_MEMORY, self.resident_bytes),
            (PROCESS_OPEN_FDS, self.open_fds),
            (PROCESS_MAX_FDS, self.max_fds),
        ] {
            if let Some(value) = value {
                metrics::gauge!(name).set(value);
            }
        }
    }
}

/// Reads the process and sets its gauges: what [`super::upkeep`] runs on every tick.
pub fn record() {
    ProcessSample::read().record();
}

/// The clock-tick rate from an auxiliary vector (`/proc/self/auxv`: native-endian word pairs).
fn clock_ticks(auxv: &[u8]) -> Option<f64> {
    const WORD: usize = std::mem::size_of::<usize>();
    auxv.chunks_exact(2 * WORD).find_map(|pair| {
        let (key, value) = pair.split_at(WORD);
        let word = |b: &[u8]| b.try_into().ok().map(usize::from_ne_bytes);
        (word(key)? == AT_CLKTCK)
            .then(|| word(value))
            .flatten()
            .filter(|&ticks| ticks > 0)
            .map(|ticks| ticks as f64)
    })
}

/// User plus system time (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks) in seconds.
/// The command name (field 2) is parenthesised and may hold spaces or parentheses itself, so
/// the fields are counted from the last `)`.
fn cpu_seconds(stat: &str, ticks: f64) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name comes field 3 (state): field n is at index n - 3.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / ticks)
}

/// `VmRSS` of `/proc/<pid>/status` (kibibytes) in bytes.
fn resident_bytes(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib as f64 * 1024.0)
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits` (`None` when unlimited).
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse::<u64>().ok().map(|n| n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // A command name with a space and a parenthesis; utime 250, stime 50 ticks.
        let stat = "4242 (vigil (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    12 0 1000 123456789 2048 18446744073709551615";
        assert_eq!(cpu_seconds(stat, 100.0), Some(3.0));
        assert_eq!(cpu_seconds("4242 (vigil) S 1", 100.0), None);
        assert_eq!(cpu_seconds("no name at all", 100.0), None);
    }

    #[test]
    fn status_and_limits_are_read_in_bytes_and_soft_limits() {
        let status = "Name:\tvigil\nVmPeak:\t  90000 kB\nVmRSS:\t   5120 kB\nThreads:\t9\n";
        assert_eq!(resident_bytes(status), Some(5120.0 * 1024.0));
        assert_eq!(resident_bytes("Name:\tvigil\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            65536                1048576              files\n";
        assert_eq!(max_fds(limits), Some(65536.0));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(max_fds(unlimited), None);
    }

    #[test]
    fn the_clock_tick_rate_comes_from_its_auxv_entry() {
        let words = |pairs: &[(usize, usize)]| -> Vec<u8> {
            pairs
                .iter()
                .flat_map(|&(k, v)| [k.to_ne_bytes(), v.to_ne_bytes()])
                .flatten()
                .collect()
        };
        assert_eq!(
            clock_ticks(&words(&[(6, 4096), (17, 250), (0, 0)])),
            Some(250.0)
        );
        assert_eq!(clock_ticks(&words(&[(6, 4096), (0, 0)])), None);
        assert_eq!(clock_ticks(&words(&[(17, 0)])), None);
    }
}

//! Benchmark figures, printed one per line as `name=value` on stdout so scripts can grep them;
//! progress goes to stderr.

use std::fmt::Display;
use std::io::Write;

/// Prints one figure: `name=value`.
pub fn figure(name: &str, value: impl Display) {
    // A closed stdout (e.g. `| head`) is not worth failing a benchmark over.
    let _ = writeln!(std::io::stdout().lock(), "{name}={value}");
}

/// Prints a rate with no decimals (`events_per_sec=1234567`).
pub fn rate(name: &str, count: u64, seconds: f64) {
    figure(name, format!("{:.0}", count as f64 / seconds.max(1e-9)));
}

/// Prints a progress note on stderr.
pub fn note(message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "# {message}");
}

/// The value at quantile `q` (0..=1) of sorted samples; 0 when there are none.
pub fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

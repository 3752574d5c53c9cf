//! Instants as milliseconds since the Unix epoch, and their RFC 3339 form.

use jiff::Timestamp;

/// An instant: milliseconds since 1970-01-01T00:00:00Z. Finer digits are truncated on input.
pub type Millis = i64;

/// Smallest accepted instant (1900-01-01T00:00:00Z).
pub const MIN_INSTANT: Millis = -2_208_988_800_000;
/// First instant past the accepted range (2400-01-01T00:00:00Z).
pub const MAX_INSTANT: Millis = 13_569_465_600_000;

/// Parses an RFC 3339 instant (UTC or with an offset) to milliseconds, truncating finer digits.
/// Returns `None` for anything else, or an instant outside 1900–2399.
pub fn parse_instant(s: &str) -> Option<Millis> {
    let ms = fast_utc(s.as_bytes()).or_else(|| {
        // RFC 3339 requires the `T` (or `t`/space) and an offset; jiff also accepts those.
        let b = s.as_bytes();
        if b.len() < 20 || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
            return None;
        }
        let ts: Timestamp = s.parse().ok()?;
        Some(ts.as_nanosecond().div_euclid(1_000_000) as i64)
    })?;
    (MIN_INSTANT..MAX_INSTANT).contains(&ms).then_some(ms)
}

/// Fast path for the common `YYYY-MM-DDTHH:MM:SS[.fraction]Z` form.
fn fast_utc(b: &[u8]) -> Option<Millis> {
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let digit = |i: usize| -> Option<i64> {
        let c = *b.get(i)?;
        c.is_ascii_digit().then(|| i64::from(c - b'0'))
    };
    let num = |from: usize, len: usize| -> Option<i64> {
        (from..from + len).try_fold(0i64, |acc, i| Some(acc * 10 + digit(i)?))
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut millis = 0;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        if rest[0] != b'.' || rest.len() < 2 || !rest[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        for (i, c) in rest[1..].iter().take(3).enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats an instant as RFC 3339 in UTC with millisecond precision when it has any
/// (`2026-11-22T06:24:00Z`, `2026-11-22T06:24:00.250Z`).
pub fn format_instant(ms: Millis) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => {
            if ms.rem_euclid(1000) == 0 {
                format!("{ts:.0}")
            } else {
                format!("{ts:.3}")
            }
        }
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_matches_jiff() {
        for s in [
            "2026-11-22T06:00:00Z",
            "2026-11-22T06:00:00.123Z",
            "2026-11-22T06:00:00.1239Z",
            "2024-02-29T23:59:59.999Z",
            "1969-12-31T23:59:59.5Z",
        ] {
            let ts: Timestamp = s.parse().unwrap();
            assert_eq!(
                fast_utc(s.as_bytes()),
                Some(ts.as_nanosecond().div_euclid(1_000_000) as i64),
                "{s}"
            );
        }
    }

    #[test]
    fn offsets_convert_to_utc_and_bad_forms_fail() {
        assert_eq!(
            parse_instant("2026-11-22T14:00:00+08:00"),
            parse_instant("2026-11-22T06:00:00Z")
        );
        for bad in [
            "2026-11-22",
            "2026-11-22T06:00:00",
            "2026-02-30T06:00:00Z",
            "yesterday",
            "2026-11-22T24:00:00Z",
            "2500-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_with_and_without_millis() {
        let t = parse_instant("2026-11-22T06:24:00Z").unwrap();
        assert_eq!(format_instant(t), "2026-11-22T06:24:00Z");
        assert_eq!(format_instant(t + 250), "2026-11-22T06:24:00.250Z");
    }
}

/// Parses a duration: a string of one or more `<number><unit>` parts with units `ms`, `s`,
/// `m`, `h`, `d` (`d` is 24 hours), e.g. `"90s"`, `"4h"`, `"1h30m"`, `"7d"`. Returns milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::Malformed);
        }
        let value: i64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::TooLarge)?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(DurationError::Malformed),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or(DurationError::TooLarge)?;
    }
    Ok(total)
}

/// Why a duration string was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was given.
    #[error("duration is empty; write e.g. \"90s\", \"30m\", \"4h\" or \"7d\"")]
    Empty,
    /// Not `<number><unit>` parts.
    #[error("not a duration; write e.g. \"90s\", \"30m\", \"4h\", \"7d\" or \"1h30m\" (units ms, s, m, h, d)")]
    Malformed,
    /// Does not fit in 64-bit milliseconds.
    #[error("duration is too large")]
    TooLarge,
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("30m"), Ok(1_800_000));
        assert_eq!(parse_duration("4h"), Ok(14_400_000));
        assert_eq!(parse_duration("7d"), Ok(604_800_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("5 minutes"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("m5"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("4"), Err(DurationError::Malformed));
    }
}

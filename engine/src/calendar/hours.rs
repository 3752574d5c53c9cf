//! Parsing of opening hours such as `"09:00-12:00, 13:00-18:00"`.

/// One opening range of a day, in minutes after local midnight. `end <= start` means the range
/// runs past midnight into the next day; `end` may be 1440 (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// Opening minute.
    pub start: u32,
    /// Closing minute.
    pub end: u32,
}

/// Why an hours string was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// Not `HH:MM-HH:MM`.
    #[error("{0:?} is not a range; write \"HH:MM-HH:MM\", several separated by commas")]
    Malformed(String),
    /// Start equals end.
    #[error("{0:?} is empty")]
    Empty(String),
}

fn minute_of(s: &str, allow_24: bool) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if allow_24 => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Parses a day's opening hours; an empty string means closed.
pub fn parse_hours(s: &str) -> Result<Vec<DayRange>, HoursError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| HoursError::Malformed(part.into()))?;
        let start = minute_of(a, false).ok_or_else(|| HoursError::Malformed(part.into()))?;
        let end = minute_of(b, true).ok_or_else(|| HoursError::Malformed(part.into()))?;
        if start == end {
            return Err(HoursError::Empty(part.into()));
        }
        out.push(DayRange { start, end });
    }
    Ok(out)
}

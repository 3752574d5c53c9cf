//! Masking rules for fields that leave Vigil (`masking = { assignee_id = "first:2,last:2" }`).
//!
//! Rules:
//! - `first:N`, `last:M`, `first:N,last:M` (either order): keep the first `N` and last `M`
//!   characters and replace every other character by one `*`, so the length is kept.
//! - `all`: every character becomes `*`.
//! - `hash`: the lower-case hex of the first 8 bytes of SHA-256 of the text (16 characters),
//!   so equal values stay comparable without being shown. A hash of a short, guessable value
//!   (an assignee id) can be found by trying candidates; use `all` where that matters.
//!
//! Characters are Unicode scalar values, never bytes. Numbers (and booleans) are masked as
//! their JSON text and become strings; arrays and objects as their compact JSON text; `null`
//! stays `null`.
//!
//! **Short values are never shown whole.** When `N + M` is at least the character count `n`,
//! the kept characters shrink to at most `n / 2` (rounded down), split between the start and
//! the end as the rule asks, so at least half of the value (and at least one character of a
//! non-empty value) is always hidden. `first:2,last:2` masks `eng-7` as `en*-7`, `abcd` as
//! `a**d` and `ab` as `a*`.

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The character that replaces a hidden one.
pub const MASK_CHAR: char = '*';

/// Hex characters of a [`MaskRule::Hash`] output.
pub const HASH_HEX_LEN: usize = 16;

/// How one field is masked. Parse one with [`str::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskRule {
    /// Keep the first `first` and the last `last` characters (see the module docs for short
    /// values).
    Keep {
        /// Characters kept at the start.
        first: usize,
        /// Characters kept at the end.
        last: usize,
    },
    /// Hide every character.
    All,
    /// Replace the value by the hex of the first 8 bytes of its SHA-256.
    Hash,
}

/// Why a masking rule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule:?} is not a masking rule (first:N, last:M, first:N,last:M, all or hash)")]
pub struct MaskRuleError {
    /// The rule as written.
    pub rule: String,
}

impl std::str::FromStr for MaskRule {
    type Err = MaskRuleError;

    fn from_str(text: &str) -> Result<MaskRule, MaskRuleError> {
        let err = || MaskRuleError {
            rule: text.to_string(),
        };
        match text.trim() {
            "all" => return Ok(MaskRule::All),
            "hash" => return Ok(MaskRule::Hash),
            _ => {}
        }
        let (mut first, mut last) = (None, None);
        for part in text.split(',') {
            let (name, n) = part.trim().split_once(':').ok_or_else(err)?;
            let n = n.trim();
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let n: usize = n.parse().map_err(|_| err())?;
            let slot = match name.trim() {
                "first" => &mut first,
                "last" => &mut last,
                _ => return Err(err()),
            };
            if slot.replace(n).is_some() {
                return Err(err());
            }
        }
        Ok(MaskRule::Keep {
            first: first.unwrap_or(0),
            last: last.unwrap_or(0),
        })
    }
}

impl fmt::Display for MaskRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MaskRule::All => f.write_str("all"),
            MaskRule::Hash => f.write_str("hash"),
            MaskRule::Keep { first, last: 0 } => write!(f, "first:{first}"),
            MaskRule::Keep { first: 0, last } => write!(f, "last:{last}"),
            MaskRule::Keep { first, last } => write!(f, "first:{first},last:{last}"),
        }
    }
}

impl MaskRule {
    /// How many characters of a value of `chars` characters are kept at the start and at
    /// the end. Together they are below `chars` for any non-empty value, and at most half of
    /// it when the rule would keep everything.
    pub fn kept(self, chars: usize) -> (usize, usize) {
        match self {
            MaskRule::All | MaskRule::Hash => (0, 0),
            MaskRule::Keep { first, last } if first.saturating_add(last) < chars => (first, last),
            MaskRule::Keep { first, last } => {
                let budget = chars / 2;
                let head = first.min(budget - last.min(budget / 2));
                (head, last.min(budget - head))
            }
        }
    }

    /// Masks a text.
    pub fn mask_str(self, value: &str) -> String {
        match self {
            MaskRule::Hash => hash_hex(value),
            MaskRule::All | MaskRule::Keep { .. } => {
                let chars = value.chars().count();
                let (head, tail) = self.kept(chars);
                value
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i < head || i >= chars - tail {
                            c
                        } else {
                            MASK_CHAR
                        }
                    })
                    .collect()
            }
        }
    }

    /// Masks a JSON value: strings as themselves, other values as their compact JSON text
    /// (numbers as their decimal text); `null` stays `null`.
    pub fn mask_value(self, value: &Value) -> Value {
        match value {
            Value::Null => Value::Null,
            Value::String(s) => Value::String(self.mask_str(s)),
            other => Value::String(self.mask_str(&other.to_string())),
        }
    }

    /// Whether `text` already has the shape this rule produces and carries nothing more than
    /// it: a [`MaskRule::Hash`] output. Masking with `Keep` or `All` is idempotent anyway.
    pub fn is_masked_form(self, text: &str) -> bool {
        match self {
            MaskRule::Hash => {
                text.len() == HASH_HEX_LEN
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }
            MaskRule::All | MaskRule::Keep { .. } => false,
        }
    }
}

/// Lower-case hex of the first 8 bytes of SHA-256 of `value`.
fn hash_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    crate::hex::encode(&digest[..HASH_HEX_LEN / 2])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn rule(text: &str) -> MaskRule {
        text.parse().expect("a rule")
    }

    #[test]
    fn rules_parse_and_print() {
        let table = [
            ("first:2,last:2", MaskRule::Keep { first: 2, last: 2 }),
            ("last:4, first:6", MaskRule::Keep { first: 6, last: 4 }),
            ("first:3", MaskRule::Keep { first: 3, last: 0 }),
            ("last:4", MaskRule::Keep { first: 0, last: 4 }),
            ("all", MaskRule::All),
            (" hash ", MaskRule::Hash),
        ];
        for (text, want) in table {
            assert_eq!(text.parse::<MaskRule>(), Ok(want), "{text:?}");
            assert_eq!(want.to_string().parse::<MaskRule>(), Ok(want));
        }
        for bad in [
            "",
            "first",
            "first:",
            "first:-1",
            "first:+1",
            "first:1,first:2",
            "middle:2",
            "first:2;last:2",
            "ALL",
            "first:99999999999999999999999",
        ] {
            assert!(bad.parse::<MaskRule>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn values_are_masked_as_documented() {
        let table = [
            ("first:2,last:2", "eng-7", "en*-7"),
            ("first:2,last:2", "engineer-42", "en*******42"),
            ("first:2,last:2", "abcd", "a**d"),
            ("first:2,last:2", "ab", "a*"),
            ("first:2,last:2", "a", "*"),
            ("first:2,last:2", "", ""),
            ("first:3", "张三丰先生", "张三丰**"),
            ("first:3", "张三丰", "张**"),
            ("last:4", "13800000001", "*******0001"),
            ("last:4", "0001", "**01"),
            ("all", "eng-7", "*****"),
            ("hash", "eng-7", "a5c9b27bd9afc1d2"),
        ];
        for (r, value, want) in table {
            assert_eq!(rule(r).mask_str(value), want, "{r} on {value:?}");
        }
    }

    #[test]
    fn numbers_are_masked_as_text_and_null_stays() {
        assert_eq!(
            rule("last:3").mask_value(&json!(86400000)),
            json!("*****000")
        );
        assert_eq!(rule("all").mask_value(&json!(-1.5)), json!("****"));
        assert_eq!(rule("all").mask_value(&Value::Null), Value::Null);
        assert_eq!(rule("first:1").mask_value(&json!(true)), json!("t***"));
    }

    #[test]
    fn hashes_are_recognised_and_keep_is_idempotent() {
        let h = rule("hash").mask_str("eng-7");
        assert!(MaskRule::Hash.is_masked_form(&h));
        assert!(!MaskRule::Hash.is_masked_form("eng-7"));
        assert!(!MaskRule::Hash.is_masked_form("D95CE3A85E7D1DD4"));
        let once = rule("first:2,last:2").mask_str("engineer-42");
        assert_eq!(rule("first:2,last:2").mask_str(&once), once);
    }

    proptest! {
        #[test]
        fn a_masked_value_never_shows_the_value(
            value in "[^*]{1,40}",
            first in 0usize..12,
            last in 0usize..12,
        ) {
            let r = MaskRule::Keep { first, last };
            let out = r.mask_str(&value);
            prop_assert!(!out.contains(&value), "{value:?} → {out:?}");
            prop_assert!(!MaskRule::All.mask_str(&value).contains(&value));
        }

        #[test]
        fn masking_keeps_the_length_and_hides_at_least_half_of_short_values(
            value in "\\PC{0,40}",
            first in 0usize..50,
            last in 0usize..50,
        ) {
            let r = MaskRule::Keep { first, last };
            let chars: Vec<char> = value.chars().collect();
            let out: Vec<char> = r.mask_str(&value).chars().collect();
            prop_assert_eq!(out.len(), chars.len());
            let (head, tail) = r.kept(chars.len());
            prop_assert!(head <= first && tail <= last);
            if first + last < chars.len() {
                prop_assert_eq!((head, tail), (first, last));
            } else {
                prop_assert!(2 * (head + tail) <= chars.len());
            }
            for (i, (c, o)) in chars.iter().zip(&out).enumerate() {
                let kept = i < head || i >= chars.len() - tail;
                prop_assert_eq!(*o, if kept { *c } else { MASK_CHAR });
            }
            prop_assert!(MaskRule::All.mask_str(&value).chars().all(|c| c == MASK_CHAR));
            prop_assert_eq!(MaskRule::All.mask_str(&value).chars().count(), chars.len());
        }

        #[test]
        fn hashes_are_short_stable_hex(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            let (ha, hb) = (MaskRule::Hash.mask_str(&a), MaskRule::Hash.mask_str(&b));
            prop_assert_eq!(ha.len(), HASH_HEX_LEN);
            prop_assert!(MaskRule::Hash.is_masked_form(&ha));
            prop_assert_eq!(&ha, &MaskRule::Hash.mask_str(&a));
            if a != b {
                prop_assert_ne!(ha, hb);
            }
        }
    }
}

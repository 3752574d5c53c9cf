//! The partner's record table: bodies kept verbatim by record id, with an index by the local
//! date of `stopped_at` in the partner's time zone so a page is a slice, not a scan.
//!
//! Invariants: every stored body is a JSON object whose `stopped_at` field is an RFC 3339
//! instant (checked on the way in), so a page can be written by joining bodies. Each day keeps
//! its ids in an append-only list that is sorted, de-duplicated and purged of records that
//! moved away only when a page of that day is read after a change; pages of an unchanged day
//! cost `O(page_size)`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::config::FieldNames;

/// Why a body was not stored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    /// The body is not one JSON object.
    #[error("the body is not a JSON object: {0}")]
    NotAnObject(String),
    /// A field the partner needs is absent (or not a string or integer).
    #[error("the body has no {0:?} field")]
    MissingField(String),
    /// `stopped_at` is not an RFC 3339 instant.
    #[error("{field:?} is {value:?}, not an RFC 3339 instant")]
    BadStoppedAt {
        /// The field read.
        field: String,
        /// Its value.
        value: String,
    },
}

/// Whether an upsert created the record or replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// The id was new.
    Inserted,
    /// An earlier body was replaced.
    Replaced,
}

/// One page of a day's records, in record id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The bodies, as stored.
    pub records: Vec<Bytes>,
    /// The next page number, when there are more records.
    pub next_page: Option<u64>,
}

impl Page {
    /// The page as the partner answers it: `{"records":[…],"next_page":N|null}`, written by
    /// joining the stored bodies.
    pub fn to_json(&self) -> Vec<u8> {
        let bodies: usize = self.records.iter().map(Bytes::len).sum();
        let mut out = Vec::with_capacity(bodies + self.records.len() + 40);
        out.extend_from_slice(b"{\"records\":[");
        for (i, body) in self.records.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(body);
        }
        out.extend_from_slice(b"],\"next_page\":");
        match self.next_page {
            Some(next) => out.extend_from_slice(next.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        out
    }
}

#[derive(Debug)]
struct Stored {
    body: Bytes,
    day: Date,
}

/// The ids of one day; `ids` may hold duplicates and ids that moved to another day until the
/// next read sorts and purges it.
#[derive(Debug, Default)]
struct Day {
    ids: Vec<Arc<str>>,
    clean: bool,
}

/// Records by id plus the per-day index.
#[derive(Debug)]
pub struct Table {
    fields: FieldNames,
    timezone: TimeZone,
    records: HashMap<Arc<str>, Stored>,
    days: BTreeMap<Date, Day>,
}

impl Table {
    /// An empty table reading `fields`, indexing days in `timezone`.
    pub fn new(fields: FieldNames, timezone: TimeZone) -> Table {
        Table {
            fields,
            timezone,
            records: HashMap::new(),
            days: BTreeMap::new(),
        }
    }

    /// Records stored.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Checks a body and finds its local day (and its record id field, when present).
    pub fn inspect(&self, body: &[u8]) -> Result<(Date, Option<String>), TableError> {
        let [id, stopped_at] = probe(body, [&self.fields.record_id, &self.fields.stopped_at])?;
        let stopped_at =
            stopped_at.ok_or_else(|| TableError::MissingField(self.fields.stopped_at.clone()))?;
        let instant: Timestamp = stopped_at.parse().map_err(|_| TableError::BadStoppedAt {
            field: self.fields.stopped_at.clone(),
            value: stopped_at.clone(),
        })?;
        Ok((self.timezone.to_datetime(instant).date(), id))
    }

    /// Stores `body` under `id`, replacing any earlier body.
    pub fn upsert(&mut self, id: &str, body: Bytes) -> Result<Upserted, TableError> {
        let (day, _) = self.inspect(&body)?;
        Ok(self.put(id, body, day))
    }

    /// Stores a body under the id its record id field holds.
    pub fn seed(&mut self, body: Bytes) -> Result<Upserted, TableError> {
        let (day, id) = self.inspect(&body)?;
        let id = id.ok_or_else(|| TableError::MissingField(self.fields.record_id.clone()))?;
        Ok(self.put(&id, body, day))
    }

    /// Stores a checked body.
    pub(super) fn put(&mut self, id: &str, body: Bytes, day: Date) -> Upserted {
        if let Some(stored) = self.records.get_mut(id) {
            let moved = stored.day != day;
            let old_day = stored.day;
            *stored = Stored { body, day };
            if moved {
                // The old day's list still names the id; its next read purges it.
                if let Some(old) = self.days.get_mut(&old_day) {
                    old.clean = false;
                }
                let key = self
                    .records
                    .get_key_value(id)
                    .map(|(key, _)| Arc::clone(key));
                if let Some(key) = key {
                    self.index(key, day);
                }
            }
            return Upserted::Replaced;
        }
        let key: Arc<str> = Arc::from(id);
        self.records.insert(Arc::clone(&key), Stored { body, day });
        self.index(key, day);
        Upserted::Inserted
    }

    fn index(&mut self, id: Arc<str>, day: Date) {
        let entry = self.days.entry(day).or_default();
        if entry.ids.is_empty() {
            entry.clean = true;
        }
        // Appending in order keeps a day clean: seeds and replays usually come sorted.
        if entry.clean && entry.ids.last().is_some_and(|last| *last >= id) {
            entry.clean = false;
        }
        entry.ids.push(id);
    }

    /// The body stored under `id`.
    pub fn get(&self, id: &str) -> Option<Bytes> {
        self.records.get(id).map(|stored| stored.body.clone())
    }

    /// Every record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.records
            .iter()
            .map(|(id, stored)| (id.as_ref(), &stored.body))
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.records.clear();
        self.days.clear();
    }

    /// Records whose `stopped_at` falls on `day`.
    pub fn day_len(&mut self, day: Date) -> usize {
        clean_day(&mut self.days, &self.records, day).len()
    }

    /// Page `page` (from 1) of `size` records of `day`, in record id order; an empty page past
    /// the end.
    pub fn page(&mut self, day: Date, page: u64, size: usize) -> Page {
        let size = size.max(1);
        let ids = clean_day(&mut self.days, &self.records, day);
        let start = usize::try_from(page.saturating_sub(1))
            .ok()
            .and_then(|p| p.checked_mul(size))
            .unwrap_or(usize::MAX);
        let end = start.saturating_add(size).min(ids.len());
        let slice = ids.get(start..end).unwrap_or_default();
        let next_page = (end < ids.len() && !slice.is_empty()).then(|| page.saturating_add(1));
        let records = slice
            .iter()
            .filter_map(|id| self.records.get(id).map(|stored| stored.body.clone()))
            .collect();
        Page { records, next_page }
    }
}

/// The ids of `day`, sorted and purged of records that moved away or are gone.
fn clean_day<'t>(
    days: &'t mut BTreeMap<Date, Day>,
    records: &HashMap<Arc<str>, Stored>,
    day: Date,
) -> &'t [Arc<str>] {
    let Some(entry) = days.get_mut(&day) else {
        return &[];
    };
    if !entry.clean {
        entry
            .ids
            .retain(|id| records.get(id).is_some_and(|stored| stored.day == day));
        entry.ids.sort_unstable();
        entry.ids.dedup();
        entry.clean = true;
    }
    &entry.ids
}

/// The body with `field` altered so it no longer matches what was sent: `met` ⇄ `breached`,
/// other text gets `~` appended, numbers grow by one, booleans flip, and an absent or null
/// field becomes `"corrupted"`.
pub fn corrupt(body: &[u8], field: &str) -> Result<Bytes, TableError> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|err| TableError::NotAnObject(err.to_string()))?;
    use serde_json::Value;
    let altered = match object.get(field) {
        Some(Value::String(text)) if text == "met" => Value::from("breached"),
        Some(Value::String(text)) if text == "breached" => Value::from("met"),
        Some(Value::String(text)) => Value::from(format!("{text}~")),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i.wrapping_add(1)),
            (None, Some(f)) => Value::from(f + 1.0),
            (None, None) => Value::from("corrupted"),
        },
        Some(Value::Bool(b)) => Value::from(!b),
        Some(Value::Array(_) | Value::Object(_)) => Value::from("corrupted"),
        Some(Value::Null) | None => Value::from("corrupted"),
    };
    object.insert(field.to_owned(), altered);
    serde_json::to_vec(&object)
        .map(Bytes::from)
        .map_err(|err| TableError::NotAnObject(err.to_string()))
}

/// Validates `body` as one JSON object and returns the text of the two `wanted` fields
/// (strings as they are, integers in decimal), skipping everything else without building it.
fn probe(body: &[u8], wanted: [&str; 2]) -> Result<[Option<String>; 2], TableError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Probe { wanted }
        .deserialize(&mut de)
        .and_then(|found| de.end().map(|()| found))
        .map_err(|err| TableError::NotAnObject(err.to_string()))?;
    Ok(found)
}

struct Probe<'w> {
    wanted: [&'w str; 2],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = [Option<String>; 2];

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = [Option<String>; 2];

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: [Option<String>; 2] = [None, None];
        while let Some(key) = map.next_key_seed(KeyIndex {
            wanted: self.wanted,
        })? {
            match key {
                Some(index) => found[index] = map.next_value::<Scalar>()?.0,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A key, as the index of the wanted field it names.
struct KeyIndex<'w> {
    wanted: [&'w str; 2],
}

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.wanted.iter().position(|wanted| *wanted == key))
    }
}

/// A field value as text when it is a string or an integer; `None` for anything else.
struct Scalar(Option<String>);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_owned())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> Table {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        Table::new(FieldNames::default(), tz)
    }

    fn body(id: &str, stopped_at: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"record_id":"{id}","outcome":"met","stopped_at":"{stopped_at}"}}"#
        ))
    }

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn days_are_local_dates_in_the_partner_time_zone() {
        let mut table = shanghai();
        table.seed(body("a", "2026-11-22T15:59:59Z")).unwrap();
        table.seed(body("b", "2026-11-22T17:30:00Z")).unwrap();
        table.seed(body("c", "2026-11-23T08:00:00+08:00")).unwrap();
        assert_eq!(table.day_len(date("2026-11-22")), 1);
        assert_eq!(table.day_len(date("2026-11-23")), 2);
        let page = table.page(date("2026-11-23"), 1, 10);
        assert_eq!(
            page.records,
            vec![
                body("b", "2026-11-22T17:30:00Z"),
                body("c", "2026-11-23T08:00:00+08:00")
            ]
        );
        assert_eq!(page.next_page, None);
    }

    #[test]
    fn pages_follow_id_order_and_records_that_move_leave_their_old_day() {
        let mut table = shanghai();
        for id in ["e", "b", "d", "a", "c"] {
            table.seed(body(id, "2026-11-23T01:00:00Z")).unwrap();
        }
        let ids = |page: &Page| -> Vec<String> {
            page.records
                .iter()
                .map(|b| {
                    serde_json::from_slice::<serde_json::Value>(b).unwrap()["record_id"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        let first = table.page(date("2026-11-23"), 1, 2);
        assert_eq!(ids(&first), ["a", "b"]);
        assert_eq!(first.next_page, Some(2));
        assert_eq!(ids(&table.page(date("2026-11-23"), 3, 2)), ["e"]);
        assert_eq!(table.page(date("2026-11-23"), 3, 2).next_page, None);
        assert!(table.page(date("2026-11-23"), 4, 2).records.is_empty());

        // "c" stops again the next day, then "b" is rewritten on the same day.
        assert_eq!(
            table.upsert("c", body("c", "2026-11-24T01:00:00Z")),
            Ok(Upserted::Replaced)
        );
        table
            .upsert("b", body("b", "2026-11-23T02:00:00Z"))
            .unwrap();
        assert_eq!(
            ids(&table.page(date("2026-11-23"), 1, 10)),
            ["a", "b", "d", "e"]
        );
        assert_eq!(ids(&table.page(date("2026-11-24"), 1, 10)), ["c"]);
        // and back again
        table
            .upsert("c", body("c", "2026-11-23T03:00:00Z"))
            .unwrap();
        assert_eq!(
            ids(&table.page(date("2026-11-23"), 1, 10)),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(table.day_len(date("2026-11-24")), 0);
        assert_eq!(table.len(), 5);
    }

    #[test]
    fn bodies_are_checked_before_they_are_stored() {
        let mut table = shanghai();
        assert!(matches!(
            table.upsert("x", Bytes::from_static(b"[1]")),
            Err(TableError::NotAnObject(_))
        ));
        assert!(matches!(
            table.upsert("x", Bytes::from_static(b"{} {}")),
            Err(TableError::NotAnObject(_))
        ));
        assert_eq!(
            table.upsert("x", Bytes::from_static(b"{\"outcome\":\"met\"}")),
            Err(TableError::MissingField("stopped_at".into()))
        );
        assert!(matches!(
            table.upsert("x", Bytes::from_static(b"{\"stopped_at\":\"yesterday\"}")),
            Err(TableError::BadStoppedAt { .. })
        ));
        assert_eq!(
            table.seed(Bytes::from_static(
                b"{\"stopped_at\":\"2026-11-23T01:00:00Z\"}"
            )),
            Err(TableError::MissingField("record_id".into()))
        );
        assert!(table.is_empty());
        // Integer ids and escaped keys are read too.
        table
            .seed(Bytes::from_static(
                b"{\"record\\u005fid\":17,\"stopped_at\":\"2026-11-23T01:00:00Z\"}",
            ))
            .unwrap();
        assert!(table.get("17").is_some());
    }

    #[test]
    fn corruption_changes_the_named_field_only() {
        let original = br#"{"outcome":"met","actual_ms":5,"x":true}"#;
        let changed: serde_json::Value =
            serde_json::from_slice(&corrupt(original, "outcome").unwrap()).unwrap();
        assert_eq!(
            changed,
            serde_json::json!({"outcome":"breached","actual_ms":5,"x":true})
        );
        let changed: serde_json::Value =
            serde_json::from_slice(&corrupt(original, "actual_ms").unwrap()).unwrap();
        assert_eq!(changed["actual_ms"], 6);
        let changed: serde_json::Value =
            serde_json::from_slice(&corrupt(original, "result").unwrap()).unwrap();
        assert_eq!(changed["result"], "corrupted");
    }
}

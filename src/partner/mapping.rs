//! Our record in a partner's shape: [`SlaRecord`] as JSON (DESIGN.md §7 field names), masked
//! per `masking` (by our field names), then renamed per `mapping` (our name → their name;
//! unmapped fields keep their names). Also the content hash reconciliation compares records
//! by, and masking of a partner's objects for reports.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use vigil_engine::SlaRecord;
use vigil_schema::format_instant;

use super::mask::MaskRule;

/// The fields of a serialized [`SlaRecord`], in DESIGN.md §7 order. `assignee_id` is absent
/// when the ticket has no assignee.
pub const RECORD_FIELDS: [&str; 13] = [
    "record_id",
    "tenant_id",
    "ticket_id",
    "goal",
    "priority",
    "service_type",
    "target_ms",
    "actual_ms",
    "outcome",
    "policy_version",
    "started_at",
    "stopped_at",
    "assignee_id",
];

/// Fields that may not be masked: reconciliation matches records by `record_id` and asks
/// for a day's records by `stopped_at`.
pub const UNMASKABLE: [&str; 2] = ["record_id", "stopped_at"];

/// A content hash of a record in the partner's shape (xxh3-128, big-endian).
pub type ContentHash = [u8; 16];

/// A `mapping` or `masking` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    /// `mapping` or `masking`.
    pub section: &'static str,
    /// The key of the entry (our field name, as written).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: {}", self.section, self.field, self.message)
    }
}

/// One of our fields as the partner sees it.
#[derive(Debug, Clone)]
struct Field {
    ours: &'static str,
    theirs: String,
    /// `theirs` as JSON text followed by `:`, as the content hash writes it before the value.
    hash_key: String,
    mask: Option<MaskRule>,
}

/// Maps our records to one partner's shape. Built once per partner; cheap to share.
#[derive(Debug, Clone)]
pub struct Mapper {
    /// In [`RECORD_FIELDS`] order.
    fields: Vec<Field>,
    /// Indexes into `fields`, sorted by their name: the order of the content hash.
    hash_order: Vec<usize>,
}

impl Mapper {
    /// The mapper of a partner's `mapping` (our field → theirs) and `masking` (our field →
    /// rule); fails on the first entry [`Mapper::check`] reports.
    pub fn new(
        mapping: &BTreeMap<String, String>,
        masking: &BTreeMap<String, String>,
    ) -> Result<Mapper, MappingError> {
        if let Some(e) = Mapper::check(mapping, masking).into_iter().next() {
            return Err(e);
        }
        let fields: Vec<Field> = RECORD_FIELDS
            .iter()
            .map(|&ours| {
                let theirs = mapping
                    .get(ours)
                    .map_or_else(|| ours.to_string(), |t| t.trim().to_string());
                Field {
                    ours,
                    hash_key: format!("{}:", Value::String(theirs.clone())),
                    theirs,
                    mask: masking.get(ours).and_then(|r| r.parse().ok()),
                }
            })
            .collect();
        let mut hash_order: Vec<usize> = (0..fields.len()).collect();
        hash_order.sort_by(|&a, &b| fields[a].theirs.cmp(&fields[b].theirs));
        Ok(Mapper { fields, hash_order })
    }

    /// Every problem of a partner's `mapping` and `masking`: keys that are not record fields,
    /// empty names, two fields under one name, rules that do not parse, masked
    /// [`UNMASKABLE`] fields.
    pub fn check(
        mapping: &BTreeMap<String, String>,
        masking: &BTreeMap<String, String>,
    ) -> Vec<MappingError> {
        let mut out = Vec::new();
        let mut bad = |section, field: &str, message: String| {
            out.push(MappingError {
                section,
                field: field.to_string(),
                message,
            })
        };
        let known = || RECORD_FIELDS.join(", ");
        for (ours, theirs) in mapping {
            if !RECORD_FIELDS.contains(&ours.as_str()) {
                bad(
                    "mapping",
                    ours,
                    format!("not a record field (one of {})", known()),
                );
            } else if theirs.trim().is_empty() {
                bad("mapping", ours, "the partner's field name is empty".into());
            }
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for ours in RECORD_FIELDS {
            let theirs = mapping.get(ours).map_or(ours, |t| t.trim());
            if !theirs.is_empty() && !seen.insert(theirs) {
                let first = RECORD_FIELDS
                    .iter()
                    .find(|f| mapping.get(**f).map_or(**f, |t| t.trim()) == theirs)
                    .copied()
                    .unwrap_or(ours);
                // Report on a mapping entry, which the user wrote, rather than on a field
                // that merely kept its name.
                let at = if mapping.contains_key(ours) {
                    ours
                } else {
                    first
                };
                bad(
                    "mapping",
                    at,
                    format!("{first} and {ours} would both be sent as {theirs:?}"),
                );
            }
        }
        for (ours, rule) in masking {
            if !RECORD_FIELDS.contains(&ours.as_str()) {
                bad(
                    "masking",
                    ours,
                    format!("not a record field (one of {})", known()),
                );
            } else if UNMASKABLE.contains(&ours.as_str()) {
                bad(
                    "masking",
                    ours,
                    "cannot be masked: reconciliation matches records by record_id and asks for a day's records by stopped_at".into(),
                );
            }
            if let Err(e) = rule.parse::<MaskRule>() {
                bad("masking", ours, e.to_string());
            }
        }
        out
    }

    /// The partner's name of one of our fields (the field itself when unmapped).
    pub fn their_name<'a>(&'a self, ours: &'a str) -> &'a str {
        self.fields
            .iter()
            .find(|f| f.ours == ours)
            .map_or(ours, |f| f.theirs.as_str())
    }

    /// `record` in the partner's shape: serialized, masked, renamed.
    pub fn map(&self, record: &SlaRecord) -> Map<String, Value> {
        let mut ours = match serde_json::to_value(record) {
            Ok(Value::Object(map)) => map,
            // A struct of strings, numbers and infallible instant formatting.
            _ => unreachable!("an SlaRecord serializes to a JSON object"),
        };
        let mut out = Map::with_capacity(self.fields.len());
        // Each of our fields is mapped once, so its value is taken, not copied.
        for f in &self.fields {
            if let Some(value) = ours.remove(f.ours) {
                let value = match f.mask {
                    Some(rule) => rule.mask_value(&value),
                    None => value,
                };
                out.insert(f.theirs.clone(), value);
            }
        }
        out
    }

    /// The record id of a partner's object: its (mapped) `record_id` field, as text.
    pub fn record_id_of(&self, theirs: &Map<String, Value>) -> Option<String> {
        match theirs.get(self.their_name("record_id"))? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The content hash of an object in the partner's shape: xxh3-128 over the (mapped) names
    /// of our fields only, sorted, each with the compact JSON text of its value. Fields the
    /// partner adds do not count, and a `null` field counts as absent (`assignee_id` is left
    /// out when there is none, and a partner may send `null`). Equal for [`Mapper::map`]'s
    /// output and the same object after a JSON round trip.
    pub fn content_hash(&self, obj: &Map<String, Value>) -> ContentHash {
        self.hash_fields(|f| obj.get(&f.theirs).map(|v| Scalar::Json(Cow::Borrowed(v))))
    }

    /// The content hash of `record` as the partner receives it: what
    /// `content_hash(&map(record))` gives, without building the mapped object.
    pub fn record_hash(&self, record: &SlaRecord) -> ContentHash {
        self.hash_fields(|f| match f.mask {
            Some(rule) => {
                let value = field_value(record, f.ours)?;
                Some(Scalar::Json(Cow::Owned(rule.mask_value(&value))))
            }
            None => field_scalar(record, f.ours),
        })
    }

    /// xxh3-128 over our fields in hash order (by their names at the partner), each with the
    /// compact JSON text of the value `value_of` gives; absent and `null` fields are left out.
    fn hash_fields<'v>(&self, value_of: impl Fn(&Field) -> Option<Scalar<'v>>) -> ContentHash {
        let mut canonical = Vec::with_capacity(512);
        for &i in &self.hash_order {
            let field = &self.fields[i];
            match value_of(field) {
                None => {}
                Some(Scalar::Json(v)) if v.is_null() => {}
                Some(value) => {
                    // The compact JSON text, written in place (writing to a Vec cannot fail).
                    canonical.extend_from_slice(field.hash_key.as_bytes());
                    let _ = serde_json::to_writer(&mut canonical, &value);
                    canonical.push(b',');
                }
            }
        }
        xxhash_rust::xxh3::xxh3_128(&canonical).to_be_bytes()
    }

    /// A partner's object with our masking rules applied to its (mapped) field names, so a
    /// report never holds a value we would not have sent. Values already masked stay as they
    /// are (masking is idempotent, and a `hash` output is not hashed again); fields that are
    /// not ours pass unchanged.
    pub fn mask_theirs(&self, obj: &Map<String, Value>) -> Map<String, Value> {
        let mut out = obj.clone();
        for f in &self.fields {
            let (Some(rule), Some(value)) = (f.mask, out.get_mut(&f.theirs)) else {
                continue;
            };
            let done = matches!(value, Value::String(s) if rule.is_masked_form(s));
            if !done {
                *value = rule.mask_value(value);
            }
        }
        out
    }
}

/// A field's value to hash, borrowed from the record where it can be; serializes as the
/// JSON value itself.
#[derive(Serialize)]
#[serde(untagged)]
enum Scalar<'a> {
    Text(&'a str),
    Int(i64),
    Uint(u64),
    Json(Cow<'a, Value>),
}

/// Field `name` of [`RECORD_FIELDS`] of `record`, as serializing the record gives it (`None`
/// for an absent assignee or a name that is not a field).
fn field_scalar<'r>(record: &'r SlaRecord, name: &str) -> Option<Scalar<'r>> {
    Some(match name {
        "record_id" => Scalar::Text(&record.record_id),
        "tenant_id" => Scalar::Uint(record.tenant_id),
        "ticket_id" => Scalar::Text(&record.ticket_id),
        "goal" => Scalar::Text(record.goal.as_str()),
        "priority" => Scalar::Text(&record.priority),
        "service_type" => Scalar::Text(&record.service_type),
        "target_ms" => Scalar::Int(record.target_ms),
        "actual_ms" => Scalar::Int(record.actual_ms),
        "outcome" => Scalar::Text(&record.outcome),
        "policy_version" => Scalar::Uint(record.policy_version.into()),
        "started_at" => Scalar::Json(Cow::Owned(format_instant(record.started_at).into())),
        "stopped_at" => Scalar::Json(Cow::Owned(format_instant(record.stopped_at).into())),
        "assignee_id" => Scalar::Text(record.assignee_id.as_deref()?),
        _ => return None,
    })
}

/// [`field_scalar`] as a JSON value (what masking works on).
fn field_value(record: &SlaRecord, name: &str) -> Option<Value> {
    Some(match field_scalar(record, name)? {
        Scalar::Text(s) => Value::String(s.to_owned()),
        Scalar::Int(n) => n.into(),
        Scalar::Uint(n) => n.into(),
        Scalar::Json(v) => v.into_owned(),
    })
}

#[cfg(test)]
pub(crate) mod tests {

    use serde_json::json;
    use vigil_engine::Goal;

    use super::*;

    /// The DESIGN.md §7 example record, shared by the partner tests.
    pub(crate) fn record() -> SlaRecord {
        SlaRecord {
            record_id: "12345:TKT-001:resolution".into(),
            tenant_id: 12345,
            ticket_id: "TKT-001".into(),
            goal: Goal::Resolution,
            priority: "HIGH".into(),
            service_type: "incident".into(),
            target_ms: 86_400_000,
            actual_ms: 90_000_000,
            outcome: "breached".into(),
            policy_version: 2,
            started_at: 1_763_791_200_000,
            stopped_at: 1_763_881_200_000,
            assignee_id: Some("eng-7".into()),
        }
    }

    /// A partner's `mapping` and `masking`.
    type Rules = (BTreeMap<String, String>, BTreeMap<String, String>);

    fn config(mapping: &[(&str, &str)], masking: &[(&str, &str)]) -> Rules {
        let to_map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        (to_map(mapping), to_map(masking))
    }

    fn mapper((mapping, masking): &Rules) -> Result<Mapper, MappingError> {
        Mapper::new(mapping, masking)
    }

    fn check((mapping, masking): &Rules) -> Vec<MappingError> {
        Mapper::check(mapping, masking)
    }

    fn design_mapper() -> Mapper {
        mapper(&config(
            &[
                ("record_id", "id"),
                ("ticket_id", "ticket_no"),
                ("outcome", "result"),
            ],
            &[("assignee_id", "first:2,last:2")],
        ))
        .expect("valid")
    }

    #[test]
    fn record_fields_are_the_serialized_fields() {
        let v = serde_json::to_value(record()).expect("serializes");
        let keys: BTreeSet<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, RECORD_FIELDS.into_iter().collect());
    }

    #[test]
    fn records_are_masked_then_renamed() {
        let m = design_mapper();
        let out = Value::Object(m.map(&record()));
        assert_eq!(
            out,
            json!({
                "id": "12345:TKT-001:resolution", "tenant_id": 12345, "ticket_no": "TKT-001",
                "goal": "resolution", "priority": "HIGH", "service_type": "incident",
                "target_ms": 86400000, "actual_ms": 90000000, "result": "breached",
                "policy_version": 2, "started_at": "2025-11-22T06:00:00Z",
                "stopped_at": "2025-11-23T07:00:00Z", "assignee_id": "en*-7"
            })
        );
        let mut unassigned = record();
        unassigned.assignee_id = None;
        assert!(!m.map(&unassigned).contains_key("assignee_id"));
        assert_eq!(m.their_name("ticket_id"), "ticket_no");
        assert_eq!(m.their_name("goal"), "goal");
        assert_eq!(
            m.record_id_of(&m.map(&record())).as_deref(),
            Some("12345:TKT-001:resolution")
        );
        assert_eq!(m.record_id_of(&Map::new()), None);
    }

    #[test]
    fn each_field_reads_as_the_record_serializes_it() {
        let mut unassigned = record();
        unassigned.assignee_id = None;
        for r in [record(), unassigned] {
            let Value::Object(serialized) = serde_json::to_value(&r).expect("encodes") else {
                panic!("not an object");
            };
            for name in RECORD_FIELDS {
                assert_eq!(
                    field_value(&r, name).as_ref(),
                    serialized.get(name),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn a_records_hash_is_the_hash_of_it_mapped() {
        let masked = mapper(&config(
            &[("outcome", "result"), ("ticket_id", "ticket_no")],
            &[("assignee_id", "first:2,last:1"), ("tenant_id", "hash")],
        ))
        .expect("valid");
        let mut unassigned = record();
        unassigned.assignee_id = None;
        let mut other = record();
        other.actual_ms += 1;
        for m in [design_mapper(), masked] {
            for r in [record(), unassigned.clone(), other.clone()] {
                assert_eq!(m.record_hash(&r), m.content_hash(&m.map(&r)), "{r:?}");
            }
            assert_ne!(m.record_hash(&record()), m.record_hash(&other));
        }
    }

    #[test]
    fn numbers_are_masked_as_text() {
        let m = mapper(&config(&[], &[("tenant_id", "last:2")])).expect("valid");
        assert_eq!(m.map(&record())["tenant_id"], json!("***45"));
    }

    #[test]
    fn the_hash_survives_a_round_trip_and_extra_fields() {
        let m = design_mapper();
        let mapped = m.map(&record());
        let h = m.content_hash(&mapped);
        let text = serde_json::to_string(&mapped).expect("encodes");
        let back: Map<String, Value> = serde_json::from_str(&text).expect("decodes");
        assert_eq!(m.content_hash(&back), h);

        let mut extra = back.clone();
        extra.insert("partner_note".into(), json!("seen"));
        extra.insert("ticket_id".into(), json!("not ours: ours is ticket_no"));
        assert_eq!(m.content_hash(&extra), h);

        let mut changed = back.clone();
        changed.insert("result".into(), json!("met"));
        assert_ne!(m.content_hash(&changed), h);
        let mut changed = back.clone();
        changed.insert("actual_ms".into(), json!(90000001));
        assert_ne!(m.content_hash(&changed), h);
        let mut missing = back;
        missing.remove("ticket_no");
        assert_ne!(m.content_hash(&missing), h);

        let mut unassigned = record();
        unassigned.assignee_id = None;
        let mut with_null = m.map(&unassigned);
        let h0 = m.content_hash(&with_null);
        assert_ne!(h0, h);
        with_null.insert("assignee_id".into(), Value::Null);
        assert_eq!(m.content_hash(&with_null), h0);
    }

    #[test]
    fn partner_objects_are_masked_by_their_names() {
        let m = mapper(&config(
            &[("assignee_id", "owner"), ("ticket_id", "ticket_no")],
            &[("assignee_id", "first:2,last:2"), ("ticket_id", "hash")],
        ))
        .expect("valid");
        let ours = m.map(&record());
        let theirs = json!({"owner": "engineer-42", "ticket_no": "TKT-009", "note": "x"});
        let Value::Object(theirs) = theirs else {
            unreachable!()
        };
        let masked = m.mask_theirs(&theirs);
        assert_eq!(masked["owner"], json!("en*******42"));
        assert_eq!(
            masked["ticket_no"],
            json!(MaskRule::Hash.mask_str("TKT-009"))
        );
        assert_eq!(masked["note"], json!("x"));
        // What we sent is already masked and stays as it is.
        assert_eq!(m.mask_theirs(&ours), ours);
    }

    #[test]
    fn bad_mappings_and_maskings_are_named() {
        let errors = |mapping: &[(&str, &str)], masking: &[(&str, &str)]| -> Vec<String> {
            check(&config(mapping, masking))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert!(errors(&[], &[]).is_empty());
        let e = errors(&[("ticket", "t")], &[]);
        assert!(
            e[0].starts_with("mapping.ticket: not a record field"),
            "{e:?}"
        );
        assert_eq!(
            errors(&[("outcome", " ")], &[]),
            ["mapping.outcome: the partner's field name is empty"]
        );
        assert_eq!(
            errors(&[("record_id", "id"), ("ticket_id", "id")], &[]),
            ["mapping.ticket_id: record_id and ticket_id would both be sent as \"id\""]
        );
        assert_eq!(
            errors(&[("ticket_id", "goal")], &[]),
            ["mapping.ticket_id: ticket_id and goal would both be sent as \"goal\""]
        );
        assert_eq!(
            errors(&[], &[("assignee_id", "middle:2")]),
            ["masking.assignee_id: \"middle:2\" is not a masking rule (first:N, last:M, first:N,last:M, all or hash)"]
        );
        let e = errors(&[], &[("record_id", "all"), ("stopped_at", "hash")]);
        assert_eq!(e.len(), 2);
        assert!(e[0].starts_with("masking.record_id: cannot be masked"));
        assert!(e[1].starts_with("masking.stopped_at: cannot be masked"));
        assert!(errors(&[], &[("nope", "all")])[0].starts_with("masking.nope: not a record"));
        assert!(mapper(&config(&[("x", "y")], &[])).is_err());
    }
}

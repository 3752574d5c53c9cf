//! A partner page as a run compares it: each record's id and content hash, worked out where
//! the page is parsed (a blocking thread), with the record's JSON text kept for the report's
//! diffs. A record is a JSON object only while it is hashed, so a page held in memory is about
//! its size on the wire, not the several times more of a map per record.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::http_client::CallError;
use crate::partner::client::Page;
use crate::partner::mapping::{ContentHash, Mapper};

/// A partner page digested for comparison.
#[derive(Debug)]
pub(super) struct PartnerPage {
    /// The records in the page's order.
    pub records: Vec<PartnerRecord>,
    /// The next page to ask for; `None` on the last page.
    pub next_page: Option<u32>,
}

/// One of the partner's records, digested.
#[derive(Debug)]
pub(super) struct PartnerRecord {
    /// Its record id as text (the mapped `record_id` field, text or a number); `None` when it
    /// has no usable one.
    pub id: Option<String>,
    /// Its content hash ([`Mapper::content_hash`]).
    pub hash: ContentHash,
    json: Box<RawValue>,
}

impl PartnerPage {
    /// Digests a parsed page with `mapper`: a record that is not a JSON object fails the page
    /// (permanently, as a page that is not a page of records).
    pub fn digest(page: Page, mapper: &Mapper) -> Result<PartnerPage, CallError> {
        let records = page
            .records
            .into_iter()
            .enumerate()
            .map(|(at, json)| {
                let object: Map<String, Value> = serde_json::from_str(json.get()).map_err(|e| {
                    CallError::permanent(None, format!("not a page of records: record {at}: {e}"))
                })?;
                Ok(PartnerRecord::of(&object, json, mapper))
            })
            .collect::<Result<_, CallError>>()?;
        Ok(PartnerPage {
            records,
            next_page: page.next_page,
        })
    }
}

impl PartnerRecord {
    fn of(object: &Map<String, Value>, json: Box<RawValue>, mapper: &Mapper) -> PartnerRecord {
        PartnerRecord {
            id: mapper.record_id_of(object),
            hash: mapper.content_hash(object),
            json,
        }
    }

    /// A record made from an object (tests build pages this way).
    #[cfg(test)]
    pub fn from_object(object: &Map<String, Value>, mapper: &Mapper) -> PartnerRecord {
        let text = Value::Object(object.clone()).to_string();
        let json = RawValue::from_string(text).unwrap_or_else(|_| unreachable!("a JSON object"));
        PartnerRecord::of(object, json, mapper)
    }

    /// The record as the partner sent it.
    pub fn object(&self) -> Map<String, Value> {
        // It parsed as an object when the page was digested.
        serde_json::from_str(self.json.get()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::partner::PartnerConfig;

    fn mapper() -> Mapper {
        let c: PartnerConfig = toml::from_str(
            "id = \"p\"\nbase_url = \"http://127.0.0.1:1/api\"\n\
             mapping = { record_id = \"id\", outcome = \"result\" }",
        )
        .expect("config");
        Mapper::new(&c.mapping, &c.masking).expect("mapper")
    }

    fn raw_page(records: &str) -> Page {
        serde_json::from_str(&format!("{{\"records\": {records}, \"next_page\": 3}}"))
            .expect("page")
    }

    #[test]
    fn records_are_digested_by_id_and_hash_and_kept_as_sent() {
        let m = mapper();
        let page = raw_page(
            r#"[{"id": "1:A:response", "result": "met"}, {"id": 42, "result": "met"},
                {"result": "met"}, {"id": ["no"], "result": "breached"}]"#,
        );
        let digested = PartnerPage::digest(page, &m).expect("digested");
        assert_eq!(digested.next_page, Some(3));
        let ids: Vec<Option<&str>> = digested.records.iter().map(|r| r.id.as_deref()).collect();
        assert_eq!(ids, [Some("1:A:response"), Some("42"), None, None]);
        let first = json!({"id": "1:A:response", "result": "met"});
        let Value::Object(first) = first else {
            panic!("an object")
        };
        assert_eq!(digested.records[0].hash, m.content_hash(&first));
        assert_eq!(digested.records[0].object(), first);
        assert_ne!(digested.records[0].hash, digested.records[3].hash);
    }

    #[test]
    fn a_record_that_is_not_an_object_fails_the_page_naming_it() {
        let page = raw_page(r#"[{"id": "1:A:response"}, [1, 2]]"#);
        let err = PartnerPage::digest(page, &mapper()).expect_err("not a page");
        assert!(!err.is_retryable());
        assert!(err.message.contains("record 1"), "{}", err.message);
    }
}

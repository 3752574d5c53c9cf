//! A partner page as a run compares it: each record looked up in our side where the page is
//! parsed (a blocking thread), and the JSON text kept only of the first records that differ
//! from ours (what the report's diffs show). A record is a JSON object only while it is hashed,
//! and the page itself is dropped once digested, so a page waiting to be counted is a few
//! bytes a record.

use serde_json::{Map, Value};

use super::ours::{Listed, OurIds};
use crate::http_client::CallError;
use crate::partner::client::Page;
use crate::partner::mapping::Mapper;

/// A partner page digested for comparison.
#[derive(Debug)]
pub(super) struct PartnerPage {
    /// Its records in the page's order, each looked up in ours.
    pub records: Vec<Listed>,
    /// The next page to ask for; `None` on the last page.
    pub next_page: Option<u32>,
    /// The JSON text of the first records not the same as ours, by their place on the page.
    kept: Vec<(usize, Box<str>)>,
}

impl PartnerPage {
    /// Digests a parsed page with `mapper`, looking each record up in `ours` and keeping the
    /// text of the first `keep` that are not the same as ours. A record that is not a JSON
    /// object fails the page (permanently, as a page that is not a page of records).
    pub fn digest(
        page: &Page,
        mapper: &Mapper,
        ours: &OurIds,
        keep: usize,
    ) -> Result<PartnerPage, CallError> {
        let mut kept = Vec::new();
        let records = page
            .records()
            .enumerate()
            .map(|(at, json)| {
                let object: Map<String, Value> = serde_json::from_str(json).map_err(|e| {
                    CallError::permanent(None, format!("not a page of records: record {at}: {e}"))
                })?;
                let listed =
                    ours.listing(mapper.record_id_of(&object), &mapper.content_hash(&object));
                if !matches!(listed, Listed::Same(_)) && kept.len() < keep {
                    kept.push((at, json.into()));
                }
                Ok(listed)
            })
            .collect::<Result<_, CallError>>()?;
        Ok(PartnerPage {
            records,
            next_page: page.next_page,
            kept,
        })
    }

    /// Record `at` as the partner sent it, if its text was kept.
    pub fn object(&self, at: usize) -> Option<Map<String, Value>> {
        let i = self.kept.binary_search_by_key(&at, |(at, _)| *at).ok()?;
        // It parsed as an object when the page was digested.
        serde_json::from_str(&self.kept[i].1).ok()
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
        Page::from_json(format!("{{\"records\": {records}, \"next_page\": 3}}").into_bytes())
            .expect("page")
    }

    #[test]
    fn records_are_looked_up_by_id_and_the_first_not_ours_kept_as_sent() {
        let m = mapper();
        let page = raw_page(
            r#"[{"id": "1:A:response", "result": "met"}, {"id": 42, "result": "met"},
                {"result": "met"}, {"id": ["no"], "result": "breached"}]"#,
        );
        let digested = PartnerPage::digest(&page, &m, &OurIds::default(), 3).expect("digested");
        assert_eq!(digested.next_page, Some(3));
        assert_eq!(
            digested.records,
            [
                Listed::NotOurs(Some("1:A:response".into())),
                Listed::NotOurs(Some("42".into())),
                Listed::NotOurs(None),
                Listed::NotOurs(None),
            ]
        );
        let first = json!({"id": "1:A:response", "result": "met"});
        let Value::Object(first) = first else {
            panic!("an object")
        };
        assert_eq!(digested.object(0), Some(first));
        assert!(digested.object(2).is_some());
        assert_eq!(digested.object(3), None, "only the first three are kept");
    }

    #[test]
    fn a_record_that_is_not_an_object_fails_the_page_naming_it() {
        let page = raw_page(r#"[{"id": "1:A:response"}, [1, 2]]"#);
        let err =
            PartnerPage::digest(&page, &mapper(), &OurIds::default(), 10).expect_err("not a page");
        assert!(!err.is_retryable());
        assert!(err.message.contains("record 1"), "{}", err.message);
    }
}

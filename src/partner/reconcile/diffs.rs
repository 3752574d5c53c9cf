//! The diffs a run keeps for its report, both sides masked: the partner's records with our
//! masking rules applied, ours read again from the store and mapped as they would leave.

use std::collections::HashMap;

use serde_json::Value;

use super::ours::FoundDiff;
use super::partner_page::PartnerPage;
use super::{ReconcileError, Reconciler};
use crate::store::{DiffKind, NewDiff, StoreError};

impl Reconciler {
    /// The report's diffs of one page: the partner's side masked; ours (for mismatched
    /// records) read again and mapped as it would leave.
    pub(super) async fn page_diffs(
        &self,
        page: &PartnerPage,
        found: &[FoundDiff],
    ) -> Result<Vec<NewDiff>, ReconcileError> {
        let mismatched: Vec<String> = found
            .iter()
            .filter(|d| d.kind == DiffKind::Mismatched)
            .map(|d| d.record_id.clone())
            .collect();
        let texts = self.our_texts(&mismatched).await?;
        let mapper = self.link.mapper();
        Ok(found
            .iter()
            .map(|d| NewDiff {
                record_id: d.record_id.clone(),
                kind: d.kind,
                ours: match d.kind {
                    DiffKind::Mismatched => texts.get(&d.record_id).cloned(),
                    _ => None,
                },
                theirs: page
                    .object(d.at)
                    .map(|o| Value::Object(mapper.mask_theirs(&o)).to_string()),
            })
            .collect())
    }

    /// Our records `ids` as the partner would receive them (mapped, masked), by id.
    pub(super) async fn our_texts(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mapper = self.link.mapper();
        Ok(self
            .store
            .sla_records()
            .by_id(ids)
            .await?
            .into_iter()
            .map(|r| {
                let text = Value::Object(mapper.map(&r)).to_string();
                (r.record_id, text)
            })
            .collect())
    }
}

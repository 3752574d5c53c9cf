//! The diffs a reconciliation run keeps for its report: how each record differs between the
//! partner and us, masked as it would leave.
//!
//! Invariant: a run keeps at most `keep_diffs` diffs, numbered from 1 in the order they were
//! found; the counts by kind are always complete.

use serde::Serialize;

use super::error::{counted, StoreError};
use super::pool::on_backend;
use super::reconciliation_runs::{to_u32, Reconciliations};

/// Keeps the first of `$diffs` that fit below `$keep_diffs` in transaction `$tx`, numbered
/// after the `$kept` ones, and records the new number kept. A macro, as the transaction's type
/// differs per dialect.
macro_rules! keep_diffs {
    ($tx:expr, $run_id:expr, $kept:expr, $diffs:expr, $keep_diffs:expr) => {{
        let fit = $crate::store::reconciliation_diffs::room($kept, $keep_diffs).min($diffs.len());
        let diffs = &$diffs[..fit];
        if !diffs.is_empty() {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO reconciliation_diffs (run_id, seq, record_id, kind, ours, theirs) ",
            );
            qb.push_values(diffs.iter().zip($kept + 1..), |mut b, (d, seq)| {
                b.push_bind($run_id)
                    .push_bind(seq)
                    .push_bind(d.record_id.as_str())
                    .push_bind(d.kind.as_str())
                    .push_bind(d.ours.as_deref())
                    .push_bind(d.theirs.as_deref());
            });
            qb.build()
                .execute(&mut *$tx)
                .await
                .map_err($crate::store::error::counted)?;
            sqlx::query("UPDATE reconciliation_runs SET diffs_kept = $2 WHERE run_id = $1")
                .bind($run_id)
                .bind($kept.saturating_add(i64::try_from(fit).unwrap_or(i64::MAX)))
                .execute(&mut *$tx)
                .await
                .map_err($crate::store::error::counted)?;
        }
    }};
}

pub(super) use keep_diffs;

/// How a record differs between the partner and us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// We have it; the partner does not.
    MissingAtPartner,
    /// The partner has it; we do not.
    MissingAtOurs,
    /// Both have it, with different content.
    Mismatched,
}

impl DiffKind {
    /// Every kind.
    pub const ALL: [DiffKind; 3] = [
        DiffKind::MissingAtPartner,
        DiffKind::MissingAtOurs,
        DiffKind::Mismatched,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::MissingAtPartner => "missing_at_partner",
            DiffKind::MissingAtOurs => "missing_at_ours",
            DiffKind::Mismatched => "mismatched",
        }
    }

    /// Parses [`DiffKind::as_str`].
    pub fn parse(s: &str) -> Option<DiffKind> {
        DiffKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A diff to keep in a run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDiff {
    /// The record.
    pub record_id: String,
    /// How it differs.
    pub kind: DiffKind,
    /// Our record as JSON, masked as it would leave.
    pub ours: Option<String>,
    /// The partner's record as JSON, masked.
    pub theirs: Option<String>,
}

/// A diff of a run's report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReconciliationDiff {
    /// Its place among the run's diffs, 1 first.
    pub seq: u32,
    /// The record.
    pub record_id: String,
    /// How it differs.
    pub kind: DiffKind,
    /// Our record, masked (a string when the stored text is not JSON).
    #[schema(value_type = Option<Object>)]
    pub ours: Option<serde_json::Value>,
    /// The partner's record, masked.
    #[schema(value_type = Option<Object>)]
    pub theirs: Option<serde_json::Value>,
}

impl Reconciliations<'_> {
    /// The diffs a run kept, in the order they were found.
    pub async fn diffs(self, run_id: &str) -> Result<Vec<ReconciliationDiff>, StoreError> {
        type Row = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT seq, record_id, kind, ours, theirs FROM reconciliation_diffs \
                 WHERE run_id = $1 ORDER BY seq",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter()
            .map(|(seq, record_id, kind, ours, theirs)| {
                let kind = DiffKind::parse(&kind).ok_or_else(|| StoreError::CorruptRow {
                    table: "reconciliation_diffs",
                    message: format!("run {run_id}: unknown kind {kind:?}"),
                })?;
                Ok(ReconciliationDiff {
                    seq: to_u32(seq, "reconciliation_diffs", "seq")?,
                    record_id,
                    kind,
                    ours: ours.map(json_or_text),
                    theirs: theirs.map(json_or_text),
                })
            })
            .collect()
    }
}

/// How many more diffs a run with `kept` of them may keep.
pub(super) fn room(kept: i64, keep_diffs: u32) -> usize {
    usize::try_from(i64::from(keep_diffs).saturating_sub(kept)).unwrap_or(0)
}

/// The text as JSON, or as a JSON string when it is not JSON.
fn json_or_text(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

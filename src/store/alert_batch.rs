//! Recording a batch of alert changes in a handful of statements, whatever its size: the
//! batch's keys are read once (and locked), the outcome of every change is worked out in
//! memory with the same rule as one write at a time ([`forward_from`]), and then every new key
//! is inserted by one multi-row `INSERT` and every moved row updated by one `UPDATE` over a
//! JSON array. A key that changes more than once in the batch (firing, then resolved) is
//! written once, in its last state.
//!
//! The rows read are locked for the transaction (SQLite's write lock, PostgreSQL's
//! `FOR UPDATE`), so the plan holds; should the statements still touch other counts than
//! planned, the caller records the batch one change at a time instead.

use std::collections::HashMap;

use vigil_engine::AlertState;

use super::alert_change::{forward_from, AlertWrite, Prepared};
use super::pool::Backend;
use super::sql::ID_CHUNK;

/// Rows per multi-row `INSERT` (16 values each: within both dialects' bind limits).
pub(super) const INSERT_CHUNK: usize = 500;

/// What a batch does to the store: the outcome of each change, in order, and the rows to write.
#[derive(Debug)]
pub(super) struct BatchPlan<'p, 'r> {
    /// One outcome per change of the batch, in its order.
    pub writes: Vec<AlertWrite>,
    /// Keys the store does not have: the first change's row, in the last change's state.
    pub inserts: Vec<FinalRow<'p, 'r>>,
    /// Keys the store has that move forward, with the state they are in now.
    pub advances: Vec<(FinalRow<'p, 'r>, AlertState)>,
}

/// A key's row after the batch: what never changes comes from its first new change, the
/// state and what moves with it from its last.
#[derive(Debug, Clone, Copy)]
pub(super) struct FinalRow<'p, 'r> {
    pub first: &'p Prepared<'r>,
    pub last: &'p Prepared<'r>,
}

/// One key's course through the batch.
struct KeyCourse {
    stored: Option<AlertState>,
    current: Option<AlertState>,
    first_new: Option<usize>,
    last_new: Option<usize>,
}

/// Works out what each change of `batch` does, given the state the store holds for each of
/// its keys (`stored`, absent for keys it does not have).
pub(super) fn plan<'p, 'r>(
    batch: &'p [Prepared<'r>],
    stored: &HashMap<String, AlertState>,
) -> BatchPlan<'p, 'r> {
    let mut order: Vec<KeyCourse> = Vec::new();
    let mut by_key: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
    let mut writes = Vec::with_capacity(batch.len());
    for (i, p) in batch.iter().enumerate() {
        let k = *by_key.entry(p.dedupe_key.as_str()).or_insert_with(|| {
            let state = stored.get(&p.dedupe_key).copied();
            order.push(KeyCourse {
                stored: state,
                current: state,
                first_new: None,
                last_new: None,
            });
            order.len() - 1
        });
        let course = &mut order[k];
        let write = match course.current {
            None => AlertWrite::Inserted,
            Some(now) if forward_from(p.record.state).contains(&now) => AlertWrite::Advanced,
            Some(_) => AlertWrite::Unchanged,
        };
        if write.is_new() {
            course.current = Some(p.record.state);
            course.first_new.get_or_insert(i);
            course.last_new = Some(i);
        }
        writes.push(write);
    }
    let mut inserts = Vec::new();
    let mut advances = Vec::new();
    for course in order {
        let (Some(first), Some(last)) = (course.first_new, course.last_new) else {
            continue;
        };
        let row = FinalRow {
            first: &batch[first],
            last: &batch[last],
        };
        match course.stored {
            None => inserts.push(row),
            Some(state) => advances.push((row, state)),
        }
    }
    BatchPlan {
        writes,
        inserts,
        advances,
    }
}

/// `SELECT dedupe_key, state` of the keys in the JSON array bound as `$1`, locking the rows on
/// PostgreSQL (SQLite's write transaction already excludes every other writer).
pub(super) fn select_stored_sql(backend: &Backend) -> String {
    let keys = super::sql::json_ids(backend, "$1");
    match backend {
        Backend::Sqlite(_) => {
            format!("SELECT dedupe_key, state FROM alerts WHERE dedupe_key IN ({keys})")
        }
        Backend::Postgres(_) => {
            format!("SELECT dedupe_key, state FROM alerts WHERE dedupe_key IN ({keys}) FOR UPDATE")
        }
    }
}

/// The `UPDATE` moving rows forward: the JSON array bound as `$1` holds
/// `[dedupe_key, state, target_ms, elapsed_ms, deadline, priority, policy_version, from]`
/// per row, `$2` is the time of the change. A row moves only from the state `from`.
pub(super) fn advance_sql(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite(_) => {
            "WITH c (k, st, tgt, el, dl, pr, pv, fr) AS MATERIALIZED (SELECT \
             json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
             json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
             json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
             json_extract(value, '$[6]'), json_extract(value, '$[7]') FROM json_each($1)) \
             UPDATE alerts SET state = c.st, target_ms = c.tgt, elapsed_ms = c.el, \
             deadline = c.dl, priority = c.pr, policy_version = c.pv, updated_at = $2 \
             FROM c WHERE alerts.dedupe_key = c.k AND alerts.state = c.fr"
        }
        Backend::Postgres(_) => {
            "WITH c (k, st, tgt, el, dl, pr, pv, fr) AS MATERIALIZED (SELECT e ->> 0, e ->> 1, \
             (e ->> 2)::bigint, (e ->> 3)::bigint, (e ->> 4)::bigint, e ->> 5, \
             (e ->> 6)::bigint, e ->> 7 FROM json_array_elements($1::json) AS e) \
             UPDATE alerts SET state = c.st, target_ms = c.tgt, elapsed_ms = c.el, \
             deadline = c.dl, priority = c.pr, policy_version = c.pv, updated_at = $2 \
             FROM c WHERE alerts.dedupe_key = c.k AND alerts.state = c.fr"
        }
    }
}

/// The JSON arrays [`advance_sql`] reads, at most [`ID_CHUNK`] rows each.
pub(super) fn advance_rows(advances: &[(FinalRow<'_, '_>, AlertState)]) -> Vec<String> {
    advances
        .chunks(ID_CHUNK)
        .map(|chunk| {
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .map(|(row, from)| {
                    let r = row.last.record;
                    serde_json::json!([
                        row.last.dedupe_key,
                        r.state.as_str(),
                        r.target_ms,
                        r.elapsed_ms,
                        r.deadline,
                        r.priority,
                        r.policy_version,
                        from.as_str()
                    ])
                })
                .collect();
            serde_json::Value::Array(rows).to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use vigil_engine::AlertRecord;

    use super::super::alert_change::prepare;
    use super::*;

    fn record(ticket: &str, state: AlertState, elapsed_ms: i64) -> AlertRecord {
        AlertRecord {
            elapsed_ms,
            ..super::super::alert_outbox::tests::record(ticket, state)
        }
    }

    #[test]
    fn a_key_new_to_the_store_is_inserted_once_in_its_last_state() {
        let batch = [
            record("A", AlertState::Firing, 10),
            record("A", AlertState::Firing, 11),
            record("A", AlertState::Resolved, 12),
        ];
        let prepared: Vec<_> = batch.iter().map(|r| prepare(r).unwrap()).collect();
        let plan = plan(&prepared, &HashMap::new());
        assert_eq!(
            plan.writes,
            [
                AlertWrite::Inserted,
                AlertWrite::Unchanged,
                AlertWrite::Advanced
            ]
        );
        assert_eq!(plan.inserts.len(), 1);
        assert!(plan.advances.is_empty());
        let row = plan.inserts[0];
        assert_eq!(row.first.record.elapsed_ms, 10);
        assert_eq!(row.last.record.state, AlertState::Resolved);
        assert_eq!(row.last.record.elapsed_ms, 12);
    }

    #[test]
    fn a_stored_key_moves_only_forward_from_the_state_it_is_in() {
        let batch = [
            record("A", AlertState::Firing, 1),
            record("A", AlertState::Resolved, 2),
            record("A", AlertState::Retracted, 3),
            record("B", AlertState::Retracted, 4),
            record("C", AlertState::Firing, 5),
        ];
        let prepared: Vec<_> = batch.iter().map(|r| prepare(r).unwrap()).collect();
        let stored = HashMap::from([
            (prepared[0].dedupe_key.clone(), AlertState::Acknowledged),
            (prepared[3].dedupe_key.clone(), AlertState::Resolved),
        ]);
        let plan = plan(&prepared, &stored);
        assert_eq!(
            plan.writes,
            [
                AlertWrite::Unchanged,
                AlertWrite::Advanced,
                AlertWrite::Unchanged,
                AlertWrite::Unchanged,
                AlertWrite::Inserted
            ]
        );
        assert_eq!(plan.advances.len(), 1);
        let (row, from) = plan.advances[0];
        assert_eq!(from, AlertState::Acknowledged);
        assert_eq!(row.last.record.state, AlertState::Resolved);
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.inserts[0].first.record.ticket_id, "C");
    }
}

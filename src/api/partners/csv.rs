//! The CSV download of a reconciliation report: one line per diff, RFC 4180.

use crate::csv::push_line;
use crate::store::ReconciliationDiff;

/// The header line's columns.
pub const COLUMNS: [&str; 5] = ["seq", "kind", "record_id", "ours", "theirs"];

/// The diffs as CSV: a header line, then `seq,kind,record_id,ours,theirs` per diff, with the
/// records as JSON text (empty when a side has none). Lines end in CRLF.
pub fn diffs_csv(diffs: &[ReconciliationDiff]) -> String {
    let mut out = String::with_capacity(64 + diffs.len() * 256);
    push_line(&mut out, COLUMNS.iter().map(|c| (*c).to_string()));
    for d in diffs {
        push_line(
            &mut out,
            [
                d.seq.to_string(),
                d.kind.as_str().to_string(),
                d.record_id.clone(),
                d.ours.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                d.theirs.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::DiffKind;

    fn diff(seq: u32, kind: DiffKind, id: &str) -> ReconciliationDiff {
        ReconciliationDiff {
            seq,
            record_id: id.into(),
            kind,
            ours: None,
            theirs: None,
        }
    }

    #[test]
    fn diffs_are_one_quoted_line_each() {
        let mut mismatched = diff(1, DiffKind::Mismatched, "7:T-1:resolution");
        mismatched.ours = Some(json!({"assignee_id": "en***-7"}));
        mismatched.theirs = Some(json!({"note": "a \"b\", c"}));
        let missing = diff(2, DiffKind::MissingAtOurs, "=HYPERLINK(\"x\")");
        let text = diffs_csv(&[mismatched, missing]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "seq,kind,record_id,ours,theirs");
        assert_eq!(
            lines[1],
            r#"1,mismatched,7:T-1:resolution,"{""assignee_id"":""en***-7""}","{""note"":""a \""b\"", c""}""#
        );
        assert_eq!(lines[2], "2,missing_at_ours,\"'=HYPERLINK(\"\"x\"\")\",,");
        assert_eq!(lines[3], "");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn no_diffs_is_the_header_alone() {
        assert_eq!(diffs_csv(&[]), "seq,kind,record_id,ours,theirs\r\n");
    }
}

//! A run's report as `vigil reconcile` prints it (text or JSON), and the progress it shows on
//! stderr while the run goes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;

use super::{Phase, RunProgress};
use crate::store::{ReconciliationDiff, ReconciliationRun};

/// Diffs the text report shows; the JSON report has every kept diff.
pub const TEXT_DIFFS: usize = 20;

/// Pages between progress lines when stderr is not a terminal.
pub const PAGES_PER_LINE: u32 = 10;

/// A run and its kept diffs, as the JSON report.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// The run and its counts.
    pub run: &'a ReconciliationRun,
    /// The diffs kept, in the order they were found (masked).
    pub diffs: &'a [ReconciliationDiff],
}

/// The JSON report: `{"run":{…},"diffs":[…]}`, pretty-printed.
pub fn render_json(run: &ReconciliationRun, diffs: &[ReconciliationDiff]) -> String {
    serde_json::to_string_pretty(&Report { run, diffs })
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the report: {e}\"}}"))
}

/// The text report: the counts, what was repaired and flagged, then the first
/// [`TEXT_DIFFS`] diffs with both sides (masked).
pub fn render_text(run: &ReconciliationRun, diffs: &[ReconciliationDiff]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "reconciliation of {} for {} ({}): {}",
        run.partner_id, run.day, run.trigger, run.state
    );
    let _ = writeln!(out, "run                 {}", run.run_id);
    let _ = writeln!(out, "pages               {}", run.pages_done);
    let rows = [
        ("partner records", run.partner_records, ""),
        ("our records", run.our_records, ""),
        ("matched", run.matched, ""),
        ("missing at partner", run.missing_at_partner, ""),
        ("missing at ours", run.missing_at_ours, ""),
        ("mismatched", run.mismatched, ""),
        (
            "repaired",
            run.repaired,
            "  (re-queued in the partner outbox; the running service sends them)",
        ),
        (
            "flagged for review",
            run.missing_at_ours,
            "  (held by the partner only; not changed)",
        ),
    ];
    for (name, count, note) in rows {
        let _ = writeln!(out, "{name:<19} {count}{note}");
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "resumed after       {error}");
    }
    if diffs.is_empty() {
        let _ = writeln!(out, "no diffs");
        return out;
    }
    let shown = diffs.len().min(TEXT_DIFFS);
    let _ = writeln!(
        out,
        "diffs (first {shown} of {} kept; --format json shows all kept):",
        run.diffs_kept
    );
    for d in &diffs[..shown] {
        let id = if d.record_id.is_empty() {
            "(no record id)"
        } else {
            d.record_id.as_str()
        };
        let _ = writeln!(out, "  {:<19} {id}", d.kind.as_str());
        if let (Some(ours), Some(theirs)) = (&d.ours, &d.theirs) {
            let fields = differing_fields(ours, theirs);
            if !fields.is_empty() {
                let _ = writeln!(out, "    {:<7} {}", "fields", fields.join(", "));
            }
        }
        for (side, value) in [("ours", &d.ours), ("theirs", &d.theirs)] {
            if let Some(v) = value {
                let _ = writeln!(out, "    {side:<7} {v}");
            }
        }
    }
    out
}

/// The fields whose values differ between two objects (absent and `null` alike), by name.
fn differing_fields<'a>(ours: &'a Value, theirs: &'a Value) -> Vec<&'a str> {
    let (Some(ours), Some(theirs)) = (ours.as_object(), theirs.as_object()) else {
        return Vec::new();
    };
    let names: BTreeSet<&str> = ours
        .keys()
        .chain(theirs.keys())
        .map(String::as_str)
        .collect();
    let value = |obj: &'a serde_json::Map<String, Value>, name: &str| {
        obj.get(name).filter(|v| !v.is_null())
    };
    names
        .into_iter()
        .filter(|name| value(ours, name) != value(theirs, name))
        .collect()
}

/// Shows a run's progress on stderr: one line rewritten in place (`\r`) on a terminal, else
/// a line every [`PAGES_PER_LINE`] pages.
#[derive(Debug)]
pub struct ProgressDisplay {
    label: String,
    terminal: bool,
    /// Whether a `\r` line is open and needs its newline.
    open: Mutex<bool>,
}

impl ProgressDisplay {
    /// A display for runs labelled `label` (e.g. `exchange-a 2026-11-23`), checking whether
    /// stderr is a terminal.
    pub fn new(label: impl Into<String>) -> ProgressDisplay {
        use std::io::IsTerminal as _;
        ProgressDisplay::with_terminal(label, std::io::stderr().is_terminal())
    }

    /// A display that behaves as on a terminal or not, as told.
    pub fn with_terminal(label: impl Into<String>, terminal: bool) -> ProgressDisplay {
        ProgressDisplay {
            label: label.into(),
            terminal,
            open: Mutex::new(false),
        }
    }

    /// The line for `p`, or `None` when this update shows nothing.
    pub fn line(&self, p: &RunProgress) -> Option<String> {
        let every = !self.terminal
            && p.phase == Phase::Pages
            && !p.pages_done.is_multiple_of(PAGES_PER_LINE);
        if every {
            return None;
        }
        let what = match p.phase {
            Phase::Ours => "our records loaded",
            Phase::Pages => "reading partner pages",
            Phase::Finished => "finished",
        };
        Some(format!(
            "{}: {what}: page {}, partner records {}, ours {}",
            self.label, p.pages_done, p.partner_records, p.our_records
        ))
    }

    /// Shows `p`.
    pub fn show(&self, p: &RunProgress) {
        let Some(line) = self.line(p) else {
            return;
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            *open = p.phase != Phase::Finished;
            let end = if *open { "" } else { "\n" };
            // Clears what a longer earlier line left.
            write!(err, "\r{line}\x1b[K{end}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    /// Ends an open terminal line (after an error, before the message).
    pub fn finish(&self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if *open {
            let _ = writeln!(std::io::stderr());
            *open = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::DiffKind;

    fn run() -> ReconciliationRun {
        ReconciliationRun {
            run_id: "r-1".into(),
            partner_id: "exchange-a".into(),
            day: "2026-11-23".into(),
            trigger: "manual".into(),
            state: "finished".into(),
            started_at: 0,
            finished_at: Some(1),
            pages_done: 3,
            partner_records: 10,
            our_records: 11,
            matched: 7,
            missing_at_partner: 2,
            missing_at_ours: 1,
            mismatched: 2,
            repaired: 4,
            diffs_kept: 2,
            error: None,
        }
    }

    fn diffs() -> Vec<ReconciliationDiff> {
        vec![
            ReconciliationDiff {
                seq: 1,
                record_id: "1:T:response".into(),
                kind: DiffKind::Mismatched,
                ours: Some(json!({"outcome": "met", "x": null})),
                theirs: Some(json!({"outcome": "breached"})),
            },
            ReconciliationDiff {
                seq: 2,
                record_id: String::new(),
                kind: DiffKind::MissingAtOurs,
                ours: None,
                theirs: Some(json!({"x": 1})),
            },
        ]
    }

    #[test]
    fn the_text_report_has_counts_and_diffs() {
        let text = render_text(&run(), &diffs());
        for line in [
            "reconciliation of exchange-a for 2026-11-23 (manual): finished\n",
            "partner records     10\n",
            "our records         11\n",
            "matched             7\n",
            "missing at partner  2\n",
            "missing at ours     1\n",
            "mismatched          2\n",
            "repaired            4  (re-queued in the partner outbox; the running service sends them)\n",
            "flagged for review  1  (held by the partner only; not changed)\n",
            "diffs (first 2 of 2 kept; --format json shows all kept):\n",
            "  mismatched          1:T:response\n    fields  outcome\n    ours    {\"outcome\":\"met\",\"x\":null}\n    theirs  {\"outcome\":\"breached\"}\n",
            "  missing_at_ours     (no record id)\n    theirs  {\"x\":1}\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn the_json_report_holds_the_run_and_its_diffs() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&run(), &diffs())).expect("json");
        assert_eq!(v["run"]["missing_at_partner"], 2);
        assert_eq!(v["diffs"][0]["kind"], "mismatched");
        assert_eq!(v["diffs"][1]["theirs"], json!({"x": 1}));
    }

    #[test]
    fn progress_is_thinned_out_off_a_terminal() {
        let p = |pages_done, phase| RunProgress {
            run_id: "r".into(),
            pages_done,
            partner_records: 5,
            our_records: 6,
            phase,
        };
        let pipe = ProgressDisplay::with_terminal("a 2026-11-23", false);
        assert_eq!(
            pipe.line(&p(0, Phase::Ours)).as_deref(),
            Some("a 2026-11-23: our records loaded: page 0, partner records 5, ours 6")
        );
        assert_eq!(pipe.line(&p(3, Phase::Pages)), None);
        assert!(pipe.line(&p(10, Phase::Pages)).is_some());
        assert!(pipe.line(&p(13, Phase::Finished)).is_some());
        let tty = ProgressDisplay::with_terminal("a", true);
        assert!(tty.line(&p(3, Phase::Pages)).is_some());
    }
}

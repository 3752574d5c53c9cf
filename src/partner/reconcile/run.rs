//! What names and describes a run: what started it, its id, and its progress as it goes.

use vigil_schema::Millis;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The nightly schedule: a day with a finished nightly run is not run again.
    Nightly,
    /// An operator (`vigil reconcile`): always runs (resuming an unfinished run of the day).
    Manual,
}

impl Trigger {
    /// The stored name: `nightly` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Nightly => "nightly",
            Trigger::Manual => "manual",
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Our records are loaded; pages follow.
    Ours,
    /// A partner page was counted.
    Pages,
    /// The run finished.
    Finished,
}

/// A run's progress, reported after our records are loaded, after each page and at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProgress {
    /// The run.
    pub run_id: String,
    /// The last partner page counted (0 before the first).
    pub pages_done: u32,
    /// Partner records counted so far.
    pub partner_records: u64,
    /// Our records of the day.
    pub our_records: u64,
    /// Where the run is.
    pub phase: Phase,
}

/// The id of a new run: a UUID v5 of the partner, the day, the trigger and the start instant.
pub fn run_id(partner: &str, day: &str, trigger: Trigger, started_at: Millis) -> String {
    let name = format!(
        "vigil/reconciliation/{partner}/{day}/{}/{started_at}",
        trigger.as_str()
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

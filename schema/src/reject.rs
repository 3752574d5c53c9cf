//! Why an event was not applied: the closed set of reasons of DESIGN.md §3.1.

use std::fmt;

/// The reason an event was not applied. `as_str` is the wire name used in the dead-letter
/// header, the replay summary and the `reason` label of `vigil_events_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not JSON, not an object, or a repeated key.
    ParseError,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or value (also `schema` ≠ 1, oversize, satisfaction range).
    InvalidField,
    /// `event_type` is not one of the known types.
    UnknownEventType,
    /// The priority is not a key of the targets in force.
    UnknownPriority,
    /// The status is not a known status.
    UnknownStatus,
    /// The status machine does not allow the move (also `ticket.created` not PENDING).
    InvalidTransition,
    /// No such ticket.
    UnknownTicket,
    /// A second `ticket.created` for the same ticket.
    DuplicateTicket,
    /// The `(tenant_id, event_id)` was already applied.
    DuplicateEvent,
    /// The policy of an `sla.policy_updated` is not valid.
    InvalidPolicy,
    /// Replay only: more than the allowed lateness behind the largest `occurred_at` seen.
    TooLate,
    /// Applying it crashed the tenant's actor.
    Poison,
}

impl RejectReason {
    /// Every reason, for pre-registering metric series.
    pub const ALL: [RejectReason; 13] = [
        RejectReason::ParseError,
        RejectReason::MissingField,
        RejectReason::InvalidField,
        RejectReason::UnknownEventType,
        RejectReason::UnknownPriority,
        RejectReason::UnknownStatus,
        RejectReason::InvalidTransition,
        RejectReason::UnknownTicket,
        RejectReason::DuplicateTicket,
        RejectReason::DuplicateEvent,
        RejectReason::InvalidPolicy,
        RejectReason::TooLate,
        RejectReason::Poison,
    ];

    /// The wire name, e.g. `parse_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::ParseError => "parse_error",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::UnknownEventType => "unknown_event_type",
            RejectReason::UnknownPriority => "unknown_priority",
            RejectReason::UnknownStatus => "unknown_status",
            RejectReason::InvalidTransition => "invalid_transition",
            RejectReason::UnknownTicket => "unknown_ticket",
            RejectReason::DuplicateTicket => "duplicate_ticket",
            RejectReason::DuplicateEvent => "duplicate_event",
            RejectReason::InvalidPolicy => "invalid_policy",
            RejectReason::TooLate => "too_late",
            RejectReason::Poison => "poison",
        }
    }

    /// Whether the event goes to the dead-letter subject (every reason but duplicates).
    pub fn dead_letters(self) -> bool {
        self != RejectReason::DuplicateEvent
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected event's reason with a short human explanation. Holds no allocation, so rejecting
/// costs nothing on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {field}{detail}")]
pub struct Rejection {
    /// The machine-readable reason.
    pub reason: RejectReason,
    /// The field at fault, followed by a space, or empty.
    pub field: &'static str,
    /// What is wrong.
    pub detail: &'static str,
}

impl Rejection {
    /// A rejection that names no field.
    pub const fn new(reason: RejectReason, detail: &'static str) -> Self {
        Rejection {
            reason,
            field: "",
            detail,
        }
    }

    /// A rejection about one field; the message reads "`field` detail".
    pub const fn field(reason: RejectReason, field: &'static str, detail: &'static str) -> Self {
        Rejection {
            reason,
            field,
            detail,
        }
    }

    /// The full human-readable message, e.g. `occurred_at must be an RFC 3339 instant`.
    pub fn message(&self) -> String {
        if self.field.is_empty() {
            self.detail.to_string()
        } else {
            format!("{} {}", self.field, self.detail)
        }
    }
}

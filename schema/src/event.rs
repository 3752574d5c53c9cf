//! The upstream event contract (DESIGN.md §2): types, decoding and validation.
//!
//! [`decode`] turns one JSON document into a validated [`Event`] or a [`Rejection`] naming exactly
//! one reason. It never panics, whatever the bytes. Checks that need engine state (unknown
//! priority, transitions, unknown or duplicate tickets, policy content) are made by the engine and
//! reported with the same [`RejectReason`]s.

use std::borrow::Cow;

use compact_str::CompactString;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::reject::{RejectReason, Rejection};
use crate::time::{parse_instant, Millis};

/// Largest accepted event document, in bytes.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Longest accepted `event_id`, `ticket_id`, `assignee_id` or `service_type`, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Largest accepted `tenant_id`: 2^63 − 1, the largest the SQL store can hold (`BIGINT`).
pub const MAX_TENANT_ID: u64 = i64::MAX as u64;
/// The only schema version this build understands.
pub const SCHEMA_VERSION: u64 = 1;
/// Service type of events that name none.
pub const DEFAULT_SERVICE_TYPE: &str = "default";

/// Ticket statuses and the moves allowed between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Opened, nobody working on it yet.
    Pending,
    /// Somebody is working on it.
    InProgress,
    /// Waiting on the customer or a third party; pauses the clocks by default.
    OnHold,
    /// Fixed; may be reopened.
    Resolved,
    /// Final.
    Closed,
    /// Final; both goals end `cancelled`.
    Cancelled,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::InProgress,
        Status::OnHold,
        Status::Resolved,
        Status::Closed,
        Status::Cancelled,
    ];

    /// Parses an upper-case status name (case-sensitive).
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "PENDING" => Status::Pending,
            "IN_PROGRESS" => Status::InProgress,
            "ON_HOLD" => Status::OnHold,
            "RESOLVED" => Status::Resolved,
            "CLOSED" => Status::Closed,
            "CANCELLED" => Status::Cancelled,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::InProgress => "IN_PROGRESS",
            Status::OnHold => "ON_HOLD",
            Status::Resolved => "RESOLVED",
            Status::Closed => "CLOSED",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Whether the ticket can never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }

    /// The status machine of DESIGN.md §2.
    pub fn can_move_to(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Pending, InProgress | Cancelled)
                | (InProgress, OnHold | Resolved | Pending | Cancelled)
                | (OnHold, InProgress | Cancelled)
                | (Resolved, Closed | InProgress)
        )
    }

    /// A small dense index, for per-status arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What an event says happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `ticket.created`: opens the ticket with this priority.
    Created {
        /// Priority name as sent (validated against the policy by the engine).
        priority: CompactString,
    },
    /// `ticket.responded`: first response.
    Responded,
    /// `ticket.status_changed`.
    StatusChanged {
        /// The new status.
        status: Status,
    },
    /// `ticket.priority_changed`.
    PriorityChanged {
        /// The new priority name.
        priority: CompactString,
    },
    /// `ticket.assigned`.
    Assigned,
    /// `ticket.satisfaction_rated`, 1.0–5.0.
    SatisfactionRated {
        /// The rating.
        satisfaction: f64,
    },
    /// `sla.policy_updated`: the policy object as sent (validated by the engine).
    PolicyUpdated {
        /// The `policy` JSON object, as sent.
        policy: String,
    },
}

impl EventKind {
    /// The wire `event_type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            EventKind::Created { .. } => "ticket.created",
            EventKind::Responded => "ticket.responded",
            EventKind::StatusChanged { .. } => "ticket.status_changed",
            EventKind::PriorityChanged { .. } => "ticket.priority_changed",
            EventKind::Assigned => "ticket.assigned",
            EventKind::SatisfactionRated { .. } => "ticket.satisfaction_rated",
            EventKind::PolicyUpdated { .. } => "sla.policy_updated",
        }
    }
}

/// One validated upstream event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique per tenant; the dedupe key with `tenant_id`.
    pub event_id: CompactString,
    /// Positive tenant id.
    pub tenant_id: u64,
    /// The ticket; empty for `sla.*` events.
    pub ticket_id: CompactString,
    /// When it happened, in milliseconds since the Unix epoch (UTC).
    pub occurred_at: Millis,
    /// What happened.
    pub kind: EventKind,
    /// The ticket's service type, if the event names one.
    pub service_type: Option<CompactString>,
    /// The assignee, if the event names one.
    pub assignee_id: Option<CompactString>,
}

/// Decodes and validates one event document.
///
/// Only the checks that need no engine state are made here.
pub fn decode(bytes: &[u8]) -> Result<Event, Rejection> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(Rejection::new(
            RejectReason::InvalidField,
            "event is larger than 64 KiB",
        ));
    }
    // One UTF-8 check of the whole document is much cheaper than serde_json's check of every
    // string it reads from bytes.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(Rejection::new(RejectReason::ParseError, "not UTF-8"));
    };
    match serde_json::from_str::<WireEvent<'_>>(text) {
        Ok(wire) => wire.validate(),
        Err(_) => decode_lenient(bytes),
    }
}

/// The fast path: the common shape, borrowed where the JSON has no escapes.
#[derive(Deserialize)]
struct WireEvent<'a> {
    schema: Option<u64>,
    #[serde(borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    tenant_id: Option<u64>,
    #[serde(borrow)]
    ticket_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    occurred_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    priority: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    assignee_id: Option<Cow<'a, str>>,
    satisfaction: Option<f64>,
    #[serde(borrow)]
    policy: Option<&'a RawValue>,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
}

/// The slow path, taken only when the fast path failed: every field as raw JSON, so the
/// rejection can name the field at fault instead of a generic parse error.
#[derive(Deserialize)]
struct LenientEvent<'a> {
    #[serde(borrow)]
    schema: Option<&'a RawValue>,
    #[serde(borrow)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow)]
    tenant_id: Option<&'a RawValue>,
    #[serde(borrow)]
    ticket_id: Option<&'a RawValue>,
    #[serde(borrow)]
    occurred_at: Option<&'a RawValue>,
    #[serde(borrow)]
    priority: Option<&'a RawValue>,
    #[serde(borrow)]
    status: Option<&'a RawValue>,
    #[serde(borrow)]
    service_type: Option<&'a RawValue>,
    #[serde(borrow)]
    assignee_id: Option<&'a RawValue>,
    #[serde(borrow)]
    satisfaction: Option<&'a RawValue>,
    #[serde(borrow)]
    policy: Option<&'a RawValue>,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
}

fn decode_lenient(bytes: &[u8]) -> Result<Event, Rejection> {
    let raw: LenientEvent<'_> = serde_json::from_slice(bytes).map_err(|_| {
        Rejection::new(
            RejectReason::ParseError,
            "not a JSON object (or a repeated key)",
        )
    })?;
    // `null` counts as absent, as in the fast path.
    fn present(v: Option<&RawValue>) -> Option<&RawValue> {
        v.filter(|r| r.get() != "null")
    }
    fn typed<'a, T: Deserialize<'a>>(
        v: Option<&'a RawValue>,
        field: &'static str,
    ) -> Result<Option<T>, Rejection> {
        match present(v) {
            None => Ok(None),
            Some(r) => serde_json::from_str(r.get()).map(Some).map_err(|_| {
                Rejection::field(RejectReason::InvalidField, field, "has the wrong type")
            }),
        }
    }
    let wire = WireEvent {
        schema: typed(raw.schema, "schema")?,
        event_id: typed(raw.event_id, "event_id")?,
        event_type: typed(raw.event_type, "event_type")?,
        tenant_id: typed(raw.tenant_id, "tenant_id")?,
        ticket_id: typed(raw.ticket_id, "ticket_id")?,
        occurred_at: typed(raw.occurred_at, "occurred_at")?,
        priority: typed(raw.priority, "priority")?,
        status: typed(raw.status, "status")?,
        service_type: typed(raw.service_type, "service_type")?,
        assignee_id: typed(raw.assignee_id, "assignee_id")?,
        satisfaction: typed(raw.satisfaction, "satisfaction")?,
        policy: present(raw.policy),
        attributes: present(raw.attributes),
    };
    wire.validate()
}

fn required<T>(v: Option<T>, field: &'static str) -> Result<T, Rejection> {
    v.ok_or_else(|| Rejection::field(RejectReason::MissingField, field, "is required"))
}

/// An id field: 1 to [`MAX_ID_CHARS`] characters, none of them a control character
/// (U+0000–U+001F, U+007F). Ids travel into log lines, email bodies, SMS texts and partner
/// URLs, where a line break or an escape would let the sender forge content.
fn id_field(v: Cow<'_, str>, field: &'static str) -> Result<CompactString, Rejection> {
    let chars = v.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS {
        return Err(Rejection::field(
            RejectReason::InvalidField,
            field,
            "must be 1 to 128 characters",
        ));
    }
    if v.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(Rejection::field(
            RejectReason::InvalidField,
            field,
            "must not contain control characters",
        ));
    }
    Ok(CompactString::from(v.as_ref()))
}

impl WireEvent<'_> {
    fn validate(self) -> Result<Event, Rejection> {
        let schema = required(self.schema, "schema")?;
        if schema != SCHEMA_VERSION {
            return Err(Rejection::field(
                RejectReason::InvalidField,
                "schema",
                "must be 1",
            ));
        }
        let event_type = required(self.event_type, "event_type")?;
        let tenant_id = required(self.tenant_id, "tenant_id")?;
        if tenant_id == 0 || tenant_id > MAX_TENANT_ID {
            return Err(Rejection::field(
                RejectReason::InvalidField,
                "tenant_id",
                "must be an integer from 1 to 2^63-1",
            ));
        }
        let event_id = id_field(required(self.event_id, "event_id")?, "event_id")?;
        if self.attributes.is_some_and(|a| !a.get().starts_with('{')) {
            return Err(Rejection::field(
                RejectReason::InvalidField,
                "attributes",
                "must be an object",
            ));
        }
        let is_ticket_event = event_type.starts_with("ticket.");
        let kind_name = event_type.as_ref();
        if !matches!(
            kind_name,
            "ticket.created"
                | "ticket.responded"
                | "ticket.status_changed"
                | "ticket.priority_changed"
                | "ticket.assigned"
                | "ticket.satisfaction_rated"
                | "sla.policy_updated"
        ) {
            return Err(Rejection::new(
                RejectReason::UnknownEventType,
                "event_type is not one of the known types",
            ));
        }
        let ticket_id = if is_ticket_event {
            id_field(required(self.ticket_id, "ticket_id")?, "ticket_id")?
        } else {
            CompactString::default()
        };
        let occurred_at =
            parse_instant(&required(self.occurred_at, "occurred_at")?).ok_or_else(|| {
                Rejection::field(
                    RejectReason::InvalidField,
                    "occurred_at",
                    "must be an RFC 3339 instant with an offset, years 1900 to 2399",
                )
            })?;
        let service_type = self
            .service_type
            .map(|s| id_field(s, "service_type"))
            .transpose()?;
        let assignee_id = self
            .assignee_id
            .map(|s| id_field(s, "assignee_id"))
            .transpose()?;
        let status = match self.status {
            None => None,
            Some(s) => Some(Status::parse(&s).ok_or_else(|| {
                Rejection::new(RejectReason::UnknownStatus, "status is not a known status")
            })?),
        };
        let priority = |p: Option<Cow<'_, str>>| -> Result<CompactString, Rejection> {
            let p = required(p, "priority")?;
            if p.is_empty() {
                return Err(Rejection::new(
                    RejectReason::UnknownPriority,
                    "priority is empty",
                ));
            }
            Ok(CompactString::from(p.as_ref()))
        };
        let kind = match kind_name {
            "ticket.created" => {
                let priority = priority(self.priority)?;
                if status.is_some_and(|s| s != Status::Pending) {
                    return Err(Rejection::new(
                        RejectReason::InvalidTransition,
                        "a ticket is created PENDING",
                    ));
                }
                EventKind::Created { priority }
            }
            "ticket.responded" => EventKind::Responded,
            "ticket.status_changed" => EventKind::StatusChanged {
                status: required(status, "status")?,
            },
            "ticket.priority_changed" => EventKind::PriorityChanged {
                priority: priority(self.priority)?,
            },
            "ticket.assigned" => {
                if assignee_id.is_none() {
                    return Err(Rejection::field(
                        RejectReason::MissingField,
                        "assignee_id",
                        "is required",
                    ));
                }
                EventKind::Assigned
            }
            "ticket.satisfaction_rated" => {
                let satisfaction = required(self.satisfaction, "satisfaction")?;
                if !(1.0..=5.0).contains(&satisfaction) {
                    return Err(Rejection::field(
                        RejectReason::InvalidField,
                        "satisfaction",
                        "must be between 1.0 and 5.0",
                    ));
                }
                EventKind::SatisfactionRated { satisfaction }
            }
            _ => {
                let policy = required(self.policy, "policy")?;
                if !policy.get().trim_start().starts_with('{') {
                    return Err(Rejection::new(
                        RejectReason::InvalidPolicy,
                        "policy must be an object",
                    ));
                }
                EventKind::PolicyUpdated {
                    policy: policy.get().to_owned(),
                }
            }
        };
        Ok(Event {
            event_id,
            tenant_id,
            ticket_id,
            occurred_at,
            kind,
            service_type,
            assignee_id,
        })
    }
}

#[cfg(test)]
mod tests;

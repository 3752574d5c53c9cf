//! HTTP ingest (DESIGN.md §2 over HTTP): a JSON array of events, each validated like the
//! stream path does and published to `vigil.events.<tenant_id>` with its `Nats-Msg-Id`, each
//! answered on its own: accepted (with the stream sequence), duplicate, or rejected with the
//! reason. Nothing invalid is published.

use axum::body::Bytes;
use axum::extract::State;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::ApiState;
use crate::auth::caller::security_event;
use crate::auth::Caller;
use crate::http::envelope::{FORBIDDEN, INVALID_PARAMETER, STORE_UNAVAILABLE};
use crate::http::{ApiError, Envelope};
use crate::telemetry::metrics::ingest_http_events;

/// Events in one request, at most.
pub const MAX_EVENTS: usize = 1000;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventResult {
    /// Its position in the request.
    pub index: usize,
    /// Its `event_id`, when it could be read.
    pub event_id: Option<String>,
    /// `accepted`, `duplicate` (already stored) or `rejected`.
    pub status: &'static str,
    /// Stream sequence (accepted and duplicate events).
    pub stream_seq: Option<u64>,
    /// Platform code of a rejection (40001 invalid, 40003 another tenant, 50001 not stored).
    pub code: Option<u32>,
    /// Why it was rejected: the reason of DESIGN.md §2 (`invalid_json`, `missing_field`, …).
    pub reason: Option<String>,
    /// Details of a rejection.
    pub message: Option<String>,
}

/// `POST /api/v1/ingest/events`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IngestReport {
    /// Events stored (new).
    pub accepted: usize,
    /// Events the stream already had.
    pub duplicates: usize,
    /// Events refused.
    pub rejected: usize,
    /// One per event, in request order.
    pub results: Vec<EventResult>,
}

fn rejected(
    index: usize,
    event_id: Option<String>,
    code: u32,
    reason: &str,
    message: String,
) -> EventResult {
    EventResult {
        index,
        event_id,
        status: "rejected",
        stream_seq: None,
        code: Some(code),
        reason: Some(reason.into()),
        message: Some(message),
    }
}

/// Publishes events onto the event stream.
///
/// Roles: `service` only, and only events of its own tenant (others are rejected one by one).
#[utoipa::path(
    post,
    path = "/api/v1/ingest/events",
    request_body(content = Vec<Object>, description = "a JSON array of events (DESIGN.md §2), at most 1000"),
    responses(
        (status = 200, description = "envelope with `data`: IngestReport (per-event results; some may be rejected)", body = IngestReport),
        (status = 400, description = "40001 the body is not a JSON array of events, or every event was rejected"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 not a service token"),
    ),
    security(("bearer" = []))
)]
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<Envelope<IngestReport>, ApiError> {
    caller.require(caller.claims.role.can_ingest(), "ingest events")?;
    let items: Vec<&RawValue> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid_field(
            "body",
            format!("expected a JSON array of event objects: {e}"),
        )
    })?;
    if items.is_empty() || items.len() > MAX_EVENTS {
        return Err(ApiError::invalid_field(
            "body",
            format!("send 1 to {MAX_EVENTS} events, got {}", items.len()),
        ));
    }
    let publishes = items.iter().enumerate().map(|(index, raw)| {
        let js = &state.js;
        let caller = &caller;
        async move {
            let bytes = raw.get().as_bytes();
            let event = match vigil_schema::decode(bytes) {
                Ok(e) => e,
                Err(r) => {
                    let id = serde_json::from_str::<serde_json::Value>(raw.get())
                        .ok()
                        .and_then(|v| v.get("event_id").and_then(|i| i.as_str()).map(String::from));
                    return rejected(index, id, INVALID_PARAMETER, r.reason.as_str(), r.message());
                }
            };
            let event_id = event.event_id.to_string();
            if event.tenant_id != caller.claims.tenant_id {
                security_event(
                    "cross_tenant",
                    caller.ip,
                    &format!(
                        "{} (tenant {}) tried to ingest for tenant {}",
                        caller.claims.sub, caller.claims.tenant_id, event.tenant_id
                    ),
                );
                return rejected(
                    index,
                    Some(event_id),
                    FORBIDDEN,
                    "forbidden_tenant",
                    format!(
                        "this token may ingest only tenant {}",
                        caller.claims.tenant_id
                    ),
                );
            }
            let payload = bytes::Bytes::copy_from_slice(bytes);
            match vigil_streams::jetstream::publish_event(js, event.tenant_id, &event_id, payload)
                .await
            {
                Ok(ack) => EventResult {
                    index,
                    event_id: Some(event_id),
                    status: if ack.duplicate {
                        "duplicate"
                    } else {
                        "accepted"
                    },
                    stream_seq: Some(ack.sequence),
                    code: None,
                    reason: None,
                    message: None,
                },
                Err(e) => rejected(
                    index,
                    Some(event_id),
                    STORE_UNAVAILABLE,
                    "not_stored",
                    format!("JetStream did not store it ({e}); send it again"),
                ),
            }
        }
    });
    let results = futures::future::join_all(publishes).await;
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    let (accepted, duplicates, refused) =
        (count("accepted"), count("duplicate"), count("rejected"));
    ingest_http_events("accepted").increment(accepted as u64);
    ingest_http_events("duplicate").increment(duplicates as u64);
    ingest_http_events("rejected").increment(refused as u64);
    let report = IngestReport {
        accepted,
        duplicates,
        rejected: refused,
        results,
    };
    if refused == report.results.len() {
        let data = serde_json::to_value(&report).unwrap_or_default();
        return Err(
            ApiError::invalid_parameter("every event was rejected; see data.results")
                .with_data(data),
        );
    }
    let message = format!(
        "{} of {} events stored",
        accepted + duplicates,
        report.results.len()
    );
    Ok(Envelope::new(200, message, report))
}

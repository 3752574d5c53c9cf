//! The notification outbox for the people who answer for it: what failed (or is pending,
//! sent, cancelled), and sending a failed notification again once its cause is fixed.
//! Client managers and admins see their own tenant; ops see any tenant, or all.

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use vigil_schema::format_instant;

use super::listing::{tenant_list, TenantListRefusals, TENANT_FILTER_DOC};
use super::params::Params;
use super::store_error;
use super::ApiState;
use crate::auth::Caller;
use crate::http::{ApiError, Envelope};
use crate::store::notification_admin::MAX_LISTED_NOTIFICATIONS;
use crate::store::{OutboxEntry, OutboxState};

/// One notification of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NotificationView {
    /// Its id.
    pub id: String,
    /// The alert it is about.
    pub alert_id: String,
    /// The tenant.
    pub tenant_id: u64,
    /// `page` or `resolved`.
    pub kind: String,
    /// Escalation step.
    pub step: i64,
    /// Escalation round (0 first, then the repeats).
    pub round: i64,
    /// Contact id.
    pub contact: String,
    /// `email`, `sms` or `webhook`.
    pub channel: String,
    /// `pending`, `sent`, `failed` or `cancelled`.
    pub state: String,
    /// Sending attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it is (or was) due.
    pub due_at: String,
    /// When the provider accepted it.
    pub sent_at: Option<String>,
    /// The id shared by the notifications sent together as one message.
    pub message_id: Option<String>,
    /// The notification this one stands in for (its channel was down).
    pub fallback_of: Option<String>,
    /// Its last change.
    pub updated_at: String,
}

impl From<&OutboxEntry> for NotificationView {
    fn from(n: &OutboxEntry) -> NotificationView {
        NotificationView {
            id: n.notification_id.clone(),
            alert_id: n.alert_id.clone(),
            tenant_id: n.tenant_id,
            kind: n.kind.clone(),
            step: n.step,
            round: n.round,
            contact: n.contact.clone(),
            channel: n.channel.clone(),
            state: n.state.clone(),
            attempts: n.attempts,
            last_error: n.last_error.clone(),
            due_at: format_instant(n.due_at),
            sent_at: n.sent_at.map(format_instant),
            message_id: n.message_id.clone(),
            fallback_of: n.fallback_of.clone(),
            updated_at: format_instant(n.updated_at),
        }
    }
}

/// `GET /api/v1/notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NotificationList {
    /// Most recently changed first.
    pub notifications: Vec<NotificationView>,
}

/// `state` of the notification list, `failed` when absent.
fn outbox_state(asked: Option<&str>) -> Result<OutboxState, ApiError> {
    OutboxState::parse(asked.unwrap_or("failed")).ok_or_else(|| {
        ApiError::invalid_field("state", "expected pending, sent, failed or cancelled")
    })
}

/// Notifications in one state (default `failed`) of the caller's tenant (ops: of `tenant_id`,
/// or of all).
///
/// Roles: `client_admin`, `client_manager` (their own tenant), `ops` (any); not `client_user` or `service`.
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    params(
        ("state" = Option<String>, Query, description = "pending, sent, failed (the default) or cancelled"),
        ("limit" = Option<u32>, Query, description = "1 to 500 (default 100)"),
        ("tenant_id" = Option<u64>, Query, description = TENANT_FILTER_DOC),
    ),
    responses(
        (status = 200, description = "envelope with `data`: NotificationList", body = NotificationList),
        (status = 403, description = "40003 another tenant, or a role that may not see notifications"),
        TenantListRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Envelope<NotificationList>, ApiError> {
    caller.require(caller.claims.role.can_manage_alerts(), "read notifications")?;
    let asked = tenant_list(&caller, &params, outbox_state, MAX_LISTED_NOTIFICATIONS)?;
    let rows = state
        .store
        .notifications()
        .list(asked.state, asked.tenant, asked.limit)
        .await
        .map_err(store_error)?;
    Ok(Envelope::ok(NotificationList {
        notifications: rows.iter().map(NotificationView::from).collect(),
    }))
}

/// Sends a failed notification again: it becomes pending, due now (its last error stays
/// until the next attempt).
///
/// Roles: `client_admin`, `client_manager` (their own tenant's notifications), `ops` (any); not `client_user` or `service`.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/{notification_id}/retry",
    params(("notification_id" = String, Path, description = "the notification")),
    responses(
        (status = 200, description = "envelope with `data`: the notification, pending", body = NotificationView),
        (status = 400, description = "40001 the notification is not failed (`data.field` = state)"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not retry notifications"),
        (status = 404, description = "41001 no such notification (or another tenant's)"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<ApiState>,
    caller: Caller,
    Path(notification_id): Path<String>,
) -> Result<Envelope<NotificationView>, ApiError> {
    caller.require(
        caller.claims.role.can_manage_alerts(),
        "retry notifications",
    )?;
    let found = visible(&state, &caller, &notification_id).await?;
    if found.state != OutboxState::Failed.as_str() {
        return Err(not_failed(&found));
    }
    let changed = state
        .store
        .notifications()
        .retry(&notification_id)
        .await
        .map_err(store_error)?;
    // Read back either way: between the two statements the row may have moved on.
    let now = visible(&state, &caller, &notification_id).await?;
    if changed {
        Ok(Envelope::new(
            200,
            "notification queued to be sent again",
            NotificationView::from(&now),
        ))
    } else {
        Err(not_failed(&now))
    }
}

/// The notification, if it exists and the caller may see it (41001 otherwise, so ids of
/// other tenants are not confirmed).
async fn visible(
    state: &ApiState,
    caller: &Caller,
    notification_id: &str,
) -> Result<OutboxEntry, ApiError> {
    state
        .store
        .notifications()
        .get(notification_id)
        .await
        .map_err(store_error)?
        .filter(|n| caller.may_see(n.tenant_id))
        .ok_or_else(|| ApiError::not_found(format!("no notification {notification_id}")))
}

fn not_failed(n: &OutboxEntry) -> ApiError {
    ApiError::invalid_field(
        "state",
        format!(
            "notification {} is {}; only a failed notification can be retried",
            n.notification_id, n.state
        ),
    )
}

//! `/ack/{token}`: the signed link in an SMS or email that acknowledges every alert of the
//! message it came with, as contact `contact:<id>`. No login: the token is the credential
//! (see [`crate::notify::ack_token`]); requests are rate-limited per client IP like the rest.
//!
//! Opening the link (`GET`, and `HEAD`) changes nothing: mail scanners and chat link previews
//! fetch links nobody read, and an acknowledgement stops the escalation. It shows what the link
//! covers and a button; the button `POST`s to the same URL, which acknowledges (same token, same
//! checks). Links sent before this split keep working: they open the page.
//!
//! It is opened from a phone, so it answers a small self-contained HTML page (never cached, no
//! referrer, nothing loaded from anywhere, the form may post only to this origin), unless the
//! request's `Accept` prefers JSON, in which case it answers the platform envelope. Posting
//! twice is harmless: the second time says who acknowledged first.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use vigil_engine::AlertState;

use super::ack_outcome::{AckLinkResult, AckedAlert, TO_ACKNOWLEDGE};
use super::ack_page::{done_page, error_page, heading, html, preview_heading, preview_page};
use super::alerts::acknowledge as acknowledge_alert;
use super::store_error;
use super::ApiState;
use crate::auth::caller::security_event;
use crate::clock::now_ms;
use crate::http::{ApiError, Envelope};
use crate::notify::ack_token::{AckLink, LinkError};
use crate::store::Transition;
use crate::views::AlertView;

/// `code` of an expired link (HTTP 410). The platform has no code for this, so, like `/readyz`
/// while not ready, it carries the HTTP status.
pub const LINK_EXPIRED: u32 = 410;

/// The client of a link request: its address (for the rate limit and security events) and
/// whether it wants JSON.
#[derive(Debug, Clone, Copy)]
pub struct LinkClient {
    ip: IpAddr,
    json: bool,
}

impl FromRequestParts<ApiState> for LinkClient {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<LinkClient, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        Ok(LinkClient {
            ip: state.limits.client_ip(&parts.headers, peer),
            json: prefers_json(&parts.headers),
        })
    }
}

/// The refusals both methods of a link document alike.
struct LinkRefusals;

impl utoipa::IntoResponses for LinkRefusals {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        super::listing::responses(&[
            (400, "40001 the link is malformed"),
            (403, "40003 the link's signature does not match"),
            (
                404,
                "41001 notifications are not configured, or the link names no alerts",
            ),
            (410, "410 the link has expired"),
            (429, "40005 rate limited"),
            (503, "50001 store unavailable"),
        ])
    }
}

/// Shows what the link acknowledges, and a button that does it; changes nothing (`HEAD`
/// neither).
///
/// Roles: none; the signed token in the path is the credential.
#[utoipa::path(
    get,
    path = "/ack/{token}",
    tag = "ack_link",
    params(("token" = String, Path, description = "the signed token of the link")),
    responses(
        (status = 200, description = "an HTML page listing the alerts of the link and a button that POSTs to the same URL; with `Accept: application/json`, the envelope with `data`: AckLinkResult (outcome `to_acknowledge` for a firing alert). Nothing is acknowledged.", body = AckLinkResult),
        LinkRefusals,
    )
)]
pub async fn open(
    State(state): State<ApiState>,
    client: LinkClient,
    Path(token): Path<String>,
) -> Response {
    match preview_link(&state, client, &token).await {
        Ok(preview) if client.json => {
            let message = preview_summary(&preview);
            Envelope::new(200, message, preview).into_response()
        }
        Ok(preview) => html(
            StatusCode::OK,
            preview_heading(&preview),
            &preview_page(&preview),
        ),
        Err(e) if client.json => e.into_response(),
        Err(e) => error_page(e),
    }
}

/// Acknowledges the alerts of the message a signed link names.
///
/// Roles: none; the signed token in the path is the credential.
#[utoipa::path(
    post,
    path = "/ack/{token}",
    tag = "ack_link",
    params(("token" = String, Path, description = "the signed token of the link")),
    responses(
        (status = 200, description = "an HTML page listing the alerts acknowledged; with `Accept: application/json`, the envelope with `data`: AckLinkResult", body = AckLinkResult),
        LinkRefusals,
    )
)]
pub async fn acknowledge(
    State(state): State<ApiState>,
    client: LinkClient,
    Path(token): Path<String>,
) -> Response {
    match acknowledge_link(&state, client, &token).await {
        Ok(done) if client.json => {
            let message = summary(&done);
            Envelope::new(200, message, done).into_response()
        }
        Ok(done) => html(StatusCode::OK, heading(&done), &done_page(&done)),
        Err(e) if client.json => e.into_response(),
        Err(e) => error_page(e),
    }
}

/// A link that passed every check: the message, the contact and the alert ids it covers.
struct Verified {
    message_id: String,
    acked_by: String,
    alert_ids: Vec<String>,
}

/// The checks of both methods: the rate limit, the token, and a message with alerts.
async fn verify_link(
    state: &ApiState,
    client: LinkClient,
    token: &str,
) -> Result<Verified, ApiError> {
    state.limits.check_ip(client.ip).await?;
    let Some(links) = &state.links else {
        return Err(ApiError::not_found(
            "notifications are not configured, so there are no ack links",
        ));
    };
    let link = links
        .verify(token, now_ms())
        .map_err(|e| refused(e, client.ip))?;
    let AckLink {
        message_id,
        contact,
        ..
    } = link;
    let alerts = state
        .store
        .notifications()
        .message_alerts(&message_id)
        .await
        .map_err(store_error)?;
    if alerts.is_empty() {
        return Err(ApiError::not_found(
            "this link names no alerts: the message is unknown here",
        ));
    }
    Ok(Verified {
        message_id,
        acked_by: format!("contact:{contact}"),
        alert_ids: alerts.into_iter().map(|(id, _tenant)| id).collect(),
    })
}

/// What a `POST` would do, read without changing anything.
async fn preview_link(
    state: &ApiState,
    client: LinkClient,
    token: &str,
) -> Result<AckLinkResult, ApiError> {
    let link = verify_link(state, client, token).await?;
    let mut alerts = Vec::with_capacity(link.alert_ids.len());
    for alert_id in &link.alert_ids {
        // An outbox row whose alert is gone: nothing to acknowledge.
        let Some(alert) = state
            .store
            .alerts()
            .get(alert_id)
            .await
            .map_err(store_error)?
        else {
            continue;
        };
        let outcome = match alert.record.state {
            AlertState::Firing => TO_ACKNOWLEDGE,
            AlertState::Acknowledged => "already_acknowledged",
            AlertState::Resolved => "already_resolved",
            AlertState::Retracted => "retracted",
        };
        alerts.push(AckedAlert {
            outcome: outcome.into(),
            alert: AlertView::from(&alert),
        });
    }
    Ok(AckLinkResult {
        message_id: link.message_id,
        acked_by: link.acked_by,
        alerts,
    })
}

async fn acknowledge_link(
    state: &ApiState,
    client: LinkClient,
    token: &str,
) -> Result<AckLinkResult, ApiError> {
    let link = verify_link(state, client, token).await?;
    let mut done = Vec::with_capacity(link.alert_ids.len());
    for alert_id in &link.alert_ids {
        let outcome = acknowledge_alert(state, alert_id, &link.acked_by, "link").await?;
        let (outcome, alert) = match outcome {
            Transition::Changed(a) => ("acknowledged", a),
            Transition::Unchanged(a) => match a.record.state {
                AlertState::Firing | AlertState::Acknowledged => ("already_acknowledged", a),
                AlertState::Resolved => ("already_resolved", a),
                AlertState::Retracted => ("retracted", a),
            },
            // An outbox row whose alert is gone: nothing to acknowledge.
            Transition::Unknown => continue,
        };
        done.push(AckedAlert {
            outcome: outcome.into(),
            alert: AlertView::from(&alert),
        });
    }
    Ok(AckLinkResult {
        message_id: link.message_id,
        acked_by: link.acked_by,
        alerts: done,
    })
}

/// The answer to a refused token; forged and malformed ones are security events.
fn refused(e: LinkError, ip: IpAddr) -> ApiError {
    match e {
        LinkError::Malformed => {
            security_event("bad_ack_link", ip, "malformed ack link token");
            ApiError::invalid_field("token", "the link is malformed; copy the whole link")
        }
        LinkError::BadSignature => {
            security_event("bad_ack_link", ip, "ack link token with a bad signature");
            ApiError::forbidden(
                "the link's signature does not match; it was altered or is not ours",
            )
        }
        LinkError::Expired => ApiError::new(
            LINK_EXPIRED,
            "the link has expired; acknowledge the alert on the dashboard",
        ),
    }
}

fn summary(done: &AckLinkResult) -> String {
    let now = done
        .alerts
        .iter()
        .filter(|a| a.outcome == "acknowledged")
        .count();
    match (now, done.alerts.len()) {
        (_, 0) => "the alerts of this link no longer exist".into(),
        (0, _) => "already acknowledged".into(),
        (n, _) => format!("acknowledged {n} alert(s)"),
    }
}

fn preview_summary(preview: &AckLinkResult) -> String {
    match preview.to_acknowledge() {
        0 if preview.alerts.is_empty() => "the alerts of this link no longer exist".into(),
        0 => "nothing to acknowledge: already acknowledged or over".into(),
        n => format!("POST to this URL to acknowledge {n} alert(s); nothing was acknowledged yet"),
    }
}

/// Whether `Accept` ranks `application/json` above `text/html`: each takes the q of the most
/// specific range that matches it, and at equal q the one named more specifically wins (so
/// `application/json, */*` is JSON). Without `Accept`, HTML.
fn prefers_json(headers: &HeaderMap) -> bool {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ranges: Vec<(&str, &str, f32)> = accept
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let (kind, sub) = parts.next()?.trim().split_once('/')?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((kind.trim(), sub.trim(), q))
        })
        .collect();
    let quality = |kind: &str, sub: &str| {
        let mut best: Option<(u8, f32)> = None;
        for &(k, s, q) in &ranges {
            let specificity = match (k, s) {
                _ if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 3,
                _ if k.eq_ignore_ascii_case(kind) && s == "*" => 2,
                ("*", "*") => 1,
                _ => continue,
            };
            if best.is_none_or(|(b, _)| specificity > b) {
                best = Some((specificity, q));
            }
        }
        best.map_or((0.0, 0), |(specificity, q)| (q, specificity))
    };
    let ((json_q, json_specificity), (html_q, html_specificity)) =
        (quality("application", "json"), quality("text", "html"));
    json_q > html_q || (json_q == html_q && json_q > 0.0 && json_specificity > html_specificity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::escape;
    use axum::http::HeaderValue;

    fn accept(value: Option<&str>) -> bool {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        prefers_json(&h)
    }

    #[test]
    fn json_only_when_accept_prefers_it() {
        assert!(!accept(None));
        assert!(accept(Some("application/json")));
        assert!(accept(Some("application/json, text/plain, */*")));
        assert!(!accept(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!accept(Some("*/*")));
        assert!(accept(Some("text/html;q=0.5, application/json")));
        assert!(!accept(Some("application/json;q=0.4, text/*")));
    }

    #[tokio::test]
    async fn error_pages_say_what_went_wrong_with_the_status() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        for (e, status, title) in [
            (LinkError::Expired, 410, "Link expired"),
            (LinkError::BadSignature, 403, "Link not valid"),
            (LinkError::Malformed, 400, "Link malformed"),
        ] {
            let response = error_page(refused(e, ip));
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/html; charset=utf-8"
            );
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap();
            let page = String::from_utf8(body.to_vec()).unwrap();
            assert!(
                page.contains(&format!("<h1 class=\"no\">{title}</h1>")),
                "{page}"
            );
            assert!(page.contains("Nothing was acknowledged"), "{page}");
        }
    }

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}

//! The HTML pages of `/ack/{token}`: what a link covers with its button (`GET`), what was
//! acknowledged (`POST`), and why a link was refused. Small and self-contained: opened from a
//! phone, never cached, no referrer, nothing loaded from anywhere, the form posts only to this
//! origin.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::ack_outcome::{AckLinkResult, TO_ACKNOWLEDGE};
use crate::http::envelope::status_of;
use crate::http::ApiError;
use crate::notify::message::escape;
use crate::views::AlertView;

/// The `Content-Security-Policy` of every page: nothing loaded from anywhere, inline style
/// only, forms post only to this origin, never framed.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
                            form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML answer: no caching (the token is in the URL and the page shows live state), no
/// referrer (the token is in the URL), nothing loaded from anywhere, not indexed.
pub(super) fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Vigil</title><style>\
         body{{font-family:system-ui,-apple-system,sans-serif;margin:0;padding:1.5rem;\
         background:#f6f7f9;color:#1d232b}}\
         main{{max-width:32rem;margin:0 auto;background:#fff;border-radius:12px;\
         padding:1.25rem 1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}}\
         h1{{font-size:1.4rem;margin:0 0 .75rem}}ul{{padding-left:1.1rem}}\
         li{{margin:.5rem 0}}small{{color:#5b6675}}.ok{{color:#1a7f37}}.no{{color:#b42318}}\
         button{{font:inherit;font-size:1.1rem;padding:.6rem 1.2rem;border:0;border-radius:8px;\
         background:#1d4ed8;color:#fff;cursor:pointer}}\
         </style></head><body><main>{body}</main></body></html>\n",
        title = escape(title),
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    response
}

pub(super) fn heading(done: &AckLinkResult) -> &'static str {
    if done.alerts.iter().any(|a| a.outcome == "acknowledged") {
        "Acknowledged"
    } else if done.alerts.is_empty() {
        "Nothing to acknowledge"
    } else {
        "Already acknowledged"
    }
}

pub(super) fn preview_heading(preview: &AckLinkResult) -> &'static str {
    if preview.to_acknowledge() > 0 {
        "Acknowledge these alerts?"
    } else {
        "Nothing to acknowledge"
    }
}

/// One alert as a list item's text: ticket, goal, level, priority and tenant.
fn alert_line(v: &AlertView) -> String {
    format!(
        "<strong>{}</strong> {} {} <small>({}, tenant {})</small>",
        escape(&v.ticket_id),
        escape(&v.goal),
        escape(&v.level),
        escape(&v.priority),
        v.tenant_id
    )
}

/// The page of a `GET`: what the link covers and, if anything is firing, the form whose
/// button `POST`s to this same URL (no `action`: the page's own address).
pub(super) fn preview_page(preview: &AckLinkResult) -> String {
    let items: String = preview
        .alerts
        .iter()
        .map(|a| {
            let v = &a.alert;
            let state = match a.outcome.as_str() {
                TO_ACKNOWLEDGE => "<span class=\"no\">firing</span>".to_string(),
                "already_acknowledged" => format!(
                    "already acknowledged by {}",
                    escape(v.acked_by.as_deref().unwrap_or("someone"))
                ),
                "already_resolved" => "already resolved".to_string(),
                other => escape(other),
            };
            format!("<li>{}: {state}</li>", alert_line(v))
        })
        .collect();
    let action = if preview.to_acknowledge() > 0 {
        format!(
            "<form method=\"post\"><button type=\"submit\">Acknowledge</button></form>\
             <p><small>Acknowledging records it as {} and stops the escalation of these \
             alerts.</small></p>",
            escape(&preview.acked_by)
        )
    } else {
        "<p><small>Nothing here is firing any more.</small></p>".to_string()
    };
    format!(
        "<h1>{}</h1><ul>{items}</ul>{action}",
        preview_heading(preview)
    )
}

pub(super) fn done_page(done: &AckLinkResult) -> String {
    let items: String = done
        .alerts
        .iter()
        .map(|a| {
            let v = &a.alert;
            let what = alert_line(v);
            let outcome = match a.outcome.as_str() {
                "acknowledged" => "<span class=\"ok\">acknowledged</span>".to_string(),
                "already_acknowledged" => format!(
                    "already acknowledged by {}{}",
                    escape(v.acked_by.as_deref().unwrap_or("someone")),
                    v.acked_at
                        .as_deref()
                        .map(|t| format!(" at {}", escape(t)))
                        .unwrap_or_default()
                ),
                "already_resolved" => "already resolved".to_string(),
                other => escape(other),
            };
            format!("<li>{what}: {outcome}</li>")
        })
        .collect();
    format!(
        "<h1 class=\"ok\">{}</h1><ul>{items}</ul>\
         <p><small>Recorded as {}. Escalation stops for these alerts.</small></p>",
        heading(done),
        escape(&done.acked_by)
    )
}

pub(super) fn error_page(e: ApiError) -> Response {
    let status = status_of(e.code);
    let title = match status {
        StatusCode::GONE => "Link expired",
        StatusCode::FORBIDDEN => "Link not valid",
        StatusCode::BAD_REQUEST => "Link malformed",
        StatusCode::NOT_FOUND => "Nothing here",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        _ => "Not acknowledged",
    };
    let body = format!(
        "<h1 class=\"no\">{}</h1><p>{}</p><p><small>Nothing was acknowledged.</small></p>",
        escape(title),
        escape(&e.message)
    );
    let mut response = html(status, title, &body);
    if let Some(s) = e.retry_after_s {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    response
}

//! The runtime layer as one document: export, and import (checked whole, applied as a batch).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::views::ChangeResult;
use super::{apply, check_key, scope};
use crate::api::params::Params;
use crate::api::{store_error, ApiState};
use crate::auth::Caller;
use crate::http::{ApiError, Envelope};
use crate::runtime_config::center::MAX_BATCH;
use crate::runtime_config::{ChangeRequest, RuntimeKey};

/// Every runtime value in reach as one document: `{"key": value, …}` (JSON), or the same as
/// TOML with quoted keys (`format=toml`), to keep or to import elsewhere. Secrets are left
/// out (they are never shown; set them again where the document is imported).
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    get,
    path = "/api/v1/system-config/export",
    params(("format" = Option<String>, Query, description = "json (default) or toml")),
    responses(
        (status = 200, description = "the document (a download)", content_type = "application/json", body = String),
        (status = 400, description = "40001 bad format"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn export(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let reach = scope(&caller)?;
    params.only(&["format"])?;
    let layer = state.config_center.layer().await.map_err(store_error)?;
    let doc: serde_json::Map<String, Value> = layer
        .iter()
        .filter(|(k, _)| (reach.is_none() || k.tenant() == reach) && !k.is_secret())
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let (text, content_type, ext) = match params.get("format").unwrap_or("json") {
        "json" => (
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
            "application/json",
            "json",
        ),
        "toml" => (
            toml::to_string(&doc).map_err(|e| {
                ApiError::new(
                    500,
                    format!("cannot write the layer as TOML: {e}; use format=json"),
                )
            })?,
            "application/toml",
            "toml",
        ),
        _ => return Err(ApiError::invalid_field("format", "json or toml")),
    };
    let disposition = format!("attachment; filename=\"vigil-runtime-config.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

/// Sets every key of a document (as `export` writes it: JSON, or TOML with `format=toml`),
/// checked whole first and applied all or nothing, each key based on its current version.
///
/// Roles: `client_admin` (its own tenant's keys only), `ops`.
#[utoipa::path(
    post,
    path = "/api/v1/system-config/import",
    params(
        ("format" = Option<String>, Query, description = "json (default) or toml"),
        ("reason" = String, Query, description = "why (required)"),
    ),
    request_body(content = String, description = "the document", content_type = "application/json"),
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 unreadable document, bad keys or values (`data.problems`), or no reason"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 409, description = "a key changed while importing"),
        (status = 503, description = "50001 store or NATS unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn import(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    scope(&caller)?;
    params.only(&["format", "reason"])?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid_field("body", "not UTF-8 text"))?;
    let doc: serde_json::Map<String, Value> = match params.get("format").unwrap_or("json") {
        "json" => serde_json::from_str(text)
            .map_err(|e| ApiError::invalid_field("body", format!("not a JSON object: {e}")))?,
        "toml" => toml::from_str(text)
            .map_err(|e| ApiError::invalid_field("body", format!("not a TOML document: {e}")))?,
        _ => return Err(ApiError::invalid_field("format", "json or toml")),
    };
    if doc.is_empty() || doc.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "body",
            format!("import 1 to {MAX_BATCH} keys"),
        ));
    }
    let names: Vec<String> = doc
        .keys()
        .map(|k| RuntimeKey::parse(k).map_or_else(|_| k.clone(), |k| k.to_string()))
        .collect();
    let versions: std::collections::BTreeMap<String, i64> = state
        .config_center
        .store()
        .config_changes()
        .latest_of(&names)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|r| (r.key, r.version))
        .collect();
    let mut requests = Vec::with_capacity(doc.len());
    for (key, value) in doc {
        let canonical = match RuntimeKey::parse(&key) {
            Ok(k) => {
                check_key(&caller, &k)?;
                k.to_string()
            }
            Err(_) => key,
        };
        requests.push(ChangeRequest {
            expected_version: versions.get(&canonical).copied().unwrap_or(0),
            key: canonical,
            value: Some(value),
            rollback_to: None,
        });
    }
    apply(
        &state,
        &caller,
        requests,
        params.get("reason").unwrap_or(""),
    )
    .await
}

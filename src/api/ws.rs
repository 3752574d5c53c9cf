//! `GET /ws`: authenticates (header or `?token=`), checks the rate limits and connection caps,
//! and hands the upgraded socket to the hub.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};

use super::auth::authenticate;
use super::params::Params;
use super::ApiState;
use crate::http::ApiError;

/// Upgrades to the live-updates protocol.
///
/// Roles: `client_admin`, `client_manager`, `client_user` (their own tenant), `ops` (the
/// tenants it names); not `service`.
pub async fn upgrade(State(state): State<ApiState>, request: Request) -> Response {
    match admit(&state, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn admit(state: &ApiState, request: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let params = Params::from_request_parts(&mut parts, state).await?;
    params.only(&["token"])?;
    let caller = authenticate(state, &parts, params.get("token")).await?;
    caller.require(caller.claims.role.can_read(), "follow live updates")?;
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, state)
        .await
        .map_err(|e| ApiError::invalid_parameter(format!("not a WebSocket upgrade: {e}")))?;
    let client = state.hub.admit(&caller)?;
    let limit = state.hub.library_message_limit();
    Ok(upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| client.serve(socket)))
}

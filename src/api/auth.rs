//! The authenticated caller of an API request: the client IP's rate limit, then the token
//! (401 when missing, expired or forged), then the tenant's rate limit.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::ApiState;
use crate::auth::caller::security_event;
use crate::auth::{bearer_token, Caller};
use crate::http::ApiError;

/// The peer address of a request (unknown in handler tests without a socket).
fn peer(parts: &Parts) -> SocketAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0)
}

/// Authenticates a request with the bearer token, or `query_token` (WebSocket upgrades from
/// browsers, which cannot set headers).
pub async fn authenticate(
    state: &ApiState,
    parts: &Parts,
    query_token: Option<&str>,
) -> Result<Caller, ApiError> {
    let ip = state.limits.client_ip(&parts.headers, peer(parts));
    state.limits.check_ip(ip).await?;
    let token = bearer_token(&parts.headers).or(query_token);
    let claims = match token.map(|t| state.verifier.verify(t)) {
        Some(Ok(claims)) => claims,
        Some(Err(e)) => {
            security_event(
                "bad_token",
                ip,
                &format!("{e} ({} {})", parts.method, parts.uri.path()),
            );
            return Err(ApiError::unauthenticated(e.to_string()));
        }
        None => {
            return Err(ApiError::unauthenticated(
                "missing token: send Authorization: Bearer <JWT>",
            ))
        }
    };
    state.limits.check_tenant(claims.tenant_id).await?;
    Ok(Caller { claims, ip })
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, ApiError> {
        authenticate(state, parts, None).await
    }
}

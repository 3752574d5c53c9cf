//! An authenticated caller, and the checks every endpoint and WebSocket channel applies:
//! role, and tenant isolation. A refusal is a security event: logged (target `security`) and
//! counted in `vigil_security_events_total`.

use std::net::IpAddr;

use axum::http::{header, HeaderMap};
use tracing::warn;

use super::claims::Claims;
use crate::http::ApiError;
use crate::telemetry::metrics::security_events;

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Logs and counts a refused request.
pub fn security_event(kind: &'static str, ip: IpAddr, detail: &str) {
    security_events(kind).increment(1);
    warn!(target: "security", kind, client_ip = %ip, "{detail}");
}

/// A caller whose token verified.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's claims.
    pub claims: Claims,
    /// The client's address.
    pub ip: IpAddr,
}

impl Caller {
    /// Ok if `allowed` (a permission of the caller's role), else 403 naming `what` was refused.
    pub fn require(&self, allowed: bool, what: &str) -> Result<(), ApiError> {
        if allowed {
            return Ok(());
        }
        self.refuse(
            "forbidden_role",
            format!("role {} may not {what}", self.claims.role),
        )
    }

    /// Whether the caller may see `tenant_id`'s data.
    pub fn may_see(&self, tenant_id: u64) -> bool {
        self.claims.role.all_tenants() || self.claims.tenant_id == tenant_id
    }

    /// Ok if the caller may see `tenant_id`, else a 403 security event.
    pub fn check_tenant(&self, tenant_id: u64) -> Result<(), ApiError> {
        if self.may_see(tenant_id) {
            return Ok(());
        }
        self.refuse(
            "cross_tenant",
            format!(
                "tenant {} may not see tenant {tenant_id}'s data",
                self.claims.tenant_id
            ),
        )
    }

    /// The tenant a request is about: `requested` (a `tenant_id` parameter) if the caller may
    /// see it, else the caller's own. `ops` callers see every tenant and must name one.
    pub fn tenant_scope(&self, requested: Option<u64>) -> Result<u64, ApiError> {
        match requested {
            Some(t) => self.check_tenant(t).map(|()| t),
            None if self.claims.role.all_tenants() => Err(ApiError::invalid_parameter(
                "tenant_id: required with an ops token (which tenant?)",
            )
            .with_data(serde_json::json!({"field": "tenant_id", "reason": "required for ops"}))),
            None => Ok(self.claims.tenant_id),
        }
    }

    /// The tenant a list is filtered to: like [`Caller::tenant_scope`], except that an `ops`
    /// caller naming none lists every tenant (`None`).
    pub fn tenant_filter(&self, requested: Option<u64>) -> Result<Option<u64>, ApiError> {
        match requested {
            None if self.claims.role.all_tenants() => Ok(None),
            requested => self.tenant_scope(requested).map(Some),
        }
    }

    fn refuse<T>(&self, kind: &'static str, message: String) -> Result<T, ApiError> {
        security_event(
            kind,
            self.ip,
            &format!(
                "refused {} (tenant {}): {message}",
                self.claims.sub, self.claims.tenant_id
            ),
        );
        Err(ApiError::forbidden(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::http::envelope::{FORBIDDEN, INVALID_PARAMETER};

    fn caller(role: Role, tenant_id: u64) -> Caller {
        Caller {
            claims: Claims {
                sub: "u".into(),
                tenant_id,
                role,
                exp: 0,
                iat: None,
            },
            ip: IpAddr::from([127, 0, 0, 1]),
        }
    }

    #[test]
    fn clients_see_only_their_tenant_and_ops_must_name_one() {
        let user = caller(Role::ClientUser, 7);
        assert_eq!(user.tenant_scope(None), Ok(7));
        assert_eq!(user.tenant_scope(Some(7)), Ok(7));
        assert_eq!(user.tenant_scope(Some(8)).unwrap_err().code, FORBIDDEN);
        let ops = caller(Role::Ops, 0);
        assert_eq!(ops.tenant_scope(Some(8)), Ok(8));
        assert_eq!(ops.tenant_scope(None).unwrap_err().code, INVALID_PARAMETER);
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc.def".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc.def"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
    }
}

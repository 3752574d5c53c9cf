//! What the list endpoints share: the preamble of the tenant-scoped lists (alerts,
//! notifications, silences), which decides whose rows a caller may list, and the pieces of
//! their OpenAPI annotations that are the same everywhere.
//!
//! Who may see which tenant is decided here once, by [`Caller::tenant_filter`]: client roles
//! list their own tenant (naming another is a 403 security event), `ops` list the tenant they
//! name, or every tenant when they name none. Which role may call a list stays with each
//! handler (`caller.require(…)` before [`tenant_list`]), as its documentation says.

use std::collections::BTreeMap;

use utoipa::openapi::response::Response;
use utoipa::openapi::RefOr;
use utoipa::IntoResponses;

use super::params::Params;
use crate::auth::Caller;
use crate::http::ApiError;

/// The query parameters of a tenant-scoped list.
pub const TENANT_LIST_PARAMS: [&str; 3] = ["state", "limit", "tenant_id"];

/// Rows listed when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;

/// The description of a tenant-scoped list's `tenant_id` parameter.
pub const TENANT_FILTER_DOC: &str = "ops: one tenant (default all); others: only their own";

/// What a tenant-scoped list was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantList<S> {
    /// The tenant to list; `None` (an `ops` caller naming none) lists every tenant.
    pub tenant: Option<u64>,
    /// The `state` asked for, as the handler reads it.
    pub state: S,
    /// At most this many rows (`limit`, from 1 to the handler's maximum, default
    /// [`DEFAULT_LIMIT`]).
    pub limit: u32,
}

/// The preamble of a tenant-scoped list, checked in this order (the first problem answers):
/// no parameter but [`TENANT_LIST_PARAMS`] (40001), a `tenant_id` the caller may list (40001
/// when it is not a number, 403 for another tenant), `state` as `state` reads it, then
/// `limit` from 1 to `max_limit`.
pub fn tenant_list<S>(
    caller: &Caller,
    params: &Params,
    state: impl FnOnce(Option<&str>) -> Result<S, ApiError>,
    max_limit: u32,
) -> Result<TenantList<S>, ApiError> {
    params.only(&TENANT_LIST_PARAMS)?;
    let tenant = caller.tenant_filter(params.tenant_id()?)?;
    let state = state(params.get("state"))?;
    let limit = params.integer("limit", 1..=max_limit, DEFAULT_LIMIT)?;
    Ok(TenantList {
        tenant,
        state,
        limit,
    })
}

/// The refusals every tenant-scoped list documents alike: 400 (a bad parameter), 401 and 503.
/// Each list documents its own 403 (which roles it refuses).
pub struct TenantListRefusals;

impl IntoResponses for TenantListRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (400, "40001 bad parameter"),
            (401, "40004 no valid token"),
            (503, "50001 store unavailable"),
        ])
    }
}

/// The refusals every partner endpoint documents alike: 401, 403 for any token but `ops`, and
/// 503.
pub struct PartnerRefusals;

impl IntoResponses for PartnerRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (401, "40004 no valid token"),
            (
                403,
                "40003 not an ops token: partner data spans tenants (ops only)",
            ),
            (503, "50001 store unavailable"),
        ])
    }
}

/// Documented answers, by status, for an [`IntoResponses`] that several endpoints share.
pub(super) fn responses(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| (status.to_string(), Response::new(*description).into()))
        .collect()
}

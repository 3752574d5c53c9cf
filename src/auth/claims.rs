//! The claims of a Vigil token and the roles of DESIGN.md §5.

use serde::{Deserialize, Serialize};

/// A caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A tenant's administrator: reads and manages its alerts.
    ClientAdmin,
    /// A tenant's manager: reads and manages its alerts.
    ClientManager,
    /// A tenant's user: reads only.
    ClientUser,
    /// Operations staff: reads and manages every tenant.
    Ops,
    /// An upstream system: ingests events of its tenant, reads nothing.
    Service,
}

impl Role {
    /// Every role, in the order of DESIGN.md §5.
    pub const ALL: [Role; 5] = [
        Role::ClientAdmin,
        Role::ClientManager,
        Role::ClientUser,
        Role::Ops,
        Role::Service,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ClientAdmin => "client_admin",
            Role::ClientManager => "client_manager",
            Role::ClientUser => "client_user",
            Role::Ops => "ops",
            Role::Service => "service",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// May read dashboards, tickets, alerts and live updates.
    pub fn can_read(self) -> bool {
        self != Role::Service
    }

    /// May acknowledge and resolve alerts.
    pub fn can_manage_alerts(self) -> bool {
        matches!(self, Role::ClientAdmin | Role::ClientManager | Role::Ops)
    }

    /// May publish events through HTTP ingest.
    pub fn can_ingest(self) -> bool {
        self == Role::Service
    }

    /// Sees every tenant, not only its own.
    pub fn all_tenants(self) -> bool {
        self == Role::Ops
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user or system (recorded as who acknowledged or resolved an alert).
    pub sub: String,
    /// The tenant the caller belongs to.
    pub tenant_id: u64,
    /// What the caller may do.
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

//! Whose routing applies to an alert: the main file's `[notify]`, or a tenant's merged view
//! when the tenant's file has a `[notify]` of its own (see [`NotifyConfig::for_tenant`]).

use std::collections::{BTreeMap, HashMap};

use super::config::TenantNotify;
use super::NotifyConfig;

/// The routing of every tenant, built once at start.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    main: NotifyConfig,
    tenants: HashMap<u64, NotifyConfig>,
}

impl Routing {
    /// The main file's routing (with the built-in routes when it names contacts but no
    /// route, see [`NotifyConfig::with_default_routes`]), with each tenant file's `[notify]`
    /// merged in front of it.
    pub fn new(main: NotifyConfig, tenants: &BTreeMap<u64, TenantNotify>) -> Routing {
        let main = main.with_default_routes();
        let tenants = tenants
            .iter()
            .filter(|(_, own)| !own.is_empty())
            .map(|(id, own)| (*id, main.for_tenant(own)))
            .collect();
        Routing { main, tenants }
    }

    /// The main file's `[notify]` (providers, limits and delivery settings are always these).
    pub fn main(&self) -> &NotifyConfig {
        &self.main
    }

    /// The routing of `tenant`'s alerts.
    pub fn of(&self, tenant: u64) -> &NotifyConfig {
        self.tenants.get(&tenant).unwrap_or(&self.main)
    }

    /// The longest `group_interval` of any route (how long grouping state is worth keeping).
    pub fn longest_group_interval(&self) -> i64 {
        std::iter::once(&self.main)
            .chain(self.tenants.values())
            .flat_map(|c| c.routes.iter())
            .map(|r| r.group_interval.as_millis())
            .max()
            .unwrap_or(0)
    }

    /// Whether any route exists, in the main file or a tenant's.
    pub fn enabled(&self) -> bool {
        !self.main.routes.is_empty() || self.tenants.values().any(|t| !t.routes.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::Channel;

    const MAIN: &str = r#"
[smtp]
host = "127.0.0.1"
from = "vigil@example.com"

[[contacts]]
id = "alice"
email = "alice@example.com"

[[policies]]
id = "page"
steps = [{ notify = ["contact:alice"], channels = ["email"] }]

[[routes]]
policy = "page"
"#;

    const TENANT: &str = r#"
from = "sla@customer.example"

[[contacts]]
id = "alice"
email = "alice@customer.example"

[[contacts]]
id = "dan"
email = "dan@customer.example"

[[policies]]
id = "vip"
steps = [{ notify = ["contact:dan"], channels = ["email"] }]

[[routes]]
match = { priority = "CRITICAL" }
policy = "vip"
"#;

    #[test]
    fn a_tenant_file_routes_first_and_replaces_contacts_of_the_same_id() {
        let main: NotifyConfig = toml::from_str(MAIN).unwrap();
        let own: TenantNotify = toml::from_str(TENANT).unwrap();
        let routing = Routing::new(main, &BTreeMap::from([(7, own)]));
        let t = routing.of(7);
        assert_eq!(t.routes[0].policy, "vip");
        assert_eq!(t.routes[1].policy, "page");
        assert_eq!(
            t.contact("alice").and_then(|c| c.email.as_deref()),
            Some("alice@customer.example")
        );
        assert!(t.contact("dan").is_some());
        assert_eq!(
            t.smtp.as_ref().map(|s| s.from.as_str()),
            Some("sla@customer.example")
        );
        assert!(t.problems().is_empty(), "{:?}", t.problems());
        // Other tenants keep the main file's.
        let other = routing.of(8);
        assert_eq!(other.routes.len(), 1);
        assert_eq!(
            other.contact("alice").and_then(|c| c.email.as_deref()),
            Some("alice@example.com")
        );
        assert!(routing.enabled());
    }

    #[test]
    fn contacts_without_routes_get_the_default_routes() {
        let main: NotifyConfig = toml::from_str(
            r#"
[smtp]
host = "127.0.0.1"
from = "vigil@example.com"

[sms]
url = "http://127.0.0.1:9/sms"

[[contacts]]
id = "alice"
email = "alice@example.com"
phone = "+15550000001"

[[schedules]]
id = "primary"
timezone = "UTC"
rotation = ["alice"]
handover = "mon 09:00"
"#,
        )
        .unwrap();
        let routing = Routing::new(main, &BTreeMap::new());
        let c = routing.main();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let facts = |level, priority| crate::notify::escalation::AlertFacts {
            ticket_id: "T",
            level,
            goal: "response",
            priority,
            service_type: "incident",
        };
        let policy = |level, priority| {
            let route = c.route_for(&facts(level, priority)).unwrap();
            c.policy(&route.policy).unwrap().clone()
        };
        let page = policy("breach", "HIGH");
        assert_eq!(page.steps[0].channels, [Channel::Sms, Channel::Email]);
        assert_eq!(page.steps[0].notify, ["schedule:primary"]);
        assert_eq!(page.steps[0].wait.as_millis(), 300_000);
        assert_eq!(page.repeat, 1);
        assert_eq!(policy("breach", "LOW").steps[0].channels, [Channel::Email]);
        assert_eq!(
            policy("warning", "CRITICAL").steps[0].channels,
            [Channel::Email]
        );
    }
}

//! Whose routing applies to an alert: the main file's `[notify]` (with built-in routes when it
//! names contacts but no route), or a tenant's merged view when the tenant's file has a
//! `[notify]` of its own (see [`NotifyConfig::for_tenant`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use super::config::{
    default_group_interval, default_group_wait, default_wait, Channel, MatchSpec, NotifyConfig,
    OneOrMany, PolicySpec, RouteSpec, StepSpec, TenantNotify,
};

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

/// The routing in force, shared by the notifier's parts and swapped whole when the
/// configuration center changes contacts, schedules, policies or routes at run time.
#[derive(Debug, Clone, Default)]
pub struct RoutingHandle {
    current: Arc<RwLock<Arc<Routing>>>,
}

impl RoutingHandle {
    /// A handle holding `routing`.
    pub fn new(routing: Routing) -> RoutingHandle {
        RoutingHandle {
            current: Arc::new(RwLock::new(Arc::new(routing))),
        }
    }

    /// The routing in force now (keep it for one piece of work, not longer).
    pub fn load(&self) -> Arc<Routing> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `routing` in force.
    pub fn replace(&self, routing: Routing) {
        let routing = Arc::new(routing);
        match self.current.write() {
            Ok(mut guard) => *guard = routing,
            Err(poisoned) => *poisoned.into_inner() = routing,
        }
    }
}

impl NotifyConfig {
    /// The built-in routing when contacts exist but no route does: breaches of CRITICAL and
    /// HIGH page the on-call (every schedule's, or every contact without schedules) by SMS
    /// and email, again after 5 minutes if nobody acknowledged; other breaches and all
    /// warnings email them. Channels without a provider are left out.
    pub fn with_default_routes(mut self) -> NotifyConfig {
        if !self.routes.is_empty() || self.contacts.is_empty() {
            return self;
        }
        let on_call: Vec<String> = if self.schedules.is_empty() {
            self.contacts
                .iter()
                .map(|c| format!("contact:{}", c.id))
                .collect()
        } else {
            self.schedules
                .iter()
                .map(|s| format!("schedule:{}", s.id))
                .collect()
        };
        let page: Vec<Channel> = [
            (Channel::Sms, self.sms.is_some()),
            (Channel::Email, self.smtp.is_some()),
        ]
        .into_iter()
        .filter_map(|(c, on)| on.then_some(c))
        .collect();
        let email: Vec<Channel> = page
            .iter()
            .copied()
            .filter(|c| *c == Channel::Email)
            .collect();
        let mut policy = |id: &str, channels: Vec<Channel>, repeat: u32| {
            if channels.is_empty() {
                return None;
            }
            self.policies.push(PolicySpec {
                id: id.into(),
                repeat,
                steps: vec![StepSpec {
                    notify: on_call.clone(),
                    channels,
                    wait: default_wait(),
                }],
            });
            Some(id.to_string())
        };
        let breach = policy("default-page", page, 1);
        let mail = policy("default-email", email, 0);
        let route = |level: &str, priority: Option<Vec<String>>, policy: String| RouteSpec {
            matches: MatchSpec {
                level: Some(OneOrMany::One(level.into())),
                priority: priority.map(OneOrMany::Many),
                ..MatchSpec::default()
            },
            policy,
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            send_resolved: true,
        };
        if let Some(p) = breach {
            self.routes.push(route(
                "breach",
                Some(vec!["CRITICAL".into(), "HIGH".into()]),
                p,
            ));
        }
        if let Some(p) = mail {
            self.routes.push(route("breach", None, p.clone()));
            self.routes.push(route("warning", None, p));
        }
        self
    }

    /// The routing of a tenant with `own` in its file: its items first (so a problem's index
    /// in `notify.contacts[i]` is the same in the tenant file), then the main file's items whose
    /// ids it does not replace.
    pub fn for_tenant(&self, own: &TenantNotify) -> NotifyConfig {
        fn merged<T: Clone>(own: &[T], main: &[T], id: impl Fn(&T) -> &str) -> Vec<T> {
            let mut out = own.to_vec();
            out.extend(
                main.iter()
                    .filter(|m| !own.iter().any(|o| id(o) == id(m)))
                    .cloned(),
            );
            out
        }
        let mut routes = own.routes.clone();
        routes.extend(self.routes.iter().cloned());
        let mut smtp = self.smtp.clone();
        if let (Some(smtp), Some(from)) = (smtp.as_mut(), &own.from) {
            smtp.from = from.clone();
        }
        NotifyConfig {
            smtp,
            contacts: merged(&own.contacts, &self.contacts, |c| &c.id),
            schedules: merged(&own.schedules, &self.schedules, |s| &s.id),
            policies: merged(&own.policies, &self.policies, |p| &p.id),
            routes,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

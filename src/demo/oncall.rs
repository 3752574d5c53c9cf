//! The demo's on-call setup (`[notify]`, DESIGN.md §7.1): three people, a weekly rotation,
//! a paging policy that escalates within a minute, and routes with short waits, all pointed at
//! the local SMTP sink and SMS gateway.

use vigil::notify::config::{
    Channel, ChannelLimit, ContactSpec, LimitsConfig, Locale, MatchSpec, OneOrMany, PolicySpec,
    RouteSpec, SmsConfig, SmsFormat, SmtpConfig, StepSpec, TlsMode,
};
use vigil::notify::schedule::ScheduleSpec;
use vigil::notify::NotifyConfig;
use vigil::setting::ConfigDuration;

/// Where the demo's messages go: the sinks' addresses.
#[derive(Debug, Clone)]
pub struct SinkAddrs {
    /// The SMTP sink.
    pub smtp: std::net::SocketAddr,
    /// The SMS gateway's URL.
    pub sms: String,
}

/// The rotation whose on-call is paged first.
pub const SCHEDULE: &str = "primary";

/// Who a page escalates to when the on-call does not acknowledge it.
pub const ESCALATION_CONTACT: &str = "bob";

/// How long a page waits for an acknowledgement before the next step: short, so escalation is
/// seen within the demo.
pub const ESCALATE_AFTER: ConfigDuration = ConfigDuration::from_mins(1);

/// How long the first message of a group waits for others: short, so the first page comes
/// seconds after the breach.
const GROUP_WAIT: ConfigDuration = ConfigDuration::from_secs(5);

fn contact(id: &str, name: &str, phone: &str, locale: Locale, timezone: &str) -> ContactSpec {
    ContactSpec {
        id: id.into(),
        name: Some(name.into()),
        email: Some(format!("{id}@example.com")),
        phone: Some(phone.into()),
        locale,
        timezone: Some(timezone.into()),
        quiet_hours: None,
        webhook: None,
    }
}

fn step(notify: &str, channels: &[Channel]) -> StepSpec {
    StepSpec {
        notify: vec![notify.into()],
        channels: channels.to_vec(),
        wait: ESCALATE_AFTER,
    }
}

fn many(values: &[&str]) -> Option<OneOrMany> {
    Some(OneOrMany::Many(
        values.iter().map(|v| v.to_string()).collect(),
    ))
}

/// The demo's `[notify]`:
/// - Alice and Carol take turns on call (weekly, Monday 09:00 UTC); Bob, the team lead in
///   Shanghai, reads Chinese.
/// - CRITICAL and HIGH breaches page the on-call by SMS and email, then Bob after
///   [`ESCALATE_AFTER`] without an acknowledgement, then both once more.
/// - Everything else (warnings, MEDIUM and LOW breaches) emails the on-call.
/// - Limits high enough that the demo's bursts go out within a minute, with SMS still folded
///   (a burst of two, then one every 30 s per person).
pub fn notify_config(sinks: &SinkAddrs, public_url: Option<String>) -> NotifyConfig {
    use Channel::{Email, Sms};
    let schedule = format!("schedule:{SCHEDULE}");
    let escalation = format!("contact:{ESCALATION_CONTACT}");
    NotifyConfig {
        smtp: Some(SmtpConfig {
            host: sinks.smtp.ip().to_string(),
            port: sinks.smtp.port(),
            tls: TlsMode::None,
            from: "Vigil demo <vigil@example.com>".into(),
            username: None,
            password_env: None,
        }),
        sms: Some(SmsConfig {
            url: sinks.sms.clone(),
            format: SmsFormat::Json,
            auth_header_env: None,
        }),
        contacts: vec![
            contact(
                "alice",
                "Alice Martin",
                "+447700900123",
                Locale::En,
                "Europe/London",
            ),
            contact(
                "carol",
                "Carol Diaz",
                "+14155550143",
                Locale::En,
                "America/Los_Angeles",
            ),
            contact(
                ESCALATION_CONTACT,
                "Bob Wang 王伟",
                "+8613800138000",
                Locale::ZhCn,
                "Asia/Shanghai",
            ),
        ],
        schedules: vec![ScheduleSpec {
            id: SCHEDULE.into(),
            timezone: "UTC".into(),
            rotation: vec!["alice".into(), "carol".into()],
            handover: "mon 09:00".into(),
            start: None,
            overrides: Vec::new(),
        }],
        policies: vec![
            PolicySpec {
                id: "page".into(),
                repeat: 1,
                steps: vec![
                    step(&schedule, &[Sms, Email]),
                    step(&escalation, &[Sms, Email]),
                ],
            },
            PolicySpec {
                id: "notice".into(),
                repeat: 0,
                steps: vec![step(&schedule, &[Email])],
            },
        ],
        routes: vec![
            RouteSpec {
                matches: MatchSpec {
                    level: many(&["breach"]),
                    priority: many(&["CRITICAL", "HIGH"]),
                    ..MatchSpec::default()
                },
                policy: "page".into(),
                group_wait: GROUP_WAIT,
                group_interval: ConfigDuration::from_secs(30),
                send_resolved: true,
            },
            RouteSpec {
                matches: MatchSpec::default(),
                policy: "notice".into(),
                group_wait: GROUP_WAIT,
                group_interval: ConfigDuration::from_mins(1),
                send_resolved: false,
            },
        ],
        public_url,
        limits: LimitsConfig {
            sms: ChannelLimit {
                per_minute: 4,
                per_hour: 120,
            },
            email: ChannelLimit {
                per_minute: 30,
                per_hour: 600,
            },
            ..LimitsConfig::default()
        },
        ..NotifyConfig::default()
    }
}

/// Who a message went to, by phone number or email address: the contact's name.
pub fn name_of<'a>(config: &'a NotifyConfig, address: &str) -> Option<&'a str> {
    config
        .contacts
        .iter()
        .find(|c| c.phone.as_deref() == Some(address) || c.email.as_deref() == Some(address))
        .and_then(|c| c.name.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NotifyConfig {
        let sinks = SinkAddrs {
            smtp: "127.0.0.1:2525".parse().expect("address"),
            sms: "http://127.0.0.1:9000/sms".into(),
        };
        notify_config(&sinks, Some("http://127.0.0.1:8080".into()))
    }

    #[test]
    fn the_demo_notify_config_passes_check_config() {
        assert_eq!(config().problems(), Vec::new());
    }

    #[test]
    fn critical_breaches_page_by_sms_and_escalate_within_minutes() {
        let config = config();
        let policy = config.policy("page").expect("page policy");
        let pages = config.escalation(policy, 0);
        assert_eq!(pages.len(), 4);
        assert!(pages[0].channels.contains(&Channel::Sms));
        assert_eq!(pages[1].contacts, [ESCALATION_CONTACT]);
        assert!(pages[1].after_ms <= 60_000, "{}", pages[1].after_ms);
        assert!(["alice", "carol"].contains(&pages[0].contacts[0].as_str()));
    }

    #[test]
    fn names_are_found_by_phone_and_email() {
        let config = config();
        assert_eq!(name_of(&config, "+8613800138000"), Some("Bob Wang 王伟"));
        assert_eq!(name_of(&config, "alice@example.com"), Some("Alice Martin"));
        assert_eq!(name_of(&config, "+1"), None);
    }
}

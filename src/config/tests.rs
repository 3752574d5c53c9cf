use std::path::{Path, PathBuf};

use super::*;
use crate::setting::ConfigDuration;

/// Writes `main` as `vigil.toml` and each `(name, text)` under `tenants/` in a temp dir.
fn write(main: &str, tenants: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, main).unwrap();
    if !tenants.is_empty() {
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
    }
    for (name, text) in tenants {
        std::fs::write(dir.path().join("tenants").join(name), text).unwrap();
    }
    (dir, path)
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn problems(main: &str, tenants: &[(&str, &str)], vars: &[(&str, &str)]) -> Vec<String> {
    let (_dir, path) = write(main, tenants);
    let errs = load_with_env(Some(&path), env(vars)).expect_err("should fail");
    let dir = path.parent().unwrap().display().to_string();
    errs.iter()
        .map(|p| p.to_string().replace(&dir, "DIR"))
        .collect()
}

fn assert_has(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.starts_with(expected)),
        "no problem starting with {expected:?} in {problems:#?}"
    );
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let (_dir, path) = write("", &[]);
    let loaded = load_with_env(Some(&path), env(&[])).unwrap();
    let c = loaded.config;
    assert_eq!(c.nats.url, "nats://127.0.0.1:4222");
    assert_eq!(c.nats.stream, "VIGIL_EVENTS");
    assert_eq!(c.nats.partitions, 16);
    assert_eq!(c.nats.retention.as_millis(), 35 * 86_400_000);
    assert_eq!(c.store.url, "sqlite://data/vigil.db");
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.engine.allowed_lateness.as_millis(), 300_000);
    assert_eq!(c.engine.clock, ClockMode::Wall);
    assert_eq!(c.cluster.instance, 0);
    assert_eq!(c.cluster.instances, 1);
    assert_eq!(c.cluster.name, "");
    assert_eq!(c.cluster.lease_ttl.as_millis(), 10_000);
    assert_eq!(c.cluster.lease_replicas, 1);
    assert_eq!(c.nats.replicas, 1);
    // Event ids are remembered as long as the stream keeps events.
    assert_eq!(c.engine.dedupe_window.as_millis(), 0);
    assert_eq!(c.engine_settings().dedupe_window_ms, 35 * 86_400_000);
    assert_eq!(c.metrics.tenant_labels, 100);
    assert_eq!(c.tenants.policies_dir, Path::new("tenants"));
    assert!(c.tenant_policies.is_empty());
    let book = c.policy_book().unwrap();
    let v = book.initial(1);
    assert_eq!(v.priorities.len(), 4);
}

/// A secret `vigil run` accepts.
const STRONG: &str = "unit-tests-only-hs256-secret-0123456789abcdef";

#[test]
fn the_shipped_configuration_is_valid_once_a_secret_is_set() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
    // Its placeholder secret is the one problem.
    let refused = check_config_with_env(&path, env(&[])).expect_err("the placeholder is refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].field, "auth.jwt_secret");
    assert!(refused[0].line.is_some(), "{refused:?}");
    let report = check_config_with_env(&path, env(&[("VIGIL__AUTH__JWT_SECRET", STRONG)]))
        .unwrap_or_else(|p| {
            panic!(
                "{}",
                p.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    assert!(report.contains("[policy.default]"), "{report}");
    assert!(report.contains("[policy.12345]"), "{report}");
    assert!(report.contains("[policy.23456"), "{report}");
    assert!(report.contains("calendar = \"business\""), "{report}");
    assert!(report.contains("jwt_secret = \"***\""), "{report}");
    assert!(!report.contains(STRONG), "{report}");
    // Tools that do not serve clients load it as it is.
    let config = VigilConfig::load(&path).unwrap();
    assert_eq!(config.tenant_policies.len(), 2);
    assert!(config.calendars.contains_key("business"));
}

#[test]
fn the_dedupe_window_can_be_shorter_than_the_stream() {
    let (_dir, path) = write("[engine]\ndedupe_window = \"6h\"\n", &[]);
    let c = load_with_env(Some(&path), env(&[])).unwrap().config;
    assert_eq!(c.engine_settings().dedupe_window_ms, 6 * 3_600_000);
    assert_eq!(c.engine_settings().final_retention_ms, 35 * 86_400_000);
}

#[test]
fn the_environment_overrides_the_file() {
    let (_dir, path) = write(
        "[nats]\nurl = \"nats://file:4222\"\n[engine]\nclock = \"wall\"\n",
        &[],
    );
    let loaded = load_with_env(
        Some(&path),
        env(&[
            ("VIGIL__NATS__URL", "nats://env:4222"),
            ("VIGIL__NATS__PARTITIONS", "32"),
            ("VIGIL__ENGINE__CLOCK", "event"),
            ("VIGIL__ENGINE__ALLOWED_LATENESS", "90s"),
            ("VIGIL__STORE__URL", "postgres://u:p@db/vigil"),
            ("VIGIL__AUTH__JWT_SECRET", "12345"),
            ("VIGIL__CLUSTER__NAME", "node-b"),
            ("VIGIL__SLA__TARGETS__HIGH__RESPONSE", "60"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    let c = &loaded.config;
    assert_eq!(c.nats.url, "nats://env:4222");
    assert_eq!(c.nats.partitions, 32);
    assert_eq!(c.engine.clock, ClockMode::Event);
    assert_eq!(c.engine.allowed_lateness.as_millis(), 90_000);
    assert_eq!(c.store.url, "postgres://u:p@db/vigil");
    assert_eq!(c.auth.jwt_secret, "12345");
    assert_eq!(c.cluster.name, "node-b");
    let high = &c.sla.targets["HIGH"];
    assert_eq!(high.response.map(|d| d.0), Some(3_600_000));
    let book = c.policy_book().unwrap();
    let v = book.initial(9);
    let high = v.priority_index("HIGH").unwrap();
    assert_eq!(
        v.targets(vigil_engine::policy::RULES_BASE, high),
        Some([3_600_000, 86_400_000])
    );
}

#[test]
fn an_unknown_key_is_reported_with_its_line() {
    let p = problems(
        "[nats]\nurl = \"nats://h:4222\"\nurll = \"x\"\n\n[sla]\ncalender = \"24x7\"\n",
        &[],
        &[],
    );
    assert_has(&p, "DIR/vigil.toml:3: nats.urll: unknown key");
    assert_has(&p, "DIR/vigil.toml:6: sla.calender: unknown key");
    assert_eq!(p.len(), 2, "{p:#?}");
}

#[test]
fn an_unknown_section_and_an_unknown_env_key_are_reported() {
    let p = problems("[natz]\nurl = \"x\"\n", &[], &[("VIGIL__NATS__BOGUS", "1")]);
    assert_has(&p, "DIR/vigil.toml:1: natz: unknown key");
    assert_has(
        &p,
        "environment variable VIGIL__NATS__BOGUS: nats.bogus: unknown key",
    );
}

#[test]
fn a_bad_duration_is_reported_with_its_line() {
    let p = problems(
        "[engine]\n\nallowed_lateness = \"5 minutes\"\n[sla.targets]\nHIGH = { response = \"soon\" }\n",
        &[],
        &[],
    );
    assert_has(
        &p,
        "DIR/vigil.toml:3: engine.allowed_lateness: not a duration",
    );
    assert_has(
        &p,
        "DIR/vigil.toml:5: sla.targets.HIGH.response: not a duration",
    );
}

#[test]
fn a_syntax_error_is_reported_with_its_line() {
    let p = problems("[nats]\nurl = \"unterminated\n", &[], &[]);
    assert_eq!(p.len(), 1);
    assert_has(&p, "DIR/vigil.toml:2: (syntax):");
}

#[test]
fn every_problem_is_reported_at_once() {
    let main = r#"
[sla]
warn_at = [0.8, 1.5]

[calendars.business]
timezone = "Mars/Olympus"
hours = { mon = "09:00-18:00" }

[nats]
partitions = "many"

[engine]
clock = "sundial"
allowed_lateness = "soon"

[cluster]
name = "two words"
lease_ttl = "1s"

[http]
listen = "not an address"
"#;
    let tenants = [
        (
            "777.toml",
            "[policy]\ncalendar = \"nope\"\n[policy.targets]\nHIGH = { response = -5 }\n",
        ),
        ("888.toml", "[policy]\ncolour = \"red\"\n"),
        ("acme.toml", "[policy]\n"),
    ];
    let p = problems(main, &tenants, &[("VIGIL__STORE__URL", "mysql://x")]);
    assert_has(&p, "DIR/vigil.toml:10: nats.partitions: invalid type");
    assert_has(
        &p,
        "DIR/vigil.toml:13: engine.clock: unknown variant `sundial`",
    );
    assert_has(
        &p,
        "DIR/vigil.toml:14: engine.allowed_lateness: not a duration",
    );
    assert_has(&p, "DIR/vigil.toml:17: cluster.name: use at most 64");
    assert_has(
        &p,
        "DIR/vigil.toml:18: cluster.lease_ttl: must be between 3s and 5m",
    );
    let replicas = problems(
        "[nats]\nreplicas = 7\n[cluster]\nlease_replicas = 0\n",
        &[],
        &[],
    );
    assert_has(
        &replicas,
        "DIR/vigil.toml:2: nats.replicas: must be between 1 and 5",
    );
    assert_has(
        &replicas,
        "DIR/vigil.toml:4: cluster.lease_replicas: must be between 1 and 5",
    );
    let servers = problems(
        "[nats]\nurl = \"nats://127.0.0.1:4222,,nats://127.0.0.1:4223\"\n",
        &[],
        &[],
    );
    assert_has(
        &servers,
        "DIR/vigil.toml:2: nats.url: server 2 of the comma-separated list is empty",
    );
    assert_has(&p, "DIR/vigil.toml:21: http.listen:");
    assert_has(
        &p,
        "environment variable VIGIL__STORE__URL: store.url: expected sqlite://",
    );
    assert_has(&p, "DIR/tenants/777.toml:4: policy.targets.HIGH.response:");
    assert_has(&p, "DIR/tenants/888.toml:2: policy.colour: unknown key");
    assert_has(&p, "DIR/tenants/acme.toml: (file name):");
    assert_has(&p, "DIR/vigil.toml:3: sla.warn_at");
    assert_has(&p, "DIR/vigil.toml:6: calendars.business.timezone");
    assert_has(
        &p,
        "DIR/tenants/777.toml:2: policy.calendar: unknown calendar \"nope\"",
    );
}

#[test]
fn a_missing_file_is_one_problem() {
    let errs = load_with_env(Some(Path::new("/nonexistent/vigil.toml")), env(&[])).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0]
        .to_string()
        .starts_with("/nonexistent/vigil.toml: (file): cannot read"));
}

#[test]
fn durations_print_in_their_largest_unit() {
    assert_eq!(ConfigDuration::from_days(35).to_string(), "35d");
    assert_eq!(ConfigDuration::parse("90s").unwrap().to_string(), "90s");
    assert_eq!(ConfigDuration::parse("1h30m").unwrap().to_string(), "90m");
    assert_eq!(
        ConfigDuration::parse("1500ms").unwrap().to_string(),
        "1500ms"
    );
}

#[test]
fn env_values_read_as_toml_or_text() {
    use toml::Value;
    assert_eq!(env::parse_value("32"), Value::Integer(32));
    assert_eq!(env::parse_value("true"), Value::Boolean(true));
    assert_eq!(
        env::parse_value("nats://a:1,nats://b:2"),
        Value::String("nats://a:1,nats://b:2".into())
    );
    assert_eq!(
        env::parse_value("2026-01-01"),
        Value::String("2026-01-01".into())
    );
    assert_eq!(env::parse_value("\"42\""), Value::String("42".into()));
}

#[test]
fn live_update_settings_are_checked_with_their_line() {
    let p = problems(
        "[ws]\nping_interval = \"30s\"\nidle_timeout = \"10s\"\nclient_queue = 0\n\n[http]\nrate_limit_per_ip = -1\n",
        &[],
        &[],
    );
    assert_has(
        &p,
        "DIR/vigil.toml:3: ws.idle_timeout: must be longer than ws.ping_interval",
    );
    assert_has(&p, "DIR/vigil.toml:4: ws.client_queue: must be at least 1");
    assert_has(&p, "DIR/vigil.toml:7: http.rate_limit_per_ip");
}

#[test]
fn notification_routing_problems_name_their_line() {
    let p = problems(
        "[[notify.contacts]]\nid = \"alice\"\nemail = \"a@example.com\"\n\n[[notify.routes]]\npolicy = \"missing\"\n",
        &[],
        &[],
    );
    assert_has(
        &p,
        "DIR/vigil.toml:6: notify.routes[0].policy: no policy \"missing\"",
    );
}

#[test]
fn a_tenant_files_routing_problems_name_the_tenant_file_and_line() {
    let main = "[[notify.contacts]]\nid = \"alice\"\nemail = \"a@example.com\"\n";
    let tenant = "[notify]\nfrom = \"sla@customer.example\"\n\n[[notify.contacts]]\nid = \"dan\"\nphone = \"12345\"\n\n[[notify.routes]]\npolicy = \"vip\"\n";
    let p = problems(main, &[("7.toml", tenant)], &[]);
    assert_has(
        &p,
        "DIR/tenants/7.toml:6: notify.contacts[0].phone: \"12345\" is not an E.164 number",
    );
    assert_has(
        &p,
        "DIR/tenants/7.toml:9: notify.routes[0].policy: no policy \"vip\"",
    );
    // The main file is fine and not blamed.
    assert!(p.iter().all(|l| !l.starts_with("DIR/vigil.toml")), "{p:#?}");
}

#[test]
fn a_tenant_file_may_route_to_the_main_files_contacts() {
    let main = "[notify.smtp]\nhost = \"127.0.0.1\"\nfrom = \"v@example.com\"\n\n[[notify.contacts]]\nid = \"alice\"\nemail = \"a@example.com\"\n";
    let tenant = "[[notify.policies]]\nid = \"vip\"\nsteps = [{ notify = [\"contact:alice\"], channels = [\"email\"] }]\n\n[[notify.routes]]\npolicy = \"vip\"\n";
    let (_dir, path) = write(main, &[("7.toml", tenant)]);
    let loaded = load_with_env(Some(&path), env(&[])).unwrap();
    let routing =
        crate::notify::Routing::new(loaded.config.notify.clone(), &loaded.config.tenant_notify);
    assert!(routing.enabled());
    assert_eq!(routing.of(7).routes[0].policy, "vip");
    // The main file names contacts but no route: other tenants get the built-in routes, and
    // tenant 7 gets them after its own.
    assert_eq!(routing.of(8).routes[0].policy, "default-page");
    assert_eq!(routing.of(7).routes[1].policy, "default-page");
}

#[test]
fn a_claim_too_short_to_renew_is_refused_with_its_line() {
    let p = problems(
        "[notify.delivery]\nbatch = 2000\nclaim_timeout = \"500ms\"\n",
        &[],
        &[],
    );
    assert_has(
        &p,
        "DIR/vigil.toml:3: notify.delivery.claim_timeout: must be at least 1 s: a round's claim \
         is renewed every third of it",
    );
    let p = problems(
        "[notify.delivery]\nbatch = 2000\n",
        &[],
        &[("VIGIL__NOTIFY__DELIVERY__CLAIM_TIMEOUT", "\"0s\"")],
    );
    assert!(
        p.iter()
            .any(|p| p.contains("notify.delivery.claim_timeout: must be at least 1 s")),
        "{p:#?}"
    );
}

#[test]
fn a_weak_secret_is_a_problem_only_when_serving() {
    let (_dir, path) = write("[auth]\njwt_secret = \"secret\"\n", &[]);
    assert!(load_with_env(Some(&path), env(&[])).is_ok());
    let p = load::load_for(Some(&path), env(&[]), load::Purpose::Serve).unwrap_err();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        (p[0].line, p[0].field.as_str()),
        (Some(2), "auth.jwt_secret")
    );
    let strong = [("VIGIL__AUTH__JWT_SECRET", STRONG)];
    assert!(load::load_for(Some(&path), env(&strong), load::Purpose::Serve).is_ok());
}

#[test]
fn the_retired_forwarded_for_switch_is_one_clear_problem() {
    let p = problems("[http]\ntrust_forwarded_for = true\n", &[], &[]);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_has(
        &p,
        "DIR/vigil.toml:2: http.trust_forwarded_for: no longer supported",
    );
    assert!(p[0].contains("http.trusted_proxies"), "{}", p[0]);
    let p = problems("", &[], &[("VIGIL__HTTP__TRUST_FORWARDED_FOR", "true")]);
    assert_has(
        &p,
        "environment variable VIGIL__HTTP__TRUST_FORWARDED_FOR: http.trust_forwarded_for: no longer supported",
    );
}

#[test]
fn http_hardening_settings_are_read_and_checked() {
    let (_dir, path) = write(
        "[http]\nmetrics_listen = \"127.0.0.1:9090\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nheader_read_timeout = \"5s\"\n",
        &[],
    );
    let c = load_with_env(Some(&path), env(&[])).unwrap().config;
    assert_eq!(
        c.http.metrics_listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );
    assert_eq!(c.http.trusted_proxies.len(), 2);
    assert_eq!(c.http.header_read_timeout.as_millis(), 5000);
    assert_eq!(c.http.request_timeout.as_millis(), 30_000);

    let p = problems(
        "[http]\nlisten = \"127.0.0.1:8080\"\nmetrics_listen = \"127.0.0.1:8080\"\ntrusted_proxies = [\"10.0.0.0/40\"]\nrequest_timeout = \"0s\"\n[auth]\njwt_audience = \"\"\n",
        &[],
        &[],
    );
    assert_has(
        &p,
        "DIR/vigil.toml:3: http.metrics_listen: must differ from http.listen",
    );
    assert_has(&p, "DIR/vigil.toml:4: http.trusted_proxies[0]: ");
    assert_has(
        &p,
        "DIR/vigil.toml:5: http.request_timeout: must be longer than zero",
    );
    assert_has(&p, "DIR/vigil.toml:7: auth.jwt_audience: must not be empty");
}

#[test]
fn a_tenants_report_settings_load_and_bad_ones_are_named_with_their_line() {
    let good = "[report]\nlanguage = \"zh-CN\"\ntimezone = \"Asia/Shanghai\"\n";
    let (_dir, path) = write("[reports]\nmax_queued = 5\n", &[("7.toml", good)]);
    let c = load_with_env(Some(&path), env(&[])).unwrap().config;
    assert_eq!(c.reports.max_queued, 5);
    assert_eq!(c.reports.retention.as_millis(), 400 * 86_400_000);
    let t = &c.tenant_reports[&7];
    assert_eq!(
        (t.language, t.timezone.as_str()),
        (crate::report::Language::ZhCn, "Asia/Shanghai")
    );
    let bad = "[policy]\n\n[report]\nlanguage = \"fr\"\ntimezone = \"Mars/Base\"\n";
    let p = problems("[reports]\nworkers = -1\n", &[("8.toml", bad)], &[]);
    assert_has(&p, "DIR/vigil.toml:2: reports.workers:");
    assert_has(&p, "DIR/tenants/8.toml:4: report.language:");
    assert_has(
        &p,
        "DIR/tenants/8.toml:5: report.timezone: unknown time zone \"Mars/Base\"",
    );
}

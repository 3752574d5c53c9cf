use crate::config::{check_config_with_env, load_with_env};

use super::*;

const DESIGN: &str = r#"
[[partners]]
id = "exchange-a"
base_url = "https://exchange-a.example.com/api"
tenants = [12345, 12346]
timezone = "Asia/Shanghai"
reconcile_at = "02:00"
timeout = "5s"
retries = 3
rate_limit = { per_second = 50, burst = 10 }
breaker = { failure_rate = 0.5, window = 20, open_for = "30s", half_open_calls = 3 }
page_size = 500
auth = { kind = "hmac", key_id = "vigil", secret_env = "EXCHANGE_A_SECRET" }
mapping = { record_id = "id", ticket_id = "ticket_no", outcome = "result" }
masking = { assignee_id = "first:2,last:2" }

[[partners]]
id = "exchange-b"
base_url = "http://127.0.0.1:9100"
"#;

/// The problems of a main file holding `text`, with the temp dir as `DIR`.
fn problems_of(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, text).expect("write");
    let errs = load_with_env(Some(&path), Vec::new()).expect_err("should fail");
    let shown = dir.path().display().to_string();
    errs.iter()
        .map(|p| p.to_string().replace(&shown, "DIR"))
        .collect()
}

#[test]
fn the_design_example_passes_and_is_summarised() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, DESIGN).expect("write");
    let secret = ("VIGIL__AUTH__JWT_SECRET".to_string(), "x".repeat(48));
    let report = check_config_with_env(&path, vec![secret]).unwrap_or_else(|p| {
        panic!("{p:#?}");
    });
    assert!(
        report.contains(
            "# partner exchange-a: exchange-a.example.com, tenants 12345, 12346, \
             tz Asia/Shanghai, reconcile 02:00, rate 50/s burst 10, auth hmac\n"
        ),
        "{report}"
    );
    assert!(
        report.contains(
            "# partner exchange-b: 127.0.0.1, tenants *, tz UTC, reconcile 02:00, \
             rate unlimited, auth none\n"
        ),
        "{report}"
    );
    let loaded = load_with_env(Some(&path), Vec::new()).expect("valid");
    let a = &loaded.config.partners[0];
    assert!(a.serves(12346) && !a.serves(1));
    assert!(loaded.config.partners[1].serves(1));
    assert_eq!(
        a.reconcile_time(),
        Some(ReconcileAt::At(jiff::civil::time(2, 0, 0, 0)))
    );
}

#[test]
fn bad_partners_are_reported_at_their_line_and_field() {
    let text = r#"
[[partners]]
id = "a b"
base_url = "ftp://x"
tenants = [0, "all"]
timezone = "Mars/Olympus"
reconcile_at = "24:00"
timeout = "0s"
rate_limit = { per_second = 0, burst = 0 }
breaker = { failure_rate = 1.5, window = 0, open_for = "0s", half_open_calls = 0 }
page_size = 10001
concurrency = 0
auth = { kind = "api_key", header = "X Key", key_env = "" }
mapping = { record_id = "id", ticket_id = "id", ticket = "t" }
masking = { stopped_at = "all", assignee_id = "middle:2" }

[[partners]]
id = "b"
base_url = "https://b.example.com/api?x=1"
tenants = ["*", 5]
auth = { kind = "oauth2", token_url = "not a url", client_id = "", client_secret_env = "S" }

[[partners]]
id = "b"
base_url = "https://b.example.com"
retry_delay = "10m"
auth = { kind = "hmac", key_id = "vigil", secret_env = "S", headers = { nonce = "X-Key-Id" } }
"#;
    let got = problems_of(text);
    let expected = [
        "DIR/vigil.toml:3: partners[0].id: \"a b\" is not an id",
        "DIR/vigil.toml:4: partners[0].base_url: \"ftp://x\" is not an http:// or https:// URL",
        "DIR/vigil.toml:5: partners[0].tenants: tenant ids are positive",
        "DIR/vigil.toml:5: partners[0].tenants: \"all\" is neither a tenant id nor \"*\"",
        "DIR/vigil.toml:6: partners[0].timezone: unknown time zone \"Mars/Olympus\"",
        "DIR/vigil.toml:7: partners[0].reconcile_at: \"24:00\" is neither",
        "DIR/vigil.toml:8: partners[0].timeout: must be longer than zero",
        "DIR/vigil.toml:9: partners[0].rate_limit.per_second: must be at least 1",
        "DIR/vigil.toml:9: partners[0].rate_limit.burst: must be at least 1",
        "DIR/vigil.toml:10: partners[0].breaker.failure_rate: 1.5 is not a share",
        "DIR/vigil.toml:10: partners[0].breaker.window: must be at least 1",
        "DIR/vigil.toml:10: partners[0].breaker.half_open_calls: must be at least 1",
        "DIR/vigil.toml:10: partners[0].breaker.open_for: must be longer than zero",
        "DIR/vigil.toml:11: partners[0].page_size: must be from 1 to 10000",
        "DIR/vigil.toml:12: partners[0].concurrency: must be from 1 to 1024",
        "DIR/vigil.toml:13: partners[0].auth.key_env: \"\" is not an environment variable name",
        "DIR/vigil.toml:13: partners[0].auth.header: \"X Key\" is not an HTTP header name",
        "DIR/vigil.toml:14: partners[0].mapping.ticket: not a record field",
        "DIR/vigil.toml:14: partners[0].mapping.ticket_id: record_id and ticket_id would both be sent as \"id\"",
        "DIR/vigil.toml:15: partners[0].masking.stopped_at: cannot be masked",
        "DIR/vigil.toml:15: partners[0].masking.assignee_id: \"middle:2\" is not a masking rule",
        "DIR/vigil.toml:19: partners[1].base_url: \"https://b.example.com/api?x=***\" has a query",
        "DIR/vigil.toml:20: partners[1].tenants: \"*\" already takes every tenant",
        "DIR/vigil.toml:21: partners[1].auth.token_url: \"not a url\" is not a URL",
        "DIR/vigil.toml:21: partners[1].auth.client_id: must not be empty",
        "DIR/vigil.toml:24: partners[2].id: \"b\" is used twice",
        "DIR/vigil.toml:26: partners[2].retry_delay: must not be longer than max_retry_delay (5m)",
        "DIR/vigil.toml:27: partners[2].auth.headers.nonce: \"X-Key-Id\" is used for two headers",
    ];
    for want in expected {
        assert!(
            got.iter().any(|p| p.starts_with(want)),
            "no problem starting with {want:?} in {got:#?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
}

#[test]
fn reconcile_times_are_strict() {
    for (text, want) in [
        ("00:00", Some("00:00")),
        ("23:59", Some("23:59")),
        ("02:00", Some("02:00")),
        ("off", Some("off")),
        ("24:00", None),
        ("12:60", None),
        ("2:00", None),
        ("02:00:00", None),
        ("0a:00", None),
        ("Off", None),
        ("", None),
        ("+1:00", None),
    ] {
        assert_eq!(
            ReconcileAt::parse(text).map(|r| r.to_string()).as_deref(),
            want,
            "{text:?}"
        );
    }
}

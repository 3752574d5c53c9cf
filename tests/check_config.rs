//! `vigil check-config` (DESIGN.md §4, STYLE.md 5): every problem at once as
//! `file:line: field: message` and a non-zero exit; a valid configuration prints the effective
//! policy of every tenant.

mod support;

use std::path::Path;

use support::*;

#[test]
fn every_problem_is_reported_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        "\
# two problems, on lines 6 and 9
[sla]
warn_at = [0.8]

[nats]
urll = \"nats://127.0.0.1:4222\"

[engine]
allowed_lateness = \"5 minutes\"
",
    )
    .unwrap();
    let path = config.to_str().unwrap();

    let run = check_with_secret(dir.path(), &["--config", path]);

    assert!(!run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "", "no report for a broken configuration");
    let problems: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with(path)).collect();
    assert_eq!(problems.len(), 2, "{}", run.stderr);
    assert!(
        problems[0].starts_with(&format!("{path}:6: nats.urll: ")),
        "{}",
        run.stderr
    );
    assert!(
        problems[1].starts_with(&format!("{path}:9: engine.allowed_lateness: ")),
        "{}",
        run.stderr
    );
    // Each says what is wrong, not just where.
    for p in &problems {
        let message = p.splitn(3, ": ").nth(2).unwrap_or_default();
        assert!(message.len() > 5, "no message in {p:?}");
    }
}

#[test]
fn a_bad_environment_override_is_reported_with_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, "[engine]\nallowed_lateness = \"5m\"\n").unwrap();
    let run: Run = vigil(dir.path())
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env("VIGIL__ENGINE__ALLOWED_LATENESS", "soon")
        .output()
        .unwrap()
        .into();
    assert!(!run.status.success(), "{run:?}");
    assert!(
        run.stderr.lines().any(|l| l.starts_with(
            "environment variable VIGIL__ENGINE__ALLOWED_LATENESS: engine.allowed_lateness: "
        )),
        "{}",
        run.stderr
    );
}

/// `vigil check-config <args>` in `cwd` with a production JWT secret in the environment.
fn check_with_secret(cwd: &Path, args: &[&str]) -> Run {
    vigil(cwd)
        .arg("check-config")
        .args(args)
        .env("VIGIL__AUTH__JWT_SECRET", TEST_JWT_SECRET)
        .output()
        .expect("cannot run vigil")
        .into()
}

#[test]
fn the_shipped_config_is_refused_only_for_its_placeholder_secret() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = run_vigil(
        root,
        &["check-config", "--config", "config/vigil.toml"],
        None,
    );
    assert!(!run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "", "no report while a problem remains");
    let text = std::fs::read_to_string(root.join("config/vigil.toml")).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("jwt_secret = "))
        .expect("the shipped config names jwt_secret")
        + 1;
    let problems: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("config/"))
        .collect();
    assert_eq!(problems.len(), 1, "only the secret: {}", run.stderr);
    let p = problems[0];
    assert!(
        p.starts_with(&format!("config/vigil.toml:{line}: auth.jwt_secret: ")),
        "{p}"
    );
    for hint in [
        "development secret",
        "openssl rand -base64 48",
        "VIGIL__AUTH__JWT_SECRET",
    ] {
        assert!(p.contains(hint), "{hint:?} missing in {p}");
    }
    // A short secret from the environment is refused there, with its length.
    let short: Run = vigil(root)
        .args(["check-config", "--config", "config/vigil.toml"])
        .env("VIGIL__AUTH__JWT_SECRET", "only-20-bytes-long!!")
        .output()
        .unwrap()
        .into();
    assert!(!short.status.success(), "{short:?}");
    assert!(
        short.stderr.contains(
            "environment variable VIGIL__AUTH__JWT_SECRET: auth.jwt_secret: is 20 bytes; an HS256 secret needs at least 32"
        ),
        "{}",
        short.stderr
    );
}

#[test]
fn the_shipped_config_passes_and_prints_the_effective_policies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = check_with_secret(root, &["--config", "config/vigil.toml"]);
    assert!(run.status.success(), "{run:?}");
    let out = &run.stdout;
    assert!(
        out.starts_with("# config/vigil.toml: OK (2 tenant policy files)"),
        "{out}"
    );
    // The default policy, then one per tenant file, with what the file overrides merged in.
    let default = section(out, "[policy.default]");
    assert!(default.contains(r#"calendar = "24x7""#), "{default}");
    assert!(default.contains("warn_at = [0.8]"), "{default}");
    let critical = table(&default, "[policy.default.targets.CRITICAL]");
    assert!(critical.contains("response = 30"), "{critical}");
    assert!(critical.contains("resolution = 240"), "{critical}");
    let t12345 = section(out, "[policy.12345]");
    assert!(t12345.contains(r#"calendar = "business""#), "{t12345}");
    let high = table(&t12345, "[policy.12345.targets.HIGH]");
    assert!(high.contains("response = 60"), "tenant override: {high}");
    assert!(high.contains("resolution = 480"), "tenant override: {high}");
    let low = table(&t12345, "[policy.12345.targets.LOW]");
    assert!(low.contains("response = 1440"), "default kept: {low}");
    let t23456 = section(out, "[policy.23456]");
    assert!(t23456.contains("warn_at = [0.5, 0.8]"), "{t23456}");

    // Without --config, config/vigil.toml of the working directory is checked: same report.
    assert!(out.contains("jwt_secret = \"***\""), "{out}");
    assert!(!out.contains(TEST_JWT_SECRET), "{out}");
    let default_path = check_with_secret(root, &[]);
    assert!(default_path.status.success(), "{default_path:?}");
    assert_eq!(default_path.stdout, run.stdout);
}

#[test]
fn a_retired_forwarded_for_switch_names_its_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        "[http]\nlisten = \"127.0.0.1:8080\"\ntrust_forwarded_for = true\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let run = check_with_secret(dir.path(), &["--config", path]);
    assert!(!run.status.success(), "{run:?}");
    let problems: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with(path)).collect();
    assert_eq!(problems.len(), 1, "{}", run.stderr);
    assert!(
        problems[0].starts_with(&format!(
            "{path}:3: http.trust_forwarded_for: no longer supported"
        )),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].contains("http.trusted_proxies"),
        "{}",
        problems[0]
    );
}

#[test]
fn bad_proxy_networks_and_http_limits_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\nmax_connections_per_ip = 0\nheader_read_timeout = \"0s\"\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let run = check_with_secret(dir.path(), &["--config", path]);
    assert!(!run.status.success(), "{run:?}");
    for expected in [
        format!("{path}:2: http.trusted_proxies[1]: "),
        format!("{path}:3: http.max_connections_per_ip: must be at least 1"),
        format!("{path}:4: http.header_read_timeout: must be longer than zero"),
    ] {
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&expected)),
            "no {expected:?} in:\n{}",
            run.stderr
        );
    }
}

#[test]
fn credentials_in_configured_urls_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    let text = "\
[nats]
url = \"nats://vigil:NatsPassw0rd@127.0.0.1:4222,nats://TokenOnly1@127.0.0.2:4222\"
[store]
url = \"postgres://vigil:DbPassw0rd@db.example.com/vigil?sslpassword=SslSecret1\"
[notify.sms]
url = \"https://sms.example.com/send?api_key=SmsKey123\"
[notify.webhook]
url = \"https://hooks.example.com/vigil?token=HookToken1\"
secret_env = \"VIGIL_WEBHOOK_SECRET\"
";
    std::fs::write(&config, text).unwrap();
    let path = config.to_str().unwrap();
    let run = check_with_secret(dir.path(), &["--config", path]);
    assert!(run.status.success(), "{run:?}");
    let secrets = [
        "NatsPassw0rd",
        "TokenOnly1",
        "DbPassw0rd",
        "SslSecret1",
        "SmsKey123",
        "HookToken1",
    ];
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret),
            "{secret} printed:\n{}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(secret),
            "{secret} printed:\n{}",
            run.stderr
        );
    }
    // What is not secret stays readable.
    for shown in [
        "nats://vigil:***@127.0.0.1:4222,nats://***@127.0.0.2:4222",
        "postgres://vigil:***@db.example.com/vigil?sslpassword=***",
        "https://sms.example.com/send?api_key=***",
        "https://hooks.example.com/vigil?token=***",
    ] {
        assert!(run.stdout.contains(shown), "no {shown} in:\n{}", run.stdout);
    }

    // A problem about such a URL does not print its secrets either.
    std::fs::write(
        &config,
        "[[partners]]\nid = \"p\"\nbase_url = \"https://p.example.com/api?key=PartnerKey1\"\ntenants = [\"*\"]\n",
    )
    .unwrap();
    let run = check_with_secret(dir.path(), &["--config", path]);
    assert!(!run.status.success(), "{run:?}");
    assert!(
        run.stderr
            .contains("partners[0].base_url: \"https://p.example.com/api?key=***\""),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("PartnerKey1"), "{}", run.stderr);
}

/// The text from `header` up to the next `# ` comment line (the next report section).
fn section(report: &str, header: &str) -> String {
    let start = report
        .find(header)
        .unwrap_or_else(|| panic!("no {header} in the report:\n{report}"));
    let rest = &report[start..];
    let end = rest.find("\n# ").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// One TOML table of the report: from `header` up to the next table or comment.
fn table(report: &str, header: &str) -> String {
    let start = report
        .find(header)
        .unwrap_or_else(|| panic!("no {header} in:\n{report}"));
    let rest = &report[start + header.len()..];
    let end = rest
        .find("\n[")
        .into_iter()
        .chain(rest.find("\n#"))
        .min()
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

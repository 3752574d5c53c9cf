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

    let run = run_vigil(dir.path(), &["check-config", "--config", path], None);

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

#[test]
fn the_shipped_config_passes_and_prints_the_effective_policies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = run_vigil(
        root,
        &["check-config", "--config", "config/vigil.toml"],
        None,
    );
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
    let default_path = run_vigil(root, &["check-config"], None);
    assert!(default_path.status.success(), "{default_path:?}");
    assert_eq!(default_path.stdout, run.stdout);
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

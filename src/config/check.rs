//! `vigil check-config`: validate and print the effective configuration and the effective
//! policy of every tenant. It checks what `vigil run` checks (a development or short JWT
//! secret is an error), and prints no secret: the JWT secret is masked and every URL is
//! redacted ([`crate::redact::url`]).

use std::fmt::Write as _;
use std::path::Path;

use toml::{Table, Value};
use vigil_engine::policy::{PolicyBook, PolicySpec};

use super::load::{load_for, policy_problems, Loaded, Purpose};
use super::problem::ConfigProblem;

/// Validates the configuration at `path` (with the process environment's overrides) and returns
/// the report to print: the effective service settings (secrets hidden), warnings, and the
/// effective policy of tenants without a file and of each tenant with one. On failure, every
/// problem found, each printing as `file:line: field: message`.
pub fn check_config(path: &Path) -> Result<String, Vec<ConfigProblem>> {
    check_config_with_env(path, std::env::vars())
}

/// [`check_config`] with explicit environment variables.
pub fn check_config_with_env(
    path: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<String, Vec<ConfigProblem>> {
    let loaded = load_for(Some(path), vars, Purpose::Serve)?;
    let book = build_book(&loaded)?;
    Ok(report(&loaded, &book))
}

/// Compiles the policies of a loaded configuration, with problems placed in their files.
fn build_book(loaded: &Loaded) -> Result<PolicyBook, Vec<ConfigProblem>> {
    loaded
        .config
        .policy_book()
        .map_err(|errors| policy_problems(&errors, &loaded.main, &loaded.tenants))
}

fn report(loaded: &Loaded, book: &PolicyBook) -> String {
    let c = &loaded.config;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {}: OK ({} tenant policy file{})",
        loaded.main.file.display(),
        c.tenant_policies.len(),
        if c.tenant_policies.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    for (path, var) in &loaded.main.env {
        let _ = writeln!(out, "# {path} is set by the environment variable {var}");
    }

    let routing = crate::notify::Routing::new(c.notify.clone(), &c.tenant_notify);
    let _ = writeln!(
        out,
        "# notify: {}",
        if !routing.enabled() {
            "off (no [[notify.routes]] and no contacts)".to_string()
        } else {
            format!(
                "{} route(s){}, {} contact(s), {} tenant file(s) with routing of their own",
                routing.main().routes.len(),
                if c.notify.routes.is_empty() {
                    " (the built-in defaults)"
                } else {
                    ""
                },
                routing.main().contacts.len(),
                c.tenant_notify.len()
            )
        }
    );

    if c.partners.is_empty() {
        let _ = writeln!(out, "# partners: none");
    }
    for partner in &c.partners {
        let _ = writeln!(out, "# partner {}", partner.summary());
    }

    out.push_str("\n# Effective service settings\n");
    let mut service = Table::try_from(c).unwrap_or_default();
    service.remove("sla");
    if let Some(Value::Table(auth)) = service.get_mut("auth") {
        if auth.contains_key("jwt_secret") {
            auth.insert("jwt_secret".into(), Value::String("***".into()));
        }
    }
    redact_urls(&mut service);
    out.push_str(&toml::to_string(&service).unwrap_or_default());

    out.push_str("\n# Effective policy of tenants without a policy file\n");
    out.push_str(&policy_table("default", &book.initial(0).spec));
    for tenant in book.configured_tenants() {
        let file = loaded
            .tenants
            .get(&tenant)
            .map(|o| o.file.display().to_string())
            .unwrap_or_default();
        let _ = writeln!(out, "\n# Effective policy of tenant {tenant} ({file})");
        out.push_str(&policy_table(
            &tenant.to_string(),
            &book.initial(tenant).spec,
        ));
    }
    out
}

/// Every string that holds a URL, anywhere in `table`, redacted.
fn redact_urls(table: &mut Table) {
    fn walk(value: &mut Value) {
        match value {
            Value::String(s) if s.contains("://") => *s = crate::redact::url(s),
            Value::Table(t) => t.iter_mut().for_each(|(_, v)| walk(v)),
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    table.iter_mut().for_each(|(_, v)| walk(v));
}

/// `[policy.<name>]` and its subtables.
fn policy_table(name: &str, spec: &PolicySpec) -> String {
    let inner = Table::try_from(spec).unwrap_or_default();
    let mut named = Table::new();
    named.insert(name.to_string(), Value::Table(inner));
    let mut outer = Table::new();
    outer.insert("policy".into(), Value::Table(named));
    toml::to_string(&outer).unwrap_or_default()
}

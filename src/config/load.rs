//! Loading: defaults → `vigil.toml` → `VIGIL__SECTION__KEY` environment → tenant policy files,
//! then validation that reports every problem at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};
use vigil_engine::policy::{PolicyBook, PolicyError};

use super::env;
use super::problem::{ConfigProblem, Origins};
use super::secrets::jwt_secret_problem;
use super::sections::{TenantFile, VigilConfig};
use super::spans::{key_lines, LineIndex};
use super::tolerant;
use super::DEFAULT_PATH;
use crate::setting::{FieldPath, Seg};

/// A loaded configuration and where each part came from (for locating later problems).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: VigilConfig,
    /// Origins of the main file's fields.
    pub main: Origins,
    /// Origins of each tenant file's fields.
    pub tenants: BTreeMap<u64, Origins>,
}

impl VigilConfig {
    /// Loads `path` with the process environment's overrides and validates everything,
    /// policies included.
    pub fn load(path: &Path) -> Result<VigilConfig, Vec<ConfigProblem>> {
        load_with_env(Some(path), std::env::vars()).map(|l| l.config)
    }

    /// Like [`VigilConfig::load`], but without a path falls back to [`DEFAULT_PATH`] if it
    /// exists, else to the built-in defaults (environment overrides still apply).
    pub fn load_or_default(path: Option<&Path>) -> Result<VigilConfig, Vec<ConfigProblem>> {
        load_with_env(path, std::env::vars()).map(|l| l.config)
    }

    /// Like [`VigilConfig::load`], with the checks of a configuration that serves clients
    /// ([`Purpose::Serve`]): what `vigil run` starts with.
    pub fn load_for_serving(path: &Path) -> Result<VigilConfig, Vec<ConfigProblem>> {
        load_for(Some(path), std::env::vars(), Purpose::Serve).map(|l| l.config)
    }

    /// Compiles the policies: `[sla]` over the built-in defaults, the calendars and every
    /// tenant file. [`VigilConfig::load`] has already checked that this succeeds.
    pub fn policy_book(&self) -> Result<PolicyBook, Vec<PolicyError>> {
        PolicyBook::build(&self.sla, &self.calendars, &self.tenant_policies)
    }

    /// The policy settings (default, calendars, tenant files) a what-if merges a proposal
    /// into.
    pub fn policy_sources(&self) -> crate::report::history::PolicySources {
        crate::report::history::PolicySources {
            default: self.sla.clone(),
            calendars: self.calendars.clone(),
            tenants: self.tenant_policies.clone(),
        }
    }

    /// The engine settings this configuration implies: final tickets are remembered as long as
    /// the stream keeps the events that could name them, and applied event ids as long as
    /// `[engine] dedupe_window` says (by default, as long as the stream). Ticket facts
    /// are kept only where reports and partners take them: the service on the wall clock (the
    /// tenant actors hand them to the fact writer) and what-if runs, never in replay.
    pub fn engine_settings(&self) -> vigil_engine::EngineSettings {
        vigil_engine::EngineSettings {
            final_retention_ms: self.nats.retention.as_millis(),
            dedupe_window_ms: match self.engine.dedupe_window.as_millis() {
                0 => self.nats.retention.as_millis(),
                window => window,
            },
            keep_facts: false,
            keep_metrics: true,
            alert_ids: true,
        }
    }

    /// A path from the configuration, resolved against the main file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

/// What a configuration is loaded for, which decides how strict the checks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A one-shot tool (`replay`, `token`, `publish`, `reconcile`): development placeholders
    /// are accepted.
    Tool,
    /// A service that faces clients (`vigil run`, and what `check-config` vouches for): the
    /// JWT secret must not be a known or short one.
    Serve,
}

/// Keys that Vigil no longer reads, and what replaces each; naming one is an error that says
/// so (rather than a bare "unknown key").
const RETIRED_KEYS: &[(&str, &str)] = &[(
    "http.trust_forwarded_for",
    "no longer supported: X-Forwarded-For is read only from the proxies listed in \
     http.trusted_proxies (e.g. trusted_proxies = [\"10.0.0.0/8\"]), right-most untrusted \
     address first; remove this key",
)];

/// Loads and validates with explicit environment variables (only `VIGIL__…` ones are read), so
/// tests need not touch the process environment. `path` `None` means [`DEFAULT_PATH`] if it
/// exists, else built-in defaults. Checks as for [`Purpose::Tool`].
pub fn load_with_env(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, Vec<ConfigProblem>> {
    load_for(path, vars, Purpose::Tool)
}

/// [`load_with_env`] with the checks of `purpose`.
pub fn load_for(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
    purpose: Purpose,
) -> Result<Loaded, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let default_path = Path::new(DEFAULT_PATH);
    let (file, text) = match path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => (p.to_path_buf(), text),
            Err(e) => {
                return Err(vec![ConfigProblem {
                    file: p.display().to_string(),
                    line: None,
                    field: "(file)".into(),
                    message: format!("cannot read the configuration file: {e}"),
                }])
            }
        },
        None => match std::fs::read_to_string(default_path) {
            Ok(text) => (default_path.to_path_buf(), text),
            Err(_) => (PathBuf::from("(built-in defaults)"), String::new()),
        },
    };

    let mut table = match parse(&file, &text) {
        Ok(t) => t,
        Err(p) => return Err(vec![p]),
    };
    let mut main = Origins::new(&file, key_lines(&text));
    let (overrides, env_problems) = env::apply(&mut table, vars, &mut main);
    problems.extend(env_problems);
    retired_keys(&mut table, &main, &mut problems);

    let mut config: VigilConfig =
        tolerant::deserialize(Value::Table(table), &main, &overrides, &mut problems)
            .unwrap_or_default();
    config.base_dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };

    validate_service(&config, &main, &mut problems);
    if purpose == Purpose::Serve {
        if let Some(message) = jwt_secret_problem(&config.auth) {
            problems.push(main.problem(&FieldPath::keys("auth.jwt_secret"), message));
        }
    }

    let policies_named = main.names(&FieldPath::keys("tenants.policies_dir"))
        || main
            .env
            .contains_key(&FieldPath::keys("tenants.policies_dir"));
    let tenants = load_tenants(&mut config, &main, policies_named, &mut problems);

    if let Err(errors) = config.policy_book() {
        problems.extend(policy_problems(&errors, &main, &tenants));
    }
    problems.extend(tenant_notify_problems(&config, &tenants));
    // Files in order, each from top to bottom; environment variables after the files.
    // The main file first, then tenant files, then the environment; each file top to bottom.
    let main_file = main.file.display().to_string();
    let rank = |p: &ConfigProblem| {
        if p.file == main_file {
            0
        } else if p.file.starts_with("environment variable") {
            2
        } else {
            1
        }
    };
    problems.sort_by(|a, b| {
        (rank(a), &a.file, a.line.is_none(), a.line).cmp(&(
            rank(b),
            &b.file,
            b.line.is_none(),
            b.line,
        ))
    });

    if problems.is_empty() {
        Ok(Loaded {
            config,
            main,
            tenants,
        })
    } else {
        Err(problems)
    }
}

/// Parses a TOML text; a syntax error becomes a problem at its line.
fn parse(file: &Path, text: &str) -> Result<Table, ConfigProblem> {
    text.parse::<Table>().map_err(|e| ConfigProblem {
        file: file.display().to_string(),
        line: e.span().map(|s| LineIndex::new(text).line(s.start)),
        field: "(syntax)".into(),
        message: e.message().trim().to_string(),
    })
}

/// Reports and removes every key of [`RETIRED_KEYS`] the file or environment names.
fn retired_keys(table: &mut Table, o: &Origins, problems: &mut Vec<ConfigProblem>) {
    for (dotted, message) in RETIRED_KEYS {
        let Some((section, key)) = dotted.split_once('.') else {
            continue;
        };
        let removed = table
            .get_mut(section)
            .and_then(Value::as_table_mut)
            .and_then(|t| t.remove(key));
        if removed.is_some() {
            problems.push(o.problem(&FieldPath::keys(dotted), *message));
        }
    }
}

/// Checks of the service sections that serde cannot express.
fn validate_service(c: &VigilConfig, o: &Origins, problems: &mut Vec<ConfigProblem>) {
    let mut bad =
        |path: &str, message: String| problems.push(o.problem(&FieldPath::keys(path), message));

    if c.sla.effective_from.is_some() {
        bad(
            "sla.effective_from",
            "only allowed in sla.policy_updated events".into(),
        );
    }
    if let Err(problem) = vigil_streams::server_addrs(&c.nats.url) {
        bad("nats.url", problem);
    }
    for (key, name) in [
        ("nats.stream", &c.nats.stream),
        ("nats.alerts_stream", &c.nats.alerts_stream),
        ("nats.dlq_stream", &c.nats.dlq_stream),
    ] {
        if name.is_empty()
            || name
                .chars()
                .any(|ch| ch.is_whitespace() || matches!(ch, '.' | '*' | '>' | '/' | '\\'))
        {
            bad(
                key,
                format!(
                    "{name:?} is not a valid stream name (no spaces, '.', '*', '>', '/', '\\')"
                ),
            );
        }
    }
    if c.nats.stream == c.nats.alerts_stream
        || c.nats.stream == c.nats.dlq_stream
        || c.nats.alerts_stream == c.nats.dlq_stream
    {
        bad(
            "nats.stream",
            "the event, alert and dead-letter streams must differ".into(),
        );
    }
    if c.nats.partitions == 0 {
        bad("nats.partitions", "must be at least 1".into());
    }
    if c.nats.retention.as_millis() == 0 {
        bad("nats.retention", "must be longer than zero".into());
    }
    if !(1..=5).contains(&c.nats.replicas) {
        bad(
            "nats.replicas",
            "must be between 1 and 5 (JetStream's replica range)".into(),
        );
    }
    let url = c.store.url.trim();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres:")
        || url.starts_with("postgresql:"))
    {
        bad(
            "store.url",
            "expected sqlite://path or postgres://user:pass@host/db".into(),
        );
    }
    if c.store.max_connections == 0 {
        bad("store.max_connections", "must be at least 1".into());
    }
    if c.http.max_connections == 0 {
        bad("http.max_connections", "must be at least 1".into());
    }
    if c.http.max_connections_per_ip == 0 {
        bad("http.max_connections_per_ip", "must be at least 1".into());
    }
    if c.http.max_requests_per_connection == 0 {
        bad(
            "http.max_requests_per_connection",
            "must be at least 1".into(),
        );
    }
    for (key, d) in [
        ("http.header_read_timeout", c.http.header_read_timeout),
        ("http.request_timeout", c.http.request_timeout),
    ] {
        if d.as_millis() == 0 {
            bad(key, "must be longer than zero".into());
        }
    }
    if c.http.metrics_listen == Some(c.http.listen) {
        bad(
            "http.metrics_listen",
            "must differ from http.listen (leave it unset to serve /metrics there)".into(),
        );
    }
    for (key, value) in [
        ("auth.jwt_issuer", &c.auth.jwt_issuer),
        ("auth.jwt_audience", &c.auth.jwt_audience),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            bad(
                key,
                "must not be empty (leave it unset to skip the check)".into(),
            );
        }
    }
    if c.ws.metrics_per_second == 0 {
        bad("ws.metrics_per_second", "must be at least 1".into());
    }
    if c.ws.client_queue == 0 {
        bad("ws.client_queue", "must be at least 1".into());
    }
    if c.ws.ping_interval.as_millis() == 0 {
        bad("ws.ping_interval", "must be longer than zero".into());
    } else if c.ws.idle_timeout.as_millis() <= c.ws.ping_interval.as_millis() {
        bad(
            "ws.idle_timeout",
            "must be longer than ws.ping_interval, or every client is dropped between pings".into(),
        );
    }
    if c.ws.max_clients == 0 || c.ws.max_clients_per_tenant == 0 {
        bad(
            "ws.max_clients",
            "the connection caps must be at least 1".into(),
        );
    }
    if let Some(key) = &c.auth.jwt_private_key_file {
        if !c.resolve(key).is_file() {
            bad(
                "auth.jwt_private_key_file",
                format!(
                    "{} does not exist or is not a file",
                    c.resolve(key).display()
                ),
            );
        }
    }
    match &c.auth.jwt_public_key_file {
        Some(key) => {
            let resolved = c.resolve(key);
            if !resolved.is_file() {
                bad(
                    "auth.jwt_public_key_file",
                    format!("{} does not exist or is not a file", resolved.display()),
                );
            }
        }
        None if c.auth.jwt_secret.is_empty() => {
            bad(
                "auth.jwt_secret",
                "set a secret (HS256) or auth.jwt_public_key_file (RS256)".into(),
            );
        }
        None => {}
    }
    let name = &c.cluster.name;
    if name.len() > 64
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        bad(
            "cluster.name",
            "use at most 64 letters, digits, `-` and `_` (or leave it empty for <hostname>-<pid>)"
                .into(),
        );
    }
    let ttl = c.cluster.lease_ttl.as_std();
    if ttl < std::time::Duration::from_secs(3) || ttl > std::time::Duration::from_secs(300) {
        bad(
            "cluster.lease_ttl",
            "must be between 3s and 5m: renewals go out every third of it".into(),
        );
    }
    if !(1..=5).contains(&c.cluster.lease_replicas) {
        bad(
            "cluster.lease_replicas",
            "must be between 1 and 5 (JetStream's replica range)".into(),
        );
    }
    if !c.cluster.redis_url.trim().is_empty() {
        if let Err(message) = crate::limits::check_url(c.cluster.redis_url.trim()) {
            bad("cluster.redis_url", message);
        }
    }
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&c.log.filter) {
        bad("log.filter", format!("not a valid filter: {e}"));
    }
    for (path, message) in c.notify.problems() {
        problems.push(o.problem(&path, message));
    }
    for (path, message) in crate::partner::config::problems(&c.partners) {
        problems.push(o.problem(&path, message));
    }
}

/// Problems of each tenant's merged routing that lie in the tenant's own items (the main
/// file's are reported once, for the main file).
fn tenant_notify_problems(
    config: &VigilConfig,
    tenants: &BTreeMap<u64, Origins>,
) -> Vec<ConfigProblem> {
    let mut out = Vec::new();
    for (tenant, own) in &config.tenant_notify {
        let Some(origins) = tenants.get(tenant) else {
            continue;
        };
        let merged = config.notify.for_tenant(own);
        for (path, message) in merged.problems() {
            let own_len = match path.0.get(1) {
                Some(Seg::Key(k)) if k == "contacts" => own.contacts.len(),
                Some(Seg::Key(k)) if k == "schedules" => own.schedules.len(),
                Some(Seg::Key(k)) if k == "policies" => own.policies.len(),
                Some(Seg::Key(k)) if k == "routes" => own.routes.len(),
                _ => 0,
            };
            if matches!(path.0.get(2), Some(Seg::Index(i)) if *i < own_len) {
                out.push(origins.problem(&path, message));
            }
        }
    }
    out
}

/// Reads every `<tenant_id>.toml` in the policies directory into `config.tenant_policies`.
fn load_tenants(
    config: &mut VigilConfig,
    main: &Origins,
    named: bool,
    problems: &mut Vec<ConfigProblem>,
) -> BTreeMap<u64, Origins> {
    let mut origins = BTreeMap::new();
    let dir = config.resolve(&config.tenants.policies_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            if named {
                problems.push(main.problem(
                    &FieldPath::keys("tenants.policies_dir"),
                    format!("cannot read {}: {e}", dir.display()),
                ));
            }
            return origins;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for file in files {
        let tenant = file
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|t| *t > 0);
        let Some(tenant) = tenant else {
            problems.push(ConfigProblem {
                file: file.display().to_string(),
                line: None,
                field: "(file name)".into(),
                message:
                    "tenant policy files are named <tenant_id>.toml, with a positive integer id"
                        .into(),
            });
            continue;
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(ConfigProblem {
                    file: file.display().to_string(),
                    line: None,
                    field: "(file)".into(),
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let table = match parse(&file, &text) {
            Ok(t) => t,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let o = Origins::new(&file, key_lines(&text));
        let parsed: Option<TenantFile> =
            tolerant::deserialize(Value::Table(table), &o, &BTreeMap::new(), problems);
        if let Some(parsed) = parsed {
            if parsed.policy.effective_from.is_some() {
                problems.push(o.problem(
                    &FieldPath::keys("policy.effective_from"),
                    "only allowed in sla.policy_updated events",
                ));
            }
            config.tenant_policies.insert(tenant, parsed.policy);
            if !parsed.notify.is_empty() {
                config.tenant_notify.insert(tenant, parsed.notify);
            }
            if jiff::tz::TimeZone::get(&parsed.report.timezone).is_err() {
                problems.push(o.problem(
                    &FieldPath::keys("report.timezone"),
                    format!(
                        "unknown time zone {:?}: use an IANA name such as \"Asia/Shanghai\"",
                        parsed.report.timezone
                    ),
                ));
            }
            for (path, message) in crate::report::schedule::problems(&parsed.report.schedules) {
                problems.push(o.problem(&path, message));
            }
            config.tenant_reports.insert(tenant, parsed.report);
        }
        origins.insert(tenant, o);
    }
    origins
}

/// Places policy compilation errors in the file (and line) that caused them. An error a tenant
/// inherits from `[sla]` is reported once, for the main file.
pub(crate) fn policy_problems(
    errors: &[PolicyError],
    main: &Origins,
    tenants: &BTreeMap<u64, Origins>,
) -> Vec<ConfigProblem> {
    let main_path = |path: &str| {
        if path.starts_with("calendars.") {
            FieldPath::keys(path)
        } else {
            FieldPath::keys(&format!("sla.{path}"))
        }
    };
    let mut out = Vec::new();
    for e in errors {
        match e.tenant {
            None => out.push(main.problem(&main_path(&e.path), e.message.clone())),
            Some(tenant) => {
                let path = FieldPath::keys(&format!("policy.{}", e.path));
                let origins = tenants.get(&tenant);
                let in_tenant_file = origins.is_some_and(|o| names_below_policy(o, &path));
                let inherited = errors
                    .iter()
                    .any(|d| d.tenant.is_none() && d.path == e.path && d.message == e.message);
                match origins {
                    Some(o) if in_tenant_file || !inherited => {
                        out.push(o.problem(&path, e.message.clone()))
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Whether the tenant file names `path` or one of its ancestors below `policy` itself.
fn names_below_policy(o: &Origins, path: &FieldPath) -> bool {
    let mut at = Some(path.clone());
    while let Some(p) = at {
        if p.0.len() < 2 {
            return false;
        }
        if o.names(&p) {
            return true;
        }
        at = p.parent();
    }
    false
}

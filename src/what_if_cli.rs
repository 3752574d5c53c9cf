//! `vigil what-if` (a tenant's history under the policy in force and a proposed one, side by
//! side) and `vigil export` (a tenant's stored events as NDJSON).

use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use jiff::tz::TimeZone;
use serde::Deserialize;
use vigil::config::VigilConfig;
use vigil::report::history::{read_events, what_if_from_stream};
use vigil::report::model::{GoalFigures, Period};
use vigil::report::period::parse_end;
use vigil::report::what_if::{WhatIf, WhatIfRun};
use vigil_engine::PolicySpec;

use crate::cli::PeriodArgs;
use crate::cli::ReportFormat;

/// Where the history comes from.
pub struct Source {
    /// One tenant, or every tenant.
    pub tenant: Option<u64>,
    /// An NDJSON file instead of the stream.
    pub input: Option<PathBuf>,
}

/// A proposal file: a `[policy]` table, as in a tenant file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proposal {
    policy: PolicySpec,
}

/// Runs the what-if and prints it.
pub fn run(
    config: &VigilConfig,
    policy: &Path,
    source: &Source,
    range: &PeriodArgs,
    format: ReportFormat,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(policy)
        .with_context(|| format!("cannot read {}", policy.display()))?;
    let proposal: Proposal = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", policy.display(), e.message()))?;
    let sources = config.policy_sources();
    let current = sources.current()?;
    let proposed = sources
        .proposed(source.tenant, &proposal.policy)
        .with_context(|| policy.display().to_string())?;
    let tz = source
        .tenant
        .and_then(|t| config.tenant_reports.get(&t))
        .and_then(|r| TimeZone::get(&r.timezone).ok())
        .unwrap_or(TimeZone::UTC);
    let period = range.resolve(&tz)?;
    let run = WhatIfRun {
        current: Arc::new(current),
        proposed: Arc::new(proposed),
        settings: config.engine_settings(),
        lateness_ms: config.engine.allowed_lateness.as_millis(),
        period,
        tenant_id: source.tenant,
    };
    let started = std::time::Instant::now();
    let result = match &source.input {
        Some(file) => over_file(&run, file)?,
        None => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let js = connect(config).await?;
                let stream = (
                    config.nats.stream.as_str(),
                    u32::from(config.nats.partitions),
                );
                what_if_from_stream(&js, stream, run).await
            })?
        }
    };
    eprintln!(
        "{} events in {:.2} s",
        result.events,
        started.elapsed().as_secs_f64()
    );
    let out = match format {
        ReportFormat::Json => serde_json::to_string_pretty(&result)? + "\n",
        ReportFormat::Text => text_of(&result),
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("cannot write the comparison")
}

/// The what-if over an NDJSON file (lines that do not decode are skipped).
fn over_file(run: &WhatIfRun, file: &Path) -> anyhow::Result<WhatIf> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 16, f);
    let mut failed = None;
    let events = reader
        .split(b'\n')
        .map_while(|line| match line {
            Ok(line) => Some(line),
            Err(e) => {
                failed = Some(e);
                None
            }
        })
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .filter_map(|line| vigil_schema::decode(&line).ok());
    let result = run.over(events);
    match failed {
        Some(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
        None => Ok(result),
    }
}

async fn connect(config: &VigilConfig) -> anyhow::Result<async_nats::jetstream::Context> {
    let servers = vigil_streams::server_addrs(&config.nats.url)
        .map_err(|problem| anyhow::anyhow!("nats.url: {problem}"))?;
    let nats = async_nats::ConnectOptions::new()
        .connect(servers)
        .await
        .with_context(|| {
            format!(
                "cannot connect to NATS at {}",
                vigil::redact::url(&config.nats.url)
            )
        })?;
    Ok(async_nats::jetstream::new(nats))
}

/// `vigil export`: the tenant's stored events with `occurred_at` in `[from, to)`, as stored.
pub fn export(
    config: &VigilConfig,
    tenant: u64,
    (from, to): (Option<String>, Option<String>),
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let tz = config
        .tenant_reports
        .get(&tenant)
        .and_then(|r| TimeZone::get(&r.timezone).ok())
        .unwrap_or(TimeZone::UTC);
    let end = |s: Option<String>, flag: &str| -> anyhow::Result<Option<i64>> {
        s.map(|s| {
            parse_end(&s, &tz).ok_or_else(|| {
                anyhow::anyhow!("--{flag}: expected a date (2026-11-01) or an RFC 3339 instant")
            })
        })
        .transpose()
    };
    let period = Period {
        from: end(from, "from")?.unwrap_or(i64::MIN),
        to: end(to, "to")?.unwrap_or(i64::MAX),
    };
    let mut out: Box<dyn std::io::Write> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let written = runtime.block_on(async {
        let js = connect(config).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let stream = (
            config.nats.stream.as_str(),
            u32::from(config.nats.partitions),
        );
        let reader = read_events(&js, stream, Some(tenant), tx);
        let writer = async {
            let mut written = 0u64;
            while let Some(batch) = rx.recv().await {
                for payload in batch {
                    let at = vigil_schema::decode(&payload).map(|e| e.occurred_at);
                    if at.is_ok_and(|at| at < period.from || at >= period.to) {
                        continue;
                    }
                    out.write_all(&payload)?;
                    out.write_all(b"\n")?;
                    written += 1;
                }
            }
            out.flush()?;
            anyhow::Ok(written)
        };
        let (read, written) = tokio::join!(reader, writer);
        read?;
        written
    })?;
    eprintln!("{written} events of tenant {tenant}");
    Ok(())
}

/// The comparison for people.
fn text_of(w: &WhatIf) -> String {
    let mut s = String::new();
    let who = w
        .tenant_id
        .map_or("every tenant".to_string(), |t| format!("tenant {t}"));
    s += &format!(
        "what-if for {who}, {} to {}: {} events ({} rejected)\n\n",
        vigil_schema::format_instant(w.period.from),
        vigil_schema::format_instant(w.period.to),
        w.events,
        w.rejected
    );
    s += &format!("{:<28}{:>22}{:>22}\n", "", "in force", "proposed");
    let goal = |name: &str, a: &GoalFigures, b: &GoalFigures| {
        let pct = |g: &GoalFigures| {
            g.compliance
                .map_or("-".to_string(), |c| format!("{:.1}%", c * 100.0))
        };
        let fig = |g: &GoalFigures| format!("{} ({}/{})", pct(g), g.met, g.met + g.breached);
        format!("{:<28}{:>22}{:>22}\n", name, fig(a), fig(b))
    };
    s += &goal(
        "response compliance",
        &w.current.response,
        &w.proposed.response,
    );
    s += &goal(
        "resolution compliance",
        &w.current.resolution,
        &w.proposed.resolution,
    );
    s += &format!(
        "{:<28}{:>22}{:>22}\n{:<28}{:>22}{:>22}\n",
        "warnings",
        w.current.warnings,
        w.proposed.warnings,
        "breach alerts",
        w.current.breaches,
        w.proposed.breaches
    );
    for (title, now, then) in [
        ("priority", &w.current.by_priority, &w.proposed.by_priority),
        (
            "service type",
            &w.current.by_service_type,
            &w.proposed.by_service_type,
        ),
    ] {
        s += &format!("\nper {title}\n");
        for b in now {
            if let Some(p) = then.iter().find(|p| p.key == b.key) {
                s += &goal(&format!("  {} response", b.key), &b.response, &p.response);
                s += &goal(
                    &format!("  {} resolution", b.key),
                    &b.resolution,
                    &p.resolution,
                );
            }
        }
    }
    s += &format!(
        "\n{} goals would change outcome; {} alerts would appear, {} disappear\n",
        w.outcome_changes_total, w.alert_changes_total.0, w.alert_changes_total.1
    );
    for c in w.outcome_changes.iter().take(20) {
        s += &format!(
            "  {} {} {} ({}): {} -> {}\n",
            c.tenant_id, c.ticket_id, c.goal, c.priority, c.current, c.proposed
        );
    }
    if w.outcome_changes.len() > 20 {
        s += "  … (--format json lists them all)\n";
    }
    s
}

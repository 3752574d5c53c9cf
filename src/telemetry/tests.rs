use super::labels::{TenantLabels, OTHER_TENANT};
use super::metrics;
use super::recorder::local_recorder;
use vigil_engine::{AlertState, Goal, Level};

#[test]
fn helpers_emit_the_documented_names_and_labels() {
    let (recorder, handle) = local_recorder().unwrap();
    let labels = TenantLabels::new(1);
    ::metrics::with_local_recorder(&recorder, || {
        metrics::describe();
        metrics::events_ingested().increment(3);
        metrics::events_rejected("unknown_ticket").increment(1);
        metrics::alerts(Goal::Response, Level::Breach, AlertState::Firing).increment(1);
        metrics::event_processing_seconds().record(0.002);
        metrics::open_tickets(&labels.label(7)).increment(2.0);
        metrics::open_tickets(&labels.label(8)).increment(1.0);
        metrics::consumer_pending(3).set(42.0);
        metrics::store_errors(true).increment(1);
    });
    let text = handle.render();
    for line in [
        "vigil_events_ingested_total 3",
        "vigil_events_rejected_total{reason=\"unknown_ticket\"} 1",
        "vigil_alerts_total{goal=\"response\",level=\"breach\",state=\"firing\"} 1",
        "vigil_open_tickets{tenant=\"7\"} 2",
        "vigil_open_tickets{tenant=\"other\"} 1",
        "vigil_consumer_pending{partition=\"3\"} 42",
        "vigil_store_errors_total{kind=\"unavailable\"} 1",
        "vigil_event_processing_seconds_bucket{le=\"0.0025\"} 1",
        "# HELP vigil_events_ingested_total Events decoded, validated and applied.",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

/// What `/metrics` shows after an upkeep tick: the four process series, with real values.
#[cfg(target_os = "linux")]
#[test]
fn process_metrics_are_rendered_under_the_prometheus_names() {
    let (recorder, handle) = local_recorder().unwrap();
    ::metrics::with_local_recorder(&recorder, || {
        metrics::describe();
        super::process::record();
    });
    let text = handle.render();
    for name in [
        metrics::PROCESS_CPU_SECONDS,
        metrics::PROCESS_RESIDENT_MEMORY,
        metrics::PROCESS_OPEN_FDS,
        metrics::PROCESS_MAX_FDS,
    ] {
        let value: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .unwrap();
        assert!(value >= 0.0, "{name} {value}");
        if name != metrics::PROCESS_CPU_SECONDS {
            assert!(value > 0.0, "{name} {value}");
        }
    }
    assert!(
        text.contains("# TYPE process_cpu_seconds_total gauge"),
        "{text}"
    );
}

#[test]
fn tenant_labels_are_bounded_and_stable() {
    let labels = TenantLabels::new(2);
    assert_eq!(labels.label(1).as_str(), "1");
    assert_eq!(labels.label(2).as_str(), "2");
    assert_eq!(labels.label(3).as_str(), OTHER_TENANT);
    assert_eq!(labels.label(1).as_str(), "1");
    assert_eq!(TenantLabels::new(0).label(5).as_str(), OTHER_TENANT);
}

#[test]
fn log_filters_prefer_rust_log_and_reject_bad_syntax() {
    use super::logging::build_filter;
    let f = build_filter(Some("warn,vigil=debug".into()), "info").unwrap();
    assert!(f.to_string().contains("vigil=debug"), "{f}");
    let f = build_filter(Some("  ".into()), "info").unwrap();
    assert_eq!(f.to_string(), "info");
    assert!(build_filter(None, "info,vigil=[").is_err());
}

#[test]
fn log_format_reads_from_config_text() {
    use super::{LogConfig, LogFormat};
    let c: LogConfig = toml::from_str("format = \"json\"").unwrap();
    assert_eq!(c.format, LogFormat::Json);
    assert_eq!(c.filter, "info");
    assert!(toml::from_str::<LogConfig>("format = \"xml\"").is_err());
}

/// A log destination the test reads back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn text_logs_escape_line_breaks_and_ansi_in_every_field() {
    use super::logging::{build_filter, text_subscriber};
    let out = Captured::default();
    let writer = out.clone();
    let filter = build_filter(None, "info").unwrap();
    let subscriber = text_subscriber(filter, move || writer.clone());
    let forged = "TKT-1\nFORGED line 2026-01-01T00:00:00Z  INFO vigil: all good";
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("notify", ticket_id = %forged);
        let _entered = span.enter();
        tracing::warn!(
            error = %"refused\r\n\u{1b}[2Jcleared",
            debug_value = ?forged,
            plain = forged,
            "notification for {forged} not accepted"
        );
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches('\n').count(),
        1,
        "one event, one line:\n{text}"
    );
    assert!(text.ends_with('\n'), "{text}");
    assert!(
        !text.contains("\nFORGED") && !text.contains("\u{1b}[2J"),
        "{text}"
    );
    assert!(!text.contains('\r'), "{text}");
    for escaped in [
        "notification for TKT-1\\nFORGED line",
        "ticket_id=TKT-1\\nFORGED line",
        "error=refused\\r\\n\\u{1b}[2Jcleared",
        "plain=\"TKT-1\\nFORGED line",
        "debug_value=\"TKT-1\\nFORGED line",
    ] {
        assert!(text.contains(escaped), "missing {escaped:?} in {text:?}");
    }
}

//! `vigil-load ingest-watch`: follows a running service's `/metrics` from its start until it
//! has ingested the expected events and published the expected alert changes, and reports
//! both rates, and how far the notifier got when the ingest ended (to show that the storm
//! overlapped the ingest).
//!
//! Rates are taken from the first sample with an event ingested, so the service's start-up is
//! not counted; samples are 50 ms apart.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::report::{figure, note};

/// Time between samples.
const SAMPLE: Duration = Duration::from_millis(50);
/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// What `vigil-load ingest-watch` waits for.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// `host:port` of the service's HTTP listener.
    pub addr: String,
    /// Events to wait for (`vigil_events_ingested_total`).
    pub events: u64,
    /// Alert changes to wait for too (`vigil_alerts_total`), 0 for none.
    pub alerts: u64,
    /// Give up after this long.
    pub timeout: Duration,
}

/// The figures of one `/metrics` answer this watcher uses.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Sample {
    /// `vigil_events_ingested_total`.
    pub ingested: f64,
    /// Sum of `vigil_alerts_total`.
    pub alerts: f64,
    /// Sum of `vigil_notifications_total{result="sent"}`.
    pub sent: f64,
}

impl Sample {
    /// Reads the Prometheus text format.
    pub fn parse(text: &str) -> Sample {
        let mut s = Sample::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let name = series.split('{').next().unwrap_or(series);
            match name {
                "vigil_events_ingested_total" => s.ingested += value,
                "vigil_alerts_total" => s.alerts += value,
                "vigil_notifications_total" if series.contains(r#"result="sent""#) => {
                    s.sent += value
                }
                _ => {}
            }
        }
        s
    }
}

/// One `GET /metrics` within 5 s.
async fn scrape(client: &reqwest::Client, url: &str) -> reqwest::Result<Sample> {
    let answer = client.get(url).send().await?.error_for_status()?;
    Ok(Sample::parse(&answer.text().await?))
}

/// Watches until done (or the time-out) and prints the figures.
pub fn run(options: WatchOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(watch(options))
}

async fn watch(options: WatchOptions) -> anyhow::Result<()> {
    let client = vigil_peers::http::client(SCRAPE_TIMEOUT);
    let url = format!("http://{}/metrics", options.addr);
    let started = Instant::now();
    let mut first: Option<(Instant, Sample)> = None;
    let mut ingest_done = false;
    let mut alerts_done = options.alerts == 0;
    let mut last = Sample::default();
    while !(ingest_done && alerts_done) {
        anyhow::ensure!(
            started.elapsed() < options.timeout,
            "the service did not ingest {} events and publish {} alert changes within {:?} \
             (last sample: {last:?})",
            options.events,
            options.alerts,
            options.timeout,
        );
        let Ok(sample) = scrape(&client, &url).await else {
            tokio::time::sleep(SAMPLE).await;
            continue;
        };
        last = sample;
        let now = Instant::now();
        if first.is_none() && sample.ingested > 0.0 {
            first = Some((now, sample));
        }
        let Some((t0, s0)) = first else {
            tokio::time::sleep(SAMPLE).await;
            continue;
        };
        let seconds = (now - t0).as_secs_f64().max(1e-3);
        if !ingest_done && sample.ingested >= options.events as f64 {
            ingest_done = true;
            figure("ingest_seconds", format!("{seconds:.2}"));
            rate_figure(
                "ingest_events_per_sec",
                sample.ingested - s0.ingested,
                seconds,
            );
            figure("alerts_at_ingest_end", sample.alerts);
            figure("sent_at_ingest_end", sample.sent);
        }
        if !alerts_done && sample.alerts >= options.alerts as f64 {
            alerts_done = true;
            figure("alerts_seconds", format!("{seconds:.2}"));
            rate_figure("alerts_per_sec", sample.alerts - s0.alerts, seconds);
        }
        tokio::time::sleep(SAMPLE).await;
    }
    note(format_args!("last sample: {last:?}"));
    Ok(())
}

fn rate_figure(name: &str, count: f64, seconds: f64) {
    figure(name, format!("{:.0}", count / seconds));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_figures_it_needs() {
        let text = "# HELP vigil_events_ingested_total x\n\
            vigil_events_ingested_total 1200\n\
            vigil_alerts_total{goal=\"response\",level=\"breach\",state=\"firing\"} 10\n\
            vigil_alerts_total{goal=\"response\",level=\"warning\",state=\"firing\"} 5\n\
            vigil_notifications_total{channel=\"sms\",result=\"sent\"} 7\n\
            vigil_notifications_total{channel=\"sms\",result=\"retried\"} 3\n";
        assert_eq!(
            Sample::parse(text),
            Sample {
                ingested: 1200.0,
                alerts: 15.0,
                sent: 7.0
            }
        );
    }
}

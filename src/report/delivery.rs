//! Scheduled reports end to end: each tenant's `[[report.schedules]]` queue a job for every
//! period that closes (once, whatever the instances; a run missed while no instance ran is
//! queued at the next start), and the finished report goes to the schedule's recipients as an
//! email attachment through the notification providers (the SMTP relay of `[notify.smtp]`),
//! with back-off, a circuit breaker, and the delivery id as Message-ID so a resend after a lost
//! reply is one the receiver drops.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};
use vigil_schema::Millis;

use super::format::Format;
use super::jobs::{new_job, Breakdowns, JobRequest, Reports};
use super::labels::{Label, Language};
use super::mailer::Mailer;
use super::zone::local_day;
use crate::clock::now_ms;
use crate::notify::channel::{Content, Outgoing, SendError};
use crate::notify::config::Channel;
use crate::notify::message::{Attachment, Email};
use crate::retry::backoff_delay;
use crate::store::{DueDelivery, EnqueueError};
use crate::telemetry::metrics;

/// How often schedules are looked at (and at start).
const SCHEDULE_EVERY: Duration = Duration::from_secs(30);
/// How often pending emails are looked for when nothing wakes the sender.
const DELIVER_EVERY: Duration = Duration::from_secs(5);
/// A sender's claim on a delivery.
const DELIVERY_LEASE_MS: i64 = 120_000;
/// Deliveries claimed per round.
const DELIVERY_BATCH: usize = 16;
/// An email sent later than this after its run was due counts as late.
const LATE_AFTER_MS: i64 = 3_600_000;

impl Reports {
    /// Queues the latest due run of every schedule, now and every [`SCHEDULE_EVERY`].
    pub(super) async fn schedule(self, mut stop: watch::Receiver<bool>) {
        loop {
            self.queue_due_runs(now_ms()).await;
            metrics::report_schedule_passes().increment(1);
            tokio::select! {
                _ = tokio::time::sleep(SCHEDULE_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Queues each schedule's latest run due by `now` that is not queued yet.
    pub async fn queue_due_runs(&self, now: Millis) {
        for (tenant, settings) in &self.inner.tenants {
            let tz = jiff::tz::TimeZone::get(&settings.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
            for schedule in &settings.schedules {
                let Some(run) = schedule.latest_run(now, &tz) else {
                    continue;
                };
                let request = JobRequest {
                    tenant_id: *tenant,
                    period: run.period,
                    format: schedule.format,
                    breakdowns: Breakdowns::default(),
                    requested_by: format!("schedule:{}", schedule.id),
                    settings: settings.clone(),
                };
                // The task id names the run, so every instance queues the same job.
                let task_id = format!(
                    "sched-{tenant}-{}-{}",
                    schedule.id,
                    local_day(&tz, run.period.from)
                );
                let mut job = new_job(&request, task_id.clone());
                job.schedule_id = Some(schedule.id.clone());
                job.deliver_to = schedule.recipients.clone();
                let queued = self
                    .inner
                    .store
                    .report_jobs()
                    .enqueue_scheduled(&job, run.due_at, self.inner.config.max_queued, now)
                    .await;
                match queued {
                    Ok(true) => {
                        info!(tenant_id = tenant, schedule = %schedule.id, task_id = %task_id,
                            due_at = %vigil_schema::format_instant(run.due_at), "scheduled report queued");
                        self.inner.wake.notify_one();
                    }
                    Ok(false) => {}
                    Err(EnqueueError::Full { queued }) => {
                        warn!(tenant_id = tenant, schedule = %schedule.id, queued,
                            "the report queue is full; the scheduled report is queued when there is room");
                    }
                    Err(EnqueueError::Store(e)) => {
                        warn!(tenant_id = tenant, error = %e, "cannot queue a scheduled report; will try again");
                    }
                }
            }
        }
    }

    /// Sends the emails of finished scheduled reports as they come due.
    pub(super) async fn deliver(self, mut stop: watch::Receiver<bool>) {
        let Some(mailer) = &self.inner.mailer else {
            return;
        };
        loop {
            let now = now_ms();
            if mailer.admit(now) {
                match self
                    .inner
                    .store
                    .report_deliveries()
                    .claim(DELIVERY_BATCH, DELIVERY_LEASE_MS, now)
                    .await
                {
                    Ok(due) => {
                        for d in due {
                            self.send(mailer, d).await;
                        }
                    }
                    Err(e) => warn!(error = %e, "cannot claim report emails; will try again"),
                }
            }
            tokio::select! {
                _ = self.inner.delivered.notified() => {}
                _ = tokio::time::sleep(DELIVER_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn send(&self, mailer: &Mailer, d: DueDelivery) {
        let now = now_ms();
        let deliveries = self.inner.store.report_deliveries();
        let outcome = match self.email(&d, now).await {
            Ok(msg) => {
                let sent = mailer.providers.current().send(Channel::Email, &msg).await;
                mailer.record(sent.is_ok(), now_ms());
                sent
            }
            Err(e) => Err(e),
        };
        let settled = match &outcome {
            Ok(()) => {
                info!(tenant_id = d.tenant_id, task_id = %d.task_id, to = %d.recipient, "scheduled report sent");
                metrics::report_emails("sent").increment(1);
                if now - d.scheduled_at > LATE_AFTER_MS {
                    metrics::report_emails("late").increment(1);
                }
                Ok(())
            }
            Err(e) => {
                let late = now - d.scheduled_at >= mailer.give_up_after_ms;
                let retry_at = match e {
                    SendError::Transient { retry_after, .. } if !late => {
                        let wait = backoff_delay(
                            d.attempts,
                            Duration::from_secs(5),
                            Duration::from_secs(600),
                            *retry_after,
                        );
                        Some(now + wait.as_millis() as i64)
                    }
                    _ => None,
                };
                warn!(tenant_id = d.tenant_id, task_id = %d.task_id, to = %d.recipient, error = %e,
                    retry = retry_at.is_some(), "a scheduled report could not be sent");
                let outcome = if retry_at.is_some() {
                    "retried"
                } else {
                    "failed"
                };
                metrics::report_emails(outcome).increment(1);
                Err(retry_at)
            }
        };
        let reason = outcome.as_ref().err().map(ToString::to_string);
        let result = match settled {
            Ok(()) => deliveries.settle(&d.delivery_id, Ok(()), now_ms()).await,
            Err(retry_at) => {
                let reason = reason.unwrap_or_default();
                deliveries
                    .settle(&d.delivery_id, Err((&reason, retry_at)), now_ms())
                    .await
            }
        };
        if let Err(e) = result {
            warn!(error = %e, "cannot record a report email's outcome; it is sent again after its lease");
        }
    }

    /// The email of a delivery, with the report attached.
    async fn email(&self, d: &DueDelivery, now: Millis) -> Result<Outgoing, SendError> {
        let file_name = d
            .file_name
            .as_deref()
            .ok_or_else(|| SendError::permanent("the report has no file"))?;
        let file = self
            .inner
            .store
            .report_jobs()
            .file(file_name, now)
            .await
            .map_err(|e| SendError::transient(format!("cannot read the report: {e}")))?
            .ok_or_else(|| SendError::permanent("the report file expired before it was sent"))?;
        let format = file_name
            .rsplit_once('.')
            .and_then(|(_, ext)| Format::parse(ext))
            .unwrap_or(Format::Pdf);
        let lang = Language::parse(&d.language).unwrap_or_default();
        let period = format!(
            "{} – {}",
            vigil_schema::format_instant(d.period.0),
            vigil_schema::format_instant(d.period.1)
        );
        let subject = format!(
            "Vigil: {} {} {}, {period}",
            Label::Title.text(lang),
            Label::Tenant.text(lang),
            d.tenant_id
        );
        let text = d.summary.clone().unwrap_or_default();
        let html = format!(
            "<!doctype html><html><body><h2>{}</h2><pre>{}</pre></body></html>",
            crate::notify::message::escape(&subject),
            crate::notify::message::escape(&text)
        );
        Ok(Outgoing {
            idempotency_key: d.delivery_id.clone(),
            tenant_id: d.tenant_id,
            to: d.recipient.clone(),
            content: Content::Email {
                from: None,
                email: Email {
                    subject,
                    text,
                    html,
                    attachments: vec![Attachment {
                        file_name: format!(
                            "sla-report-{}-{}.{}",
                            d.tenant_id,
                            d.task_id,
                            format.as_str()
                        ),
                        content_type: format.content_type().to_string(),
                        content: file.content,
                    }],
                },
            },
        })
    }
}

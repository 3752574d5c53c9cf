//! Report jobs: queued in the store by the API (and schedules), run by a bounded pool of
//! workers on every instance, each job claimed under a lease its worker renews while it
//! computes and renders; a job whose instance stopped is claimed again after the lease and
//! starts over. Expired files are deleted, and the reporting history is pruned to its
//! retention, by the same upkeep.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::{info, info_span, warn, Instrument};

use super::compute::{compute, ReportRequest};
use super::config::{ReportsConfig, TenantReport};
use super::format::{Format, Renderer};
use super::history::{what_if_from_stream, PolicySources};
use super::labels::Language;
use super::mailer::Mailer;
use super::model::{Period, Report};
use super::summary::summary_text;
use super::what_if::{WhatIf, WhatIfRun};
use super::zone::ReportZones;
use crate::clock::now_ms;
use crate::store::{EnqueueError, NewReportJob, ReportJob, Store};
use crate::telemetry::metrics;

/// How long a worker's claim on a job lasts unless renewed.
const LEASE_MS: i64 = 30_000;
/// How often a running job's progress is saved and its lease renewed.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How often idle workers look for jobs queued by other instances.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// How often expired files are deleted and the history pruned.
const UPKEEP_EVERY: Duration = Duration::from_secs(600);
/// How long a failed job stays visible.
const FAILED_KEPT_MS: i64 = 86_400_000;

/// Which breakdowns a report carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakdowns {
    /// Per priority.
    pub priority: bool,
    /// Per service type.
    pub service_type: bool,
    /// Per engineer.
    pub engineer: bool,
}

impl Default for Breakdowns {
    fn default() -> Self {
        Breakdowns {
            priority: true,
            service_type: true,
            engineer: true,
        }
    }
}

impl Breakdowns {
    /// Parses names (`priority`, `service_type`, `engineer`); `None` names one that is not.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Breakdowns> {
        let mut b = Breakdowns {
            priority: false,
            service_type: false,
            engineer: false,
        };
        for name in names {
            match name.trim() {
                "priority" => b.priority = true,
                "service_type" => b.service_type = true,
                "engineer" => b.engineer = true,
                "" => {}
                _ => return None,
            }
        }
        Some(b)
    }

    /// The names, comma-separated.
    pub fn names(self) -> String {
        [
            (self.priority, "priority"),
            (self.service_type, "service_type"),
            (self.engineer, "engineer"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
    }

    /// Leaves out of `report` what was not asked for.
    pub fn apply(self, report: &mut Report) {
        if !self.priority {
            report.by_priority.clear();
        }
        if !self.service_type {
            report.by_service_type.clear();
        }
        if !self.engineer {
            report.by_engineer.clear();
        }
    }
}

/// A report asked for.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The tenant.
    pub tenant_id: u64,
    /// The period.
    pub period: Period,
    /// The file's format.
    pub format: Format,
    /// The breakdowns it carries.
    pub breakdowns: Breakdowns,
    /// Who asked.
    pub requested_by: String,
    /// The tenant's language and zone.
    pub settings: TenantReport,
}

/// A report computed and rendered.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The file.
    pub bytes: Vec<u8>,
    /// Goal outcomes it counts.
    pub records: u64,
    /// Its headline figures in a few lines (the body of a scheduled report's email).
    pub summary: String,
}

/// Reports: each tenant's settings, generating one, and the job queue with its workers.
#[derive(Clone)]
pub struct Reports {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reports")
            .field("config", &self.inner.config)
            .field("tenants", &self.inner.tenants.len())
            .finish_non_exhaustive()
    }
}

/// What a what-if reads: the events stream and the policies in force.
#[derive(Clone)]
pub struct WhatIfSource {
    /// JetStream.
    pub js: async_nats::jetstream::Context,
    /// The events stream's name and partitions.
    pub stream: (String, u32),
    /// The policies in force, which proposals are merged over.
    pub policies: PolicySources,
    /// Engine settings (retention of final tickets and event ids).
    pub settings: vigil_engine::EngineSettings,
    /// Allowed lateness.
    pub lateness_ms: i64,
}

/// Why a what-if did not run.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// The proposed policy does not compile.
    #[error("{0:#}")]
    Policy(anyhow::Error),
    /// The history could not be read (or the policy in force does not compile).
    #[error("{0:#}")]
    History(anyhow::Error),
}

pub(super) struct Inner {
    pub(super) store: Store,
    what_if: Option<WhatIfSource>,
    pub(super) mailer: Option<Mailer>,
    pub(super) config: ReportsConfig,
    pub(super) tenants: BTreeMap<u64, TenantReport>,
    renderer: Renderer,
    pub(super) wake: Notify,
    /// Told when a job with deliveries may have finished.
    pub(super) delivered: Notify,
}

impl Reports {
    /// Reports from `store` as `[reports]` says, with the tenants' `[report]` settings; the
    /// PDF font is `config.font_file`.
    pub fn new(
        store: Store,
        config: &ReportsConfig,
        tenants: BTreeMap<u64, TenantReport>,
    ) -> Reports {
        Reports {
            inner: Arc::new(Inner {
                store,
                what_if: None,
                mailer: None,
                delivered: Notify::new(),
                renderer: Renderer::new(config.font_file.clone()),
                config: config.clone(),
                tenants,
                wake: Notify::new(),
            }),
        }
    }

    /// These reports, answering what-if questions from `source` and emailing scheduled
    /// reports through `mailer` (none: scheduled reports are generated, their emails wait).
    pub fn serving(self, source: WhatIfSource, mailer: Option<Mailer>) -> Reports {
        let inner = Inner {
            store: self.inner.store.clone(),
            what_if: Some(source),
            mailer,
            config: self.inner.config.clone(),
            tenants: self.inner.tenants.clone(),
            renderer: Renderer::new(self.inner.config.font_file.clone()),
            wake: Notify::new(),
            delivered: Notify::new(),
        };
        Reports {
            inner: Arc::new(inner),
        }
    }

    /// Runs a what-if of `tenant` over `period` with `proposal` merged over its policy:
    /// `None` when this instance has no events stream to read.
    pub async fn what_if(
        &self,
        tenant: u64,
        period: Period,
        proposal: &vigil_engine::PolicySpec,
    ) -> Option<Result<WhatIf, WhatIfError>> {
        let source = self.inner.what_if.as_ref()?;
        let run = async {
            let proposed = source
                .policies
                .proposed(Some(tenant), proposal)
                .map_err(WhatIfError::Policy)?;
            let run = WhatIfRun {
                current: Arc::new(source.policies.current().map_err(WhatIfError::History)?),
                proposed: Arc::new(proposed),
                settings: source.settings.clone(),
                lateness_ms: source.lateness_ms,
                period,
                tenant_id: Some(tenant),
            };
            what_if_from_stream(&source.js, (&source.stream.0, source.stream.1), run)
                .await
                .map_err(WhatIfError::History)
        };
        Some(run.await)
    }

    /// A tenant's report settings (the defaults when its file names none).
    pub fn tenant(&self, tenant_id: u64) -> TenantReport {
        self.inner
            .tenants
            .get(&tenant_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The zones of every tenant.
    pub fn zones(&self) -> ReportZones {
        ReportZones::new(&self.inner.tenants)
    }

    /// Computes and renders a report now; returns the file and the goal outcomes it counts.
    pub async fn generate(
        &self,
        request: &JobRequest,
        progress: &(dyn Fn(u8) + Sync),
    ) -> anyhow::Result<Generated> {
        let compute_request = ReportRequest {
            tenant_id: request.tenant_id,
            period: request.period,
            language: request.settings.language,
            timezone: request.settings.timezone.clone(),
        };
        let mut report = compute(&self.inner.store, &compute_request, now_ms(), progress).await?;
        request.breakdowns.apply(&mut report);
        let records = records_of(&report);
        let summary = summary_text(&report);
        let inner = self.inner.clone();
        let format = request.format;
        let bytes =
            tokio::task::spawn_blocking(move || inner.renderer.render(&report, format)).await??;
        progress(100);
        Ok(Generated {
            bytes,
            records,
            summary,
        })
    }

    /// Queues a job; its task id, or why it was refused.
    pub async fn queue(&self, request: &JobRequest) -> Result<String, EnqueueError> {
        let task_id = new_task_id();
        let job = new_job(request, task_id.clone());
        self.inner
            .store
            .report_jobs()
            .enqueue(&job, self.inner.config.max_queued, now_ms())
            .await?;
        info!(tenant_id = request.tenant_id, task_id = %task_id, format = job.format, "report job queued");
        self.inner.wake.notify_one();
        Ok(task_id)
    }

    /// Starts `[reports] workers` workers named after `instance` (none: this instance only
    /// queues jobs for others), and the upkeep; they end
    /// when `stop` turns true (a job under way is left to its lease and runs again).
    pub fn spawn(
        &self,
        instance: &str,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks: Vec<_> = (0..self.inner.config.workers)
            .map(|i| {
                let worker = format!("{instance}/{i}");
                tokio::spawn(self.clone().work(worker, stop.clone()))
            })
            .collect();
        tasks.push(tokio::spawn(self.clone().schedule(stop.clone())));
        tasks.push(tokio::spawn(self.clone().deliver(stop.clone())));
        tasks.push(tokio::spawn(self.clone().upkeep(stop)));
        tasks
    }

    async fn work(self, worker: String, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self
                .inner
                .store
                .report_jobs()
                .claim(&worker, LEASE_MS, now_ms())
                .await
            {
                Ok(Some(job)) => {
                    let span = info_span!("report_job", tenant_id = job.request.tenant_id, task_id = %job.request.task_id);
                    self.run(&worker, job).instrument(span).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "cannot claim report jobs; will try again"),
            }
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Runs one claimed job to its end, saving progress and renewing the claim meanwhile.
    async fn run(&self, worker: &str, job: ReportJob) {
        let jobs = self.inner.store.report_jobs();
        let task_id = job.request.task_id.clone();
        let request = match job_request(&job) {
            Ok(r) => r,
            Err(why) => {
                let _ = jobs.fail(&task_id, worker, &why, now_ms()).await;
                return;
            }
        };
        info!(attempt = job.attempts, "generating report");
        let percent = Arc::new(AtomicU8::new(0));
        let seen = percent.clone();
        let progress = move |p: u8| seen.store(p, Ordering::Relaxed);
        let generating = self.generate(&request, &progress);
        tokio::pin!(generating);
        let mut renew = tokio::time::interval(RENEW_EVERY);
        let outcome = loop {
            tokio::select! {
                done = &mut generating => break done,
                _ = renew.tick() => {
                    let p = percent.load(Ordering::Relaxed).min(99);
                    match jobs.progress(&task_id, worker, p, now_ms() + LEASE_MS).await {
                        Ok(true) => {}
                        Ok(false) => {
                            warn!("lost the claim on the report job; another worker runs it");
                            return;
                        }
                        Err(e) => warn!(error = %e, "cannot save report progress"),
                    }
                }
            }
        };
        let now = now_ms();
        match outcome {
            Ok(done) => {
                let file = format!("{task_id}.{}", request.format.as_str());
                let expires = now + self.inner.config.file_retention.as_millis();
                let (bytes, records) = (done.bytes.len(), done.records);
                let content = (file.as_str(), done.bytes.as_slice(), done.summary.as_str());
                match jobs
                    .finish(&task_id, worker, content, records, (now, expires))
                    .await
                {
                    Ok(true) => {
                        info!(bytes, records, "report ready");
                        metrics::report_jobs("done").increment(1);
                        self.inner.delivered.notify_one();
                    }
                    Ok(false) => warn!("lost the claim on the report job before it finished"),
                    Err(e) => {
                        warn!(error = %e, "cannot store the report; it runs again after its lease")
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, "report failed");
                metrics::report_jobs("failed").increment(1);
                let _ = jobs.fail(&task_id, worker, &format!("{e:#}"), now).await;
            }
        }
    }

    /// Deletes expired files and prunes the history, now and then.
    async fn upkeep(self, mut stop: watch::Receiver<bool>) {
        loop {
            let now = now_ms();
            if let Err(e) = self
                .inner
                .store
                .report_jobs()
                .expire(now, now - FAILED_KEPT_MS)
                .await
            {
                warn!(error = %e, "cannot delete expired report files");
            }
            let before = now - self.inner.config.retention.as_millis();
            // A day is pruned once all of it is older than the retention, in any zone.
            let before_day = before.div_euclid(86_400_000) as i32 - 1;
            match self
                .inner
                .store
                .report_facts()
                .prune(before, before_day)
                .await
            {
                Ok(0) => {}
                Ok(n) => info!(facts = n, "pruned reporting history past its retention"),
                Err(e) => warn!(error = %e, "cannot prune the reporting history"),
            }
            tokio::select! {
                _ = tokio::time::sleep(UPKEEP_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// The request a stored job holds.
fn job_request(job: &ReportJob) -> Result<JobRequest, String> {
    let r = &job.request;
    Ok(JobRequest {
        tenant_id: r.tenant_id,
        period: Period {
            from: r.period.0,
            to: r.period.1,
        },
        format: Format::parse(&r.format).ok_or_else(|| format!("unknown format {:?}", r.format))?,
        breakdowns: Breakdowns::parse(r.breakdowns.split(','))
            .ok_or_else(|| format!("unknown breakdowns {:?}", r.breakdowns))?,
        requested_by: r.requested_by.clone(),
        settings: TenantReport {
            language: Language::parse(&r.language).unwrap_or_default(),
            timezone: r.timezone.clone(),
            schedules: Vec::new(),
        },
    })
}

/// The job row of a request.
pub(super) fn new_job(request: &JobRequest, task_id: String) -> NewReportJob {
    NewReportJob {
        task_id,
        tenant_id: request.tenant_id,
        requested_by: request.requested_by.clone(),
        format: request.format.as_str().into(),
        period: (request.period.from, request.period.to),
        language: request.settings.language.as_str().into(),
        timezone: request.settings.timezone.clone(),
        breakdowns: request.breakdowns.names(),
        schedule_id: None,
        deliver_to: Vec::new(),
    }
}

/// Goal outcomes a report counts.
fn records_of(report: &Report) -> u64 {
    [report.summary.response, report.summary.resolution]
        .iter()
        .map(|g| g.met + g.breached + g.cancelled)
        .sum()
}

/// A new task id: `rpt-` and 16 random bytes in hex.
fn new_task_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // The clock and a counter still make ids unique within the process.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        bytes[..8].copy_from_slice(&now_ms().to_le_bytes());
        bytes[8..].copy_from_slice(&n.to_le_bytes());
    }
    format!("rpt-{}", crate::hex::encode(&bytes))
}

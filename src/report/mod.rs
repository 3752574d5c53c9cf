//! SLA reports: one tenant's figures over a period, computed from the goal outcomes and
//! daily rollups the store keeps, rendered as JSON, CSV, Excel or PDF.
//!
//! # Layout
//! - [`config`]: `[reports]` and a tenant's `[report]`.
//! - [`model`]: what a report says ([`Report`]); every format renders it.
//! - [`labels`]: its words in English and Simplified Chinese.
//! - [`zone`]: local days of a tenant's report zone.
//! - [`period`]: the period a report covers, as callers name it.
//! - [`compute`]: a report from the store's rollups and facts.
//! - [`format`]: the formats and rendering a report in one.
//! - [`csv`]: the report as one CSV table.
//! - [`jobs`]: [`Reports`]: tenants' settings, generating a report, the job queue and its
//!   workers.
//! - [`what_if`]: a tenant's history under the policy in force and a proposed one, side by
//!   side.
//! - [`history`]: a tenant's events from the stream, and the proposed policy of a what-if.
//! - [`schedule`]: a tenant's scheduled reports and the runs they are due for.
//! - [`delivery`]: scheduled runs queued once, and their reports emailed; [`mailer`]: what
//!   sends those emails; [`summary`]: a report's headline figures for the email's body.
//! - [`xlsx`]: the report as an Excel workbook.
//! - [`pdf`]: the report as a PDF document.

pub mod compute;
pub mod config;
pub mod csv;
pub mod delivery;
pub mod format;
pub mod history;
pub mod jobs;
pub mod labels;
pub mod mailer;
pub mod model;
pub mod pdf;
pub mod period;
pub mod schedule;
pub mod summary;
pub mod what_if;
pub mod xlsx;
pub mod zone;

pub use config::{ReportsConfig, TenantReport};
pub use format::{Format, Renderer};
pub use jobs::{Breakdowns, JobRequest, Reports, WhatIfSource};
pub use labels::{Label, Language};
pub use model::Report;

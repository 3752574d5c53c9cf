//! Creating or verifying the three streams: events (partitioned), dead letters and alerts.

use std::time::Duration;

use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{Config, StorageType, SubjectTransform};
use async_nats::jetstream::Context;
use async_nats::jetstream::ErrorCode;

use super::config::StreamSettings;
use super::subjects::{
    parse_partition_transform, partition_transform, ALERTS_STREAM, ALERTS_SUBJECTS, CONFIG_STREAM,
    CONFIG_SUBJECT, DLQ_STREAM, DLQ_SUBJECTS, EVENTS_SUBJECTS,
};
use super::BoxError;

/// Why the streams could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The settings are invalid (every problem, one per line).
    #[error("invalid stream settings:\n{0}")]
    Invalid(String),
    /// The events stream exists with another partition count.
    #[error(
        "stream {stream} has {existing} partitions but {configured} are configured; the partition \
         count of an existing stream never changes: set `partitions = {existing}`"
    )]
    PartitionMismatch {
        /// The stream.
        stream: String,
        /// Its partition count.
        existing: u32,
        /// The configured count.
        configured: u32,
    },
    /// A stream exists with subjects or a transform Vigil did not give it.
    #[error("stream {stream} exists with {what} {found}, expected {expected}")]
    Conflict {
        /// The stream.
        stream: String,
        /// What differs (`subjects`, `subject transform`).
        what: &'static str,
        /// What the stream has.
        found: String,
        /// What Vigil expects.
        expected: String,
    },
    /// JetStream refused the stream configuration.
    #[error("JetStream rejected stream {stream}: {source}")]
    Rejected {
        /// The stream.
        stream: String,
        /// The server's answer.
        source: BoxError,
    },
    /// JetStream did not answer (not connected, not enabled, timed out).
    #[error("JetStream unavailable while setting up stream {stream}: {source}")]
    Unavailable {
        /// The stream.
        stream: String,
        /// What failed.
        source: BoxError,
    },
}

impl SetupError {
    /// Whether trying again later can help (only when JetStream did not answer).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SetupError::Unavailable { .. })
    }
}

/// Creates the events, dead-letter and alert streams, or verifies existing ones.
///
/// The events stream takes `vigil.events.*` and stores it as
/// `vigil.p.{{partition(P,1)}}.{{wildcard(1)}}`. An existing events stream with another
/// partition count is an error ([`SetupError::PartitionMismatch`]); existing streams with
/// other subjects are errors too. A changed retention, duplicate window or replica count is
/// applied to the existing stream.
#[tracing::instrument(skip_all, fields(stream = %settings.name, partitions = settings.partitions))]
pub async fn ensure_streams(js: &Context, settings: &StreamSettings) -> Result<(), SetupError> {
    let problems = settings.validate();
    if !problems.is_empty() {
        return Err(SetupError::Invalid(problems.join("\n")));
    }
    let stream = |name: &str, subjects: &str, duplicate_window: Duration| Config {
        name: name.to_string(),
        subjects: vec![subjects.to_string()],
        max_age: settings.retention,
        duplicate_window,
        storage: StorageType::File,
        num_replicas: settings.replicas,
        ..Config::default()
    };
    let mut events = stream(
        &settings.name,
        EVENTS_SUBJECTS,
        settings.events_duplicate_window,
    );
    events.description = Some("Vigil upstream events, partitioned by tenant".to_string());
    events.subject_transform = Some(SubjectTransform {
        source: EVENTS_SUBJECTS.to_string(),
        destination: partition_transform(settings.partitions),
    });
    ensure(js, events).await?;
    // The dead-letter stream keeps ids only as long as the events stream does.
    ensure(
        js,
        stream(DLQ_STREAM, DLQ_SUBJECTS, settings.events_duplicate_window),
    )
    .await?;
    ensure(
        js,
        stream(
            ALERTS_STREAM,
            ALERTS_SUBJECTS,
            settings.alerts_duplicate_window,
        ),
    )
    .await?;
    // Notices only: the store keeps every version of every key for years.
    ensure(
        js,
        stream(
            CONFIG_STREAM,
            CONFIG_SUBJECT,
            settings.alerts_duplicate_window,
        ),
    )
    .await
}

/// Creates `want`, or checks the existing stream of that name against it.
async fn ensure(js: &Context, want: Config) -> Result<(), SetupError> {
    let name = want.name.clone();
    match js.get_stream(&name).await {
        Ok(stream) => reconcile(js, stream.cached_info().config.clone(), want).await,
        Err(err) if is_not_found(&err.kind()) => match js.create_stream(want.clone()).await {
            Ok(_) => {
                tracing::info!(stream = %name, "created stream");
                Ok(())
            }
            // Another instance created it first: verify theirs.
            Err(err) if is_name_taken(&err.kind()) => {
                let stream = js
                    .get_stream(&name)
                    .await
                    .map_err(|e| unavailable(&name, e))?;
                reconcile(js, stream.cached_info().config.clone(), want).await
            }
            Err(err) => Err(create_error(&name, err)),
        },
        Err(err) => Err(unavailable(&name, err)),
    }
}

/// Fails on a conflicting existing stream; applies changed limits.
async fn reconcile(js: &Context, mut have: Config, want: Config) -> Result<(), SetupError> {
    let stream = want.name.clone();
    if let Some(want_transform) = &want.subject_transform {
        let found = have
            .subject_transform
            .as_ref()
            .map(|t| (t.source.as_str(), t.destination.as_str()));
        let want_partitions = parse_partition_transform(&want_transform.destination);
        match (found, want_partitions) {
            (Some((src, dest)), Some(configured)) if src == want_transform.source => {
                match parse_partition_transform(dest) {
                    Some(existing) if existing == configured => {}
                    Some(existing) => {
                        return Err(SetupError::PartitionMismatch {
                            stream,
                            existing,
                            configured,
                        })
                    }
                    None => return Err(transform_conflict(stream, found, want_transform)),
                }
            }
            _ => return Err(transform_conflict(stream, found, want_transform)),
        }
    }
    if have.subjects != want.subjects {
        return Err(SetupError::Conflict {
            stream,
            what: "subjects",
            found: format!("{:?}", have.subjects),
            expected: format!("{:?}", want.subjects),
        });
    }
    if (have.max_age, have.duplicate_window, have.num_replicas)
        == (want.max_age, want.duplicate_window, want.num_replicas)
    {
        return Ok(());
    }
    tracing::info!(
        stream = %stream,
        max_age = ?want.max_age,
        duplicate_window = ?want.duplicate_window,
        replicas = want.num_replicas,
        "updating stream limits"
    );
    have.max_age = want.max_age;
    have.duplicate_window = want.duplicate_window;
    have.num_replicas = want.num_replicas;
    js.update_stream(have)
        .await
        .map(drop)
        .map_err(|e| create_error(&stream, e))
}

fn transform_conflict(
    stream: String,
    found: Option<(&str, &str)>,
    want: &SubjectTransform,
) -> SetupError {
    SetupError::Conflict {
        stream,
        what: "subject transform",
        found: found.map_or("none".to_string(), |(s, d)| format!("{s} -> {d}")),
        expected: format!("{} -> {}", want.source, want.destination),
    }
}

fn is_not_found(kind: &GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

fn is_name_taken(kind: &CreateStreamErrorKind) -> bool {
    matches!(kind, CreateStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NAME_EXIST)
}

fn create_error(
    stream: &str,
    err: async_nats::jetstream::context::CreateStreamError,
) -> SetupError {
    let stream = stream.to_string();
    match err.kind() {
        CreateStreamErrorKind::JetStreamUnavailable
        | CreateStreamErrorKind::TimedOut
        | CreateStreamErrorKind::Response => SetupError::Unavailable {
            stream,
            source: Box::new(err),
        },
        _ => SetupError::Rejected {
            stream,
            source: Box::new(err),
        },
    }
}

fn unavailable(stream: &str, err: impl std::error::Error + Send + Sync + 'static) -> SetupError {
    SetupError::Unavailable {
        stream: stream.to_string(),
        source: Box::new(err),
    }
}

//! Stream names and subjects, defined once.
//!
//! Upstream publishes to `vigil.events.<tenant_id>`; the events stream stores each event as
//! `vigil.p.<partition>.<tenant_id>`. Vigil's own output lives in separate streams that never
//! overlap the events stream: `vigil.dlq.<tenant_id>` and `vigil.alerts.<tenant_id>`.

/// Default name of the events stream (config `nats.stream`).
pub const EVENTS_STREAM: &str = "VIGIL_EVENTS";
/// Subjects the events stream takes.
pub const EVENTS_SUBJECTS: &str = "vigil.events.*";
/// Prefix of an upstream event subject; the tenant id follows.
pub const EVENTS_PREFIX: &str = "vigil.events.";
/// Prefix of a stored (partitioned) event subject: `vigil.p.<partition>.<tenant_id>`.
pub const PARTITION_PREFIX: &str = "vigil.p.";

/// The dead-letter stream.
pub const DLQ_STREAM: &str = "VIGIL_DLQ";
/// Subjects the dead-letter stream takes.
pub const DLQ_SUBJECTS: &str = "vigil.dlq.*";
/// Dead-letter subject token used when the tenant could not be read.
pub const DLQ_UNKNOWN_TENANT: &str = "unknown";

/// The stream of configuration changes (`vigil.config.changes`), which every instance follows
/// to apply the runtime layer and other systems may follow too.
pub const CONFIG_STREAM: &str = "VIGIL_CONFIG";
/// Subject of configuration change notices.
pub const CONFIG_SUBJECT: &str = "vigil.config.changes";

/// The alert stream.
pub const ALERTS_STREAM: &str = "VIGIL_ALERTS";
/// Subjects the alert stream takes.
pub const ALERTS_SUBJECTS: &str = "vigil.alerts.*";

/// Header carrying a dead letter's reason (`RejectReason::as_str`).
pub const REJECT_REASON_HEADER: &str = "Vigil-Reject-Reason";
/// Header carrying a dead letter's human-readable detail.
pub const REJECT_DETAIL_HEADER: &str = "Vigil-Reject-Detail";

/// `vigil.events.<tenant_id>`: where upstream publishes a tenant's events.
pub fn event_subject(tenant_id: u64) -> String {
    format!("{EVENTS_PREFIX}{tenant_id}")
}

/// The `Nats-Msg-Id` Vigil's own publishers give an event: `<tenant_id>:<event_id>`.
/// JetStream drops repeats of a message id across the whole stream, while an `event_id` is only
/// unique per tenant, so the tenant is part of the id.
pub fn event_message_id(tenant_id: u64, event_id: &str) -> String {
    format!("{tenant_id}:{event_id}")
}

/// `vigil.p.<partition>.*`: the filter of one partition.
pub fn partition_filter(partition: u32) -> String {
    format!("{PARTITION_PREFIX}{partition}.*")
}

/// `vigil.p.<partition>.<tenant_id>`: the filter of one tenant's events.
pub fn tenant_filter(partition: u32, tenant_id: u64) -> String {
    format!("{PARTITION_PREFIX}{partition}.{tenant_id}")
}

/// `vigil.dlq.<tenant_id>`, or `vigil.dlq.unknown`.
pub fn dlq_subject(tenant_id: Option<u64>) -> String {
    match tenant_id {
        Some(id) => format!("vigil.dlq.{id}"),
        None => format!("vigil.dlq.{DLQ_UNKNOWN_TENANT}"),
    }
}

/// `vigil.alerts.<tenant_id>`.
pub fn alert_subject(tenant_id: u64) -> String {
    format!("vigil.alerts.{tenant_id}")
}

/// The subject transform destination for `partitions` partitions:
/// `vigil.p.{{partition(P,1)}}.{{wildcard(1)}}`.
pub fn partition_transform(partitions: u32) -> String {
    format!("{PARTITION_PREFIX}{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}")
}

/// The partition count of a transform made by [`partition_transform`], if it is one.
pub fn parse_partition_transform(destination: &str) -> Option<u32> {
    let rest = destination.strip_prefix("vigil.p.{{partition(")?;
    let (count, rest) = rest.split_once(",1)}}")?;
    (rest == ".{{wildcard(1)}}").then_some(())?;
    count.trim().parse().ok()
}

/// The tenant id of a stored event subject `vigil.p.<partition>.<tenant_id>` (or of an
/// upstream subject `vigil.events.<tenant_id>`): the last token as a positive integer.
pub fn tenant_of_subject(subject: &str) -> Option<u64> {
    let token = subject.rsplit('.').next()?;
    // `parse` accepts a leading `+`, which a tenant token never has.
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok().filter(|&id| id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_round_trips() {
        assert_eq!(
            partition_transform(16),
            "vigil.p.{{partition(16,1)}}.{{wildcard(1)}}"
        );
        assert_eq!(
            parse_partition_transform(&partition_transform(16)),
            Some(16)
        );
        assert_eq!(parse_partition_transform("vigil.p.{{wildcard(1)}}"), None);
    }

    #[test]
    fn subjects() {
        assert_eq!(event_subject(42), "vigil.events.42");
        assert_eq!(partition_filter(3), "vigil.p.3.*");
        assert_eq!(dlq_subject(Some(7)), "vigil.dlq.7");
        assert_eq!(dlq_subject(None), "vigil.dlq.unknown");
        assert_eq!(alert_subject(7), "vigil.alerts.7");
        assert_eq!(tenant_of_subject("vigil.p.3.12345"), Some(12345));
        assert_eq!(tenant_of_subject("vigil.events.42"), Some(42));
        for bad in [
            "vigil.p.3.abc",
            "vigil.p.3.0",
            "vigil.p.3.+5",
            "vigil.p.3.",
            "",
        ] {
            assert_eq!(tenant_of_subject(bad), None, "{bad}");
        }
    }
}

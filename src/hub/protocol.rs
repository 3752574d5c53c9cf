//! The WebSocket protocol's messages (DESIGN.md §5): what clients send, and the text of what
//! the server sends, serialised once per message and shared by every client that gets it.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};

use super::queue::{Outgoing, Supersedes};

/// A client's request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Start (or replace) the subscription.
    Subscribe {
        /// Any of `metrics`, `alerts`, `tickets`.
        channels: Vec<String>,
        /// Tenants to follow: a list, or `"all"` (ops only); absent means the token's tenant.
        #[serde(default)]
        tenant_ids: Option<TenantIds>,
        /// The last `seq` seen: a number (one tenant) or `{"<tenant_id>": seq}`.
        #[serde(default)]
        resume_from: Option<ResumeFrom>,
    },
    /// Application-level keep-alive (browsers cannot send ping frames).
    Ping,
}

/// `tenant_ids` of a subscription.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TenantIds {
    /// These tenants.
    List(Vec<u64>),
    /// `"all"`.
    All(String),
}

/// `resume_from` of a subscription.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ResumeFrom {
    /// The seq of the only tenant subscribed.
    One(u64),
    /// Per tenant id (as a string key).
    PerTenant(std::collections::BTreeMap<String, u64>),
}

impl ResumeFrom {
    /// Where to resume `tenant_id` from, if given.
    pub fn of(&self, tenant_id: u64, only_tenant: bool) -> Option<u64> {
        match self {
            ResumeFrom::One(seq) => only_tenant.then_some(*seq),
            ResumeFrom::PerTenant(map) => map.get(&tenant_id.to_string()).copied(),
        }
    }
}

/// The channels a subscription asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Channels {
    /// `metrics`.
    pub metrics: bool,
    /// `alerts`.
    pub alerts: bool,
    /// `tickets`.
    pub tickets: bool,
}

impl Channels {
    /// Parses channel names; an error names the bad one.
    pub fn parse(names: &[String]) -> Result<Channels, String> {
        let mut c = Channels::default();
        for name in names {
            match name.as_str() {
                "metrics" => c.metrics = true,
                "alerts" => c.alerts = true,
                "tickets" => c.tickets = true,
                other => {
                    return Err(format!(
                        "channels: unknown channel {other:?} (expected metrics, alerts, tickets)"
                    ))
                }
            }
        }
        if c == Channels::default() {
            return Err("channels: name at least one of metrics, alerts, tickets".into());
        }
        Ok(c)
    }

    /// Whether it wants metrics or ticket updates (the coalesced ones).
    pub fn wants_updates(self) -> bool {
        self.metrics || self.tickets
    }
}

#[derive(Serialize)]
struct Delta<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    tenant_id: u64,
    data: &'a T,
}

#[derive(Serialize)]
struct Snapshot<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    channel: &'static str,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<u64>,
    data: &'a T,
}

fn text(value: &impl Serialize) -> Utf8Bytes {
    // Our own types always serialise; an empty object is the harmless fallback.
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".into())
        .into()
}

/// A delta: `{"type":kind,"seq":…,"tenant_id":…,"data":…}`.
pub fn delta(
    kind: &'static str,
    seq: u64,
    tenant_id: u64,
    data: &impl Serialize,
    supersedes: Option<Supersedes>,
) -> Outgoing {
    Outgoing {
        text: text(&Delta {
            kind,
            seq,
            tenant_id,
            data,
        }),
        kind,
        supersedes,
    }
}

/// A snapshot of one channel: `{"type":"snapshot","channel":…,"seq":…,"tenant_id":…,"data":…}`.
pub fn snapshot(
    channel: &'static str,
    seq: u64,
    tenant_id: Option<u64>,
    data: &impl Serialize,
) -> Outgoing {
    Outgoing {
        text: text(&Snapshot {
            kind: "snapshot",
            channel,
            seq,
            tenant_id,
            data,
        }),
        kind: "snapshot",
        supersedes: None,
    }
}

/// A message without a seq (`resumed`, `pong`, `error`).
pub fn control(kind: &'static str, body: serde_json::Value) -> Outgoing {
    let mut object = serde_json::Map::new();
    object.insert("type".into(), kind.into());
    if let serde_json::Value::Object(fields) = body {
        object.extend(fields);
    }
    Outgoing {
        text: text(&object),
        kind,
        supersedes: None,
    }
}

/// An error message: `{"type":"error","code":…,"message":…}`.
pub fn error(code: u32, message: &str) -> Outgoing {
    control(
        "error",
        serde_json::json!({ "code": code, "message": message }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_ones_say_why() {
        let r: Request = serde_json::from_str(
            r#"{"op":"subscribe","channels":["metrics","alerts"],"resume_from":17}"#,
        )
        .unwrap();
        let Request::Subscribe {
            channels,
            resume_from,
            tenant_ids,
        } = r
        else {
            panic!("not a subscribe")
        };
        assert_eq!(tenant_ids, None);
        assert_eq!(resume_from.unwrap().of(5, true), Some(17));
        let c = Channels::parse(&channels).unwrap();
        assert!(c.metrics && c.alerts && !c.tickets);
        assert!(Channels::parse(&["nope".into()])
            .unwrap_err()
            .contains("nope"));
        assert!(Channels::parse(&[]).is_err());
        let all: Request = serde_json::from_str(
            r#"{"op":"subscribe","channels":["alerts"],"tenant_ids":"all","resume_from":{"7":3}}"#,
        )
        .unwrap();
        let Request::Subscribe {
            tenant_ids,
            resume_from,
            ..
        } = all
        else {
            panic!("not a subscribe")
        };
        assert_eq!(tenant_ids, Some(TenantIds::All("all".into())));
        assert_eq!(resume_from.unwrap().of(7, false), Some(3));
        assert!(serde_json::from_str::<Request>(r#"{"op":"drop_tables"}"#).is_err());
    }

    #[test]
    fn messages_have_the_documented_shape() {
        let d = delta("alert", 9, 12345, &serde_json::json!({"a":1}), None);
        let v: serde_json::Value = serde_json::from_str(d.text.as_str()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"alert","seq":9,"tenant_id":12345,"data":{"a":1}})
        );
        let s = snapshot("metrics", 3, Some(1), &serde_json::json!({}));
        let v: serde_json::Value = serde_json::from_str(s.text.as_str()).unwrap();
        assert_eq!(v["type"], "snapshot");
        assert_eq!(v["channel"], "metrics");
        let e = error(40003, "no");
        let v: serde_json::Value = serde_json::from_str(e.text.as_str()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"error","code":40003,"message":"no"})
        );
    }
}

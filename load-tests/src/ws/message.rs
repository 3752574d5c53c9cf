//! The few fields of the server's messages the load test looks at (spec: `/ws`), read without
//! building the rest; the subscribe request it sends.

use std::borrow::Cow;

use serde::Deserialize;

/// What every client sends once connected.
pub const SUBSCRIBE: &str = r#"{"op":"subscribe","channels":["metrics","alerts"]}"#;

/// The message types counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `snapshot`.
    Snapshot,
    /// `metrics` (coalesced update).
    Metrics,
    /// `alert` (every alert state change).
    Alert,
    /// `ticket`.
    Ticket,
    /// `resumed`.
    Resumed,
    /// `pong`.
    Pong,
    /// `error`.
    Error,
    /// Anything else, including text that is not a message.
    Other,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 8] = [
        Kind::Snapshot,
        Kind::Metrics,
        Kind::Alert,
        Kind::Ticket,
        Kind::Resumed,
        Kind::Pong,
        Kind::Error,
        Kind::Other,
    ];

    /// The wire name (`other` for the rest).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshot",
            Kind::Metrics => "metrics",
            Kind::Alert => "alert",
            Kind::Ticket => "ticket",
            Kind::Resumed => "resumed",
            Kind::Pong => "pong",
            Kind::Error => "error",
            Kind::Other => "other",
        }
    }

    /// Position in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    fn parse(s: &str) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|k| *k != Kind::Other && k.as_str() == s)
            .unwrap_or(Kind::Other)
    }
}

/// One server message, as far as the load test cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<'a> {
    /// Its type.
    pub kind: Kind,
    /// `tenant_id`, when present.
    pub tenant_id: Option<u64>,
    /// For an `alert`: `data.ticket_id`.
    pub ticket_id: Option<Cow<'a, str>>,
    /// For an `alert`: whether `data.state` is `firing`.
    pub firing: bool,
    /// For an `error`: `code`.
    pub code: Option<u64>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    tenant_id: Option<u64>,
    #[serde(default)]
    code: Option<u64>,
    #[serde(default, borrow)]
    data: Option<WireData<'a>>,
}

/// `data` of any message: only an alert's fields are kept, the rest is skipped.
#[derive(Deserialize, Default)]
struct WireData<'a> {
    #[serde(default, borrow)]
    ticket_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    state: Option<Cow<'a, str>>,
}

/// Reads a text frame; text that is not a JSON object with a `type` is [`Kind::Other`].
pub fn parse(text: &str) -> Incoming<'_> {
    let Ok(wire) = serde_json::from_str::<Wire<'_>>(text) else {
        return Incoming {
            kind: Kind::Other,
            tenant_id: None,
            ticket_id: None,
            firing: false,
            code: None,
        };
    };
    let kind = Kind::parse(&wire.kind);
    let data = wire.data.unwrap_or_default();
    let is_alert = kind == Kind::Alert;
    Incoming {
        kind,
        tenant_id: wire.tenant_id,
        firing: is_alert && data.state.as_deref() == Some("firing"),
        ticket_id: if is_alert { data.ticket_id } else { None },
        code: wire.code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_firing_alert() {
        let text = r#"{"type":"alert","seq":1763906401000001,"tenant_id":12,"data":{"alert_id":"a1","state":"firing","tenant_id":12,"ticket_id":"LW1-000000019","goal":"response","level":"breach","threshold":1.0,"target_ms":1800000,"deadline":null,"acked_by":null}}"#;
        let m = parse(text);
        assert_eq!(m.kind, Kind::Alert);
        assert_eq!(m.tenant_id, Some(12));
        assert_eq!(m.ticket_id.as_deref(), Some("LW1-000000019"));
        assert!(m.firing);
        let resolved = text.replace(r#""state":"firing""#, r#""state":"resolved""#);
        assert!(!parse(&resolved).firing);
    }

    #[test]
    fn reads_the_other_types() {
        let metrics = r#"{"type":"metrics","seq":5,"tenant_id":3,"data":{"at":"2026-11-22T06:24:00Z","open":14,"by_priority":{"HIGH":3},"windows":{"1h":{"created":1,"satisfaction":null,"response":{"met":1}}}}}"#;
        let m = parse(metrics);
        assert_eq!(
            (m.kind, m.tenant_id, m.firing),
            (Kind::Metrics, Some(3), false)
        );
        assert_eq!(m.ticket_id, None);
        let snapshot = r#"{"type":"snapshot","channel":"alerts","seq":4,"tenant_id":3,"data":{"alerts":[{"ticket_id":"X","state":"firing"}]}}"#;
        let s = parse(snapshot);
        assert_eq!(
            (s.kind, s.firing, s.ticket_id),
            (Kind::Snapshot, false, None)
        );
        let closed =
            r#"{"type":"ticket","seq":6,"tenant_id":3,"data":{"ticket_id":"X","closed":true}}"#;
        assert_eq!(parse(closed).kind, Kind::Ticket);
        assert_eq!(parse(r#"{"type":"pong"}"#).kind, Kind::Pong);
        let error = parse(r#"{"type":"error","code":40003,"message":"not your tenant"}"#);
        assert_eq!((error.kind, error.code), (Kind::Error, Some(40003)));
        assert_eq!(
            parse(r#"{"type":"resumed","tenant_id":3,"seq":9,"from":4}"#).kind,
            Kind::Resumed
        );
        assert_eq!(parse(r#"{"type":"other"}"#).kind, Kind::Other);
        assert_eq!(parse(r#"{"type":"brand-new"}"#).kind, Kind::Other);
        assert_eq!(parse("not json").kind, Kind::Other);
        assert_eq!(parse(r#"{"no":"type"}"#).kind, Kind::Other);
    }

    #[test]
    fn kinds_index_their_table() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            if k != Kind::Other {
                assert_eq!(Kind::parse(k.as_str()), k);
            }
        }
    }
}

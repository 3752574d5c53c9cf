//! What a test scripts into the fake gateway ([`Fault`]) and reads back from it ([`Request`],
//! [`Delivery`]).

use std::time::Duration;

/// The gateway's two endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /sms`: the SMS gateway (JSON or form body).
    Sms,
    /// `POST /webhook`: the signed-webhook receiver.
    Webhook,
}

impl Route {
    /// The URL path.
    pub fn path(self) -> &'static str {
        match self {
            Route::Sms => "/sms",
            Route::Webhook => "/webhook",
        }
    }
}

/// A fault the gateway applies to one request, taken from the queue in order.
///
/// `Status` and `RetryAfter` refuse the message: it is not delivered. `Delay`, `Hang` and `Hold`
/// take it on arrival (it is delivered, or counted a duplicate, at once) and only the answer is
/// late or missing, which is the case a sender cannot tell from a lost message and must cover
/// with the idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this HTTP status, e.g. 500 or 400.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>`.
    RetryAfter(u64),
    /// Never answer; the client has to time out.
    Hang,
    /// Answer normally after this long.
    Delay(Duration),
    /// Answer normally once the test calls [`release`](super::FakeGateway::release). If the
    /// client goes away first (say the service was killed), the request is never answered and
    /// stops counting in [`wait_held`](super::FakeGateway::wait_held).
    Hold,
}

/// What the gateway made of a request, decided on arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new idempotency key: the message was delivered.
    Delivered,
    /// A key delivered before: answered 200 `{"status":"duplicate"}`, not delivered again.
    Duplicate,
    /// The request was invalid (bad signature, stale timestamp, missing key, bad body, wrong
    /// `Authorization`): answered 4xx, not delivered.
    Rejected {
        /// Why, for assertion messages.
        reason: String,
    },
    /// An injected fault or `set_down` refused it: not delivered.
    Refused,
}

/// One HTTP request as the gateway received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Which endpoint.
    pub route: Route,
    /// The SMS recipient (`None` for webhooks and unreadable bodies).
    pub to: Option<String>,
    /// The SMS text (`None` for webhooks and unreadable bodies).
    pub text: Option<String>,
    /// The idempotency key from the body or the `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Every header, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body (lossy UTF-8).
    pub body: String,
    /// The status answered; `None` while held, delayed or hanging, or when the client left first.
    pub status_answered: Option<u16>,
    /// What the gateway made of it.
    pub outcome: Outcome,
}

impl Request {
    /// The URL path, e.g. `/sms`.
    pub fn path(&self) -> &'static str {
        self.route.path()
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One message delivered: the first accepted request with its idempotency key on its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Which endpoint.
    pub route: Route,
    /// The idempotency key.
    pub idempotency_key: String,
    /// The SMS recipient (`None` for webhooks).
    pub to: Option<String>,
    /// The SMS text (`None` for webhooks).
    pub text: Option<String>,
    /// The raw body.
    pub body: String,
}

impl Delivery {
    /// The body parsed as JSON, when it is JSON (webhooks and JSON SMS).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

//! The gateway's book-keeping, free of HTTP: what arrived, what was delivered, which keys were
//! seen, which faults are queued, which answers are held. Handlers call [`Log::admit`] once per
//! request, under the lock, so the de-duplication and the fault queue see requests in one order.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::record::{Delivery, Fault, Outcome, Request, Route};

/// How far `X-Vigil-Timestamp` may be from the gateway's clock by default, like the five
/// minutes common webhook receivers allow.
pub const DEFAULT_TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(300);

/// Checks a test can switch, read by the handlers before they parse a request.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// The largest accepted skew of `X-Vigil-Timestamp`; `None` accepts any time.
    pub timestamp_tolerance: Option<Duration>,
    /// The `Authorization` value `/sms` requires; `None` requires none.
    pub authorization: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timestamp_tolerance: Some(DEFAULT_TIMESTAMP_TOLERANCE),
            authorization: None,
        }
    }
}

/// What the handler read from a request; `problem` is the 4xx to answer, if any.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub to: Option<String>,
    pub text: Option<String>,
    pub idempotency_key: Option<String>,
    pub problem: Option<(u16, String)>,
}

/// The answer to send: status, optional `Retry-After`, JSON body.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: Value,
}

impl Answer {
    fn error(status: u16, message: &str) -> Self {
        Answer {
            status,
            retry_after: None,
            body: json!({ "error": message }),
        }
    }
}

/// When to send the [`Answer`].
#[derive(Debug)]
pub(super) enum Timing {
    Now,
    After(Duration),
    Never,
    /// When the test calls `release` (or drops the gateway).
    Held(oneshot::Receiver<()>),
}

/// Everything the gateway knows; lives in a `watch` channel so tests can await changes.
#[derive(Debug, Default)]
pub(super) struct Log {
    pub requests: Vec<Request>,
    pub deliveries: Vec<Delivery>,
    pub duplicates: usize,
    /// Messages delivered so far (also counted when the log keeps no deliveries).
    pub delivered: usize,
    /// Requests answered 4xx as invalid so far ([`Outcome::Rejected`]), also counted when
    /// the log keeps no requests.
    pub rejected: usize,
    /// Requests refused by a fault or `set_down` so far ([`Outcome::Refused`]), also counted
    /// when the log keeps no requests.
    pub refused: usize,
    pub down: bool,
    pub settings: Settings,
    /// Senders that answer held requests; a closed one belongs to a client that left.
    pub held: Vec<oneshot::Sender<()>>,
    /// Faults to apply in order; `None` matches either route.
    pub faults: VecDeque<(Option<Route>, Fault)>,
    /// Idempotency keys delivered, per route: the de-duplication invariant lives here.
    delivered_keys: HashSet<(Route, String)>,
    /// `None` (a test's gateway) keeps every request, delivery and key. `Some(n)` (a gateway
    /// that runs for hours and hands its deliveries to a feed) keeps no requests or deliveries
    /// and only the last `n` keys, so its memory stays bounded.
    keys_remembered: Option<usize>,
    /// The delivered keys oldest first, kept only with `keys_remembered`.
    key_order: VecDeque<(Route, String)>,
}

/// What [`Log::admit`] decided: the request's index in the log (`None` when the log keeps no
/// requests), the answer, when to send it, and the delivery it made, if any.
pub(super) type Admitted = (Option<usize>, Answer, Timing, Option<Delivery>);

impl Log {
    /// A log that keeps no requests or deliveries and only the last `keys` idempotency keys.
    pub fn bounded(keys: usize) -> Self {
        Log {
            keys_remembered: Some(keys),
            ..Log::default()
        }
    }

    /// Whether requests and deliveries are kept (a test's gateway), or only counted.
    pub fn keeps_requests(&self) -> bool {
        self.keys_remembered.is_none()
    }

    /// Records a request and decides its outcome and answer. A fault is taken from the queue
    /// only when the gateway is up.
    pub fn admit(
        &mut self,
        route: Route,
        headers: Vec<(String, String)>,
        body: String,
        parsed: Parsed,
    ) -> Admitted {
        let fault = if self.down {
            None
        } else {
            self.take_fault(route)
        };
        let (outcome, answer, timing, delivered) = if self.down {
            let answer = Answer::error(503, "gateway down (injected)");
            (Outcome::Refused, answer, Timing::Now, None)
        } else {
            match fault {
                Some(Fault::Status(status)) => {
                    let answer = Answer::error(status, "injected fault");
                    (Outcome::Refused, answer, Timing::Now, None)
                }
                Some(Fault::RetryAfter(secs)) => {
                    let mut answer = Answer::error(429, "rate limited (injected)");
                    answer.retry_after = Some(secs);
                    (Outcome::Refused, answer, Timing::Now, None)
                }
                Some(Fault::Delay(delay)) => self.take(route, &body, &parsed, Timing::After(delay)),
                Some(Fault::Hang) => self.take(route, &body, &parsed, Timing::Never),
                Some(Fault::Hold) => {
                    let (release, held) = oneshot::channel();
                    self.held.push(release);
                    self.take(route, &body, &parsed, Timing::Held(held))
                }
                None => self.take(route, &body, &parsed, Timing::Now),
            }
        };
        match outcome {
            Outcome::Rejected { .. } => self.rejected += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Delivered | Outcome::Duplicate => {}
        }
        if !self.keeps_requests() {
            return (None, answer, timing, delivered);
        }
        if let Some(delivery) = &delivered {
            self.deliveries.push(delivery.clone());
        }
        self.requests.push(Request {
            route,
            to: parsed.to,
            text: parsed.text,
            idempotency_key: parsed.idempotency_key,
            headers,
            body,
            status_answered: None,
            outcome,
        });
        (Some(self.requests.len() - 1), answer, timing, delivered)
    }

    /// Notes that request `index` was answered with `status`.
    pub fn answered(&mut self, index: Option<usize>, status: u16) {
        if let Some(request) = index.and_then(|index| self.requests.get_mut(index)) {
            request.status_answered = Some(status);
        }
    }

    /// Held requests whose client is still waiting.
    pub fn held_now(&self) -> usize {
        self.held
            .iter()
            .filter(|release| !release.is_closed())
            .count()
    }

    fn take_fault(&mut self, route: Route) -> Option<Fault> {
        let at = self
            .faults
            .iter()
            .position(|(only, _)| only.is_none_or(|only| only == route))?;
        self.faults.remove(at).map(|(_, fault)| fault)
    }

    /// Validates, de-duplicates and delivers a message the gateway takes.
    fn take(
        &mut self,
        route: Route,
        body: &str,
        parsed: &Parsed,
        timing: Timing,
    ) -> (Outcome, Answer, Timing, Option<Delivery>) {
        if let Some((status, reason)) = &parsed.problem {
            let outcome = Outcome::Rejected {
                reason: reason.clone(),
            };
            return (outcome, Answer::error(*status, reason), timing, None);
        }
        let Some(key) = parsed.idempotency_key.clone() else {
            let reason = "no idempotency key";
            let outcome = Outcome::Rejected {
                reason: reason.to_owned(),
            };
            return (outcome, Answer::error(400, reason), timing, None);
        };
        if !self.delivered_keys.insert((route, key.clone())) {
            self.duplicates += 1;
            let answer = Answer {
                status: 200,
                retry_after: None,
                body: json!({ "status": "duplicate" }),
            };
            return (Outcome::Duplicate, answer, timing, None);
        }
        if let Some(limit) = self.keys_remembered {
            self.key_order.push_back((route, key.clone()));
            while self.key_order.len() > limit {
                if let Some(oldest) = self.key_order.pop_front() {
                    self.delivered_keys.remove(&oldest);
                }
            }
        }
        self.delivered += 1;
        let delivery = Delivery {
            route,
            idempotency_key: key,
            to: parsed.to.clone(),
            text: parsed.text.clone(),
            body: body.to_owned(),
        };
        let answer = Answer {
            status: 200,
            retry_after: None,
            body: json!({ "status": "accepted", "id": format!("msg-{}", self.delivered) }),
        };
        (Outcome::Delivered, answer, timing, Some(delivery))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(key: &str) -> Parsed {
        Parsed {
            to: Some("+8613800000000".into()),
            text: Some("hi".into()),
            idempotency_key: Some(key.into()),
            problem: None,
        }
    }

    fn status(log: &mut Log, route: Route, parsed: Parsed) -> u16 {
        log.admit(route, Vec::new(), String::new(), parsed).1.status
    }

    #[test]
    fn faults_apply_in_order_and_only_to_their_route() {
        let mut log = Log::default();
        log.faults
            .push_back((Some(Route::Webhook), Fault::Status(500)));
        log.faults.push_back((None, Fault::RetryAfter(7)));
        assert_eq!(status(&mut log, Route::Sms, sms("a")), 429);
        assert_eq!(status(&mut log, Route::Sms, sms("a")), 200);
        assert_eq!(status(&mut log, Route::Webhook, sms("b")), 500);
        assert_eq!(status(&mut log, Route::Webhook, sms("b")), 200);
        assert_eq!(log.deliveries.len(), 2);
    }

    #[test]
    fn keys_deliver_once_per_route_and_refusals_do_not_count() {
        let mut log = Log {
            down: true,
            ..Log::default()
        };
        assert_eq!(status(&mut log, Route::Sms, sms("k")), 503);
        log.down = false;
        assert_eq!(status(&mut log, Route::Sms, sms("k")), 200);
        assert_eq!(status(&mut log, Route::Sms, sms("k")), 200);
        assert_eq!(status(&mut log, Route::Webhook, sms("k")), 200);
        assert_eq!(log.deliveries.len(), 2);
        assert_eq!(log.duplicates, 1);
        assert_eq!(log.requests[2].outcome, Outcome::Duplicate);
        assert_eq!((log.refused, log.rejected), (1, 0));
    }

    #[test]
    fn a_bounded_log_keeps_no_requests_and_forgets_the_oldest_keys() {
        let mut log = Log::bounded(2);
        for key in ["a", "b", "a", "c", "a"] {
            assert_eq!(status(&mut log, Route::Sms, sms(key)), 200);
        }
        // "a" was a duplicate while remembered, and new again once "b" and "c" pushed it out.
        assert_eq!(log.duplicates, 1);
        let mut keyless = sms("x");
        keyless.idempotency_key = None;
        assert_eq!(status(&mut log, Route::Sms, keyless), 400);
        assert_eq!(log.rejected, 1, "counted though not kept");
        assert_eq!(log.delivered, 4);
        assert!(log.requests.is_empty() && log.deliveries.is_empty());
    }
}

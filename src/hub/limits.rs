//! What one connection may send: a size cap (enforced by the WebSocket library at twice the
//! configured size, and exactly by [`too_big`]) and a per-connection message rate.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// Close code of a message over `ws.max_message_bytes` (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The reason sent with [`CLOSE_TOO_BIG`].
pub const TOO_BIG_REASON: &str = "message too big";
/// The reason of the 1008 close sent when the connection's token expires.
pub const TOKEN_EXPIRED_REASON: &str = "token expired";

/// The frame and message size the WebSocket library itself refuses: twice the configured
/// cap, so a message just over the cap is still read whole and answered with a clean 1009
/// (and anything far larger is refused before it is buffered).
pub fn library_limit(max_message_bytes: NonZeroUsize) -> usize {
    max_message_bytes.get().saturating_mul(2)
}

/// Whether a received message of `len` bytes is over the cap.
pub fn too_big(len: usize, max_message_bytes: NonZeroUsize) -> bool {
    len > max_message_bytes.get()
}

/// Whether a read error is the WebSocket library refusing an oversize frame or message. The
/// library's error type is not part of axum's API, so this goes by its text ("Space limit
/// exceeded: Message too long: …" / "Message too big: …").
pub fn is_capacity_error(error: &dyn std::fmt::Display) -> bool {
    let text = error.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}

/// What to do with one message from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Within the rate: handle it.
    Handle,
    /// Over the rate, and the client was not told in the last wait it was given: ignore it
    /// and say so (error 40005), with how long until the next message is accepted.
    RefuseAndTell(Duration),
    /// Over the rate, within the wait the client was last given: ignore it silently (a flood
    /// gets one answer per wait, not one per message).
    Refuse,
}

/// A connection's message rate (GCRA, as the HTTP limits).
#[derive(Debug)]
pub struct MessageRate {
    limiter: DefaultDirectRateLimiter,
    /// Until when refusals are silent: the end of the wait the client was last told.
    quiet_until: Option<Instant>,
}

impl MessageRate {
    /// `per_second` on average, `burst` at once.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> MessageRate {
        MessageRate {
            limiter: DefaultDirectRateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            quiet_until: None,
        }
    }

    /// Judges the next message.
    pub fn admit(&mut self) -> Admit {
        let now = Instant::now();
        match self.limiter.check() {
            Ok(()) => Admit::Handle,
            Err(_) if self.quiet_until.is_some_and(|until| now < until) => Admit::Refuse,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                self.quiet_until = now.checked_add(wait);
                Admit::RefuseAndTell(wait)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    #[test]
    fn a_burst_passes_then_one_refusal_is_told_and_the_rest_are_quiet() {
        let mut rate = MessageRate::new(n(1), n(3));
        let verdicts: Vec<Admit> = (0..6).map(|_| rate.admit()).collect();
        assert_eq!(&verdicts[..3], &[Admit::Handle; 3]);
        assert!(
            matches!(verdicts[3], Admit::RefuseAndTell(wait) if wait <= Duration::from_secs(1))
        );
        assert_eq!(&verdicts[4..], &[Admit::Refuse; 2]);
    }

    #[test]
    fn sizes_are_judged_against_the_cap() {
        let cap = NonZeroUsize::new(64 * 1024).unwrap();
        assert!(!too_big(64 * 1024, cap));
        assert!(too_big(64 * 1024 + 1, cap));
        assert_eq!(library_limit(cap), 128 * 1024);
        assert!(is_capacity_error(
            &"Space limit exceeded: Message too long: 200000 > 131072"
        ));
        assert!(!is_capacity_error(
            &"Connection reset without closing handshake"
        ));
    }
}

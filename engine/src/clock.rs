//! Where "now" comes from: the wall clock in `vigil run`, event time in `vigil replay`
//! (DESIGN.md §3 rule 10). The engine itself never reads a clock; drivers ask one and advance
//! the engine to it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use vigil_schema::Millis;

/// A source of the current instant.
pub trait Clock: Send + Sync {
    /// The current instant in milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Millis {
        jiff::Timestamp::now().as_millisecond()
    }
}

/// A clock moved by hand (tests) or by a driver (event time).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `t`.
    pub fn at(t: Millis) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(t)))
    }

    /// Moves the clock to `t` (never backwards).
    pub fn advance_to(&self, t: Millis) {
        self.0.fetch_max(t, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::Relaxed)
    }
}

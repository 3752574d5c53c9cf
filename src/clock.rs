//! The wall clock the service shell reads for "now": `updated_at` columns, token and ack-link
//! expiry, envelope timestamps, WebSocket sequence bases. It lives on its own so that every
//! layer can read it without importing the store. The engine never reads it: drivers pass
//! time in (see `vigil_engine::clock`).

use vigil_engine::clock::{Clock, WallClock};
use vigil_schema::Millis;

/// The wall clock in milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    WallClock.now()
}

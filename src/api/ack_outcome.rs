//! What an ack link did (`POST`) or would do (`GET`) to the alerts of its message: the answer
//! of `/ack/{token}` to JSON clients, and what its HTML pages show.

use serde::Serialize;
use utoipa::ToSchema;

use crate::views::AlertView;

/// `outcome` of a firing alert on `GET`: a `POST` would acknowledge it.
pub const TO_ACKNOWLEDGE: &str = "to_acknowledge";

/// What became (on `POST`), or would become (on `GET`), of one alert of the message.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AckedAlert {
    /// `to_acknowledge` (`GET`: firing, a `POST` acknowledges it), `acknowledged` (`POST`:
    /// now), `already_acknowledged`, `already_resolved` or `retracted`.
    pub outcome: String,
    /// The alert as it is now.
    pub alert: AlertView,
}

/// `/ack/{token}` with `Accept: application/json`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AckLinkResult {
    /// The message the link came with.
    pub message_id: String,
    /// Who the acknowledgement is (or would be) recorded as: `contact:<id>`.
    pub acked_by: String,
    /// The alerts of the message, by alert id.
    pub alerts: Vec<AckedAlert>,
}

impl AckLinkResult {
    /// How many alerts a `POST` would acknowledge.
    pub fn to_acknowledge(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| a.outcome == TO_ACKNOWLEDGE)
            .count()
    }
}

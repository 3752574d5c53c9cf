//! What the SMTP sink reports: the messages it took, the commands it refused, and the line
//! protocol (`smtp_sink.py`'s stdout) these arrive by.

use serde::Deserialize;

/// One message the sink took (after `DATA`), as `smtp_sink.py` parsed it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), in order.
    pub rcpt_tos: Vec<String>,
    /// The decoded `Subject` header.
    pub subject: Option<String>,
    /// The `Message-ID` header as sent, angle brackets included.
    pub message_id: Option<String>,
    /// The decoded `From` header.
    pub from: Option<String>,
    /// The decoded `To` header.
    pub to: Option<String>,
    /// The `text/plain` body, transfer encoding and charset undone, lines ending in `\n`.
    pub text: Option<String>,
    /// The `text/html` body, transfer encoding and charset undone, lines ending in `\n`.
    pub html: Option<String>,
    /// Every top-level header, decoded, in order.
    pub headers: Vec<(String, String)>,
}

impl Mail {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The SMTP command a refusal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpStage {
    /// `MAIL FROM`.
    Mail,
    /// `RCPT TO`, once per recipient.
    Rcpt,
    /// The end of `DATA`: the whole message was sent, then refused.
    Data,
}

impl SmtpStage {
    /// The stage's name in `smtp_sink.py`'s control commands.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            SmtpStage::Mail => "mail",
            SmtpStage::Rcpt => "rcpt",
            SmtpStage::Data => "data",
        }
    }
}

/// One command the sink refused because a fault was set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rejection {
    /// Which command.
    pub stage: SmtpStage,
    /// The reply code sent.
    pub code: u16,
    /// The command's address (the sender for `MAIL` and `DATA`, the recipient for `RCPT`).
    pub argument: Option<String>,
}

/// One line of `smtp_sink.py`'s stdout.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum Event {
    /// The server accepts connections.
    Ready {
        /// The port it listens on.
        port: u16,
    },
    /// A message was taken.
    Mail(Mail),
    /// A command was refused.
    Rejected(Rejection),
    /// The control command with this sequence number has taken effect.
    Ack {
        /// The command's sequence number.
        seq: u64,
    },
}

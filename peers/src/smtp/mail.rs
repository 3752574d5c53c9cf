//! What the SMTP sink reports: the messages it took and the commands it refused.

/// One message the sink took (after `DATA`), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Every top-level header, decoded, in order (names in lower case).
    pub headers: Vec<(String, String)>,
    /// The files attached, in order.
    pub attachments: Vec<super::mime::Attachment>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmtpStage {
    /// `MAIL FROM`.
    Mail,
    /// `RCPT TO`, once per recipient.
    Rcpt,
    /// The end of `DATA`: the whole message was sent, then refused.
    Data,
}

/// One command the sink refused because a fault was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Which command.
    pub stage: SmtpStage,
    /// The reply code sent.
    pub code: u16,
    /// The command's address (the sender for `MAIL` and `DATA`, the recipient for `RCPT`).
    pub argument: Option<String>,
}

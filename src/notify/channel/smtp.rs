//! Email through an SMTP relay: one connection per message (plain, STARTTLS or TLS from the
//! start, rustls on `ring` with the system's trusted roots), a multipart/alternative body
//! (text and HTML) and `Message-ID: <{idempotency_key}@vigil>` so a receiver can drop the
//! copy a retry after a lost reply sends again.
//!
//! Texts reach the relay only through [`subject_line`] and [`body_lines`]: `lettre` (0.11.23,
//! the newest release) dot-stuffs a line only after CRLF, so a bare CR or LF in a body (from a
//! ticket id, say) would let a line that starts with `.` pass unstuffed, which a relay that
//! ends lines on bare CR or LF could take as the end of `DATA` (SMTP smuggling).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Content, Outgoing, ProviderError, SendError};
use crate::http_client::error_chain;
use crate::notify::config::{SmtpConfig, TlsMode};

/// Sends email through the relay of `[notify.smtp]`.
#[derive(Debug, Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpSender {
    /// A sender for `config`. `password` is the value of `password_env` (read by the
    /// caller); it and `username` go together. `timeout` bounds a whole send, from connect to
    /// the relay's answer to the message.
    pub fn new(
        config: &SmtpConfig,
        password: Option<String>,
        timeout: Duration,
    ) -> Result<SmtpSender, ProviderError> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| ProviderError::Invalid {
                field: "notify.smtp.from",
                reason: format!("{:?} is not an email address: {e}", config.from),
            })?;
        let tls_parameters = || {
            TlsParameters::new(config.host.clone()).map_err(|e| ProviderError::Invalid {
                field: "notify.smtp.host",
                reason: format!(
                    "cannot set up TLS for {:?}: {}",
                    config.host,
                    error_chain(&e)
                ),
            })
        };
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls => Tls::Required(tls_parameters()?),
            TlsMode::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(timeout));
        match (&config.username, password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(ProviderError::Invalid {
                    field: "notify.smtp.username",
                    reason: "set notify.smtp.password_env too".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ProviderError::Invalid {
                    field: "notify.smtp.password_env",
                    reason: "set notify.smtp.username too".into(),
                })
            }
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from,
            timeout,
        })
    }

    /// Sends one email; `msg.content` must be [`Content::Email`].
    pub async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        let message = self.message(msg)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(SendError::transient(format!(
                "SMTP send timed out after {:?}",
                self.timeout
            ))),
        }
    }

    /// The message as it goes to the relay. Bad addresses are permanent: no retry fixes them.
    fn message(&self, msg: &Outgoing) -> Result<Message, SendError> {
        let Content::Email { from, email } = &msg.content else {
            return Err(SendError::permanent("not an email: cannot go out by SMTP"));
        };
        let from = match from {
            Some(from) => from
                .parse::<Mailbox>()
                .map_err(|e| SendError::permanent(format!("bad sender address {from:?}: {e}")))?,
            None => self.from.clone(),
        };
        let to = msg.to.parse::<Mailbox>().map_err(|e| {
            SendError::permanent(format!("bad recipient address {:?}: {e}", msg.to))
        })?;
        let mut body =
            MultiPart::alternative_plain_html(body_lines(&email.text), body_lines(&email.html));
        if !email.attachments.is_empty() {
            let mut mixed = MultiPart::mixed().multipart(body);
            for a in &email.attachments {
                let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                    SendError::permanent(format!("bad attachment type {:?}: {e}", a.content_type))
                })?;
                let name = subject_line(&a.file_name);
                mixed = mixed.singlepart(
                    lettre::message::Attachment::new(name).body(a.content.clone(), content_type),
                );
            }
            body = mixed;
        }
        Message::builder()
            .from(from)
            .to(to)
            .subject(subject_line(&email.subject))
            .message_id(Some(message_id(&msg.idempotency_key)))
            .multipart(body)
            .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))
    }
}

/// `<{key}@vigil>`, with any byte of the key that may not stand in a Message-ID (or `=`)
/// written `=XX`, so distinct keys stay distinct ids.
pub fn message_id(idempotency_key: &str) -> String {
    let mut id = String::with_capacity(idempotency_key.len() + 8);
    id.push('<');
    for b in idempotency_key.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$%&'*+-/?^_`{|}~.".contains(&b) {
            id.push(char::from(b));
        } else {
            id.push_str(&format!("={b:02X}"));
        }
    }
    id.push_str("@vigil>");
    id
}

/// A subject on one line: every control character (line breaks and tabs included) becomes a
/// space.
pub fn subject_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A body with every line break (CRLF, bare CR, bare LF) written CRLF and every other control
/// character but tab written U+FFFD. With no bare CR or LF left, each line a body line starts
/// is one that `lettre` dot-stuffs, so no text of ours can end the `DATA` section early.
pub fn body_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}

/// 4xx replies, connection, network, TLS and time-out troubles may pass; a 5xx reply is the
/// relay's final word on this message.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let reason = error_chain(e);
    if e.is_permanent() {
        SendError::permanent(reason)
    } else {
        SendError::transient(reason)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    use super::*;
    use crate::notify::message::Email;

    fn config(port: u16) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            from: "Vigil <vigil@example.com>".into(),
            username: None,
            password_env: None,
        }
    }

    fn outgoing(to: &str) -> Outgoing {
        Outgoing {
            idempotency_key: "n-42.1".into(),
            tenant_id: 7,
            to: to.into(),
            content: Content::Email {
                from: None,
                email: Email {
                    subject: "Vigil: [CRITICAL] TKT-1 response BREACHED".into(),
                    text: "TKT-1 breached".into(),
                    html: "<p>TKT-1 breached</p>".into(),
                    attachments: Vec::new(),
                },
            },
        }
    }

    /// A relay that answers every command with 250 except `RCPT` (answered `rcpt_reply`),
    /// and hands over what came after `DATA`.
    async fn relay(rcpt_reply: &'static str) -> (SocketAddr, oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write.write_all(b"220 test relay\r\n").await;
            let mut data = None::<String>;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(body) = data.as_mut() {
                    if line == "." {
                        let _ = write.write_all(b"250 queued\r\n").await;
                        let _ = tx.send(std::mem::take(body));
                        return;
                    }
                    body.push_str(&line);
                    body.push('\n');
                    continue;
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply = match verb.as_str() {
                    "RCPT" => rcpt_reply,
                    "DATA" => {
                        data = Some(String::new());
                        "354 go ahead\r\n"
                    }
                    "QUIT" => "221 bye\r\n",
                    _ => "250 ok\r\n",
                };
                let _ = write.write_all(reply.as_bytes()).await;
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn sends_text_and_html_with_the_idempotency_key_as_message_id() {
        let (addr, data) = relay("250 ok\r\n").await;
        let sender =
            SmtpSender::new(&config(addr.port()), None, Duration::from_secs(10)).expect("sender");
        sender
            .send(&outgoing("oncall@example.com"))
            .await
            .expect("accepted");
        let data = data.await.expect("the relay got the message");
        assert!(data.contains("Message-ID: <n-42.1@vigil>"), "{data}");
        assert!(data.contains("Subject: Vigil: [CRITICAL] TKT-1 response BREACHED"));
        assert!(data.contains("From: Vigil <vigil@example.com>"), "{data}");
        assert!(data.contains("multipart/alternative"), "{data}");
        assert!(data.contains("TKT-1 breached") && data.contains("<p>TKT-1 breached</p>"));
    }

    #[tokio::test]
    async fn replies_are_classified_by_their_code() {
        let table: [(&'static str, bool); 2] = [
            ("451 4.3.0 try later\r\n", true),
            ("550 5.1.1 no such user\r\n", false),
        ];
        for (reply, transient) in table {
            let (addr, _data) = relay(reply).await;
            let sender = SmtpSender::new(&config(addr.port()), None, Duration::from_secs(10))
                .expect("sender");
            let err = sender
                .send(&outgoing("oncall@example.com"))
                .await
                .expect_err("refused");
            assert_eq!(err.is_transient(), transient, "{reply}: {err}");
            assert!(err.to_string().contains(&reply[..3]), "{err}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_relay_is_transient_and_a_bad_address_permanent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let sender = SmtpSender::new(&config(port), None, Duration::from_secs(10)).expect("sender");
        let err = sender
            .send(&outgoing("oncall@example.com"))
            .await
            .expect_err("nobody listens");
        assert!(err.is_transient(), "{err}");
        let err = sender
            .send(&outgoing("not an address"))
            .await
            .expect_err("bad address");
        assert!(matches!(err, SendError::Permanent { .. }), "{err}");
        let mut sms = outgoing("oncall@example.com");
        sms.content = Content::Sms { text: "x".into() };
        assert!(!sender
            .send(&sms)
            .await
            .expect_err("not email")
            .is_transient());
    }

    #[test]
    fn settings_are_checked_at_start_up() {
        let mut c = config(25);
        c.from = "nobody".into();
        let err = SmtpSender::new(&c, None, Duration::from_secs(1)).expect_err("bad from");
        assert!(err.to_string().starts_with("notify.smtp.from: "), "{err}");
        let mut c = config(25);
        c.username = Some("vigil".into());
        let err = SmtpSender::new(&c, None, Duration::from_secs(1)).expect_err("no password");
        assert_eq!(
            err.to_string(),
            "notify.smtp.username: set notify.smtp.password_env too"
        );
        for tls in [TlsMode::Starttls, TlsMode::Tls] {
            let c = SmtpConfig {
                host: "smtp.example.com".into(),
                tls,
                ..config(587)
            };
            assert!(SmtpSender::new(&c, None, Duration::from_secs(1)).is_ok());
        }
    }

    #[test]
    fn texts_have_only_crlf_line_breaks_and_subjects_one_line() {
        let table = [
            ("a\nb", "a\r\nb"),
            ("a\r\nb", "a\r\nb"),
            ("a\rb", "a\r\nb"),
            ("a\r\r\nb", "a\r\n\r\nb"),
            ("\n.\r.\r\n.", "\r\n.\r\n.\r\n."),
            ("tab\tnul\u{0}esc\u{1b}", "tab\tnul\u{fffd}esc\u{fffd}"),
            ("中文\n", "中文\r\n"),
        ];
        for (input, want) in table {
            assert_eq!(body_lines(input), want, "{input:?}");
        }
        assert_eq!(
            subject_line("Vigil: TKT\r\nBcc: x@example.com\t."),
            "Vigil: TKT  Bcc: x@example.com ."
        );
    }

    #[test]
    fn message_ids_keep_safe_keys_and_escape_the_rest() {
        assert_eq!(message_id("n-42.1"), "<n-42.1@vigil>");
        assert_eq!(message_id("a b@c=d"), "<a=20b=40c=3Dd@vigil>");
    }
}

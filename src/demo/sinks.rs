//! The demo's local peers, borrowed from `vigil_peers` so a new user sees notifications
//! without setting anything up: an SMTP server and an HTTP SMS gateway in this process, each
//! handing over what it takes on a bounded channel of [`RECEIVED_QUEUE`]. When the reader falls
//! behind, they push back: they answer the sender only once the message is queued, so a
//! stalled reader slows delivery (and the sender's time-out and retry take over) instead of
//! growing memory. Plain text only, on loopback.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::sync::mpsc::Receiver;
use vigil_peers::gateway::Delivery;
use vigil_peers::smtp::ReceivedMail;
use vigil_peers::{FakeGateway, SmtpSink};

/// Messages a sink holds for its reader; beyond it the sink pushes back on the sender.
pub const RECEIVED_QUEUE: usize = 64;

/// The gateway's webhook secret; the demo sends no webhooks.
const WEBHOOK_SECRET: &str = "vigil-demo";

/// Starts the SMTP sink on a free loopback port: its address and the mails as they arrive.
pub async fn start_smtp() -> io::Result<(SocketAddr, Receiver<ReceivedMail>)> {
    SmtpSink::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), RECEIVED_QUEUE).await
}

/// Starts the SMS gateway on a free loopback port (its `/sms` URL is the demo's SMS endpoint):
/// the gateway, which serves until dropped, and each SMS it delivers, once per idempotency key.
pub async fn start_sms() -> io::Result<(FakeGateway, Receiver<Delivery>)> {
    FakeGateway::start_feeding(WEBHOOK_SECRET, RECEIVED_QUEUE).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil::http_client::build as http_client;
    use vigil::notify::channel::{Content, Outgoing, SmsSender, SmtpSender};
    use vigil::notify::config::{SmsConfig, SmsFormat, SmtpConfig, TlsMode};
    use vigil::notify::message::Email;

    use vigil_peers::gateway::Route;

    use super::*;

    #[tokio::test]
    async fn takes_mail_from_the_smtp_sender() {
        let (addr, mut mails) = start_smtp().await.expect("sink");
        let config = SmtpConfig {
            host: addr.ip().to_string(),
            port: addr.port(),
            tls: TlsMode::None,
            from: "vigil@example.com".into(),
            username: None,
            password_env: None,
        };
        let sender = SmtpSender::new(&config, None, Duration::from_secs(10)).expect("sender");
        let text =
            "Ticket TKT-1 breached.\n.leading dot\nAcknowledge: https://vigil.example.com/ack/x=y";
        let msg = Outgoing {
            idempotency_key: "n-1.email".into(),
            tenant_id: 101,
            to: "Oncall <oncall@example.com>".into(),
            content: Content::Email {
                from: None,
                email: Email {
                    subject: "Vigil: [CRITICAL] TKT-1 响应已超时".into(),
                    text: text.into(),
                    html: "<p>TKT-1</p>".into(),
                    attachments: Vec::new(),
                },
            },
        };
        sender.send(&msg).await.expect("accepted");
        let mail = mails.recv().await.expect("a mail");
        assert_eq!(mail.rcpt_to, ["oncall@example.com"]);
        assert_eq!(mail.subject, "Vigil: [CRITICAL] TKT-1 响应已超时");
        assert_eq!(mail.text, text);
    }

    #[tokio::test]
    async fn takes_each_sms_once_per_idempotency_key() {
        let (gateway, mut sms) = start_sms().await.expect("sink");
        let url = gateway.url(Route::Sms);
        let client = http_client(Duration::from_secs(10)).expect("client");
        for format in [SmsFormat::Json, SmsFormat::Form] {
            let config = SmsConfig {
                url: url.clone(),
                format,
                auth_header_env: None,
            };
            let sender = SmsSender::new(&config, None, client.clone()).expect("sender");
            let msg = Outgoing {
                idempotency_key: format!("n-{format:?}"),
                tenant_id: 101,
                to: "+8613800000001".into(),
                content: Content::Sms {
                    text: "[CRITICAL] TKT-1 breached & late".into(),
                },
            };
            sender.send(&msg).await.expect("accepted");
            sender.send(&msg).await.expect("a repeat is accepted too");
            let got = sms.recv().await.expect("an sms");
            assert_eq!(got.to.as_deref(), Some("+8613800000001"));
            assert_eq!(
                got.text.as_deref(),
                Some("[CRITICAL] TKT-1 breached & late")
            );
        }
        // The repeats were not delivered.
        assert!(sms.try_recv().is_err());
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"text":"no number"}"#)
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 400);
    }

    #[tokio::test]
    async fn a_full_queue_pushes_back_on_the_sender() {
        let (gateway, mut sms) = start_sms().await.expect("sink");
        let url = gateway.url(Route::Sms);
        let client = http_client(Duration::from_secs(30)).expect("client");
        let post = |n: usize| {
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"to":"+8613800000001","text":"sms {n}","idempotency_key":"k{n}"}}"#
                ))
                .send()
        };
        for n in 0..RECEIVED_QUEUE {
            assert_eq!(post(n).await.expect("an answer").status(), 200);
        }
        let mut waiting = tokio::spawn(post(RECEIVED_QUEUE));
        // Nobody reads: the sender gets no answer.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut waiting)
                .await
                .is_err(),
            "answered although the queue is full"
        );
        let first = sms.recv().await.expect("an sms");
        assert_eq!(first.text.as_deref(), Some("sms 0"));
        let answer = waiting.await.expect("task").expect("an answer");
        assert_eq!(answer.status(), 200);
    }
}

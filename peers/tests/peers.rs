//! The test kit's peers, exercised for real: a raw SMTP client against the SMTP server (raw
//! on purpose: the test drives each command and reads each reply code), and HTTP requests
//! against the fake gateway with each fault.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use vigil_peers::gateway::{sign, Fault, Outcome, Route};
use vigil_peers::smtp::SmtpStage;
use vigil_peers::{FakeGateway, SmtpServer};

/// Upper bound for anything that should happen promptly.
const WAIT: Duration = Duration::from_secs(10);
/// The window in which something must not happen.
const QUIET: Duration = Duration::from_millis(300);
const SECRET: &str = "whsec-test";

// ---- SMTP -------------------------------------------------------------------------------------

/// A minimal SMTP client: one command, one (possibly multi-line) reply code.
struct SmtpClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl SmtpClient {
    async fn connect(addr: SocketAddr) -> Self {
        let (read, writer) = TcpStream::connect(addr)
            .await
            .expect("connect to the SMTP sink")
            .into_split();
        let mut client = SmtpClient {
            reader: BufReader::new(read),
            writer,
        };
        assert_eq!(client.reply().await, 220);
        assert_eq!(client.command("EHLO test.local").await, 250);
        client
    }

    async fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            assert!(
                self.reader
                    .read_line(&mut line)
                    .await
                    .expect("read an SMTP reply")
                    > 0,
                "SMTP connection closed"
            );
            // "250-..." continues a multi-line reply, "250 ..." ends it.
            if line.as_bytes().get(3) != Some(&b'-') {
                return line[..3].parse().expect("an SMTP reply code");
            }
        }
    }

    async fn command(&mut self, line: &str) -> u16 {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write to the SMTP sink");
        self.reply().await
    }

    /// MAIL, RCPT, DATA; returns the first refusal's code, or the final 250.
    async fn send(&mut self, from: &str, to: &str, message: &str) -> u16 {
        for command in [format!("MAIL FROM:<{from}>"), format!("RCPT TO:<{to}>")] {
            let code = self.command(&command).await;
            if code != 250 {
                assert_eq!(self.command("RSET").await, 250);
                return code;
            }
        }
        assert_eq!(self.command("DATA").await, 354);
        let body = message.replace('\n', "\r\n");
        self.writer
            .write_all(body.as_bytes())
            .await
            .expect("write to the SMTP sink");
        self.command("\r\n.").await
    }
}

/// A multipart message whose text part is base64 UTF-8 and whose HTML part is quoted-printable.
fn multipart_message(message_id: &str) -> String {
    format!(
        "From: Vigil <vigil@example.com>\n\
         To: oncall@example.com\n\
         Subject: =?UTF-8?B?5ZGK6K2mIFNMQQ==?=\n\
         Message-ID: <{message_id}>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/alternative; boundary=\"b1\"\n\
         \n\
         --b1\n\
         Content-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         5bel5Y2VIDQyIOi2heaXtg==\n\
         --b1\n\
         Content-Type: text/html; charset=utf-8\n\
         Content-Transfer-Encoding: quoted-printable\n\
         \n\
         <p>ticket =3D 42</p>\n\
         --b1--\n"
    )
}

#[tokio::test]
async fn smtp_sink_reports_each_message_decoded() {
    let mut sink = SmtpServer::start();
    let mut client = SmtpClient::connect(sink.addr()).await;
    let code = client
        .send(
            "vigil@example.com",
            "oncall@example.com",
            &multipart_message("k1@vigil"),
        )
        .await;
    assert_eq!(code, 250);

    let mail = sink.next(WAIT).await.expect("the sink reports the message");
    assert_eq!(mail.mail_from, "vigil@example.com");
    assert_eq!(mail.rcpt_tos, ["oncall@example.com"]);
    assert_eq!(mail.subject.as_deref(), Some("告警 SLA"));
    assert_eq!(mail.message_id.as_deref(), Some("<k1@vigil>"));
    assert_eq!(mail.text.as_deref(), Some("工单 42 超时"));
    assert_eq!(mail.html.as_deref(), Some("<p>ticket = 42</p>"));
    assert_eq!(mail.header("mime-version"), Some("1.0"));

    assert_eq!(client.command("QUIT").await, 221);
    assert!(sink.quiet_for(QUIET).await, "one message, reported once");
    assert_eq!(sink.received(), vec![mail]);
}

#[tokio::test]
async fn smtp_sink_refuses_at_the_chosen_stage_until_told_to_accept() {
    let sink = SmtpServer::start();
    let mut client = SmtpClient::connect(sink.addr()).await;
    let message = multipart_message("k2@vigil");

    sink.set_reject(Some(451)).await;
    assert_eq!(
        client
            .send("vigil@example.com", "a@example.com", &message)
            .await,
        451
    );
    sink.set_reject_at(SmtpStage::Rcpt, Some(550)).await;
    assert_eq!(
        client
            .send("vigil@example.com", "a@example.com", &message)
            .await,
        550
    );
    sink.set_reject_at(SmtpStage::Data, Some(452)).await;
    assert_eq!(
        client
            .send("vigil@example.com", "a@example.com", &message)
            .await,
        452
    );

    let rejections = sink.wait_for_rejections(3, WAIT).await;
    let seen: Vec<_> = rejections.iter().map(|r| (r.stage, r.code)).collect();
    assert_eq!(
        seen,
        [
            (SmtpStage::Mail, 451),
            (SmtpStage::Rcpt, 550),
            (SmtpStage::Data, 452)
        ]
    );
    assert_eq!(rejections[1].argument.as_deref(), Some("a@example.com"));
    assert!(
        sink.received().is_empty(),
        "a refused message is not reported as taken"
    );

    sink.set_reject(None).await;
    assert_eq!(
        client
            .send("vigil@example.com", "a@example.com", &message)
            .await,
        250
    );
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].message_id.as_deref(), Some("<k2@vigil>"));
}

// ---- HTTP gateway -----------------------------------------------------------------------------

/// An answer of the gateway.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// `POST path` with `headers` and `body` to the gateway at `addr`.
async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> reqwest::Result<Response> {
    // Longer than any wait of these tests: a request that must not be answered is bounded by
    // the test itself.
    let client = vigil_peers::http::client(2 * WAIT);
    let mut request = client.post(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.body(body.to_vec()).send().await?;
    let (status, headers) = (answer.status().as_u16(), answer.headers().clone());
    let body = answer.text().await?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

async fn sms_json(gateway: &FakeGateway, to: &str, text: &str, key: &str) -> Response {
    let body = serde_json::json!({ "to": to, "text": text, "idempotency_key": key }).to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", key),
    ];
    post(gateway.addr(), "/sms", &headers, body.as_bytes())
        .await
        .expect("POST to the gateway")
}

async fn sms_form(gateway: &FakeGateway, body: &str) -> Response {
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    post(gateway.addr(), "/sms", &headers, body.as_bytes())
        .await
        .expect("POST to the gateway")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

async fn webhook(
    gateway: &FakeGateway,
    key: &str,
    timestamp: u64,
    body: &str,
    signature: &str,
) -> Response {
    let timestamp = timestamp.to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", key),
        ("X-Vigil-Timestamp", timestamp.as_str()),
        ("X-Vigil-Signature", signature),
    ];
    post(gateway.addr(), "/webhook", &headers, body.as_bytes())
        .await
        .expect("POST to the gateway")
}

#[tokio::test]
async fn gateway_delivers_json_and_form_sms_once_per_key() {
    let gateway = FakeGateway::start(SECRET).await;

    let first = sms_json(&gateway, "+8613800000001", "SLA 告警", "k1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json().unwrap()["status"], "accepted");
    let again = sms_json(&gateway, "+8613800000001", "SLA 告警", "k1").await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json().unwrap(),
        serde_json::json!({ "status": "duplicate" })
    );

    let form = sms_form(
        &gateway,
        "to=%2B8613800000002&text=SLA+%E5%91%8A%E8%AD%A6&idempotency_key=k2",
    )
    .await;
    assert_eq!(form.status, 200);

    let deliveries = gateway.wait_for_deliveries(2, WAIT).await;
    let seen: Vec<_> = deliveries
        .iter()
        .map(|d| {
            (
                d.route,
                d.idempotency_key.as_str(),
                d.to.as_deref(),
                d.text.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Route::Sms, "k1", Some("+8613800000001"), Some("SLA 告警")),
            (Route::Sms, "k2", Some("+8613800000002"), Some("SLA 告警")),
        ]
    );
    assert_eq!(gateway.duplicates(), 1);
    let requests = gateway.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].outcome, Outcome::Duplicate);
    assert_eq!(requests[0].header("idempotency-key"), Some("k1"));
    assert_eq!(requests[0].path(), "/sms");
    assert!(requests.iter().all(|r| r.status_answered == Some(200)));
    assert!(gateway.quiet_for(QUIET).await);
}

#[tokio::test]
async fn gateway_rejects_sms_it_cannot_trust() {
    let gateway = FakeGateway::start(SECRET).await;
    // No key anywhere.
    assert_eq!(sms_form(&gateway, "to=%2B86138&text=hi").await.status, 400);
    // The body and the header disagree.
    let headers = [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "other"),
    ];
    let body = br#"{"to":"+86138","text":"hi","idempotency_key":"k"}"#;
    let response = post(gateway.addr(), "/sms", &headers, body).await.unwrap();
    assert_eq!(response.status, 400);
    // Not JSON nor a form.
    let headers = [("Content-Type", "text/plain")];
    let response = post(gateway.addr(), "/sms", &headers, b"hi").await.unwrap();
    assert_eq!(response.status, 415);
    // A required Authorization.
    gateway.require_authorization(Some("Bearer t0ken"));
    assert_eq!(sms_json(&gateway, "+86138", "hi", "k3").await.status, 401);
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer t0ken"),
    ];
    let body = br#"{"to":"+86138","text":"hi","idempotency_key":"k3"}"#;
    let response = post(gateway.addr(), "/sms", &headers, body).await.unwrap();
    assert_eq!(response.status, 200);

    assert_eq!(gateway.rejected().len(), 4);
    assert_eq!(gateway.deliveries().len(), 1);
}

#[tokio::test]
async fn gateway_plays_queued_faults_in_order_and_only_delivers_what_it_takes() {
    let gateway = FakeGateway::start(SECRET).await;
    gateway.push_fault(Fault::Status(500));
    gateway.push_fault(Fault::RetryAfter(30));
    gateway.push_fault(Fault::Status(400));
    gateway.push_fault(Fault::Delay(Duration::from_millis(50)));

    assert_eq!(sms_json(&gateway, "+86138", "hi", "k").await.status, 500);
    let limited = sms_json(&gateway, "+86138", "hi", "k").await;
    assert_eq!(
        (limited.status, limited.header("retry-after")),
        (429, Some("30"))
    );
    assert_eq!(sms_json(&gateway, "+86138", "hi", "k").await.status, 400);
    assert!(
        gateway.deliveries().is_empty(),
        "refused requests deliver nothing"
    );
    assert_eq!(sms_json(&gateway, "+86138", "hi", "k").await.status, 200);
    assert_eq!(sms_json(&gateway, "+86138", "hi", "k").await.status, 200);

    assert_eq!(gateway.deliveries().len(), 1);
    assert_eq!(gateway.duplicates(), 1);
    let outcomes: Vec<_> = gateway.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Refused,
            Outcome::Refused,
            Outcome::Refused,
            Outcome::Delivered,
            Outcome::Duplicate
        ]
    );
}

#[tokio::test]
async fn gateway_faults_can_target_one_route_and_down_refuses_all() {
    let gateway = FakeGateway::start(SECRET).await;
    gateway.push_fault_on(Route::Webhook, Fault::Status(502));
    assert_eq!(sms_json(&gateway, "+86138", "hi", "s1").await.status, 200);

    gateway.set_down(true);
    assert_eq!(sms_json(&gateway, "+86138", "hi", "s2").await.status, 503);
    let body = r#"{"alert":"a1"}"#;
    let signature = sign(SECRET.as_bytes(), unix_now(), body.as_bytes());
    assert_eq!(
        webhook(&gateway, "w1", unix_now(), body, &signature)
            .await
            .status,
        503
    );
    gateway.set_down(false);

    assert_eq!(
        webhook(&gateway, "w1", unix_now(), body, &signature)
            .await
            .status,
        502
    );
    assert_eq!(
        webhook(&gateway, "w1", unix_now(), body, &signature)
            .await
            .status,
        200
    );
    assert_eq!(sms_json(&gateway, "+86138", "hi", "s2").await.status, 200);
    assert_eq!(gateway.deliveries().len(), 3);
}

#[tokio::test]
async fn gateway_hang_never_answers_but_takes_the_message() {
    let gateway = FakeGateway::start(SECRET).await;
    gateway.push_fault(Fault::Hang);
    let hung = tokio::time::timeout(QUIET, sms_json(&gateway, "+86138", "hi", "h1")).await;
    assert!(hung.is_err(), "a hanging request is not answered");

    let requests = gateway.wait_for_requests(1, WAIT).await;
    assert_eq!(requests[0].status_answered, None);
    assert_eq!(
        gateway.deliveries().len(),
        1,
        "the message was taken before the answer was lost"
    );
    // The sender's retry with the same key is recognised.
    let retry = sms_json(&gateway, "+86138", "hi", "h1").await;
    assert_eq!(retry.json().unwrap()["status"], "duplicate");
}

#[tokio::test]
async fn gateway_holds_requests_until_released() {
    let gateway = FakeGateway::start(SECRET).await;
    gateway.push_fault(Fault::Hold);
    gateway.push_fault(Fault::Hold);
    let addr = gateway.addr();
    let send = |key: &'static str| {
        tokio::spawn(async move {
            let body = format!(r#"{{"to":"+86138","text":"hi","idempotency_key":"{key}"}}"#);
            let headers = [("Content-Type", "application/json")];
            post(addr, "/sms", &headers, body.as_bytes()).await.unwrap()
        })
    };
    let first = send("a");
    let second = send("b");

    assert_eq!(gateway.wait_held(2, WAIT).await, 2);
    assert!(gateway
        .requests()
        .iter()
        .all(|r| r.status_answered.is_none()));
    assert_eq!(
        gateway.deliveries().len(),
        2,
        "held messages are taken on arrival"
    );

    assert_eq!(gateway.release(), 2);
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(second.await.unwrap().status, 200);
    let answered = gateway.wait_for_answered(2, WAIT).await;
    assert!(answered.iter().all(|r| r.status_answered == Some(200)));
}

#[tokio::test]
async fn gateway_held_request_whose_sender_dies_is_delivered_once_after_the_retry() {
    let gateway = FakeGateway::start(SECRET).await;
    gateway.push_fault(Fault::Hold);
    let addr = gateway.addr();
    let doomed = tokio::spawn(async move {
        let headers = [("Content-Type", "application/json")];
        let body = br#"{"to":"+86138","text":"hi","idempotency_key":"once"}"#;
        post(addr, "/sms", &headers, body).await
    });
    assert_eq!(gateway.wait_held(1, WAIT).await, 1);
    // Like `kill -9` of the sender: its connection goes away mid-request.
    doomed.abort();
    assert!(doomed.await.unwrap_err().is_cancelled());

    let retry = sms_json(&gateway, "+86138", "hi", "once").await;
    assert_eq!(retry.json().unwrap()["status"], "duplicate");
    gateway.release();
    assert_eq!(gateway.deliveries().len(), 1);
    assert_eq!(gateway.duplicates(), 1);
}

#[tokio::test]
async fn gateway_verifies_webhook_signatures() {
    let gateway = FakeGateway::start(SECRET).await;
    let body = r#"{"alert":"a1","state":"firing"}"#;
    let now = unix_now();
    let good = sign(SECRET.as_bytes(), now, body.as_bytes());

    assert_eq!(webhook(&gateway, "w1", now, body, &good).await.status, 200);
    let wrong_key = sign(b"not-the-secret", now, body.as_bytes());
    assert_eq!(
        webhook(&gateway, "w2", now, body, &wrong_key).await.status,
        401
    );
    let tampered = r#"{"alert":"a1","state":"resolved"}"#;
    assert_eq!(
        webhook(&gateway, "w3", now, tampered, &good).await.status,
        401
    );
    let old = now - 3600;
    let stale = sign(SECRET.as_bytes(), old, body.as_bytes());
    assert_eq!(webhook(&gateway, "w4", old, body, &stale).await.status, 401);
    assert_eq!(webhook(&gateway, "", now, body, &good).await.status, 400);

    gateway.set_timestamp_tolerance(None);
    assert_eq!(webhook(&gateway, "w4", old, body, &stale).await.status, 200);

    let deliveries = gateway.deliveries();
    let keys: Vec<_> = deliveries
        .iter()
        .map(|d| d.idempotency_key.as_str())
        .collect();
    assert_eq!(keys, ["w1", "w4"]);
    assert_eq!(deliveries[0].json().unwrap()["state"], "firing");
    assert_eq!(deliveries[0].route, Route::Webhook);
    let reasons: Vec<_> = gateway
        .rejected()
        .into_iter()
        .map(|r| match r.outcome {
            Outcome::Rejected { reason } => (r.status_answered, reason),
            other => panic!("not rejected: {other:?}"),
        })
        .collect();
    assert_eq!(reasons.len(), 4);
    assert_eq!(reasons[0], (Some(401), "bad signature".to_owned()));
    assert_eq!(reasons[2].1, "X-Vigil-Timestamp outside the tolerance");
    assert_eq!(reasons[3], (Some(400), "no idempotency key".to_owned()));
}

//! The SMTP server both SMTP peers run: [`SmtpSink`], for `vigil demo` (which must run with
//! nothing but `nats-server` installed), hands over each mail it takes (envelope recipients,
//! decoded subject and text) on a bounded channel and stops when the receiver is dropped;
//! [`SmtpServer`](super::SmtpServer), for the tests, logs every mail in full and every
//! command it refuses, and refuses `MAIL`, `RCPT` or `DATA` with the reply code a test sets.
//! Plain text only (no STARTTLS, no AUTH), as Vigil's `tls = "none"` relay setting speaks; it
//! listens where it is told, loopback for the demo and the tests.
//!
//! Mails are handed over on a channel of the capacity given to [`SmtpSink::start`]; when the
//! reader falls behind, the sink pushes back: it answers `DATA` only once the mail is queued,
//! so a stalled reader slows delivery (and the sender's time-out and retry take over) instead
//! of growing memory.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{channel, Receiver, Sender};
use tokio::sync::Semaphore;

use super::mail::{Mail, Rejection, SmtpStage};
use super::mime;
use super::Recorder;

/// Connections the SMTP sink serves at once; more wait to be accepted.
const SMTP_MAX_CONNECTIONS: usize = 16;
/// The largest mail taken (`552` beyond it).
const SMTP_MAX_MESSAGE_BYTES: usize = 1 << 20;
/// The longest command or data line read.
const SMTP_MAX_LINE_BYTES: u64 = 4096;
/// Recipients per mail.
const SMTP_MAX_RECIPIENTS: usize = 100;
/// A client silent for this long is disconnected.
const SMTP_IDLE: Duration = Duration::from_secs(60);

/// A mail the SMTP sink took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The text/plain part, decoded.
    pub text: String,
}

/// An SMTP server in this process that hands over the mails it takes.
pub struct SmtpSink;

impl SmtpSink {
    /// Listens on `bind` (port 0 for any) and returns the address taken and the mails as they
    /// arrive. Speaks EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT; answers `502` to
    /// anything else (no STARTTLS, no AUTH).
    /// Holds up to `queue` mails for the reader before pushing back.
    pub async fn start(
        bind: SocketAddr,
        queue: usize,
    ) -> io::Result<(SocketAddr, Receiver<ReceivedMail>)> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = channel(queue);
        tokio::spawn(accept_mail(listener, Outlet::Feed(tx)));
        Ok((addr, rx))
    }
}

/// Where a session's mails and refusals go.
#[derive(Clone)]
pub(super) enum Outlet {
    /// `vigil demo`: each mail handed over (push-back when the channel is full); nothing is
    /// refused. Serving ends when the receiver is dropped.
    Feed(Sender<ReceivedMail>),
    /// A test: every mail and refusal logged; commands refused as the test set.
    Log(Arc<Recorder>),
}

impl Outlet {
    /// The reply refusing `stage` (with `argument`, for the log), if a test set one.
    fn refusal(&self, stage: SmtpStage, argument: &str) -> Option<String> {
        let Outlet::Log(recorder) = self else {
            return None;
        };
        let code = recorder.refusal(stage)?;
        recorder.rejected(Rejection {
            stage,
            code,
            argument: Some(argument.to_owned()),
        });
        let reason = if code < 500 {
            "Try again later (injected)"
        } else {
            "Refused (injected)"
        };
        Some(format!("{code} {reason}\r\n"))
    }

    /// Passes a mail on; returns once it is queued or logged.
    async fn take(&self, mail_from: String, rcpt_tos: Vec<String>, data: &[u8]) {
        let message = mime::parse(data);
        match self {
            Outlet::Feed(tx) => {
                let mail = ReceivedMail {
                    rcpt_to: rcpt_tos,
                    subject: message.header("subject").unwrap_or_default().to_owned(),
                    text: message.text.unwrap_or_default(),
                };
                // Waits for room (push-back); a dropped receiver only means nobody is looking
                // any more.
                let _ = tx.send(mail).await;
            }
            Outlet::Log(recorder) => {
                let header = |name: &str| message.header(name).map(str::to_owned);
                let mail = Mail {
                    mail_from,
                    rcpt_tos,
                    subject: header("subject"),
                    message_id: header("message-id"),
                    from: header("from"),
                    to: header("to"),
                    text: message.text.clone(),
                    html: message.html.clone(),
                    headers: message.headers.clone(),
                    attachments: message.attachments.clone(),
                };
                recorder.taken(mail);
            }
        }
    }

    /// Resolves when nobody takes mails any more (a feed whose receiver was dropped).
    async fn closed(&self) {
        match self {
            Outlet::Feed(tx) => tx.closed().await,
            Outlet::Log(_) => std::future::pending().await,
        }
    }
}

/// Accepts connections until the outlet closes, serving up to [`SMTP_MAX_CONNECTIONS`] at once.
pub(super) async fn accept_mail(listener: TcpListener, outlet: Outlet) {
    let slots = Arc::new(Semaphore::new(SMTP_MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            () = outlet.closed() => return,
        };
        let outlet = outlet.clone();
        tokio::spawn(async move {
            let _ = smtp_session(stream, outlet).await;
            drop(permit);
        });
    }
}

/// One mail being taken.
#[derive(Default)]
struct Envelope {
    /// The sender, once `MAIL FROM` was taken.
    from: Option<String>,
    to: Vec<String>,
}

async fn smtp_session(stream: TcpStream, outlet: Outlet) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 vigil-demo ESMTP\r\n").await?;
    let mut envelope = Envelope::default();
    let mut line = Vec::new();
    loop {
        if !read_line(&mut read, &mut line).await? {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end();
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let refused;
        let reply: &str = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => "250-vigil-demo\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n",
            "HELO" => "250 vigil-demo\r\n",
            "MAIL" if envelope.from.is_some() => "503 5.5.1 MAIL already given\r\n",
            "MAIL" => match path(arg, "FROM:") {
                Some(from) => match outlet.refusal(SmtpStage::Mail, &from) {
                    Some(refusal) => {
                        refused = refusal;
                        &refused
                    }
                    None => {
                        envelope.from = Some(from);
                        "250 2.1.0 OK\r\n"
                    }
                },
                None => "501 5.5.4 MAIL FROM:<address>\r\n",
            },
            "RCPT" if envelope.from.is_none() => "503 5.5.1 MAIL first\r\n",
            "RCPT" if envelope.to.len() >= SMTP_MAX_RECIPIENTS => {
                "452 4.5.3 too many recipients\r\n"
            }
            "RCPT" => match path(arg, "TO:") {
                Some(to) => match outlet.refusal(SmtpStage::Rcpt, &to) {
                    Some(refusal) => {
                        refused = refusal;
                        &refused
                    }
                    None => {
                        envelope.to.push(to);
                        "250 2.1.5 OK\r\n"
                    }
                },
                None => "501 5.5.4 RCPT TO:<address>\r\n",
            },
            "DATA" if envelope.to.is_empty() => "503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let taken = std::mem::take(&mut envelope);
                let from = taken.from.unwrap_or_default();
                match read_data(&mut read).await? {
                    Some(data) => match outlet.refusal(SmtpStage::Data, &from) {
                        Some(refusal) => {
                            refused = refusal;
                            &refused
                        }
                        None => {
                            outlet.take(from, taken.to, &data).await;
                            "250 2.0.0 queued\r\n"
                        }
                    },
                    None => "552 5.3.4 message too big\r\n",
                }
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not implemented\r\n",
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// Reads one line (with its ending) into `line`, at most [`SMTP_MAX_LINE_BYTES`]; `false` at
/// the end of the stream or after [`SMTP_IDLE`] of silence.
async fn read_line<R: AsyncBufRead + Unpin>(read: &mut R, line: &mut Vec<u8>) -> io::Result<bool> {
    line.clear();
    let mut limited = read.take(SMTP_MAX_LINE_BYTES);
    match tokio::time::timeout(SMTP_IDLE, limited.read_until(b'\n', line)).await {
        Ok(Ok(n)) => Ok(n > 0),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// The lines after `DATA` up to the lone `.`, dot-unstuffed; `None` when too big (read to its
/// end all the same, so the session can go on).
async fn read_data<R: AsyncBufRead + Unpin>(read: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut too_big = false;
    loop {
        if !read_line(read, &mut line).await? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == b"." {
            return Ok((!too_big).then_some(data));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() > SMTP_MAX_MESSAGE_BYTES {
            too_big = true;
            data.clear();
        }
        if !too_big {
            data.extend_from_slice(unstuffed);
        }
    }
}

/// The address in `FROM:<a@b> PARAMS` (after `prefix`, case-insensitive).
fn path(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    async fn dialogue(addr: SocketAddr, lines: &[&str]) -> Vec<String> {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut replies = Vec::new();
        let mut reply = String::new();
        read.read_line(&mut reply).await.expect("greeting");
        replies.push(reply.trim_end().to_string());
        for line in lines {
            write
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .expect("write");
            // Data lines get no reply of their own.
            if replies.last().is_some_and(|r| r.starts_with("354")) && *line != "." {
                continue;
            }
            loop {
                reply.clear();
                read.read_line(&mut reply).await.expect("reply");
                if reply.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
            replies.push(reply.trim_end().to_string());
        }
        replies
    }

    #[tokio::test]
    async fn speaks_enough_smtp_and_unstuffs_dots() {
        let (addr, mut mails) = SmtpSink::start(loopback(), 8).await.expect("sink");
        let replies = dialogue(
            addr,
            &[
                "HELO client",
                "RCPT TO:<early@example.com>",
                "MAIL FROM:<a@example.com>",
                "RCPT TO:<dropped@example.com>",
                "RSET",
                "MAIL FROM:<b@example.com> BODY=8BITMIME",
                "rcpt to:<c@example.com>",
                "NOOP",
                "STARTTLS",
                "DATA",
                "Subject: =?utf-8?q?caf=C3=A9_open?= =?utf-8?b?IQ==?=",
                "To: c@example.com",
                "Content-Type: text/plain",
                "Content-Transfer-Encoding: quoted-printable",
                "",
                "..hidden dot line",
                "soft=",
                " break =3D done",
                ".",
                "QUIT",
            ],
        )
        .await;
        let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
        assert_eq!(
            codes,
            [
                "220", "250", "503", "250", "250", "250", "250", "250", "250", "502", "354", "250",
                "221"
            ]
        );
        let mail = mails.recv().await.expect("a mail");
        // RSET dropped the first recipient.
        assert_eq!(mail.rcpt_to, ["c@example.com"]);
        assert_eq!(mail.subject, "café open!");
        assert_eq!(mail.text, ".hidden dot line\nsoft break = done");
    }
}

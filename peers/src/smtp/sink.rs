//! [`SmtpSink`]: an SMTP server in this process, for `vigil demo`, which must run with nothing
//! but `nats-server` installed. It hands over each mail it takes (envelope recipients, decoded
//! subject and text) on a bounded channel and stops when the receiver is dropped. Plain text
//! only (no STARTTLS, no AUTH); it listens where it is told, loopback for the demo.
//!
//! The integration tests use [`SmtpServer`](super::SmtpServer) instead: a real third-party
//! server (`aiosmtpd`) whose Python mail parser checks Vigil's MIME independently, and which
//! can refuse commands with a chosen reply code. This one has no fault injection.
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

use super::mime;

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
        tokio::spawn(accept_mail(listener, tx));
        Ok((addr, rx))
    }
}

async fn accept_mail(listener: TcpListener, tx: Sender<ReceivedMail>) {
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
            () = tx.closed() => return,
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = smtp_session(stream, tx).await;
            drop(permit);
        });
    }
}

/// One mail being taken.
#[derive(Default)]
struct Envelope {
    /// Whether `MAIL FROM` was given (the sender itself is not kept).
    has_sender: bool,
    to: Vec<String>,
}

async fn smtp_session(stream: TcpStream, tx: Sender<ReceivedMail>) -> io::Result<()> {
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
        let reply: &str = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => "250-vigil-demo\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n",
            "HELO" => "250 vigil-demo\r\n",
            "MAIL" if envelope.has_sender => "503 5.5.1 MAIL already given\r\n",
            "MAIL" => match path(arg, "FROM:") {
                Some(_) => {
                    envelope.has_sender = true;
                    "250 2.1.0 OK\r\n"
                }
                None => "501 5.5.4 MAIL FROM:<address>\r\n",
            },
            "RCPT" if !envelope.has_sender => "503 5.5.1 MAIL first\r\n",
            "RCPT" if envelope.to.len() >= SMTP_MAX_RECIPIENTS => {
                "452 4.5.3 too many recipients\r\n"
            }
            "RCPT" => match path(arg, "TO:") {
                Some(to) => {
                    envelope.to.push(to);
                    "250 2.1.5 OK\r\n"
                }
                None => "501 5.5.4 RCPT TO:<address>\r\n",
            },
            "DATA" if envelope.to.is_empty() => "503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let taken = std::mem::take(&mut envelope);
                match read_data(&mut read).await? {
                    Some(data) => {
                        let (subject, text) = mime::subject_and_text(&data);
                        let mail = ReceivedMail {
                            rcpt_to: taken.to,
                            subject,
                            text,
                        };
                        // Waits for room (push-back); a dropped receiver only means nobody
                        // is looking any more.
                        let _ = tx.send(mail).await;
                        "250 2.0.0 queued\r\n"
                    }
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

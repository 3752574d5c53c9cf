//! [`SmtpServer`]: a real SMTP server for one test, `aiosmtpd` run as a child process.
//!
//! `peers/smtp_sink.py` listens on 127.0.0.1 on a free port, prints one JSON line per
//! message it takes and per command it refuses, and takes fault commands on its stdin. A reader
//! thread turns those lines into a [`Mail`] log that tests await. The child is killed when the
//! `SmtpServer` is dropped, and exits by itself when its stdin closes (the test process died).
//!
//! The server speaks plain SMTP (no TLS, no AUTH), as Vigil's `tls = "none"` relay setting does.
//!
//! [`SmtpSink`] is the same peer without Python, in this process, for `vigil demo` (see
//! [`sink`] for why the tests keep the real server).
//!
//! # Layout
//! - this file: [`SmtpServer`], the `aiosmtpd` child and its fault commands.
//! - `mail`: what it reports: [`Mail`], [`Rejection`], [`SmtpStage`].
//! - [`sink`]: [`SmtpSink`], the in-process server feeding a bounded channel.
//! - `mime`: the sink's mail parsing (headers, encoded words, text/plain).

mod mail;
mod mime;
pub mod sink;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

pub use mail::{Mail, Rejection, SmtpStage};
pub use sink::{ReceivedMail, SmtpSink};

use mail::Event;

/// The sink script, next to this crate's `Cargo.toml`.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp_sink.py");
/// How long [`SmtpServer::start`] waits for the ready line (Python start-up and the import).
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a fault command may take to be acknowledged.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries with a new free port when another process took the chosen one first.
const PORT_ATTEMPTS: usize = 3;
/// `smtp_sink.py`'s exit code when it cannot listen on the port.
const EXIT_PORT_TAKEN: i32 = 2;
/// `smtp_sink.py`'s exit code when `aiosmtpd` is not installed.
const EXIT_NO_AIOSMTPD: i32 = 3;

/// Why the SMTP sink could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// `python3` could not be run, or a free port could not be found.
    #[error("cannot run python3 {SCRIPT}: {0}")]
    Spawn(#[source] io::Error),
    /// The Python module is missing.
    #[error("the SMTP sink needs aiosmtpd: pip install aiosmtpd (scripts/test does)")]
    NoAiosmtpd,
    /// The script exited during start-up (its stderr went to the test's output).
    #[error("smtp_sink.py exited during start-up ({0})")]
    Exited(ExitStatus),
    /// No ready line in time.
    #[error("smtp_sink.py was not ready within {0:?}")]
    NotReady(Duration),
}

/// What the sink has reported so far; shared with the reader thread.
#[derive(Debug, Default)]
struct SinkLog {
    mails: Vec<Mail>,
    rejections: Vec<Rejection>,
    /// The highest acknowledged control sequence number.
    acked: u64,
    /// The child's stdout closed: nothing more will arrive.
    closed: bool,
}

/// A real SMTP server for one test, killed on drop.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    port: u16,
    stdin: Mutex<ChildStdin>,
    log: Arc<watch::Sender<SinkLog>>,
    next_seq: AtomicU64,
    /// How many mails [`next`](Self::next) has handed out.
    cursor: usize,
}

impl SmtpServer {
    /// Starts the sink on a free port and waits until it accepts connections.
    ///
    /// Blocks the calling thread for the Python start-up (a fraction of a second).
    ///
    /// # Panics
    /// When the sink does not start; the message says what is missing.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(server) => server,
            Err(err) => panic!("cannot start the SMTP sink for this test: {err}"),
        }
    }

    /// Starts the sink, returning the error instead of panicking.
    pub fn try_start() -> Result<Self, SmtpError> {
        let mut attempt = 1;
        loop {
            match Self::spawn(free_port()?) {
                Err(SmtpError::Exited(status))
                    if status.code() == Some(EXIT_PORT_TAKEN) && attempt < PORT_ATTEMPTS =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn spawn(port: u16) -> Result<Self, SmtpError> {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg("--port")
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(SmtpError::Spawn)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SmtpError::Spawn(io::Error::other("no pipes to the child")));
        };
        let log = Arc::new(watch::Sender::new(SinkLog::default()));
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let reader_log = Arc::clone(&log);
        std::thread::Builder::new()
            .name(format!("smtp-sink-{port}"))
            .spawn(move || read_events(BufReader::new(stdout), &reader_log, ready_tx))
            .map_err(SmtpError::Spawn)?;
        let ready = ready_rx.recv_timeout(READY_TIMEOUT);
        let server = SmtpServer {
            child,
            port,
            stdin: Mutex::new(stdin),
            log,
            next_seq: AtomicU64::new(1),
            cursor: 0,
        };
        match ready {
            Ok(ready_port) if ready_port == port => Ok(server),
            Ok(ready_port) => Err(SmtpError::Spawn(io::Error::other(format!(
                "smtp_sink.py listens on {ready_port}, not on {port}"
            )))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(SmtpError::NotReady(READY_TIMEOUT)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(server.exit_error()),
        }
    }

    /// Why a child that closed its stdout before the ready line exited.
    fn exit_error(mut self) -> SmtpError {
        match self.child.wait() {
            Ok(status) if status.code() == Some(EXIT_NO_AIOSMTPD) => SmtpError::NoAiosmtpd,
            Ok(status) => SmtpError::Exited(status),
            Err(err) => SmtpError::Spawn(err),
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Every message taken so far, in arrival order.
    pub fn received(&self) -> Vec<Mail> {
        self.log.borrow().mails.clone()
    }

    /// Every command refused so far by an injected fault, in order.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.log.borrow().rejections.clone()
    }

    /// Waits until at least `n` messages were taken, or `timeout`, and returns all of them
    /// (fewer than `n` on time-out).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        self.wait_until(timeout, |log| log.mails.len() >= n).await;
        self.received()
    }

    /// Waits until at least `n` commands were refused, or `timeout`, and returns all of them.
    pub async fn wait_for_rejections(&self, n: usize, timeout: Duration) -> Vec<Rejection> {
        self.wait_until(timeout, |log| log.rejections.len() >= n)
            .await;
        self.rejections()
    }

    /// The next message this method has not returned yet, waiting up to `timeout` for it.
    pub async fn next(&mut self, timeout: Duration) -> Option<Mail> {
        let want = self.cursor + 1;
        self.wait_until(timeout, |log| log.mails.len() >= want)
            .await;
        let mail = self.log.borrow().mails.get(self.cursor).cloned()?;
        self.cursor += 1;
        Some(mail)
    }

    /// True when no further message arrives within `window`: a bounded wait for something that
    /// must not happen.
    pub async fn quiet_for(&self, window: Duration) -> bool {
        let seen = self.log.borrow().mails.len();
        !self.wait_until(window, |log| log.mails.len() > seen).await
    }

    /// From now on, answers `MAIL FROM` with `code` (e.g. 451 transient, 550 permanent), or
    /// accepts again with `None`. Returns once the sink applies it.
    ///
    /// # Panics
    /// When `code` is not a 4xx or 5xx reply, or the sink does not acknowledge.
    pub async fn set_reject(&self, code: Option<u16>) {
        self.set_reject_at(SmtpStage::Mail, code).await;
    }

    /// From now on, answers `stage` with `code`, or accepts again with `None` (whatever the
    /// stage). Only one stage refuses at a time. Returns once the sink applies it.
    ///
    /// # Panics
    /// When `code` is not a 4xx or 5xx reply, or the sink does not acknowledge.
    pub async fn set_reject_at(&self, stage: SmtpStage, code: Option<u16>) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let command = match code {
            Some(code) => {
                assert!(
                    (400..600).contains(&code),
                    "an SMTP refusal is a 4xx or 5xx reply, not {code}"
                );
                format!("reject {} {code} {seq}\n", stage.as_str())
            }
            None => format!("accept {seq}\n"),
        };
        {
            let mut stdin = self.stdin.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(err) = stdin
                .write_all(command.as_bytes())
                .and_then(|()| stdin.flush())
            {
                panic!("cannot send {command:?} to the SMTP sink: {err}");
            }
        }
        if !self
            .wait_until(CONTROL_TIMEOUT, |log| log.acked >= seq)
            .await
        {
            panic!("the SMTP sink did not apply {command:?} within {CONTROL_TIMEOUT:?}");
        }
    }

    /// Waits until `done` holds (true) or `timeout` passes or the sink's output ends (false).
    async fn wait_until(&self, timeout: Duration, done: impl Fn(&SinkLog) -> bool) -> bool {
        let mut rx = self.log.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|log| done(log) || log.closed));
        // Whatever ended the wait (the condition, the output closing, the time), look again.
        let _ = waited.await;
        done(&self.log.borrow())
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, SmtpError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(SmtpError::Spawn)
}

/// The reader thread: turns the sink's stdout lines into [`SinkLog`] entries until it closes.
fn read_events(stdout: impl BufRead, log: &watch::Sender<SinkLog>, ready: mpsc::SyncSender<u16>) {
    let mut ready = Some(ready);
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Event>(&line) {
            Ok(Event::Ready { port }) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(port);
                }
            }
            Ok(Event::Mail(mail)) => log.send_modify(|log| log.mails.push(mail)),
            Ok(Event::Rejected(rejection)) => {
                log.send_modify(|log| log.rejections.push(rejection));
            }
            Ok(Event::Ack { seq }) => log.send_modify(|log| log.acked = log.acked.max(seq)),
            // A line the protocol does not know is a bug in smtp_sink.py: say so in the test's
            // output rather than drop it silently.
            Err(err) => {
                eprintln!("smtp_sink.py printed a line the test kit cannot read ({err}): {line}")
            }
        }
    }
    log.send_modify(|log| log.closed = true);
}

//! [`SmtpServer`]: a real SMTP server for one test, in this process, on its own thread.
//!
//! It listens on 127.0.0.1 on a free port, logs every message it takes (decoded: envelope,
//! headers, text and HTML parts) and every command it refuses, and refuses `MAIL`, `RCPT` or
//! the end of `DATA` with the reply code a test sets. Tests await the log. Its own thread and
//! runtime keep it answering whatever the test's runtime is doing; it stops when dropped.
//!
//! The server speaks plain SMTP (no TLS, no AUTH), as Vigil's `tls = "none"` relay setting does.
//! [`SmtpSink`] is the same server for `vigil demo`, handing its mails over on a channel.
//!
//! # Layout
//! - this file: [`SmtpServer`] and its log.
//! - `mail`: what it reports: [`Mail`], [`Rejection`], [`SmtpStage`].
//! - [`sink`]: the SMTP server itself, and [`SmtpSink`], the demo's.
//! - `mime`: mail parsing (headers, encoded words, text and HTML parts), independent of the
//!   MIME writer the service sends with.

mod mail;
mod mime;
pub mod sink;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

pub use mail::{Mail, Rejection, SmtpStage};
pub use mime::Attachment;
pub use sink::{ReceivedMail, SmtpSink};

use sink::{accept_mail, Outlet};

/// Why the SMTP server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// No port could be bound on 127.0.0.1.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[source] io::Error),
    /// Its thread or runtime could not be started.
    #[error("cannot start the SMTP server's thread: {0}")]
    Thread(#[source] io::Error),
}

/// What the server has seen so far.
#[derive(Debug, Default)]
struct SinkLog {
    mails: Vec<Mail>,
    rejections: Vec<Rejection>,
    /// The server stopped: nothing more will arrive.
    closed: bool,
}

/// The log the sessions write and the refusal the test set, shared by the server's thread and
/// the test.
#[derive(Debug)]
pub(crate) struct Recorder {
    log: watch::Sender<SinkLog>,
    reject: Mutex<Option<(SmtpStage, u16)>>,
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            log: watch::Sender::new(SinkLog::default()),
            reject: Mutex::new(None),
        }
    }

    /// The code `stage` is refused with now, if any.
    fn refusal(&self, stage: SmtpStage) -> Option<u16> {
        let reject = *self.reject.lock().unwrap_or_else(PoisonError::into_inner);
        reject.and_then(|(at, code)| (at == stage).then_some(code))
    }

    fn rejected(&self, rejection: Rejection) {
        self.log.send_modify(|log| log.rejections.push(rejection));
    }

    fn taken(&self, mail: Mail) {
        self.log.send_modify(|log| log.mails.push(mail));
    }
}

/// A real SMTP server for one test; stops when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    /// Dropping it stops the server's runtime.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// How many mails [`next`](Self::next) has handed out.
    cursor: usize,
}

impl SmtpServer {
    /// Starts the server on a free port; it accepts connections when this returns.
    ///
    /// # Panics
    /// When the server does not start; the message says why.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(server) => server,
            Err(err) => panic!("cannot start the SMTP server for this test: {err}"),
        }
    }

    /// Starts the server, returning the error instead of panicking.
    pub fn try_start() -> Result<Self, SmtpError> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(SmtpError::Bind)?;
        let addr = listener.local_addr().map_err(SmtpError::Bind)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SmtpError::Thread)?;
        let recorder = Arc::new(Recorder::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let outlet = Outlet::Log(Arc::clone(&recorder));
        let log = Arc::clone(&recorder);
        let thread = std::thread::Builder::new()
            .name(format!("smtp-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    // Registering with this runtime's reactor needs its context: here.
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        tokio::select! {
                            () = accept_mail(listener, outlet) => {}
                            _ = stopped => {}
                        }
                    }
                });
                log.log.send_modify(|log| log.closed = true);
            })
            .map_err(SmtpError::Thread)?;
        Ok(SmtpServer {
            addr,
            recorder,
            stop: Some(stop),
            thread: Some(thread),
            cursor: 0,
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message taken so far, in arrival order.
    pub fn received(&self) -> Vec<Mail> {
        self.recorder.log.borrow().mails.clone()
    }

    /// Every command refused so far by an injected fault, in order.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.recorder.log.borrow().rejections.clone()
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
        let mail = self.recorder.log.borrow().mails.get(self.cursor).cloned()?;
        self.cursor += 1;
        Some(mail)
    }

    /// True when no further message arrives within `window`: a bounded wait for something that
    /// must not happen.
    pub async fn quiet_for(&self, window: Duration) -> bool {
        let seen = self.recorder.log.borrow().mails.len();
        !self.wait_until(window, |log| log.mails.len() > seen).await
    }

    /// From now on, answers `MAIL FROM` with `code` (e.g. 451 transient, 550 permanent), or
    /// accepts again with `None`. Applies to the next command the server reads.
    ///
    /// # Panics
    /// When `code` is not a 4xx or 5xx reply.
    pub async fn set_reject(&self, code: Option<u16>) {
        self.set_reject_at(SmtpStage::Mail, code).await;
    }

    /// From now on, answers `stage` with `code`, or accepts again with `None` (whatever the
    /// stage). Only one stage refuses at a time. Applies to the next command the server reads.
    ///
    /// # Panics
    /// When `code` is not a 4xx or 5xx reply.
    pub async fn set_reject_at(&self, stage: SmtpStage, code: Option<u16>) {
        if let Some(code) = code {
            assert!(
                (400..600).contains(&code),
                "an SMTP refusal is a 4xx or 5xx reply, not {code}"
            );
        }
        let mut reject = self
            .recorder
            .reject
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *reject = code.map(|code| (stage, code));
    }

    /// Waits until `done` holds (true) or `timeout` passes or the sink's output ends (false).
    async fn wait_until(&self, timeout: Duration, done: impl Fn(&SinkLog) -> bool) -> bool {
        let mut rx = self.recorder.log.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|log| done(log) || log.closed));
        // Whatever ended the wait (the condition, the output closing, the time), look again.
        let _ = waited.await;
        done(&self.recorder.log.borrow())
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

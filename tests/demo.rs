//! `vigil demo` end to end: the real binary with its nats-server child (from `NATS_SERVER_BIN`
//! or `PATH`), its local SMTP sink and SMS gateway. The test reads the demo's stdout as it
//! runs until an SMS and an email have been printed with an ack link, opens the link, and sees
//! the alert acknowledged; then it stops the demo with SIGTERM.
//!
//! The first page comes about 65 s in: the demo's first ticket is a CRITICAL one nobody picks
//! up (1-minute response target), and its page waits 5 s (`group_wait`) for others.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use support::{free_port, vigil};

/// How long the demo may take to print the first SMS, an email and an ack link.
const FIRST_PAGE_WITHIN: Duration = Duration::from_secs(85);

/// How long the demo may take to exit after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// Lines of stdout waiting for the test; the reader thread waits when it is full.
const LINE_QUEUE: usize = 4096;

/// A running `vigil demo`, killed on drop; its stderr goes to a file shown when the test fails.
struct Demo {
    child: Child,
    port: u16,
    lines: Receiver<String>,
    /// Every stdout line read so far, for failure messages.
    seen: Vec<String>,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let stderr = dir.path().join("demo.stderr");
        let mut child = vigil(dir.path())
            .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
            // A safety net: the demo ends by itself should this test be killed.
            .args(["--duration", "180s"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("cannot start vigil demo");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = sync_channel(LINE_QUEUE);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Demo {
            child,
            port,
            lines,
            seen: Vec::new(),
            stderr,
            _dir: dir,
        }
    }

    /// The next stdout line, or `None` once `deadline` has passed; panics if the demo ended.
    fn next_line(&mut self, deadline: Instant) -> Option<&str> {
        let left = deadline.checked_duration_since(Instant::now())?;
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line);
                self.seen.last().map(String::as_str)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().expect("wait for the demo");
                panic!("vigil demo ended early ({status}){}", self.output());
            }
        }
    }

    /// What the demo printed so far, and its log.
    fn output(&self) -> String {
        format!(
            "\n── stdout ──\n{}\n── stderr ──\n{}",
            self.seen.join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// SIGTERM, then the exit status within [`EXIT_WITHIN`].
    fn stop(&mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling a child process we own and have not waited for.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
        let deadline = Instant::now() + EXIT_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            // Drain stdout meanwhile, so a full pipe cannot hold the demo up.
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            assert!(
                Instant::now() < deadline,
                "vigil demo did not exit within {EXIT_WITHIN:?} of SIGTERM{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The ack link in a line (`http://…/ack/<token>`), if any.
fn ack_link(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find(|word| word.starts_with("http://") && word.contains("/ack/"))
}

/// A request of `url` as a browser sends it (`Accept: text/html`; `GET`, or `POST` without a
/// body): status and body.
fn fetch(method: reqwest::Method, url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the request");
    runtime.block_on(async {
        let answer = vigil_peers::http::client(Duration::from_secs(10))
            .request(method, url)
            .header(reqwest::header::ACCEPT, "text/html")
            .body(Vec::new())
            .send()
            .await
            .expect("the demo answers");
        let status = answer.status().as_u16();
        (status, answer.text().await.expect("read the answer"))
    })
}

#[test]
fn the_demo_pages_by_sms_and_email_and_its_ack_link_acknowledges() {
    let started = Instant::now();
    let mut demo = Demo::start();
    let deadline = started + FIRST_PAGE_WITHIN;
    // A page by SMS (it carries its ack link, unlike a resolution message) and any email.
    let (mut page, mut email) = (None::<String>, None::<String>);
    while page.is_none() || email.is_none() {
        let Some(line) = demo.next_line(deadline) else {
            panic!(
                "no SMS page and email within {FIRST_PAGE_WITHIN:?}{}",
                demo.output()
            );
        };
        if line.starts_with("[sms") && ack_link(line).is_some() {
            page = Some(line.to_string());
        } else if line.starts_with("[email") {
            email = Some(line.to_string());
        }
    }
    let page = page.unwrap_or_default();
    assert!(page.contains("BREACHED"), "{page}");
    let link = ack_link(&page).unwrap_or_default();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{}/ack/", demo.port)),
        "{link}"
    );
    // Opening the link shows the page with its button; the button's POST acknowledges.
    let (status, answer) = fetch(reqwest::Method::GET, link);
    assert_eq!(status, 200, "{answer}{}", demo.output());
    assert!(
        answer.contains("<form method=\"post\">"),
        "{answer}{}",
        demo.output()
    );
    let (status, answer) = fetch(reqwest::Method::POST, link);
    assert_eq!(status, 200, "{answer}{}", demo.output());
    assert!(
        answer.contains("<title>Acknowledged"),
        "{answer}{}",
        demo.output()
    );

    let status = demo.stop();
    assert!(
        status.success(),
        "vigil demo exited with {status}{}",
        demo.output()
    );
    eprintln!("the demo test took {:?}", started.elapsed());
}

//! `vigil run` as a child process (killed on drop), its HTTP endpoints and metrics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{eventually, vigil, Run, STOP_LIMIT, WAIT};

/// A config for API and WebSocket tests: 4 partitions, rate limits off (they have tests of
/// their own).
pub const UNLIMITED: &str = r#"
[nats]
partitions = 4

[http]
rate_limit_per_ip = 0
rate_limit_per_tenant = 0
"#;

/// The HS256 secret every test service runs with (`vigil run` refuses short or known ones);
/// tests that forge tokens sign with it.
pub const TEST_JWT_SECRET: &str = "vigil-integration-tests-hs256-secret-0123456789";

/// A free TCP port on 127.0.0.1 (bound, then released for the service to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port")
        .port()
}

/// Settings of one `vigil run`: a config file in a temp dir, overridden from the environment.
#[derive(Debug, Clone)]
pub struct ServiceSetup {
    /// The temp dir (config, store, logs).
    pub dir: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// `VIGIL__…` variables.
    pub env: Vec<(String, String)>,
    /// The HTTP port.
    pub port: u16,
    /// The SQLite file.
    pub db: PathBuf,
}

impl ServiceSetup {
    /// A config in `dir` with `toml` as its text, pointed at `nats_url` and a store in `dir`
    /// through environment overrides; `clock` is `wall` or `event`.
    pub fn new(dir: &Path, nats_url: &str, toml: &str, clock: &str) -> ServiceSetup {
        let config = dir.join("vigil.toml");
        std::fs::write(&config, toml).expect("write config");
        let port = free_port();
        let db = dir.join("v.db");
        let env = vec![
            ("VIGIL__NATS__URL".into(), nats_url.to_string()),
            (
                "VIGIL__STORE__URL".into(),
                format!("sqlite://{}", db.display()),
            ),
            ("VIGIL__HTTP__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("VIGIL__ENGINE__CLOCK".into(), clock.to_string()),
            ("VIGIL__AUTH__JWT_SECRET".into(), TEST_JWT_SECRET.into()),
        ];
        ServiceSetup {
            dir: dir.to_path_buf(),
            config,
            env,
            port,
            db,
        }
    }

    /// Starts `vigil run` (again, on the same port, store and NATS).
    pub fn start(&self) -> Service {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.dir.join(format!("vigil-run-{n}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = vigil(&self.dir)
            .args(["run", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("cannot start vigil run");
        Service {
            child,
            port: self.port,
            log,
        }
    }

    /// `vigil <args>` with this setup's environment, waited for.
    pub fn vigil(&self, args: &[&str]) -> Run {
        vigil(&self.dir)
            .args(args)
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .output()
            .expect("cannot run vigil")
            .into()
    }

    /// `vigil publish` of an NDJSON file with this setup's configuration; asserts it succeeded.
    pub fn publish(&self, file: &std::path::Path) -> Run {
        let run = self.vigil(&[
            "publish",
            "--input",
            file.to_str().expect("temp paths are UTF-8"),
            "--config",
            self.config.to_str().expect("temp paths are UTF-8"),
        ]);
        assert!(run.status.success(), "{run:?}");
        run
    }
}

/// A running `vigil run`, killed on drop. Its output goes to a log file that is printed when
/// the test fails.
#[derive(Debug)]
pub struct Service {
    child: Child,
    /// The HTTP port.
    pub port: u16,
    log: PathBuf,
}

impl Service {
    /// `GET path` on the service.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path).await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&mut self) {
        let port = self.port;
        let child = &mut self.child;
        let log = &self.log;
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "vigil run exited early with {status}:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if let Some((200, _)) = http_get(port, "/readyz").await {
                return;
            }
            assert!(Instant::now() < deadline, "vigil run never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of a metric sample (`name{labels}` as rendered, or a bare name), if present.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let (status, body) = self.get("/metrics").await?;
        assert_eq!(status, 200, "/metrics answered {status}");
        metric_value(&body, sample)
    }

    /// Waits until the configuration change `seq` (from a change's answer) is in force here
    /// (`vigil_config_applied_seq`).
    pub async fn config_applied(&self, seq: i64) {
        eventually(&format!("configuration change {seq} applied"), || async {
            let applied = self.metric("vigil_config_applied_seq").await?;
            (applied as i64 >= seq).then_some(())
        })
        .await;
    }

    /// Kills the process outright (SIGKILL: no shutdown, nothing flushed) and waits for it.
    pub async fn kill(&mut self) {
        self.child.kill().expect("kill(SIGKILL)");
        self.exited_within(STOP_LIMIT).await;
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends a signal (e.g. SIGSTOP to freeze the process, SIGCONT to wake it).
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling a child process we own.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }

    /// Waits for the process to exit, within `limit`.
    pub async fn exited_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "vigil run did not exit within {limit:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then the exit status. Allows [`STOP_LIMIT`], more than the service's own 30 s
    /// bound on draining the alert writer (see the ignored `sigterm_*_promptly` test).
    pub async fn stop(&mut self) -> ExitStatus {
        let started = Instant::now();
        self.terminate();
        let status = self.exited_within(STOP_LIMIT).await;
        if started.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "note: vigil run took {:?} to stop after SIGTERM; its log:\n{}",
                started.elapsed(),
                self.log()
            );
        }
        status
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "── log of vigil run ({}) ──\n{}",
                self.log.display(),
                self.log()
            );
        }
    }
}

/// A sample's value in a Prometheus text body: the line that starts with `sample` followed by
/// a space, or, for a sample with labels, the line of that metric with all of those labels.
pub fn metric_value(body: &str, sample: &str) -> Option<f64> {
    let (name, labels) = match sample.split_once('{') {
        Some((n, rest)) => (n, rest.trim_end_matches('}')),
        None => (sample, ""),
    };
    let wanted: Vec<&str> = labels.split(',').filter(|l| !l.is_empty()).collect();
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, ls) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let have: Vec<&str> = ls.split(',').collect();
        (n == name && wanted.iter().all(|w| have.contains(w)))
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// A `GET` on 127.0.0.1 within 5 s: status and body; `None` when nothing answers.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let answer = super::client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = answer.status().as_u16();
    Some((status, answer.text().await.ok()?))
}

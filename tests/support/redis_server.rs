//! A real `redis-server` for one test: on 127.0.0.1 at a free port, with a password, nothing
//! saved to disk, killed on drop, and restartable on the same port. The binary is
//! `REDIS_SERVER_BIN`, else `redis-server` on `PATH` (`scripts/test` installs Debian's
//! `redis-server` and sets `REDIS_SERVER_BIN`). Without one a test skips with the reason
//! printed, except under `CI=true`, where it fails: CI must run the Redis tests.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, skip, WAIT};

/// Environment variable naming the `redis-server` binary; checked before `PATH`.
pub const REDIS_SERVER_BIN_ENV: &str = "REDIS_SERVER_BIN";

/// The password every test server requires (so tests also see it kept out of logs).
pub const REDIS_PASSWORD: &str = "redis-test-Passw0rd";

/// The `redis-server` binary, or why there is none.
fn locate() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os(REDIS_SERVER_BIN_ENV).filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!(
                "{REDIS_SERVER_BIN_ENV}={} is not a file",
                bin.display()
            ))
        };
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("redis-server"))
                .find(|candidate| candidate.is_file())
        })
        .ok_or_else(|| {
            format!(
                "no redis-server: {REDIS_SERVER_BIN_ENV} is unset and none is on PATH \
                 (apt-get install redis-server, or run scripts/test)"
            )
        })
}

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server for `test`, or returns `None` after printing why there is no
    /// `redis-server` (panics instead under `CI=true`).
    pub fn start_or_skip(test: &str) -> Option<RedisServer> {
        let bin = locate().map_err(|why| skip(test, &why)).ok()?;
        let mut server = RedisServer {
            bin,
            port: free_port(),
            dir: tempfile::Builder::new()
                .prefix("vigil-redis-")
                .tempdir()
                .expect("temp dir"),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    /// `redis://:<password>@127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A client connection, for looking at keys.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis-server")
    }

    /// Kills the server at once, like a crash; [`RedisServer::restart`] brings it back (empty).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("redis.log");
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--requirepass", REDIS_PASSWORD])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        // Ready when it answers PING (polled until a deadline).
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "redis-server exited during start-up ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if self.answers_ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within {WAIT:?}:\n{}",
                self.port,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let command = format!("AUTH {REDIS_PASSWORD}\r\nPING\r\n");
        if stream.write_all(command.as_bytes()).is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 64];
        while !answer.ends_with(b"+PONG\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        true
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

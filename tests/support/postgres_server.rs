//! A PostgreSQL server of one test's own (not the shared `VIGIL_TEST_POSTGRES_URL` one), so the
//! test may stop it: a fresh cluster (`initdb`) in a temp dir on 127.0.0.1 at a free port, with
//! `fsync=off`, stopped on drop. The server binaries are the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package, which `scripts/test` installs),
//! run as the `postgres` user when the test runs as root. Without them a test skips with the
//! reason printed, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{free_port, skip};

/// A running PostgreSQL server, stopped (immediately) on drop.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_root: bool,
    running: bool,
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `pg_ctl`.
fn locate() -> Result<PathBuf, String> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no /usr/lib/postgresql ({e}): apt-get install postgresql"))?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL server binaries: apt-get install postgresql".into())
}

impl PostgresServer {
    /// Starts a fresh server for `test`, or returns `None` after printing why it cannot
    /// (panics instead under `CI=true`).
    pub fn start_or_skip(test: &str) -> Option<PostgresServer> {
        let bin = locate().map_err(|why| skip(test, &why)).ok()?;
        let dir = tempfile::Builder::new()
            .prefix("vigil-pg-")
            .tempdir()
            .expect("temp dir");
        // SAFETY: `geteuid` only reads the process's effective user id.
        let as_root = unsafe { libc::geteuid() } == 0;
        set_world_readable(dir.path());
        if as_root {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let mut server = PostgresServer {
            bin,
            dir,
            port: free_port(),
            as_root,
            running: false,
        };
        let data = server.data();
        server.run_tool("initdb", |c| {
            c.arg("-D").arg(&data).args(["-U", "vigil", "--auth=trust"])
        });
        server.start();
        Some(server)
    }

    /// `postgres://vigil@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://vigil@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on its port and data, waiting until it accepts connections.
    pub fn start(&mut self) {
        let (data, log, dir, port) = (
            self.data(),
            self.dir.path().join("log"),
            self.dir.path().to_path_buf(),
            self.port,
        );
        self.run_tool("pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-w")
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    dir.display()
                ));
            c.arg("start")
        });
        self.running = true;
    }

    /// Stops the server the way an operator's fast shutdown does: open connections are cut and
    /// new ones refused until [`start`](Self::start).
    pub fn stop(&mut self) {
        let data = self.data();
        self.run_tool("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "fast", "-w", "stop"])
        });
        self.running = false;
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the server's tools, run as `postgres` when the test runs as root.
    fn tool(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        }
    }

    /// Runs one of the server's tools, panicking with its output when it fails.
    fn run_tool(&self, tool: &str, args: impl FnOnce(&mut Command) -> &mut Command) {
        run(args(&mut self.tool(tool)));
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `command`, panicking with its output when it fails.
fn run(command: &mut Command) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn set_world_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the PostgreSQL temp dir");
}

//! `scripts/cluster --check` end to end: three `vigil run` instances on one nats-server,
//! redis-server and PostgreSQL reach the even share of the 16 partitions (6/5/5), one is
//! killed with SIGKILL, and the two others own all 16 within `lease_ttl` + 5 s; then the script
//! stops everything it started and exits 0.
//!
//! Skipped, with the reason printed, unless `VIGIL_TEST_CLUSTER_SCRIPT=1`: the script builds
//! `vigil` in release mode (minutes on a fresh target directory), which `scripts/test` and CI
//! do not pay for. Run it with
//! `VIGIL_TEST_CLUSTER_SCRIPT=1 cargo test --test cluster_script -- --nocapture`.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The variable that enables the test.
const ENABLE: &str = "VIGIL_TEST_CLUSTER_SCRIPT";

/// How long the script may take, a release build of `vigil` included.
const LIMIT: Duration = Duration::from_secs(20 * 60);

/// How long the script may take to stop what it started after a SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(90);

/// The bound the script checks: `lease_ttl` (10 s) + 5 s.
const FAILOVER_BOUND_SECS: f64 = 15.0;

/// What cargo puts in the environment of a running test.
const CARGO_TEST_VARS: &[CargoVar] = &[
    CargoVar::Name("CARGO_MANIFEST_DIR"),
    CargoVar::Name("CARGO_MANIFEST_PATH"),
    CargoVar::Name("CARGO_CRATE_NAME"),
    CargoVar::Name("CARGO_PRIMARY_PACKAGE"),
    CargoVar::Name("CARGO_TARGET_TMPDIR"),
    CargoVar::Prefix("CARGO_PKG_"),
    CargoVar::Prefix("CARGO_BIN_EXE_"),
];

/// An environment variable, by its name or a prefix of names.
enum CargoVar {
    Name(&'static str),
    Prefix(&'static str),
}

impl CargoVar {
    fn matches(&self, name: &str) -> bool {
        match self {
            CargoVar::Name(var) => name == *var,
            CargoVar::Prefix(prefix) => name.starts_with(prefix),
        }
    }
}

/// Reads a child's pipe to the end on a thread of its own.
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = String::new();
        // Whatever arrived before a read error is still worth showing.
        let _ = pipe.read_to_string(&mut out);
        out
    })
}

/// Waits for `child` until `limit`; `None` if it is still running then.
fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the script can be waited for") {
            return Some(status);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The seconds of the script's `failover: the survivors own all 16 partitions X s after …` line.
fn failover_seconds(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("failover: the survivors own all 16 partitions "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|secs| secs.parse().ok())
}

#[test]
fn check_mode_kills_one_instance_and_the_others_take_its_partitions_within_the_ttl() {
    if std::env::var(ENABLE).as_deref() != Ok("1") {
        eprintln!(
            "skipped: set {ENABLE}=1 to run scripts/cluster --check (it builds vigil in release mode)"
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut script = Command::new(root.join("scripts/cluster"));
    // What cargo sets for a running test must not reach the script's `cargo build`: a build
    // script of a dependency (ring) watches CARGO_MANIFEST_DIR, so with it set the release
    // build would start over, and the next build outside a test again.
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| CARGO_TEST_VARS.iter().any(|var| var.matches(name)))
        {
            script.env_remove(&name);
        }
    }
    let mut child = script
        .arg("--check")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/cluster starts");
    let stdout = collect(child.stdout.take().expect("piped stdout"));
    let stderr = collect(child.stderr.take().expect("piped stderr"));
    let status = match wait_for(&mut child, LIMIT) {
        Some(status) => status,
        None => {
            // SIGTERM, so that the script stops the servers and instances it started.
            let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
            // SAFETY: kill(2) with a pid of our own child and a valid signal number.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if wait_for(&mut child, STOP_LIMIT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!(
                "scripts/cluster --check still ran after {LIMIT:?}\n--- stdout\n{}\n--- stderr\n{}",
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
    };
    let stdout = stdout.join().expect("stdout read");
    let stderr = stderr.join().expect("stderr read");
    assert!(
        status.success() && stdout.contains("check passed"),
        "scripts/cluster --check: {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let moved = failover_seconds(&stdout)
        .unwrap_or_else(|| panic!("no failover line in the output:\n{stdout}"));
    eprintln!("the survivors owned all 16 partitions {moved} s after the kill");
    assert!(
        moved <= FAILOVER_BOUND_SECS,
        "failover took {moved} s, more than {FAILOVER_BOUND_SECS} s"
    );
    assert!(
        stderr.contains("==> stopped"),
        "the script says it stopped what it started:\n{stderr}"
    );
}

#[test]
fn the_failover_line_is_read() {
    let out = "x\nfailover: the survivors own all 16 partitions 11.4 s after kill -9 of node-1\n";
    assert_eq!(failover_seconds(out), Some(11.4));
    assert_eq!(failover_seconds("nothing"), None);
}

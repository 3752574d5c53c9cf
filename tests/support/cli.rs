//! The `vigil` binary as a subprocess: `vigil replay` and other one-shot commands.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

use super::{parse_alerts, Alert, VIGIL};

/// A `vigil` command run in `cwd` without any inherited `VIGIL__…` override.
pub fn vigil(cwd: &Path) -> Command {
    let mut cmd = Command::new(VIGIL);
    cmd.current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIL__") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// What a finished `vigil` command printed.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `vigil <args>` in `cwd`, feeding `stdin`, and waits for it.
pub fn run_vigil(cwd: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = vigil(cwd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start vigil");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_string();
        // A writer thread, so a full stdout pipe cannot deadlock against a full stdin pipe.
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    child
        .wait_with_output()
        .expect("vigil did not finish")
        .into()
}

/// `vigil replay --input <file> [extra args]` in `cwd`; panics unless it exits 0.
pub fn replay(cwd: &Path, input: &Path, extra: &[&str]) -> (Vec<Alert>, Summary) {
    let input = input.to_str().expect("utf-8 path");
    let mut args = vec!["replay", "--input", input];
    args.extend_from_slice(extra);
    let run = run_vigil(cwd, &args, None);
    assert!(run.status.success(), "vigil replay failed: {run:?}");
    (parse_alerts(&run.stdout), Summary::from_stderr(&run.stderr))
}

/// The summary line of `vigil replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub rejected: u64,
    pub warnings: u64,
    pub breaches: u64,
    pub resolved: u64,
    pub retracted: u64,
}

impl Summary {
    /// Finds and parses the summary line; checks the field order and that `events_per_sec`
    /// is a number.
    pub fn from_stderr(stderr: &str) -> Summary {
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("events="))
            .unwrap_or_else(|| panic!("no summary line in stderr:\n{stderr}"));
        let fields: Vec<(&str, &str)> = line
            .split_whitespace()
            .map(|f| f.split_once('=').unwrap_or((f, "")))
            .collect();
        let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "events",
                "rejected",
                "warnings",
                "breaches",
                "resolved",
                "retracted",
                "events_per_sec"
            ],
            "summary line {line:?}"
        );
        let n = |i: usize| -> u64 {
            fields[i]
                .1
                .parse()
                .unwrap_or_else(|_| panic!("summary field {} not a count: {line:?}", fields[i].0))
        };
        assert!(
            fields[6].1.parse::<f64>().is_ok(),
            "events_per_sec not a number: {line:?}"
        );
        Summary {
            events: n(0),
            rejected: n(1),
            warnings: n(2),
            breaches: n(3),
            resolved: n(4),
            retracted: n(5),
        }
    }
}

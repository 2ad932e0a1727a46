//! Helpers of the real-socket tests (`serve`, `replay`, `record`): the built binary as a child
//! process, the address it prints when it listens, signals, polling with a deadline, capture
//! files to send.
//!
//! Nothing here waits "long enough": every wait is for an observable event (a line on the
//! child's stderr, a counter in a file, a child's exit), with a deadline that only fails a test.

#![allow(dead_code)]

use assert_cmd::cargo::CommandCargoExt;
use lastbucket::source::{CaptureWriter, Datagram};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The built binary as a `std::process::Command`.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::cargo_bin("lastbucket").expect("binary built");
    c.env("NO_COLOR", "1");
    c
}

/// A child process whose stderr is collected as it is written.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Spawns `lastbucket ARGS` with stderr captured (stdout discarded).
    pub fn spawn<I, S>(args: I) -> Running
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Running::spawn_with_stdout(args, Stdio::null())
    }

    /// [`Running::spawn`] with stdout going to `stdout` (`Stdio::piped()`: take it from
    /// `child.stdout`).
    pub fn spawn_with_stdout<I, S>(args: I, stdout: Stdio) -> Running
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Running::spawn_command(bin().args(args), stdout)
    }

    /// [`Running::spawn`] with these environment variables set, and every other `DD_`
    /// variable of the test's own environment removed (so only the test configures the child).
    pub fn spawn_with_env<I, S>(args: I, env: &[(&str, &str)]) -> Running
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = bin();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DD_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args).envs(env.iter().copied());
        Running::spawn_command(&mut cmd, Stdio::null())
    }

    fn spawn_command(cmd: &mut std::process::Command, stdout: Stdio) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let err = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let keep = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            stderr,
        }
    }

    /// The address of the first `listening on ADDR` line.
    pub fn listening(&mut self) -> String {
        self.listening_on(1).remove(0)
    }

    /// The addresses of the first `n` `listening on ADDR` lines, in the order printed.
    pub fn listening_on(&mut self, n: usize) -> Vec<String> {
        let end = Instant::now() + DEADLINE;
        let mut found = Vec::new();
        while found.len() < n {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(a) = l.strip_prefix("listening on ") {
                        found.push(a.to_string());
                    }
                }
                Err(_) => panic!("no `listening on` line; stderr: {}", self.stderr()),
            }
        }
        found
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the exit (with the deadline) and returns the status and the whole stderr.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                // The reader thread ends at EOF: wait for it to have collected everything.
                let eof = Instant::now() + Duration::from_secs(5);
                while self.lines.recv_timeout(eof - Instant::now()).is_ok() {}
                return (status, self.stderr());
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("child did not exit; stderr: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns `Some`, failing the test at the deadline with `what`.
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes a capture file of `datagrams`.
pub fn write_capture(path: &Path, datagrams: &[Datagram]) {
    let mut w = CaptureWriter::create(path, false).unwrap();
    w.set_flush_every(0);
    for d in datagrams {
        w.write(d).unwrap();
    }
    w.finish().unwrap();
}

/// `count` datagrams `step_ms` apart, each made by `payload(i)`.
pub fn datagrams(count: u64, step_ms: u64, payload: impl Fn(u64) -> String) -> Vec<Datagram> {
    (0..count)
        .map(|i| Datagram {
            ts_ns: 1_700_000_000_000_000_000 + i * step_ms * 1_000_000,
            payload: payload(i).into_bytes(),
        })
        .collect()
}

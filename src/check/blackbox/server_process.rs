//! The server under test as a child process: `sh -c CMD` in a process group of its own, so a
//! signal reaches the server even when the shell does not `exec` it (dash forks), and waiting
//! for it means waiting for the whole group. Its stderr is read on a thread of its own into a
//! ring of the last lines (shown when it fails) and, with `--server-log`, copied to a file.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Lines of the server's stderr kept for error messages.
pub const TAIL_LINES: usize = 20;
/// How often a wait looks at the child again.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot start the server `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("cannot write the server log {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How the child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code, when it exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// lastbucket had to SIGKILL it: it did not exit within the timeout after the stop signal.
    pub killed: bool,
}

impl Exit {
    fn of(status: ExitStatus, killed: bool) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        Exit {
            code: status.code(),
            signal: status.signal(),
            killed,
        }
    }

    /// Exit code 0, or the end the stop signal itself gives: `sh -c CMD` (dash does not exec
    /// CMD) dies of the signal sent to its group while the server under it exits 0, and a
    /// server that leaves the signal's default action also ends so. What it posted before
    /// says whether it lost anything.
    pub fn clean_after(&self, stop_signal: i32) -> bool {
        !self.killed && (self.code == Some(0) || self.signal == Some(stop_signal))
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}")?,
            (None, Some(s)) => write!(f, "signal {s}")?,
            (None, None) => write!(f, "unknown status")?,
        }
        if self.killed {
            write!(f, " (killed with SIGKILL)")?;
        }
        Ok(())
    }
}

/// Makes lastbucket the reaper of its orphaned descendants (Linux), so a server that the shell
/// forked is waited for like the shell, even where PID 1 reaps nothing (containers).
pub fn become_subreaper() {
    // SAFETY: prctl with an integer argument; failure only means orphans go to PID 1.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// A running server.
pub struct ServerProcess {
    child: Child,
    /// The process group (the shell's pid: `process_group(0)`).
    pgid: i32,
    tail: Arc<Mutex<VecDeque<String>>>,
    reader: Option<JoinHandle<()>>,
    exit: Option<Exit>,
}

impl ServerProcess {
    /// Starts `sh -c cmd` with `env` added to lastbucket's environment.
    pub fn spawn(
        cmd: &str,
        env: &[(String, String)],
        log: Option<&PathBuf>,
    ) -> Result<ServerProcess, ServerError> {
        let mut log_file = match log {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| ServerError::Log {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(cmd)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().map_err(|source| ServerError::Spawn {
            cmd: cmd.to_string(),
            source,
        })?;
        let pgid = child.id() as i32;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let reader = child.stderr.take().map(|stderr| {
            let tail = tail.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).split(b'\n') {
                    let Ok(line) = line else { break };
                    if let Some(f) = log_file.as_mut() {
                        let _ = f.write_all(&line).and_then(|_| f.write_all(b"\n"));
                    }
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(String::from_utf8_lossy(&line).into_owned());
                }
            })
        });
        Ok(ServerProcess {
            child,
            pgid,
            tail,
            reader,
            exit: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The shell has exited (the server may have been its child: see [`Self::group_alive`]).
    pub fn exited(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(Exit::of(status, false));
            }
        }
        self.exit.clone()
    }

    /// The shell, or some process it left in the group, is still running.
    pub fn running(&mut self) -> bool {
        self.exited().is_none() || self.group_alive()
    }

    /// Some process of the group is still alive (`kill(-pgid, 0)`). Members the shell left
    /// behind are reparented to lastbucket (a child subreaper, see [`become_subreaper`]) and
    /// reaped here, once the shell itself was, so that zombies do not count as alive.
    fn group_alive(&self) -> bool {
        if self.exit.is_some() {
            // SAFETY: reaps exited members of our own child's group, never blocking.
            while unsafe { libc::waitpid(-self.pgid, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        }
        // SAFETY: kill with signal 0 only checks whether the group exists.
        unsafe { libc::kill(-self.pgid, 0) == 0 }
    }

    /// Sends `signal` to the whole group.
    pub fn signal(&self, signal: i32) {
        // SAFETY: a plain kill(2) on our own child's process group.
        unsafe {
            libc::kill(-self.pgid, signal);
        }
    }

    /// Waits until the shell and every process of its group have exited, up to `timeout`; then
    /// SIGKILLs the group (reported in the exit).
    pub fn wait(&mut self, timeout: Duration) -> Exit {
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        loop {
            let shell_done = self.exited().is_some();
            if shell_done && !self.group_alive() {
                break;
            }
            if Instant::now() >= deadline && !killed {
                self.signal(libc::SIGKILL);
                killed = true;
            }
            if killed && Instant::now() >= deadline + Duration::from_secs(5) {
                break;
            }
            std::thread::sleep(POLL);
        }
        if let Some(r) = self.reader.take() {
            // The pipe closes when the last process holding it is gone.
            let _ = r.join();
        }
        let mut exit = self.exit.clone().unwrap_or(Exit {
            code: None,
            signal: None,
            killed,
        });
        exit.killed |= killed;
        self.exit = Some(exit.clone());
        exit
    }

    /// The last lines of its stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The tail as an indented block for an error message.
    pub fn tail_text(&self) -> String {
        let lines = self.stderr_tail();
        if lines.is_empty() {
            return "  (its stderr was empty)".into();
        }
        lines
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ServerProcess {
    /// Never leaves a server behind, whatever path the check took.
    fn drop(&mut self) {
        if self.exit.as_ref().is_some_and(|_| !self.group_alive()) {
            return;
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

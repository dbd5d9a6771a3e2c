//! The one runner every external command goes through: lookup under the root, timeout,
//! capture, and a log of what ran (ARCHITECTURE.md §Data flow).
//!
//! Each command runs in its own process group so a timeout kills the whole tree: a hung
//! `flm validate` on a wedged NPU (or a shim that runs `sleep`) must never hang `doctor`.
//! Output is read from the pipes with poll(2) against the deadline, so nothing a command
//! leaves behind holds the caller past it: not a grandchild that left the process group
//! with the pipe, not a background process of a command that has exited. What is kept is
//! bounded ([`MAX_CAPTURE`] per stream, the tail), and a cut is reported.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::root::{Root, RootMode};

/// Directories searched under the root for a command (in order), after `PATH` on a live root.
/// `opt/fastflowlm/bin` and `opt/xilinx/xrt/bin` are the install locations of FLM's
/// `cmake --install` preset and of XRT
/// (<https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/CMakePresets.json>,
/// <https://github.com/Xilinx/XRT/blob/4eb1f4392a012b4e6eca759762389c612537f7c7/build/build.sh> `-install_prefix`).
pub const SEARCH_DIRS: &[&str] = &[
    "bin",
    "usr/bin",
    "usr/sbin",
    "sbin",
    "usr/local/bin",
    "usr/local/sbin",
    "opt/fastflowlm/bin",
    "opt/xilinx/xrt/bin",
];

/// Most bytes of a command's stdout, and of its stderr, [`Runner::run`] keeps: the tail
/// (the end of a log says the most; the start is dropped at a line boundary). A probe that
/// prints without end costs this much memory, not gigabytes.
pub const MAX_CAPTURE: usize = 16 * 1024 * 1024;

/// How much of the merged output [`Runner::run_streaming`] keeps for error messages (every
/// line goes to the caller's callback as it comes).
const STREAM_KEEP: usize = 256 * 1024;

/// Longest line handed to a line callback; a longer one is handed over in pieces.
const MAX_LINE: usize = 64 * 1024;

/// How long output is still read after the command itself has exited: what it wrote is in
/// the pipe already; a background process it left may hold the pipe open for ever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// The environment variable that lets a fixture's own `bin/` scripts run (`1`): hand-written
/// test fixtures use scripts, and the test suite sets it (`.cargo/config.toml`). Without it
/// nothing inside a fixture tree is ever executed: a command is answered from the fixture's
/// `commands:` data (what captures and support bundles record), or as not captured (127).
/// A support bundle comes from someone else; replaying it must not run its files.
pub const FIXTURE_SCRIPTS_ENV: &str = "NPU_SETUP_FIXTURE_SCRIPTS";

/// What happened when a command ran to completion (any exit status).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CmdOutput {
    /// The argv as run, program path first.
    pub argv: Vec<String>,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Captured stdout (lossy UTF-8): its last [`MAX_CAPTURE`] bytes.
    pub stdout: String,
    /// Captured stderr (lossy UTF-8): its last [`MAX_CAPTURE`] bytes.
    pub stderr: String,
    /// Wall time in milliseconds.
    pub millis: u64,
    /// Bytes dropped from the start of stdout (over the cap), 0 when it is whole.
    #[serde(skip_serializing_if = "is_zero")]
    pub stdout_dropped: u64,
    /// Bytes dropped from the start of stderr.
    #[serde(skip_serializing_if = "is_zero")]
    pub stderr_dropped: u64,
    /// The output pipes were still held open (by a process the command left behind) when
    /// the command had exited; reading stopped [`DRAIN_AFTER_EXIT`] later.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pipe_held: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CmdOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// What was not kept of the output, for evidence and logs (`None` when it is whole).
    pub fn truncation(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (name, n) in [("stdout", self.stdout_dropped), ("stderr", self.stderr_dropped)] {
            if n > 0 {
                parts.push(format!(
                    "the first {n} bytes of {name} were dropped (over the {} MiB cap)",
                    MAX_CAPTURE >> 20
                ));
            }
        }
        if self.pipe_held {
            parts.push("a process it left behind held its output open; reading stopped".to_string());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// How it ended, for messages: "exit status 127", or "killed by a signal".
    pub fn exit_text(&self) -> String {
        exit_text(self.code)
    }

    /// The last non-empty line of stderr (or stdout), for error messages.
    pub fn tail(&self) -> String {
        let pick = |s: &str| s.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string);
        pick(&self.stderr).or_else(|| pick(&self.stdout)).unwrap_or_default()
    }
}

/// How a command ended, for messages: "exit status 127" for a code, "killed by a signal"
/// without one (never Rust's `Some(127)`).
pub fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    }
}

/// Why a command produced no output to judge.
#[derive(Debug, Clone, thiserror::Error, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CmdError {
    /// The program is not installed (not found on PATH / under the root).
    #[error("{program}: command not found")]
    NotFound {
        /// Program name.
        program: String,
    },
    /// The command did not finish within the timeout and was killed.
    #[error("`{argv}` did not finish within {secs:.1} s and was killed")]
    Timeout {
        /// Shell-quoted argv.
        argv: String,
        /// The timeout.
        secs: f64,
    },
    /// The command could not be started.
    #[error("`{argv}` could not be started: {message}")]
    Spawn {
        /// Shell-quoted argv.
        argv: String,
        /// OS error text.
        message: String,
    },
}

/// One entry of the runner's log.
#[derive(Debug, Clone, Serialize)]
pub struct CmdRecord {
    /// Shell-quoted argv.
    pub argv: String,
    /// Exit code, `None` for signal/timeout/not run.
    pub code: Option<i32>,
    /// Milliseconds.
    pub millis: u64,
    /// Error text when it did not run to completion.
    pub error: Option<String>,
    /// Output that was not kept ([`CmdOutput::truncation`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// Runs external commands for probes and steps.
#[derive(Debug)]
pub struct Runner {
    root: Root,
    timeout: Duration,
    log: Mutex<Vec<CmdRecord>>,
    /// A fixture's own scripts may run ([`FIXTURE_SCRIPTS_ENV`]).
    fixture_scripts: bool,
}

/// What a fixture's `commands:` data says a command did.
enum Replay {
    Ran { stdout: Vec<u8>, stderr: Vec<u8>, code: Option<i32> },
    TimedOut,
}

impl Runner {
    /// A runner bound to a root with a default per-command timeout.
    pub fn new(root: Root, timeout: Duration) -> Self {
        // A support bundle (its MANIFEST at the top) never runs its files, whatever the
        // environment says: the variable is for the repository's hand-written fixtures.
        let bundle = root.mode() == RootMode::Fixture && root.is_file("MANIFEST");
        let fixture_scripts = !bundle && std::env::var_os(FIXTURE_SCRIPTS_ENV).is_some_and(|v| v == "1");
        Runner { root, timeout, log: Mutex::new(Vec::new()), fixture_scripts }
    }

    /// Lets (or stops) a fixture's own `bin/` scripts run, whatever [`FIXTURE_SCRIPTS_ENV`] says.
    pub fn with_fixture_scripts(mut self, allow: bool) -> Self {
        self.fixture_scripts = allow;
        self
    }

    /// On a fixture root, what the fixture's data says `path args…` did, when it is to be
    /// served instead of running anything: the recorded run (longest matching `args`), or
    /// "no capture" (127) for a program the data knows with other arguments, or for any
    /// program when the fixture's scripts may not run. `None`: run the program (not a
    /// fixture, or a hand-written fixture's script with scripts allowed).
    fn replay(&self, path: &Path, args: &[&str]) -> Option<Result<Replay, CmdError>> {
        if self.root.mode() != RootMode::Fixture {
            return None;
        }
        let rel = self.root.rel_of(path)?.to_string_lossy().into_owned();
        let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
        let key = args.join(" ");
        let mut arms: Vec<&crate::root::CommandReplay> = self
            .root
            .fixture()
            .map(|f| f.commands.iter().filter(|c| c.program.trim_start_matches('/') == rel).collect())
            .unwrap_or_default();
        if arms.is_empty() && self.fixture_scripts {
            return None;
        }
        let refused =
            |why: String| Some(Ok(Replay::Ran { stdout: Vec::new(), stderr: why.into_bytes(), code: Some(127) }));
        if arms.is_empty() {
            return refused(format!(
                "{name}: not run: a fixture's own files are never executed (its `commands:` data records no run of /{rel}; \
                 hand-written test fixtures set {FIXTURE_SCRIPTS_ENV}=1)\n"
            ));
        }
        arms.sort_by_key(|c| std::cmp::Reverse(c.args.len()));
        let Some(arm) = arms.into_iter().find(|c| key.ends_with(c.args.as_str())) else {
            return refused(format!("{name}: no capture for: {key}\n"));
        };
        if arm.timeout {
            return Some(Ok(Replay::TimedOut));
        }
        let read = |file: &Option<String>| -> Result<Vec<u8>, CmdError> {
            match file {
                None => Ok(Vec::new()),
                Some(f) => match self.root.read_bytes_optional(f) {
                    Ok(b) => Ok(b.unwrap_or_default()),
                    Err(e) => Err(CmdError::Spawn {
                        argv: quote_argv(
                            &std::iter::once(format!("/{rel}"))
                                .chain(args.iter().map(|a| a.to_string()))
                                .collect::<Vec<_>>(),
                        ),
                        message: format!("the fixture's recorded output: {e:#}"),
                    }),
                },
            }
        };
        Some((|| Ok(Replay::Ran { stdout: read(&arm.stdout)?, stderr: read(&arm.stderr)?, code: arm.exit }))())
    }

    /// The root commands are resolved under.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The per-command timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Finds a program: absolute paths as given (under the root); on a live root PATH then
    /// [`SEARCH_DIRS`]; on a fixture root only [`SEARCH_DIRS`] under it (fixtures never see the
    /// host's tools); on an offline root only the host's PATH (the image's own binaries may
    /// not run here; callers pass root-aware flags such as `rpm --root`).
    pub fn locate(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            // A host path already inside the root (from an earlier locate) is used as is;
            // any other path is taken relative to the root.
            let given = Path::new(program);
            // Other paths are resolved inside the root, as every read is.
            let p = if given.starts_with(self.root.path()) && self.root.path() != Path::new("/") {
                given.to_path_buf()
            } else {
                self.root.host_path(program).ok()?
            };
            return is_executable(&p).then_some(p);
        }
        if self.root.mode() != RootMode::Fixture
            && let Some(path) = std::env::var_os("PATH")
        {
            for dir in std::env::split_paths(&path) {
                let p = dir.join(program);
                if is_executable(&p) {
                    return Some(p);
                }
            }
        }
        if self.root.mode() == RootMode::Offline {
            return None;
        }
        SEARCH_DIRS.iter().filter_map(|d| self.root.host_path(format!("{d}/{program}")).ok()).find(|p| is_executable(p))
    }

    /// Runs a read-only query with extra environment variables (default timeout).
    pub fn run_env(&self, program: &str, args: &[&str], env: &[(String, String)]) -> Result<CmdOutput, CmdError> {
        self.run_logged_inner(program, args, self.timeout, env)
    }

    /// Runs `program args…` with the default timeout.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<CmdOutput, CmdError> {
        self.run_with_timeout(program, args, self.timeout)
    }

    /// Runs a command with stdin closed, `LC_ALL=C`, output captured, killed after `timeout`.
    pub fn run_with_timeout(&self, program: &str, args: &[&str], timeout: Duration) -> Result<CmdOutput, CmdError> {
        self.run_logged_inner(program, args, timeout, &[])
    }

    /// Runs, logs and records one command with extra environment variables.
    fn run_logged_inner(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
        env: &[(String, String)],
    ) -> Result<CmdOutput, CmdError> {
        let started = Instant::now();
        let result = self.run_inner(program, args, timeout, env);
        self.record_result(program, args, started, &result);
        result
    }

    /// Records how a command that ran to the end (or failed to) went: its argv as run, or as
    /// asked when it never started.
    fn record_result(&self, program: &str, args: &[&str], started: Instant, result: &Result<CmdOutput, CmdError>) {
        let millis = started.elapsed().as_millis() as u64;
        self.record(match result {
            Ok(o) => {
                CmdRecord { argv: quote_argv(&o.argv), code: o.code, millis, error: None, truncated: o.truncation() }
            }
            Err(e) => CmdRecord {
                argv: quote_argv(
                    &std::iter::once(program.to_string()).chain(args.iter().map(|s| s.to_string())).collect::<Vec<_>>(),
                ),
                code: None,
                millis,
                error: Some(e.to_string()),
                truncated: None,
            },
        });
    }

    fn record(&self, record: CmdRecord) {
        // Fields as people read them: "exit status 0", the error text, never `Some(..)`.
        let ended = record.error.clone().unwrap_or_else(|| exit_text(record.code));
        tracing::debug!(argv = %record.argv, millis = record.millis, "ran command: {ended}");
        if let Some(t) = &record.truncated {
            tracing::warn!("`{}`: {t}", record.argv);
        }
        if let Ok(mut log) = self.log.lock() {
            log.push(record);
        }
    }

    fn run_inner(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
        env: &[(String, String)],
    ) -> Result<CmdOutput, CmdError> {
        let (cmd, argv, quoted) = self.command(program, args, None, env)?;
        let started = Instant::now();
        let mut out = Tail::new(MAX_CAPTURE);
        let mut err = Tail::new(MAX_CAPTURE);
        if let Some(replay) = self.replay(Path::new(&argv[0]), args) {
            let Replay::Ran { stdout, stderr, code } = replay? else {
                return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
            };
            out.push(&stdout);
            err.push(&stderr);
            let ((stdout, stdout_dropped), (stderr, stderr_dropped)) = (out.finish(), err.finish());
            return Ok(CmdOutput {
                argv,
                code,
                stdout,
                stderr,
                millis: 0,
                stdout_dropped,
                stderr_dropped,
                pipe_held: false,
            });
        }
        let done = exec(cmd, Outputs::Separate(&mut out, &mut err), timeout, true)
            .map_err(|e| CmdError::Spawn { argv: quoted.clone(), message: e.to_string() })?;
        let Some(status) = done.status else {
            return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
        };
        let (stdout, stdout_dropped) = out.finish();
        let (stderr, stderr_dropped) = err.finish();
        Ok(CmdOutput {
            argv,
            code: status.code(),
            stdout,
            stderr,
            millis: started.elapsed().as_millis() as u64,
            stdout_dropped,
            stderr_dropped,
            pipe_held: done.pipe_held,
        })
    }

    /// Runs a read-only query whose stdout is handed to `on_line` line by line (without the
    /// line end; a line over 64 KiB in pieces) instead of being kept: a large log is never
    /// held whole, and the caller can filter bytes before decoding them. stderr is kept as
    /// in [`Runner::run`]; the result's `stdout` is empty.
    pub fn run_lines(
        &self,
        program: &str,
        args: &[&str],
        on_line: &mut dyn FnMut(&[u8]),
    ) -> Result<CmdOutput, CmdError> {
        let started = Instant::now();
        let timeout = self.timeout;
        let result = (|| {
            let (cmd, argv, quoted) = self.command(program, args, None, &[])?;
            let mut lines = Lines::new(on_line);
            let mut err = Tail::new(MAX_CAPTURE);
            if let Some(replay) = self.replay(Path::new(&argv[0]), args) {
                let Replay::Ran { stdout, stderr, code } = replay? else {
                    return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
                };
                lines.push(&stdout);
                lines.finish();
                err.push(&stderr);
                let (stderr, stderr_dropped) = err.finish();
                return Ok(CmdOutput {
                    argv,
                    code,
                    stdout: String::new(),
                    stderr,
                    millis: 0,
                    stdout_dropped: 0,
                    stderr_dropped,
                    pipe_held: false,
                });
            }
            let done = exec(cmd, Outputs::LinesAndTail(&mut lines, &mut err), timeout, true)
                .map_err(|e| CmdError::Spawn { argv: quoted.clone(), message: e.to_string() })?;
            lines.finish();
            let Some(status) = done.status else {
                return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
            };
            let (stderr, stderr_dropped) = err.finish();
            Ok(CmdOutput {
                argv,
                code: status.code(),
                stdout: String::new(),
                stderr,
                millis: started.elapsed().as_millis() as u64,
                stdout_dropped: 0,
                stderr_dropped,
                pipe_held: done.pipe_held,
            })
        })();
        self.record_result(program, args, started, &result);
        result
    }

    /// Runs a command with stdout and stderr merged and streamed line by line to `on_line`
    /// (progress displays, full logs), keeping the last 256 KiB in the result. Killed with
    /// its process group after `timeout`. For long, mutating commands (package installs,
    /// builds); probes use [`Runner::run`].
    pub fn run_streaming(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<CmdOutput, CmdError> {
        self.run_streaming_in(program, args, None, &[], timeout, on_line)
    }

    /// [`Runner::run_streaming`] in a working directory with extra environment variables.
    pub fn run_streaming_in(
        &self,
        program: &str,
        args: &[&str],
        dir: Option<&Path>,
        env: &[(String, String)],
        timeout: Duration,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<CmdOutput, CmdError> {
        let (cmd, argv, quoted) = self.command(program, args, dir, env)?;
        let started = Instant::now();
        let mut kept = Tail::new(STREAM_KEEP);
        let mut text_line = |l: &[u8]| {
            let l = String::from_utf8_lossy(l);
            on_line(l.trim_end_matches('\r'));
        };
        let mut lines = Lines::new(&mut text_line);
        if let Some(replay) = self.replay(Path::new(&argv[0]), args) {
            let Replay::Ran { stdout, stderr, code } = replay? else {
                self.record(CmdRecord { argv: quoted.clone(), code: None, millis: 0, error: None, truncated: None });
                return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
            };
            for part in [&stdout, &stderr] {
                lines.push(part);
                lines.finish();
                kept.push(part);
            }
            let (stdout, stdout_dropped) = kept.finish();
            self.record(CmdRecord { argv: quoted, code, millis: 0, error: None, truncated: None });
            return Ok(CmdOutput {
                argv,
                code,
                stdout,
                stderr: String::new(),
                millis: 0,
                stdout_dropped,
                stderr_dropped: 0,
                pipe_held: false,
            });
        }
        // A mutating command may start a service that outlives it: its leftovers are not
        // killed, only no longer read.
        let done = exec(cmd, Outputs::Merged(&mut lines, &mut kept), timeout, false)
            .map_err(|e| CmdError::Spawn { argv: quoted.clone(), message: e.to_string() })?;
        lines.finish();
        let code = done.status.and_then(|s| s.code());
        let millis = started.elapsed().as_millis() as u64;
        let (stdout, stdout_dropped) = kept.finish();
        let out = CmdOutput {
            argv,
            code,
            stdout,
            stderr: String::new(),
            millis,
            stdout_dropped,
            stderr_dropped: 0,
            pipe_held: done.pipe_held,
        };
        // The kept tail is for messages; every line went to the callback, so only a held
        // pipe is worth reporting.
        let truncated = out.pipe_held.then(|| "a process it left behind held its output open; reading stopped".into());
        self.record(CmdRecord { argv: quoted.clone(), code, millis, error: None, truncated });
        if done.status.is_none() {
            return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
        }
        Ok(out)
    }

    /// The command every run uses: found under the root, stdin closed, `LC_ALL=C`, the root
    /// in `NPU_SETUP_ROOT` (replay shims and test wrappers such as `usermod --root` need the
    /// tree), in its own process group so a timeout kills grandchildren too. Returns it with
    /// the argv as run and its shell-quoted form.
    fn command(
        &self,
        program: &str,
        args: &[&str],
        dir: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<(Command, Vec<String>, String), CmdError> {
        let Some(path) = self.locate(program) else {
            return Err(CmdError::NotFound { program: program.to_string() });
        };
        let mut argv = vec![path.display().to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let quoted = quote_argv(&argv);
        let mut cmd = Command::new(&path);
        cmd.args(args);
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).env("LC_ALL", "C").env("NPU_SETUP_ROOT", self.root.path()).process_group(0);
        Ok((cmd, argv, quoted))
    }

    /// Everything run so far, in order of completion.
    pub fn records(&self) -> Vec<CmdRecord> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// SIGKILLs the process group a command leads (every command runs in its own group).
fn kill_group(child: &Child) {
    // The cast: pids of spawned children fit in i32.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL);
}

/// The last `cap` bytes of a stream, and how many came before them.
struct Tail {
    buf: VecDeque<u8>,
    cap: usize,
    dropped: u64,
}

impl Tail {
    fn new(cap: usize) -> Self {
        Tail { buf: VecDeque::new(), cap, dropped: 0 }
    }

    fn push(&mut self, chunk: &[u8]) {
        let chunk = if chunk.len() > self.cap {
            self.dropped += (chunk.len() - self.cap) as u64;
            &chunk[chunk.len() - self.cap..]
        } else {
            chunk
        };
        let excess = (self.buf.len() + chunk.len()).saturating_sub(self.cap);
        self.dropped += excess as u64;
        self.buf.drain(..excess);
        self.buf.extend(chunk);
    }

    /// The kept text (lossy UTF-8) and the bytes dropped; once anything was dropped, the
    /// text starts after the first line end it kept (no half line).
    fn finish(self) -> (String, u64) {
        let mut bytes: Vec<u8> = self.buf.into();
        let mut dropped = self.dropped;
        if dropped > 0
            && let Some(nl) = bytes.iter().position(|&b| b == b'\n')
        {
            dropped += (nl + 1) as u64;
            bytes.drain(..=nl);
        }
        (String::from_utf8_lossy(&bytes).into_owned(), dropped)
    }
}

/// Splits a stream into lines for a callback (line end removed; over [`MAX_LINE`] in pieces).
struct Lines<'a> {
    on_line: &'a mut dyn FnMut(&[u8]),
    partial: Vec<u8>,
}

impl<'a> Lines<'a> {
    fn new(on_line: &'a mut dyn FnMut(&[u8])) -> Self {
        Lines { on_line, partial: Vec::new() }
    }

    fn push(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let room = MAX_LINE - self.partial.len();
            let window = &chunk[..chunk.len().min(room + 1)];
            match window.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    if self.partial.is_empty() {
                        (self.on_line)(&chunk[..nl]);
                    } else {
                        self.partial.extend_from_slice(&chunk[..nl]);
                        (self.on_line)(&self.partial);
                        self.partial.clear();
                    }
                    chunk = &chunk[nl + 1..];
                }
                None if chunk.len() > room => {
                    self.partial.extend_from_slice(&chunk[..room]);
                    (self.on_line)(&self.partial);
                    self.partial.clear();
                    chunk = &chunk[room..];
                }
                None => {
                    self.partial.extend_from_slice(chunk);
                    chunk = &[];
                }
            }
        }
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            (self.on_line)(&self.partial);
            self.partial.clear();
        }
    }
}

/// Where a command's output goes.
enum Outputs<'a, 'b> {
    /// stdout and stderr kept apart.
    Separate(&'a mut Tail, &'a mut Tail),
    /// stdout to a line callback, stderr kept.
    LinesAndTail(&'a mut Lines<'b>, &'a mut Tail),
    /// stdout and stderr through one pipe, to a line callback and a kept tail.
    Merged(&'a mut Lines<'b>, &'a mut Tail),
}

/// How a run ended: `status` is `None` when the deadline passed first (the command's group
/// was killed).
struct Done {
    status: Option<ExitStatus>,
    pipe_held: bool,
}

/// Runs `cmd` to completion or the deadline, reading its output with poll(2) as it comes.
/// Nothing can hold this past the deadline (plus a bounded reap): at the deadline the group
/// is killed and the pipes are closed whoever still holds them. When the command exits
/// first, output is read until the pipes close or [`DRAIN_AFTER_EXIT`] passes; with
/// `kill_leftovers` what is left of its process group is killed at once (a read-only probe
/// leaves nothing running).
fn exec(mut cmd: Command, outputs: Outputs<'_, '_>, timeout: Duration, kill_leftovers: bool) -> std::io::Result<Done> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let merged = matches!(outputs, Outputs::Merged(..));
    let (mut child, mut pipes): (Child, [Option<File>; 2]) = if merged {
        let (r, w) = std::io::pipe()?;
        cmd.stdout(w.try_clone()?).stderr(w);
        let child = cmd.spawn();
        // The parent's copies of the write end must go, or the pipe never reports EOF.
        drop(cmd);
        (child?, [Some(File::from(OwnedFd::from(r))), None])
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        drop(cmd);
        let out = child.stdout.take().map(|o| File::from(OwnedFd::from(o)));
        let err = child.stderr.take().map(|e| File::from(OwnedFd::from(e)));
        (child, [out, err])
    };
    let mut outputs = outputs;
    let deadline = Instant::now() + timeout;
    let mut status: Option<ExitStatus> = None;
    let mut exited_at: Option<Instant> = None;
    let mut pipe_held = false;
    let mut timed_out = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if status.is_none()
            && let Some(s) = child.try_wait()?
        {
            status = Some(s);
            exited_at = Some(Instant::now());
            if kill_leftovers {
                kill_group(&child);
            }
        }
        if pipes.iter().all(Option::is_none) {
            break;
        }
        let now = Instant::now();
        if let Some(t) = exited_at {
            if now >= t + DRAIN_AFTER_EXIT {
                pipe_held = true;
                break;
            }
        } else if now >= deadline {
            timed_out = true;
            break;
        }
        // Wake for the deadline, the end of the drain, and (while the command runs) often
        // enough to see it exit while something else holds the pipes.
        let until = exited_at.map_or(deadline, |t| t + DRAIN_AFTER_EXIT);
        let wait = until.saturating_duration_since(now).min(Duration::from_millis(50));
        let ms = u16::try_from(wait.as_millis()).unwrap_or(50).max(1);
        let mut fds: Vec<PollFd> = pipes.iter().flatten().map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN)).collect();
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        let mut k = 0;
        for (i, slot) in pipes.iter_mut().enumerate() {
            let Some(f) = slot else { continue };
            let is_ready = ready[k];
            k += 1;
            if !is_ready {
                continue;
            }
            match f.read(&mut buf) {
                Ok(0) => *slot = None,
                Ok(n) => {
                    let chunk = &buf[..n];
                    match (&mut outputs, i) {
                        (Outputs::Separate(out, _), 0) => out.push(chunk),
                        (Outputs::Separate(_, err), _) => err.push(chunk),
                        (Outputs::LinesAndTail(lines, _), 0) => lines.push(chunk),
                        (Outputs::LinesAndTail(_, err), _) => err.push(chunk),
                        (Outputs::Merged(lines, kept), _) => {
                            lines.push(chunk);
                            kept.push(chunk);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => *slot = None,
            }
        }
    }
    // Whoever still holds the pipes, we read no more.
    pipes.iter_mut().for_each(|p| *p = None);
    if status.is_none() && !timed_out {
        // The pipes closed with the command still running: wait for it, but not past the
        // deadline. (At the deadline it is not asked again: closing the pipes may just have
        // ended it with SIGPIPE, which is no answer.)
        let mut nap = Duration::from_millis(1);
        loop {
            if let Some(s) = child.try_wait()? {
                status = Some(s);
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }
    if status.is_none() {
        kill_group(&child);
        let _ = child.kill();
        reap(child);
    }
    Ok(Done { status, pipe_held })
}

/// Waits a moment for a killed command; one stuck in the kernel (uninterruptible sleep on a
/// wedged device) is left to a background thread to reap, so the caller returns now.
fn reap(mut child: Child) {
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Quotes an argv for copy-paste into a POSIX shell.
pub fn quote_argv(argv: &[String]) -> String {
    argv.iter().map(|a| quote_arg(a)).collect::<Vec<_>>().join(" ")
}

/// Quotes one shell word when it needs quoting.
pub fn quote_arg(a: &str) -> String {
    let safe = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe { a.to_string() } else { format!("'{}'", a.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn fixture_with_shim(name: &str, body: &str) -> (tempfile::TempDir, Runner) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(crate::root::FIXTURE_FILE), "{}\n").unwrap();
        fs::create_dir_all(dir.path().join("bin")).unwrap();
        let shim = dir.path().join("bin").join(name);
        fs::write(&shim, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
        let root = Root::open(dir.path()).unwrap();
        (dir, Runner::new(root, Duration::from_millis(500)))
    }

    #[test]
    fn fixture_roots_only_see_their_own_shims() {
        let (_d, r) = fixture_with_shim("rpm", "echo hi; echo oops >&2; exit 3");
        let out = r.run("rpm", &["-q", "x"]).unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.tail(), "oops");
        // `ls` exists on this machine but not in the fixture.
        assert_eq!(r.run("ls", &[]).unwrap_err(), CmdError::NotFound { program: "ls".into() });
    }

    #[test]
    fn a_hung_command_is_killed_with_its_children() {
        let (_d, r) = fixture_with_shim("flm", "sleep 30 & sleep 30; echo never");
        let started = Instant::now();
        let err = r.run("flm", &["validate", "--json"]).unwrap_err();
        assert!(matches!(err, CmdError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("flm validate --json"), "{err}");
        assert_eq!(r.records().len(), 1);
    }

    #[test]
    fn streaming_delivers_lines_and_honours_the_timeout() {
        let (_d, r) = fixture_with_shim("dnf", "echo one; echo two >&2; printf 'three'; exit 4");
        let mut seen = Vec::new();
        let out =
            r.run_streaming("dnf", &["install"], Duration::from_secs(5), &mut |l| seen.push(l.to_string())).unwrap();
        assert_eq!(seen, ["one", "two", "three"]);
        assert_eq!(out.code, Some(4));
        assert_eq!(out.tail(), "three");
        let (_d, r) = fixture_with_shim("make", "echo building; sleep 30 & sleep 30");
        let started = Instant::now();
        let err = r.run_streaming("make", &[], Duration::from_millis(300), &mut |_| {}).unwrap_err();
        assert!(matches!(err, CmdError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Shell that starts a process in its own session holding the output pipe for `secs`,
    /// and waits until it has left the group (so a kill of the group misses it).
    fn detached(secs: u32) -> String {
        format!(
            "rm -f \"$NPU_SETUP_ROOT/left\"; setsid sh -c 'touch \"$NPU_SETUP_ROOT/left\"; exec sleep {secs}' & \
             while [ ! -e \"$NPU_SETUP_ROOT/left\" ]; do sleep 0.01; done"
        )
    }

    /// A grandchild that leaves the process group (setsid) keeps the output pipe open
    /// after the group is killed: doctor waited for it (20 s with `--timeout 2`). The
    /// deadline holds now, for captured and streamed runs alike.
    #[test]
    fn a_grandchild_outside_the_group_does_not_hold_the_deadline() {
        let (_d, r) = fixture_with_shim("flm", &format!("{}; sleep 5", detached(5)));
        let started = Instant::now();
        let err = r.run("flm", &["validate"]).unwrap_err();
        assert!(matches!(err, CmdError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        let (_d, r) = fixture_with_shim("make", &format!("echo building; {}; sleep 5", detached(5)));
        let started = Instant::now();
        let mut seen = Vec::new();
        let err =
            r.run_streaming("make", &[], Duration::from_millis(300), &mut |l| seen.push(l.to_string())).unwrap_err();
        assert!(matches!(err, CmdError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(seen, ["building"]);
    }

    /// A command that exits but leaves a background process holding its output was
    /// reported "timed out" after the whole timeout. It is done when it exits: its output
    /// is read while the pipe drains, a probe's leftovers in its group are killed, and one
    /// outside the group no longer holds the reader.
    #[test]
    fn a_command_that_exits_leaving_a_background_process_is_done() {
        let (d, r) = fixture_with_shim("rpm", "sleep 30 & echo $! > \"$NPU_SETUP_ROOT/bg.pid\"; echo done; exit 3");
        let r = Runner::new(r.root().clone(), Duration::from_secs(10));
        let started = Instant::now();
        let out = r.run("rpm", &["-qa"]).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!((out.code, out.stdout.as_str(), out.pipe_held), (Some(3), "done\n", false));
        let pid: i32 = fs::read_to_string(d.path().join("bg.pid")).unwrap().trim().parse().unwrap();
        let alive = || {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|st| !st.rsplit(") ").next().unwrap_or("").starts_with('Z'))
        };
        let waited = Instant::now();
        while alive() && waited.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(), "the probe's leftover in its group was killed");

        let (_d, r) = fixture_with_shim("rpm", &format!("{}; echo done", detached(3)));
        let r = Runner::new(r.root().clone(), Duration::from_secs(10));
        let started = Instant::now();
        let out = r.run("rpm", &["-qa"]).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!((out.code, out.stdout.as_str(), out.pipe_held), (Some(0), "done\n", true));
        assert!(out.truncation().unwrap().contains("held its output open"), "{:?}", out.truncation());
        assert!(r.records()[0].truncated.is_some());

        let (_d, r) = fixture_with_shim("dnf", &format!("echo installed; {}; exit 0", detached(3)));
        let started = Instant::now();
        let mut seen = Vec::new();
        let out = r.run_streaming("dnf", &[], Duration::from_secs(10), &mut |l| seen.push(l.to_string())).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!((out.code, seen.as_slice()), (Some(0), &["installed".to_string()][..]));
    }

    /// Output was captured whole (a probe printing without end took gigabytes within its
    /// timeout; a 100 MB log, 320 MB). Now the tail is kept, cut at a line start, and the
    /// cut is reported.
    #[test]
    fn output_is_kept_up_to_the_cap_with_the_cut_reported() {
        let (_d, r) = fixture_with_shim(
            "journalctl",
            "head -c 17000000 /dev/zero | tr '\\0' x; echo; i=0; while [ $i -lt 3 ]; do echo \"line $i\"; i=$((i+1)); done; echo err >&2",
        );
        let r = Runner::new(r.root().clone(), Duration::from_secs(60));
        let out = r.run("journalctl", &["-k"]).unwrap();
        assert!(out.stdout.len() <= MAX_CAPTURE, "{}", out.stdout.len());
        assert!(
            out.stdout.ends_with("line 0\nline 1\nline 2\n"),
            "{:?}",
            &out.stdout[out.stdout.len().saturating_sub(40)..]
        );
        assert!(out.stdout.starts_with("line 0"), "the cut lands at a line start");
        assert_eq!(out.stdout_dropped as usize + out.stdout.len(), 17_000_001 + 21);
        assert_eq!((out.stderr.as_str(), out.stderr_dropped), ("err\n", 0));
        let note = out.truncation().unwrap();
        assert!(note.contains("the first 17000001 bytes of stdout were dropped (over the 16 MiB cap)"), "{note}");
        assert_eq!(r.records()[0].truncated.as_deref(), Some(note.as_str()));

        // Endless output within the timeout: bounded, and a timeout.
        let (_d, r) = fixture_with_shim("flm", "exec yes");
        let started = Instant::now();
        let res = r.run("flm", &[]);
        assert!(matches!(res, Err(CmdError::Timeout { .. })), "{:?}", res.map(|o| (o.code, o.stdout_dropped)));
        assert!(started.elapsed() < Duration::from_secs(3));

        let mut t = Tail::new(10);
        t.push(b"abc\n");
        t.push(b"0123456789ab\ncd");
        assert_eq!(t.finish(), ("cd".to_string(), 17), "19 bytes in, 2 kept");
        let mut t = Tail::new(10);
        t.push(b"short\n");
        assert_eq!(t.finish(), ("short\n".to_string(), 0));
    }

    /// `run_lines` hands stdout over line by line (long lines in pieces) and keeps stderr.
    #[test]
    fn run_lines_streams_stdout() {
        let (_d, r) = fixture_with_shim(
            "dmesg",
            "printf 'a\\r\\nb\\n'; head -c 70000 /dev/zero | tr '\\0' y; printf '\\nlast'; echo oops >&2; exit 1",
        );
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let out = r.run_lines("dmesg", &[], &mut |l| lines.push(l.to_vec())).unwrap();
        let lens: Vec<usize> = lines.iter().map(Vec::len).collect();
        assert_eq!(lens, [2, 1, MAX_LINE, 70_000 - MAX_LINE, 4]);
        assert_eq!((&lines[0][..], &lines[1][..], &lines[4][..]), (&b"a\r"[..], &b"b"[..], &b"last"[..]));
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (Some(1), "", "oops\n"));
    }

    #[test]
    fn quoting_is_copy_pasteable() {
        assert_eq!(quote_arg("%{NAME} %{VERSION}\\n"), r"'%{NAME} %{VERSION}\n'");
        assert_eq!(quote_arg("it's"), r"'it'\''s'");
        assert_eq!(quote_arg("--update-kernel=ALL"), "--update-kernel=ALL");
    }
}

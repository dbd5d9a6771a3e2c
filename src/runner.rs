//! The one runner every external command goes through: lookup under the root, timeout,
//! capture, and a log of what ran (ARCHITECTURE.md §Data flow).
//!
//! Each command runs in its own process group so a timeout kills the whole tree: a hung
//! `flm validate` on a wedged NPU (or a shim that runs `sleep`) must never hang `doctor`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
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

/// What happened when a command ran to completion (any exit status).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CmdOutput {
    /// The argv as run, program path first.
    pub argv: Vec<String>,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Captured stdout (lossy UTF-8).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8).
    pub stderr: String,
    /// Wall time in milliseconds.
    pub millis: u64,
}

impl CmdOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty line of stderr (or stdout), for error messages.
    pub fn tail(&self) -> String {
        let pick = |s: &str| s.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string);
        pick(&self.stderr).or_else(|| pick(&self.stdout)).unwrap_or_default()
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
}

/// Runs external commands for probes and steps.
#[derive(Debug)]
pub struct Runner {
    root: Root,
    timeout: Duration,
    log: Mutex<Vec<CmdRecord>>,
}

impl Runner {
    /// A runner bound to a root with a default per-command timeout.
    pub fn new(root: Root, timeout: Duration) -> Self {
        Runner { root, timeout, log: Mutex::new(Vec::new()) }
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
        let millis = started.elapsed().as_millis() as u64;
        let record = match &result {
            Ok(out) => CmdRecord { argv: quote_argv(&out.argv), code: out.code, millis, error: None },
            Err(e) => CmdRecord {
                argv: quote_argv(
                    &std::iter::once(program.to_string()).chain(args.iter().map(|s| s.to_string())).collect::<Vec<_>>(),
                ),
                code: None,
                millis,
                error: Some(e.to_string()),
            },
        };
        tracing::debug!(argv = %record.argv, code = ?record.code, millis, error = ?record.error, "ran command");
        if let Ok(mut log) = self.log.lock() {
            log.push(record);
        }
        result
    }

    fn run_inner(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
        env: &[(String, String)],
    ) -> Result<CmdOutput, CmdError> {
        let (expr, argv, quoted) = self.expression(program, args, None, env)?;
        let started = Instant::now();
        let handle = expr
            .stdout_capture()
            .stderr_capture()
            .start()
            .map_err(|e| CmdError::Spawn { argv: quoted.clone(), message: e.to_string() })?;
        let finished = handle
            .wait_timeout(timeout)
            .map_err(|e| CmdError::Spawn { argv: quoted.clone(), message: e.to_string() })?
            .cloned();
        let output = match finished {
            Some(out) => out,
            None => {
                kill_groups(&handle.pids());
                let _ = handle.kill();
                let _ = handle.wait();
                return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
            }
        };
        Ok(CmdOutput {
            argv,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            millis: started.elapsed().as_millis() as u64,
        })
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
        use std::io::BufRead;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        const KEEP: usize = 256 * 1024;
        let (expr, argv, quoted) = self.expression(program, args, dir, env)?;
        let started = Instant::now();
        let reader = expr
            .stderr_to_stdout()
            .reader()
            .map_err(|e| CmdError::Spawn { argv: quoted.clone(), message: e.to_string() })?;
        // Watchdog: kill the whole group at the deadline; reading then hits EOF.
        let done = Arc::new(AtomicBool::new(false));
        let timed_out = Arc::new(AtomicBool::new(false));
        let pids = reader.pids();
        let watchdog = {
            let (done, timed_out) = (done.clone(), timed_out.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + timeout;
                while Instant::now() < deadline {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50).min(timeout));
                }
                timed_out.store(true, Ordering::SeqCst);
                kill_groups(&pids);
            })
        };
        let mut kept = String::new();
        let mut lines = std::io::BufReader::new(&reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match lines.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    on_line(line.trim_end_matches(['\n', '\r']));
                    kept.push_str(&line);
                    if kept.len() > 2 * KEEP {
                        let cut = kept.len() - KEEP;
                        let cut = (cut..kept.len()).find(|i| kept.is_char_boundary(*i)).unwrap_or(cut);
                        kept.drain(..cut);
                    }
                }
                Err(_) => break,
            }
        }
        done.store(true, Ordering::SeqCst);
        let _ = watchdog.join();
        let status = reader.try_wait().ok().flatten().map(|o| o.status.code());
        let millis = started.elapsed().as_millis() as u64;
        if let Ok(mut log) = self.log.lock() {
            log.push(CmdRecord { argv: quoted.clone(), code: status.flatten(), millis, error: None });
        }
        if timed_out.load(Ordering::SeqCst) {
            return Err(CmdError::Timeout { argv: quoted, secs: timeout.as_secs_f64() });
        }
        Ok(CmdOutput { argv, code: status.flatten(), stdout: kept, stderr: String::new(), millis })
    }

    /// The duct expression every command runs as: found under the root, stdin closed,
    /// `LC_ALL=C`, the root in `NPU_SETUP_ROOT` (replay shims and test wrappers such as
    /// `usermod --root` need the tree), in its own process group so a timeout kills
    /// grandchildren too and the capture pipes close. Returns it with the argv as run and
    /// its shell-quoted form.
    fn expression(
        &self,
        program: &str,
        args: &[&str],
        dir: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<(duct::Expression, Vec<String>, String), CmdError> {
        let Some(path) = self.locate(program) else {
            return Err(CmdError::NotFound { program: program.to_string() });
        };
        let mut argv = vec![path.display().to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let quoted = quote_argv(&argv);
        let mut expr = duct::cmd(&path, args);
        if let Some(d) = dir {
            expr = expr.dir(d);
        }
        for (k, v) in env {
            expr = expr.env(k, v);
        }
        let expr =
            expr.stdin_null().env("LC_ALL", "C").env("NPU_SETUP_ROOT", self.root.path()).unchecked().before_spawn(
                |c| {
                    c.process_group(0);
                    Ok(())
                },
            );
        Ok((expr, argv, quoted))
    }

    /// Everything run so far, in order of completion.
    pub fn records(&self) -> Vec<CmdRecord> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// SIGKILLs the process groups led by `pids` (every command runs in its own group).
fn kill_groups(pids: &[u32]) {
    for pid in pids {
        // SAFETY of the cast: pids come from spawned children and fit in i32.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(*pid as i32), nix::sys::signal::Signal::SIGKILL);
    }
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

    #[test]
    fn quoting_is_copy_pasteable() {
        assert_eq!(quote_arg("%{NAME} %{VERSION}\\n"), r"'%{NAME} %{VERSION}\n'");
        assert_eq!(quote_arg("it's"), r"'it'\''s'");
        assert_eq!(quote_arg("--update-kernel=ALL"), "--update-kernel=ALL");
    }
}

//! Install state under the root: a lock against concurrent runs, the state file (steps
//! done, reboot pending), a journal of every change with backups, and per-run logs.
//!
//! Layout (root-relative): `var/lib/npu-setup/{lock,state.json,journal.jsonl,backups/<run>/…}`
//! and `var/log/npu-setup/<run>/…`. Nothing here is touched by `--dry-run`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::root::{Perms, Root};

/// State directory, root-relative.
pub const STATE_DIR: &str = "var/lib/npu-setup";
/// Log directory, root-relative.
pub const LOG_DIR: &str = "var/log/npu-setup";
/// Cache directory (source trees, downloaded packages), root-relative.
pub const CACHE_DIR: &str = "var/cache/npu-setup";

/// Where every bench run keeps its result (root-relative): doctor's Prometheus metrics
/// report its decode speed, and `bench --baseline last` compares with the previous run.
pub fn bench_last_path() -> String {
    format!("{STATE_DIR}/bench/last.json")
}

/// What a step's last run left behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    /// `done`, `failed`, `skipped`.
    pub status: String,
    /// Run id.
    pub run: String,
    /// Seconds since the epoch.
    pub at: u64,
    /// One line.
    pub message: String,
}

/// A reboot the host still owes us.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RebootPending {
    /// Why.
    pub reasons: Vec<String>,
    /// `proc/sys/kernel/random/boot_id` when it was recorded; a different id means rebooted.
    pub boot_id: Option<String>,
    /// Run id that recorded it.
    pub run: String,
}

/// `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// npu-setup version of the last run.
    pub tool_version: String,
    /// Where the recipes came from in the last run.
    pub recipes: String,
    /// Per step.
    pub steps: BTreeMap<String, StepRecord>,
    /// Reboot owed.
    pub reboot: Option<RebootPending>,
    /// Last run id.
    pub last_run: Option<String>,
    /// FLM model tags the last install converged (`--model` or the recipe's list); doctor
    /// `--smoke` and `bench` default to them.
    pub models: Vec<String>,
    /// GPU endpoint the last install was given (`--gpu-url`); doctor and bench default to it.
    pub gpu_url: Option<String>,
    /// GPU model the last install was given (`--gpu-model`).
    pub gpu_model: Option<String>,
}

/// The recorded state under `root`, for readers that take no lock (doctor, status, metrics,
/// install's preview): `None` when there is none or it cannot be read.
pub fn read_state(root: &Root) -> Option<State> {
    let text = root.read_optional(format!("{STATE_DIR}/state.json")).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// The running system's boot id (`proc/sys/kernel/random/boot_id`), when the root has one.
pub fn boot_id(root: &Root) -> Option<String> {
    root.read_trimmed("proc/sys/kernel/random/boot_id").ok().flatten()
}

/// A reboot an earlier install run recorded in this same boot (both boot ids known and
/// equal); after a reboot it is no longer owed.
pub fn pending_reboot(root: &Root) -> Option<RebootPending> {
    let r = read_state(root)?.reboot?;
    (r.boot_id.is_some() && r.boot_id == boot_id(root)).then_some(r)
}

/// One change, as written to the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// Run id.
    pub run: String,
    /// Seconds since the epoch.
    pub at: u64,
    /// Step id.
    pub step: String,
    /// `write`, `edit`, `remove`, `mkdir`, `run`.
    pub action: String,
    /// File path (host view) or shell-quoted argv.
    pub target: String,
    /// Backup of the previous content (host view), for files we do not own.
    pub backup: Option<String>,
    /// SHA-256 before.
    pub before: Option<String>,
    /// SHA-256 after, or the exit code for commands.
    pub after: Option<String>,
    /// Directories this change created (host view, outermost first): `undo` removes them
    /// again when they are empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<String>,
    /// The argv of a command (`run`), as run: `undo` derives removals from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
}

/// The journal's path, root-relative.
pub fn journal_path() -> String {
    format!("{STATE_DIR}/journal.jsonl")
}

/// Every line of the journal, in order; `Ok(None)` when there is no journal. A line that is
/// not a journal entry is an error naming the file and the line (nothing is guessed).
pub fn read_journal(root: &Root) -> Result<Option<Vec<JournalEntry>>> {
    let rel = journal_path();
    let Some(bytes) = root.read_whole_optional(&rel)? else { return Ok(None) };
    let text = String::from_utf8(bytes).with_context(|| format!("{} is damaged: not UTF-8", Root::display(&rel)))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: JournalEntry = serde_json::from_str(line)
            .with_context(|| format!("{} is damaged at line {}", Root::display(&rel), i + 1))?;
        out.push(e);
    }
    Ok(Some(out))
}

/// The directories a write to `rel` (with `itself`: a mkdir of `rel`) would create, host
/// view, outermost first: what `undo` removes again.
pub fn missing_dirs(root: &Root, rel: &str, itself: bool) -> Vec<String> {
    let p = std::path::Path::new(rel.trim_start_matches('/'));
    let mut out = Vec::new();
    let mut cur = if itself { Some(p) } else { p.parent() };
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || root.exists(d) {
            break;
        }
        out.push(Root::display(d));
        cur = d.parent();
    }
    out.reverse();
    out
}

/// The pid in the lock file: its first line (the holder writes it over the old content,
/// then cuts the file). A holder that has the lock but has not written its pid yet is
/// waited for, briefly.
fn lock_holder(root: &Root, rel: &str) -> Option<u32> {
    for _ in 0..50 {
        let text = root.read_optional(rel).ok().flatten().unwrap_or_default();
        if let Some(pid) = text.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) {
            return Some(pid);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

/// The locked state directory of one run.
#[derive(Debug)]
pub struct StateDir {
    root: Root,
    run: String,
    _lock: Flock<File>,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A run id: the UTC time the run started and its pid, `YYYYMMDD-HHMMSS-PID` (sorts by
/// time, reads as a date, unique per running process).
pub fn run_id(epoch_secs: u64, pid: u32) -> String {
    let date = crate::recipes::meta::Date::from_unix(epoch_secs).to_string();
    let t = epoch_secs % 86_400;
    format!("{}-{:02}{:02}{:02}-{pid}", date.replace('-', ""), t / 3600, t / 60 % 60, t % 60)
}

impl StateDir {
    /// Takes the install lock (non-blocking): a second install fails at once, naming the
    /// holder's pid.
    pub fn lock(root: &Root) -> Result<Self> {
        let rel = format!("{STATE_DIR}/lock");
        let file = root.open_rw(&rel).context("taking the install lock")?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((f, errno)) => {
                drop(f);
                if errno == nix::errno::Errno::EWOULDBLOCK {
                    let holder = match lock_holder(root, &rel) {
                        Some(pid) => format!("pid {pid}"),
                        None => "its pid not recorded yet".to_string(),
                    };
                    bail!(
                        "another npu-setup install is running ({holder}); lock {} is held",
                        Root::display(format!("{STATE_DIR}/lock"))
                    );
                }
                bail!("locking {}: {errno}", Root::display(&rel));
            }
        };
        // The pid goes over the old content first, then the file is cut to it: the file is
        // never empty while held (truncating first let a reader see no pid at all).
        {
            use std::os::unix::fs::FileExt;
            let line = format!("{}\n", std::process::id());
            let _ = lock.write_all_at(line.as_bytes(), 0);
            let _ = lock.set_len(line.len() as u64);
        }
        let run = run_id(now(), std::process::id());
        Ok(StateDir { root: root.clone(), run, _lock: lock })
    }

    /// Removes what killed runs left behind (under the lock, before anything else is
    /// written): temporary files of atomic writes (`.npu-setup.<pid>.…` of a process that no
    /// longer runs) in `dirs` (root-relative: the directories install writes), in the state
    /// directory and in the directory of every file the journal says was written. Returns
    /// the removed paths (host view), for the log.
    pub fn sweep_leftovers(&self, dirs: &[String]) -> Vec<String> {
        let mut all: std::collections::BTreeSet<String> =
            dirs.iter().map(|d| d.trim_matches('/').to_string()).collect();
        all.insert(STATE_DIR.to_string());
        all.insert(format!("{STATE_DIR}/recipes"));
        if let Ok(Some(journal)) = self.root.read_whole_text(format!("{STATE_DIR}/journal.jsonl")) {
            for line in journal.lines() {
                let Ok(e) = serde_json::from_str::<JournalEntry>(line) else { continue };
                if e.action == "run" {
                    continue;
                }
                if let Some(parent) = std::path::Path::new(&e.target).parent() {
                    all.insert(parent.to_string_lossy().trim_matches('/').to_string());
                }
            }
        }
        let mut removed = Vec::new();
        for dir in all {
            let Ok(host) = self.root.host_path(&dir) else { continue };
            for p in crate::fsx::sweep(&host, crate::fsx::TEMP_PREFIX, '.', false) {
                let shown = self.root.rel_of(&p).map(Root::display).unwrap_or_else(|| p.display().to_string());
                tracing::info!("removed {shown}, left by an interrupted run");
                removed.push(shown);
            }
        }
        removed
    }

    /// This run's id.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Reads the state file; a missing file is a fresh state, a corrupt one is moved aside
    /// (named in the warning) and replaced by a fresh state.
    pub fn load(&self) -> Result<State> {
        let rel = format!("{STATE_DIR}/state.json");
        let Some(text) = self.root.read_optional(&rel)? else { return Ok(State { version: 1, ..Default::default() }) };
        match serde_json::from_str(&text) {
            Ok(s) => Ok(s),
            Err(e) => {
                let aside = format!("{rel}.corrupt-{}", self.run);
                self.root.rename(&rel, &aside).with_context(|| format!("moving aside {}", Root::display(&rel)))?;
                tracing::warn!(
                    "{} was corrupt ({e}); kept as {} and starting fresh",
                    Root::display(&rel),
                    Root::display(&aside)
                );
                Ok(State { version: 1, ..Default::default() })
            }
        }
    }

    /// Writes the state file atomically.
    pub fn save(&self, s: &State) -> Result<()> {
        let data = serde_json::to_vec_pretty(s)?;
        self.root.write(format!("{STATE_DIR}/state.json"), &data, Perms::Set { mode: 0o644, owner: None })
    }

    /// Appends one journal line and flushes it to disk before the change it records is made
    /// durable elsewhere.
    pub fn journal(&self, e: &JournalEntry) -> Result<()> {
        let rel = journal_path();
        let path = Root::display(&rel);
        let mut f = self.root.open_append(&rel).with_context(|| format!("opening the journal {path}"))?;
        let mut line = serde_json::to_vec(e)?;
        line.push(b'\n');
        f.write_all(&line).with_context(|| format!("writing the journal {path}"))?;
        f.sync_data().with_context(|| format!("flushing the journal {path}"))
    }

    /// Copies a root-relative file into this run's backup dir; returns the backup's host path.
    /// A file changed twice in one run keeps its first backup: the file as it was before
    /// the run, which is what `undo` restores.
    pub fn backup(&self, rel: &str) -> Result<Option<String>> {
        let rel_b = format!("{STATE_DIR}/backups/{}/{}", self.run, rel.trim_start_matches('/'));
        if self.root.is_file(&rel_b) {
            return Ok(Some(Root::display(&rel_b)));
        }
        if !self.root.copy_file(rel, &rel_b).with_context(|| format!("backing up {}", Root::display(rel)))? {
            return Ok(None);
        }
        Ok(Some(Root::display(&rel_b)))
    }

    /// Creates a log file for this run; returns it and its host path (for messages).
    pub fn create_log(&self, name: &str) -> Result<(File, PathBuf)> {
        self.root.create_file(format!("{LOG_DIR}/{}/{name}", self.run))
    }

    /// Host view of this run's log directory.
    pub fn log_dir_display(&self) -> String {
        Root::display(format!("{LOG_DIR}/{}", self.run))
    }

    /// Host view of this run's log directory once a log was written into it (`None` while
    /// no command has run: a path that does not exist is never shown).
    pub fn log_dir(&self) -> Option<String> {
        let rel = format!("{LOG_DIR}/{}", self.run);
        self.root.is_dir(&rel).then(|| Root::display(&rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_utc_date_time_and_pid() {
        assert_eq!(run_id(0, 7), "19700101-000000-7");
        // 2026-12-06 16:52:35 UTC.
        assert_eq!(run_id(1_796_575_955, 4242), "20261206-165235-4242");
        let dir = tempfile::tempdir().unwrap();
        let st = StateDir::lock(&Root::open(dir.path()).unwrap()).unwrap();
        let re = regex::Regex::new(r"^\d{8}-\d{6}-\d+$").unwrap();
        assert!(re.is_match(st.run_id()), "{}", st.run_id());
        assert!(st.run_id().ends_with(&format!("-{}", std::process::id())));
        // No log directory is named before a log was written into it.
        assert_eq!(st.log_dir(), None);
        st.create_log("01-x-true.log").unwrap();
        assert_eq!(st.log_dir(), Some(format!("/var/log/npu-setup/{}", st.run_id())));
    }

    #[test]
    fn second_lock_fails_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let first = StateDir::lock(&root).unwrap();
        let err = StateDir::lock(&root).unwrap_err().to_string();
        assert!(err.contains("another npu-setup install is running"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        StateDir::lock(&root).unwrap();
    }

    /// The holder truncated the lock file before writing its pid, so a second install could
    /// say "(pid )". Between taking the lock and writing the pid, a reader waits for it.
    #[test]
    fn the_lock_message_never_shows_an_empty_pid() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        drop(StateDir::lock(&root).unwrap());
        // Another holder, caught between flock(2) and writing its pid (the file still
        // empty, as on a first run).
        let rel = format!("{STATE_DIR}/lock");
        std::fs::write(root.join(&rel), b"").unwrap();
        let held = Flock::lock(root.open_rw(&rel).unwrap(), FlockArg::LockExclusiveNonblock).unwrap();
        let path = root.join(&rel);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::fs::write(path, b"4242\n").unwrap();
            held
        });
        let err = StateDir::lock(&root).unwrap_err().to_string();
        assert!(err.contains("another npu-setup install is running (pid 4242)"), "{err}");
        drop(writer.join().unwrap());
        // A longer run's pid over a shorter one's: the first line is the pid.
        std::fs::write(root.join(&rel), b"1234567\n").unwrap();
        let s = StateDir::lock(&root).unwrap();
        assert_eq!(std::fs::read_to_string(root.join(&rel)).unwrap(), format!("{}\n", std::process::id()));
        drop(s);
        // Nobody ever writes a pid: said so, never an empty pid.
        std::fs::write(root.join(&rel), b"").unwrap();
        let _held = Flock::lock(root.open_rw(&rel).unwrap(), FlockArg::LockExclusiveNonblock).unwrap();
        let err = StateDir::lock(&root).unwrap_err().to_string();
        assert!(err.contains("(its pid not recorded yet)"), "{err}");
    }

    #[test]
    fn corrupt_state_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let s = StateDir::lock(&root).unwrap();
        std::fs::write(root.join("var/lib/npu-setup/state.json"), b"{not json").unwrap();
        let st = s.load().unwrap();
        assert_eq!(st.version, 1);
        assert!(root.list_dir("var/lib/npu-setup").unwrap().iter().any(|n| n.starts_with("state.json.corrupt-")));
        s.save(&st).unwrap();
        assert_eq!(s.load().unwrap(), st);
    }
}

//! Actions are data: what a step wants done, printable exactly (argv, unified diffs) for
//! `--dry-run`, and applied by one function with backups, a journal and logs.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::edit::kargs::KargEdit;
use crate::fsx;
use crate::net::http::{Client, Timeouts, copy_hashed, copy_hashed_progress};
use crate::root::{Perms, Root};
use crate::runner::{Runner, quote_argv};
use crate::state::{CACHE_DIR, JournalEntry, StateDir, now};

/// How an existing file is edited (computed against the file's content at apply time, so an
/// earlier action in the same run cannot be clobbered).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FileEdit {
    /// `/etc/default/grub` or a `grub.d` drop-in: GRUB_CMDLINE_LINUX(_DEFAULT).
    GrubDefault {
        /// Arguments to remove/add.
        edit: KargEdit,
    },
    /// A BLS entry's `options` lines.
    BlsOptions {
        /// Arguments to remove/add.
        edit: KargEdit,
    },
    /// `/etc/kernel/cmdline`.
    KernelCmdline {
        /// Arguments to remove/add.
        edit: KargEdit,
    },
}

impl FileEdit {
    /// Applies the edit to a file's bytes. The editors see a lossless text view
    /// ([`crate::edit::bytes`]): what they do not change — a Latin-1 comment included — comes
    /// back byte for byte.
    pub fn apply(&self, old: &[u8]) -> Result<Vec<u8>> {
        let text = crate::edit::bytes::decode(old);
        let new = match self {
            FileEdit::GrubDefault { edit } => crate::edit::grub_default::edit_grub_default(&text, edit)?.text,
            FileEdit::BlsOptions { edit } => crate::edit::bls::edit_bls_options(&text, edit).text,
            FileEdit::KernelCmdline { edit } => crate::edit::kernel_cmdline::edit_kernel_cmdline(&text, edit).text,
        };
        Ok(crate::edit::bytes::encode(&new))
    }
}

/// One change.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Write a file npu-setup owns (a backup is kept if a foreign file was there).
    WriteFile {
        /// Root-relative path.
        path: String,
        /// Full content.
        content: String,
        /// Mode bits.
        mode: u32,
    },
    /// Edit a file npu-setup does not own (always backed up first).
    EditFile {
        /// Root-relative path.
        path: String,
        /// The edit.
        edit: FileEdit,
    },
    /// Set a value in a JSON settings file another program owns (Lemonade's config.json):
    /// every other byte is kept (`edit::json`); an existing file keeps its mode and owner and
    /// is backed up first; a missing one is created with `mode` and `owner`, so the program
    /// can still write it.
    EditJson {
        /// Root-relative path.
        path: String,
        /// Object keys from the top (`["flm", "npu_bin"]`).
        key: Vec<String>,
        /// The value.
        value: serde_json::Value,
        /// Mode of a new file.
        mode: u32,
        /// Owner of a new file (resolved in the root's etc/passwd).
        owner: Option<String>,
    },
    /// Create a directory.
    MakeDir {
        /// Root-relative path.
        path: String,
        /// Mode bits.
        mode: u32,
        /// Owner user name (resolved in the root's etc/passwd).
        owner: Option<String>,
    },
    /// Fetch a file (a package to install) into the root, verifying its SHA-256. Without an
    /// expected hash the first download's hash is pinned in [`PINS`] (trust on first use) and
    /// every later download of the same URL must match it. Nothing is written on a mismatch.
    Download {
        /// `http(s)://`, `file://` or a path on the machine running npu-setup.
        url: String,
        /// Root-relative destination.
        path: String,
        /// Expected SHA-256 (hex).
        sha256: Option<String>,
        /// What it is for, and how to point it elsewhere.
        why: String,
    },
    /// Run a command that changes the host.
    Run {
        /// argv.
        argv: Vec<String>,
        /// Why.
        why: String,
    },
    /// Run a command in a directory with extra environment variables.
    RunIn {
        /// Working directory (host path).
        dir: Option<String>,
        /// Extra environment.
        env: Vec<(String, String)>,
        /// argv.
        argv: Vec<String>,
        /// Why.
        why: String,
    },
    /// Build a component: run its commands in order in `dir`, then leave the marker that
    /// caches the result (commit + commands).
    Build {
        /// Build id.
        build: String,
        /// Working directory (host path).
        dir: String,
        /// Commands, in order.
        commands: Vec<Vec<String>>,
        /// Marker JSON written to `dir` on success.
        marker: String,
    },
    /// Record what was installed (manifest.json): packages, file hashes, commit.
    Provenance {
        /// Component id.
        component: String,
        /// Source id.
        source: String,
        /// Source commit.
        commit: String,
        /// Build commands.
        commands: Vec<Vec<String>>,
        /// Packages installed.
        packages: Vec<String>,
        /// `rpm` or `dpkg`: how to ask for their versions and files.
        manager: String,
        /// cmake install_manifest.txt (host path) listing installed files.
        install_manifest: Option<String>,
        /// Target kernel.
        kernel: Option<String>,
    },
    /// Remove a directory tree npu-setup owns (an interrupted clone in its cache).
    RemoveTree {
        /// Host path; must lie under var/cache/npu-setup of the root.
        path: String,
    },
}

impl Action {
    /// Renders the action for `--dry-run` and the confirmation prompt: the exact argv, or a
    /// unified diff of the file.
    pub fn render(&self, root: &Root) -> String {
        match self {
            Action::WriteFile { path, content, mode } => {
                let old = root.read_whole_text(path).ok().flatten().unwrap_or_default();
                format!("write {} (mode {mode:04o})\n{}", Root::display(path), diff(path, &old, content))
            }
            Action::EditFile { path, edit } => {
                let old = root.read_whole_optional(path).ok().flatten().unwrap_or_default();
                match edit.apply(&old) {
                    Ok(new) => format!(
                        "edit {}\n{}",
                        Root::display(path),
                        diff(path, &String::from_utf8_lossy(&old), &String::from_utf8_lossy(&new))
                    ),
                    Err(e) => format!("edit {} — refused: {e:#}", Root::display(path)),
                }
            }
            Action::EditJson { path, key, value, .. } => {
                let old = root.read_optional(path).ok().flatten().unwrap_or_default();
                let keys: Vec<&str> = key.iter().map(String::as_str).collect();
                match crate::edit::json::set_json(&old, &keys, value) {
                    Ok(new) => format!("edit {}\n{}", Root::display(path), diff(path, &old, &new.text)),
                    Err(e) => format!("edit {} — refused: {e:#}", Root::display(path)),
                }
            }
            Action::MakeDir { path, mode, owner } => format!(
                "mkdir {} (mode {mode:04o}{})",
                Root::display(path),
                owner.as_ref().map(|o| format!(", owner {o}")).unwrap_or_default()
            ),
            Action::Run { argv, why } => format!("run: {}    # {why}", quote_argv(argv)),
            Action::RunIn { dir, env, argv, why } => format!(
                "run: {}{}{}    # {why}",
                dir.as_ref().map(|d| format!("(cd {} && ", crate::runner::quote_arg(d))).unwrap_or_default(),
                env.iter().map(|(k, v)| format!("{k}={} ", crate::runner::quote_arg(v))).collect::<String>(),
                quote_argv(argv) + if dir.is_some() { ")" } else { "" }
            ),
            Action::Build { build, dir, commands, .. } => format!(
                "build {build} in {dir}:\n{}",
                commands.iter().map(|c| format!("  $ {}", quote_argv(c))).collect::<Vec<_>>().join("\n")
            ),
            Action::Provenance { component, commit, .. } => {
                format!("record {component} ({commit}) in {}", Root::display(crate::provenance::manifest_path()))
            }
            Action::RemoveTree { path } => format!("remove {path} (an incomplete clone)"),
            Action::Download { url, path, sha256, why } => format!(
                "download {url} -> {} ({})    # {why}",
                Root::display(path),
                match sha256 {
                    Some(h) => format!("sha256 {h}"),
                    None => format!("sha256 not pinned yet: recorded on first download in {}", Root::display(PINS)),
                }
            ),
        }
    }

    /// True when this action runs a command (for "no mutating command ran" assertions).
    pub fn is_command(&self) -> bool {
        matches!(self, Action::Run { .. } | Action::RunIn { .. } | Action::Build { .. })
    }
}

/// Unified diff with host paths in the headers.
pub fn diff(path: &str, old: &str, new: &str) -> String {
    let shown = Root::display(path);
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("{shown} (current)"), &format!("{shown} (planned)"))
        .to_string()
}

/// What an action reports while it runs, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A line a command printed (the log has them all).
    Line(&'a str),
    /// A download or copy: bytes so far, and the whole size when known.
    Bytes {
        /// Bytes written so far.
        done: u64,
        /// The whole size, when the server (or the file) says.
        total: Option<u64>,
    },
}

/// Timeout for commands steps run (package installs can be slow; builds have their own).
pub const STEP_COMMAND_TIMEOUT: Duration = Duration::from_secs(1800);

/// Timeout for a single build command (XRT takes tens of minutes on small machines).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

/// Runs a command, streaming its output to the per-run log and to `progress` (last line),
/// and journals it. Errors name the command, its last output line and the log.
#[allow(clippy::too_many_arguments)]
fn run_logged(
    runner: &Runner,
    st: &StateDir,
    step: &str,
    seq: usize,
    dir: Option<&Path>,
    env: &[(String, String)],
    argv: &[String],
    timeout: Duration,
    progress: &dyn Fn(Event),
) -> Result<()> {
    let Some((prog, args)) = argv.split_first() else { bail!("empty command") };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // `./build.sh` means the script in the working directory.
    let local = match (prog.strip_prefix("./"), dir) {
        (Some(rest), Some(d)) => Some(d.join(rest).display().to_string()),
        _ => None,
    };
    let prog = local.as_deref().unwrap_or(prog);
    let (mut f, log) = st
        .create_log(&format!("{seq:02}-{step}-{}.log", prog.rsplit('/').next().unwrap_or(prog)))
        .context("creating the command's log")?;
    let _ = writeln!(f, "$ {}{}", dir.map(|d| format!("(in {}) ", d.display())).unwrap_or_default(), quote_argv(argv));
    let mut on_line = |l: &str| {
        let _ = writeln!(f, "{l}");
        progress(Event::Line(l));
    };
    let out = runner.run_streaming_in(prog, &args, dir, env, timeout, &mut on_line);
    let code = out.as_ref().ok().and_then(|o| o.code);
    let ended = crate::runner::exit_text(code);
    let _ = writeln!(f, "--- {ended}");
    st.journal(&JournalEntry {
        run: st.run_id().to_string(),
        at: now(),
        step: step.to_string(),
        action: "run".into(),
        target: quote_argv(argv),
        backup: None,
        before: None,
        after: Some(ended.clone()),
    })?;
    match out {
        Ok(o) if o.success() => Ok(()),
        Ok(o) => {
            let last: Vec<&str> = o.stdout.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            bail!(
                "`{}` failed ({}); last lines:\n    {}\n(full output: {})",
                quote_argv(argv),
                o.exit_text(),
                last.join("\n    "),
                log.display()
            )
        }
        Err(e) => bail!("{e} (log: {})", log.display()),
    }
}

/// Applies one action: backups and journal first, then the change. `progress` receives
/// each output line of commands and the bytes of downloads as they arrive.
pub fn apply(
    a: &Action,
    step: &str,
    root: &Root,
    runner: &Runner,
    st: &StateDir,
    seq: usize,
    progress: &dyn Fn(Event),
) -> Result<()> {
    let entry =
        |action: &str, target: String, backup: Option<String>, before: Option<String>, after: Option<String>| {
            JournalEntry {
                run: st.run_id().to_string(),
                at: now(),
                step: step.to_string(),
                action: action.to_string(),
                target,
                backup,
                before,
                after,
            }
        };
    match a {
        Action::WriteFile { path, content, mode } => {
            let old = root.read_whole_optional(path)?;
            // A file that exists and is not ours is backed up before we replace it.
            let foreign =
                old.as_deref().is_some_and(|o| !crate::edit::managed::is_managed(&String::from_utf8_lossy(o)));
            let backup = if foreign { st.backup(path)? } else { None };
            st.journal(&entry(
                "write",
                Root::display(path),
                backup,
                old.as_deref().map(fsx::sha256),
                Some(fsx::sha256(content.as_bytes())),
            ))?;
            root.write(path, content.as_bytes(), Perms::Set { mode: *mode, owner: Some((0, 0)) })
        }
        Action::EditFile { path, edit } => {
            // Whole, however large: an edited file is never cut at a read cap.
            let old = root
                .read_whole_optional(path)?
                .with_context(|| format!("{} disappeared before it could be edited", Root::display(path)))?;
            let new = edit.apply(&old).with_context(|| format!("refusing to edit {}", Root::display(path)))?;
            if new == old {
                return Ok(());
            }
            let backup = st.backup(path)?;
            st.journal(&entry("edit", Root::display(path), backup, Some(fsx::sha256(&old)), Some(fsx::sha256(&new))))?;
            // Not ours: the file keeps its mode, owner and extended attributes, and a
            // symlinked file its link (the target is edited).
            root.write(path, &new, Perms::Keep(0o644))
        }
        Action::EditJson { path, key, value, mode, owner } => {
            let old = root.read_optional(path)?;
            let keys: Vec<&str> = key.iter().map(String::as_str).collect();
            let new = crate::edit::json::set_json(old.as_deref().unwrap_or(""), &keys, value)
                .with_context(|| format!("refusing to edit {}", Root::display(path)))?;
            if !new.changed {
                return Ok(());
            }
            let backup = if old.is_some() { st.backup(path)? } else { None };
            st.journal(&entry(
                "edit",
                Root::display(path),
                backup,
                old.as_deref().map(|o| fsx::sha256(o.as_bytes())),
                Some(fsx::sha256(new.text.as_bytes())),
            ))?;
            if old.is_some() {
                return root.write(path, new.text.as_bytes(), Perms::Keep(*mode));
            }
            let ids = match owner {
                Some(o) if nix::unistd::geteuid().is_root() => Some(crate::host::users::Accounts::read(root)?.ids(o)?),
                _ => None,
            };
            root.write(path, new.text.as_bytes(), Perms::Set { mode: *mode, owner: ids })
        }
        Action::MakeDir { path, mode, owner } => {
            st.journal(&entry("mkdir", Root::display(path), None, None, None))?;
            root.create_dir_all(path, 0o755)?;
            root.set_mode(path, *mode)?;
            if let Some(o) = owner
                && nix::unistd::geteuid().is_root()
            {
                let (uid, gid) = crate::host::users::Accounts::read(root)?.ids(o)?;
                root.set_owner(path, uid, gid).with_context(|| format!("chown {o} {}", Root::display(path)))?;
            }
            Ok(())
        }
        Action::Download { url, path, sha256, why } => {
            let expected = match sha256 {
                Some(h) => Some(h.to_ascii_lowercase()),
                None => pinned(root, url)?,
            };
            let got = download(url, root, path, expected.as_deref(), progress)
                .with_context(|| format!("downloading {url} ({why})"))?;
            st.journal(&entry("download", format!("{url} -> {}", Root::display(path)), None, None, Some(got.clone())))?;
            if expected.is_none() {
                record_pin(root, url, &got)?;
            }
            Ok(())
        }
        Action::Run { argv, .. } => run_logged(runner, st, step, seq, None, &[], argv, STEP_COMMAND_TIMEOUT, progress),
        Action::RunIn { dir, env, argv, .. } => {
            run_logged(runner, st, step, seq, dir.as_deref().map(Path::new), env, argv, STEP_COMMAND_TIMEOUT, progress)
        }
        Action::Build { build, dir, commands, marker } => {
            let d = Path::new(dir);
            let marker_path = d.join(crate::steps::build::MARKER);
            // The build tree is the cache under the root (the marker is written through it)
            // or a `--source-dir` tree: a host path the user named on purpose.
            let in_root = root.rel_of(&marker_path);
            // A stale marker must not survive a failed rebuild.
            match &in_root {
                Some(rel) => {
                    root.remove_file(rel)?;
                }
                None => {
                    let _ = std::fs::remove_file(&marker_path);
                }
            }
            for c in commands {
                run_logged(runner, st, step, seq, Some(d), &[], c, BUILD_TIMEOUT, progress)
                    .with_context(|| format!("building {build}"))?;
            }
            match &in_root {
                Some(rel) => root.write(rel, marker.as_bytes(), Perms::Set { mode: 0o644, owner: None }),
                None => fsx::atomic_write(&marker_path, marker.as_bytes(), 0o644, None),
            }
        }
        Action::Provenance { component, source, commit, commands, packages, manager, install_manifest, kernel } => {
            let mut m = crate::provenance::load(root)?.unwrap_or_default();
            m.version = 1;
            let mut c = crate::provenance::Component {
                source: source.clone(),
                commit: commit.clone(),
                commands: commands.clone(),
                kernel: kernel.clone(),
                installed_at: now(),
                ..Default::default()
            };
            let mut files: Vec<String> = Vec::new();
            for pkg in packages {
                // The same root-aware package queries the probes use.
                let (ver, list): (Vec<&str>, Vec<&str>) = if manager == "dpkg" {
                    (vec!["-W", "-f", "${Version}", pkg], vec!["-L", pkg])
                } else {
                    (vec!["-q", "--qf", "%{VERSION}-%{RELEASE}", pkg], vec!["-ql", pkg])
                };
                let tool = if manager == "dpkg" { "dpkg-query" } else { "rpm" };
                if let Ok(o) = runner.run(tool, &ver)
                    && o.success()
                {
                    c.packages.insert(pkg.clone(), o.stdout.trim().to_string());
                }
                if let Ok(o) = runner.run(tool, &list)
                    && o.success()
                {
                    files.extend(o.stdout.lines().filter(|l| l.starts_with('/')).map(str::to_string));
                }
            }
            if let Some(man) = install_manifest
                && let Some(text) = read_host_or_root(root, Path::new(man))
            {
                let prefix = root.path().display().to_string();
                files.extend(text.lines().map(|l| l.strip_prefix(prefix.as_str()).unwrap_or(l).to_string()));
            }
            c.files = crate::provenance::hash_files(root, &files);
            m.components.insert(component.clone(), c);
            st.journal(&entry("write", Root::display(crate::provenance::manifest_path()), None, None, None))?;
            crate::provenance::save(root, &m)
        }
        Action::RemoveTree { path } => {
            // Compared where both lead inside the root: the cache may be reached through links.
            let cache = root.resolve(CACHE_DIR)?;
            let rel = root.rel_of(Path::new(path)).map(|r| root.resolve_nofollow(r)).transpose()?;
            let rel = rel.filter(|r| r.starts_with(&cache) && *r != cache);
            let Some(rel) = rel else {
                bail!("refusing to remove {path}: only trees under {} are npu-setup's", root.join(CACHE_DIR).display());
            };
            st.journal(&entry("remove", path.clone(), None, None, None))?;
            root.remove_tree(&rel)
        }
    }
}

/// Reads a host path the plan carries: through the root when it lies inside it (a build
/// tree in the cache), else as the host path it is (a `--source-dir` tree).
pub(crate) fn read_host_or_root(root: &Root, p: &Path) -> Option<String> {
    match root.rel_of(p) {
        Some(rel) => root.read_optional(rel).ok().flatten(),
        None => std::fs::read_to_string(p).ok(),
    }
}

/// Where trust-on-first-use hashes of downloads are kept (URL -> SHA-256), root-relative.
pub const PINS: &str = "var/lib/npu-setup/pins.json";

fn read_pins(root: &Root) -> Result<std::collections::BTreeMap<String, String>> {
    match root.read_optional(PINS)? {
        Some(t) => serde_json::from_str(&t).with_context(|| format!("parsing {}", Root::display(PINS))),
        None => Ok(Default::default()),
    }
}

/// The SHA-256 pinned for a URL by an earlier download.
pub fn pinned(root: &Root, url: &str) -> Result<Option<String>> {
    Ok(read_pins(root)?.get(url).cloned())
}

/// Pins the SHA-256 seen for a URL.
pub fn record_pin(root: &Root, url: &str, sha256: &str) -> Result<()> {
    let mut pins = read_pins(root)?;
    pins.insert(url.to_string(), sha256.to_string());
    let text = serde_json::to_string_pretty(&pins)? + "\n";
    root.write(PINS, text.as_bytes(), Perms::Set { mode: 0o644, owner: Some((0, 0)) })
}

/// A local file named by a `file://` URL or a plain path; `None` for http(s).
pub fn local_source(url: &str) -> Option<std::path::PathBuf> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return None;
    }
    Some(std::path::PathBuf::from(url.strip_prefix("file://").unwrap_or(url)))
}

/// SHA-256 of a host file, streamed.
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(copy_hashed(&mut f, &mut std::io::sink()).with_context(|| format!("reading {}", path.display()))?.sha256)
}

/// Streams `url` into a temporary file next to `dest` (root-relative) while hashing it;
/// renames it into place only when the hash matches `expected` (when given). Returns the hash.
fn download(url: &str, root: &Root, dest: &str, expected: Option<&str>, progress: &dyn Fn(Event)) -> Result<String> {
    root.write_with(dest, Perms::Set { mode: 0o644, owner: None }, |file| fetch_into(url, file, expected, progress))
}

/// Streams `url` (http(s), `file://` or a path on this machine) into `file`, hashing it;
/// fails when the hash does not match `expected`.
fn fetch_into(url: &str, file: &mut std::fs::File, expected: Option<&str>, progress: &dyn Fn(Event)) -> Result<String> {
    let got = match local_source(url) {
        Some(p) => {
            let mut f = std::fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
            let total = f.metadata().ok().map(|m| m.len());
            copy_hashed_progress(&mut f, file, &mut |done| progress(Event::Bytes { done, total }))
                .with_context(|| format!("copying {}", p.display()))?
        }
        // Downloads come from the internet, never from a fixture's replayed services.
        None => Client::live(Timeouts::download())
            .download_progress(url, file, &mut |done, total| progress(Event::Bytes { done, total }))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    }
    .sha256;
    if let Some(want) = expected
        && !want.eq_ignore_ascii_case(&got)
    {
        bail!("sha256 mismatch: expected {want}, got {got}; the file was discarded and nothing was installed");
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Root, Runner, StateDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        let root = Root::open(&dir.path().join("root")).unwrap();
        let runner = Runner::new(root.clone(), Duration::from_secs(5));
        let st = StateDir::lock(&root).unwrap();
        (dir, root, runner, st)
    }

    /// Editing rewrote invalid UTF-8 in lines it did not change (a Latin-1 comment came back
    /// as U+FFFD) and cut files over 4 MiB to 4 MiB. Now only the changed line differs, byte
    /// for byte, in every editor, however large the file.
    #[test]
    #[allow(clippy::type_complexity)]
    fn an_edit_changes_only_its_lines_and_keeps_every_other_byte() {
        let (_dir, root, runner, st) = setup();
        let e = KargEdit::of(&["amd_iommu=off"], &[]);
        // Latin-1 é in comments and values we do not touch, CRLF and a pad past 4 MiB.
        let pad = vec![b'#'; crate::root::MAX_READ as usize + 10];
        let cases: Vec<(&str, FileEdit, Vec<u8>, &[u8], &[u8])> = vec![
            (
                "etc/default/grub",
                FileEdit::GrubDefault { edit: e.clone() },
                [&b"# r\xe9glages locaux\r\nGRUB_DISTRIBUTOR=\"caf\xe9\"\n"[..], &pad, b"\n"].concat(),
                b"GRUB_CMDLINE_LINUX=\"rhgb \xe9 amd_iommu=off\"\n",
                b"GRUB_CMDLINE_LINUX=\"rhgb \xe9\"\n",
            ),
            (
                "boot/loader/entries/x.conf",
                FileEdit::BlsOptions { edit: e.clone() },
                b"title Caf\xe9 Linux\n".to_vec(),
                b"options ro quiet\xff amd_iommu=off\n",
                b"options ro quiet\xff\n",
            ),
            (
                "etc/kernel/cmdline",
                FileEdit::KernelCmdline { edit: e.clone() },
                Vec::new(),
                b"root=/dev/\xe9 amd_iommu=off\n",
                b"root=/dev/\xe9\n",
            ),
        ];
        for (rel, edit, head, line, want_line) in cases {
            let before = [&head[..], line].concat();
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &before).unwrap();
            let a = Action::EditFile { path: rel.into(), edit };
            assert!(a.render(&root).contains("amd_iommu=off"), "{rel}: the diff");
            apply(&a, "kargs", &root, &runner, &st, 1, &|_| {}).unwrap();
            let after = std::fs::read(&p).unwrap();
            assert_eq!(after.len(), head.len() + want_line.len(), "{rel}: nothing cut");
            assert!(after.starts_with(&head), "{rel}: the unchanged lines are byte for byte");
            assert_eq!(&after[head.len()..], want_line, "{rel}");
            // The backup is the file as it was.
            let backup = root.path().join(format!("var/lib/npu-setup/backups/{}/{rel}", st.run_id()));
            assert_eq!(std::fs::read(backup).unwrap(), before, "{rel}");
        }
    }

    #[test]
    fn edit_json_keeps_the_rest_backs_up_and_creates_a_missing_file() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, root, runner, st) = setup();
        let path = "var/lib/lemonade/.cache/lemonade/config.json";
        let a = Action::EditJson {
            path: path.into(),
            key: vec!["flm".into(), "npu_bin".into()],
            value: serde_json::json!("/usr/bin/flm"),
            mode: 0o644,
            owner: None,
        };
        // Missing: created with the new value only.
        assert!(a.render(&root).starts_with("edit /var/lib/lemonade/.cache/lemonade/config.json\n"));
        apply(&a, "lemonade-service", &root, &runner, &st, 1, &|_| {}).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join(path)).unwrap(),
            "{\n  \"flm\": {\n    \"npu_bin\": \"/usr/bin/flm\"\n  }\n}\n"
        );
        // Existing (Lemonade's own, mode 0600): edited in place, mode kept, backed up.
        let before = "{\n    \"flm\": {\n        \"args\": \"\",\n        \"prefer_system\": false\n    },\n    \"port\": 13305\n}";
        std::fs::write(root.join(path), before).unwrap();
        std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(a.render(&root).contains("+        \"npu_bin\": \"/usr/bin/flm\""), "{}", a.render(&root));
        apply(&a, "lemonade-service", &root, &runner, &st, 2, &|_| {}).unwrap();
        let after = std::fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(
            after,
            before.replace(
                "\"prefer_system\": false",
                "\"prefer_system\": false,\n        \"npu_bin\": \"/usr/bin/flm\""
            )
        );
        assert_eq!(std::fs::metadata(root.join(path)).unwrap().permissions().mode() & 0o777, 0o600);
        // Applied again: nothing changes; a file that is not JSON is refused and kept.
        apply(&a, "lemonade-service", &root, &runner, &st, 3, &|_| {}).unwrap();
        assert_eq!(std::fs::read_to_string(root.join(path)).unwrap(), after);
        std::fs::write(root.join(path), "not json").unwrap();
        let err = format!("{:#}", apply(&a, "lemonade-service", &root, &runner, &st, 4, &|_| {}).unwrap_err());
        assert!(
            err.contains("refusing to edit /var/lib/lemonade/.cache/lemonade/config.json: not valid JSON"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(root.join(path)).unwrap(), "not json");
    }

    #[test]
    fn download_pins_on_first_use_then_verifies() {
        let (dir, root, runner, st) = setup();
        let src = dir.path().join("pkg.rpm");
        std::fs::write(&src, b"package bytes").unwrap();
        let url = format!("file://{}", src.display());
        let a = Action::Download {
            url: url.clone(),
            path: "var/cache/npu-setup/pkg.rpm".into(),
            sha256: None,
            why: "test".into(),
        };
        assert!(a.render(&root).starts_with(&format!(
            "download {url} -> /var/cache/npu-setup/pkg.rpm (sha256 not pinned yet: recorded on first download in /var/lib/npu-setup/pins.json)"
        )));
        assert!(!a.is_command());
        apply(&a, "lemonade", &root, &runner, &st, 1, &|_| {}).unwrap();
        let sha = fsx::sha256(b"package bytes");
        assert_eq!(std::fs::read(root.join("var/cache/npu-setup/pkg.rpm")).unwrap(), b"package bytes");
        assert_eq!(pinned(&root, &url).unwrap().as_deref(), Some(sha.as_str()));
        // The source changes: the pin refuses it and the cached file stays as it was.
        std::fs::write(&src, b"tampered").unwrap();
        let err = format!("{:#}", apply(&a, "lemonade", &root, &runner, &st, 2, &|_| {}).unwrap_err());
        assert!(err.contains(&format!("expected {sha}, got {}", fsx::sha256(b"tampered"))), "{err}");
        assert!(err.contains(&format!("downloading {url} (test)")), "{err}");
        assert_eq!(std::fs::read(root.join("var/cache/npu-setup/pkg.rpm")).unwrap(), b"package bytes");
        let leftovers: Vec<_> = std::fs::read_dir(root.join("var/cache/npu-setup")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left");
    }

    #[test]
    fn remove_tree_only_under_the_cache_even_through_links() {
        let (dir, root, runner, st) = setup();
        // var/cache is an absolute link, as in an image: it resolves inside the root.
        std::fs::create_dir_all(root.path().join("var")).unwrap();
        std::os::unix::fs::symlink("/srv/cache", root.path().join("var/cache")).unwrap();
        std::fs::create_dir_all(root.path().join("srv/cache/npu-setup/src/xrt/.git")).unwrap();
        let tree = root.host_path("var/cache/npu-setup/src/xrt").unwrap();
        assert_eq!(tree, root.path().join("srv/cache/npu-setup/src/xrt"));
        let rm = |p: &Path| Action::RemoveTree { path: p.display().to_string() };
        apply(&rm(&tree), "sources", &root, &runner, &st, 1, &|_| {}).unwrap();
        assert!(!tree.exists() && root.path().join("srv/cache/npu-setup/src").is_dir());
        for outside in [root.path().join("srv"), root.host_path(CACHE_DIR).unwrap(), dir.path().to_path_buf()] {
            let err = format!("{:#}", apply(&rm(&outside), "sources", &root, &runner, &st, 2, &|_| {}).unwrap_err());
            assert!(err.contains("refusing to remove"), "{err}");
            assert!(outside.exists());
        }
    }

    #[test]
    fn download_with_an_expected_hash() {
        let (dir, root, runner, st) = setup();
        let src = dir.path().join("pkg.deb");
        std::fs::write(&src, b"deb").unwrap();
        let good = fsx::sha256(b"deb");
        let mk = |sha: &str| Action::Download {
            url: src.display().to_string(),
            path: "var/cache/npu-setup/pkg.deb".into(),
            sha256: Some(sha.into()),
            why: "test".into(),
        };
        assert!(mk(&good).render(&root).contains(&format!("(sha256 {good})")));
        let err = format!("{:#}", apply(&mk(&"f".repeat(64)), "x", &root, &runner, &st, 1, &|_| {}).unwrap_err());
        assert!(err.contains("sha256 mismatch") && err.contains(&good), "{err}");
        assert!(!root.join("var/cache/npu-setup/pkg.deb").exists());
        apply(&mk(&good.to_uppercase()), "x", &root, &runner, &st, 2, &|_| {}).unwrap();
        assert!(root.join("var/cache/npu-setup/pkg.deb").is_file());
        assert_eq!(pinned(&root, &src.display().to_string()).unwrap(), None, "an expected hash is not pinned");
        // Missing source and unreachable URL: clear errors naming the source.
        let missing = Action::Download {
            url: "/nonexistent/pkg.rpm".into(),
            path: "var/cache/npu-setup/x.rpm".into(),
            sha256: None,
            why: "w".into(),
        };
        let err = format!("{:#}", apply(&missing, "x", &root, &runner, &st, 3, &|_| {}).unwrap_err());
        assert!(
            err.contains("downloading /nonexistent/pkg.rpm (w)") && err.contains("opening /nonexistent/pkg.rpm"),
            "{err}"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/x.rpm");
        let refused = Action::Download {
            url: url.clone(),
            path: "var/cache/npu-setup/x.rpm".into(),
            sha256: None,
            why: "w".into(),
        };
        let err = format!("{:#}", apply(&refused, "x", &root, &runner, &st, 4, &|_| {}).unwrap_err());
        assert!(err.contains(&format!("downloading {url} (w)")), "{err}");
    }
}

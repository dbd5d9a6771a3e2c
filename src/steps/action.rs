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
    /// Add a package repository: fetch its signing key, check the key's fingerprint with gpg
    /// (pinned in recipes/routes.yaml, else pinned on first use), write the key, then the
    /// definition. Nothing is written when the key does not check out.
    AddRepository {
        /// The repository's name (`PPA lemonade-team/stable`).
        name: String,
        /// Root-relative definition file (`.repo`, `.sources`).
        path: String,
        /// Its full content.
        content: String,
        /// The signing key to fetch, check and write.
        key: Option<crate::recipes::routes::RepoKey>,
    },
    /// Copy a file of the machine running npu-setup into the root, atomically (npu-setup's
    /// own binary, so hooks and units survive `cargo clean`).
    CopyFile {
        /// Host path of the source.
        from: String,
        /// Root-relative destination.
        path: String,
        /// Mode bits.
        mode: u32,
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
            Action::AddRepository { name, path, content, key } => {
                let old = root.read_optional(path).ok().flatten().unwrap_or_default();
                let key_line = match key {
                    Some(k) => format!(
                        "\n  key {} -> {} ({})",
                        k.url,
                        Root::display(&k.path),
                        match &k.fingerprint {
                            Some(f) => format!("fingerprint {f}, checked with gpg"),
                            None => format!(
                                "fingerprint not pinned yet: the first key's is recorded in {} and checked with gpg from then on",
                                Root::display(PINS)
                            ),
                        }
                    ),
                    None => String::new(),
                };
                format!(
                    "add repository {name}:{key_line}\n  write {} (mode 0644)\n{}",
                    Root::display(path),
                    diff(path, &old, content)
                )
            }
            Action::CopyFile { from, path, mode, .. } => {
                format!("copy {from} to {} (mode {mode:04o})", Root::display(path))
            }
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
pub(crate) fn run_logged(
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
        created: Vec::new(),
        argv: argv.to_vec(),
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
                created: Vec::new(),
                argv: Vec::new(),
            }
        };
    // The directories a change to `path` creates, journalled with it so `undo` can remove
    // them again.
    let with_dirs = |mut e: JournalEntry, path: &str, itself: bool| {
        e.created = crate::state::missing_dirs(root, path, itself);
        e
    };
    match a {
        Action::WriteFile { path, content, mode } => {
            let old = root.read_whole_optional(path)?;
            // A file that exists is backed up before we replace it (ours too: `undo` puts
            // back what this run found).
            let backup = if old.is_some() { st.backup(path)? } else { None };
            st.journal(&with_dirs(
                entry(
                    "write",
                    Root::display(path),
                    backup,
                    old.as_deref().map(fsx::sha256),
                    Some(fsx::sha256(content.as_bytes())),
                ),
                path,
                false,
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
            st.journal(&with_dirs(
                entry(
                    "edit",
                    Root::display(path),
                    backup,
                    old.as_deref().map(|o| fsx::sha256(o.as_bytes())),
                    Some(fsx::sha256(new.text.as_bytes())),
                ),
                path,
                false,
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
            // An existing directory may get another mode: its old mode is journalled.
            let before = root.metadata(path)?.filter(|m| m.is_dir()).map(|m| {
                use std::os::unix::fs::PermissionsExt;
                format!("mode {:o}", m.permissions().mode() & 0o7777)
            });
            st.journal(&with_dirs(entry("mkdir", Root::display(path), None, before, None), path, true))?;
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
        Action::Run { argv, .. } => {
            journal_touches(root, st, step, argv)?;
            run_logged(runner, st, step, seq, None, &[], argv, STEP_COMMAND_TIMEOUT, progress)
        }
        Action::RunIn { dir, env, argv, .. } => {
            journal_touches(root, st, step, argv)?;
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
        Action::AddRepository { name, path, content, key } => {
            // The key first: a key that does not check out leaves nothing behind.
            if let Some(k) = key {
                let armored = fetch_checked_key(root, runner, k).with_context(|| format!("repository {name}"))?;
                st.journal(&entry("write", Root::display(&k.path), None, None, Some(fsx::sha256(armored.as_bytes()))))?;
                root.write(&k.path, armored.as_bytes(), Perms::Set { mode: 0o644, owner: Some((0, 0)) })?;
            }
            let old = root.read_bytes_optional(path)?;
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
            root.write(path, content.as_bytes(), Perms::Set { mode: 0o644, owner: Some((0, 0)) })
        }
        Action::CopyFile { from, path, mode } => {
            // Journalled as a write of `path` (what it replaces backed up, the directories it
            // creates listed) before anything changes, so `undo` restores or removes it.
            let want = std::fs::File::open(from)
                .and_then(crate::fsx::sha256_reader)
                .with_context(|| format!("reading {from}"))?;
            let before = root.sha256(path)?;
            let backup = if before.is_some() { st.backup(path)? } else { None };
            st.journal(&with_dirs(
                entry("write", Root::display(path), backup, before, Some(want.clone())),
                path,
                false,
            ))?;
            let got = root.write_with(path, Perms::Set { mode: *mode, owner: Some((0, 0)) }, |file| {
                let mut src = std::fs::File::open(from).with_context(|| format!("opening {from}"))?;
                Ok(copy_hashed(&mut src, file).with_context(|| format!("copying {from}"))?.sha256)
            })?;
            if got != want {
                bail!("{from} changed while it was copied to {}", Root::display(path));
            }
            Ok(())
        }
    }
}

/// Fetches a repository's signing key and checks it with gpg in a scratch keyring: the
/// primary key must carry the pinned fingerprint (the recipe's, or the one pinned on first
/// use); returns that key alone, ASCII-armoured (other keys in the file are dropped).
fn fetch_checked_key(root: &Root, runner: &Runner, k: &crate::recipes::routes::RepoKey) -> Result<String> {
    let home = tempfile::Builder::new().prefix("npu-setup-gpg.").tempdir().context("creating a scratch gpg home")?;
    let file = home.path().join("fetched.key");
    {
        let mut f = std::fs::File::create(&file).with_context(|| format!("creating {}", file.display()))?;
        match local_source(&k.url) {
            Some(p) => {
                let mut src = std::fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
                std::io::copy(&mut src, &mut f).with_context(|| format!("reading {}", p.display()))?;
            }
            None => {
                Client::live(Timeouts::download())
                    .download(&k.url, &mut f)
                    .map_err(|e| anyhow::anyhow!("fetching its signing key {}: {e}", k.url))?;
            }
        }
    }
    let h = home.path().display().to_string();
    let gpg = |args: &[&str]| -> Result<crate::runner::CmdOutput> {
        let mut a = vec!["--homedir", h.as_str(), "--batch", "--no-autostart", "--no-tty"];
        a.extend_from_slice(args);
        let o =
            runner.run("gpg", &a).map_err(|e| anyhow::anyhow!("{e} (install gnupg: the key is checked with gpg)"))?;
        if !o.success() {
            bail!("`gpg {}` failed ({}): {}", args.join(" "), o.exit_text(), o.tail());
        }
        Ok(o)
    };
    let f = file.display().to_string();
    gpg(&["--quiet", "--import", &f]).with_context(|| format!("the key from {} is not an OpenPGP key", k.url))?;
    let listing = gpg(&["--with-colons", "--fingerprint"])?;
    let primaries = primary_fingerprints(&listing.stdout);
    let pin_key = format!("openpgp-key:{}", k.url);
    let want = match &k.fingerprint {
        Some(f) => Some((f.to_ascii_uppercase(), "recipes/routes.yaml".to_string())),
        None => pinned(root, &pin_key)?.map(|f| (f, format!("pinned in {}", Root::display(PINS)))),
    };
    let chosen = match &want {
        Some((fpr, from)) => {
            if !primaries.contains(fpr) {
                bail!(
                    "the key from {} has fingerprint {}, but {from} says {fpr}: refusing it; nothing was written",
                    k.url,
                    if primaries.is_empty() { "(none)".to_string() } else { primaries.join(", ") }
                );
            }
            fpr.clone()
        }
        None => match primaries.as_slice() {
            [one] => one.clone(),
            _ => bail!(
                "the key file from {} holds {} primary keys and no fingerprint is pinned: refusing it; nothing was written",
                k.url,
                primaries.len()
            ),
        },
    };
    let out = gpg(&["--armor", "--export", &chosen])?;
    if !out.stdout.contains("BEGIN PGP PUBLIC KEY BLOCK") {
        bail!("gpg exported nothing for {chosen}");
    }
    if want.is_none() {
        record_pin(root, &pin_key, &chosen)?;
    }
    Ok(out.stdout)
}

/// The primary-key fingerprints of `gpg --with-colons --fingerprint` output: the first `fpr`
/// record after each `pub` record (subkeys follow `sub`).
pub(crate) fn primary_fingerprints(colons: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut want = false;
    for line in colons.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first().copied() {
            Some("pub") => want = true,
            Some("sub") => want = false,
            Some("fpr") if want => {
                if let Some(f) = fields.get(9).filter(|f| !f.is_empty()) {
                    out.push(f.to_ascii_uppercase());
                }
                want = false;
            }
            _ => {}
        }
    }
    out
}

/// The files a command changes besides the packages it installs (root-relative), so that
/// they are backed up and journalled before it runs and `undo` can put them back: the boot
/// entries grubby edits, the account files usermod rewrites (and the `-` copies it keeps),
/// the loader cache, the links `systemctl enable` makes (from the unit's `[Install]`), the
/// tree `tar -C` unpacks into, the grub.cfg and initramfs images regenerated.
pub(crate) fn touched_by(root: &Root, argv: &[String]) -> Vec<String> {
    let Some(prog) = argv.first() else { return Vec::new() };
    let name = prog.rsplit('/').next().unwrap_or(prog);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let opt = |flag: &str| args.iter().position(|a| *a == flag).and_then(|i| args.get(i + 1)).map(|s| s.to_string());
    let rel_of_host = |p: &str| root.rel_of(Path::new(p)).map(|r| r.display().to_string());
    let mut out: Vec<String> = Vec::new();
    match name {
        "grubby" => {
            out.extend(
                root.list_dir("boot/loader/entries")
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| n.ends_with(".conf"))
                    .map(|n| format!("boot/loader/entries/{n}")),
            );
            out.extend(["etc/default/grub", "etc/kernel/cmdline", "boot/grub2/grubenv"].map(String::from));
        }
        "usermod" | "gpasswd" | "useradd" | "groupadd" => {
            for f in ["passwd", "group", "shadow", "gshadow", "subuid", "subgid"] {
                out.push(format!("etc/{f}"));
                out.push(format!("etc/{f}-"));
            }
            // shadow-utils' lock file, left behind.
            out.push("etc/.pwd.lock".into());
        }
        "ldconfig" => out.extend(["etc/ld.so.cache", "var/cache/ldconfig/aux-cache"].map(String::from)),
        "grub2-mkconfig" | "grub-mkconfig" => out.extend(opt("-o").and_then(|o| rel_of_host(&o).or(Some(o)))),
        "update-grub" => out.push("boot/grub/grub.cfg".into()),
        "dracut" => out.extend(opt("--kver").map(|k| format!("boot/initramfs-{k}.img"))),
        "update-initramfs" => out.extend(opt("-k").map(|k| format!("boot/initrd.img-{k}"))),
        "tar" => out.extend(opt("-C").and_then(|d| rel_of_host(&d))),
        "systemctl" if args.contains(&"enable") => {
            let units = args.iter().skip_while(|a| **a != "enable").skip(1).filter(|a| !a.starts_with('-'));
            for u in units {
                for dir in ["etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"] {
                    let Some(text) = root.read_optional(format!("{dir}/{u}")).ok().flatten() else { continue };
                    let mut install = false;
                    for l in text.lines().map(str::trim) {
                        if l.starts_with('[') {
                            install = l == "[Install]";
                        } else if install && let Some((k, v)) = l.split_once('=') {
                            let kind = match k.trim() {
                                "WantedBy" => "wants",
                                "RequiredBy" => "requires",
                                _ => continue,
                            };
                            out.extend(v.split_whitespace().map(|t| format!("etc/systemd/system/{t}.{kind}/{u}")));
                        }
                    }
                    break;
                }
            }
        }
        _ => {}
    }
    out.into_iter().map(|p| p.trim_start_matches('/').to_string()).collect()
}

/// Journals (and backs up) the files a command is about to change ([`touched_by`]): a
/// regular file is copied into the run's backups; an absent path is recorded as absent (the
/// command creates it); an empty directory as empty (the command fills it).
fn journal_touches(root: &Root, st: &StateDir, step: &str, argv: &[String]) -> Result<()> {
    for rel in touched_by(root, argv) {
        let meta = std::fs::symlink_metadata(root.host_path_nofollow(&rel)?).ok();
        let (backup, before) = match &meta {
            None => (None, None),
            Some(m) if m.is_file() => (st.backup(&rel)?, root.sha256(&rel)?),
            Some(m) if m.is_dir() && root.list_dir(&rel)?.is_empty() => (None, Some("empty dir".to_string())),
            // A link or a full directory that is already there: left as it is.
            Some(_) => continue,
        };
        st.journal(&JournalEntry {
            run: st.run_id().to_string(),
            at: now(),
            step: step.to_string(),
            action: "touch".into(),
            target: Root::display(&rel),
            backup,
            before,
            after: None,
            created: if meta.is_none() { crate::state::missing_dirs(root, &rel, false) } else { Vec::new() },
            argv: Vec::new(),
        })?;
    }
    Ok(())
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

/// Where a package download stands before planning it.
#[derive(Debug, PartialEq)]
pub enum Fetch {
    /// The local package file (`file://` or a path) does not exist.
    Missing(std::path::PathBuf),
    /// The local package file is not the expected one (`got` is its SHA-256).
    Mismatch {
        /// The file.
        path: std::path::PathBuf,
        /// Its SHA-256.
        got: String,
    },
    /// The cached copy at the cache path has the expected SHA-256: nothing to download.
    Cached,
    /// To download.
    Needed,
}

/// Checks a package to be fetched from `url` into the root-relative `cached` path: a local
/// source is checked now, so a missing file or a mismatch stops install before any change; a
/// cached copy counts only when an expected SHA-256 says it is the right one.
pub fn fetch_state(root: &Root, url: &str, cached: &str, expected: Option<&str>) -> Result<Fetch> {
    if let Some(path) = local_source(url) {
        if !path.is_file() {
            return Ok(Fetch::Missing(path));
        }
        if let Some(want) = expected {
            let got = sha256_file(&path)?;
            if got != want {
                return Ok(Fetch::Mismatch { path, got });
            }
        }
    }
    let cached_ok = match expected {
        Some(want) if root.exists(cached) => root.sha256(cached)?.as_deref() == Some(want),
        _ => false,
    };
    Ok(if cached_ok { Fetch::Cached } else { Fetch::Needed })
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
    fn primary_fingerprints_skip_subkeys() {
        let colons = "tru::1:1780000000:0:3:1:5\n\
            pub:u:2048:1:3BF36CFA0BD50AEC:1600000000:::u:::scSC::::::23::0:\n\
            fpr:::::::::881CF4B40B0BFA288D6776E83BF36CFA0BD50AEC:\n\
            uid:u::::1600000000::X::Launchpad PPA for lemonade-team::::::::::0:\n\
            sub:u:2048:1:1111111111111111:1600000000::::::e::::::23:\n\
            fpr:::::::::2222222222222222222222222222222222222222:\n\
            pub:-:255:22:7A120F1ECD411222:1780000000:::-:::scSC::::::ed25519:::0:\n\
            fpr:::::::::8d19deb41602c71a4a6b18cf7a120f1ecd411222:\n";
        assert_eq!(
            primary_fingerprints(colons),
            ["881CF4B40B0BFA288D6776E83BF36CFA0BD50AEC", "8D19DEB41602C71A4A6B18CF7A120F1ECD411222"]
        );
        assert!(primary_fingerprints("").is_empty());
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

    /// Before planning a download: a local source must exist and match; a cached copy counts
    /// only with an expected hash that it has.
    #[test]
    fn fetch_state_checks_the_local_source_then_the_cache() {
        let (dir, root, _runner, _st) = setup();
        let src = dir.path().join("pkg.rpm");
        let (url, cached) = (src.display().to_string(), "var/cache/npu-setup/pkg.rpm");
        assert_eq!(fetch_state(&root, &url, cached, None).unwrap(), Fetch::Missing(src.clone()));
        std::fs::write(&src, b"rpm").unwrap();
        let good = fsx::sha256(b"rpm");
        let bad = "0".repeat(64);
        assert_eq!(
            fetch_state(&root, &url, cached, Some(&bad)).unwrap(),
            Fetch::Mismatch { path: src.clone(), got: good.clone() }
        );
        assert_eq!(fetch_state(&root, &url, cached, Some(&good)).unwrap(), Fetch::Needed);
        root.write(cached, b"rpm", Perms::Set { mode: 0o644, owner: None }).unwrap();
        assert_eq!(fetch_state(&root, &url, cached, Some(&good)).unwrap(), Fetch::Cached);
        // Without an expected hash a cached file proves nothing; a URL has no local check.
        assert_eq!(fetch_state(&root, &url, cached, None).unwrap(), Fetch::Needed);
        assert_eq!(fetch_state(&root, "https://example.org/pkg.rpm", cached, Some(&bad)).unwrap(), Fetch::Needed);
    }
}

//! Actions are data: what a step wants done, printable exactly (argv, unified diffs) for
//! `--dry-run`, and applied by one function with backups, a journal and logs.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::edit::kargs::KargEdit;
use crate::fsx;
use crate::net::http::{Client, Timeouts, copy_hashed};
use crate::root::Root;
use crate::runner::{Runner, quote_argv};
use crate::state::{JournalEntry, StateDir, now};

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
    /// Applies the edit to a file's text.
    pub fn apply(&self, text: &str) -> Result<String> {
        Ok(match self {
            FileEdit::GrubDefault { edit } => crate::edit::grub_default::edit_grub_default(text, edit)?.text,
            FileEdit::BlsOptions { edit } => crate::edit::bls::edit_bls_options(text, edit).text,
            FileEdit::KernelCmdline { edit } => crate::edit::kernel_cmdline::edit_kernel_cmdline(text, edit).text,
        })
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
                let old = root.read_optional(path).ok().flatten().unwrap_or_default();
                format!("write {} (mode {mode:04o})\n{}", Root::display(path), diff(path, &old, content))
            }
            Action::EditFile { path, edit } => {
                let old = root.read_optional(path).ok().flatten().unwrap_or_default();
                match edit.apply(&old) {
                    Ok(new) => format!("edit {}\n{}", Root::display(path), diff(path, &old, &new)),
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
    progress: &dyn Fn(&str),
) -> Result<()> {
    let Some((prog, args)) = argv.split_first() else { bail!("empty command") };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // `./build.sh` means the script in the working directory.
    let local = match (prog.strip_prefix("./"), dir) {
        (Some(rest), Some(d)) => Some(d.join(rest).display().to_string()),
        _ => None,
    };
    let prog = local.as_deref().unwrap_or(prog);
    let log = st.log_path(&format!("{seq:02}-{step}-{}.log", prog.rsplit('/').next().unwrap_or(prog)))?;
    let mut f = std::fs::File::create(&log).with_context(|| format!("creating log {}", log.display()))?;
    let _ = writeln!(f, "$ {}{}", dir.map(|d| format!("(in {}) ", d.display())).unwrap_or_default(), quote_argv(argv));
    let mut on_line = |l: &str| {
        let _ = writeln!(f, "{l}");
        progress(l);
    };
    let out = runner.run_streaming_in(prog, &args, dir, env, timeout, &mut on_line);
    let code = out.as_ref().ok().and_then(|o| o.code);
    let _ = writeln!(f, "--- exit {code:?}");
    st.journal(&JournalEntry {
        run: st.run_id().to_string(),
        at: now(),
        step: step.to_string(),
        action: "run".into(),
        target: quote_argv(argv),
        backup: None,
        before: None,
        after: Some(format!("exit {code:?}")),
    })?;
    match out {
        Ok(o) if o.success() => Ok(()),
        Ok(o) => {
            let last: Vec<&str> = o.stdout.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            bail!(
                "`{}` exited {:?}; last lines:\n    {}\n(full output: {})",
                quote_argv(argv),
                o.code,
                last.join("\n    "),
                log.display()
            )
        }
        Err(e) => bail!("{e} (log: {})", log.display()),
    }
}

/// Applies one action: backups and journal first, then the change. `progress` receives
/// each output line of commands (the last one is shown on a terminal).
pub fn apply(
    a: &Action,
    step: &str,
    root: &Root,
    runner: &Runner,
    st: &StateDir,
    seq: usize,
    progress: &dyn Fn(&str),
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
            let old = root.read_bytes_optional(path)?;
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
            fsx::atomic_write(&root.join(path), content.as_bytes(), *mode, Some((0, 0)))
        }
        Action::EditFile { path, edit } => {
            let old = root
                .read_optional(path)?
                .with_context(|| format!("{} disappeared before it could be edited", Root::display(path)))?;
            let new = edit.apply(&old).with_context(|| format!("refusing to edit {}", Root::display(path)))?;
            if new == old {
                return Ok(());
            }
            let mode = std::fs::metadata(root.join(path))
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                .unwrap_or(0o644);
            let backup = st.backup(path)?;
            st.journal(&entry(
                "edit",
                Root::display(path),
                backup,
                Some(fsx::sha256(old.as_bytes())),
                Some(fsx::sha256(new.as_bytes())),
            ))?;
            fsx::atomic_write(&root.join(path), new.as_bytes(), mode, None)
        }
        Action::MakeDir { path, mode, owner } => {
            st.journal(&entry("mkdir", Root::display(path), None, None, None))?;
            let p = root.join(path);
            fsx::create_dirs(&p)?;
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(*mode))
                .with_context(|| format!("setting mode {mode:o} on {}", Root::display(path)))?;
            if let Some(o) = owner
                && nix::unistd::geteuid().is_root()
            {
                let (uid, gid) = lookup_user(root, o)?;
                nix::unistd::chown(&p, Some(uid.into()), Some(gid.into()))
                    .with_context(|| format!("chown {o} {}", Root::display(path)))?;
            }
            Ok(())
        }
        Action::Download { url, path, sha256, why } => {
            let expected = match sha256 {
                Some(h) => Some(h.to_ascii_lowercase()),
                None => pinned(root, url)?,
            };
            let got = download(url, &root.join(path), expected.as_deref())
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
            // A stale marker must not survive a failed rebuild.
            let _ = std::fs::remove_file(d.join(crate::steps::build::MARKER));
            for c in commands {
                run_logged(runner, st, step, seq, Some(d), &[], c, BUILD_TIMEOUT, progress)
                    .with_context(|| format!("building {build}"))?;
            }
            fsx::atomic_write(&d.join(crate::steps::build::MARKER), marker.as_bytes(), 0o644, None)
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
                && let Ok(text) = std::fs::read_to_string(man)
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
            let cache = root.join("var/cache/npu-setup");
            let p = Path::new(path);
            if !p.starts_with(&cache) {
                bail!("refusing to remove {path}: only trees under {} are npu-setup's", cache.display());
            }
            st.journal(&entry("remove", path.clone(), None, None, None))?;
            std::fs::remove_dir_all(p).with_context(|| format!("removing {path}"))
        }
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
    fsx::atomic_write(&root.join(PINS), text.as_bytes(), 0o644, Some((0, 0)))
}

/// A local file named by a `file://` URL or a plain path; `None` for http(s).
pub fn local_source(url: &str) -> Option<std::path::PathBuf> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return None;
    }
    Some(std::path::PathBuf::from(url.strip_prefix("file://").unwrap_or(url)))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(copy_hashed(&mut f, &mut std::io::sink()).with_context(|| format!("reading {}", path.display()))?.sha256)
}

/// Streams `url` into a temporary file next to `dest` while hashing it; renames it into place
/// only when the hash matches `expected` (when given). Returns the hash.
fn download(url: &str, dest: &std::path::Path, expected: Option<&str>) -> Result<String> {
    let parent = dest.parent().with_context(|| format!("{} has no parent directory", dest.display()))?;
    fsx::create_dirs(parent)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".npu-setup.")
        .tempfile_in(parent)
        .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
    let got = match local_source(url) {
        Some(p) => {
            let mut f = std::fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
            copy_hashed(&mut f, tmp.as_file_mut()).with_context(|| format!("copying {}", p.display()))?
        }
        // Downloads come from the internet, never from a fixture's replayed services.
        None => {
            Client::live(Timeouts::download()).download(url, tmp.as_file_mut()).map_err(|e| anyhow::anyhow!("{e}"))?
        }
    }
    .sha256;
    if let Some(want) = expected
        && !want.eq_ignore_ascii_case(&got)
    {
        bail!("sha256 mismatch: expected {want}, got {got}; the file was discarded and nothing was installed");
    }
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .with_context(|| format!("setting mode on {}", dest.display()))?;
    tmp.as_file().sync_all().with_context(|| format!("flushing {}", dest.display()))?;
    tmp.persist(dest).map_err(|e| e.error).with_context(|| format!("replacing {}", dest.display()))?;
    fsx::sync_dir(parent)?;
    Ok(got)
}

/// uid/gid of a user in the root's etc/passwd.
pub fn lookup_user(root: &Root, name: &str) -> Result<(u32, u32)> {
    let text = root.read_optional("etc/passwd")?.unwrap_or_default();
    crate::parse::passwd::parse_passwd(&text)
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| (p.uid, p.gid))
        .with_context(|| format!("user {name} does not exist in {}", Root::display("etc/passwd")))
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

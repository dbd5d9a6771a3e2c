//! Actions are data: what a step wants done, printable exactly (argv, unified diffs) for
//! `--dry-run`, and applied by one function with backups, a journal and logs.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::edit::kargs::KargEdit;
use crate::fsx;
use crate::host::root::Root;
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
    /// Run a command that changes the host.
    Run {
        /// argv.
        argv: Vec<String>,
        /// Why.
        why: String,
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
        }
    }

    /// True when this action runs a command (for "no mutating command ran" assertions).
    pub fn is_command(&self) -> bool {
        matches!(self, Action::Run { .. })
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

/// Applies one action: backups and journal first, then the change.
pub fn apply(a: &Action, step: &str, root: &Root, runner: &Runner, st: &StateDir, seq: usize) -> Result<()> {
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
        Action::Run { argv, .. } => {
            let Some((prog, args)) = argv.split_first() else { bail!("empty command") };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let log = st.log_path(&format!("{seq:02}-{step}-{}.log", prog.rsplit('/').next().unwrap_or(prog)))?;
            let out = runner.run_with_timeout(prog, &args, STEP_COMMAND_TIMEOUT);
            let (code, text) = match &out {
                Ok(o) => (
                    o.code,
                    format!(
                        "$ {}\n--- stdout\n{}--- stderr\n{}--- exit {:?}\n",
                        quote_argv(&o.argv),
                        o.stdout,
                        o.stderr,
                        o.code
                    ),
                ),
                Err(e) => (None, format!("$ {}\n{e}\n", quote_argv(argv))),
            };
            let mut f = std::fs::File::create(&log).with_context(|| format!("creating log {}", log.display()))?;
            f.write_all(text.as_bytes()).with_context(|| format!("writing log {}", log.display()))?;
            st.journal(&entry("run", quote_argv(argv), None, None, Some(format!("exit {code:?}"))))?;
            match out {
                Ok(o) if o.success() => Ok(()),
                Ok(o) => {
                    bail!("`{}` exited {:?}: {} (full output: {})", quote_argv(argv), o.code, o.tail(), log.display())
                }
                Err(e) => bail!("{e} (log: {})", log.display()),
            }
        }
    }
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

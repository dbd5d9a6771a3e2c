//! Writes under the root, resolved exactly as reads are: every path is walked inside the
//! root ([`Root::resolve`]), so an absolute symlink in an image tree (`etc/security/limits.d
//! -> /etc/…`) leads to the tree's own directory, never the machine's. A link that climbs
//! out of the root, or a loop, is an error naming the path, and nothing is written.
//!
//! Writes follow a symlinked file to its target and replace the target (the link stays a
//! link); removing and renaming act on a link itself. The atomic mechanics (temporary file
//! beside the target, fsync, rename) are [`crate::fsx`]'s.
//!
//! A foreign tree is trusted not to change under us while npu-setup runs (the same trust
//! `rpm --root` and `systemctl --root` give it): the checks are against what the tree
//! contains, not against a concurrent adversary. Files are still opened with `O_NOFOLLOW`,
//! so a link appearing at a resolved path fails instead of being followed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Root, Walked, is_absent};
use crate::fsx::{self, Perms};

/// How often `mkdir -p` starts again when a directory appears while it creates it.
const MKDIR_RETRIES: usize = 8;

impl Root {
    /// The host path a write to `rel` lands on: the resolved target (a symlinked file's
    /// target), inside the root. With `parents`, missing directories on the way are created
    /// (mode 0755), each inside the root.
    fn write_target(&self, rel: &Path, parents: bool) -> Result<PathBuf> {
        let w = self.walk(rel, true)?;
        let mut missing = w.rest.components();
        missing.next_back();
        if parents && missing.next().is_some() {
            // Create the directories of the resolved path, then walk again: the walk's rest
            // is verbatim and only now exists.
            let resolved = w.found.join(&w.rest);
            if let Some(dir) = resolved.parent() {
                self.create_dir_all(dir, 0o755)?;
            }
            return Ok(self.walk(rel, true)?.host(&self.path));
        }
        Ok(w.host(&self.path))
    }

    /// Writes a whole file atomically (see [`Root::write_with`]).
    pub fn write(&self, rel: impl AsRef<Path>, data: &[u8], perms: Perms) -> Result<()> {
        let rel = rel.as_ref();
        self.write_with(rel, perms, |f| f.write_all(data).with_context(|| format!("writing {}", Root::display(rel))))
    }

    /// Replaces a file atomically with what `fill` writes: the target is resolved inside the
    /// root (a symlinked file keeps its link; its target is replaced), its directories are
    /// created, and the temporary file (`.npu-setup.*`) sits beside the resolved target.
    /// When `fill` fails nothing is replaced. Mode, owner and extended attributes per
    /// `perms`.
    pub fn write_with<T>(
        &self,
        rel: impl AsRef<Path>,
        perms: Perms,
        fill: impl FnOnce(&mut File) -> Result<T>,
    ) -> Result<T> {
        let rel = rel.as_ref();
        // Resolution errors start with the path already.
        let target = self.write_target(rel, true)?;
        fsx::replace_with(&target, perms, fill)
    }

    /// `mkdir -p` inside the root: existing components (symlinks too) are resolved inside
    /// it, each missing one is created with `mode` beneath an already resolved directory.
    /// Returns the directory's host path.
    pub fn create_dir_all(&self, rel: impl AsRef<Path>, mode: u32) -> Result<PathBuf> {
        let rel = rel.as_ref();
        'again: for _ in 0..MKDIR_RETRIES {
            let w = self.walk(rel, true)?;
            let mut dir = w.host(&self.path);
            if w.rest.as_os_str().is_empty() {
                if !dir.is_dir() {
                    bail!("cannot create directory {}: {} is not a directory", Root::display(rel), dir.display());
                }
                return Ok(dir);
            }
            dir = Walked { found: w.found, rest: PathBuf::new() }.host(&self.path);
            if !dir.is_dir() {
                bail!("cannot create directory {}: {} is not a directory", Root::display(rel), dir.display());
            }
            for c in w.rest.components() {
                let Component::Normal(name) = c else {
                    bail!("cannot create directory {}: `..` below a missing directory", Root::display(rel));
                };
                dir.push(name);
                match fs::DirBuilder::new().mode(mode).create(&dir) {
                    Ok(()) => {}
                    // Appeared meanwhile (maybe as a link): resolve it like the rest.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue 'again,
                    Err(e) => {
                        return Err(e).with_context(|| format!("creating directory {}", dir.display()));
                    }
                }
            }
            return Ok(dir);
        }
        bail!("creating directory {}: it keeps changing while being created", Root::display(rel))
    }

    /// chmod of what `rel` leads to.
    pub fn set_mode(&self, rel: impl AsRef<Path>, mode: u32) -> Result<()> {
        let rel = rel.as_ref();
        let p = self.host_existing(rel)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting mode {mode:o} on {}", Root::display(rel)))
    }

    /// chown of what `rel` leads to.
    pub fn set_owner(&self, rel: impl AsRef<Path>, uid: u32, gid: u32) -> Result<()> {
        let rel = rel.as_ref();
        let p = self.host_existing(rel)?;
        nix::unistd::chown(&p, Some(uid.into()), Some(gid.into()))
            .with_context(|| format!("setting owner {uid}:{gid} on {}", Root::display(rel)))
    }

    /// Renames `from` to `to` (both in the root; a symlink is renamed, not followed).
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<()> {
        let (from, to) = (from.as_ref(), to.as_ref());
        let (a, b) = (self.write_path_nofollow(from)?, self.write_path_nofollow(to)?);
        fs::rename(&a, &b).with_context(|| format!("renaming {} to {}", Root::display(from), Root::display(to)))?;
        if let Some(dir) = b.parent() {
            fsx::sync_dir(dir)?;
        }
        Ok(())
    }

    /// Removes a file (a symlink itself, not its target); `Ok(false)` when it was absent.
    pub fn remove_file(&self, rel: impl AsRef<Path>) -> Result<bool> {
        let rel = rel.as_ref();
        let p = self.write_path_nofollow(rel)?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", Root::display(rel))),
        }
    }

    /// Removes an empty directory (`undo` of one we created); `Ok(false)` when it is absent
    /// or not empty (something else put files there since: it stays).
    pub fn remove_empty_dir(&self, rel: impl AsRef<Path>) -> Result<bool> {
        let rel = rel.as_ref();
        let p = self.write_path_nofollow(rel)?;
        if p == self.path {
            bail!("refusing to remove {}: it is the root itself", Root::display(rel));
        }
        match fs::remove_dir(&p) {
            Ok(()) => Ok(true),
            Err(e) if is_absent(&e) || e.raw_os_error() == Some(nix::libc::ENOTEMPTY) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", Root::display(rel))),
        }
    }

    /// Removes a directory tree inside the root (symlinks in it are removed, never
    /// followed); the root itself is refused.
    pub fn remove_tree(&self, rel: impl AsRef<Path>) -> Result<()> {
        let rel = rel.as_ref();
        let p = self.write_path_nofollow(rel)?;
        if p == self.path {
            bail!("refusing to remove {}: it is the root itself", Root::display(rel));
        }
        match fs::symlink_metadata(&p) {
            Err(e) if is_absent(&e) => Ok(()),
            Ok(m) if !m.is_dir() => fs::remove_file(&p).with_context(|| format!("removing {}", Root::display(rel))),
            _ => fs::remove_dir_all(&p).with_context(|| format!("removing {}", Root::display(rel))),
        }
    }

    /// Copies a file to another place in the root (backups): content, mode and owner
    /// (owner when running as root). `Ok(false)` when `from` is not a regular file.
    pub fn copy_file(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<bool> {
        let (from, to) = (from.as_ref(), to.as_ref());
        let Some(meta) = self.metadata(from)? else { return Ok(false) };
        if !meta.is_file() {
            return Ok(false);
        }
        let mut src = self.open_read(from)?.with_context(|| format!("{} disappeared", Root::display(from)))?;
        let perms = Perms::Set { mode: meta.mode() & 0o7777, owner: Some((meta.uid(), meta.gid())) };
        self.write_with(to, perms, |f| {
            std::io::copy(&mut src, f)
                .with_context(|| format!("copying {} to {}", Root::display(from), Root::display(to)))
        })?;
        Ok(true)
    }

    /// Opens a file for appending (the journal), creating it (0644) and its directories.
    pub fn open_append(&self, rel: impl AsRef<Path>) -> Result<File> {
        let rel = rel.as_ref();
        self.open_with(rel, OpenOptions::new().create(true).append(true))
    }

    /// Opens a file for reading and writing without truncating it (a lock file), creating
    /// it (0644) and its directories.
    pub fn open_rw(&self, rel: impl AsRef<Path>) -> Result<File> {
        let rel = rel.as_ref();
        self.open_with(rel, OpenOptions::new().create(true).truncate(false).read(true).write(true))
    }

    /// Creates (or truncates) a file for writing (a log), and its directories; returns it
    /// with its host path for messages.
    pub fn create_file(&self, rel: impl AsRef<Path>) -> Result<(File, PathBuf)> {
        let rel = rel.as_ref();
        let p = self.write_target(rel, true)?;
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&p)
            .with_context(|| format!("creating {}", p.display()))?;
        Ok((f, p))
    }

    fn open_with(&self, rel: &Path, opts: &mut OpenOptions) -> Result<File> {
        let p = self.write_target(rel, true)?;
        opts.mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&p)
            .with_context(|| format!("opening {}", p.display()))
    }

    /// The host path of an existing file or directory `rel` leads to.
    fn host_existing(&self, rel: &Path) -> Result<PathBuf> {
        let w = self.walk(rel, true)?;
        if !w.rest.as_os_str().is_empty() {
            bail!("{} does not exist", Root::display(rel));
        }
        Ok(w.host(&self.path))
    }

    /// The host path of `rel` itself (a final symlink not followed), its directory resolved
    /// inside the root, on every root (also `/`, where it is what the OS does).
    fn write_path_nofollow(&self, rel: &Path) -> Result<PathBuf> {
        Ok(self.walk(rel, false)?.host(&self.path))
    }
}

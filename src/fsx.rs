//! File writes that never leave a half-written file: temp file in the same directory,
//! mode, owner and extended attributes, fsync, rename, fsync of the directory.
//!
//! These are the mechanics on a path already decided. Paths under a `--root` are decided
//! by [`crate::root::Root`]'s write API, which resolves them inside the root and calls
//! [`replace_with`]; [`atomic_write`] is for host paths the user names (man pages, the
//! metrics textfile).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use xattr::FileExt;

/// Prefix of our temporary files (a crash leaves them recognisable): `.npu-setup.<pid>.XXXXXX`,
/// so a later run tells a dead writer's leftover from a live writer's file ([`sweep`]).
pub const TEMP_PREFIX: &str = ".npu-setup.";

/// Prefix of `doctor --bundle`'s staging directory and archive next to the bundle:
/// `.npu-setup-bundle-<pid>-…`.
pub const BUNDLE_PREFIX: &str = ".npu-setup-bundle-";

/// How old a leftover without a pid in its name (written by an older version) must be before
/// [`sweep`] takes it for abandoned.
const LEGACY_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// This process's temporary-file prefix: `prefix` + pid + separator.
pub fn pid_prefix(prefix: &str, sep: char) -> String {
    format!("{prefix}{}{sep}", std::process::id())
}

/// Whether a process with this pid exists (EPERM: it exists, owned by someone else).
fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return false };
    if raw <= 0 {
        return false;
    }
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None), Err(nix::errno::Errno::ESRCH))
}

/// Removes our own leftovers directly in `dir` (not below): entries named `prefix<pid><sep>…`
/// whose process no longer runs, and entries named `prefix…` without a pid (an older
/// version's) untouched for an hour. `dirs` says whether the leftovers are directories
/// (removed with their contents) or regular files; anything else is left alone, and so is
/// a symlink. Returns the paths removed; a directory that cannot be listed is skipped.
pub fn sweep(dir: &Path, prefix: &str, sep: char, dirs: bool) -> Vec<std::path::PathBuf> {
    let mut removed = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else { return removed };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        let Ok(meta) = fs::symlink_metadata(e.path()) else { continue };
        if (dirs && !meta.is_dir()) || (!dirs && !meta.is_file()) {
            continue;
        }
        let pid = rest.split_once(sep).and_then(|(p, _)| p.parse::<u32>().ok());
        let stale = match pid {
            Some(pid) => pid != std::process::id() && !alive(pid),
            None => meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= LEGACY_AGE),
        };
        if !stale {
            continue;
        }
        let gone = if dirs { fs::remove_dir_all(e.path()) } else { fs::remove_file(e.path()) };
        if gone.is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

/// How the permissions of a replaced file are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perms {
    /// Keep the mode, owner and extended attributes of the file being replaced (a file we
    /// edit but do not own); a new file gets this mode and the caller's owner.
    Keep(u32),
    /// A file npu-setup owns: exactly this mode, and this owner when running as root. The
    /// extended attributes of a file it replaces (SELinux label, ACL) are kept.
    Set {
        /// Mode bits.
        mode: u32,
        /// uid, gid (applied only when running as root).
        owner: Option<(u32, u32)>,
    },
}

/// Writes `data` to `path` atomically with `mode` (and `owner` when running as root).
/// Parent directories are created with mode 0755. For host paths; under a root use the
/// root's write API.
pub fn atomic_write(path: &Path, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let parent = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    create_dirs(parent)?;
    replace_with(path, Perms::Set { mode, owner }, |f| {
        f.write_all(data).with_context(|| format!("writing {}", path.display()))
    })
}

/// Replaces the file at `path` (its directory must exist) with what `fill` writes into a
/// temporary file beside it: owner, extended attributes and mode per `perms`, fsync, rename
/// over `path`, fsync of the directory. When `fill` fails the temporary file is removed and
/// `path` is untouched. A symlink at `path` itself is replaced, not followed: callers pass
/// the resolved target.
pub fn replace_with<T>(path: &Path, perms: Perms, fill: impl FnOnce(&mut fs::File) -> Result<T>) -> Result<T> {
    let parent = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    let old = fs::symlink_metadata(path).ok().filter(|m| m.is_file());
    let mut tmp = tempfile::Builder::new()
        .prefix(&pid_prefix(TEMP_PREFIX, '.'))
        .tempfile_in(parent)
        .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
    let out = fill(tmp.as_file_mut())?;
    let (mode, owner, root_only) = match (perms, &old) {
        (Perms::Keep(_), Some(m)) => (m.mode() & 0o7777, Some((m.uid(), m.gid())), false),
        (Perms::Keep(mode), None) => (mode, None, true),
        (Perms::Set { mode, owner }, _) => (mode, owner, true),
    };
    let file = tmp.as_file();
    // Owner first: chown clears set-id bits and file capabilities, which come after.
    if let Some((uid, gid)) = owner {
        let now = file.metadata().with_context(|| format!("stat of the temporary file for {}", path.display()))?;
        let is_root = nix::unistd::geteuid().is_root();
        if (now.uid(), now.gid()) != (uid, gid) && (is_root || !root_only) {
            nix::unistd::fchown(file, Some(uid.into()), Some(gid.into())).with_context(|| {
                format!("setting owner {uid}:{gid} on {} (it is the owner of the file replaced)", path.display())
            })?;
        }
    }
    if old.is_some() {
        copy_xattrs(path, file)?;
    }
    // Mode last: an ACL copied above would otherwise set the group bits.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
    file.sync_all().with_context(|| format!("flushing {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("replacing {}", path.display()))?;
    sync_dir(parent)?;
    Ok(out)
}

/// Copies the extended attributes of `from` (SELinux label, ACLs, user attributes) onto the
/// file replacing it. Privileged namespaces this process may not set (`security.*`,
/// `trusted.*` as a user) are skipped with a warning; a `user.*` attribute that cannot be
/// kept is an error, before anything is replaced.
fn copy_xattrs(from: &Path, to: &fs::File) -> Result<()> {
    let names = match xattr::list(from) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing the extended attributes of {}", from.display())),
    };
    for name in names {
        let shown = name.to_string_lossy().into_owned();
        let Some(value) = xattr::get(from, &name)
            .with_context(|| format!("reading the extended attribute {shown} of {}", from.display()))?
        else {
            continue;
        };
        if let Err(e) = to.set_xattr(&name, &value) {
            if !shown.starts_with("user.") && (unsupported(&e) || e.raw_os_error() == Some(nix::libc::EPERM)) {
                tracing::warn!("{}: extended attribute {shown} not kept: {e}", from.display());
                continue;
            }
            bail!("{}: cannot keep the extended attribute {shown}: {e}; the file was left as it was", from.display());
        }
    }
    Ok(())
}

fn unsupported(e: &std::io::Error) -> bool {
    // EOPNOTSUPP is the same number on Linux.
    e.raw_os_error() == Some(nix::libc::ENOTSUP)
}

/// `mkdir -p` with mode 0755 for new directories (host paths).
pub fn create_dirs(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("creating directory {}", dir.display()))
}

/// fsync a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    d.sync_all().with_context(|| format!("flushing directory {}", dir.display()))
}

/// Hex SHA-256 of everything a reader yields, streamed (installed libraries, packages).
pub fn sha256_reader(mut r: impl std::io::Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Hex SHA-256 of bytes.
pub fn sha256(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_with_mode_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("etc/ld.so.conf.d/x.conf");
        atomic_write(&p, b"/opt/xilinx/xrt/lib64\n", 0o644, None).unwrap();
        atomic_write(&p, b"/opt/xilinx/xrt/lib\n", 0o600, None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"/opt/xilinx/xrt/lib\n");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_failed_write_names_the_file_and_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"old").unwrap();
        // A directory where the parent should be: creation fails, the original stays.
        let bad = dir.path().join("f/child");
        let err = format!("{:#}", atomic_write(&bad, b"x", 0o644, None).unwrap_err());
        assert!(err.contains("/f"), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"old");
    }

    #[test]
    fn sweep_removes_only_dead_writers_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        // pid_max is at most 2^22: this pid never runs.
        fs::write(p(".npu-setup.4194305.AbC123"), "half").unwrap();
        fs::write(p(&format!(".npu-setup.{}.Live01", std::process::id())), "mine").unwrap();
        fs::write(p(".npu-setup.1.Init01"), "pid 1 runs").unwrap();
        fs::write(p(".npu-setup.Fresh1"), "legacy, new").unwrap();
        let old = p(".npu-setup.Old123");
        fs::write(&old, "legacy, old").unwrap();
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        fs::File::options().write(true).open(&old).unwrap().set_modified(t).unwrap();
        fs::write(p("grub"), "not ours").unwrap();
        fs::create_dir(p(".npu-setup.4194305.dir")).unwrap();
        let mut removed: Vec<String> = sweep(dir.path(), TEMP_PREFIX, '.', false)
            .iter()
            .map(|x| x.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        assert_eq!(removed, [".npu-setup.4194305.AbC123", ".npu-setup.Old123"]);
        for kept in [".npu-setup.1.Init01", ".npu-setup.Fresh1", "grub", ".npu-setup.4194305.dir"] {
            assert!(p(kept).exists(), "{kept}");
        }
        fs::create_dir_all(p(".npu-setup-bundle-4194305-x/tree/etc")).unwrap();
        assert_eq!(sweep(dir.path(), BUNDLE_PREFIX, '-', true).len(), 1);
        assert!(!p(".npu-setup-bundle-4194305-x").exists());
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(sha256(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}

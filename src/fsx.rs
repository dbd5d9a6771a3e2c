//! File writes that never leave a half-written file: temp file in the same directory,
//! explicit mode and owner, fsync, rename, fsync of the directory (ARCHITECTURE.md §Data flow).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Writes `data` to `path` atomically with `mode` (and `owner` when running as root).
/// Parent directories are created with mode 0755.
pub fn atomic_write(path: &Path, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let parent = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    create_dirs(parent)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".npu-setup.")
        .tempfile_in(parent)
        .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
    tmp.write_all(data).with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
    if let Some((uid, gid)) = owner
        && nix::unistd::geteuid().is_root()
    {
        nix::unistd::fchown(tmp.as_file(), Some(uid.into()), Some(gid.into()))
            .with_context(|| format!("setting owner {uid}:{gid} on {}", path.display()))?;
    }
    tmp.as_file().sync_all().with_context(|| format!("flushing {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("replacing {}", path.display()))?;
    sync_dir(parent)
}

/// `mkdir -p` with mode 0755 for new directories.
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

use std::os::unix::fs::DirBuilderExt;

/// fsync a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    d.sync_all().with_context(|| format!("flushing directory {}", dir.display()))
}

/// Copies `src` to `dst` (atomically, keeping the mode) — for backups of files we edit.
pub fn copy_atomic(src: &Path, dst: &Path) -> Result<()> {
    let data = fs::read(src).with_context(|| format!("reading {} for a backup", src.display()))?;
    let mode = fs::metadata(src).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
    atomic_write(dst, &data, mode, None)
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
    fn sha256_of_empty_input() {
        assert_eq!(sha256(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}

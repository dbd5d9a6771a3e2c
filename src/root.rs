//! The root every host read goes through (`--root DIR`), and how it was recognised.
//!
//! Production reads `/`; tests point the root at a fixture tree under
//! `tests/fixtures/hosts/`; kickstart `%post --nochroot` points it at `/mnt/sysimage`.
//! No other module joins host paths by hand (ARCHITECTURE.md §Root).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Name of the metadata file that marks a fixture tree (see tests/fixtures/hosts/README.md).
pub const FIXTURE_FILE: &str = ".fixture.yaml";

/// Largest file a probe reads whole; sysfs/procfs/etc files are tiny, logs are capped.
const MAX_READ: u64 = 4 * 1024 * 1024;

/// How the root relates to the running system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootMode {
    /// `/`: the running system. Commands come from PATH, HTTP goes to loopback.
    Live,
    /// A fixture tree: commands are replay shims inside it, HTTP answers come from its metadata.
    #[default]
    Fixture,
    /// Another system's tree (an installed image, `/mnt/sysimage`): files only; nothing
    /// about it is running, so live probes are skipped.
    Offline,
}

/// stat(2) data a fixture records for paths git cannot represent (device nodes).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeMeta {
    /// `char`, `block`, `file` or `dir`.
    pub kind: String,
    /// Octal permission bits, e.g. `"0660"`.
    pub mode: String,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Device major number (device nodes).
    #[serde(default)]
    pub major: Option<u32>,
    /// Device minor number (device nodes).
    #[serde(default)]
    pub minor: Option<u32>,
}

/// A replayed HTTP answer in a fixture.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpReplay {
    /// HTTP status code.
    #[serde(default)]
    pub status: Option<u16>,
    /// Response body.
    #[serde(default)]
    pub body: Option<String>,
    /// Transport error text instead of a response (e.g. "connection refused").
    #[serde(default)]
    pub error: Option<String>,
}

/// Contents of a fixture's `.fixture.yaml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureMeta {
    /// What the fixture models.
    #[serde(default)]
    pub description: Option<String>,
    /// Where the captured state comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// The default target user for access checks.
    #[serde(default)]
    pub user: Option<String>,
    /// stat data of device nodes.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeMeta>,
    /// Replayed HTTP answers keyed by URL.
    #[serde(default)]
    pub http: BTreeMap<String, HttpReplay>,
    /// Expectations, read by the test-suite only.
    #[serde(default)]
    pub expect: Option<serde_json::Value>,
    /// Capture provenance written by `dev capture-fixture`.
    #[serde(default)]
    pub captured: Option<serde_json::Value>,
}

/// File metadata as the checks need it: kind, mode, owner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    /// `char`, `block`, `file`, `dir`, `symlink` or `other`.
    pub kind: String,
    /// Permission bits (`0o7777` masked).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// The root directory every probe reads through.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    mode: RootMode,
    fixture: Option<FixtureMeta>,
}

/// True when this process runs in a chroot: `/` is not PID 1's root (what
/// systemd-detect-virt --chroot compares: same device and inode of `/` and `/proc/1/root`).
/// `NPU_SETUP_CHROOT=1|0` overrides. Without /proc (not mounted: a bare chroot) it is a
/// chroot; when /proc/1/root cannot be read (no permission) it is not.
pub fn in_chroot() -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::env::var("NPU_SETUP_CHROOT").ok().as_deref() {
        Some("1") => return true,
        Some("0") => return false,
        _ => {}
    }
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match (fs::metadata("/"), fs::metadata("/proc/1/root")) {
        (Ok(a), Ok(b)) => a.dev() != b.dev() || a.ino() != b.ino(),
        _ => false,
    }
}

impl Root {
    /// Opens `path` as a root; a missing or non-directory root is an error naming it.
    pub fn open(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).with_context(|| format!("opening root {}", path.display()))?;
        if !meta.is_dir() {
            bail!("root {} is not a directory", path.display());
        }
        let canonical = fs::canonicalize(path).with_context(|| format!("resolving root {}", path.display()))?;
        let fixture_path = canonical.join(FIXTURE_FILE);
        let (mode, fixture) = if canonical == Path::new("/") {
            // Inside a chroot (a kickstart %post, an image build) `/` is not the running
            // system: the kernel, /proc and the services belong to the installer. Treat it
            // like any other installed tree.
            if in_chroot() { (RootMode::Offline, None) } else { (RootMode::Live, None) }
        } else if fixture_path.is_file() {
            let text =
                fs::read_to_string(&fixture_path).with_context(|| format!("reading {}", fixture_path.display()))?;
            let meta: FixtureMeta = serde_yaml::from_str(&text).map_err(|e| {
                let loc = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
                anyhow::anyhow!("{}{loc}: {e}", fixture_path.display())
            })?;
            (RootMode::Fixture, Some(meta))
        } else {
            (RootMode::Offline, None)
        };
        Ok(Root { path: canonical, mode, fixture })
    }

    /// `/` was opened from inside a chroot (offline mode on the root path itself): commands
    /// run natively, but nothing in the tree is running.
    pub fn is_chroot(&self) -> bool {
        self.mode == RootMode::Offline && self.path == Path::new("/")
    }

    /// The live root `/` (for requests that always go to the real network, e.g. smoke
    /// inference against an explicitly given URL).
    pub fn live() -> Self {
        Root { path: PathBuf::from("/"), mode: RootMode::Live, fixture: None }
    }

    /// The root directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Live, fixture or offline.
    pub fn mode(&self) -> RootMode {
        self.mode
    }

    /// The fixture metadata, in fixture mode.
    pub fn fixture(&self) -> Option<&FixtureMeta> {
        self.fixture.as_ref()
    }

    /// Joins a root-relative path (leading `/` allowed) onto the root.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        self.path.join(rel)
    }

    /// The host path to open for a root-relative path: symlinks inside a foreign root
    /// are resolved against that root, so an absolute link never reaches the host's files.
    fn real(&self, rel: &Path) -> PathBuf {
        if self.mode == RootMode::Live {
            return self.join(rel);
        }
        match self.resolve(rel) {
            Some(r) => self.path.join(r),
            None => self.join(rel),
        }
    }

    /// Shows a root-relative path as the host would see it (`/etc/os-release`).
    pub fn display(rel: impl AsRef<Path>) -> String {
        let rel = rel.as_ref();
        if rel.is_absolute() { rel.display().to_string() } else { format!("/{}", rel.display()) }
    }

    /// Reads a text file; `Ok(None)` when it does not exist. Non-UTF-8 bytes are replaced.
    pub fn read_optional(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(self.read_bytes_optional(rel)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Reads a text file and trims surrounding whitespace (sysfs attributes).
    pub fn read_trimmed(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(self.read_optional(rel)?.map(|s| s.trim().to_string()))
    }

    /// Reads at most [`MAX_READ`] bytes of a file; `Ok(None)` when it does not exist.
    pub fn read_bytes_optional(&self, rel: impl AsRef<Path>) -> Result<Option<Vec<u8>>> {
        self.read_prefix_optional(rel, MAX_READ)
    }

    /// Reads at most `limit` bytes of a file; `Ok(None)` when it does not exist.
    pub fn read_prefix_optional(&self, rel: impl AsRef<Path>, limit: u64) -> Result<Option<Vec<u8>>> {
        let rel = rel.as_ref();
        let path = self.real(rel);
        match fs::File::open(&path) {
            Ok(f) => {
                let mut buf = Vec::new();
                f.take(limit).read_to_end(&mut buf).with_context(|| format!("reading {}", Root::display(rel)))?;
                Ok(Some(buf))
            }
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", Root::display(rel))),
        }
    }

    /// True when the path exists (following symlinks).
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        self.real(rel.as_ref()).exists()
    }

    /// True when the path is a directory (following symlinks).
    pub fn is_dir(&self, rel: impl AsRef<Path>) -> bool {
        self.real(rel.as_ref()).is_dir()
    }

    /// Reads a symlink's target as stored; `Ok(None)` when the path is absent or not a link.
    pub fn read_link_optional(&self, rel: impl AsRef<Path>) -> Result<Option<PathBuf>> {
        let rel = rel.as_ref();
        let parent = rel.parent().map(|p| self.real(p)).unwrap_or_else(|| self.path.clone());
        let link = match rel.file_name() {
            Some(name) => parent.join(name),
            None => return Ok(None),
        };
        match fs::read_link(link) {
            Ok(t) => Ok(Some(t)),
            Err(e) if is_absent(&e) || e.raw_os_error() == Some(nix::libc::EINVAL) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading link {}", Root::display(rel))),
        }
    }

    /// The last component of a symlink's target (`driver -> …/amdxdna` gives `amdxdna`).
    pub fn link_basename(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(self.read_link_optional(rel)?.and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned())))
    }

    /// Resolves a symlink chain to a root-relative path, never escaping the root
    /// (absolute targets are taken relative to the root, as a chroot would).
    pub fn resolve(&self, rel: impl AsRef<Path>) -> Option<PathBuf> {
        let mut current = normalize(rel.as_ref())?;
        for _ in 0..40 {
            let mut out = PathBuf::new();
            let mut changed = false;
            let comps: Vec<_> = current.components().collect();
            for (i, c) in comps.iter().enumerate() {
                out.push(c);
                if let Ok(target) = fs::read_link(self.join(&out)) {
                    let base = out.parent().map(Path::to_path_buf).unwrap_or_default();
                    let mut next = if target.is_absolute() {
                        target.strip_prefix("/").unwrap_or(&target).to_path_buf()
                    } else {
                        base.join(&target)
                    };
                    for rest in &comps[i + 1..] {
                        next.push(rest);
                    }
                    current = normalize(&next)?;
                    changed = true;
                    break;
                }
            }
            if !changed {
                return Some(current);
            }
        }
        None
    }

    /// Sorted names in a directory, hidden entries left out; empty when it does not exist.
    pub fn list_dir(&self, rel: impl AsRef<Path>) -> Result<Vec<String>> {
        let rel = rel.as_ref();
        match fs::read_dir(self.real(rel)) {
            Ok(rd) => {
                let mut names = Vec::new();
                for entry in rd {
                    let entry = entry.with_context(|| format!("listing {}", Root::display(rel)))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // Hidden entries never matter to a probe (sysfs has none; pam, ld.so and
                    // systemd read *.conf), and fixtures keep empty dirs with `.keep`.
                    if !name.starts_with('.') {
                        names.push(name);
                    }
                }
                names.sort();
                Ok(names)
            }
            Err(e) if is_absent(&e) => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("listing {}", Root::display(rel))),
        }
    }

    /// stat(2) of a path, with fixture metadata taking precedence (device nodes).
    pub fn stat(&self, rel: impl AsRef<Path>) -> Result<Option<Stat>> {
        let rel = rel.as_ref();
        let key = rel.strip_prefix("/").unwrap_or(rel).to_string_lossy().into_owned();
        if let Some(meta) = self.fixture.as_ref().and_then(|f| f.nodes.get(&key)) {
            let mode = u32::from_str_radix(meta.mode.trim_start_matches("0o"), 8)
                .with_context(|| format!("{FIXTURE_FILE}: bad mode {:?} for {key}", meta.mode))?;
            return Ok(Some(Stat { kind: meta.kind.clone(), mode, uid: meta.uid, gid: meta.gid }));
        }
        match fs::metadata(self.real(rel)) {
            Ok(m) => {
                let ft = m.file_type();
                let kind = if ft.is_char_device() {
                    "char"
                } else if ft.is_block_device() {
                    "block"
                } else if ft.is_dir() {
                    "dir"
                } else if ft.is_file() {
                    "file"
                } else {
                    "other"
                };
                Ok(Some(Stat { kind: kind.into(), mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid() }))
            }
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("stat {}", Root::display(rel))),
        }
    }
}

/// Lexically normalises a relative path, refusing to climb above the root.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                // Climbing above the root stays at the root, as in a chroot.
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound) || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolve_stays_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("lib/firmware/amdnpu/17f0_11")).unwrap();
        fs::write(r.join("lib/firmware/amdnpu/17f0_11/npu.sbin.1.1.2.65.xz"), b"x").unwrap();
        symlink("npu.sbin.1.1.2.65.xz", r.join("lib/firmware/amdnpu/17f0_11/npu_7.sbin.xz")).unwrap();
        symlink("/etc/passwd", r.join("escape")).unwrap();
        let root = Root::open(r).unwrap();
        assert_eq!(root.mode(), RootMode::Offline);
        assert_eq!(
            root.resolve("lib/firmware/amdnpu/17f0_11/npu_7.sbin.xz").unwrap(),
            PathBuf::from("lib/firmware/amdnpu/17f0_11/npu.sbin.1.1.2.65.xz")
        );
        // An absolute link target is taken relative to the root, never the host.
        assert_eq!(root.resolve("escape").unwrap(), PathBuf::from("etc/passwd"));
        assert_eq!(root.read_optional("escape").unwrap(), None);
    }

    #[test]
    fn missing_root_is_a_clear_error() {
        let err = Root::open(Path::new("/nonexistent/root")).unwrap_err();
        assert!(format!("{err:#}").contains("opening root /nonexistent/root"), "{err:#}");
    }

    #[test]
    fn malformed_fixture_names_file_line_column() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FIXTURE_FILE), "user: alice\nbogus_key: 1\n").unwrap();
        let err = Root::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains(".fixture.yaml:2:1"), "{err}");
        assert!(err.contains("bogus_key"), "{err}");
    }
}

//! The root every host read goes through (`--root DIR`), and how it was recognised.
//!
//! Production reads `/`; tests point the root at a fixture tree under
//! `tests/fixtures/hosts/`; kickstart `%post --nochroot` points it at `/mnt/sysimage`.
//! No other module joins host paths by hand: reads and writes (see `root/write.rs`) resolve
//! every path inside the root, symlinks included (ARCHITECTURE.md §Root).

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

mod write;

pub use crate::fsx::Perms;

/// Name of the metadata file that marks a fixture tree (see tests/fixtures/hosts/README.md).
pub const FIXTURE_FILE: &str = ".fixture.yaml";

/// Largest file [`Root::read_optional`] and [`Root::read_bytes_optional`] read: sysfs, procfs
/// and configuration files are tiny. A larger file is an error naming it, never a silent
/// prefix (content past the cap would be invisible to the checks). Files install edits are
/// read whole ([`Root::read_whole_optional`]).
pub const MAX_READ: u64 = 4 * 1024 * 1024;

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

/// One recorded run of a command in a fixture (`commands:`), served by the runner as data:
/// nothing in a captured tree is ever executed (a support bundle comes from someone else).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandReplay {
    /// Where the probes find the program, relative to the root (`usr/bin/rpm`).
    pub program: String,
    /// The recorded arguments, space-joined; a run matches when its own space-joined
    /// arguments end with them (the longest match wins), so a path argument matches under
    /// whatever directory the tree was unpacked in.
    #[serde(default)]
    pub args: String,
    /// Exit code; absent when the command was killed by a signal.
    #[serde(default)]
    pub exit: Option<i32>,
    /// Root-relative file holding the recorded stdout.
    #[serde(default)]
    pub stdout: Option<String>,
    /// Root-relative file holding the recorded stderr.
    #[serde(default)]
    pub stderr: Option<String>,
    /// The command did not finish on the source within its timeout: replayed as a timeout.
    #[serde(default)]
    pub timeout: bool,
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
    /// Recorded command runs, served as data (what captures and support bundles write).
    #[serde(default)]
    pub commands: Vec<CommandReplay>,
    /// Expectations, read by the test-suite only.
    #[serde(default)]
    pub expect: Option<serde_json::Value>,
    /// Capture provenance written by `dev capture-fixture`.
    #[serde(default)]
    pub captured: Option<serde_json::Value>,
    /// The date the replayed host's clock reads (`YYYY-MM-DD`), for checks that age data
    /// against today (`host.recipes`); without it they judge no age, so reports stay the same
    /// whatever day the tests run.
    #[serde(default)]
    pub today: Option<String>,
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
            let meta: FixtureMeta = crate::parse::yaml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}{}", fixture_path.display(), e.located()))?;
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

    /// Joins a root-relative path (leading `/` allowed) onto the root, lexically: for
    /// messages and for the live root. Never open or write through it on a foreign root —
    /// a symlink in the tree would lead the OS out of it ([`Root::host_path`] does not).
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        self.path.join(rel)
    }

    /// The host path to open for a root-relative path, every symlink followed inside the
    /// root (see [`Root::resolve`]). On the live root the path is handed to the OS as is.
    /// A link that leaves the root, or a loop, is an error naming the path: never a
    /// fallback to the host's own file.
    pub fn host_path(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        let rel = rel.as_ref();
        if self.mode == RootMode::Live {
            return Ok(self.join(rel));
        }
        Ok(self.walk(rel, true)?.host(&self.path))
    }

    /// Like [`Root::host_path`], but a symlink in the last component is the link itself (for
    /// `readlink`, removing or renaming a link).
    pub fn host_path_nofollow(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        let rel = rel.as_ref();
        if self.mode == RootMode::Live {
            return Ok(self.join(rel));
        }
        Ok(self.walk(rel, false)?.host(&self.path))
    }

    /// The root-relative form of a host path inside the root (`None` outside it): plans
    /// carry some paths as host paths (build directories, command arguments).
    pub fn rel_of(&self, host: &Path) -> Option<PathBuf> {
        host.strip_prefix(&self.path).ok().map(Path::to_path_buf)
    }

    /// Shows a root-relative path as the host would see it (`/etc/os-release`).
    pub fn display(rel: impl AsRef<Path>) -> String {
        let rel = rel.as_ref();
        if rel.is_absolute() { rel.display().to_string() } else { format!("/{}", rel.display()) }
    }

    /// Reads a text file; `Ok(None)` when it does not exist. Non-UTF-8 bytes are replaced.
    /// A file over [`MAX_READ`], or one that is not a regular file, is an error naming it.
    pub fn read_optional(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(self.read_bytes_optional(rel)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Reads a text file and trims surrounding whitespace (sysfs attributes).
    pub fn read_trimmed(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(self.read_optional(rel)?.map(|s| s.trim().to_string()))
    }

    /// Reads a whole file of at most [`MAX_READ`] bytes; `Ok(None)` when it does not exist.
    /// Larger is an error naming the file (never a prefix that could change a verdict).
    pub fn read_bytes_optional(&self, rel: impl AsRef<Path>) -> Result<Option<Vec<u8>>> {
        let rel = rel.as_ref();
        let Some(f) = self.open_read(rel)? else { return Ok(None) };
        let mut buf = Vec::new();
        f.take(MAX_READ + 1).read_to_end(&mut buf).with_context(|| format!("reading {}", Root::display(rel)))?;
        if buf.len() as u64 > MAX_READ {
            bail!(
                "{} is larger than {} MiB: not read (no file a probe reads is this large)",
                Root::display(rel),
                MAX_READ / (1024 * 1024)
            );
        }
        Ok(Some(buf))
    }

    /// Reads a whole file, however large: the files install edits (`/etc/default/grub`, BLS
    /// entries, `/etc/kernel/cmdline`) and the probes that judge them, so both see every
    /// byte. `Ok(None)` when it does not exist; not a regular file is an error naming it.
    pub fn read_whole_optional(&self, rel: impl AsRef<Path>) -> Result<Option<Vec<u8>>> {
        let rel = rel.as_ref();
        let Some(mut f) = self.open_read(rel)? else { return Ok(None) };
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).with_context(|| format!("reading {}", Root::display(rel)))?;
        Ok(Some(buf))
    }

    /// [`Root::read_whole_optional`] as text, non-UTF-8 bytes replaced (for judging; editors
    /// take the bytes).
    pub fn read_whole_text(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(self.read_whole_optional(rel)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Reads at most `limit` bytes of a file — a prefix on purpose (support bundles copy
    /// the start of large files); `Ok(None)` when it does not exist.
    pub fn read_prefix_optional(&self, rel: impl AsRef<Path>, limit: u64) -> Result<Option<Vec<u8>>> {
        let rel = rel.as_ref();
        let Some(f) = self.open_read(rel)? else { return Ok(None) };
        let mut buf = Vec::new();
        f.take(limit).read_to_end(&mut buf).with_context(|| format!("reading {}", Root::display(rel)))?;
        Ok(Some(buf))
    }

    /// Hex SHA-256 of a whole file, streamed; `Ok(None)` when it does not exist.
    pub fn sha256(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        let rel = rel.as_ref();
        let Some(f) = self.open_read(rel)? else { return Ok(None) };
        crate::fsx::sha256_reader(f).map(Some).with_context(|| format!("reading {}", Root::display(rel)))
    }

    /// True when the path exists (following symlinks). A path that cannot be resolved
    /// inside the root (a loop, a link out of it) does not exist in it.
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        self.metadata(rel).ok().flatten().is_some()
    }

    /// True when the path is a directory (following symlinks).
    pub fn is_dir(&self, rel: impl AsRef<Path>) -> bool {
        self.metadata(rel).ok().flatten().is_some_and(|m| m.is_dir())
    }

    /// True when the path is a regular file (following symlinks).
    pub fn is_file(&self, rel: impl AsRef<Path>) -> bool {
        self.metadata(rel).ok().flatten().is_some_and(|m| m.is_file())
    }

    /// stat(2) of the file a path leads to (symlinks followed inside the root); `Ok(None)`
    /// when it does not exist.
    pub fn metadata(&self, rel: impl AsRef<Path>) -> Result<Option<fs::Metadata>> {
        let rel = rel.as_ref();
        match fs::metadata(self.host_path(rel)?) {
            Ok(m) => Ok(Some(m)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("stat {}", Root::display(rel))),
        }
    }

    /// Opens a regular file for reading (no size cap: hashing installed files, cached
    /// packages); `Ok(None)` when it does not exist. Anything else — a FIFO, a socket, a
    /// device node, a directory — is an error naming it, and is never opened: opening a
    /// FIFO blocks until a writer comes, opening a device can act on it (a watchdog). The
    /// kind is checked with stat(2) first, then the file is opened non-blocking and checked
    /// again with fstat(2), so a FIFO swapped in between cannot block either.
    pub fn open_read(&self, rel: impl AsRef<Path>) -> Result<Option<fs::File>> {
        use std::os::unix::fs::OpenOptionsExt;
        let rel = rel.as_ref();
        let path = self.host_path(rel)?;
        let not_regular = |ft: fs::FileType| {
            anyhow::anyhow!("{} is {}, not a regular file: not read", Root::display(rel), kind_phrase(ft))
        };
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(m) => return Err(not_regular(m.file_type())),
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", Root::display(rel))),
        }
        let f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", Root::display(rel))),
        };
        let m = f.metadata().with_context(|| format!("reading {}", Root::display(rel)))?;
        if !m.is_file() {
            return Err(not_regular(m.file_type()));
        }
        // O_NONBLOCK means nothing for a regular file's reads; it stays set.
        Ok(Some(f))
    }

    /// Reads a symlink's target as stored; `Ok(None)` when the path is absent or not a link.
    pub fn read_link_optional(&self, rel: impl AsRef<Path>) -> Result<Option<PathBuf>> {
        let rel = rel.as_ref();
        if rel.file_name().is_none() {
            return Ok(None);
        }
        match fs::read_link(self.host_path_nofollow(rel)?) {
            Ok(t) => Ok(Some(t)),
            Err(e) if is_absent(&e) || e.raw_os_error() == Some(nix::libc::EINVAL) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading link {}", Root::display(rel))),
        }
    }

    /// The last component of a symlink's target (`driver -> …/amdxdna` gives `amdxdna`).
    pub fn link_basename(&self, rel: impl AsRef<Path>) -> Result<Option<String>> {
        Ok(self.read_link_optional(rel)?.and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned())))
    }

    /// Resolves a path to where it leads inside the root, as a root-relative path: every
    /// symlink is followed with the root as `/` (absolute targets start again at the root,
    /// as in a chroot). A relative target whose `..` climbs above the root is an error
    /// naming the link; so are more than [`MAX_LINKS`] links (a loop). The part below the
    /// first missing component is kept as given.
    pub fn resolve(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        Ok(self.walk(rel.as_ref(), true)?.rel())
    }

    /// Like [`Root::resolve`], but a symlink in the last component is the link itself.
    pub fn resolve_nofollow(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        Ok(self.walk(rel.as_ref(), false)?.rel())
    }

    /// Walks `rel` component by component with lstat/readlink, the way the kernel resolves
    /// a path but with the root as `/`. `found` is the part that exists, with no symlink left
    /// in it (the last component is a link only when `follow_last` is false); `rest` is the
    /// part from the first missing component on, verbatim, so an OS call on `found/rest`
    /// fails at that component instead of following anything.
    fn walk(&self, rel: &Path, follow_last: bool) -> Result<Walked> {
        // On the live root `..` at `/` stays at `/`, as the OS has it.
        let clamp = self.path == Path::new("/");
        let mut queue: VecDeque<(Part, Option<usize>)> = parts(rel).into_iter().map(|p| (p, None)).collect();
        let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
        let mut found = PathBuf::new();
        while let Some((part, via)) = queue.pop_front() {
            let name = match part {
                Part::Up => {
                    if !found.pop() && !clamp {
                        return Err(match via {
                            Some(i) => anyhow::anyhow!(
                                "{}: the symlink {} -> {} escapes the root {}",
                                Root::display(rel),
                                Root::display(&links[i].0),
                                links[i].1.display(),
                                self.path.display()
                            ),
                            None => {
                                anyhow::anyhow!("{} climbs above the root {}", Root::display(rel), self.path.display())
                            }
                        });
                    }
                    continue;
                }
                Part::Name(n) => n,
            };
            let cand = found.join(&name);
            let host = self.path.join(&cand);
            let meta = match fs::symlink_metadata(&host) {
                Ok(m) => m,
                Err(e) if is_absent(&e) => {
                    let rest = std::iter::once(Part::Name(name)).chain(queue.into_iter().map(|(p, _)| p));
                    return Ok(Walked { found, rest: rest.map(Part::into_os).collect() });
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("{}: stat {}", Root::display(rel), Root::display(&cand)));
                }
            };
            if meta.file_type().is_symlink() && (follow_last || !queue.is_empty()) {
                let target = fs::read_link(&host)
                    .with_context(|| format!("{}: reading the link {}", Root::display(rel), Root::display(&cand)))?;
                if links.len() == MAX_LINKS {
                    bail!(
                        "{}: more than {MAX_LINKS} symbolic links on the way (a loop?); the last was {} -> {}",
                        Root::display(rel),
                        Root::display(&cand),
                        target.display()
                    );
                }
                if target.is_absolute() {
                    found = PathBuf::new();
                }
                let i = links.len();
                for p in parts(&target).into_iter().rev() {
                    queue.push_front((p, Some(i)));
                }
                links.push((cand, target));
            } else if !meta.is_dir() && !queue.is_empty() {
                // A file where a directory should be: the OS reports ENOTDIR on the rest.
                let rest: PathBuf = queue.into_iter().map(|(p, _)| p.into_os()).collect();
                return Ok(Walked { found: cand, rest });
            } else {
                found = cand;
            }
        }
        Ok(Walked { found, rest: PathBuf::new() })
    }

    /// Sorted names in a directory, hidden entries left out; empty when it does not exist.
    pub fn list_dir(&self, rel: impl AsRef<Path>) -> Result<Vec<String>> {
        let rel = rel.as_ref();
        match fs::read_dir(self.host_path(rel)?) {
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
        match fs::metadata(self.host_path(rel)?) {
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

/// Most symbolic links one path may pass through before it is called a loop. Above the
/// kernel's 40 (MAXSYMLINKS): the OS never sees a link of a resolved path, so a long chain
/// inside a tree still resolves, while a loop ends here with an error naming the path.
pub const MAX_LINKS: usize = 255;

/// One component of a path being walked.
enum Part {
    Name(OsString),
    Up,
}

impl Part {
    fn into_os(self) -> OsString {
        match self {
            Part::Name(n) => n,
            Part::Up => OsString::from(".."),
        }
    }
}

/// A path's components to walk (`.` and a leading `/` dropped).
fn parts(p: &Path) -> Vec<Part> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Part::Name(n.to_os_string())),
            Component::ParentDir => Some(Part::Up),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Where a walk ended: the existing, link-free part and the missing rest (root-relative).
struct Walked {
    found: PathBuf,
    rest: PathBuf,
}

impl Walked {
    /// The host path: the root joined with both parts.
    fn host(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        self.push_onto(&mut p);
        p
    }

    /// The root-relative path.
    fn rel(&self) -> PathBuf {
        let mut p = PathBuf::new();
        self.push_onto(&mut p);
        p
    }

    fn push_onto(&self, p: &mut PathBuf) {
        // Pushing an empty path would add a trailing `/`.
        for part in [&self.found, &self.rest] {
            if !part.as_os_str().is_empty() {
                p.push(part);
            }
        }
    }
}

/// "a FIFO", "a socket", … for messages about a path that is not a regular file.
fn kind_phrase(ft: fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_dir() {
        "a directory"
    } else {
        "of another kind"
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound) || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{PermissionsExt, symlink};

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
        assert_eq!(root.resolve("escape").unwrap().to_str(), Some("etc/passwd"), "no trailing slash");
        assert_eq!(root.read_optional("escape").unwrap(), None);
    }

    /// A tree and a directory standing in for the machine's own files, outside the tree.
    fn tree_and_host() -> (tempfile::TempDir, Root, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tree/etc")).unwrap();
        fs::create_dir_all(dir.path().join("host")).unwrap();
        let root = Root::open(&dir.path().join("tree")).unwrap();
        let host = fs::canonicalize(dir.path().join("host")).unwrap();
        (dir, root, host)
    }

    fn names(p: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn writes_through_an_absolute_link_land_inside_the_root() {
        let (_d, root, host) = tree_and_host();
        fs::create_dir_all(host.join("limits.d")).unwrap();
        fs::write(host.join("limits.d/host.conf"), "host's own\n").unwrap();
        fs::create_dir_all(root.path().join("etc/security")).unwrap();
        symlink(host.join("limits.d"), root.path().join("etc/security/limits.d")).unwrap();
        let rel = "etc/security/limits.d/99-x.conf";
        let inside = root.path().join(host.strip_prefix("/").unwrap()).join("limits.d/99-x.conf");
        assert_eq!(root.host_path(rel).unwrap(), inside);
        // The host's file is not seen through the tree's link.
        assert_eq!(root.read_optional("etc/security/limits.d/host.conf").unwrap(), None);
        assert!(root.list_dir("etc/security/limits.d").unwrap().is_empty());

        root.write(rel, b"* hard memlock unlimited\n", Perms::Set { mode: 0o644, owner: None }).unwrap();
        assert_eq!(fs::read_to_string(&inside).unwrap(), "* hard memlock unlimited\n");
        assert_eq!(root.read_optional(rel).unwrap().as_deref(), Some("* hard memlock unlimited\n"));
        assert_eq!(names(&host.join("limits.d")), ["host.conf"], "nothing written on the host");
        assert!(fs::symlink_metadata(root.path().join("etc/security/limits.d")).unwrap().is_symlink());

        // mkdir -p, append, create, copy, rename and remove all stay inside too.
        fs::create_dir_all(host.join("lib")).unwrap();
        symlink(host.join("lib"), root.path().join("var")).unwrap();
        root.create_dir_all("var/lib/npu-setup", 0o755).unwrap();
        writeln!(root.open_append("var/lib/npu-setup/journal.jsonl").unwrap(), "{{}}").unwrap();
        root.open_rw("var/lib/npu-setup/lock").unwrap();
        let (_f, log) = root.create_file("var/log/npu-setup/1/x.log").unwrap();
        assert!(log.starts_with(root.path()), "{}", log.display());
        assert!(root.copy_file(rel, "var/lib/npu-setup/backups/1/x.conf").unwrap());
        root.rename("var/lib/npu-setup/lock", "var/lib/npu-setup/lock.old").unwrap();
        assert!(root.remove_file("var/lib/npu-setup/lock.old").unwrap());
        root.set_mode("var/lib/npu-setup", 0o700).unwrap();
        root.remove_tree("var/lib/npu-setup/backups").unwrap();
        assert!(root.exists("var/lib/npu-setup/journal.jsonl"));
        assert!(names(&host.join("lib")).is_empty(), "nothing written on the host");
        assert!(root.remove_tree("").unwrap_err().to_string().contains("the root itself"));
    }

    #[test]
    fn a_long_chain_of_links_resolves_inside_and_a_loop_is_an_error() {
        let (_d, root, host) = tree_and_host();
        let r = root.path().to_path_buf();
        fs::create_dir_all(r.join("data")).unwrap();
        fs::write(r.join("data/f"), "inside\n").unwrap();
        fs::write(host.join("f"), "host\n").unwrap();
        // 100 links, absolute and relative by turns, ending at the tree's data/.
        for i in 0..100 {
            let target = if i == 99 {
                PathBuf::from("data")
            } else if i % 2 == 0 {
                PathBuf::from(format!("/l{}", i + 1))
            } else {
                PathBuf::from(format!("l{}", i + 1))
            };
            symlink(target, r.join(format!("l{i}"))).unwrap();
        }
        assert_eq!(root.read_optional("l0/f").unwrap().as_deref(), Some("inside\n"));
        root.write("l0/g", b"new\n", Perms::Set { mode: 0o600, owner: None }).unwrap();
        assert_eq!(fs::read_to_string(r.join("data/g")).unwrap(), "new\n");

        // Exactly 40 links ending at an absolute path that exists only on the host: the
        // tree's own (missing) file, never the host's.
        for i in 0..40 {
            let target = if i == 39 { host.join("f") } else { PathBuf::from(format!("c{}", i + 1)) };
            symlink(target, r.join(format!("c{i}"))).unwrap();
        }
        assert_eq!(root.read_optional("c0").unwrap(), None);
        assert!(!root.exists("c0"));

        // A loop, and a chain longer than the limit: errors naming the path, nothing written.
        symlink("loop-b", r.join("loop-a")).unwrap();
        symlink("/loop-a", r.join("loop-b")).unwrap();
        let err = format!("{:#}", root.read_optional("loop-a/f").unwrap_err());
        assert!(err.contains("/loop-a/f: more than 255 symbolic links") && err.contains("a loop"), "{err}");
        let err = format!("{:#}", root.write("loop-a/f", b"x", Perms::Keep(0o644)).unwrap_err());
        assert!(err.contains("/loop-a/f"), "{err}");
        assert!(!root.exists("loop-a"));
        for i in 0..=MAX_LINKS {
            symlink(format!("m{}", i + 1), r.join(format!("m{i}"))).unwrap();
        }
        fs::create_dir(r.join(format!("m{}", MAX_LINKS + 1))).unwrap();
        assert!(root.read_optional("m0/f").is_err());
        assert!(root.create_dir_all("m0/d", 0o755).is_err());
        assert!(names(&host).len() == 1, "nothing written on the host");
    }

    #[test]
    fn a_relative_link_climbing_out_is_refused() {
        let (_d, root, host) = tree_and_host();
        let r = root.path().to_path_buf();
        fs::create_dir_all(r.join("etc/ld.so.conf.d")).unwrap();
        symlink("../../../host", r.join("etc/ld.so.conf.d/out")).unwrap();
        let err = format!("{:#}", root.read_optional("etc/ld.so.conf.d/out/f").unwrap_err());
        assert!(err.contains("the symlink /etc/ld.so.conf.d/out -> ../../../host escapes the root"), "{err}");
        let err = format!("{:#}", root.write("etc/ld.so.conf.d/out/x.conf", b"x", Perms::Keep(0o644)).unwrap_err());
        assert!(err.contains("escapes the root"), "{err}");
        assert!(names(&host).is_empty(), "nothing written on the host");
        // `..` that stays inside is fine; a caller's own `..` above the root is not.
        symlink("../ld.so.conf.d", r.join("etc/ld.so.conf.d/self")).unwrap();
        assert!(root.is_dir("etc/ld.so.conf.d/self/self"));
        assert!(root.resolve("../etc").unwrap_err().to_string().contains("climbs above the root"));
    }

    #[test]
    fn an_edit_through_a_symlink_keeps_the_link_mode_owner_and_xattrs() {
        let (_d, root, _host) = tree_and_host();
        let r = root.path().to_path_buf();
        fs::create_dir_all(r.join("etc/default")).unwrap();
        fs::create_dir_all(r.join("usr/share/grub")).unwrap();
        let target = r.join("usr/share/grub/default");
        fs::write(&target, "GRUB_CMDLINE_LINUX=\"quiet\"\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let is_root = nix::unistd::geteuid().is_root();
        if is_root {
            nix::unistd::chown(&target, Some(1234.into()), Some(5678.into())).unwrap();
        }
        let xattr_ok = match xattr::set(&target, "user.npu-setup-test", b"kept") {
            Ok(()) => true,
            Err(e) => {
                println!("note: user xattrs unsupported here ({e}); not checking them");
                false
            }
        };
        symlink("/usr/share/grub/default", r.join("etc/default/grub")).unwrap();
        let before = fs::metadata(&target).unwrap();

        root.write("etc/default/grub", b"GRUB_CMDLINE_LINUX=\"\"\n", Perms::Keep(0o644)).unwrap();
        assert!(fs::symlink_metadata(r.join("etc/default/grub")).unwrap().is_symlink(), "still a link");
        assert_eq!(fs::read_link(r.join("etc/default/grub")).unwrap(), Path::new("/usr/share/grub/default"));
        assert_eq!(fs::read_to_string(&target).unwrap(), "GRUB_CMDLINE_LINUX=\"\"\n");
        let after = fs::metadata(&target).unwrap();
        assert_ne!(before.ino(), after.ino(), "replaced atomically");
        assert_eq!(after.mode() & 0o7777, 0o640);
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
        if is_root {
            assert_eq!((after.uid(), after.gid()), (1234, 5678));
        }
        if xattr_ok {
            assert_eq!(xattr::get(&target, "user.npu-setup-test").unwrap().as_deref(), Some(&b"kept"[..]));
        }
        assert_eq!(names(&r.join("usr/share/grub")), ["default"], "no temporary file left");
        assert_eq!(names(&r.join("etc/default")), ["grub"]);

        // A file we own gets exactly the mode asked for.
        root.write("etc/default/grub", b"x\n", Perms::Set { mode: 0o600, owner: None }).unwrap();
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o600);
        assert!(fs::symlink_metadata(r.join("etc/default/grub")).unwrap().is_symlink());
        // Removing acts on the link, not its target.
        assert!(root.remove_file("etc/default/grub").unwrap());
        assert!(target.is_file());
    }

    #[test]
    fn the_live_root_uses_paths_as_the_os_does() {
        let root = Root::live();
        assert_eq!(root.host_path("etc/os-release").unwrap(), PathBuf::from("/etc/os-release"));
        assert_eq!(root.resolve("../etc").unwrap(), PathBuf::from("etc"));
    }

    /// A FIFO, a socket or a device node where a file belongs is an error naming it, at
    /// once: never opened (a FIFO would block the read forever, a device could act).
    #[test]
    fn only_regular_files_are_read() {
        let (_d, root, _host) = tree_and_host();
        let r = root.path().to_path_buf();
        fs::create_dir_all(r.join("boot/loader/entries")).unwrap();
        let fifo = r.join("boot/loader/entries/fifo.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(r.join("etc/sock")).unwrap();
        symlink("/boot/loader/entries/fifo.conf", r.join("etc/link-to-fifo")).unwrap();
        let started = std::time::Instant::now();
        for (rel, kind) in [
            ("boot/loader/entries/fifo.conf", "a FIFO"),
            ("etc/link-to-fifo", "a FIFO"),
            ("etc/sock", "a socket"),
            ("etc", "a directory"),
        ] {
            let want = format!("/{rel} is {kind}, not a regular file");
            for err in [
                root.read_optional(rel).unwrap_err(),
                root.read_whole_optional(rel).unwrap_err(),
                root.read_prefix_optional(rel, 10).unwrap_err(),
                root.sha256(rel).unwrap_err(),
            ] {
                assert!(format!("{err:#}").contains(&want), "{err:#}");
            }
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "nothing blocked");
        if nix::unistd::geteuid().is_root() {
            // /dev/null's numbers (1, 3): harmless if it were opened, but it must not be.
            let dev = nix::sys::stat::makedev(1, 3);
            nix::sys::stat::mknod(
                &r.join("etc/null"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o666),
                dev,
            )
            .unwrap();
            let err = format!("{:#}", root.read_optional("etc/null").unwrap_err());
            assert!(err.contains("/etc/null is a character device, not a regular file"), "{err}");
            assert_eq!(root.stat("etc/null").unwrap().unwrap().kind, "char", "device nodes are judged by stat");
        }
    }

    /// Over the cap a read is an error naming the file; a whole read has no cap.
    #[test]
    fn a_read_over_the_cap_is_an_error_never_a_prefix() {
        let (_d, root, _host) = tree_and_host();
        let mut big = vec![b'#'; MAX_READ as usize];
        big.extend_from_slice(b"\nGRUB_CMDLINE_LINUX=\"amd_iommu=off\"\n");
        fs::write(root.path().join("etc/big"), &big).unwrap();
        let err = format!("{:#}", root.read_optional("etc/big").unwrap_err());
        assert!(err.contains("/etc/big is larger than 4 MiB"), "{err}");
        assert_eq!(root.read_whole_optional("etc/big").unwrap().unwrap(), big);
        fs::write(root.path().join("etc/exact"), vec![b'x'; MAX_READ as usize]).unwrap();
        assert_eq!(root.read_bytes_optional("etc/exact").unwrap().unwrap().len(), MAX_READ as usize);
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

//! `npu-setup dev capture-fixture`: copies exactly what the probes read from a host into a
//! fixture tree (format: tests/fixtures/hosts/README.md), records the commands they run as
//! recorded runs and their HTTP answers in `.fixture.yaml`, and redacts what identifies the
//! host or its people (`crate::redact`). Recorded commands are data (`commands:` in
//! `.fixture.yaml`, outputs under `.replay/`), never scripts: replaying a capture executes
//! nothing from it. A capture of a fixture round-trips: `doctor` reaches
//! the same verdicts. Replayed kernel logs keep only the lines the kernel-log probe keeps;
//! firmware blobs become placeholders, listed with size and SHA-256 in `.fixture.yaml`.
//!
//! [`capture_into`] is the one capture path; `doctor --bundle` (`commands::bundle`) uses it
//! too. Nothing is ever written under the source root; `dev capture-fixture` assembles the
//! capture in a temporary directory next to `--out` and renames it into place at the end, so
//! an interrupted capture leaves no half-fixture behind.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::host::commands::{FLM_LOCATIONS, SECURE_BOOT_EFIVAR};
use crate::host::memlock::{TRUSTED_DIRS, XRT_DIRS, XRT_LIBS};
use crate::host::services::{LEMONADE_BINARIES, LEMONADE_UNITS};
use crate::host::{Facts, ProbeOptions, probe_all};
use crate::net::http::HttpResult;
use crate::parse::kernel_log::normalize_kernel_log;
use crate::parse::ldconfig::parse_ld_so_conf;
use crate::recipes::Recipes;
use crate::redact::Redactor;
use crate::root::{CommandReplay, FIXTURE_FILE, Root, RootMode};
use crate::runner::{CmdError, CmdOutput, Runner};

/// Largest prefix of a file copied; the probes read no more than this (`Root::read_optional`).
const MAX_COPY: u64 = 4 * 1024 * 1024;

/// Largest firmware file hashed for the listing (NPU firmware is about 1 MiB).
pub const MAX_HASH: u64 = 64 * 1024 * 1024;

/// Firmware blobs carry `Release x.y.z.w` near this offset (amd/xdna-driver#1250); the
/// placeholder keeps it there so the firmware probe reads the same version.
const FW_RELEASE_OFFSET: usize = 0x1d0;

/// How one captured path is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// Text copied with redaction.
    Text,
    /// `etc/passwd`: redacted, and the GECOS (real name) field of regular users emptied.
    Passwd,
    /// A kernel-generated attribute copied byte for byte: ids, versions and flags identify
    /// hardware, not people, and redaction could mistake a firmware version for an address.
    Raw,
    /// Only the lines naming amdxdna: `modules.dep` is megabytes, the probes test its presence.
    Grep,
    /// Presence only (kernel images, modules, libraries, keys): never copied.
    Placeholder,
    /// A firmware blob: a placeholder that keeps its `Release x.y.z.w` string, never the blob.
    Firmware,
    /// An executable the probes look for but never run: a shim that answers 127.
    Stub,
    /// A directory (or file) whose existence is the fact; symlinks are flattened.
    Marker,
    /// A kernel-log file: only the lines the kernel-log probe keeps (see `log_excerpt`).
    KernelLog,
}

/// What the probes read, relative to the root: one row per README row ("What the probes
/// read"). `*` matches within one path component, `**` any depth of real directories,
/// `{kver}` is the running kernel. Symlinks are kept as symlinks whose targets are captured
/// the same way. Paths that depend on other facts (PCI functions, device nodes, XRT library
/// directories, Lemonade environment files, commands) are captured in the functions below.
const FILES: &[(&str, How)] = &[
    // OS
    ("etc/os-release", How::Text),
    ("usr/lib/os-release", How::Text),
    // running kernel
    ("proc/sys/kernel/osrelease", How::Text),
    ("proc/cmdline", How::Text),
    ("proc/modules", How::Text),
    ("proc/meminfo", How::Text),
    ("proc/cpuinfo", How::Text),
    // installed kernels
    ("lib/modules/*/modules.dep", How::Grep),
    ("lib/modules/*/modules.order", How::Grep),
    ("lib/modules/*/modules.builtin", How::Text),
    ("lib/modules/*/vmlinuz", How::Placeholder),
    ("lib/modules/*/kernel", How::Marker),
    ("lib/modules/*/build", How::Placeholder),
    // amdxdna module files
    ("lib/modules/*/kernel/drivers/accel/amdxdna/amdxdna.ko*", How::Placeholder),
    ("lib/modules/*/updates/**/amdxdna.ko*", How::Placeholder),
    ("lib/modules/*/extra/**/amdxdna.ko*", How::Placeholder),
    ("lib/modules/*/weak-updates/**/amdxdna.ko*", How::Placeholder),
    // loaded module
    ("sys/module/amdxdna", How::Marker),
    ("sys/module/amdxdna/version", How::Raw),
    ("sys/module/amdxdna/srcversion", How::Raw),
    ("sys/module/amdxdna/taint", How::Raw),
    // IOMMU (PCI functions, groups, accel and render links: see `capture_sysfs`)
    ("sys/class/iommu/*", How::Marker),
    // firmware, in the kernel's search order
    ("lib/firmware/updates/{kver}/amdnpu/**", How::Firmware),
    ("lib/firmware/updates/amdnpu/**", How::Firmware),
    ("lib/firmware/{kver}/amdnpu/**", How::Firmware),
    ("lib/firmware/amdnpu/**", How::Firmware),
    // Secure Boot
    (SECURE_BOOT_EFIVAR, How::Raw),
    ("sys/firmware/efi", How::Marker),
    // boot config
    ("boot/loader/entries/*.conf", How::Text),
    ("efi/loader/entries/*.conf", How::Text),
    ("boot/efi/loader/entries/*.conf", How::Text),
    ("boot/grub2/grubenv", How::Text),
    ("boot/efi/EFI/fedora/grubenv", How::Text),
    ("boot/grub/grubenv", How::Text),
    ("boot/grub/grub.cfg", How::Text),
    ("boot/grub2/grub.cfg", How::Text),
    ("etc/default/grub", How::Text),
    ("etc/default/grub.d/*.cfg", How::Text),
    ("etc/kernel/cmdline", How::Text),
    // users
    ("etc/passwd", How::Passwd),
    ("etc/group", How::Text),
    // memlock
    ("etc/security/limits.conf", How::Text),
    ("etc/security/limits.d/*.conf", How::Text),
    ("etc/systemd/system/user@.service.d/*.conf", How::Text),
    ("usr/lib/systemd/system/user@.service.d/*.conf", How::Text),
    ("etc/systemd/system.conf", How::Text),
    ("etc/systemd/system.conf.d/*", How::Text),
    // loader (ld.so.conf includes and XRT libraries: see `capture_loader`)
    ("opt/xilinx/xrt", How::Marker),
    ("opt/xilinx/xrt/bin/xrt-smi", How::Stub),
    ("usr/bin/xrt-smi", How::Stub),
    // FastFlowLM (replaced by a replay shim when the probes ran it)
    ("opt/fastflowlm/bin/flm", How::Stub),
    ("usr/bin/flm", How::Stub),
    ("opt/flm/bin/flm", How::Stub),
    ("usr/local/bin/flm", How::Stub),
    // Lemonade (binaries and units: see `capture_lemonade`)
    ("etc/lemonade/*.conf", How::Text),
    ("etc/lemonade/conf.d/*.conf", How::Text),
    ("etc/default/lemond", How::Text),
    // DKMS
    ("var/lib/dkms/mok.pub", How::Placeholder),
    // package repositories (which routes the host can install from)
    ("etc/yum.repos.d/*.repo", How::Text),
    ("etc/apt/sources.list", How::Text),
    ("etc/apt/sources.list.d/*.list", How::Text),
    ("etc/apt/sources.list.d/*.sources", How::Text),
    ("etc/pacman.conf", How::Text),
    ("etc/pacman.d/mirrorlist", How::Text),
    // npu-setup's install state (the GPU endpoint it was given); units: see `capture_units`
    ("var/lib/npu-setup/state.json", How::Text),
    // not read by the probes, captured for bug reports: npu-setup's kernel-install plugins
    ("etc/kernel/install.d/*npu-setup*", How::Text),
    ("usr/lib/kernel/install.d/*npu-setup*", How::Text),
    ("etc/kernel/postinst.d/*npu-setup*", How::Text),
];

/// npu-setup's own units (`npu-setup-boot.service`, `npu-setup-firstboot.service`).
const NPU_SETUP_UNITS: &str = "npu-setup*.service";

/// Commands whose output is a kernel log (`host::commands::probe_kernel_log`).
const KERNEL_LOG_COMMANDS: &[&str] = &["journalctl", "dmesg"];

/// What a capture is for, and for whom.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureOptions<'a> {
    /// The target user (`--user`): whose access the fixture models; redacted like any user.
    pub user: Option<&'a str>,
    /// What made the capture, for `.fixture.yaml`'s description.
    pub made_by: &'a str,
}

/// What a capture wrote, for the caller's summary and the bundle's manifest.
#[derive(Debug)]
pub struct Captured {
    /// The redactor that redacted the capture. Anything stored next to the capture must go
    /// through it too, so its replacements agree with the capture's (`user1` is the same user).
    pub redactor: Redactor,
    /// The source root.
    pub source: PathBuf,
    /// Live, fixture or offline source.
    pub mode: RootMode,
    /// Paths written.
    pub written: usize,
    /// Command shims written.
    pub shims: usize,
    /// Source paths that could not be read.
    pub skipped: Vec<Skipped>,
    /// The firmware files under the source's `amdnpu` directories (the capture keeps only
    /// placeholders).
    pub firmware: Vec<FirmwareFile>,
}

impl Captured {
    /// The one-line summary both commands print, then the skipped paths.
    pub fn describe(&self, into: &Path) -> String {
        let mut s = format!(
            "captured {} ({} root) into {}: {} paths, {} command shims, {} skipped",
            self.redactor.text(&self.source.display().to_string()),
            mode_name(self.mode),
            into.display(),
            self.written,
            self.shims,
            self.skipped.len()
        );
        for k in &self.skipped {
            s.push_str(&format!("\n  skipped {}: {}", k.path, k.reason));
        }
        s
    }
}

/// Captures the host under `--root` into `out` (`dev capture-fixture`): the capture is
/// assembled in a temporary directory next to `out` and renamed into place at the end.
pub fn capture(runner: &Runner, recipes: &Recipes, out: &Path, user: Option<&str>) -> Result<()> {
    refuse_non_empty(out)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".npu-setup-capture-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let opts = CaptureOptions { user, made_by: "captured by `npu-setup dev capture-fixture`" };
    let captured = capture_into(runner, recipes, tmp.path(), &opts)?;

    // tempdir() creates 0700; a fixture is an ordinary tree.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting permissions on {}", tmp.path().display()))?;
    refuse_non_empty(out)?;
    let kept = tmp.keep();
    if let Err(e) = fs::rename(&kept, out) {
        let _ = fs::remove_dir_all(&kept);
        return Err(e).with_context(|| format!("moving the capture into {}", out.display()));
    }
    eprintln!("{}", captured.describe(out));
    Ok(())
}

/// Probes the host under `--root` and writes the fixture tree into `dest` (created if
/// absent; expected empty): the one capture path `dev capture-fixture` and `doctor --bundle`
/// share. Nothing is written under the source root. `runner` should be fresh: every command
/// it has run becomes a replay shim.
pub fn capture_into(runner: &Runner, recipes: &Recipes, dest: &Path, opts: &CaptureOptions) -> Result<Captured> {
    let root = runner.root().clone();
    let user = opts.user.map(str::to_string);
    let facts = probe_all(runner, recipes, &ProbeOptions { user: user.clone(), ..Default::default() });
    let records = runner.records();
    let target_user = facts.users.ok().map(|u| u.name.clone()).or(user);
    let red = Redactor::new(&crate::host::identity::identifiers(&root, target_user.as_deref()));

    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut cap = Capture::new(&root, &red, dest.to_path_buf());
    if let Some(log) = facts.kernel_log.ok() {
        cap.log_keep = log.kept_lines().cloned().collect();
    }

    let kver = facts.kernel.ok().and_then(|k| k.running.clone());
    for (pattern, how) in FILES {
        if pattern.contains("{kver}") {
            match &kver {
                Some(k) => cap.pattern(&pattern.replace("{kver}", k), *how)?,
                None => continue,
            }
        } else {
            cap.pattern(pattern, *how)?;
        }
    }
    cap.capture_sysfs()?;
    cap.capture_loader()?;
    cap.capture_units(&facts)?;
    cap.capture_kernel_log_files(&facts)?;
    let nodes = cap.capture_nodes()?;
    let shims = cap.capture_commands(runner, &records)?;
    let http = http_replays(&facts, &red);
    cap.firmware.sort_by(|a, b| a.path.cmp(&b.path));

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let meta = MetaOut {
        description: format!("{} from a {} root on {}", opts.made_by, mode_name(root.mode()), date(now)),
        user: target_user.map(|u| red.text(&u)),
        nodes,
        http,
        commands: std::mem::take(&mut cap.commands),
        captured: CapturedOut {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            date: timestamp(now),
            source_root_mode: root.mode(),
            skipped: cap.skipped.clone(),
            firmware: cap.firmware.clone(),
        },
    };
    let yaml = serde_yaml::to_string(&meta).context("serialising .fixture.yaml")?;
    let meta_path = dest.join(FIXTURE_FILE);
    fs::write(&meta_path, yaml).with_context(|| format!("writing {}", meta_path.display()))?;
    let (written, skipped, firmware) = (cap.written + 1, cap.skipped, cap.firmware);
    Ok(Captured {
        redactor: red,
        source: root.path().to_path_buf(),
        mode: root.mode(),
        written,
        shims,
        skipped,
        firmware,
    })
}

/// A capture never merges into existing data: `--out` must be absent or an empty directory.
fn refuse_non_empty(out: &Path) -> Result<()> {
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("checking --out {}", out.display())),
        Ok(m) if !m.is_dir() => bail!("refusing to capture into {}: it exists and is not a directory", out.display()),
        Ok(_) => {
            let mut rd = fs::read_dir(out).with_context(|| format!("listing --out {}", out.display()))?;
            if rd.next().is_some() {
                bail!("refusing to capture into {}: the directory is not empty", out.display());
            }
            Ok(())
        }
    }
}

fn mode_name(m: RootMode) -> &'static str {
    match m {
        RootMode::Live => "live",
        RootMode::Fixture => "fixture",
        RootMode::Offline => "offline",
    }
}

/// One path left out of the capture, and why (both redacted).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The source path, as the host shows it.
    pub path: String,
    /// Why it could not be captured.
    pub reason: String,
}

/// One file (or symlink) under a source `amdnpu` firmware directory. The capture keeps a
/// placeholder with the version string; this keeps what identifies the real blob.
#[derive(Debug, Clone, Serialize)]
pub struct FirmwareFile {
    /// The source path, as the host shows it.
    pub path: String,
    /// Size in bytes (regular files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the whole file (regular files up to [`MAX_HASH`] bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The link target (symlinks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `.fixture.yaml` as written (fields in the README's order; no `expect:`, a maintainer adds it).
#[derive(Debug, Serialize)]
struct MetaOut {
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    nodes: BTreeMap<String, NodeOut>,
    http: BTreeMap<String, HttpOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    commands: Vec<CommandReplay>,
    captured: CapturedOut,
}

#[derive(Debug, Serialize)]
struct NodeOut {
    kind: String,
    mode: String,
    uid: u32,
    gid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    major: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minor: Option<u32>,
}

#[derive(Debug, Serialize)]
struct HttpOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct CapturedOut {
    tool_version: String,
    date: String,
    source_root_mode: RootMode,
    skipped: Vec<Skipped>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    firmware: Vec<FirmwareFile>,
}

/// The capture being assembled in a temporary directory.
struct Capture<'a> {
    root: &'a Root,
    red: &'a Redactor,
    dest: PathBuf,
    /// Source paths already handled (symlink chains and overlapping patterns meet here).
    done: BTreeSet<String>,
    skipped: Vec<Skipped>,
    written: usize,
    /// The kernel-log lines (normalised) the probe kept; replayed logs keep only these.
    log_keep: BTreeSet<String>,
    /// The recorded command runs, for `.fixture.yaml` `commands:`.
    commands: Vec<CommandReplay>,
    firmware: Vec<FirmwareFile>,
}

impl<'a> Capture<'a> {
    fn new(root: &'a Root, red: &'a Redactor, dest: PathBuf) -> Self {
        Capture {
            root,
            red,
            dest,
            done: BTreeSet::new(),
            skipped: Vec::new(),
            written: 0,
            log_keep: BTreeSet::new(),
            firmware: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// Unreadable source paths are listed, never fatal: a capture of a locked-down host is
    /// still useful, and the list tells the maintainer what is missing. Paths and reasons
    /// are redacted: they end up in `.fixture.yaml` (a home directory names its user).
    fn skip(&mut self, rel: &str, reason: impl Display) {
        let (path, reason) = (self.red.text(&Root::display(rel)), self.red.text(&reason.to_string()));
        self.skipped.push(Skipped { path, reason });
    }

    /// Where a source path lands: path names are redacted like contents (BLS entry names
    /// carry the machine id), with the same function, so links and references agree.
    fn out_path(&self, rel: &str) -> PathBuf {
        self.dest.join(self.red.text(rel))
    }

    fn write(&mut self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let p = self.out_path(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
        fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting permissions on {}", p.display()))?;
        self.written += 1;
        Ok(())
    }

    fn link(&mut self, rel: &str, target: &str) -> Result<()> {
        let p = self.out_path(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        if fs::symlink_metadata(&p).is_ok() {
            return Ok(());
        }
        symlink(target, &p).with_context(|| format!("creating symlink {} -> {target}", p.display()))?;
        self.written += 1;
        Ok(())
    }

    /// A directory that must exist (git keeps it through the `.keep`).
    fn marker(&mut self, rel: &str) -> Result<()> {
        let p = self.out_path(rel);
        if fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) {
            return Ok(());
        }
        fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        let keep = p.join(".keep");
        if !keep.exists() {
            fs::write(&keep, b"").with_context(|| format!("writing {}", keep.display()))?;
            self.written += 1;
        }
        Ok(())
    }

    /// Captures every path a pattern matches.
    fn pattern(&mut self, pattern: &str, how: How) -> Result<()> {
        for rel in self.expand(pattern) {
            self.path(&rel, how)?;
        }
        Ok(())
    }

    /// Expands `*` (within a component) and `**` (real directories at any depth) under the
    /// root; keeps paths that exist or are symlinks (dangling links are facts too).
    fn expand(&mut self, pattern: &str) -> Vec<String> {
        let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        let mut current = vec![String::new()];
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let mut next = Vec::new();
            for prefix in &current {
                if *comp == "**" {
                    next.extend(self.walk(prefix, last));
                } else if comp.contains('*') {
                    for name in self.list(prefix) {
                        if glob_match(comp, &name) {
                            next.push(join_rel(prefix, &name));
                        }
                    }
                } else {
                    next.push(join_rel(prefix, comp));
                }
            }
            current = next;
        }
        current.retain(|p| self.is_link(p) || self.root.exists(p));
        current
    }

    fn list(&mut self, rel: &str) -> Vec<String> {
        match self.root.list_dir(rel) {
            Ok(v) => v,
            Err(e) => {
                self.skip(rel, format!("{e:#}"));
                Vec::new()
            }
        }
    }

    fn is_link(&self, rel: &str) -> bool {
        self.root.read_link_optional(rel).ok().flatten().is_some()
    }

    /// `**`: the directory and every real directory below it (symlinked directories are not
    /// entered, as in the module probe); as the last component, every non-directory below.
    fn walk(&mut self, base: &str, files: bool) -> Vec<String> {
        let mut dirs = Vec::new();
        let mut leaves = Vec::new();
        let mut stack = vec![base.to_string()];
        // Bounded like the probes: sysroots can be large.
        while let Some(dir) = stack.pop() {
            if dirs.len() > 5000 {
                self.skip(base, "more than 5000 directories; the rest is not captured");
                break;
            }
            if !self.root.is_dir(&dir) {
                continue;
            }
            dirs.push(dir.clone());
            for name in self.list(&dir) {
                let rel = join_rel(&dir, &name);
                if !self.is_link(&rel) && self.root.is_dir(&rel) {
                    stack.push(rel);
                } else {
                    leaves.push(rel);
                }
            }
        }
        if files { leaves } else { dirs }
    }

    /// Captures one path: symlinks as symlinks (their targets captured the same way), files
    /// according to `how`, directories as markers.
    fn path(&mut self, rel: &str, how: How) -> Result<()> {
        if !self.done.insert(rel.to_string()) {
            return Ok(());
        }
        self.ancestor_links(rel)?;
        if how == How::Marker {
            if self.root.is_dir(rel) {
                return self.marker(rel);
            }
            return if self.root.exists(rel) { self.write(rel, b"", 0o644) } else { Ok(()) };
        }
        match self.root.read_link_optional(rel) {
            Ok(Some(target)) => return self.symlink(rel, &target, how),
            Ok(None) => {}
            Err(e) => {
                self.skip(rel, format!("{e:#}"));
                return Ok(());
            }
        }
        if self.root.is_dir(rel) {
            return self.marker(rel);
        }
        if !self.root.exists(rel) {
            return Ok(());
        }
        match how {
            How::Placeholder => self.write(rel, b"placeholder\n", 0o644),
            How::Stub => {
                let name = rel.rsplit('/').next().unwrap_or(rel);
                self.write(rel, stub_shim(name).as_bytes(), 0o755)
            }
            How::Firmware => {
                // The blob is read to be listed (size, hash); only its version string is
                // written.
                let blob = match self.root.read_prefix_optional(rel, MAX_HASH + 1) {
                    Ok(Some(b)) => b,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        self.skip(rel, format!("{e:#}"));
                        return Ok(());
                    }
                };
                let whole = blob.len() as u64 <= MAX_HASH;
                self.firmware.push(FirmwareFile {
                    path: self.red.text(&Root::display(rel)),
                    size: whole.then_some(blob.len() as u64),
                    sha256: whole.then(|| crate::fsx::sha256(&blob)),
                    link: None,
                });
                self.write(rel, &firmware_placeholder(&blob), 0o644)
            }
            How::Text | How::Passwd | How::Raw | How::Grep | How::KernelLog | How::Marker => {
                let bytes = match self.root.read_prefix_optional(rel, MAX_COPY) {
                    Ok(Some(b)) => b,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        self.skip(rel, format!("{e:#}"));
                        return Ok(());
                    }
                };
                let out = match how {
                    How::Raw => bytes,
                    How::Grep => {
                        let text = String::from_utf8_lossy(&bytes);
                        let kept: String =
                            text.lines().filter(|l| l.contains("amdxdna")).map(|l| format!("{l}\n")).collect();
                        self.red.text(&kept).into_bytes()
                    }
                    How::Passwd => self.red.passwd(&String::from_utf8_lossy(&bytes)).into_bytes(),
                    How::KernelLog => self.red.text(&self.log_excerpt(&String::from_utf8_lossy(&bytes))).into_bytes(),
                    _ => self.red.text(&String::from_utf8_lossy(&bytes)).into_bytes(),
                };
                self.write(rel, &out, 0o644)
            }
        }
    }

    /// Symlinked directories on the way to a path (`lib -> usr/lib` on merged-/usr hosts,
    /// XRT's `lib -> lib64`) are kept as symlinks, so the capture has the source's shape and
    /// files reached through them land where the source has them.
    fn ancestor_links(&mut self, rel: &str) -> Result<()> {
        let comps: Vec<&str> = rel.split('/').collect();
        for i in 1..comps.len() {
            let prefix = comps[..i].join("/");
            if self.done.contains(&prefix) {
                continue;
            }
            if let Ok(Some(target)) = self.root.read_link_optional(&prefix) {
                self.done.insert(prefix.clone());
                self.symlink(&prefix, &target, How::Marker)?;
            }
        }
        Ok(())
    }

    /// Keeps a symlink as a symlink that resolves inside the capture: a plain relative target
    /// (`npu.sbin.1.1.2.65.xz`, `lib64`) is kept verbatim; absolute targets and targets that
    /// climb (`/usr/src/kernels/…`, `../usr/lib/os-release`) are resolved inside the root and
    /// rewritten relative to the link, since the source's own directories may be symlinks
    /// (merged /usr) that the capture flattens.
    fn symlink(&mut self, rel: &str, target: &Path, how: How) -> Result<()> {
        let parent = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let plain = target.is_relative() && target.components().all(|c| matches!(c, Component::Normal(_)));
        let (text, next) = if plain {
            let t = target.to_string_lossy().into_owned();
            let next = join_rel(parent, &t);
            (t, next)
        } else {
            match self.root.resolve(rel) {
                Ok(p) => {
                    let t = p.to_string_lossy().into_owned();
                    // Climb from where the link really sits: its directory may itself be
                    // reached through a symlinked ancestor (kept as a symlink above).
                    let from = self.root.resolve(parent).ok().map(|d| d.to_string_lossy().into_owned());
                    (relative_from(from.as_deref().unwrap_or(parent), &t), t)
                }
                Err(e) => {
                    // A loop, or a link that leaves the root.
                    self.skip(rel, format!("{e:#}"));
                    return Ok(());
                }
            }
        };
        let text = self.red.text(&text);
        if how == How::Firmware {
            let path = self.red.text(&Root::display(rel));
            self.firmware.push(FirmwareFile { path, size: None, sha256: None, link: Some(text.clone()) });
        }
        self.link(rel, &text)?;
        if next != rel && !next.is_empty() { self.path(&next, how) } else { Ok(()) }
    }

    /// PCI functions, their driver and IOMMU-group links, IOMMU group types, and the accel
    /// and render `device` links, rewritten so every link resolves inside the capture.
    /// vendor/device/class are kept for every function (the probe reads them to pick NPUs and
    /// GPUs, and reports how many it scanned); the rest only for AMD functions.
    fn capture_sysfs(&mut self) -> Result<()> {
        let devices = "sys/bus/pci/devices";
        for bdf in self.list(devices) {
            let base = format!("{devices}/{bdf}");
            for attr in ["vendor", "device", "class"] {
                self.attribute(&format!("{base}/{attr}"))?;
            }
            let vendor = self.root.read_trimmed(format!("{base}/vendor")).ok().flatten().unwrap_or_default();
            if !matches!(vendor.to_lowercase().trim_start_matches("0x"), "1022" | "1002") {
                continue;
            }
            for attr in ["revision", "fw_version", "vbnv"] {
                self.attribute(&format!("{base}/{attr}"))?;
            }
            match self.root.link_basename(format!("{base}/driver")) {
                Ok(Some(driver)) => {
                    self.link(&format!("{base}/driver"), &format!("../../../../bus/pci/drivers/{driver}"))?;
                    self.marker(&format!("sys/bus/pci/drivers/{driver}"))?;
                }
                Ok(None) => {}
                Err(e) => self.skip(&format!("{base}/driver"), format!("{e:#}")),
            }
            match self.root.link_basename(format!("{base}/iommu_group")) {
                Ok(Some(group)) => {
                    self.link(&format!("{base}/iommu_group"), &format!("../../../../kernel/iommu_groups/{group}"))?;
                    let src = format!("{base}/iommu_group/type");
                    let dst = format!("sys/kernel/iommu_groups/{group}/type");
                    match self.root.read_prefix_optional(&src, 4096) {
                        Ok(Some(b)) => self.write(&dst, &b, 0o644)?,
                        Ok(None) => self.marker(&format!("sys/kernel/iommu_groups/{group}"))?,
                        Err(e) => self.skip(&src, format!("{e:#}")),
                    }
                }
                Ok(None) => {}
                Err(e) => self.skip(&format!("{base}/iommu_group"), format!("{e:#}")),
            }
        }
        for class in ["sys/class/accel", "sys/class/drm"] {
            for name in self.list(class) {
                if class.ends_with("drm") && !name.starts_with("renderD") {
                    continue;
                }
                let rel = format!("{class}/{name}/device");
                match self.root.link_basename(&rel) {
                    Ok(Some(bdf)) => self.link(&rel, &format!("../../../bus/pci/devices/{bdf}"))?,
                    Ok(None) => self.marker(&format!("{class}/{name}"))?,
                    Err(e) => self.skip(&rel, format!("{e:#}")),
                }
            }
        }
        Ok(())
    }

    fn attribute(&mut self, rel: &str) -> Result<()> {
        if !self.done.insert(rel.to_string()) {
            return Ok(());
        }
        match self.root.read_prefix_optional(rel, 4096) {
            Ok(Some(b)) => self.write(rel, &b, 0o644),
            Ok(None) => Ok(()),
            Err(e) => {
                self.skip(rel, format!("{e:#}"));
                Ok(())
            }
        }
    }

    /// ld.so.conf and the files it includes (as the loader probe follows them), then the XRT
    /// libraries wherever the probe looks for them (configured, trusted and XRT directories).
    fn capture_loader(&mut self) -> Result<()> {
        let mut queue = vec!["etc/ld.so.conf".to_string()];
        let mut dirs: Vec<String> = Vec::new();
        let mut seen = 0;
        while let Some(rel) = queue.pop() {
            seen += 1;
            if seen > 200 {
                break;
            }
            self.path(&rel, How::Text)?;
            let Ok(Some(text)) = self.root.read_optional(&rel) else { continue };
            let (conf_dirs, includes) = parse_ld_so_conf(&text);
            dirs.extend(conf_dirs.iter().map(|d| d.trim_start_matches('/').to_string()));
            let here = rel.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
            for inc in includes {
                let inc =
                    if inc.starts_with('/') { inc.trim_start_matches('/').to_string() } else { join_rel(&here, &inc) };
                let mut found = self.expand(&inc);
                found.sort();
                queue.extend(found.into_iter().rev());
            }
        }
        dirs.extend(TRUSTED_DIRS.iter().chain(XRT_DIRS).map(|d| d.to_string()));
        for dir in dirs {
            for lib in XRT_LIBS {
                let rel = join_rel(&dir, lib);
                if self.is_link(&rel) || self.root.exists(&rel) {
                    self.path(&rel, How::Placeholder)?;
                }
            }
        }
        Ok(())
    }

    /// Lemonade binaries (stubs), unit files, their drop-ins, and the EnvironmentFile= files
    /// the units name (globs included), all redacted: these hold `LEMONADE_API_KEY`. Then
    /// npu-setup's own units and drop-ins (`npu-setup-boot.service`…), which the probes do
    /// not read but a bug report needs.
    fn capture_units(&mut self, facts: &Facts) -> Result<()> {
        for bin in LEMONADE_BINARIES {
            self.pattern(bin, How::Stub)?;
        }
        for dir in crate::host::services::UNIT_DIRS {
            for unit in LEMONADE_UNITS.iter().chain(&[NPU_SETUP_UNITS]) {
                self.pattern(&format!("{dir}/{unit}"), How::Text)?;
                self.pattern(&format!("{dir}/{unit}.d/*.conf"), How::Text)?;
            }
        }
        // The links that start Lemonade's per-user unit in every login session (with the
        // unit they lead to); users' own links live in their homes and are not copied.
        for dir in crate::host::services::GLOBAL_USER_WANTS {
            for unit in LEMONADE_UNITS {
                self.pattern(&format!("{dir}/{unit}"), How::Text)?;
            }
        }
        if let Some(l) = facts.lemonade.ok() {
            for unit in &l.units {
                for (path, _) in &unit.environment_files {
                    self.pattern(path.trim_start_matches('/'), How::Text)?;
                }
                self.capture_lemonade_dirs(unit)?;
            }
        }
        Ok(())
    }

    /// What the probes read in Lemonade's directories: of config.json only its `flm` section
    /// (the rest can hold cloud provider keys), its own flm (a stub) and version.txt, and the
    /// flm an `npu_bin` names (a stub).
    fn capture_lemonade_dirs(&mut self, unit: &crate::host::services::UnitFacts) -> Result<()> {
        for d in &unit.dirs {
            if let Some(c) = &d.config {
                let rel = c.path.trim_start_matches('/');
                let full: Option<serde_json::Value> =
                    self.root.read_optional(rel).ok().flatten().and_then(|t| serde_json::from_str(&t).ok());
                match full {
                    Some(v) => {
                        let kept = serde_json::json!({ "flm": v.get("flm").cloned().unwrap_or_default() });
                        let text = serde_json::to_string_pretty(&kept).unwrap_or_default() + "\n";
                        self.write(rel, text.as_bytes(), 0o644)?;
                    }
                    None => self.skip(rel, "not JSON: left out (the probe reports it unreadable)"),
                }
            }
            if let Some(o) = &d.own_flm {
                let bin = o.binary.trim_start_matches('/');
                self.pattern(bin, How::Stub)?;
                if let Some((dir, _)) = bin.rsplit_once('/') {
                    self.pattern(&format!("{dir}/version.txt"), How::Text)?;
                }
            }
        }
        for (p, present) in &unit.npu_bin_paths {
            if *present {
                self.pattern(p.trim_start_matches('/'), How::Stub)?;
            }
        }
        Ok(())
    }

    /// The kernel-log files the probe falls back to, only when it did fall back (when
    /// `journalctl`/`dmesg` answered, their output is in the shims instead).
    fn capture_kernel_log_files(&mut self, facts: &Facts) -> Result<()> {
        if facts.kernel_log.ok().is_some_and(|l| l.source.starts_with('/')) {
            self.pattern("var/log/kern.log", How::KernelLog)?;
            self.pattern("var/log/dmesg", How::KernelLog)?;
        }
        Ok(())
    }

    /// Only the kernel-log lines the probe kept (it keeps lines naming amdxdna, amdnpu, the
    /// IOMMU, lockdown or module signing; `host::commands`): the rest of a kernel log does
    /// not change a verdict and is full of serials, network and USB details. A trailer line
    /// (matching no keyword) counts what was left out and keeps a log that had no relevant
    /// line non-empty, as the probe saw it.
    fn log_excerpt(&self, text: &str) -> String {
        let mut out = String::new();
        let mut dropped = 0;
        for line in text.lines() {
            match normalize_kernel_log(line).first() {
                Some(m) if self.log_keep.contains(m) => {
                    out.push_str(line);
                    out.push('\n');
                }
                Some(_) => dropped += 1,
                None => {}
            }
        }
        if dropped > 0 {
            out.push_str(&format!("npu-setup capture: {dropped} other kernel-log lines left out\n"));
        }
        out
    }

    /// Device nodes: git cannot store them, so each becomes an empty placeholder file plus a
    /// `nodes:` entry with the real stat data (or the source fixture's own entry).
    fn capture_nodes(&mut self) -> Result<BTreeMap<String, NodeOut>> {
        let mut rels: BTreeSet<String> = BTreeSet::new();
        for n in self.list("dev/accel") {
            rels.insert(format!("dev/accel/{n}"));
        }
        for n in self.list("dev/dri") {
            if n.starts_with("renderD") {
                rels.insert(format!("dev/dri/{n}"));
            }
        }
        if let Some(f) = self.root.fixture() {
            for key in f.nodes.keys() {
                if key.starts_with("dev/accel/") || key.starts_with("dev/dri/renderD") {
                    rels.insert(key.clone());
                }
            }
        }
        let mut nodes = BTreeMap::new();
        for rel in rels {
            let meta = self.root.fixture().and_then(|f| f.nodes.get(&rel)).cloned();
            let node = match meta {
                Some(m) => {
                    NodeOut { kind: m.kind, mode: m.mode, uid: m.uid, gid: m.gid, major: m.major, minor: m.minor }
                }
                None => match self.root.host_path(&rel).and_then(|p| Ok(fs::metadata(p)?)) {
                    Ok(m) => {
                        let kind = match self.root.stat(&rel) {
                            Ok(Some(s)) => s.kind,
                            _ => "file".to_string(),
                        };
                        let dev = (kind == "char" || kind == "block").then(|| m.rdev());
                        NodeOut {
                            mode: format!("{:04o}", m.mode() & 0o7777),
                            uid: m.uid(),
                            gid: m.gid(),
                            major: dev.map(dev_major),
                            minor: dev.map(dev_minor),
                            kind,
                        }
                    }
                    Err(e) => {
                        self.skip(&rel, format!("stat: {e}"));
                        continue;
                    }
                },
            };
            if !self.root.exists(&rel) && self.root.fixture().is_some() {
                // Declared only in the source fixture's metadata: keep it that way.
            } else {
                self.write(&rel, b"", 0o644)?;
            }
            nodes.insert(self.red.text(&rel), node);
        }
        Ok(nodes)
    }

    /// Re-runs every command the probes ran (the runner's log has argv and exit code but not
    /// the output) and writes one replay shim per program. Programs the source lacks are not
    /// shimmed: absent means not installed.
    fn capture_commands(&mut self, runner: &Runner, records: &[crate::runner::CmdRecord]) -> Result<usize> {
        let root_path = self.root.path().to_path_buf();
        let mode = self.root.mode();
        let mut seen = BTreeSet::new();
        let mut jobs: Vec<Job> = Vec::new();
        for rec in records {
            if rec.error.as_deref().is_some_and(|e| e.ends_with(": command not found")) {
                continue;
            }
            let Some(argv) = split_quoted(&rec.argv) else {
                self.skip(&rec.argv, "could not parse the recorded command line");
                continue;
            };
            let Some((argv0, args)) = argv.split_first() else { continue };
            if !seen.insert(argv.clone()) {
                continue;
            }
            let name = argv0.rsplit('/').next().unwrap_or(argv0).to_string();
            let under_root = Path::new(argv0).strip_prefix(&root_path).ok().map(|p| p.to_string_lossy().into_owned());
            // Run it again exactly as the probe did: the same file under the root (on an
            // offline root the probes use the host's tools, found by name).
            let program = match (&under_root, mode) {
                (Some(rel), RootMode::Live | RootMode::Fixture) => format!("/{rel}"),
                _ => name.clone(),
            };
            // flm is looked up at fixed locations (FLM_LOCATIONS), not on the search path.
            let shim = if name == "flm" {
                under_root
                    .filter(|r| FLM_LOCATIONS.contains(&r.as_str()))
                    .unwrap_or_else(|| "usr/local/bin/flm".to_string())
            } else {
                format!("bin/{name}")
            };
            let key_args = if mode == RootMode::Offline { strip_root_args(args, &root_path) } else { args.to_vec() };
            jobs.push(Job { name, program, args: args.to_vec(), key: key_args.join(" "), shim });
        }
        // Concurrently, like the probes: the slowest command bounds the capture.
        let results: Vec<(usize, Result<CmdOutput, CmdError>)> = std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .iter()
                .enumerate()
                .map(|(i, j)| {
                    s.spawn(move || {
                        let args: Vec<&str> = j.args.iter().map(String::as_str).collect();
                        (i, runner.run(&j.program, &args))
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let mut by_shim: BTreeMap<String, (String, Vec<Arm>)> = BTreeMap::new();
        for (i, result) in results {
            let j = &jobs[i];
            let reply = match result {
                Ok(o) => {
                    let stdout = if KERNEL_LOG_COMMANDS.contains(&j.name.as_str()) {
                        self.log_excerpt(&o.stdout)
                    } else {
                        o.stdout
                    };
                    Reply::Output { stdout: self.red.text(&stdout), stderr: self.red.text(&o.stderr), code: o.code }
                }
                Err(CmdError::NotFound { .. }) => continue,
                Err(CmdError::Timeout { .. }) => Reply::Timeout,
                Err(e) => {
                    self.skip(&j.program, e.to_string());
                    continue;
                }
            };
            let entry = by_shim.entry(j.shim.clone()).or_insert_with(|| (j.name.clone(), Vec::new()));
            entry.1.push(Arm { key: self.red.text(&j.key), reply });
        }
        let count = by_shim.len();
        for (shim, (name, arms)) in by_shim {
            let entries = self.write_replay(&shim, &name, arms)?;
            self.commands.extend(entries);
        }
        Ok(count)
    }

    /// Writes a command's recorded runs as data: the outputs under `.replay/<name>/` next to
    /// where the program is found, one `commands:` entry per run (for `.fixture.yaml`), and
    /// at the program's path a placeholder that is never run (its presence says installed;
    /// the runner answers from the data).
    fn write_replay(&mut self, shim: &str, name: &str, mut arms: Vec<Arm>) -> Result<Vec<CommandReplay>> {
        arms.sort_by(|a, b| b.key.len().cmp(&a.key.len()).then_with(|| a.key.cmp(&b.key)));
        arms.dedup_by(|a, b| a.key == b.key);
        let dir = shim.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let replay = join_rel(dir, &format!(".replay/{name}"));
        let mut entries = Vec::new();
        for (n, arm) in arms.iter().enumerate() {
            let entry = match &arm.reply {
                Reply::Output { stdout, stderr, code } => {
                    let (out, err) = (format!("{replay}/{}.out", n + 1), format!("{replay}/{}.err", n + 1));
                    self.write_plain(&out, stdout.as_bytes(), 0o644)?;
                    self.write_plain(&err, stderr.as_bytes(), 0o644)?;
                    CommandReplay {
                        program: shim.to_string(),
                        args: arm.key.clone(),
                        exit: *code,
                        stdout: Some(out),
                        stderr: Some(err),
                        timeout: false,
                    }
                }
                Reply::Timeout => CommandReplay {
                    program: shim.to_string(),
                    args: arm.key.clone(),
                    exit: None,
                    stdout: None,
                    stderr: None,
                    timeout: true,
                },
            };
            entries.push(entry);
        }
        self.write_plain(shim, replay_placeholder(name).as_bytes(), 0o755)?;
        Ok(entries)
    }

    /// Writes a file the capture generated (already redacted; the path is not a source path).
    fn write_plain(&mut self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let p = self.dest.join(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        // A stub or a symlink from the file table may sit where the shim goes.
        if fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&p).with_context(|| format!("replacing {}", p.display()))?;
        }
        fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting permissions on {}", p.display()))?;
        self.written += 1;
        Ok(())
    }
}

/// One command to re-run for its output.
struct Job {
    name: String,
    program: String,
    args: Vec<String>,
    /// The argv tail the shim matches (root-aware options of an offline root removed).
    key: String,
    /// Root-relative path of the shim.
    shim: String,
}

/// One `case` arm of a shim.
struct Arm {
    key: String,
    reply: Reply,
}

enum Reply {
    Output {
        stdout: String,
        stderr: String,
        code: Option<i32>,
    },
    /// The command hung on the source: replayed as a timeout, never as a hang.
    Timeout,
}

/// Drops the options that point a tool at an offline root (`--root R`, `-b R`, `-r R`,
/// `--admindir=R/…`, `--dkmstree R/…`): in the fixture the probes run without them.
fn strip_root_args(args: &[String], root: &Path) -> Vec<String> {
    let r = root.to_string_lossy();
    let mut out: Vec<String> = Vec::new();
    for a in args {
        if a.starts_with(r.as_ref()) {
            if out.last().is_some_and(|p| p.starts_with('-') && !p.contains('=')) {
                out.pop();
            }
            continue;
        }
        if a.split_once('=').is_some_and(|(k, v)| k.starts_with('-') && v.starts_with(r.as_ref())) {
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// What stands where a replayed program is found: never run (the runner serves the
/// fixture's `commands:` data), so it is plain text, not a script.
fn replay_placeholder(name: &str) -> String {
    format!("placeholder for {name}: its recorded runs are data in .fixture.yaml `commands:`; never executed\n")
}

/// A program present on the source that the probes never run.
fn stub_shim(name: &str) -> String {
    format!(
        "#!/bin/sh\n# placeholder for {name}: present on the captured host, never run by the probes\n\
         echo \"{name}: no capture for: $*\" >&2\nexit 127\n"
    )
}

/// Splits a command line written by [`crate::runner::quote_argv`] back into words
/// (single quotes, `'\''`, backslash escapes). `None` on an unterminated quote.
fn split_quoted(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// A firmware placeholder: the word `placeholder`, and when the blob's first 4 KiB carry a
/// `Release x.y.z.w` string, that string at offset 0x1d0 where the firmware probe finds it.
fn firmware_placeholder(head: &[u8]) -> Vec<u8> {
    let mut out = b"placeholder\n".to_vec();
    let needle = b"Release ";
    let head = &head[..head.len().min(4096)];
    if let Some(i) = head.windows(needle.len()).position(|w| w == needle) {
        let tail = &head[i + needle.len()..];
        let len = tail.iter().take(64).take_while(|b| b.is_ascii_digit() || **b == b'.').count();
        if len > 0 {
            out.resize(FW_RELEASE_OFFSET, 0);
            out.extend_from_slice(needle);
            out.extend_from_slice(&tail[..len]);
            out.push(0);
        }
    }
    out
}

/// HTTP answers the probes got, keyed by URL, as `http:` entries.
fn http_replays(facts: &Facts, red: &Redactor) -> BTreeMap<String, HttpOut> {
    let mut results: Vec<&HttpResult> = Vec::new();
    if let Some(l) = facts.lemonade.ok() {
        results.extend([&l.live, &l.health, &l.system_info].into_iter().flatten());
    }
    if let Some(g) = facts.gpu.ok() {
        results.extend(g.health.iter());
    }
    results
        .into_iter()
        .map(|r| {
            let out = HttpOut {
                status: r.status,
                body: r.body.as_deref().map(|b| red.text(b)),
                error: r.error.as_deref().map(|e| red.text(e)),
            };
            (red.text(&r.url), out)
        })
        .collect()
}

/// `major(3)` of a Linux `dev_t`.
fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

/// `minor(3)` of a Linux `dev_t`.
fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

fn join_rel(a: &str, b: &str) -> String {
    if a.is_empty() { b.to_string() } else { format!("{a}/{b}") }
}

/// The relative link text from directory `from` to `to` (both root-relative). The capture's
/// directories are real, so climbing to the root and descending is always right.
fn relative_from(from: &str, to: &str) -> String {
    let ups = from.split('/').filter(|c| !c.is_empty()).count();
    let mut s = "../".repeat(ups);
    s.push_str(to);
    if s.is_empty() { ".".to_string() } else { s }
}

/// `*` globbing within one path component.
fn glob_match(pat: &str, name: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn date(secs: u64) -> String {
    crate::recipes::meta::Date::from_unix(secs).to_string()
}

/// RFC 3339 UTC timestamp of a Unix time.
fn timestamp(secs: u64) -> String {
    let t = secs % 86_400;
    format!("{}T{:02}:{:02}:{:02}Z", date(secs), t / 3600, t / 60 % 60, t % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_argv_splits_back_into_words() {
        let argv: Vec<String> = ["/usr/bin/rpm", "-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n", "it's", "xrt"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let quoted = crate::runner::quote_argv(&argv);
        assert_eq!(split_quoted(&quoted).unwrap(), argv);
        assert_eq!(split_quoted("'unterminated"), None);
    }

    #[test]
    fn recorded_runs_are_data_the_runner_serves() {
        let dir = tempfile::tempdir().unwrap();
        let arms = vec![
            Arm {
                key: "-W -f ${Package} ${Version} ${db:Status-Abbrev}\\n xrt".into(),
                reply: Reply::Output { stdout: "xrt 2.19 ii \n".into(), stderr: "".into(), code: Some(0) },
            },
            Arm { key: "validate --json".into(), reply: Reply::Timeout },
            Arm {
                key: "".into(),
                reply: Reply::Output { stdout: "bare\n".into(), stderr: "e\n".into(), code: Some(3) },
            },
        ];
        let src = Root::open(dir.path()).unwrap();
        let r = Redactor::default();
        let out = dir.path().join("out");
        let mut cap = Capture::new(&src, &r, out.clone());
        let commands = cap.write_replay("bin/tool", "tool", arms).unwrap();
        let meta = serde_yaml::to_string(&serde_json::json!({ "commands": commands })).unwrap();
        fs::write(out.join(FIXTURE_FILE), meta).unwrap();
        // Scripts allowed or not: a recorded program is answered from the data.
        for scripts in [false, true] {
            let runner = Runner::new(Root::open(&out).unwrap(), Duration::from_secs(5)).with_fixture_scripts(scripts);
            let o = runner.run("tool", &["-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\\n", "xrt"]).unwrap();
            assert_eq!((o.code, o.stdout.as_str()), (Some(0), "xrt 2.19 ii \n"));
            assert!(matches!(runner.run("tool", &["validate", "--json"]), Err(CmdError::Timeout { .. })));
            let o = runner.run("tool", &[]).unwrap();
            assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (Some(3), "bare\n", "e\n"));
        }
        let placeholder = fs::read_to_string(out.join("bin/tool")).unwrap();
        assert!(!placeholder.starts_with("#!"), "{placeholder}");
    }

    #[test]
    fn firmware_placeholder_keeps_the_release_string_only() {
        let mut blob = vec![0xAAu8; 4096];
        blob[0x1d0..0x1d0 + 16].copy_from_slice(b"Release 1.1.2.64");
        let p = firmware_placeholder(&blob);
        assert!(p.len() < 0x200);
        assert_eq!(crate::parse::version::fw_version_from_blob(&p).map(|v| v.to_string()), Some("1.1.2.64".into()));
        assert_eq!(firmware_placeholder(&[0u8; 64]), b"placeholder\n");
    }

    #[test]
    fn helpers() {
        assert!(glob_match("amdxdna.ko*", "amdxdna.ko.xz"));
        assert!(glob_match("*.conf", "99-amdxdna.conf"));
        assert!(!glob_match("*.conf", "99-amdxdna.conf.bak"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert_eq!(relative_from("lib/modules/6.19.10", "usr/src/kernels/6.19.10"), "../../../usr/src/kernels/6.19.10");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(timestamp(1_777_356_843), "2026-04-28T06:14:03Z");
        assert_eq!((dev_major(0xe280), dev_minor(0xe280)), (226, 128));
        let root = Path::new("/mnt/sysimage");
        let args: Vec<String> = ["--root", "/mnt/sysimage", "-q", "x"].iter().map(|s| s.to_string()).collect();
        assert_eq!(strip_root_args(&args, root), vec!["-q", "x"]);
        let args: Vec<String> = ["--admindir=/mnt/sysimage/var/lib/dpkg", "-W"].iter().map(|s| s.to_string()).collect();
        assert_eq!(strip_root_args(&args, root), vec!["-W"]);
    }
}

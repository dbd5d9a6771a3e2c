//! `npu-setup dev capture-fixture`: copies exactly what the probes read from a host into a
//! fixture tree (format: tests/fixtures/hosts/README.md), records the commands they run as
//! replay shims and their HTTP answers in `.fixture.yaml`, and redacts what identifies the
//! host or its people. A capture of a fixture round-trips: `doctor` reaches the same verdicts.
//!
//! Nothing is ever written under the source root; the capture is assembled in a temporary
//! directory next to `--out` and renamed into place at the end, so an interrupted capture
//! leaves no half-fixture behind.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use regex::Regex;
use serde::Serialize;

use crate::cli::Cli;
use crate::host::commands::{FLM_LOCATIONS, SECURE_BOOT_EFIVAR};
use crate::host::http::HttpResult;
use crate::host::memlock::{TRUSTED_DIRS, XRT_DIRS, XRT_LIBS};
use crate::host::root::{FIXTURE_FILE, Root, RootMode};
use crate::host::services::{LEMONADE_BINARIES, LEMONADE_UNITS, is_secret_key};
use crate::host::{Facts, ProbeOptions, probe_all};
use crate::parse::ldconfig::parse_ld_so_conf;
use crate::parse::passwd::parse_passwd;
use crate::report::exit;
use crate::runner::{CmdError, CmdOutput, Runner};

/// Largest prefix of a file copied; the probes read no more than this (`Root::read_optional`).
const MAX_COPY: u64 = 4 * 1024 * 1024;

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
];

/// Captures the host under `--root` into `out`.
pub fn capture(cli: &Cli, out: &Path, user: Option<&str>) -> Result<i32> {
    refuse_non_empty(out)?;
    let (runner, recipes) = crate::commands::setup(cli)?;
    let root = runner.root().clone();
    let facts = probe_all(&runner, &recipes, &ProbeOptions { user: user.map(str::to_string), ..Default::default() });
    let records = runner.records();
    let target_user = facts.users.ok().map(|u| u.name.clone()).or_else(|| user.map(str::to_string));
    let red = redactor_for(&root, target_user.as_deref());

    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".npu-setup-capture-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let mut cap = Capture::new(&root, &red, tmp.path().to_path_buf());

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
    cap.capture_lemonade(&facts)?;
    cap.capture_kernel_log_files(&facts)?;
    let nodes = cap.capture_nodes()?;
    let shims = cap.capture_commands(&runner, &records)?;
    let http = http_replays(&facts, &red);

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let meta = MetaOut {
        description: format!("captured from a live host on {}", date(now)),
        user: target_user.map(|u| red.text(&u)),
        nodes,
        http,
        captured: CapturedOut {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            date: timestamp(now),
            source_root_mode: root.mode(),
            skipped: cap.skipped.clone(),
        },
    };
    let yaml = serde_yaml::to_string(&meta).context("serialising .fixture.yaml")?;
    let meta_path = tmp.path().join(FIXTURE_FILE);
    fs::write(&meta_path, yaml).with_context(|| format!("writing {}", meta_path.display()))?;

    // tempdir() creates 0700; a fixture is an ordinary tree.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting permissions on {}", tmp.path().display()))?;
    refuse_non_empty(out)?;
    let kept = tmp.keep();
    if let Err(e) = fs::rename(&kept, out) {
        let _ = fs::remove_dir_all(&kept);
        return Err(e).with_context(|| format!("moving the capture into {}", out.display()));
    }
    eprintln!(
        "captured {} ({} root) into {}: {} paths, {} command shims, {} skipped",
        root.path().display(),
        mode_name(root.mode()),
        out.display(),
        cap.written,
        shims,
        cap.skipped.len()
    );
    for s in &cap.skipped {
        eprintln!("  skipped {}: {}", s.path, s.reason);
    }
    Ok(exit::OK)
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

/// One path left out of the capture, and why.
#[derive(Debug, Clone, Serialize)]
struct Skipped {
    path: String,
    reason: String,
}

/// `.fixture.yaml` as written (fields in the README's order; no `expect:`, a maintainer adds it).
#[derive(Debug, Serialize)]
struct MetaOut {
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    nodes: BTreeMap<String, NodeOut>,
    http: BTreeMap<String, HttpOut>,
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
}

impl<'a> Capture<'a> {
    fn new(root: &'a Root, red: &'a Redactor, dest: PathBuf) -> Self {
        Capture { root, red, dest, done: BTreeSet::new(), skipped: Vec::new(), written: 0 }
    }

    /// Unreadable source paths are listed, never fatal: a capture of a locked-down host is
    /// still useful, and the list tells the maintainer what is missing.
    fn skip(&mut self, rel: &str, reason: impl Display) {
        self.skipped.push(Skipped { path: Root::display(rel), reason: reason.to_string() });
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
                // Only the head is read: the version string, never the blob.
                let head = match self.root.read_prefix_optional(rel, 4096) {
                    Ok(Some(b)) => b,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        self.skip(rel, format!("{e:#}"));
                        return Ok(());
                    }
                };
                self.write(rel, &firmware_placeholder(&head), 0o644)
            }
            How::Text | How::Passwd | How::Raw | How::Grep | How::Marker => {
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
                    How::Passwd => redact_passwd(&String::from_utf8_lossy(&bytes), self.red).into_bytes(),
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
                Some(p) => {
                    let t = p.to_string_lossy().into_owned();
                    // Climb from where the link really sits: its directory may itself be
                    // reached through a symlinked ancestor (kept as a symlink above).
                    let from = self.root.resolve(parent).map(|d| d.to_string_lossy().into_owned());
                    (relative_from(from.as_deref().unwrap_or(parent), &t), t)
                }
                None => {
                    self.skip(rel, "symlink loop");
                    return Ok(());
                }
            }
        };
        let text = self.red.text(&text);
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
    /// the units name (globs included), all redacted: these hold `LEMONADE_API_KEY`.
    fn capture_lemonade(&mut self, facts: &Facts) -> Result<()> {
        for bin in LEMONADE_BINARIES {
            self.pattern(bin, How::Stub)?;
        }
        for dir in crate::host::services::UNIT_DIRS {
            for unit in LEMONADE_UNITS {
                self.pattern(&format!("{dir}/{unit}"), How::Text)?;
                self.pattern(&format!("{dir}/{unit}.d/*.conf"), How::Text)?;
            }
        }
        if let Some(l) = facts.lemonade.ok() {
            for unit in &l.units {
                for (path, _) in &unit.environment_files {
                    self.pattern(path.trim_start_matches('/'), How::Text)?;
                }
            }
        }
        Ok(())
    }

    /// The kernel-log files the probe falls back to, only when it did fall back (when
    /// `journalctl`/`dmesg` answered, their output is in the shims instead).
    fn capture_kernel_log_files(&mut self, facts: &Facts) -> Result<()> {
        if facts.kernel_log.ok().is_some_and(|l| l.source.starts_with('/')) {
            self.pattern("var/log/kern.log", How::Text)?;
            self.pattern("var/log/dmesg", How::Text)?;
        }
        Ok(())
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
                None => match fs::metadata(self.root.join(&rel)) {
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
                    Reply::Output { stdout: self.red.text(&o.stdout), stderr: self.red.text(&o.stderr), code: o.code }
                }
                Err(CmdError::NotFound { .. }) => continue,
                Err(e @ CmdError::Timeout { .. }) => Reply::Timeout(self.red.text(&e.to_string())),
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
            self.write_shim(&shim, &name, arms)?;
        }
        Ok(count)
    }

    fn write_shim(&mut self, shim: &str, name: &str, mut arms: Vec<Arm>) -> Result<()> {
        // Longest tail first: `case` takes the first match, and `-p` is a suffix of `-r X -p`.
        arms.sort_by(|a, b| b.key.len().cmp(&a.key.len()).then_with(|| a.key.cmp(&b.key)));
        arms.dedup_by(|a, b| a.key == b.key);
        let dir = shim.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let replay = join_rel(dir, &format!(".replay/{name}"));
        let mut files: Vec<(String, String)> = Vec::new();
        for (n, arm) in arms.iter().enumerate() {
            if let Reply::Output { stdout, stderr, .. } = &arm.reply {
                files.push((format!("{replay}/{}.out", n + 1), stdout.clone()));
                files.push((format!("{replay}/{}.err", n + 1), stderr.clone()));
            }
        }
        for (rel, text) in files {
            self.write_plain(&rel, text.as_bytes(), 0o644)?;
        }
        let script = shim_script(name, &arms);
        self.write_plain(shim, script.as_bytes(), 0o755)
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
    /// The command hung on the source: replayed as the timeout message and exit 124
    /// (timeout(1)'s code), never as a hang.
    Timeout(String),
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

/// A `/bin/sh` replay shim in the README's format: suffix-glob `case` arms, captured output
/// from `.replay/<name>/<n>.{out,err}` next to the shim, 127 for anything not captured.
fn shim_script(name: &str, arms: &[Arm]) -> String {
    let mut s = format!(
        "#!/bin/sh\n# replay shim for {name}, captured by `npu-setup dev capture-fixture`\n\
         r=\"${{0%/*}}/.replay/{name}\"\ncase \"$*\" in\n"
    );
    for (n, arm) in arms.iter().enumerate() {
        let pat = dq_escape(&arm.key);
        match &arm.reply {
            Reply::Output { code, .. } => {
                let exit = match code {
                    Some(c) => format!("exit {c}"),
                    // Killed by a signal on the source: die the same way.
                    None => "kill -9 $$".to_string(),
                };
                s.push_str(&format!(
                    "  *\"{pat}\") cat \"$r/{i}.out\"; cat \"$r/{i}.err\" >&2; {exit} ;;\n",
                    i = n + 1
                ));
            }
            Reply::Timeout(msg) => {
                s.push_str(&format!("  *\"{pat}\") echo {} >&2; exit 124 ;;\n", crate::runner::quote_arg(msg)));
            }
        }
    }
    s.push_str(&format!("  *) echo \"{name}: no capture for: $*\" >&2; exit 127 ;;\nesac\n"));
    s
}

/// A program present on the source that the probes never run.
fn stub_shim(name: &str) -> String {
    format!(
        "#!/bin/sh\n# placeholder for {name}: present on the captured host, never run by the probes\n\
         echo \"{name}: no capture for: $*\" >&2\nexit 127\n"
    )
}

/// Escapes text for a double-quoted shell word (where globs are literal).
fn dq_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            o.push('\\');
        }
        o.push(c);
    }
    o
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
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 UTC timestamp of a Unix time.
fn timestamp(secs: u64) -> String {
    let t = secs % 86_400;
    format!("{}T{:02}:{:02}:{:02}Z", date(secs), t / 3600, t / 60 % 60, t % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------

/// What identifies the captured host, collected from it before anything is written, and
/// the replacements. The same function redacts contents, paths, command lines and HTTP
/// bodies, so every reference to a redacted name still agrees with the others.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Whole-word replacements (host names, user names), longest first; ASCII case-insensitive.
    words: Vec<(String, String)>,
    /// Substring replacements (the machine id, which BLS entry names embed before a `-`).
    literals: Vec<(String, String)>,
}

/// Replacement for host names.
pub const HOST: &str = "host.example";
/// Replacement for MAC addresses (a locally administered address).
pub const MAC: &str = "02:00:00:00:00:00";
/// Replacement for IPv4 addresses (RFC 5737 documentation range).
pub const IPV4: &str = "192.0.2.1";

/// Host names that identify nothing: distro defaults and loopback names.
const GENERIC_HOSTNAMES: &[&str] = &["localhost", "localhost.localdomain", "localdomain", "linux"];

impl Redactor {
    /// A redactor for these host names, regular users (replaced by `user1`, `user2`… in the
    /// order given) and machine ids. Generic names (`localhost`, distro ids passed in
    /// `generic`) are left alone: replacing `fedora` would break `ID=fedora`.
    pub fn new(hostnames: &[String], users: &[String], machine_ids: &[String], generic: &[String]) -> Self {
        let mut words: Vec<(String, String)> = Vec::new();
        let is_generic = |h: &str| {
            GENERIC_HOSTNAMES.iter().any(|g| g.eq_ignore_ascii_case(h))
                || generic.iter().any(|g| g.eq_ignore_ascii_case(h))
        };
        for h in hostnames {
            let h = h.trim();
            if h.is_empty() || is_generic(h) {
                continue;
            }
            let short = h.split('.').next().unwrap_or(h);
            for n in [h, short] {
                if !n.is_empty() && !is_generic(n) && !words.iter().any(|(w, _)| w.eq_ignore_ascii_case(n)) {
                    words.push((n.to_string(), HOST.to_string()));
                }
            }
        }
        let mut i = 0;
        for u in users {
            let u = u.trim();
            if u.is_empty() || u == "root" || words.iter().any(|(w, _)| w == u) {
                continue;
            }
            i += 1;
            words.push((u.to_string(), format!("user{i}")));
        }
        words.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        let literals = machine_ids
            .iter()
            .map(|m| m.trim())
            .filter(|m| m.len() >= 16 && m.chars().all(|c| c.is_ascii_hexdigit()))
            .map(|m| (m.to_string(), "0".repeat(m.len())))
            .collect();
        Redactor { words, literals }
    }

    /// Redacts one text (see [`redact`]).
    pub fn text(&self, s: &str) -> String {
        redact(s, self)
    }
}

/// Builds the redactor from the source root: host names from `etc/hostname`,
/// `proc/sys/kernel/hostname` and (live) `uname -n`; regular users (uid 1000-59999) from
/// `etc/passwd` in uid order, plus the target user when it is not a system account; the
/// machine id.
fn redactor_for(root: &Root, target_user: Option<&str>) -> Redactor {
    let read = |rel: &str| root.read_optional(rel).ok().flatten().unwrap_or_default();
    let mut hosts: Vec<String> = ["etc/hostname", "proc/sys/kernel/hostname"]
        .iter()
        .filter_map(|rel| {
            read(rel).lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string)
        })
        .collect();
    if root.mode() == RootMode::Live
        && let Ok(u) = nix::sys::utsname::uname()
    {
        hosts.push(u.nodename().to_string_lossy().into_owned());
    }
    let mut passwd = parse_passwd(&read("etc/passwd"));
    passwd.sort_by(|a, b| a.uid.cmp(&b.uid).then_with(|| a.name.cmp(&b.name)));
    let mut users: Vec<String> =
        passwd.iter().filter(|p| (1000..60000).contains(&p.uid)).map(|p| p.name.clone()).collect();
    if let Some(t) = target_user
        && !passwd.iter().any(|p| p.name == t)
    {
        users.push(t.to_string());
    }
    let machine_id = read("etc/machine-id").trim().to_string();
    // Distro names are not host names worth hiding, and replacing them breaks os-release.
    let os = read("etc/os-release") + &read("usr/lib/os-release");
    let generic: Vec<String> = crate::parse::shellvars::parse_env_lenient(&os)
        .into_iter()
        .filter(|(k, _)| k == "ID" || k == "ID_LIKE")
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    Redactor::new(&hosts, &users, &[machine_id], &generic)
}

static ASSIGN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*\s*=").expect("static regex"));
static JSON_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)("[a-z0-9_-]*(?:key|token|secret|password|passwd|credential)[a-z0-9_-]*"\s*:\s*)"[^"\n]*""#)
        .expect("static regex")
});
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}").expect("static regex"));
static SK_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:sk|pk|ghp|gho|hf)[-_][A-Za-z0-9_-]{8,}").expect("static regex"));
static SERIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(\b[a-z_]*serial(?:[ _-]?(?:number|no|num|short))*"?\s*[:=]\s*)("[^"\n]*"|'[^'\n]*'|[^\s,;"']+)"#)
        .expect("static regex")
});
static DISK_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b((?:ata|nvme|scsi-[0-9a-z]+|usb|mmc|virtio)-[A-Za-z0-9_.:-]*_)[A-Za-z0-9]+").expect("static regex")
});
static WWN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(wwn-0x|nvme-eui\.)[0-9A-Fa-f]+").expect("static regex"));
static HEX_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2})+").expect("static regex"));
static IPV4_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b").expect("static regex"));

/// Redacts one captured text, erring on the side of removing:
/// - values of variables whose name holds KEY/TOKEN/SECRET/PASSWORD (shell, env files,
///   systemd `Environment=`, JSON) and bearer tokens -> `<redacted>`;
/// - serial numbers (`Serial Number:`, `serial=`, `SerialNumber`, `ID_SERIAL…`, disk ids
///   such as `ata-…_SERIAL`, `wwn-0x…`) -> `REDACTED`;
/// - MAC addresses -> [`MAC`];
/// - IPv4 addresses other than loopback, 0.0.0.0 and non-unicast -> [`IPV4`] (dotted
///   versions such as firmware `1.1.2.65` or `255.0.11.71` survive: see [`redact_ipv4`]);
/// - the machine id -> zeros; host names -> [`HOST`]; regular users -> `user1`, `user2`…
pub fn redact(text: &str, r: &Redactor) -> String {
    let s = redact_assignments(text);
    let s = JSON_SECRET.replace_all(&s, "${1}\"<redacted>\"");
    let s = BEARER.replace_all(&s, "${1}<redacted>");
    let s = SK_TOKEN.replace_all(&s, "<redacted>");
    let s = SERIAL.replace_all(&s, |c: &regex::Captures| {
        let whole = c.get(0).expect("whole match");
        let key = c[1].trim_end_matches(|ch: char| ch.is_whitespace() || ch == ':' || ch == '"').to_ascii_lowercase();
        let quoted_key = whole.start() > 0 && s.as_bytes()[whole.start() - 1] == b'"';
        // A bare `Serial:` is the kernel's serial-port driver line ("Serial: 8250/16550
        // driver"); serial numbers come qualified (`Serial Number:`, `product_serial:`),
        // as `serial=`, or as a JSON key.
        if key == "serial" && c[1].contains(':') && !quoted_key {
            return whole.as_str().to_string();
        }
        let v = &c[2];
        let q = if v.starts_with('"') || v.starts_with('\'') { &v[..1] } else { "" };
        format!("{}{q}REDACTED{q}", &c[1])
    });
    let s = DISK_ID.replace_all(&s, "${1}REDACTED");
    let s = WWN.replace_all(&s, "${1}REDACTED");
    let s = redact_macs(&s);
    let mut s = redact_ipv4(&s);
    for (from, to) in &r.literals {
        s = s.replace(from.as_str(), to);
    }
    replace_words(&s, &r.words)
}

/// `NAME=value` where NAME names a secret: the value (quoted or bare) becomes `<redacted>`.
/// Names are found anywhere, including inside quoted systemd `Environment="A=1" "B_KEY=x"`
/// words, because only the name and `=` are matched, never the value.
fn redact_assignments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for m in ASSIGN.find_iter(text) {
        if m.start() < pos {
            continue;
        }
        let name = m.as_str().trim_end_matches('=').trim_end();
        if !is_secret_key(name) {
            continue;
        }
        let rest = &text[m.end()..];
        let vlen = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].find(q).map(|i| i + 2).unwrap_or(rest.find('\n').unwrap_or(rest.len())),
            _ => rest.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '&')).unwrap_or(rest.len()),
        };
        if vlen == 0 {
            continue;
        }
        out.push_str(&text[pos..m.end()]);
        let v = &rest[..vlen];
        match v.chars().next() {
            Some(q @ ('"' | '\'')) if v.len() >= 2 && v.ends_with(q) => {
                out.push(q);
                out.push_str("<redacted>");
                out.push(q);
            }
            _ => out.push_str("<redacted>"),
        }
        pos = m.end() + vlen;
    }
    out.push_str(&text[pos..]);
    out
}

/// Six hex octets separated by `:` or `-`, standing alone: longer runs (module signature
/// `sig_key`s, IPv6 fragments) and PCI addresses are left alone.
fn redact_macs(text: &str) -> String {
    let b = text.as_bytes();
    HEX_RUN
        .replace_all(text, |c: &regex::Captures| {
            let m = c.get(0).expect("whole match");
            let s = m.as_str();
            let sep = s.as_bytes()[2];
            let uniform = s.bytes().skip(2).step_by(3).all(|x| x == sep);
            let before = m.start().checked_sub(1).map(|i| b[i]);
            let after = b.get(m.end()).copied();
            let glued = |x: Option<u8>| x.is_some_and(|x| x.is_ascii_hexdigit() || x == b':');
            if s.len() == 17 && uniform && !glued(before) && !glued(after) { MAC.to_string() } else { s.to_string() }
        })
        .into_owned()
}

/// IPv4 addresses, told apart from dotted versions: four octets <= 255, not glued to a word
/// or another dot-number (`npu.sbin.1.1.2.65`, `v1.2.3.4`, `1.2.3.4.5`), first octet not 0,
/// 1, 127 or >= 224 (firmware versions start with 1 or 255; those are no unicast addresses
/// anyway), and not right after `Release`/`version`/`fw` unless it is in a URL or has a port.
fn redact_ipv4(text: &str) -> String {
    let b = text.as_bytes();
    IPV4_RE
        .replace_all(text, |c: &regex::Captures| {
            let m = c.get(0).expect("whole match");
            let keep = m.as_str().to_string();
            let octets: Vec<u32> = (1..=4).filter_map(|i| c[i].parse().ok()).collect();
            if octets.len() != 4 || octets.iter().any(|o| *o > 255) {
                return keep;
            }
            if matches!(octets[0], 0 | 1 | 127) || octets[0] >= 224 || keep == IPV4 {
                return keep;
            }
            let before = m.start().checked_sub(1).map(|i| b[i]);
            let after = b.get(m.end()).copied();
            let after2 = b.get(m.end() + 1).copied();
            if before.is_some_and(|x| x.is_ascii_alphanumeric() || x == b'.' || x == b'_')
                || (after == Some(b'.') && after2.is_some_and(|x| x.is_ascii_digit()))
            {
                return keep;
            }
            let line_start = text[..m.start()].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let ctx_start = m.start().saturating_sub(24).max(line_start);
            let ctx = text.get(ctx_start..m.start()).unwrap_or("").to_ascii_lowercase();
            let networky = ctx.ends_with("//") || ctx.ends_with('@') || after == Some(b':') || after == Some(b'/');
            let versiony = ["release", "version", "fw", "firmware", "ver "].iter().any(|k| ctx.contains(k));
            if versiony && !networky { keep } else { IPV4.to_string() }
        })
        .into_owned()
}

/// Characters that continue a name: a match must not be glued to them on either side.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Replaces whole words (ASCII case-insensitive) in one left-to-right pass, so a
/// replacement is never itself replaced (`bob` -> `user1` while `user1` -> `user2`).
fn replace_words(text: &str, words: &[(String, String)]) -> String {
    if words.is_empty() {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let at_start = i == 0 || !is_word_byte(b[i - 1]);
        if at_start {
            let hit = words.iter().find(|(w, _)| {
                let w = w.as_bytes();
                b.len() >= i + w.len()
                    && b[i..i + w.len()].eq_ignore_ascii_case(w)
                    && b.get(i + w.len()).is_none_or(|x| !is_word_byte(*x))
            });
            if let Some((w, to)) = hit {
                out.extend_from_slice(to.as_bytes());
                i += w.len();
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    // Matches start and end on character boundaries (they follow a non-word byte and are
    // whole UTF-8 strings), so this never fails; stay total anyway.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `etc/passwd`: the GECOS field (real names, phone numbers) of regular users is emptied,
/// then the whole text is redacted like any other.
pub fn redact_passwd(text: &str, r: &Redactor) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(':').collect();
            let regular = f.len() == 7 && f[2].parse::<u32>().is_ok_and(|u| (1000..60000).contains(&u));
            if regular {
                f[4] = "";
            }
            f.join(":")
        })
        .collect();
    let mut joined = lines.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    redact(&joined, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red() -> Redactor {
        Redactor::new(
            &["zephyrus-g16.lan".to_string()],
            &["alice".to_string(), "bob".to_string()],
            &["200eb11b39b7df6bcbbdd3b41e27fd0b".to_string()],
            &["fedora".to_string()],
        )
    }

    #[test]
    fn lemonade_environment_file_loses_its_key_and_address() {
        let env = "# Lemonade\nLEMONADE_API_KEY=sk-live-4f9c2a7e1b3d5f60a8c9e2d4b6f1a3c5\nLEMONADE_PORT=13305\n\
                   LEMONADE_HOST=192.168.1.20\nexport HF_TOKEN='hf_AbCdEfGhIjKlMnOpQrSt'\nFLM_MODEL_PATH=/home/alice/models\n";
        let out = redact(env, &red());
        assert!(!out.contains("sk-live"), "{out}");
        assert!(!out.contains("hf_AbCd"), "{out}");
        assert!(out.contains("LEMONADE_API_KEY=<redacted>\n"), "{out}");
        assert!(out.contains("HF_TOKEN='<redacted>'"), "{out}");
        assert!(out.contains("LEMONADE_PORT=13305"), "{out}");
        assert!(out.contains("LEMONADE_HOST=192.0.2.1"), "{out}");
        assert!(out.contains("FLM_MODEL_PATH=/home/user1/models"), "{out}");
    }

    #[test]
    fn systemd_environment_words_and_json_secrets_are_redacted() {
        let unit = "[Service]\nEnvironment=\"LEMONADE_API_KEY=sk-live-0123456789abcdef\" \"PATH=/opt/fastflowlm/bin:/usr/bin\"\n";
        let out = redact(unit, &red());
        assert!(!out.contains("0123456789abcdef"), "{out}");
        assert!(out.contains("PATH=/opt/fastflowlm/bin:/usr/bin"), "{out}");
        let json =
            r#"{"api_key": "abc123secretvalue", "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9", "version": "10.3.0"}"#;
        let out = redact(json, &red());
        assert!(!out.contains("abc123secretvalue") && !out.contains("eyJhbGci"), "{out}");
        assert!(out.contains(r#""version": "10.3.0""#), "{out}");
        assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok(), "still JSON: {out}");
    }

    #[test]
    fn journal_line_loses_mac_and_hostname_but_keeps_pci_addresses() {
        let log = "Mar 25 16:09:13 zephyrus-g16 kernel: r8169 0000:03:00.0 enp3s0: renamed, MAC 3c:7c:3f:1a:2b:4d\n\
                   Mar 25 16:09:14 zephyrus-g16.lan kernel: wlan0: associated with 9C-53-22-AB-CD-EF\n\
                   amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_hw_start: firmware is not alive\n\
                   sig_key: 5F:0A:3C:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11\n";
        let out = redact(log, &red());
        assert!(!out.contains("zephyrus"), "{out}");
        assert!(out.contains("host.example kernel: r8169 0000:03:00.0 enp3s0"), "{out}");
        assert!(out.contains(&format!("MAC {MAC}")), "{out}");
        assert!(out.contains(&format!("with {MAC}")), "{out}");
        assert!(out.contains("amdxdna 0000:c6:00.1: [drm] *ERROR*"), "{out}");
        assert!(out.contains("5F:0A:3C:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11"), "{out}");
    }

    #[test]
    fn passwd_and_group_map_users_consistently() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice Liddell,Room 3:/home/alice:/bin/bash\n\
                      bob:x:1001:1001:Bob:/home/bob:/bin/zsh\nlemonade:x:975:975::/var/lib/lemonade:/sbin/nologin\n";
        let out = redact_passwd(passwd, &red());
        assert_eq!(
            out,
            "root:x:0:0:root:/root:/bin/bash\nuser1:x:1000:1000::/home/user1:/bin/bash\n\
             user2:x:1001:1001::/home/user2:/bin/zsh\nlemonade:x:975:975::/var/lib/lemonade:/sbin/nologin\n"
        );
        let group = "render:x:105:alice,bob\nalice:x:1000:\nwheel:x:10:alice\n";
        assert_eq!(redact(group, &red()), "render:x:105:user1,user2\nuser1:x:1000:\nwheel:x:10:user1\n");
    }

    #[test]
    fn versions_survive_and_addresses_do_not() {
        let r = red();
        for keep in [
            "Release 1.1.2.65",
            "255.0.11.71",
            "npu.sbin.1.0.0.63.xz",
            "fw_version: 2.0.0.5",
            "version 10.3.0",
            "http://127.0.0.1:13305/live",
            "0.0.0.0:8080",
            "ID=fedora",
            "amdgpu 0000:c5:00.0: amdgpu: Fetched VBIOS from VFCT",
            "6.19.10-200.fc43.x86_64",
        ] {
            assert_eq!(redact(keep, &r), keep);
        }
        assert_eq!(redact("http://192.168.1.5:8000/api", &r), "http://192.0.2.1:8000/api");
        assert_eq!(redact("inet 10.20.30.40/24 brd", &r), "inet 192.0.2.1/24 brd");
        assert_eq!(redact("ip=172.16.0.9::172.16.0.1", &r), "ip=192.0.2.1::192.0.2.1");
    }

    #[test]
    fn serials_machine_id_and_disk_ids_are_redacted() {
        let r = red();
        assert_eq!(redact("Serial Number: PF4ABC12", &r), "Serial Number: REDACTED");
        assert_eq!(redact("SerialNumber=XYZ-123", &r), "SerialNumber=REDACTED");
        assert_eq!(redact("serial=XYZ-123 product_serial: 12345", &r), "serial=REDACTED product_serial: REDACTED");
        assert_eq!(redact("Serial: 8250/16550 driver, 1 ports", &r), "Serial: 8250/16550 driver, 1 ports");
        assert_eq!(redact(r#"{"serial_number":"S5GX1"}"#, &r), r#"{"serial_number":"REDACTED"}"#);
        assert_eq!(redact("ID_SERIAL_SHORT=S6PTNX0T123456A", &r), "ID_SERIAL_SHORT=REDACTED");
        assert_eq!(
            redact("resume=/dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_S6PTNX0T123456A-part3", &r),
            "resume=/dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_REDACTED-part3"
        );
        assert_eq!(redact("wwn-0x5002538e40a1b2c3", &r), "wwn-0xREDACTED");
        assert_eq!(
            redact("saved_entry=200eb11b39b7df6bcbbdd3b41e27fd0b-6.19.10-200.fc43.x86_64", &r),
            "saved_entry=00000000000000000000000000000000-6.19.10-200.fc43.x86_64"
        );
    }

    #[test]
    fn generic_hostnames_are_not_redacted() {
        let r = Redactor::new(&["fedora".into(), "localhost".into()], &[], &[], &["fedora".into()]);
        assert_eq!(redact("ID=fedora\nNAME=\"Fedora Linux\"", &r), "ID=fedora\nNAME=\"Fedora Linux\"");
    }

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
    fn generated_shims_replay_and_refuse_the_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let arms = vec![
            Arm {
                key: "-W -f ${Package} ${Version} ${db:Status-Abbrev}\\n xrt".into(),
                reply: Reply::Output { stdout: "xrt 2.19 ii \n".into(), stderr: "".into(), code: Some(0) },
            },
            Arm { key: "validate --json".into(), reply: Reply::Timeout("`flm validate --json` did not finish".into()) },
            Arm {
                key: "".into(),
                reply: Reply::Output { stdout: "bare\n".into(), stderr: "e\n".into(), code: Some(3) },
            },
        ];
        let root = Root::open(dir.path()).unwrap();
        let r = Redactor::default();
        let mut cap = Capture::new(&root, &r, dir.path().join("out"));
        cap.write_shim("bin/tool", "tool", arms).unwrap();
        let shim = dir.path().join("out/bin/tool");
        let run = |args: &[&str]| std::process::Command::new(&shim).args(args).output().unwrap();
        let o = run(&["-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\\n", "xrt"]);
        assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(0), "xrt 2.19 ii \n"));
        let o = run(&["validate", "--json"]);
        assert_eq!(o.status.code(), Some(124));
        assert!(String::from_utf8_lossy(&o.stderr).contains("did not finish"));
        let o = run(&[]);
        assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(3), "bare\n"));
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

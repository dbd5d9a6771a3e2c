//! Knowledge as data: the device table, driver/firmware matrix, kernel-log catalog, distro
//! package names (`recipes/`) and the kernel-argument policy (`grub/`).
//!
//! The files are embedded at build time so one binary is all kickstart needs; `--data-dir`
//! reads the same layout from disk. Every type denies unknown fields, and a malformed file is
//! an error naming file, line and column.

pub mod bundle;
pub mod flm;
pub mod known;
pub mod lemonade;
pub mod meta;
pub mod routes;
pub mod sources;
mod validate;

pub use lemonade::{LemonadeRecipe, LemonadeSource};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::parse::version::{KernelRelease, parse_dotted};

pub use flm::FlmRecipe;

/// Whether a recipe fact is confirmed upstream. `unverified: true` marks the whole entry, a
/// list names the fields that are not confirmed (`unverified: [min_kernel]`). A check whose
/// verdict rests on an unverified fact warns and says `UNVERIFIED: <what>` instead of
/// failing (`checks::Outcome::unverified`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Unverified {
    /// The whole entry (`true`) or nothing (`false`).
    Flag(bool),
    /// These fields.
    Fields(Vec<String>),
}

impl Default for Unverified {
    fn default() -> Self {
        Unverified::Flag(false)
    }
}

impl Unverified {
    /// Any part of the entry is unverified.
    pub fn any(&self) -> bool {
        match self {
            Unverified::Flag(b) => *b,
            Unverified::Fields(f) => !f.is_empty(),
        }
    }

    /// `field` is unverified (the whole entry, or `field` named).
    pub fn covers(&self, field: &str) -> bool {
        match self {
            Unverified::Flag(b) => *b,
            Unverified::Fields(f) => f.iter().any(|x| x == field),
        }
    }

    /// The named fields (empty for the flag form).
    pub fn fields(&self) -> &[String] {
        match self {
            Unverified::Flag(_) => &[],
            Unverified::Fields(f) => f,
        }
    }
}

/// How serious a matched rule is (kernel-log signatures, kernel-argument rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the NPU stack.
    Fail,
    /// Works, but deserves attention.
    Warn,
    /// For the record only.
    Info,
}

impl Severity {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fail => "fail",
            Severity::Warn => "warn",
            Severity::Info => "info",
        }
    }
}

/// What `install --only kargs` does with an argument a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KargAction {
    /// The argument is ours to delete.
    Remove,
    /// Reported only; left alone.
    Keep,
}

/// How well a distro is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Support {
    /// Tested first.
    FirstClass,
    /// Supported.
    Supported,
    /// Best effort.
    Community,
}

impl std::fmt::Display for Support {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Support {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Support::FirstClass => "first-class",
            Support::Supported => "supported",
            Support::Community => "community",
        }
    }
}

/// A distro's package manager (what `rpm -q` / `dpkg-query` / `pacman -Q` answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// RPM (dnf).
    Rpm,
    /// dpkg (apt).
    Dpkg,
    /// pacman.
    Pacman,
}

impl PackageManager {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Rpm => "rpm",
            PackageManager::Dpkg => "dpkg",
            PackageManager::Pacman => "pacman",
        }
    }
}

/// NPU architecture generation family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// Phoenix / Hawk Point (npu1): FastFlowLM does not support it.
    XDNA1,
    /// Strix Point, Strix Halo, Krackan, Gorgon Point (npu4–npu6).
    XDNA2,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::XDNA1 => "XDNA1",
            Family::XDNA2 => "XDNA2",
        })
    }
}

/// An amdxdna driver flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlavourId {
    /// The kernel's own driver (drivers/accel/amdxdna).
    InTree,
    /// amd/xdna-driver's out-of-tree module through DKMS (`xrt-amdxdna`).
    XdnaDkms,
    /// The mainline driver backported to older kernels through DKMS (`amdxdna`).
    BackportDkms,
}

impl FlavourId {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlavourId::InTree => "in-tree",
            FlavourId::XdnaDkms => "xdna-dkms",
            FlavourId::BackportDkms => "backport-dkms",
        }
    }
}

impl std::fmt::Display for FlavourId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two drivers the xdna-driver package has carried under one DKMS name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The legacy out-of-tree driver (DRM 1.0, loads npu.dev.sbin).
    Legacy,
    /// The upstream ("staging") driver the package builds since 2026-05-19.
    Staging,
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variant::Legacy => "legacy",
            Variant::Staging => "staging",
        })
    }
}

/// The data files, as (path relative to the data dir, embedded text).
const EMBEDDED: &[(&str, &str)] = &[
    ("recipes/devices.yaml", include_str!("../../recipes/devices.yaml")),
    ("recipes/drivers.yaml", include_str!("../../recipes/drivers.yaml")),
    ("recipes/kernel-log.yaml", include_str!("../../recipes/kernel-log.yaml")),
    ("recipes/distros.yaml", include_str!("../../recipes/distros.yaml")),
    ("recipes/lemonade.yaml", include_str!("../../recipes/lemonade.yaml")),
    ("recipes/sources.yaml", include_str!("../../recipes/sources.yaml")),
    ("recipes/files.yaml", include_str!("../../recipes/files.yaml")),
    ("recipes/routes.yaml", include_str!("../../recipes/routes.yaml")),
    ("grub/policy.yaml", include_str!("../../grub/policy.yaml")),
    ("recipes/meta.yaml", include_str!("../../recipes/meta.yaml")),
    ("recipes/known-issues.yaml", include_str!("../../recipes/known-issues.yaml")),
];

/// A malformed data file.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct DataError {
    /// The file as the user knows it (embedded name or disk path).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// One NPU the driver knows, keyed by PCI id and revision.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// PCI vendor id, hex without `0x`.
    pub vendor: String,
    /// PCI device id, hex without `0x`.
    pub device: String,
    /// PCI revision, two hex digits.
    pub revision: String,
    /// Driver profile (`npu1`, `npu4`…).
    pub generation: String,
    /// `XDNA1` or `XDNA2`.
    pub family: Family,
    /// Marketing name.
    pub product: String,
    /// Directory under `amdnpu/` holding its firmware.
    pub firmware_dir: String,
    /// AIE columns (FLM needs 8).
    pub columns: u32,
    /// Support removed upstream.
    #[serde(default)]
    pub removed: bool,
    /// Names the driver reports for it (sysfs `vbnv`, xrt-smi's "Name").
    #[serde(default)]
    pub vbnv: Vec<String>,
    /// Where the fact comes from.
    pub source: String,
}

/// One versioned firmware blob of a firmware directory.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FirmwareBlob {
    /// File name in `amdnpu/<dir>/` (`npu.sbin.1.0.0.63`).
    pub name: String,
    /// Firmware version.
    pub version: String,
    /// The stable name linked to it (`npu.sbin`, `npu_7.sbin`, `npu.dev.sbin`).
    pub link: String,
    /// Who ships it (`linux-firmware`, `xdna-driver`).
    pub from: String,
    /// Not confirmed from a primary source.
    #[serde(default)]
    pub unverified: bool,
    /// Where the fact comes from.
    pub source: String,
}

/// The blobs of one `amdnpu/<dir>/`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FirmwareDir {
    /// Directory under `amdnpu/` (`17f0_10`).
    pub dir: String,
    /// Its blobs.
    pub files: Vec<FirmwareBlob>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicesFile {
    devices: Vec<DeviceEntry>,
    #[serde(default)]
    firmware_dirs: Vec<FirmwareDir>,
}

/// Kernel milestones.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KernelMilestones {
    /// Minimum for out-of-tree (DKMS) builds.
    pub dkms_min: String,
    /// First kernel with the in-tree driver.
    pub in_tree_min: String,
    /// First kernel whose in-tree driver accepts protocol 7.
    pub protocol7_in_tree_min: String,
}

/// Firmware version prefix -> protocol major.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareProtocol {
    /// Version prefix, e.g. `1.1.`.
    pub prefix: String,
    /// Protocol major.
    pub major: u32,
    /// Not confirmed from a primary source.
    #[serde(default)]
    pub unverified: bool,
    /// Where the fact comes from.
    pub source: String,
}

/// A protocol a flavour accepts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// `XDNA1` / `XDNA2`.
    pub family: Family,
    /// Protocol major.
    pub major: u32,
    /// Also accept any higher major (legacy OOT driver has no upper bound).
    #[serde(default)]
    pub or_newer: bool,
}

/// One driver flavour over a kernel range.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Flavour {
    /// `in-tree`, `backport-dkms`, `xdna-dkms`.
    pub id: FlavourId,
    /// For `xdna-dkms`: `legacy` or `staging`.
    #[serde(default)]
    pub variant: Option<Variant>,
    /// Lowest kernel (major.minor) this row covers.
    pub kernel_min: String,
    /// Highest kernel (major.minor) this row covers.
    #[serde(default)]
    pub kernel_max: Option<String>,
    /// Firmware names tried, in order.
    pub firmware_order: Vec<String>,
    /// Protocols accepted.
    pub accepts: Vec<Accept>,
    /// Lowest DRM version (major.minor) this flavour reports.
    #[serde(default)]
    pub drm_min: Option<String>,
    /// Highest DRM version (major.minor) this flavour reports.
    #[serde(default)]
    pub drm_max: Option<String>,
    /// Where the fact comes from.
    pub source: String,
}

impl Flavour {
    /// The DRM version `drm` lies within this row's DRM bounds (a row without bounds holds
    /// none: it cannot be chosen by DRM version).
    pub fn holds_drm(&self, drm: &str) -> bool {
        if self.drm_min.is_none() && self.drm_max.is_none() {
            return false;
        }
        let Some(d) = parse_dotted(drm) else { return false };
        let ge = |b: &str| parse_dotted(b).is_some_and(|b| d >= b);
        let le = |b: &str| parse_dotted(b).is_some_and(|b| d <= b);
        self.drm_min.as_deref().is_none_or(ge) && self.drm_max.as_deref().is_none_or(le)
    }
}

/// The DRM version the mainline kernel's own amdxdna reports on one kernel series.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MainlineDrm {
    /// Kernel series (major.minor).
    pub kernel: String,
    /// DRM major.minor.
    pub drm: String,
    /// Not confirmed from a primary source.
    #[serde(default)]
    pub unverified: bool,
    /// Where the fact comes from.
    pub source: String,
}

/// Who built a module file: the kernel (in-tree) or someone else (out-of-tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Built with the kernel.
    InTree,
    /// An external (M=) build: DKMS, a package, a script.
    OutOfTree,
}

impl Origin {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::InTree => "in-tree",
            Origin::OutOfTree => "out-of-tree",
        }
    }
}

/// Directory under `lib/modules/<kver>/` -> origin (used when no modinfo is available).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleLocation {
    /// Directory prefix, relative to `lib/modules/<kver>/`, ending in `/`.
    pub dir: String,
    /// Who installs modules there.
    pub origin: Origin,
    /// Where the fact comes from.
    pub source: String,
}

/// A `version:` (MODULE_VERSION) form that names an out-of-tree flavour.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VersionStamp {
    /// Stable id.
    pub id: String,
    /// Regex over the whole field; named groups `plugin`, `date`, `hash` are read when present.
    pub pattern: String,
    /// The flavour a module with this stamp belongs to.
    pub flavour: FlavourId,
    /// Where the fact comes from.
    pub source: String,
}

/// How a module file, and the loaded module, are identified.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleIdentity {
    /// Source of the `intree: Y` rule.
    pub intree_source: String,
    /// Directory rules, first match wins.
    pub locations: Vec<ModuleLocation>,
    /// `version:` forms, first match wins.
    pub versions: Vec<VersionStamp>,
    /// Taint letter of an out-of-tree module (`/sys/module/<m>/taint`).
    pub taint_out_of_tree: String,
    /// Taint letter of an unsigned module.
    pub taint_unsigned: String,
    /// Source of the taint letters.
    pub taint_source: String,
}

impl ModuleIdentity {
    /// The origin of a module file by its path relative to `lib/modules/<kver>/`.
    pub fn origin_of(&self, rel: &str) -> Option<&ModuleLocation> {
        self.locations.iter().find(|l| rel.starts_with(&l.dir))
    }

    /// The stamp a `version:` field carries, with its named groups.
    pub fn stamp_of(&self, version: &str) -> Option<(&VersionStamp, std::collections::BTreeMap<String, String>)> {
        self.versions.iter().find_map(|v| {
            let re = regex::Regex::new(&v.pattern).ok()?;
            let c = re.captures(version)?;
            let groups = re
                .capture_names()
                .flatten()
                .filter_map(|n| c.name(n).map(|m| (n.to_string(), m.as_str().to_string())))
                .collect();
            Some((v, groups))
        })
    }
}

/// One xdna-driver release branch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XdnaRelease {
    /// Branch name (`1.9`).
    pub branch: String,
    /// Head commit seen.
    pub commit: String,
    /// Its date (YYYY-MM-DD).
    pub date: String,
    /// XRT major.minor of the `xrt` submodule.
    pub xrt: String,
    /// Released XRT build pinned in tools/info.json.
    pub xrt_release: String,
    /// Plugin / DKMS version a default build produces.
    pub plugin: String,
    /// The driver packaged as the DKMS amdxdna.ko.
    pub driver: Variant,
    /// DRM version of that driver.
    pub drm: String,
    /// Where the fact comes from.
    pub source: String,
}

/// amd/xdna-driver's releases and the legacy/staging switch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XdnaDriver {
    /// Release branches, oldest first.
    pub releases: Vec<XdnaRelease>,
    /// Build date (YYYYMMDD) from which builds of main package the staging driver.
    pub main_staging_since: String,
    /// Source of that date.
    pub main_staging_source: String,
    /// Date the legacy tree was removed from main.
    pub legacy_removed: String,
    /// Source of the removal.
    pub legacy_removed_source: String,
}

impl XdnaDriver {
    /// The release whose plugin version has the same major.minor as `plugin`.
    pub fn release_of_plugin(&self, plugin: &str) -> Option<&XdnaRelease> {
        let mm = |v: &str| parse_dotted(v).map(|d| d.0.into_iter().take(2).collect::<Vec<_>>());
        let want = mm(plugin)?;
        self.releases.iter().find(|r| mm(&r.plugin).as_ref() == Some(&want))
    }
}

/// An install path for the target kernel.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DriverPath {
    /// `in-tree`, `xdna-dkms`, `unsupported`.
    pub id: String,
    /// Lowest kernel for this path.
    #[serde(default)]
    pub kernel_min: Option<String>,
    /// Firmware file that must be present for this path.
    #[serde(default)]
    pub requires_firmware: Option<String>,
    /// What the path means.
    pub summary: String,
}

/// `recipes/drivers.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DriverMatrix {
    /// Kernel milestones.
    pub kernel: KernelMilestones,
    /// FastFlowLM: releases, validate semantics, formats, assets, layout.
    pub flm: FlmRecipe,
    /// Firmware version -> protocol.
    pub firmware_protocols: Vec<FirmwareProtocol>,
    /// Flavour rows.
    pub flavours: Vec<Flavour>,
    /// DRM version of the mainline driver per kernel series.
    pub mainline_drm: Vec<MainlineDrm>,
    /// How module files and the loaded module are identified.
    pub module_identity: ModuleIdentity,
    /// xdna-driver's release branches.
    pub xdna_driver: XdnaDriver,
    /// Install paths, first match wins.
    pub paths: Vec<DriverPath>,
    /// DKMS modules of the out-of-tree flavours.
    pub dkms_modules: Vec<DkmsModuleRule>,
}

/// Which `dkms status` entries belong to an out-of-tree flavour: a module name, optionally
/// within a version range (two flavours have used the name `amdxdna`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DkmsModuleRule {
    /// The flavour.
    pub flavour: FlavourId,
    /// DKMS module name.
    pub name: String,
    /// Versions at or above this (dotted compare).
    #[serde(default)]
    pub version_from: Option<String>,
    /// Versions below this (dotted compare).
    #[serde(default)]
    pub version_below: Option<String>,
}

impl DkmsModuleRule {
    /// This rule covers a `dkms status` entry of `name` at `version`.
    pub fn matches(&self, name: &str, version: &str) -> bool {
        let v = parse_dotted(version);
        let ge = |b: &str| v.as_ref().zip(parse_dotted(b)).is_some_and(|(v, b)| v >= &b);
        self.name == name
            && self.version_from.as_deref().is_none_or(ge)
            && self.version_below.as_deref().is_none_or(|b| !ge(b))
    }
}

/// A kernel-log signature.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Stable id.
    pub id: String,
    /// Regex over one normalised log line.
    pub pattern: String,
    /// `fail`, `warn` or `info`.
    pub severity: Severity,
    /// The check that owns the cause.
    #[serde(default)]
    pub check: Option<String>,
    /// What it means; `{group}` placeholders are filled from the match.
    pub cause: String,
    /// What to do.
    #[serde(default)]
    pub remedy: Option<String>,
    /// Install step that fixes it.
    #[serde(default)]
    pub step: Option<String>,
    /// Whether the fix needs a reboot.
    #[serde(default)]
    pub reboot: bool,
    /// A module-loader refusal: the kernel did not load a module file (`driver.module`
    /// quotes it when a DKMS module on disk is not the one running).
    #[serde(default)]
    pub loader: bool,
    /// Where the fact comes from.
    pub source: String,
}

/// A kernel crash report (oops, BUG, general protection fault, hung task) the kernel-log
/// probe kept because its trace touches the NPU stack: which one it is.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrashSignature {
    /// Stable id.
    pub id: String,
    /// Regex over the block's first line (`general protection fault`, `BUG: kernel NULL…`).
    pub start: String,
    /// Regex that some line of the block matches (the function in the trace).
    pub trace: String,
    /// The check that owns the cause (default: `kernel.log`).
    #[serde(default)]
    pub check: Option<String>,
    /// What it means.
    pub cause: String,
    /// What to do (the reboot a crash needs comes first).
    pub remedy: String,
    /// Install step that fixes it.
    #[serde(default)]
    pub step: Option<String>,
    /// Where the fact comes from.
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignaturesFile {
    signatures: Vec<Signature>,
    #[serde(default)]
    crashes: Vec<CrashSignature>,
}

/// Package names per role.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PackageNames {
    /// XRT base/NPU packages.
    pub xrt: Vec<String>,
    /// XDNA plugin (shim) packages (any one suffices).
    pub xrt_plugin: Vec<String>,
    /// FastFlowLM.
    pub flm: Vec<String>,
    /// Lemonade server.
    pub lemonade: Vec<String>,
    /// DKMS and DKMS driver packages.
    pub dkms: Vec<String>,
    /// The packages holding the NPU firmware (`amdnpu/`).
    pub firmware: Vec<String>,
    /// Where each role's names come from (role -> URL of a package page, file list or spec).
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, String>,
    /// Roles whose names are not confirmed upstream.
    #[serde(default)]
    pub unverified: Unverified,
}

impl PackageNames {
    /// The role names `sources:` and `unverified:` may use.
    pub const ROLES: [&'static str; 6] = ["xrt", "xrt_plugin", "flm", "lemonade", "dkms", "firmware"];
}

/// Commands npu-setup runs on a distro (argv; placeholders `{grub_cfg}`, `{kver}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DistroCommands {
    /// argv prefix that installs packages (`dnf install -y`).
    pub install: Vec<String>,
    /// Refreshes the package metadata before an install.
    pub refresh: Vec<String>,
    /// Regenerates a non-BLS grub.cfg from /etc/default/grub.
    pub grub_mkconfig: Vec<String>,
    /// Regenerates the target kernel's initramfs after its modules changed.
    pub initramfs: Vec<String>,
}

/// Commands and advice doctor prints (shell text for people; placeholders `{packages}`,
/// `{keys}`, `{args}`, `{kver}`, `{version_id}`, `{codename}` — the latter two of the recipe
/// distro's release a host is, or is built on — and `{flm_deb}`, `{flm_deb_url}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DistroRemedies {
    /// Installs packages.
    pub install: String,
    /// Removes kernel arguments from every boot entry.
    pub kargs_remove: String,
    /// Installs a newer kernel.
    pub kernel_upgrade: String,
    /// Makes a kernel the default boot entry.
    pub set_default_kernel: String,
    /// How to get XRT and the xdna plugin.
    pub xrt: String,
    /// How to get FastFlowLM.
    pub flm: String,
}

/// A distro recipe.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Distro {
    /// os-release `ID`.
    pub id: String,
    /// Other `ID`s (or `ID_LIKE` members) that use this recipe.
    #[serde(default)]
    pub like: Vec<String>,
    /// Display name.
    pub name: String,
    /// `first-class`, `supported` or `community`.
    pub support: Support,
    /// Oldest supported release.
    #[serde(default)]
    pub min_version: Option<MinVersion>,
    /// Release codenames (`VERSION_CODENAME`, and a derivative's `UBUNTU_CODENAME`) -> the
    /// `VERSION_ID` of that release: how derivatives map to this distro's releases.
    #[serde(default)]
    pub codenames: std::collections::BTreeMap<String, String>,
    /// `rpm`, `dpkg` or `pacman`.
    pub package_manager: PackageManager,
    /// Kernel headers package; `{kver}` is replaced.
    pub headers: String,
    /// Whether systemd user sessions need a `user@.service` memlock drop-in.
    pub user_service_memlock: bool,
    /// Packages the source builds need.
    #[serde(default)]
    pub build_deps: Vec<String>,
    /// Commands npu-setup runs.
    pub commands: DistroCommands,
    /// Commands doctor prints.
    pub remedies: DistroRemedies,
    /// Remedies that differ from some release on (later entries win).
    #[serde(default)]
    pub version_remedies: Vec<VersionRemedies>,
    /// Package names.
    pub packages: PackageNames,
}

/// The oldest release a distro recipe supports, and why.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MinVersion {
    /// `VERSION_ID` (of the recipe's own distro; derivatives are mapped to it first).
    pub version: String,
    /// Not confirmed upstream.
    #[serde(default)]
    pub unverified: Unverified,
    /// Where the fact comes from.
    pub source: String,
}

/// Remedies of a distro from a release on (the archive gained a package, a PPA became
/// unnecessary); fields left out keep the distro's.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionRemedies {
    /// First `VERSION_ID` (after derivative mapping) these apply to.
    pub from: String,
    /// How to get XRT and the xdna plugin.
    #[serde(default)]
    pub xrt: Option<String>,
    /// How to get FastFlowLM.
    #[serde(default)]
    pub flm: Option<String>,
    /// Where the fact comes from.
    pub source: String,
}

/// How a derivative's release maps to its base distro's release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DerivedVersion {
    /// From os-release `UBUNTU_CODENAME` through the base's `codenames` (Linux Mint, Pop!_OS).
    UbuntuCodename,
    /// `VERSION_ID` is the base's release number (Pop!_OS, Nobara).
    VersionId,
    /// Rolling, like its base: no release to compare (CachyOS, EndeavourOS, Manjaro).
    Rolling,
}

/// A distro built on one that has a recipe: its packages, commands and remedies are the
/// base's, its release is compared as the base release it is built on.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Derivative {
    /// os-release `ID`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The distro recipe it uses.
    pub base: String,
    /// How its release maps to the base's.
    pub version: DerivedVersion,
    /// Its own major release -> the base `VERSION_ID`, when os-release lacks the mapping
    /// field (e.g. no `UBUNTU_CODENAME`).
    #[serde(default)]
    pub versions: std::collections::BTreeMap<String, String>,
    /// Not confirmed upstream.
    #[serde(default)]
    pub unverified: Unverified,
    /// Where the fact comes from.
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistrosFile {
    distros: Vec<Distro>,
    #[serde(default)]
    derivatives: Vec<Derivative>,
    generic: DistroRemedies,
}

/// A kernel-argument rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KargRule {
    /// Argument key.
    pub key: String,
    /// Value that triggers the rule.
    pub value: String,
    /// Only for kernels >= this (major.minor).
    #[serde(default)]
    pub kernel_min: Option<String>,
    /// Only for kernels <= this (major.minor).
    #[serde(default)]
    pub kernel_max: Option<String>,
    /// `fail` or `warn`.
    pub status: Severity,
    /// `remove` or `keep`.
    pub action: KargAction,
    /// One line.
    pub summary: String,
    /// Why.
    pub why: String,
    /// Where the fact comes from.
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    rules: Vec<KargRule>,
}

/// `recipes/files.yaml`: the files npu-setup writes on a host and the environment defaults it
/// writes into; doctor's remedies name the same files.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    /// limits.d file with the memlock lines (root-relative).
    pub memlock_limits: String,
    /// user@.service drop-in with LimitMEMLOCK (root-relative).
    pub memlock_user_dropin: String,
    /// ld.so.conf.d file naming XRT's library directory (root-relative).
    pub loader_conf: String,
    /// udev rule for the accel node (root-relative).
    pub accel_udev_rule: String,
    /// File name of the drop-in added to Lemonade's unit.
    pub lemonade_dropin: String,
    /// Shared FLM model directory (host path).
    pub flm_model_dir: String,
    /// systemd's PATH for system services that set none.
    pub systemd_default_path: String,
}

/// All data the checks and steps use.
#[derive(Debug, Clone)]
pub struct Recipes {
    /// NPU devices.
    pub devices: Vec<DeviceEntry>,
    /// Firmware blobs per `amdnpu/` directory.
    pub firmware_dirs: Vec<FirmwareDir>,
    /// Driver matrix.
    pub drivers: DriverMatrix,
    /// Kernel-log signatures (compiled lazily by the checks).
    pub signatures: Vec<Signature>,
    /// Kernel crash signatures (`crashes:` of recipes/kernel-log.yaml).
    pub crashes: Vec<CrashSignature>,
    /// Known upstream issues (`recipes/known-issues.yaml`).
    pub known_issues: Vec<known::KnownIssue>,
    /// Distros.
    pub distros: Vec<Distro>,
    /// Distros built on one of `distros`.
    pub derivatives: Vec<Derivative>,
    /// Remedies for a distro without a recipe.
    pub generic: DistroRemedies,
    /// Kernel-argument policy.
    pub kargs: Vec<KargRule>,
    /// Lemonade package and default models.
    pub lemonade: LemonadeRecipe,
    /// Pinned sources and builds (`recipes/sources.yaml`).
    pub sources: sources::SourcesRecipe,
    /// Files npu-setup writes.
    pub files: Files,
    /// Package routes per distro and component (`recipes/routes.yaml`).
    pub routes: routes::RoutesRecipe,
    /// Schema, version and date of this copy (`recipes/meta.yaml`).
    pub meta: meta::Meta,
    /// Which copy this is: built in, a stored bundle, or `--data-dir`.
    pub copy: RecipesCopy,
    /// Where the data came from (`embedded`, the stored bundle's path, or a directory).
    pub origin: String,
}

/// Which copy of the recipes a command uses (`--data-dir` > a stored bundle > built in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipesCopy {
    /// Compiled into the binary.
    BuiltIn,
    /// A signed bundle `npu-setup recipes update` stored under `/var/lib/npu-setup/recipes`.
    Stored,
    /// A directory given with `--data-dir` (unsigned: for development).
    DataDir,
}

impl RecipesCopy {
    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipesCopy::BuiltIn => "built-in",
            RecipesCopy::Stored => "stored",
            RecipesCopy::DataDir => "data-dir",
        }
    }
}

impl Recipes {
    /// The data compiled into the binary.
    pub fn embedded() -> Result<Self> {
        Self::load(
            |rel| Ok((format!("<embedded>/{rel}"), embedded_text(rel).to_string())),
            "embedded",
            RecipesCopy::BuiltIn,
        )
    }

    /// The metadata of the built-in copy alone (cheap: one small file), to compare a stored
    /// bundle with before loading either.
    pub fn embedded_meta() -> Result<meta::Meta> {
        parse_file(("<embedded>/recipes/meta.yaml".to_string(), embedded_text("recipes/meta.yaml").to_string()))
    }

    /// The data files of a verified bundle (path relative to the data dir -> text), shown in
    /// errors as `<origin>:<path>`.
    pub fn from_files(files: &std::collections::BTreeMap<String, String>, origin: &str) -> Result<Self> {
        Self::load(
            |rel| {
                let text = files.get(rel).with_context(|| format!("{origin}: the bundle has no {rel}"))?;
                Ok((format!("{origin}:{rel}"), text.clone()))
            },
            origin,
            RecipesCopy::Stored,
        )
    }

    /// The same layout read from `dir` (`--data-dir`).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::load(
            |rel| {
                let p: PathBuf = dir.join(rel);
                let text = std::fs::read_to_string(&p).with_context(|| format!("reading data file {}", p.display()))?;
                Ok((p.display().to_string(), text))
            },
            &dir.display().to_string(),
            RecipesCopy::DataDir,
        )
    }

    fn load(read: impl Fn(&str) -> Result<(String, String)>, origin: &str, copy: RecipesCopy) -> Result<Self> {
        let mut files = Vec::new();
        for (rel, _) in EMBEDDED {
            let (name, text) = read(rel)?;
            files.push((*rel, name, text));
        }
        let texts = validate::Texts { files };
        let file = |rel: &str| {
            let (_, name, text) = texts.files.iter().find(|(r, _, _)| *r == rel).expect("every embedded file is read");
            (name.clone(), text.clone())
        };
        // First: the schema says whether this binary can read the other files at all.
        let (meta_name, meta_text) = file("recipes/meta.yaml");
        let meta: meta::Meta = parse_file((meta_name.clone(), meta_text.clone()))?;
        if meta.schema != meta::RECIPES_SCHEMA {
            let line = meta_text.lines().position(|l| l.starts_with("schema:")).map_or(0, |i| i + 1);
            return Err(DataError {
                file: meta_name,
                line,
                column: 1,
                message: format!(
                    "recipes schema {} is not the schema this npu-setup reads ({}): use an npu-setup release made for it",
                    meta.schema,
                    meta::RECIPES_SCHEMA
                ),
            }
            .into());
        }
        let devices: DevicesFile = parse_file(file("recipes/devices.yaml"))?;
        let drivers: DriverMatrix = parse_file(file("recipes/drivers.yaml"))?;
        let (sig_name, sig_text) = file("recipes/kernel-log.yaml");
        let signatures: SignaturesFile = parse_file((sig_name.clone(), sig_text))?;
        for s in &signatures.signatures {
            regex::Regex::new(&s.pattern)
                .with_context(|| format!("{sig_name}: signature {:?} has a bad pattern", s.id))?;
        }
        for c in &signatures.crashes {
            for re in [&c.start, &c.trace] {
                regex::Regex::new(re)
                    .with_context(|| format!("{sig_name}: crash signature {:?} has a bad pattern", c.id))?;
            }
        }
        let known: known::KnownIssuesFile = parse_file(file("recipes/known-issues.yaml"))?;
        let distros: DistrosFile = parse_file(file("recipes/distros.yaml"))?;
        let policy: PolicyFile = parse_file(file("grub/policy.yaml"))?;
        let lemonade: LemonadeRecipe = parse_file(file("recipes/lemonade.yaml"))?;
        let sources: sources::SourcesRecipe = parse_file(file("recipes/sources.yaml"))?;
        let files: Files = parse_file(file("recipes/files.yaml"))?;
        let routes: routes::RoutesRecipe = parse_file(file("recipes/routes.yaml"))?;
        let recipes = Recipes {
            devices: devices.devices,
            firmware_dirs: devices.firmware_dirs,
            drivers,
            signatures: signatures.signatures,
            crashes: signatures.crashes,
            known_issues: known.issues,
            distros: distros.distros,
            derivatives: distros.derivatives,
            generic: distros.generic,
            kargs: policy.rules,
            lemonade,
            sources,
            files,
            meta,
            copy,
            routes,
            origin: origin.to_string(),
        };
        let errors = validate::validate(&recipes, &texts);
        if let Some(first) = errors.first() {
            let more = errors.iter().skip(1).map(|e| format!("\n{e}")).collect::<String>();
            return Err(anyhow::anyhow!("{first}{more}"));
        }
        Ok(recipes)
    }

    /// The device entry for a PCI vendor/device/revision (hex strings without `0x`).
    pub fn device(&self, vendor: &str, device: &str, revision: &str) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| {
            d.vendor.eq_ignore_ascii_case(vendor)
                && d.device.eq_ignore_ascii_case(device)
                && d.revision.eq_ignore_ascii_case(revision)
        })
    }

    /// The blobs known for `amdnpu/<dir>/`.
    pub fn firmware_blobs(&self, dir: &str) -> &[FirmwareBlob] {
        self.firmware_dirs.iter().find(|d| d.dir == dir).map(|d| d.files.as_slice()).unwrap_or_default()
    }

    /// True when vendor:device is an NPU id in the table (any revision).
    pub fn is_npu_id(&self, vendor: &str, device: &str) -> bool {
        self.devices.iter().any(|d| d.vendor.eq_ignore_ascii_case(vendor) && d.device.eq_ignore_ascii_case(device))
    }

    /// The distro recipe for an os-release `ID` and `ID_LIKE` list: the recipe of that id
    /// (or one that lists it in `like`), else the base of a known derivative, else the first
    /// `ID_LIKE` member that has one (os-release(5) lists the closest first).
    pub fn distro(&self, id: &str, id_like: &[String]) -> Option<&Distro> {
        let by = |name: &str| self.distros.iter().find(|d| d.id == name || d.like.iter().any(|l| l == name));
        let derived = |name: &str| self.derivative(name).and_then(|d| by(&d.base));
        by(id).or_else(|| derived(id)).or_else(|| id_like.iter().find_map(|l| by(l).or_else(|| derived(l))))
    }

    /// The derivative entry of an os-release `ID`.
    pub fn derivative(&self, id: &str) -> Option<&Derivative> {
        self.derivatives.iter().find(|d| d.id == id)
    }

    /// The kernel range (major.minor bounds, inclusive) over which a flavour has matrix rows.
    pub fn flavour_kernels(&self, id: FlavourId) -> (Option<&str>, Option<&str>) {
        let rows: Vec<&Flavour> = self.drivers.flavours.iter().filter(|f| f.id == id).collect();
        let key = |s: &str| parse_dotted(s).map(|d| d.0).unwrap_or_default();
        let min = rows.iter().map(|f| f.kernel_min.as_str()).min_by_key(|s| key(s));
        // An open-ended row makes the whole range open-ended.
        let max = if rows.iter().any(|f| f.kernel_max.is_none()) {
            None
        } else {
            rows.iter().filter_map(|f| f.kernel_max.as_deref()).max_by_key(|s| key(s))
        };
        (min, max)
    }

    /// The out-of-tree flavour a `dkms status` entry belongs to, if it is an amdxdna module.
    pub fn dkms_flavour(&self, name: &str, version: &str) -> Option<FlavourId> {
        self.drivers.dkms_modules.iter().find(|m| m.matches(name, version)).map(|m| m.flavour)
    }

    /// The remedies of `distro`, or the generic ones when the host has no recipe.
    pub fn remedies<'a>(&'a self, distro: Option<&'a Distro>) -> &'a DistroRemedies {
        distro.map(|d| &d.remedies).unwrap_or(&self.generic)
    }

    /// Protocol major of a firmware version string (`1.1.2.65` -> 7).
    pub fn firmware_protocol(&self, version: &str) -> Option<&FirmwareProtocol> {
        self.drivers.firmware_protocols.iter().find(|p| version.starts_with(&p.prefix))
    }

    /// The flavour row for a flavour id (and variant) on a kernel. With the DRM version the
    /// loaded module reports, a row holding that version wins: first one whose kernel range
    /// also holds the kernel, then any (a distro kernel carrying a newer driver); else the
    /// kernel range decides.
    pub fn flavour(
        &self,
        id: FlavourId,
        variant: Option<Variant>,
        kernel: &KernelRelease,
        drm: Option<&str>,
    ) -> Option<&Flavour> {
        let rows =
            || self.drivers.flavours.iter().filter(move |f| f.id == id && (variant.is_none() || f.variant == variant));
        let by_kernel = |f: &&Flavour| kernel_in_range(kernel, Some(&f.kernel_min), f.kernel_max.as_deref());
        if let Some(d) = drm {
            if let Some(f) = rows().filter(|f| f.holds_drm(d)).find(by_kernel) {
                return Some(f);
            }
            if let Some(f) = rows().find(|f| f.holds_drm(d)) {
                return Some(f);
            }
        }
        rows().find(by_kernel)
    }

    /// What the mainline driver of `kernel`'s series reports, when the table knows.
    pub fn mainline_drm(&self, kernel: &KernelRelease) -> Option<&MainlineDrm> {
        self.drivers.mainline_drm.iter().find(|m| {
            parse_dotted(&m.kernel)
                .is_some_and(|d| d.0.first() == Some(&kernel.major) && d.0.get(1) == Some(&kernel.minor))
        })
    }
}

/// True when `k` (major.minor) lies within the inclusive bounds.
pub fn kernel_in_range(k: &KernelRelease, min: Option<&str>, max: Option<&str>) -> bool {
    let mm = |s: &str| {
        let v = parse_dotted(s).map(|d| d.0).unwrap_or_default();
        (v.first().copied().unwrap_or(0), v.get(1).copied().unwrap_or(0))
    };
    let cur = (k.major, k.minor);
    min.is_none_or(|m| cur >= mm(m)) && max.is_none_or(|m| cur <= mm(m))
}

fn embedded_text(rel: &str) -> &'static str {
    EMBEDDED
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, t)| *t)
        // SAFETY: callers only pass names from the EMBEDDED table above.
        .expect("embedded data file")
}

/// The embedded files, for `dev dump-data` and tests.
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    EMBEDDED
}

fn parse_file<T: DeserializeOwned>((name, text): (String, String)) -> Result<T> {
    crate::parse::yaml::from_str(&text)
        .map_err(|e| DataError { file: name, line: e.line, column: e.column, message: e.message }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every YAML file the repository ships passes the nesting pre-scan
    /// (`parse::yaml::check_depth`): the embedded data and the fixtures' metadata.
    #[test]
    fn every_shipped_yaml_document_passes_the_depth_check() {
        use crate::parse::yaml::check_depth;
        for (name, text) in embedded_files() {
            check_depth(text).unwrap_or_else(|e| panic!("{name}{}", e.located()));
        }
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts");
        for entry in std::fs::read_dir(fixtures).unwrap() {
            let meta = entry.unwrap().path().join(".fixture.yaml");
            if let Ok(text) = std::fs::read_to_string(&meta) {
                check_depth(&text).unwrap_or_else(|e| panic!("{}{}", meta.display(), e.located()));
            }
        }
    }

    #[test]
    fn embedded_data_loads() {
        let r = Recipes::embedded().unwrap();
        assert_eq!(r.device("1022", "17f0", "11").unwrap().product, "Strix Halo");
        assert_eq!(r.device("1022", "17f0", "20").unwrap().firmware_dir, "17f0_10");
        assert_eq!(r.firmware_protocol("1.1.2.65").unwrap().major, 7);
        assert_eq!(r.distro("cachyos", &[]).unwrap().id, "arch");
        assert_eq!(r.distro("pop", &["ubuntu".into(), "debian".into()]).unwrap().id, "ubuntu");
    }

    #[test]
    fn malformed_file_names_file_line_column() {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in EMBEDDED {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        let bad = dir.path().join("recipes/devices.yaml");
        std::fs::write(&bad, "devices:\n  - vendor: \"1022\"\n    colour: red\n").unwrap();
        let err = format!("{:#}", Recipes::from_dir(dir.path()).unwrap_err());
        assert!(err.contains("recipes/devices.yaml:3:5: devices[0]: unknown field `colour`"), "{err}");
    }

    #[test]
    fn bad_regex_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in EMBEDDED {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        std::fs::write(
            dir.path().join("recipes/kernel-log.yaml"),
            "signatures:\n  - {id: x, pattern: '(', severity: info, cause: c, source: s}\n",
        )
        .unwrap();
        let err = format!("{:#}", Recipes::from_dir(dir.path()).unwrap_err());
        assert!(err.contains("signature \"x\" has a bad pattern"), "{err}");
    }
}

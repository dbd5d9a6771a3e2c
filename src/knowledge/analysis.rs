//! Pure derivations several checks share: the NPU and its table entry, the amdxdna flavour
//! per kernel, which firmware file that flavour will load and whether it accepts it, and the
//! kernel-log signature matches. Computed once from `Facts` + `Recipes`; no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::host::Facts;
use crate::host::firmware::{FirmwareFile, NpuFirmware};
use crate::host::pci::PciDevice;
use crate::parse::version::{KernelRelease, parse_dotted, parse_kernel_release};
use crate::recipes::{DeviceEntry, Flavour, FlavourId, Recipes, Severity, Signature, Variant};

/// The amdxdna flavour a kernel will use.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlavourInfo {
    /// Kernel release.
    pub kernel: String,
    /// `in-tree`, `xdna-dkms` or `backport-dkms`.
    pub id: FlavourId,
    /// `legacy` / `staging` for xdna-dkms.
    pub variant: Option<Variant>,
    /// How the variant was decided.
    pub variant_basis: Option<String>,
    /// Module file that wins (host path), or `built-in`.
    pub path: String,
    /// MODULE_VERSION (xdna-driver DKMS only).
    pub version: Option<String>,
}

/// What a flavour does with the firmware on disk.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FirmwareVerdict {
    /// Names the flavour tries, in order.
    pub order: Vec<String>,
    /// The file it will load.
    pub chosen: Option<FirmwareFile>,
    /// Protocol major of the chosen file.
    pub protocol: Option<u32>,
    /// The protocol fact is unverified upstream.
    pub protocol_unverified: bool,
    /// Accepted by the flavour; None when unknown.
    pub accepted: Option<bool>,
    /// Protocols the flavour accepts for this device family, e.g. `6`, `7+`.
    pub accepts: Vec<String>,
}

/// One kernel-log line that matched a signature.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogMatch {
    /// Signature id.
    pub id: String,
    /// `fail`, `warn`, `info`.
    pub severity: Severity,
    /// Owning check.
    pub check: Option<String>,
    /// Cause, placeholders filled.
    pub cause: String,
    /// Remedy text.
    pub remedy: Option<String>,
    /// Install step.
    pub step: Option<String>,
    /// Fix needs reboot.
    pub reboot: bool,
    /// The log line.
    pub line: String,
    /// Named groups.
    pub groups: BTreeMap<String, String>,
}

/// Shared derivations.
#[derive(Debug, Clone, Default)]
pub struct Analysis<'a> {
    /// The NPU judged (the first found).
    pub npu: Option<&'a PciDevice>,
    /// Its table entry.
    pub entry: Option<&'a DeviceEntry>,
    /// Its firmware facts.
    pub firmware: Option<&'a NpuFirmware>,
    /// Running kernel release, parsed.
    pub running: Option<KernelRelease>,
    /// Target kernel release, parsed.
    pub target: Option<KernelRelease>,
    /// Flavour per kernel of interest.
    pub flavours: BTreeMap<String, FlavourInfo>,
    /// Kernel-log matches, in log order.
    pub log: Vec<LogMatch>,
    /// DRM version the running driver reported (kernel log or flm validate).
    pub drm_version: Option<String>,
}

impl<'a> Analysis<'a> {
    /// Derives everything from facts.
    pub fn new(f: &'a Facts, r: &'a Recipes) -> Self {
        let mut a = Analysis::default();
        a.npu = f.pci.ok().and_then(|p| p.npus.first());
        a.entry = a.npu.and_then(|n| r.device(&n.vendor, &n.device, &n.revision));
        a.firmware = a.npu.and_then(|n| f.firmware.ok().and_then(|fw| fw.npus.iter().find(|x| x.bdf == n.bdf)));
        let k = f.kernel.ok();
        a.running = k.and_then(|k| k.running.as_deref()).and_then(parse_kernel_release);
        a.target = k.and_then(|k| k.target.as_deref()).and_then(parse_kernel_release);
        a.log = match_log(f, r);
        a.drm_version = a
            .log
            .iter()
            .rev()
            .find(|m| m.id == "initialized")
            .and_then(|m| m.groups.get("drm").cloned())
            .or_else(|| f.flm.ok().and_then(|x| x.validate.as_ref()).and_then(|v| v.drm_version.clone()));
        if let Some(k) = k {
            for rel in k.kernels_of_interest() {
                if let Some(fl) = flavour_for(f, r, &rel, a.drm_version.as_deref()) {
                    a.flavours.insert(rel, fl);
                }
            }
        }
        a
    }

    /// Flavour of the running kernel.
    pub fn running_flavour(&self, f: &Facts) -> Option<&FlavourInfo> {
        f.kernel.ok().and_then(|k| k.running.as_ref()).and_then(|r| self.flavours.get(r))
    }

    /// Flavour of the target kernel.
    pub fn target_flavour(&self, f: &Facts) -> Option<&FlavourInfo> {
        f.kernel.ok().and_then(|k| k.target.as_ref()).and_then(|r| self.flavours.get(r))
    }

    /// The flavour `release` will use (any installed kernel, not only those of interest).
    pub fn flavour_of(&self, f: &Facts, r: &Recipes, release: &str) -> Option<FlavourInfo> {
        self.flavours.get(release).cloned().or_else(|| flavour_for(f, r, release, None))
    }

    /// Log matches owned by a check, at a minimum severity (`fail` or `warn`).
    pub fn log_for(&self, check: &str, severities: &[&str]) -> Vec<&LogMatch> {
        self.log
            .iter()
            .filter(|m| m.check.as_deref() == Some(check) && severities.contains(&m.severity.as_str()))
            .collect()
    }

    /// What `flavour` on `kernel` does with this NPU's firmware.
    pub fn firmware_verdict(&self, r: &Recipes, fl: &FlavourInfo) -> Option<FirmwareVerdict> {
        let entry = self.entry?;
        let fw = self.firmware?;
        let kernel = parse_kernel_release(&fl.kernel)?;
        let row: &Flavour = r.flavour(fl.id, fl.variant, &kernel)?;
        let chosen = row.firmware_order.iter().find_map(|n| fw.file(n)).cloned();
        let proto = chosen.as_ref().and_then(|c| c.version.as_deref()).and_then(|v| r.firmware_protocol(v));
        let accepts_for_family: Vec<_> = row.accepts.iter().filter(|a| a.family == entry.family).collect();
        let accepted =
            proto.map(|p| accepts_for_family.iter().any(|a| a.major == p.major || (a.or_newer && p.major >= a.major)));
        Some(FirmwareVerdict {
            order: row.firmware_order.clone(),
            chosen,
            protocol: proto.map(|p| p.major),
            protocol_unverified: proto.is_some_and(|p| p.unverified),
            accepted,
            accepts: accepts_for_family
                .iter()
                .map(|a| if a.or_newer { format!("{}+", a.major) } else { a.major.to_string() })
                .collect(),
        })
    }
}

/// Decides the flavour a kernel will use from its module files, modinfo and DKMS state.
fn flavour_for(f: &Facts, r: &Recipes, release: &str, drm: Option<&str>) -> Option<FlavourInfo> {
    let k = f.kernel.ok()?;
    let inst = k.installed(release);
    let running = k.running.as_deref() == Some(release);
    let modinfo = f.modinfo.ok().and_then(|m| m.kernels.get(release)).and_then(|m| m.as_ref());
    // The loaded module tells the truth for the running kernel when it carries a version.
    let loaded_version = if running { k.loaded_version.clone() } else { None };
    let file = inst.and_then(|i| i.amdxdna.first());
    let builtin = inst.is_some_and(|i| i.builtin);
    let (path, origin) = match (file, builtin) {
        (Some(m), _) => (m.path.clone(), m.origin.clone()),
        (None, true) => ("built-in".to_string(), "in-tree".to_string()),
        (None, false) => match modinfo.and_then(|m| m.filename.clone()) {
            Some(p) => {
                let o =
                    if p.contains("/kernel/drivers/accel/") || p == "(builtin)" { "in-tree" } else { "out-of-tree" };
                (p, o.to_string())
            }
            None => return None,
        },
    };
    let version = loaded_version.or_else(|| modinfo.and_then(|m| m.version.clone()));
    if origin == "in-tree" {
        return Some(FlavourInfo {
            kernel: release.into(),
            id: FlavourId::InTree,
            variant: None,
            variant_basis: None,
            path,
            version: None,
        });
    }
    // xdna-driver DKMS stamps MODULE_VERSION "<ver>_<YYYYMMDD>,<hash>"
    // (CMake/pkg_driver_source.cmake); the backport DKMS has no MODULE_VERSION.
    let dkms_backport = super::dkms::backport_registered(f, r);
    let Some(v) = version.clone().filter(|v| v.contains('_') || v.contains(',')) else {
        let k = parse_kernel_release(release);
        let (lo, hi) = r.flavour_kernels(FlavourId::BackportDkms);
        let backport_range = k.as_ref().is_some_and(|k| crate::recipes::kernel_in_range(k, lo, hi));
        if dkms_backport || backport_range {
            return Some(FlavourInfo {
                kernel: release.into(),
                id: FlavourId::BackportDkms,
                variant: None,
                variant_basis: None,
                path,
                version,
            });
        }
        // An unstamped out-of-tree module on another kernel: an older xdna-driver build
        // (e.g. a script-built 2024 tree); judged as the legacy driver.
        return Some(FlavourInfo {
            kernel: release.into(),
            id: FlavourId::XdnaDkms,
            variant: Some(Variant::Legacy),
            variant_basis: Some("out-of-tree module without xdna-driver's version stamp (assumed legacy)".into()),
            path,
            version,
        });
    };
    let (variant, basis) = match drm.filter(|_| running).and_then(parse_dotted) {
        Some(d) if d.0.first() == Some(&1) => (Variant::Legacy, format!("DRM version {}", drm.unwrap_or_default())),
        Some(_) => (Variant::Staging, format!("DRM version {}", drm.unwrap_or_default())),
        None => {
            let date = v.split('_').nth(1).map(|s| s.chars().take(8).collect::<String>()).unwrap_or_default();
            if !date.is_empty() && date.as_str() < r.drivers.xdna_dkms_staging_since.as_str() {
                (
                    Variant::Legacy,
                    format!("built {date}, before the package switched to the staging driver (xdna-driver e9a3bef5)"),
                )
            } else {
                (
                    Variant::Staging,
                    format!("built {date}, after the package switched to the staging driver (xdna-driver e9a3bef5)"),
                )
            }
        }
    };
    Some(FlavourInfo {
        kernel: release.into(),
        id: FlavourId::XdnaDkms,
        variant: Some(variant),
        variant_basis: Some(basis),
        path,
        version: Some(v),
    })
}

fn match_log(f: &Facts, r: &Recipes) -> Vec<LogMatch> {
    let Some(log) = f.kernel_log.ok() else { return Vec::new() };
    let compiled: Vec<(&Signature, regex::Regex)> =
        r.signatures.iter().filter_map(|s| regex::Regex::new(&s.pattern).ok().map(|re| (s, re))).collect();
    let mut out = Vec::new();
    for line in &log.lines {
        for (sig, re) in &compiled {
            if let Some(c) = re.captures(line) {
                let mut groups = BTreeMap::new();
                for name in re.capture_names().flatten() {
                    if let Some(m) = c.name(name) {
                        groups.insert(name.to_string(), m.as_str().to_string());
                    }
                }
                let fill =
                    |s: &str| groups.iter().fold(s.to_string(), |acc, (k, v)| acc.replace(&format!("{{{k}}}"), v));
                out.push(LogMatch {
                    id: sig.id.clone(),
                    severity: sig.severity,
                    check: sig.check.clone(),
                    cause: fill(&sig.cause),
                    remedy: sig.remedy.clone(),
                    step: sig.step.clone(),
                    reboot: sig.reboot,
                    line: line.clone(),
                    groups,
                });
                break;
            }
        }
    }
    out
}

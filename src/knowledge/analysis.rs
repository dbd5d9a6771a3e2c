//! Pure derivations several checks share: the NPU and its table entry, the amdxdna flavour
//! per kernel, which firmware file that flavour will load and whether it accepts it, and the
//! kernel-log signature matches. Computed once from `Facts` + `Recipes`; no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use super::identify::{self, Loaded};
use crate::host::Facts;
use crate::host::firmware::{FirmwareFile, NpuFirmware};
use crate::host::pci::PciDevice;
use crate::parse::version::{KernelRelease, parse_kernel_release};
use crate::recipes::{DeviceEntry, Flavour, FlavourId, Origin, Recipes, Severity, Signature, Variant};

/// The amdxdna flavour of one module file (the one a kernel loads, or the loaded one).
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
    /// Module file (path as on the system), or `built-in`.
    pub path: String,
    /// MODULE_VERSION (out-of-tree builds only).
    pub version: Option<String>,
    /// Built with the kernel or not.
    pub origin: Origin,
    /// How the origin was decided (modinfo `intree`, the directory).
    pub origin_basis: String,
    /// modinfo `srcversion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srcversion: Option<String>,
    /// DRM version the module reported (only for the loaded module).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drm: Option<String>,
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
    /// A module-loader refusal (the reason a module file did not load).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub loader: bool,
    /// A kernel crash report (`line` is its first line; `groups["trace"]` the line of the
    /// trace that names it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub crash: bool,
}

/// The id of an amdxdna error line no signature knows.
pub const UNRECOGNISED: &str = "unrecognised-driver-error";

/// The id of a kept crash report no crash signature knows.
pub const UNRECOGNISED_CRASH: &str = "unrecognised-crash";

/// How to report what doctor does not recognise.
pub const REPORT_COMMAND: &str = "sudo npu-setup doctor --bundle npu-bug.tar.gz";

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
    /// Flavour per kernel of interest: the module file that kernel loads from disk.
    pub flavours: BTreeMap<String, FlavourInfo>,
    /// The running kernel's loaded module, matched to its file.
    pub loaded: Option<Loaded>,
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
        a.log = match_crashes(f, r);
        a.log.extend(match_log(f, r));
        a.drm_version = a
            .log
            .iter()
            .rev()
            .find(|m| m.id == "initialized")
            .and_then(|m| m.groups.get("drm").cloned())
            .or_else(|| f.flm.ok().and_then(|x| x.validate.as_ref()).and_then(|v| v.drm_version.clone()));
        a.loaded = identify::loaded(f, r, a.drm_version.as_deref());
        // A loader refusal that does not name amdxdna was kept only for sitting near its
        // lines; when the loaded module is the file the kernel would load, it was another
        // module's.
        if a.loaded.as_ref().is_some_and(|l| l.module.is_some() && l.not_loaded.is_none()) {
            a.log.retain(|m| !m.loader || m.line.contains("amdxdna"));
        }
        if let Some(k) = k {
            for rel in k.kernels_of_interest() {
                let mut fl = identify::on_disk(f, r, &rel);
                // The file the running kernel loads is the loaded one: it carries the DRM
                // version (and the variant that decides).
                if let (Some(d), Some(m)) = (&fl, a.loaded.as_ref().and_then(|l| l.module.as_ref()))
                    && m.kernel == rel
                    && m.path == d.path
                {
                    fl = Some(m.clone());
                }
                if let Some(fl) = fl {
                    a.flavours.insert(rel, fl);
                }
            }
        }
        a
    }

    /// Flavour of the module file the running kernel loads from disk (what the next load
    /// gets; Secure Boot and DKMS judge this one).
    pub fn running_flavour(&self, f: &Facts) -> Option<&FlavourInfo> {
        f.kernel.ok().and_then(|k| k.running.as_ref()).and_then(|r| self.flavours.get(r))
    }

    /// Flavour of the module driving the NPU now: the loaded one when it was matched to a
    /// file, else the running kernel's module on disk.
    pub fn loaded_flavour(&self, f: &Facts) -> Option<&FlavourInfo> {
        self.loaded.as_ref().and_then(|l| l.module.as_ref()).or_else(|| self.running_flavour(f))
    }

    /// Kernel-log lines where the module loader refused a module (any owning check).
    pub fn loader_refusals(&self) -> Vec<&LogMatch> {
        self.log.iter().filter(|m| m.loader).collect()
    }

    /// The first kernel crash in the NPU stack this boot, or a wedge that needs a reboot (a
    /// command timeout, a failed reset): what a hung probe afterwards is explained by.
    pub fn crash(&self) -> Option<&LogMatch> {
        self.log
            .iter()
            .find(|m| m.crash)
            .or_else(|| self.log.iter().find(|m| m.severity == Severity::Fail && m.reboot && m.check.is_none()))
    }

    /// The first amdxdna error line no signature knows (no crash or wedge known): what a
    /// hung probe afterwards may be explained by, said as unrecognised.
    pub fn unrecognised_error(&self) -> Option<&LogMatch> {
        self.log.iter().find(|m| m.id == UNRECOGNISED)
    }

    /// Flavour of the target kernel.
    pub fn target_flavour(&self, f: &Facts) -> Option<&FlavourInfo> {
        f.kernel.ok().and_then(|k| k.target.as_ref()).and_then(|r| self.flavours.get(r))
    }

    /// The flavour `release` will use (any installed kernel, not only those of interest).
    pub fn flavour_of(&self, f: &Facts, r: &Recipes, release: &str) -> Option<FlavourInfo> {
        self.flavours.get(release).cloned().or_else(|| identify::on_disk(f, r, release))
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
        let row: &Flavour = r.flavour(fl.id, fl.variant, &kernel, fl.drm.as_deref())?;
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

fn match_log(f: &Facts, r: &Recipes) -> Vec<LogMatch> {
    let Some(log) = f.kernel_log.ok() else { return Vec::new() };
    let compiled: Vec<(&Signature, regex::Regex)> =
        r.signatures.iter().filter_map(|s| regex::Regex::new(&s.pattern).ok().map(|re| (s, re))).collect();
    let mut out = Vec::new();
    for line in &log.lines {
        let mut matched = false;
        for (sig, re) in &compiled {
            if let Some(c) = re.captures(line) {
                matched = true;
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
                    loader: sig.loader,
                    crash: false,
                });
                break;
            }
        }
        // After a failure the catalog knows, the driver's further errors are its cascade
        // (the smu/power-off lines after a rejected firmware, amd/xdna-driver#1257).
        let after_failure = out.iter().any(|m: &LogMatch| m.severity == Severity::Fail);
        if !matched && !after_failure && is_driver_error(line) {
            out.push(LogMatch {
                id: UNRECOGNISED.into(),
                severity: Severity::Warn,
                check: None,
                cause: format!("unrecognised driver error: {line}"),
                remedy: Some(format!(
                    "doctor does not know this amdxdna error. If the NPU misbehaves, report it with a support bundle ({REPORT_COMMAND}) to https://github.com/amd/xdna-driver/issues."
                )),
                step: None,
                reboot: false,
                line: line.clone(),
                groups: BTreeMap::new(),
                loader: false,
                crash: false,
            });
        }
    }
    out
}

/// An amdxdna line that reports an error. The kernel's driver prints its errors through
/// `drm_err`, which marks them `[drm] *ERROR*`; xdna-driver's out-of-tree driver prints them
/// with `dev_err` (`XDNA_ERR`, `MB_ERR`), with no marker at all
/// (https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/src/driver/amdxdna/amdxdna_drm.h),
/// and the log carries no level. So the words decide: a failure, a timeout, an abort, an
/// invalid value, a negative return code, or the job watchdog's "isn't making progress"
/// (`XDNA_WARN`: it aborts the hung contexts). Unmarked timeouts are how a firmware that
/// stopped answering shows up on that driver
/// ("xdna_send_msg_wait: Wait for completion timeout", nod-ai/iree-amd-aie#1266).
fn is_driver_error(line: &str) -> bool {
    static WORDS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let words = WORDS.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\*ERROR\*|\bfail(?:s|ed|ure)\b|\btime ?out\b|\btimed out\b|\berror\b|\binvalid\b|\babort(?:ed)?\b|isn't making progress|\b(?:ret|err|error|status)\s*[=:]?\s*-\d+",
        )
        .expect("static regex")
    });
    line.contains("amdxdna") && words.is_match(line)
}

/// Names each kept crash report: a crash signature, else an unrecognised crash in the NPU
/// stack; a crash that only followed one (no tie of its own) is part of that one.
fn match_crashes(f: &Facts, r: &Recipes) -> Vec<LogMatch> {
    let Some(log) = f.kernel_log.ok() else { return Vec::new() };
    let ties = ["amdxdna", "iommu_sva_", "aie2_", "/dev/accel", "amdnpu"];
    let mut out = Vec::new();
    for block in &log.crashes {
        let Some(first) = block.first() else { continue };
        let known = r.crashes.iter().find_map(|c| {
            let start = regex::Regex::new(&c.start).ok()?;
            let trace = regex::Regex::new(&c.trace).ok()?;
            if !start.is_match(first) {
                return None;
            }
            block.iter().find(|l| trace.is_match(l)).map(|l| (c, l))
        });
        let (id, cause, remedy, check, step, trace) = match known {
            Some((c, l)) => {
                (c.id.clone(), c.cause.clone(), c.remedy.clone(), c.check.clone(), c.step.clone(), l.clone())
            }
            None => {
                let Some(tie) = block.iter().find(|l| ties.iter().any(|t| l.contains(t))) else { continue };
                (
                    UNRECOGNISED_CRASH.to_string(),
                    format!("the kernel crashed in the NPU stack ({first}; {tie})"),
                    format!(
                        "Reboot: the NPU stays unusable until then. doctor does not know this crash; report it with a support bundle ({REPORT_COMMAND}) to https://github.com/amd/xdna-driver/issues."
                    ),
                    None,
                    None,
                    tie.clone(),
                )
            }
        };
        out.push(LogMatch {
            id,
            severity: Severity::Fail,
            check,
            cause,
            remedy: Some(remedy),
            step,
            reboot: true,
            line: first.clone(),
            groups: BTreeMap::from([("trace".to_string(), trace)]),
            loader: false,
            crash: true,
        });
    }
    out
}

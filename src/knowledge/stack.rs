//! The userspace layers above the kernel, judged once: is XRT (base + xdna plugin) installed,
//! and is FastFlowLM installed and recent enough. `xrt.install`, `flm.install`, the install
//! strategy and `build-deps` all ask these functions; none re-derives the answer.

use serde::Serialize;

use crate::host::Facts;
use crate::parse::version::parse_dotted;
use crate::recipes::flm::FlmValidateRule;
use crate::recipes::{Distro, Recipes};

/// The distro recipe of the host, when the OS was read and a recipe matches it (a
/// derivative's is its base's: `knowledge::distro`).
pub fn distro<'r>(f: &Facts, r: &'r Recipes) -> Option<&'r Distro> {
    super::distro::host(f, r).map(|h| h.recipe)
}

/// What is installed of XRT and its xdna plugin.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct XrtInstall {
    /// XRT base packages installed (`name version`).
    pub base_packages: Vec<String>,
    /// Plugin packages installed (`name version`), without those already listed as base.
    pub plugin_packages: Vec<String>,
    /// XRT base is usable: a base package, or `libxrt_coreutil.so.2` on disk.
    pub base: bool,
    /// The xdna plugin is usable: a plugin package, or `libxrt_driver_xdna.so.2` on disk.
    pub plugin: bool,
    /// Both the xdna-driver build's and COPR's plugin packages are installed (same files).
    pub duplicate_plugins: bool,
}

/// True when the loader facts found `soname` somewhere on disk.
pub fn lib_on_disk(f: &Facts, soname: &str) -> bool {
    f.loader.ok().is_some_and(|l| l.libs.iter().any(|x| x.soname == soname && !x.found.is_empty()))
        || f.flm.ok().is_some_and(|x| x.runpath_libs.iter().any(|(s, _)| s == soname))
}

/// Judges the XRT layer from packages and the libraries on disk.
pub fn xrt_install(f: &Facts, r: &Recipes) -> XrtInstall {
    let pk = f.packages.ok();
    let d = distro(f, r);
    let installed = |names: &[String]| -> Vec<String> {
        names.iter().filter_map(|n| pk.and_then(|p| p.version(n)).map(|v| format!("{n} {v}"))).collect()
    };
    let base_packages = d.map(|d| installed(&d.packages.xrt)).unwrap_or_default();
    // Ubuntu's libxrt-npu2 fills both roles; list each package once.
    let plugin_all = d.map(|d| installed(&d.packages.xrt_plugin)).unwrap_or_default();
    let plugin = !plugin_all.is_empty() || lib_on_disk(f, "libxrt_driver_xdna.so.2");
    let base = !base_packages.is_empty() || lib_on_disk(f, "libxrt_coreutil.so.2");
    let duplicate_plugins = d.is_some_and(|d| {
        d.packages.xrt_plugin.iter().filter(|n| n.contains("plugin") && pk.and_then(|p| p.version(n)).is_some()).count()
            > 1
    });
    let plugin_packages = plugin_all.into_iter().filter(|p| !base_packages.contains(p)).collect();
    XrtInstall { base_packages, plugin_packages, base, plugin, duplicate_plugins }
}

/// The installed XRT's release: its first XRT package with a version, else the release
/// `xrt-smi examine` reports (hosts without XRT packages: NixOS's store, a source build under
/// /opt/xilinx/xrt), so known issues keyed on XRT versions match there too
/// (<https://github.com/noamsto/nix-amd-ai/issues/148> is such a host).
pub fn xrt_version(f: &Facts, r: &Recipes) -> Option<String> {
    let packaged = distro(f, r)
        .zip(f.packages.ok())
        .and_then(|(d, p)| d.packages.xrt.iter().find_map(|n| p.version(n)).map(str::to_string));
    packaged.or_else(|| f.xrt.ok().and_then(|x| x.version.clone()))
}

/// What is installed of FastFlowLM.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FlmInstall {
    /// The FLM probe did not run (its reason is the probe's).
    NotProbed,
    /// No `flm` binary anywhere the probe looks.
    Missing,
    /// Found, but `flm version` gave nothing usable.
    VersionUnknown {
        /// Binary path.
        binary: String,
        /// Why.
        error: String,
    },
    /// Found, older than the minimum Lemonade accepts.
    TooOld {
        /// Binary path.
        binary: String,
        /// Its version.
        version: String,
        /// The minimum.
        min: String,
    },
    /// Found and recent enough.
    Installed {
        /// Binary path.
        binary: String,
        /// Its version.
        version: String,
    },
}

impl FlmInstall {
    /// A binary exists (whatever its version).
    pub fn present(&self) -> bool {
        !matches!(self, FlmInstall::NotProbed | FlmInstall::Missing)
    }
}

/// The NPU runtime a FastFlowLM build runs on. Since FastFlowLM#602 (merged 2026-08,
/// <https://github.com/ROCm/FastFlowLM/pull/602>) flm builds on XRT (the default) or on HRX
/// (`FLM_USE_HRX`); HRX's libhrx opens /dev/accel itself and needs no XRT. Fedora's COPR
/// ships both builds as `flm-xrt` / `flm-hrx` behind update-alternatives, HRX preferred when
/// both are installed (`fastflowlm-hrx` requires `hrx`, not XRT:
/// <https://github.com/abn/fastflowlm-rpm/blob/bf7fe0ea489c3612c1875a410a00f79d3a248306/fastflowlm.spec>, 1.0.4-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlmRuntime {
    /// XRT (`libxrt_coreutil.so.2`, and the xdna plugin to see the NPU).
    Xrt,
    /// HRX (`libhrx`): no XRT needed.
    Hrx,
    /// Not known (a script, a wrapper, no flm).
    Unknown,
}

/// Which runtime the system flm runs on, and what says so: the libraries its ELF needs,
/// else the name it resolves to (`flm-hrx`, `flm-xrt`), else its run path (`…/flm/hrx`).
pub fn flm_runtime(f: &Facts) -> (FlmRuntime, Option<String>) {
    let Some(flm) = f.flm.ok() else { return (FlmRuntime::Unknown, None) };
    if let Some(n) = flm.needed.iter().find(|n| n.starts_with("libhrx")) {
        return (FlmRuntime::Hrx, Some(format!("it links {n}")));
    }
    if let Some(n) = flm.needed.iter().find(|n| n.starts_with("libxrt")) {
        return (FlmRuntime::Xrt, Some(format!("it links {n}")));
    }
    let path = flm.resolved.as_deref().or(flm.binary.as_deref()).unwrap_or("");
    match path.rsplit('/').next() {
        Some("flm-hrx") => return (FlmRuntime::Hrx, Some(format!("flm is {path}"))),
        Some("flm-xrt") => return (FlmRuntime::Xrt, Some(format!("flm is {path}"))),
        _ => {}
    }
    if let Some(d) = flm.runpath.iter().find(|d| d.trim_end_matches('/').ends_with("/flm/hrx")) {
        return (FlmRuntime::Hrx, Some(format!("its run path is {d}")));
    }
    (FlmRuntime::Unknown, None)
}

/// Judges the FastFlowLM layer.
pub fn flm_install(f: &Facts, r: &Recipes) -> FlmInstall {
    let Some(flm) = f.flm.ok() else { return FlmInstall::NotProbed };
    let Some(binary) = flm.binary.clone() else { return FlmInstall::Missing };
    let Some(version) = flm.version.clone() else {
        return FlmInstall::VersionUnknown { binary, error: flm.version_error.clone().unwrap_or_default() };
    };
    let min = &r.drivers.flm.lemonade_min_version;
    if parse_dotted(&version).zip(parse_dotted(min)).is_some_and(|(v, m)| v < m) {
        return FlmInstall::TooOld { binary, version, min: min.clone() };
    }
    FlmInstall::Installed { binary, version }
}

/// The `flm validate` rule that applies: the installed FLM's version, else the version
/// `npu-setup install` builds (the pinned source), since that is the FLM the host will get.
#[derive(Debug, Clone)]
pub struct FlmRule<'r> {
    /// The rule.
    pub rule: &'r FlmValidateRule,
    /// The FLM version it was chosen for.
    pub version: String,
    /// That version is installed (else it is the pinned build's).
    pub installed: bool,
}

/// The validate rule for the host's FLM (None: older than every rule the recipes know).
pub fn flm_rule<'r>(f: &Facts, r: &'r Recipes) -> Option<FlmRule<'r>> {
    let installed = f.flm.ok().and_then(|x| x.version.clone());
    let (version, is_installed) = match installed {
        Some(v) => (v, true),
        None => (r.sources.build("flm")?.version.clone(), false),
    };
    let rule = r.drivers.flm.rule(&version)?;
    Some(FlmRule { rule, version, installed: is_installed })
}

/// The kernel FastFlowLM requires on this host, and whether that requirement is confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct FlmKernelMin {
    /// major.minor.
    pub min: String,
    /// For this FLM version.
    pub version: String,
    /// That version is installed (else the pinned build's).
    pub installed: bool,
    /// The unverified facts it rests on (empty when confirmed).
    pub unverified: Vec<String>,
}

/// FLM's kernel minimum for the host's FLM (None when that version has no kernel check).
pub fn flm_kernel_min(f: &Facts, r: &Recipes) -> Option<FlmKernelMin> {
    let Some(fr) = flm_rule(f, r) else {
        // An FLM older than every rule: the newest minimum is the one an update brings.
        return Some(FlmKernelMin {
            min: r.drivers.flm.min_kernel.clone(),
            version: f.flm.ok().and_then(|x| x.version.clone()).unwrap_or_default(),
            installed: true,
            unverified: Vec::new(),
        });
    };
    let min = fr.rule.min_kernel.clone()?;
    let unverified = if fr.rule.unverified.covers("min_kernel") {
        vec![format!("that FastFlowLM {} still refuses kernels below {min} ({})", fr.version, fr.rule.source)]
    } else {
        Vec::new()
    };
    Some(FlmKernelMin { min, version: fr.version, installed: fr.installed, unverified })
}

/// One reason `flm validate` gave for not being ready, and the checks that could cause it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlmReason {
    /// What FLM found, in words.
    pub what: String,
    /// Check ids that judge the layer at fault.
    pub suspects: Vec<&'static str>,
}

/// What `flm validate` said, read with the semantics of the installed FLM version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum FlmValidateVerdict {
    /// The FLM probe did not run.
    NotProbed,
    /// No `flm` binary.
    NotInstalled,
    /// validate gave no parsable result (why).
    NoResult {
        /// Why.
        error: String,
    },
    /// Ready.
    Ready,
    /// This FLM version reports "No NPU device found" on healthy hosts (a known bug), and
    /// the accel node exists.
    KnownFalseNoDevice {
        /// The installed version.
        version: String,
        /// The first version without the bug.
        fixed_in: Option<String>,
        /// Where the bug is described.
        source: String,
    },
    /// The NPU node was busy: another process holds it, so validate could not inspect it.
    Busy {
        /// Busy nodes (empty when FLM marked the result as a whole).
        nodes: Vec<String>,
    },
    /// Not ready, for these reasons.
    NotReady {
        /// Reasons, most fundamental first.
        reasons: Vec<FlmReason>,
        /// FLM stopped at its kernel check: the device, firmware, column and memlock flags are
        /// its initial defaults, not findings.
        stopped_at_kernel: bool,
    },
}

/// Judges `flm validate`'s result.
pub fn flm_validate(f: &Facts, r: &Recipes) -> FlmValidateVerdict {
    let Some(flm) = f.flm.ok() else { return FlmValidateVerdict::NotProbed };
    if flm.binary.is_none() {
        return FlmValidateVerdict::NotInstalled;
    }
    let Some(v) = &flm.validate else {
        return FlmValidateVerdict::NoResult { error: flm.validate_error.clone().unwrap_or_default() };
    };
    if v.ready == Some(true) {
        return FlmValidateVerdict::Ready;
    }
    let fr = flm_rule(f, r);
    let rule = fr.as_ref().map(|x| x.rule).or(r.drivers.flm.newest_rule());
    let min_kernel = rule.and_then(|x| x.min_kernel.clone());
    let min_drm = rule.map(|x| x.min_drm.clone()).unwrap_or_else(|| r.drivers.flm.min_drm.clone());
    let min_fw = rule.map(|x| x.min_firmware.clone()).unwrap_or_else(|| r.drivers.flm.min_firmware.clone());
    let min_cols = rule.map(|x| x.min_columns).unwrap_or(r.drivers.flm.min_columns);
    let kernel = v.kernel.clone().or_else(|| f.kernel.ok().and_then(|k| k.running.clone()));
    let kernel_below = |min: &str| {
        kernel
            .as_deref()
            .and_then(crate::parse::version::parse_kernel_release)
            .is_some_and(|k| !crate::recipes::kernel_in_range(&k, Some(min), None))
    };
    let no_device_seen = v.devices.iter().all(|d| d.busy == Some(true));
    // The kernel check returns before the scan: kernel_ok false with nothing scanned (the
    // JSON keeps amd_device_found at its initial true; the human form prints no device line).
    let stopped_at_kernel = v.kernel_ok == Some(false)
        && v.devices.is_empty()
        && v.drm_version.is_none()
        && v.amd_device_found != Some(false)
        && rule.is_none_or(|x| x.kernel_check_returns_early);
    if !stopped_at_kernel && v.any_busy() && no_device_seen {
        let nodes = v.devices.iter().filter(|d| d.busy == Some(true)).map(|d| d.device.clone()).collect();
        return FlmValidateVerdict::Busy { nodes };
    }
    let not_found = !stopped_at_kernel
        && (v.amd_device_found == Some(false) || (v.devices.is_empty() && v.amd_device_found.is_none()));
    if let Some(fr) = &fr
        && fr.installed
        && fr.rule.false_no_device
        && not_found
        && v.kernel_ok != Some(false)
        && f.nodes.ok().is_some_and(|n| n.accel.iter().any(|a| a.stat.is_some()))
    {
        let fixed_in = r.drivers.flm.validate.iter().find(|x| x.from == fr.rule.below.clone().unwrap_or_default());
        return FlmValidateVerdict::KnownFalseNoDevice {
            version: fr.version.clone(),
            fixed_in: fixed_in.map(|x| x.from.clone()),
            source: fr.rule.source.clone(),
        };
    }
    let mut reasons = Vec::new();
    let mut reason =
        |what: String, suspects: &[&'static str]| reasons.push(FlmReason { what, suspects: suspects.to_vec() });
    if stopped_at_kernel {
        let k = kernel.clone().unwrap_or_else(|| "unknown".into());
        reason(
            format!(
                "kernel {k} below {}: FLM stops at its kernel check (device, firmware and memlock not checked)",
                min_kernel.as_deref().unwrap_or("its minimum")
            ),
            &["host.kernel"],
        );
    } else if v.kernel_ok == Some(false) {
        match min_kernel.as_deref().filter(|m| kernel_below(m)) {
            Some(m) => reason(
                format!("kernel {} below {m}, FLM's minimum", kernel.clone().unwrap_or_default()),
                &["host.kernel"],
            ),
            // On a new enough kernel, kernel_ok false is the DRM check.
            None => {
                let drm_ok =
                    v.drm_version.as_deref().and_then(parse_dotted).zip(parse_dotted(&min_drm)).map(|(d, m)| d >= m);
                match drm_ok {
                    Some(true) => reason(
                        format!(
                            "kernel_ok false although kernel {} and amdxdna DRM {} meet FLM's minimums ({} / {min_drm})",
                            kernel.clone().unwrap_or_default(),
                            v.drm_version.clone().unwrap_or_default(),
                            min_kernel.as_deref().unwrap_or("none")
                        ),
                        &["host.kernel", "driver.module"],
                    ),
                    _ => reason(
                        format!(
                            "amdxdna DRM version {} below {min_drm} (FLM reports it as kernel_ok false; the kernel is new enough)",
                            v.drm_version.as_deref().unwrap_or("unreadable")
                        ),
                        &["driver.module"],
                    ),
                }
            }
        }
    } else if let Some(drm) = &v.drm_version
        && parse_dotted(drm).zip(parse_dotted(&min_drm)).is_some_and(|(d, m)| d < m)
    {
        reason(format!("amdxdna DRM {drm} < {min_drm}"), &["driver.module"]);
    }
    if not_found {
        let mut what =
            "\"No NPU device found\" (FLM hides permission, IOMMU and driver errors behind this)".to_string();
        if let Some(fr) = fr.as_ref().filter(|x| x.rule.false_no_device) {
            what.push_str(&format!(
                "; FLM {} also says this when it holds the device itself (a known bug, {})",
                fr.version, fr.rule.source
            ));
        }
        reason(what, &["npu.device", "boot.iommu", "driver.bound", "firmware.compat", "accel.node"]);
    }
    if !stopped_at_kernel {
        if v.all_fw_ok == Some(false) || v.devices.iter().any(|d| d.fw_ok == Some(false)) {
            let fw = v.devices.iter().find(|d| d.fw_ok == Some(false)).or(v.devices.first());
            reason(
                format!(
                    "firmware {} incompatible (needs >= {min_fw})",
                    fw.and_then(|d| d.fw_version.clone()).unwrap_or_default()
                ),
                &["firmware.compat"],
            );
        }
        if v.enough_cols == Some(false) || v.devices.iter().any(|d| d.cols.is_some_and(|c| c < min_cols)) {
            reason(
                format!(
                    "{} columns < {min_cols} (XDNA1 is not supported by FLM)",
                    v.devices
                        .iter()
                        .find_map(|d| d.cols.filter(|c| *c < min_cols))
                        .or(v.devices.first().and_then(|d| d.cols))
                        .unwrap_or_default()
                ),
                &["npu.device"],
            );
        }
        if v.memlock_ok == Some(false) {
            reason(
                format!(
                    "memlock limit {} too low (FLM needs >= {} MiB or a limit it can raise)",
                    v.memlock_limit.clone().unwrap_or_default(),
                    rule.map(|x| x.memlock_min_mib).unwrap_or(100)
                ),
                &["limits.memlock"],
            );
        }
    }
    let known: Vec<String> = reasons.iter().map(|x| x.what.clone()).collect();
    for e in v.errors.iter().filter(|e| !known.iter().any(|k| k.contains(e.as_str()))).take(2) {
        // FLM's own words for anything not named above.
        let covered = (stopped_at_kernel || v.kernel_ok == Some(false)) && e.starts_with("Kernel version incompatible")
            || not_found && e.starts_with("No NPU device found")
            || e.starts_with("amdxdna version")
            || e.starts_with("NPU firmware version")
            || e.contains("does not have enough columns")
            || e.starts_with("Memlock limit");
        if !covered {
            reasons.push(FlmReason { what: e.clone(), suspects: Vec::new() });
        }
    }
    if reasons.is_empty() {
        reasons.push(FlmReason { what: "not ready".into(), suspects: Vec::new() });
    }
    FlmValidateVerdict::NotReady { reasons, stopped_at_kernel }
}

/// What XRT enumerates (`xrt-smi examine`), against the accel node the driver registered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum XrtDevices {
    /// Not probed (why): no xrt-smi, offline root.
    NotProbed(String),
    /// xrt-smi printed no device section (an error of its own): not a finding.
    Unreadable {
        /// Its exit code.
        code: Option<i32>,
    },
    /// XRT lists these devices.
    Lists(Vec<crate::parse::xrt::XrtDevice>),
    /// XRT lists no device although the driver registered an accel node: XRT did not load
    /// its xdna plugin, or the plugin does not speak this driver's interface. FLM models run
    /// through XRT, so they fail with "No such device with index '0'" while `flm validate`
    /// (the DRM path) passes (<https://github.com/amd/xdna-driver/issues/50>,
    /// <https://github.com/ROCm/FastFlowLM/issues/416>).
    NoneWithNode {
        /// The accel node that exists.
        node: String,
    },
    /// XRT lists no device, and there is no accel node either (the driver layer's problem).
    NoneNoNode,
}

/// Judges XRT's enumeration.
pub fn xrt_devices(f: &Facts) -> XrtDevices {
    let x = match &f.xrt {
        crate::host::Probed::Ok(x) => x,
        other => return XrtDevices::NotProbed(other.reason().unwrap_or_default().to_string()),
    };
    match &x.devices {
        None => XrtDevices::Unreadable { code: x.code },
        Some(d) if !d.is_empty() => XrtDevices::Lists(d.clone()),
        Some(_) => {
            let node = f.nodes.ok().and_then(|n| n.accel.iter().find(|a| a.stat.is_some())).map(|a| a.path.clone());
            match node {
                Some(node) => XrtDevices::NoneWithNode { node },
                None => XrtDevices::NoneNoNode,
            }
        }
    }
}

/// What `flm list --json` said: how Lemonade discovers the models FLM can serve.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum FlmListVerdict {
    /// Not run (no flm, offline root, an older Facts value).
    NotRun,
    /// Parsed.
    Listed {
        /// Models listed.
        models: usize,
        /// Installed ones.
        installed: usize,
    },
    /// JSON preceded by text on stdout: Lemonade's parse fails and it lists no FLM model
    /// ("FLM model discovery failed with unknown error",
    /// <https://github.com/lemonade-sdk/lemonade/issues/2782>).
    Banner {
        /// The line before the JSON.
        line: String,
    },
    /// No JSON: FLM aborted (its own error line), e.g. a JSON parse error of one of its own
    /// files (<https://github.com/ROCm/FastFlowLM/issues/576>).
    Failed {
        /// Exit code.
        code: Option<i32>,
        /// FLM's error line.
        error: Option<String>,
    },
    /// Could not run or did not finish (timeout).
    NoResult {
        /// Why.
        error: String,
    },
}

/// Judges `flm list --json`.
pub fn flm_list(f: &Facts) -> FlmListVerdict {
    let Some(x) = f.flm.ok() else { return FlmListVerdict::NotRun };
    if let Some(e) = &x.list_error {
        return FlmListVerdict::NoResult { error: e.clone() };
    }
    let Some(l) = &x.list else { return FlmListVerdict::NotRun };
    match (l.models, &l.leading_text) {
        (Some(_), Some(line)) => FlmListVerdict::Banner { line: line.clone() },
        (Some(models), None) if x.list_code.unwrap_or(0) == 0 => {
            FlmListVerdict::Listed { models, installed: l.installed.unwrap_or(0) }
        }
        _ => FlmListVerdict::Failed { code: x.list_code, error: l.error.clone() },
    }
}

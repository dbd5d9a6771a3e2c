//! The userspace layers above the kernel, judged once: is XRT (base + xdna plugin) installed,
//! and is FastFlowLM installed and recent enough. `xrt.install`, `flm.install`, the install
//! strategy and `build-deps` all ask these functions; none re-derives the answer.

use serde::Serialize;

use crate::host::Facts;
use crate::parse::flm::FlmValidate;
use crate::parse::version::{parse_dotted, parse_kernel_release};
use crate::recipes::{Distro, Recipes, kernel_in_range};

/// The distro recipe of the host, when the OS was read and a recipe matches it.
pub fn distro<'r>(f: &Facts, r: &'r Recipes) -> Option<&'r Distro> {
    f.os.ok().and_then(|o| r.distro(&o.id, &o.id_like))
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

/// What FastFlowLM's validate found below its minimums in the kernel layer. FLM folds two
/// checks into `kernel_ok`: the kernel release (>= 6.17; on failure it returns early, before
/// any device or DRM field) and, once a device is open, the driver's DRM version (>= 0.6, or
/// unknown) — the JSON does not say which
/// (<https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlmKernelOk {
    /// FLM said `kernel_ok: false`.
    pub kernel_ok_false: bool,
    /// The kernel release FLM saw is below its minimum: (release, minimum).
    pub kernel_below: Option<(String, String)>,
    /// The driver's DRM version is below FLM's minimum or unknown: (version, minimum).
    pub drm_below: Option<(String, String)>,
}

impl FlmKernelOk {
    /// `kernel_ok` is false and neither known cause explains it.
    pub fn unexplained(&self) -> bool {
        self.kernel_ok_false && self.kernel_below.is_none() && self.drm_below.is_none()
    }
}

/// Which of FLM's kernel-layer checks failed, from the validate JSON and the facts (the
/// running kernel, the DRM version the kernel log reported when FLM printed none).
pub fn flm_kernel_ok(v: &FlmValidate, f: &Facts, r: &Recipes, log_drm: Option<&str>) -> FlmKernelOk {
    let m = &r.drivers.flm;
    let kernel = v.kernel.clone().or_else(|| f.kernel.ok().and_then(|k| k.running.clone()));
    // Only when FLM failed it: FLM builds without the kernel check exist (ROCm/FastFlowLM#738).
    let kernel_below = kernel
        .filter(|_| v.kernel_ok == Some(false))
        .filter(|k| parse_kernel_release(k).is_some_and(|kr| !kernel_in_range(&kr, Some(&m.min_kernel), None)))
        .map(|k| (k, m.min_kernel.clone()));
    // FLM prints "unknown" when DRM_IOCTL_VERSION fails, and counts it as too old.
    let drm = v.drm_version.clone().or_else(|| if kernel_below.is_some() { None } else { log_drm.map(str::to_string) });
    let drm_below = drm
        .filter(|d| d == "unknown" || parse_dotted(d).zip(parse_dotted(&m.min_drm)).is_some_and(|(d, min)| d < min))
        .map(|d| (d, m.min_drm.clone()));
    FlmKernelOk { kernel_ok_false: v.kernel_ok == Some(false), kernel_below, drm_below }
}

//! Which driver path and which builds a host needs, decided from Facts + `recipes/` (never
//! hard-coded; recipes/drivers.yaml `paths`): target kernel >= 7.0 with `npu_7.sbin` present:
//! in-tree driver, shim-only plugin, no DKMS; 6.10–6.19: xdna-driver DKMS; < 6.10: stop.
//! Whether a layer already works is asked of the same judgements the checks use. Only the
//! components whose route (knowledge/routes.rs) is the source build are built.

use serde::Serialize;

use super::analysis::Analysis;
use super::routes::{self, FromMode, Routes, Take};
use super::{driver, stack};
use crate::host::Facts;
use crate::parse::version::parse_kernel_release;
use crate::recipes::routes::Component;
use crate::recipes::{DriverPath, Recipes, kernel_in_range};

/// The plan for the NPU software stack.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Strategy {
    /// `in-tree`, `xdna-dkms` or `unsupported` (recipes/drivers.yaml `paths`).
    pub path: String,
    /// Why.
    pub reason: String,
    /// The target kernel judged.
    pub target: Option<String>,
    /// Builds needed now, in order (`xrt`, `driver-dkms` | `driver-shim`, `flm`).
    pub builds: Vec<String>,
    /// Sources those builds need.
    pub sources: Vec<String>,
    /// A warning when `--driver` contradicts the matrix.
    pub warning: Option<String>,
    /// The driver layer needs work (a module missing or failing, firmware missing or
    /// rejected): on the DKMS path the module is (re)installed for the target kernel.
    pub driver_broken: bool,
    /// The route of every component (what is built, installed from packages, or present).
    pub routes: Routes,
}

impl Strategy {
    /// Something will be compiled: a source build, or a DKMS module install for the target
    /// kernel — the distro's build dependencies are needed.
    pub fn compiles(&self) -> bool {
        !self.builds.is_empty() || (self.path == "xdna-dkms" && self.driver_broken && self.driver_from_source())
    }

    /// The driver is the xdna-driver DKMS module npu-setup builds and installs (not a package's,
    /// not the kernel's).
    pub fn driver_from_source(&self) -> bool {
        matches!(self.routes.get(Component::Driver).take, Take::Source | Take::Present | Take::Unavailable)
            && !self.routes.packaged(Component::Driver)
            && !self.routes.installed_by_packages(Component::Driver)
    }
}

/// What the caller knows beyond Facts.
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    /// `install --driver`: overrides the matrix, with a warning.
    pub forced_driver: Option<&'a str>,
    /// The xdna plugin package's DKMS payload (`dkms.conf` under the recipe's payload dir) is
    /// on disk.
    pub dkms_payload: bool,
    /// `install --from`.
    pub from: FromMode,
}

/// The matrix's install path for the next-boot kernel (recipes/drivers.yaml `paths`, first
/// match): the kernel range and the firmware the path needs.
pub fn matrix_path<'r>(f: &Facts, r: &'r Recipes) -> Option<&'r DriverPath> {
    let target = f.kernel.ok().and_then(|k| k.target.clone().or_else(|| k.running.clone()));
    let tk = target.as_deref().and_then(parse_kernel_release);
    let has_npu7 = f.firmware.ok().is_some_and(|f| f.npus.iter().any(|n| n.file("npu_7.sbin").is_some()));
    r.drivers.paths.iter().find(|p| {
        let kernel_ok = match (&tk, &p.kernel_min) {
            (Some(k), Some(min)) => kernel_in_range(k, Some(min), None),
            (None, Some(_)) => false,
            (_, None) => true,
        };
        let fw_ok = p.requires_firmware.as_deref().is_none_or(|f| f == "npu_7.sbin" && has_npu7);
        kernel_ok && fw_ok
    })
}

/// Decides the driver path and the builds.
pub fn choose(f: &Facts, r: &Recipes, inputs: &Inputs) -> Strategy {
    let a = Analysis::new(f, r);
    let target = f.kernel.ok().and_then(|k| k.target.clone().or_else(|| k.running.clone()));
    let mut chosen = matrix_path(f, r);
    let mut warning = None;
    if let Some(forced) = inputs.forced_driver {
        let want = match forced {
            "backport-dkms" => "xdna-dkms",
            other => other,
        };
        if let Some(p) = r.drivers.paths.iter().find(|p| p.id == want) {
            if chosen.map(|c| c.id.as_str()) != Some(p.id.as_str()) {
                warning = Some(format!(
                    "--driver {forced} overrides the matrix, which chose {} for kernel {}",
                    chosen.map(|c| c.id.as_str()).unwrap_or("nothing"),
                    target.as_deref().unwrap_or("?")
                ));
            }
            chosen = Some(p);
        }
    }
    let (path, reason) = match chosen {
        Some(p) => (p.id.clone(), p.summary.clone()),
        None => ("unsupported".to_string(), "no driver path for this kernel".to_string()),
    };
    let mut builds = Vec::new();
    let driver_broken = driver::layer_broken(f, r, &a);
    let routes = routes::choose(f, r, &routes::Inputs { from: inputs.from, forced_driver: inputs.forced_driver });
    // Only what no package route provides is built.
    let xrt_src = routes.from_source(Component::Xrt);
    let driver_pkg = routes.packaged(Component::Driver) || routes.installed_by_packages(Component::Driver);
    if path != "unsupported" {
        let xrt = stack::xrt_install(f, r);
        if !xrt.base && xrt_src {
            builds.push("xrt".to_string());
        }
        // The DKMS path needs the plugin package's module payload too; installing the module
        // for the target kernel is the driver step's DKMS half, not a rebuild.
        // A working driver layer (any flavour, e.g. Ubuntu's backport DKMS) is left alone.
        if path == "xdna-dkms" && !driver_pkg && (!xrt.plugin || (driver_broken && !inputs.dkms_payload)) {
            // The build makes the plugin package (carrying the module); a plugin that comes
            // from packages instead is not rebuilt.
            if xrt_src || xrt.plugin {
                builds.push("driver-dkms".to_string());
            }
        } else if path == "in-tree" && !xrt.plugin && xrt_src {
            builds.push("driver-shim".to_string());
        }
        if matches!(stack::flm_install(f, r), stack::FlmInstall::Missing) && routes.from_source(Component::Flm) {
            builds.push("flm".to_string());
        }
    }
    let mut sources: Vec<String> = Vec::new();
    for b in &builds {
        if let Some(src) = r.sources.build(b).map(|b| b.source.clone())
            && !sources.contains(&src)
        {
            sources.push(src);
        }
    }
    Strategy { path, reason, target, builds, sources, warning, driver_broken, routes }
}

//! Which driver path and which builds a host needs, decided from Facts + `recipes/` (never
//! hard-coded; ARCHITECTURE.md §Steps) — target kernel >= 7.0 with `npu_7.sbin` present:
//! in-tree driver, shim-only plugin, no DKMS; 6.10–6.19: xdna-driver DKMS; < 6.10: stop.

use serde::Serialize;

use super::StepCtx;
use crate::checks::{CheckOptions, Status, run_checks};
use crate::parse::version::parse_kernel_release;
use crate::recipes::kernel_in_range;

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
}

fn failing(cx: &StepCtx, ids: &[&str]) -> Vec<String> {
    let only: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    run_checks(cx.facts, cx.recipes, &CheckOptions::default(), &only, &[])
        .into_iter()
        .filter(|r| matches!(r.status, Status::Fail))
        .map(|r| r.id)
        .collect()
}

/// Decides the driver path and the builds.
pub fn choose(cx: &StepCtx) -> Strategy {
    let target = cx.facts.kernel.ok().and_then(|k| k.target.clone().or_else(|| k.running.clone()));
    let tk = target.as_deref().and_then(parse_kernel_release);
    let has_npu7 = cx.facts.firmware.ok().is_some_and(|f| f.npus.iter().any(|n| n.file("npu_7.sbin").is_some()));
    let mut chosen = cx.recipes.drivers.paths.iter().find(|p| {
        let kernel_ok = match (&tk, &p.kernel_min) {
            (Some(k), Some(min)) => kernel_in_range(k, Some(min), None),
            (None, Some(_)) => false,
            (_, None) => true,
        };
        let fw_ok = p.requires_firmware.as_deref().is_none_or(|f| f == "npu_7.sbin" && has_npu7);
        kernel_ok && fw_ok
    });
    let mut warning = None;
    if let Some(forced) = cx.args.driver.as_deref() {
        let want = match forced {
            "backport-dkms" => "xdna-dkms",
            other => other,
        };
        if let Some(p) = cx.recipes.drivers.paths.iter().find(|p| p.id == want) {
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
    if path != "unsupported" {
        // XRT base: a distro XRT package or libxrt_coreutil anywhere (the plugin is the
        // driver step's concern, although doctor's xrt.install judges both).
        let base_pkg = cx.distro().is_some_and(|d| {
            cx.facts.packages.ok().is_some_and(|pk| d.packages.xrt.iter().any(|n| pk.version(n).is_some()))
        });
        let base_lib = cx
            .facts
            .loader
            .ok()
            .is_some_and(|l| l.libs.iter().any(|x| x.soname == "libxrt_coreutil.so.2" && !x.found.is_empty()));
        if !base_pkg && !base_lib {
            builds.push("xrt".to_string());
        }
        let plugin_missing = cx
            .facts
            .loader
            .ok()
            .is_some_and(|l| l.libs.iter().any(|x| x.soname == "libxrt_driver_xdna.so.2" && x.found.is_empty()));
        // The DKMS path needs the plugin package's module payload too; installing the module
        // for the target kernel is the driver step's DKMS half, not a rebuild.
        // A working driver layer (any flavour, e.g. Ubuntu's backport DKMS) is left alone.
        let payload = format!("{}/dkms.conf", cx.recipes.sources.dkms.payload_dir);
        let payload_missing = !cx.root.exists(&payload);
        let driver_failing = !failing(cx, &["driver.module", "firmware.files", "firmware.compat"]).is_empty();
        if path == "xdna-dkms" && (plugin_missing || (driver_failing && payload_missing)) {
            builds.push("driver-dkms".to_string());
        } else if path == "in-tree" && plugin_missing {
            builds.push("driver-shim".to_string());
        }
        if !failing(cx, &["flm.install"]).is_empty() {
            builds.push("flm".to_string());
        }
    }
    let mut sources: Vec<String> = Vec::new();
    for b in &builds {
        if let Some(src) = cx.recipes.sources.build(b).map(|b| b.source.clone())
            && !sources.contains(&src)
        {
            sources.push(src);
        }
    }
    Strategy { path, reason, target, builds, sources, warning }
}

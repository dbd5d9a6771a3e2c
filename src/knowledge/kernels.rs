//! Per-kernel NPU readiness (`npu-setup check --kernel KVER`, `check --next-boot`, the
//! kernel-install plugin): for one installed kernel, is there an amdxdna it will load (in-tree,
//! or DKMS built *and installed* for it), will that driver accept the firmware on disk, does
//! its boot entry carry the right arguments, and under Secure Boot is the module signed by an
//! enrolled key. Pure: derived from `Facts` + `Recipes` with the shared `Analysis`.
//!
//! Facts: DKMS builds on kernel install through 40-dkms.install / postinst.d/dkms
//! (<https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/Makefile>); the backport DKMS
//! stops applying on 7.x by design (BUILD_EXCLUSIVE_KERNEL in
//! <https://github.com/superm1/amdxdna-dkms/blob/bc8437aa9eb3dbf71cfe16de99e6a6aa6e9e7960/src/amdxdna/dkms.conf>);
//! kernel >= 7.0 with npu_7.sbin needs no DKMS (<https://github.com/amd/xdna-driver/issues/1257>;
//! ARCHITECTURE.md §Steps).

use serde::Serialize;

use super::analysis::{Analysis, FlavourInfo};
use super::dkms::ForKernel;
use super::kargs::{boot_args_for, evaluate};
use crate::host::Facts;
use crate::model::Status;
use crate::parse::version::parse_kernel_release;
use crate::recipes::{FlavourId, Recipes, kernel_in_range};

/// One aspect of a kernel's readiness.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Aspect {
    /// pass / warn / fail / skip.
    pub status: Status,
    /// One line.
    pub summary: String,
}

impl Aspect {
    fn new(status: Status, summary: impl Into<String>) -> Self {
        Aspect { status, summary: summary.into() }
    }
}

/// Readiness of one installed kernel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KernelReadiness {
    /// Kernel release.
    pub kernel: String,
    /// It is the running kernel.
    pub running: bool,
    /// It boots next by default.
    pub default: bool,
    /// An NPU was seen (without one, only the module and the boot entry are judged).
    pub npu: bool,
    /// The amdxdna this kernel will load.
    pub module: Aspect,
    /// That driver and the firmware on disk.
    pub firmware: Aspect,
    /// Kernel arguments of its boot entry.
    pub kargs: Aspect,
    /// Module signature under Secure Boot.
    pub signing: Aspect,
    /// The worst of the four.
    pub status: Status,
    /// Set when the DKMS module shadows an in-tree driver that would do on its own.
    pub dkms_unneeded: Option<String>,
    /// What to do, when something is wrong.
    pub remedies: Vec<String>,
}

fn worst(a: &[&Aspect]) -> Status {
    let rank = |s: Status| match s {
        Status::Fail | Status::Error => 3,
        Status::Warn => 2,
        Status::Pass => 1,
        Status::Skip => 0,
    };
    a.iter().map(|x| x.status).max_by_key(|s| rank(*s)).filter(|s| *s != Status::Skip).unwrap_or(Status::Skip)
}

/// Judges every installed kernel, newest first.
pub fn all_kernels(f: &Facts, r: &Recipes) -> Vec<KernelReadiness> {
    let a = Analysis::new(f, r);
    let Some(k) = f.kernel.ok() else { return Vec::new() };
    k.installed.iter().map(|i| judge_with(f, r, &a, &i.release)).collect()
}

/// Judges one kernel.
pub fn judge(f: &Facts, r: &Recipes, kernel: &str) -> KernelReadiness {
    let a = Analysis::new(f, r);
    judge_with(f, r, &a, kernel)
}

fn judge_with(f: &Facts, r: &Recipes, a: &Analysis, kernel: &str) -> KernelReadiness {
    let kf = f.kernel.ok();
    let mut remedies = Vec::new();
    let fl = a.flavour_of(f, r, kernel);
    let module = module_aspect(f, r, a, kernel, fl.as_ref(), &mut remedies);
    let firmware = firmware_aspect(r, a, fl.as_ref(), &mut remedies);
    let kargs = kargs_aspect(f, r, kernel, &mut remedies);
    let signing = signing_aspect(f, fl.as_ref(), &mut remedies);
    let status = worst(&[&module, &firmware, &kargs, &signing]);
    KernelReadiness {
        kernel: kernel.to_string(),
        running: kf.is_some_and(|k| k.running.as_deref() == Some(kernel)),
        default: kf.is_some_and(|k| k.target.as_deref() == Some(kernel)),
        npu: a.npu.is_some(),
        dkms_unneeded: dkms_unneeded(f, r, a, kernel, fl.as_ref()),
        module,
        firmware,
        kargs,
        signing,
        status,
        remedies,
    }
}

fn module_aspect(
    f: &Facts,
    r: &Recipes,
    a: &Analysis,
    kernel: &str,
    fl: Option<&FlavourInfo>,
    rem: &mut Vec<String>,
) -> Aspect {
    if f.kernel.ok().and_then(|k| k.installed(kernel)).is_none() {
        return Aspect::new(Status::Fail, format!("{kernel} is not installed (no /lib/modules/{kernel})"));
    }
    let kr = parse_kernel_release(kernel);
    if kr.as_ref().is_some_and(|k| !kernel_in_range(k, Some(&r.drivers.kernel.dkms_min), None)) {
        return Aspect::new(
            Status::Fail,
            format!("{kernel} is older than {}: no amdxdna driver exists for it", r.drivers.kernel.dkms_min),
        );
    }
    // FastFlowLM refuses kernels below its minimum (the kernel check of flm validate, per FLM
    // version: recipes/drivers.yaml flm.validate); only XDNA2 NPUs run FLM at all. Where that
    // check is not confirmed for the host's FLM, a warning that says so.
    let flm_capable = a.entry.is_none_or(|e| e.family == crate::recipes::Family::XDNA2);
    if flm_capable
        && let Some(fm) = super::stack::flm_kernel_min(f, r)
        && kr.as_ref().is_some_and(|k| !kernel_in_range(k, Some(&fm.min), None))
    {
        let (status, note) = if fm.unverified.is_empty() {
            (Status::Fail, String::new())
        } else {
            (Status::Warn, format!(" (UNVERIFIED: {})", fm.unverified.join("; ")))
        };
        return Aspect::new(
            status,
            format!("{kernel} is older than {}, the minimum FastFlowLM {} accepts{note}", fm.min, fm.version),
        );
    }
    let rebuild = format!("sudo dkms autoinstall -k {kernel}");
    let state = super::dkms::for_kernel(f, r, kernel);
    match (fl, state) {
        (Some(fl), _) if fl.id == crate::recipes::FlavourId::InTree => {
            Aspect::new(Status::Pass, format!("in-tree amdxdna ({})", fl.path))
        }
        (_, ForKernel::Installed(e)) => {
            Aspect::new(Status::Pass, format!("DKMS {}/{} installed for {kernel}", e.module, e.version))
        }
        (_, ForKernel::NotInstalled(e)) => {
            rem.push(rebuild);
            Aspect::new(
                Status::Fail,
                format!("DKMS {}/{} is {} for {kernel}, not installed", e.module, e.version, e.state),
            )
        }
        (Some(fl), _) => Aspect::new(
            Status::Warn,
            format!("out-of-tree amdxdna at {} is not managed by DKMS: it will not follow kernel updates", fl.path),
        ),
        (None, ForKernel::NoBuild { module: e, headers }) => {
            let why = if headers { "the build failed or never ran" } else { "its headers are not installed" };
            if !headers {
                let pkg = super::stack::distro(f, r)
                    .map(|d| d.headers.replace("{kver}", kernel))
                    .unwrap_or_else(|| format!("kernel headers for {kernel}"));
                rem.push(format!("install {pkg}"));
            }
            rem.push(rebuild);
            Aspect::new(
                Status::Fail,
                format!("no amdxdna for {kernel}: DKMS {}/{} has no build for it ({why})", e.module, e.version),
            )
        }
        (None, ForKernel::NotRegistered) => {
            rem.push("sudo npu-setup install --only driver".into());
            Aspect::new(Status::Fail, format!("no amdxdna module for {kernel} (neither in-tree nor DKMS)"))
        }
    }
}

fn firmware_aspect(r: &Recipes, a: &Analysis, fl: Option<&FlavourInfo>, rem: &mut Vec<String>) -> Aspect {
    if a.npu.is_none() {
        return Aspect::new(Status::Skip, "no NPU seen here: nothing to match the firmware against");
    }
    let Some(fl) = fl else { return Aspect::new(Status::Skip, "no driver to judge") };
    let Some(v) = a.firmware_verdict(r, fl) else {
        return Aspect::new(Status::Warn, format!("no firmware rule for the {} driver on {}", fl.id, fl.kernel));
    };
    let file = v.chosen.as_ref().map(|c| c.name.clone()).unwrap_or_else(|| "no firmware file".into());
    let proto = v.protocol.map(|p| format!("protocol {p}")).unwrap_or_else(|| "protocol unknown".into());
    let unverified = if v.protocol_unverified { " (protocol fact UNVERIFIED)" } else { "" };
    match v.accepted {
        Some(true) => Aspect::new(Status::Pass, format!("{} driver accepts {file} ({proto}){unverified}", fl.id)),
        Some(false) => {
            rem.push("sudo npu-setup install --only driver".into());
            Aspect::new(
                Status::Fail,
                format!(
                    "{} driver on {} speaks protocol {}; {file} is {proto}{unverified}",
                    fl.id,
                    fl.kernel,
                    v.accepts.join("/")
                ),
            )
        }
        None if v.chosen.is_none() => {
            rem.push("sudo npu-setup install --only driver".into());
            Aspect::new(Status::Fail, format!("none of {} is on disk", v.order.join(", ")))
        }
        None => Aspect::new(Status::Warn, format!("cannot tell whether {} accepts {file} ({proto})", fl.id)),
    }
}

fn kargs_aspect(f: &Facts, r: &Recipes, kernel: &str, rem: &mut Vec<String>) -> Aspect {
    let Some(b) = f.boot.ok() else { return Aspect::new(Status::Skip, "boot configuration not read") };
    let Some((from, cmdline)) = boot_args_for(b, kernel) else {
        return Aspect::new(Status::Skip, format!("no boot entry for {kernel} found (unmanaged boot loader)"));
    };
    let v = evaluate(&cmdline, parse_kernel_release(kernel).as_ref(), &r.kargs);
    let fails: Vec<&str> =
        v.iter().filter(|x| x.status == crate::recipes::Severity::Fail).map(|x| x.arg.as_str()).collect();
    let warns: Vec<&str> =
        v.iter().filter(|x| x.status != crate::recipes::Severity::Fail).map(|x| x.arg.as_str()).collect();
    if !fails.is_empty() {
        rem.push("sudo npu-setup install --only kargs".into());
        return Aspect::new(Status::Fail, format!("{from} carries {}", fails.join(" ")));
    }
    if !warns.is_empty() {
        return Aspect::new(Status::Warn, format!("{from} carries {}", warns.join(" ")));
    }
    Aspect::new(Status::Pass, format!("{from}: no argument that hides the NPU"))
}

fn signing_aspect(f: &Facts, fl: Option<&FlavourInfo>, rem: &mut Vec<String>) -> Aspect {
    use super::secureboot::Signing;
    let path = fl.map(|fl| fl.path.clone()).unwrap_or_default();
    let kernel = fl.map(|fl| fl.kernel.clone()).unwrap_or_default();
    match super::secureboot::signing(f, fl, false) {
        Signing::NotProbed => Aspect::new(Status::Skip, "Secure Boot state not known here (offline root or no EFI)"),
        Signing::Off => Aspect::new(Status::Pass, "Secure Boot is off"),
        Signing::StateUnknown(source) => Aspect::new(Status::Warn, format!("Secure Boot state unknown ({source})")),
        Signing::NoModule => Aspect::new(Status::Skip, "no module to check"),
        Signing::InTree => Aspect::new(Status::Pass, "in-tree module, signed with the distro kernel key"),
        Signing::NoModinfo => {
            Aspect::new(Status::Warn, format!("modinfo for {kernel} unavailable: cannot read the signature"))
        }
        Signing::Unsigned => {
            rem.push(format!("sudo dkms autoinstall -k {kernel} --force  # signs with /var/lib/dkms/mok.key"));
            Aspect::new(Status::Fail, format!("{path} is unsigned: Secure Boot will refuse it"))
        }
        Signing::EnrolmentUnknown { signer, .. } => {
            Aspect::new(Status::Warn, format!("signed by '{signer}'; enrolled keys unknown"))
        }
        Signing::NotEnrolled { signer } => {
            rem.push("sudo mokutil --import /var/lib/dkms/mok.pub  # then reboot and enroll in MokManager".into());
            Aspect::new(Status::Fail, format!("signed by '{signer}', which is not an enrolled MOK"))
        }
        Signing::Enrolled { signer } => Aspect::new(Status::Pass, format!("signed by enrolled key '{signer}'")),
    }
}

/// The DKMS module is installed for `kernel` but the kernel's own in-tree amdxdna would
/// accept the firmware on disk: the DKMS module only shadows it.
pub(crate) fn dkms_unneeded(
    f: &Facts,
    r: &Recipes,
    a: &Analysis,
    kernel: &str,
    fl: Option<&FlavourInfo>,
) -> Option<String> {
    let fl = fl.filter(|fl| fl.id != crate::recipes::FlavourId::InTree)?;
    let inst = f.kernel.ok()?.installed(kernel)?;
    let in_tree = inst.amdxdna.iter().find(|m| m.origin == "in-tree")?;
    let kr = parse_kernel_release(kernel)?;
    if !kernel_in_range(&kr, Some(&r.drivers.kernel.protocol7_in_tree_min), None) {
        return None;
    }
    let candidate = FlavourInfo {
        kernel: kernel.into(),
        id: FlavourId::InTree,
        variant: None,
        variant_basis: None,
        path: in_tree.path.clone(),
        version: None,
        origin: crate::recipes::Origin::InTree,
        origin_basis: "installed under kernel/".into(),
        srcversion: None,
        drm: None,
    };
    let v = a.firmware_verdict(r, &candidate)?;
    (v.accepted == Some(true)).then(|| {
        format!(
            "{kernel}'s in-tree amdxdna accepts {} on its own; the DKMS module ({}) only shadows it — `sudo npu-setup install --only driver` removes it",
            v.chosen.map(|c| c.name).unwrap_or_default(),
            fl.path
        )
    })
}

/// Why the DKMS module installed for `kernel` must be built and installed again although
/// DKMS calls it installed: the running kernel refused the file (a module-loader line in its
/// log: a relocation or symbol mismatch, a rejected signature) or Secure Boot will (the
/// module is unsigned). `None` when the module is fine, or is not a DKMS build.
pub fn dkms_rebuild(f: &Facts, r: &Recipes, kernel: &str) -> Option<String> {
    let a = Analysis::new(f, r);
    let fl = a.flavour_of(f, r, kernel)?;
    if fl.origin != crate::recipes::Origin::OutOfTree
        || !matches!(super::dkms::for_kernel(f, r, kernel), ForKernel::Installed(_))
    {
        return None;
    }
    let running = f.kernel.ok().and_then(|k| k.running.as_deref()) == Some(kernel);
    if running {
        if let super::driver::Module::Refused { installed, reason, .. } = super::driver::module(f, &a)
            && installed.kernel == kernel
        {
            return Some(format!("the running kernel refused {}: {}", installed.path, reason.cause));
        }
        // Nothing loaded at all, and the loader said why.
        if a.loaded.as_ref().is_none_or(|l| l.module.is_none())
            && let Some(m) = a.loader_refusals().first()
        {
            return Some(format!("the running kernel refused {}: {}", fl.path, m.cause));
        }
    }
    (super::secureboot::signing(f, Some(&fl), false) == super::secureboot::Signing::Unsigned)
        .then(|| format!("{} is unsigned and Secure Boot is on: the kernel will refuse it", fl.path))
}

/// The driver layer is fixed for the next boot: the next-boot kernel has an amdxdna that
/// accepts the firmware on disk (its module, firmware and signing aspects pass), and that
/// boot changes the driver — another kernel boots, the module on disk is not the loaded one
/// (installed after this boot), or install owes a reboot for the driver. The fix is a
/// reboot, not another install. `None` when nothing is staged or the next boot fails too.
pub fn driver_staged(f: &Facts, r: &Recipes) -> Option<String> {
    let a = Analysis::new(f, r);
    a.npu?;
    let k = f.kernel.ok()?;
    let target = k.target.clone()?;
    let ready = judge_with(f, r, &a, &target);
    let ok = |x: &Aspect| matches!(x.status, Status::Pass);
    if !ok(&ready.module) || !ok(&ready.firmware) || ready.signing.status == Status::Fail {
        return None;
    }
    if dkms_rebuild(f, r, &target).is_some() {
        return None;
    }
    let what = format!("{}; {}", ready.module.summary, ready.firmware.summary);
    if k.running.as_deref() != Some(target.as_str()) {
        return Some(format!("the next boot runs {target}: {what}"));
    }
    if let super::driver::Module::NotLoaded { installed, .. } = super::driver::module(f, &a)
        && installed.kernel == target
    {
        return Some(format!("the next boot loads {}: {what}", installed.path));
    }
    let owed = f.install_state.ok().map(|s| s.owed_by("driver")).unwrap_or_default();
    owed.first().map(|o| format!("install owes the reboot for the driver ({o}): {what}"))
}

//! `host.os` and `host.kernel`: is this distro covered by a recipe, and which driver path do
//! the running and target kernels allow (6.10 minimum for out-of-tree builds:
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/drivers/accel/CMake/config/dkms.conf.in>;
//! 7.0 loads npu_7.sbin: <https://github.com/torvalds/linux/blob/v7.0/drivers/accel/amdxdna/aie2_pci.c>; FLM needs >=
//! 6.17: <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>).

use super::{Ctx, Outcome, Remedy, probe_problem};
use crate::parse::version::{KernelRelease, parse_dotted, parse_kernel_release};
use crate::recipes::kernel_in_range;

/// `host.os`.
pub fn host_os(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.os, "os-release") {
        return o;
    }
    let Some(os) = c.f.os.ok() else { unreachable!() };
    let Some(d) = c.distro() else {
        return Outcome::warn(format!("{}: no recipe for this distro; doctor works, install does not", os.pretty_name))
            .ev("id", &os.id)
            .ev("id_like", &os.id_like)
            .ev("version_id", &os.version_id)
            .remedy(Remedy {
                text: "Supported distros: Fedora (first-class), Ubuntu, Arch and derivatives; others can follow the manual steps the checks print.".into(),
                ..Default::default()
            });
    };
    let base = Outcome::pass(format!("{} ({} via recipe '{}')", os.pretty_name, d.support, d.id))
        .ev("id", &os.id)
        .ev("version_id", &os.version_id)
        .ev("recipe", &d.id)
        .ev("support", d.support);
    let too_old = match (&d.min_version, &os.version_id) {
        (Some(min), Some(v)) => parse_dotted(v).zip(parse_dotted(min)).is_some_and(|(v, m)| v < m),
        _ => false,
    };
    if too_old {
        return Outcome::warn(format!(
            "{} is older than the oldest supported {} {}",
            os.pretty_name,
            d.name,
            d.min_version.as_deref().unwrap_or("")
        ))
        .ev("id", &os.id)
        .ev("version_id", &os.version_id)
        .ev("min_version", &d.min_version)
        .remedy(Remedy {
            text: format!("Upgrade to {} {} or later.", d.name, d.min_version.as_deref().unwrap_or("")),
            ..Default::default()
        });
    }
    if d.support == crate::recipes::Support::Community {
        return Outcome::warn(format!("{} ({}: community support, less tested)", os.pretty_name, d.id))
            .ev("id", &os.id)
            .ev("recipe", &d.id)
            .remedy(Remedy {
                text: "Expect to adapt package names; Fedora is the first-class distro.".into(),
                ..Default::default()
            });
    }
    base
}

fn at_least(k: &KernelRelease, v: &str) -> bool {
    kernel_in_range(k, Some(v), None)
}

/// `host.kernel`.
pub fn host_kernel(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.kernel, "kernel facts") {
        return o;
    }
    let Some(k) = c.f.kernel.ok() else { unreachable!() };
    let m = &c.r.drivers.kernel;
    let flm = &c.r.drivers.flm;
    let judged = c.a.running.as_ref().or(c.a.target.as_ref());
    let Some(kr) = judged else {
        return Outcome::error(
            "cannot tell the kernel version (no /proc/sys/kernel/osrelease and no kernel in /lib/modules)",
        )
        .ev("running", &k.running)
        .ev("target", &k.target);
    };
    let which = if c.a.running.is_some() { "running" } else { "target" };
    let base = |o: Outcome| {
        o.ev("running", &k.running)
            .ev("target", &k.target)
            .ev("target_source", &k.target_source)
            .ev("installed", k.installed.iter().map(|i| &i.release).collect::<Vec<_>>())
    };
    let upgrade = c.remedy_text(|r| &r.kernel_upgrade, &[]);
    if !at_least(kr, &m.dkms_min) {
        return base(Outcome::fail(format!("{which} kernel {} is older than {}: no supported amdxdna (needs AMD IOMMU SVA)", kr.raw, m.dkms_min)))
            .remedy(Remedy {
                text: format!("Install a kernel >= {} (in-tree driver, no DKMS) or at least {} for the xdna-driver DKMS module, then reboot into it.", m.protocol7_in_tree_min, m.dkms_min),
                commands: vec![upgrade.clone()],
                reboot: true,
                ..Default::default()
            });
    }
    // FLM's kernel minimum matters only for NPUs FLM can use (XDNA2); Phoenix/Hawk Point
    // (XDNA1) is unsupported by FLM whatever the kernel (npu.device says so).
    let flm_capable = c.a.entry.is_none_or(|e| e.family == crate::recipes::Family::XDNA2);
    if flm_capable && !at_least(kr, &flm.min_kernel) {
        return base(Outcome::fail(format!(
            "{which} kernel {} is older than {}, the minimum FastFlowLM's flm validate accepts",
            kr.raw, flm.min_kernel
        )))
        .ev("flm_min_kernel", &flm.min_kernel)
        .remedy(Remedy {
            text: format!(
                "Boot a kernel >= {} (ROCm/FastFlowLM main.cpp kernel check); on >= {} the in-tree driver needs no DKMS.",
                flm.min_kernel, m.protocol7_in_tree_min
            ),
            commands: vec![upgrade.clone()],
            reboot: true,
            ..Default::default()
        });
    }
    // A distro kernel can carry a newer in-tree driver than its version says (Ubuntu's
    // 6.17.0-35 reports DRM 0.6): the loaded driver's DRM version picks its matrix row.
    let backport =
        c.a.loaded_flavour(c.f)
            .filter(|fl| fl.id == crate::recipes::FlavourId::InTree && fl.kernel == kr.raw)
            .and_then(|fl| fl.drm.as_deref().map(|d| (d, c.r.flavour(fl.id, None, kr, Some(d)))))
            .filter(|(_, row)| row.is_some_and(|r| r.firmware_order.iter().any(|n| n == "npu_7.sbin")));
    let path = if at_least(kr, &m.protocol7_in_tree_min) {
        format!("kernel >= {}: the in-tree amdxdna loads npu_7.sbin, no DKMS needed", m.protocol7_in_tree_min)
    } else if let Some((drm, _)) = backport {
        format!(
            "kernel {}.{} with a backported in-tree amdxdna (DRM {drm}) that loads npu_7.sbin, no DKMS needed",
            kr.major, kr.minor
        )
    } else {
        format!(
            "kernel {}.{}: needs the xdna-driver DKMS module (or the backport DKMS) for protocol-7 firmware",
            kr.major, kr.minor
        )
    };
    let mut o = base(Outcome::pass(format!("{which} {}; {path}", kr.raw)));
    if let (Some(run), Some(tgt)) = (&c.a.running, &c.a.target)
        && run.raw != tgt.raw
    {
        o = o.ev("note", format!("next boot uses {} (reboot pending)", tgt.raw));
        if !at_least(tgt, &flm.min_kernel) {
            // The newest installed kernel that qualifies (installed is newest first); the
            // running one qualifies by now.
            let newest = k
                .installed
                .iter()
                .map(|i| i.release.as_str())
                .find(|r| parse_kernel_release(r).is_some_and(|kr| at_least(&kr, &flm.min_kernel)))
                .unwrap_or(&run.raw)
                .to_string();
            return base(Outcome::warn(format!(
                "running {} is fine, but the next boot uses {} (< {})",
                run.raw, tgt.raw, flm.min_kernel
            )))
            .remedy(Remedy {
                text: format!("Make a kernel >= {} the default boot entry.", flm.min_kernel),
                commands: vec![c.remedy_text(|r| &r.set_default_kernel, &[("kver", &newest)])],
                reboot: true,
                ..Default::default()
            });
        }
    }
    o
}

//! `host.os` and `host.kernel`: is this distro covered by a recipe, and which driver path do
//! the running and target kernels allow (6.10 minimum for out-of-tree builds:
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/drivers/accel/CMake/config/dkms.conf.in>;
//! 7.0 loads npu_7.sbin: <https://github.com/torvalds/linux/blob/v7.0/drivers/accel/amdxdna/aie2_pci.c>; FLM's kernel
//! minimum per FLM version: recipes/drivers.yaml `flm.validate`, e.g. 6.17 since v0.9.35,
//! <https://github.com/ROCm/FastFlowLM/blob/f43272c77bb6de4984058430b3e5fbf3e7926c61/src/src/main.cpp>). A derivative
//! is judged as the base release it is built on (`knowledge::distro`).

use super::{Ctx, Outcome, Remedy, probe_problem};
use crate::parse::version::{KernelRelease, parse_kernel_release};
use crate::recipes::kernel_in_range;

/// `host.os`.
pub fn host_os(c: &Ctx) -> Outcome {
    use crate::knowledge::distro::{Basis, OsVerdict, os_verdict};
    if let Some(o) = probe_problem(&c.f.os, "os-release") {
        return o;
    }
    let Some(os) = c.f.os.ok() else { unreachable!() };
    let ids = |o: Outcome| {
        let o = o.ev("id", &os.id).ev("version_id", &os.version_id);
        if os.id_like.is_empty() { o } else { o.ev("id_like", &os.id_like) }
    };
    let mapped = |o: Outcome, h: &crate::knowledge::distro::HostDistro| {
        let o = ids(o).ev("recipe", &h.recipe.id).ev("support", h.recipe.support);
        if h.derived { o.ev("base", &h.recipe.name).ev("base_version", &h.version).ev("basis", &h.basis) } else { o }
    };
    match os_verdict(os, c.r) {
        OsVerdict::NoRecipe => ids(Outcome::warn(format!(
            "{}: no recipe for this distro; doctor works, install does not",
            os.pretty_name
        )))
        .remedy(Remedy {
            text: "Supported distros: Fedora (first-class), Ubuntu, Arch and their derivatives (Linux Mint, Pop!_OS, Nobara, CachyOS, EndeavourOS, Manjaro); others can follow the manual steps the checks print.".into(),
            ..Default::default()
        }),
        OsVerdict::TooOld { host, min, upgrade_to } => {
            let (label, name) = (host.label(), &host.recipe.name);
            let why = if host.derived {
                format!("{label} is built on {name} {}, older than the oldest supported {name} {}", host.version.as_deref().unwrap_or(""), min.version)
            } else {
                format!("{label} is older than the oldest supported {name} {}", min.version)
            };
            let target = upgrade_to.unwrap_or_else(|| match host.derivative {
                Some(d) => format!("a {} release built on {name} {} or later", d.name, min.version),
                None => format!("{name} {} or later", min.version),
            });
            let mut unverified = host.unverified();
            if min.unverified.any() {
                unverified.push(format!("{name}'s minimum {} ({})", min.version, min.source));
            }
            mapped(Outcome::warn(why), &host)
                .ev("min_version", &min.version)
                .ev("min_version_source", &min.source)
                .remedy(Remedy { text: format!("Upgrade to {target}."), ..Default::default() })
                .unverified(&unverified)
        }
        OsVerdict::BaseUnknown(host) => mapped(
            Outcome::warn(format!(
                "{}: uses the {} recipe, but which {} release it is built on is unknown (no {} in os-release)",
                host.pretty_name,
                host.recipe.id,
                host.recipe.name,
                if host.recipe.codenames.is_empty() { "mapping" } else { "UBUNTU_CODENAME" }
            )),
            &host,
        )
        .remedy(Remedy {
            text: format!(
                "Package names and remedies are {}'s; check that your release matches {} {} or later.",
                host.recipe.name,
                host.recipe.name,
                host.recipe.min_version.as_ref().map(|m| m.version.as_str()).unwrap_or("current")
            ),
            ..Default::default()
        }),
        OsVerdict::Supported(host) => {
            let how = match &host.basis {
                Basis::Rolling if host.derived => format!("rolling, {} base", host.recipe.name),
                _ if host.derived => format!("{} {} base", host.recipe.name, host.version.as_deref().unwrap_or("?")),
                _ => String::new(),
            };
            let via = format!("{} via recipe '{}'", host.recipe.support, host.recipe.id);
            let what = if how.is_empty() { via } else { format!("{how}; {via}") };
            if host.recipe.support == crate::recipes::Support::Community {
                return mapped(Outcome::warn(format!("{} ({what}: community support, less tested)", host.pretty_name)), &host)
                    .remedy(Remedy {
                        text: "Expect to adapt package names; Fedora is the first-class distro.".into(),
                        ..Default::default()
                    })
                    .unverified(&host.unverified());
            }
            mapped(Outcome::pass(format!("{} ({what})", host.pretty_name)), &host).unverified(&host.unverified())
        }
    }
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
    // FLM's kernel minimum is that of the installed FLM (else of the one install builds):
    // recipes/drivers.yaml flm.validate, per version range.
    let flm_min = crate::knowledge::stack::flm_kernel_min(c.f, c.r);
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
    if flm_capable && let Some(fm) = flm_min.as_ref().filter(|fm| !at_least(kr, &fm.min)) {
        let whose = if fm.installed {
            format!("FastFlowLM {}'s flm validate accepts", fm.version)
        } else {
            format!("FastFlowLM {} (the version npu-setup installs) accepts", fm.version)
        };
        return base(Outcome::fail(format!("{which} kernel {} is older than {}, the minimum {whose}", kr.raw, fm.min)))
            .ev("flm_min_kernel", &fm.min)
            .ev("flm_version", &fm.version)
            .remedy(Remedy {
                text: format!(
                    "Boot a kernel >= {} (FastFlowLM's kernel check in flm validate); on >= {} the in-tree driver needs no DKMS.",
                    fm.min, m.protocol7_in_tree_min
                ),
                commands: vec![upgrade.clone()],
                reboot: true,
                ..Default::default()
            })
            .unverified(&fm.unverified);
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
        if let Some(fm) = flm_min.as_ref().filter(|fm| !at_least(tgt, &fm.min)) {
            // The newest installed kernel that qualifies (installed is newest first); the
            // running one qualifies by now.
            let newest = k
                .installed
                .iter()
                .map(|i| i.release.as_str())
                .find(|r| parse_kernel_release(r).is_some_and(|kr| at_least(&kr, &fm.min)))
                .unwrap_or(&run.raw)
                .to_string();
            return base(Outcome::warn(format!(
                "running {} is fine, but the next boot uses {} (< {})",
                run.raw, tgt.raw, fm.min
            )))
            .remedy(Remedy {
                text: format!("Make a kernel >= {} the default boot entry.", fm.min),
                commands: vec![c.remedy_text(|r| &r.set_default_kernel, &[("kver", &newest)])],
                reboot: true,
                ..Default::default()
            })
            .unverified(&fm.unverified);
        }
    }
    o
}

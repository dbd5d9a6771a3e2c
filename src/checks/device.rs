//! `npu.device`, `driver.module`, `driver.bound`: is there an NPU, which amdxdna will drive
//! it on the running and next-boot kernels, and did the driver bind.

use super::{Ctx, Outcome, Remedy, install_cmd, probe_problem};
use crate::knowledge::driver;
use crate::recipes::{FlavourId, kernel_in_range};

/// `npu.device`.
pub fn npu_device(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.pci, "PCI devices") {
        return o;
    }
    let Some(p) = c.f.pci.ok() else { unreachable!() };
    let Some(n) = c.a.npu else {
        return Outcome::fail("no AMD XDNA NPU found (no PCI 1022:17f0 or 1022:1502 function)")
            .ev("pci_functions_scanned", p.scanned)
            .remedy(Remedy {
                text: "This machine has no XDNA NPU (or it is disabled in the firmware setup: look for an 'IPU' / 'NPU' switch). Only Ryzen AI 300 (Strix Point, Krackan), Ryzen AI Max (Strix Halo) and Phoenix/Hawk Point have one.".into(),
                ..Default::default()
            });
    };
    let all: Vec<String> =
        p.npus.iter().map(|d| format!("{} {}:{} rev {}", d.bdf, d.vendor, d.device, d.revision)).collect();
    let base = |o: Outcome| {
        o.ev("bdf", &n.bdf)
            .ev("pci_id", format!("{}:{}", n.vendor, n.device))
            .ev("revision", format!("0x{}", n.revision))
            .ev("pci_name", &n.name)
            .ev("npus", &all)
    };
    let Some(e) = c.a.entry else {
        return base(Outcome::warn(format!(
            "NPU {}:{} rev 0x{} at {} is not in the device table (a newer part?)",
            n.vendor, n.device, n.revision, n.bdf
        )))
        .remedy(Remedy {
            text: "Update npu-setup; report the device with `npu-setup dev capture-fixture`.".into(),
            ..Default::default()
        });
    };
    let base = |o: Outcome| {
        base(o)
            .ev("generation", &e.generation)
            .ev("family", e.family)
            .ev("product", &e.product)
            .ev("columns", e.columns)
    };
    if e.removed {
        return base(Outcome::fail(format!("{} ({}): support was removed upstream", e.product, e.generation))).remedy(
            Remedy { text: "Pre-production silicon; no current driver supports it.".into(), ..Default::default() },
        );
    }
    if e.family == crate::recipes::Family::XDNA1 {
        return base(Outcome::warn(format!(
            "{} ({}, {}) at {}: FastFlowLM needs XDNA2 ({} columns; this NPU has {})",
            e.product, e.family, e.generation, n.bdf, c.r.drivers.flm.min_columns, e.columns
        )))
        .remedy(Remedy {
            text: "The kernel driver and XRT work, but LLMs through FastFlowLM/Lemonade cannot run on XDNA1 (FLM docs: 'Ryzen AI 7000/8000 … XDNA 1, which is not supported'). Use the GPU endpoint for inference.".into(),
            docs: Some("https://github.com/FastFlowLM/FastFlowLM/blob/main/docs/docs/install_lin.md".into()),
            ..Default::default()
        });
    }
    base(Outcome::pass(format!("{} ({}, {}) at {}", e.product, e.family, e.generation, n.bdf)))
}

/// `driver.module`.
pub fn driver_module(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.kernel, "kernel facts") {
        return o;
    }
    let Some(k) = c.f.kernel.ok() else { unreachable!() };
    let verdict = driver::module(c.f, c.a);
    let lines: Vec<String> = k
        .kernels_of_interest()
        .iter()
        .filter_map(|rel| c.a.flavours.get(rel).map(|fl| (rel, fl)))
        .map(|(rel, fl)| {
            let what = match (fl.id, &fl.variant) {
                (FlavourId::XdnaDkms, Some(v)) => format!(
                    "xdna-driver DKMS ({v} driver{})",
                    fl.version.as_deref().map(|v| format!(", {v}")).unwrap_or_default()
                ),
                (FlavourId::BackportDkms, _) => "backport DKMS (mainline 7.0 driver)".to_string(),
                _ => "in-tree".to_string(),
            };
            format!("{rel}: {what} at {}", fl.path)
        })
        .collect();
    let mut o = Outcome::pass(lines.join("; "))
        .ev("flavours", &c.a.flavours)
        .ev("loaded", k.loaded)
        .ev("loaded_version", &k.loaded_version)
        .ev("drm_version", &c.a.drm_version)
        .ev("loaded_module", &c.a.loaded);
    match verdict {
        driver::Module::NotProbed => unreachable!("kernel facts were checked above"),
        driver::Module::NoKernel => return Outcome::error("no running or installed kernel found"),
        driver::Module::Missing(missing) => {
            let dkms_hint =
                c.a.target.as_ref().is_some_and(|t| !kernel_in_range(t, Some(&c.r.drivers.kernel.in_tree_min), None));
            return o.with_status_fail(format!("no amdxdna module for kernel {}", missing.join(", "))).remedy(Remedy {
                text: if dkms_hint {
                    "This kernel has no in-tree amdxdna (< 6.14): install the xdna-driver DKMS module for it.".into()
                } else {
                    "The kernel lacks amdxdna (CONFIG_DRM_ACCEL_AMDXDNA): install the distro kernel's modules package, or the xdna-driver DKMS module.".into()
                },
                commands: vec![install_cmd("driver")],
                step: Some("driver".into()),
                reboot: true,
                ..Default::default()
            });
        }
        driver::Module::LogFailure(m) => {
            return o.with_status_fail(m.cause.clone()).ev("kernel_log", &m.line).remedy(log_remedy(&m));
        }
        driver::Module::LogWarning(m) => {
            return o.with_status_warn(m.cause.clone()).ev("kernel_log", &m.line).remedy(log_remedy(&m));
        }
        driver::Module::Refused { loaded, installed, reason } => {
            let mut commands = reload_dkms(c, &installed);
            commands.extend(reason.step.iter().map(|s| install_cmd(s)));
            // The driver that runs instead may need no DKMS module at all: an in-tree driver
            // whose matrix row loads npu_7.sbin (kernel >= 7.0, or a backport reporting DRM
            // 0.6 on an older kernel) only needs that firmware file.
            let instead = crate::parse::version::parse_kernel_release(&loaded.kernel)
                .and_then(|kr| c.r.flavour(loaded.id, loaded.variant, &kr, loaded.drm.as_deref()))
                .filter(|row| loaded.id == FlavourId::InTree && row.firmware_order.iter().any(|n| n == "npu_7.sbin"))
                .map(|_| {
                    format!(
                        " Or remove the DKMS module: {} loads npu_7.sbin itself, so it needs only that firmware file (firmware.compat).",
                        module_name(&loaded)
                    )
                })
                .unwrap_or_default();
            let suspects: Vec<&'static str> = reason
                .check
                .as_deref()
                .filter(|id| *id != "driver.module")
                .and_then(|id| super::find(id).map(|d| d.id))
                .into_iter()
                .collect();
            return o
                .with_status_fail(format!(
                    "{}: {} ({}) did not load: {}; {} runs instead",
                    installed.kernel,
                    installed.path,
                    module_name(&installed),
                    reason.cause,
                    module_name(&loaded)
                ))
                .ev("kernel_log", &reason.line)
                .suspects(&suspects)
                .remedy(Remedy {
                    text: format!(
                        "{} Until it loads, {} drives the NPU (firmware.compat judges what it accepts).{instead}",
                        reason.remedy.clone().unwrap_or_else(|| "Fix the cause the kernel-log line names.".into()),
                        module_name(&loaded)
                    ),
                    commands,
                    step: Some("driver".into()),
                    reboot: reason.reboot,
                    docs: None,
                });
        }
        driver::Module::NotLoaded { loaded, installed } => {
            return o
                .with_status_warn(format!(
                    "{}: {} ({}) is on disk, but {} is loaded; this boot's log shows no loader error",
                    installed.kernel,
                    installed.path,
                    module_name(&installed),
                    module_name(&loaded)
                ))
                .remedy(Remedy {
                    text: "Load the module on disk (or reboot). If the kernel refuses it, `journalctl -k -b 0` names the reason and doctor reports it here.".into(),
                    commands: vec!["sudo modprobe -r amdxdna && sudo modprobe amdxdna".into()],
                    reboot: false,
                    ..Default::default()
                });
        }
        driver::Module::Stale(note) => {
            return o.with_status_warn(note).remedy(Remedy {
                text: "Reload the driver (or reboot) to run the build on disk.".into(),
                commands: vec!["sudo modprobe -r amdxdna && sudo modprobe amdxdna".into()],
                reboot: false,
                ..Default::default()
            });
        }
        driver::Module::Present => {}
    }
    // The in-tree driver reporting another DRM version than mainline's for its series: a
    // distro backport (or a kernel newer than the table), worth saying, never a failure.
    if let Some(l) = &c.a.loaded
        && let (Some(m), Some(drm), Some(main)) = (&l.module, &l.drm, &l.mainline_drm)
        && m.id == FlavourId::InTree
        && drm != main
    {
        // A table row no log confirmed is said to be one.
        let unverified = crate::parse::version::parse_kernel_release(&l.kernel)
            .and_then(|kr| c.r.mainline_drm(&kr))
            .is_some_and(|m| m.unverified);
        o = o.ev(
            "drm_note",
            format!(
                "the in-tree amdxdna reports DRM {drm}; mainline {} reports {main}{} (recipes/drivers.yaml mainline_drm): a distro backport or a newer driver",
                l.kernel.split('-').next().unwrap_or(&l.kernel),
                if unverified { " (UNVERIFIED)" } else { "" }
            ),
        );
    }
    // A DKMS module on a kernel whose in-tree driver suffices only shadows it (the same
    // judgement dkms.state and `check --kernel` report).
    if let Some(t) = c.f.kernel.ok().and_then(|k| k.target.as_deref())
        && let Some(note) = crate::knowledge::kernels::dkms_unneeded(c.f, c.r, c.a, t, c.a.target_flavour(c.f))
    {
        o = o.ev("note", note);
    }
    o
}

/// A module described for people: `in-tree amdxdna`, `xdna-driver DKMS (staging driver, 2.26.0_…)`.
fn module_name(fl: &crate::knowledge::analysis::FlavourInfo) -> String {
    match (fl.id, &fl.variant) {
        (FlavourId::XdnaDkms, Some(v)) => format!(
            "the xdna-driver module ({v} driver{})",
            fl.version.as_deref().map(|v| format!(", {v}")).unwrap_or_default()
        ),
        (FlavourId::BackportDkms, _) => "the backport DKMS module (mainline 7.0 driver)".to_string(),
        _ => format!("the in-tree amdxdna{}", fl.drm.as_deref().map(|d| format!(" (DRM {d})")).unwrap_or_default()),
    }
}

/// Commands that rebuild the DKMS module of `installed`'s kernel and load it again.
fn reload_dkms(c: &Ctx, installed: &crate::knowledge::analysis::FlavourInfo) -> Vec<String> {
    let mut v = Vec::new();
    if let crate::knowledge::dkms::ForKernel::Installed(e) | crate::knowledge::dkms::ForKernel::NotInstalled(e) =
        crate::knowledge::dkms::for_kernel(c.f, c.r, &installed.kernel)
    {
        v.push(format!("sudo dkms remove {}/{} -k {}", e.module, e.version, installed.kernel));
        v.push(format!("sudo dkms install {}/{} -k {}", e.module, e.version, installed.kernel));
    }
    v.push("sudo modprobe -r amdxdna && sudo modprobe amdxdna".into());
    v
}

/// Turns a kernel-log match into a remedy.
pub(crate) fn log_remedy(m: &crate::knowledge::analysis::LogMatch) -> Remedy {
    Remedy {
        text: m.remedy.clone().unwrap_or_else(|| "See the kernel-log line above.".into()),
        commands: m.step.iter().map(|s| install_cmd(s)).collect(),
        step: m.step.clone(),
        reboot: m.reboot,
        ..Default::default()
    }
}

impl Outcome {
    fn with_status_fail(mut self, summary: String) -> Self {
        self.status = super::Status::Fail;
        self.summary = summary;
        self
    }
    fn with_status_warn(mut self, summary: String) -> Self {
        self.status = super::Status::Warn;
        self.summary = summary;
        self
    }
}

/// `driver.bound`.
pub fn driver_bound(c: &Ctx) -> Outcome {
    let Some(n) = c.a.npu else { return Outcome::skip("no NPU") };
    if c.f.mode == crate::root::RootMode::Offline {
        return Outcome::skip("offline root: binding is a property of the running system");
    }
    let base =
        |o: Outcome| o.ev("bdf", &n.bdf).ev("driver", &n.driver).ev("accel", &n.accel).ev("fw_version", &n.fw_version);
    match n.driver.as_deref() {
        Some("amdxdna") if !n.accel.is_empty() => {
            base(Outcome::pass(format!("{} bound to amdxdna, {} registered", n.bdf, n.accel.join(", "))))
        }
        Some("amdxdna") => base(Outcome::fail(format!("{} is bound to amdxdna but has no accel node in sysfs", n.bdf)))
            .suspects(&["boot.iommu", "firmware.compat", "kernel.log"])
            .remedy(Remedy {
                text: "Check the kernel log (kernel.log) for the probe error.".into(),
                reboot: false,
                ..Default::default()
            }),
        Some(other) => base(Outcome::fail(format!("{} is bound to {other}, not amdxdna", n.bdf))).remedy(Remedy {
            text: format!(
                "Another driver ({other}) claimed the NPU (vfio-pci for a VM?). Unbind it or remove its binding rule."
            ),
            ..Default::default()
        }),
        None => {
            let loaded = c.f.kernel.ok().is_some_and(|k| k.loaded);
            base(Outcome::fail(if loaded {
                format!("{} is not bound: amdxdna is loaded but its probe failed", n.bdf)
            } else {
                format!("{} is not bound: amdxdna is not loaded", n.bdf)
            }))
            .ev("module_loaded", loaded)
            .suspects(&["boot.iommu", "driver.module", "firmware.files", "firmware.compat", "secureboot.signing", "kernel.log"])
            .remedy(Remedy {
                text: "The root cause is the first failing check above this one (firmware, IOMMU or signing); after fixing it, reload the driver or reboot.".into(),
                commands: vec!["sudo modprobe -r amdxdna && sudo modprobe amdxdna".into()],
                reboot: false,
                ..Default::default()
            })
        }
    }
}

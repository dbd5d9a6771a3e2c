//! `firmware.files`, `firmware.compat`, `kernel.log`: what firmware is on disk, whether the
//! driver flavour will load a file whose protocol it accepts (`aie2_check_protocol` in
//! <https://github.com/torvalds/linux/blob/v6.19/drivers/accel/amdxdna/aie2_pci.c>; tables in
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/drivers/accel/amdxdna/aie2_pci.c>),
//! whether the loaded firmware satisfies FLM (>= 1.1,
//! <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>), and what the
//! kernel said.

use super::device::log_remedy;
use super::{Ctx, Outcome, Remedy, install_cmd, probe_problem};
use crate::knowledge::analysis::FirmwareVerdict;
use crate::knowledge::firmware;
use crate::recipes::{FlavourId, Severity};

/// `firmware.files`.
pub fn firmware_files(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.firmware, "firmware files") {
        return o;
    }
    let verdict = firmware::files(c.a);
    let (Some(e), Some(fw)) = (c.a.entry, c.a.firmware) else {
        let firmware::Files::Unknown(why) = verdict else { unreachable!("files() is Unknown without entry or facts") };
        return Outcome::skip(why);
    };
    let base = |o: Outcome| {
        o.ev("dir", format!("amdnpu/{}", e.firmware_dir)).ev("files", &fw.files).ev("listing", &fw.listing)
    };
    let firmware_pkgs = c.distro().map(|d| d.packages.firmware.join(" ")).unwrap_or_else(|| "linux-firmware".into());
    let pkg = c.remedy_text(|r| &r.install, &[("packages", &firmware_pkgs)]);
    match verdict {
        firmware::Files::Unknown(why) => Outcome::skip(why),
        firmware::Files::None { log, unsearched } => {
            let dirs = firmware::search_dirs(c.f, c.a);
            let custom = c.f.firmware.ok().and_then(|x| x.custom_path.clone());
            let mut what = match (&custom, dirs.len()) {
                (Some((p, _)), _) => format!(
                    "no NPU firmware along the kernel's search path (firmware_class.path {p}, then /lib/firmware/updates and /lib/firmware)"
                ),
                _ => format!("no NPU firmware in /lib/firmware/amdnpu/{} (nor in updates/)", e.firmware_dir),
            };
            if let Some(u) = unsearched.first() {
                what.push_str(&format!(
                    "; {u} exists, but the kernel does not search /usr/lib/firmware (/lib is not a link to /usr/lib here)"
                ));
            }
            let o = base(Outcome::fail(what)).ev("search_path", &dirs).ev("firmware_class_path", &custom);
            let o = if unsearched.is_empty() { o } else { o.ev("unsearched", &unsearched) };
            let o = match log {
                Some(m) => o.ev("kernel_log", &m.line),
                None => o,
            };
            o.remedy(Remedy {
                text: "Install linux-firmware with the amdnpu blobs (>= 20260221 ships npu_7.sbin), or the xdna-driver package's firmware, then reload the driver or reboot.".into(),
                commands: vec![pkg.clone(), install_cmd("driver")],
                step: Some("driver".into()),
                reboot: true,
                ..Default::default()
            })
        }
        firmware::Files::Dangling { path } => {
            base(Outcome::fail(format!("{path} is a dangling link: the kernel cannot load it"))).remedy(Remedy {
                text: "Reinstall the firmware package that owns the link, or point it at an existing versioned blob."
                    .into(),
                commands: vec![pkg.clone()],
                reboot: true,
                ..Default::default()
            })
        }
        firmware::Files::LoadFailed(m) => {
            base(Outcome::warn(format!("the kernel log shows a failed load: {}", m.cause)))
                .ev("kernel_log", &m.line)
                .remedy(log_remedy(&m))
        }
        firmware::Files::Present => {
            let shown: Vec<String> = fw
                .files
                .iter()
                .map(|f| {
                    format!(
                        "{} -> {}",
                        f.path,
                        f.version.clone().unwrap_or_else(|| if f.dangling {
                            "dangling".into()
                        } else {
                            "version unknown".into()
                        })
                    )
                })
                .collect();
            base(Outcome::pass(shown.join("; ")))
        }
    }
}

fn verdict_text(v: &FirmwareVerdict) -> String {
    match &v.chosen {
        Some(f) => format!(
            "{} is {} (protocol {})",
            f.name,
            f.version.clone().unwrap_or_else(|| "of unknown version".into()),
            v.protocol.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
        ),
        None => format!("none of {} is present", v.order.join(", ")),
    }
}

fn flavour_name(fl: &crate::knowledge::analysis::FlavourInfo) -> String {
    match (fl.id, &fl.variant) {
        (FlavourId::InTree, _) => {
            let k = crate::parse::version::parse_kernel_release(&fl.kernel);
            format!(
                "kernel {} in-tree amdxdna",
                k.map(|k| format!("{}.{}", k.major, k.minor)).unwrap_or_else(|| fl.kernel.clone())
            )
        }
        (FlavourId::XdnaDkms, Some(v)) => format!("xdna-driver DKMS ({v})"),
        (FlavourId::BackportDkms, _) => "backport DKMS amdxdna".to_string(),
        (id, _) => id.to_string(),
    }
}

/// `firmware.compat`.
pub fn firmware_compat(c: &Ctx) -> Outcome {
    let verdict = firmware::compat(c.f, c.r, c.a);
    let (fl, v) = match &verdict {
        firmware::Compat::UnknownDevice => return Outcome::skip("device not in the table"),
        firmware::Compat::NoModule => {
            return Outcome::skip("no amdxdna module (see driver.module)").suspects(&["driver.module"]);
        }
        firmware::Compat::NoFirmwareFacts => {
            return match probe_problem(&c.f.firmware, "firmware files") {
                Some(o) => o,
                None => Outcome::skip("no firmware facts for this NPU (see firmware.files)"),
            };
        }
        firmware::Compat::NoRule(fl) => {
            return Outcome::error(format!("no matrix row for flavour {} on kernel {}", fl.id, fl.kernel));
        }
        firmware::Compat::NoFile(fl, v)
        | firmware::Compat::Rejected(fl, v)
        | firmware::Compat::LogFailure(fl, v, _)
        | firmware::Compat::BelowFlmMinimum { flavour: fl, verdict: v, .. }
        | firmware::Compat::NextBootRejects { flavour: fl, verdict: v, .. }
        | firmware::Compat::Accepted { flavour: fl, verdict: v } => (fl, v),
    };
    let loaded = firmware::loaded_version(c.f, c.a);
    let fl_name = flavour_name(fl);
    // A verdict resting on an unverified protocol fact warns and says so.
    let unverified = verdict.unverified(c.r);
    let base = |o: Outcome| {
        o.ev("flavour", fl)
            .ev("firmware_order", &v.order)
            .ev("chosen", &v.chosen)
            .ev("protocol", v.protocol)
            .ev("protocol_unverified", v.protocol_unverified)
            .ev("accepted_protocols", &v.accepts)
            .ev("loaded_version", &loaded)
    };
    let min = &c.r.drivers.kernel.protocol7_in_tree_min;
    // Blob names quoted in remedies come from this NPU's own firmware directory.
    let dir = c.a.entry.map(|e| e.firmware_dir.clone()).unwrap_or_default();
    let p6 = firmware::example_blob(c.r, c.a, 6)
        .map(|b| format!("amdnpu/{dir}/{b}"))
        .unwrap_or_else(|| format!("a 1.0.x blob in amdnpu/{dir}/"));
    let p7 = firmware::example_blob(c.r, c.a, 7);
    let fixes_for_intree = || Remedy {
        text: format!(
            "{fl_name} accepts protocol {} only; every 1.1.x firmware speaks 7. Fix one of three ways (amd/xdna-driver#1257): \
             (1) boot a kernel >= {min}, whose in-tree driver loads npu_7.sbin (no DKMS); \
             (2) install the xdna-driver package (DKMS module + its firmware) and reboot; \
             (3) point npu.sbin back at a protocol-6 blob ({p6}) — FastFlowLM then refuses it (needs >= 1.1).",
            v.accepts.join("/")
        ),
        commands: vec![install_cmd("driver")],
        step: Some("driver".into()),
        reboot: true,
        docs: Some("https://github.com/amd/xdna-driver/issues/1257".into()),
    };
    match &verdict {
        firmware::Compat::NoFile(..) => base(Outcome::fail(format!("{fl_name} loads {}; none is present", v.order.join(" then "))))
            .suspects(&["firmware.files"])
            .remedy(Remedy {
                text: if fl.id == crate::recipes::FlavourId::XdnaDkms {
                    "The xdna-driver module loads its own npu.dev.sbin, installed by the xrt_plugin-amdxdna package: reinstall that package.".into()
                } else {
                    "Install linux-firmware >= 20260221 (npu_7.sbin) or the firmware for this driver.".into()
                },
                commands: vec![install_cmd("driver")],
                step: Some("driver".into()),
                reboot: true,
                ..Default::default()
            }),
        firmware::Compat::Rejected(..) => {
            let summary = format!("{fl_name} speaks protocol {}; {}", v.accepts.join("/"), verdict_text(v));
            base(Outcome::fail(summary)).remedy(fixes_for_intree()).unverified(&unverified)
        }
        firmware::Compat::LogFailure(_, _, m) => {
            base(Outcome::fail(m.cause.clone())).ev("kernel_log", &m.line).remedy(log_remedy(m))
        }
        firmware::Compat::BelowFlmMinimum { loaded: l, min: flm_min, npu7, .. } => {
            // The matrix row of the driver in use says whether it loads npu_7.sbin (a
            // backported in-tree driver on an older kernel does), not the kernel version.
            let loads_npu7 = v.order.iter().any(|n| n == "npu_7.sbin");
            let npu7_name = format!("amdnpu/{dir}/npu_7.sbin{}", p7.as_deref().map(|b| format!(" (-> {b})")).unwrap_or_default());
            let text = match (npu7, fl.id.as_str()) {
                (None, _) if loads_npu7 => format!(
                    "The loaded firmware {l} (protocol 6) is below FastFlowLM's minimum {flm_min}. The driver in use ({fl_name}) loads npu_7.sbin first: provide {npu7_name} (linux-firmware >= 20260221, or the amdxdna-dkms / xdna-driver package firmware), then reboot."
                ),
                (None, _) => format!(
                    "The loaded firmware {l} (protocol 6) is below FastFlowLM's minimum {flm_min}. Provide {npu7_name} (linux-firmware >= 20260221, or the amdxdna-dkms / xdna-driver package firmware) and use a driver that loads it (kernel >= {min}, backport DKMS or xdna-driver DKMS), then reboot."
                ),
                (Some(_), "in-tree") if !loads_npu7 => format!(
                    "npu_7.sbin is on disk but {fl_name} only loads {}: boot a kernel >= {min} or install the xdna-driver DKMS module.",
                    v.order.join(", ")
                ),
                (Some(f), _) => format!(
                    "{} ({}) is on disk but {l} is loaded: reload the driver or reboot.",
                    f.path,
                    f.version.clone().unwrap_or_default()
                ),
            };
            base(Outcome::fail(format!("loaded firmware {l} < {flm_min}, the minimum FastFlowLM accepts"))).remedy(
                Remedy {
                    text,
                    commands: vec![install_cmd("driver")],
                    step: Some("driver".into()),
                    reboot: true,
                    docs: Some("https://github.com/ROCm/FastFlowLM/issues/421".into()),
                },
            )
        }
        firmware::Compat::NextBootRejects { next, next_verdict, .. } => base(Outcome::warn(format!(
            "fine now, but the next boot ({}) uses {} which rejects {}",
            next.kernel,
            flavour_name(next),
            verdict_text(next_verdict)
        )))
        .ev("next_boot", next_verdict)
        .remedy(fixes_for_intree())
        .unverified(&unverified),
        firmware::Compat::Accepted { .. } => {
            let mut o = base(Outcome::pass(format!(
                "{fl_name}: {}; accepted{}",
                verdict_text(v),
                loaded.as_ref().map(|l| format!(", {l} loaded")).unwrap_or_default()
            )));
            if v.protocol_unverified {
                o = o.ev("note", "the protocol of this firmware version is UNVERIFIED upstream (recipes/drivers.yaml)");
            }
            o = o.unverified(&unverified);
            if let (Some(chosen), Some(l)) = (v.chosen.as_ref().and_then(|c| c.version.clone()), &loaded)
                && &chosen != l
                && c.a.running_flavour(c.f).is_some()
            {
                o = o.ev(
                    "note",
                    format!(
                        "{chosen} is on disk but {l} is loaded: the new firmware loads after a driver reload or reboot"
                    ),
                );
            }
            o
        }
        firmware::Compat::UnknownDevice
        | firmware::Compat::NoModule
        | firmware::Compat::NoFirmwareFacts
        | firmware::Compat::NoRule(_) => {
            unreachable!("returned above")
        }
    }
}

/// `kernel.log`.
pub fn kernel_log(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.kernel_log, "the kernel log") {
        return o;
    }
    let Some(log) = c.f.kernel_log.ok() else { unreachable!() };
    let matches = &c.a.log;
    let base = |o: Outcome| {
        let o = o.ev("source", &log.source).ev("lines_read", log.total_lines).ev("matches", matches);
        let o = if log.crashes.is_empty() { o } else { o.ev("crashes", &log.crashes) };
        match log.truncation() {
            Some(t) => o.ev("truncated", t),
            None => o,
        }
    };
    let worst = |sev: Severity| matches.iter().find(|m| m.severity == sev);
    if let Some(m) = worst(Severity::Fail) {
        let owners: Vec<&'static str> = matches
            .iter()
            .filter(|m| m.severity == crate::recipes::Severity::Fail)
            .filter_map(|m| m.check.as_deref())
            .filter_map(|id| super::find(id).map(|d| d.id))
            .collect();
        return base(Outcome::fail(format!("{} ({})", m.cause, m.id)))
            .ev("line", &m.line)
            .suspects(&owners)
            .remedy(log_remedy(m));
    }
    if let Some(m) = worst(Severity::Warn) {
        return base(Outcome::warn(format!("{} ({})", m.cause, m.id))).ev("line", &m.line).remedy(log_remedy(m));
    }
    let info: Vec<String> = matches.iter().map(|m| m.cause.clone()).collect();
    if info.is_empty() {
        return base(Outcome::pass(format!(
            "no amdxdna messages of concern ({} lines read from {})",
            log.total_lines, log.source
        )));
    }
    base(Outcome::pass(info.join("; ")))
}

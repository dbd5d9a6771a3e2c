//! `boot.iommu` (the running kernel's IOMMU is usable by the NPU) and `boot.next` (the
//! next boot's kernel arguments agree with `grub/policy.yaml` and with each other).
//!
//! Facts: `amd_iommu=off` kills the NPU (no PASID/SVA;
//! <https://github.com/lemonade-sdk/lemonade/blob/e385039ed33551de7f54cb73194cd08088772c08/docs/flm_npu_linux.html>,
//! <https://github.com/amd/xdna-driver/issues/168>); `amd_iommu=pt` is not an AMD IOMMU option (ignored by
//! `parse_amd_iommu_options`, <https://github.com/torvalds/linux/blob/v7.0/drivers/iommu/amd/init.c>); passthrough is
//! `iommu=pt`.

use super::{Ctx, Outcome, Remedy, Status, install_cmd, probe_problem};
use crate::knowledge::kargs::{self, Violation, evaluate};
use crate::parse::cmdline::parse_cmdline;
use crate::parse::version::parse_kernel_release;
use crate::root::RootMode;

/// Commands that remove kernel arguments on this distro: the install step, and the distro's
/// own way (none when there is nothing to remove).
pub(crate) fn kargs_commands(c: &Ctx, args: &[String]) -> Vec<String> {
    let mut v = vec![install_cmd("kargs")];
    if args.is_empty() {
        return v;
    }
    // An image-based system: rpm-ostree owns the boot entries (grubby's edits would be lost).
    if c.f.boot.ok().is_some_and(|b| b.ostree) {
        let mut cmd = "sudo rpm-ostree kargs".to_string();
        for a in args {
            cmd.push_str(&format!(" --delete={a}"));
        }
        v.push(cmd);
        return v;
    }
    let mut keys: Vec<&str> = args.iter().map(|k| k.split('=').next().unwrap_or(k)).collect();
    keys.dedup();
    v.push(c.remedy_text(|r| &r.kargs_remove, &[("keys", &keys.join(" ")), ("args", &args.join(" "))]));
    v
}

/// `boot.iommu`.
pub fn boot_iommu(c: &Ctx) -> Outcome {
    if c.f.mode == RootMode::Offline {
        return Outcome::skip("offline root: nothing is running; boot.next judges the next boot");
    }
    if let Some(o) = probe_problem(&c.f.kernel, "kernel facts") {
        return o;
    }
    let Some(k) = c.f.kernel.ok() else { unreachable!() };
    let Some(cmdline) = k.cmdline.as_deref() else {
        return Outcome::error("cannot read /proc/cmdline");
    };
    let v = evaluate(cmdline, c.a.running.as_ref(), &c.r.kargs);
    let units = c.f.pci.ok().map(|p| p.iommu_units.clone()).unwrap_or_default();
    let npu = c.a.npu;
    let base = |o: Outcome| {
        o.ev("cmdline", cmdline)
            .ev("policy", &v)
            .ev("iommu_units", &units)
            .ev("npu_iommu_group", npu.and_then(|n| n.iommu_group.clone()))
            .ev("npu_iommu_domain", npu.and_then(|n| n.iommu_group_type.clone()))
    };
    let fails: Vec<&Violation> = v.iter().filter(|x| x.status == crate::recipes::Severity::Fail).collect();
    let to_remove: Vec<String> =
        v.iter().filter(|x| x.action == crate::recipes::KargAction::Remove).map(|x| x.arg.clone()).collect();
    if let Some(f) = fails.first() {
        return base(Outcome::fail(format!("{} on the running kernel: {}", f.arg, f.summary))).remedy(Remedy {
            text: format!("Remove {} from every boot entry, then reboot. Why: {}", f.arg, f.why),
            commands: kargs_commands(c, &to_remove),
            step: Some("kargs".into()),
            reboot: true,
            docs: Some("https://github.com/lemonade-sdk/lemonade/blob/main/docs/flm_npu_linux.html".into()),
        });
    }
    let log = c.a.log_for("boot.iommu", &["fail"]);
    if units.is_empty() {
        return base(Outcome::fail("no IOMMU is active (/sys/class/iommu is empty): the NPU needs IOMMU SVA"))
            .ev("kernel_log", log.iter().map(|m| &m.line).collect::<Vec<_>>())
            .remedy(Remedy {
                text: "Enable the IOMMU (AMD-Vi / 'IOMMU' / 'SVM' options) in the firmware setup and make sure CONFIG_AMD_IOMMU is set; remove any amd_iommu=off.".into(),
                commands: vec![install_cmd("kargs")],
                step: Some("kargs".into()),
                reboot: true,
                ..Default::default()
            });
    }
    if let Some(n) = npu
        && n.iommu_group.is_none()
    {
        return base(Outcome::fail(format!("the NPU {} is in no IOMMU group: the IOMMU does not cover it", n.bdf)))
            .remedy(Remedy {
                text: "Check the firmware setup's IOMMU option and the kernel log for AMD-Vi errors.".into(),
                reboot: true,
                ..Default::default()
            });
    }
    if let Some(m) = log.first() {
        return base(Outcome::fail(m.cause.clone())).ev("kernel_log", &m.line).remedy(Remedy {
            text: m.remedy.clone().unwrap_or_default(),
            commands: kargs_commands(c, &to_remove),
            step: m.step.clone(),
            reboot: m.reboot,
            ..Default::default()
        });
    }
    if let Some(w) = v.iter().find(|x| x.status == crate::recipes::Severity::Warn) {
        let mut r = Remedy { text: w.why.clone(), reboot: true, ..Default::default() };
        if w.action == crate::recipes::KargAction::Remove {
            r.commands = kargs_commands(c, &to_remove);
            r.step = Some("kargs".into());
        }
        return base(Outcome::warn(format!("{}: {}", w.arg, w.summary))).remedy(r);
    }
    let domain = npu.and_then(|n| n.iommu_group_type.clone());
    if domain.as_deref() == Some("identity") {
        return base(Outcome::warn("the NPU's IOMMU domain is identity (passthrough): works on 7.1.x per reports; the translated default is the tested mode"))
            .remedy(Remedy { text: "Remove iommu=pt / iommu.passthrough=1 unless you need them.".into(), reboot: true, ..Default::default() });
    }
    base(Outcome::pass(format!(
        "IOMMU active ({}), NPU in group {}{}",
        units.join(", "),
        npu.and_then(|n| n.iommu_group.clone()).unwrap_or_else(|| "?".into()),
        domain.map(|d| format!(" ({d})")).unwrap_or_default()
    )))
}

/// `boot.next`.
pub fn boot_next(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.boot, "boot configuration") {
        return o;
    }
    let Some(b) = c.f.boot.ok() else { unreachable!() };
    let target = c.f.kernel.ok().and_then(|k| k.target.as_deref()).and_then(parse_kernel_release);
    // Every layer that feeds the next boot or future kernels.
    let layers: Vec<(String, String, bool)> =
        kargs::layers(b).into_iter().map(|l| (l.name, l.cmdline, l.next_boot)).collect();
    let parse_errors: Vec<(String, String)> =
        b.grub_default.iter().filter_map(|g| g.parse_error.clone().map(|e| (g.file.clone(), e))).collect();
    if layers.is_empty() {
        return Outcome::skip(
            "no boot entries, /etc/default/grub or /etc/kernel/cmdline found (unmanaged boot loader)",
        )
        .ev("default_entry", &b.default_entry);
    }
    let mut next_fail = Vec::new();
    let mut other_fail = Vec::new();
    let mut warns = Vec::new();
    let mut per_layer = serde_json::Map::new();
    for (name, cl, is_next) in &layers {
        let v = evaluate(cl, target.as_ref(), &c.r.kargs);
        for x in &v {
            match (x.status, is_next) {
                (crate::recipes::Severity::Fail, true) => next_fail.push((name.clone(), x.clone())),
                (crate::recipes::Severity::Fail, false) => other_fail.push((name.clone(), x.clone())),
                _ => warns.push((name.clone(), x.clone())),
            }
        }
        per_layer.insert(name.clone(), serde_json::json!({ "cmdline": cl, "next_boot": is_next, "policy": v }));
    }
    // Drift: policy-relevant arguments differ between the running kernel and the next boot.
    let managed: Vec<&str> = c.r.kargs.iter().map(|r| r.key.as_str()).collect();
    let pick = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = parse_cmdline(s)
            .args
            .iter()
            .filter(|a| managed.iter().any(|m| m.replace('-', "_") == a.key.replace('-', "_")))
            .map(|a| a.to_string())
            .collect();
        v.sort();
        v
    };
    let running = c.f.kernel.ok().and_then(|k| k.cmdline.clone());
    let next = layers.iter().find(|l| l.2).map(|l| l.1.clone());
    let drift = match (&running, &next) {
        (Some(r), Some(n)) => pick(r) != pick(n),
        _ => false,
    };
    let base = |o: Outcome| {
        o.ev("layers", &per_layer)
            .ev("default_entry", &b.default_entry)
            .ev("reboot_pending", drift)
            .ev("grub_default_parse_errors", &parse_errors)
    };
    let keys = |v: &[(String, Violation)]| {
        let mut k: Vec<String> = v
            .iter()
            .filter(|(_, x)| x.action == crate::recipes::KargAction::Remove)
            .map(|(_, x)| x.arg.clone())
            .collect();
        k.dedup();
        k
    };
    if let Some((layer, x)) = next_fail.first() {
        return base(Outcome::fail(format!("the next boot still has {} ({layer})", x.arg))).remedy(Remedy {
            text: if b.ostree {
                format!(
                    "Remove {} from the next deployment's kernel arguments (rpm-ostree kargs: ostree writes the boot entries), then reboot. Why: {}",
                    x.arg, x.summary
                )
            } else {
                format!(
                    "Remove {} from every layer (on Fedora grubby updates the BLS entries, /etc/default/grub and /etc/kernel/cmdline), then reboot. Why: {}",
                    x.arg, x.summary
                )
            },
            commands: kargs_commands(c, &keys(&next_fail)),
            step: Some("kargs".into()),
            reboot: true,
            ..Default::default()
        });
    }
    let mut status = Status::Pass;
    let mut summary = if drift {
        "next boot is clean; it differs from the running command line (reboot pending)".to_string()
    } else {
        "next-boot kernel arguments agree with the policy".to_string()
    };
    if let Some((layer, x)) = other_fail.first() {
        status = Status::Warn;
        summary = format!("{layer} still has {}: kernels installed later will inherit it", x.arg);
    } else if let Some((layer, x)) = warns.first() {
        status = Status::Warn;
        summary = format!("{} ({layer}): {}", x.arg, x.summary);
    } else if !parse_errors.is_empty() {
        status = Status::Warn;
        summary = format!("{} cannot be parsed strictly: install will refuse to edit it", parse_errors[0].0);
    }
    let mut o = base(match status {
        Status::Warn => Outcome::warn(summary),
        _ => Outcome::pass(summary),
    });
    if status == Status::Warn {
        let all: Vec<(String, Violation)> = other_fail.iter().chain(warns.iter()).cloned().collect();
        let k = keys(&all);
        o = o.remedy(Remedy {
            text: "Make every boot-configuration layer agree with the policy.".into(),
            commands: if k.is_empty() { vec![] } else { kargs_commands(c, &k) },
            step: if k.is_empty() { None } else { Some("kargs".into()) },
            reboot: !k.is_empty(),
            ..Default::default()
        });
    } else if drift {
        o = o.remedy(Remedy {
            text: "Reboot to apply the new kernel arguments.".into(),
            reboot: true,
            ..Default::default()
        });
    }
    o
}

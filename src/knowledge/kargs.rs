//! Kernel-argument policy (`grub/policy.yaml`): the one interpreter the `boot.*` checks, the
//! `kargs` step and per-kernel readiness share.

use crate::edit::kargs::KargEdit;
use crate::host::boot::BootFacts;
use crate::parse::cmdline::parse_cmdline;
use crate::parse::version::KernelRelease;
use crate::recipes::{KargAction, KargRule, Severity, kernel_in_range};

/// A policy rule that matched a command line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Violation {
    /// The argument as written.
    pub arg: String,
    /// `fail` or `warn`.
    pub status: Severity,
    /// `remove` or `keep`.
    pub action: KargAction,
    /// Summary.
    pub summary: String,
    /// Why, with source.
    pub why: String,
}

/// Matches the policy against one command line (the last occurrence of a key wins; AMD
/// IOMMU options are comma-separated, drivers/iommu/amd/init.c parse_amd_iommu_options).
pub fn evaluate(cmdline: &str, kernel: Option<&KernelRelease>, rules: &[KargRule]) -> Vec<Violation> {
    let cl = parse_cmdline(cmdline);
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for rule in rules {
        if let Some(k) = kernel
            && !kernel_in_range(k, rule.kernel_min.as_deref(), rule.kernel_max.as_deref())
        {
            continue;
        }
        if kernel.is_none() && rule.kernel_min.is_some() {
            continue;
        }
        let Some(arg) = cl.last(&rule.key) else { continue };
        let hit = arg.value.as_deref().is_some_and(|v| v.split(',').any(|item| item.eq_ignore_ascii_case(&rule.value)));
        let id = format!("{}={}", rule.key, rule.value);
        if hit && !seen.contains(&id) {
            seen.push(id);
            out.push(Violation {
                arg: arg.to_string(),
                status: rule.status,
                action: rule.action,
                summary: rule.summary.clone(),
                why: format!("{} ({})", rule.why, rule.source),
            });
        }
    }
    out
}

/// The arguments the policy removes (`action: remove`), as the edit every boot layer gets.
pub fn removals(rules: &[KargRule]) -> KargEdit {
    let mut remove: Vec<String> = Vec::new();
    for r in rules.iter().filter(|r| r.action == crate::recipes::KargAction::Remove) {
        let a = format!("{}={}", r.key, r.value);
        if !remove.contains(&a) {
            remove.push(a);
        }
    }
    KargEdit { remove, add: Vec::new() }
}

/// The layer name of an image-based system's next deployment.
pub const OSTREE_LAYER: &str = "rpm-ostree kargs (the next deployment)";

/// One boot-configuration layer's command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Where it comes from (file, or file and image).
    pub name: String,
    /// The arguments.
    pub cmdline: String,
    /// It is what the next boot uses (the default BLS entry, the first grub.cfg entry, or
    /// /etc/kernel/cmdline when nothing else exists); other layers feed future kernels.
    pub next_boot: bool,
}

/// Every layer that feeds the next boot or future kernels: BLS entries, a non-BLS grub.cfg,
/// GRUB_CMDLINE_LINUX* of /etc/default/grub and grub.d, /etc/kernel/cmdline, grubenv
/// kernelopts.
pub fn layers(b: &BootFacts) -> Vec<Layer> {
    let mut layers = Vec::new();
    // An image-based system: the next deployment's arguments (`rpm-ostree kargs`) are the
    // next boot; the BLS entries are ostree's copies of its deployments, rewritten from them.
    if let Some(k) = b.ostree_kargs.as_ref().filter(|_| b.ostree) {
        layers.push(Layer { name: OSTREE_LAYER.into(), cmdline: k.clone(), next_boot: true });
    }
    for e in b.bls.iter().filter(|_| !b.ostree || b.ostree_kargs.is_none()) {
        if let Some(o) = &e.options {
            let next_boot = b.default_entry.as_deref() == Some(e.id.as_str());
            layers.push(Layer { name: e.file.clone(), cmdline: o.clone(), next_boot });
        }
    }
    if b.bls.is_empty()
        && let (Some((img, args)), Some(f)) = (b.grub_cfg.first(), &b.grub_cfg_file)
    {
        layers.push(Layer { name: format!("{f} ({img})"), cmdline: args.clone(), next_boot: true });
    }
    for g in &b.grub_default {
        let joined = [g.cmdline_linux.as_deref(), g.cmdline_linux_default.as_deref()]
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        if !joined.trim().is_empty() {
            layers.push(Layer { name: format!("{} (GRUB_CMDLINE_LINUX*)", g.file), cmdline: joined, next_boot: false });
        }
    }
    if let Some(kc) = &b.kernel_cmdline {
        let next_boot = b.bls.is_empty() && b.grub_cfg.is_empty();
        layers.push(Layer { name: "/etc/kernel/cmdline".into(), cmdline: kc.clone(), next_boot });
    }
    if let Some(ko) = &b.kernelopts {
        layers.push(Layer { name: "grubenv kernelopts".into(), cmdline: ko.clone(), next_boot: false });
    }
    layers
}

/// The command line `kernel` boots with: its BLS entry, else its grub.cfg line, else the
/// layers future kernels inherit (/etc/kernel/cmdline, GRUB_CMDLINE_LINUX*).
pub fn boot_args_for(b: &BootFacts, kernel: &str) -> Option<(String, String)> {
    if let Some(k) = b.ostree_kargs.as_ref().filter(|_| b.ostree) {
        return Some((OSTREE_LAYER.into(), k.clone()));
    }
    if let Some(e) = b.bls.iter().find(|e| e.version.as_deref() == Some(kernel) || e.id.ends_with(kernel))
        && let Some(o) = &e.options
    {
        return Some((e.file.clone(), o.clone()));
    }
    if let Some((img, args)) = b.grub_cfg.iter().find(|(img, _)| img.ends_with(&format!("vmlinuz-{kernel}"))) {
        return Some((
            format!("{} ({img})", b.grub_cfg_file.clone().unwrap_or_else(|| "grub.cfg".into())),
            args.clone(),
        ));
    }
    if let Some(kc) = &b.kernel_cmdline {
        return Some(("/etc/kernel/cmdline".into(), kc.clone()));
    }
    let joined: Vec<String> = b
        .grub_default
        .iter()
        .flat_map(|g| [g.cmdline_linux.clone(), g.cmdline_linux_default.clone()])
        .flatten()
        .collect();
    (!joined.is_empty()).then(|| ("/etc/default/grub (GRUB_CMDLINE_LINUX*)".into(), joined.join(" ")))
}

/// The layer the next boot uses, if one is known.
pub fn next_boot_layer(f: &crate::host::Facts) -> Option<Layer> {
    layers_of(f).into_iter().find(|l| l.next_boot)
}

/// Every boot-configuration layer of the host ([`layers`] of its boot facts).
pub fn layers_of(f: &crate::host::Facts) -> Vec<Layer> {
    f.boot.ok().map(layers).unwrap_or_default()
}

/// A running command line that violates the policy whose fix is already staged: the next
/// boot no longer carries the failing arguments (its layer is clean), or — when the next
/// boot's layer cannot be read — the kargs step owes a reboot in this boot. The fix is a
/// reboot, not another install. `None` when nothing fails now, or the next boot fails too.
pub fn staged(f: &crate::host::Facts, rules: &[KargRule]) -> Option<String> {
    let running = f.kernel.ok().and_then(|k| k.cmdline.as_deref())?;
    let kr = |s: Option<&String>| s.and_then(|v| crate::parse::version::parse_kernel_release(v));
    let now: Vec<Violation> = evaluate(running, kr(f.kernel.ok().and_then(|k| k.running.as_ref())).as_ref(), rules)
        .into_iter()
        .filter(|v| v.status == Severity::Fail)
        .collect();
    if now.is_empty() {
        return None;
    }
    let args = now.iter().map(|v| v.arg.as_str()).collect::<Vec<_>>().join(" ");
    if let Some(next) = next_boot_layer(f) {
        let target = kr(f.kernel.ok().and_then(|k| k.target.as_ref()));
        let still = evaluate(&next.cmdline, target.as_ref(), rules).iter().any(|v| v.status == Severity::Fail);
        return (!still).then(|| format!("the next boot ({}) no longer has {args}", next.name));
    }
    let owed = f.install_state.ok().map(|s| s.owed_by("kargs")).unwrap_or_default();
    owed.first().map(|r| format!("install removed {args} for the next boot and owes the reboot ({r})"))
}

//! `kargs`: enforce `grub/policy.yaml` on every boot-configuration layer with the distro's
//! tool, touching only the arguments the policy owns.
//!
//! Layers (grubby-bls, <https://src.fedoraproject.org/rpms/grubby>; kernel-install(8),
//! <https://www.freedesktop.org/software/systemd/man/latest/kernel-install.html>): `/etc/default/grub` (+ `grub.d`),
//! `/etc/kernel/cmdline`,
//! BLS entries — through `grubby --update-kernel=ALL` when grubby exists (Fedora/RHEL; it also
//! updates the other two layers), else edited directly — and a non-BLS `grub.cfg`,
//! regenerated with update-grub / grub-mkconfig. A file that cannot be parsed is refused,
//! untouched.

use anyhow::Result;

use super::{Action, Plan, Step, StepCtx, action::FileEdit};
use crate::edit::bls::edit_bls_options;
use crate::edit::grub_default::edit_grub_default;
use crate::edit::kargs::KargEdit;
use crate::edit::kargs::edit_cmdline;
use crate::edit::kernel_cmdline::edit_kernel_cmdline;
use crate::host::boot::BootFacts;

/// The kargs step.
pub struct Kargs;

/// A file the step may edit, whole and in the editors' lossless view (as apply reads it).
fn read_edited(cx: &StepCtx, rel: &str) -> Result<Option<String>> {
    Ok(cx.root.read_whole_optional(rel)?.map(|b| crate::edit::bytes::decode(&b)))
}

fn rel(host_path: &str) -> String {
    host_path.trim_start_matches('/').to_string()
}

impl Step for Kargs {
    fn id(&self) -> &'static str {
        "kargs"
    }
    fn summary(&self) -> &'static str {
        "kernel arguments: remove amd_iommu=off / amd_iommu=pt from every boot layer"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let e = crate::knowledge::kargs::removals(&cx.recipes.kargs);
        let Some(b) = cx.facts.boot.ok() else {
            p.blocked = Some(format!("cannot read the boot configuration: {}", cx.facts.boot.reason().unwrap_or("")));
            return Ok(p);
        };
        if b.ostree {
            return Ok(plan_ostree(cx, b, &e));
        }
        let mut removed: Vec<String> = Vec::new();
        let mut note_removed = |r: &[String]| {
            for x in r {
                if !removed.contains(x) {
                    removed.push(x.clone());
                }
            }
        };
        // 1. /etc/default/grub and grub.d drop-ins (strict parse, or refuse).
        for g in &b.grub_default {
            let path = rel(&g.file);
            let Some(text) = read_edited(cx, &path)? else { continue };
            match edit_grub_default(&text, &e) {
                Ok(r) if r.changed => {
                    note_removed(&r.removed);
                    p.actions.push(Action::EditFile { path, edit: FileEdit::GrubDefault { edit: e.clone() } });
                }
                Ok(_) => {}
                Err(err) => {
                    // Refuse only when the file carries an argument we must remove.
                    let lenient = [g.cmdline_linux.as_deref(), g.cmdline_linux_default.as_deref()];
                    if lenient.iter().flatten().any(|v| edit_cmdline(v, &e).changed) {
                        p.blocked = Some(format!(
                            "refusing to edit {}: {err} (the file is left untouched; fix it by hand)",
                            g.file
                        ));
                        return Ok(p);
                    }
                    p.notes.push(format!("{} is not fully parsable ({err}) but needs no change", g.file));
                }
            }
        }
        // 2. /etc/kernel/cmdline (kernel-install / systemd-boot / UKI).
        if let Some(text) = read_edited(cx, "etc/kernel/cmdline")? {
            let r = edit_kernel_cmdline(&text, &e);
            if r.changed {
                note_removed(&r.removed);
                p.actions.push(Action::EditFile {
                    path: "etc/kernel/cmdline".into(),
                    edit: FileEdit::KernelCmdline { edit: e.clone() },
                });
            }
        }
        // 3. BLS entries: grubby when present (it owns them on Fedora/RHEL), else direct edits.
        let mut bls_changes = Vec::new();
        for entry in &b.bls {
            let path = rel(&entry.file);
            if let Some(text) = read_edited(cx, &path)? {
                let r = edit_bls_options(&text, &e);
                if r.changed {
                    note_removed(&r.removed);
                    bls_changes.push((path, r.removed));
                }
            }
        }
        if !bls_changes.is_empty() {
            let present: Vec<String> = {
                let mut v: Vec<String> = bls_changes.iter().flat_map(|(_, r)| r.clone()).collect();
                v.sort();
                v.dedup();
                v
            };
            if cx.runner.locate("grubby").is_some() {
                p.actions.push(Action::Run {
                    argv: vec![
                        "grubby".into(),
                        "--update-kernel=ALL".into(),
                        format!("--remove-args={}", present.join(" ")),
                    ],
                    why: "remove the arguments from every boot entry".into(),
                });
            } else {
                for (path, _) in bls_changes {
                    p.actions.push(Action::EditFile { path, edit: FileEdit::BlsOptions { edit: e.clone() } });
                }
            }
        }
        // 4. A generated non-BLS grub.cfg is stale until regenerated.
        if b.bls.is_empty()
            && let Some(cfg) = &b.grub_cfg_file
            && b.grub_cfg.iter().any(|(_, args)| edit_cmdline(args, &e).changed)
        {
            let Some(d) = cx.distro() else {
                p.blocked = Some(format!(
                    "{cfg} must be regenerated from /etc/default/grub, but this distro has no recipe saying how"
                ));
                return Ok(p);
            };
            let argv: Vec<String> = d.commands.grub_mkconfig.iter().map(|a| a.replace("{grub_cfg}", cfg)).collect();
            p.actions.push(Action::Run { argv, why: format!("regenerate {cfg} from /etc/default/grub") });
        }
        p.reboot = running_keeps(cx, &e);
        if !removed.is_empty() {
            p.notes.push(format!(
                "removes {} (policy: grub/policy.yaml); no other argument is touched",
                removed.join(" ")
            ));
        }
        if p.actions.is_empty() && p.reboot.is_none() {
            p.notes.push(format!(
                "{} agree with the policy",
                if b.bls.is_empty() { "boot settings" } else { "boot entries" }
            ));
        }
        Ok(p)
    }
}

/// The running kernel keeps its arguments until the reboot: the reboot owed, if it has any
/// the edit removes.
fn running_keeps(cx: &StepCtx, e: &KargEdit) -> Option<String> {
    let running = cx.facts.kernel.ok().and_then(|k| k.cmdline.as_deref())?;
    let r = edit_cmdline(running, e);
    r.changed.then(|| {
        format!("the running kernel still has {}; the new arguments apply at the next boot", r.removed.join(" "))
    })
}

/// The `rpm-ostree kargs` options that turn `old` into `new` (whitespace-separated
/// arguments): `--delete=ARG` for one dropped, `--replace=KEY=OLD=NEW` for a value changed in
/// place (`amd_iommu=off,fullflush` → `amd_iommu=fullflush`), `--append=ARG` for one added.
pub(crate) fn ostree_kargs_options(old: &str, new: &str) -> Vec<String> {
    let (o, n): (Vec<&str>, Vec<&str>) = (old.split_whitespace().collect(), new.split_whitespace().collect());
    let mut gone: Vec<&str> = o.iter().copied().filter(|a| !n.contains(a)).collect();
    let mut added: Vec<&str> = n.iter().copied().filter(|a| !o.contains(a)).collect();
    gone.dedup();
    added.dedup();
    let key = |a: &str| a.split('=').next().unwrap_or(a).to_string();
    let mut opts = Vec::new();
    for g in gone {
        if let Some(i) = added.iter().position(|a| key(a) == key(g) && g.contains('=') && a.contains('=')) {
            let new_value = added.remove(i).split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
            opts.push(format!("--replace={g}={new_value}"));
        } else {
            opts.push(format!("--delete={g}"));
        }
    }
    opts.extend(added.into_iter().map(|a| format!("--append={a}")));
    opts
}

/// An image-based system (rpm-ostree / bootc): one `rpm-ostree kargs` stages a deployment
/// with the policy's arguments, applied at the next boot; ostree writes the boot entries from
/// its deployments, so grubby and direct edits of them would be lost
/// (<https://docs.fedoraproject.org/en-US/fedora-coreos/kernel-args/>; the `--delete=KEY=VALUE`
/// / `--replace` / `--append` options:
/// <https://docs.redhat.com/en/documentation/red_hat_enterprise_linux/10/html/using_image_mode_for_rhel_to_build_deploy_and_manage_operating_systems/how-to-edit-kernel-arguments-in-bootc-systems>).
fn plan_ostree(cx: &StepCtx, b: &BootFacts, e: &KargEdit) -> Plan {
    let mut p = Plan::default();
    let Some(next) = b.ostree_kargs.as_deref() else {
        p.blocked = Some(
            "an rpm-ostree system whose next deployment's kernel arguments cannot be read (`rpm-ostree kargs` failed); \
             kernel arguments change only through rpm-ostree kargs here"
                .into(),
        );
        return p;
    };
    let r = edit_cmdline(next, e);
    let opts = ostree_kargs_options(next, &r.text);
    if r.changed && !opts.is_empty() {
        let mut argv = vec!["rpm-ostree".to_string(), "kargs".into()];
        argv.extend(opts);
        p.actions.push(Action::Run {
            argv,
            why: "stage a deployment without them (ostree writes its boot entries; applied at the next boot)".into(),
        });
        p.notes.push(format!(
            "removes {} (policy: grub/policy.yaml) through rpm-ostree kargs; no other argument is touched",
            r.removed.join(" ")
        ));
    }
    p.reboot = running_keeps(cx, e);
    if p.actions.is_empty() && p.reboot.is_none() {
        p.notes.push("the next deployment's kernel arguments agree with the policy".into());
    }
    p
}

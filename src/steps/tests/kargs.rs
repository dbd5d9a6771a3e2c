//! `kargs`: removes the policy's arguments from every boot layer.

use super::*;
use crate::host::boot::BootFacts;
use crate::steps::action::FileEdit;
use crate::steps::kargs::Kargs;

const ENTRY: &str = "boot/loader/entries/cdd4fab0d7dc680229d0de5bca82440d-7.1.4-200.fc44.x86_64.conf";

fn entry(options: &str) -> String {
    format!(
        "title Fedora Linux (7.1.4-200.fc44.x86_64) 44\nversion 7.1.4-200.fc44.x86_64\nlinux /vmlinuz-7.1.4-200.fc44.x86_64\noptions {options}\n"
    )
}

#[test]
fn nothing_to_do_when_every_layer_agrees() {
    let p =
        Scratch::running(&[("etc/default/grub", "GRUB_CMDLINE_LINUX=\"rhgb quiet\"\n")]).plan(&Kargs, &Host::halo());
    assert!(p.is_empty() && p.reboot.is_none(), "{p:#?}");
    assert!(noted(&p, "boot entries agree with the policy"));
}

#[test]
fn edits_etc_default_grub_and_the_kernel_cmdline() {
    let s = Scratch::running(&[
        ("etc/default/grub", "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"rhgb quiet amd_iommu=off\"\n"),
        ("etc/kernel/cmdline", "root=UUID=x ro amd_iommu=pt\n"),
    ]);
    let p = s.plan(&Kargs, &Host::halo().grub_cmdline("rhgb quiet amd_iommu=off"));
    assert_eq!(summary(&p), ["edit etc/default/grub", "edit etc/kernel/cmdline"]);
    let Action::EditFile { edit: FileEdit::GrubDefault { edit }, .. } = &p.actions[0] else { panic!("{p:#?}") };
    assert_eq!(edit.remove, ["amd_iommu=off", "amd_iommu=pt"]);
    assert!(noted(&p, "removes amd_iommu=off amd_iommu=pt (policy: grub/policy.yaml)"), "{:?}", p.notes);
    // What the edit makes of the file: only the policy's argument goes.
    assert_eq!(
        p.actions[0].render(&s.root).lines().filter(|l| l.starts_with('+')).nth(1),
        Some("+GRUB_CMDLINE_LINUX=\"rhgb quiet\"")
    );
}

#[test]
fn bls_entries_go_through_grubby_when_it_exists() {
    let h = Host::halo().next_boot_args("ro quiet amd_iommu=off");
    let s = Scratch::running(&[(ENTRY, &entry("ro quiet amd_iommu=off"))]);
    assert_eq!(summary(&s.plan(&Kargs, &h)), [format!("edit {ENTRY}")]);
    s.tool("usr/bin/grubby");
    assert_eq!(runs(&s.plan(&Kargs, &h)), ["grubby --update-kernel=ALL --remove-args=amd_iommu=off"]);
}

#[test]
fn a_non_bls_grub_cfg_is_regenerated_with_the_distros_tool() {
    let boot = BootFacts {
        grub_cfg: vec![("/boot/vmlinuz-6.8.0-45-generic".into(), "ro quiet amd_iommu=off".into())],
        grub_cfg_file: Some("/boot/grub/grub.cfg".into()),
        ..Default::default()
    };
    let h = |id: &str, v: &str| Host::halo().os(id, v).with(|f| *f.boot.ok_mut() = boot.clone());
    let s = Scratch::running(&[]);
    assert_eq!(runs(&s.plan(&Kargs, &h("ubuntu", "24.04"))), ["update-grub"]);
    assert_eq!(runs(&s.plan(&Kargs, &h("fedora", "44"))), ["grub2-mkconfig -o /boot/grub/grub.cfg"]);
    assert_eq!(runs(&s.plan(&Kargs, &h("arch", "rolling"))), ["grub-mkconfig -o /boot/grub/grub.cfg"]);
}

#[test]
fn the_running_kernel_owes_a_reboot() {
    let p = Scratch::running(&[]).plan(&Kargs, &Host::halo().cmdline("ro amd_iommu=off"));
    assert!(p.is_empty());
    assert_eq!(
        p.reboot.as_deref(),
        Some("the running kernel still has amd_iommu=off; the new arguments apply at the next boot")
    );
}

#[test]
fn refuses_a_file_it_cannot_parse_when_it_must_change_it() {
    let s = Scratch::running(&[("etc/default/grub", "GRUB_CMDLINE_LINUX=\"quiet amd_iommu=off\n")]);
    let p = s.plan(&Kargs, &Host::halo().grub_cmdline("quiet amd_iommu=off"));
    assert!(p.blocked.as_deref().is_some_and(|b| b.starts_with("refusing to edit /etc/default/grub")), "{p:#?}");
    assert!(p.is_empty());
    // Unparsable but clean: left alone, with a note.
    let s = Scratch::running(&[("etc/default/grub", "GRUB_CMDLINE_LINUX=\"quiet\n")]);
    let p = s.plan(&Kargs, &Host::halo().grub_cmdline("quiet"));
    assert!(p.blocked.is_none() && noted(&p, "is not fully parsable"), "{p:#?}");
}

#[test]
fn blocks_without_the_boot_configuration() {
    let p = Scratch::running(&[]).plan(&Kargs, &Host::halo().probe_error("boot", "EIO"));
    assert_eq!(p.blocked.as_deref(), Some("cannot read the boot configuration: EIO"));
}

#[test]
fn an_rpm_ostree_system_goes_through_rpm_ostree_kargs_only() {
    let ostree = |next: Option<&str>| {
        Host::halo().cmdline("ro amd_iommu=off").with(|f| {
            let b = f.boot.ok_mut();
            b.ostree = true;
            b.ostree_kargs = next.map(str::to_string);
        })
    };
    // The BLS entry and /etc/default/grub carry it too: neither is touched (ostree writes
    // its entries from the deployment).
    let s = Scratch::running(&[
        (ENTRY, &entry("rhgb quiet amd_iommu=off ostree=/ostree/boot.1/fedora/abc/0")),
        ("etc/default/grub", "GRUB_CMDLINE_LINUX=\"amd_iommu=off\"\n"),
    ]);
    let p = s.plan(&Kargs, &ostree(Some("rhgb quiet amd_iommu=off,fullflush amd_iommu=pt ostree=/ostree/x/0")));
    assert_eq!(
        runs(&p),
        ["rpm-ostree kargs --replace=amd_iommu=off,fullflush=fullflush --delete=amd_iommu=pt"],
        "{p:#?}"
    );
    assert_eq!(p.actions.len(), 1);
    assert!(p.reboot.is_some());
    // Staged already: the next deployment is clean, the running kernel still owes the reboot.
    let p = s.plan(&Kargs, &ostree(Some("rhgb quiet ostree=/ostree/x/0")));
    assert!(p.actions.is_empty() && p.reboot.is_some(), "{p:#?}");
    // Unknown next deployment: refused, never guessed from the entries.
    let b = s.plan(&Kargs, &ostree(None)).blocked.unwrap_or_default();
    assert!(b.contains("rpm-ostree kargs"), "{b}");
}

#[test]
fn ostree_kargs_options_delete_replace_and_append() {
    use crate::steps::kargs::ostree_kargs_options as o;
    assert_eq!(o("a amd_iommu=off b", "a b"), ["--delete=amd_iommu=off"]);
    assert_eq!(o("amd_iommu=off,fullflush", "amd_iommu=fullflush"), ["--replace=amd_iommu=off,fullflush=fullflush"]);
    assert_eq!(o("a", "a iommu=pt"), ["--append=iommu=pt"]);
    assert!(o("a b", "a b").is_empty());
}

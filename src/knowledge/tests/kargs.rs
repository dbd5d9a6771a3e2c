//! `knowledge::kargs`: the kernel-argument policy and the boot layers it applies to.

use super::*;
use crate::host::boot::BootFacts;
use crate::knowledge::kargs::{boot_args_for, evaluate, layers, removals};
use crate::parse::version::parse_kernel_release;

fn hits(cmdline: &str, kernel: Option<&str>) -> Vec<(String, String, String)> {
    let k = kernel.and_then(parse_kernel_release);
    evaluate(cmdline, k.as_ref(), &recipes().kargs)
        .into_iter()
        .map(|v| (v.arg, v.status.as_str().to_string(), format!("{:?}", v.action).to_lowercase()))
        .collect()
}

fn t(arg: &str, status: &str, action: &str) -> (String, String, String) {
    (arg.into(), status.into(), action.into())
}

#[test]
fn the_policy_matches_the_last_occurrence_and_comma_lists() {
    assert_eq!(hits("ro quiet", Some("7.1.4")), []);
    assert_eq!(hits("amd_iommu=off", Some("7.1.4")), [t("amd_iommu=off", "fail", "remove")]);
    assert_eq!(hits("amd_iommu=off amd_iommu=on", Some("7.1.4")), []);
    assert_eq!(hits("amd_iommu=fullflush,OFF", Some("7.1.4")), [t("amd_iommu=fullflush,OFF", "fail", "remove")]);
    assert_eq!(hits("amd_iommu=pt", None), [t("amd_iommu=pt", "warn", "remove")]);
}

#[test]
fn kernel_ranges_pick_the_rule() {
    let on = |k| hits("iommu=pt", k).into_iter().map(|x| x.1).collect::<Vec<_>>();
    assert_eq!(on(Some("6.19.3")), ["warn"]);
    assert_eq!(on(Some("7.1.2")), ["warn"]);
    assert_eq!(on(Some("7.0.5")), ["warn"]);
    // Without a kernel only rules with no minimum apply: the cautious pre-7.1 one.
    let v = evaluate("iommu=pt", None, &recipes().kargs);
    assert!(v.len() == 1 && v[0].summary.contains("before 7.1"), "{v:?}");
    let v = evaluate("iommu=pt", parse_kernel_release("6.19.3").as_ref(), &recipes().kargs);
    assert!(v[0].summary.contains("before 7.1"), "{}", v[0].summary);
    let v = evaluate("iommu=pt", parse_kernel_release("7.1.2").as_ref(), &recipes().kargs);
    assert!(v[0].summary.contains("reported working"), "{}", v[0].summary);
}

#[test]
fn removals_are_the_remove_rules_once_each() {
    let e = removals(&recipes().kargs);
    assert_eq!(e.remove, ["amd_iommu=off", "amd_iommu=pt"]);
    assert!(e.add.is_empty());
}

#[test]
fn the_layers_of_a_bls_host() {
    let b = Host::halo().boot.ok().unwrap().clone();
    let l: Vec<(String, bool)> = layers(&b).into_iter().map(|l| (l.name, l.next_boot)).collect();
    assert_eq!(l.len(), 4, "{l:?}");
    assert!(l[0].0.ends_with(&format!("{HALO_RUNNING}.conf")) && l[0].1, "the default entry boots next: {l:?}");
    assert!(!l[1].1);
    assert_eq!(l[2], ("/etc/default/grub (GRUB_CMDLINE_LINUX*)".to_string(), false));
    assert_eq!(
        l[3],
        ("/etc/kernel/cmdline".to_string(), false),
        "with BLS entries the cmdline file only feeds new kernels"
    );
}

#[test]
fn the_layers_of_other_boot_setups() {
    let grub_cfg = BootFacts {
        grub_cfg: vec![("/boot/vmlinuz-6.8.0-45-generic".into(), "ro quiet splash".into())],
        grub_cfg_file: Some("/boot/grub/grub.cfg".into()),
        kernelopts: Some("root=/dev/sda1 ro".into()),
        ..Default::default()
    };
    let l = layers(&grub_cfg);
    assert_eq!(l[0].name, "/boot/grub/grub.cfg (/boot/vmlinuz-6.8.0-45-generic)");
    assert!(l[0].next_boot);
    assert_eq!((l[1].name.as_str(), l[1].next_boot), ("grubenv kernelopts", false));
    let uki = BootFacts { kernel_cmdline: Some("rw quiet".into()), ..Default::default() };
    assert!(layers(&uki)[0].next_boot, "without entries /etc/kernel/cmdline is what boots");
    assert!(layers(&BootFacts::default()).is_empty());
}

#[test]
fn the_arguments_a_kernel_boots_with() {
    let b = Host::halo().next_boot_args("ro amd_iommu=off").boot.ok().unwrap().clone();
    let (from, args) = boot_args_for(&b, HALO_RUNNING).unwrap();
    assert!(from.ends_with(&format!("{HALO_RUNNING}.conf")));
    assert_eq!(args, "ro amd_iommu=off");
    let (from, _) = boot_args_for(&b, "7.2.0-1.fc44.x86_64").unwrap();
    assert_eq!(from, "/etc/kernel/cmdline", "a kernel without an entry inherits /etc/kernel/cmdline");
    let grub_cfg = BootFacts {
        grub_cfg: vec![("/boot/vmlinuz-6.8.0-45-generic".into(), "ro quiet".into())],
        grub_cfg_file: Some("/boot/grub/grub.cfg".into()),
        ..Default::default()
    };
    assert_eq!(
        boot_args_for(&grub_cfg, "6.8.0-45-generic"),
        Some(("/boot/grub/grub.cfg (/boot/vmlinuz-6.8.0-45-generic)".into(), "ro quiet".into()))
    );
    assert_eq!(boot_args_for(&grub_cfg, "6.9.0-1-generic"), None);
    let b = Host::halo().with(|f| f.boot.ok_mut().kernel_cmdline = None).boot.ok().unwrap().clone();
    let (from, args) = boot_args_for(&b, "7.2.0-1.fc44.x86_64").unwrap();
    assert_eq!(
        (from.as_str(), args.as_str()),
        ("/etc/default/grub (GRUB_CMDLINE_LINUX*)", "rootflags=subvol=root rhgb quiet")
    );
}

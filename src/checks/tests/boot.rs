//! `boot.iommu`, `boot.next`.

use super::*;

const ROOT_ARGS: &str = "root=UUID=f3257fc6-4047-e164-04dd-ba4191b6e2e6 ro rootflags=subvol=root rhgb quiet";

#[test]
fn boot_iommu_passes_with_a_translated_domain() {
    expect(&Host::halo(), "boot.iommu", Pass, "IOMMU active (ivhd0), NPU in group 12 (DMA-FQ)");
}

#[test]
fn boot_iommu_fails_when_the_running_kernel_has_the_iommu_off() {
    // The next boot has it too: install's kargs step removes it.
    let c = expect(
        &Host::halo().cmdline("ro amd_iommu=off").next_boot_args("ro amd_iommu=off"),
        "boot.iommu",
        Fail,
        "amd_iommu=off on the running kernel",
    );
    assert_eq!(step(&c), Some("kargs"));
    assert!(remedy(&c).contains("grubby --update-kernel=ALL --remove-args=\"amd_iommu\""), "{}", remedy(&c));
    // The last occurrence wins, and AMD IOMMU options are comma-separated.
    expect(&Host::halo().cmdline("amd_iommu=off amd_iommu=on"), "boot.iommu", Pass, "IOMMU active");
    expect(&Host::halo().cmdline("amd_iommu=fullflush,off"), "boot.iommu", Fail, "amd_iommu=fullflush,off");
}

#[test]
fn boot_iommu_says_a_fix_staged_for_the_next_boot_needs_only_a_reboot() {
    // The running kernel has amd_iommu=off, the default entry no longer does (install's
    // kargs step ran, or the user ran grubby): a reboot, not another install.
    let c =
        expect(&Host::halo().cmdline("ro amd_iommu=off"), "boot.iommu", Fail, "amd_iommu=off on the running kernel: ");
    assert!(c.summary.ends_with("— fixed for the next boot: reboot"), "{}", c.summary);
    let r = c.remedy.as_ref().unwrap();
    assert_eq!((r.step.as_deref(), r.reboot), (None, true));
    assert!(r.text.contains("the next boot (") && r.text.contains("no longer has amd_iommu=off"), "{}", r.text);
    assert!(r.commands.iter().all(|c| !c.contains("npu-setup install") && !c.contains("grubby")), "{:?}", r.commands);
    // The boot configuration cannot be read, but install recorded the owed reboot this boot.
    let owed = |reasons: &[&str]| {
        Host::halo().cmdline("ro amd_iommu=off").probe_error("boot", "unreadable").with(|f| {
            f.install_state = crate::host::Probed::Ok(crate::host::install_state::InstallState {
                reboot_owed: reasons.iter().map(|r| r.to_string()).collect(),
                run: Some("run-1".into()),
            })
        })
    };
    let c = expect(&owed(&["kargs: kernel arguments changed"]), "boot.iommu", Fail, "fixed for the next boot");
    assert!(
        remedy(&c).contains("install removed amd_iommu=off for the next boot and owes the reboot"),
        "{}",
        remedy(&c)
    );
    // Owed by another step only: install --only kargs is still the fix.
    let c = expect(&owed(&["driver: new module"]), "boot.iommu", Fail, "amd_iommu=off on the running kernel");
    assert_eq!(step(&c), Some("kargs"));
}

#[test]
fn boot_iommu_fails_without_an_iommu_covering_the_npu() {
    let c = expect(&Host::halo().iommu_units(&[]), "boot.iommu", Fail, "no IOMMU is active");
    assert_eq!(step(&c), Some("kargs"));
    expect(&Host::halo().iommu_group(None, None), "boot.iommu", Fail, "the NPU 0000:c6:00.1 is in no IOMMU group");
    let h = Host::halo().log(&["amdxdna 0000:c6:00.1: SVA bind device failed, ret -19"]);
    expect(&h, "boot.iommu", Fail, "cannot bind a shared virtual address space");
}

#[test]
fn boot_iommu_warns_on_arguments_and_domains_that_are_not_the_tested_setup() {
    let c = expect(
        &Host::halo().cmdline("ro amd_iommu=pt"),
        "boot.iommu",
        Warn,
        "amd_iommu=pt: amd_iommu=pt is not an AMD IOMMU option",
    );
    assert_eq!(step(&c), Some("kargs"), "amd_iommu=pt is removed");
    let c = expect(&Host::halo().cmdline("ro iommu=pt"), "boot.iommu", Warn, "reported working with the NPU on 7.1.x");
    assert_eq!(step(&c), None, "iommu=pt is kept");
    expect(
        &Host::point_dkms().cmdline("ro iommu=pt"),
        "boot.iommu",
        Warn,
        "untested with the NPU on kernels before 7.1",
    );
    expect(&Host::halo().iommu_group(Some("12"), Some("identity")), "boot.iommu", Warn, "IOMMU domain is identity");
}

#[test]
fn boot_iommu_judges_only_a_running_system() {
    expect(&Host::halo().offline(), "boot.iommu", Skip, "offline root");
    expect(&Host::halo().with(|f| f.kernel.ok_mut().cmdline = None), "boot.iommu", Error, "cannot read /proc/cmdline");
}

#[test]
fn boot_next_passes_when_every_layer_agrees() {
    expect(&Host::halo(), "boot.next", Pass, "next-boot kernel arguments agree with the policy");
    let c = expect(
        &Host::halo().cmdline("ro amd_iommu=off"),
        "boot.next",
        Pass,
        "next boot is clean; it differs from the running command line (reboot pending)",
    );
    assert!(c.remedy.unwrap().reboot);
}

#[test]
fn boot_next_fails_when_the_next_boot_keeps_a_forbidden_argument() {
    let h = Host::halo().next_boot_args(&format!("{ROOT_ARGS} amd_iommu=off"));
    let c = expect(&h, "boot.next", Fail, "the next boot still has amd_iommu=off (/boot/loader/entries/");
    assert_eq!(step(&c), Some("kargs"));
    assert!(c.remedy.unwrap().reboot);
}

#[test]
fn boot_next_warns_on_other_layers_warnings_and_unparsable_files() {
    let h = Host::halo().grub_cmdline("rhgb quiet amd_iommu=off");
    let c = expect(
        &h,
        "boot.next",
        Warn,
        "/etc/default/grub (GRUB_CMDLINE_LINUX*) still has amd_iommu=off: kernels installed later will inherit it",
    );
    assert_eq!(step(&c), Some("kargs"));
    expect(
        &Host::halo().next_boot_args(&format!("{ROOT_ARGS} amd_iommu=pt")),
        "boot.next",
        Warn,
        "amd_iommu=pt (/boot/loader/entries/",
    );
    let h = Host::halo().with(|f| f.boot.ok_mut().grub_default[0].parse_error = Some("unterminated quote".into()));
    let c =
        expect(&h, "boot.next", Warn, "/etc/default/grub cannot be parsed strictly: install will refuse to edit it");
    assert_eq!(step(&c), None);
}

#[test]
fn boot_next_skips_an_unmanaged_boot_loader() {
    let h = Host::halo().with(|f| *f.boot.ok_mut() = Default::default());
    expect(&h, "boot.next", Skip, "unmanaged boot loader");
}

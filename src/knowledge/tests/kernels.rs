//! `knowledge::kernels`: per-kernel readiness (`check --kernel`, the kernel hook).

use super::*;
use crate::knowledge::kernels::{KernelReadiness, all_kernels, judge};
use crate::model::Status::{self, Fail, Pass, Skip, Warn};

fn aspects(k: &KernelReadiness) -> [Status; 5] {
    [k.module.status, k.firmware.status, k.kargs.status, k.signing.status, k.status]
}

#[test]
fn the_healthy_hosts_kernels() {
    let k = judge(&Host::halo(), recipes(), HALO_RUNNING);
    assert_eq!(aspects(&k), [Pass; 5]);
    assert!(k.running && k.default && k.npu && k.remedies.is_empty());
    assert_eq!(
        k.module.summary,
        format!("in-tree amdxdna (/lib/modules/{HALO_RUNNING}/kernel/drivers/accel/amdxdna/amdxdna.ko.xz)")
    );
    assert_eq!(k.firmware.summary, "in-tree driver accepts npu_7.sbin (protocol 7)");
    let k = judge(&Host::point_dkms(), recipes(), POINT_RUNNING);
    assert_eq!(aspects(&k), [Pass; 5]);
    assert_eq!(k.module.summary, format!("DKMS xrt-amdxdna/2.23.0 installed for {POINT_RUNNING}"));
    assert!(k.firmware.summary.ends_with("(protocol fact UNVERIFIED)"), "{}", k.firmware.summary);
    assert_eq!(all_kernels(&Host::point_dkms(), recipes()).len(), 2);
}

#[test]
fn module_aspect() {
    let k = judge(&Host::halo(), recipes(), "7.3.0-1.fc44.x86_64");
    assert_eq!(
        (k.module.status, k.module.summary.as_str()),
        (Fail, "7.3.0-1.fc44.x86_64 is not installed (no /lib/modules/7.3.0-1.fc44.x86_64)")
    );
    let old = Host::halo().next_boot_kernel("6.8.0-1.fc40.x86_64");
    assert!(
        judge(&old, recipes(), "6.8.0-1.fc40.x86_64").module.summary.contains("older than 6.10: no amdxdna driver")
    );
    let below_flm = Host::halo().next_boot_kernel("6.14.5-300.fc42.x86_64");
    assert!(
        judge(&below_flm, recipes(), "6.14.5-300.fc42.x86_64")
            .module
            .summary
            .contains("older than 6.17, the minimum FastFlowLM 1.0.2 accepts")
    );
    // The fallback kernel has its in-tree driver (6.18, protocol 6 only: npu.dev.sbin is not its file).
    let k = judge(&Host::point_dkms(), recipes(), POINT_FALLBACK);
    assert_eq!((k.module.status, k.firmware.status), (Pass, Pass));
    assert_eq!(k.firmware.summary, "in-tree driver accepts npu.sbin (protocol 6)");
    let built = Host::point_dkms().dkms_entry("xrt-amdxdna", "2.23.0", POINT_RUNNING, "built");
    let k = judge(&built, recipes(), POINT_RUNNING);
    assert_eq!(k.module.summary, format!("DKMS xrt-amdxdna/2.23.0 is built for {POINT_RUNNING}, not installed"));
    assert_eq!(k.remedies, [format!("sudo dkms autoinstall -k {POINT_RUNNING}")]);
    let unmanaged = Host::point_dkms().no_dkms(true);
    let k = judge(&unmanaged, recipes(), POINT_RUNNING);
    assert_eq!(k.module.status, Warn);
    assert!(k.module.summary.contains("is not managed by DKMS"), "{}", k.module.summary);
}

#[test]
fn module_aspect_without_a_module() {
    let new = "7.2.0-1.fc44.x86_64";
    let no_module = |h: Host| h.next_boot_kernel(new).with(|f| f.kernel.ok_mut().installed[0].amdxdna.clear());
    let k = judge(&no_module(Host::halo()), recipes(), new);
    assert_eq!(
        (k.module.status, k.module.summary.as_str()),
        (Fail, "no amdxdna module for 7.2.0-1.fc44.x86_64 (neither in-tree nor DKMS)")
    );
    assert_eq!(k.remedies, ["sudo npu-setup install --only driver"]);
    let k = judge(&no_module(Host::point_dkms()), recipes(), new);
    assert!(k.module.summary.contains("has no build for it (its headers are not installed)"), "{}", k.module.summary);
    assert_eq!(k.remedies, [format!("install kernel-devel-{new}"), format!("sudo dkms autoinstall -k {new}")]);
    let with_headers = no_module(Host::point_dkms()).headers(new, true);
    assert!(judge(&with_headers, recipes(), new).module.summary.contains("the build failed or never ran"));
}

#[test]
fn firmware_aspect() {
    let k = judge(&Host::halo().no_npu(), recipes(), HALO_RUNNING);
    assert_eq!(k.firmware.status, Skip);
    assert!(!k.npu);
    let next = "6.19.10-200.fc44.x86_64";
    let h = Host::halo().firmware_file("npu.sbin", Some("1.1.2.65")).next_boot_kernel(next);
    let k = judge(&h, recipes(), next);
    assert_eq!((k.firmware.status, k.status), (Fail, Fail));
    assert_eq!(k.firmware.summary, format!("in-tree driver on {next} speaks protocol 6; npu.sbin is protocol 7"));
    let h = Host::halo().firmware_file("npu.sbin", None).next_boot_kernel(next);
    assert_eq!(judge(&h, recipes(), next).firmware.summary, "none of npu.sbin is on disk");
    let h = Host::halo().next_boot_kernel("6.12.9-100.fc41.x86_64").with(|f| {
        f.kernel.ok_mut().installed[0].amdxdna = vec![crate::host::kernel::ModuleFile {
            path: "/lib/modules/6.12.9-100.fc41.x86_64/kernel/drivers/accel/amdxdna/amdxdna.ko.xz".into(),
            location: "kernel".into(),
            origin: "in-tree".into(),
        }]
    });
    assert!(
        judge(&h, recipes(), "6.12.9-100.fc41.x86_64")
            .firmware
            .summary
            .starts_with("no firmware rule for the in-tree driver")
    );
}

#[test]
fn kargs_aspect() {
    let k = judge(&Host::halo().next_boot_args("ro amd_iommu=off"), recipes(), HALO_RUNNING);
    assert_eq!((k.kargs.status, k.status), (Fail, Fail));
    assert!(k.kargs.summary.ends_with("carries amd_iommu=off"), "{}", k.kargs.summary);
    assert_eq!(k.remedies, ["sudo npu-setup install --only kargs"]);
    let k = judge(&Host::halo().next_boot_args("ro iommu=pt"), recipes(), HALO_RUNNING);
    assert_eq!((k.kargs.status, k.status), (Warn, Warn));
    let k = judge(&Host::halo().probe_error("boot", "EIO"), recipes(), HALO_RUNNING);
    assert_eq!((k.kargs.status, k.status), (Skip, Pass), "a skipped aspect does not lower the verdict");
}

#[test]
fn signing_aspect() {
    let on = Host::point_dkms().secure_boot(Some(true));
    let k = judge(&on, recipes(), POINT_RUNNING);
    assert_eq!(
        (k.signing.status, k.signing.summary.as_str()),
        (Fail, "signed by 'DKMS module signing key', which is not an enrolled MOK")
    );
    assert!(k.remedies[0].starts_with("sudo mokutil --import /var/lib/dkms/mok.pub"));
    let k = judge(&on.clone().enrolled_key("CN=DKMS module signing key", DKMS_KEY), recipes(), POINT_RUNNING);
    assert_eq!(k.signing.status, Pass);
    let k = judge(&on.module_signer(None), recipes(), POINT_RUNNING);
    assert!(k.signing.summary.ends_with("is unsigned: Secure Boot will refuse it"));
    let k = judge(&Host::halo().probe_skipped("secureboot", "offline"), recipes(), HALO_RUNNING);
    assert_eq!(k.signing.status, Skip);
}

#[test]
fn a_dkms_module_the_kernel_no_longer_needs() {
    let seven = "7.0.1-100.fc43.x86_64";
    let k = judge(&Host::point_dkms().kernel(seven), recipes(), seven);
    assert!(
        k.dkms_unneeded.as_deref().is_some_and(|n| n.contains("accepts npu_7.sbin on its own")),
        "{:?}",
        k.dkms_unneeded
    );
    assert_eq!(
        judge(&Host::point_dkms(), recipes(), POINT_RUNNING).dkms_unneeded,
        None,
        "6.19's in-tree driver would not do"
    );
    assert_eq!(judge(&Host::halo(), recipes(), HALO_RUNNING).dkms_unneeded, None);
}

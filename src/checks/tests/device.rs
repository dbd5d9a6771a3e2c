//! `npu.device`, `driver.module`, `driver.bound`.

use super::*;

#[test]
fn npu_device() {
    expect(&Host::halo(), "npu.device", Pass, "Strix Halo (XDNA2, npu5) at 0000:c6:00.1");
    expect(&Host::point_dkms(), "npu.device", Pass, "Strix Point (XDNA2, npu4)");
    expect(&Host::halo().no_npu(), "npu.device", Fail, "no AMD XDNA NPU found");
    expect(&Host::halo().npu_id("17f0", "ff"), "npu.device", Warn, "is not in the device table");
    expect(&Host::halo().npu_id("17f0", "00"), "npu.device", Fail, "support was removed upstream");
    let c = expect(&Host::halo().npu_id("1502", "00"), "npu.device", Warn, "FastFlowLM needs XDNA2");
    assert!(remedy(&c).contains("Use the GPU endpoint"), "{}", remedy(&c));
}

#[test]
fn driver_module_names_the_flavour_of_each_kernel() {
    expect(
        &Host::halo(),
        "driver.module",
        Pass,
        "7.1.4-200.fc44.x86_64: in-tree at /lib/modules/7.1.4-200.fc44.x86_64/",
    );
    expect(&Host::point_dkms(), "driver.module", Pass, "xdna-driver DKMS (legacy driver, 2.23.0_20260318");
}

#[test]
fn driver_module_fails_without_a_module() {
    let c =
        expect(&Host::halo().no_module(), "driver.module", Fail, "no amdxdna module for kernel 7.1.4-200.fc44.x86_64");
    assert_eq!(step(&c), Some("driver"));
    assert!(remedy(&c).contains("CONFIG_DRM_ACCEL_AMDXDNA"), "{}", remedy(&c));
    // Before 6.14 there is no in-tree driver to blame: the remedy is the DKMS module.
    let c = expect(&Host::point_dkms().kernel("6.12.9-100.fc41.x86_64").no_module(), "driver.module", Fail, "6.12.9");
    assert!(remedy(&c).contains("no in-tree amdxdna (< 6.14)"), "{}", remedy(&c));
}

#[test]
fn driver_module_says_a_driver_installed_for_the_next_kernel_needs_only_a_reboot() {
    // The running kernel has no amdxdna; the next boot's kernel has one and its firmware.
    let h = Host::halo().no_module().next_boot_kernel("7.1.5-200.fc44.x86_64");
    let c = expect(&h, "driver.module", Fail, "no amdxdna module for kernel 7.1.4-200.fc44.x86_64");
    assert!(c.summary.ends_with("— fixed for the next boot: reboot"), "{}", c.summary);
    let r = c.remedy.as_ref().unwrap();
    assert_eq!((r.step.as_deref(), r.reboot), (None, true));
    assert!(r.text.contains("the next boot runs 7.1.5-200.fc44.x86_64"), "{}", r.text);
    assert!(r.commands.iter().all(|c| !c.contains("npu-setup install")), "{:?}", r.commands);
    // The next kernel lacks it too: install is still the fix.
    let h = h.with(|f| f.kernel.ok_mut().installed[0].amdxdna.clear());
    let c = expect(&h, "driver.module", Fail, "no amdxdna module");
    assert_eq!(step(&c), Some("driver"));
}

#[test]
fn driver_module_reports_module_errors_from_the_kernel_log() {
    let h = Host::halo().log(&["amdxdna: Unknown symbol drm_sched_job_arm (err -2)"]);
    expect(&h, "driver.module", Fail, "it needs symbol drm_sched_job_arm, which this kernel does not export");
    // An unnamed loader line near amdxdna's, while the loaded module is the one on disk, was
    // another module's.
    let h = Host::halo().log(&["module: x86/modules: Invalid relocation target, existing value is nonzero for type 1"]);
    expect(&h, "driver.module", Pass, "in-tree");
    let h = Host::halo().log(&["amdxdna 0000:c6:00.1: amdxdna_drm_submit_execbuf: Invalid arg bo count 0"]);
    expect(&h, "driver.module", Warn, "the XRT shim is newer than the loaded kernel driver's ABI");
}

#[test]
fn driver_module_notes_a_dkms_module_the_kernel_no_longer_needs() {
    let c = expect(&Host::point_dkms().kernel("7.0.1-100.fc43.x86_64"), "driver.module", Pass, "xdna-driver DKMS");
    assert!(c.evidence["note"].as_str().unwrap().contains("only shadows it"), "{:?}", c.evidence["note"]);
}

#[test]
fn driver_module_is_an_error_without_any_kernel() {
    let h = Host::halo().with(|f| {
        let k = f.kernel.ok_mut();
        k.running = None;
        k.target = None;
    });
    expect(&h, "driver.module", Error, "no running or installed kernel found");
}

#[test]
fn driver_bound() {
    expect(&Host::halo(), "driver.bound", Pass, "0000:c6:00.1 bound to amdxdna, accel0 registered");
    let c =
        expect(&Host::halo().with(|f| f.npu_mut().accel.clear()), "driver.bound", Fail, "has no accel node in sysfs");
    assert!(c.suspects.contains(&"firmware.compat"));
    expect(&Host::halo().npu_driver(Some("vfio-pci")), "driver.bound", Fail, "is bound to vfio-pci, not amdxdna");
    expect(&Host::halo().npu_driver(None), "driver.bound", Fail, "amdxdna is loaded but its probe failed");
    let h = Host::halo().npu_driver(None).with(|f| f.kernel.ok_mut().loaded = false);
    let c = expect(&h, "driver.bound", Fail, "amdxdna is not loaded");
    assert!(remedy(&c).contains("sudo modprobe amdxdna"), "{}", remedy(&c));
    expect(&Host::halo().offline(), "driver.bound", Skip, "offline root");
    // The PCI scan failed: no NPU to judge (npu.device reports the error).
    expect(&Host::halo().probe_error("pci", "EIO"), "driver.bound", Skip, "no NPU");
}

/// amd/xdna-driver#1469: the DKMS module on disk was refused; the in-tree driver runs.
fn refused_dkms() -> Host {
    Host::halo()
        .dkms_module_file("2.21.0_20260630,beb9e450fe123ecdf395453971576179cedcf1dd")
        .dkms_entry("xrt-amdxdna", "2.21.0", "7.1.4-200.fc44.x86_64", "installed")
        .loaded_module(None, None, Some(""))
}

#[test]
fn driver_module_fails_when_the_kernel_refused_the_dkms_module_and_names_the_loaders_reason() {
    let h = refused_dkms().log(&[
        "module: x86/modules: Invalid relocation target, existing value is nonzero for type 1, loc 00000000b3c1d2e4, val ffffffffc1a3e5f0",
    ]);
    let c = expect(&h, "driver.module", Fail, "updates/dkms/amdxdna.ko.zst (the xdna-driver module (legacy driver");
    assert!(
        c.summary.contains("relocation target not zero")
            && c.summary.ends_with("the in-tree amdxdna (DRM 0.8) runs instead"),
        "{}",
        c.summary
    );
    assert!(c.evidence["kernel_log"].as_str().unwrap().contains("Invalid relocation target"));
    let cmds = c.remedy.as_ref().unwrap().commands.clone();
    assert_eq!(cmds[0], "sudo dkms remove xrt-amdxdna/2.21.0 -k 7.1.4-200.fc44.x86_64");
    assert_eq!(cmds[1], "sudo dkms install xrt-amdxdna/2.21.0 -k 7.1.4-200.fc44.x86_64");
    // The in-tree 7.1 driver loads npu_7.sbin: removing the DKMS module is the other way out.
    assert!(remedy(&c).contains("Or remove the DKMS module: the in-tree amdxdna (DRM 0.8) loads npu_7.sbin itself"));
    // A 6.19 in-tree driver loads npu.sbin only: no such alternative.
    let h = Host::halo()
        .kernel("6.19.10-200.fc43.x86_64")
        .drm(Some("0.5"))
        .dkms_module_file("2.21.0_20260630,beb9e450fe123ecdf395453971576179cedcf1dd")
        .loaded_module(None, None, Some(""))
        .log(&["module: x86/modules: Invalid relocation target, existing value is nonzero for type 1"]);
    let c = expect(&h, "driver.module", Fail, "did not load");
    assert!(!remedy(&c).contains("Or remove the DKMS module"), "{}", remedy(&c));
    // A signature rejection: driver.module points at secureboot.signing.
    let h = refused_dkms().log(&["Loading of module with unavailable key is rejected"]);
    let c = expect(&h, "driver.module", Fail, "Secure Boot rejected the out-of-tree amdxdna module");
    assert_eq!(c.suspects, ["secureboot.signing"]);
}

#[test]
fn driver_module_warns_when_the_module_on_disk_is_not_the_loaded_one() {
    expect(&refused_dkms(), "driver.module", Warn, "is on disk, but the in-tree amdxdna (DRM 0.8) is loaded");
    // Rebuilt on disk, the old build still loaded.
    let h = Host::point_dkms().loaded_module(
        Some("2.23.0_20260301,1111111111111111111111111111111111111111"),
        Some("0000"),
        Some("OE"),
    );
    expect(&h, "driver.module", Warn, "but the loaded module is 2.23.0_20260301");
}

//! `firmware.files`, `firmware.compat`, `kernel.log`.

use super::*;

#[test]
fn firmware_files() {
    expect(&Host::halo(), "firmware.files", Pass, "/lib/firmware/amdnpu/17f0_11/npu_7.sbin.xz -> 1.1.2.65");
    let h = Host::halo().with(|f| f.firmware.ok_mut().npus[0].files.clear());
    let c = expect(&h, "firmware.files", Fail, "no NPU firmware in /lib/firmware/amdnpu/17f0_11");
    assert_eq!(step(&c), Some("driver"));
    assert!(remedy(&c).contains("sudo dnf install linux-firmware"), "{}", remedy(&c));
    expect(&Host::halo().firmware_dangling("npu.sbin"), "firmware.files", Fail, "npu.sbin.xz is a dangling link");
    let h = Host::halo()
        .log(&["amdxdna 0000:c6:00.1: Direct firmware load for amdnpu/17f0_11/npu_7.sbin failed with error -2"]);
    expect(
        &h,
        "firmware.files",
        Warn,
        "the kernel log shows a failed load: firmware file amdnpu/17f0_11/npu_7.sbin is missing",
    );
}

#[test]
fn firmware_files_skips_what_it_cannot_place() {
    expect(&Host::halo().npu_id("17f0", "ff"), "firmware.files", Skip, "device not in the table");
    let h = Host::halo().with(|f| f.firmware.ok_mut().npus.clear());
    expect(&h, "firmware.files", Skip, "no firmware facts for this NPU");
}

#[test]
fn firmware_compat_passes_when_the_flavour_accepts_the_file_it_loads() {
    expect(
        &Host::halo(),
        "firmware.compat",
        Pass,
        "kernel 7.1 in-tree amdxdna: npu_7.sbin is 1.1.2.65 (protocol 7); accepted, 1.1.2.65 loaded",
    );
    let c = expect(
        &Host::point_dkms(),
        "firmware.compat",
        Pass,
        "xdna-driver DKMS (legacy): npu.dev.sbin is 255.0.11.69 (protocol 7)",
    );
    assert!(c.evidence["note"].as_str().unwrap().contains("UNVERIFIED"));
}

#[test]
fn firmware_compat_fails_on_a_protocol_the_driver_rejects() {
    // 6.19's in-tree driver loads npu.sbin and speaks protocol 6 only (amd/xdna-driver#1257).
    let h = Host::halo().kernel("6.19.10-200.fc44.x86_64").drm(Some("0.5")).firmware_file("npu.sbin", Some("1.1.2.65"));
    let c = expect(
        &h,
        "firmware.compat",
        Fail,
        "kernel 6.19 in-tree amdxdna speaks protocol 6; npu.sbin is 1.1.2.65 (protocol 7)",
    );
    assert_eq!(step(&c), Some("driver"));
    // Remedies name a blob of this NPU's own directory: the Strix Halo's 1.0.0.166 here.
    assert!(remedy(&c).contains("amdnpu/17f0_11/npu.sbin.1.0.0.166"), "{}", remedy(&c));
    // A backported driver reporting DRM >= 0.6 on an older kernel (Ubuntu's 6.17.0-35) loads
    // npu_7.sbin and accepts protocol 7 (ROCm/FastFlowLM#738).
    let backport = Host::halo().kernel("6.17.0-35-generic").drm(Some("0.6"));
    expect(&backport, "firmware.compat", Pass, "npu_7.sbin is 1.1.2.65 (protocol 7); accepted");
    assert_eq!(c.remedy.unwrap().docs.as_deref(), Some("https://github.com/amd/xdna-driver/issues/1257"));
    let h = Host::halo()
        .log(&["amdxdna 0000:c6:00.1: aie2_check_protocol: Incompatible firmware protocol major 7 minor 3"]);
    expect(&h, "firmware.compat", Fail, "rejects the firmware's protocol 7.3");
}

#[test]
fn firmware_compat_fails_when_no_file_it_loads_is_present() {
    let h = Host::halo().firmware_file("npu_7.sbin", None).firmware_file("npu.sbin", None);
    let c = expect(
        &h,
        "firmware.compat",
        Fail,
        "kernel 7.1 in-tree amdxdna loads npu_7.sbin then npu.sbin; none is present",
    );
    assert_eq!(c.suspects, ["firmware.files"]);
    let c = expect(
        &Host::point_dkms().firmware_file("npu.dev.sbin", None),
        "firmware.compat",
        Fail,
        "loads npu.dev.sbin; none is present",
    );
    assert!(remedy(&c).contains("xrt_plugin-amdxdna"), "{}", remedy(&c));
}

#[test]
fn firmware_compat_fails_when_the_loaded_firmware_is_below_flms_minimum() {
    let c = expect(
        &Host::halo().loaded_firmware("1.0.0.166"),
        "firmware.compat",
        Fail,
        "loaded firmware 1.0.0.166 < 1.1.0.0",
    );
    assert!(remedy(&c).contains("npu_7.sbin.xz (1.1.2.65) is on disk but 1.0.0.166 is loaded"), "{}", remedy(&c));
    let h = Host::halo().loaded_firmware("1.0.0.166").firmware_file("npu_7.sbin", None);
    let c = expect(&h, "firmware.compat", Fail, "loaded firmware 1.0.0.166 < 1.1.0.0");
    assert!(
        remedy(&c).contains("(kernel 7.1 in-tree amdxdna) loads npu_7.sbin first: provide amdnpu/17f0_11/npu_7.sbin (-> npu.sbin.1.1.2.65)"),
        "{}",
        remedy(&c)
    );
    // A 6.19 in-tree driver loads npu.sbin only: another driver is needed, not only the file.
    let h = Host::halo().kernel("6.19.10-200.fc43.x86_64").drm(Some("0.5")).loaded_firmware("1.0.0.166");
    let c = expect(&h, "firmware.compat", Fail, "loaded firmware 1.0.0.166 < 1.1.0.0");
    assert!(
        remedy(&c).contains("npu_7.sbin is on disk but kernel 6.19 in-tree amdxdna only loads npu.sbin"),
        "{}",
        remedy(&c)
    );
    let c = expect(&h.clone().firmware_file("npu_7.sbin", None), "firmware.compat", Fail, "1.0.0.166 < 1.1.0.0");
    assert!(remedy(&c).contains("and use a driver that loads it (kernel >= 7.0"), "{}", remedy(&c));
    // Ubuntu's 6.17 carries the 7.0-era driver (DRM 0.6): it loads npu_7.sbin, the file is
    // all that is missing (the judgement follows the driver's matrix row, not the kernel).
    let h = Host::halo().kernel("6.17.0-35-generic").drm(Some("0.6")).loaded_firmware("1.0.0.166");
    let c = expect(&h.clone().firmware_file("npu_7.sbin", None), "firmware.compat", Fail, "1.0.0.166 < 1.1.0.0");
    assert!(remedy(&c).contains("loads npu_7.sbin first: provide amdnpu/17f0_11/npu_7.sbin"), "{}", remedy(&c));
    let c = expect(&h, "firmware.compat", Fail, "1.0.0.166 < 1.1.0.0");
    assert!(remedy(&c).contains("is on disk but 1.0.0.166 is loaded: reload the driver"), "{}", remedy(&c));
}

#[test]
fn firmware_compat_warns_when_the_next_boot_rejects_the_firmware() {
    let h = Host::halo().firmware_file("npu.sbin", Some("1.1.2.65")).next_boot_kernel("6.19.10-200.fc44.x86_64");
    let c = expect(
        &h,
        "firmware.compat",
        Warn,
        "fine now, but the next boot (6.19.10-200.fc44.x86_64) uses kernel 6.19 in-tree amdxdna which rejects npu.sbin is 1.1.2.65 (protocol 7)",
    );
    assert_eq!(step(&c), Some("driver"));
}

#[test]
fn firmware_compat_skips_without_a_device_entry_or_a_module() {
    expect(&Host::halo().npu_id("17f0", "ff"), "firmware.compat", Skip, "device not in the table");
    let c = expect(&Host::halo().no_module(), "firmware.compat", Skip, "no amdxdna module");
    assert_eq!(c.suspects, ["driver.module"]);
}

#[test]
fn firmware_compat_is_an_error_when_the_matrix_has_no_row() {
    // The in-tree driver before 6.14 is not in recipes/drivers.yaml.
    expect(
        &Host::halo().kernel("6.12.9-100.fc41.x86_64").drm(None),
        "firmware.compat",
        Error,
        "no matrix row for flavour in-tree on kernel 6.12.9",
    );
}

#[test]
fn firmware_compat_without_firmware_facts_does_not_blame_the_matrix() {
    let c = run(&Host::halo().probe_error("firmware", "EIO"), "firmware.compat");
    assert!(matches!(c.status, Skip | Error), "{c:?}");
    assert!(!c.summary.contains("matrix"), "{}", c.summary);
}

#[test]
fn kernel_log() {
    expect(
        &Host::halo(),
        "kernel.log",
        Pass,
        "the driver loaded amdnpu/17f0_11/npu_7.sbin; amdxdna probed successfully (DRM version 0.8)",
    );
    expect(
        &Host::halo().with(|f| f.kernel_log.ok_mut().lines.clear()),
        "kernel.log",
        Pass,
        "no amdxdna messages of concern",
    );
    let c = expect(
        &Host::halo().log(&["amdxdna 0000:c6:00.1: SVA bind device failed, ret -19"]),
        "kernel.log",
        Fail,
        "(sva-bind-enodev)",
    );
    assert_eq!(c.suspects, ["boot.iommu"]);
    let h = Host::halo().log(&["AMD-Vi: Unknown option - 'pt'"]);
    expect(&h, "kernel.log", Warn, "the kernel ignored amd_iommu=pt (not an AMD IOMMU option) (amd-iommu-pt-ignored)");
}

#[test]
fn firmware_compat_resting_on_an_unverified_protocol_warns_and_says_so() {
    // 255.x (xdna-driver development firmware) is protocol 7 per an unverified recipe fact:
    // 6.19's in-tree driver would reject it, but that verdict rests on the fact.
    // 6.19's own driver (DRM 0.5), not a backport that loads npu_7.sbin.
    let h =
        Host::halo().kernel("6.19.10-200.fc44.x86_64").drm(Some("0.5")).firmware_file("npu.sbin", Some("255.0.11.71"));
    let c = expect(&h, "firmware.compat", Warn, "UNVERIFIED: firmware 255.0.11.71 speaks protocol 7 (255.x");
    assert!(c.evidence.contains_key("unverified"), "{:?}", c.evidence);
    // A confirmed protocol still fails.
    let h = Host::halo().kernel("6.19.10-200.fc44.x86_64").drm(Some("0.5")).firmware_file("npu.sbin", Some("1.1.2.65"));
    let c = expect(&h, "firmware.compat", Fail, "npu.sbin is 1.1.2.65 (protocol 7)");
    assert!(!c.evidence.contains_key("unverified"));
}

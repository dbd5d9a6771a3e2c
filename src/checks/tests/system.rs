//! `host.os`, `host.kernel`.

use super::*;

#[test]
fn host_os() {
    expect(&Host::halo(), "host.os", Pass, "Fedora Linux 44 (Workstation Edition) (first-class via recipe 'fedora')");
    expect(&Host::halo().os("gentoo", "2.17"), "host.os", Warn, "no recipe for this distro");
    let c = expect(&Host::halo().os("fedora", "40"), "host.os", Warn, "older than the oldest supported Fedora 42");
    assert!(remedy(&c).contains("Upgrade to Fedora 42"), "{}", remedy(&c));
    expect(&Host::halo().os("debian", "13"), "host.os", Warn, "community support");
    expect(&Host::halo().os("ubuntu", "24.04"), "host.os", Pass, "supported via recipe 'ubuntu'");
}

#[test]
fn host_kernel_passes_on_either_driver_path() {
    expect(&Host::halo(), "host.kernel", Pass, "kernel >= 7.0: the in-tree amdxdna loads npu_7.sbin, no DKMS needed");
    expect(&Host::point_dkms(), "host.kernel", Pass, "kernel 6.19: needs the xdna-driver DKMS module");
}

#[test]
fn host_kernel_fails_below_the_driver_and_flm_minimums() {
    let c = expect(&Host::halo().kernel("6.8.0-100.fc40.x86_64"), "host.kernel", Fail, "is older than 6.10");
    assert!(c.remedy.as_ref().unwrap().reboot && remedy(&c).contains("sudo dnf upgrade --refresh kernel"));
    let c = expect(&Host::halo().kernel("6.14.5-300.fc42.x86_64"), "host.kernel", Fail, "older than 6.17, the minimum");
    assert!(remedy(&c).contains("Boot a kernel >= 6.17"), "{}", remedy(&c));
    // FastFlowLM's minimum does not apply to XDNA1, which FLM does not support at all.
    expect(&Host::halo().npu_id("1502", "00").kernel("6.14.5-300.fc42.x86_64"), "host.kernel", Pass, "6.14.5");
}

#[test]
fn host_kernel_warns_when_the_next_boot_is_too_old() {
    let h = Host::halo().next_boot_kernel("6.16.1-100.fc44.x86_64");
    let c = expect(&h, "host.kernel", Warn, "the next boot uses 6.16.1-100.fc44.x86_64 (< 6.17)");
    assert!(c.remedy.unwrap().reboot);
    // A newer next-boot kernel is only a note.
    let c = expect(&Host::halo().next_boot_kernel("7.2.0-100.fc44.x86_64"), "host.kernel", Pass, "running 7.1.4");
    assert_eq!(c.evidence["note"], "next boot uses 7.2.0-100.fc44.x86_64 (reboot pending)");
}

#[test]
fn host_kernel_is_an_error_without_any_kernel_version() {
    let h = Host::halo().with(|f| {
        let k = f.kernel.ok_mut();
        k.running = None;
        k.target = None;
    });
    expect(&h, "host.kernel", Error, "cannot tell the kernel version");
}

#[test]
fn host_kernel_knows_a_backported_in_tree_driver() {
    // Ubuntu's 6.17.0-35 carries the 7.0-era driver (DRM 0.6, ROCm/FastFlowLM#738).
    let h = Host::halo().kernel("6.17.0-35-generic").drm(Some("0.6"));
    expect(&h, "host.kernel", Pass, "kernel 6.17 with a backported in-tree amdxdna (DRM 0.6) that loads npu_7.sbin");
    let c = expect(&h, "driver.module", Pass, "6.17.0-35-generic: in-tree");
    assert!(c.evidence["drm_note"].as_str().unwrap().contains("mainline 6.17.0 reports 0.0"), "{:?}", c.evidence);
    // A table row no log confirmed (6.19's 0.5) is said to be unverified.
    let c = expect(&Host::halo().kernel("6.19.10-200.fc43.x86_64").drm(Some("0.6")), "driver.module", Pass, "in-tree");
    assert!(
        c.evidence["drm_note"].as_str().unwrap().contains("mainline 6.19.10 reports 0.5 (UNVERIFIED)"),
        "{:?}",
        c.evidence
    );
    // Mainline's own 6.17 driver (DRM 0.0) does not.
    expect(
        &Host::halo().kernel("6.17.0-19-generic").drm(Some("0.0")),
        "host.kernel",
        Pass,
        "needs the xdna-driver DKMS",
    );
}

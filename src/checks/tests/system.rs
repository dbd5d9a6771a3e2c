//! `host.os`, `host.kernel`.

use super::*;

#[test]
fn host_os() {
    expect(&Host::halo(), "host.os", Pass, "Fedora Linux 44 (Workstation Edition) (first-class via recipe 'fedora')");
    expect(&Host::halo().os("gentoo", "2.17"), "host.os", Warn, "no recipe for this distro");
    // Fedora >= 44: amd/xdna-driver README on branch 1.9.
    let c = expect(&Host::halo().os("fedora", "43"), "host.os", Warn, "older than the oldest supported Fedora 44");
    assert!(remedy(&c).contains("Upgrade to Fedora 44 or later"), "{}", remedy(&c));
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

/// Linux Mint 22.2 as its os-release says (`UBUNTU_CODENAME=noble`).
fn mint(version: &str, codename: Option<&str>) -> Host {
    Host::halo().os_release(
        &format!("Linux Mint {version}"),
        "linuxmint",
        &["ubuntu", "debian"],
        Some(version),
        codename,
    )
}

#[test]
fn host_os_maps_derivatives_to_their_base_release() {
    // Mint 22 is Ubuntu 24.04, never "older than 24.04".
    let c = expect(
        &mint("22.2", Some("noble")),
        "host.os",
        Pass,
        "Linux Mint 22.2 (Ubuntu 24.04 base; supported via recipe 'ubuntu')",
    );
    assert_eq!(c.evidence["base_version"], "24.04");
    // Without UBUNTU_CODENAME the derivative's own table maps it.
    expect(&mint("22.1", None), "host.os", Pass, "Ubuntu 24.04 base");
    let c = expect(
        &mint("21.3", Some("jammy")),
        "host.os",
        Warn,
        "Linux Mint 21.3 (Ubuntu 22.04 base) is built on Ubuntu 22.04, older than the oldest supported Ubuntu 24.04",
    );
    assert!(remedy(&c).contains("Upgrade to Linux Mint 22 (Ubuntu 24.04 base)"), "{}", remedy(&c));
    let pop = Host::halo().os_release("Pop!_OS 24.04 LTS", "pop", &["ubuntu", "debian"], Some("24.04"), Some("noble"));
    expect(&pop, "host.os", Pass, "Pop!_OS 24.04 LTS (Ubuntu 24.04 base");
    // Nobara's ID_LIKE starts with rhel: the derivative entry still makes it Fedora.
    let nobara = Host::halo().os_release(
        "Nobara Linux 44 (KDE Plasma)",
        "nobara",
        &["rhel", "centos", "fedora"],
        Some("44"),
        None,
    );
    let c = expect(&nobara, "host.os", Pass, "Fedora 44 base; first-class via recipe 'fedora'");
    assert!(c.evidence.contains_key("unverified"), "the Nobara mapping is marked unverified: {:?}", c.evidence);
    let old = Host::halo().os_release("Nobara Linux 42", "nobara", &["rhel", "centos", "fedora"], Some("42"), None);
    expect(&old, "host.os", Warn, "UNVERIFIED: Nobara is built on Fedora");
    let cachy = Host::halo().os_release("CachyOS", "cachyos", &["arch"], None, None);
    expect(&cachy, "host.os", Pass, "CachyOS (rolling, Arch Linux base; supported via recipe 'arch')");
    // An unlisted Ubuntu derivative that names its base is compared as that base.
    let zorin = Host::halo().os_release("Zorin OS 17.3", "zorin", &["ubuntu"], Some("17"), Some("jammy"));
    expect(&zorin, "host.os", Warn, "built on Ubuntu 22.04, older than the oldest supported Ubuntu 24.04");
    // One that does not is not compared by its own number.
    let unknown = Host::halo().os_release("Foo OS 3", "foo", &["ubuntu"], Some("3"), None);
    expect(&unknown, "host.os", Warn, "which Ubuntu release it is built on is unknown");
}

#[test]
fn remedies_use_the_base_release_of_a_derivative() {
    // Mint 22 (Ubuntu 24.04): the HWE kernel of 24.04 and the PPA for XRT.
    let h = mint("22.2", Some("noble")).kernel("6.8.0-100-generic");
    let c = expect(&h, "host.kernel", Fail, "older than 6.10");
    assert!(remedy(&c).contains("linux-generic-hwe-24.04"), "{}", remedy(&c));
    let c = expect(
        &mint("22.2", Some("noble")).package("xrt-base", None).package("xrt-npu", None).with(|f| {
            f.loader.ok_mut().libs.clear();
        }),
        "xrt.install",
        Fail,
        "not installed",
    );
    assert!(remedy(&c).contains("ppa:lemonade-team/stable"), "{}", remedy(&c));
    // Ubuntu 26.04 has XRT in the archive: no PPA.
    let resolute = Host::halo().os_release("Ubuntu 26.04 LTS", "ubuntu", &["debian"], Some("26.04"), Some("resolute"));
    let c = expect(
        &resolute.with(|f| f.loader.ok_mut().libs.clear()).package("xrt-base", None).package("xrt-npu", None),
        "xrt.install",
        Fail,
        "not installed",
    );
    assert!(
        remedy(&c).contains("sudo apt install libxrt2 libxrt-npu2 libxrt-utils") && !remedy(&c).contains("ppa"),
        "{}",
        remedy(&c)
    );
    // The FastFlowLM .deb of the base release, by name and URL.
    let c = expect(&mint("22.2", Some("noble")).no_flm(), "flm.install", Fail, "flm not found");
    assert!(remedy(&c).contains("releases/download/v1.0.9/fastflowlm_1.0.9_ubuntu24.04_amd64.deb"), "{}", remedy(&c));
}

#[test]
fn host_kernel_follows_the_installed_flms_kernel_check() {
    // FLM 1.0.0 checks the kernel (verified): a failure.
    expect(
        &Host::halo().kernel("6.14.5-300.fc42.x86_64"),
        "host.kernel",
        Fail,
        "the minimum FastFlowLM 1.0.2's flm validate accepts",
    );
    // Whether 1.0.9 still does is unverified (PR #738): a warning that says so.
    let c = expect(
        &Host::halo().flm_version("1.0.9").kernel("6.14.5-300.fc42.x86_64"),
        "host.kernel",
        Warn,
        "UNVERIFIED: that FastFlowLM 1.0.9 still refuses kernels below 6.17",
    );
    assert!(c.evidence.contains_key("unverified"));
    // Without FLM, the version install builds (the pinned source) decides.
    expect(
        &Host::halo().no_flm().kernel("6.14.5-300.fc42.x86_64"),
        "host.kernel",
        Fail,
        "the version npu-setup installs",
    );
}

#[test]
fn host_os_on_an_unverified_minimum_says_so() {
    let mut r = recipes().clone();
    let fedora = r.distros.iter_mut().find(|d| d.id == "fedora").unwrap();
    fedora.min_version.as_mut().unwrap().unverified = crate::recipes::Unverified::Flag(true);
    let h = Host::halo().os("fedora", "43");
    let c = super::super::run_checks(&h, &r, &super::CheckOptions::default(), &["host.os".into()], &[]).remove(0);
    assert_eq!(c.status, Warn);
    assert!(
        c.summary.contains("(UNVERIFIED: Fedora's minimum 44 (https://github.com/amd/xdna-driver/"),
        "{}",
        c.summary
    );
}

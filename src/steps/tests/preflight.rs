//! `preflight`: blocks before anything changes.

use super::*;
use crate::steps::preflight::Preflight;

#[test]
fn a_supported_host_passes_with_its_driver_path() {
    let s = Scratch::running(&[]);
    let p = s.plan(&Preflight, &Host::halo());
    assert!(p.blocked.is_none() && p.is_empty(), "{p:#?}");
    assert!(noted(&p, "next-boot kernel 7.1.4-200.fc44.x86_64: in-tree amdxdna"), "{:?}", p.notes);
    let p = s.plan(&Preflight, &Host::point_dkms());
    assert!(noted(&p, "next-boot kernel 6.19.3-cachyos3.fc43.x86_64: xdna-driver DKMS module"), "{:?}", p.notes);
    let p = s.plan(&Preflight, &Host::halo().os("debian", "13"));
    assert!(p.blocked.is_none() && noted(&p, "community support"), "{p:#?}");
}

#[test]
fn blocks_without_a_recipe_an_npu_or_a_supported_kernel() {
    let s = Scratch::running(&[]);
    let blocked = |h: Host| s.plan(&Preflight, &h).blocked.unwrap_or_default();
    assert!(blocked(Host::halo().os("gentoo", "2.17")).contains("no recipe for gentoo 2.17 (gentoo)"));
    assert!(blocked(Host::halo().probe_error("os", "EACCES")).contains("cannot identify the distro: EACCES"));
    assert!(blocked(Host::halo().no_npu()).contains("no AMD XDNA NPU found"));
    assert!(
        blocked(Host::halo().kernel("6.8.0-100.fc40.x86_64"))
            .contains("the next-boot kernel 6.8.0-100.fc40.x86_64 is older than 6.10")
    );
    // Several reasons are all given.
    let both = blocked(Host::halo().os("gentoo", "2.17").no_npu());
    assert!(both.contains("no recipe") && both.contains("no AMD XDNA NPU"), "{both}");
}

#[test]
fn force_prepares_an_image_for_another_machine() {
    let s = Scratch::running(&[]);
    let force = InstallArgs { force: true, ..Default::default() };
    let p = s.plan_with(&Preflight, &Host::halo().no_npu().os("gentoo", "2.17"), &force);
    assert!(p.blocked.is_none(), "{p:#?}");
    assert!(noted(&p, "no NPU on this machine (--force)"), "{:?}", p.notes);
}

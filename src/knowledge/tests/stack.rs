//! `knowledge::stack`: XRT and FastFlowLM.

use super::*;
use crate::knowledge::stack::{FlmInstall, XrtInstall, distro, flm_install, lib_on_disk, xrt_install};

#[test]
fn xrt_from_packages_or_libraries() {
    let x = xrt_install(&Host::halo(), recipes());
    assert_eq!(
        x,
        XrtInstall {
            base_packages: vec!["xrt-base 2.21.75-5.fc44".into(), "xrt-npu 2.21.75-5.fc44".into()],
            plugin_packages: vec!["xrt-plugin-amdxdna 2.21.75-5.fc44".into()],
            base: true,
            plugin: true,
            duplicate_plugins: false,
        }
    );
    let bare = Host::halo().with(|f| f.packages.ok_mut().packages.clear());
    let x = xrt_install(&bare, recipes());
    assert!(x.base && x.plugin && x.base_packages.is_empty(), "libraries on disk count: {x:?}");
    let none = bare.xrt_lib("libxrt_coreutil.so.2", &[], None).xrt_lib("libxrt_driver_xdna.so.2", &[], None);
    let x = xrt_install(&none, recipes());
    assert!(!x.base && !x.plugin);
    assert!(!lib_on_disk(&none, "libxrt_coreutil.so.2") && lib_on_disk(&Host::halo(), "libxrt_coreutil.so.2"));
    let both = Host::point_dkms().package("xrt-plugin-amdxdna", Some("2.23.0-1"));
    assert!(xrt_install(&both, recipes()).duplicate_plugins);
}

#[test]
fn ubuntus_single_package_is_listed_once() {
    let h = Host::halo()
        .os("ubuntu", "24.04")
        .with(|f| f.packages.ok_mut().packages.clear())
        .package("libxrt-npu2", Some("2.21.0-1"));
    let x = xrt_install(&h, recipes());
    assert_eq!((x.base_packages.len(), x.plugin_packages.len()), (1, 0), "{x:?}");
    assert_eq!(distro(&h, recipes()).map(|d| d.id.as_str()), Some("ubuntu"));
    assert!(distro(&Host::halo().os("gentoo", "1"), recipes()).is_none());
}

#[test]
fn flm_verdicts() {
    let installed = FlmInstall::Installed { binary: "/usr/bin/flm".into(), version: "1.0.2".into() };
    assert_eq!(flm_install(&Host::halo(), recipes()), installed);
    assert_eq!(flm_install(&Host::halo().probe_error("flm", "x"), recipes()), FlmInstall::NotProbed);
    assert_eq!(flm_install(&Host::halo().no_flm(), recipes()), FlmInstall::Missing);
    let h = Host::halo().with(|f| f.flm.ok_mut().version = None);
    assert!(matches!(flm_install(&h, recipes()), FlmInstall::VersionUnknown { .. }));
    let h = Host::halo().with(|f| f.flm.ok_mut().version = Some("0.9.34".into()));
    let v = flm_install(&h, recipes());
    assert!(matches!(&v, FlmInstall::TooOld { min, .. } if min == "0.9.35") && v.present(), "{v:?}");
    assert!(!FlmInstall::Missing.present() && !FlmInstall::NotProbed.present());
}

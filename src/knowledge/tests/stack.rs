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

#[test]
fn flm_rules_by_version() {
    use crate::knowledge::stack::{flm_kernel_min, flm_rule};
    let r = recipes();
    // The installed FLM's rule, else the pinned build's.
    let x = flm_rule(&Host::halo(), r).unwrap();
    assert_eq!((x.version.as_str(), x.installed, x.rule.from.as_str()), ("1.0.2", true, "0.9.46"));
    let x = flm_rule(&Host::halo().no_flm(), r).unwrap();
    assert_eq!((x.version.as_str(), x.installed, x.rule.from.as_str()), ("0.9.45", false, "0.9.35"));
    assert!(flm_rule(&Host::halo().flm_version("1.0.8"), r).unwrap().rule.false_no_device);
    assert!(flm_rule(&Host::halo().flm_version("1.0.12"), r).unwrap().rule.reports_busy);
    // The kernel minimum is confirmed up to 1.0.6 and unverified after (PR #738).
    let k = flm_kernel_min(&Host::halo(), r).unwrap();
    assert_eq!((k.min.as_str(), k.unverified.is_empty()), ("6.17", true));
    let k = flm_kernel_min(&Host::halo().flm_version("1.0.9"), r).unwrap();
    assert!(k.unverified[0].contains("https://github.com/ROCm/FastFlowLM/pull/738"), "{k:?}");
    // An FLM older than every rule gets the newest minimum (what an update brings).
    assert_eq!(flm_kernel_min(&Host::halo().flm_version("0.9.20"), r).unwrap().min, "6.17");
}

#[test]
fn the_recipe_knows_releases_assets_and_layout() {
    let flm = &recipes().drivers.flm;
    assert_eq!(flm.release("0.9.45").unwrap().commit.as_deref(), Some("f43272c77bb6de4984058430b3e5fbf3e7926c61"));
    assert!(flm.release("1.0.9").unwrap().unverified.covers("commit"));
    assert_eq!(flm.newest_release().unwrap().version, "1.0.14");
    // Remedies point at the newest release whose page was read and whose validate is sound.
    assert_eq!(flm.recommended_release().unwrap().version, "1.0.9");
    assert_eq!(
        flm.recommended_deb("ubuntu24.04").unwrap(),
        (
            "fastflowlm_1.0.9_ubuntu24.04_amd64.deb".to_string(),
            "https://github.com/ROCm/FastFlowLM/releases/download/v1.0.9/fastflowlm_1.0.9_ubuntu24.04_amd64.deb"
                .to_string()
        )
    );
    assert!(flm.recommended_deb("ubuntu22.04").is_none());
    assert_eq!(
        (flm.layout.binary.as_str(), flm.layout.links.as_slice()),
        ("/opt/fastflowlm/bin/flm", &["/usr/bin/flm".to_string()][..])
    );
    assert_eq!(flm.runtime.linked, ["libxrt_coreutil.so.2"]);
    assert_eq!(flm.runtime.loaded, ["libxrt_driver_xdna.so.2"]);
}

//! The amdxdna flavour each kernel uses, and what it does with the firmware.

use super::*;
use crate::knowledge::analysis::Analysis;

fn running_flavour(h: &Host) -> (String, Option<String>, Option<String>, String) {
    let a = Analysis::new(h, recipes());
    let fl = a.running_flavour(h).expect("a flavour for the running kernel").clone();
    (fl.id.to_string(), fl.variant.map(|v| v.to_string()), fl.variant_basis, fl.path)
}

#[test]
fn the_in_tree_module() {
    let (id, variant, _, path) = running_flavour(&Host::halo());
    assert_eq!((id.as_str(), variant), ("in-tree", None));
    assert_eq!(path, format!("/lib/modules/{HALO_RUNNING}/kernel/drivers/accel/amdxdna/amdxdna.ko.xz"));
    let h = Host::halo().module_files(&[]).with(|f| f.kernel.ok_mut().installed[0].builtin = true);
    assert_eq!(running_flavour(&h).3, "built-in");
}

#[test]
fn the_xdna_driver_variant_comes_from_the_drm_version_else_the_build_date() {
    let (id, variant, basis, _) = running_flavour(&Host::point_dkms());
    assert_eq!(
        (id.as_str(), variant.as_deref(), basis.as_deref()),
        ("xdna-dkms", Some("legacy"), Some("DRM version 1.0"))
    );
    let staging_drm = Host::point_dkms().with(|f| f.kernel_log.ok_mut().lines.retain(|l| !l.contains("Initialized")));
    let staging_drm = staging_drm.flm_validate(|v| v.drm_version = Some("0.9".into()));
    assert_eq!(running_flavour(&staging_drm).1.as_deref(), Some("staging"));
    // Without a DRM version, the build date in MODULE_VERSION decides (xdna-driver e9a3bef5).
    let undated = |version: &str| {
        let v = version.to_string();
        Host::point_dkms()
            .with(|f| f.kernel_log.ok_mut().lines.clear())
            .with(|f| f.flm.ok_mut().validate = None)
            .with(move |f| f.kernel.ok_mut().loaded_version = Some(v))
    };
    let (_, variant, basis, _) = running_flavour(&undated("2.23.0_20260318,00a45b08"));
    assert_eq!(variant.as_deref(), Some("legacy"));
    assert!(basis.unwrap().starts_with("built 20260318, before"));
    let (_, variant, basis, _) = running_flavour(&undated("2.23.0_20260601,1234abcd"));
    assert_eq!(variant.as_deref(), Some("staging"));
    assert!(basis.unwrap().starts_with("built 20260601, after"));
}

#[test]
fn an_unstamped_out_of_tree_module() {
    let unstamped = |kernel: &str| {
        Host::point_dkms().kernel(kernel).with(|f| f.kernel.ok_mut().loaded_version = None).modinfo(None)
    };
    // 6.17-6.19: the backport DKMS (superm1/amdxdna-dkms) has no MODULE_VERSION.
    assert_eq!(running_flavour(&unstamped("6.18.2-200.fc43.x86_64")).0, "backport-dkms");
    let (id, variant, basis, _) = running_flavour(&unstamped("6.12.9-100.fc41.x86_64"));
    assert_eq!((id.as_str(), variant.as_deref()), ("xdna-dkms", Some("legacy")));
    assert!(basis.unwrap().contains("assumed legacy"));
    // The backport's DKMS name and 7.x version say so on any kernel.
    let h = unstamped("6.12.9-100.fc41.x86_64").dkms_entry("amdxdna", "7.0.0", "6.12.9-100.fc41.x86_64", "installed");
    assert_eq!(running_flavour(&h).0, "backport-dkms");
}

#[test]
fn no_module_no_flavour() {
    let h = Host::halo().no_module();
    assert!(Analysis::new(&h, recipes()).running_flavour(&h).is_none());
}

#[test]
fn the_firmware_verdict_of_a_flavour() {
    let h = Host::halo();
    let a = Analysis::new(&h, recipes());
    let v = a.firmware_verdict(recipes(), a.running_flavour(&h).unwrap()).unwrap();
    assert_eq!(v.order, ["npu_7.sbin", "npu.sbin"]);
    assert_eq!(v.chosen.as_ref().map(|c| c.name.as_str()), Some("npu_7.sbin"));
    assert_eq!((v.protocol, v.accepted, v.protocol_unverified), (Some(7), Some(true), false));
    assert_eq!(v.accepts, ["6", "7"]);
    let h = Host::point_dkms();
    let a = Analysis::new(&h, recipes());
    let v = a.firmware_verdict(recipes(), a.running_flavour(&h).unwrap()).unwrap();
    assert_eq!((v.protocol, v.accepted, v.protocol_unverified), (Some(7), Some(true), true));
    assert_eq!(v.accepts, ["6+"]);
}

#[test]
fn kernel_log_matches_and_the_drm_version() {
    let h = Host::halo().log(&["amdxdna 0000:c6:00.1: SVA bind device failed, ret -19"]);
    let a = Analysis::new(&h, recipes());
    assert_eq!(a.drm_version.as_deref(), Some("0.8"));
    let ids: Vec<&str> = a.log.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["firmware-loaded", "initialized", "sva-bind-enodev"]);
    assert_eq!(a.log_for("boot.iommu", &["fail"]).len(), 1);
    assert!(a.log_for("boot.iommu", &["warn"]).is_empty());
    assert_eq!(a.log[0].cause, "the driver loaded amdnpu/17f0_11/npu_7.sbin");
}

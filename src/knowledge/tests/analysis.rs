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
fn the_xdna_driver_variant_comes_from_the_drm_version_else_the_release_else_the_build_date() {
    let (id, variant, basis, _) = running_flavour(&Host::point_dkms());
    assert_eq!(
        (id.as_str(), variant.as_deref(), basis.as_deref()),
        ("xdna-dkms", Some("legacy"), Some("the loaded module reports DRM 1.0 (the legacy driver)"))
    );
    let staging_drm = Host::point_dkms().drm(Some("0.9"));
    assert_eq!(running_flavour(&staging_drm).1.as_deref(), Some("staging"));
    // Without a DRM version, the module file's stamp decides: a release's plugin version
    // names its branch (recipes/drivers.yaml xdna_driver), a build of main its date.
    let file = |version: &str| {
        let v = version.to_string();
        Host::point_dkms().drm(None).with(move |f| {
            for m in f.modinfo.ok_mut().files.values_mut().filter(|m| m.version.is_some()) {
                m.version = Some(v.clone());
            }
            f.kernel.ok_mut().loaded_version = Some(v);
        })
    };
    let (_, variant, basis, _) = running_flavour(&file("2.23.0_20260318,00a45b08"));
    assert_eq!(variant.as_deref(), Some("legacy"));
    assert!(basis.unwrap().starts_with("built 20260318 from main, before"));
    let (_, variant, basis, _) = running_flavour(&file("2.23.0_20260601,1234abcd"));
    assert_eq!(variant.as_deref(), Some("staging"));
    assert!(basis.unwrap().starts_with("built 20260601 from main, after"));
    let (_, variant, basis, _) = running_flavour(&file("2.26.0_20260820,c4052fc30322f8fa0a7f388f171bcb065d6dab6b"));
    assert_eq!(
        (variant.as_deref(), basis.as_deref()),
        (Some("staging"), Some("version 2.26.0 is xdna-driver 1.9's, whose package carries the staging driver"))
    );
    let (_, variant, _, _) = running_flavour(&file("2.21.0_20260630,beb9e450fe123ecdf395453971576179cedcf1dd"));
    assert_eq!(variant.as_deref(), Some("legacy"));
}

#[test]
fn in_tree_or_out_of_tree_comes_from_the_module_file_never_the_drm_version() {
    // Kernel 7.2's in-tree driver reports DRM 0.10, inside the staging tree's range.
    let h = Host::halo().kernel("7.2.5-200.fc44.x86_64").drm(Some("0.10"));
    let a = Analysis::new(&h, recipes());
    let fl = a.loaded_flavour(&h).unwrap();
    assert_eq!(
        (fl.id, fl.origin_basis.as_str()),
        (crate::recipes::FlavourId::InTree, "modinfo intree: Y (built with the kernel)")
    );
    assert_eq!(a.loaded.as_ref().unwrap().mainline_drm.as_deref(), Some("0.10"));
    // A legacy out-of-tree build installed under kernel/drivers/accel/amdxdna (1bit-MONSTER#2459):
    // no `intree: Y`, so out-of-tree wherever it sits.
    let h = Host::halo().with(|f| {
        let running = f.kernel.ok().unwrap().running.clone().unwrap();
        let m = f.modinfo.ok_mut().kernels.get_mut(&running).unwrap().as_mut().unwrap();
        m.intree = false;
        m.version = Some("0.1".into());
    });
    let fl = Analysis::new(&h, recipes()).running_flavour(&h).unwrap().clone();
    assert_eq!(fl.id, crate::recipes::FlavourId::XdnaDkms);
    assert!(fl.path.contains("/kernel/drivers/accel/amdxdna/"));
}

#[test]
fn the_loaded_module_is_matched_to_its_file() {
    let a = |h: &Host| Analysis::new(h, recipes()).loaded.unwrap();
    // Strix Point DKMS: the loaded srcversion is the extra/ file's.
    let l = a(&Host::point_dkms());
    assert!(l.basis.starts_with("its srcversion"), "{}", l.basis);
    assert!(l.module.as_ref().unwrap().path.ends_with("/extra/amdxdna.ko.xz"));
    assert_eq!((l.not_loaded.as_ref(), l.stale.as_ref()), (None, None));
    // The in-tree module by its empty taint, although a DKMS file would be preferred.
    let h = Host::halo().dkms_module_file("2.21.0_20260630,beb9e450").loaded_module(None, None, Some(""));
    let l = a(&h);
    assert!(l.basis.contains("no out-of-tree taint"), "{}", l.basis);
    assert_eq!(l.module.as_ref().unwrap().origin, crate::recipes::Origin::InTree);
    assert!(l.not_loaded.as_ref().unwrap().path.ends_with("/updates/dkms/amdxdna.ko.zst"));
    // Nothing to compare: assumed to be the file modprobe picks.
    let l = a(&Host::halo().loaded_module(None, None, None).modinfo(None));
    assert!(l.basis.contains("the kernel's own driver") || l.basis.starts_with("assumed"), "{}", l.basis);
    // Not loaded: nothing to match.
    assert!(Analysis::new(&Host::halo().with(|f| f.kernel.ok_mut().loaded = false), recipes()).loaded.is_none());
}

#[test]
fn an_unstamped_out_of_tree_module() {
    let unstamped = |kernel: &str| {
        Host::point_dkms()
            .kernel(kernel)
            .drm(None)
            .with(|f| {
                let k = f.kernel.ok_mut();
                k.loaded_version = None;
                k.loaded_srcversion = None;
            })
            .modinfo(None)
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

//! `knowledge::driver`: the module of each kernel of interest, and the driver layer.

use super::*;
use crate::knowledge::analysis::Analysis;
use crate::knowledge::driver::{Module, layer_broken, module};
use crate::recipes::FlavourId;

fn verdict(h: &Host) -> Module {
    module(h, &Analysis::new(h, recipes()))
}

fn broken(h: &Host) -> bool {
    layer_broken(h, recipes(), &Analysis::new(h, recipes()))
}

#[test]
fn module_verdicts() {
    assert_eq!(verdict(&Host::halo()), Module::Present);
    assert_eq!(verdict(&Host::point_dkms()), Module::Present);
    assert_eq!(verdict(&Host::halo().probe_error("kernel", "EIO")), Module::NotProbed);
    let none = Host::halo().with(|f| {
        let k = f.kernel.ok_mut();
        k.running = None;
        k.target = None;
    });
    assert_eq!(verdict(&none), Module::NoKernel);
    assert_eq!(verdict(&Host::halo().no_module()), Module::Missing(vec![HALO_RUNNING.into()]));
    let v = verdict(&Host::halo().log(&["amdxdna: disagrees about version of symbol drm_sched_init"]));
    assert!(matches!(&v, Module::LogFailure(m) if m.id == "module-symbol-crc") && v.fails(), "{v:?}");
    let v = verdict(&Host::halo().log(&["amdxdna_drm_submit_execbuf: Invalid arg bo count 0"]));
    assert!(matches!(&v, Module::LogWarning(m) if m.id == "abi-mismatch") && !v.fails(), "{v:?}");
}

#[test]
fn the_next_boot_kernel_counts_too() {
    let h = Host::halo().next_boot_kernel("6.12.9-100.fc41.x86_64");
    assert_eq!(verdict(&h), Module::Missing(vec!["6.12.9-100.fc41.x86_64".into()]));
}

#[test]
fn the_driver_layer_is_broken_by_the_module_or_the_firmware() {
    assert!(!broken(&Host::halo()));
    assert!(!broken(&Host::point_dkms()));
    assert!(broken(&Host::halo().no_module()));
    assert!(broken(&Host::halo().with(|f| f.firmware.ok_mut().npus[0].files.clear())));
    assert!(broken(&Host::halo().loaded_firmware("1.0.0.166")));
    // A next-boot rejection is a warning, not a broken layer.
    let h = Host::halo().firmware_file("npu.sbin", Some("1.1.2.65")).next_boot_kernel("6.19.10-200.fc44.x86_64");
    assert!(!broken(&h));
}

#[test]
fn a_refused_dkms_module_with_the_in_tree_driver_running() {
    let dkms = |h: Host| {
        h.dkms_module_file("2.26.0_20260820,c4052fc30322f8fa0a7f388f171bcb065d6dab6b").dkms_entry(
            "xrt-amdxdna",
            "2.26.0",
            HALO_RUNNING,
            "installed",
        )
    };
    let refused = dkms(Host::halo())
        .loaded_module(None, None, Some(""))
        .log(&["module: x86/modules: Invalid relocation target, existing value is nonzero for type 1"]);
    match verdict(&refused) {
        v @ Module::Refused { .. } => {
            let Module::Refused { loaded, installed, reason } = &v else { unreachable!() };
            assert_eq!((loaded.id, installed.id), (FlavourId::InTree, FlavourId::XdnaDkms));
            assert_eq!(installed.variant, Some(crate::recipes::Variant::Staging));
            assert_eq!(reason.id, "relocation");
            assert!(v.fails());
        }
        v => panic!("{v:?}"),
    }
    // No loader line: the module on disk was installed after boot (or the line is gone).
    let pending = dkms(Host::halo()).loaded_module(None, None, Some(""));
    assert!(matches!(verdict(&pending), Module::NotLoaded { .. }), "{:?}", verdict(&pending));
    assert!(!verdict(&pending).fails());
    // Loaded is the DKMS module: nothing to say.
    let running = dkms(Host::halo()).loaded_module(
        Some("2.26.0_20260820,c4052fc30322f8fa0a7f388f171bcb065d6dab6b"),
        Some("3F1C2B9A0D8E7F6A5B4C3D2"),
        Some("O"),
    );
    assert_eq!(verdict(&running), Module::Present);
}

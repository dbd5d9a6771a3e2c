//! `knowledge::driver`: the module of each kernel of interest, and the driver layer.

use super::*;
use crate::knowledge::analysis::Analysis;
use crate::knowledge::driver::{Module, layer_broken, module};

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
    let v = verdict(&Host::halo().log(&["amdxdna: Invalid relocation target, existing value is nonzero for type 1"]));
    assert!(matches!(&v, Module::LogFailure(m) if m.id == "relocation") && v.fails(), "{v:?}");
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

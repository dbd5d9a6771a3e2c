//! `knowledge::firmware`: what is on disk, and whether the driver and FLM accept it.

use super::*;
use crate::knowledge::analysis::Analysis;
use crate::knowledge::firmware::{Compat, Files, compat, files, loaded_version};

fn on_disk(h: &Host) -> Files {
    files(&Analysis::new(h, recipes()))
}

fn judged(h: &Host) -> Compat {
    compat(h, recipes(), &Analysis::new(h, recipes()))
}

#[test]
fn files_verdicts() {
    assert_eq!(on_disk(&Host::halo()), Files::Present);
    assert!(matches!(on_disk(&Host::halo().npu_id("17f0", "ff")), Files::Unknown(w) if w.contains("not in the table")));
    assert!(matches!(on_disk(&Host::halo().with(|f| f.firmware.ok_mut().npus.clear())), Files::Unknown(_)));
    let none = Host::halo().with(|f| f.firmware.ok_mut().npus[0].files.clear());
    assert_eq!(on_disk(&none), Files::None { log: None, unsearched: vec![] });
    let all_dangling = Host::halo().firmware_dangling("npu.sbin").firmware_dangling("npu_7.sbin");
    assert!(matches!(on_disk(&all_dangling), Files::None { .. }));
    let missing = "Direct firmware load for amdnpu/17f0_11/npu_7.sbin failed with error -2";
    assert!(matches!(on_disk(&none.log(&[missing])), Files::None { log: Some(m), .. } if m.id == "firmware-missing"));
    let v = on_disk(&Host::halo().firmware_dangling("npu.sbin"));
    assert_eq!(v, Files::Dangling { path: "/lib/firmware/amdnpu/17f0_11/npu.sbin.xz".into() });
    assert!(v.fails());
    let v = on_disk(&Host::halo().log(&[missing]));
    assert!(matches!(&v, Files::LoadFailed(m) if m.id == "firmware-missing") && !v.fails(), "{v:?}");
}

#[test]
fn compat_accepts_the_healthy_hosts() {
    for h in [Host::halo(), Host::point_dkms()] {
        let v = judged(&h);
        assert!(matches!(v, Compat::Accepted { .. }) && !v.fails(), "{v:?}");
    }
}

#[test]
fn compat_verdicts() {
    assert_eq!(judged(&Host::halo().npu_id("17f0", "ff")), Compat::UnknownDevice);
    assert_eq!(judged(&Host::halo().no_module()), Compat::NoModule);
    assert!(
        matches!(judged(&Host::halo().kernel("6.12.9-100.fc41.x86_64").drm(None)), Compat::NoRule(fl) if fl.id == crate::recipes::FlavourId::InTree)
    );
    let nothing = Host::halo().firmware_file("npu_7.sbin", None).firmware_file("npu.sbin", None);
    assert!(matches!(judged(&nothing), Compat::NoFile(..)));
    let rejected =
        Host::halo().kernel("6.19.10-200.fc44.x86_64").drm(Some("0.5")).firmware_file("npu.sbin", Some("1.1.2.65"));
    assert!(matches!(judged(&rejected), Compat::Rejected(_, v) if v.protocol == Some(7)));
    let log = Host::halo().log(&["aie2_check_protocol: Incompatible firmware protocol major 7 minor 3"]);
    assert!(matches!(judged(&log), Compat::LogFailure(_, _, m) if m.groups["major"] == "7"));
    let old = judged(&Host::halo().loaded_firmware("1.0.0.166"));
    match &old {
        Compat::BelowFlmMinimum { loaded, min, npu7, .. } => {
            assert_eq!((loaded.as_str(), min.as_str()), ("1.0.0.166", "1.1.0.0"));
            assert_eq!(npu7.as_ref().and_then(|f| f.version.as_deref()), Some("1.1.2.65"));
        }
        v => panic!("{v:?}"),
    }
    assert!(old.fails());
    let next = Host::halo().firmware_file("npu.sbin", Some("1.1.2.65")).next_boot_kernel("6.19.10-200.fc44.x86_64");
    let v = judged(&next);
    assert!(matches!(&v, Compat::NextBootRejects { next, .. } if next.kernel == "6.19.10-200.fc44.x86_64"), "{v:?}");
    assert!(!v.fails());
}

#[test]
fn flms_minimum_is_not_applied_to_xdna1() {
    // Phoenix runs protocol-5 firmware 1.5.x; FLM does not support XDNA1 at all.
    let h = Host::halo()
        .npu_id("1502", "00")
        .with(|f| f.firmware.ok_mut().npus[0].dir = "1502_00".into())
        .firmware_file("npu_7.sbin", None)
        .firmware_file("npu.sbin", Some("1.5.2.380"))
        .loaded_firmware("1.5.2.380");
    assert!(matches!(judged(&h), Compat::Accepted { .. }), "{:?}", judged(&h));
}

#[test]
fn the_loaded_version_comes_from_sysfs_else_flm() {
    let h = Host::halo();
    assert_eq!(loaded_version(&h, &Analysis::new(&h, recipes())).as_deref(), Some("1.1.2.65"));
    let h = Host::halo()
        .with(|f| f.npu_mut().fw_version = None)
        .flm_validate(|v| v.devices[0].fw_version = Some("1.1.2.64".into()));
    assert_eq!(loaded_version(&h, &Analysis::new(&h, recipes())).as_deref(), Some("1.1.2.64"));
    let h = Host::halo().with(|f| f.npu_mut().fw_version = None).no_flm();
    assert_eq!(loaded_version(&h, &Analysis::new(&h, recipes())), None);
}

#[test]
fn example_blobs_come_from_the_npus_own_directory() {
    use crate::knowledge::firmware::example_blob;
    let blob = |h: &Host, p| example_blob(recipes(), &Analysis::new(h, recipes()), p);
    // On disk first (the Strix Halo host lists npu.sbin.1.0.0.166.xz).
    assert_eq!(blob(&Host::halo(), 6).as_deref(), Some("npu.sbin.1.0.0.166"));
    assert_eq!(blob(&Host::halo(), 7).as_deref(), Some("npu.sbin.1.1.2.65"));
    // A Strix Point (17f0_10) with nothing listed: the device table's blobs, never 17f0_11's.
    let point = Host::halo().npu_id("17f0", "10").with(|f| f.firmware.ok_mut().npus[0].listing.clear());
    assert_eq!(blob(&point, 6).as_deref(), Some("npu.sbin.1.0.0.63"));
    assert_eq!(blob(&point, 7).as_deref(), Some("npu.sbin.1.1.2.64"));
    // Krackan (17f0 rev 0x20) reads 17f0_10 too.
    let krackan = Host::halo().npu_id("17f0", "20").with(|f| f.firmware.ok_mut().npus[0].listing.clear());
    assert_eq!(blob(&krackan, 6).as_deref(), Some("npu.sbin.1.0.0.63"));
}

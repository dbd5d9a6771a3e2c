//! `driver`: the printed plan shows every phase (build, package install, DKMS, initramfs);
//! a DKMS module the kernel refuses is built again.

use super::*;
use crate::steps::build::BuildStep;

const PAYLOAD: &[(&str, &str)] = &[
    ("opt/xilinx/xrt/share/amdxdna/dkms.conf", "PACKAGE_NAME=xrt-amdxdna\nPACKAGE_VERSION=2.23.0\n"),
    ("opt/xilinx/xrt/share/amdxdna/amdxdna.tar.gz", ""),
];

#[test]
fn an_unsigned_dkms_module_under_secure_boot_is_rebuilt_and_signed() {
    let h = Host::point_dkms().secure_boot(Some(true)).module_signer(None);
    let target = h.kernel.ok().unwrap().target.clone().unwrap();
    let p = Scratch::running(PAYLOAD).plan(&BuildStep { id: "driver" }, &h);
    let r = runs(&p);
    assert_eq!(r[0], format!("dkms install --force -m xrt-amdxdna -v 2.23.0 -k {target}"), "{r:?}");
    assert_eq!(r[1], format!("dracut -f --kver {target}"));
    let Action::Run { why, .. } = &p.actions[0] else { unreachable!() };
    assert!(why.contains("is unsigned and Secure Boot is on"), "{why}");
    assert!(p.reboot.is_some());
    // Signed: nothing to rebuild.
    let h = Host::point_dkms().secure_boot(Some(true));
    assert!(Scratch::running(PAYLOAD).plan(&BuildStep { id: "driver" }, &h).actions.is_empty());
}

#[test]
fn a_refused_module_is_not_rebuilt_twice_in_one_boot() {
    let h = Host::point_dkms().secure_boot(Some(true)).module_signer(None);
    let target = h.kernel.ok().unwrap().target.clone().unwrap();
    let s = Scratch::running(PAYLOAD);
    // The module file is newer than this boot (up 100 000 s): rebuilt since.
    s.write("proc/uptime", "100000.00 1.00\n");
    let rel = h.kernel.ok().unwrap().installed(&target).unwrap().amdxdna[0].path.trim_start_matches('/').to_string();
    s.write(&rel, "rebuilt");
    assert!(runs(&s.plan(&BuildStep { id: "driver" }, &h)).is_empty());
}

//! `knowledge::dkms`: the DKMS state of the amdxdna module for one kernel.

use super::*;
use crate::knowledge::dkms::{ForKernel, entries, for_kernel};

#[test]
fn per_kernel_states() {
    let h = Host::point_dkms();
    assert!(matches!(for_kernel(&h, recipes(), POINT_RUNNING), ForKernel::Installed(e) if e.version == "2.23.0"));
    assert!(matches!(for_kernel(&h, recipes(), POINT_FALLBACK), ForKernel::NoBuild { headers: false, .. }));
    let h = Host::point_dkms().headers(POINT_FALLBACK, true);
    assert!(matches!(for_kernel(&h, recipes(), POINT_FALLBACK), ForKernel::NoBuild { headers: true, .. }));
    let h = Host::point_dkms().dkms_entry("xrt-amdxdna", "2.23.0", POINT_FALLBACK, "installed-weak");
    assert!(matches!(for_kernel(&h, recipes(), POINT_FALLBACK), ForKernel::Installed(_)));
    let h = Host::point_dkms().dkms_entry("xrt-amdxdna", "2.23.0", POINT_FALLBACK, "built");
    assert!(matches!(for_kernel(&h, recipes(), POINT_FALLBACK), ForKernel::NotInstalled(e) if e.state == "built"));
    assert_eq!(for_kernel(&Host::halo(), recipes(), HALO_RUNNING), ForKernel::NotRegistered);
}

#[test]
fn only_the_amdxdna_modules_count() {
    let h = Host::point_dkms().dkms_entry("nvidia", "550.1", POINT_RUNNING, "installed");
    assert_eq!(entries(&h, recipes()).len(), 1);
    let h = Host::halo().dkms_entry("v4l2loopback", "0.13", HALO_RUNNING, "installed");
    assert_eq!(for_kernel(&h, recipes(), HALO_RUNNING), ForKernel::NotRegistered);
    let h = Host::halo().dkms_entry("amdxdna", "7.0.0", HALO_OLDER, "installed");
    assert!(matches!(for_kernel(&h, recipes(), HALO_RUNNING), ForKernel::NoBuild { .. }));
}

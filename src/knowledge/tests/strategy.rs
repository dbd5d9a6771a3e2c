//! `knowledge::strategy`: the driver path and the builds a host needs.

use super::*;
use crate::knowledge::routes::FromMode;
use crate::knowledge::strategy::{Inputs, Strategy, choose};

fn plan(h: &Host) -> Strategy {
    choose(h, recipes(), &Inputs::default())
}

/// `--from source`: today's builds, whatever packages exist.
fn source(h: &Host) -> Strategy {
    choose(h, recipes(), &Inputs { from: FromMode::Source, ..Default::default() })
}

#[test]
fn healthy_hosts_need_no_build() {
    let s = plan(&Host::halo());
    assert_eq!((s.path.as_str(), s.target.as_deref()), ("in-tree", Some(HALO_RUNNING)));
    assert!(s.builds.is_empty() && s.sources.is_empty() && !s.driver_broken && !s.compiles(), "{s:?}");
    let s = plan(&Host::point_dkms());
    assert_eq!(s.path, "xdna-dkms");
    assert!(s.builds.is_empty() && !s.compiles(), "{s:?}");
}

#[test]
fn the_path_follows_the_target_kernel_and_firmware() {
    assert_eq!(plan(&Host::halo().kernel("6.19.10-200.fc44.x86_64")).path, "xdna-dkms");
    assert_eq!(plan(&Host::halo().firmware_file("npu_7.sbin", None)).path, "xdna-dkms", "7.x without npu_7.sbin");
    let s = plan(&Host::halo().kernel("6.8.0-100.fc40.x86_64"));
    assert_eq!(s.path, "unsupported");
    assert!(s.builds.is_empty());
    // The next boot decides, not the running kernel.
    assert_eq!(plan(&Host::point_dkms().next_boot_kernel("7.1.4-200.fc43.x86_64")).path, "in-tree");
}

#[test]
fn builds_are_what_is_missing() {
    let no_plugin = Host::halo().package("xrt-plugin-amdxdna", None).xrt_lib("libxrt_driver_xdna.so.2", &[], None);
    let s = source(&no_plugin);
    assert_eq!(
        (s.builds.as_slice(), s.sources.as_slice()),
        (["driver-shim".to_string()].as_slice(), ["xdna-driver".to_string()].as_slice())
    );
    let bare = no_plugin
        .package("xrt-base", None)
        .package("xrt-npu", None)
        .xrt_lib("libxrt_coreutil.so.2", &[], None)
        .no_flm();
    let s = source(&bare);
    assert_eq!(s.builds, ["xrt", "driver-shim", "flm"]);
    assert_eq!(s.sources, ["xdna-driver", "fastflowlm"]);
    let s = source(&bare.clone().kernel("6.19.10-200.fc44.x86_64"));
    assert_eq!(s.builds, ["xrt", "driver-dkms", "flm"]);
    // By default the COPR serves Fedora 44 on kernel >= 7.0: nothing is built.
    let s = plan(&bare);
    assert!(s.builds.is_empty() && s.sources.is_empty() && !s.compiles(), "{s:?}");
    // On 6.19 the COPR's XRT does not apply (built for the in-tree >= 7.0 driver): all from source.
    let s = plan(&bare.kernel("6.19.10-200.fc44.x86_64"));
    assert_eq!(s.builds, ["xrt", "driver-dkms", "flm"]);
}

#[test]
fn a_broken_dkms_driver_is_rebuilt_or_reinstalled() {
    let broken = Host::point_dkms().no_module();
    let s = plan(&broken);
    assert!(s.driver_broken);
    assert_eq!(s.builds, ["driver-dkms"], "without the plugin's DKMS payload the plugin is rebuilt");
    let s = choose(&broken, recipes(), &Inputs { dkms_payload: true, ..Default::default() });
    assert!(s.builds.is_empty() && s.compiles(), "with the payload only the module install compiles: {s:?}");
}

#[test]
fn a_forced_driver_overrides_the_matrix_with_a_warning() {
    let s = choose(&Host::halo(), recipes(), &Inputs { forced_driver: Some("backport-dkms"), ..Default::default() });
    assert_eq!(s.path, "xdna-dkms");
    assert_eq!(
        s.warning.as_deref(),
        Some(
            format!("--driver backport-dkms overrides the matrix, which chose in-tree for kernel {HALO_RUNNING}")
                .as_str()
        )
    );
    let s = choose(&Host::halo(), recipes(), &Inputs { forced_driver: Some("in-tree"), ..Default::default() });
    assert_eq!((s.path.as_str(), s.warning), ("in-tree", None));
}

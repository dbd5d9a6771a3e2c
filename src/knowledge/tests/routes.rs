//! `knowledge::routes`: the route each component takes, per distro, release, kernel, what is
//! installed, what the repositories offer and `--from`.

use super::*;
use crate::host::repos::{ConfiguredRepo, RepoFacts};
use crate::knowledge::routes::{FromMode, Inputs, Routes, Take, choose};
use crate::parse::repos::RepoEntry;
use crate::recipes::FlavourId;
use crate::recipes::routes::Component::{self, Driver, Firmware, Flm, Lemonade, Xrt};

fn routes(h: &Host) -> Routes {
    choose(h, recipes(), &Inputs::default())
}

fn from(h: &Host, from: FromMode) -> Routes {
    choose(h, recipes(), &Inputs { from, ..Default::default() })
}

fn takes(r: &Routes) -> Vec<(Component, Take)> {
    r.decisions.iter().map(|d| (d.component, d.take)).collect()
}

fn packages(r: &Routes, c: Component) -> Vec<String> {
    r.get(c).packages().to_vec()
}

/// Ubuntu 24.04 on the HWE 6.17 kernel, nothing of the stack installed.
fn noble_617() -> Host {
    Host::halo().bare_stack().os("ubuntu", "24.04").kernel("6.17.0-14-generic")
}

#[test]
fn a_healthy_host_has_everything_present() {
    let r = routes(&Host::halo());
    assert_eq!(
        takes(&r),
        [
            (Driver, Take::Kernel),
            (Firmware, Take::Present),
            (Xrt, Take::Present),
            (Flm, Take::Present),
            (Lemonade, Take::Present)
        ]
    );
    assert_eq!((r.distro.as_deref(), r.release.as_deref()), (Some("fedora"), Some("44")));
    assert!(r.vendor_repositories().is_empty());
}

#[test]
fn fresh_fedora_44_on_7x_takes_the_copr() {
    let r = routes(&Host::halo().bare_stack());
    assert_eq!(packages(&r, Xrt), ["xrt-base", "xrt-npu", "xrt-plugin-amdxdna"]);
    assert_eq!(packages(&r, Flm), ["fastflowlm"]);
    assert_eq!(r.get(Lemonade).take, Take::Release, "Fedora's Lemonade is the release RPM");
    let repos: Vec<&str> = r.vendor_repositories().iter().map(|x| x.id.as_str()).collect();
    assert_eq!(repos, ["copr-abn-amd-npu"]);
    assert!(
        r.get(Xrt).describe().starts_with("xrt: xrt-base xrt-npu xrt-plugin-amdxdna from COPR abn/amd-npu (2.21.75)")
    );
    // --from source: today's builds.
    let s = from(&Host::halo().bare_stack(), FromMode::Source);
    assert_eq!((s.get(Xrt).take, s.get(Flm).take, s.get(Lemonade).take), (Take::Source, Take::Source, Take::Release));
}

#[test]
fn the_copr_xrt_needs_the_in_tree_driver_of_7x() {
    let h = Host::halo().bare_stack().kernel("6.19.10-200.fc44.x86_64");
    let r = routes(&h);
    assert_eq!((r.get(Driver).take, r.get(Xrt).take, r.get(Flm).take), (Take::Source, Take::Source, Take::Source));
    assert!(r.get(Xrt).why.contains("carries its own plugin"), "{:?}", r.get(Xrt));
    // --from packages: nothing to build with, said plainly.
    let p = from(&h, FromMode::Packages);
    assert_eq!(p.get(Driver).take, Take::Unavailable);
    assert!(p.get(Driver).why.contains("--from packages builds nothing"), "{}", p.get(Driver).why);
}

#[test]
fn fresh_ubuntu_24_04_on_6_17_takes_the_ppa_and_flms_deb() {
    let r = routes(&noble_617());
    assert_eq!((r.release.as_deref(), r.codename.as_deref()), (Some("24.04"), Some("noble")));
    let d = r.get(Driver);
    assert_eq!((d.take, d.flavour), (Take::Packages, Some(FlavourId::BackportDkms)));
    assert_eq!(packages(&r, Driver), ["amdxdna-dkms"]);
    assert_eq!(r.get(Firmware).take, Take::WithDriver, "amdxdna-dkms ships its firmware");
    assert_eq!(packages(&r, Xrt), ["libxrt2", "libxrt-npu2", "libxrt-utils"]);
    assert_eq!(
        r.get(Flm).url.as_deref(),
        Some("https://github.com/ROCm/FastFlowLM/releases/download/v1.0.5/fastflowlm_1.0.5_ubuntu24.04_amd64.deb")
    );
    assert_eq!(packages(&r, Lemonade), ["lemonade-server"]);
    assert_eq!(r.vendor_repositories().iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["ppa-lemonade-team-stable"]);
}

#[test]
fn an_ubuntu_derivative_takes_its_base_release_by_codename() {
    let mint = noble_617().with(|f| {
        let os = f.os_mut();
        os.id = "linuxmint".into();
        os.id_like = vec!["ubuntu".into(), "debian".into()];
        os.version_id = Some("22".into());
        os.ubuntu_codename = Some("noble".into());
    });
    let r = routes(&mint);
    assert_eq!(
        (r.distro.as_deref(), r.release.as_deref(), r.codename.as_deref()),
        (Some("ubuntu"), Some("24.04"), Some("noble"))
    );
    assert_eq!(r.get(Xrt).take, Take::Packages);
}

#[test]
fn a_release_the_ppa_does_not_publish_falls_back_to_source() {
    let plucky = noble_617().os("ubuntu", "25.04");
    let r = routes(&plucky.with(|f| f.os_mut().version_codename = Some("plucky".into())));
    assert_eq!(r.get(Driver).take, Take::Source);
    assert!(
        r.get(Driver).passed_over.iter().any(|p| p.contains("publishes noble/questing/resolute only, not plucky")),
        "{:?}",
        r.get(Driver)
    );
}

#[test]
fn ubuntu_26_04_takes_the_archive_and_passes_over_an_old_lemonade() {
    let r = routes(&Host::halo().bare_stack().os("ubuntu", "26.04"));
    assert_eq!(r.get(Driver).take, Take::Kernel);
    assert_eq!(r.get(Xrt).repository.as_ref().map(|x| x.id.as_str()), Some("ubuntu-universe"));
    let l = r.get(Lemonade);
    assert_eq!(l.repository.as_ref().map(|x| x.id.as_str()), Some("ppa-lemonade-team-stable"));
    // 10.2.0 accepts its FLM pin (0.9.38) only (lemonade-sdk/lemonade#1647): passed over, and
    // the plan says so.
    assert!(l.passed_over[0].contains("Lemonade 10.2.0 accepts FastFlowLM 0.9.38 only"), "{:?}", l.passed_over);
    // With universe disabled in the host's sources, the archive's XRT is not offered.
    let no_universe = RepoFacts {
        apt: true,
        repos: vec![ConfiguredRepo {
            file: "/etc/apt/sources.list.d/ubuntu.sources".into(),
            entry: RepoEntry {
                format: "apt".into(),
                urls: vec!["http://archive.ubuntu.com/ubuntu/".into()],
                suites: vec!["resolute".into()],
                components: vec!["main".into(), "restricted".into()],
                enabled: true,
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let r = routes(&Host::halo().bare_stack().os("ubuntu", "26.04").repos(no_universe));
    assert_eq!(r.get(Xrt).take, Take::Source);
    assert!(r.get(Xrt).passed_over[0].contains("Ubuntu archive (universe) is not enabled"), "{:?}", r.get(Xrt));
}

#[test]
fn arch_takes_extra_unless_pacman_conf_lacks_it() {
    let arch = Host::halo().bare_stack().os("arch", "rolling");
    let r = routes(&arch);
    assert_eq!(packages(&r, Xrt), ["xrt", "xrt-plugin-amdxdna"]);
    assert_eq!(packages(&r, Flm), ["fastflowlm"]);
    // [extra]'s lemonade-server (10.8.1) wants its FLM pin 0.9.43 or newer, and [extra]'s
    // fastflowlm is 0.9.41 (as last seen): passed over, and the plan says why.
    let l = r.get(Lemonade);
    assert_eq!(l.take, Take::Release, "{l:?}");
    assert!(l.passed_over[0].contains("Lemonade 10.8.1 wants FastFlowLM 0.9.43 or newer, not 0.9.41"), "{l:?}");
    let only_core = RepoFacts {
        pacman: true,
        repos: vec![ConfiguredRepo {
            file: "/etc/pacman.conf".into(),
            entry: RepoEntry { format: "pacman".into(), id: "core".into(), enabled: true, ..Default::default() },
        }],
        ..Default::default()
    };
    let r = routes(&arch.repos(only_core));
    assert_eq!(r.get(Xrt).take, Take::Source);
    assert_eq!(r.get(Lemonade).take, Take::Release);
    assert!(r.get(Xrt).passed_over[0].contains("[extra] in /etc/pacman.conf"), "{:?}", r.get(Xrt));
}

#[test]
fn a_packaged_flm_needs_a_packaged_xrt() {
    // XRT built from source (CPack names): the COPR's FastFlowLM would pull the COPR's XRT.
    let h = Host::halo()
        .bare_stack()
        .package("xrt-base", Some("2.26.0-1"))
        .package("xrt_plugin-amdxdna", Some("2.26.0-1"))
        .xrt_lib(
            "libxrt_coreutil.so.2",
            &["/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2"],
            Some("/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2"),
        )
        .xrt_lib(
            "libxrt_driver_xdna.so.2",
            &["/opt/xilinx/xrt/lib64/libxrt_driver_xdna.so.2"],
            Some("/opt/xilinx/xrt/lib64/libxrt_driver_xdna.so.2"),
        );
    let r = routes(&h);
    assert_eq!(r.get(Xrt).take, Take::Present);
    assert_eq!(r.get(Flm).take, Take::Source);
    assert!(r.get(Flm).passed_over[0].contains("needs xrt from packages"), "{:?}", r.get(Flm));
}

#[test]
fn a_working_dkms_module_is_left_alone() {
    let r = routes(&Host::point_dkms());
    assert_eq!((r.get(Driver).take, r.get(Driver).flavour), (Take::Present, Some(FlavourId::XdnaDkms)));
    // Fedora 43 has no routes: missing pieces are built.
    let r = routes(&Host::point_dkms().no_flm());
    assert_eq!(r.get(Flm).take, Take::Source);
    assert!(r.get(Flm).why.contains("recipes/routes.yaml has no routes for fedora 43"), "{}", r.get(Flm).why);
}

#[test]
fn a_packaged_lemonade_is_judged_by_the_flm_it_would_serve() {
    use crate::knowledge::lemonade::{accepts_system_flm, known_release};
    let r = recipes();
    // 10.2.0: its pin only (lemonade-sdk/lemonade#1647).
    assert!(accepts_system_flm(r, "10.2.0", "0.9.38").is_ok());
    assert!(accepts_system_flm(r, "10.2.0", "0.9.39").unwrap_err().contains("0.9.38 only"));
    // At least the pin elsewhere; a `v` is allowed on either side.
    assert!(accepts_system_flm(r, "10.8.1", "v1.0.2").is_ok());
    assert!(accepts_system_flm(r, "10.8.1", "0.9.42").unwrap_err().contains("0.9.43 or newer"));
    // A release the recipes know nothing of is never taken on trust.
    assert!(known_release(r, "9.1.0").unwrap_err().contains("knows nothing of Lemonade 9.1.0"));
    assert!(known_release(r, "ten").is_err());
}

/// An HRX build of FastFlowLM (the COPR's flm-hrx) needs no XRT: nothing to install for it,
/// unless Lemonade runs an FLM download of its own.
#[test]
fn no_xrt_route_for_an_hrx_flm() {
    let h = Host::halo().package("xrt-base", None).package("xrt-npu", None).package("xrt-plugin-amdxdna", None);
    let h = h.xrt_lib("libxrt_coreutil.so.2", &[], None).xrt_lib("libxrt_driver_xdna.so.2", &[], None);
    let hrx = h.clone().with(|f| f.flm.ok_mut().needed = vec!["libhrx.so.1".into()]);
    let r = routes(&hrx);
    assert_eq!(r.get(Xrt).take, Take::Present);
    assert!(r.get(Xrt).why.starts_with("not needed: FastFlowLM here runs on HRX (it links libhrx.so.1)"), "{r:#?}");
    assert!(r.get(Xrt).describe().contains("xrt: nothing to install"), "{}", r.get(Xrt).describe());
    assert_eq!(routes(&h).get(Xrt).take, Take::Packages);
}

//! `packages`: one refreshed install of every packaged component, pointed at the root.

use super::*;
use crate::host::repos::{ConfiguredRepo, RepoFacts};
use crate::parse::repos::RepoEntry;
use crate::steps::build::BuildStep;
use crate::steps::lemonade::Lemonade;
use crate::steps::options::FromMode;
use crate::steps::packages::Packages;

fn noble() -> Host {
    Host::halo().bare_stack().os("ubuntu", "24.04").kernel("6.17.0-14-generic")
}

/// The host once the repos step has added the repository at `url` (the packages step plans
/// after it, from facts probed again).
fn added(h: Host, url: &str) -> Host {
    h.repos(RepoFacts {
        repos: vec![ConfiguredRepo {
            file: "/etc/added-by-the-repos-step".into(),
            entry: RepoEntry { urls: vec![url.into()], enabled: true, ..Default::default() },
        }],
        ..Default::default()
    })
}

const COPR: &str = "https://download.copr.fedorainfracloud.org/results/abn/amd-npu/fedora-$releasever-$basearch/";
const PPA: &str = "https://ppa.launchpadcontent.net/lemonade-team/stable/ubuntu";

fn only(ids: &[&str]) -> InstallArgs {
    InstallArgs { only: ids.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

#[test]
fn nothing_but_the_routes_when_everything_is_present() {
    let p = Scratch::running(&[]).plan(&Packages, &Host::halo());
    assert!(p.is_empty());
    assert!(noted(&p, "routes for fedora 44, --from auto:"));
    assert!(noted(&p, "xrt: already installed"));
}

#[test]
fn one_refresh_then_one_install() {
    let p = Scratch::running(&[]).plan(&Packages, &added(Host::halo().bare_stack(), COPR));
    assert_eq!(runs(&p), ["dnf makecache", "dnf install -y xrt-base xrt-npu xrt-plugin-amdxdna fastflowlm"]);
    assert!(noted(&p, "flm: fastflowlm from COPR abn/amd-npu (1.0.4)"));
    let p = Scratch::running(&[]).plan(&Packages, &Host::halo().bare_stack().os("arch", "rolling"));
    // Arch: refresh, upgrade and install in one transaction, never `pacman -Sy` alone.
    assert_eq!(runs(&p), ["pacman -Syu --needed --noconfirm xrt xrt-plugin-amdxdna fastflowlm"]);
}

#[test]
fn flms_own_deb_is_fetched_and_installed_in_the_same_transaction() {
    let s = Scratch::running(&[]);
    let p = s.plan(&Packages, &added(noble(), PPA));
    let Action::Download { url, path, sha256, .. } = &p.actions[0] else { panic!("{p:#?}") };
    assert!(url.ends_with("/v1.0.5/fastflowlm_1.0.5_ubuntu24.04_amd64.deb"), "{url}");
    assert_eq!(path, "var/cache/npu-setup/fastflowlm_1.0.5_ubuntu24.04_amd64.deb");
    assert_eq!(*sha256, None, "no published checksum: pinned on first download");
    let deb = s.path().join("var/cache/npu-setup/fastflowlm_1.0.5_ubuntu24.04_amd64.deb").display().to_string();
    assert_eq!(
        runs(&p),
        [
            "apt-get update".to_string(),
            format!("apt-get install -y amdxdna-dkms libxrt2 libxrt-npu2 libxrt-utils lemonade-server {deb}")
        ]
    );
}

#[test]
fn into_an_offline_tree_with_each_managers_root_option() {
    let s = Scratch::offline(&[]);
    let r = s.path().display().to_string();
    let p = s.plan(&Packages, &added(Host::halo().bare_stack().offline(), COPR));
    assert_eq!(
        runs(&p)[0],
        format!(
            "dnf --installroot={r} --releasever=44 --setopt=copr:copr.fedorainfracloud.org:abn:amd-npu.gpgkey=file://{r}/etc/pki/rpm-gpg/copr-abn-amd-npu.asc makecache"
        )
    );
    let p = s.plan(&Packages, &Host::halo().bare_stack().os("arch", "rolling").offline());
    assert_eq!(runs(&p), [format!("pacman --sysroot {r} -Syu --needed --noconfirm xrt xrt-plugin-amdxdna fastflowlm")]);
    let p = s.plan(&Packages, &added(noble().offline(), PPA));
    assert!(p.actions.is_empty(), "{p:#?}");
    assert!(p.blocked.as_deref().is_some_and(|b| b.contains("run `npu-setup install` inside the chroot")), "{p:#?}");
}

#[test]
fn from_packages_without_a_route_stops_the_plan() {
    let h = Host::halo().bare_stack().kernel("6.19.10-200.fc44.x86_64");
    let args = InstallArgs { from: FromMode::Packages, ..Default::default() };
    let p = Scratch::running(&[]).plan_with(&Packages, &h, &args);
    assert!(p.blocked.as_deref().is_some_and(|b| b.starts_with("driver: ")), "{p:#?}");
}

#[test]
fn a_repository_the_plan_does_not_add_is_named() {
    let args = InstallArgs { skip: vec!["repos".into()], ..Default::default() };
    let p = Scratch::running(&[]).plan_with(&Packages, &Host::halo().bare_stack(), &args);
    assert_eq!(
        p.blocked.as_deref(),
        Some(
            "xrt needs COPR abn/amd-npu, which is not configured (the repos step adds it: npu-setup install --only repos)"
        )
    );
}

#[test]
fn only_a_build_step_installs_its_component_alone() {
    let s = Scratch::running(&[]);
    let h = Host::halo().bare_stack();
    // In a full install the packages step does it: the build steps only say so.
    let p = s.plan(&BuildStep { id: "xrt" }, &h);
    assert!(p.is_empty() && noted(&p, "(the packages step installs it)"), "{p:#?}");
    // `install --only xrt` (doctor's remedy): the repository and XRT's packages, nothing else.
    let p = s.plan_with(&BuildStep { id: "xrt" }, &h, &only(&["xrt"]));
    assert_eq!(summary(&p)[1..], ["run dnf makecache", "run dnf install -y xrt-base xrt-npu xrt-plugin-amdxdna"]);
    assert!(matches!(p.actions[0], Action::AddRepository { .. }));
    let p = s.plan_with(&BuildStep { id: "flm" }, &h, &only(&["flm"]));
    assert_eq!(runs(&p)[1], "dnf install -y fastflowlm");
    // Ubuntu's Lemonade comes from the PPA: `--only lemonade` adds it and installs the package.
    let p = s.plan_with(&Lemonade, &noble(), &only(&["lemonade"]));
    assert_eq!(runs(&p), ["apt-get update", "apt-get install -y lemonade-server"]);
    assert!(matches!(p.actions[0], Action::AddRepository { .. }));
    // Fedora's is the release RPM: the lemonade step's own plan.
    let p = s.plan_with(&Lemonade, &h, &only(&["lemonade"]));
    assert!(
        p.actions.iter().any(|a| matches!(a, Action::Download { url, .. } if url.contains("lemonade-server"))),
        "{p:#?}"
    );
}

#[test]
fn a_lemonade_package_goes_into_an_offline_tree_with_the_managers_root_option() {
    let s = Scratch::offline(&[]);
    let root = s.path().display().to_string();
    let args = |url: &str| InstallArgs { lemonade_package: Some(url.into()), ..only(&["lemonade"]) };
    // The last command of the plan that is not the metadata refresh.
    let install = |h: &Host, url: &str| {
        let p = s.plan_with(&Lemonade, h, &args(url));
        runs(&p).into_iter().rev().find(|r| !r.contains("makecache")).unwrap_or_else(|| panic!("{p:#?}"))
    };
    // dnf opens the file on this machine and installs into the tree, with the tree's release.
    assert_eq!(
        install(&Host::halo().bare_stack(), "https://example.org/lemonade-server-11.8.0.x86_64.rpm"),
        format!(
            "dnf --installroot={root} --releasever=44 install -y {root}/var/cache/npu-setup/lemonade-server-11.8.0.x86_64.rpm"
        )
    );
    // pacman --sysroot chroots first: the file is named by its path inside the tree.
    assert_eq!(
        install(
            &Host::halo().bare_stack().os("arch", "rolling"),
            "https://example.org/lemonade-server-11.8.0-1-x86_64.pkg.tar.zst"
        ),
        format!(
            "pacman --sysroot {root} -U --noconfirm var/cache/npu-setup/lemonade-server-11.8.0-1-x86_64.pkg.tar.zst"
        )
    );
    // apt cannot install into a tree from outside: nothing is planned, and the plan says where to run.
    let p = s.plan_with(&Lemonade, &noble(), &args("https://example.org/lemonade-server_11.8.0_amd64.deb"));
    assert!(p.actions.is_empty(), "{p:#?}");
    assert!(p.blocked.as_deref().is_some_and(|b| b.contains("inside the chroot")), "{p:#?}");
}

//! `build-deps`: the distro's build dependencies, only when something compiles.

use super::*;
use crate::steps::build_deps::BuildDeps;
use crate::steps::options::FromMode;

/// `--from source`: the source builds these tests are about.
fn source() -> InstallArgs {
    InstallArgs { from: FromMode::Source, ..Default::default() }
}

fn fedora_deps() -> Vec<String> {
    recipes().distro("fedora", &[]).unwrap().build_deps.clone()
}

#[test]
fn nothing_when_nothing_compiles() {
    assert!(Scratch::running(&[]).plan(&BuildDeps, &Host::halo()).is_empty());
    assert!(Scratch::running(&[]).plan(&BuildDeps, &Host::point_dkms()).is_empty());
}

#[test]
fn installs_the_missing_dependencies_for_a_source_build() {
    let h = Host::halo().no_flm().package("git", Some("2.49.0-1.fc44"));
    let p = Scratch::running(&[]).plan_with(&BuildDeps, &h, &source());
    let missing: Vec<String> = fedora_deps().into_iter().filter(|d| d != "git").collect();
    // The metadata first, so the install does not fail on a stale cache.
    let Action::Run { argv, why } = &p.actions[0] else { panic!("{p:#?}") };
    assert_eq!(
        (argv.join(" "), why.as_str()),
        ("dnf makecache".into(), "refresh the package metadata before installing")
    );
    let Action::Run { argv, why } = &p.actions[1] else { panic!("{p:#?}") };
    assert_eq!(argv[..3], ["dnf", "install", "-y"]);
    assert_eq!(argv[3..], missing[..]);
    assert_eq!(why, &format!("build dependencies ({} missing) for flm", missing.len()));
    assert_eq!(p.installs, missing, "later steps of the preview count on them");
    let p = Scratch::running(&[]).plan_with(&BuildDeps, &h.clone().os("ubuntu", "24.04"), &source());
    assert_eq!(runs(&p)[0], "apt-get update");
    // Arch: no separate refresh; the install is one -Syu transaction (no partial upgrade).
    let p = Scratch::running(&[]).plan_with(&BuildDeps, &h.clone().os("arch", "rolling"), &source());
    assert!(runs(&p)[0].starts_with("pacman -Syu --needed --noconfirm cmake "), "{:?}", runs(&p));
}

#[test]
fn a_dkms_module_install_needs_them_too() {
    let payload = "opt/xilinx/xrt/share/amdxdna/dkms.conf";
    let p =
        Scratch::running(&[(payload, "PACKAGE_NAME=xrt-amdxdna\n")]).plan(&BuildDeps, &Host::point_dkms().no_module());
    let Action::Run { why, .. } = &p.actions[1] else { panic!("{p:#?}") };
    assert!(why.ends_with("for the DKMS module"), "{why}");
}

#[test]
fn into_an_offline_tree_with_the_package_managers_root_option() {
    let s = Scratch::offline(&[]);
    let p = s.plan_with(&BuildDeps, &Host::halo().no_flm(), &source());
    let root = format!("--installroot={}", s.path().display());
    // dnf takes the tree's release, not this machine's.
    assert_eq!(runs(&p)[0], format!("dnf {root} --releasever=44 makecache"));
    let Action::Run { argv, .. } = &p.actions[1] else { panic!("{p:#?}") };
    assert_eq!(argv[..5], ["dnf".to_string(), root, "--releasever=44".into(), "install".into(), "-y".into()]);
    // Arch: one transaction that refreshes, upgrades and installs (no partial upgrade).
    let p = s.plan_with(&BuildDeps, &Host::halo().no_flm().os("arch", "rolling"), &source());
    assert!(
        runs(&p)[0].starts_with(&format!("pacman --sysroot {} -Syu --needed --noconfirm git ", s.path().display())),
        "{:?}",
        runs(&p)
    );
    let p = s.plan_with(&BuildDeps, &Host::halo().no_flm().os("ubuntu", "24.04"), &source());
    assert!(p.blocked.as_deref().is_some_and(|b| b.contains("run `npu-setup install` inside the chroot")), "{p:#?}");
}

#[test]
fn nothing_when_the_missing_component_comes_from_packages() {
    // Fedora 44 on 7.1: the COPR serves FastFlowLM.
    assert!(Scratch::running(&[]).plan(&BuildDeps, &Host::halo().no_flm()).is_empty());
}

#[test]
fn blocks_without_a_recipe_or_package_facts() {
    let s = Scratch::running(&[]);
    let p = s.plan(&BuildDeps, &Host::halo().no_flm().os("gentoo", "2.17"));
    assert_eq!(p.blocked.as_deref(), Some("no distro recipe: build dependencies unknown"));
    let p = s.plan(&BuildDeps, &Host::halo().no_flm().probe_error("packages", "rpm: timed out"));
    assert_eq!(p.blocked.as_deref(), Some("cannot query installed packages: rpm: timed out"));
}

#[test]
fn on_an_rpm_ostree_system_the_packages_are_said_as_rpm_ostree_install_not_run() {
    let h = Host::halo().no_flm().with(|f| f.boot.ok_mut().ostree = true);
    let s = Scratch::running(&[]);
    let args = source();
    let cx = StepCtx::new(&s.root, &s.runner, &h, recipes(), &args).preview(&[]);
    let p = crate::steps::on_image_based(&cx, BuildDeps.plan(&cx).unwrap());
    assert!(p.actions.is_empty() && p.blocked.is_none(), "{p:#?}");
    let u = p.unavailable.unwrap_or_default();
    assert!(u.starts_with("not on an image-based (rpm-ostree) system"), "{u}");
    assert!(u.contains("`sudo rpm-ostree install --idempotent git cmake "), "{u}");
    // Not image-based: the plan as it was.
    let h = Host::halo().no_flm();
    let cx = StepCtx { facts: &h, ..cx };
    assert!(!crate::steps::on_image_based(&cx, BuildDeps.plan(&cx).unwrap()).actions.is_empty());
}

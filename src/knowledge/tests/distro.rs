//! `knowledge::distro`: recipes and releases of distros and their derivatives.

use crate::host::os::OsFacts;
use crate::knowledge::distro::{Basis, OsVerdict, os_verdict, resolve};

use super::recipes;

fn os(id: &str, like: &[&str], version: Option<&str>, codename: Option<&str>, ubuntu: Option<&str>) -> OsFacts {
    OsFacts {
        id: id.into(),
        id_like: like.iter().map(|s| s.to_string()).collect(),
        version_id: version.map(Into::into),
        version_codename: codename.map(Into::into),
        ubuntu_codename: ubuntu.map(Into::into),
        pretty_name: format!("{id} {}", version.unwrap_or("")).trim().to_string(),
        file: "/etc/os-release".into(),
    }
}

/// (os-release, recipe, version in the recipe's numbering, codename, basis)
type Case = (OsFacts, &'static str, Option<&'static str>, Option<&'static str>, Basis);

#[test]
fn derivatives_map_to_their_base_release() {
    let r = recipes();
    let cases: &[Case] = &[
        (
            os("ubuntu", &["debian"], Some("24.04"), Some("noble"), Some("noble")),
            "ubuntu",
            Some("24.04"),
            Some("noble"),
            Basis::Own,
        ),
        (
            os("linuxmint", &["ubuntu", "debian"], Some("22.2"), Some("zara"), Some("noble")),
            "ubuntu",
            Some("24.04"),
            Some("noble"),
            Basis::UbuntuCodename("noble".into()),
        ),
        (
            os("linuxmint", &["ubuntu", "debian"], Some("21.3"), Some("virginia"), None),
            "ubuntu",
            Some("22.04"),
            Some("jammy"),
            Basis::Table("21".into()),
        ),
        (
            os("pop", &["ubuntu", "debian"], Some("24.04"), Some("noble"), Some("noble")),
            "ubuntu",
            Some("24.04"),
            Some("noble"),
            Basis::UbuntuCodename("noble".into()),
        ),
        (
            os("nobara", &["rhel", "centos", "fedora"], Some("44"), None, None),
            "fedora",
            Some("44"),
            None,
            Basis::VersionId,
        ),
        (os("cachyos", &["arch"], None, None, None), "arch", None, None, Basis::Rolling),
        (os("endeavouros", &["arch"], None, None, None), "arch", None, None, Basis::Rolling),
        (os("manjaro", &["arch"], Some("25.0.10"), None, None), "arch", None, None, Basis::Rolling),
        (
            os("almalinux", &["rhel", "centos", "fedora"], Some("10.1"), None, None),
            "rhel",
            Some("10.1"),
            None,
            Basis::Own,
        ),
        (
            os("elementary", &["ubuntu"], Some("8.1"), Some("circe"), Some("noble")),
            "ubuntu",
            Some("24.04"),
            Some("noble"),
            Basis::UbuntuCodename("noble".into()),
        ),
        (os("kali", &["debian"], Some("2026.3"), Some("kali-rolling"), None), "debian", None, None, Basis::Unknown),
    ];
    for (o, recipe, version, codename, basis) in cases {
        let h = resolve(o, r).unwrap_or_else(|| panic!("{} has a recipe", o.id));
        assert_eq!(
            (h.recipe.id.as_str(), h.version.as_deref(), h.codename.as_deref(), &h.basis),
            (*recipe, *version, *codename, basis),
            "{}",
            o.id
        );
    }
    assert!(resolve(&os("gentoo", &[], Some("2.17"), None, None), r).is_none());
}

#[test]
fn the_oldest_release_is_compared_in_the_bases_numbering() {
    let r = recipes();
    let mint22 = os("linuxmint", &["ubuntu", "debian"], Some("22"), Some("wilma"), Some("noble"));
    assert!(matches!(os_verdict(&mint22, r), OsVerdict::Supported(_)));
    let mint21 = os("linuxmint", &["ubuntu", "debian"], Some("21.3"), Some("virginia"), Some("jammy"));
    let OsVerdict::TooOld { host, min, upgrade_to } = os_verdict(&mint21, r) else { panic!("Mint 21 is Ubuntu 22.04") };
    assert_eq!((host.label().as_str(), min.version.as_str()), ("linuxmint 21.3 (Ubuntu 22.04 base)", "24.04"));
    assert_eq!(upgrade_to.as_deref(), Some("Linux Mint 22 (Ubuntu 24.04 base)"));
    // Fedora's minimum is 44 (xdna-driver README, branch 1.9).
    assert!(matches!(os_verdict(&os("fedora", &[], Some("43"), None, None), r), OsVerdict::TooOld { .. }));
    assert!(matches!(os_verdict(&os("fedora", &[], Some("44"), None, None), r), OsVerdict::Supported(_)));
    // Arch and its derivatives are rolling: no comparison.
    assert!(matches!(os_verdict(&os("cachyos", &["arch"], None, None, None), r), OsVerdict::Supported(_)));
    // An Ubuntu derivative that does not say which Ubuntu it is built on is not compared.
    let unknown = os("foo", &["ubuntu"], Some("3"), None, None);
    assert!(matches!(os_verdict(&unknown, r), OsVerdict::BaseUnknown(_)));
}

#[test]
fn per_release_remedies_apply_from_their_release() {
    let r = recipes();
    let noble = resolve(&os("ubuntu", &["debian"], Some("24.04"), Some("noble"), Some("noble")), r).unwrap();
    assert!(noble.remedies().xrt.contains("ppa:lemonade-team/stable"));
    let resolute = resolve(&os("ubuntu", &["debian"], Some("26.04"), Some("resolute"), Some("resolute")), r).unwrap();
    assert_eq!(resolute.remedies().xrt, "sudo apt install libxrt2 libxrt-npu2 libxrt-utils");
}

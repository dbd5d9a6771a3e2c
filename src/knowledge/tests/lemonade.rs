//! `knowledge::lemonade`: the release, the flm it runs, and the unit's memlock mechanism.

use super::*;
use crate::knowledge::lemonade::{ChosenKind, FlmProblem, LemonadeFlm, UnitMemlock, flm, release, unit_memlock};
use crate::recipes::lemonade::FlmSource;

fn judged(h: &Host) -> Box<crate::knowledge::lemonade::FlmJudgement> {
    match flm(h, recipes()) {
        LemonadeFlm::Judged(j) => j,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_release_comes_from_the_package_then_the_api() {
    let r = release(&Host::halo(), recipes()).unwrap();
    assert_eq!((r.version.as_str(), r.parsed, r.from), ("11.7.0-1.fc44", [11, 7, 0], "package"));
    let api = Host::halo().with(|f| f.packages.ok_mut().packages.retain(|p| p.name != "lemonade-server"));
    let r = release(&api, recipes()).unwrap();
    assert_eq!((r.version.as_str(), r.from), ("11.7.0", "api"));
    assert_eq!(release(&api.lemonade_answer("health", Some(401), ""), recipes()), None);
}

#[test]
fn selection_follows_the_release() {
    let j = judged(&Host::halo());
    assert_eq!(
        j.selection,
        [FlmSource::EnvNpuBin, FlmSource::ConfigNpuBin, FlmSource::PreferSystemPath, FlmSource::OwnCopy]
    );
    let c = j.choice.as_ref().unwrap();
    assert_eq!(
        (c.source, &c.kind, c.binary.as_deref()),
        (FlmSource::ConfigNpuBin, &ChosenKind::NpuBinPath, Some("/usr/bin/flm"))
    );
    assert!(j.problems.is_empty() && !j.fails(), "{j:?}");
    let j = judged(&Host::point_dkms());
    assert_eq!(j.selection, [FlmSource::Path]);
    assert_eq!(j.choice.as_ref().unwrap().kind, ChosenKind::System);
    assert_eq!(j.pin.as_deref(), Some("v0.9.35"));
    // The same host as 10.2.0: its pin only (lemonade#1647).
    let h = Host::point_dkms()
        .package("lemonade-server", Some("10.2.0"))
        .with(|f| f.flm.ok_mut().version = Some("0.9.39".into()));
    assert_eq!(judged(&h).problems, [FlmProblem::NotExact]);
    assert!(judged(&h).fails());
}

#[test]
fn an_own_copy_is_judged_exactly() {
    let own = |tag: &str| {
        let tag = tag.to_string();
        Host::halo().lemonade_unit(move |u| {
            u.dirs[0].config.as_mut().unwrap().npu_bin = None;
            u.dirs[0].own_flm =
                Some(crate::host::services::OwnFlmCopy { binary: "/x/bin/flm/npu/flm".into(), version: Some(tag) });
        })
    };
    // The pin, but not the release of the installed FastFlowLM (1.0.2): a warning.
    let j = judged(&own("v1.0.1"));
    assert_eq!(j.problems, [FlmProblem::NotTheInstalled { installed: "/usr/bin/flm 1.0.2".into() }]);
    assert!(!j.fails());
    let j = judged(&own("v1.0.2"));
    assert_eq!(j.problems, [FlmProblem::OwnCopyMismatch], "newer than the pin is a mismatch too");
    assert!(j.notes.iter().any(|n| n.contains("is the same release")), "{:?}", j.notes);
}

#[test]
fn memlock_by_mechanism() {
    let h = Host::halo();
    let u = h.lemonade.ok().unwrap().unit().unwrap().clone();
    let rel = release(&h, recipes());
    assert_eq!(unit_memlock(&u, rel.as_ref(), recipes()), UnitMemlock::LimitMemlock, "our drop-in");
    let mut stock = u.clone();
    stock.limit_memlock = None;
    assert_eq!(unit_memlock(&stock, rel.as_ref(), recipes()), UnitMemlock::AmbientCap);
    assert_eq!(unit_memlock(&stock, None, recipes()), UnitMemlock::AmbientCap, "an unknown release is trusted");
    let old = release(&Host::halo().package("lemonade-server", Some("10.0.0")), recipes());
    assert!(matches!(unit_memlock(&stock, old.as_ref(), recipes()), UnitMemlock::CapNotPassedOn { .. }));
    stock.ambient_capabilities.clear();
    assert_eq!(unit_memlock(&stock, rel.as_ref(), recipes()), UnitMemlock::Missing { limit: None });
}

#[test]
fn nothing_to_judge_without_lemonade() {
    assert!(matches!(
        flm(&Host::halo().lemonade(|l| l.binaries.clear()), recipes()),
        LemonadeFlm::NotApplicable { .. }
    ));
    assert!(matches!(flm(&Host::halo().probe_error("lemonade", "x"), recipes()), LemonadeFlm::NotApplicable { .. }));
}

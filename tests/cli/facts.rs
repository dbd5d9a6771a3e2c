//! Checks are pure: the report computed from a fixture's probed facts (`dev facts`) equals
//! the one doctor prints, and hand-written Facts YAML drives checks with no tree at all.

use std::path::Path;

use npu_setup::checks::{CheckOptions, Status, run_checks};
use npu_setup::host::Facts;
use npu_setup::recipes::Recipes;

use crate::{bin, doctor_json, fixture, fixtures};

fn report_from(facts: &Facts) -> serde_json::Value {
    let r = Recipes::embedded().unwrap();
    let results = run_checks(facts, &r, &CheckOptions::default(), &[], &[]);
    serde_json::to_value(npu_setup::checks::report(facts, &r, results)).unwrap()
}

#[test]
fn facts_round_trip_to_the_same_report() {
    for name in fixtures() {
        let out = bin().arg("--root").arg(fixture(&name)).args(["dev", "facts"]).output().unwrap();
        assert!(out.status.success(), "{name}");
        let facts: Facts = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (_, cli) = doctor_json(&fixture(&name), &[]);
        assert_eq!(report_from(&facts), cli, "{name}");
    }
}

fn load(name: &str) -> Facts {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/facts").join(name);
    serde_yaml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn status(report: &serde_json::Value, id: &str) -> (String, String) {
    let c = crate::check(report, id);
    (c["status"].as_str().unwrap().to_string(), c["summary"].as_str().unwrap().to_string())
}

#[test]
fn iommu_pt_is_judged_per_kernel() {
    let r71 = report_from(&load("krackan-71-iommu-pt.yaml"));
    let (s, summary) = status(&r71, "boot.iommu");
    assert_eq!(s, "warn");
    assert!(summary.contains("reported working with the NPU on 7.1.x"), "{summary}");
    let r619 = report_from(&load("halo-619-iommu-pt.yaml"));
    let (s, summary) = status(&r619, "boot.iommu");
    assert_eq!(s, "warn");
    assert!(summary.contains("untested with the NPU on kernels before 7.1"), "{summary}");
}

#[test]
fn probes_missing_from_facts_are_errors_or_skips_never_panics() {
    let facts = Facts::default();
    let r = Recipes::embedded().unwrap();
    let results = run_checks(&facts, &r, &CheckOptions::default(), &[], &[]);
    assert_eq!(results.len(), npu_setup::model::CHECK_IDS.len());
    assert!(results.iter().all(|c| !c.summary.contains("internal error")), "{results:#?}");
    assert!(results.iter().any(|c| c.status == Status::Skip));
}

/// A Facts value as JSON without what differs between runs and machines.
fn comparable(facts: &Facts) -> serde_json::Value {
    let mut v = serde_json::to_value(facts).unwrap();
    for k in ["root", "probe_millis", "resources"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

#[test]
fn the_unit_tests_healthy_hosts_are_what_the_probes_read() {
    for (yaml, tree) in [
        ("halo-f44-71-intree-healthy.yaml", "fedora44-71-intree-healthy"),
        ("point-f43-619-dkms-healthy.yaml", "case01-fedora43-hx370-dkms"),
    ] {
        let out = bin().arg("--root").arg(fixture(tree)).args(["dev", "facts"]).output().unwrap();
        assert!(out.status.success(), "{tree}");
        let probed: Facts = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            comparable(&load(yaml)) == comparable(&probed),
            "tests/fixtures/facts/{yaml} no longer matches `dev facts` of {tree}: regenerate it (tests/fixtures/facts/README.md)"
        );
    }
}

/// `check --kernel` and doctor judge one host with the same knowledge, so on every fixture
/// they agree about the kernel that runs and boots next: its boot entry's arguments, the
/// module's signature under Secure Boot, whether its driver accepts the firmware on disk, and
/// whether it has a module at all.
#[test]
fn check_kernel_and_doctor_agree_on_every_fixture() {
    use npu_setup::knowledge::{analysis::Analysis, firmware, kernels};
    let r = Recipes::embedded().unwrap();
    let mut compared = 0;
    for name in fixtures() {
        let out = bin().arg("--root").arg(fixture(&name)).args(["dev", "facts"]).output().unwrap();
        let facts: Facts = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Some(k) = facts.kernel.ok() else { continue };
        let (Some(running), Some(target)) = (k.running.clone(), k.target.clone()) else { continue };
        if running != target || facts.pci.ok().is_none_or(|p| p.npus.is_empty()) {
            continue;
        }
        // In a container the kernel is the host's: doctor leaves its module, firmware and
        // boot to the host (knowledge::access::judged_on_the_host).
        if facts.container.is_some() {
            continue;
        }
        compared += 1;
        let results = run_checks(&facts, &r, &CheckOptions::default(), &[], &[]);
        let doctor = |id: &str| results.iter().find(|c| c.id == id).unwrap().status;
        let kr = kernels::judge(&facts, &r, &target);
        let fails = |s: Status| s == Status::Fail;
        assert_eq!(fails(kr.signing.status), fails(doctor("secureboot.signing")), "{name}: signing {:?}", kr.signing);
        assert_eq!(
            kr.signing.status == Status::Warn,
            doctor("secureboot.signing") == Status::Warn,
            "{name}: signing {:?}",
            kr.signing
        );
        let default_is_target = facts
            .boot
            .ok()
            .and_then(|b| b.bls.iter().find(|e| Some(e.id.as_str()) == b.default_entry.as_deref()))
            .is_none_or(|e| e.version.as_deref() == Some(target.as_str()) || e.id.ends_with(&target));
        if default_is_target {
            assert_eq!(fails(kr.kargs.status), fails(doctor("boot.next")), "{name}: kargs {:?}", kr.kargs);
        }
        let a = Analysis::new(&facts, &r);
        let on_disk_rejected =
            matches!(firmware::compat(&facts, &r, &a), firmware::Compat::NoFile(..) | firmware::Compat::Rejected(..));
        assert_eq!(fails(kr.firmware.status), on_disk_rejected, "{name}: firmware {:?}", kr.firmware);
        if on_disk_rejected {
            assert!(fails(doctor("firmware.compat")), "{name}");
        }
        if fails(kr.module.status) {
            assert!(
                ["host.kernel", "driver.module", "dkms.state"].iter().any(|id| fails(doctor(id))),
                "{name}: check --kernel says {:?}, doctor finds no module problem",
                kr.module
            );
        }
    }
    assert!(compared >= 10, "only {compared} fixtures compared");
}

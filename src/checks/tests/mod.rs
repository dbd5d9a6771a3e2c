//! Every status every check can give, from a healthy test host with one fact changed
//! (`host::testkit`). A test names the check, the status and a distinctive part of the
//! summary; where the check offers a remedy, the step it points at.

mod boot;
mod device;
mod firmware;
mod known;
mod recipes;
mod services;
mod stack;
mod system;
mod user;

use super::{CheckOptions, CheckResult, Status, diagnose, run_checks};
use crate::host::testkit::{Host, recipes};

pub(super) use Status::{Error, Fail, Pass, Skip, Warn};

/// Runs check `id` alone on `h`.
fn run(h: &Host, id: &str) -> CheckResult {
    let results = run_checks(h, recipes(), &CheckOptions::default(), &[id.to_string()], &[]);
    results.into_iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no check {id}"))
}

/// Runs check `id` on `h` and asserts its status and that its summary contains `needle`.
#[track_caller]
pub(super) fn expect(h: &Host, id: &str, status: Status, needle: &str) -> CheckResult {
    let c = run(h, id);
    assert_eq!(c.status, status, "{id}: {}\nevidence: {:#?}", c.summary, c.evidence);
    assert!(c.summary.contains(needle), "{id}: summary {:?} lacks {needle:?}", c.summary);
    c
}

/// The install step a check's remedy points at.
pub(super) fn step(c: &CheckResult) -> Option<&str> {
    c.remedy.as_ref().and_then(|r| r.step.as_deref())
}

/// The remedy's text and commands, one string to search.
pub(super) fn remedy(c: &CheckResult) -> String {
    c.remedy.as_ref().map(|r| format!("{}\n{}", r.text, r.commands.join("\n"))).unwrap_or_default()
}

/// Every check gives `status` with a summary containing `needle` when `h`'s probe `probe` is
/// in that state — the generic probe handling, asserted once per check.
#[track_caller]
fn probe_outcome(h: Host, ids: &[&str], status: Status, needle: &str) {
    for id in ids {
        expect(&h, id, status, needle);
    }
}

#[test]
fn the_healthy_hosts_are_ready() {
    for (name, h) in [("halo", Host::halo()), ("point_dkms", Host::point_dkms())] {
        let results = run_checks(&h, recipes(), &CheckOptions::default(), &[], &[]);
        // point_dkms is the Fedora 43 host of lemonade#1315: below Fedora's minimum (44,
        // xdna-driver 1.9 README) since, which host.os warns about and nothing else.
        let bad: Vec<String> = results
            .iter()
            .filter(|c| !matches!(c.status, Pass | Skip))
            .filter(|c| !(name == "point_dkms" && c.id == "host.os" && c.summary.contains("Fedora 44")))
            .map(|c| format!("{} {:?}: {}", c.id, c.status, c.summary))
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:#?}");
        let want = if name == "point_dkms" { "degraded" } else { "ready" };
        assert_eq!(diagnose(&results, &h).state, want, "{name}");
    }
}

#[test]
fn a_probe_that_failed_is_an_error_and_one_not_run_a_skip() {
    let by_probe: &[(&str, &[&str])] = &[
        ("os", &["host.os"]),
        ("kernel", &["host.kernel", "boot.iommu", "driver.module"]),
        ("pci", &["npu.device", "gpu.device"]),
        ("boot", &["boot.next"]),
        ("firmware", &["firmware.files"]),
        ("kernel_log", &["kernel.log"]),
        ("nodes", &["accel.node"]),
        ("users", &["accel.node"]),
        ("memlock", &["limits.memlock"]),
        ("secureboot", &["secureboot.signing"]),
        ("loader", &["xrt.loader"]),
        ("flm", &["flm.install", "flm.validate"]),
        ("provenance", &["stack.provenance"]),
        ("lemonade", &["lemonade.install", "lemonade.service", "lemonade.api"]),
        ("gpu", &["gpu.api"]),
        ("smoke_npu", &["smoke.npu"]),
        ("smoke_gpu", &["smoke.gpu"]),
        ("smoke_whisper", &["smoke.whisper"]),
    ];
    for (probe, ids) in by_probe {
        probe_outcome(Host::halo().probe_error(probe, "permission denied"), ids, Error, "permission denied");
        probe_outcome(Host::halo().probe_skipped(probe, "offline root"), ids, Skip, "offline root");
    }
    // dkms status matters only with an out-of-tree module.
    probe_outcome(Host::point_dkms().probe_error("dkms", "dkms hung"), &["dkms.state"], Error, "dkms hung");
}

#[test]
fn without_an_npu_the_npu_checks_skip_and_the_verdict_says_so() {
    let h = Host::halo().no_npu();
    let results = run_checks(&h, recipes(), &CheckOptions::default(), &[], &[]);
    for c in results.iter().filter(|c| super::find(&c.id).is_some_and(|d| d.needs_npu)) {
        assert_eq!((c.status, c.summary.as_str()), (Skip, "no NPU on this machine"), "{}", c.id);
    }
    assert_eq!(diagnose(&results, &h).state, "no-npu");
}

#[test]
fn only_and_skip_select_checks() {
    let results = run_checks(&Host::halo(), recipes(), &CheckOptions::default(), &[], &["boot.iommu".into()]);
    let c = results.iter().find(|c| c.id == "boot.iommu").unwrap();
    assert_eq!((c.status, c.summary.as_str()), (Skip, "not selected (--only/--skip)"));
}

/// `doctor --only dkms.state,stack.provenance` on an in-tree host said "ready", exit 0,
/// having judged nothing: a verdict from zero checks run is `inconclusive`, exit 4.
#[test]
fn a_verdict_from_no_check_run_is_inconclusive_not_ready() {
    let h = Host::halo();
    let only = ["dkms.state".to_string(), "stack.provenance".to_string()];
    let results = run_checks(&h, recipes(), &CheckOptions::default(), &only, &[]);
    assert!(results.iter().all(|c| c.status == Skip), "{results:?}");
    let d = diagnose(&results, &h);
    assert_eq!(d.state, "inconclusive", "{}", d.message);
    let r = crate::checks::report(&h, recipes(), results);
    assert_eq!(r.exit_code(false), crate::model::exit::INCONCLUSIVE);
    // One check that ran is a verdict.
    let results = run_checks(&h, recipes(), &CheckOptions::default(), &["host.kernel".into()], &[]);
    assert_eq!(diagnose(&results, &h).state, "ready");
}

#[test]
fn the_verdict_names_the_root_cause_not_the_symptom() {
    // The NPU did not bind because the 6.19 in-tree driver rejects protocol-7 firmware.
    let h = Host::halo()
        .kernel("6.19.10-200.fc44.x86_64")
        .drm(None)
        .firmware_file("npu.sbin", Some("1.1.2.65"))
        .npu_driver(None);
    let results = run_checks(&h, recipes(), &CheckOptions::default(), &[], &[]);
    let bound = results.iter().find(|c| c.id == "driver.bound").unwrap();
    assert_eq!((bound.status, bound.cause.as_deref()), (Fail, Some("firmware.compat")));
    let d = diagnose(&results, &h);
    assert_eq!((d.state.as_str(), d.first_failure.as_deref()), ("broken", Some("firmware.compat")), "{}", d.message);
}

#[test]
fn warnings_alone_make_the_host_degraded() {
    let h = Host::halo().cmdline("ro iommu=pt");
    let results = run_checks(&h, recipes(), &CheckOptions::default(), &[], &[]);
    assert_eq!(diagnose(&results, &h).state, "degraded");
}

#[test]
fn a_verdict_on_an_unverified_fact_warns_and_names_it() {
    use super::Outcome;
    let what = vec!["firmware 255.x speaks protocol 7 (a third-party note)".to_string()];
    let o = Outcome::fail("driver rejects it").unverified(&what);
    assert_eq!(o.status(), Warn);
    assert!(o.summary.contains("driver rejects it (UNVERIFIED: firmware 255.x speaks protocol 7"), "{}", o.summary);
    assert_eq!(o.evidence["unverified"], serde_json::json!(what));
    // A pass stays a pass; the facts are in the evidence only.
    let o = Outcome::pass("accepted").unverified(&what);
    assert_eq!((o.status(), o.summary.as_str()), (Pass, "accepted"));
    assert!(o.evidence.contains_key("unverified"));
    // Nothing unverified: unchanged.
    let o = Outcome::fail("x").unverified(&[]);
    assert_eq!(o.status(), Fail);
    assert!(!o.evidence.contains_key("unverified"));
}

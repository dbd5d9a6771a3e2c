//! `sources`: planning never blocks on git that an earlier step of the same plan installs.

use super::*;
use crate::steps::sources::Sources;

fn preview(s: &Scratch, h: &Host, planned: &[String]) -> Plan {
    // The source route (a fresh Fedora 44 host would take the COPR's packages otherwise).
    let args = InstallArgs { from: crate::knowledge::routes::FromMode::Source, ..Default::default() };
    let cx = StepCtx::new(&s.root, &s.runner, h, recipes(), &args).preview(planned);
    Sources.plan(&cx).unwrap()
}

#[test]
fn git_that_build_deps_installs_first_does_not_block_the_printed_plan() {
    let s = Scratch::running(&[]);
    let h = Host::halo().no_flm();
    let p = preview(&s, &h, &["cmake".into(), "git".into()]);
    assert!(p.blocked.is_none(), "{p:#?}");
    let r = runs(&p);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].starts_with("git clone --recurse-submodules --branch v0.9.45 https://github.com/ROCm/FastFlowLM.git ")
    );
    assert!(noted(&p, "git comes with build-deps"), "{:?}", p.notes);
}

#[test]
fn without_git_and_nothing_installing_it_the_step_says_so() {
    let s = Scratch::running(&[]);
    let h = Host::halo().no_flm();
    let source = InstallArgs { from: crate::knowledge::routes::FromMode::Source, ..Default::default() };
    for p in [preview(&s, &h, &[]), s.plan_with(&Sources, &h, &source)] {
        let b = p.blocked.unwrap_or_default();
        assert!(b.starts_with("git is not installed and nothing in this plan installs it"), "{b}");
        assert!(b.ends_with("needed to clone fastflowlm"), "{b}");
    }
}

#[test]
fn only_the_sources_of_the_selected_builds() {
    let s = Scratch::running(&[]);
    // FastFlowLM is missing: `--only xrt` brings sources in but clones nothing for it; the
    // whole install and `--only sources` clone it.
    let h = Host::halo().no_flm();
    let planned = vec!["git".to_string()];
    let clones = |only: &[&str]| {
        let args = InstallArgs {
            only: only.iter().map(|s| s.to_string()).collect(),
            from: crate::knowledge::routes::FromMode::Source,
            ..Default::default()
        };
        let cx = StepCtx::new(&s.root, &s.runner, &h, recipes(), &args).preview(&planned);
        runs(&Sources.plan(&cx).unwrap()).len()
    };
    assert_eq!(clones(&["xrt"]), 0);
    assert_eq!(clones(&["flm"]), 1);
    assert_eq!(clones(&["sources"]), 1);
    assert_eq!(clones(&[]), 1);
}

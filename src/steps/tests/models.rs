//! `models`: the branches that plan without asking `flm` (the `flm list` query itself is
//! exercised by the CLI install tests).

use super::*;
use crate::steps::models::Models;

#[test]
fn waits_for_flm_and_for_the_installed_system() {
    let p = Scratch::running(&[]).plan(&Models, &Host::halo().no_flm());
    assert!(p.is_empty() && noted(&p, "flm not installed yet"), "{p:#?}");
    let p = Scratch::offline(&[]).plan(&Models, &Host::halo());
    assert!(
        p.is_empty() && noted(&p, "offline root: models are pulled when install runs on the installed system"),
        "{p:#?}"
    );
    let tags = InstallArgs { model: vec!["qwen3:4b".into(), "whisper-v3:turbo".into()], ..Default::default() };
    let p = Scratch::offline(&[]).plan_with(&Models, &Host::halo(), &tags);
    assert!(noted(&p, "(qwen3:4b, whisper-v3:turbo)"), "--model replaces the recipe's list: {:?}", p.notes);
}

#[test]
fn says_so_when_flm_cannot_be_asked() {
    // No flm under the scratch root: the query fails, and nothing is pulled blindly.
    let p = Scratch::running(&[]).plan(&Models, &Host::halo());
    assert!(p.is_empty() && noted(&p, "cannot list the installed FLM models"), "{p:#?}");
}

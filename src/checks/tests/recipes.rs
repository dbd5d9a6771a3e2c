//! `host.recipes`: every status, for each copy of the recipes, on a given day.

use super::*;
use crate::recipes::meta::Date;
use crate::recipes::{Recipes, RecipesCopy};

/// Runs `host.recipes` with `r` on `today`.
fn judge(r: &Recipes, today: Option<&str>) -> CheckResult {
    let opts = CheckOptions { today: today.map(|d| Date::parse(d).unwrap()), ..Default::default() };
    run_checks(&Host::halo(), r, &opts, &["host.recipes".into()], &[])
        .into_iter()
        .find(|c| c.id == "host.recipes")
        .unwrap()
}

/// The built-in recipes, dated `as_of`.
fn dated(as_of: &str, copy: RecipesCopy, origin: &str) -> Recipes {
    let mut r = recipes().clone();
    r.meta.as_of = Date::parse(as_of).unwrap();
    r.copy = copy;
    r.origin = origin.into();
    r
}

#[test]
fn fresh_recipes_pass_naming_the_copy_version_and_date() {
    let r = dated("2026-12-06", RecipesCopy::BuiltIn, "embedded");
    let c = judge(&r, Some("2027-04-05"));
    assert_eq!(c.status, Pass, "{}", c.summary);
    assert!(
        c.summary.starts_with(&format!("built-in recipes {}, facts as of 2026-12-06 (120 days old)", r.meta.version))
    );
    assert_eq!(c.evidence["copy"], "built-in");
    assert_eq!(c.evidence["age_days"], 120);
    let s = dated("2026-12-06", RecipesCopy::Stored, "/var/lib/npu-setup/recipes/npu-setup-recipes-2026.12.06.tar.gz");
    let c = judge(&s, Some("2026-12-07"));
    assert_eq!(c.status, Pass);
    assert!(c.summary.starts_with("stored recipes bundle"), "{}", c.summary);
}

#[test]
fn stale_recipes_warn_with_the_date_and_the_update_command() {
    let c = judge(&dated("2026-12-06", RecipesCopy::BuiltIn, "embedded"), Some("2027-04-06"));
    assert_eq!(c.status, Warn);
    assert!(c.summary.contains("121 days old (facts as of 2026-12-06; older than 120 days)"), "{}", c.summary);
    assert!(remedy(&c).contains("sudo npu-setup recipes update"), "{}", remedy(&c));
    assert_eq!(step(&c), None);
    // A stale --data-dir is the developer's to update: no download is offered.
    let c = judge(&dated("2025-01-01", RecipesCopy::DataDir, "/src/npu-setup"), Some("2027-04-06"));
    assert_eq!(c.status, Warn);
    assert!(c.summary.starts_with("recipes from --data-dir /src/npu-setup"), "{}", c.summary);
    assert!(c.remedy.as_ref().unwrap().commands.is_empty() && remedy(&c).contains("drop --data-dir"));
}

#[test]
fn a_clock_behind_the_recipes_passes_with_a_note() {
    let c = judge(&dated("2026-12-06", RecipesCopy::BuiltIn, "embedded"), Some("2026-11-30"));
    assert_eq!(c.status, Pass);
    assert!(c.summary.contains("6 days after this host's date (is the clock right?)"), "{}", c.summary);
}

#[test]
fn without_a_clock_nothing_is_judged() {
    let c = judge(recipes(), None);
    assert_eq!(c.status, Skip);
    assert!(c.summary.starts_with("built-in recipes: age not judged"), "{}", c.summary);
    assert!(c.evidence.is_empty(), "the skip carries no evidence that changes with each recipes bump");
}

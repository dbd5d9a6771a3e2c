//! `build-deps`: the packages the source builds need, from the distro recipe, installed with
//! the distro's package manager after a metadata refresh — only the missing ones, and only
//! when the strategy compiles something (a source build, or a DKMS module install for the
//! target kernel).

use anyhow::Result;

use super::{Plan, Step, StepCtx};

/// The build-deps step.
pub struct BuildDeps;

impl Step for BuildDeps {
    fn id(&self) -> &'static str {
        "build-deps"
    }
    fn summary(&self) -> &'static str {
        "build dependencies for the source builds (dnf/apt/pacman)"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let strategy = cx.strategy();
        if !strategy.compiles() {
            return Ok(p);
        }
        let mut needed: Vec<String> = strategy.builds.clone();
        if needed.is_empty() {
            needed.push("the DKMS module".into());
        }
        let Some(d) = cx.distro() else {
            p.blocked = Some("no distro recipe: build dependencies unknown".into());
            return Ok(p);
        };
        let Some(pk) = cx.facts.packages.ok() else {
            p.blocked = Some(format!("cannot query installed packages: {}", cx.facts.packages.reason().unwrap_or("")));
            return Ok(p);
        };
        let missing: Vec<String> = d.build_deps.iter().filter(|n| pk.version(n).is_none()).cloned().collect();
        if missing.is_empty() {
            return Ok(p);
        }
        let why = format!("build dependencies ({} missing) for {}", missing.len(), needed.join(", "));
        if let Err(e) = cx.install_packages(&mut p, &missing, why) {
            p.blocked = Some(e);
        }
        Ok(p)
    }
}

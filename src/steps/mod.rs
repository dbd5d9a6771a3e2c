//! Install steps: idempotent units that `plan` concrete actions from Facts + recipes, are
//! applied by the engine, and are verified by planning again (ARCHITECTURE.md §Steps).
//!
//! The acceptance test of every step: apply, plan again, get nothing.

pub mod access;
pub mod action;
pub mod build;
pub mod build_deps;
pub mod dkms;
pub mod kargs;
pub mod lemonade;
pub mod lemonade_service;
pub mod lifecycle;
pub mod limits;
pub mod loader;
pub mod models;
pub mod options;
pub mod preflight;
pub mod sources;
#[cfg(test)]
mod tests;
pub mod undo;
pub mod verify;

use anyhow::Result;
use serde::Serialize;

use crate::host::Facts;
use crate::recipes::{Distro, Recipes};
use crate::root::{Root, RootMode};
use crate::runner::Runner;
pub use action::Action;
use options::InstallArgs;

/// What a step wants done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Changes, in order.
    pub actions: Vec<Action>,
    /// Things the user should know (no change implied).
    pub notes: Vec<String>,
    /// A reboot the host owes for this step's changes to take effect (not an action: it
    /// stays true until the reboot, so it must not keep the step from converging).
    pub reboot: Option<String>,
    /// The step cannot proceed; install stops before changing anything else.
    pub blocked: Option<String>,
    /// The step is not available in this version (said in the plan, never silently).
    pub unavailable: Option<String>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Everything a step reads.
pub struct StepCtx<'a> {
    /// The root being converged.
    pub root: &'a Root,
    /// Runs read-only queries while planning.
    pub runner: &'a Runner,
    /// Facts probed just before planning.
    pub facts: &'a Facts,
    /// Data.
    pub recipes: &'a Recipes,
    /// Install options.
    pub args: &'a InstallArgs,
    /// Planning ahead of any change (the printed plan): what an earlier step will produce
    /// (a clone, a build) is not there yet, so a step depending on it notes that instead of
    /// blocking.
    pub preview: bool,
}

impl StepCtx<'_> {
    /// The distro recipe.
    pub fn distro(&self) -> Option<&Distro> {
        self.facts.os.ok().and_then(|o| self.recipes.distro(&o.id, &o.id_like))
    }

    /// True when the host is not running from this root (kickstart %post --nochroot, or an
    /// image tree): services are enabled, never started.
    pub fn offline(&self) -> bool {
        self.root.mode() == RootMode::Offline
    }

    /// Offline and not `/` itself: commands must be pointed at the tree (`--installroot`,
    /// `--root`). Inside a chroot (`/` offline) they run natively.
    pub fn foreign_root(&self) -> bool {
        self.offline() && !self.root.is_chroot()
    }

    /// `systemctl ARGS…`, pointed at the tree with `--root` when it is not running (enable
    /// is a symlink there; nothing is started).
    pub fn systemctl(&self, args: &[&str]) -> Vec<String> {
        let mut a = vec!["systemctl".to_string()];
        if self.offline() {
            a.push(format!("--root={}", self.root.path().display()));
        }
        a.extend(args.iter().map(|s| s.to_string()));
        a
    }

    /// The driver path and builds for this host (knowledge/strategy.rs), with what only the
    /// tree can tell: whether the plugin package's DKMS payload is on disk.
    pub fn strategy(&self) -> crate::knowledge::strategy::Strategy {
        let payload = format!("{}/dkms.conf", self.recipes.sources.dkms.payload_dir);
        let inputs = crate::knowledge::strategy::Inputs {
            forced_driver: self.args.driver.as_deref(),
            dkms_payload: self.root.exists(&payload),
        };
        crate::knowledge::strategy::choose(self.facts, self.recipes, &inputs)
    }

    /// The user install configures access for: `--user`, else the doctor's choice.
    pub fn user(&self) -> Option<String> {
        self.args.user.clone().or_else(|| self.facts.users.ok().map(|u| u.name.clone())).filter(|u| u != "root")
    }
}

/// An install step.
pub trait Step: Sync {
    /// Stable id (ARCHITECTURE.md §Steps).
    fn id(&self) -> &'static str;
    /// One line: what the step converges.
    fn summary(&self) -> &'static str;
    /// The actions that would converge the host now (empty when converged).
    fn plan(&self, cx: &StepCtx) -> Result<Plan>;
}

/// Every step, in install order (ARCHITECTURE.md §Steps).
pub fn all() -> Vec<Box<dyn Step>> {
    vec![
        Box::new(preflight::Preflight),
        Box::new(kargs::Kargs),
        Box::new(build_deps::BuildDeps),
        Box::new(sources::Sources),
        Box::new(build::BuildStep { id: "xrt" }),
        Box::new(build::BuildStep { id: "driver" }),
        Box::new(build::BuildStep { id: "flm" }),
        Box::new(loader::Loader),
        Box::new(limits::Limits),
        Box::new(access::Access),
        Box::new(lemonade::Lemonade),
        Box::new(lemonade_service::LemonadeService),
        Box::new(models::Models),
        Box::new(lifecycle::Lifecycle),
        Box::new(verify::Verify),
    ]
}

/// Step ids in order.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|s| s.id()).collect()
}

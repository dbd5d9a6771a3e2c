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
pub mod packages;
pub mod preflight;
pub mod repos;
pub mod sources;
#[cfg(test)]
mod tests;
pub mod undo;
pub mod verify;

use anyhow::{Context, Result};
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
    /// Packages this plan installs, so later steps planned in the same preview count on
    /// them (e.g. `git` from build-deps before sources needs it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub installs: Vec<String>,
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
    /// (a clone, a build) is not there yet, so a step depending on it plans what it will do
    /// once it is there instead of blocking.
    pub preview: bool,
    /// In a preview: the packages earlier steps of the same plan install ([`Plan::installs`]).
    pub planned: &'a [String],
}

impl<'a> StepCtx<'a> {
    /// The context for planning against the host as it is now (not a preview).
    pub fn new(
        root: &'a Root,
        runner: &'a Runner,
        facts: &'a Facts,
        recipes: &'a Recipes,
        args: &'a InstallArgs,
    ) -> Self {
        StepCtx { root, runner, facts, recipes, args, preview: false, planned: &[] }
    }

    /// The same context for the printed plan, ahead of any change: `planned` are the packages
    /// earlier steps of that plan install.
    pub fn preview(self, planned: &'a [String]) -> Self {
        StepCtx { preview: true, planned, ..self }
    }

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
            from: self.args.from,
        };
        crate::knowledge::strategy::choose(self.facts, self.recipes, &inputs)
    }

    /// An image-based system (rpm-ostree / bootc, `/run/ostree-booted`): `/usr` is read-only,
    /// packages are layered into a new deployment and kernel arguments go through rpm-ostree.
    pub fn ostree(&self) -> bool {
        self.facts.boot.ok().is_some_and(|b| b.ostree)
    }

    /// A package is installed, or an earlier step of this preview installs it.
    pub fn has_package(&self, name: &str) -> bool {
        self.planned.iter().any(|p| p == name) || self.facts.packages.ok().is_some_and(|pk| pk.version(name).is_some())
    }

    /// The options that point `manager` at the root being converged, to go right after the
    /// command's name; none on the running system. `dnf --installroot` with the tree's
    /// release (`--releasever`: dnf would otherwise take this machine's), `pacman --sysroot`
    /// (pacman(8): `--root` is not meant for a guest system; `--sysroot` chroots and reads the
    /// tree's pacman.conf, so file arguments are paths inside the tree). apt cannot install
    /// into a tree from outside: `Err` says to run install inside the chroot.
    pub fn root_options(&self, manager: crate::recipes::PackageManager) -> std::result::Result<Vec<String>, String> {
        if !self.foreign_root() {
            return Ok(Vec::new());
        }
        let root = self.root.path().display().to_string();
        match manager {
            crate::recipes::PackageManager::Rpm => {
                let mut o = vec![format!("--installroot={root}")];
                if let Some(v) = self.facts.os.ok().and_then(|o| o.version_id.clone()) {
                    o.push(format!("--releasever={v}"));
                }
                Ok(o)
            }
            crate::recipes::PackageManager::Pacman => Ok(vec!["--sysroot".into(), root]),
            crate::recipes::PackageManager::Dpkg => Err(
                "apt cannot install into an offline root from outside: run `npu-setup install` inside the chroot (apt-get runs there natively)"
                    .into(),
            ),
        }
    }

    /// The distro's package-manager command `base` (its `install` or `refresh` argv from the
    /// recipe) with [`StepCtx::root_options`] after the command's name. `Err` says why it
    /// cannot run against this root.
    pub fn package_command(&self, d: &Distro, base: &[String]) -> std::result::Result<Vec<String>, String> {
        let mut argv = base.to_vec();
        if !argv.is_empty() {
            argv.splice(1..1, self.root_options(d.package_manager)?);
        }
        Ok(argv)
    }

    /// Installs `packages` from the distro's repositories: the metadata refresh first
    /// (`commands.refresh`: apt-get update, dnf makecache, pacman -Sy), then the install —
    /// both shown in the plan. Records them in [`Plan::installs`].
    pub fn install_packages(&self, p: &mut Plan, packages: &[String], why: String) -> std::result::Result<(), String> {
        let Some(d) = self.distro() else { return Err("no distro recipe: cannot install packages".into()) };

        if !d.commands.refresh.is_empty() {
            p.actions.push(Action::Run {
                argv: self.package_command(d, &d.commands.refresh)?,
                why: "refresh the package metadata before installing".into(),
            });
        }
        let mut argv = self.package_command(d, &d.commands.install)?;
        argv.extend(packages.iter().cloned());
        p.actions.push(Action::Run { argv, why });
        p.installs.extend(packages.iter().cloned());
        Ok(())
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
        Box::new(repos::Repos),
        Box::new(packages::Packages),
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

/// A step's plan as install carries it out: the step's own plan, then what an image-based
/// system keeps it from doing ([`on_image_based`]). Install's preview, each step's plan and
/// every re-plan go through here, so none of them can skip the image-based judgement.
pub fn plan_for_install(s: &dyn Step, cx: &StepCtx) -> Result<Plan> {
    Ok(on_image_based(cx, s.plan(cx).with_context(|| format!("planning step {}", s.id()))?))
}

/// A step's plan on an image-based system (rpm-ostree / bootc): `/usr` is the read-only image,
/// so what installs into it — `dnf`/`rpm` installs, source builds (they end in one), DKMS,
/// initramfs rebuilds — is not done; the step says so with the exact commands instead
/// (`unavailable`: the other steps, the kernel arguments among them, still run). Layered
/// packages arrive with a new deployment, after a reboot, so a step that needs them cannot run
/// in the same install
/// (<https://coreos.github.io/rpm-ostree/administrator-handbook/#hybrid-imagepackaging-via-package-layering>).
pub fn on_image_based(cx: &StepCtx, plan: Plan) -> Plan {
    if !cx.ostree() || plan.blocked.is_some() {
        return plan;
    }
    let mut packages: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    let mut fetch: Vec<String> = Vec::new();
    for a in &plan.actions {
        match a {
            Action::Run { argv, .. } if matches!(argv[0].as_str(), "dnf" | "rpm") => {
                // `dnf install -y A B`, `dnf --installroot=R install -y A` (none without install).
                let after = argv.iter().skip_while(|x| *x != "install").skip(1);
                packages.extend(after.filter(|x| !x.starts_with('-')).cloned());
            }
            Action::Run { argv, .. } if matches!(argv[0].as_str(), "dkms" | "dracut") => other.push(argv.join(" ")),
            Action::Build { .. } => other.push("a source build (its packages install with dnf)".into()),
            Action::Download { url, path, .. } => {
                fetch.push(format!("`curl -fLo /{} {url}`", path.trim_start_matches('/')))
            }
            _ => {}
        }
    }
    if packages.is_empty() && other.is_empty() {
        return plan;
    }
    let mut why = "not on an image-based (rpm-ostree) system, whose /usr is read-only".to_string();
    if !other.is_empty() {
        why.push_str(&format!(": this step would run {}", other.join("; ")));
    }
    if !packages.is_empty() {
        let first = if fetch.is_empty() { String::new() } else { format!("{}, ", fetch.join(", ")) };
        why.push_str(&format!(
            "; layer the packages instead: {first}`sudo rpm-ostree install --idempotent {}`, `sudo systemctl reboot`, then run npu-setup install again",
            packages.join(" ")
        ));
    }
    Plan { unavailable: Some(why), notes: plan.notes, ..Default::default() }
}

/// The steps a step cannot do its work without (direct ones; `--only X` brings in the
/// closure, [`with_prerequisites`]). Every step but `verify` needs `preflight` (root, distro
/// recipe, NPU, kernel); the builds need their build dependencies and sources; the xdna
/// plugin and FastFlowLM build against an installed XRT; models are pulled with flm. A
/// prerequisite already in place plans nothing. Not prerequisites: what only upgrades an
/// installed component (the service step configures whichever Lemonade is installed).
pub fn prerequisites(id: &str) -> &'static [&'static str] {
    match id {
        "preflight" | "verify" => &[],
        "sources" => &["preflight", "build-deps"],
        "xrt" => &["preflight", "build-deps", "sources"],
        "driver" | "flm" => &["preflight", "build-deps", "sources", "xrt"],
        "models" => &["preflight", "flm"],
        _ => &["preflight"],
    }
}

/// `ids` and everything they need, in install order, with the ids that were brought in.
pub fn with_prerequisites(ids: &[String]) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut i = 0;
    while i < want.len() {
        for p in prerequisites(want[i]) {
            if !want.contains(p) {
                want.push(p);
            }
        }
        i += 1;
    }
    let ordered: Vec<&'static str> = self::ids().into_iter().filter(|s| want.contains(s)).collect();
    let added = ordered.iter().copied().filter(|s| !ids.iter().any(|i| i == s)).collect();
    (ordered, added)
}

//! The kernel driver layer, judged once: does every kernel of interest have an amdxdna module,
//! is the loaded module the one on disk (a DKMS module the kernel refused leaves the in-tree
//! driver running), did the kernel log report a module problem, and — combined with the
//! firmware verdicts — is the driver layer working. `driver.module`, the install strategy and
//! `build-deps` ask these.

use super::analysis::{Analysis, FlavourInfo, LogMatch};
use super::firmware;
use crate::host::Facts;
use crate::recipes::Recipes;

/// The amdxdna module of the kernels of interest (running and next boot).
#[derive(Debug, Clone, PartialEq)]
pub enum Module {
    /// The kernel facts could not be read (the probe's reason is reported by the check).
    NotProbed,
    /// No running or installed kernel was found.
    NoKernel,
    /// These kernels have no amdxdna module at all.
    Missing(Vec<String>),
    /// The running kernel refused the module file it would load (the kernel log has the
    /// loader's line); another file (usually the in-tree driver) runs instead.
    Refused {
        /// The module that runs.
        loaded: FlavourInfo,
        /// The file the kernel refused.
        installed: FlavourInfo,
        /// The loader's line.
        reason: LogMatch,
    },
    /// The running kernel's module on disk is not the loaded one, and the log does not say
    /// why (installed after boot and not reloaded, or the loader line is gone).
    NotLoaded {
        /// The module that runs.
        loaded: FlavourInfo,
        /// The file the next load would use.
        installed: FlavourInfo,
    },
    /// Every kernel has one, but the kernel log reports a module failure.
    LogFailure(LogMatch),
    /// Every kernel has one; the kernel log warns about it.
    LogWarning(LogMatch),
    /// The loaded module is an older build of its file (rebuilt on disk, not reloaded).
    Stale(String),
    /// Every kernel has one.
    Present,
}

impl Module {
    /// The `driver.module` check fails on this.
    pub fn fails(&self) -> bool {
        matches!(self, Module::Missing(_) | Module::Refused { .. } | Module::LogFailure(_))
    }
}

/// Judges the module of every kernel of interest.
pub fn module(f: &Facts, a: &Analysis) -> Module {
    let Some(k) = f.kernel.ok() else { return Module::NotProbed };
    let kernels = k.kernels_of_interest();
    if kernels.is_empty() {
        return Module::NoKernel;
    }
    let missing: Vec<String> = kernels.into_iter().filter(|rel| !a.flavours.contains_key(rel)).collect();
    if !missing.is_empty() {
        return Module::Missing(missing);
    }
    if let Some(l) = &a.loaded
        && let (Some(loaded), Some(installed)) = (&l.module, &l.not_loaded)
    {
        // A refusal naming amdxdna beats one the log shows only near amdxdna's lines.
        let refusals = a.loader_refusals();
        let reason = refusals.iter().find(|m| m.line.contains("amdxdna")).or(refusals.first());
        return match reason {
            Some(m) => Module::Refused { loaded: loaded.clone(), installed: installed.clone(), reason: (*m).clone() },
            None => Module::NotLoaded { loaded: loaded.clone(), installed: installed.clone() },
        };
    }
    if let Some(m) = a.log_for("driver.module", &["fail"]).first() {
        return Module::LogFailure((*m).clone());
    }
    if let Some(m) = a.log_for("driver.module", &["warn"]).first() {
        return Module::LogWarning((*m).clone());
    }
    if let Some(s) = a.loaded.as_ref().and_then(|l| l.stale.clone()) {
        return Module::Stale(s);
    }
    Module::Present
}

/// The driver layer needs work: a module is missing or failing, or the firmware is missing or
/// rejected (what `driver.module`, `firmware.files` and `firmware.compat` fail on).
pub fn layer_broken(f: &Facts, r: &Recipes, a: &Analysis) -> bool {
    module(f, a).fails() || firmware::files(a).fails() || firmware::compat(f, r, a).fails()
}

//! The kernel driver layer, judged once: does every kernel of interest have an amdxdna module,
//! did the kernel log report a module problem, and — combined with the firmware verdicts — is
//! the driver layer working. `driver.module`, the install strategy and `build-deps` ask these.

use super::analysis::{Analysis, LogMatch};
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
    /// Every kernel has one, but the kernel log reports a module failure.
    LogFailure(LogMatch),
    /// Every kernel has one; the kernel log warns about it.
    LogWarning(LogMatch),
    /// Every kernel has one.
    Present,
}

impl Module {
    /// The `driver.module` check fails on this.
    pub fn fails(&self) -> bool {
        matches!(self, Module::Missing(_) | Module::LogFailure(_))
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
    if let Some(m) = a.log_for("driver.module", &["fail"]).first() {
        return Module::LogFailure((*m).clone());
    }
    if let Some(m) = a.log_for("driver.module", &["warn"]).first() {
        return Module::LogWarning((*m).clone());
    }
    Module::Present
}

/// The driver layer needs work: a module is missing or failing, or the firmware is missing or
/// rejected (what `driver.module`, `firmware.files` and `firmware.compat` fail on).
pub fn layer_broken(f: &Facts, r: &Recipes, a: &Analysis) -> bool {
    module(f, a).fails() || firmware::files(a).fails() || firmware::compat(f, r, a).fails()
}

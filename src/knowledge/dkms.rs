//! DKMS facts about the out-of-tree amdxdna flavours.

use crate::host::Facts;
use crate::parse::dkms::DkmsEntry;
use crate::recipes::{FlavourId, Recipes};

/// The DKMS state of the amdxdna module for one kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum ForKernel<'a> {
    /// Built and installed (`installed`, or `installed-weak`: a compatible build linked in).
    Installed(&'a DkmsEntry),
    /// Registered for the kernel but not installed (`built`, `added`…): the build or the
    /// install failed.
    NotInstalled(&'a DkmsEntry),
    /// The module is registered with DKMS, with no build for this kernel.
    NoBuild {
        /// The registered module.
        module: &'a DkmsEntry,
        /// The kernel's headers are installed (without them DKMS cannot build).
        headers: bool,
    },
    /// No amdxdna module is registered with DKMS.
    NotRegistered,
}

/// The amdxdna DKMS entries (either out-of-tree flavour's module name, recipes/drivers.yaml
/// `dkms_modules`) that `dkms status` listed.
pub fn entries<'a>(f: &'a Facts, r: &Recipes) -> Vec<&'a DkmsEntry> {
    f.dkms
        .ok()
        .map(|d| d.entries.iter().filter(|e| r.dkms_flavour(&e.module, &e.version).is_some()).collect())
        .unwrap_or_default()
}

/// The backport DKMS module is registered (recipes/drivers.yaml `dkms_modules`).
pub fn backport_registered(f: &Facts, r: &Recipes) -> bool {
    entries(f, r).iter().any(|e| r.dkms_flavour(&e.module, &e.version) == Some(FlavourId::BackportDkms))
}

/// Judges the DKMS module for `kernel`.
pub fn for_kernel<'a>(f: &'a Facts, r: &Recipes, kernel: &str) -> ForKernel<'a> {
    let all = entries(f, r);
    let mine: Vec<&DkmsEntry> = all.iter().copied().filter(|e| e.kernel.as_deref() == Some(kernel)).collect();
    if let Some(e) = mine.iter().find(|e| e.state == "installed" || e.state == "installed-weak") {
        return ForKernel::Installed(e);
    }
    if let Some(e) = mine.first() {
        return ForKernel::NotInstalled(e);
    }
    match all.first() {
        Some(module) => {
            let headers = f.kernel.ok().and_then(|k| k.installed(kernel)).is_some_and(|i| i.headers);
            ForKernel::NoBuild { module, headers }
        }
        None => ForKernel::NotRegistered,
    }
}

//! DKMS facts about the out-of-tree amdxdna flavours.

/// DKMS module names of the two out-of-tree flavours: `xrt-amdxdna` (xdna-driver
/// dkms_driver.sh PACKAGE_NAME) and `amdxdna` (superm1/amdxdna-dkms backport).
pub const DKMS_NAMES: &[&str] = &["xrt-amdxdna", "amdxdna"];

use crate::host::Facts;
use crate::parse::dkms::DkmsEntry;

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

/// The amdxdna DKMS entries (either flavour's name) `dkms status` listed.
pub fn entries(f: &Facts) -> Vec<&DkmsEntry> {
    f.dkms
        .ok()
        .map(|d| d.entries.iter().filter(|e| DKMS_NAMES.contains(&e.module.as_str())).collect())
        .unwrap_or_default()
}

/// Judges the DKMS module for `kernel`.
pub fn for_kernel<'a>(f: &'a Facts, kernel: &str) -> ForKernel<'a> {
    let all = entries(f);
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

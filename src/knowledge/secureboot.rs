//! Secure Boot, judged once: will the kernel load this amdxdna module under the firmware's
//! Secure Boot state. `secureboot.signing` (running, else next-boot kernel) and per-kernel
//! readiness (`check --kernel`, the kernel hook) render this one verdict.
//!
//! Facts: with Secure Boot on, the kernel only loads modules signed by a key in its keyrings
//! (built-in or enrolled MOKs); DKMS signs with /var/lib/dkms/mok.key
//! (<https://github.com/dkms-project/dkms#secure-boot>).

use super::analysis::FlavourInfo;
use crate::host::Facts;
use crate::host::commands::SecureBootFacts;
use crate::parse::mokutil::normalize_hex;

/// The module's signing key is among the enrolled MOKs: by subject key id (modinfo `sig_key`
/// vs mokutil's X509v3 Subject Key Identifier), else by the signer's name in a subject.
pub fn key_enrolled(sb: &SecureBootFacts, signer: &str, sig_key: Option<&str>) -> bool {
    let key = sig_key.and_then(normalize_hex);
    key.as_ref()
        .is_some_and(|k| sb.enrolled.iter().any(|e| e.skid.as_deref().and_then(normalize_hex).as_ref() == Some(k)))
        || sb.enrolled.iter().any(|e| e.subject.as_deref().is_some_and(|s| s.contains(signer)))
}

/// Whether Secure Boot lets the module load.
#[derive(Debug, Clone, PartialEq)]
pub enum Signing {
    /// The Secure Boot probe did not run (offline root, no EFI); the probe says why.
    NotProbed,
    /// Secure Boot is off: no signature is checked.
    Off,
    /// The probe ran but could not tell the state (its source says why).
    StateUnknown(String),
    /// No module to judge.
    NoModule,
    /// The in-tree module, signed with the distro kernel's key.
    InTree,
    /// `modinfo` for that kernel is unavailable: the signature cannot be read.
    NoModinfo,
    /// Secure Boot on and the module carries no signature.
    Unsigned,
    /// Signed; the enrolled keys could not be listed.
    EnrolmentUnknown {
        /// Signer name.
        signer: String,
        /// Why the keys are unknown.
        error: String,
    },
    /// Signed by a key that is not enrolled (or the kernel log shows a rejection).
    NotEnrolled {
        /// Signer name.
        signer: String,
    },
    /// Signed by an enrolled key.
    Enrolled {
        /// Signer name.
        signer: String,
    },
}

impl Signing {
    /// The kernel will refuse the module.
    pub fn fails(&self) -> bool {
        matches!(self, Signing::Unsigned | Signing::NotEnrolled { .. })
    }
}

/// Judges the module `fl` (of kernel `fl.kernel`); `rejected_in_log` is true when the kernel
/// log of this boot shows a signature rejection for it.
pub fn signing(f: &Facts, fl: Option<&FlavourInfo>, rejected_in_log: bool) -> Signing {
    let Some(sb) = f.secureboot.ok() else { return Signing::NotProbed };
    match sb.enabled {
        Some(false) => return Signing::Off,
        None => return Signing::StateUnknown(sb.source.clone()),
        Some(true) => {}
    }
    let Some(fl) = fl else { return Signing::NoModule };
    if fl.id == crate::recipes::FlavourId::InTree {
        return Signing::InTree;
    }
    let Some(m) = f.modinfo.ok().and_then(|m| m.kernels.get(&fl.kernel)).and_then(|m| m.as_ref()) else {
        return Signing::NoModinfo;
    };
    let Some(signer) = m.signer.clone() else { return Signing::Unsigned };
    if sb.enrolled.is_empty()
        && let Some(error) = sb.enrolled_error.clone()
    {
        return Signing::EnrolmentUnknown { signer, error };
    }
    if !key_enrolled(sb, &signer, m.sig_key.as_deref()) || rejected_in_log {
        return Signing::NotEnrolled { signer };
    }
    Signing::Enrolled { signer }
}

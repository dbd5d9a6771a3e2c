//! Secure Boot: whether a module's signing key is enrolled.

use crate::parse::mokutil::normalize_hex;

/// The module's signing key is among the enrolled MOKs: by subject key id (modinfo `sig_key`
/// vs mokutil's X509v3 Subject Key Identifier), else by the signer's name in a subject.
pub fn key_enrolled(sb: &crate::host::commands::SecureBootFacts, signer: &str, sig_key: Option<&str>) -> bool {
    let key = sig_key.and_then(normalize_hex);
    key.as_ref()
        .is_some_and(|k| sb.enrolled.iter().any(|e| e.skid.as_deref().and_then(normalize_hex).as_ref() == Some(k)))
        || sb.enrolled.iter().any(|e| e.subject.as_deref().is_some_and(|s| s.contains(signer)))
}

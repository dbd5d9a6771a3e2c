//! Kernel-argument policy (`grub/policy.yaml`): the one interpreter the `boot.*` checks, the
//! `kargs` step and per-kernel readiness share.

use crate::parse::cmdline::parse_cmdline;
use crate::parse::version::KernelRelease;
use crate::recipes::{KargRule, kernel_in_range};

/// A policy rule that matched a command line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Violation {
    /// The argument as written.
    pub arg: String,
    /// `fail` or `warn`.
    pub status: String,
    /// `remove` or `keep`.
    pub action: String,
    /// Summary.
    pub summary: String,
    /// Why, with source.
    pub why: String,
}

/// Matches the policy against one command line (the last occurrence of a key wins; AMD
/// IOMMU options are comma-separated, drivers/iommu/amd/init.c parse_amd_iommu_options).
pub fn evaluate(cmdline: &str, kernel: Option<&KernelRelease>, rules: &[KargRule]) -> Vec<Violation> {
    let cl = parse_cmdline(cmdline);
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for rule in rules {
        if let Some(k) = kernel
            && !kernel_in_range(k, rule.kernel_min.as_deref(), rule.kernel_max.as_deref())
        {
            continue;
        }
        if kernel.is_none() && rule.kernel_min.is_some() {
            continue;
        }
        let Some(arg) = cl.last(&rule.key) else { continue };
        let hit = arg.value.as_deref().is_some_and(|v| v.split(',').any(|item| item.eq_ignore_ascii_case(&rule.value)));
        let id = format!("{}={}", rule.key, rule.value);
        if hit && !seen.contains(&id) {
            seen.push(id);
            out.push(Violation {
                arg: arg.to_string(),
                status: rule.status.clone(),
                action: rule.action.clone(),
                summary: rule.summary.clone(),
                why: format!("{} ({})", rule.why, rule.source),
            });
        }
    }
    out
}

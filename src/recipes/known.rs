//! The known-issues catalog (`recipes/known-issues.yaml`): upstream bugs of a component
//! version range (FastFlowLM, Lemonade, XRT, kernel, NPU firmware) on an NPU generation or
//! revision, each with its thread, the lines it shows, the workaround and how long it holds.
//! Matched against the facts by `knowledge::known_issues` and reported in the check it names.

use serde::{Deserialize, Serialize};

use super::{Severity, Unverified};
use crate::parse::version::{parse_dotted, parse_kernel_release};

/// A version range: `from` (inclusive) up to `below` (exclusive); either may be open.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// First version inside.
    #[serde(default)]
    pub from: Option<String>,
    /// First version past it.
    #[serde(default)]
    pub below: Option<String>,
}

/// Parses a bound or a fact's version into its compared form.
pub type VersionParser = fn(&str) -> Option<[u32; 4]>;

/// A version as compared: four components, missing ones zero (`0.9.45` = `0.9.45.0`).
pub fn padded(s: &str) -> Option<[u32; 4]> {
    let d = parse_dotted(s)?;
    let mut out = [0u32; 4];
    for (o, v) in out.iter_mut().zip(d.0.iter()) {
        *o = *v;
    }
    Some(out)
}

/// A kernel release as compared (`6.17.0-1020-oem` -> `6.17.0.0`).
pub fn kernel_padded(s: &str) -> Option<[u32; 4]> {
    let k = parse_kernel_release(s)?;
    Some([k.major, k.minor, k.patch, 0])
}

impl Range {
    /// `v` lies inside (an unparsable bound never matches).
    pub fn covers(&self, v: [u32; 4], parse: VersionParser) -> bool {
        let lo = self.from.as_deref().map(parse);
        let hi = self.below.as_deref().map(parse);
        if matches!(lo, Some(None)) || matches!(hi, Some(None)) {
            return false;
        }
        lo.flatten().is_none_or(|l| v >= l) && hi.flatten().is_none_or(|h| v < h)
    }

    /// How it reads (`>= 0.9.45`, `>= 6.18, < 6.19`).
    pub fn describe(&self) -> String {
        match (&self.from, &self.below) {
            (Some(a), Some(b)) => format!(">= {a}, < {b}"),
            (Some(a), None) => format!(">= {a}"),
            (None, Some(b)) => format!("< {b}"),
            (None, None) => "any".into(),
        }
    }
}

/// One NPU by PCI id and revision (hex, no `0x`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NpuId {
    /// PCI device id (`17f0`).
    pub device: String,
    /// PCI revision (`20`).
    pub revision: String,
}

/// What must hold on a host for an entry to apply; every condition given must hold (a list
/// of ranges holds when any of them does).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// A FastFlowLM in use: the system `flm`, or the one Lemonade runs.
    #[serde(default)]
    pub flm: Option<Vec<Range>>,
    /// The installed Lemonade release.
    #[serde(default)]
    pub lemonade: Option<Vec<Range>>,
    /// The installed XRT (package version).
    #[serde(default)]
    pub xrt: Option<Vec<Range>>,
    /// The running kernel (major.minor.patch).
    #[serde(default)]
    pub kernel: Option<Vec<Range>>,
    /// The running kernel's release string matches this regex (a distro build number).
    #[serde(default)]
    pub kernel_release: Option<String>,
    /// The firmware the NPU runs.
    #[serde(default)]
    pub firmware: Option<Vec<Range>>,
    /// The NPU is one of these.
    #[serde(default)]
    pub npu: Option<Vec<NpuId>>,
    /// The NPU's generation (`npu4`, `npu5`, `npu6`) is one of these.
    #[serde(default)]
    pub generation: Option<Vec<String>>,
    /// The running kernel's command line has one of these arguments (`iommu=pt`).
    #[serde(default)]
    pub cmdline: Option<Vec<String>>,
    /// A kept kernel-log line (or crash-report line) matches this regex.
    #[serde(default)]
    pub log: Option<String>,
}

/// One known upstream issue.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KnownIssue {
    /// Stable id.
    pub id: String,
    /// One line: what goes wrong.
    pub title: String,
    /// The check of the affected layer, which reports it.
    pub check: String,
    /// `fail` or `warn`: what the check says on a host that matches (a worse status stays).
    pub severity: Severity,
    /// When it applies.
    #[serde(default)]
    pub when: Conditions,
    /// The lines it shows, as reported in its threads.
    pub symptoms: Vec<String>,
    /// Why, as established upstream.
    pub cause: String,
    /// What to do until it is fixed.
    pub workaround: String,
    /// Where it is fixed, when known.
    #[serde(default)]
    pub fixed_in: Option<String>,
    /// The install step that applies the workaround.
    #[serde(default)]
    pub step: Option<String>,
    /// The workaround needs a reboot.
    #[serde(default)]
    pub reboot: bool,
    /// Its threads (issue, PR, file at a commit).
    pub sources: Vec<String>,
    /// Facts of the entry not confirmed upstream.
    #[serde(default)]
    pub unverified: Unverified,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KnownIssuesFile {
    pub(super) issues: Vec<KnownIssue>,
}

/// What is wrong with an entry (a message per problem, with the text to point at), beyond
/// its syntax: unknown ids, bad patterns, unparsable bounds, missing sources.
pub(super) fn problems(issues: &[KnownIssue], checks: &[&str], steps: &[&str]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut push = |id: &str, needle: String, msg: String| out.push((format!("id: {id}"), needle, msg));
    let mut seen = std::collections::BTreeSet::new();
    for k in issues {
        if !seen.insert(k.id.as_str()) {
            push(&k.id, format!("id: {}", k.id), format!("known issue {:?} is listed twice", k.id));
        }
        if !checks.contains(&k.check.as_str()) {
            push(
                &k.id,
                format!("check: {}", k.check),
                format!(
                    "known issue {:?} names check {:?}, which does not exist (known: {})",
                    k.id,
                    k.check,
                    checks.join(", ")
                ),
            );
        }
        if let Some(st) = &k.step
            && !steps.contains(&st.as_str())
        {
            push(
                &k.id,
                format!("step: {st}"),
                format!("known issue {:?} names step {st:?}, which does not exist", k.id),
            );
        }
        if k.severity == Severity::Info {
            push(&k.id, "severity:".into(), format!("known issue {:?}: severity is fail or warn", k.id));
        }
        if k.sources.is_empty() || k.sources.iter().any(|s| !s.starts_with("https://")) {
            push(
                &k.id,
                "sources:".into(),
                format!("known issue {:?}: every source is an https:// URL, at least one", k.id),
            );
        }
        if k.symptoms.is_empty() {
            push(&k.id, "symptoms:".into(), format!("known issue {:?} lists no symptom lines", k.id));
        }
        for (what, re) in [("log", &k.when.log), ("kernel_release", &k.when.kernel_release)] {
            if let Some(re) = re
                && let Err(e) = regex::Regex::new(re)
            {
                push(&k.id, format!("{what}:"), format!("known issue {:?}: bad {what} pattern: {e}", k.id));
            }
        }
        let ranges: [(&str, &Option<Vec<Range>>, VersionParser); 5] = [
            ("flm", &k.when.flm, padded),
            ("lemonade", &k.when.lemonade, padded),
            ("xrt", &k.when.xrt, padded),
            ("kernel", &k.when.kernel, kernel_padded),
            ("firmware", &k.when.firmware, padded),
        ];
        for (what, list, parse) in ranges {
            for r in list.iter().flatten() {
                for b in r.from.iter().chain(r.below.iter()) {
                    if parse(b).is_none() {
                        push(
                            &k.id,
                            format!("{what}:"),
                            format!("known issue {:?}: {what} bound {b:?} is not a version", k.id),
                        );
                    }
                }
            }
        }
    }
    out
}

//! Which entries of the known-issues catalog (`recipes/known-issues.yaml`) this host hits:
//! every condition an entry gives is compared with the facts (the FastFlowLM in use, the
//! Lemonade and XRT installed, the running kernel and its command line, the firmware the
//! NPU runs, the NPU's id, revision and generation, the kept kernel-log lines). The check an
//! entry names reports it.

use serde::Serialize;

use super::analysis::Analysis;
use super::lemonade::{LemonadeFlm, release};
use crate::host::Facts;
use crate::recipes::Recipes;
use crate::recipes::known::{KnownIssue, Range, VersionParser, kernel_padded, padded};

/// One catalog entry this host matches.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KnownIssueMatch {
    /// The entry.
    pub issue: KnownIssue,
    /// The facts that made it match, one phrase each (`FastFlowLM 0.9.45 (>= 0.9.45)`).
    pub matched: Vec<String>,
    /// The kernel-log line its `log:` condition matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// One versioned fact: its name, the host's versions, the entry's ranges, how to compare.
type RangedFact<'a> = (&'a str, &'a [String], &'a Option<Vec<Range>>, VersionParser);

/// The versions of FastFlowLM in use: the system `flm` and the one Lemonade runs.
fn flm_versions(f: &Facts, r: &Recipes) -> Vec<String> {
    let mut v: Vec<String> = f.flm.ok().and_then(|x| x.version.clone()).into_iter().collect();
    if let LemonadeFlm::Judged(j) = super::lemonade::flm(f, r)
        && let Some(c) = j.choice.as_ref().and_then(|c| c.version.clone())
        && !v.contains(&c)
    {
        v.push(c);
    }
    v
}

/// The first of `versions` inside any of `ranges`, described.
fn in_ranges(what: &str, versions: &[String], ranges: &[Range], parse: fn(&str) -> Option<[u32; 4]>) -> Option<String> {
    versions.iter().find_map(|v| {
        let p = parse(v)?;
        let r = ranges.iter().find(|r| r.covers(p, parse))?;
        Some(format!("{what} {v} ({})", r.describe()))
    })
}

/// The catalog entries this host matches, in catalog order.
pub fn matching(f: &Facts, r: &Recipes, a: &Analysis) -> Vec<KnownIssueMatch> {
    let flm = flm_versions(f, r);
    let lemonade: Vec<String> = release(f, r).map(|x| x.version).into_iter().collect();
    let xrt: Vec<String> = super::stack::xrt_version(f, r).into_iter().collect();
    let kernel: Vec<String> = f.kernel.ok().and_then(|k| k.running.clone()).into_iter().collect();
    let cmdline = f.kernel.ok().and_then(|k| k.cmdline.clone()).unwrap_or_default();
    let firmware: Vec<String> = a
        .npu
        .and_then(|n| n.fw_version.clone())
        .or_else(|| {
            f.flm
                .ok()
                .and_then(|x| x.validate.as_ref())
                .and_then(|v| v.devices.first())
                .and_then(|d| d.fw_version.clone())
        })
        .into_iter()
        .collect();
    let log: Vec<&String> = f.kernel_log.ok().map(|l| l.kept_lines().collect()).unwrap_or_default();
    let mut out = Vec::new();
    for k in &r.known_issues {
        let w = &k.when;
        let mut matched = Vec::new();
        let mut line = None;
        let mut ok = true;
        let ranged: [RangedFact; 5] = [
            ("FastFlowLM", &flm, &w.flm, padded),
            ("Lemonade", &lemonade, &w.lemonade, padded),
            ("XRT", &xrt, &w.xrt, padded),
            ("kernel", &kernel, &w.kernel, kernel_padded),
            ("NPU firmware", &firmware, &w.firmware, padded),
        ];
        for (what, versions, ranges, parse) in ranged {
            let Some(ranges) = ranges else { continue };
            match in_ranges(what, versions, ranges, parse) {
                Some(m) => matched.push(m),
                None => ok = false,
            }
        }
        if let Some(re) = &w.kernel_release {
            match (regex::Regex::new(re), kernel.first()) {
                (Ok(re), Some(k)) if re.is_match(k) => matched.push(format!("kernel {k}")),
                _ => ok = false,
            }
        }
        if let Some(ids) = &w.npu {
            match a.npu.filter(|n| {
                ids.iter()
                    .any(|i| i.device.eq_ignore_ascii_case(&n.device) && i.revision.eq_ignore_ascii_case(&n.revision))
            }) {
                Some(n) => matched.push(format!("NPU {}:{} rev 0x{}", n.vendor, n.device, n.revision)),
                None => ok = false,
            }
        }
        if let Some(gens) = &w.generation {
            match a.entry.filter(|e| gens.contains(&e.generation)) {
                Some(e) => matched.push(format!("{} ({})", e.generation, e.product)),
                None => ok = false,
            }
        }
        if let Some(args) = &w.cmdline {
            match args.iter().find(|arg| cmdline.split_whitespace().any(|t| t == arg.as_str())) {
                Some(arg) => matched.push(format!("kernel argument {arg}")),
                None => ok = false,
            }
        }
        if let Some(re) = &w.log {
            match regex::Regex::new(re).ok().and_then(|re| log.iter().find(|l| re.is_match(l))) {
                Some(l) => line = Some((*l).clone()),
                None => ok = false,
            }
        }
        if ok {
            out.push(KnownIssueMatch { issue: k.clone(), matched, line });
        }
    }
    out
}

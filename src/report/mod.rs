//! The doctor report: one serde value (`apiVersion: npu-setup/v1`, `kind: DoctorReport`)
//! rendered as human text, JSON or YAML (DESIGN.md "Report shape"), and its exit code.

pub mod human;
pub mod prometheus;

use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, Diagnosis, Status};
use crate::host::Facts;

/// Exit codes shared by every command (DESIGN.md).
pub mod exit {
    /// Healthy / converged.
    pub const OK: i32 = 0;
    /// Problems found, or a step failed.
    pub const PROBLEMS: i32 = 1;
    /// Could not run: usage, bad input, internal error.
    pub const CANNOT_RUN: i32 = 2;
    /// Converged, but a reboot is required.
    pub const REBOOT: i32 = 3;
}

/// Kernel versions in the host summary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KernelSummary {
    /// Running kernel.
    pub running: Option<String>,
    /// Next-boot kernel.
    pub target: Option<String>,
}

/// The NPU in the host summary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NpuSummary {
    /// PCI address.
    pub bdf: String,
    /// `1022:17f0`.
    pub pci_id: String,
    /// `0x11`.
    pub revision: String,
    /// `npu5`.
    pub generation: Option<String>,
    /// `Strix Halo`.
    pub product: Option<String>,
    /// `XDNA2`.
    pub family: Option<String>,
    /// Bound driver.
    pub driver: Option<String>,
    /// Loaded firmware.
    pub firmware: Option<String>,
}

/// What machine this is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostSummary {
    /// Distro.
    pub os: Option<String>,
    /// Kernels.
    pub kernel: KernelSummary,
    /// The NPU, if any.
    pub npu: Option<NpuSummary>,
    /// CPU model.
    pub cpu: Option<String>,
    /// `live`, `fixture` or `offline`.
    pub root_mode: String,
}

/// Status counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
    /// Could not run.
    pub error: usize,
}

/// The report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `npu-setup/v1`.
    pub api_version: String,
    /// `DoctorReport`.
    pub kind: String,
    /// Host summary.
    pub host: HostSummary,
    /// Every check in ladder order.
    pub checks: Vec<CheckResult>,
    /// Verdict.
    pub diagnosis: Diagnosis,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// Assembles the report from facts and results.
    pub fn new(f: &Facts, recipes: &crate::recipes::Recipes, checks: Vec<CheckResult>) -> Self {
        let diagnosis = crate::checks::diagnose(&checks, f);
        let mut summary = Summary::default();
        for c in &checks {
            match c.status {
                Status::Pass => summary.pass += 1,
                Status::Warn => summary.warn += 1,
                Status::Fail => summary.fail += 1,
                Status::Skip => summary.skip += 1,
                Status::Error => summary.error += 1,
            }
        }
        let npu = f.pci.ok().and_then(|p| p.npus.first()).map(|n| {
            let e = recipes.device(&n.vendor, &n.device, &n.revision);
            NpuSummary {
                bdf: n.bdf.clone(),
                pci_id: format!("{}:{}", n.vendor, n.device),
                revision: format!("0x{}", n.revision),
                generation: e.map(|e| e.generation.clone()),
                product: e.map(|e| e.product.clone()),
                family: e.map(|e| e.family.clone()),
                driver: n.driver.clone(),
                firmware: n.fw_version.clone(),
            }
        });
        let root_mode =
            serde_json::to_value(f.mode).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        Report {
            api_version: "npu-setup/v1".into(),
            kind: "DoctorReport".into(),
            host: HostSummary {
                os: f.os.ok().map(|o| o.pretty_name.clone()),
                kernel: KernelSummary {
                    running: f.kernel.ok().and_then(|k| k.running.clone()),
                    target: f.kernel.ok().and_then(|k| k.target.clone()),
                },
                npu,
                cpu: f.resources.ok().and_then(|r| r.cpu.clone()),
                root_mode,
            },
            checks,
            diagnosis,
            summary,
        }
    }

    /// Exit code: 1 when anything failed or could not be checked, or there is no NPU;
    /// warnings fail only with `strict`.
    pub fn exit_code(&self, strict: bool) -> i32 {
        let s = &self.summary;
        if s.fail > 0 || s.error > 0 || self.diagnosis.state == "no-npu" || (strict && s.warn > 0) {
            exit::PROBLEMS
        } else {
            exit::OK
        }
    }
}

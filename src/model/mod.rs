//! The output contract: the types every consumer of npu-setup's reports relies on (check
//! results, remedies, the verdict, the doctor report and the exit codes). Pure data; the
//! renderers in `report` and the producers in `checks` both depend on this module.

pub mod bench;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people
    Human,
    /// The report as JSON (stable schema npu-setup/v1)
    Json,
    /// The report as YAML
    Yaml,
    /// node_exporter textfile metrics (doctor; bench's last decode speed included)
    Prometheus,
}

/// Check ids, in ladder order: an output contract (JSON consumers, `--only`, `--skip`,
/// recipes' `check:` references). New ids may be added; none may be renamed.
pub const CHECK_IDS: &[&str] = &[
    "host.os",
    "host.recipes",
    "host.kernel",
    "npu.device",
    "boot.iommu",
    "boot.next",
    "driver.module",
    "driver.bound",
    "firmware.files",
    "firmware.compat",
    "kernel.log",
    "accel.node",
    "limits.memlock",
    "dkms.state",
    "secureboot.signing",
    "xrt.install",
    "xrt.loader",
    "flm.install",
    "flm.validate",
    "stack.provenance",
    "lemonade.install",
    "lemonade.service",
    "lemonade.flm",
    "lemonade.api",
    "gpu.device",
    "gpu.api",
    "smoke.npu",
    "smoke.gpu",
    "smoke.whisper",
];

/// Install step ids, in install order: an output contract (`install --only`, remedies,
/// recipes' `step:` references).
pub const STEP_IDS: &[&str] = &[
    "preflight",
    "kargs",
    "repos",
    "packages",
    "build-deps",
    "sources",
    "xrt",
    "driver",
    "flm",
    "loader",
    "limits",
    "access",
    "lemonade",
    "lemonade-service",
    "models",
    "lifecycle",
    "verify",
];

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Proven good.
    Pass,
    /// Works, but something deserves attention.
    Warn,
    /// Broken.
    Fail,
    /// Not applicable, not requested, or a layer below failed.
    Skip,
    /// The check could not run.
    Error,
}

impl Status {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

/// How to fix a finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Remedy {
    /// What to do, in a sentence or two.
    pub text: String,
    /// Exact commands, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// The install step that fixes it (`npu-setup install --only <step>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The fix takes effect only after a reboot.
    pub reboot: bool,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
}

/// One check's result in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable id.
    pub id: String,
    /// Layer (the id's prefix).
    pub layer: String,
    /// Verdict.
    pub status: Status,
    /// One line.
    pub summary: String,
    /// What the verdict rests on.
    pub evidence: BTreeMap<String, Value>,
    /// How to fix it (every non-pass that can be fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
    /// Another failing check this failure follows from (the root cause is reported there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Checks that could explain this failure, most likely first (internal).
    #[serde(skip)]
    pub suspects: Vec<&'static str>,
}

/// Overall verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// `ready`, `degraded`, `broken`, `no-npu`, or `inconclusive` (no check ran: every one
    /// selected was skipped).
    pub state: String,
    /// The first broken layer's check (root cause), in ladder order.
    pub first_failure: Option<String>,
    /// One sentence for humans.
    pub message: String,
}

/// Exit codes shared by every command (ARCHITECTURE.md §Exit codes).
pub mod exit {
    /// Healthy / converged.
    pub const OK: i32 = 0;
    /// Problems found, or a step failed.
    pub const PROBLEMS: i32 = 1;
    /// Could not run: usage, bad input, internal error.
    pub const CANNOT_RUN: i32 = 2;
    /// Converged, but a reboot is required.
    pub const REBOOT: i32 = 3;
    /// doctor judged nothing: every check selected was skipped (`inconclusive`).
    pub const INCONCLUSIVE: i32 = 4;
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
    /// Exit code: 1 when anything failed or could not be checked, or there is no NPU;
    /// warnings fail only with `strict`.
    pub fn exit_code(&self, strict: bool) -> i32 {
        let s = &self.summary;
        if self.diagnosis.state == "inconclusive" {
            return exit::INCONCLUSIVE;
        }
        if s.fail > 0 || s.error > 0 || self.diagnosis.state == "no-npu" || (strict && s.warn > 0) {
            exit::PROBLEMS
        } else {
            exit::OK
        }
    }
}

//! The doctor report: one serde value (`apiVersion: npu-setup/v1`, `kind: DoctorReport`)
//! rendered as human text, JSON or YAML (ARCHITECTURE.md §Report), and its exit code.

pub mod human;
pub mod prometheus;

use crate::host::Facts;
use crate::model::{CheckResult, Status};
pub use crate::model::{HostSummary, KernelSummary, NpuSummary, Report, Summary, exit};

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

//! The doctor report: one serde value (`apiVersion: npu-setup/v1`, `kind: DoctorReport`)
//! rendered as human text, JSON, YAML or prometheus metrics. Renderers take the data
//! (`model`) only; building the report is the checks' job.

pub mod human;
pub mod prometheus;

pub use crate::model::{HostSummary, KernelSummary, NpuSummary, Report, Summary, exit};

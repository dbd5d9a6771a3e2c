//! The bench report (`npu-setup bench`, its saved baselines and last result, and the
//! prometheus metrics that read the last result).

use serde::{Deserialize, Serialize};

use crate::net::inference::Completion;

/// Mean, median and 95th percentile.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stat {
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
}

impl Stat {
    /// Statistics of the values; None when there are none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Stat { mean: v.iter().sum::<f64>() / v.len() as f64, p50: rank(0.5), p95: rank(0.95) })
    }
}

/// One side's results.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SideResult {
    /// `npu` or `gpu`.
    pub side: String,
    /// OpenAI base URL.
    pub base: String,
    /// Model.
    pub model: String,
    /// Successful runs.
    #[serde(skip_deserializing)]
    pub runs: Vec<Completion>,
    /// Failed runs, with the reason.
    pub errors: Vec<String>,
    /// Time to first token, ms.
    pub ttft_ms: Option<Stat>,
    /// Prompt tokens / TTFT.
    pub prefill_tps: Option<Stat>,
    /// Tokens per second after the first token (client-side).
    pub decode_tps: Option<Stat>,
    /// The server's own decode speed (llama.cpp `timings.predicted_per_second`).
    pub server_decode_tps: Option<Stat>,
    /// Mean completion tokens.
    pub completion_tokens: Option<f64>,
    /// Wall time of this side's runs, ms.
    pub wall_ms: f64,
}

/// NPU and GPU at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Concurrent {
    /// Both sides, measured while the other ran.
    pub sides: Vec<SideResult>,
    /// Wall time of the concurrent phase, ms.
    pub wall_ms: f64,
    /// Sum of the sequential walls, ms.
    pub sequential_wall_ms: f64,
    /// sequential / concurrent.
    pub speedup: f64,
    /// Per side: concurrent decode mean minus sequential decode mean, tokens/s.
    pub decode_delta_tps: Vec<(String, f64)>,
}

/// The bench report (human, JSON, YAML).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    /// `npu-setup/v1`.
    pub api_version: String,
    /// `BenchReport`.
    pub kind: String,
    /// Prompt used.
    pub prompt: String,
    /// Tokens asked per run.
    pub max_tokens: u32,
    /// Sequential results.
    pub sides: Vec<SideResult>,
    /// Concurrent results.
    pub concurrent: Option<Concurrent>,
    /// Regressions against `--baseline`.
    #[serde(default)]
    pub regressions: Vec<String>,
}

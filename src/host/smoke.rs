//! Smoke inference (`doctor --smoke`): one short real completion on the NPU through
//! Lemonade (loading the model first when it is not loaded, `POST /api/v1/load`) and one on
//! the GPU endpoint (any OpenAI-compatible server). Only when asked; never on an offline
//! root; on a fixture root only against URLs given explicitly.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::root::RootMode;
use super::services::{GpuFacts, LemonadeFacts};
use super::{ProbeOptions, Probed};
use crate::inference::{Completion, Endpoint, InferError, Timeouts, chat};
use crate::runner::Runner;

/// The prompt: short, deterministic enough, one sentence back.
pub const PROMPT: &str = "In one short sentence: what does an NPU do?";
/// Tokens to generate.
pub const MAX_TOKENS: u32 = 32;

/// One smoke run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SmokeFacts {
    /// OpenAI base URL used.
    pub base: String,
    /// Model asked for.
    pub model: String,
    /// What loading the model answered (NPU side), when it had to be loaded.
    pub load: Option<String>,
    /// The completion, when it worked.
    #[serde(skip_deserializing)]
    pub completion: Option<Completion>,
    /// Why it did not.
    #[serde(skip_deserializing)]
    pub error: Option<InferError>,
}

fn gate(runner: &Runner, opts: &ProbeOptions, explicit: bool) -> Option<Probed<SmokeFacts>> {
    if !opts.smoke {
        return Some(Probed::Skipped("not requested (use --smoke)".into()));
    }
    match runner.root().mode() {
        RootMode::Offline => Some(Probed::Skipped("offline root: nothing is running".into())),
        RootMode::Fixture if !explicit => {
            Some(Probed::Skipped("fixture root: pass --lemonade-url / --gpu-url to smoke-test a real server".into()))
        }
        _ => None,
    }
}

fn timeouts(runner: &Runner) -> Timeouts {
    // Loading a model and the first prompt can take long on a cold NPU.
    Timeouts {
        connect: Duration::from_secs(2),
        first_byte: runner.timeout().max(Duration::from_secs(60)),
        total: Duration::from_secs(180),
    }
}

/// Smoke-tests the NPU through Lemonade.
pub fn smoke_npu(
    runner: &Runner,
    opts: &ProbeOptions,
    l: Option<&LemonadeFacts>,
    default_model: &str,
) -> Probed<SmokeFacts> {
    if let Some(p) = gate(runner, opts, opts.lemonade_url.is_some()) {
        return p;
    }
    let Some(l) = l else { return Probed::Error("no Lemonade facts".into()) };
    let Some(url) = l.base_url.clone() else { return Probed::Error("no Lemonade URL".into()) };
    let model = opts.npu_model.clone().unwrap_or_else(|| default_model.to_string());
    let mut f = SmokeFacts { base: format!("{url}/api/v1"), model: model.clone(), ..Default::default() };
    let api_key = std::env::var("LEMONADE_API_KEY").ok().filter(|k| !k.is_empty());
    let loaded = l.health.as_ref().and_then(|h| h.json()).and_then(|j| j["model_loaded"].as_str().map(str::to_string));
    if loaded.as_deref() != Some(model.as_str()) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(600)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent.post(&format!("{url}/api/v1/load")).header("Content-Type", "application/json");
        if let Some(k) = &api_key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        match req.send(serde_json::json!({ "model_name": model }).to_string().as_bytes()) {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let body = r.body_mut().read_to_string().unwrap_or_default();
                if !(200..300).contains(&status) {
                    f.error = Some(InferError::ModelNotFound {
                        url: format!("{url}/api/v1/load"),
                        model,
                        status,
                        body: body.chars().take(300).collect(),
                    });
                    return Probed::Ok(f);
                }
                f.load = Some(body.chars().take(300).collect());
            }
            Err(e) => {
                f.error = Some(InferError::Connect { url: format!("{url}/api/v1/load"), reason: e.to_string() });
                return Probed::Ok(f);
            }
        }
    }
    let ep = Endpoint { base: f.base.clone(), model: f.model.clone(), api_key };
    match chat(&ep, PROMPT, MAX_TOKENS, true, &timeouts(runner)) {
        Ok(c) => f.completion = Some(c),
        Err(e) => f.error = Some(e),
    }
    Probed::Ok(f)
}

/// Smoke-tests the GPU endpoint (its health URL minus `/health`, plus `/v1`).
pub fn smoke_gpu(runner: &Runner, opts: &ProbeOptions, g: Option<&GpuFacts>) -> Probed<SmokeFacts> {
    if let Some(p) = gate(runner, opts, opts.gpu_url.is_some()) {
        return p;
    }
    let Some(g) = g else { return Probed::Error("no GPU endpoint facts".into()) };
    let root_url = g.url.trim_end_matches('/').trim_end_matches("/health").trim_end_matches('/').to_string();
    let base = format!("{root_url}/v1");
    let model = match &opts.gpu_model {
        Some(m) => m.clone(),
        None => {
            // llama-swap / llama-server list their models; take the first.
            let r = super::http::get(
                &crate::host::root::Root::live(),
                &format!("{base}/models"),
                Duration::from_secs(3),
                None,
            );
            match r.json().and_then(|j| j["data"][0]["id"].as_str().map(str::to_string)) {
                Some(m) => m,
                None => {
                    return Probed::Ok(SmokeFacts {
                        base,
                        error: Some(InferError::Connect {
                            url: r.url,
                            reason: r.error.unwrap_or_else(|| "no model listed; pass --gpu-model".into()),
                        }),
                        ..Default::default()
                    });
                }
            }
        }
    };
    let ep = Endpoint { base: base.clone(), model: model.clone(), api_key: None };
    let mut f = SmokeFacts { base, model, ..Default::default() };
    match chat(&ep, PROMPT, MAX_TOKENS, true, &timeouts(runner)) {
        Ok(c) => f.completion = Some(c),
        Err(e) => f.error = Some(e),
    }
    Probed::Ok(f)
}

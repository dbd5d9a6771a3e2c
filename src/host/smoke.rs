//! Smoke inference (`doctor --smoke`): one short real completion on the NPU through
//! Lemonade (loading the model first when it is not loaded, `POST /api/v1/load`) and one on
//! the GPU endpoint (any OpenAI-compatible server). Only when asked; never on an offline
//! root; on a fixture root only against URLs given explicitly.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::services::{GpuFacts, LemonadeFacts};
use super::{ProbeOptions, Probed};
use crate::lemonade;
use crate::net::http::Timeouts;
use crate::net::inference::{Completion, Endpoint, InferError, chat, first_model};
use crate::net::transcription::{SMOKE_TEXT, SMOKE_WAV, Transcription, transcribe};
use crate::recipes::Recipes;
use crate::root::RootMode;
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

/// The Whisper smoke.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WhisperSmokeFacts {
    /// OpenAI base URL used.
    pub base: String,
    /// Model asked for.
    pub model: String,
    /// What loading the model answered, when it had to be loaded.
    pub load: Option<String>,
    /// The transcription, when it worked.
    #[serde(skip_deserializing)]
    pub transcription: Option<Transcription>,
    /// Why it did not.
    #[serde(skip_deserializing)]
    pub error: Option<InferError>,
}

/// What this host was set up to serve: the models the last install converged and the GPU
/// endpoint it was given (`state.json`, written by `install` from `--model`, `--gpu-url`,
/// `--gpu-model` or its config file), else the recipe's models. The NPU chat model is the
/// first tag that is not ASR or embedding; the Whisper model is the first `whisper*` tag
/// (`whisper-v3:turbo` -> `whisper-v3-turbo-FLM`, [`lemonade::model_name`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostDefaults {
    /// Chat model on the NPU (Lemonade name).
    pub npu: Option<String>,
    /// Whisper model (Lemonade name), when one is configured.
    pub whisper: Option<String>,
    /// GPU endpoint (health URL or OpenAI base) the install was given.
    pub gpu_url: Option<String>,
    /// GPU model the install was given.
    pub gpu_model: Option<String>,
}

impl HostDefaults {
    /// From a list of FLM tags.
    pub fn from_tags(tags: &[String]) -> Self {
        let is_asr = |t: &str| t.starts_with("whisper");
        let is_embed = |t: &str| t.starts_with("embed");
        HostDefaults {
            npu: tags.iter().find(|t| !is_asr(t) && !is_embed(t)).map(|t| lemonade::model_name(t)),
            whisper: tags.iter().find(|t| is_asr(t)).map(|t| lemonade::model_name(t)),
            ..Default::default()
        }
    }

    /// From the install state under `root`, else the recipes.
    pub fn for_host(root: &crate::root::Root, recipes: &Recipes) -> Self {
        let state = crate::state::read_state(root).unwrap_or_default();
        let tags = if state.models.is_empty() { &recipes.lemonade.models } else { &state.models };
        HostDefaults { gpu_url: state.gpu_url, gpu_model: state.gpu_model, ..Self::from_tags(tags) }
    }
}

fn gate<T>(runner: &Runner, opts: &ProbeOptions, explicit: bool) -> Option<Probed<T>> {
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
    Timeouts::request(Duration::from_secs(2), runner.timeout().max(Duration::from_secs(60)), Duration::from_secs(180))
}

/// Smoke-tests the NPU through Lemonade.
pub fn smoke_npu(
    runner: &Runner,
    opts: &ProbeOptions,
    l: Option<&LemonadeFacts>,
    default_model: Option<&str>,
) -> Probed<SmokeFacts> {
    if let Some(p) = gate(runner, opts, opts.lemonade_url.is_some()) {
        return p;
    }
    let Some(l) = l else { return Probed::Error("no Lemonade facts".into()) };
    let Some(url) = l.base_url.clone() else { return Probed::Error("no Lemonade URL".into()) };
    let Some(model) = opts.npu_model.clone().or(default_model.map(str::to_string)) else {
        return Probed::Skipped("no NPU chat model configured (pass --npu-model)".into());
    };
    let mut f = SmokeFacts { base: lemonade::openai_base(&url), model: model.clone(), ..Default::default() };
    let api_key = lemonade::api_key(l.api_key.as_ref());
    match load_unless_loaded(l, &url, &model, api_key.as_deref()) {
        Ok(load) => f.load = load,
        Err(e) => {
            f.error = Some(e);
            return Probed::Ok(f);
        }
    }
    let ep = Endpoint { base: f.base.clone(), model: f.model.clone(), api_key };
    match chat(&ep, PROMPT, MAX_TOKENS, true, &timeouts(runner)) {
        Ok(c) => f.completion = Some(c),
        Err(e) => f.error = Some(e),
    }
    Probed::Ok(f)
}

/// Smoke-tests Whisper through Lemonade: uploads the shipped clip to
/// `/api/v1/audio/transcriptions` with the configured Whisper model. Skipped when no Whisper
/// model is configured.
pub fn smoke_whisper(
    runner: &Runner,
    opts: &ProbeOptions,
    l: Option<&LemonadeFacts>,
    default_model: Option<&str>,
) -> Probed<WhisperSmokeFacts> {
    if let Some(p) = gate(runner, opts, opts.lemonade_url.is_some()) {
        return p;
    }
    let Some(model) = opts.whisper_model.clone().or(default_model.map(str::to_string)) else {
        return Probed::Skipped(
            "no Whisper model configured (install --model whisper-v3:turbo, or pass --whisper-model)".into(),
        );
    };
    let Some(l) = l else { return Probed::Error("no Lemonade facts".into()) };
    let Some(url) = l.base_url.clone() else { return Probed::Error("no Lemonade URL".into()) };
    let mut f = WhisperSmokeFacts { base: lemonade::openai_base(&url), model: model.clone(), ..Default::default() };
    let api_key = lemonade::api_key(l.api_key.as_ref());
    match load_unless_loaded(l, &url, &model, api_key.as_deref()) {
        Ok(load) => f.load = load,
        Err(e) => {
            f.error = Some(e);
            return Probed::Ok(f);
        }
    }
    let ep = Endpoint { base: f.base.clone(), model, api_key };
    match transcribe(&ep, SMOKE_WAV, SMOKE_TEXT, &timeouts(runner)) {
        Ok(t) => f.transcription = Some(t),
        Err(e) => f.error = Some(e),
    }
    Probed::Ok(f)
}

/// Loads `model` unless Lemonade's health lists it among the loaded models (it keeps one
/// LLM and one audio model at once: `max_models`,
/// <https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/src/cpp/server/router.cpp>).
fn load_unless_loaded(
    l: &LemonadeFacts,
    url: &str,
    model: &str,
    api_key: Option<&str>,
) -> Result<Option<String>, InferError> {
    let loaded = l.health.as_ref().and_then(|h| h.json()).is_some_and(|j| lemonade::is_loaded(&j, model));
    if loaded { Ok(None) } else { lemonade::ensure_loaded(url, model, api_key).map(Some) }
}

/// Smoke-tests the GPU endpoint (its health URL minus `/health`, plus `/v1`).
pub fn smoke_gpu(
    runner: &Runner,
    opts: &ProbeOptions,
    g: Option<&GpuFacts>,
    default_model: Option<&str>,
) -> Probed<SmokeFacts> {
    if let Some(p) = gate(runner, opts, opts.gpu_url.is_some()) {
        return p;
    }
    let Some(g) = g else { return Probed::Error("no GPU endpoint facts".into()) };
    let base = gpu_base(&g.url);
    let model = match opts
        .gpu_model
        .clone()
        .or(default_model.map(str::to_string))
        .map(Ok)
        .unwrap_or_else(|| first_model(&base))
    {
        Ok(m) => m,
        Err(e) => return Probed::Ok(SmokeFacts { base, error: Some(e), ..Default::default() }),
    };
    let ep = Endpoint { base: base.clone(), model: model.clone(), api_key: None };
    let mut f = SmokeFacts { base, model, ..Default::default() };
    match chat(&ep, PROMPT, MAX_TOKENS, true, &timeouts(runner)) {
        Ok(c) => f.completion = Some(c),
        Err(e) => f.error = Some(e),
    }
    Probed::Ok(f)
}

/// The OpenAI base URL of a GPU endpoint given as its health URL or its base.
pub fn gpu_base(url: &str) -> String {
    let u = url.trim_end_matches('/');
    let u = u.strip_suffix("/health").unwrap_or(u);
    if u.ends_with("/v1") { u.to_string() } else { format!("{u}/v1") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pick_the_chat_and_the_whisper_model_from_tags() {
        let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let d = HostDefaults::from_tags(&tags(&["whisper-v3:turbo", "embed-gemma:300m", "qwen3:4b", "gemma3:1b"]));
        assert_eq!(d.npu.as_deref(), Some("qwen3-4b-FLM"));
        assert_eq!(d.whisper.as_deref(), Some("whisper-v3-turbo-FLM"));
        let d = HostDefaults::from_tags(&tags(&["llama3.2:1b"]));
        assert_eq!((d.npu.as_deref(), d.whisper), (Some("llama3.2-1b-FLM"), None));
        assert_eq!(HostDefaults::from_tags(&[]), HostDefaults::default());
    }
}

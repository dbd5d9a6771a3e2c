//! Lemonade Server as its clients see it: where it listens, its routes, what it calls FLM's
//! models, how a model is loaded, how health tells a loaded model, and which API key a
//! client sends. The probes (`host::services`, `host::smoke`), `bench`, the install steps
//! (`lemonade-service`, `models`) and `dev lemonade-ready` all use this module.
//!
//! Routes (Lemonade's server spec,
//! <https://github.com/lemonade-sdk/lemonade/blob/01f35ae7b04db790386e64edc8eef9c0d346aa49/docs/server/server_spec.md>):
//! [`LIVE`] answers without an API key; everything under [`API`] wants one when the server
//! has `LEMONADE_API_KEY` set: [`HEALTH`], [`SYSTEM_INFO`], [`LOAD`], and the
//! OpenAI-compatible routes the inference clients append to [`openai_base`]
//! (`/models`, `/chat/completions`, `/audio/transcriptions`).

use std::time::Duration;

use crate::net::http::{Client, HttpError, Timeouts};
use crate::net::inference::InferError;

/// Where Lemonade listens unless told otherwise.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default port since 10.1 (`lemond`).
pub const DEFAULT_PORT: u16 = 13305;
/// Default port of 10.0 (`lemonade-router`).
pub const LEGACY_PORT: u16 = 8000;

/// Liveness; needs no API key.
pub const LIVE: &str = "/live";
/// The OpenAI-compatible API base.
pub const API: &str = "/api/v1";
/// Health: status, version and the loaded models.
pub const HEALTH: &str = "/api/v1/health";
/// System information: devices and recipe (backend) states.
pub const SYSTEM_INFO: &str = "/api/v1/system-info";
/// Loads a model: `POST {"model_name": …}`.
pub const LOAD: &str = "/api/v1/load";

/// Loading a model onto the NPU can take minutes on first use.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// The variable that holds Lemonade's API key, in its service environment and in a
/// client's.
pub const API_KEY_VAR: &str = "LEMONADE_API_KEY";

/// `http://HOST:PORT`.
pub fn base_url(host: &str, port: impl std::fmt::Display) -> String {
    format!("http://{host}:{port}")
}

/// `route` (one of the constants above) on the server at `base`.
pub fn url(base: &str, route: &str) -> String {
    format!("{}{route}", base.trim_end_matches('/'))
}

/// The OpenAI base URL of the server at `base` (`…/api/v1`).
pub fn openai_base(base: &str) -> String {
    url(base, API)
}

/// Lemonade's name for an FLM tag: `qwen3:4b` -> `qwen3-4b-FLM` (how its health answer names
/// a loaded FLM model, next to its `checkpoint` tag;
/// <https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/src/cpp/server/model_manager.cpp>).
pub fn model_name(tag: &str) -> String {
    format!("{}-FLM", tag.replace(':', "-"))
}

/// Whether a `/api/v1/health` answer lists `model` as loaded (`model_loaded`, or among
/// `all_models_loaded`: Lemonade keeps one model per type loaded at once).
pub fn is_loaded(health: &serde_json::Value, model: &str) -> bool {
    health["model_loaded"].as_str() == Some(model)
        || health["all_models_loaded"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m["model_name"].as_str() == Some(model)))
}

/// Why a model did not load.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    /// Lemonade answered with an error status.
    #[error("POST {url} answered HTTP {}: {}", crate::net::http::status_line(*status), body.trim())]
    Refused {
        /// The load URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Lemonade's answer (up to 64 KiB).
        body: String,
    },
    /// No answer.
    #[error("POST {url}: {error}")]
    Unreachable {
        /// The load URL.
        url: String,
        /// Why.
        error: HttpError,
    },
}

impl LoadError {
    /// The same failure as an inference error (smoke, bench): a refused key is an HTTP
    /// error, any other refusal means the model is not there.
    pub fn into_infer(self, model: &str) -> InferError {
        match self {
            LoadError::Refused { url, status, body } => {
                let body: String = body.chars().take(300).collect();
                if status == 401 || status == 403 {
                    InferError::Http { url, status, body }
                } else {
                    InferError::ModelNotFound { url, model: model.into(), status, body }
                }
            }
            LoadError::Unreachable { url, error } => InferError::Connect { url, reason: error.to_string() },
        }
    }
}

/// Loads `model` into the Lemonade at `base` (`POST /api/v1/load`) through `client` (its
/// timeouts and API key); returns Lemonade's answer.
pub fn load_model(client: &Client, base: &str, model: &str) -> Result<String, LoadError> {
    let url = url(base, LOAD);
    let mut resp = client
        .post_json(&url, &serde_json::json!({ "model_name": model }))
        .map_err(|error| LoadError::Unreachable { url: url.clone(), error })?;
    let body = resp.text_lossy(64 * 1024).unwrap_or_default();
    if resp.ok() { Ok(body) } else { Err(LoadError::Refused { url, status: resp.status(), body }) }
}

/// Loads `model` into the Lemonade at `base` for real, waiting up to [`LOAD_TIMEOUT`] (smoke,
/// bench); returns the start of Lemonade's answer, or the failure as an inference error.
pub fn ensure_loaded(base: &str, model: &str, api_key: Option<&str>) -> Result<String, InferError> {
    let client = Client::live(Timeouts::total(LOAD_TIMEOUT)).bearer(api_key);
    match load_model(&client, base, model) {
        Ok(body) => Ok(body.chars().take(300).collect()),
        Err(e) => Err(e.into_infer(model)),
    }
}

/// An API key. Its `Debug` never shows it; it is never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key, unless `value` is empty (an empty `LEMONADE_API_KEY` means no key).
    pub fn new(value: &str) -> Option<ApiKey> {
        (!value.is_empty()).then(|| ApiKey(value.to_string()))
    }

    /// The key itself, to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The key a service environment sets (its last non-empty `LEMONADE_API_KEY`; `env` in
/// systemd's order: `Environment=` then `EnvironmentFile=` contents).
pub fn service_api_key(env: &[(String, String)]) -> Option<ApiKey> {
    env.iter().rev().find(|(k, v)| k == API_KEY_VAR && !v.is_empty()).and_then(|(_, v)| ApiKey::new(v))
}

/// The key a client sends to Lemonade, in this order:
/// 1. `LEMONADE_API_KEY` in this process's environment, when set and not empty: an explicit
///    choice by whoever runs the command (and what `dev lemonade-ready` finds, as it runs in
///    the service's own environment);
/// 2. else the key the service's environment sets, as the probes read it from its unit and
///    environment files (`service`);
/// 3. else none (Lemonade without a key wants none).
pub fn api_key(service: Option<&ApiKey>) -> Option<String> {
    choose_api_key(std::env::var(API_KEY_VAR).ok().as_deref(), service)
}

fn choose_api_key(env: Option<&str>, service: Option<&ApiKey>) -> Option<String> {
    env.and_then(ApiKey::new).or_else(|| service.cloned()).map(|k| k.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Root;

    #[test]
    fn model_names() {
        assert_eq!(model_name("qwen3:4b"), "qwen3-4b-FLM");
        assert_eq!(model_name("whisper-v3:turbo"), "whisper-v3-turbo-FLM");
        assert_eq!(model_name("llama3.2:1b"), "llama3.2-1b-FLM");
        assert_eq!(model_name("embed-gemma:300m"), "embed-gemma-300m-FLM");
    }

    #[test]
    fn urls() {
        assert_eq!(base_url(DEFAULT_HOST, DEFAULT_PORT), "http://127.0.0.1:13305");
        assert_eq!(url("http://127.0.0.1:8000/", LIVE), "http://127.0.0.1:8000/live");
        assert_eq!(openai_base("http://h:1"), "http://h:1/api/v1");
        for r in [HEALTH, SYSTEM_INFO, LOAD] {
            assert!(r.starts_with(API), "{r}");
        }
    }

    #[test]
    fn the_key_comes_from_the_environment_first_then_the_service() {
        let service = ApiKey::new("from-unit");
        assert_eq!(choose_api_key(Some("exported"), service.as_ref()).as_deref(), Some("exported"));
        assert_eq!(choose_api_key(Some(""), service.as_ref()).as_deref(), Some("from-unit"), "empty = unset");
        assert_eq!(choose_api_key(None, service.as_ref()).as_deref(), Some("from-unit"));
        assert_eq!(choose_api_key(None, None), None);
        assert_eq!(choose_api_key(Some(""), None), None);
        let env = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let last =
            service_api_key(&env(&[(API_KEY_VAR, "a"), ("PATH", "/bin"), (API_KEY_VAR, "b"), (API_KEY_VAR, "")]));
        assert_eq!(last.as_ref().map(ApiKey::expose), Some("b"), "the last non-empty value wins");
        assert_eq!(service_api_key(&env(&[("HF_TOKEN", "x")])), None);
        assert_eq!(format!("{:?}", ApiKey::new("s3cret")), "Some(ApiKey(<redacted>))");
    }

    #[test]
    fn loaded_models_from_health() {
        let h = serde_json::json!({
            "model_loaded": "qwen3-4b-FLM",
            "all_models_loaded": [{"model_name": "qwen3-4b-FLM"}, {"model_name": "whisper-v3-turbo-FLM"}],
        });
        assert!(is_loaded(&h, "qwen3-4b-FLM"));
        assert!(is_loaded(&h, "whisper-v3-turbo-FLM"));
        assert!(!is_loaded(&h, "gemma3-1b-FLM"));
        assert!(is_loaded(&serde_json::json!({"model_loaded": "m"}), "m"), "10.0 reports only model_loaded");
        assert!(!is_loaded(&serde_json::json!({"status": "ok"}), "m"));
    }

    #[test]
    fn loads_are_judged_by_status() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".fixture.yaml"),
            concat!(
                "http:\n",
                "  \"http://a:1/api/v1/load\": { status: 200, body: '{\"status\":\"success\"}' }\n",
                "  \"http://b:1/api/v1/load\": { status: 404, body: \" {\\\"error\\\":\\\"no such model\\\"}\\n\" }\n",
                "  \"http://c:1/api/v1/load\": { status: 401, body: 'bad key' }\n",
            ),
        )
        .unwrap();
        let root = Root::open(dir.path()).unwrap();
        let c = Client::new(&root, Timeouts::total(LOAD_TIMEOUT));
        assert_eq!(load_model(&c, "http://a:1/", "m").unwrap(), "{\"status\":\"success\"}");
        let e = load_model(&c, "http://b:1", "m").unwrap_err();
        assert_eq!(
            e.to_string(),
            "POST http://b:1/api/v1/load answered HTTP 404 Not Found: {\"error\":\"no such model\"}"
        );
        assert!(matches!(e.into_infer("m"), InferError::ModelNotFound { status: 404, .. }));
        let e = load_model(&c, "http://c:1", "m").unwrap_err();
        assert!(matches!(e.into_infer("m"), InferError::Http { status: 401, .. }));
        let e = load_model(&c, "http://d:1", "m").unwrap_err();
        assert_eq!(e.to_string(), "POST http://d:1/api/v1/load: connection refused");
        assert_eq!(
            e.into_infer("m"),
            InferError::Connect { url: "http://d:1/api/v1/load".into(), reason: "connection refused".into() }
        );
    }
}

//! `models`: `flm pull` the wanted models (`--model`, else `recipes/lemonade.yaml`) into the
//! model directory the Lemonade service reads (its FLM_MODEL_PATH, default `/var/lib/flm`).
//!
//! FLM keeps models under `$FLM_MODEL_PATH/models/<Name>` and defaults to `~/.config/flm`,
//! which the hardened service cannot see (ProtectHome=yes,
//! <https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/data/lemonade-server.service.in>;
//! FLM_MODEL_PATH,
//! <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/common/utils.cpp>).
//! The environment (FLM_MODEL_PATH) is part of the action, so the plan shows it.

use anyhow::Result;

use super::lemonade_service::wanted_models;
use super::{Action, Plan, Step, StepCtx};

/// The models step.
pub struct Models;

/// Model tags in `flm list --filter installed --quiet --json` output
/// (`{"models":[{"name":"qwen3:4b",…}]}`, as Lemonade's model_manager.cpp reads it). Text
/// before the JSON (e.g. `[FLM]  Using custom model list path: …`) is skipped.
pub fn parse_installed(stdout: &str) -> Option<Vec<String>> {
    let start = stdout.find('{')?;
    let v: serde_json::Value = serde_json::from_str(stdout[start..].trim()).ok()?;
    let models = v.get("models")?.as_array()?;
    Some(
        models
            .iter()
            .filter(|m| m.get("installed").and_then(|i| i.as_bool()) != Some(false))
            .filter_map(|m| m.get("name").and_then(|n| n.as_str()).map(str::to_string))
            .collect(),
    )
}

impl Step for Models {
    fn id(&self) -> &'static str {
        "models"
    }
    fn summary(&self) -> &'static str {
        "flm pull the recipe's models into the shared model dir"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let tags = wanted_models(cx);
        if tags.is_empty() {
            return Ok(p);
        }
        let Some(flm) = cx.facts.flm.ok().and_then(|f| f.binary.clone()) else {
            p.notes.push("flm not installed yet: no models to pull until it is (the flm step installs it)".into());
            return Ok(p);
        };
        if cx.offline() {
            p.notes.push(format!(
                "offline root: models are pulled when install runs on the installed system ({})",
                tags.join(", ")
            ));
            return Ok(p);
        }
        // The directory the service reads (its FLM_MODEL_PATH), else the shared default.
        let dir = cx
            .facts
            .lemonade
            .ok()
            .and_then(|l| l.unit())
            .and_then(|u| u.env("FLM_MODEL_PATH"))
            .unwrap_or(&cx.recipes.files.flm_model_dir)
            .to_string();
        // The flm found under the root (its host path on a fixture or live root).
        let program = cx.runner.locate(&flm).map(|p| p.display().to_string()).unwrap_or(flm);
        let env = vec![("FLM_MODEL_PATH".to_string(), dir.clone())];
        let list = ["list", "--filter", "installed", "--quiet", "--json"];
        let shown = format!("FLM_MODEL_PATH={dir} {program} {}", list.join(" "));
        let installed = match cx.runner.run_env(&program, &list, &env) {
            Ok(o) if o.success() => match parse_installed(&o.stdout) {
                Some(v) => v,
                None => {
                    p.notes.push(format!(
                        "`{shown}` printed no model list; not pulling blindly ({} wanted)",
                        tags.join(", ")
                    ));
                    return Ok(p);
                }
            },
            Ok(o) => {
                p.notes.push(format!(
                    "`{shown}` failed ({}): {}; cannot tell which models are installed ({} wanted)",
                    o.exit_text(),
                    o.tail(),
                    tags.join(", ")
                ));
                return Ok(p);
            }
            Err(e) => {
                p.notes.push(format!("cannot list the installed FLM models ({e}); {} wanted", tags.join(", ")));
                return Ok(p);
            }
        };
        for t in &tags {
            if !installed.iter().any(|i| i == t) {
                p.actions.push(Action::RunIn {
                    dir: None,
                    env: env.clone(),
                    argv: vec![program.clone(), "pull".into(), t.clone()],
                    why: format!("model {t} for Lemonade ({}), into {dir}", crate::lemonade::model_name(t)),
                });
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_lists() {
        let cases: [(&str, Option<Vec<&str>>); 5] = [
            (
                r#"{"models":[{"name":"qwen3:4b","installed":true},{"name":"gemma3:1b"}]}"#,
                Some(vec!["qwen3:4b", "gemma3:1b"]),
            ),
            (r#"{"models":[]}"#, Some(vec![])),
            (
                "[FLM]  Using custom model list path: /x\n{\"models\":[{\"name\":\"whisper-v3:turbo\"},{\"name\":\"x\",\"installed\":false}]}\n",
                Some(vec!["whisper-v3:turbo"]),
            ),
            ("Models:\n  - qwen3:4b\n", None),
            (r#"{"object":"x"}"#, None),
        ];
        for (text, want) in cases {
            let want = want.map(|v| v.into_iter().map(str::to_string).collect::<Vec<_>>());
            assert_eq!(parse_installed(text), want, "{text}");
        }
    }
}

//! `config litellm` loaded by a real LiteLLM proxy (PyPI `litellm[proxy]`, installed once by
//! .ci/litellm.sh): two real llama-servers on loopback, one behind the Lemonade facade (the
//! NPU side), one as the GPU endpoint; the generated config routes `npu/*` and `local/*` to
//! them and a chat completes through each route. And the refusals: an endpoint that does not
//! answer, with no model given, is an error naming it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::smoke::{Proc, facade, free_port, llama_server};
use crate::{bin, copy_fixture};

/// Where litellm[proxy] is installed (LITELLM_PYTHONPATH from .ci/test.sh, else the script
/// runs: installs once, then cached).
fn litellm_pythonpath() -> String {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(p) = std::env::var("LITELLM_PYTHONPATH") {
            return p;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/litellm.sh");
        let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run .ci/litellm.sh");
        assert!(out.status.success(), ".ci/litellm.sh failed");
        String::from_utf8_lossy(&out.stdout).trim().strip_prefix("LITELLM_PYTHONPATH=").unwrap().to_string()
    })
    .clone()
}

fn config(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("--root").arg(root).args(["config", "litellm"]).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// POSTs a chat completion through the proxy; returns (HTTP status, body).
fn chat(port: u16, key: &str, model: &str) -> (u16, serde_json::Value) {
    let body =
        serde_json::json!({"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8});
    let out = Command::new("python3")
        .args(["-c", CHAT, &format!("http://127.0.0.1:{port}/v1/chat/completions"), key, &body.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (status, rest) =
        text.split_once('\n').unwrap_or_else(|| panic!("{text} {}", String::from_utf8_lossy(&out.stderr)));
    (status.trim().parse().unwrap(), serde_json::from_str(rest).unwrap_or(serde_json::Value::String(rest.into())))
}

const CHAT: &str = r#"
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=sys.argv[3].encode(), headers={"content-type": "application/json", "authorization": "Bearer " + sys.argv[2]})
try:
    r = urllib.request.urlopen(req, timeout=120); print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
"#;

#[test]
fn a_real_litellm_proxy_routes_npu_and_local_through_our_config() {
    let pythonpath = litellm_pythonpath();
    let (_npu_backend, npu_port) = llama_server();
    let (_gpu, gpu_port) = llama_server();
    let (_lemonade, lemonade_port) = facade(npu_port);
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    let lemonade = format!("http://127.0.0.1:{lemonade_port}");
    let gpu = format!("http://127.0.0.1:{gpu_port}/health");
    let dead = format!("http://127.0.0.1:{}/health", free_port());

    // No model given and an endpoint that does not answer: an error naming it, exit 2.
    let (code, out, err) = config(&root, &["--lemonade-url", &lemonade, "--gpu-url", &dead]);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty(), "nothing printed: {out}");
    let dead_base = dead.trim_end_matches("/health");
    assert!(
        err.contains(&format!("the GPU endpoint at {dead_base}/v1 is unreachable")) && err.contains("--gpu-model"),
        "{err}"
    );
    let (code, _, err) = config(&root, &["--lemonade-url", &dead.replace("/health", ""), "--gpu-url", &gpu]);
    assert_eq!(code, 2);
    assert!(err.contains("Lemonade (the NPU endpoint) at") && err.contains("--npu-model"), "{err}");
    // Models given: written without asking (the endpoints may come up later).
    let (code, out, _) =
        config(&root, &["--lemonade-url", &lemonade, "--gpu-url", &dead, "--gpu-model", "m", "--npu-model", "n"]);
    assert_eq!(code, 0);
    assert!(out.contains("model_name: local/m") && out.contains("model_name: npu/n"), "{out}");

    // Both answer: the models they serve, in a config a real proxy loads.
    let (code, yaml, err) = config(&root, &["--lemonade-url", &lemonade, "--gpu-url", &gpu]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    let names: Vec<String> =
        doc["model_list"].as_array().unwrap().iter().map(|m| m["model_name"].as_str().unwrap().to_string()).collect();
    let npu = names.iter().find(|n| n.starts_with("npu/")).expect("an npu/ route").clone();
    let local = names.iter().find(|n| n.starts_with("local/")).expect("a local/ route").clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("litellm.yaml"), &yaml).unwrap();
    // Lemonade serves a model once loaded: what the unit's ExecStartPost does.
    let out = bin()
        .args(["dev", "lemonade-ready", "--url", &lemonade, "--load", npu.trim_start_matches("npu/")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let port = free_port();
    let key = "sk-npu-setup-test-3f9a1c7e5b2d4806a1e9c3b7d5f20468";
    let child = Command::new("python3")
        .args(["-c", "import sys; from litellm.proxy.proxy_cli import run_server; sys.exit(run_server())"])
        .arg("--config")
        .arg(dir.path().join("litellm.yaml"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(dir.path())
        .env("PYTHONPATH", &pythonpath)
        .env("LITELLM_MASTER_KEY", key)
        // The model price map ships in the wheel: no download from GitHub at start.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY", "False")
        .env("LEMONADE_API_KEY", "unused")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _proxy = Proc(child);
    let started = Instant::now();
    loop {
        let up = Command::new("python3")
            .args(["-c", "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"])
            .arg(format!("http://127.0.0.1:{port}/health/liveliness"))
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if up.success() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "the LiteLLM proxy did not come up");
        std::thread::sleep(Duration::from_millis(500));
    }
    for model in [&npu, &local] {
        let (status, body) = chat(port, key, model);
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(body["model"], model.as_str(), "{body}");
        let text = body["choices"][0]["message"]["content"].as_str().unwrap_or_default();
        assert!(!text.trim().is_empty(), "{model}: {body}");
    }
    // A route our config does not have is refused by the proxy, not sent anywhere.
    let (status, _) = chat(port, key, "npu/not-configured");
    assert_ne!(status, 200);
}

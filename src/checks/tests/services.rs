//! `lemonade.install`, `lemonade.service`, `lemonade.api`, `gpu.device`, `gpu.api`, and the
//! smoke checks.

use super::*;
use crate::host::Probed;
use crate::host::smoke::{SmokeFacts, WhisperSmokeFacts};
use crate::net::inference::{Completion, InferError};

#[test]
fn lemonade_install() {
    expect(&Host::halo(), "lemonade.install", Pass, "Lemonade 11.7.0-1.fc44 (/usr/bin/lemond), unit lemond.service");
    expect(
        &Host::point_dkms(),
        "lemonade.install",
        Pass,
        "Lemonade 10.0.0-1 (/opt/bin/lemonade-router), unit lemonade-server.service",
    );
    let gone = Host::halo().lemonade(|l| {
        l.binaries.clear();
        l.units.clear();
    });
    let c = expect(&gone, "lemonade.install", Fail, "Lemonade server is not installed");
    assert_eq!(step(&c), Some("lemonade"));
    let c = expect(&Host::halo().lemonade(|l| l.units.clear()), "lemonade.install", Warn, "has no systemd unit");
    assert_eq!(step(&c), Some("lemonade-service"));
}

#[test]
fn lemonade_service_passes_when_the_unit_finds_everything() {
    expect(
        &Host::halo(),
        "lemonade.service",
        Pass,
        "lemond.service active (enabled); finds flm at /usr/bin/flm; bound to localhost",
    );
    expect(&Host::point_dkms(), "lemonade.service", Pass, "finds flm at /opt/fastflowlm/bin/flm");
    let h = Host::halo().lemonade_unit(|u| u.environment.push(("LEMONADE_HOST".into(), "0.0.0.0".into())));
    expect(&h.lemonade(|l| l.api_key_set = true), "lemonade.service", Pass, "bound to 0.0.0.0");
}

#[test]
fn lemonade_service_without_a_unit() {
    let gone = Host::halo().lemonade(|l| {
        l.binaries.clear();
        l.units.clear();
    });
    expect(&gone, "lemonade.service", Skip, "Lemonade not installed");
    let c = expect(&Host::halo().lemonade(|l| l.units.clear()), "lemonade.service", Fail, "no Lemonade unit");
    assert_eq!(step(&c), Some("lemonade-service"));
}

#[test]
fn lemonade_service_fails_when_systemd_does_not_run_it() {
    let h = Host::halo().lemonade_unit(|u| u.runtime.as_mut().unwrap().load_state = "not-found".into());
    expect(&h, "lemonade.service", Fail, "lemond.service is not known to systemd");
    let h = Host::halo().lemonade_unit(|u| {
        let rt = u.runtime.as_mut().unwrap();
        rt.active_state = "failed".into();
        rt.sub_state = "failed".into();
    });
    let c = expect(&h, "lemonade.service", Fail, "lemond.service is failed (failed), enabled");
    assert_eq!(step(&c), Some("lemonade-service"));
    let h = Host::halo().lemonade_unit(|u| {
        u.runtime = None;
        u.runtime_error = Some("Failed to connect to bus".into());
    });
    expect(&h, "lemonade.service", Error, "cannot ask systemd about lemond.service: Failed to connect to bus");
}

#[test]
fn lemonade_service_fails_when_its_environment_misses_flm_or_xrt() {
    let h = Host::point_dkms().lemonade_unit(|u| {
        u.environment.retain(|(k, _)| k != "PATH");
        u.flm_on_path = None;
    });
    let c = expect(
        &h,
        "lemonade.service",
        Fail,
        "lemonade-server.service cannot find flm: /opt/fastflowlm/bin is not on the service's PATH",
    );
    assert_eq!(step(&c), Some("lemonade-service"));
    let h = Host::halo().xrt_lib("libxrt_coreutil.so.2", &["/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2"], None);
    let c = expect(&h, "lemonade.service", Fail, "cannot load the XRT libraries");
    assert_eq!(step(&c), Some("loader"));
}

#[test]
fn lemonade_service_remedy_names_the_path_the_step_writes() {
    let h = Host::point_dkms().lemonade_unit(|u| {
        u.environment.retain(|(k, _)| k != "PATH");
        u.flm_on_path = None;
    });
    let c = expect(&h, "lemonade.service", Fail, "cannot find flm");
    assert!(
        remedy(&c).contains("Environment=PATH=/opt/fastflowlm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin."),
        "{}",
        remedy(&c)
    );
}

#[test]
fn lemonade_service_warns_on_exposure_and_hidden_models() {
    let h = Host::halo().lemonade_unit(|u| u.environment.push(("LEMONADE_HOST".into(), "0.0.0.0".into())));
    let c = expect(&h, "lemonade.service", Warn, "lemond.service listens on 0.0.0.0 without LEMONADE_API_KEY");
    assert_eq!(step(&c), Some("lemonade-service"));
    let h = Host::halo().lemonade_unit(|u| u.environment.retain(|(k, _)| k != "FLM_MODEL_PATH"));
    expect(&h, "lemonade.service", Warn, "ProtectHome=yes and no FLM_MODEL_PATH");
}

#[test]
fn lemonade_api() {
    expect(
        &Host::halo(),
        "lemonade.api",
        Pass,
        "Lemonade 11.7.0 answers at http://127.0.0.1:13305; FLM backend installed",
    );
    let c = expect(&Host::point_dkms(), "lemonade.api", Pass, "Lemonade 10.0.0 answers at http://127.0.0.1:8000");
    assert!(c.evidence["note"].as_str().unwrap().contains("10.1 renamed it lemond"));
    expect(&Host::halo().offline(), "lemonade.api", Skip, "offline root");
    let gone = Host::halo().lemonade(|l| {
        l.binaries.clear();
        l.units.clear();
        l.live = None;
    });
    expect(&gone, "lemonade.api", Skip, "Lemonade not installed");
}

#[test]
fn lemonade_api_fails_or_warns_on_what_the_server_answers() {
    let down = Host::halo().lemonade_answer("live", None, "connection refused").lemonade_answer(
        "health",
        None,
        "connection refused",
    );
    let c =
        expect(&down, "lemonade.api", Fail, "Lemonade does not answer at http://127.0.0.1:13305 (connection refused)");
    assert_eq!(c.suspects, ["lemonade.service", "lemonade.install"]);
    expect(
        &Host::halo().lemonade_answer("health", Some(401), "{}"),
        "lemonade.api",
        Warn,
        "/api/v1/health wants an API key",
    );
    let info = r#"{"recipes":{"flm":{"backends":{"npu":{"state":"unsupported","message":"flm validate failed"}}}}}"#;
    let c = expect(
        &Host::halo().lemonade_answer("system_info", Some(200), info),
        "lemonade.api",
        Fail,
        "its FLM backend is unsupported: flm validate failed",
    );
    assert!(c.suspects.contains(&"flm.validate"));
}

#[test]
fn gpu_device() {
    expect(&Host::halo(), "gpu.device", Pass, "bound to amdgpu, /dev/dri/renderD128");
    expect(&Host::halo().no_gpu(), "gpu.device", Skip, "no AMD GPU on this machine");
    expect(
        &Host::halo().gpu(|g| g.driver = None),
        "gpu.device",
        Fail,
        "AMD GPU 0000:c5:00.0 is not bound to amdgpu (no driver)",
    );
    expect(&Host::halo().gpu(|g| g.render.clear()), "gpu.device", Fail, "0000:c5:00.0 has no render node");
    let h = Host::halo().with(|f| f.nodes.ok_mut().render[0].stat.as_mut().unwrap().mode = "0660".into());
    let c = expect(&h, "gpu.device", Warn, "and alice is not in render");
    assert_eq!(step(&c), Some("access"));
}

#[test]
fn gpu_api() {
    expect(&Host::halo(), "gpu.api", Pass, "http://127.0.0.1:8080/health answers");
    expect(
        &Host::halo().gpu_answer(None, "connection refused"),
        "gpu.api",
        Warn,
        "no GPU endpoint at http://127.0.0.1:8080/health (connection refused); llama-swap not running?",
    );
    expect(
        &Host::halo().gpu_answer(Some(503), "loading"),
        "gpu.api",
        Fail,
        "GPU endpoint http://127.0.0.1:8080/health does not answer: HTTP 503",
    );
    let explicit = Host::halo().with(|f| f.gpu.ok_mut().url_source = "--gpu-url".into()).gpu_answer(None, "refused");
    expect(&explicit, "gpu.api", Fail, "does not answer: refused");
    expect(
        &Host::halo().no_gpu().gpu_answer(None, "refused"),
        "gpu.api",
        Skip,
        "no AMD GPU and nothing at http://127.0.0.1:8080/health",
    );
    expect(&Host::halo().with(|f| f.gpu.ok_mut().health = None), "gpu.api", Skip, "not probed");
    expect(&Host::halo().offline(), "gpu.api", Skip, "offline root");
}

fn completion() -> Completion {
    Completion {
        text: "An NPU runs neural networks efficiently.".into(),
        ttft_ms: 120.0,
        total_ms: 1400.0,
        prompt_tokens: Some(18),
        completion_tokens: 32,
        decode_tps: Some(25.0),
        prefill_tps: None,
        server: None,
        streamed: true,
    }
}

fn smoke(completion: Option<Completion>, error: Option<InferError>) -> Probed<SmokeFacts> {
    Probed::Ok(SmokeFacts {
        base: "http://127.0.0.1:13305/api/v1".into(),
        model: "qwen3-4b-FLM".into(),
        load: None,
        completion,
        error,
    })
}

#[test]
fn smoke_npu_and_gpu() {
    expect(&Host::halo(), "smoke.npu", Skip, "not requested (use --smoke)");
    let h = Host::halo().with(|f| f.smoke_npu = smoke(Some(completion()), None));
    expect(&h, "smoke.npu", Pass, "qwen3-4b-FLM answered: TTFT 120 ms, 32 tokens, 25.0 tokens/s decode");
    let missing =
        InferError::ModelNotFound { url: "u".into(), model: "qwen3-4b-FLM".into(), status: 404, body: "".into() };
    let c = expect(
        &Host::halo().with(|f| f.smoke_npu = smoke(None, Some(missing))),
        "smoke.npu",
        Fail,
        "NPU (Lemonade): model \"qwen3-4b-FLM\" not found",
    );
    assert!(remedy(&c).contains("pull it (npu-setup install --only models)"), "{}", remedy(&c));
    let refused = InferError::Connect { url: "http://127.0.0.1:8080/v1".into(), reason: "connection refused".into() };
    let c = expect(
        &Host::halo().with(|f| f.smoke_gpu = smoke(None, Some(refused))),
        "smoke.gpu",
        Fail,
        "GPU endpoint: cannot connect",
    );
    assert_eq!(c.suspects, ["gpu.api"]);
    expect(&Host::halo().with(|f| f.smoke_gpu = smoke(Some(completion()), None)), "smoke.gpu", Pass, "answered");
    expect(
        &Host::halo().with(|f| f.smoke_npu = smoke(None, None)),
        "smoke.npu",
        Error,
        "no completion and no error recorded",
    );
}

#[test]
fn smoke_whisper_failures() {
    let whisper = |error: Option<InferError>| {
        Probed::Ok(WhisperSmokeFacts {
            base: "b".into(),
            model: "whisper-v3-turbo-FLM".into(),
            error,
            ..Default::default()
        })
    };
    expect(&Host::halo(), "smoke.whisper", Skip, "not requested");
    let refused = InferError::Connect { url: "b".into(), reason: "connection refused".into() };
    let c = expect(
        &Host::halo().with(|f| f.smoke_whisper = whisper(Some(refused))),
        "smoke.whisper",
        Fail,
        "Whisper (whisper-v3-turbo-FLM): cannot connect",
    );
    assert!(remedy(&c).contains("start Lemonade"), "{}", remedy(&c));
    expect(
        &Host::halo().with(|f| f.smoke_whisper = whisper(None)),
        "smoke.whisper",
        Error,
        "no transcription and no error recorded",
    );
}

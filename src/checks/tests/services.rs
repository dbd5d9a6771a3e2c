//! `lemonade.install`, `lemonade.service`, `lemonade.flm`, `lemonade.api`, `gpu.device`, `gpu.api`, and the
//! smoke checks.

use super::*;
use crate::host::Probed;
use crate::host::smoke::{SmokeFacts, WhisperSmokeFacts};
use crate::net::inference::{Completion, InferError};

/// No Lemonade binary or unit on this host (one may still answer on its port).
fn no_local_lemonade(h: Host) -> Host {
    h.lemonade(|l| {
        l.binaries.clear();
        l.units.clear();
    })
}

/// Nothing answers on Lemonade's port.
fn nothing_answers(h: Host) -> Host {
    h.lemonade_answer("live", None, "").lemonade_answer("health", None, "")
}

#[test]
fn lemonade_install() {
    expect(&Host::halo(), "lemonade.install", Pass, "Lemonade 11.7.0-1.fc44 (/usr/bin/lemond), unit lemond.service");
    expect(
        &Host::point_dkms(),
        "lemonade.install",
        Pass,
        "Lemonade 10.0.0-1 (/opt/bin/lemonade-router), unit lemonade-server.service",
    );
    let gone = nothing_answers(no_local_lemonade(Host::halo()));
    let c = expect(&gone, "lemonade.install", Fail, "Lemonade server is not installed");
    assert_eq!(step(&c), Some("lemonade"));
    let no_unit = nothing_answers(Host::halo().lemonade(|l| l.units.clear()));
    let c = expect(&no_unit, "lemonade.install", Warn, "has no systemd unit");
    assert_eq!(step(&c), Some("lemonade-service"));
}

/// A Lemonade that answers on its port without a unit of this host: a container, or
/// `lemond &` (lemonade#2742, lemonade#2094).
#[test]
fn lemonade_running_without_a_unit() {
    let container = no_local_lemonade(Host::halo());
    expect(
        &container,
        "lemonade.install",
        Pass,
        "Lemonade 11.7.0 is running at http://127.0.0.1:13305 (not managed by a unit on this host",
    );
    expect(&container, "lemonade.service", Skip, "runs without a unit on this host");
    expect(&container, "lemonade.flm", Skip, "runs elsewhere (a container)");
    let gone_here = container.clone().with(|f| {
        f.flm.ok_mut().binary = None;
        f.packages.ok_mut().packages.clear();
        for l in &mut f.loader.ok_mut().libs {
            l.found.clear();
            l.resolvable_at = None;
        }
    });
    expect(&gone_here, "xrt.install", Skip, "no XRT on this host; the Lemonade 11.7.0 answering here runs elsewhere");
    expect(&gone_here, "flm.install", Skip, "no flm on this host");
    let by_hand = Host::halo().lemonade(|l| l.units.clear());
    expect(
        &by_hand,
        "lemonade.install",
        Warn,
        "is running at http://127.0.0.1:13305 (not managed by a unit on this host: started by hand)",
    );
}

/// system-info refuses the NPU while the host's NPU works: the server cannot open the device
/// from where it runs (lemonade#2742).
#[test]
fn lemonade_api_names_a_device_the_server_cannot_open() {
    let info = r#"{"recipes":{"flm":{"backends":{"npu":{"devices":["amd_npu"],"state":"unsupported","message":"Requires AMD XDNA 2 AMD NPU"}}}}}"#;
    let container = no_local_lemonade(Host::halo()).lemonade_answer("system_info", Some(200), info);
    let c = expect(&container, "lemonade.api", Fail, "the server cannot open /dev/accel/accel0 from where it runs");
    assert!(remedy(&c).contains("--device /dev/accel/accel0"), "{}", remedy(&c));
    assert!(remedy(&c).contains("rootless"), "{}", remedy(&c));
    let unit = Host::halo().lemonade_answer("system_info", Some(200), info);
    let c = expect(&unit, "lemonade.api", Fail, "cannot open /dev/accel/accel0 as lemonade");
    assert!(remedy(&c).contains("usermod -aG"), "{}", remedy(&c));
    // When the NPU fails here too, the host's own checks name the cause instead.
    let broken_here = unit.flm_validate(|v| v.ready = Some(false));
    expect(&broken_here, "lemonade.api", Fail, "its FLM backend is unsupported");
}

#[test]
fn lemonade_service_passes_when_the_unit_finds_everything() {
    expect(&Host::halo(), "lemonade.service", Pass, "lemond.service active (enabled); bound to localhost");
    expect(&Host::point_dkms(), "lemonade.service", Pass, "lemonade-server.service active (enabled)");
    let h = Host::halo().lemonade_unit(|u| u.environment.push(("LEMONADE_HOST".into(), "0.0.0.0".into())));
    expect(&h.lemonade(|l| l.api_key_set = true), "lemonade.service", Pass, "bound to 0.0.0.0");
}

#[test]
fn lemonade_service_without_a_unit() {
    let gone = nothing_answers(no_local_lemonade(Host::halo()));
    expect(&gone, "lemonade.service", Skip, "Lemonade not installed");
    let no_unit = nothing_answers(Host::halo().lemonade(|l| l.units.clear()));
    let c = expect(&no_unit, "lemonade.service", Fail, "no Lemonade unit");
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
fn lemonade_service_fails_when_its_environment_misses_xrt() {
    // flm is lemonade.flm's: a service whose PATH lacks flm still passes here.
    let h = Host::point_dkms().lemonade_unit(|u| {
        u.environment.retain(|(k, _)| k != "PATH");
        u.flm_on_path = None;
    });
    expect(&h, "lemonade.service", Pass, "lemonade-server.service active");
    let h = Host::halo().xrt_lib("libxrt_coreutil.so.2", &["/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2"], None);
    let c = expect(&h, "lemonade.service", Fail, "cannot load the XRT libraries");
    assert_eq!(step(&c), Some("loader"));
}

/// Lemonade 10.0 (before 10.10) finds flm on its PATH only.
#[test]
fn lemonade_flm_before_10_10_is_the_flm_on_the_service_path() {
    expect(
        &Host::point_dkms(),
        "lemonade.flm",
        Pass,
        "Lemonade 10.0.0-1 runs /opt/fastflowlm/bin/flm 0.9.35, found on its PATH (it accepts >= v0.9.35)",
    );
    let h = Host::point_dkms().lemonade_unit(|u| {
        u.environment.retain(|(k, _)| k != "PATH");
        u.flm_on_path = None;
    });
    let c = expect(
        &h,
        "lemonade.flm",
        Fail,
        "lemonade-server.service cannot find flm: Lemonade 10.0.0-1 looks on the service's PATH, and /opt/fastflowlm/bin is not on it",
    );
    assert_eq!(step(&c), Some("lemonade-service"));
    assert!(
        remedy(&c).contains("Environment=PATH=/opt/fastflowlm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin."),
        "{}",
        remedy(&c)
    );
    // Older than the release's pin (at-least).
    let h = Host::point_dkms().package("lemonade-server", Some("10.3.0-1"));
    let c = expect(
        &h,
        "lemonade.flm",
        Fail,
        "Lemonade 10.3.0-1 needs FLM >= v0.9.39, but /opt/fastflowlm/bin/flm is 0.9.35",
    );
    assert_eq!(step(&c), Some("flm"));
    // 10.2.0 wanted its pin exactly (lemonade#1647).
    let newer = |h: Host| h.with(|f| f.flm.ok_mut().version = Some("0.9.39".into()));
    let c = expect(
        &newer(Host::point_dkms().package("lemonade-server", Some("10.2.0"))),
        "lemonade.flm",
        Fail,
        "accepts FLM v0.9.38 only",
    );
    assert_eq!(step(&c), Some("lemonade"));
}

/// From 10.10: flm.npu_bin, then flm.prefer_system + PATH, then its own copy.
#[test]
fn lemonade_flm_from_10_10_follows_its_config() {
    let h = Host::halo();
    expect(
        &h,
        "lemonade.flm",
        Pass,
        "Lemonade 11.7.0-1.fc44 runs /usr/bin/flm 1.0.2, named by flm.npu_bin in /var/lib/lemonade/.cache/lemonade/config.json (not version-checked; it pins v1.0.1)",
    );
    // No npu_bin, no prefer_system: it downloads its own on the first load, not the installed one.
    let defaults = |h: Host| {
        h.lemonade_unit(|u| {
            let c = u.dirs[0].config.as_mut().unwrap();
            c.npu_bin = None;
            c.prefer_system = Some(false);
        })
    };
    let c = expect(
        &defaults(Host::halo()),
        "lemonade.flm",
        Warn,
        "Lemonade 11.7.0-1.fc44 will download its own FLM v1.0.1 on the first NPU load; it will not use the installed /usr/bin/flm 1.0.2",
    );
    assert_eq!(step(&c), Some("lemonade-service"));
    assert!(remedy(&c).contains("lemonade config set flm.npu_bin=/usr/bin/flm"), "{}", remedy(&c));
    // prefer_system with flm on the service's PATH.
    let prefer =
        defaults(Host::halo()).lemonade_unit(|u| u.dirs[0].config.as_mut().unwrap().prefer_system = Some(true));
    expect(
        &prefer,
        "lemonade.flm",
        Pass,
        "runs /usr/bin/flm 1.0.2, found on its PATH with flm.prefer_system = true in",
    );
    let c = expect(
        &prefer.clone().lemonade_unit(|u| u.flm_on_path = None),
        "lemonade.flm",
        Fail,
        "flm.prefer_system is true in /var/lib/lemonade/.cache/lemonade/config.json, but lemond.service's PATH finds no flm",
    );
    assert_eq!(step(&c), Some("lemonade-service"));
    // prefer_system with a system flm older than the pin (at-least): update_required.
    let old = prefer.clone().with(|f| f.flm.ok_mut().version = Some("1.0.0".into()));
    expect(&old, "lemonade.flm", Fail, "Lemonade 11.7.0-1.fc44 needs FLM >= v1.0.1, but /usr/bin/flm is 1.0.0");
    // npu_bin naming a file that is not there.
    let gone = Host::halo().lemonade_unit(|u| u.npu_bin_paths = vec![("/usr/bin/flm".into(), false)]);
    expect(
        &gone,
        "lemonade.flm",
        Fail,
        "flm.npu_bin in /var/lib/lemonade/.cache/lemonade/config.json names /usr/bin/flm, which does not exist",
    );
    // An npu_bin path older than the pin is run unchecked: a warning.
    let h = Host::halo().with(|f| f.flm.ok_mut().version = Some("1.0.0".into()));
    expect(&h, "lemonade.flm", Warn, "runs /usr/bin/flm 1.0.0, older than v1.0.1, the FLM it pins");
}

#[test]
fn lemonade_flm_environment_override_wins_from_11_6() {
    let env = |h: Host, v: &str| {
        let v = v.to_string();
        h.lemonade_unit(move |u| u.environment.push(("LEMONADE_FLM_NPU_BIN".into(), v)))
    };
    // 11.6 reads it and it wins over config.json: a tag means its own download.
    expect(
        &env(Host::halo(), "v1.0.1"),
        "lemonade.flm",
        Warn,
        "will download its own FLM v1.0.1 on the first NPU load",
    );
    // 11.5 does not read it.
    let h = env(Host::halo().package("lemonade-server", Some("11.5.2")), "v1.0.1");
    expect(&h, "lemonade.flm", Pass, "runs /usr/bin/flm 1.0.2, named by flm.npu_bin");
}

#[test]
fn lemonade_flm_with_its_own_copy() {
    let own = |version: Option<&str>| {
        let version = version.map(str::to_string);
        Host::halo().no_flm().with(|f| f.flm.ok_mut().binary = None).lemonade_unit(move |u| {
            u.dirs[0].config.as_mut().unwrap().npu_bin = None;
            u.dirs[0].own_flm = Some(crate::host::services::OwnFlmCopy {
                binary: "/var/lib/lemonade/.cache/lemonade/bin/flm/npu/flm".into(),
                version,
            });
        })
    };
    expect(
        &own(Some("v1.0.1")),
        "lemonade.flm",
        Pass,
        "runs its own FLM v1.0.1 (/var/lib/lemonade/.cache/lemonade/bin/flm/npu/flm), the release it pins",
    );
    expect(&own(Some("v1.0.1")), "flm.install", Pass, "no system flm; Lemonade 11.7.0-1.fc44 runs its own FLM v1.0.1");
    let c = expect(
        &own(Some("v1.0.0")),
        "lemonade.flm",
        Fail,
        "own FLM (/var/lib/lemonade/.cache/lemonade/bin/flm/npu/flm) is v1.0.0, but it wants v1.0.1",
    );
    assert!(c.remedy.as_ref().unwrap().commands.contains(&"lemonade backends install flm:npu".to_string()));
    expect(&own(Some("v1.0.0")), "flm.install", Skip, "see lemonade.flm");
    expect(&own(None), "lemonade.flm", Fail, "is of unknown version (no version.txt)");
    // Beside an installed FastFlowLM of another release: a warning, install points it there.
    let h = own(Some("v1.0.1")).with(|f| {
        f.flm.ok_mut().binary = Some("/usr/bin/flm".into());
        f.flm.ok_mut().version = Some("1.0.0".into());
    });
    let c = expect(
        &h,
        "lemonade.flm",
        Warn,
        "runs its own FLM 1.0.1 (/var/lib/lemonade/.cache/lemonade/bin/flm/npu/flm), not the installed FastFlowLM /usr/bin/flm 1.0.0",
    );
    assert_eq!(step(&c), Some("lemonade-service"));
}

#[test]
fn lemonade_flm_says_unverified_past_what_the_recipes_know() {
    // A calendar release after 11.8.1: the verdict rests on extrapolated facts.
    let h = Host::halo()
        .package("lemonade-server", Some("2026.40.0"))
        .with(|f| f.flm.ok_mut().version = Some("0.9.46".into()));
    // From 11.8 the service's config.json is in its StateDirectory: the old one is ignored.
    let c = expect(&h, "lemonade.flm", Warn, "will download its own FLM v1.0.3 on the first NPU load");
    let notes = c.evidence["notes"].to_string();
    assert!(
        notes.contains("/var/lib/lemonade/.cache/lemonade/config.json is not read by Lemonade 2026.40.0"),
        "{notes}"
    );
    let moved = |npu_bin: Option<&str>, prefer: bool| {
        let npu_bin = npu_bin.map(str::to_string);
        h.clone().lemonade_unit(move |u| {
            let mut c = u.dirs[0].config.take().unwrap();
            c.path = "/var/lib/lemonade/config.json".into();
            c.npu_bin = npu_bin;
            c.prefer_system = Some(prefer);
            u.dirs[1].config = Some(c);
        })
    };
    let c = expect(
        &moved(Some("/usr/bin/flm"), false),
        "lemonade.flm",
        Warn,
        "runs /usr/bin/flm 0.9.46, older than v1.0.3",
    );
    assert!(!c.evidence["unverified"].as_array().unwrap().is_empty());
    let prefer = moved(None, true);
    // Older than the (unverified) pin: a failure on confirmed facts, a warning here.
    expect(&prefer, "lemonade.flm", Warn, "unverified: Lemonade 2026.40.0 needs FLM >= v1.0.3");
}

#[test]
fn lemonade_flm_is_skipped_or_unknown_without_what_it_needs() {
    expect(&Host::halo().lemonade(|l| l.units.clear()), "lemonade.flm", Skip, "no Lemonade unit");
    expect(&Host::halo().lemonade(|l| l.binaries.clear()), "lemonade.flm", Skip, "Lemonade not installed");
    let unknown = Host::halo()
        .with(|f| f.packages.ok_mut().packages.retain(|p| p.name != "lemonade-server"))
        .lemonade_answer("health", Some(401), "");
    expect(&unknown, "lemonade.flm", Warn, "Lemonade's version is unknown");
    let h = Host::halo().lemonade_unit(|u| u.dirs[0].error = Some("Permission denied (os error 13)".into()));
    expect(
        &h,
        "lemonade.flm",
        Error,
        "cannot read /var/lib/lemonade/.cache/lemonade (Permission denied (os error 13)): run doctor as root",
    );
    expect(&Host::halo().probe_error("lemonade", "EIO"), "lemonade.flm", Error, "could not read Lemonade: EIO");
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
    let gone = no_local_lemonade(Host::halo()).lemonade(|l| l.live = None);
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

/// Login sessions that start Lemonade's per-user unit compete with the system unit for its
/// port (lemonade#2125): the unit down while they are enabled is their doing; the unit up
/// with them enabled is a warning.
#[test]
fn lemonade_service_names_login_sessions_that_take_its_port() {
    let global = "/etc/systemd/user/default.target.wants/lemond.service";
    let user = "/home/alex/.config/systemd/user/default.target.wants/lemond.service";
    let sessions = |links: &[&str]| {
        let links: Vec<String> = links.iter().map(|s| s.to_string()).collect();
        Host::halo().lemonade(move |l| l.session_links = links)
    };
    let down = sessions(&[global, user]).lemonade_unit(|u| {
        let rt = u.runtime.as_mut().unwrap();
        rt.active_state = "activating".into();
        rt.sub_state = "auto-restart".into();
    });
    let c = expect(&down, "lemonade.service", Fail, "login sessions start a lemond of their own");
    assert!(c.summary.contains(global) && c.summary.contains(user), "{}", c.summary);
    let r = c.remedy.as_ref().unwrap();
    assert_eq!(r.commands, ["sudo systemctl --global disable lemond.service".to_string(), format!("sudo rm {user}")]);
    assert!(r.reboot, "the sessions' instances hold the port until they end");
    assert_eq!(r.docs.as_deref(), Some("https://github.com/lemonade-sdk/lemonade/issues/2125"));
    let up = expect(&sessions(&[global]), "lemonade.service", Warn, "holds port 13305, but login sessions");
    assert!(!up.remedy.as_ref().unwrap().reboot);
    // Without such a link a stopped unit is the generic failure.
    let plain = Host::halo().lemonade_unit(|u| u.runtime.as_mut().unwrap().active_state = "failed".into());
    expect(&plain, "lemonade.service", Fail, "lemond.service is failed");
}

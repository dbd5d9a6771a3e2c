//! The output and write contract every command keeps: read-only commands write nothing into
//! the root they judge (a checked-in fixture tree here, compared by digest before and after).

use crate::{bin, fixture, tree_digest};

#[test]
fn read_only_commands_write_nothing_into_a_fixture_tree() {
    let root = fixture("fedora44-71-intree-healthy");
    let before = tree_digest(&root);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}/health");
    let commands: &[&[&str]] = &[
        &["doctor"],
        &["--format", "json", "doctor", "--smoke"],
        &["check"],
        &["check", "--kernel", "7.1.4-200.fc44.x86_64"],
        &["check", "--hook", "--kernel", "7.1.4-200.fc44.x86_64"],
        &["bench", "--only", "gpu", "--runs", "1", "--gpu-url", &dead, "--gpu-model", "m"],
        &["status"],
        &["recipes", "show"],
        &["install", "--dry-run"],
        &["undo", "--dry-run"],
        &["config", "litellm", "--npu-model", "a", "--gpu-model", "b", "--gpu-url", &dead],
    ];
    for args in commands {
        let out = bin().arg("--root").arg(&root).args(*args).output().unwrap();
        assert!(out.status.code().is_some(), "{args:?}");
        assert_eq!(tree_digest(&root), before, "{args:?} wrote into the fixture tree");
    }
}

fn run(root: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("--root").arg(root).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--format json` and `yaml` print one document, nothing before or after it, and every
/// document of ours says `apiVersion: npu-setup/v1` and its `kind`.
#[test]
fn every_command_prints_one_document_in_the_one_style() {
    let root = fixture("case14-fedora43-70rc7-dkms-2230");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}/health");
    let cases: &[(&[&str], &str)] = &[
        (&["doctor"], "DoctorReport"),
        (&["doctor", "--list"], "CheckCatalog"),
        (&["check"], "KernelMatrix"),
        (&["check", "--kernel", "7.0.0-0.rc7.55.fc45.x86_64"], "KernelReadiness"),
        (&["status"], "Status"),
        (&["recipes", "show"], "Recipes"),
        (&["install", "--dry-run"], "Install"),
        (&["bench", "--only", "gpu", "--runs", "1", "--gpu-url", &dead, "--gpu-model", "m"], "BenchReport"),
    ];
    for (args, kind) in cases {
        for format in ["json", "yaml"] {
            let (code, out, err) = run(&root, &[&["--format", format][..], args].concat());
            // `status` exits 2 for "unknown" (no record in a fixture): still a document.
            assert!(code >= 0 && (code != 2 || args == &["status"]), "{args:?} {format}: exit {code}\n{err}");
            let v: serde_json::Value = if format == "json" {
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not one JSON document: {e}\n{out}"))
            } else {
                serde_yaml::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not one YAML document: {e}\n{out}"))
            };
            assert_eq!(v["apiVersion"], "npu-setup/v1", "{args:?} {format}");
            assert_eq!(v["kind"], *kind, "{args:?} {format}");
            assert!(v.get("schema").is_none(), "{args:?} {format}: the old schema key");
        }
    }
    // `config litellm` prints LiteLLM's own document, in either form.
    let cfg = ["config", "litellm", "--npu-model", "a", "--gpu-model", "b", "--gpu-url", &dead];
    let (code, out, _) = run(&root, &[&["--format", "json"][..], &cfg].concat());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["model_list"][0]["model_name"], "npu/a");
    let (code, out, _) = run(&root, &[&["--format", "yaml"][..], &cfg].concat());
    assert_eq!(code, 0);
    assert!(out.starts_with("model_list:"), "{out}");
    // Formats a command has no form for are refused by name.
    for args in
        [&["--format", "prometheus", "install", "--dry-run"][..], &["--format", "prometheus", "config", "litellm"]]
    {
        let (code, _, err) = run(&root, args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("has no prometheus form"), "{args:?}: {err}");
    }
    // The deprecated --plan-json: the same one document, and a warning on stderr.
    let (code, out, err) = run(&root, &["install", "--dry-run", "--plan-json"]);
    assert_ne!(code, 2, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!((v["kind"].as_str(), v["dry_run"].as_bool()), (Some("Install"), Some(true)));
    assert!(err.contains("--plan-json is deprecated: use --format json"), "{err}");
}

/// `check --format prometheus`: real prometheus-client parses it.
#[test]
fn check_speaks_prometheus() {
    let root = fixture("case09-iommu-off-70rc2");
    let (code, out, err) = run(&root, &["--format", "prometheus", "check"]);
    assert_eq!(code, 1, "{err}");
    let m = crate::fleet::parse_metrics(&out);
    let ready = m["npu_setup_kernel_ready"]["samples"].as_array().unwrap();
    assert!(ready.iter().any(|s| s["labels"]["default"] == "true" && s["value"] == 0.0), "{m}");
    let aspects = m["npu_setup_kernel_aspect"]["samples"].as_array().unwrap();
    assert!(
        aspects
            .iter()
            .any(|s| s["labels"]["aspect"] == "kargs" && s["labels"]["status"] == "fail" && s["value"] == 1.0),
        "{m}"
    );
    let (code, out, _) = run(&root, &["--format", "prometheus", "check", "--kernel", "6.19.9-300.fc44.x86_64"]);
    assert_eq!(code, 1);
    assert!(out.contains("npu_setup_kernel_ready{kernel=\"6.19.9-300.fc44.x86_64\""), "{out}");
}

/// A verdict from zero checks run is `inconclusive`, exit 4 — never "ready".
#[test]
fn doctor_with_every_selected_check_skipped_is_inconclusive() {
    let root = fixture("fedora44-71-intree-healthy");
    let (code, out, _) = run(&root, &["--format", "json", "doctor", "--only", "dkms.state,stack.provenance"]);
    assert_eq!(code, 4, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["diagnosis"]["state"], "inconclusive");
    let (code, out, _) = run(&root, &["doctor", "--only", "dkms.state,stack.provenance"]);
    assert_eq!(code, 4);
    assert!(out.contains("inconclusive: No check ran"), "{out}");
    let (code, out, _) = run(&root, &["--format", "prometheus", "doctor", "--only", "dkms.state"]);
    assert_eq!(code, 4);
    assert!(out.contains("npu_setup_state{state=\"inconclusive\"} 1"), "{out}");
    assert!(out.contains("npu_setup_ready 0"), "{out}");
}

/// A real install with `--format json`: its plan and result as one document.
#[test]
fn install_prints_its_plan_and_result_as_one_document() {
    let (_tmp, root) = crate::install::broken_fedora("fedora44-71-intree-healthy");
    let (code, out, err) = run(&root, &["--format", "json", "install", "--yes", "--user", "alice"]);
    assert_eq!(code, 3, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!((v["kind"].as_str(), v["exit_code"].as_i64()), (Some("Install"), Some(3)));
    let kargs = v["plan"].as_array().unwrap().iter().find(|s| s["id"] == "kargs").unwrap();
    assert_eq!(kargs["plan"]["actions"][0]["action"], "edit-file");
    assert_eq!(v["steps"]["kargs"]["status"], "done");
    assert!(v["reboot"][0].as_str().unwrap().starts_with("kargs: "), "{}", v["reboot"]);
    assert!(v["run"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(v["verdict"]["kind"], "DoctorReport");
    // The run it names is the one undo takes.
    let (code, out, _) = run(&root, &["--format", "json", "undo", "--dry-run"]);
    assert_eq!(code, 0);
    let u: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(u["run"], v["run"]);
}

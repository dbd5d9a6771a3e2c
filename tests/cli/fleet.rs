//! Fleets: `--format prometheus` / `doctor --textfile` checked by the real Prometheus
//! exposition parser (PyPI prometheus-client), the bench result doctor exports (a real
//! llama-server), the facts.d script, and templates/ansible/playbook.yml run by real
//! ansible-core (PyPI) against localhost (`ansible_connection=local`) on fixture copies.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{bin, copy_fixture, tree_digest, write_shim};

const HEALTHY: &str = "fedora44-71-intree-healthy";
const BROKEN: &str = "case09-iommu-off-70rc2";

/// `(ANSIBLE_PYTHONPATH, PROMETHEUS_CLIENT_PYTHONPATH)`: from the environment (`.ci/test.sh`
/// evals `.ci/ansible.sh`), else by running the script (installs once, then cached).
fn tools() -> (String, String) {
    static TOOLS: OnceLock<(String, String)> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            if let (Ok(a), Ok(p)) = (std::env::var("ANSIBLE_PYTHONPATH"), std::env::var("PROMETHEUS_CLIENT_PYTHONPATH"))
            {
                return (a, p);
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/ansible.sh");
            let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run .ci/ansible.sh");
            assert!(out.status.success(), ".ci/ansible.sh failed");
            let text = String::from_utf8_lossy(&out.stdout);
            let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap().to_string();
            (get("ANSIBLE_PYTHONPATH"), get("PROMETHEUS_CLIENT_PYTHONPATH"))
        })
        .clone()
}

/// Parses exposition text with prometheus_client's parser, after checking what that parser
/// tolerates but the format forbids: a family split in two, or HELP/TYPE given twice.
/// Returns `{family: {type, help, samples: [{name, labels, value}]}}`.
const PARSE: &str = r##"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
order = []
for line in text.splitlines():
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        name = line.split()[2]
    elif line.strip() and not line.startswith("#"):
        name = line.split("{")[0].split(" ")[0]
    else:
        continue
    if not order or order[-1] != name:
        assert name not in order, "family %s is split" % name
        order.append(name)
assert text.count("\n# HELP ") + text.startswith("# HELP ") == len(order), "one HELP per family"
out = {}
for f in text_string_to_metric_families(text):
    assert f.name not in out, f.name
    out[f.name] = {"type": f.type, "help": f.documentation,
                   "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
print(json.dumps(out))
"##;

pub(crate) fn parse_metrics(text: &str) -> Value {
    use std::io::Write;
    let (_, prom) = tools();
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .env("PYTHONPATH", prom)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser rejected:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the one sample of `family` whose labels include `labels`.
fn value(m: &Value, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let samples = m[family]["samples"].as_array()?;
    let hits: Vec<&Value> =
        samples.iter().filter(|s| labels.iter().all(|(k, v)| s["labels"][*k].as_str() == Some(*v))).collect();
    assert!(hits.len() <= 1, "{family} {labels:?}: {hits:?}");
    hits.first().map(|s| s["value"].as_f64().unwrap())
}

fn prometheus(root: &Path, args: &[&str]) -> (i32, Value) {
    let out = bin().arg("--root").arg(root).args(["--format", "prometheus"]).args(args).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), parse_metrics(&text))
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn prometheus_metrics_of_a_healthy_host() {
    let (_t, root) = copy_fixture(HEALTHY);
    let (code, m) = prometheus(&root, &["doctor"]);
    assert_eq!(code, 0);
    for (name, f) in m.as_object().unwrap() {
        assert!(name.starts_with("npu_setup_"), "{name}");
        assert_eq!(f["type"], "gauge", "{name}");
        assert!(!f["help"].as_str().unwrap().is_empty(), "{name}");
    }
    assert_eq!(value(&m, "npu_setup_ready", &[]), Some(1.0));
    assert_eq!(value(&m, "npu_setup_state", &[("state", "ready")]), Some(1.0));
    for other in ["degraded", "broken", "no-npu"] {
        assert_eq!(value(&m, "npu_setup_state", &[("state", other)]), Some(0.0), "{other}");
    }
    assert!(m.get("npu_setup_first_failure").is_none(), "nothing failed: {}", m["npu_setup_first_failure"]);
    assert_eq!(value(&m, "npu_setup_firmware_info", &[("version", "1.1.2.65"), ("source", "loaded")]), Some(1.0));
    assert_eq!(value(&m, "npu_setup_reboot_pending", &[]), Some(0.0));
    assert_eq!(value(&m, "npu_setup_check_status", &[("id", "flm.validate"), ("status", "pass")]), Some(1.0));
    assert_eq!(value(&m, "npu_setup_checks", &[("status", "fail")]), Some(0.0));
    // One series per check of the JSON report, same ids and statuses.
    let (_, report) = crate::doctor_json(&root, &[]);
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(m["npu_setup_check_status"]["samples"].as_array().unwrap().len(), checks.len());
    for c in checks {
        let (id, st) = (c["id"].as_str().unwrap(), c["status"].as_str().unwrap());
        assert_eq!(value(&m, "npu_setup_check_status", &[("id", id), ("status", st)]), Some(1.0), "{id}");
    }
    assert_eq!(value(&m, "npu_setup_npu_info", &[("product", "Strix Halo"), ("generation", "npu5")]), Some(1.0));
    let at = value(&m, "npu_setup_last_run_timestamp_seconds", &[]).unwrap();
    assert!((now() - at).abs() < 60.0, "{at}");
    let took = value(&m, "npu_setup_doctor_duration_seconds", &[]).unwrap();
    assert!((0.0..10.0).contains(&took), "{took}");
    // No bench has run on this root: no bench series.
    assert!(m.get("npu_setup_bench_decode_tokens_per_second").is_none());
}

#[test]
fn prometheus_metrics_of_a_broken_host() {
    let (_t, root) = copy_fixture(BROKEN);
    let (code, m) = prometheus(&root, &["doctor"]);
    assert_eq!(code, 1, "same exit code as the other formats");
    assert_eq!(value(&m, "npu_setup_ready", &[]), Some(0.0));
    assert_eq!(value(&m, "npu_setup_state", &[("state", "broken")]), Some(1.0));
    assert_eq!(value(&m, "npu_setup_state", &[("state", "ready")]), Some(0.0));
    assert_eq!(value(&m, "npu_setup_first_failure", &[("check", "boot.iommu"), ("layer", "boot")]), Some(1.0));
    assert_eq!(m["npu_setup_first_failure"]["samples"].as_array().unwrap().len(), 1);
    assert_eq!(value(&m, "npu_setup_check_status", &[("id", "boot.iommu"), ("status", "fail")]), Some(1.0));
    assert_eq!(value(&m, "npu_setup_checks", &[("status", "fail")]), Some(5.0));
    assert_eq!(value(&m, "npu_setup_firmware_info", &[("version", "1.1.2.65")]), Some(1.0));
}

#[test]
fn prometheus_metrics_without_an_npu() {
    let (code, m) = prometheus(&crate::fixture("desktop-no-npu"), &["doctor"]);
    assert_eq!(code, 1);
    assert_eq!(value(&m, "npu_setup_ready", &[]), Some(0.0));
    assert_eq!(value(&m, "npu_setup_state", &[("state", "no-npu")]), Some(1.0));
    assert!(m.get("npu_setup_npu_info").is_none() && m.get("npu_setup_firmware_info").is_none(), "{m}");
}

#[test]
fn prometheus_label_values_are_escaped() {
    let (_t, root) = copy_fixture(HEALTHY);
    let odd = r#"1.1.2.65 "rc\1""#;
    std::fs::write(root.join("sys/bus/pci/devices/0000:c6:00.1/fw_version"), format!("{odd}\n")).unwrap();
    let (_, m) = prometheus(&root, &["doctor"]);
    let s = &m["npu_setup_firmware_info"]["samples"][0];
    assert_eq!(s["labels"]["version"], odd, "{m}");
}

#[test]
fn reboot_pending_follows_installs_record_in_this_boot() {
    let (_t, root) = copy_fixture(HEALTHY);
    let boot_id = "0f9c1c2e-2d6a-4e4b-9d6a-3b1f5c2d7e80";
    std::fs::create_dir_all(root.join("proc/sys/kernel/random")).unwrap();
    std::fs::write(root.join("proc/sys/kernel/random/boot_id"), format!("{boot_id}\n")).unwrap();
    let state = |id: &str| {
        let s = serde_json::json!({"version": 1, "reboot": {"reasons": ["kargs"], "boot_id": id, "run": "1-1"}});
        std::fs::create_dir_all(root.join("var/lib/npu-setup")).unwrap();
        std::fs::write(root.join("var/lib/npu-setup/state.json"), s.to_string()).unwrap();
    };
    state(boot_id);
    let (_, m) = prometheus(&root, &["doctor"]);
    assert_eq!(value(&m, "npu_setup_reboot_pending", &[]), Some(1.0));
    // Recorded in an earlier boot: the reboot happened, nothing is owed any more.
    state("another-boot");
    let (_, m) = prometheus(&root, &["doctor"]);
    assert_eq!(value(&m, "npu_setup_reboot_pending", &[]), Some(0.0));
}

#[test]
fn textfile_is_written_atomically_beside_the_normal_output() {
    let (_t, root) = copy_fixture(BROKEN);
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("collector/npu_setup.prom");
    let out = bin().arg("--root").arg(&root).arg("doctor").arg("--textfile").arg(&prom).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "broken, and the metrics still written");
    assert!(String::from_utf8_lossy(&out.stdout).contains("boot.iommu"), "the human report still goes to stdout");
    let m = parse_metrics(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(value(&m, "npu_setup_first_failure", &[("check", "boot.iommu")]), Some(1.0));
    assert_eq!(std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777, 0o644);
    // Rewritten in place; no temporary files left for the collector to see.
    let out = bin().arg("--root").arg(&root).arg("doctor").arg("-q").arg("--textfile").arg(&prom).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let names: Vec<_> = std::fs::read_dir(prom.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("npu_setup.prom")]);
    // node_exporter reads only *.prom: anything else is a usage error, before any work.
    let out = bin().arg("--root").arg(&root).arg("doctor").arg("--textfile").arg(dir.path().join("x.txt")).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".prom"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_last_bench_decode_speed_reaches_doctors_metrics() {
    let (_server, port) = crate::smoke::llama_server();
    let (_t, root) = copy_fixture(HEALTHY);
    let gpu_url = format!("http://127.0.0.1:{port}/health");
    let bench = |format: &str, extra: &[&str]| {
        bin()
            .arg("--root")
            .arg(&root)
            .args(["--format", format, "bench", "--only", "gpu", "--runs", "1", "--max-tokens", "16"])
            .args(["--gpu-url", &gpu_url])
            .args(extra)
            .output()
            .unwrap()
    };
    // Without --save nothing is written, not even into a fixture tree.
    let untouched = tree_digest(&root);
    let out = bench("json", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tree_digest(&root), untouched, "bench without --save wrote");
    let out = bench("prometheus", &["--save"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let m = parse_metrics(&String::from_utf8(out.stdout).unwrap());
    let printed = value(&m, "npu_setup_bench_decode_tokens_per_second", &[("side", "gpu")]).unwrap();
    assert!(printed > 0.0, "{m}");
    assert_eq!(value(&m, "npu_setup_bench_runs_failed", &[("side", "gpu")]), Some(0.0));

    // A saved run is kept; doctor exports the decode speed from it.
    let last: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("var/lib/npu-setup/bench/last.json")).unwrap())
            .unwrap();
    let kept = last["sides"][0]["decode_tps"]["mean"].as_f64().unwrap();
    assert_eq!(kept, printed);
    let (_, m) = prometheus(&root, &["doctor"]);
    assert_eq!(value(&m, "npu_setup_bench_decode_tokens_per_second", &[("side", "gpu")]), Some(kept));
    assert!(value(&m, "npu_setup_bench_decode_tokens_per_second", &[("side", "npu")]).is_none());
    let at = value(&m, "npu_setup_bench_timestamp_seconds", &[]).unwrap();
    assert!((now() - at).abs() < 120.0, "{at}");

    // `--baseline last` compares with the run before (a tolerance no run can miss).
    let out = bench("json", &["--baseline", "last", "--tolerance", "99"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    // A run where nothing succeeded is not saved: the kept result stays.
    let kept_digest = tree_digest(&root);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = bin()
        .arg("--root")
        .arg(&root)
        .args(["bench", "--only", "gpu", "--runs", "1", "--max-tokens", "4", "--save", "nightly"])
        .args(["--gpu-url", &format!("http://127.0.0.1:{port}/health"), "--gpu-model", "m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bench: not saved: no run succeeded on gpu"), "{err}");
    assert_eq!(tree_digest(&root), kept_digest, "a failed bench wrote");
}

/// Runs the facts.d script (executed directly: its shebang and mode are part of the test).
fn fact(env: &[(&str, &str)]) -> (Value, Duration) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/ansible/npu_setup.fact");
    let started = Instant::now();
    let out = Command::new(script).envs(env.iter().copied()).output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "a fact script always exits 0");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one compact line: {text}");
    (serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON ({e}): {text}")), took)
}

const NPU_SETUP: &str = env!("CARGO_BIN_EXE_npu-setup");

#[test]
fn fact_script_summarizes_doctor() {
    let (_t, healthy) = copy_fixture(HEALTHY);
    let (f, _) = fact(&[("NPU_SETUP_FACT_BIN", NPU_SETUP), ("NPU_SETUP_FACT_ROOT", healthy.to_str().unwrap())]);
    assert_eq!(f["state"], "ready", "{f}");
    assert_eq!(f["ready"], true);
    assert_eq!(f["first_failure"], Value::Null);
    assert_eq!(f["failing"], serde_json::json!([]));
    assert_eq!(f["reboot_pending"], false);
    assert_eq!(f["exit_code"], 0);
    assert_eq!(f["tool_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(f["versions"]["firmware"], "1.1.2.65");
    assert_eq!(f["versions"]["kernel_running"], "7.1.4-200.fc44.x86_64");
    assert!(f.get("error").is_none(), "{f}");

    let (_t, broken) = copy_fixture(BROKEN);
    let (f, _) = fact(&[("NPU_SETUP_FACT_BIN", NPU_SETUP), ("NPU_SETUP_FACT_ROOT", broken.to_str().unwrap())]);
    assert_eq!(f["state"], "broken", "{f}");
    assert_eq!(f["ready"], false);
    assert_eq!(f["first_failure"], "boot.iommu");
    assert_eq!(f["fix"]["step"], "kargs");
    assert_eq!(f["fix"]["reboot"], true);
    assert!(f["failing"].as_array().unwrap().contains(&Value::from("boot.iommu")), "{f}");
    assert_eq!(f["exit_code"], 1);
}

#[test]
fn fact_script_prints_json_when_doctor_cannot_run() {
    // No binary.
    let (f, _) = fact(&[("NPU_SETUP_FACT_BIN", "/nonexistent/npu-setup")]);
    assert_eq!(f["state"], "unknown");
    assert_eq!(f["ready"], false);
    assert!(f["error"].as_str().unwrap().contains("not found"), "{f}");
    // doctor refuses (exit 2, no report): its own message is the error.
    let (f, _) = fact(&[("NPU_SETUP_FACT_BIN", NPU_SETUP), ("NPU_SETUP_FACT_ROOT", "/nonexistent-root")]);
    assert_eq!(f["exit_code"], 2);
    assert!(f["error"].as_str().unwrap().contains("opening root /nonexistent-root"), "{f}");
    // Garbage on stdout.
    let dir = tempfile::tempdir().unwrap();
    write_shim(dir.path(), "garbage", "printf '{\"checks\": [\\n'; exit 1");
    let garbage = dir.path().join("garbage");
    let (f, _) = fact(&[("NPU_SETUP_FACT_BIN", garbage.to_str().unwrap())]);
    assert!(f["error"].as_str().unwrap().contains("exited 1 without a report"), "{f}");
}

#[test]
fn fact_script_kills_a_hung_doctor_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    // Hangs, and leaves a grandchild that would hold a pipe open: both must go.
    let pidfile = dir.path().join("grandchild.pid");
    write_shim(dir.path(), "hung", &format!("sleep 300 & echo $! > {}\nsleep 300", pidfile.display()));
    let hung = dir.path().join("hung");
    let (f, took) = fact(&[("NPU_SETUP_FACT_BIN", hung.to_str().unwrap()), ("NPU_SETUP_FACT_TIMEOUT", "1")]);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(f["error"].as_str().unwrap().contains("did not finish within 1s"), "{f}");
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
    let started = Instant::now();
    loop {
        // Gone, or a zombie waiting for a reaper: either way no longer running.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "grandchild {pid} survived: {stat}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs templates/ansible/playbook.yml with real ansible-playbook; returns its output.
fn ansible_playbook(work: &Path, inventory: &str, extra: &[&str]) -> Output {
    let (ansible, _) = tools();
    std::fs::write(work.join("inventory.ini"), inventory).unwrap();
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/ansible/playbook.yml");
    Command::new("python3")
        .arg(Path::new(&ansible).join("bin/ansible-playbook"))
        .arg("-i")
        .arg(work.join("inventory.ini"))
        .arg(playbook)
        .args(extra)
        .current_dir(work)
        .env("PYTHONPATH", &ansible)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env("ANSIBLE_HOME", work.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", work.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", work.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env_remove("ANSIBLE_CONFIG")
        .output()
        .unwrap()
}

/// PLAY RECAP: host -> (ok, changed, failed).
fn recap(stdout: &str) -> std::collections::BTreeMap<String, (u32, u32, u32)> {
    let after = stdout.split("PLAY RECAP").nth(1).unwrap_or_else(|| panic!("no recap:\n{stdout}"));
    after
        .lines()
        .filter_map(|l| {
            let (host, rest) = l.split_once(" : ")?;
            let n = |k: &str| rest.split_whitespace().find_map(|kv| kv.strip_prefix(k)?.parse().ok()).unwrap();
            Some((host.trim().to_string(), (n("ok="), n("changed="), n("failed="))))
        })
        .collect()
}

/// Hosts that ran a task, per occurrence of the task (one occurrence per serial batch).
fn task_runs(stdout: &str, task: &str) -> Vec<Vec<String>> {
    stdout
        .split(&format!("TASK [{task}]"))
        .skip(1)
        .map(|section| {
            section
                .lines()
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .filter_map(|l| l.split_once(": [")?.1.split(']').next().map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn playbook_fails_the_broken_host_and_installs_the_others_in_batches() {
    let (_a, healthy_a) = copy_fixture(HEALTHY);
    let (_b, healthy_b) = copy_fixture(HEALTHY);
    let (_c, broken) = copy_fixture(BROKEN);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let python = String::from_utf8(
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap().stdout,
    )
    .unwrap();
    let inventory = format!(
        "[npu]\nhealthy-a npu_setup_root={}\nhealthy-b npu_setup_root={}\nbroken npu_setup_root={}\n\n\
         [npu:vars]\nansible_connection=local\nansible_python_interpreter={}\nnpu_setup_bin={NPU_SETUP}\n\
         npu_setup_become=false\nnpu_setup_fact_path={}\nnpu_setup_config_path={{{{ npu_setup_root }}}}/../install.yaml\n",
        healthy_a.display(),
        healthy_b.display(),
        broken.display(),
        python.trim(),
        w.join("facts.d").display(),
    );
    // `lifecycle` (kernel hook, boot unit: systemctl) is tested in lifecycle.rs; here the
    // healthy fixtures stay converged, so install has nothing to change.
    let out = ansible_playbook(
        w,
        &inventory,
        &["-e", r#"{"npu_setup_install_config": {"user": "alice", "skip": ["lifecycle"]}}"#],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "ansible-playbook exits 2 when a host failed\n{stdout}\n{stderr}");

    // Exactly the broken host failed, with the first broken layer and its fix.
    let r = recap(&stdout);
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r["broken"].2, 1, "{stdout}");
    assert_eq!(r["healthy-a"].2, 0, "{stdout}");
    assert_eq!(r["healthy-b"].2, 0, "{stdout}");
    let fatal = stdout.lines().find(|l| l.starts_with("fatal: [broken]")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(fatal.contains("boot.iommu") && fatal.contains("npu-setup install --only kargs"), "{fatal}");
    assert!(!stdout.contains("fatal: [healthy"), "{stdout}");

    // The verdicts came from the facts.d script the playbook installed.
    let fact = w.join("facts.d/npu_setup.fact");
    assert_eq!(std::fs::metadata(&fact).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(stdout.contains("healthy-a: ready"), "{stdout}");
    assert!(stdout.contains("broken: broken (boot.iommu)"), "{stdout}");

    // install ran on each healthy host, one per batch (serial: 1), never on the broken one.
    let runs = task_runs(&stdout, "Run npu-setup install");
    let batches: Vec<&Vec<String>> = runs.iter().filter(|b| !b.is_empty()).collect();
    assert_eq!(batches, vec![&vec!["healthy-a".to_string()], &vec!["healthy-b".to_string()]], "{stdout}");
    assert!(stdout.contains("Everything is in place: nothing to change."), "{stdout}");
    // Its options went through the config file the playbook wrote (keys = long flag names).
    for root in [&healthy_a, &healthy_b] {
        let cfg = std::fs::read_to_string(root.parent().unwrap().join("install.yaml")).unwrap();
        let cfg: serde_json::Value = serde_yaml::from_str(&cfg).unwrap();
        assert_eq!(cfg, serde_json::json!({"user": "alice", "skip": ["lifecycle"]}));
    }
    assert!(!broken.parent().unwrap().join("install.yaml").exists(), "the broken host never reached install");
}

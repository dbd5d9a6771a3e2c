//! `dev capture-fixture`: a capture of a fixture round-trips through `doctor`, never
//! merges into existing data, and carries no user names of the source.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The binary under test with a fixed environment.
fn npu_setup() -> Command {
    let mut c = Command::cargo_bin("npu-setup").expect("binary built");
    c.env("NO_COLOR", "1").env("LANG", "C.UTF-8").env_remove("LC_ALL").env_remove("SUDO_USER").env_remove("RUST_LOG");
    c
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts").join(name)
}

/// Captures `root` into `out`, asserting success.
fn capture(root: &Path, out: &Path) {
    let o = npu_setup()
        .arg("--root")
        .arg(root)
        .args(["dev", "capture-fixture", "--out"])
        .arg(out)
        .output()
        .expect("capture runs");
    assert!(
        o.status.success(),
        "capture of {} failed: {}\n{}",
        root.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What doctor concluded: every check's (id, status), the state and the first failure.
/// Summaries are left out: they may name the (redacted) user.
fn verdict(root: &Path) -> (Vec<(String, String)>, String, serde_json::Value) {
    let o = npu_setup().arg("--root").arg(root).args(["doctor", "--format", "json"]).output().expect("doctor runs");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("doctor --root {} printed no JSON ({e}): {}", root.display(), String::from_utf8_lossy(&o.stderr))
    });
    let checks = v["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .map(|c| (c["id"].as_str().unwrap_or("").to_string(), c["status"].as_str().unwrap_or("").to_string()))
        .collect();
    (checks, v["diagnosis"]["state"].as_str().unwrap_or("").to_string(), v["diagnosis"]["first_failure"].clone())
}

fn round_trip(name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    capture(&fixture(name), &out);
    assert!(out.join(".fixture.yaml").is_file(), "{name}: no .fixture.yaml in the capture");
    assert_eq!(verdict(&out), verdict(&fixture(name)), "{name}: doctor disagrees between fixture and capture");
}

#[test]
fn capture_of_the_healthy_fixture_round_trips() {
    round_trip("fedora43-619-dkms-healthy");
}

#[test]
fn capture_of_the_render_group_case_round_trips() {
    round_trip("case07-ubuntu2404-render-group");
}

#[test]
fn capture_of_the_protocol7_case_round_trips() {
    round_trip("case02-halo-619-intree-proto7");
}

#[test]
fn capture_of_a_kernel_crash_keeps_the_whole_crash_report() {
    // The oops lines carry no amdxdna keyword but the RIP line: the capture must keep every
    // line of the report the probe kept, or the replay loses the crash.
    round_trip("fedora44-71-npu-oops");
}

#[test]
fn capture_refuses_a_non_empty_out_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep-me"), "x").unwrap();
    let o = npu_setup()
        .arg("--root")
        .arg(fixture("case02-halo-619-intree-proto7"))
        .args(["dev", "capture-fixture", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&out.display().to_string()) && err.contains("not empty"), "{err}");
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("cap")], "no temporary directory left behind");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn capture_into_an_empty_directory_works() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    std::fs::create_dir(&out).unwrap();
    capture(&fixture("case02-halo-619-intree-proto7"), &out);
    assert!(out.join(".fixture.yaml").is_file());
}

/// Every name and every file's bytes under `dir`, symlink targets included.
fn tree_text(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.file_type().is_symlink() {
            out.push((p.clone(), std::fs::read_link(&p).unwrap().to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            tree_text(&p, out);
        } else {
            out.push((p.clone(), String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()));
        }
        out.push((p.clone(), p.to_string_lossy().into_owned()));
    }
}

#[test]
fn capture_carries_no_user_names() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["fedora43-619-dkms-healthy", "case07-ubuntu2404-render-group"] {
        let out = tmp.path().join(name);
        capture(&fixture(name), &out);
        let mut all = Vec::new();
        tree_text(&out, &mut all);
        for (path, text) in &all {
            let rel = path.strip_prefix(&out).unwrap().to_string_lossy().to_lowercase();
            assert!(!rel.contains("alice"), "{name}: a path names the user: {rel}");
            assert!(!text.to_lowercase().contains("alice"), "{name}: {rel} names the user");
        }
        let yaml = std::fs::read_to_string(out.join(".fixture.yaml")).unwrap();
        assert!(yaml.contains("user: user1"), "{yaml}");
        assert!(!yaml.contains("expect:"), "a maintainer adds expect:, not the capture");
    }
}

#[test]
fn capture_of_a_capture_is_stable() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let second = tmp.path().join("second");
    capture(&fixture("fedora43-619-dkms-healthy"), &first);
    capture(&first, &second);
    assert_eq!(verdict(&second), verdict(&first));
}

#[test]
fn capture_keeps_only_the_relevant_kernel_log_and_lists_firmware() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    capture(&fixture("fedora43-619-dkms-healthy"), &out);
    let log = std::fs::read_to_string(out.join("bin/.replay/journalctl/1.out")).unwrap();
    assert!(log.contains("amdxdna: module verification failed"), "{log}");
    assert!(log.contains("iommu: Default domain type: Translated"), "{log}");
    assert!(!log.contains("DMI:") && !log.contains("Command line:"), "irrelevant lines are left out: {log}");
    assert!(log.ends_with("npu-setup capture: 8 other kernel-log lines left out\n"), "{log}");
    let yaml = std::fs::read_to_string(out.join(".fixture.yaml")).unwrap();
    let blob =
        std::fs::read(fixture("fedora43-619-dkms-healthy").join("lib/firmware/amdnpu/17f0_11/npu.dev.sbin")).unwrap();
    let sha = npu_setup::fsx::sha256(&blob);
    let entry =
        format!("- path: /lib/firmware/amdnpu/17f0_11/npu.dev.sbin\n    size: {}\n    sha256: {sha}\n", blob.len());
    assert!(yaml.contains(&entry), "{yaml}");
    assert!(
        yaml.contains("- path: /lib/firmware/amdnpu/17f0_11/npu_7.sbin.xz\n    link: npu.sbin.1.1.2.65.xz\n"),
        "{yaml}"
    );
}

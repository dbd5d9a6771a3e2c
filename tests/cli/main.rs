//! The single integration-test binary: runs the built `npu-setup` against fixture roots
//! and this machine's real root (one test binary, modules inside).

mod architecture;
mod builds;
mod bundle;
mod capture;
mod contract;
mod doctor;
mod facts;
mod fleet;
mod fuzz;
mod hostile;
mod human;
mod install;
mod kickstart;
mod lemonade;
mod lifecycle;
mod litellm;
mod packaging;
mod recipes;
mod remedies;
mod robustness;
mod routes;
mod smoke;
mod undo;
mod walkthrough;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

/// The binary under test with a fixed environment (no colour, UTF-8 glyphs).
pub fn bin() -> Command {
    let mut c = Command::cargo_bin("npu-setup").expect("binary built");
    c.env("NO_COLOR", "1").env("LANG", "C.UTF-8").env_remove("LC_ALL").env_remove("SUDO_USER").env_remove("RUST_LOG");
    c
}

/// A shim line that records its own invocation in `calls.log` next to the tree (outside it,
/// so tree digests do not see it).
pub const RECORD: &str = r#"echo "$(basename "$0") $*" >> "$NPU_SETUP_ROOT/../calls.log""#;

/// The invocations recorded by [`RECORD`] shims, in order.
pub fn calls(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.parent().unwrap().join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Path of a fixture host.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts").join(name)
}

/// Every fixture directory, sorted.
pub fn fixtures() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(".fixture.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A writable copy of a fixture (symlinks and modes preserved) for tests that alter it.
pub fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    let st = StdCommand::new("cp").arg("-a").arg(fixture(name)).arg(&dst).status().unwrap();
    assert!(st.success(), "cp -a failed");
    (tmp, dst)
}

/// Replaces (or creates) an executable shim.
pub fn write_shim(root: &Path, rel: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Hash of every path, link target, mode and content under a tree.
pub fn tree_digest(root: &Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let v = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.permissions().mode())
            } else {
                format!("file {:o} {:?}", m.permissions().mode(), std::fs::read(&p).unwrap())
            };
            out.insert(rel, v);
        }
    }
    out
}

/// Runs doctor with JSON output on a root and returns (exit code, report).
pub fn doctor_json(root: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = bin().arg("--root").arg(root).arg("doctor").arg("--format").arg("json").args(extra).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

/// The check with this id in a JSON report.
pub fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no check {id}"))
}

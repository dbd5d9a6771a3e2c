//! Source builds end to end with real tools: local `file://` upstreams with submodules
//! (tests/fixtures/upstreams), real `git clone`, real `rpmbuild` packages installed by real
//! `rpm --root --dbpath`, a real DKMS cycle of the stand-in module against Debian's kernel
//! headers in scratch trees, and a real `cmake --preset` build installed with DESTDIR.
//! Fakes only for dracut (no initramfs here).

use std::path::{Path, PathBuf};

use crate::{RECORD, bin, calls, copy_fixture, doctor_json, tree_digest, write_shim};

/// The kernel whose headers this machine has (Debian's linux-headers-amd64).
fn host_kernel() -> Option<String> {
    std::fs::read_dir("/lib/modules")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|k| Path::new("/lib/modules").join(k).join("build/Makefile").exists())
}

fn which(tool: &str) -> String {
    let out = std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Wrappers that run the real tools against the scratch root.
fn real_tools(root: &Path) {
    let git = which("git");
    write_shim(root, "usr/bin/git", &format!("case \"$*\" in *clone*) {RECORD};; esac\nexec {git} \"$@\""));
    write_shim(root, "usr/bin/cmake", &format!("exec {} \"$@\"", which("cmake")));
    write_shim(root, "usr/bin/tar", &format!("exec {} \"$@\"", which("tar")));
    let rpm = which("rpm");
    write_shim(
        root,
        "usr/bin/rpm",
        &format!("exec {rpm} --root \"$NPU_SETUP_ROOT\" --dbpath /var/lib/rpm \"$@\" 2>/dev/null"),
    );
    // dnf resolves dependencies and runs scriptlets; the real rpm installs the same files.
    write_shim(
        root,
        "usr/bin/dnf",
        &format!(
            "{RECORD}\n[ \"$1\" = makecache ] && exit 0\nshift 2\nexec {rpm} --root \"$NPU_SETUP_ROOT\" --dbpath /var/lib/rpm -U --replacepkgs --nodeps --noscripts \"$@\""
        ),
    );
    // Real dkms, kept inside the scratch trees (dkms 3.0: --*tree options, --no-depmod; the
    // MOK key paths via its environment; -a skips its rpm -qf lookup).
    let dkms = which("dkms");
    write_shim(
        root,
        "usr/bin/dkms",
        &format!(
            r#"R="$NPU_SETUP_ROOT"
export mok_signing_key="$R/var/lib/dkms/mok.key" mok_certificate="$R/var/lib/dkms/mok.pub"
T="--sourcetree $R/usr/src --dkmstree $R/var/lib/dkms --installtree $R/lib/modules"
# The dkms package creates its tree on a real host.
[ "$1" = status ] || {{ {RECORD}; mkdir -p "$R/var/lib/dkms"; }}
sub="$1"; shift
case "$sub" in
  status) exec {dkms} status $T "$@" ;;
  install|remove) exec {dkms} "$sub" --no-depmod $T -a x86_64 "$@" ;;
  *) exec {dkms} "$sub" $T -a x86_64 "$@" ;;
esac"#
        ),
    );
    write_shim(root, "usr/bin/dracut", RECORD);
}

struct Upstreams {
    _dir: tempfile::TempDir,
    data: PathBuf,
}

/// Creates the stand-in upstream repos and a data dir whose pins point at them. `kernel_min`
/// lowers the DKMS minimum so the stand-in module builds against this machine's 6.1 headers.
fn upstreams(dkms_min: &str) -> Upstreams {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstreams/make-upstreams.sh");
    let out = std::process::Command::new("bash").arg(&script).arg(dir.path().join("up")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pins: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in ["recipes", "grub"] {
        assert!(
            std::process::Command::new("cp").arg("-a").arg(manifest.join(d)).arg(&data).status().unwrap().success()
        );
    }
    let mut src = std::fs::read_to_string(data.join("recipes/sources.yaml")).unwrap();
    for (id, url) in [
        ("xdna-driver", "https://github.com/amd/xdna-driver.git"),
        ("fastflowlm", "https://github.com/ROCm/FastFlowLM.git"),
    ] {
        let p = &pins[id];
        src = src.replace(url, p["url"].as_str().unwrap());
        let real = if id == "xdna-driver" {
            "c4052fc30322f8fa0a7f388f171bcb065d6dab6b"
        } else {
            "f43272c77bb6de4984058430b3e5fbf3e7926c61"
        };
        src = src.replace(real, p["commit"].as_str().unwrap());
    }
    std::fs::write(data.join("recipes/sources.yaml"), src).unwrap();
    let drv = std::fs::read_to_string(data.join("recipes/drivers.yaml")).unwrap();
    let drv = drv.replace("dkms_min: \"6.10\"", &format!("dkms_min: \"{dkms_min}\"")).replace(
        "  - id: xdna-dkms\n    kernel_min: \"6.10\"",
        &format!("  - id: xdna-dkms\n    kernel_min: \"{dkms_min}\""),
    );
    std::fs::write(data.join("recipes/drivers.yaml"), drv).unwrap();
    Upstreams { _dir: dir, data }
}

/// A Fedora 43 host on `kernel`, with the NPU stack removed (no XRT, plugin, DKMS, FLM).
fn bare_fedora43(kernel: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = copy_fixture("fedora43-619-dkms-healthy");
    let old = "6.19.10-200.fc43.x86_64";
    for p in ["opt/xilinx", "opt/fastflowlm", "usr/src", "var/lib/dkms", "boot/loader/entries", "etc/ld.so.conf.d"] {
        let _ = std::fs::remove_dir_all(root.join(p));
    }
    for k in std::fs::read_dir(root.join("lib/modules")).unwrap() {
        let _ = std::fs::remove_dir_all(k.unwrap().path());
    }
    let m = root.join("lib/modules").join(kernel);
    std::fs::create_dir_all(m.join("build")).unwrap();
    std::fs::write(m.join("modules.dep"), "").unwrap();
    std::fs::write(root.join("proc/sys/kernel/osrelease"), format!("{kernel}\n")).unwrap();
    let cl = std::fs::read_to_string(root.join("proc/cmdline")).unwrap().replace(old, kernel);
    std::fs::write(root.join("proc/cmdline"), cl).unwrap();
    let _ = std::fs::remove_file(root.join("sys/module/amdxdna/version"));
    let _ = std::fs::remove_file(root.join("usr/bin/modinfo"));
    real_tools(&root);
    (tmp, root)
}

fn install(root: &Path, data: &Path, extra: &[&str]) -> (i32, String) {
    let count = root.parent().unwrap().join("builds.log");
    let out = bin()
        .arg("--root")
        .arg(root)
        .arg("--data-dir")
        .arg(data)
        // The source route is what these tests build (packaged routes: tests/cli/routes.rs);
        // build-deps, a prerequisite of the builds, is skipped: this machine has the build
        // tools, and the fake package managers here install package files only.
        .args(["install", "--yes", "--user", "alice", "--from", "source", "--skip", "build-deps"])
        .args(if extra.contains(&"--only") { &[][..] } else { &["--only", "sources,xrt,driver,flm"][..] })
        .args(extra)
        .env("NPU_SETUP_TEST_COUNT_FILE", &count)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The source route's first install, measured for the packaged-vs-source comparison
/// (tests/cli/routes.rs prints the packaged routes' numbers): the actions a dry run plans,
/// then the install's wall time.
fn measured_install(root: &Path, data: &Path, label: &str) -> (i32, String) {
    let (_, plan) = install(root, data, &["--dry-run"]);
    let n: usize = plan
        .lines()
        .find_map(|l| l.strip_prefix("dry run: ")?.split("planned ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{plan}"));
    let started = std::time::Instant::now();
    let (code, out) = install(root, data, &[]);
    eprintln!(
        "[routes] {label} (source route): {n} actions planned, {} carried out, installed in {:.1}s",
        crate::routes::journal_len(root),
        started.elapsed().as_secs_f64()
    );
    (code, out)
}

fn builds(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.parent().unwrap().join("builds.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn dkms_path_builds_installs_and_converges() {
    let Some(kernel) = host_kernel() else {
        panic!("kernel headers missing: bash .ci/test.sh installs linux-headers-amd64")
    };
    let up = upstreams("6.1");
    let (_tmp, root) = bare_fedora43(&kernel);
    let (code, out) = measured_install(&root, &up.data, "fedora 43 / DKMS");
    assert_eq!(code, 3, "converged, the module loads at the next boot\n{out}");
    // Real packages in the scratch root's rpm database.
    let q = std::process::Command::new(which("rpm"))
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-q", "xrt-base", "xrt-npu", "xrt_plugin-amdxdna"])
        .output()
        .unwrap();
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stdout));
    // The module was built by the real DKMS against the real headers, for the target kernel.
    let ko = root.join(format!("lib/modules/{kernel}/updates/dkms/amdxdna.ko"));
    assert!(ko.is_file(), "{out}");
    assert!(
        calls(&root).iter().any(|c| c == &format!("dkms install -m xrt-amdxdna -v 2.26.0 -k {kernel}")),
        "{:?}",
        calls(&root)
    );
    assert!(calls(&root).iter().any(|c| c == &format!("dracut -f --kver {kernel}")));
    assert!(root.join("opt/fastflowlm/bin/flm").is_file());
    let (_, r) = doctor_json(&root, &[]);
    for id in ["xrt.install", "flm.install", "dkms.state", "stack.provenance"] {
        assert_eq!(crate::check(&r, id)["status"], "pass", "{id}: {}", crate::check(&r, id));
    }
    assert_eq!(builds(&root), ["xrt-build", "driver-build", "flm-build"]);

    // Second run: nothing rebuilt, cloned or installed; the tree is byte-identical.
    let before_calls = calls(&root);
    let digest = |r: &Path| {
        let mut d = tree_digest(r);
        d.retain(|k, _| !k.starts_with("var/lib/rpm"));
        d
    };
    let before = digest(&root);
    let (code, out) = install(&root, &up.data, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("Everything is in place"), "{out}");
    assert_eq!(calls(&root), before_calls);
    assert_eq!(builds(&root).len(), 3);
    assert!(before == digest(&root), "the second run wrote nothing");

    // Provenance notices a changed file.
    std::fs::write(root.join("opt/fastflowlm/bin/flm"), b"#!/bin/sh\necho tampered\n").unwrap();
    let (_, r) = doctor_json(&root, &[]);
    let p = crate::check(&r, "stack.provenance");
    assert_eq!(p["status"], "warn", "{p}");
    assert!(p["summary"].as_str().unwrap().contains("flm: 1 file(s) changed"), "{p}");
}

#[test]
fn in_tree_path_builds_the_shim_only() {
    let up = upstreams("6.10");
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    for p in ["opt/xilinx", "opt/fastflowlm", "etc/ld.so.conf.d"] {
        let _ = std::fs::remove_dir_all(root.join(p));
    }
    let _ = std::fs::remove_file(root.join("usr/bin/flm"));
    real_tools(&root);
    let (code, out) = measured_install(&root, &up.data, "fedora 44 / in-tree");
    assert_eq!(code, 1, "converged; the doctor finds XRT off the loader path (loader not selected)\n{out}");
    assert!(out.contains("driver path: in-tree"), "{out}");
    assert!(!calls(&root).iter().any(|c| c.starts_with("dkms")), "{:?}", calls(&root));
    assert!(!root.join("opt/xilinx/xrt/share/amdxdna/dkms.conf").exists(), "-nokmod packages no driver");
    assert!(root.join("opt/xilinx/xrt/lib64/libxrt_driver_xdna.so.2").exists());
    let (code, out) = install(&root, &up.data, &[]);
    assert!(out.contains("Everything is in place"), "{code} {out}");
}

#[test]
fn a_failed_build_resumes_without_recloning_or_rebuilding() {
    let Some(kernel) = host_kernel() else { panic!("kernel headers missing") };
    let up = upstreams("6.1");
    let (_tmp, root) = bare_fedora43(&kernel);
    let count = root.parent().unwrap().join("builds.log");
    let out = bin()
        .arg("--root")
        .arg(&root)
        .arg("--data-dir")
        .arg(&up.data)
        .args(["install", "--yes", "--user", "alice", "--only", "sources,xrt,driver,flm", "--skip", "build-deps"])
        .env("NPU_SETUP_TEST_COUNT_FILE", &count)
        .env("NPU_SETUP_TEST_FAIL", "driver")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("install failed: [driver] building driver-dkms"), "{text}");
    assert!(text.contains("last lines:") && text.contains("full output: "), "{text}");
    let clones = calls(&root).iter().filter(|c| c.contains("clone")).count();
    assert_eq!(clones, 2);
    let (code, out) = install(&root, &up.data, &[]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(calls(&root).iter().filter(|c| c.contains("clone")).count(), 2, "no re-clone");
    assert_eq!(builds(&root), ["xrt-build", "driver-build", "driver-build", "flm-build"], "xrt built once");
}

#[test]
fn cached_packages_are_reinstalled_without_rebuilding() {
    let up = upstreams("6.10");
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    for p in ["opt/xilinx", "etc/ld.so.conf.d"] {
        let _ = std::fs::remove_dir_all(root.join(p));
    }
    real_tools(&root);
    let (_, out) = install(&root, &up.data, &["--only", "sources,xrt"]);
    assert_eq!(builds(&root), ["xrt-build"], "{out}");
    let rpm = which("rpm");
    let st = std::process::Command::new(&rpm)
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-e", "--nodeps", "--noscripts", "xrt-npu", "xrt-base", "xrt-base-devel"])
        .status()
        .unwrap();
    assert!(st.success());
    let (_, out) = install(&root, &up.data, &["--only", "sources,xrt"]);
    assert_eq!(builds(&root), ["xrt-build"], "reinstalled from the cache\n{out}");
    assert!(root.join("opt/xilinx/xrt/lib64/libxrt_coreutil.so.2").exists());
}

#[test]
fn a_moved_tag_is_refused() {
    let up = upstreams("6.10");
    let src = up.data.join("recipes/sources.yaml");
    let text = std::fs::read_to_string(&src).unwrap();
    // Pin the FastFlowLM tag to a commit it does not point at.
    let i = text.find("ref: v0.9.45\n    commit: ").unwrap() + "ref: v0.9.45\n    commit: ".len();
    let fake = "0123456789abcdef0123456789abcdef01234567";
    let text = format!("{}{fake}{}", &text[..i], &text[i + 40..]);
    std::fs::write(&src, text).unwrap();
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    let _ = std::fs::remove_file(root.join("usr/bin/flm"));
    real_tools(&root);
    let (code, out) = install(&root, &up.data, &["--only", "sources"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("v0.9.45 resolves to") && out.contains(&format!("pins {fake}: refusing")), "{out}");
}

#[test]
fn a_release_branch_pin_is_checked_out_and_a_rewritten_branch_refused() {
    // The stand-in's branch 1.9 has a commit after the pinned one, as upstream release
    // branches receive backports: the pin is checked out.
    let up = upstreams("6.10");
    let src = up.data.join("recipes/sources.yaml");
    let text = std::fs::read_to_string(&src).unwrap();
    let i = text.find("ref: \"1.9\"\n    commit: ").unwrap() + "ref: \"1.9\"\n    commit: ".len();
    let pin = text[i..i + 40].to_string();
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    for p in ["opt/xilinx", "etc/ld.so.conf.d"] {
        let _ = std::fs::remove_dir_all(root.join(p));
    }
    let _ = std::fs::remove_file(root.join("usr/bin/flm"));
    real_tools(&root);
    let (_, out) = install(&root, &up.data, &["--only", "sources"]);
    assert!(out.contains("--branch 1.9"), "{out}");
    let head = std::process::Command::new(which("git"))
        .arg("-C")
        .arg(root.join("var/cache/npu-setup/src/xdna-driver"))
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), pin, "{out}");
    // A pin the branch does not contain (the branch was rewritten): refused, naming both.
    let fake = "0123456789abcdef0123456789abcdef01234567";
    std::fs::write(&src, format!("{}{fake}{}", &text[..i], &text[i + 40..])).unwrap();
    real_tools(&root);
    let (code, out) = install(&root, &up.data, &["--only", "sources"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("branch 1.9 is at") && out.contains(&format!("does not contain {fake}")), "{out}");
}

#[test]
fn an_unreachable_upstream_names_the_url_and_the_offline_options() {
    let up = upstreams("6.10");
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    let _ = std::fs::remove_file(root.join("usr/bin/flm"));
    real_tools(&root);
    // The real rpm touches its own database files on every query; the rest must not change.
    let digest = |r: &Path| {
        let mut d = tree_digest(r);
        d.retain(|k, _| !k.starts_with("var/lib/rpm"));
        d
    };
    let before = digest(&root);
    let (code, out) =
        install(&root, &up.data, &["--only", "sources", "--source-url", "fastflowlm=file:///nonexistent/FastFlowLM"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot reach file:///nonexistent/FastFlowLM"), "{out}");
    assert!(out.contains("--source-url fastflowlm=URL or --source-dir DIR"), "{out}");
    let after = digest(&root);
    let changed: Vec<&String> = after.keys().chain(before.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
    assert!(changed.is_empty(), "blocked before any change, but changed: {changed:?}");
}

#[test]
fn missing_headers_for_the_target_kernel_are_installed_first() {
    let Some(kernel) = host_kernel() else { panic!("kernel headers missing") };
    let up = upstreams("6.1");
    let (_tmp, root) = bare_fedora43(&kernel);
    std::fs::remove_dir_all(root.join(format!("lib/modules/{kernel}/build"))).unwrap();
    let (code, out) = install(&root, &up.data, &[]);
    // The fake dnf cannot produce kernel-devel: the step installs it, then does not converge.
    assert_eq!(code, 1, "{out}");
    let c = calls(&root);
    let at =
        c.iter().position(|c| c == &format!("dnf install -y kernel-devel-{kernel}")).unwrap_or_else(|| panic!("{c:?}"));
    assert_eq!(c[at - 1], "dnf makecache", "the metadata is refreshed first: {c:?}");
}

#[test]
fn ubuntu_builds_debs_and_installs_them_with_the_real_dpkg() {
    let up = upstreams("6.10");
    let (_tmp, root) = copy_fixture("case22-ubuntu2404-611-dkms219");
    let _ = std::fs::remove_dir_all(root.join("opt/xilinx"));
    let _ = std::fs::remove_dir_all(root.join("etc/ld.so.conf.d"));
    real_tools(&root);
    // A real dpkg database in the scratch root; apt-get resolves dependencies and fetches,
    // the real dpkg installs the same files.
    let admin = root.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    write_shim(
        &root,
        "usr/bin/dpkg-query",
        &format!("exec {} --admindir=\"$NPU_SETUP_ROOT/var/lib/dpkg\" \"$@\"", which("dpkg-query")),
    );
    write_shim(
        &root,
        "usr/bin/apt-get",
        &format!(
            "{RECORD}\n[ \"$1\" = update ] && exit 0\nshift 2\nexec {} --root=\"$NPU_SETUP_ROOT\" --force-all -i \"$@\" >/dev/null",
            which("dpkg")
        ),
    );
    let (code, out) = install(&root, &up.data, &["--only", "sources,xrt"]);
    assert!(code == 0 || code == 1, "{out}");
    let apt = calls(&root).into_iter().find(|c| c.starts_with("apt-get install -y")).unwrap_or_else(|| panic!("{out}"));
    assert!(apt.contains("-base.deb") && apt.contains("-npu.deb") && apt.contains("-base-dev.deb"), "{apt}");
    let q = std::process::Command::new(which("dpkg-query"))
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n", "xrt-base", "xrt-npu"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&q.stdout);
    assert!(listed.contains("xrt-base 2.26.0 ii") && listed.contains("xrt-npu 2.26.0 ii"), "{listed}");
    let (_, r) = doctor_json(&root, &[]);
    assert_eq!(crate::check(&r, "stack.provenance")["status"], "pass", "{}", crate::check(&r, "stack.provenance"));
    let (_, out) = install(&root, &up.data, &["--only", "sources,xrt"]);
    assert!(out.contains("Everything is in place"), "{out}");
}

#[test]
fn secure_boot_signs_with_dkms_and_names_the_enrollment() {
    let Some(kernel) = host_kernel() else { panic!("kernel headers missing") };
    let up = upstreams("6.1");
    let (_tmp, root) = bare_fedora43(&kernel);
    // Secure Boot on; no key enrolled yet.
    write_shim(
        &root,
        "usr/bin/mokutil",
        "case \"$1\" in --sb-state) echo 'SecureBoot enabled';; --list-enrolled) echo 'MokListRT is empty';; *) exit 127;; esac",
    );
    // The real modinfo, reading the module DKMS built in the scratch tree.
    write_shim(
        &root,
        "usr/bin/modinfo",
        &format!(
            "while [ $# -gt 1 ]; do [ \"$1\" = -k ] && k=\"$2\"; shift; done\nko=\"$NPU_SETUP_ROOT/lib/modules/$k/updates/dkms/amdxdna.ko\"\n[ -f \"$ko\" ] || {{ echo \"modinfo: ERROR: Module amdxdna not found.\" >&2; exit 1; }}\nexec {} \"$ko\"",
            which("modinfo")
        ),
    );
    let (code, out) = install(&root, &up.data, &[]);
    assert_eq!(code, 3, "{out}");
    let (_, r) = doctor_json(&root, &[]);
    let c = crate::check(&r, "secureboot.signing");
    assert_eq!(c["status"], "fail", "{c}");
    assert_eq!(c["evidence"]["signer"], "DKMS module signing key", "signed by the real dkms: {c}");
    assert!(c["remedy"]["commands"].to_string().contains("mokutil --import /var/lib/dkms/mok.pub"), "{c}");
    assert!(root.join("var/lib/dkms/mok.pub").is_file(), "dkms created its MOK certificate in the tree");
}

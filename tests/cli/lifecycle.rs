//! After install: `check --kernel` / `check --next-boot` on fixtures, the hooks driven by the
//! real `kernel-install` (systemd 252 here) and Debian's real `run-parts`, the boot-time
//! `doctor --write-status` + `status [--wait]`, and `install --firstboot`.

use std::path::Path;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use crate::{bin, copy_fixture, fixture, tree_digest};

fn check_json(root: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = bin().arg("--root").arg(root).args(["--format", "json", "check"]).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), v, stderr)
}

#[test]
fn check_kernel_names_each_broken_aspect_and_records_it() {
    // (fixture, kernel, aspect that fails, words in its summary)
    let cases = [
        ("case02-halo-619-intree-proto7", "6.19.10-200.fc43.x86_64", "firmware", "speaks protocol 6"),
        ("case09-iommu-off-70rc2", "6.19.9-300.fc44.x86_64", "kargs", "amd_iommu=off"),
        ("secureboot-unsigned-dkms", "6.19.10-200.fc43.x86_64", "signing", "unsigned"),
        ("case22-ubuntu2404-611-dkms219", "6.8.0-57-generic", "module", "older than 6.10"),
    ];
    for (fx, kver, aspect, words) in cases {
        // Without --record: the same verdict, and not a byte written into the fixture tree.
        let before = tree_digest(&fixture(fx));
        let (code, k, err) = check_json(&fixture(fx), &["--kernel", kver]);
        assert_eq!(code, 1, "{fx}: {k} {err}");
        assert_eq!(tree_digest(&fixture(fx)), before, "{fx}: check --kernel without --record wrote");
        let (_tmp, root) = copy_fixture(fx);
        let (code, k, err) = check_json(&root, &["--kernel", kver, "--record"]);
        assert_eq!(code, 1, "{fx}: {k} {err}");
        assert_eq!(k["status"], "fail", "{fx}: {k}");
        assert_eq!(k[aspect]["status"], "fail", "{fx}: {k}");
        assert!(k[aspect]["summary"].as_str().unwrap().contains(words), "{fx}: {}", k[aspect]);
        assert!(!k["remedies"].as_array().unwrap().is_empty() || aspect == "module", "{fx}: {k}");
        let rec: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(format!("var/lib/npu-setup/kernels/{kver}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!((rec["apiVersion"].as_str(), rec["kind"].as_str()), (Some("npu-setup/v1"), Some("KernelReadiness")));
        assert_eq!(rec["kernel"], kver);
        assert_eq!(rec[aspect]["status"], "fail");
    }
    let (_tmp, root) = copy_fixture("fedora43-619-dkms-healthy");
    let (code, k, _) = check_json(&root, &["--kernel", "6.19.10-200.fc43.x86_64"]);
    assert_eq!(code, 0, "{k}");
    assert_eq!(k["status"], "pass");
    assert!(k["module"]["summary"].as_str().unwrap().contains("DKMS xrt-amdxdna"), "{k}");
    assert_eq!((k["default"].as_bool(), k["running"].as_bool()), (Some(true), Some(true)));
}

#[test]
fn next_boot_matrix_covers_every_kernel_and_spots_an_unneeded_dkms_module() {
    let (code, m, _) = check_json(&fixture("case14-fedora43-70rc7-dkms-2230"), &["--next-boot"]);
    assert_eq!(code, 0, "{m}");
    assert_eq!(m["default"], "7.0.0-0.rc7.55.fc45.x86_64");
    let ks = m["kernels"].as_array().unwrap();
    assert_eq!(ks.len(), 2, "{m}");
    let seven = ks.iter().find(|k| k["kernel"] == "7.0.0-0.rc7.55.fc45.x86_64").unwrap();
    assert!(seven["dkms_unneeded"].as_str().unwrap().contains("install --only driver"), "{seven}");
    assert!(ks.iter().find(|k| k["kernel"] == "6.19.11-200.fc43.x86_64").unwrap()["dkms_unneeded"].is_null());

    // Human form: one row per kernel, the verdict of the next boot last.
    let out =
        bin().arg("--root").arg(fixture("case09-iommu-off-70rc2")).args(["check", "--next-boot"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.lines().next().unwrap().starts_with("KERNEL"), "{text}");
    assert!(text.contains("fix: sudo npu-setup install --only kargs"), "{text}");
    assert!(text.trim_end().ends_with("NOT READY"), "{text}");
    // `install --only driver` plans the removal the note offers.
    let (_tmp, root) = copy_fixture("case14-fedora43-70rc7-dkms-2230");
    let out = bin().arg("--root").arg(&root).args(["install", "--dry-run", "--only", "driver"]).output().unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("run: dkms remove -m xrt-amdxdna -v 2.23.0 --all"), "{plan}");
    assert!(plan.contains("also removes it from 6.19.11-200.fc43.x86_64"), "{plan}");
}

#[test]
fn check_refuses_what_is_not_an_installed_kernel_but_the_hook_never_fails() {
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    for bad in ["9.9.9-nope", "../../etc", ""] {
        let (code, _, err) = check_json(&root, &["--kernel", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("not installed") || err.contains("not a kernel release"), "{bad}: {err}");
        let out = bin().arg("--root").arg(&root).args(["check", "--hook", "--kernel", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "hook mode exits 0 for {bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("the kernel install goes on"));
    }
    // A record that cannot be written is a warning, not a failure.
    std::fs::create_dir_all(root.join("var/lib/npu-setup")).unwrap();
    std::fs::write(root.join("var/lib/npu-setup/kernels"), "a file where a directory belongs").unwrap();
    let (code, k, err) = check_json(&root, &["--kernel", "7.1.4-200.fc44.x86_64", "--record"]);
    assert_eq!(code, 0, "{k} {err}");
    assert!(err.contains("result not recorded"), "{err}");
}

/// Renders the hook the lifecycle step writes, from a dry-run plan of an install.
fn installed_hook(root: &Path, rel: &str) -> std::path::PathBuf {
    let out = bin().arg("--root").arg(root).args(["install", "--yes", "--only", "lifecycle"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The verdict may be broken (exit 1): these hosts are; the step itself must not fail.
    assert!(out.status.code().is_some_and(|c| c != 2) && !text.contains("install failed"), "{text}");
    let p = root.join(rel);
    assert!(p.is_file(), "{rel} written");
    // Install copied itself to the stable path the hook names (never a build-tree path).
    assert!(root.join("usr/local/bin/npu-setup").is_file(), "binary at /usr/local/bin");
    let hook = std::fs::read_to_string(&p).unwrap();
    assert!(hook.contains("NPU_SETUP=\"${NPU_SETUP:-/usr/local/bin/npu-setup}\""), "{hook}");
    p
}

fn fake_systemctl(root: &Path) {
    // No systemd here; `enable` with --root is real systemctl working on the tree.
    let sc = root.join("usr/bin/systemctl");
    if sc.exists() {
        std::fs::rename(&sc, root.join("usr/bin/systemctl.replay")).unwrap();
    }
    crate::write_shim(
        root,
        "usr/bin/systemctl",
        "case \"$1\" in daemon-reload) exit 0;; enable) exec /usr/bin/systemctl --root=\"$NPU_SETUP_ROOT\" \"$@\";; esac\nexec \"$(dirname \"$0\")/systemctl.replay\" \"$@\"",
    );
}

#[test]
fn the_real_kernel_install_runs_the_plugin_which_warns_records_and_never_blocks() {
    let (tmp, root) = copy_fixture("case09-iommu-off-70rc2");
    fake_systemctl(&root);
    let plugin = installed_hook(&root, "etc/kernel/install.d/95-npu-setup.install");
    // Real `systemctl --root enable`: an absolute link inside the tree.
    let link =
        std::fs::read_link(root.join("etc/systemd/system/multi-user.target.wants/npu-setup-boot.service")).unwrap();
    assert_eq!(link, Path::new("/etc/systemd/system/npu-setup-boot.service"));
    let boot = tmp.path().join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let image = tmp.path().join("vmlinuz");
    std::fs::write(&image, b"not a kernel").unwrap();
    let kver = "7.0.0-0.rc2.20260302git1c3e5f7a9b2d.24.fc44.x86_64";
    // kernel-install COMMAND KVER [IMAGE] with only our plugin, on a scratch BOOT_ROOT, judging
    // the fixture tree.
    let ki = |command: &str, kver: &str, extra: &[(&str, &str)]| {
        let mut c = StdCommand::new("kernel-install");
        c.args([command, kver]);
        if command == "add" {
            c.arg(&image);
        }
        c.env("KERNEL_INSTALL_PLUGINS", &plugin)
            .env("BOOT_ROOT", &boot)
            .env("KERNEL_INSTALL_MACHINE_ID", "0123456789abcdef0123456789abcdef")
            .env("NPU_SETUP_ROOT", &root)
            // The hook names /usr/local/bin/npu-setup, where install copied itself: inside
            // the tree here, not on this machine.
            .env("NPU_SETUP", root.join("usr/local/bin/npu-setup"))
            .env("NO_COLOR", "1");
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = ki("add", kver, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "kernel-install succeeds: {err}");
    assert!(err.contains("carries amd_iommu=off"), "{err}");
    assert!(err.contains("the NPU will not work when") && err.contains("does not stop the kernel install"), "{err}");
    let rec = root.join(format!("var/lib/npu-setup/kernels/{kver}.json"));
    assert!(rec.is_file(), "recorded");
    // A broken or missing npu-setup never fails the kernel install.
    for bad in ["/bin/false", "/nonexistent/npu-setup"] {
        let out = ki("add", kver, &[("NPU_SETUP", bad)]);
        assert_eq!(out.status.code(), Some(0), "{bad}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // `remove` drops the record.
    let out = ki("remove", kver, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!rec.exists(), "record removed with the kernel");
    // A kernel without any amdxdna (a new kernel whose DKMS build failed): warned, exit 0.
    let newk = "7.2.0-100.fc44.x86_64";
    std::fs::create_dir_all(root.join(format!("lib/modules/{newk}/kernel"))).unwrap();
    let out = ki("add", newk, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no amdxdna module for 7.2.0-100.fc44.x86_64"));
}

#[test]
fn debian_run_parts_runs_the_postinst_hook_which_exits_0() {
    let (tmp, root) = copy_fixture("case22-ubuntu2404-611-dkms219");
    fake_systemctl(&root);
    let hook = installed_hook(&root, "etc/kernel/postinst.d/zz-npu-setup");
    assert!(!root.join("etc/kernel/install.d/95-npu-setup.install").exists(), "deb distros get the postinst hook only");
    let dir = tmp.path().join("postinst.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&hook, dir.join("zz-npu-setup")).unwrap();
    // What the kernel package's postinst does (kernel-handbook "Kernel hooks").
    let out = StdCommand::new("run-parts")
        .args(["--report", "--exit-on-error", "--arg=6.8.0-57-generic", "--arg=/boot/vmlinuz-6.8.0-57-generic"])
        .arg(&dir)
        .env("NPU_SETUP_ROOT", &root)
        .env("NPU_SETUP", root.join("usr/local/bin/npu-setup"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("older than 6.10"), "{err}");
    assert!(root.join("var/lib/npu-setup/kernels/6.8.0-57-generic.json").is_file());
}

/// The boot unit as `install --only lifecycle` leaves it: the file, and the symlink `systemctl
/// enable` makes.
pub(crate) fn enable_boot_unit(root: &std::path::Path) {
    let dir = root.join("etc/systemd/system");
    std::fs::create_dir_all(dir.join("multi-user.target.wants")).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/systemd/npu-setup-boot.service"),
        dir.join("npu-setup-boot.service"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/etc/systemd/system/npu-setup-boot.service",
        dir.join("multi-user.target.wants/npu-setup-boot.service"),
    )
    .unwrap();
}

#[test]
fn status_reads_the_boot_verdict_waits_for_it_and_survives_garbage() {
    let (_tmp, root) = copy_fixture("case09-iommu-off-70rc2");
    let status = |args: &[&str]| {
        let out = bin().arg("--root").arg(&root).args(["--format", "json", "status"]).args(args).output().unwrap();
        (out.status.code().unwrap_or(-1), serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap())
    };
    let (code, s) = status(&[]);
    assert_eq!((code, s["state"].as_str()), (2, Some("unknown")), "{s}");
    let bad = bin().arg("--root").arg(&root).args(["status", "--wait", "--max-wait=-1"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("for '--max-wait <SECS>': must be a number of seconds >= 0"));
    // The boot unit installed and enabled (what `install --only lifecycle` leaves): --wait
    // waits for its verdict.
    enable_boot_unit(&root);
    // --wait returns as soon as the boot check writes its verdict.
    let started = Instant::now();
    let r2 = root.clone();
    let handle = std::thread::spawn(move || {
        bin()
            .arg("--root")
            .arg(&r2)
            .args(["status", "--wait", "--max-wait", "30"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(800));
    let d = bin().arg("--root").arg(&root).args(["-q", "doctor", "--write-status"]).output().unwrap();
    assert_eq!(d.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&d.stderr).contains("NPU stack broken (first failure: boot.iommu)"));
    let out = handle.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("status: broken") && text.contains("first failure: boot.iommu"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let (code, s) = status(&[]);
    assert_eq!((code, s["first_failure"].as_str()), (1, Some("boot.iommu")));
    // Corrupt: unknown, exit 2, and --wait does not hang on it.
    std::fs::write(root.join("run/npu-setup/status.json"), b"{\"state\": 4").unwrap();
    let (code, s) = status(&["--wait", "--max-wait", "30"]);
    assert_eq!((code, s["state"].as_str()), (2, Some("unknown")));
    assert!(s["message"].as_str().unwrap().contains("corrupt"), "{s}");
    // Written in another boot: not this boot's verdict.
    std::fs::write(
        root.join("run/npu-setup/status.json"),
        r#"{"schema":"npu-setup/status/v1","state":"ready","boot_id":"00000000-0000-0000-0000-000000000000"}"#,
    )
    .unwrap();
    std::fs::create_dir_all(root.join("proc/sys/kernel/random")).unwrap();
    std::fs::write(root.join("proc/sys/kernel/random/boot_id"), "11111111-1111-1111-1111-111111111111\n").unwrap();
    let (code, s) = status(&["--wait", "--max-wait", "0.5"]);
    assert_eq!((code, s["state"].as_str()), (2, Some("unknown")), "{s}");
}

#[test]
fn firstboot_finishes_with_the_offline_options_and_clears_its_marker_only_when_converged() {
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    fake_systemctl(&root);
    std::fs::create_dir_all(root.join("etc/npu-setup")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/npu-setup")).unwrap();
    // What the offline run left behind; --firstboot needs no other option.
    std::fs::write(root.join("etc/npu-setup/firstboot.yaml"), "yes: true\nuser: alice\nskip: [models]\n").unwrap();
    std::fs::write(root.join("var/lib/npu-setup/firstboot"), "x\n").unwrap();
    let out = bin().arg("--root").arg(&root).args(["install", "--firstboot"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("[models]"), "the offline run's `skip: [models]` applies: {text}");
    assert!(text.contains("first boot: install finished"), "{text}");
    assert!(!root.join("var/lib/npu-setup/firstboot").exists(), "marker cleared");

    // Not converged (a kernel argument it cannot remove here: no grubby): marker kept.
    let (_tmp2, broken) = copy_fixture("case09-iommu-off-70rc2");
    fake_systemctl(&broken);
    std::fs::create_dir_all(broken.join("var/lib/npu-setup")).unwrap();
    std::fs::write(broken.join("var/lib/npu-setup/firstboot"), "x\n").unwrap();
    let out = bin().arg("--root").arg(&broken).args(["install", "--firstboot", "--user", "alice"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("runs again at the next boot"), "{text}");
    assert!(broken.join("var/lib/npu-setup/firstboot").exists());

    // It refuses a tree that is not running.
    let offline = tempfile::tempdir().unwrap();
    let out = bin().arg("--root").arg(offline.path()).args(["install", "--firstboot"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("finishes the install on the booted system"));
}

/// Rewrites text in a file of the tree.
fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let p = root.join(rel);
    let t = std::fs::read_to_string(&p).unwrap();
    assert!(t.contains(from), "{rel} lacks {from:?}");
    std::fs::write(&p, t.replace(from, to)).unwrap();
}

#[test]
fn check_kernel_names_unfinished_dkms_builds_missing_headers_flm_minimum_and_unenrolled_keys() {
    // (fixture, kernel, tree edits, aspect, words in its summary, words in a remedy)
    type Edit = fn(&Path);
    let cases: [(&str, &str, Edit, &str, &str, &str); 4] = [
        (
            // DKMS built the module but did not install it (the dkms status state `built`).
            "fedora43-619-dkms-healthy",
            "6.19.10-200.fc43.x86_64",
            |r| edit(r, "usr/bin/dkms", "x86_64: installed", "x86_64: built"),
            "module",
            "DKMS xrt-amdxdna/2.23.0 is built for 6.19.10-200.fc43.x86_64, not installed",
            "sudo dkms autoinstall -k 6.19.10-200.fc43.x86_64",
        ),
        (
            // A kernel DKMS never built for, without headers, and no in-tree module.
            "fedora43-619-dkms-healthy",
            "6.18.16-200.fc43.x86_64",
            |r| {
                std::fs::remove_file(
                    r.join("lib/modules/6.18.16-200.fc43.x86_64/kernel/drivers/accel/amdxdna/amdxdna.ko.xz"),
                )
                .unwrap();
                // What the real modinfo says then.
                edit(
                    r,
                    "usr/bin/modinfo",
                    "case \"$*\" in\n",
                    "case \"$*\" in\n  *\"-k 6.18.16-200.fc43.x86_64 amdxdna\") echo 'modinfo: ERROR: Module amdxdna not found.' >&2; exit 1 ;;\n",
                )
            },
            "module",
            "has no build for it (its headers are not installed)",
            "6.18.16-200.fc43.x86_64",
        ),
        (
            "case22-ubuntu2404-611-dkms219",
            "6.11.0-21-generic",
            |_| {},
            "module",
            "older than 6.17, the minimum FastFlowLM 0.9.45 accepts",
            "",
        ),
        (
            // Signed, but by a key MokManager never enrolled.
            "secureboot-unsigned-dkms",
            "6.19.10-200.fc43.x86_64",
            |r| {
                edit(
                    r,
                    "usr/bin/modinfo",
                    "name:           amdxdna\n",
                    "name:           amdxdna\nsigner:         DKMS module signing key\nsig_key:        11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF:11:22:33:44\nsig_hashalgo:   sha256\n",
                )
            },
            "signing",
            "signed by 'DKMS module signing key', which is not an enrolled MOK",
            "mokutil --import /var/lib/dkms/mok.pub",
        ),
    ];
    for (fx, kver, tweak, aspect, words, fix) in cases {
        let (_tmp, root) = copy_fixture(fx);
        tweak(&root);
        let (code, k, err) = check_json(&root, &["--kernel", kver]);
        assert_eq!(code, 1, "{fx} {kver}: {k} {err}");
        assert_eq!(k[aspect]["status"], "fail", "{fx} {kver}: {k}");
        assert!(k[aspect]["summary"].as_str().unwrap().contains(words), "{fx} {kver}: {}", k[aspect]);
        let remedies: Vec<&str> = k["remedies"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert!(fix.is_empty() || remedies.iter().any(|r| r.contains(fix)), "{fx} {kver}: {remedies:?}");
    }
}

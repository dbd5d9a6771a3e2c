//! install on scratch roots copied from fixtures: plans, convergence, idempotence, resume
//! after a kill, refusal of bad input, the lock, and real tools (`ldconfig -r`, `usermod
//! --root`, gcc-built ELF libraries). Fakes only for what cannot run here: grubby (Fedora's)
//! and systemctl (no systemd), as recording shims.

use std::path::{Path, PathBuf};

use crate::{RECORD, bin, calls, copy_fixture, doctor_json, tree_digest, write_shim};

/// Runs install on a root; returns (exit code, stdout, stderr).
pub(crate) fn install(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("--root").arg(root).arg("install").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Replaces the fixture's static shims for mutating tools with recording wrappers around the
/// real tools (ldconfig, usermod) or fakes (grubby, systemctl).
pub(crate) fn tooling(root: &Path) {
    // `ldconfig -p` only reads the cache: record the calls that rebuild it.
    write_shim(
        root,
        "usr/sbin/ldconfig",
        &format!("[ \"$1\" = -p ] || {RECORD}\nexec /sbin/ldconfig -r \"$NPU_SETUP_ROOT\" \"$@\""),
    );
    let _ = std::fs::remove_file(root.join("usr/bin/ldconfig"));
    write_shim(
        root,
        "usr/sbin/usermod",
        &format!("{RECORD}\nexec /usr/sbin/usermod --root \"$NPU_SETUP_ROOT\" \"$@\""),
    );
    // Fedora's grubby cannot run here: a fake that removes the arguments from BLS options.
    write_shim(
        root,
        "usr/sbin/grubby",
        &format!(
            "{RECORD}\nfor a in \"$@\"; do case \"$a\" in --remove-args=*) args=\"${{a#--remove-args=}}\";; esac; done\n\
             for f in \"$NPU_SETUP_ROOT\"/boot/loader/entries/*.conf; do for x in $args; do sed -i \"/^options /s/ $x//g\" \"$f\"; done; done"
        ),
    );
    // No systemd here: record daemon-reload/enable, replay everything else. Our own units are
    // enabled for real with systemctl --root (which needs no running systemd): symlinks.
    let sc = root.join("usr/bin/systemctl");
    if sc.exists() {
        std::fs::rename(&sc, root.join("usr/bin/systemctl.replay")).unwrap();
    }
    write_shim(
        root,
        "usr/bin/systemctl",
        &format!(
            "case \"$1\" in daemon-reload|reboot) {RECORD}; exit 0;;\n\
             enable) {RECORD}; case \"$2\" in npu-setup-*) exec /usr/bin/systemctl --root=\"$NPU_SETUP_ROOT\" \"$@\";; esac; exit 0;; esac\n\
             exec \"$(dirname \"$0\")/systemctl.replay\" \"$@\""
        ),
    );
}

/// Real ELF libraries with the XRT sonames (gcc), so the real ldconfig can cache them.
fn real_xrt_libs(root: &Path) {
    let src = root.parent().unwrap().join("x.c");
    std::fs::write(&src, "int xrt_placeholder(void) { return 0; }\n").unwrap();
    for dir in ["opt/xilinx/xrt/lib64", "opt/xilinx/xrt/lib"] {
        for so in ["libxrt_coreutil.so.2", "libxrt_core.so.2", "libxrt_driver_xdna.so.2"] {
            let p = root.join(dir).join(so);
            if std::fs::symlink_metadata(&p).is_ok() || dir.ends_with("lib64") {
                let _ = std::fs::remove_file(&p);
                let st = std::process::Command::new("gcc")
                    .args(["-shared", "-fPIC", &format!("-Wl,-soname,{so}"), "-o"])
                    .arg(&p)
                    .arg(&src)
                    .status()
                    .unwrap();
                assert!(st.success(), "gcc");
            }
        }
    }
}

fn sed(root: &Path, rel: &str, from: &str, to: &str) {
    let p = root.join(rel);
    let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
    std::fs::write(&p, t.replace(from, to)).unwrap();
}

pub(crate) fn add_karg_everywhere(root: &Path, arg: &str) {
    sed(root, "proc/cmdline", " rhgb", &format!(" {arg} rhgb"));
    sed(root, "etc/default/grub", "GRUB_CMDLINE_LINUX=\"", &format!("GRUB_CMDLINE_LINUX=\"{arg} "));
    sed(root, "etc/kernel/cmdline", " rhgb", &format!(" {arg} rhgb"));
    for e in std::fs::read_dir(root.join("boot/loader/entries")).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        sed(root, &rel, " rhgb", &format!(" {arg} rhgb"));
    }
}

/// A healthy Fedora fixture broken the way people break it: the Strix Halo GPU tuning
/// (`amd_iommu=off`), no memlock configuration, XRT off the loader path.
pub(crate) fn broken_fedora(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = copy_fixture(fixture);
    tooling(&root);
    real_xrt_libs(&root);
    add_karg_everywhere(&root, "amd_iommu=off");
    for dir in ["etc/security/limits.d", "etc/systemd/system/user@.service.d", "etc/ld.so.conf.d"] {
        let _ = std::fs::remove_dir_all(root.join(dir));
    }
    (tmp, root)
}

fn converges(fixture: &str, extra: &[&str]) {
    let (_tmp, root) = broken_fedora(fixture);
    let (_, before) = doctor_json(&root, &[]);
    assert_eq!(before["diagnosis"]["first_failure"], "boot.iommu");

    let args: Vec<&str> = ["--yes", "--user", "alice"].iter().chain(extra).copied().collect();
    let (code, out, err) = install(&root, &args);
    assert_eq!(code, 3, "reboot owed for the kernel arguments\n{out}\n{err}");
    assert!(out.contains("reboot required: kargs"), "{out}");
    let first = calls(&root);
    assert!(first.iter().any(|c| c.starts_with("grubby --update-kernel=ALL --remove-args=amd_iommu=off")), "{first:?}");
    assert!(first.iter().any(|c| c == "ldconfig "), "{first:?}");
    assert!(first.iter().any(|c| c == "systemctl daemon-reload"), "{first:?}");
    for rel in ["etc/default/grub", "etc/kernel/cmdline"] {
        assert!(!std::fs::read_to_string(root.join(rel)).unwrap().contains("amd_iommu"), "{rel}");
    }

    // Second run: plans nothing, runs nothing that changes the host, still owes the reboot.
    let digest = tree_digest(&root);
    let (code, out, _) = install(&root, &args);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("Everything is in place"), "{out}");
    assert_eq!(calls(&root), first, "no command ran on the second run");
    assert_eq!(digest, tree_digest(&root), "the second run wrote nothing");

    // "Reboot": the running kernel now has the next-boot arguments.
    sed(&root, "proc/cmdline", "amd_iommu=off ", "");
    let (code, out, _) = install(&root, &args);
    assert_eq!(code, 0, "{out}");
    let (_, after) = doctor_json(&root, &[]);
    // Install does not upgrade the distro: on Fedora 43 (below 44, the xdna-driver 1.9 README's
    // minimum) host.os still warns, and that is the only thing left.
    let warned: Vec<&str> = after["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "warn")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let want = if warned == ["host.os"] { "degraded" } else { "ready" };
    assert_eq!(after["diagnosis"]["state"], want, "{} {warned:?}", after["diagnosis"]);
}

#[test]
fn converges_fedora43_619_dkms_host() {
    // Its Lemonade 10.3 is older than the pinned release: the upgrade (a GitHub download) is
    // tests/cli/lemonade.rs's; here the other steps converge.
    converges("fedora43-619-dkms-healthy", &["--skip", "lemonade"]);
}

#[test]
fn converges_fedora44_71_in_tree_host() {
    converges("fedora44-71-intree-healthy", &[]);
}

#[test]
fn dry_run_prints_the_exact_plan_and_changes_nothing() {
    let (_tmp, root) = broken_fedora("fedora44-71-intree-healthy");
    let digest = tree_digest(&root);
    let (code, out, _) = install(&root, &["--dry-run", "--user", "alice"]);
    assert_eq!(code, 0);
    assert_eq!(digest, tree_digest(&root));
    assert!(calls(&root).is_empty(), "{:?}", calls(&root));
    assert!(out.contains("-GRUB_CMDLINE_LINUX=\"amd_iommu=off "), "{out}");
    assert!(out.contains("run: grubby --update-kernel=ALL --remove-args=amd_iommu=off"), "{out}");
    assert!(out.contains("write /etc/security/limits.d/99-npu-setup-memlock.conf (mode 0644)"), "{out}");
    assert!(out.contains("+*\tsoft\tmemlock\tunlimited"), "{out}");
    assert!(out.contains("write /etc/ld.so.conf.d/npu-setup-xrt.conf"), "{out}");
    assert!(out.contains("dry run: "), "{out}");
    let mut cmd = bin();
    let cmd = cmd.arg("--root").arg(&root).args(["--format", "json", "install", "--dry-run", "--user", "alice"]);
    let json = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("one document: {e}\n{json}"));
    let kargs = v["plan"].as_array().unwrap().iter().find(|s| s["id"] == "kargs").unwrap();
    assert_eq!(kargs["plan"]["actions"][0]["action"], "edit-file");
    // The hooks and units name the stable copy (/usr/local/bin), never the test build.
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_npu-setup")).unwrap();
    let plan_text = out.replace(root.to_str().unwrap(), "<root>").replace(exe.to_str().unwrap(), "<npu-setup>");
    insta::assert_snapshot!("install-dry-run-fedora44", plan_text);
}

#[test]
fn without_a_terminal_and_without_yes_it_refuses() {
    let (_tmp, root) = broken_fedora("fedora44-71-intree-healthy");
    let digest = tree_digest(&root);
    let (code, _, err) = install(&root, &["--user", "alice"]);
    assert_eq!(code, 2);
    assert!(err.contains("no terminal to ask on; pass --yes"), "{err}");
    assert_eq!(digest, tree_digest(&root));
}

#[test]
fn an_unparsable_grub_default_is_refused_untouched() {
    let (_tmp, root) = broken_fedora("fedora44-71-intree-healthy");
    let p = root.join("etc/default/grub");
    let mut t = std::fs::read_to_string(&p).unwrap();
    t.push_str("if [ -e /etc/grub-extra ]; then\n  GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX console=ttyS0\"\nfi\n");
    std::fs::write(&p, &t).unwrap();
    let digest = tree_digest(&root);
    let (code, out, _) = install(&root, &["--yes", "--user", "alice"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refusing to edit /etc/default/grub: line"), "{out}");
    assert!(out.contains("install stops here: [kargs]"), "{out}");
    assert_eq!(digest, tree_digest(&root), "nothing changed anywhere");
}

#[test]
fn a_second_install_is_locked_out() {
    let (_tmp, root) = broken_fedora("fedora44-71-intree-healthy");
    std::fs::create_dir_all(root.join("var/lib/npu-setup")).unwrap();
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("var/lib/npu-setup/lock"))
        .unwrap();
    let _held = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    let (code, _, err) = install(&root, &["--yes", "--user", "alice"]);
    assert_eq!(code, 2);
    assert!(err.contains("another npu-setup install is running"), "{err}");
    assert!(calls(&root).is_empty());
}

#[test]
fn access_adds_the_user_to_render_with_the_real_usermod() {
    let (_tmp, root) = copy_fixture("case07-ubuntu2404-render-group");
    tooling(&root);
    let (code, out, err) = install(&root, &["--yes", "--only", "access", "--user", "alice"]);
    assert_eq!(code, 1, "doctor still finds Lemonade missing\n{out}\n{err}");
    assert!(calls(&root).contains(&"usermod -aG render alice".to_string()), "{:?}", calls(&root));
    assert!(
        std::fs::read_to_string(root.join("etc/group"))
            .unwrap()
            .lines()
            .any(|l| l.starts_with("render:") && l.ends_with("alice"))
    );
    let (_, r) = doctor_json(&root, &[]);
    assert_eq!(crate::check(&r, "accel.node")["status"], "pass");
}

#[test]
fn a_missing_tool_fails_the_step_clearly() {
    let (_tmp, root) = copy_fixture("case07-ubuntu2404-render-group");
    let (code, out, _) = install(&root, &["--yes", "--only", "access", "--user", "alice"]);
    assert_eq!(code, 1);
    assert!(out.contains("install failed: [access] usermod: command not found"), "{out}");
}

#[test]
fn killed_mid_run_then_rerun_converges_without_half_written_files() {
    let (_tmp, root) = copy_fixture("case07-ubuntu2404-render-group");
    tooling(&root);
    // limits writes its file, then access's usermod kills install (SIGKILL, no cleanup).
    let _ = std::fs::remove_dir_all(root.join("etc/security/limits.d"));
    write_shim(&root, "usr/sbin/usermod", &format!("{RECORD}\nkill -9 $PPID; sleep 5"));
    // Lemonade is not in this fixture and its package (or its PPA) cannot be fetched here.
    let skip = ["--skip", "repos,packages,lemonade,lemonade-service,models"];
    let (code, out, err) = install(&root, &["--yes", "--user", "alice", skip[0], skip[1]]);
    assert_eq!(code, -1, "killed by a signal\n{out}\n{err}");
    assert!(root.join("etc/security/limits.d/99-npu-setup-memlock.conf").is_file());
    tooling(&root);
    let (code, out, _) = install(&root, &["--yes", "--user", "alice", skip[0], skip[1]]);
    assert_eq!(code, 1, "converged; doctor still finds Lemonade missing\n{out}");
    let (code, out, _) = install(&root, &["--yes", "--user", "alice", skip[0], skip[1]]);
    assert!(out.contains("Everything is in place"), "{out}");
    assert_eq!(code, 1);
    let leftovers: Vec<String> = tree_digest(&root).keys().filter(|k| k.contains(".npu-setup.")).cloned().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for line in std::fs::read_to_string(root.join("var/lib/npu-setup/journal.jsonl")).unwrap().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn a_kill_between_steps_loses_no_owed_reboot_and_the_next_run_sweeps_leftovers() {
    let (_tmp, root) = broken_fedora("fedora44-71-intree-healthy");
    std::fs::create_dir_all(root.join("proc/sys/kernel/random")).unwrap();
    std::fs::write(root.join("proc/sys/kernel/random/boot_id"), "0c7e1bde-5b1e-4a3f-9d1c-6e2f8a4b7c90\n").unwrap();
    // Leftovers of earlier killed runs: a dead writer's temp file (pid_max is at most 2^22),
    // an old one from a version without pids, and a live writer's (this test's pid) that
    // must survive.
    let dead = root.join("etc/default/.npu-setup.4194305.AbC123");
    std::fs::write(&dead, "half a grub file").unwrap();
    let legacy = root.join("etc/kernel/.npu-setup.Old123");
    std::fs::write(&legacy, "half a cmdline").unwrap();
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&legacy).unwrap().set_modified(t).unwrap();
    std::fs::create_dir_all(root.join("var/lib/npu-setup")).unwrap();
    let live = root.join(format!("var/lib/npu-setup/.npu-setup.{}.Live01", std::process::id()));
    std::fs::write(&live, "being written").unwrap();
    // kargs applies (and owes a reboot); the loader step's ldconfig then kills install.
    write_shim(
        &root,
        "usr/sbin/ldconfig",
        "[ \"$1\" = -p ] || { kill -9 $PPID; sleep 5; }\nexec /sbin/ldconfig -r \"$NPU_SETUP_ROOT\" \"$@\"",
    );
    let (code, out, err) = install(&root, &["--yes", "--user", "alice"]);
    assert_eq!(code, -1, "killed by a signal\n{out}\n{err}");
    assert!(!dead.exists() && !legacy.exists(), "stale temporary files are removed at startup\n{out}");
    assert!(out.contains("removed /etc/default/.npu-setup.4194305.AbC123 (left by an interrupted run)"), "{out}");
    assert!(live.exists(), "a live writer's file is left alone");
    // What the killed run did is recorded: the steps it finished and the reboot kargs owes.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("var/lib/npu-setup/state.json")).unwrap()).unwrap();
    assert_eq!(state["steps"]["kargs"]["status"], "done", "{state:#}");
    let reasons = state["reboot"]["reasons"].as_array().unwrap_or_else(|| panic!("no owed reboot: {state:#}"));
    assert!(reasons.iter().any(|r| r.as_str().unwrap().starts_with("kargs: ")), "{state:#}");
    assert_eq!(state["reboot"]["boot_id"], "0c7e1bde-5b1e-4a3f-9d1c-6e2f8a4b7c90");
    // The next run finds kargs converged, finishes the rest and still owes the reboot.
    tooling(&root);
    let (code, out, err) = install(&root, &["--yes", "--user", "alice"]);
    assert_eq!(code, 3, "reboot still owed\n{out}\n{err}");
    assert!(out.contains("reboot required: kargs"), "{out}");
}

#[test]
fn a_converged_install_probes_once() {
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    std::fs::rename(root.join("usr/bin/rpm"), root.join("usr/bin/rpm.real")).unwrap();
    write_shim(&root, "usr/bin/rpm", &format!("{RECORD}\nexec \"$0.real\" \"$@\""));
    let (code, out, err) = install(&root, &["--yes", "--user", "alice", "--skip", "lifecycle"]);
    assert!(out.contains("Everything is in place"), "{out}\n{err}");
    assert_eq!(code, 0, "{out}");
    let queries = calls(&root).iter().filter(|c| c.starts_with("rpm -q")).count();
    assert_eq!(queries, 1, "the plan and the verdict share one probe: {:?}", calls(&root));
}

#[test]
fn no_permission_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        return; // the sandbox user cannot make a tree it cannot write
    }
    let (tmp, root) = broken_fedora("fedora44-71-intree-healthy");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let digest = tree_digest(&root);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_npu-setup"))
        .arg("--root")
        .arg(&root)
        .args(["install", "--yes", "--user", "alice"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("var/lib/npu-setup") && err.contains("Permission denied"), "{err}");
    assert_eq!(digest, tree_digest(&root));
}

#[test]
fn config_file_with_cli_overrides() {
    let (tmp, root) = broken_fedora("fedora44-71-intree-healthy");
    let cfg = tmp.path().join("install.yaml");
    std::fs::write(
        &cfg,
        "yes: true\nonly: [limits]\nuser: bob\nmodel: [\"qwen3:1.7b\", \"whisper-v3:turbo\"]\ngpu-url: http://127.0.0.1:9/health\ngpu-model: big\n",
    )
    .unwrap();
    let (code, out, _) = install(&root, &["--config", cfg.to_str().unwrap(), "--user", "alice"]);
    assert_eq!(code, 3.min(code).max(1), "{out}");
    assert!(out.contains("[limits]") && !out.contains("[kargs]"), "{out}");
    assert!(root.join("etc/security/limits.d/99-npu-setup-memlock.conf").is_file());
    // The install's models and GPU endpoint are remembered for doctor --smoke and bench.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("var/lib/npu-setup/state.json")).unwrap()).unwrap();
    assert_eq!(state["models"], serde_json::json!(["qwen3:1.7b", "whisper-v3:turbo"]));
    assert_eq!(state["gpu_model"], "big");
    let (_, r) = doctor_json(&root, &["--only", "gpu.api"]);
    let gpu = crate::check(&r, "gpu.api");
    assert_eq!(gpu["evidence"]["url"], "http://127.0.0.1:9/health", "{gpu}");
    assert_eq!(gpu["evidence"]["url_source"], "install config", "{gpu}");
    std::fs::write(&cfg, "yes: true\nonyl: [limits]\n").unwrap();
    let (code, _, err) = install(&root, &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("install.yaml:2:1") && err.contains("unknown field `onyl`"), "{err}");
    // A value the command line refuses is refused in the file too (it was ignored).
    let digest = tree_digest(&root);
    std::fs::write(&cfg, "yes: true\ndriver: nvidia\n").unwrap();
    let (code, _, err) = install(&root, &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("install.yaml:2: driver: invalid value \"nvidia\""), "{err}");
    let (code, _, err) = install(&root, &["--yes", "--driver", "nvidia"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid value 'nvidia' for '--driver <PATH>'"), "{err}");
    assert_eq!(digest, tree_digest(&root), "nothing changed");
}

#[test]
fn a_node_without_group_access_gets_a_udev_rule() {
    let (_tmp, root) = copy_fixture("case07-ubuntu2404-render-group");
    tooling(&root);
    // No udev here: a recording fake.
    write_shim(&root, "usr/bin/udevadm", RECORD);
    let meta = root.join(".fixture.yaml");
    let text = std::fs::read_to_string(&meta).unwrap();
    let text = text.replacen(
        "dev/accel/accel0: { kind: char, mode: \"0660\", uid: 0, gid: 992",
        "dev/accel/accel0: { kind: char, mode: \"0600\", uid: 0, gid: 0",
        1,
    );
    assert!(text.contains("mode: \"0600\", uid: 0, gid: 0"), "fixture format changed");
    std::fs::write(&meta, text).unwrap();
    let (_, out, err) = install(&root, &["--yes", "--only", "access", "--user", "alice"]);
    let rule = std::fs::read_to_string(root.join("etc/udev/rules.d/70-npu-setup-accel.rules"))
        .unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"));
    assert!(rule.starts_with("# Managed by npu-setup"), "{rule}");
    assert!(
        rule.contains(r#"KERNEL=="accel*", SUBSYSTEM=="accel", DRIVERS=="amdxdna", GROUP="render", MODE="0660""#),
        "{rule}"
    );
    let c = calls(&root);
    assert!(
        c.contains(&"udevadm control --reload".to_string())
            && c.contains(&"udevadm trigger --subsystem-match=accel".to_string()),
        "{c:?}"
    );
    assert!(c.contains(&"usermod -aG render alice".to_string()), "{c:?}");
    let (_, out, _) = install(&root, &["--yes", "--only", "access", "--user", "alice"]);
    assert!(out.contains("Everything is in place"), "{out}");
}

#[test]
fn only_driver_brings_its_prerequisites_and_shows_every_phase_before_asking() {
    // Fedora 43 on 6.19 with no XRT, plugin or DKMS module: the DKMS path, from source.
    let (_tmp, root) = copy_fixture("case02-halo-619-intree-proto7");
    let (code, out, err) = install(&root, &["--dry-run", "--only", "driver", "--user", "alice"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.starts_with("--only driver also runs what it needs first: preflight, build-deps, sources, xrt"),
        "{out}"
    );
    assert!(!out.contains("BLOCKED") && !out.contains("cannot run git"), "git comes with build-deps: {out}");
    // Every phase is in the plan: refresh, build dependencies, clone (xdna-driver only), the
    // builds, package installs, the DKMS module for the target kernel, the initramfs.
    let kver = "6.19.10-200.fc43.x86_64";
    let order = [
        "run: dnf makecache",
        "run: dnf install -y git cmake",
        "run: git clone --recurse-submodules --branch 1.9 https://github.com/amd/xdna-driver.git",
        "build xrt in ",
        "run: dnf install -y ",
        "build driver-dkms in ",
        "# install driver-dkms 2.26.0 packages: the xdna plugin, the DKMS module source and the NPU firmware",
        "run: tar -xzf ",
        &format!("run: dnf install -y kernel-devel-{kver}"),
        "run: dkms add -m xrt-amdxdna -v 2.26.0",
        &format!("run: dkms install -m xrt-amdxdna -v 2.26.0 -k {kver}"),
        &format!("run: dracut -f --kver {kver}"),
    ];
    let mut at = 0;
    for needle in order {
        let found = out[at..].find(needle).unwrap_or_else(|| panic!("{needle:?} not after byte {at}:\n{out}"));
        at += found + needle.len();
    }
    assert!(!out.contains("FastFlowLM.git"), "--only driver clones no FastFlowLM: {out}");
    // The count says what it shows, per step.
    let shown = out.lines().filter(|l| l.starts_with("    - ")).count();
    let line = out.lines().find(|l| l.starts_with("dry run: nothing changed; planned ")).unwrap();
    assert!(
        line.starts_with(&format!("dry run: nothing changed; planned {shown} change(s): build-deps 2, ")),
        "{line}"
    );
    // --format json: the document alone on stdout, naming what --only brought in.
    let (_, json, _) = install(&root, &["--dry-run", "--format", "json", "--only", "driver", "--user", "alice"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let ids: Vec<&str> = v["plan"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["preflight", "build-deps", "sources", "xrt", "driver"]);
    assert_eq!(v["prerequisites"], serde_json::json!(["preflight", "build-deps", "sources", "xrt"]));
    assert_eq!(v["dry_run"], true);
}

#[test]
fn on_rpm_ostree_kernel_arguments_go_through_rpm_ostree_kargs_and_doctor_knows_the_fix_is_staged() {
    let (_tmp, root) = copy_fixture("silverblue44-72-ostree-iommu-off");
    let (code, out, err) = install(&root, &["--dry-run", "--user", "alice"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("    - run: rpm-ostree kargs --delete=amd_iommu=off    # stage a deployment"), "{out}");
    assert!(!out.contains("grubby") && !out.contains("/boot/loader/entries"), "ostree owns the entries: {out}");
    // What would write into the read-only image is said, with the exact commands, not done.
    assert!(out.contains("[lemonade] install the pinned Lemonade server package — not available: not on an image-based (rpm-ostree) system"), "{out}");
    assert!(out.contains("`sudo rpm-ostree install --idempotent "), "{out}");
    assert!(!out.contains("run: dnf install"), "{out}");
    // rpm-ostree cannot run here: a fake keeps the next deployment's arguments in a file,
    // prints them for `kargs` and stages `--delete=ARG` into it (the BLS entries change only
    // when ostree finalizes the deployment at shutdown).
    let next = root.parent().unwrap().join("next-kargs");
    let replay = std::process::Command::new(root.join("usr/bin/rpm-ostree")).arg("kargs").output().unwrap();
    std::fs::write(&next, &replay.stdout).unwrap();
    write_shim(
        &root,
        "usr/bin/rpm-ostree",
        &format!(
            "f=\"$NPU_SETUP_ROOT/../next-kargs\"\n[ \"$1\" = kargs ] || exit 127\n[ $# = 1 ] && exec cat \"$f\"\n{RECORD}\n\
             shift\nfor a in \"$@\"; do case \"$a\" in --delete=*) x=\"${{a#--delete=}}\"\n\
             n=$(for w in $(cat \"$f\"); do [ \"$w\" = \"$x\" ] || printf '%s ' \"$w\"; done); echo \"$n\" > \"$f\";; *) exit 1;; esac; done\n\
             echo 'Staging deployment... done'; echo 'Changes queued for next boot. Run \"systemctl reboot\" to start a reboot'"
        ),
    );
    let entries = tree_digest(&root.join("boot/loader/entries"));
    let (code, out, err) = install(&root, &["--yes", "--only", "kargs", "--user", "alice"]);
    assert_eq!(code, 3, "converged, reboot owed: {out}\n{err}");
    assert_eq!(calls(&root), ["rpm-ostree kargs --delete=amd_iommu=off"]);
    assert!(!std::fs::read_to_string(&next).unwrap().contains("amd_iommu"));
    assert_eq!(tree_digest(&root.join("boot/loader/entries")), entries, "BLS entries are ostree's");
    // Doctor: the running kernel still has it, the next deployment does not: a reboot.
    let (_, r) = doctor_json(&root, &[]);
    let c = r["checks"].as_array().unwrap().iter().find(|c| c["id"] == "boot.iommu").unwrap();
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().ends_with("fixed for the next boot: reboot"), "{c}");
    let cmds = c["remedy"]["commands"].to_string();
    assert!(!cmds.contains("npu-setup install") && !cmds.contains("rpm-ostree kargs"), "{cmds}");
    let next_boot = r["checks"].as_array().unwrap().iter().find(|c| c["id"] == "boot.next").unwrap();
    assert_eq!(next_boot["status"], "pass", "{next_boot}");
    // A second run changes nothing.
    let (_, out, _) = install(&root, &["--yes", "--only", "kargs", "--user", "alice"]);
    assert_eq!(calls(&root).len(), 1, "{out}");
}

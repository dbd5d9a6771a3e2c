//! doctor on every fixture: verdicts, snapshots of human and JSON output, the examples the
//! issue names, read-only guarantee, catalog listing.

use crate::{bin, check, copy_fixture, doctor_json, fixture, fixtures, tree_digest, write_shim};

fn expectations(name: &str) -> (String, Option<String>) {
    let text = std::fs::read_to_string(fixture(name).join(".fixture.yaml")).unwrap();
    let y: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    let e = &y["expect"];
    (e["state"].as_str().unwrap().to_string(), e["first_failure"].as_str().map(str::to_string))
}

#[test]
fn every_fixture_reaches_its_expected_verdict() {
    let names = fixtures();
    assert!(names.len() >= 18, "fixtures: {names:?}");
    for name in names {
        let (state, first) = expectations(&name);
        let (code, r) = doctor_json(&fixture(&name), &[]);
        assert_eq!(r["diagnosis"]["state"], state, "{name}: {}", r["diagnosis"]);
        assert_eq!(r["diagnosis"]["first_failure"].as_str().map(str::to_string), first, "{name}");
        // degraded with warnings only is healthy (ARCHITECTURE.md §Exit codes).
        assert_eq!(code, if matches!(state.as_str(), "ready" | "degraded") { 0 } else { 1 }, "{name}: exit code");
        assert_eq!(r["apiVersion"], "npu-setup/v1");
        assert_eq!(
            r["checks"].as_array().unwrap().len(),
            npu_setup::model::CHECK_IDS.len(),
            "{name}: every check reported"
        );
        // Every non-pass failure carries a remedy.
        for c in r["checks"].as_array().unwrap() {
            if c["status"] == "fail" {
                assert!(
                    c["remedy"]["text"].as_str().is_some_and(|t| !t.is_empty()),
                    "{name}: {} has no remedy",
                    c["id"]
                );
            }
        }
    }
}

#[test]
fn snapshots_of_human_and_json_reports() {
    for name in fixtures() {
        let out = bin().arg("--root").arg(fixture(&name)).args(["doctor", "--color", "never"]).output().unwrap();
        insta::assert_snapshot!(format!("{name}.human"), String::from_utf8_lossy(&out.stdout));
        let (_, r) = doctor_json(&fixture(&name), &[]);
        insta::assert_json_snapshot!(format!("{name}.json"), r);
    }
}

#[test]
fn yaml_output_is_the_same_report() {
    let out = bin()
        .arg("--root")
        .arg(fixture("case02-halo-619-intree-proto7"))
        .args(["doctor", "--format", "yaml"])
        .output()
        .unwrap();
    let y: serde_json::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    let (_, j) = doctor_json(&fixture("case02-halo-619-intree-proto7"), &[]);
    assert_eq!(y, j);
}

#[test]
fn doctor_writes_nothing() {
    for name in ["fedora43-619-dkms-healthy", "case09-iommu-off-70rc2", "desktop-no-npu"] {
        let (_tmp, root) = copy_fixture(name);
        let before = tree_digest(&root);
        for fmt in ["human", "json", "yaml"] {
            bin()
                .arg("--root")
                .arg(&root)
                .args(["doctor", "--format", fmt, "-v"])
                .assert()
                .code(predicates::ord::ge(0));
        }
        assert_eq!(before, tree_digest(&root), "{name} changed");
    }
}

#[test]
fn list_prints_the_catalog_in_ladder_order() {
    let out = bin().args(["doctor", "--list", "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["apiVersion"].as_str(), v["kind"].as_str()), (Some("npu-setup/v1"), Some("CheckCatalog")));
    let ids: Vec<&str> = v["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "host.os",
            "host.recipes",
            "host.kernel",
            "npu.device",
            "boot.iommu",
            "boot.next",
            "driver.module",
            "driver.bound",
            "firmware.files",
            "firmware.compat",
            "kernel.log",
            "accel.node",
            "limits.memlock",
            "dkms.state",
            "secureboot.signing",
            "xrt.install",
            "xrt.loader",
            "flm.install",
            "flm.validate",
            "stack.provenance",
            "lemonade.install",
            "lemonade.service",
            "lemonade.flm",
            "lemonade.api",
            "gpu.device",
            "gpu.api",
            "smoke.npu",
            "smoke.gpu",
            "smoke.whisper"
        ]
    );
    let human = bin().args(["doctor", "--list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("boot.iommu           boot"));
}

#[test]
fn only_and_skip_select_checks() {
    let (_, r) = doctor_json(&fixture("case09-iommu-off-70rc2"), &["--only", "boot.iommu,npu.device"]);
    assert_eq!(check(&r, "boot.iommu")["status"], "fail");
    assert_eq!(check(&r, "host.os")["status"], "skip");
    let (_, r) = doctor_json(&fixture("case09-iommu-off-70rc2"), &["--skip", "boot.iommu", "--skip", "boot.next"]);
    assert_eq!(check(&r, "boot.iommu")["status"], "skip");
    assert_eq!(r["diagnosis"]["first_failure"], "kernel.log");
}

#[test]
fn amd_iommu_off_fails_and_names_the_fix() {
    let (_, r) = doctor_json(&fixture("case09-iommu-off-70rc2"), &[]);
    let c = check(&r, "boot.iommu");
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().contains("amd_iommu=off"));
    let cmds = c["remedy"]["commands"].to_string();
    assert!(cmds.contains("npu-setup install --only kargs"), "{cmds}");
    assert!(cmds.contains("grubby --update-kernel=ALL --remove-args=\\\"amd_iommu\\\""), "{cmds}");
    assert_eq!(c["remedy"]["reboot"], true);
    assert_eq!(check(&r, "boot.next")["status"], "fail");
    // The kernel-log SVA lines are attributed to the IOMMU, not to a missing driver.
    assert_eq!(check(&r, "kernel.log")["cause"], "boot.iommu");
}

#[test]
fn amd_iommu_pt_is_an_ineffective_warning() {
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    let cl = std::fs::read_to_string(root.join("proc/cmdline")).unwrap();
    std::fs::write(root.join("proc/cmdline"), format!("{} amd_iommu=pt\n", cl.trim())).unwrap();
    let (code, r) = doctor_json(&root, &[]);
    let c = check(&r, "boot.iommu");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(c["summary"].as_str().unwrap().contains("not an AMD IOMMU option"), "{c}");
    assert_eq!(r["diagnosis"]["state"], "degraded");
    assert_eq!(code, 0, "warnings do not fail without --strict");
    let (code, _) = doctor_json(&root, &["--strict"]);
    assert_eq!(code, 1);
}

#[test]
fn sva_bind_failure_is_an_iommu_cause_not_a_missing_driver() {
    let (_tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    write_shim(
        &root,
        "usr/bin/journalctl",
        "echo 'amdxdna 0000:c6:00.1: [drm] Load firmware amdnpu/17f0_11/npu_7.sbin'\n\
         echo 'amdxdna 0000:c6:00.1: [drm] *ERROR* amdxdna_drm_open: SVA bind device failed, ret -19'",
    );
    let (_, r) = doctor_json(&root, &[]);
    let c = check(&r, "boot.iommu");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["summary"].as_str().unwrap().contains("not a missing driver"), "{c}");
    assert_eq!(r["diagnosis"]["first_failure"], "boot.iommu");
    assert_eq!(check(&r, "driver.module")["status"], "pass");
}

#[test]
fn protocol_7_firmware_on_619_in_tree_names_three_fixes() {
    let (_, r) = doctor_json(&fixture("case02-halo-619-intree-proto7"), &[]);
    let c = check(&r, "firmware.compat");
    assert_eq!(c["status"], "fail");
    let s = c["summary"].as_str().unwrap();
    assert!(s.contains("kernel 6.19 in-tree amdxdna speaks protocol 6") && s.contains("1.1.2.65 (protocol 7)"), "{s}");
    let t = c["remedy"]["text"].as_str().unwrap();
    assert!(t.contains("kernel >= 7.0") && t.contains("xdna-driver package") && t.contains("protocol-6"), "{t}");
    assert_eq!(check(&r, "driver.bound")["cause"], "firmware.compat");
}

#[test]
fn kernel_7_with_npu7_needs_no_dkms() {
    let (_, r) = doctor_json(&fixture("fedora44-71-intree-healthy"), &[]);
    assert!(check(&r, "host.kernel")["summary"].as_str().unwrap().contains("no DKMS needed"));
    let d = check(&r, "dkms.state");
    assert_eq!(d["status"], "skip");
    assert!(d["summary"].as_str().unwrap().contains("no DKMS needed on kernel >= 7.0"));
}

#[test]
fn render_group_missing_is_an_accel_node_failure() {
    let (_, r) = doctor_json(&fixture("case07-ubuntu2404-render-group"), &[]);
    let c = check(&r, "accel.node");
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().contains("alice is not in render"), "{c}");
    assert!(c["remedy"]["commands"][0].as_str().unwrap().contains("usermod -aG render alice"));
    // flm validate's "No NPU device found" is traced back to the permission problem.
    assert_eq!(check(&r, "flm.validate")["cause"], "accel.node");
    // --user changes whose access is judged.
    let (_, r) = doctor_json(&fixture("case07-ubuntu2404-render-group"), &["--user", "root"]);
    assert_eq!(check(&r, "accel.node")["status"], "pass");
}

#[test]
fn old_firmware_is_below_flms_minimum() {
    let (_, r) = doctor_json(&fixture("case05-cachyos-drm06-proto6"), &[]);
    let c = check(&r, "firmware.compat");
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().contains("loaded firmware 1.0.0.63 < 1.1.0.0"), "{c}");
}

#[test]
fn xrt_outside_the_loader_path_names_the_conf_file() {
    let (_tmp, root) = copy_fixture("fedora43-619-dkms-healthy");
    std::fs::remove_file(root.join("etc/ld.so.conf.d/xrt.conf")).unwrap();
    let (_, r) = doctor_json(&root, &[]);
    let c = check(&r, "xrt.loader");
    assert_eq!(c["status"], "fail", "{c}");
    let cmds = c["remedy"]["commands"].to_string();
    assert!(cmds.contains("/etc/ld.so.conf.d/npu-setup-xrt.conf") && cmds.contains("/opt/xilinx/xrt/lib64"), "{cmds}");
    assert_eq!(r["diagnosis"]["first_failure"], "xrt.loader");
}

#[test]
fn no_npu_is_calm() {
    let out = bin().arg("--root").arg(fixture("desktop-no-npu")).args(["doctor"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("NPU checks skipped: no NPU on this machine"), "{text}");
    assert!(text.contains("no-npu: No AMD XDNA NPU on this machine"), "{text}");
    // Short: the fix text wraps at 100 columns, nothing else is shown.
    assert!(text.lines().count() < 28, "{text}");
}

#[test]
fn secure_boot_unsigned_dkms_gives_the_mok_steps() {
    let (_, r) = doctor_json(&fixture("secureboot-unsigned-dkms"), &[]);
    let c = check(&r, "secureboot.signing");
    assert_eq!(c["status"], "fail");
    assert!(c["remedy"]["commands"].to_string().contains("mokutil --import /var/lib/dkms/mok.pub"));
    assert_eq!(check(&r, "driver.bound")["cause"], "secureboot.signing");
}

#[test]
fn lemonade_10_0_without_flm_on_its_path() {
    let (_, r) = doctor_json(&fixture("lemonade-no-flm-path"), &[]);
    let c = check(&r, "lemonade.flm");
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().contains("cannot find flm"), "{c}");
    assert_eq!(c["evidence"]["selection"], serde_json::json!(["path"]));
    assert_eq!(check(&r, "lemonade.api")["cause"], "lemonade.flm");
}

/// Lemonade's own downloaded FLM, its config choosing the system flm, and the stock unit's
/// CAP_SYS_RESOURCE: each healthy as upstream ships it.
#[test]
fn lemonade_as_upstream_ships_it_is_healthy() {
    let (_, r) = doctor_json(&fixture("lemonade-own-flm"), &[]);
    let c = check(&r, "lemonade.flm");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["evidence"]["runs"]["binary"], "/opt/var/lib/lemonade/.cache/lemonade/bin/flm/npu/flm");
    assert_eq!(c["evidence"]["runs"]["version"], "1.0.1");
    assert_eq!(check(&r, "flm.install")["status"], "pass");
    let m = check(&r, "limits.memlock");
    assert_eq!(m["status"], "pass");
    assert!(
        m["evidence"]["lemonade_unit_memlock"].as_str().unwrap().starts_with("AmbientCapabilities=CAP_SYS_RESOURCE")
    );
    assert_eq!(m["evidence"]["lemonade_unit_limit"], serde_json::Value::Null);

    let (_, r) = doctor_json(&fixture("lemonade-prefer-system"), &[]);
    let c = check(&r, "lemonade.flm");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["evidence"]["runs"]["source"], "prefer-system-path");
    assert_eq!(c["evidence"]["config"], "/var/lib/lemonade/config.json");
    assert_eq!(check(&r, "limits.memlock")["status"], "pass");
}

#[test]
fn lemonade_flm_failures_name_the_fix() {
    let (_, r) = doctor_json(&fixture("lemonade-stale-own-flm"), &[]);
    let c = check(&r, "lemonade.flm");
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().contains("is v0.9.46, but it wants v1.0.1"), "{c}");
    assert!(c["remedy"]["commands"].to_string().contains("lemonade backends install flm:npu"), "{c}");
    assert_eq!(check(&r, "lemonade.api")["cause"], "lemonade.flm");

    let (_, r) = doctor_json(&fixture("lemonade-prefer-system-no-flm"), &[]);
    let c = check(&r, "lemonade.flm");
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().contains("flm.prefer_system is true"), "{c}");
    assert!(
        c["remedy"]["text"].as_str().unwrap().contains("lemonade config set flm.npu_bin=/opt/fastflowlm/bin/flm"),
        "{c}"
    );
    assert_eq!(c["remedy"]["step"], "lemonade-service");
}

#[test]
fn a_derivative_is_judged_as_its_base_release() {
    // Linux Mint 22.2 names its base in UBUNTU_CODENAME=noble: Ubuntu 24.04, supported.
    let (_, r) = doctor_json(&fixture("mint22-617-ppa"), &[]);
    let os = check(&r, "host.os");
    assert_eq!((os["status"].as_str(), os["evidence"]["base_version"].as_str()), (Some("pass"), Some("24.04")), "{os}");
    assert!(os["summary"].as_str().unwrap().contains("Ubuntu 24.04 base"), "{os}");
    // Its remedies are those of Ubuntu 24.04: the FastFlowLM .deb built for ubuntu24.04.
    let (_tmp, root) = copy_fixture("mint22-617-ppa");
    std::fs::remove_file(root.join("opt/fastflowlm/bin/flm")).unwrap();
    std::fs::remove_file(root.join("usr/bin/flm")).unwrap();
    let (_, r) = doctor_json(&root, &[]);
    let flm = check(&r, "flm.install");
    let cmds = flm["remedy"]["commands"].to_string();
    assert!(cmds.contains("fastflowlm_1.0.9_ubuntu24.04_amd64.deb"), "{flm}");
}

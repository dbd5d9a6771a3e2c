//! The known-issues catalog (`recipes/known-issues.yaml`): every entry, on a test host that
//! matches it, is reported by the check it names; the nearest host that does not match is
//! left alone. Also the kernel crashes, wedges and unrecognised driver errors of `kernel.log`
//! and the hung `flm validate` that names the crash.

use super::*;
use crate::host::klog::tests::GPF;

/// The healthy Strix Halo host with its NPU as Krackan's npu6 revision.
fn krackan_rev20() -> Host {
    Host::halo().npu_id("17f0", "20")
}

/// Lemonade is the installed release `version`.
fn lemonade(h: Host, version: &str) -> Host {
    let pkg = recipes().lemonade.package.clone();
    h.package(&pkg, Some(version))
}

/// `h` with the kernel log's crash reports as the probe keeps them from `text`.
fn crash(h: Host, text: &str) -> Host {
    let kept = crate::host::klog::filter_text("dmesg", text);
    h.with(|f| {
        let l = f.kernel_log.ok_mut();
        l.crashes = kept.crashes;
        l.lines.extend(kept.lines);
    })
}

fn known_ids(c: &CheckResult) -> Vec<String> {
    c.evidence
        .get("known_issues")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The ids the tests below exercise; `every_catalog_entry_is_tested` holds them to the
/// catalog.
const TESTED: &[&str] = &[
    "flm-krackan-rev20-hwctx",
    "lemonade-10.2-exact-flm-pin",
    "flm-0.9.45-list-json-banner",
    "sva-disabled-x86-backport",
    "iommu-pt-sva-unbind-crash",
    "firmware-wedge-long-decode",
    "flm-1.0.4-qwen35-hwctx",
    "flm-xrt-no-device-index-0",
];

#[test]
fn every_catalog_entry_is_tested() {
    let mut ids: Vec<&str> = recipes().known_issues.iter().map(|k| k.id.as_str()).collect();
    ids.sort_unstable();
    let mut tested = TESTED.to_vec();
    tested.sort_unstable();
    assert_eq!(ids, tested);
}

#[test]
fn flm_from_0_9_45_on_krackan_rev_0x20_is_a_known_issue_of_flm_validate() {
    // https://github.com/ROCm/FastFlowLM/issues/655: validate passes, every model fails.
    let c = expect(&krackan_rev20().flm_version("0.9.45"), "flm.validate", Warn, "known issue flm-krackan-rev20-hwctx");
    assert!(c.summary.contains("UNVERIFIED"), "{}", c.summary);
    assert!(remedy(&c).contains("Pin FastFlowLM 0.9.44"), "{}", remedy(&c));
    assert_eq!(known_ids(&c), ["flm-krackan-rev20-hwctx"]);
    // 0.9.44 works there; 0.9.45 works on the other revisions.
    assert!(known_ids(&run(&krackan_rev20().flm_version("0.9.44"), "flm.validate")).is_empty());
    expect(&Host::halo().flm_version("0.9.45"), "flm.validate", Pass, "ready");
}

#[test]
fn lemonade_10_2_rejects_every_flm_but_its_exact_pin() {
    // https://github.com/lemonade-sdk/lemonade/issues/1967: FLM 0.9.42 called outdated.
    let c = run(&lemonade(Host::halo(), "10.2.0").flm_version("0.9.42"), "lemonade.flm");
    assert_eq!(c.status, Fail, "{}", c.summary);
    assert!(c.summary.contains("(known issue lemonade-10.2-exact-flm-pin)"), "{}", c.summary);
    assert!(remedy(&c).contains("10.3.0"), "{}", remedy(&c));
    assert!(known_ids(&run(&lemonade(Host::halo(), "10.3.0").flm_version("0.9.42"), "lemonade.flm")).is_empty());
}

#[test]
fn flm_0_9_45_breaks_lemonades_model_discovery() {
    // https://github.com/lemonade-sdk/lemonade/issues/2782 (Lemonade 11.0.0, flm 0.9.45).
    let c = run(&lemonade(Host::halo(), "11.0.0").flm_version("0.9.45"), "lemonade.flm");
    assert_eq!(known_ids(&c), ["flm-0.9.45-list-json-banner"], "{}", c.summary);
    assert!(matches!(c.status, Warn | Fail), "{c:?}");
    assert!(known_ids(&run(&lemonade(Host::halo(), "11.5.1").flm_version("0.9.46"), "lemonade.flm")).is_empty());
    // Without Lemonade there is nobody to list FLM's models.
    let h =
        Host::halo().flm_version("0.9.45").with(|f| f.lemonade = crate::host::Probed::Skipped("no Lemonade".into()));
    assert!(known_ids(&run(&h, "lemonade.flm")).is_empty());
}

#[test]
fn sva_bind_eopnotsupp_on_a_backport_kernel_names_the_backport() {
    // https://github.com/amd/xdna-driver/issues/1028 (6.18.7) and
    // https://github.com/ROCm/legacy-rocm-build/issues/6269 (6.17.0-1020-oem).
    let line = "amdxdna 0000:c5:00.1: [drm] *ERROR* amdxdna_drm_open: SVA bind device failed, ret -95";
    for kernel in ["6.18.7-gentoo", "6.17.0-1020-oem"] {
        let c = expect(
            &Host::halo().kernel(kernel).log(&[line]),
            "boot.iommu",
            Fail,
            "known issue sva-disabled-x86-backport",
        );
        assert!(remedy(&c).contains("72f98ef9a4be"), "{}", remedy(&c));
    }
    // The same line on 7.1 is not this backport.
    assert!(known_ids(&run(&Host::halo().log(&[line]), "boot.iommu")).is_empty());
}

#[test]
fn iommu_pt_before_7_1_warns_of_the_unbind_crash() {
    // https://github.com/ROCm/FastFlowLM/issues/103 (6.19.8-200.fc43 with iommu=pt).
    let h = Host::halo().kernel("6.19.8-200.fc43.x86_64").cmdline("BOOT_IMAGE=/vmlinuz rhgb quiet iommu=pt");
    let c = run(&h, "boot.iommu");
    assert_eq!(known_ids(&c), ["iommu-pt-sva-unbind-crash"], "{}", c.summary);
    assert_eq!(c.status, Warn, "{}", c.summary);
    assert!(c.summary.contains("UNVERIFIED"), "{}", c.summary);
    assert_eq!(step(&c), Some("kargs"));
    // 7.1 carries the fix (https://github.com/noamsto/nix-amd-ai/issues/49).
    let h = Host::halo().cmdline("BOOT_IMAGE=/vmlinuz rhgb quiet iommu=pt");
    assert!(known_ids(&run(&h, "boot.iommu")).is_empty());
}

/// The hardware-context triple of https://github.com/amd/xdna-driver/pull/1585.
const HWCTX: &[&str] = &[
    "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_send_mgmt_msg_wait: command opcode 0x2 failed, status 0x2000003",
    "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_hwctx_init: Alloc hw resource failed, ret -22",
    "amdxdna 0000:c6:00.1: [drm] *ERROR* amdxdna_drm_create_hwctx_ioctl: Init hwctx failed, ret -22",
];

#[test]
fn the_hardware_context_triple_on_strix_halo_is_the_long_decode_wedge() {
    let c = expect(&Host::halo().log(HWCTX), "kernel.log", Warn, "(hwctx-refused)");
    assert!(c.summary.contains("(known issue firmware-wedge-long-decode)"), "{}", c.summary);
    assert!(remedy(&c).contains("Known issue firmware-wedge-long-decode: after about an hour"), "{}", remedy(&c));
    assert!(c.remedy.as_ref().unwrap().reboot);
    // On Krackan rev 0x20 with a recent FLM the same lines are the FLM regression instead.
    let h = krackan_rev20().flm_version("0.9.46").log(HWCTX);
    assert!(known_ids(&run(&h, "kernel.log")).is_empty());
    assert_eq!(known_ids(&run(&h, "flm.validate")), ["flm-krackan-rev20-hwctx"]);
}

#[test]
fn flm_1_0_4_with_refused_contexts_names_the_model_family_issue() {
    // https://github.com/ROCm/FastFlowLM/issues/705.
    let c = run(&Host::halo().flm_version("1.0.4").log(HWCTX), "flm.validate");
    assert_eq!(known_ids(&c), ["flm-1.0.4-qwen35-hwctx"], "{}", c.summary);
    assert_eq!(c.status, Warn);
    assert!(known_ids(&run(&Host::halo().flm_version("1.0.4"), "flm.validate")).is_empty());
}

#[test]
fn flm_after_1_0_0_with_xrt_2_26_on_krackan_rev_0x20_is_named() {
    // https://github.com/noamsto/nix-amd-ai/issues/148.
    let h = krackan_rev20().flm_version("1.0.2").package("xrt-base", Some("2.26.0-1.fc44"));
    let c = run(&h, "flm.validate");
    assert_eq!(known_ids(&c), ["flm-krackan-rev20-hwctx", "flm-xrt-no-device-index-0"], "{}", c.summary);
    let h = krackan_rev20().flm_version("1.0.2").package("xrt-base", Some("2.21.75-1.fc44"));
    assert_eq!(known_ids(&run(&h, "flm.validate")), ["flm-krackan-rev20-hwctx"]);
}

#[test]
fn the_xrt_version_of_a_host_without_xrt_packages_comes_from_xrt_smi() {
    // nix-amd-ai#148 as reported: NixOS (no XRT packages), XRT 2.26.0 in the store, which
    // `xrt-smi examine` names and lists the NPU with; flm > 1.0.0 on Krackan rev 0x20.
    let examine = |version: Option<&str>| {
        let version = version.map(str::to_string);
        move |f: &mut crate::host::Facts| {
            f.xrt = crate::host::Probed::Ok(crate::host::commands::XrtFacts {
                binary: "/run/current-system/sw/bin/xrt-smi".into(),
                code: Some(0),
                devices: Some(vec![crate::parse::xrt::XrtDevice {
                    bdf: "0000:c2:00.1".into(),
                    name: "NPU Krackan 1".into(),
                }]),
                output: None,
                version,
            })
        }
    };
    let nix = || {
        krackan_rev20()
            .flm_version("1.0.2")
            .package("xrt-base", None)
            .package("xrt-npu", None)
            .package("xrt-plugin-amdxdna", None)
    };
    let c = run(&nix().with(examine(Some("2.26.0"))), "flm.validate");
    assert_eq!(known_ids(&c), ["flm-krackan-rev20-hwctx", "flm-xrt-no-device-index-0"], "{}", c.summary);
    assert!(
        c.evidence["known_issues"][1]["matched"].to_string().contains("XRT 2.26.0"),
        "{}",
        c.evidence["known_issues"]
    );
    // The same host with XRT 2.21.75 reported, or no version at all: not the 2.26 issue.
    assert_eq!(known_ids(&run(&nix().with(examine(Some("2.21.75"))), "flm.validate")), ["flm-krackan-rev20-hwctx"]);
    assert_eq!(known_ids(&run(&nix().with(examine(None)), "flm.validate")), ["flm-krackan-rev20-hwctx"]);
}

#[test]
fn a_known_issue_of_a_skipped_check_stays_skipped() {
    let h = krackan_rev20().flm_version("0.9.45");
    let results = run_checks(&h, recipes(), &CheckOptions::default(), &["kernel.log".into()], &[]);
    let c = results.iter().find(|c| c.id == "flm.validate").unwrap();
    assert_eq!(c.status, Skip);
    assert!(known_ids(c).is_empty());
}

/// The oops of https://github.com/amd/xdna-driver/pull/1493 (7.1.3-zen), as quoted there.
const FILL_SLOT_OOPS: &str = "\
Jul 13 22:00:51.952097 horizon kernel: BUG: kernel NULL pointer dereference, address: 0000000000000050
Jul 13 22:00:51.952136 horizon kernel: #PF: supervisor read access in kernel mode
Jul 13 22:00:51.953502 horizon kernel: #PF: error_code(0x0000) - not-present page
Jul 13 22:00:51.954207 horizon kernel: PGD 0 P4D 0 
Jul 13 22:00:51.956920 horizon kernel: Oops: Oops: 0000 [#1] SMP NOPTI
Jul 13 22:00:51.956935 horizon kernel: CPU: 5 UID: 0 PID: 309003 Comm: kworker/u64:22 Tainted: G        W           7.1.3-zen1-2-zen #1 PREEMPT(full)  b184153fbcadbb0788a38e1b09442059e30aeb16
Jul 13 22:00:51.956942 horizon kernel: Tainted: [W]=WARN
Jul 13 22:00:51.956949 horizon kernel: Hardware name: LENOVO 21QLCTO1WW/21QLCTO1WW, BIOS R2XET39W (1.19 ) 03/19/2026
Jul 13 22:00:51.956955 horizon kernel: Workqueue: amdxdna_js drm_sched_run_job_work [gpu_sched]
Jul 13 22:00:51.956962 horizon kernel: RIP: 0010:aie2_cmdlist_fill_slot+0x26/0x130 [amdxdna]
";

#[test]
fn kernel_crashes_in_the_npu_stack_fail_kernel_log_and_need_a_reboot() {
    let c = expect(&crash(Host::halo(), GPF), "kernel.log", Fail, "(iommu-sva-unbind-gpf)");
    let r = c.remedy.as_ref().unwrap();
    assert!(r.reboot && r.text.starts_with("Reboot"), "{r:?}");
    assert!(c.evidence.contains_key("crashes"));
    let c = expect(&crash(Host::halo(), FILL_SLOT_OOPS), "kernel.log", Fail, "(cmdlist-fill-slot-null)");
    assert!(c.summary.contains("aie2_cmdlist_fill_slot"), "{}", c.summary);
    // A task hung in the driver (the hung-task report's shape, kernel/hung_task.c).
    let hung = "INFO: task flm:4242 blocked for more than 122 seconds.\n      Not tainted 6.19.8-200.fc43.x86_64 #1\ntask:flm state:D stack:0 pid:4242 tgid:4242 ppid:1 flags:0x00004006\nCall Trace:\n <TASK>\n __schedule+0x3d0/0x1520\n amdxdna_drm_close+0xa5/0x130 [amdxdna]\n </TASK>\n";
    expect(&crash(Host::halo(), hung), "kernel.log", Fail, "(task-hung-in-npu-driver)");
    // A crash the catalog does not know, but whose trace is amdxdna's.
    let text =
        "BUG: unable to handle page fault for address: ffffa7c13eaffff8\nRIP: 0010:aie2_new_thing+0x1/0x2 [amdxdna]\n";
    let c = expect(&crash(Host::halo(), text), "kernel.log", Fail, "(unrecognised-crash)");
    assert!(remedy(&c).contains("--bundle"), "{}", remedy(&c));
}

#[test]
fn a_hung_flm_validate_after_a_crash_names_the_crash() {
    let hung = |h: Host| {
        h.with(|f| {
            let x = f.flm.ok_mut();
            x.validate = None;
            x.validate_code = None;
            x.validate_error =
                Some("`/usr/bin/flm validate --json` did not finish within 10.0 s and was killed".into());
        })
    };
    let c = expect(&hung(crash(Host::halo(), GPF)), "flm.validate", Error, "(iommu-sva-unbind-gpf)");
    assert!(c.remedy.as_ref().unwrap().reboot);
    // A wedge (a command timeout) explains it too; without either it stays unexplained.
    let wedge = "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_set_cmd_timeout: ... Context ID: 15 ... Fatal error ...";
    expect(&hung(Host::halo().log(&[wedge])), "flm.validate", Error, "(cmd-timeout)");
    let c = expect(&hung(Host::halo()), "flm.validate", Error, "did not finish");
    assert!(!c.summary.contains("kernel log"), "{}", c.summary);
    // An amdxdna error no signature knows is quoted as unrecognised, with the bundle command
    // (the mailbox timeout of https://github.com/nod-ai/iree-amd-aie/pull/1266).
    let timeout = "amdxdna 0000:c6:00.1: xdna_send_msg_wait: Wait for completion timeout";
    let c = expect(&hung(Host::halo().log(&[timeout])), "flm.validate", Error, "does not recognise");
    assert!(c.summary.contains("Wait for completion timeout"), "{}", c.summary);
    assert!(remedy(&c).contains("--bundle"), "{}", remedy(&c));
}

#[test]
fn unknown_driver_errors_warn_and_benign_ones_pass() {
    let line = "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_something_new: mailbox confused, ret -5";
    let c = expect(&Host::halo().log(&[line]), "kernel.log", Warn, "unrecognised driver error");
    assert!(c.summary.contains("aie2_something_new: mailbox confused"), "{}", c.summary);
    assert!(remedy(&c).contains("sudo npu-setup doctor --bundle npu-bug.tar.gz"), "{}", remedy(&c));
    // https://github.com/noamsto/nix-amd-ai README: harmless, repeats on a timer.
    let benign = [
        "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_get_info: Not supported request parameter 8",
        "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_query_sensors: PMF get npu data failed, ret -19",
        "amdxdna 0000:c6:00.1: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0008 address=0x79357be8c200 flags=0x0077]",
    ];
    expect(&Host::halo().log(&benign), "kernel.log", Pass, "harmless");
    // Twice per run with an XRT of 2026-05; the maintainer: known, the NPU works
    // (https://github.com/amd/xdna-driver/issues/1355).
    let debug_bo = "amdxdna 0000:04:00.1: [drm] *ERROR* aie2_hwctx_cfg_debug_bo: Get bo 4 failed";
    let c = expect(&Host::halo().log(&[debug_bo, debug_bo]), "kernel.log", Pass, "harmless");
    assert!(c.summary.contains("debug buffer 4"), "{}", c.summary);
}

#[test]
fn unmarked_errors_of_the_out_of_tree_driver_warn_too() {
    // xdna-driver's own driver logs errors with dev_err: no `*ERROR*`, no "failed". The
    // timeout and the mailbox teardown after it, as in https://github.com/nod-ai/iree-amd-aie/pull/1266.
    let lines = [
        "amdxdna 0000:c5:00.1: xdna_send_msg_wait: Wait for completion timeout",
        "amdxdna:xdna_mailbox_stop_channel:984: amdxdna 0000:c5:00.1: xdna_mailbox.112: IRQ disabled and RX work cancelled",
        "amdxdna:mailbox_release_msg:265: amdxdna 0000:c5:00.1: xdna_mailbox.112: msg_id 0x1d000009 msg opcode 0x10c",
    ];
    let c = expect(&Host::halo().log(&lines), "kernel.log", Warn, "unrecognised driver error");
    assert!(c.summary.contains("xdna_send_msg_wait: Wait for completion timeout"), "{}", c.summary);
    assert!(remedy(&c).contains("--bundle"), "{}", remedy(&c));
    // The job watchdog (a warning-level line) aborted a context: its meaning and its timeout
    // are known (https://github.com/amd/xdna-driver/issues/1083), so it is a signature.
    let tdr = "amdxdna 0000:0c:00.1: amdxdna_tdr_work: Device isn't making progress... Count 243";
    let c = expect(&Host::halo().log(&[tdr]), "kernel.log", Warn, "(tdr-no-progress)");
    assert!(c.summary.contains("watchdog (amdxdna_tdr_work)"), "{}", c.summary);
    assert!(remedy(&c).contains("timeout_in_sec") && remedy(&c).contains("--bundle"), "{}", remedy(&c));
    // The newer driver's form names its own parameter in the same remedy.
    let staging = "amdxdna 0000:c6:00.1: aie2_tdr_work_func: Device isn't making progress";
    expect(&Host::halo().log(&[staging]), "kernel.log", Warn, "watchdog (aie2_tdr_work_func)");
    // A negative return code is an error report whatever the words around it.
    let ret = "amdxdna 0000:c6:00.1: aie2_rw_aie_reg: AIE reg read, ret -62";
    expect(&Host::halo().log(&[ret]), "kernel.log", Warn, "unrecognised driver error");
    // Informational lines stay quiet: the mailbox debug lines alone, the probe's own lines.
    let quiet = [
        lines[1],
        lines[2],
        "amdxdna 0000:c6:00.1: enabling device (0000 -> 0002)",
        "amdxdna 0000:c6:00.1: [drm] Load firmware amdnpu/17f0_11/npu_7.sbin",
        // A caution, not a failure (the legacy driver's developer IOVA mode, amdxdna_devel.c).
        "amdxdna 0000:c6:00.1: IOVA address mode enabled w/o carveout, BO allocation may fail",
    ];
    expect(&Host::halo().log(&quiet), "kernel.log", Pass, "");
}

#[test]
fn what_the_kernel_log_probe_left_out_is_in_the_evidence() {
    let h = Host::halo().with(|f| {
        f.kernel_log.ok_mut().dropped.insert("iommu-fault".into(), 430);
    });
    let c = run(&h, "kernel.log");
    assert_eq!(c.evidence["truncated"], "left out over their budgets: 430 iommu-fault");
}

#[test]
fn a_failed_reset_is_the_cause_of_the_missing_accel_node() {
    // A hung NPU, then a PCI function-level reset by hand: the device stays bound to amdxdna
    // but loses /dev/accel/accel0 (https://github.com/1bit-MONSTER/1bit-MONSTER/issues/1920,
    // in-tree amdxdna 0.7; the line in the driver's form, XDNA_ERR "Start hardware failed, %d").
    // The verdict is the failed reset and its reboot, not a driver or node to set up.
    let h = Host::halo()
        .with(|f| f.npu_mut().accel.clear())
        .log(&["amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_hw_resume: Start hardware failed, -22"]);
    let results = run_checks(&h, recipes(), &CheckOptions::default(), &[], &[]);
    let bound = results.iter().find(|c| c.id == "driver.bound").unwrap();
    assert_eq!((bound.status, bound.cause.as_deref()), (Fail, Some("kernel.log")), "{}", bound.summary);
    let d = diagnose(&results, &h);
    assert_eq!((d.state.as_str(), d.first_failure.as_deref()), ("broken", Some("kernel.log")), "{}", d.message);
    let log = results.iter().find(|c| c.id == "kernel.log").unwrap();
    assert!(log.summary.contains("(reset-failed)"), "{}", log.summary);
    assert!(log.remedy.as_ref().is_some_and(|r| r.reboot && r.text.starts_with("Reboot")), "{:?}", log.remedy);
}

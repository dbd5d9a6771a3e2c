//! `dkms.state`, `secureboot.signing`, `xrt.install`, `xrt.loader`, `flm.install`,
//! `flm.validate`, `stack.provenance`.

use super::*;
use crate::provenance::{Drift, ProvenanceFacts};

const RUNNING: &str = "6.19.3-cachyos3.fc43.x86_64";
const FALLBACK: &str = "6.18.13-200.fc43.x86_64";
const DKMS_KEY: &str = "81:04:C7:56:B4:21:23:48:84:AC:B0:EB:E8:22:0B:F0:D6:40:99:8D";

#[test]
fn dkms_state_passes_for_the_kernels_that_matter() {
    let c = expect(&Host::point_dkms(), "dkms.state", Pass, &format!("xrt-amdxdna/2.23.0 installed for {RUNNING}"));
    assert_eq!(
        c.evidence["fallback_kernels_without_module"][0],
        format!("{FALLBACK}: no DKMS build (headers missing)")
    );
}

#[test]
fn dkms_state_skips_the_in_tree_driver() {
    expect(&Host::halo(), "dkms.state", Skip, "in-tree driver: no DKMS needed on kernel >= 7.0");
    expect(&Host::halo().kernel("6.18.5-200.fc43.x86_64"), "dkms.state", Skip, "in-tree driver: DKMS not in use");
    expect(&Host::halo().probe_error("kernel", "EIO"), "dkms.state", Error, "could not read kernel facts: EIO");
}

#[test]
fn dkms_state_fails_when_the_running_kernel_lacks_a_build_or_headers() {
    let h = Host::point_dkms().dkms_entry("xrt-amdxdna", "2.23.0", RUNNING, "built");
    let c = expect(&h, "dkms.state", Fail, &format!("{RUNNING}: built, not installed"));
    assert_eq!(step(&c), Some("driver"));
    assert!(remedy(&c).contains(&format!("sudo dkms autoinstall -k {RUNNING}")), "{}", remedy(&c));
    let h = Host::point_dkms().no_dkms(true).dkms_entry("xrt-amdxdna", "2.23.0", FALLBACK, "installed");
    expect(&h, "dkms.state", Fail, &format!("{RUNNING}: no DKMS build"));
    let c = expect(
        &Host::point_dkms().headers(RUNNING, false),
        "dkms.state",
        Fail,
        &format!("headers missing (kernel-devel-{RUNNING})"),
    );
    assert!(remedy(&c).contains(&format!("sudo dnf install kernel-devel-{RUNNING}")), "{}", remedy(&c));
}

#[test]
fn dkms_state_warns() {
    let c = expect(
        &Host::point_dkms().no_dkms(false),
        "dkms.state",
        Warn,
        "dkms is not: it will not be rebuilt for new kernels",
    );
    assert_eq!(step(&c), Some("driver"));
    let h = Host::point_dkms().dkms_entry("xrt-amdxdna", "2.23.0", FALLBACK, "built");
    expect(&h, "dkms.state", Warn, &format!("other kernels: {FALLBACK}: built, not installed"));
    let h = Host::point_dkms().kernel("7.0.1-100.fc43.x86_64");
    let c = expect(&h, "dkms.state", Warn, "DKMS module no longer needed on 7.0.1-100.fc43.x86_64");
    assert_eq!(step(&c), Some("driver"));
}

#[test]
fn secureboot_signing_in_tree_or_off() {
    expect(&Host::halo(), "secureboot.signing", Pass, "Secure Boot is off: modules load without signature checks");
    expect(
        &Host::halo().secure_boot(Some(true)),
        "secureboot.signing",
        Pass,
        "the in-tree amdxdna is signed by the distro kernel key",
    );
    expect(
        &Host::halo().secure_boot(None),
        "secureboot.signing",
        Warn,
        "Secure Boot state unknown (mokutil --sb-state)",
    );
    expect(&Host::halo().no_module(), "secureboot.signing", Skip, "no amdxdna module");
}

#[test]
fn secureboot_signing_of_a_dkms_module() {
    let on = || Host::point_dkms().secure_boot(Some(true));
    expect(
        &on().enrolled_key("CN=DKMS module signing key", DKMS_KEY),
        "secureboot.signing",
        Pass,
        "signed by enrolled key 'DKMS module signing key'",
    );
    // Matched by subject key id even when the subject differs.
    expect(&on().enrolled_key("CN=host-1234", DKMS_KEY), "secureboot.signing", Pass, "enrolled key");
    let c =
        expect(&on().enrolled_key("CN=Other", "AA:BB"), "secureboot.signing", Fail, "that key is not enrolled in MOK");
    assert_eq!(step(&c), Some("driver"));
    assert!(remedy(&c).contains("sudo mokutil --import /var/lib/dkms/mok.pub"), "{}", remedy(&c));
    expect(&on().module_signer(None), "secureboot.signing", Fail, "is unsigned: the kernel will refuse to load it");
    let h = on().with(|f| f.secureboot.ok_mut().enrolled_error = Some("EFI variables are not supported".into()));
    expect(&h, "secureboot.signing", Warn, "cannot tell whether the key is enrolled (EFI variables are not supported)");
    expect(
        &on().modinfo(None),
        "secureboot.signing",
        Warn,
        "the signature of /lib/modules/6.19.3-cachyos3.fc43.x86_64/extra/amdxdna.ko.xz cannot be read",
    );
    // The kernel log has the last word: a rejection means the key is not trusted.
    let h = on()
        .enrolled_key("CN=DKMS module signing key", DKMS_KEY)
        .log(&["modprobe: ERROR: could not insert 'amdxdna': Key was rejected by service"]);
    expect(&h, "secureboot.signing", Fail, "not enrolled in MOK");
}

#[test]
fn xrt_install() {
    expect(
        &Host::halo(),
        "xrt.install",
        Pass,
        "xrt-base 2.21.75-5.fc44, xrt-npu 2.21.75-5.fc44, xrt-plugin-amdxdna 2.21.75-5.fc44",
    );
    let no_plugin = Host::halo().package("xrt-plugin-amdxdna", None).xrt_lib("libxrt_driver_xdna.so.2", &[], None);
    let c = expect(&no_plugin, "xrt.install", Fail, "the xdna plugin (libxrt_driver_xdna.so.2) is not installed");
    assert_eq!(step(&c), Some("xrt"));
    // XRT without its plugin (Atomic-Germ/OpenFlowLM-Next#81): the remedy says the plugin is
    // not XRT's, comes from amd/xdna-driver for this XRT release, and names the distro's
    // plugin packages before its route.
    let r = remedy(&c);
    for part in [
        "XRT 2.21.75-5.fc44 is installed in /opt/xilinx/xrt/lib64 without its xdna plugin",
        "amd/xdna-driver builds it for one XRT release",
        "(xrt_plugin-amdxdna / xrt-plugin-amdxdna)",
        "sudo dnf install xrt-npu xrt-plugin-amdxdna",
    ] {
        assert!(r.contains(part), "{part}: {r}");
    }
    // XRT missing altogether: the route alone, no plugin story.
    let none_at_all = Host::halo().bare_stack();
    assert!(!remedy(&run(&none_at_all, "xrt.install")).contains("without its xdna plugin"));
    let no_base =
        Host::halo().package("xrt-base", None).package("xrt-npu", None).xrt_lib("libxrt_coreutil.so.2", &[], None);
    expect(&no_base, "xrt.install", Fail, "XRT base is not installed");
    let none = no_base.package("xrt-plugin-amdxdna", None).xrt_lib("libxrt_driver_xdna.so.2", &[], None);
    expect(&none, "xrt.install", Fail, "XRT and the xdna plugin are not installed");
    let h = Host::point_dkms().package("xrt-plugin-amdxdna", Some("2.23.0-1"));
    expect(
        &h,
        "xrt.install",
        Warn,
        "both xrt_plugin-amdxdna (xdna-driver build) and xrt-plugin-amdxdna (COPR) are installed",
    );
    let unpackaged = Host::halo().with(|f| f.packages.ok_mut().packages.clear());
    expect(&unpackaged, "xrt.install", Pass, "XRT libraries present (no packages)");
}

#[test]
fn xrt_loader() {
    expect(&Host::halo(), "xrt.loader", Pass, "libxrt_coreutil.so.2 -> /opt/xilinx/xrt/lib64/libxrt_coreutil.so.2");
    let lib64 = "/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2";
    let c = expect(
        &Host::halo().xrt_lib("libxrt_coreutil.so.2", &[lib64], None),
        "xrt.loader",
        Fail,
        "libxrt_coreutil.so.2 is in /opt/xilinx/xrt/lib64, which the dynamic loader does not search",
    );
    assert_eq!(step(&c), Some("loader"));
    let h = Host::halo().with(|f| f.ld_cache.ok_mut().retain(|(s, _)| s != "libxrt_driver_xdna.so.2"));
    let c = expect(
        &h,
        "xrt.loader",
        Fail,
        "libxrt_driver_xdna.so.2 configured but missing from the loader cache: run ldconfig",
    );
    assert_eq!(step(&c), Some("loader"));
    let c = expect(
        &Host::halo().xrt_lib("libxrt_driver_xdna.so.2", &[], None),
        "xrt.loader",
        Fail,
        "libxrt_driver_xdna.so.2 not installed",
    );
    assert_eq!(c.suspects, ["xrt.install"]);
    let h = Host::halo().xrt_lib("libxrt_driver_xdna.so.2", &[], None).xrt_lib("libxrt_coreutil.so.2", &[], None);
    expect(&h, "xrt.loader", Skip, "XRT libraries not installed (see xrt.install)");
}

#[test]
fn xrt_loader_remedy_names_the_file_the_loader_step_writes() {
    let h = Host::halo().xrt_lib("libxrt_coreutil.so.2", &["/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2"], None);
    let c = expect(&h, "xrt.loader", Fail, "does not search");
    assert!(remedy(&c).contains("/etc/ld.so.conf.d/npu-setup-xrt.conf"), "{}", remedy(&c));
}

#[test]
fn flm_install() {
    expect(&Host::halo(), "flm.install", Pass, "flm 1.0.2 at /usr/bin/flm");
    let c = expect(&Host::halo().no_flm(), "flm.install", Fail, "flm not found");
    assert_eq!(step(&c), Some("flm"));
    let h = Host::halo().with(|f| {
        let x = f.flm.ok_mut();
        x.version = None;
        x.version_error = Some("libxrt_coreutil.so.2: cannot open shared object file".into());
    });
    expect(&h, "flm.install", Warn, "/usr/bin/flm found, but its version is unknown (libxrt_coreutil.so.2");
    let c = expect(
        &Host::halo().with(|f| f.flm.ok_mut().version = Some("0.9.20".into())),
        "flm.install",
        Warn,
        "flm 0.9.20 at /usr/bin/flm is older than 0.9.35",
    );
    assert_eq!(step(&c), Some("flm"));
}

#[test]
fn flm_validate() {
    expect(&Host::halo(), "flm.validate", Pass, "ready: /dev/accel/accel0, firmware 1.1.2.65, amdxdna 0.8");
    expect(&Host::halo().no_flm(), "flm.validate", Skip, "flm not installed");
    let h = Host::halo().with(|f| {
        let x = f.flm.ok_mut();
        x.validate = None;
        x.validate_error = Some("timed out after 10 s".into());
    });
    expect(&h, "flm.validate", Error, "flm validate gave no result: timed out after 10 s");
}

#[test]
fn flm_validate_names_each_reason_and_its_suspects() {
    let fail = |h: Host, needle: &str, suspect: &str| {
        let c = expect(&h, "flm.validate", Fail, needle);
        assert!(c.suspects.contains(&suspect), "{needle}: {:?}", c.suspects);
    };
    let h = Host::halo().flm_validate(|v| {
        v.amd_device_found = Some(false);
        v.devices.clear();
    });
    fail(h, "\"No NPU device found\"", "accel.node");
    // kernel_ok false is the kernel check on an old kernel...
    let old = Host::halo().kernel("6.14.5-300.fc42.x86_64").flm_validate(|v| {
        v.kernel = Some("6.14.5-300.fc42.x86_64".into());
        v.kernel_ok = Some(false);
    });
    fail(old, "kernel 6.14.5-300.fc42.x86_64 below 6.17, FLM's minimum", "host.kernel");
    // ...and the DRM check (folded into kernel_ok) on a new one.
    let drm = Host::halo().flm_validate(|v| {
        v.kernel_ok = Some(false);
        v.drm_version = Some("0.5".into());
    });
    fail(drm, "amdxdna DRM version 0.5 below 0.6 (FLM reports it as kernel_ok false", "driver.module");
    fail(Host::halo().flm_validate(|v| v.kernel_ok = Some(false)), "kernel_ok false although kernel", "driver.module");
    fail(
        Host::halo().flm_validate(|v| v.all_fw_ok = Some(false)),
        "firmware 1.1.2.65 incompatible (needs >= 1.1)",
        "firmware.compat",
    );
    fail(Host::halo().flm_validate(|v| v.enough_cols = Some(false)), "columns < 8", "npu.device");
    fail(Host::halo().flm_validate(|v| v.memlock_ok = Some(false)), "memlock limit infinity too low", "limits.memlock");
    fail(Host::halo().flm_validate(|v| v.drm_version = Some("0.5".into())), "amdxdna DRM 0.5 < 0.6", "driver.module");
    expect(&Host::halo().flm_validate(|_| {}), "flm.validate", Fail, "flm validate: not ready");
}

fn provenance(drift: Vec<Drift>, recorded: &[(&str, &str)]) -> Host {
    Host::halo().with(|f| {
        f.provenance = crate::host::Probed::Ok(ProvenanceFacts {
            present: true,
            components: vec!["xrt".into()],
            drift,
            packages: recorded.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        })
    })
}

#[test]
fn stack_provenance() {
    expect(&Host::halo(), "stack.provenance", Skip, "nothing built by npu-setup install on this host");
    expect(
        &provenance(vec![], &[("xrt-base", "2.21.75-5.fc44")]),
        "stack.provenance",
        Pass,
        "xrt as installed (files and packages unchanged)",
    );
    let changed = Drift {
        component: "xrt".into(),
        changed: vec!["/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2".into()],
        missing: vec![],
        packages: vec![],
    };
    let c = expect(
        &provenance(vec![changed], &[]),
        "stack.provenance",
        Warn,
        "changed since npu-setup built it: xrt: 1 file(s) changed",
    );
    assert_eq!(step(&c), Some("driver"));
    let h = provenance(vec![], &[("xrt-base", "2.20.0-1"), ("xrt-npu-extra", "2.20.0-1")]);
    expect(&h, "stack.provenance", Warn, "xrt-base: 2.20.0-1 -> 2.21.75-5.fc44; xrt-npu-extra: 2.20.0-1 -> removed");
}

/// The accel node FLM 1.0.8 could not see is there (as on the healthy halo host).
fn flm_108_no_device() -> Host {
    Host::halo().flm_version("1.0.8").flm_validate(|v| {
        v.amd_device_found = Some(false);
        v.devices.clear();
        v.drm_version = None;
        v.errors = vec!["No NPU device found.".into()];
    })
}

#[test]
fn flm_validate_knows_the_1_0_8_false_no_device() {
    // https://github.com/ROCm/FastFlowLM/releases/tag/v1.0.9: 1.0.8 holds the device it
    // then fails to open (EBUSY) and says "No NPU device found." on healthy hosts.
    let c = expect(&flm_108_no_device(), "flm.validate", Warn, "FastFlowLM 1.0.8's known false negative");
    assert!(c.summary.contains("fixed in 1.0.9"), "{}", c.summary);
    assert_eq!(step(&c), Some("flm"));
    // Without an accel node it is a real failure (and the bug is still mentioned).
    let h = flm_108_no_device().with(|f| f.nodes.ok_mut().accel.clear());
    let c = expect(&h, "flm.validate", Fail, "\"No NPU device found\"");
    assert!(c.summary.contains("FLM 1.0.8 also says this when it holds the device itself"), "{}", c.summary);
    // The same result from 1.0.9 is believed.
    expect(&flm_108_no_device().flm_version("1.0.9"), "flm.validate", Fail, "\"No NPU device found\"");
    // flm.install flags the release itself.
    let c = expect(&Host::halo().flm_version("1.0.8"), "flm.install", Warn, "(fixed in 1.0.9)");
    assert_eq!(step(&c), Some("flm"));
}

#[test]
fn flm_validate_reads_busy_nodes_and_the_kernel_checks_early_return() {
    let busy = Host::halo().flm_version("1.0.9").flm_validate(|v| {
        v.amd_device_found = Some(false);
        v.devices = vec![crate::parse::flm::FlmDevice {
            device: "/dev/accel/accel0".into(),
            busy: Some(true),
            ..Default::default()
        }];
    });
    expect(&busy, "flm.validate", Warn, "could not inspect /dev/accel/accel0: busy");
    // The kernel check returns before the scan: the JSON's device/firmware/memlock flags are
    // its initial defaults, so only the kernel is named (no device suspects).
    let early = Host::halo().kernel("6.14.5-300.fc42.x86_64").flm_validate(|v| {
        *v = crate::parse::flm::FlmValidate {
            kernel: Some("6.14.5-300.fc42.x86_64".into()),
            kernel_ok: Some(false),
            amd_device_found: Some(true),
            all_fw_ok: Some(true),
            enough_cols: Some(true),
            memlock_ok: Some(true),
            ready: Some(false),
            ..Default::default()
        };
    });
    let c = expect(
        &early,
        "flm.validate",
        Fail,
        "FLM stops at its kernel check (device, firmware and memlock not checked)",
    );
    assert_eq!(c.suspects, vec!["host.kernel"]);
    assert_eq!(c.evidence["stopped_at_kernel_check"], true);
}

#[test]
fn flm_install_knows_releases_and_the_libraries_flm_needs() {
    let c = expect(&Host::halo().flm_version("1.0.20"), "flm.install", Pass, "flm 1.0.20 at /usr/bin/flm");
    assert!(c.evidence["note"].as_str().unwrap().contains("newer than 1.0.14"), "{:?}", c.evidence);
    let c = expect(&Host::halo().flm_version("1.0.5"), "flm.install", Pass, "flm 1.0.5");
    assert_eq!(c.evidence["release_date"], "2026-09-09");
    let h = Host::halo().with(|f| {
        let x = f.flm.ok_mut();
        x.version = None;
        x.version_error = Some(
            "flm: error while loading shared libraries: libxrt_coreutil.so.2: cannot open shared object file".into(),
        );
    });
    let c = expect(&h, "flm.install", Warn, "its version is unknown");
    assert_eq!((step(&c), c.suspects.clone()), (Some("xrt"), vec!["xrt.install", "xrt.loader"]));
    assert!(remedy(&c).contains("flm links libxrt_coreutil.so.2"), "{}", remedy(&c));
}

/// `xrt-smi examine`: XRT's own enumeration of the NPU (models run through XRT).
#[test]
fn xrt_loader_judges_what_xrt_enumerates() {
    use crate::host::commands::XrtFacts;
    use crate::parse::xrt::XrtDevice;
    let with = |devices: Option<Vec<XrtDevice>>| {
        Host::halo().with(move |f| {
            f.xrt = crate::host::Probed::Ok(XrtFacts {
                binary: "/usr/bin/xrt-smi".into(),
                code: Some(0),
                devices,
                output: None,
                version: None,
            })
        })
    };
    let one = vec![XrtDevice { bdf: "0000:c6:00.1".into(), name: "NPU Strix Halo".into() }];
    expect(&with(Some(one)), "xrt.loader", Pass, "xrt-smi examine lists NPU Strix Halo (0000:c6:00.1)");
    let c = expect(
        &with(Some(vec![])),
        "xrt.loader",
        Fail,
        "XRT enumerates no device (`xrt-smi examine`) although /dev/accel/accel0 exists",
    );
    assert_eq!(step(&c), Some("xrt"));
    // No device section: not a finding.
    let c = expect(&with(None), "xrt.loader", Pass, "libxrt_coreutil.so.2 ->");
    assert!(!c.summary.contains("xrt-smi"), "{}", c.summary);
    // No accel node: the driver layer's failure, not XRT's.
    let no_node = with(Some(vec![])).with(|f| f.nodes.ok_mut().accel.clear());
    expect(&no_node, "xrt.loader", Pass, "libxrt_coreutil.so.2 ->");
}

/// `flm list --json`: how Lemonade discovers FLM's models (lemonade#2782, FastFlowLM#576).
#[test]
fn flm_validate_also_reads_flm_list() {
    use crate::parse::flm::FlmList;
    let with = |list: FlmList, code: i32| {
        Host::halo().with(move |f| {
            let x = f.flm.ok_mut();
            x.list = Some(list);
            x.list_code = Some(code);
        })
    };
    let ok = FlmList { models: Some(3), installed: Some(1), ..Default::default() };
    expect(&with(ok.clone(), 0), "flm.validate", Pass, "ready");
    let banner = FlmList { leading_text: Some("[FLM]  Fetching models from: x".into()), ..ok };
    let c = expect(&with(banner, 0), "flm.validate", Fail, "prints \"[FLM]  Fetching models from: x\" before its JSON");
    // No install step: it keeps an flm at or above the pin (0.9.45, the release with the banner).
    assert_eq!(step(&c), None);
    let err =
        FlmList { error: Some("Error: [json.exception.parse_error.101] parse error".into()), ..Default::default() };
    let c = expect(&with(err, 1), "flm.validate", Fail, "`flm list --json` fails (exit 1): Error: [json.exception");
    assert!(remedy(&c).contains("~/.config/flm"), "{}", remedy(&c));
    let hung = Host::halo().with(|f| f.flm.ok_mut().list_error = Some("timed out after 10 s".into()));
    expect(&hung, "flm.validate", Warn, "gave no result: timed out after 10 s");
    // validate's own verdict comes first.
    let not_ready = with(FlmList { error: Some("Error".into()), ..Default::default() }, 1)
        .flm_validate(|v| v.memlock_ok = Some(false));
    expect(&not_ready, "flm.validate", Fail, "memlock limit");
}

/// XRT only along flm's RUNPATH (a Nix store build): installed and loadable for flm.
#[test]
fn xrt_through_the_runpath_of_flm() {
    let h = Host::halo().with(|f| {
        for l in &mut f.loader.ok_mut().libs {
            l.found.clear();
            l.resolvable_at = None;
        }
        f.packages.ok_mut().packages.clear();
        let x = f.flm.ok_mut();
        x.runpath = vec!["/nix/store/b-xrt/lib".into()];
        x.runpath_libs = ["libxrt_coreutil.so.2", "libxrt_core.so.2", "libxrt_driver_xdna.so.2"]
            .iter()
            .map(|s| (s.to_string(), format!("/nix/store/b-xrt/lib/{s}")))
            .collect();
    });
    expect(&h, "xrt.install", Pass, "XRT libraries present");
    expect(
        &h,
        "xrt.loader",
        Pass,
        "libxrt_coreutil.so.2 -> /nix/store/b-xrt/lib/libxrt_coreutil.so.2 (the RUNPATH of flm)",
    );
}

/// XRT >= 2.25 finds its plugin only beside the libxrt_coreutil.so.2 the process loaded
/// (https://github.com/ROCm/FastFlowLM/pull/689): flm's copy (its RUNPATH first, else the
/// loader's) must have the plugin in the same directory.
#[test]
fn xrt_loader_warns_when_flms_coreutil_has_no_plugin_beside_it_under_xrt_2_25() {
    let store = "/nix/store/0000-xrt-2.26.0/opt/xilinx/xrt/lib";
    let runpath = |h: Host, libs: &[&str]| {
        let libs: Vec<(String, String)> = libs.iter().map(|so| (so.to_string(), format!("{store}/{so}"))).collect();
        h.with(move |f| f.flm.ok_mut().runpath_libs = libs)
    };
    let xrt226 = || Host::halo().package("xrt-base", Some("2.26.0-1.fc44"));
    // flm links the plain XRT store path (no plugin); the plugin is in the COPR tree.
    let c = expect(
        &runpath(xrt226(), &["libxrt_coreutil.so.2"]),
        "xrt.loader",
        Warn,
        &format!(
            "flm loads {store}/libxrt_coreutil.so.2 (the RUNPATH of flm), with no xdna plugin beside it: XRT 2.26.0-1.fc44"
        ),
    );
    assert!(remedy(&c).contains("ignoring XILINX_XRT"), "{}", remedy(&c));
    assert!(c.evidence["plugin_elsewhere"].to_string().contains("/opt/xilinx/xrt/lib64/libxrt_driver_xdna.so.2"));
    // The plugin beside it, or an XRT that still honours XILINX_XRT: no finding.
    expect(&runpath(xrt226(), &["libxrt_coreutil.so.2", "libxrt_driver_xdna.so.2"]), "xrt.loader", Pass, "");
    expect(&runpath(Host::halo(), &["libxrt_coreutil.so.2"]), "xrt.loader", Pass, "");
    // Through the loader: the COPR tree holds both; a plugin only in another directory warns.
    expect(&xrt226(), "xrt.loader", Pass, "");
    let elsewhere = xrt226().xrt_lib(
        "libxrt_driver_xdna.so.2",
        &["/usr/lib64/libxrt_driver_xdna.so.2"],
        Some("/usr/lib64/libxrt_driver_xdna.so.2"),
    );
    expect(&elsewhere, "xrt.loader", Warn, "(the dynamic loader's path), with no xdna plugin beside it");
}

/// A FastFlowLM built on HRX (FastFlowLM#602; Fedora COPR's `flm-hrx`, the alternative that
/// wins when both builds are installed) opens the NPU without XRT: a host without XRT is
/// healthy there, while an XRT build (or Lemonade's own copy) still needs it.
#[test]
fn an_hrx_flm_needs_no_xrt() {
    let no_xrt = |h: Host| {
        h.package("xrt-base", None)
            .package("xrt-npu", None)
            .package("xrt-plugin-amdxdna", None)
            .xrt_lib("libxrt_coreutil.so.2", &[], None)
            .xrt_lib("libxrt_driver_xdna.so.2", &[], None)
    };
    let alternative = |h: Host, target: &str| {
        let target = target.to_string();
        h.with(move |f| {
            let x = f.flm.ok_mut();
            x.binary = Some("/usr/bin/flm".into());
            x.resolved = Some(target);
        })
    };
    let h = no_xrt(alternative(Host::halo(), "/usr/bin/flm-hrx"));
    expect(&h, "xrt.install", Skip, "no XRT, and none needed: FastFlowLM here runs on HRX (flm is /usr/bin/flm-hrx)");
    expect(&h, "xrt.loader", Skip, "XRT's libraries are not used: FastFlowLM here runs on HRX");
    // The libraries the binary links decide first (a source build named plain `flm`).
    let linked = |h: Host, lib: &str| {
        let lib = lib.to_string();
        h.with(move |f| f.flm.ok_mut().needed = vec![lib, "libc.so.6".into()])
    };
    expect(&linked(no_xrt(Host::halo()), "libhrx.so.1"), "xrt.install", Skip, "(it links libhrx.so.1)");
    // XRT without its plugin is named as such, and is not needed either.
    let plugin_gone = alternative(Host::halo(), "/usr/bin/flm-hrx").package("xrt-plugin-amdxdna", None).xrt_lib(
        "libxrt_driver_xdna.so.2",
        &[],
        None,
    );
    expect(&plugin_gone, "xrt.install", Skip, "XRT without its xdna plugin, and none needed");
    // An XRT build of flm, by its links or its name, still needs XRT.
    expect(&linked(no_xrt(Host::halo()), "libxrt_coreutil.so.2"), "xrt.install", Fail, "XRT and the xdna plugin");
    expect(&no_xrt(alternative(Host::halo(), "/usr/bin/flm-xrt")), "xrt.install", Fail, "XRT and the xdna plugin");
    // Lemonade running its own FLM download needs XRT whatever the system flm is.
    let own = h.lemonade_unit(|u| {
        let c = u.dirs[0].config.as_mut().unwrap();
        c.npu_bin = None;
        c.prefer_system = Some(false);
    });
    expect(&own, "xrt.install", Fail, "XRT and the xdna plugin are not installed");
    // With XRT complete, it is judged as always.
    expect(&alternative(Host::halo(), "/usr/bin/flm-hrx"), "xrt.install", Pass, "xrt-base");
}

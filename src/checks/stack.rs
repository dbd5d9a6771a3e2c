//! The software stack above the kernel: DKMS state, module signing under Secure Boot, XRT
//! packages and loader path, FastFlowLM. Sources:
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/README.md> (build, packages),
//! <https://github.com/lemonade-sdk/lemonade/issues/1315> (loader path),
//! <https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.8.in> (signing, kernel
//! hooks), <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>
//! (`flm validate`).

use super::{Ctx, Outcome, Remedy, install_cmd, probe_problem};
use crate::knowledge::dkms;
use crate::knowledge::secureboot;
use crate::knowledge::stack;
use crate::parse::version::parse_dotted;
use crate::recipes::kernel_in_range;

/// `dkms.state`.
pub fn dkms_state(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.kernel, "kernel facts") {
        return o;
    }
    let Some(k) = c.f.kernel.ok() else { unreachable!() };
    let oot: Vec<_> = c.a.flavours.values().filter(|f| f.id != crate::recipes::FlavourId::InTree).collect();
    let dkms = c.f.dkms.ok();
    let entries = dkms::entries(c.f, c.r);
    if oot.is_empty() && entries.is_empty() {
        let seven =
            c.a.target
                .as_ref()
                .is_some_and(|t| kernel_in_range(t, Some(&c.r.drivers.kernel.protocol7_in_tree_min), None));
        return Outcome::skip(if seven {
            "in-tree driver: no DKMS needed on kernel >= 7.0"
        } else {
            "in-tree driver: DKMS not in use"
        });
    }
    if let Some(o) = probe_problem(&c.f.dkms, "dkms status") {
        return o;
    }
    let Some(d) = dkms else { unreachable!() };
    let base = |o: Outcome| o.ev("entries", &entries).ev("out_of_tree", &oot);
    if !d.installed {
        return base(Outcome::warn(
            "an out-of-tree amdxdna is installed but dkms is not: it will not be rebuilt for new kernels",
        ))
        .remedy(Remedy {
            text: "Install the module through DKMS (the xdna-driver package does).".into(),
            commands: vec![install_cmd("driver")],
            step: Some("driver".into()),
            ..Default::default()
        });
    }
    let backport = dkms::backport_registered(c.f, c.r);
    // The backport DKMS stops applying past its kernel range by design (its dkms.conf
    // BUILD_EXCLUSIVE_KERNEL; recipes/drivers.yaml backport-dkms rows).
    let (_, backport_max) = c.r.flavour_kernels(crate::recipes::FlavourId::BackportDkms);
    let mut problems = Vec::new();
    let mut fine = Vec::new();
    let mut warns = Vec::new();
    // Older kernels kept for recovery that never got a build: reported, not a warning
    // (the default boot path is what the NPU stack depends on).
    let mut fallback = Vec::new();
    let headers_pkg = c.distro().map(|d| d.headers.clone()).unwrap_or_else(|| "kernel headers for {kver}".into());
    for inst in &k.installed {
        let kr = crate::parse::version::parse_kernel_release(&inst.release);
        if backport && kr.as_ref().is_some_and(|kr| !kernel_in_range(kr, None, backport_max)) {
            continue;
        }
        if kr.as_ref().is_some_and(|kr| !kernel_in_range(kr, Some(&c.r.drivers.kernel.dkms_min), None)) {
            continue;
        }
        let important = Some(&inst.release) == k.running.as_ref() || Some(&inst.release) == k.target.as_ref();
        match dkms::for_kernel(c.f, c.r, &inst.release) {
            dkms::ForKernel::Installed(_) => fine.push(inst.release.clone()),
            dkms::ForKernel::NotInstalled(e) => {
                let msg = format!("{}: {}, not installed (the build or install failed)", inst.release, e.state);
                if important { problems.push(msg) } else { warns.push(msg) }
            }
            dkms::ForKernel::NoBuild { .. } | dkms::ForKernel::NotRegistered => {
                let msg =
                    format!("{}: no DKMS build{}", inst.release, if inst.headers { "" } else { " (headers missing)" });
                if important { problems.push(msg) } else { fallback.push(msg) }
            }
        }
        if important && !inst.headers {
            problems.push(format!(
                "{}: headers missing ({})",
                inst.release,
                headers_pkg.replace("{kver}", &inst.release)
            ));
        }
    }
    let rebuild = |kv: &str| format!("sudo dkms autoinstall -k {kv}");
    if !problems.is_empty() {
        let kv = c.f.kernel.ok().and_then(|k| k.target.clone()).unwrap_or_default();
        return base(Outcome::fail(problems.join("; "))).remedy(Remedy {
            text: "Install the headers for the kernel and rebuild the module for it (see /var/lib/dkms/<module>/<version>/build/make.log on failure).".to_string(),
            commands: vec![
                c.remedy_text(|r| &r.install, &[("packages", &headers_pkg.replace("{kver}", &kv))]),
                rebuild(&kv),
            ],
            step: Some("driver".into()),
            reboot: true,
            ..Default::default()
        });
    }
    if !warns.is_empty() {
        return base(Outcome::warn(format!("installed for {}; other kernels: {}", fine.join(", "), warns.join("; "))))
            .remedy(Remedy {
                text: "Kernels without a DKMS build will boot without the out-of-tree driver.".into(),
                commands: vec!["sudo dkms autoinstall --all".into()],
                ..Default::default()
            });
    }
    // A newer kernel whose own driver suffices: the DKMS module only shadows it.
    if let Some(t) = k.target.as_deref()
        && let Some(note) = crate::knowledge::kernels::dkms_unneeded(c.f, c.r, c.a, t, c.a.target_flavour(c.f))
    {
        return base(Outcome::warn(format!("DKMS module no longer needed on {t}"))).remedy(Remedy {
            text: note,
            commands: vec![install_cmd("driver")],
            step: Some("driver".into()),
            reboot: true,
            ..Default::default()
        });
    }
    let mut o = base(Outcome::pass(format!(
        "{} installed for {}",
        entries.first().map(|e| format!("{}/{}", e.module, e.version)).unwrap_or_default(),
        fine.join(", ")
    )));
    if !fallback.is_empty() {
        o = o.ev("fallback_kernels_without_module", &fallback);
    }
    o
}

/// `secureboot.signing`.
pub fn secureboot_signing(c: &Ctx) -> Outcome {
    let fl = c.a.running_flavour(c.f).or_else(|| c.a.target_flavour(c.f));
    let Some(fl) = fl else { return Outcome::skip("no amdxdna module") };
    if let Some(o) = probe_problem(&c.f.secureboot, "Secure Boot state") {
        return o;
    }
    let Some(sb) = c.f.secureboot.ok() else { unreachable!() };
    let log = c.a.log_for("secureboot.signing", &["fail"]);
    let verdict = secureboot::signing(c.f, Some(fl), !log.is_empty());
    let base = |o: Outcome| {
        o.ev("secure_boot", sb.enabled).ev("source", &sb.source).ev("flavour", fl.id).ev("module", &fl.path)
    };
    let modinfo = c.f.modinfo.ok().and_then(|m| m.kernels.get(&fl.kernel)).and_then(|m| m.as_ref());
    let signer = modinfo.and_then(|m| m.signer.clone());
    let sig_key = modinfo.and_then(|m| m.sig_key.clone());
    let import = Remedy {
        text: "Secure Boot only loads modules signed by an enrolled key. Let DKMS sign with its MOK key (/var/lib/dkms/mok.key, created on first build; dkms >= 3.4 does not sign inside a chroot), enroll the key, reboot and confirm the enrollment in MokManager.".into(),
        commands: vec![
            "sudo dkms generate_mok".into(),
            format!("sudo dkms autoinstall -k {} --force", fl.kernel),
            "sudo mokutil --import /var/lib/dkms/mok.pub".into(),
        ],
        step: Some("driver".into()),
        reboot: true,
        docs: Some("https://github.com/dkms-project/dkms#secure-boot".into()),
    };
    let full = |o: Outcome| {
        base(o)
            .ev("signer", &signer)
            .ev("sig_key", &sig_key)
            .ev("enrolled", &sb.enrolled)
            .ev("dkms_mok_pub", sb.dkms_mok_pub)
    };
    match verdict {
        secureboot::Signing::NotProbed | secureboot::Signing::NoModule => unreachable!("checked above"),
        secureboot::Signing::Off => base(Outcome::pass("Secure Boot is off: modules load without signature checks")),
        secureboot::Signing::StateUnknown(source) => {
            base(Outcome::warn(format!("Secure Boot state unknown ({source})")))
        }
        secureboot::Signing::InTree => {
            base(Outcome::pass("Secure Boot on; the in-tree amdxdna is signed by the distro kernel key"))
        }
        secureboot::Signing::NoModinfo => full(Outcome::warn(format!(
            "Secure Boot is on; modinfo for {} is unavailable, so the signature of {} cannot be read",
            fl.kernel, fl.path
        ))),
        secureboot::Signing::Unsigned => {
            let o = full(Outcome::fail(format!(
                "Secure Boot is on and {} is unsigned: the kernel will refuse to load it",
                fl.path
            )));
            let o = match log.first() {
                Some(m) => o.ev("kernel_log", &m.line),
                None => o,
            };
            o.remedy(import)
        }
        secureboot::Signing::EnrolmentUnknown { signer, error } => {
            full(Outcome::warn(format!("signed by '{signer}'; cannot tell whether the key is enrolled ({error})")))
        }
        secureboot::Signing::NotEnrolled { signer } => full(Outcome::fail(format!(
            "signed by '{signer}', but that key is not enrolled in MOK: the kernel will refuse the module"
        )))
        .remedy(import),
        secureboot::Signing::Enrolled { signer } => {
            full(Outcome::pass(format!("Secure Boot on; {} signed by enrolled key '{signer}'", fl.path)))
        }
    }
}

/// `xrt.install`.
pub fn xrt_install(c: &Ctx) -> Outcome {
    let loader = c.f.loader.ok();
    let x = stack::xrt_install(c.f, c.r);
    let (base_pkgs, plugin_pkgs, base_ok, plugin_ok) = (&x.base_packages, &x.plugin_packages, x.base, x.plugin);
    let o = |o: Outcome| {
        o.ev("packages", base_pkgs.iter().chain(plugin_pkgs).collect::<Vec<_>>())
            .ev("package_query", c.f.packages.reason())
            .ev("xrt_prefix", loader.map(|l| l.xrt_prefix))
            .ev("xrt_smi", loader.and_then(|l| l.xrt_smi.clone()))
            .ev("libs", loader.map(|l| &l.libs))
    };
    let how = c.remedy_text(|r| &r.xrt, &[]);
    if !base_ok
        && !plugin_ok
        && let Some(why) = userspace_elsewhere(c)
    {
        return o(Outcome::skip(format!("no XRT on this host; {why}")));
    }
    if (!base_ok || !plugin_ok)
        && let Some(why) = crate::knowledge::routes::xrt_not_needed(c.f, c.r)
    {
        let state = if base_ok { "XRT without its xdna plugin" } else { "no XRT" };
        return o(Outcome::skip(format!("{state}, and none needed: {why}")));
    }
    if !base_ok || !plugin_ok {
        let missing = match (base_ok, plugin_ok) {
            (false, false) => "XRT and the xdna plugin are not installed",
            (false, true) => "XRT base is not installed",
            _ => {
                "the xdna plugin (libxrt_driver_xdna.so.2) is not installed: flm validate can pass while every model fails with \"No such device with index '0'\""
            }
        };
        let commands = xrt_commands(c, plugin_ok);
        let text = if base_ok { format!("{} {how}", plugin_origin(c)) } else { how };
        return o(Outcome::fail(missing)).remedy(Remedy {
            text,
            commands,
            step: Some("xrt".into()),
            ..Default::default()
        });
    }
    let both = x.duplicate_plugins;
    if both {
        return o(Outcome::warn("both xrt_plugin-amdxdna (xdna-driver build) and xrt-plugin-amdxdna (COPR) are installed; they ship the same files"))
            .remedy(Remedy { text: "Remove one of them.".into(), ..Default::default() });
    }
    let what = if base_pkgs.is_empty() && plugin_pkgs.is_empty() {
        "XRT libraries present (no packages)".to_string()
    } else {
        base_pkgs.iter().chain(plugin_pkgs).cloned().collect::<Vec<_>>().join(", ")
    };
    o(Outcome::pass(what))
}

/// The install steps that bring XRT (and the plugin when `plugin_ok` is false): the plugin is
/// the driver step's only where XRT is built from the xdna-driver tree; a packaged XRT route
/// brings it with XRT's packages (knowledge::routes).
fn xrt_commands(c: &Ctx, plugin_ok: bool) -> Vec<String> {
    let xrt_route = crate::knowledge::routes::choose(c.f, c.r, &crate::knowledge::routes::Inputs::default());
    let plugin_by_driver_step =
        xrt_route.get(crate::recipes::routes::Component::Xrt).take == crate::knowledge::routes::Take::Source;
    let mut commands = vec![install_cmd("xrt")];
    if plugin_by_driver_step && !plugin_ok {
        commands.push(install_cmd("driver"));
    }
    commands
}

/// Why XRT without its plugin sees no NPU, and where the plugin comes from: it is not part of
/// XRT (a build of Xilinx/XRT does not produce it); amd/xdna-driver builds it for one XRT
/// release, and distros ship it as a package of its own
/// (<https://github.com/Atomic-Germ/OpenFlowLM-Next/issues/81>: Fedora 44 with XRT but no
/// plugin, `xrt-smi examine` "0 devices found", every model "No such device with index '0'").
fn plugin_origin(c: &Ctx) -> String {
    let version = stack::xrt_version(c.f, c.r).map(|v| format!(" {v}")).unwrap_or_default();
    let dir =
        c.f.loader
            .ok()
            .and_then(|l| l.libs.iter().find(|x| x.soname == "libxrt_coreutil.so.2"))
            .and_then(|x| x.resolvable_at.as_ref().or(x.found.first()))
            .and_then(|p| p.rsplit_once('/'))
            .map(|(d, _)| format!(" in {d}"))
            .unwrap_or_default();
    let pkgs = stack::distro(c.f, c.r).map(|d| d.packages.xrt_plugin.join(" / ")).filter(|p| !p.is_empty());
    format!(
        "XRT{version} is installed{dir} without its xdna plugin: XRT then enumerates no NPU (`xrt-smi examine`: 0 devices) and FastFlowLM models fail with \"No such device with index '0'\" while flm validate, which opens /dev/accel directly, passes. The plugin is not part of XRT (a Xilinx/XRT build does not produce it): amd/xdna-driver builds it for one XRT release{}. Install the plugin built for this XRT release next to libxrt_coreutil.so.2, or replace XRT with a route that brings both:",
        pkgs.map(|p| format!(", and distros ship it as its own package ({p})")).unwrap_or_default()
    )
}

/// `xrt.loader`.
pub fn xrt_loader(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.loader, "loader configuration") {
        return o;
    }
    let Some(l) = c.f.loader.ok() else { unreachable!() };
    let x = stack::xrt_install(c.f, c.r);
    if (!x.base || !x.plugin)
        && let Some(why) = crate::knowledge::routes::xrt_not_needed(c.f, c.r)
    {
        return Outcome::skip(format!("XRT's libraries are not used: {why}"));
    }
    let cache = c.f.ld_cache.ok();
    let wanted = ["libxrt_coreutil.so.2", "libxrt_driver_xdna.so.2"];
    let libs: Vec<_> = l.libs.iter().filter(|x| wanted.contains(&x.soname.as_str())).collect();
    let base = |o: Outcome| {
        o.ev("libs", &libs)
            .ev("conf_dirs", &l.conf_dirs)
            .ev("cache", cache.map(|c| c.iter().filter(|(s, _)| s.starts_with("libxrt")).collect::<Vec<_>>()))
            .ev("cache_error", c.f.ld_cache.reason())
    };
    let via = |so: &str| crate::knowledge::paths::xrt_lib(c.f, so);
    if libs.iter().all(|x| x.found.is_empty() && via(&x.soname).is_none()) {
        return base(Outcome::skip("XRT libraries not installed (see xrt.install)")).suspects(&["xrt.install"]);
    }
    let unresolvable: Vec<_> =
        libs.iter().filter(|x| !x.found.is_empty() && x.resolvable_at.is_none() && via(&x.soname).is_none()).collect();
    if let Some(u) = unresolvable.first() {
        let dir = u.found[0].rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
        let conf = crate::root::Root::display(&c.r.files.loader_conf);
        return base(Outcome::fail(format!("{} is in {dir}, which the dynamic loader does not search", u.soname))).remedy(Remedy {
            text: format!(
                "Source-built XRT ships no ld.so.conf.d entry; flm and services then fail with 'error while loading shared libraries: {}' (lemonade#1315). Write {conf} containing {dir} and run ldconfig.",
                u.soname
            ),
            commands: vec![format!("echo {dir} | sudo tee {conf}"), "sudo ldconfig".into(), install_cmd("loader")],
            step: Some("loader".into()),
            reboot: false,
            ..Default::default()
        });
    }
    if let Some(cache) = cache {
        let stale: Vec<&str> = libs
            .iter()
            .filter(|x| !x.found.is_empty() && x.resolved_by.is_none() && !cache.iter().any(|(s, _)| s == &x.soname))
            .map(|x| x.soname.as_str())
            .collect();
        if !stale.is_empty() {
            return base(Outcome::fail(format!(
                "{} configured but missing from the loader cache: run ldconfig",
                stale.join(", ")
            )))
            .remedy(Remedy {
                text: "The loader cache predates the configuration.".into(),
                commands: vec!["sudo ldconfig".into(), install_cmd("loader")],
                step: Some("loader".into()),
                ..Default::default()
            });
        }
    }
    let missing: Vec<&str> =
        libs.iter().filter(|x| x.found.is_empty() && via(&x.soname).is_none()).map(|x| x.soname.as_str()).collect();
    if !missing.is_empty() {
        // The same steps as xrt.install's (the route decides which step brings the plugin).
        let plugin_ok = !missing.contains(&"libxrt_driver_xdna.so.2");
        return base(Outcome::fail(format!("{} not installed", missing.join(", ")))).suspects(&["xrt.install"]).remedy(
            Remedy {
                text: if plugin_ok {
                    c.remedy_text(|r| &r.xrt, &[])
                } else {
                    format!("{} {}", plugin_origin(c), c.remedy_text(|r| &r.xrt, &[]))
                },
                commands: xrt_commands(c, plugin_ok),
                step: Some("xrt".into()),
                ..Default::default()
            },
        );
    }
    let found = libs
        .iter()
        .map(|x| match (&x.resolvable_at, via(&x.soname)) {
            (Some(at), _) => {
                format!("{} -> {at}{}", x.soname, x.resolved_by.as_ref().map(|b| format!(" ({b})")).unwrap_or_default())
            }
            (None, Some((at, how))) => format!("{} -> {at} ({how})", x.soname),
            (None, None) => format!("{} -> ", x.soname),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let smi = c.f.xrt.ok();
    match stack::xrt_devices(c.f) {
        stack::XrtDevices::NoneWithNode { node } => base(Outcome::fail(format!(
            "XRT enumerates no device (`xrt-smi examine`) although {node} exists: FLM models run through XRT and fail with \"No such device with index '0'\" while flm validate passes"
        )))
        .ev("xrt_smi", smi.map(|x| &x.binary))
        .ev("xrt_smi_output", smi.and_then(|x| x.output.clone()))
        .remedy(Remedy {
            text: format!(
                "XRT loads its xdna plugin (libxrt_driver_xdna.so.2) from its own library directory ({}). Install the plugin of the same XRT release next to libxrt_coreutil.so.2 (on NixOS: one XILINX_XRT tree holding both), then run `xrt-smi examine` again (amd/xdna-driver#50).",
                libs.iter().find_map(|x| x.resolvable_at.as_ref()).and_then(|p| p.rsplit_once('/')).map(|(d, _)| d).unwrap_or("its lib directory")
            ),
            commands: vec![c.remedy_text(|r| &r.xrt, &[]), "xrt-smi examine".into()],
            step: Some("xrt".into()),
            docs: Some("https://github.com/amd/xdna-driver/issues/50".into()),
            ..Default::default()
        }),
        listed => {
            let found = match listed {
                stack::XrtDevices::Lists(d) => format!(
                    "{found}; xrt-smi examine lists {}",
                    d.iter().map(|x| format!("{} ({})", x.name, x.bdf)).collect::<Vec<_>>().join(", ")
                ),
                _ => found,
            };
            match crate::knowledge::paths::plugin_not_beside_coreutil(c.f, c.r) {
                Some(g) => plugin_not_beside(base(Outcome::warn(format!(
                    "flm loads {} ({}), with no xdna plugin beside it: XRT {} looks for the plugin only there (not in XILINX_XRT), so flm's models can fail with \"No such device with index '0'\" while xrt-smi and flm validate see the NPU",
                    g.coreutil, g.how, g.xrt
                ))), &g),
                None => base(Outcome::pass(found)),
            }
        }
    }
}

/// The evidence and remedy of flm's libxrt_coreutil without the plugin beside it.
fn plugin_not_beside(o: Outcome, g: &crate::knowledge::paths::PluginNotBeside) -> Outcome {
    let dir = g.coreutil.rsplit_once('/').map(|(d, _)| d).unwrap_or(&g.coreutil);
    o.ev("flm_coreutil", &g.coreutil).ev("plugin_elsewhere", &g.plugin_elsewhere).remedy(Remedy {
        text: format!(
            "From XRT {} on, XRT finds libxrt_driver_xdna.so.2 through the directory of the libxrt_coreutil.so.2 the process loaded (dladdr), ignoring XILINX_XRT (FastFlowLM#689). Put the plugin of the same XRT release in {dir}, or make flm load the XRT tree that holds it (build flm against that tree; on NixOS the XRT derivation flm links must contain the plugin, or its environment must put that tree's lib first in LD_LIBRARY_PATH); then run a model (`npu-setup doctor --smoke`).",
            crate::knowledge::paths::PLUGIN_BESIDE_COREUTIL_FROM
        ),
        commands: vec!["npu-setup doctor --smoke".into()],
        docs: Some("https://github.com/ROCm/FastFlowLM/pull/689".into()),
        ..Default::default()
    })
}

/// `flm.install`.
pub fn flm_install(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.flm, "FastFlowLM") {
        return o;
    }
    let Some(f) = c.f.flm.ok() else { unreachable!() };
    let flm = &c.r.drivers.flm;
    let pkg = c.f.packages.ok().and_then(|p| {
        c.distro().and_then(|d| d.packages.flm.iter().find_map(|n| p.version(n).map(|v| format!("{n} {v}"))))
    });
    let release = f.version.as_deref().and_then(|v| flm.release(v));
    let newest = flm.newest_release();
    let base = |o: Outcome| {
        let o = o.ev("binary", &f.binary).ev("version", &f.version).ev("package", &pkg);
        let o = match release.and_then(|r| r.date.as_ref()) {
            Some(d) => o.ev("release_date", d),
            None => o,
        };
        o.ev("newest_known_release", newest.map(|r| &r.version))
    };
    let update = |text: String| Remedy {
        text,
        commands: vec![c.remedy_text(|r| &r.flm, &[]), install_cmd("flm")],
        step: Some("flm".into()),
        ..Default::default()
    };
    match stack::flm_install(c.f, c.r) {
        stack::FlmInstall::NotProbed => unreachable!("the probe was checked above"),
        stack::FlmInstall::Missing if let Some(own) = lemonade_own_flm(c) => base(own),
        stack::FlmInstall::Missing if let Some(why) = userspace_elsewhere(c) => {
            base(Outcome::skip(format!("no flm on this host; {why}")))
        }
        stack::FlmInstall::Missing => base(Outcome::fail(format!(
            "flm not found ({}, /usr/bin, /opt/flm/bin, /usr/local/bin)",
            flm.layout.binary.trim_end_matches("/flm")
        )))
        .remedy(Remedy {
            text: format!(
                "Install FastFlowLM with the distro's command below, or let npu-setup build the pinned release.{} flm needs {} (XRT) to start and {} (the xdna plugin) to see the NPU.",
                if c.distro().is_some_and(|d| d.package_manager == crate::recipes::PackageManager::Dpkg) {
                    format!(
                        " The release .deb installs {} with {} linked to it and depends on {}.",
                        flm.layout.binary,
                        flm.layout.links.join(", "),
                        flm.layout.deb_depends.join(", ")
                    )
                } else {
                    String::new()
                },
                flm.runtime.linked.join(", "),
                flm.runtime.loaded.join(", ")
            ),
            commands: vec![c.remedy_text(|r| &r.flm, &[]), install_cmd("flm")],
            step: Some("flm".into()),
            ..Default::default()
        }),
        stack::FlmInstall::VersionUnknown { binary, error } => {
            // flm links libxrt_coreutil.so.2: a loader error naming it means XRT is missing or
            // outside the loader path, which the XRT checks fix.
            let missing_lib = flm.runtime.linked.iter().find(|l| error.contains(l.as_str()));
            let o = base(Outcome::warn(format!("{binary} found, but its version is unknown ({error})")));
            match missing_lib {
                Some(lib) => o.suspects(&["xrt.install", "xrt.loader"]).remedy(Remedy {
                    text: format!(
                        "flm links {lib} (XRT base) and cannot start without it: install XRT and make its library directory known to the loader."
                    ),
                    commands: vec![c.remedy_text(|r| &r.xrt, &[]), install_cmd("loader")],
                    step: Some("xrt".into()),
                    ..Default::default()
                }),
                None => o.remedy(Remedy {
                    text: format!(
                        "Run `{binary} version` by hand: a library the loader cannot find ({}) is the usual cause.",
                        flm.runtime.linked.join(", ")
                    ),
                    commands: vec![format!("{binary} version")],
                    ..Default::default()
                }),
            }
        }
        stack::FlmInstall::TooOld { binary, version, min } => {
            base(Outcome::warn(format!("flm {version} at {binary} is older than {min}, the minimum Lemonade accepts")))
                .remedy(update("Update FastFlowLM.".into()))
        }
        stack::FlmInstall::Installed { binary, version } => {
            // A release with a known flaw in what doctor relies on (validate's verdict).
            if let Some(rule) = flm.rule(&version).filter(|r| r.false_no_device) {
                let fixed = rule.below.clone().unwrap_or_default();
                return base(Outcome::warn(format!(
                    "flm {version} at {binary}: a release whose `flm validate` reports \"No NPU device found\" on healthy hosts (fixed in {fixed})"
                )))
                .ev("known_issue", &rule.source)
                .remedy(update(format!("Update FastFlowLM to {fixed} or later ({}).", rule.source)));
            }
            let newer = newest
                .filter(|n| parse_dotted(&version).zip(parse_dotted(&n.version)).is_some_and(|(v, n)| v > n))
                .map(|n| format!("newer than {}, the newest release the recipes know", n.version));
            let o = base(Outcome::pass(format!("flm {version} at {binary}")));
            match newer {
                Some(note) => o.ev("note", note),
                None => o,
            }
        }
    }
}

/// The NPU userspace (XRT, FLM) of a Lemonade that answers but that no unit and no binary of
/// this host runs lives where it runs (its container image): this host's copies are not
/// needed (knowledge::lemonade::running).
fn userspace_elsewhere(c: &Ctx) -> Option<String> {
    match crate::knowledge::lemonade::running(c.f) {
        crate::knowledge::lemonade::Running::Unmanaged { version, binary_here: false } => Some(format!(
            "the Lemonade {} answering here runs elsewhere (a container) with its own (see lemonade.api)",
            version.unwrap_or_else(|| "server".into())
        )),
        _ => None,
    }
}

/// A host whose only FLM is the one Lemonade (10.10 on) downloaded for itself: nothing for
/// FastFlowLM to install; a pass when it is the version Lemonade wants, else a skip that
/// leaves the verdict to `lemonade.flm` (knowledge::lemonade).
fn lemonade_own_flm(c: &Ctx) -> Option<Outcome> {
    use crate::knowledge::lemonade::{ChosenKind, LemonadeFlm, flm};
    let LemonadeFlm::Judged(j) = flm(c.f, c.r) else { return None };
    let ch = j.choice.as_ref().filter(|ch| ch.kind == ChosenKind::OwnCopy)?;
    let bin = ch.binary.clone()?;
    let what = format!(
        "no system flm; Lemonade {} runs its own FLM {} ({bin})",
        j.release.version,
        ch.version.as_ref().map(|v| format!("v{v}")).unwrap_or_else(|| "of unknown version".into()),
    );
    Some(if j.problems.is_empty() { Outcome::pass(what) } else { Outcome::skip(format!("{what}: see lemonade.flm")) })
}

/// `flm.validate`: `flm validate` (the DRM path), then `flm list --json` (the model list
/// Lemonade discovers FLM's models with).
pub fn flm_validate(c: &Ctx) -> Outcome {
    let o = flm_validate_only(c);
    if o.status() != crate::model::Status::Pass {
        return o;
    }
    let list = c.f.flm.ok().and_then(|f| f.list.as_ref());
    match stack::flm_list(c.f) {
        stack::FlmListVerdict::Banner { line } => Outcome::fail(format!(
            "flm validate is ready, but `flm list --json` prints \"{line}\" before its JSON: Lemonade cannot parse it and lists no FLM model (\"FLM model discovery failed\")"
        ))
        .ev("flm_list", list)
        .remedy(Remedy {
            text: "A FastFlowLM build that prints a banner on stdout in JSON mode (lemonade#2782). Install a FastFlowLM release without it (Lemonade's own copy: `lemonade backends install flm:npu` pulls the fixed build), then restart Lemonade.".into(),
            // No `install --only flm`: it keeps an flm at or above the source pin (0.9.45, the
            // release with the banner), so it would do nothing here.
            commands: vec![c.remedy_text(|r| &r.flm, &[])],
            docs: Some("https://github.com/lemonade-sdk/lemonade/issues/2782".into()),
            ..Default::default()
        }),
        stack::FlmListVerdict::Failed { code, error } => Outcome::fail(format!(
            "flm validate is ready, but `flm list --json` fails (exit {}): {}",
            code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into()),
            error.clone().unwrap_or_else(|| "no JSON".into())
        ))
        .ev("flm_list", list)
        .remedy(Remedy {
            text: "flm aborts while listing its models, so Lemonade finds none. FLM reads its model list (model_list.json next to the binary or under share/flm, FLM_CONFIG_PATH) and per-user state under ~/.config/flm; an empty or damaged file there gives this parse error (FastFlowLM#576, where the maintainers asked about a custom ~/.config/flm). Run `flm list` by hand to see where it stops.".into(),
            commands: vec!["flm list".into()],
            docs: Some("https://github.com/ROCm/FastFlowLM/issues/576".into()),
            ..Default::default()
        }),
        stack::FlmListVerdict::NoResult { error } => Outcome::warn(format!(
            "flm validate is ready, but `flm list --json` gave no result: {error}"
        ))
        .remedy(Remedy {
            text: "Lemonade discovers FLM models with `flm list --json`; run it by hand.".into(),
            commands: vec!["flm list --json".into()],
            ..Default::default()
        }),
        _ => o,
    }
}

fn flm_validate_only(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.flm, "FastFlowLM") {
        return o;
    }
    let Some(f) = c.f.flm.ok() else { unreachable!() };
    let rule = stack::flm_rule(c.f, c.r);
    let base = |o: Outcome| {
        let o = o.ev("validate", &f.validate).ev("exit_code", f.validate_code);
        match &rule {
            Some(r) if r.installed => {
                o.ev("validate_rule", format!("FLM {}", r.rule.range())).ev("validate_rule_source", &r.rule.source)
            }
            _ => o,
        }
    };
    match stack::flm_validate(c.f, c.r) {
        stack::FlmValidateVerdict::NotProbed => unreachable!("the probe was checked above"),
        stack::FlmValidateVerdict::NotInstalled => Outcome::skip("flm not installed (see flm.install)"),
        stack::FlmValidateVerdict::NoResult { error } => match c.a.crash() {
            // A probe that hangs after the NPU stack crashed (or wedged) this boot hangs
            // because of it: name the crash, and the reboot it needs.
            Some(m) => Outcome::error(format!(
                "flm validate gave no result: {error} — the kernel log shows why: {} ({})",
                m.cause, m.id
            ))
            .ev("kernel_log", &m.line)
            .remedy(super::device::log_remedy(m)),
            // No known crash, but an amdxdna error doctor does not know (a mailbox timeout
            // of xdna-driver's own driver, nod-ai/iree-amd-aie#1266): quote it as such.
            None => match c.a.unrecognised_error() {
                Some(m) => Outcome::error(format!(
                    "flm validate gave no result: {error} — the kernel log has an amdxdna error doctor does not recognise: {}",
                    m.line
                ))
                .ev("kernel_log", &m.line)
                .remedy(super::device::log_remedy(m)),
                None => Outcome::error(format!("flm validate gave no result: {error}")),
            },
        },
        stack::FlmValidateVerdict::Ready => {
            let v = f.validate.as_ref();
            let d = v.and_then(|v| v.devices.first());
            base(Outcome::pass(format!(
                "ready: {}{}{}",
                d.map(|d| d.device.clone()).unwrap_or_default(),
                d.and_then(|d| d.fw_version.clone()).map(|x| format!(", firmware {x}")).unwrap_or_default(),
                v.and_then(|v| v.drm_version.as_ref()).map(|x| format!(", amdxdna {x}")).unwrap_or_default()
            )))
        }
        stack::FlmValidateVerdict::KnownFalseNoDevice { version, fixed_in, source } => {
            let fixed = fixed_in.unwrap_or_else(|| "a later release".into());
            base(Outcome::warn(format!(
                "\"No NPU device found\" is FastFlowLM {version}'s known false negative: flm opens the NPU at startup, so validate's second open fails with EBUSY (fixed in {fixed}); the accel node exists"
            )))
            .remedy(Remedy {
                text: format!(
                    "Update FastFlowLM to {fixed} or later; until then judge the NPU by accel.node and driver.bound, not by flm validate ({source})."
                ),
                commands: vec![c.remedy_text(|r| &r.flm, &[]), install_cmd("flm")],
                step: Some("flm".into()),
                docs: Some("https://github.com/ROCm/FastFlowLM/releases/tag/v1.0.9".into()),
                ..Default::default()
            })
        }
        stack::FlmValidateVerdict::Busy { nodes } => {
            let which = if nodes.is_empty() { "the NPU".to_string() } else { nodes.join(", ") };
            base(Outcome::warn(format!(
                "flm validate could not inspect {which}: busy (another process, e.g. a running flm serve, holds it)"
            )))
            .remedy(Remedy {
                text: "Stop what holds the NPU (a Lemonade service with a model loaded, flm serve) and run `flm validate` again.".into(),
                commands: vec!["flm validate".into()],
                ..Default::default()
            })
        }
        stack::FlmValidateVerdict::NotReady { reasons, stopped_at_kernel } => {
            let mut suspects: Vec<&'static str> = Vec::new();
            for s in reasons.iter().flat_map(|r| r.suspects.iter()) {
                if !suspects.contains(s) {
                    suspects.push(s);
                }
            }
            let summary = reasons.iter().map(|r| r.what.as_str()).collect::<Vec<_>>().join("; ");
            let o = base(Outcome::fail(format!("flm validate: {summary}")));
            let o = if stopped_at_kernel { o.ev("stopped_at_kernel_check", true) } else { o };
            o.suspects(&suspects).remedy(Remedy {
                text: "The checks above name the layer to fix; re-run `flm validate` after fixing it.".into(),
                commands: vec!["flm validate".into()],
                ..Default::default()
            })
        }
    }
}

/// `stack.provenance` (added with the source builds; not in the original 25).
pub fn stack_provenance(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.provenance, "the install manifest") {
        return o;
    }
    let Some(p) = c.f.provenance.ok() else { unreachable!() };
    if !p.present {
        return Outcome::skip("nothing built by npu-setup install on this host");
    }
    let now = c.f.packages.ok();
    let replaced: Vec<String> = p
        .packages
        .iter()
        .filter_map(|(name, was)| {
            let cur = now.and_then(|pk| pk.version(name));
            match cur {
                Some(v) if v == was => None,
                Some(v) => Some(format!("{name}: {was} -> {v}")),
                None => Some(format!("{name}: {was} -> removed")),
            }
        })
        .collect();
    let base = |o: Outcome| o.ev("components", &p.components).ev("drift", &p.drift).ev("packages_replaced", &replaced);
    if p.drift.is_empty() && replaced.is_empty() {
        return base(Outcome::pass(format!("{} as installed (files and packages unchanged)", p.components.join(", "))));
    }
    let mut what = Vec::new();
    for d in &p.drift {
        if !d.changed.is_empty() {
            what.push(format!("{}: {} file(s) changed", d.component, d.changed.len()));
        }
        if !d.missing.is_empty() {
            what.push(format!("{}: {} file(s) missing", d.component, d.missing.len()));
        }
    }
    what.extend(replaced.iter().cloned());
    base(Outcome::warn(format!("changed since npu-setup built it: {}", what.join("; ")))).remedy(Remedy {
        text: "Something replaced or modified what install built (a distro update, a manual install). Rebuild to the pinned versions, or accept the change.".into(),
        commands: vec![install_cmd("xrt"), install_cmd("driver"), install_cmd("flm")],
        step: Some("driver".into()),
        ..Default::default()
    })
}

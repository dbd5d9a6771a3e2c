//! Read-only probes of the host, through the root, into one serde [`Facts`] value.
//!
//! Two phases: file probes (cheap reads of /etc, /sys, /proc, /lib under the root), then
//! command and HTTP probes, all started at once on their own threads, each under the
//! runner's timeout. A probe that cannot run records why ([`Probed::Error`]); checks turn that
//! into an `error` status. Nothing here writes anything.

pub mod boot;
pub mod commands;
pub mod firmware;
pub mod identity;
pub mod install_state;
pub mod kernel;
pub(crate) mod klog;
pub mod memlock;
pub mod os;
pub mod pci;
pub mod repos;
pub mod resources;
pub mod services;
pub mod smoke;
#[cfg(test)]
pub(crate) mod testkit;
pub mod users;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::recipes::Recipes;
use crate::root::RootMode;
use crate::runner::Runner;

/// The outcome of one probe.
// Adjacently tagged so the same shape reads well in JSON and YAML (YAML would otherwise
// need `!ok` tags for an externally tagged enum).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "probe", content = "value", rename_all = "lowercase")]
pub enum Probed<T> {
    /// The probe ran; here is what it saw.
    Ok(T),
    /// The probe could not run (unreadable file, command failed or hung).
    Error(String),
    /// The probe does not apply here (e.g. a live-only probe on an offline root).
    Skipped(String),
}

impl<T> Default for Probed<T> {
    /// A probe absent from a hand-written Facts file counts as not run.
    fn default() -> Self {
        Probed::Skipped("not probed".into())
    }
}

impl<T> Probed<T> {
    /// The value when the probe ran.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Probed::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// Why the probe has no value.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Probed::Ok(_) => None,
            Probed::Error(r) | Probed::Skipped(r) => Some(r),
        }
    }

    /// Wraps an anyhow result; errors keep their full context chain.
    pub fn from_result(r: anyhow::Result<T>) -> Self {
        match r {
            Ok(v) => Probed::Ok(v),
            Err(e) => Probed::Error(format!("{e:#}")),
        }
    }
}

/// What the caller asked the probes to look at.
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// Target user for access and memlock checks.
    pub user: Option<String>,
    /// Lemonade base URL override (`http://127.0.0.1:13305`).
    pub lemonade_url: Option<String>,
    /// GPU endpoint health URL override.
    pub gpu_url: Option<String>,
    /// Run the smoke inferences.
    pub smoke: bool,
    /// NPU model for the smoke (Lemonade name).
    pub npu_model: Option<String>,
    /// GPU model for the smoke.
    pub gpu_model: Option<String>,
    /// Whisper model for the smoke (Lemonade name).
    pub whisper_model: Option<String>,
}

/// Everything the checks judge. Deserializable, so checks can be tested from a Facts YAML
/// (`npu-setup dev facts` prints one); absent probes default to "not probed".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Facts {
    /// The root as given.
    pub root: String,
    /// Live, fixture or offline.
    pub mode: RootMode,
    /// Distro.
    pub os: Probed<os::OsFacts>,
    /// Running and installed kernels, amdxdna module files per kernel.
    pub kernel: Probed<kernel::KernelFacts>,
    /// PCI NPUs and GPUs, IOMMU units.
    pub pci: Probed<pci::PciFacts>,
    /// Next-boot configuration.
    pub boot: Probed<boot::BootFacts>,
    /// Firmware files per NPU.
    pub firmware: Probed<firmware::FirmwareFacts>,
    /// Target user and groups.
    pub users: Probed<users::UserFacts>,
    /// Device nodes (`/dev/accel/*`, `/dev/dri/renderD*`).
    pub nodes: Probed<users::NodeFacts>,
    /// Memlock configuration.
    pub memlock: Probed<memlock::MemlockFacts>,
    /// Dynamic-loader configuration and XRT files.
    pub loader: Probed<memlock::LoaderFacts>,
    /// Configured package repositories (dnf, apt, pacman).
    pub repos: Probed<repos::RepoFacts>,
    /// Kernel log lines relevant to the NPU.
    pub kernel_log: Probed<commands::KernelLog>,
    /// Package states.
    pub packages: Probed<commands::PackageFacts>,
    /// `modinfo amdxdna` per kernel.
    pub modinfo: Probed<commands::ModinfoFacts>,
    /// `dkms status`.
    pub dkms: Probed<commands::DkmsFacts>,
    /// Secure Boot state and enrolled keys.
    pub secureboot: Probed<commands::SecureBootFacts>,
    /// `ldconfig -p`.
    pub ld_cache: Probed<Vec<(String, String)>>,
    /// FastFlowLM binary, version and `flm validate`.
    pub flm: Probed<commands::FlmFacts>,
    /// Lemonade binaries, units and API.
    pub lemonade: Probed<services::LemonadeFacts>,
    /// GPU render nodes and the GPU endpoint.
    pub gpu: Probed<services::GpuFacts>,
    /// CPU and memory.
    pub resources: Probed<resources::Resources>,
    /// What install recorded having built, compared with the disk.
    pub provenance: Probed<crate::provenance::ProvenanceFacts>,
    /// The reboot an earlier install owes in this boot (state.json).
    pub install_state: Probed<install_state::InstallState>,
    /// Smoke inference on the NPU (through Lemonade).
    pub smoke_npu: Probed<smoke::SmokeFacts>,
    /// Smoke inference on the GPU endpoint.
    pub smoke_gpu: Probed<smoke::SmokeFacts>,
    /// Whisper transcription through Lemonade (only with `--smoke` and a Whisper model).
    pub smoke_whisper: Probed<smoke::WhisperSmokeFacts>,
    /// Milliseconds spent probing.
    pub probe_millis: u64,
    /// `xrt-smi examine`: the devices XRT enumerates.
    pub xrt: Probed<commands::XrtFacts>,
    /// The container this root runs in (`lxc`, `docker`, `podman`, `systemd-nspawn`…), from
    /// the marks container managers leave ([`probe_container`]); none on a host.
    pub container: Option<String>,
}

/// The container the root is, from the files container managers leave in it: systemd's
/// `/run/systemd/container` (LXC/Incus/Proxmox, nspawn, and Podman/Docker images running
/// systemd), Podman's `/run/.containerenv`, Docker's `/.dockerenv`. File reads only; an
/// offline root (a sysimage) has none of them.
pub fn probe_container(root: &crate::root::Root) -> Option<String> {
    if let Ok(Some(t)) = root.read_optional("run/systemd/container")
        && let Some(kind) = t.split_whitespace().next()
    {
        return Some(kind.to_string());
    }
    if root.exists("run/.containerenv") {
        return Some("podman".into());
    }
    root.exists(".dockerenv").then(|| "docker".into())
}

/// The file-only probes everything else builds on.
struct Base {
    os: Probed<os::OsFacts>,
    kernel: Probed<kernel::KernelFacts>,
    pci: Probed<pci::PciFacts>,
    boot: Probed<boot::BootFacts>,
    firmware: Probed<firmware::FirmwareFacts>,
}

/// OS, kernels (with the next-boot target chosen from the boot configuration), PCI, boot
/// configuration and the firmware the running kernel would load.
fn probe_base(root: &crate::root::Root, recipes: &Recipes) -> Base {
    let os = Probed::from_result(os::probe_os(root));
    let mut kernel = Probed::from_result(kernel::probe_kernel(root));
    let pci = Probed::from_result(pci::probe_pci(root, recipes));
    let boot = Probed::from_result(boot::probe_boot(root));
    if let Probed::Ok(k) = &mut kernel {
        boot::choose_target(k, boot.ok());
    }
    let running = kernel.ok().and_then(|k| k.running.clone());
    let firmware = Probed::from_result(firmware::probe_firmware(root, recipes, pci.ok(), running.as_deref()));
    Base { os, kernel, pci, boot, firmware }
}

/// Probes everything. Never fails: each probe records its own error.
pub fn probe_all(runner: &Runner, recipes: &Recipes, opts: &ProbeOptions) -> Facts {
    let started = Instant::now();
    let root = runner.root();
    let Base { os, kernel, pci, mut boot, firmware } = probe_base(root, recipes);
    if let Probed::Ok(b) = &mut boot {
        boot::probe_ostree_kargs(runner, b);
    }
    let users = Probed::from_result(users::probe_users(root, opts.user.as_deref()));
    let nodes = Probed::from_result(users::probe_nodes(root));
    let memlock = Probed::from_result(memlock::probe_memlock(root));
    let loader = Probed::from_result(memlock::probe_loader(root));
    let repos = Probed::from_result(repos::probe_repos(root));
    let distro = os.ok().and_then(|o| recipes.distro(&o.id, &o.id_like)).cloned();
    let kernels: Vec<String> = kernel.ok().map(|k| k.kernels_of_interest()).unwrap_or_default();
    // The packages the routes of this distro install (recipes/routes.yaml) are asked too.
    let route_packages = distro.as_ref().map(|d| recipes.routes.package_names(&d.id)).unwrap_or_default();
    let module_files: Vec<String> = kernel.ok().map(|k| k.competing_module_files(&kernels)).unwrap_or_default();
    let lemonade_files = services::probe_lemonade_files(root);
    // Where the target user's programs live beyond the FHS (NixOS profiles).
    let home = users.ok().and_then(|u| users::Accounts::read(root).ok()?.user(&u.name).map(|p| p.home.clone()));
    let profiles = commands::profile_bin_dirs(users.ok().map(|u| u.name.as_str()), home.as_deref());
    let provenance = Probed::from_result(crate::provenance::probe(root));
    let install_state = Probed::Ok(install_state::probe_install_state(root));

    // Phase 2: every command and HTTP probe at once, so the wall time is the slowest one
    // (bounded by the runner's timeout), not the sum.
    let (kernel_log, packages, modinfo, dkms, secureboot, ld_cache, flm, lemonade, gpu, resources, xrt) =
        std::thread::scope(|s| {
            let kernel_log = s.spawn(|| commands::probe_kernel_log(runner));
            let packages = s.spawn(|| commands::probe_packages(runner, distro.as_ref(), &route_packages, &kernels));
            let modinfo = s.spawn(|| commands::probe_modinfo(runner, &kernels, &module_files));
            let dkms = s.spawn(|| commands::probe_dkms(runner));
            let secureboot = s.spawn(|| commands::probe_secureboot(runner));
            let ld_cache = s.spawn(|| commands::probe_ld_cache(runner));
            let flm = s.spawn(|| commands::probe_flm(runner, &profiles));
            let xrt = s.spawn(|| commands::probe_xrt(runner, loader.ok().and_then(|l| l.xrt_smi.as_deref())));
            let lemonade = s.spawn(move || services::probe_lemonade(runner, lemonade_files, opts, recipes));
            let gpu = s.spawn(|| services::probe_gpu(runner, opts));
            let resources = s.spawn(|| resources::probe_resources(root));
            (
                join(kernel_log),
                join(packages),
                join(modinfo),
                join(dkms),
                join(secureboot),
                join(ld_cache),
                join(flm),
                join(lemonade),
                join(gpu),
                join(resources),
                join(xrt),
            )
        });

    // Phase 3 (only with --smoke): real completions, after the service facts they need.
    let (smoke_npu, smoke_gpu, smoke_whisper) = smoke_phase(runner, recipes, opts, lemonade.ok(), gpu.ok());

    Facts {
        root: root.path().display().to_string(),
        mode: root.mode(),
        os,
        kernel,
        pci,
        boot,
        firmware,
        users,
        nodes,
        memlock,
        loader,
        repos,
        kernel_log,
        packages,
        modinfo,
        dkms,
        secureboot,
        ld_cache,
        flm,
        lemonade,
        gpu,
        resources,
        provenance,
        install_state,
        smoke_npu,
        smoke_gpu,
        smoke_whisper,
        probe_millis: started.elapsed().as_millis() as u64,
        xrt,
        container: probe_container(root),
    }
}

type SmokeResults = (Probed<smoke::SmokeFacts>, Probed<smoke::SmokeFacts>, Probed<smoke::WhisperSmokeFacts>);

/// The smoke probes (nothing without `opts.smoke`), on the service facts they need.
fn smoke_phase(
    runner: &Runner,
    recipes: &Recipes,
    opts: &ProbeOptions,
    lemonade: Option<&services::LemonadeFacts>,
    gpu: Option<&services::GpuFacts>,
) -> SmokeResults {
    let models = smoke::HostDefaults::for_host(runner.root(), recipes);
    std::thread::scope(|s| {
        let n = s.spawn(|| smoke::smoke_npu(runner, opts, lemonade, models.npu.as_deref()));
        let g = s.spawn(|| smoke::smoke_gpu(runner, opts, gpu, models.gpu_model.as_deref()));
        // After the chat smoke: Lemonade loads one model at a time per type, and the NPU
        // serves one FLM process at a time.
        let n = join(n);
        let w = smoke::smoke_whisper(runner, opts, lemonade, models.whisper.as_deref());
        (n, join(g), w)
    })
}

/// Adds the smoke probes (`opts.smoke`) to facts probed without them, instead of probing
/// everything again (install's closing verdict on a host it did not change).
pub fn probe_smoke(runner: &Runner, recipes: &Recipes, opts: &ProbeOptions, facts: &mut Facts) {
    let started = Instant::now();
    let (n, g, w) = smoke_phase(runner, recipes, opts, facts.lemonade.ok(), facts.gpu.ok());
    (facts.smoke_npu, facts.smoke_gpu, facts.smoke_whisper) = (n, g, w);
    facts.probe_millis += started.elapsed().as_millis() as u64;
}

/// Probes only what per-kernel readiness needs (`npu-setup check`, the kernel-install
/// plugin): OS, kernels, PCI, boot configuration, firmware, and — for `kernels`, or every
/// installed kernel when empty — modinfo, plus `dkms status` and Secure Boot. Fast enough for
/// a kernel-install hook: no service, HTTP or `flm` probes.
pub fn probe_kernels(runner: &Runner, recipes: &Recipes, kernels: &[String]) -> Facts {
    let started = Instant::now();
    let root = runner.root();
    let Base { os, kernel, pci, mut boot, firmware } = probe_base(root, recipes);
    if let Probed::Ok(b) = &mut boot {
        boot::probe_ostree_kargs(runner, b);
    }
    let wanted: Vec<String> = if kernels.is_empty() {
        kernel.ok().map(|k| k.installed.iter().map(|i| i.release.clone()).collect()).unwrap_or_default()
    } else {
        kernels.to_vec()
    };
    let module_files: Vec<String> = kernel.ok().map(|k| k.competing_module_files(&wanted)).unwrap_or_default();
    let (modinfo, dkms, secureboot) = std::thread::scope(|s| {
        let modinfo = s.spawn(|| commands::probe_modinfo(runner, &wanted, &module_files));
        let dkms = s.spawn(|| commands::probe_dkms(runner));
        let secureboot = s.spawn(|| commands::probe_secureboot(runner));
        (join(modinfo), join(dkms), join(secureboot))
    });
    Facts {
        root: root.path().display().to_string(),
        mode: root.mode(),
        os,
        kernel,
        pci,
        boot,
        firmware,
        modinfo,
        dkms,
        secureboot,
        install_state: Probed::Ok(install_state::probe_install_state(root)),
        probe_millis: started.elapsed().as_millis() as u64,
        ..Default::default()
    }
}

/// Joins a probe thread; a panicking probe becomes an error instead of taking doctor down.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, Probed<T>>) -> Probed<T> {
    h.join().unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Probed::Error(format!("internal error in probe: {msg}"))
    })
}

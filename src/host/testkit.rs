//! Test hosts: the [`Facts`] of two healthy machines to start from, and small mutators that
//! change one fact each, so a test reads "a passing host, one fact changed, the verdict
//! flips" in a few lines. Test-only (`#[cfg(test)]`).
//!
//! The bases are `npu-setup dev facts` of two fixture trees, kept as YAML under
//! `tests/fixtures/facts/` (`tests/cli/facts.rs` checks that they still equal what the probes
//! read from those trees). Every mutator keeps the facts consistent with what a probe could
//! have seen; anything rarer goes through [`Host::with`].

use std::sync::OnceLock;

use super::firmware::FirmwareFile;
use super::kernel::{InstalledKernel, ModuleFile};
use super::memlock::MemlockLine;
use super::pci::PciDevice;
use super::services::{LemonadeFacts, UnitFacts};
use super::{Facts, Probed};
use crate::net::http::HttpResult;
use crate::parse::dkms::DkmsEntry;
use crate::parse::flm::FlmValidate;
use crate::parse::modinfo::ModInfo;
use crate::parse::mokutil::EnrolledKey;
use crate::recipes::Recipes;
use crate::root::RootMode;

/// The embedded recipes, parsed once per test binary.
pub(crate) fn recipes() -> &'static Recipes {
    static R: OnceLock<Recipes> = OnceLock::new();
    R.get_or_init(|| Recipes::embedded().expect("embedded recipes parse"))
}

/// A host under test: facts plus the mutators that change them.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// The facts the checks, knowledge and steps judge.
    pub(crate) f: Facts,
}

impl std::ops::Deref for Host {
    type Target = Facts;
    fn deref(&self) -> &Facts {
        &self.f
    }
}

fn base(fixture: &str, yaml: &str) -> Host {
    let mut f: Facts = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("tests/fixtures/facts of {fixture}: {e}"));
    // The one check that still looks at files (lemonade.service: flm on the unit's PATH) sees
    // the fixture tree the facts came from.
    f.root = format!("{}/tests/fixtures/hosts/{fixture}", env!("CARGO_MANIFEST_DIR"));
    Host { f }
}

/// Sets the named probe (the `Facts` field name) to a value of any payload type.
macro_rules! set_probe {
    ($f:expr, $name:expr, $value:expr; $($field:ident),*) => {
        match $name {
            $(stringify!($field) => $f.$field = $value,)*
            other => panic!("no probe named {other}"),
        }
    };
}

impl Host {
    /// Strix Halo (17f0 rev 11), Fedora 44, kernel 7.1.4 with the in-tree amdxdna loading
    /// npu_7.sbin 1.1.2.65, XRT + plugin from RPMs, FastFlowLM 1.0.2 (/usr/bin/flm), Lemonade
    /// 11.7 as the stock lemond.service (CAP_SYS_RESOURCE) with our drop-in and `flm.npu_bin`
    /// naming /usr/bin/flm in its config.json, llama-swap answering: doctor says ready
    /// (fixture `fedora44-71-intree-healthy`).
    pub(crate) fn halo() -> Host {
        base("fedora44-71-intree-healthy", include_str!("../../tests/fixtures/facts/halo-f44-71-intree-healthy.yaml"))
    }

    /// Strix Point (17f0 rev 10, HX 370), Fedora 43, kernel 6.19.3 with the xdna-driver DKMS
    /// module (legacy, xrt-amdxdna/2.23.0, installed) loading npu.dev.sbin 255.0.11.69, an
    /// older 6.18 kernel kept without a DKMS build, XRT 2.23 RPMs with an ld.so.conf entry,
    /// source-built FastFlowLM 0.9.35 in /opt/fastflowlm/bin, Lemonade 10.0 as
    /// lemonade-server.service with a PATH drop-in: doctor says ready (fixture
    /// `case01-fedora43-hx370-dkms`, lemonade-sdk/lemonade#1315).
    pub(crate) fn point_dkms() -> Host {
        base("case01-fedora43-hx370-dkms", include_str!("../../tests/fixtures/facts/point-f43-619-dkms-healthy.yaml"))
    }

    /// Any change to the facts, for what no named mutator covers.
    pub(crate) fn with(mut self, change: impl FnOnce(&mut Facts)) -> Self {
        change(&mut self.f);
        self
    }

    /// The probe `name` (a `Facts` field: `os`, `kernel`, `dkms`…) failed with `why`.
    pub(crate) fn probe_error(mut self, name: &str, why: &str) -> Self {
        let f = &mut self.f;
        set_probe!(f, name, Probed::Error(why.into());
            os, kernel, pci, boot, firmware, users, nodes, memlock, loader, repos, kernel_log, packages, modinfo,
            dkms, secureboot, ld_cache, flm, lemonade, gpu, resources, provenance, smoke_npu, smoke_gpu,
            smoke_whisper);
        self
    }

    /// The probe `name` did not run (offline root, not requested…) because `why`.
    pub(crate) fn probe_skipped(mut self, name: &str, why: &str) -> Self {
        let f = &mut self.f;
        set_probe!(f, name, Probed::Skipped(why.into());
            os, kernel, pci, boot, firmware, users, nodes, memlock, loader, repos, kernel_log, packages, modinfo,
            dkms, secureboot, ld_cache, flm, lemonade, gpu, resources, provenance, smoke_npu, smoke_gpu,
            smoke_whisper);
        self
    }

    /// An installed tree that is not running (kickstart %post, an image).
    pub(crate) fn offline(self) -> Self {
        self.with(|f| f.mode = RootMode::Offline)
    }

    /// `/etc/os-release` says `ID=id`, `VERSION_ID=version`.
    pub(crate) fn os(self, id: &str, version: &str) -> Self {
        self.with(|f| {
            let os = f.os_mut();
            os.id = id.into();
            os.id_like.clear();
            os.version_id = Some(version.into());
            os.pretty_name = format!("{id} {version}");
        })
    }

    /// `/etc/os-release` of a derivative: `PRETTY_NAME`, `ID`, `ID_LIKE`, `VERSION_ID` and
    /// `UBUNTU_CODENAME` (the derivative's own `VERSION_CODENAME` is not the base's).
    pub(crate) fn os_release(
        self,
        pretty: &str,
        id: &str,
        id_like: &[&str],
        version: Option<&str>,
        ubuntu_codename: Option<&str>,
    ) -> Self {
        self.with(|f| {
            let os = f.os_mut();
            os.pretty_name = pretty.into();
            os.id = id.into();
            os.id_like = id_like.iter().map(|s| s.to_string()).collect();
            os.version_id = version.map(Into::into);
            os.version_codename = None;
            os.ubuntu_codename = ubuntu_codename.map(Into::into);
        })
    }

    // --- kernel and boot ---

    /// The running kernel's command line (`/proc/cmdline`).
    pub(crate) fn cmdline(self, args: &str) -> Self {
        self.with(|f| f.kernel_mut().cmdline = Some(args.into()))
    }

    /// The options of the default boot entry (what the next boot gets).
    pub(crate) fn next_boot_args(self, args: &str) -> Self {
        self.with(|f| {
            let b = f.boot.ok_mut();
            let default = b.default_entry.clone();
            let e = b.bls.iter_mut().find(|e| Some(&e.id) == default.as_ref()).expect("a default BLS entry");
            e.options = Some(args.into());
        })
    }

    /// `GRUB_CMDLINE_LINUX` of `/etc/default/grub` (what kernels installed later inherit).
    pub(crate) fn grub_cmdline(self, args: &str) -> Self {
        self.with(|f| f.boot.ok_mut().grub_default[0].cmdline_linux = Some(args.into()))
    }

    /// Renames the running (and next-boot) kernel everywhere the facts mention it: module
    /// paths, boot entries, modinfo, DKMS, packages. Call before the smoke mutators.
    pub(crate) fn kernel(mut self, release: &str) -> Self {
        let old = self.f.kernel.ok().and_then(|k| k.running.clone()).expect("a running kernel");
        let json = serde_json::to_string(&self.f).unwrap().replace(&old, release);
        self.f = serde_json::from_str(&json).unwrap();
        self
    }

    /// Installs `release` (with an in-tree amdxdna from 6.14 on, no headers) and makes it the
    /// default boot entry; the running kernel is unchanged (a reboot is pending).
    pub(crate) fn next_boot_kernel(self, release: &str) -> Self {
        self.with(|f| {
            let in_tree = crate::parse::version::parse_kernel_release(release)
                .is_some_and(|k| crate::recipes::kernel_in_range(&k, Some("6.14"), None));
            let k = f.kernel_mut();
            k.installed.insert(
                0,
                InstalledKernel {
                    release: release.into(),
                    headers: false,
                    amdxdna: if in_tree {
                        vec![ModuleFile {
                            path: format!("/lib/modules/{release}/kernel/drivers/accel/amdxdna/amdxdna.ko.xz"),
                            location: "kernel".into(),
                            origin: "in-tree".into(),
                        }]
                    } else {
                        Vec::new()
                    },
                    builtin: false,
                },
            );
            k.target = Some(release.into());
            k.target_source = Some("default boot entry (test)".into());
        })
    }

    /// The amdxdna module files of the running kernel (`[]`: none).
    pub(crate) fn module_files(self, files: &[(&str, &str)]) -> Self {
        self.with(|f| {
            let k = f.kernel_mut();
            let running = k.running.clone();
            let inst = k.installed.iter_mut().find(|i| Some(&i.release) == running.as_ref()).expect("installed");
            inst.amdxdna = files
                .iter()
                .map(|(path, origin)| ModuleFile {
                    path: path.to_string(),
                    location: if *origin == "in-tree" { "kernel" } else { "extra" }.into(),
                    origin: origin.to_string(),
                })
                .collect();
        })
    }

    /// The running kernel has no amdxdna at all: no module file, and modinfo finds none.
    pub(crate) fn no_module(self) -> Self {
        self.module_files(&[]).modinfo(None)
    }

    /// The headers of `release` are (not) installed.
    pub(crate) fn headers(self, release: &str, present: bool) -> Self {
        self.with(|f| {
            f.kernel_mut().installed.iter_mut().filter(|i| i.release == release).for_each(|i| i.headers = present)
        })
    }

    /// Adds kernel-log lines (`journalctl -k -b 0`) after the healthy ones.
    pub(crate) fn log(self, lines: &[&str]) -> Self {
        self.with(|f| {
            let l = f.kernel_log.ok_mut();
            l.lines.extend(lines.iter().map(|s| s.to_string()));
            l.total_lines += lines.len();
        })
    }

    // --- the NPU, IOMMU and driver binding ---

    /// The PCI scan found no NPU.
    pub(crate) fn no_npu(self) -> Self {
        self.with(|f| {
            f.pci.ok_mut().npus.clear();
            f.firmware.ok_mut().npus.clear();
        })
    }

    /// The NPU is PCI `1022:device` revision `rev`.
    pub(crate) fn npu_id(self, device: &str, rev: &str) -> Self {
        self.with(|f| {
            let n = f.npu_mut();
            n.device = device.into();
            n.revision = rev.into();
        })
    }

    /// The driver the NPU is bound to (`None`: unbound; the accel node goes with it).
    pub(crate) fn npu_driver(self, driver: Option<&str>) -> Self {
        self.with(|f| {
            let n = f.npu_mut();
            n.driver = driver.map(str::to_string);
            if driver != Some("amdxdna") {
                n.accel.clear();
            }
        })
    }

    /// `/sys/class/iommu` lists these units.
    pub(crate) fn iommu_units(self, units: &[&str]) -> Self {
        self.with(|f| f.pci.ok_mut().iommu_units = units.iter().map(|s| s.to_string()).collect())
    }

    /// The NPU's IOMMU group (`None`: in none) and its domain type.
    pub(crate) fn iommu_group(self, group: Option<&str>, domain: Option<&str>) -> Self {
        self.with(|f| {
            let n = f.npu_mut();
            n.iommu_group = group.map(str::to_string);
            n.iommu_group_type = domain.map(str::to_string);
        })
    }

    // --- firmware ---

    /// `name` (npu.sbin, npu_7.sbin, npu.dev.sbin) is on disk at `version` (`None`: absent).
    pub(crate) fn firmware_file(self, name: &str, version: Option<&str>) -> Self {
        self.with(|f| {
            let fw = &mut f.firmware.ok_mut().npus[0];
            let path = format!("/lib/firmware/amdnpu/{}/{name}.xz", fw.dir);
            fw.files.retain(|x| x.name != name);
            if let Some(v) = version {
                fw.files.push(FirmwareFile {
                    name: name.into(),
                    path,
                    target: Some(format!("npu.sbin.{v}.xz")),
                    dangling: false,
                    version: Some(v.into()),
                    version_source: Some("file-name".into()),
                });
            }
        })
    }

    /// `name` is a link whose target is missing.
    pub(crate) fn firmware_dangling(self, name: &str) -> Self {
        self.with(|f| {
            let fw = &mut f.firmware.ok_mut().npus[0];
            let file = fw.files.iter_mut().find(|x| x.name == name).expect("the firmware file exists");
            file.dangling = true;
            file.version = None;
        })
    }

    /// The firmware version the NPU runs (sysfs `fw_version`, and what `flm validate` saw).
    pub(crate) fn loaded_firmware(self, version: &str) -> Self {
        self.with(|f| {
            f.npu_mut().fw_version = Some(version.into());
            if let Some(d) = f.flm.ok_mut().validate.as_mut().and_then(|v| v.devices.first_mut()) {
                d.fw_version = Some(version.into());
            }
        })
    }

    // --- DKMS and Secure Boot ---

    /// A `dkms status` line for `module/version` on `kernel` in `state` (added to the others).
    pub(crate) fn dkms_entry(self, module: &str, version: &str, kernel: &str, state: &str) -> Self {
        self.with(|f| {
            let d = f.dkms.ok_mut();
            d.installed = true;
            d.entries.retain(|e| !(e.module == module && e.kernel.as_deref() == Some(kernel)));
            d.entries.push(DkmsEntry {
                module: module.into(),
                version: version.into(),
                kernel: Some(kernel.into()),
                arch: Some("x86_64".into()),
                state: state.into(),
                notes: Vec::new(),
            });
        })
    }

    /// `dkms status` lists nothing (`tool`: whether dkms itself is installed).
    pub(crate) fn no_dkms(self, tool: bool) -> Self {
        self.with(|f| {
            let d = f.dkms.ok_mut();
            d.installed = tool;
            d.entries.clear();
        })
    }

    /// Secure Boot is on / off / unknown (`None`, as without EFI variables).
    pub(crate) fn secure_boot(self, enabled: Option<bool>) -> Self {
        self.with(|f| f.secureboot.ok_mut().enabled = enabled)
    }

    /// A MOK enrolled with this subject and subject key id.
    pub(crate) fn enrolled_key(self, subject: &str, skid: &str) -> Self {
        self.with(|f| {
            f.secureboot.ok_mut().enrolled.push(EnrolledKey {
                sha1: None,
                subject: Some(subject.into()),
                skid: Some(skid.into()),
            })
        })
    }

    /// The running kernel's amdxdna is signed by `signer` with key id `key` (`None`: unsigned);
    /// `modinfo` must have run for it.
    pub(crate) fn module_signer(self, signer: Option<(&str, &str)>) -> Self {
        self.with(|f| {
            let running = f.kernel.ok().and_then(|k| k.running.clone()).expect("a running kernel");
            let m = f.modinfo.ok_mut().kernels.get_mut(&running).and_then(|m| m.as_mut()).expect("modinfo ran");
            m.signer = signer.map(|(s, _)| s.to_string());
            m.sig_key = signer.map(|(_, k)| k.to_string());
        })
    }

    /// `modinfo` of the running kernel's amdxdna (`None`: it found no module).
    pub(crate) fn modinfo(self, info: Option<ModInfo>) -> Self {
        self.with(|f| {
            let running = f.kernel.ok().and_then(|k| k.running.clone()).expect("a running kernel");
            let m = f.modinfo.ok_mut();
            // The per-file answers of that kernel go too: this is all modinfo said.
            m.files.retain(|path, _| !path.contains(&format!("/lib/modules/{running}/")));
            m.kernels.insert(running, info);
        })
    }

    /// An out-of-tree amdxdna (a DKMS build with this `version:`) installed for the running
    /// kernel under `updates/dkms`, next to what is there: modinfo answers for each file and
    /// `modinfo -k` names the new one (depmod prefers updates/).
    pub(crate) fn dkms_module_file(self, version: &str) -> Self {
        let v = version.to_string();
        self.with(move |f| {
            let running = f.kernel.ok().and_then(|k| k.running.clone()).expect("a running kernel");
            let path = format!("/lib/modules/{running}/updates/dkms/amdxdna.ko.zst");
            let k = f.kernel_mut();
            let inst = k.installed.iter_mut().find(|i| i.release == running).expect("installed");
            inst.amdxdna
                .insert(0, ModuleFile { path: path.clone(), location: "updates".into(), origin: "out-of-tree".into() });
            let files: Vec<String> = inst.amdxdna.iter().map(|m| m.path.clone()).collect();
            let m = f.modinfo.ok_mut();
            let old = m.kernels.get(&running).cloned().flatten();
            for p in files.iter().filter(|p| **p != path) {
                if let Some(o) = &old {
                    m.files.entry(p.clone()).or_insert_with(|| o.clone());
                }
            }
            let dkms = ModInfo {
                filename: Some(path.clone()),
                version: Some(v),
                srcversion: Some("3F1C2B9A0D8E7F6A5B4C3D2".into()),
                signer: Some("DKMS module signing key".into()),
                ..Default::default()
            };
            m.files.insert(path, dkms.clone());
            m.kernels.insert(running, Some(dkms));
        })
    }

    /// The loaded module's sysfs attributes (`version`, `srcversion`, `taint`).
    pub(crate) fn loaded_module(self, version: Option<&str>, srcversion: Option<&str>, taint: Option<&str>) -> Self {
        let (v, s, t) = (version.map(str::to_string), srcversion.map(str::to_string), taint.map(str::to_string));
        self.with(move |f| {
            let k = f.kernel_mut();
            k.loaded = true;
            k.loaded_version = v;
            k.loaded_srcversion = s;
            k.loaded_taint = t;
        })
    }

    /// The DRM version the loaded driver reports (its `Initialized amdxdna_accel_driver` line
    /// and `flm validate`'s `drm_version`); None removes both.
    pub(crate) fn drm(self, version: Option<&str>) -> Self {
        let v = version.map(str::to_string);
        self.with(move |f| {
            if let Some(l) = f.kernel_log.ok() {
                let mut l = l.clone();
                l.lines = l
                    .lines
                    .iter()
                    .filter_map(|line| match (line.find("Initialized amdxdna_accel_driver "), &v) {
                        (None, _) => Some(line.clone()),
                        (Some(_), None) => None,
                        (Some(i), Some(v)) => {
                            let head = &line[..i + "Initialized amdxdna_accel_driver ".len()];
                            let rest = line[head.len()..].split_once(' ').map(|x| x.1).unwrap_or("");
                            Some(format!("{head}{v}.0 {rest}"))
                        }
                    })
                    .collect();
                f.kernel_log = Probed::Ok(l);
            }
            if let Some(x) = f.flm.ok().cloned()
                && let Some(mut val) = x.validate.clone()
            {
                val.drm_version = v.clone();
                let mut x = x;
                x.validate = Some(val);
                f.flm = Probed::Ok(x);
            }
        })
    }

    // --- user, device nodes, memlock ---

    /// `/dev/accel/accel0` has this mode and group id.
    pub(crate) fn accel_mode(self, mode: &str, gid: u32) -> Self {
        self.with(|f| {
            let st = f.nodes.ok_mut().accel[0].stat.as_mut().expect("the node exists");
            st.mode = mode.into();
            st.gid = gid;
        })
    }

    /// The target user is in these (name, gid) groups.
    pub(crate) fn user_groups(self, groups: &[(&str, u32)]) -> Self {
        self.with(|f| f.users.ok_mut().groups = groups.iter().map(|(n, g)| (n.to_string(), *g)).collect())
    }

    /// The memlock lines of limits.conf and limits.d: (domain, kind, value).
    pub(crate) fn memlock_limits(self, lines: &[(&str, &str, &str)]) -> Self {
        self.with(|f| {
            f.memlock.ok_mut().limits = lines
                .iter()
                .map(|(d, k, v)| MemlockLine {
                    file: "/etc/security/limits.d/99-test.conf".into(),
                    domain: d.to_string(),
                    kind: k.to_string(),
                    value: v.to_string(),
                })
                .collect()
        })
    }

    // --- XRT, FLM, packages ---

    /// Package `name` is installed at `version` (`None`: not installed).
    pub(crate) fn package(self, name: &str, version: Option<&str>) -> Self {
        self.with(|f| {
            let p = f.packages.ok_mut();
            p.packages.retain(|x| x.name != name);
            p.packages
                .push(crate::parse::packages::PkgState { name: name.into(), version: version.map(str::to_string) });
        })
    }

    /// Where `soname` is on disk and where the loader finds it.
    pub(crate) fn xrt_lib(self, soname: &str, found: &[&str], resolvable_at: Option<&str>) -> Self {
        self.with(|f| {
            let l = f.loader.ok_mut().libs.iter_mut().find(|l| l.soname == soname).expect("a probed soname");
            l.found = found.iter().map(|s| s.to_string()).collect();
            l.resolvable_at = resolvable_at.map(str::to_string);
        })
    }

    /// Nothing of the userspace stack installed: no XRT (packages or libraries), FastFlowLM or
    /// Lemonade — the host a new user starts from.
    pub(crate) fn bare_stack(self) -> Self {
        let mut h = self;
        for p in ["xrt-base", "xrt-npu", "xrt-plugin-amdxdna", "fastflowlm", "lemonade-server"] {
            h = h.package(p, None);
        }
        h.xrt_lib("libxrt_coreutil.so.2", &[], None).xrt_lib("libxrt_driver_xdna.so.2", &[], None).no_flm().with(|f| {
            if let Probed::Ok(l) = &mut f.lemonade {
                l.binaries.clear();
            }
        })
    }

    /// The configured package repositories (`/etc/yum.repos.d`, apt's sources, pacman.conf).
    pub(crate) fn repos(self, repos: super::repos::RepoFacts) -> Self {
        self.with(|f| f.repos = Probed::Ok(repos))
    }

    /// FastFlowLM is not installed anywhere.
    pub(crate) fn no_flm(self) -> Self {
        self.with(|f| {
            let x = f.flm.ok_mut();
            x.binary = None;
            x.version = None;
            x.validate = None;
            x.validate_code = None;
        })
    }

    /// `flm version` reports `version`.
    pub(crate) fn flm_version(self, version: &str) -> Self {
        self.with(|f| f.flm.ok_mut().version = Some(version.into()))
    }

    /// Changes what `flm validate --json` reported (the host's `ready: true` is reset first).
    pub(crate) fn flm_validate(self, change: impl FnOnce(&mut FlmValidate)) -> Self {
        self.with(|f| {
            let v = f.flm.ok_mut().validate.as_mut().expect("flm validate ran");
            v.ready = Some(false);
            change(v);
        })
    }

    // --- Lemonade and the GPU endpoint ---

    /// Changes the Lemonade unit (the one that matters: the first found).
    pub(crate) fn lemonade_unit(self, change: impl FnOnce(&mut UnitFacts)) -> Self {
        self.with(|f| change(f.lemonade.ok_mut().units.first_mut().expect("a Lemonade unit")))
    }

    /// Changes the Lemonade facts as a whole (binaries, units, API answers).
    pub(crate) fn lemonade(self, change: impl FnOnce(&mut LemonadeFacts)) -> Self {
        self.with(|f| change(f.lemonade.ok_mut()))
    }

    /// What GET `route` (`live`, `health`, `system_info`) of Lemonade answered: a status and
    /// body, or a transport error when `status` is `None`.
    pub(crate) fn lemonade_answer(self, route: &str, status: Option<u16>, body: &str) -> Self {
        self.with(|f| {
            let l = f.lemonade.ok_mut();
            let base = l.base_url.clone().unwrap_or_default();
            let r = http(&format!("{base}/{route}"), status, body);
            match route {
                "live" => l.live = Some(r),
                "health" => l.health = Some(r),
                "system_info" => l.system_info = Some(r),
                other => panic!("no Lemonade route {other}"),
            }
        })
    }

    /// What the GPU endpoint's health route answered (`None` status: a transport error).
    pub(crate) fn gpu_answer(self, status: Option<u16>, body: &str) -> Self {
        self.with(|f| {
            let g = f.gpu.ok_mut();
            g.health = Some(http(&g.url, status, body));
        })
    }

    /// Changes the first AMD GPU (`no_gpu` removes it).
    pub(crate) fn gpu(self, change: impl FnOnce(&mut PciDevice)) -> Self {
        self.with(|f| change(f.pci.ok_mut().gpus.first_mut().expect("a GPU")))
    }

    /// The PCI scan found no AMD GPU.
    pub(crate) fn no_gpu(self) -> Self {
        self.with(|f| f.pci.ok_mut().gpus.clear())
    }
}

/// An HTTP answer (status and body), or a transport error when `status` is `None`.
pub(crate) fn http(url: &str, status: Option<u16>, body: &str) -> HttpResult {
    HttpResult {
        url: url.into(),
        status,
        body: status.map(|_| body.to_string()),
        error: status.is_none().then(|| body.to_string()),
        millis: 3,
    }
}

impl<T> Probed<T> {
    /// The value of a probe that ran (test hosts always have one where mutators reach).
    pub(crate) fn ok_mut(&mut self) -> &mut T {
        match self {
            Probed::Ok(v) => v,
            _ => panic!("the probe did not run on this test host"),
        }
    }
}

impl Facts {
    pub(crate) fn os_mut(&mut self) -> &mut super::os::OsFacts {
        self.os.ok_mut()
    }

    fn kernel_mut(&mut self) -> &mut super::kernel::KernelFacts {
        self.kernel.ok_mut()
    }

    /// The first NPU.
    pub(crate) fn npu_mut(&mut self) -> &mut PciDevice {
        self.pci.ok_mut().npus.first_mut().expect("an NPU")
    }
}

/// Writes `bytes` to `rel` under `base`, creating its parents (test trees).
pub(crate) fn write_file(base: &std::path::Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = base.join(rel);
    std::fs::create_dir_all(p.parent().expect("a relative path under the tree")).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A temporary root holding `files` (root-relative path, content).
pub(crate) fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, crate::root::Root) {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        write_file(dir.path(), rel, text);
    }
    let root = crate::root::Root::open(dir.path()).unwrap();
    (dir, root)
}

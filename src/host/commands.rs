//! Probes that run external commands: kernel log, package queries, `modinfo`, `dkms status`,
//! `mokutil`, `ldconfig -p`, `flm`. Output is parsed by the pure parsers in `parse/`.
//!
//! Every command goes through the [`Runner`] (timeout, capture, log). Commands inside one
//! probe also run concurrently, so the slowest command bounds the whole probe phase.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Probed;
use super::klog::LogFilter;
use crate::parse::dkms::{DkmsEntry, parse_dkms_status};
use crate::parse::flm::{FlmList, FlmValidate, parse_flm_list, parse_flm_validate, parse_flm_version};
use crate::parse::ldconfig::parse_ldconfig_p;
use crate::parse::modinfo::{ModInfo, parse_modinfo};
use crate::parse::mokutil::{EnrolledKey, efivar_secure_boot, parse_list_enrolled, parse_sb_state};
use crate::parse::packages::{PkgState, parse_dpkg_query, parse_pacman_q, parse_rpm_q};
use crate::parse::xrt::{XrtDevice, parse_xrt_examine};
use crate::recipes::Distro;
use crate::root::{Root, RootMode};
use crate::runner::{CmdError, Runner};

/// Kernel log lines that can matter to the NPU stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct KernelLog {
    /// Where the log came from (`journalctl -k -b 0`, `dmesg`, a file).
    pub source: String,
    /// Lines mentioning amdxdna, amdnpu, the IOMMU, lockdown or module signing, and
    /// module-loader lines near amdxdna's (`host::klog`), in log order.
    pub lines: Vec<String>,
    /// Lines read in total.
    pub total_lines: usize,
    /// Kernel crash reports (oops, BUG, GPF, hung task) whose trace touches amdxdna, the
    /// IOMMU SVA code, `aie2_*` or `/dev/accel`, and the crashes that followed them: each
    /// block's lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crashes: Vec<Vec<String>>,
    /// Lines left out over the budget of their kind (`amdxdna`, `module-loader`,
    /// `iommu-fault`, `iommu`, `module-signing`, `crash-blocks`, `crash-block-lines`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub dropped: BTreeMap<String, usize>,
    /// Repeats of a kept line, kept once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeated: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl KernelLog {
    /// Every line kept, crash blocks included (what a captured log must keep to replay).
    pub fn kept_lines(&self) -> impl Iterator<Item = &String> {
        self.lines.iter().chain(self.crashes.iter().flatten())
    }

    /// What was left out, for the evidence (`None` when nothing was).
    pub fn truncation(&self) -> Option<String> {
        (!self.dropped.is_empty()).then(|| {
            let parts: Vec<String> = self.dropped.iter().map(|(k, n)| format!("{n} {k}")).collect();
            format!("left out over their budgets: {}", parts.join(", "))
        })
    }
}

/// Reads the current boot's kernel log: `journalctl -k -b 0`, then `dmesg`, then log files.
pub fn probe_kernel_log(runner: &Runner) -> Probed<KernelLog> {
    let root = runner.root();
    if root.mode() == RootMode::Offline {
        return Probed::Skipped("offline root: there is no running kernel to read a log from".into());
    }
    let mut why = Vec::new();
    for (program, args, label) in [
        ("journalctl", &["-k", "-b", "0", "-o", "cat", "--no-pager"][..], "journalctl -k -b 0"),
        ("dmesg", &[][..], "dmesg"),
    ] {
        let mut filter = LogFilter::default();
        match runner.run_lines(program, args, &mut |l| filter.feed(l)) {
            Ok(o) if o.success() && filter.raw_lines() > 0 => return Probed::Ok(filter.finish(label)),
            Ok(o) => why.push(format!("{program} failed ({}): {}", o.exit_text(), o.tail())),
            Err(e) => why.push(e.to_string()),
        }
    }
    for rel in ["var/log/kern.log", "var/log/dmesg"] {
        match stream_file(root, rel) {
            Ok(Some(filter)) if filter.raw_lines() > 0 => return Probed::Ok(filter.finish(&format!("/{rel}"))),
            Ok(_) => why.push(format!("/{rel}: absent or empty")),
            Err(e) => why.push(format!("{e:#}")),
        }
    }
    Probed::Error(format!("no kernel log could be read ({})", why.join("; ")))
}

/// Reads a log file under the root line by line through the filter (never whole: a log file
/// has no size limit); a line over 64 KiB is handed over in pieces.
fn stream_file(root: &crate::root::Root, rel: &str) -> anyhow::Result<Option<LogFilter>> {
    use std::io::Read;
    const MAX_LINE: usize = 64 * 1024;
    let Some(mut file) = root.open_read(rel)? else { return Ok(None) };
    let mut filter = LogFilter::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading /{rel}"))),
        };
        for chunk in buf[..n].split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match chunk.strip_suffix(b"\n") {
                Some(b) => (b, true),
                None => (chunk, false),
            };
            line.extend_from_slice(body);
            if ends || line.len() >= MAX_LINE {
                filter.feed(&line);
                line.clear();
            }
        }
    }
    if !line.is_empty() {
        filter.feed(&line);
    }
    Ok(Some(filter))
}

/// Package states from the distro's package manager.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PackageFacts {
    /// `rpm`, `dpkg` or `pacman`.
    pub manager: String,
    /// One entry per package asked about.
    pub packages: Vec<PkgState>,
}

impl PackageFacts {
    /// Installed version of a package.
    pub fn version(&self, name: &str) -> Option<&str> {
        self.packages.iter().find(|p| p.name == name).and_then(|p| p.version.as_deref())
    }
}

/// Queries every package the recipe names, plus kernel headers for the kernels of interest.
pub fn probe_packages(
    runner: &Runner,
    distro: Option<&Distro>,
    extra: &[String],
    kernels: &[String],
) -> Probed<PackageFacts> {
    let Some(d) = distro else {
        return Probed::Skipped("no distro recipe: package names unknown".into());
    };
    let p = &d.packages;
    let mut names: Vec<String> = p
        .xrt
        .iter()
        .chain(&p.xrt_plugin)
        .chain(&p.flm)
        .chain(&p.lemonade)
        .chain(&p.dkms)
        .chain(extra)
        .cloned()
        .collect();
    for k in kernels {
        names.push(d.headers.replace("{kver}", k));
    }
    names.push("mokutil".into());
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    let asked: Vec<&str> = names.iter().map(String::as_str).collect();
    let root = runner.root();
    let root_s = root.path().display().to_string();
    let offline = root.mode() == RootMode::Offline;
    let (program, mut args): (&str, Vec<String>) = match d.package_manager.as_str() {
        "rpm" => ("rpm", vec!["-q".into(), "--qf".into(), "%{NAME} %{VERSION}-%{RELEASE}\\n".into()]),
        "dpkg" => ("dpkg-query", vec!["-W".into(), "-f".into(), "${Package} ${Version} ${db:Status-Abbrev}\\n".into()]),
        "pacman" => ("pacman", vec!["-Q".into()]),
        other => return Probed::Error(format!("unknown package manager {other:?} in the distro recipe")),
    };
    if offline {
        let pre: Vec<String> = match program {
            "rpm" => vec!["--root".into(), root_s.clone()],
            "dpkg-query" => vec![format!("--admindir={root_s}/var/lib/dpkg")],
            _ => vec!["--root".into(), root_s.clone()],
        };
        args = pre.into_iter().chain(args).collect();
    }
    // rpm's --qf takes a real newline; the shell-visible `\n` escape is what rpm expands.
    args.extend(names.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match runner.run(program, &argv) {
        Ok(o) => {
            let packages = match program {
                "rpm" => parse_rpm_q(&o.stdout, &asked),
                "dpkg-query" => parse_dpkg_query(&o.stdout, &o.stderr, &asked),
                _ => parse_pacman_q(&o.stdout, &o.stderr, &asked),
            };
            Probed::Ok(PackageFacts { manager: d.package_manager.as_str().to_string(), packages })
        }
        Err(e) => Probed::Error(e.to_string()),
    }
}

/// `modinfo amdxdna` per kernel, and per module file where a kernel has several.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ModinfoFacts {
    /// Kernel release -> parsed modinfo (None when modinfo found no module).
    pub kernels: BTreeMap<String, Option<ModInfo>>,
    /// Kernel release -> why modinfo could not run.
    pub errors: BTreeMap<String, String>,
    /// Module file (path as under the root, `/lib/modules/…/amdxdna.ko.zst`) -> its modinfo,
    /// for kernels with more than one amdxdna file (in-tree and DKMS side by side).
    pub files: BTreeMap<String, ModInfo>,
    /// Module file -> why modinfo could not read it.
    pub file_errors: BTreeMap<String, String>,
}

/// One `modinfo` call: `Ok(None)` when it found no module.
fn modinfo_one(runner: &Runner, args: &[&str]) -> Result<Option<ModInfo>, String> {
    match runner.run("modinfo", args) {
        Ok(o) if o.success() => Ok(Some(parse_modinfo(&o.stdout))),
        Ok(o) if o.stderr.contains("not found") => Ok(None),
        Ok(o) => Err(format!("modinfo failed ({}): {}", o.exit_text(), o.tail())),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `modinfo -k KVER amdxdna` for each kernel and `modinfo FILE` for each of `files`
/// (paths as under the root), concurrently.
pub fn probe_modinfo(runner: &Runner, kernels: &[String], files: &[String]) -> Probed<ModinfoFacts> {
    let root = runner.root();
    let root_s = root.path().display().to_string();
    let offline = root.mode() == RootMode::Offline;
    type Answer = (String, Result<Option<ModInfo>, String>);
    let (by_kernel, by_file): (Vec<Answer>, Vec<Answer>) = std::thread::scope(|s| {
        let kernel_handles: Vec<_> = kernels
            .iter()
            .map(|k| {
                let root_s = root_s.clone();
                s.spawn(move || {
                    let mut args: Vec<&str> = Vec::new();
                    if offline {
                        args.extend(["-b", root_s.as_str()]);
                    }
                    args.extend(["-k", k.as_str(), "amdxdna"]);
                    (k.clone(), modinfo_one(runner, &args))
                })
            })
            .collect();
        let file_handles: Vec<_> = files
            .iter()
            .map(|p| {
                s.spawn(move || {
                    // Live and fixture roots take the path as the system sees it; an offline
                    // root's file is read at its host path.
                    let arg = if offline {
                        match root.host_path(p.trim_start_matches('/')) {
                            Ok(h) => h.display().to_string(),
                            Err(e) => return (p.clone(), Err(format!("{e:#}"))),
                        }
                    } else {
                        p.clone()
                    };
                    (p.clone(), modinfo_one(runner, &[arg.as_str()]))
                })
            })
            .collect();
        let join = |hs: Vec<std::thread::ScopedJoinHandle<'_, Answer>>| -> Vec<Answer> {
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        };
        (join(kernel_handles), join(file_handles))
    });
    let mut facts = ModinfoFacts::default();
    for (k, r) in by_kernel {
        match r {
            Ok(m) => {
                facts.kernels.insert(k, m);
            }
            Err(e) => {
                facts.errors.insert(k, e);
            }
        }
    }
    for (p, r) in by_file {
        match r {
            Ok(Some(m)) => {
                facts.files.insert(p, m);
            }
            Ok(None) => {
                facts.file_errors.insert(p, "modinfo found no module at this path".into());
            }
            Err(e) => {
                facts.file_errors.insert(p, e);
            }
        }
    }
    Probed::Ok(facts)
}

/// `dkms status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DkmsFacts {
    /// dkms is installed.
    pub installed: bool,
    /// Parsed status lines.
    pub entries: Vec<DkmsEntry>,
}

/// Runs `dkms status`; a host without dkms is a fact, not an error.
pub fn probe_dkms(runner: &Runner) -> Probed<DkmsFacts> {
    let root_s = runner.root().path().display().to_string();
    let mut args = vec!["status".to_string()];
    if runner.root().mode() == RootMode::Offline {
        args.extend([
            "--dkmstree".into(),
            format!("{root_s}/var/lib/dkms"),
            "--sourcetree".into(),
            format!("{root_s}/usr/src"),
        ]);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match runner.run("dkms", &argv) {
        Ok(o) if o.success() => Probed::Ok(DkmsFacts { installed: true, entries: parse_dkms_status(&o.stdout) }),
        Ok(o) => Probed::Error(format!("dkms status failed ({}): {}", o.exit_text(), o.tail())),
        Err(CmdError::NotFound { .. }) => Probed::Ok(DkmsFacts { installed: false, entries: Vec::new() }),
        Err(e) => Probed::Error(e.to_string()),
    }
}

/// Secure Boot state and the keys the shim trusts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SecureBootFacts {
    /// Secure Boot enforcing; None when unknown (no EFI, no mokutil).
    pub enabled: Option<bool>,
    /// `mokutil --sb-state` or the `SecureBoot` EFI variable.
    pub source: String,
    /// Enrolled MOKs (`mokutil --list-enrolled`).
    pub enrolled: Vec<EnrolledKey>,
    /// Why the enrolled list is unknown.
    pub enrolled_error: Option<String>,
    /// DKMS's signing certificate exists (`/var/lib/dkms/mok.pub`, dkms.8).
    pub dkms_mok_pub: bool,
}

/// EFI variable holding the Secure Boot state (EFI global variable GUID).
pub const SECURE_BOOT_EFIVAR: &str = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Reads Secure Boot state via mokutil (fallback: the EFI variable) and the enrolled keys.
pub fn probe_secureboot(runner: &Runner) -> Probed<SecureBootFacts> {
    let root = runner.root();
    if root.mode() == RootMode::Offline {
        return Probed::Skipped("offline root: Secure Boot is a property of the running firmware".into());
    }
    let (state, enrolled) = std::thread::scope(|s| {
        let a = s.spawn(|| runner.run("mokutil", &["--sb-state"]));
        let b = s.spawn(|| runner.run("mokutil", &["--list-enrolled"]));
        (a.join(), b.join())
    });
    let mut facts = SecureBootFacts { dkms_mok_pub: root.exists("var/lib/dkms/mok.pub"), ..Default::default() };
    if let Ok(Ok(o)) = &state
        && let Some(v) = parse_sb_state(&format!("{}{}", o.stdout, o.stderr))
    {
        facts.enabled = Some(v);
        facts.source = "mokutil --sb-state".into();
    }
    if facts.enabled.is_none() {
        match root.read_bytes_optional(SECURE_BOOT_EFIVAR) {
            Ok(Some(b)) => {
                facts.enabled = efivar_secure_boot(&b);
                facts.source = format!("/{SECURE_BOOT_EFIVAR}");
            }
            Ok(None) => {
                facts.source = if root.is_dir("sys/firmware/efi") {
                    "no SecureBoot EFI variable".into()
                } else {
                    "legacy BIOS boot (no /sys/firmware/efi)".into()
                };
                if !root.is_dir("sys/firmware/efi") {
                    facts.enabled = Some(false);
                }
            }
            Err(e) => facts.source = format!("{e:#}"),
        }
    }
    match enrolled {
        Ok(Ok(o)) if o.success() => facts.enrolled = parse_list_enrolled(&o.stdout),
        Ok(Ok(o)) => {
            facts.enrolled_error = Some(format!("mokutil --list-enrolled failed ({}): {}", o.exit_text(), o.tail()))
        }
        Ok(Err(e)) => facts.enrolled_error = Some(e.to_string()),
        Err(_) => facts.enrolled_error = Some("internal error".into()),
    }
    Probed::Ok(facts)
}

/// `ldconfig -p`: what the loader cache holds.
pub fn probe_ld_cache(runner: &Runner) -> Probed<Vec<(String, String)>> {
    let root_s = runner.root().path().display().to_string();
    let args: Vec<&str> =
        if runner.root().mode() == RootMode::Offline { vec!["-r", &root_s, "-p"] } else { vec!["-p"] };
    match runner.run("ldconfig", &args) {
        Ok(o) if o.success() => Probed::Ok(parse_ldconfig_p(&o.stdout)),
        Ok(o) => Probed::Error(format!("ldconfig -p failed ({}): {}", o.exit_text(), o.tail())),
        Err(e) => Probed::Error(e.to_string()),
    }
}

/// FastFlowLM facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FlmFacts {
    /// Host path of the `flm` found.
    pub binary: Option<String>,
    /// Where `binary` leads after its symlinks, when elsewhere (a Nix store path behind a
    /// profile link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// `flm version --json`.
    pub version: Option<String>,
    /// Why the version is unknown.
    pub version_error: Option<String>,
    /// `flm validate --json`, parsed.
    pub validate: Option<FlmValidate>,
    /// Why validate has no result.
    pub validate_error: Option<String>,
    /// validate's exit code.
    pub validate_code: Option<i32>,
    /// The binary's RUNPATH (else RPATH), `$ORIGIN` expanded: where its own libraries come
    /// from before ld.so's configuration (every Nix store binary has one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runpath: Vec<String>,
    /// The XRT libraries found along that RUNPATH: (soname, host path).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runpath_libs: Vec<(String, String)>,
    /// The binary's `DT_NEEDED` libraries: which NPU runtime this build links (XRT's
    /// `libxrt_coreutil.so.2`, or HRX's `libhrx`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needed: Vec<String>,
    /// `flm list --json` (how Lemonade discovers FLM's models), parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<FlmList>,
    /// Its exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_code: Option<i32>,
    /// Why it has no result (could not run, timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_error: Option<String>,
}

/// Reads the RUNPATH and needed libraries of the flm found (following its links) and looks
/// for the XRT libraries along the RUNPATH. A script (a wrapper, a fixture's replay shim) has
/// neither.
fn runpath(root: &Root, facts: &mut FlmFacts) {
    let Some(path) = facts.resolved.clone().or_else(|| facts.binary.clone()) else { return };
    let Ok(Some(mut file)) = root.open_read(path.trim_start_matches('/')) else { return };
    let Some(dynamic) = crate::parse::elf::elf_dynamic(&mut file) else { return };
    facts.needed = dynamic.needed;
    let Some(entries) = dynamic.runpath else { return };
    let origin = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    facts.runpath = entries.iter().map(|e| crate::parse::elf::expand_origin(e, origin)).collect();
    for so in crate::host::memlock::XRT_LIBS {
        let hit = facts
            .runpath
            .iter()
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{}/{so}", d.trim_end_matches('/')))
            .find(|p| root.exists(p.trim_start_matches('/')));
        if let Some(p) = hit {
            facts.runpath_libs.push((so.to_string(), p));
        }
    }
}

/// `xrt-smi examine`: the devices XRT enumerates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct XrtFacts {
    /// Host path of the xrt-smi run.
    pub binary: String,
    /// Exit code.
    #[serde(default)]
    pub code: Option<i32>,
    /// The devices listed; None when the output had no device section.
    #[serde(default)]
    pub devices: Option<Vec<XrtDevice>>,
    /// The last lines of its output when it listed nothing (for the evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The XRT release it reports (its `XRT` section's `Version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Runs `xrt-smi examine` (read-only: it reports, it changes nothing) where the loader probe
/// found xrt-smi.
pub fn probe_xrt(runner: &Runner, xrt_smi: Option<&str>) -> Probed<XrtFacts> {
    if runner.root().mode() == RootMode::Offline {
        return Probed::Skipped("offline root: XRT enumerates the running system's devices".into());
    }
    let Some(bin) = xrt_smi else { return Probed::Skipped("xrt-smi not installed".into()) };
    match runner.run(bin, &["examine"]) {
        Ok(o) => {
            let devices = parse_xrt_examine(&format!("{}\n{}", o.stdout, o.stderr));
            let output = devices.as_ref().is_none_or(|d| d.is_empty()).then(|| o.tail());
            let version = crate::parse::xrt::parse_xrt_version(&o.stdout);
            Probed::Ok(XrtFacts { binary: bin.to_string(), code: o.code, devices, output, version })
        }
        Err(e) => Probed::Error(e.to_string()),
    }
}

/// Places FLM installs to: `cmake --install` preset, Fedora COPR, the Arch package
/// (<https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/CMakePresets.json>,
/// <https://github.com/abn/fastflowlm-rpm/blob/7fe6677c24c1fec15966aad99b1fcb3a7fab398f/fastflowlm.spec>,
/// <https://github.com/ROCm/FastFlowLM/issues/403>), and local installs.
pub const FLM_LOCATIONS: &[&str] = &["opt/fastflowlm/bin/flm", "usr/bin/flm", "opt/flm/bin/flm", "usr/local/bin/flm"];

/// The directories beyond the FHS ones where a user's programs live: the NixOS system
/// profile, the user's per-user profile and `~/.nix-profile`
/// (<https://nixos.org/manual/nixos/stable/#sec-package-management>), as root-relative
/// directories, for `user` with home `home`.
pub fn profile_bin_dirs(user: Option<&str>, home: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = crate::host::memlock::NIX_BIN_DIRS.iter().map(|s| s.to_string()).collect();
    if let Some(u) = user {
        out.push(format!("etc/profiles/per-user/{u}/bin"));
    }
    if let Some(h) = home.map(|h| h.trim_start_matches('/').trim_end_matches('/')).filter(|h| !h.is_empty()) {
        out.push(format!("{h}/.nix-profile/bin"));
    }
    out
}

/// Finds `flm` (the FHS places, then `profiles`: the system and user profiles), then runs
/// `flm version --json` and `flm validate --json` concurrently.
pub fn probe_flm(runner: &Runner, profiles: &[String]) -> Probed<FlmFacts> {
    let root = runner.root();
    let mut facts = FlmFacts::default();
    let candidates: Vec<String> = FLM_LOCATIONS
        .iter()
        .map(|p| p.to_string())
        .chain(profiles.iter().map(|d| format!("{}/flm", d.trim_end_matches('/'))))
        .collect();
    let found = candidates.iter().find(|p| runner.locate(&format!("/{p}")).is_some()).map(|p| format!("/{p}"));
    let program = match (&found, root.mode()) {
        (Some(p), _) => p.clone(),
        (None, RootMode::Live) => match runner.locate("flm") {
            Some(p) => p.display().to_string(),
            None => return Probed::Ok(facts),
        },
        (None, _) => return Probed::Ok(facts),
    };
    facts.binary = Some(program.clone());
    facts.resolved =
        root.resolve(program.trim_start_matches('/')).ok().map(|p| Root::display(&p)).filter(|p| *p != program);
    runpath(root, &mut facts);
    if root.mode() == RootMode::Offline {
        facts.validate_error = Some("offline root: flm validate needs the running system's NPU".into());
        facts.version_error = Some("offline root: not run".into());
        return Probed::Ok(facts);
    }
    let (version, validate, list) = std::thread::scope(|s| {
        let v = s.spawn(|| runner.run(&program, &["version", "--json"]));
        let c = s.spawn(|| runner.run(&program, &["validate", "--json"]));
        let l = s.spawn(|| runner.run(&program, &["list", "--json"]));
        (v.join(), c.join(), l.join())
    });
    match list {
        Ok(Ok(o)) => {
            facts.list_code = o.code;
            facts.list = Some(parse_flm_list(&o.stdout, &o.stderr));
        }
        Ok(Err(e)) => facts.list_error = Some(e.to_string()),
        Err(_) => facts.list_error = Some("internal error".into()),
    }
    match version {
        Ok(Ok(o)) => match parse_flm_version(&o.stdout) {
            Some(v) => facts.version = Some(v),
            None => {
                facts.version_error =
                    Some(format!("`flm version --json` printed no version ({}): {}", o.exit_text(), o.tail()))
            }
        },
        Ok(Err(e)) => facts.version_error = Some(e.to_string()),
        Err(_) => facts.version_error = Some("internal error".into()),
    }
    match validate {
        Ok(Ok(o)) => {
            facts.validate_code = o.code;
            match parse_flm_validate(&format!("{}\n{}", o.stdout, o.stderr)) {
                Ok(v) => facts.validate = Some(v),
                Err(e) => {
                    facts.validate_error =
                        Some(format!("`flm validate --json` output not understood ({}): {e}", o.exit_text()))
                }
            }
        }
        Ok(Err(e)) => facts.validate_error = Some(e.to_string()),
        Err(_) => facts.validate_error = Some("internal error".into()),
    }
    Probed::Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Nix store flm finds XRT through its RUNPATH (and `$ORIGIN`), not ld.so.conf.
    #[test]
    fn the_runpath_of_flm_leads_to_xrt() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, bytes: &[u8]| crate::host::testkit::write_file(dir.path(), rel, bytes);
        let elf = crate::parse::elf::tests::elf_with_runpath("/nix/store/b-xrt/lib:$ORIGIN/../lib", 29);
        w("nix/store/a-flm/bin/flm", &elf);
        w("nix/store/b-xrt/lib/libxrt_coreutil.so.2", b"elf");
        w("nix/store/a-flm/lib/libxrt_driver_xdna.so.2", b"elf");
        std::fs::create_dir_all(dir.path().join("run/current-system/sw/bin")).unwrap();
        std::os::unix::fs::symlink("/nix/store/a-flm/bin/flm", dir.path().join("run/current-system/sw/bin/flm"))
            .unwrap();
        let root = Root::open(dir.path()).unwrap();
        let mut facts = FlmFacts {
            binary: Some("/run/current-system/sw/bin/flm".into()),
            resolved: Some("/nix/store/a-flm/bin/flm".into()),
            ..Default::default()
        };
        runpath(&root, &mut facts);
        assert_eq!(facts.runpath, ["/nix/store/b-xrt/lib", "/nix/store/a-flm/bin/../lib"]);
        assert_eq!(
            facts.runpath_libs,
            [
                ("libxrt_coreutil.so.2".to_string(), "/nix/store/b-xrt/lib/libxrt_coreutil.so.2".to_string()),
                (
                    "libxrt_driver_xdna.so.2".to_string(),
                    "/nix/store/a-flm/bin/../lib/libxrt_driver_xdna.so.2".to_string()
                ),
            ]
        );
    }

    /// Fedora COPR's flm is an update-alternatives link; the HRX build it leads to links libhrx
    /// (what knowledge::stack::flm_runtime reads), not XRT.
    #[test]
    fn the_needed_libraries_of_flm_are_read_through_its_links() {
        let dir = tempfile::tempdir().unwrap();
        let elf = crate::parse::elf::tests::elf_with(&[(1, "libhrx.so.1"), (1, "libstdc++.so.6")]);
        crate::host::testkit::write_file(dir.path(), "usr/bin/flm-hrx", elf);
        std::fs::create_dir_all(dir.path().join("etc/alternatives")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/flm-hrx", dir.path().join("etc/alternatives/flm")).unwrap();
        std::os::unix::fs::symlink("/etc/alternatives/flm", dir.path().join("usr/bin/flm")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        let mut facts = FlmFacts {
            binary: Some("/usr/bin/flm".into()),
            resolved: Some("/usr/bin/flm-hrx".into()),
            ..Default::default()
        };
        runpath(&root, &mut facts);
        assert_eq!(facts.needed, ["libhrx.so.1", "libstdc++.so.6"]);
        assert!(facts.runpath.is_empty());
    }
}

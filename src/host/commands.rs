//! Probes that run external commands: kernel log, package queries, `modinfo`, `dkms status`,
//! `mokutil`, `ldconfig -p`, `flm`. Output is parsed by the pure parsers in `parse/`.
//!
//! Every command goes through the [`Runner`] (timeout, capture, log). Commands inside one
//! probe also run concurrently, so the slowest command bounds the whole probe phase.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Probed;
use crate::parse::dkms::{DkmsEntry, parse_dkms_status};
use crate::parse::flm::{FlmValidate, parse_flm_validate, parse_flm_version};
use crate::parse::kernel_log::normalize_kernel_log;
use crate::parse::ldconfig::parse_ldconfig_p;
use crate::parse::modinfo::{ModInfo, parse_modinfo};
use crate::parse::mokutil::{EnrolledKey, efivar_secure_boot, parse_list_enrolled, parse_sb_state};
use crate::parse::packages::{PkgState, parse_dpkg_query, parse_pacman_q, parse_rpm_q};
use crate::recipes::Distro;
use crate::root::RootMode;
use crate::runner::{CmdError, Runner};

/// Kernel log lines that can matter to the NPU stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct KernelLog {
    /// Where the log came from (`journalctl -k -b 0`, `dmesg`, a file).
    pub source: String,
    /// Lines mentioning amdxdna, amdnpu, the IOMMU, lockdown or module signing.
    pub lines: Vec<String>,
    /// Lines read in total.
    pub total_lines: usize,
}

/// Words that make a kernel-log line worth keeping.
const LOG_KEYWORDS: &[&str] = &[
    "amdxdna",
    "amdnpu",
    "AMD-Vi",
    "iommu",
    "IOMMU",
    "Lockdown",
    "SVA",
    "PASID",
    "module verification",
    "Key was rejected",
];

/// Module-loader messages that do not name the module they refuse: the ELF checks of
/// kernel/module/main.c (`Invalid ELF header len|magic|type`, `Invalid (module )architecture in
/// ELF header`), the x86 relocation check (`x86/modules: Invalid relocation target, existing
/// value is nonzero for …`, older kernels `Skipping invalid relocation target …`,
/// arch/x86/kernel/module.c) and signature enforcement (`Loading of unsigned module is
/// rejected`, kernel/module/signing.c): <https://github.com/torvalds/linux/blob/master/kernel/module/main.c>,
/// <https://github.com/torvalds/linux/blob/master/arch/x86/kernel/module.c>,
/// <https://github.com/torvalds/linux/blob/master/kernel/module/signing.c>. The named ones
/// (`amdxdna: Unknown symbol …`, `amdxdna: disagrees about version of symbol …`) carry
/// `amdxdna` and are kept by [`LOG_KEYWORDS`].
const UNNAMED_LOADER_LINES: &[&str] = &[
    "Invalid ELF header",
    "architecture in ELF header",
    "invalid relocation target",
    "Invalid relocation target",
    "Loading of unsigned module is rejected",
    "Loading of module with unavailable key is rejected",
    "Loading of module with unsupported crypto is rejected",
];

/// How many log lines before or after an amdxdna line an unnamed loader line may sit and
/// still be attributed to amdxdna's load (the journal has no timestamps in `-o cat`; a boot
/// interleaves the udev-triggered loads of many modules).
const LOADER_WINDOW: usize = 25;

/// Keeps the relevant lines — those naming the NPU stack, and module-loader lines near
/// amdxdna's load even when they do not name it; caps the count so a log storm cannot bloat
/// the report.
fn filter_log(source: &str, text: &str) -> KernelLog {
    let all = normalize_kernel_log(text);
    let total_lines = all.len();
    let anchors: Vec<usize> =
        all.iter().enumerate().filter(|(_, l)| l.contains("amdxdna") || l.contains("amdnpu")).map(|(i, _)| i).collect();
    let near_amdxdna = |i: usize| anchors.iter().any(|a| a.abs_diff(i) <= LOADER_WINDOW);
    let mut lines: Vec<String> = all
        .into_iter()
        .enumerate()
        .filter(|(i, l)| {
            LOG_KEYWORDS.iter().any(|k| l.contains(k))
                || (UNNAMED_LOADER_LINES.iter().any(|k| l.contains(k)) && near_amdxdna(*i))
        })
        .map(|(_, l)| l)
        .collect();
    if lines.len() > 400 {
        lines.drain(..lines.len() - 400);
    }
    KernelLog { source: source.to_string(), lines, total_lines }
}

/// Reads the current boot's kernel log: `journalctl -k -b 0`, then `dmesg`, then log files.
pub fn probe_kernel_log(runner: &Runner) -> Probed<KernelLog> {
    let root = runner.root();
    if root.mode() == RootMode::Offline {
        return Probed::Skipped("offline root: there is no running kernel to read a log from".into());
    }
    let mut why = Vec::new();
    match runner.run("journalctl", &["-k", "-b", "0", "-o", "cat", "--no-pager"]) {
        Ok(o) if o.success() && !o.stdout.trim().is_empty() => {
            return Probed::Ok(filter_log("journalctl -k -b 0", &o.stdout));
        }
        Ok(o) => why.push(format!("journalctl failed ({}): {}", o.exit_text(), o.tail())),
        Err(e) => why.push(e.to_string()),
    }
    match runner.run("dmesg", &[]) {
        Ok(o) if o.success() && !o.stdout.trim().is_empty() => return Probed::Ok(filter_log("dmesg", &o.stdout)),
        Ok(o) => why.push(format!("dmesg failed ({}): {}", o.exit_text(), o.tail())),
        Err(e) => why.push(e.to_string()),
    }
    for rel in ["var/log/kern.log", "var/log/dmesg"] {
        match root.read_optional(rel) {
            Ok(Some(text)) if !text.trim().is_empty() => return Probed::Ok(filter_log(&format!("/{rel}"), &text)),
            Ok(_) => why.push(format!("/{rel}: absent or empty")),
            Err(e) => why.push(format!("{e:#}")),
        }
    }
    Probed::Error(format!("no kernel log could be read ({})", why.join("; ")))
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
pub fn probe_packages(runner: &Runner, distro: Option<&Distro>, kernels: &[String]) -> Probed<PackageFacts> {
    let Some(d) = distro else {
        return Probed::Skipped("no distro recipe: package names unknown".into());
    };
    let p = &d.packages;
    let mut names: Vec<String> =
        p.xrt.iter().chain(&p.xrt_plugin).chain(&p.flm).chain(&p.lemonade).chain(&p.dkms).cloned().collect();
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
}

/// Places FLM installs to: `cmake --install` preset, Fedora COPR, the Arch package
/// (<https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/CMakePresets.json>,
/// <https://github.com/abn/fastflowlm-rpm/blob/7fe6677c24c1fec15966aad99b1fcb3a7fab398f/fastflowlm.spec>,
/// <https://github.com/ROCm/FastFlowLM/issues/403>), and local installs.
pub const FLM_LOCATIONS: &[&str] = &["opt/fastflowlm/bin/flm", "usr/bin/flm", "opt/flm/bin/flm", "usr/local/bin/flm"];

/// Finds `flm`, then runs `flm version --json` and `flm validate --json` concurrently.
pub fn probe_flm(runner: &Runner) -> Probed<FlmFacts> {
    let root = runner.root();
    let mut facts = FlmFacts::default();
    let found = FLM_LOCATIONS.iter().find(|p| runner.locate(&format!("/{p}")).is_some()).map(|p| format!("/{p}"));
    let program = match (&found, root.mode()) {
        (Some(p), _) => p.clone(),
        (None, RootMode::Live) => match runner.locate("flm") {
            Some(p) => p.display().to_string(),
            None => return Probed::Ok(facts),
        },
        (None, _) => return Probed::Ok(facts),
    };
    facts.binary = Some(program.clone());
    if root.mode() == RootMode::Offline {
        facts.validate_error = Some("offline root: flm validate needs the running system's NPU".into());
        facts.version_error = Some("offline root: not run".into());
        return Probed::Ok(facts);
    }
    let (version, validate) = std::thread::scope(|s| {
        let v = s.spawn(|| runner.run(&program, &["version", "--json"]));
        let c = s.spawn(|| runner.run(&program, &["validate", "--json"]));
        (v.join(), c.join())
    });
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

    #[test]
    fn loader_lines_near_amdxdna_are_kept_even_without_its_name() {
        // amd/xdna-driver#1469: a DKMS amdxdna refused on 6.17.0-35 while the in-tree one runs.
        let filler: Vec<String> = (0..40).map(|i| format!("usb 1-{i}: new high-speed USB device")).collect();
        let text = [
            vec!["module: x86/modules: Invalid relocation target, existing value is nonzero for type 1, loc 00000000c3a1b2d4, val ffffffffc1a2b3c4".to_string()],
            filler[..10].to_vec(),
            vec![
                "amdxdna 0000:c6:00.1: [drm] Load firmware amdnpu/17f0_11/npu.sbin".to_string(),
                "amdxdna: disagrees about version of symbol drm_sched_init".to_string(),
            ],
            filler[10..].to_vec(),
            // 30 lines after the last amdxdna line: another module's business.
            vec![
                "Invalid ELF header magic: != \x7fELF".to_string(),
                "nvidia: Unknown symbol drm_gem_object_free (err -2)".to_string(),
            ],
        ]
        .concat()
        .join("\n");
        let log = filter_log("dmesg", &text);
        assert_eq!(
            log.lines,
            [
                "module: x86/modules: Invalid relocation target, existing value is nonzero for type 1, loc 00000000c3a1b2d4, val ffffffffc1a2b3c4",
                "amdxdna 0000:c6:00.1: [drm] Load firmware amdnpu/17f0_11/npu.sbin",
                "amdxdna: disagrees about version of symbol drm_sched_init",
            ]
        );
        // With no amdxdna line at all, an unnamed loader line cannot be attributed.
        assert!(filter_log("dmesg", "Invalid ELF header magic: != \x7fELF\n").lines.is_empty());
    }
}

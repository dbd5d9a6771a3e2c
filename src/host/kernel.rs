//! Running and installed kernels, the kernel command line, and where `amdxdna` lives for
//! each kernel (in-tree vs out-of-tree module files) and whether it is loaded.

use anyhow::Result;
use procfs::FromRead;
use serde::{Deserialize, Serialize};

use crate::parse::version::parse_kernel_release;
use crate::root::{Root, RootMode};

/// Where a module file sits under `lib/modules/<kver>/`.
///
/// depmod prefers out-of-tree directories over `kernel/` (the in-tree tree): DKMS installs
/// to `extra/` on Fedora/RHEL/SUSE and `updates/dkms/` on Debian/Ubuntu/Arch because it
/// ignores `DEST_MODULE_LOCATION` there (dkms-project/dkms dkms.8.in). The exact search order
/// comes from depmod.d (`search updates extra built-in weak-updates` on Fedora — distro
/// default, UNVERIFIED per release).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModuleFile {
    /// Host path (`/lib/modules/6.19…/extra/amdxdna.ko.xz`).
    pub path: String,
    /// `updates`, `extra`, `kernel` or `weak-updates`.
    pub location: String,
    /// `in-tree` for `kernel/drivers/accel/amdxdna`, else `out-of-tree`.
    pub origin: String,
}

/// One kernel installed under `lib/modules`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstalledKernel {
    /// Release string (`uname -r`).
    pub release: String,
    /// `lib/modules/<release>/build` resolves to a directory (headers / kernel-devel).
    pub headers: bool,
    /// amdxdna module files, highest precedence first.
    pub amdxdna: Vec<ModuleFile>,
    /// amdxdna listed in `modules.builtin`.
    pub builtin: bool,
}

/// Kernel facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct KernelFacts {
    /// Running kernel release (`proc/sys/kernel/osrelease`); None on an offline root.
    pub running: Option<String>,
    /// `/proc/cmdline` of the running kernel.
    pub cmdline: Option<String>,
    /// Installed kernels, newest first.
    pub installed: Vec<InstalledKernel>,
    /// amdxdna is loaded (`sys/module/amdxdna` exists).
    pub loaded: bool,
    /// `sys/module/amdxdna/version` (only modules with MODULE_VERSION: xdna-driver DKMS).
    pub loaded_version: Option<String>,
    /// `sys/module/amdxdna/srcversion` (modules with a version, or every module when the
    /// kernel has CONFIG_MODULE_SRCVERSION_ALL): equals the file's modinfo `srcversion`.
    pub loaded_srcversion: Option<String>,
    /// `sys/module/amdxdna/taint`: empty for an in-tree module, `O` out-of-tree, `E`
    /// unsigned (Documentation/admin-guide/tainted-kernels.rst); None when unreadable or
    /// built in.
    pub loaded_taint: Option<String>,
    /// The kernel that will boot next, and how it was determined.
    pub target: Option<String>,
    /// How `target` was chosen.
    pub target_source: Option<String>,
}

impl KernelFacts {
    /// The installed kernel with this release.
    pub fn installed(&self, release: &str) -> Option<&InstalledKernel> {
        self.installed.iter().find(|k| k.release == release)
    }

    /// The amdxdna module files of `releases` that have competitors (two or more files for
    /// one kernel): `modinfo -k` names only the one modprobe picks, so each is asked by path.
    pub fn competing_module_files(&self, releases: &[String]) -> Vec<String> {
        releases
            .iter()
            .filter_map(|r| self.installed(r))
            .filter(|k| k.amdxdna.len() > 1)
            .flat_map(|k| k.amdxdna.iter().map(|m| m.path.clone()))
            .collect()
    }

    /// Running and target kernels, deduplicated (the kernels doctor judges in depth).
    pub fn kernels_of_interest(&self) -> Vec<String> {
        let mut v: Vec<String> = self.running.iter().chain(self.target.iter()).cloned().collect();
        v.dedup();
        v
    }
}

/// Reads kernel facts under the root. The target kernel is filled in by [`super::boot`].
pub fn probe_kernel(root: &Root) -> Result<KernelFacts> {
    let mut facts = KernelFacts::default();
    if root.mode() != RootMode::Offline {
        facts.running = root.read_trimmed("proc/sys/kernel/osrelease")?;
        if facts.running.is_none() && root.mode() == RootMode::Live {
            facts.running = nix::sys::utsname::uname().ok().map(|u| u.release().to_string_lossy().into_owned());
        }
        // Raw text: procfs's KernelCmdline splits on spaces and would break quoted values;
        // parse::cmdline handles quoting.
        facts.cmdline = root.read_trimmed("proc/cmdline")?;
        facts.loaded = root.is_dir("sys/module/amdxdna");
        facts.loaded_version = root.read_trimmed("sys/module/amdxdna/version")?;
        facts.loaded_srcversion = root.read_trimmed("sys/module/amdxdna/srcversion")?;
        // An empty taint file is a fact (in-tree), unlike an absent one.
        facts.loaded_taint = root.read_optional("sys/module/amdxdna/taint")?.map(|t| t.trim().to_string());
        if !facts.loaded
            && root.exists("proc/modules")
            && let Ok(path) = root.host_path("proc/modules")
            && let Ok(mods) = procfs::KernelModules::from_file(path)
        {
            facts.loaded = mods.0.contains_key("amdxdna");
        }
    }
    for release in root.list_dir("lib/modules")? {
        let base = format!("lib/modules/{release}");
        let is_kernel =
            ["modules.dep", "vmlinuz", "kernel", "modules.order"].iter().any(|f| root.exists(format!("{base}/{f}")));
        if !is_kernel {
            continue;
        }
        let headers = root.is_dir(format!("{base}/build"));
        let builtin = root
            .read_optional(format!("{base}/modules.builtin"))?
            .is_some_and(|t| t.lines().any(|l| l.ends_with("/amdxdna.ko")));
        let amdxdna = find_module_files(root, &base)?;
        facts.installed.push(InstalledKernel { release, headers, amdxdna, builtin });
    }
    facts.installed.sort_by(|a, b| compare_releases(&b.release, &a.release));
    Ok(facts)
}

/// Orders kernel releases by version, then lexically.
pub fn compare_releases(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| parse_kernel_release(s).map(|k| (k.major, k.minor, k.patch, k.rc.is_none(), k.rc));
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

const MODULE_NAMES: &[&str] = &["amdxdna.ko", "amdxdna.ko.xz", "amdxdna.ko.zst", "amdxdna.ko.gz"];

fn find_module_files(root: &Root, base: &str) -> Result<Vec<ModuleFile>> {
    let mut out = Vec::new();
    for location in ["updates", "extra", "kernel", "weak-updates"] {
        if location == "kernel" {
            // The in-tree module has one home (drivers/accel/amdxdna); walking all of
            // kernel/ would read thousands of directories on a real host.
            for name in MODULE_NAMES {
                let rel = format!("{base}/kernel/drivers/accel/amdxdna/{name}");
                if root.exists(&rel) {
                    out.push(ModuleFile {
                        path: Root::display(&rel),
                        location: location.into(),
                        origin: "in-tree".into(),
                    });
                }
            }
            continue;
        }
        let mut stack = vec![format!("{base}/{location}")];
        // Bounded walk: module trees are a few levels deep; sysroots can be large.
        let mut visited = 0;
        while let Some(dir) = stack.pop() {
            visited += 1;
            if visited > 5000 {
                break;
            }
            for name in root.list_dir(&dir)? {
                let rel = format!("{dir}/{name}");
                if MODULE_NAMES.contains(&name.as_str()) {
                    out.push(ModuleFile {
                        path: Root::display(&rel),
                        location: location.into(),
                        origin: "out-of-tree".into(),
                    });
                } else if root.is_dir(&rel) && root.read_link_optional(&rel)?.is_none() {
                    stack.push(rel);
                }
            }
        }
    }
    Ok(out)
}

//! Memlock configuration (pam_limits files, systemd `user@.service` drop-ins) and the
//! dynamic loader's view of the XRT libraries (ld.so.conf, library files).
//!
//! Memlock: xdna-driver README — BO allocation fails with a low "max locked memory";
//! `/etc/security/limits.d/99-amdxdna.conf` + re-login; on Fedora also a `user@.service`
//! drop-in with `LimitMEMLOCK=infinity`
//! (<https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/README.md>).
//! Loader: source-built XRT installs to `/opt/xilinx/xrt/lib64` with no ld.so.conf.d entry,
//! so FLM and services fail with `libxrt_coreutil.so.2: cannot open shared object file`
//! (<https://github.com/lemonade-sdk/lemonade/issues/1315>; the ld.so.conf fix:
//! <https://github.com/lemonade-sdk/lemonade/pull/2291>).

use anyhow::Result;
use procfs::FromRead;
use serde::{Deserialize, Serialize};

use crate::parse::ldconfig::parse_ld_so_conf;
use crate::parse::limits::parse_limits_conf;
use crate::parse::systemctl::parse_unit_file;
use crate::root::{Root, RootMode};

/// A memlock line from a pam_limits file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemlockLine {
    /// Host path.
    pub file: String,
    /// Domain (`*`, user, `@group`).
    pub domain: String,
    /// `soft`, `hard` or `-`.
    pub kind: String,
    /// Value as written.
    pub value: String,
}

/// A `LimitMEMLOCK=` setting in a unit file or drop-in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnitLimit {
    /// Host path.
    pub file: String,
    /// Value as written.
    pub value: String,
}

/// Memlock facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MemlockFacts {
    /// memlock lines in limits.conf and limits.d, in the order pam_limits reads them.
    pub limits: Vec<MemlockLine>,
    /// `LimitMEMLOCK=` in `user@.service` drop-ins.
    pub user_service: Vec<UnitLimit>,
    /// `DefaultLimitMEMLOCK=` in system.conf (and its drop-ins).
    pub system_default: Vec<UnitLimit>,
    /// Soft/hard memlock of this process (`proc/self/limits`), live roots only.
    pub process: Option<(String, String)>,
    /// Every `pam_limits.so` session line in `/etc/pam.d`, in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pam: Vec<PamLimits>,
    /// memlock lines of the files PAM names with `conf=` (other than limits.conf).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conf_limits: Vec<MemlockLine>,
}

/// One PAM service loading pam_limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PamLimits {
    /// The service (`login`, `systemd-user`, the file's name in /etc/pam.d).
    pub service: String,
    /// Its `conf=` file (host path), or None for the default limits.conf + limits.d.
    #[serde(default)]
    pub conf: Option<String>,
    /// The conf file exists.
    #[serde(default)]
    pub conf_exists: bool,
}

/// Reads memlock configuration under the root.
pub fn probe_memlock(root: &Root) -> Result<MemlockFacts> {
    let mut facts = MemlockFacts::default();
    let mut files = vec!["etc/security/limits.conf".to_string()];
    for n in root.list_dir("etc/security/limits.d")? {
        if n.ends_with(".conf") {
            files.push(format!("etc/security/limits.d/{n}"));
        }
    }
    for rel in files {
        let Some(text) = root.read_optional(&rel)? else { continue };
        for l in parse_limits_conf(&text) {
            if l.item == "memlock" {
                facts.limits.push(MemlockLine {
                    file: Root::display(&rel),
                    domain: l.domain,
                    kind: l.kind,
                    value: l.value,
                });
            }
        }
    }
    // PAM services that load pam_limits, and the files they name with conf= (NixOS).
    let mut services = root.list_dir("etc/pam.d")?;
    services.sort();
    for service in services {
        let rel = format!("etc/pam.d/{service}");
        if root.is_dir(&rel) {
            continue;
        }
        let Some(text) = root.read_optional(&rel)? else { continue };
        for conf in crate::parse::limits::parse_pam_limits(&text) {
            let conf_exists = conf.as_deref().is_some_and(|c| root.is_file(c));
            if let Some(c) = conf.as_deref().filter(|_| conf_exists)
                && !facts.conf_limits.iter().any(|l| l.file == c)
                && c.trim_start_matches('/') != "etc/security/limits.conf"
                && let Some(text) = root.read_optional(c)?
            {
                for l in parse_limits_conf(&text).into_iter().filter(|l| l.item == "memlock") {
                    facts.conf_limits.push(MemlockLine {
                        file: c.to_string(),
                        domain: l.domain,
                        kind: l.kind,
                        value: l.value,
                    });
                }
            }
            facts.pam.push(PamLimits { service: service.clone(), conf, conf_exists });
        }
    }
    facts.user_service = unit_settings(
        root,
        &["etc/systemd/system/user@.service.d", "usr/lib/systemd/system/user@.service.d"],
        "LimitMEMLOCK",
    )?;
    let mut sys = vec!["etc/systemd/system.conf".to_string()];
    for n in root.list_dir("etc/systemd/system.conf.d")? {
        sys.push(format!("etc/systemd/system.conf.d/{n}"));
    }
    for rel in sys {
        if let Some(text) = root.read_optional(&rel)? {
            for (_, k, v) in parse_unit_file(&text) {
                if k == "DefaultLimitMEMLOCK" {
                    facts.system_default.push(UnitLimit { file: Root::display(&rel), value: v });
                }
            }
        }
    }
    if root.mode() == RootMode::Live
        && let Ok(limits) = procfs::process::Limits::from_file(root.join("proc/self/limits"))
    {
        let show = |l: procfs::process::LimitValue| match l {
            procfs::process::LimitValue::Unlimited => "unlimited".to_string(),
            procfs::process::LimitValue::Value(v) => v.to_string(),
        };
        facts.process = Some((show(limits.max_locked_memory.soft_limit), show(limits.max_locked_memory.hard_limit)));
    }
    Ok(facts)
}

/// `key=` settings in every `*.conf` of the given drop-in directories.
pub fn unit_settings(root: &Root, dirs: &[&str], key: &str) -> Result<Vec<UnitLimit>> {
    let mut out = Vec::new();
    for dir in dirs {
        for n in root.list_dir(dir)? {
            if !n.ends_with(".conf") {
                continue;
            }
            let rel = format!("{dir}/{n}");
            if let Some(text) = root.read_optional(&rel)? {
                for (_, k, v) in parse_unit_file(&text) {
                    if k == key {
                        out.push(UnitLimit { file: Root::display(&rel), value: v });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The XRT libraries FLM and the xdna plugin need
/// (<https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>
/// `preload_bundled_libraries`: flm dlopens
/// libxrt_core.so.2, libxrt_coreutil.so.2, libxrt_driver_xdna.so.2).
pub const XRT_LIBS: &[&str] = &["libxrt_coreutil.so.2", "libxrt_core.so.2", "libxrt_driver_xdna.so.2"];

/// Directories the loader searches without configuration (glibc trusted dirs).
pub const TRUSTED_DIRS: &[&str] =
    &["lib64", "usr/lib64", "lib", "usr/lib", "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"];

/// Where XRT installs outside the loader path.
pub const XRT_DIRS: &[&str] = &["opt/xilinx/xrt/lib64", "opt/xilinx/xrt/lib"];

/// One library's whereabouts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LibFacts {
    /// soname.
    pub soname: String,
    /// Host paths where the file exists (trusted, configured and XRT dirs).
    pub found: Vec<String>,
    /// Host path of the first copy in a directory the loader searches.
    pub resolvable_at: Option<String>,
    /// How that copy is found when not through ld.so.conf or the trusted directories:
    /// `XILINX_XRT` pointing into the Nix store, whose binaries carry the store directory
    /// in their RUNPATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

/// Loader facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LoaderFacts {
    /// (directory, the file that configures it) from ld.so.conf and its includes.
    pub conf_dirs: Vec<(String, String)>,
    /// The XRT libraries.
    pub libs: Vec<LibFacts>,
    /// `opt/xilinx/xrt` exists.
    pub xrt_prefix: bool,
    /// `xrt-smi` under the root.
    pub xrt_smi: Option<String>,
    /// `XILINX_XRT` as the system environment sets it: (value, file that sets it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xilinx_xrt: Vec<(String, String)>,
}

/// Files that set the system-wide environment of login shells: NixOS's generated
/// `/etc/set-environment` (environment.variables and sessionVariables), and profile.d.
pub const ENVIRONMENT_FILES: &[&str] = &["etc/set-environment", "etc/environment"];

/// Where NixOS puts the system profile's and the users' programs
/// (<https://nixos.org/manual/nixos/stable/#sec-package-management>).
pub const NIX_BIN_DIRS: &[&str] = &["run/current-system/sw/bin"];

/// `XILINX_XRT=` assignments in the system environment files (values unquoted).
fn xilinx_xrt(root: &Root) -> Result<Vec<(String, String)>> {
    let mut files: Vec<String> = ENVIRONMENT_FILES.iter().map(|s| s.to_string()).collect();
    let mut pd = root.list_dir("etc/profile.d")?;
    pd.sort();
    files.extend(pd.into_iter().filter(|n| n.ends_with(".sh")).map(|n| format!("etc/profile.d/{n}")));
    let mut out = Vec::new();
    for rel in files {
        let Some(text) = root.read_optional(&rel)? else { continue };
        for line in text.lines() {
            let l = line.trim().trim_start_matches("export ").trim();
            if let Some(v) = l.strip_prefix("XILINX_XRT=") {
                let v = v.trim().trim_matches(['"', '\'']).to_string();
                if v.starts_with('/') {
                    out.push((v, Root::display(&rel)));
                }
            }
        }
    }
    Ok(out)
}

/// Most configuration files the ld.so.conf include walk reads. glibc's ldconfig has no
/// limit; each file is read once here (an include loop ends by itself), so only a tree of
/// more distinct files than this hits it, and that is an error naming the walk, never a
/// silent stop that would miss the XRT entry.
pub const MAX_LD_SO_CONF_FILES: usize = 10_000;

/// Reads ld.so.conf (with includes) and looks for the XRT libraries.
pub fn probe_loader(root: &Root) -> Result<LoaderFacts> {
    probe_loader_within(root, MAX_LD_SO_CONF_FILES)
}

fn probe_loader_within(root: &Root, max_files: usize) -> Result<LoaderFacts> {
    let mut facts = LoaderFacts::default();
    let mut queue = vec!["etc/ld.so.conf".to_string()];
    let mut read = std::collections::HashSet::new();
    while let Some(rel) = queue.pop() {
        // Once per file, however it is reached (twice-included, a loop, a link).
        if !read.insert(root.resolve(&rel).unwrap_or_else(|_| rel.clone().into())) {
            continue;
        }
        if read.len() > max_files {
            anyhow::bail!(
                "/etc/ld.so.conf and its includes name more than {max_files} files (at {}): not judged",
                Root::display(&rel)
            );
        }
        let Some(text) = root.read_optional(&rel)? else { continue };
        let (dirs, includes) = parse_ld_so_conf(&text);
        for d in dirs {
            facts.conf_dirs.push((d, Root::display(&rel)));
        }
        // Relative includes are relative to the including file's directory
        // (glibc elf/ldconfig.c parse_conf_include); Fedora writes `include ld.so.conf.d/*.conf`.
        let here = rel.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
        for inc in includes {
            // Only `dir/*.conf` style globs occur in practice (glibc ld.so.conf).
            let inc =
                if inc.starts_with('/') { inc.trim_start_matches('/').to_string() } else { format!("{here}/{inc}") };
            let inc = inc.as_str();
            let (dir, pat) = inc.rsplit_once('/').unwrap_or(("", inc));
            // `include x.conf` (no `*`) names one file, not every name starting with it.
            let matches = |n: &str| match pat.split_once('*') {
                Some((prefix, suffix)) => {
                    n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix)
                }
                None => n == pat,
            };
            let mut names: Vec<String> =
                root.list_dir(dir)?.into_iter().filter(|n| matches(n) && !root.is_dir(format!("{dir}/{n}"))).collect();
            names.sort();
            for n in names.into_iter().rev() {
                queue.push(format!("{dir}/{n}"));
            }
        }
    }
    facts.xilinx_xrt = xilinx_xrt(root)?;
    // XRT in the Nix store: found through XILINX_XRT, loaded through the RUNPATH every store
    // binary carries; a non-store XILINX_XRT only says where XRT is (ld.so ignores it).
    let env_dirs: Vec<(String, bool)> = facts
        .xilinx_xrt
        .iter()
        .flat_map(|(v, _)| {
            let base = v.trim_start_matches('/').trim_end_matches('/').to_string();
            let store = base.starts_with("nix/store/");
            [(format!("{base}/lib"), store), (format!("{base}/lib64"), store)]
        })
        .collect();
    let conf: Vec<String> = facts.conf_dirs.iter().map(|(d, _)| d.trim_start_matches('/').to_string()).collect();
    let searched: Vec<String> = conf.iter().cloned().chain(TRUSTED_DIRS.iter().map(|s| s.to_string())).collect();
    for soname in XRT_LIBS {
        let mut found = Vec::new();
        let mut resolvable_at = None;
        let mut resolved_by = None;
        let candidates = searched
            .iter()
            .map(|d| (d.clone(), false))
            .chain(XRT_DIRS.iter().map(|s| (s.to_string(), false)))
            .chain(env_dirs.iter().cloned());
        for (dir, store) in candidates {
            let rel = format!("{dir}/{soname}");
            if root.exists(&rel) {
                let shown = Root::display(&rel);
                if !found.contains(&shown) {
                    found.push(shown.clone());
                }
                if resolvable_at.is_none() && searched.contains(&dir) {
                    resolvable_at = Some(shown);
                } else if resolvable_at.is_none() && store {
                    resolvable_at = Some(shown);
                    resolved_by = Some("XILINX_XRT in the Nix store (store binaries carry it in their RUNPATH)".into());
                }
            }
        }
        facts.libs.push(LibFacts { soname: soname.to_string(), found, resolvable_at, resolved_by });
    }
    facts.xrt_prefix = root.is_dir("opt/xilinx/xrt");
    let mut smi: Vec<String> =
        ["opt/xilinx/xrt/bin/xrt-smi", "usr/bin/xrt-smi"].iter().map(|s| s.to_string()).collect();
    smi.extend(NIX_BIN_DIRS.iter().map(|d| format!("{d}/xrt-smi")));
    smi.extend(
        facts
            .xilinx_xrt
            .iter()
            .map(|(v, _)| format!("{}/bin/xrt-smi", v.trim_start_matches('/').trim_end_matches('/'))),
    );
    // Last: where a captured fixture keeps its replay shims (capture writes bin/<name>).
    smi.push("bin/xrt-smi".into());
    facts.xrt_smi = smi.iter().find(|p| root.exists(p)).map(Root::display);
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testkit::tree;

    /// With 199 or more ld.so.conf.d files sorting before XRT's, the walk stopped silently at
    /// 200 and xrt.loader said broken. Every file is read now, each once.
    #[test]
    fn the_include_walk_reads_every_file_once() {
        let mut files: Vec<(String, String)> = vec![
            ("etc/ld.so.conf".into(), "include ld.so.conf.d/*.conf\n".into()),
            ("etc/ld.so.conf.d/zz-xrt.conf".into(), "/opt/xilinx/xrt/lib64\n".into()),
            // An include loop, and a file included twice.
            ("etc/ld.so.conf.d/00-loop.conf".into(), "include /etc/ld.so.conf\ninclude zz-xrt.conf\n".into()),
        ];
        for i in 0..500 {
            files.push((format!("etc/ld.so.conf.d/{i:03}-other.conf"), format!("/usr/lib/other{i}\n")));
        }
        for so in XRT_LIBS {
            files.push((format!("opt/xilinx/xrt/lib64/{so}"), "elf".into()));
        }
        let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (_d, root) = tree(&refs);
        let f = probe_loader(&root).unwrap();
        for lib in &f.libs {
            assert_eq!(
                lib.resolvable_at.as_deref(),
                Some(format!("/opt/xilinx/xrt/lib64/{}", lib.soname).as_str()),
                "{lib:?}"
            );
        }
        let xrt: Vec<_> = f.conf_dirs.iter().filter(|(d, _)| d == "/opt/xilinx/xrt/lib64").collect();
        assert_eq!(xrt, [&("/opt/xilinx/xrt/lib64".to_string(), "/etc/ld.so.conf.d/zz-xrt.conf".to_string())]);
        assert_eq!(f.conf_dirs.len(), 501, "each file once");
    }

    #[test]
    fn more_files_than_the_limit_is_an_error_naming_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/ld.so.conf.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(dir.path().join("etc/ld.so.conf"), "include ld.so.conf.d/*.conf\n").unwrap();
        for i in 0..=100 {
            std::fs::write(d.join(format!("{i:05}.conf")), "").unwrap();
        }
        let root = Root::open(dir.path()).unwrap();
        let err = probe_loader_within(&root, 100).unwrap_err().to_string();
        assert!(err.contains("more than 100 files") && err.contains("/etc/ld.so.conf.d/"), "{err}");
        assert!(probe_loader_within(&root, 102).is_ok());
    }
}

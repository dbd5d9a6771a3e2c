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
}

/// Reads ld.so.conf (with includes) and looks for the XRT libraries.
pub fn probe_loader(root: &Root) -> Result<LoaderFacts> {
    let mut facts = LoaderFacts::default();
    let mut queue = vec!["etc/ld.so.conf".to_string()];
    let mut seen = 0;
    while let Some(rel) = queue.pop() {
        seen += 1;
        if seen > 200 {
            break;
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
            let (prefix, suffix) = pat.split_once('*').unwrap_or((pat, ""));
            let mut names: Vec<String> =
                root.list_dir(dir)?.into_iter().filter(|n| n.starts_with(prefix) && n.ends_with(suffix)).collect();
            names.sort();
            for n in names.into_iter().rev() {
                queue.push(format!("{dir}/{n}"));
            }
        }
    }
    let conf: Vec<String> = facts.conf_dirs.iter().map(|(d, _)| d.trim_start_matches('/').to_string()).collect();
    let searched: Vec<String> = conf.iter().cloned().chain(TRUSTED_DIRS.iter().map(|s| s.to_string())).collect();
    for soname in XRT_LIBS {
        let mut found = Vec::new();
        let mut resolvable_at = None;
        let candidates = searched.iter().cloned().chain(XRT_DIRS.iter().map(|s| s.to_string()));
        for dir in candidates {
            let rel = format!("{dir}/{soname}");
            if root.exists(&rel) {
                let shown = Root::display(&rel);
                if !found.contains(&shown) {
                    found.push(shown.clone());
                }
                if resolvable_at.is_none() && searched.contains(&dir) {
                    resolvable_at = Some(shown);
                }
            }
        }
        facts.libs.push(LibFacts { soname: soname.to_string(), found, resolvable_at });
    }
    facts.xrt_prefix = root.is_dir("opt/xilinx/xrt");
    facts.xrt_smi =
        ["opt/xilinx/xrt/bin/xrt-smi", "usr/bin/xrt-smi"].iter().find(|p| root.exists(p)).map(Root::display);
    Ok(facts)
}

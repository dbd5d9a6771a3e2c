//! Paths as the host resolves them, judged once: which pam_limits configuration login
//! sessions get (the default `limits.conf` + `limits.d`, or the file a PAM service names
//! with `conf=`, as NixOS does), which `flm` the user and the services run, and where the
//! XRT libraries come from (the loader's directories and cache, the `RUNPATH` of the
//! binary, `XILINX_XRT`). The probes (`host::memlock`, `host::commands`) record every
//! candidate; these functions pick the one the system uses.

use serde::Serialize;

use crate::host::Facts;
use crate::host::memlock::MemlockLine;
use crate::host::users::UserFacts;
use crate::parse::limits::{Memlock, parse_memlock_value};

/// PAM services whose sessions are the user's logins, most telling first: the console
/// login, the systemd user manager (desktop sessions' services), ssh, and the fallback.
pub const LOGIN_SERVICES: &[&str] = &["login", "systemd-user", "sshd", "other"];

/// The memlock limit pam_limits gives the user's login sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionMemlock {
    /// Soft limit (None: nothing sets it).
    pub soft: Option<Memlock>,
    /// Hard limit.
    pub hard: Option<Memlock>,
    /// The lines that applied (`file: domain kind memlock value`).
    pub used: Vec<String>,
    /// The `conf=` file PAM reads instead of limits.conf + limits.d, when it names one.
    pub conf: Option<String>,
    /// The PAM service that decided `conf` (None: no pam.d file was read).
    pub service: Option<String>,
}

/// Which pam_limits configuration login sessions read: the `conf=` of the first of
/// [`LOGIN_SERVICES`] that loads pam_limits; else the one `conf=` every service names; else
/// the default files.
pub fn session_conf(f: &Facts) -> (Option<String>, Option<String>) {
    let Some(m) = f.memlock.ok() else { return (None, None) };
    for s in LOGIN_SERVICES {
        if let Some(p) = m.pam.iter().find(|p| p.service == *s) {
            return (p.conf.clone(), Some(p.service.clone()));
        }
    }
    let first = m.pam.first().and_then(|p| p.conf.clone());
    if first.is_some() && m.pam.iter().all(|p| p.conf == first) {
        return (first, m.pam.first().map(|p| p.service.clone()));
    }
    (None, None)
}

/// What pam_limits gives `user`'s login sessions: later lines override earlier ones, `-`
/// sets both (limits.conf(5)); from the `conf=` file when PAM names one.
pub fn session_memlock(f: &Facts, user: Option<&UserFacts>) -> SessionMemlock {
    let mut out = SessionMemlock::default();
    let Some(m) = f.memlock.ok() else { return out };
    let (conf, service) = session_conf(f);
    let lines: Vec<&MemlockLine> = match conf.as_deref() {
        // limits.conf named explicitly: read it alone (no limits.d).
        Some("/etc/security/limits.conf") => {
            m.limits.iter().filter(|l| l.file == "/etc/security/limits.conf").collect()
        }
        Some(c) => m.conf_limits.iter().filter(|l| l.file == c).collect(),
        None => m.limits.iter().collect(),
    };
    out.conf = conf;
    out.service = service;
    for l in lines {
        let applies = l.domain == "*"
            || user.is_some_and(|u| {
                l.domain == u.name || l.domain.strip_prefix('@').is_some_and(|g| u.groups.iter().any(|(n, _)| n == g))
            });
        if !applies {
            continue;
        }
        let Some(v) = parse_memlock_value(&l.value) else { continue };
        out.used.push(format!("{}: {} {} memlock {}", l.file, l.domain, l.kind, l.value));
        match l.kind.as_str() {
            "soft" => out.soft = Some(v),
            "hard" => out.hard = Some(v),
            _ => {
                out.soft = Some(v);
                out.hard = Some(v);
            }
        }
    }
    out
}

/// Where flm gets an XRT library, and how: the loader's search (ld.so.conf, the trusted
/// directories, `XILINX_XRT` in the Nix store), else flm's own RUNPATH.
pub fn xrt_lib(f: &Facts, soname: &str) -> Option<(String, String)> {
    let l = f.loader.ok()?;
    let lib = l.libs.iter().find(|x| x.soname == soname);
    if let Some(at) = lib.and_then(|x| x.resolvable_at.clone()) {
        let how = lib.and_then(|x| x.resolved_by.clone()).unwrap_or_else(|| "the dynamic loader's path".into());
        return Some((at, how));
    }
    f.flm
        .ok()?
        .runpath_libs
        .iter()
        .find(|(s, _)| s == soname)
        .map(|(_, p)| (p.clone(), "the RUNPATH of flm".to_string()))
}

/// The first XRT release whose runtime finds its xdna plugin only beside the
/// `libxrt_coreutil.so.2` the process loaded: XRT 2.25 ignores `XILINX_XRT` and derives its
/// root with `dladdr` on libxrt_coreutil (<https://github.com/ROCm/FastFlowLM/pull/689>).
pub const PLUGIN_BESIDE_COREUTIL_FROM: &str = "2.25";

/// flm loads a `libxrt_coreutil.so.2` from a directory without the xdna plugin, under an
/// XRT that looks for the plugin only there: XRT enumerates no device for flm ("No such
/// device with index '0'") although the plugin exists elsewhere (`XILINX_XRT`, another
/// store path). An `LD_LIBRARY_PATH` of the process (a unit's) can still put another copy
/// first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginNotBeside {
    /// The libxrt_coreutil.so.2 flm loads.
    pub coreutil: String,
    /// How flm finds it (its RUNPATH, the loader's path).
    pub how: String,
    /// The XRT release.
    pub xrt: String,
    /// Where the plugin is instead (may be empty).
    pub plugin_elsewhere: Vec<String>,
}

/// Judges where XRT >= 2.25 looks for its plugin for flm: None when the XRT release is
/// older or unknown, flm's libxrt_coreutil is not located, or the plugin is beside it.
/// "Beside" holds where the build's `XRT_LIB_DIR` matches the directory coreutil sits in; a
/// multiarch build (`lib/x86_64-linux-gnu`) loaded from a plain `lib/` (FastFlowLM's portable
/// tree before #689) looks elsewhere still, which this does not judge.
pub fn plugin_not_beside_coreutil(f: &Facts, r: &crate::recipes::Recipes) -> Option<PluginNotBeside> {
    let xrt = super::stack::xrt_version(f, r)?;
    let v = crate::parse::version::parse_dotted(&xrt)?;
    if v < crate::parse::version::parse_dotted(PLUGIN_BESIDE_COREUTIL_FROM)? {
        return None;
    }
    // DT_RUNPATH is searched before ld.so.cache and the default directories.
    let flm = f.flm.ok()?;
    flm.binary.as_ref()?;
    let runpath = flm.runpath_libs.iter().find(|(s, _)| s == "libxrt_coreutil.so.2").map(|(_, p)| p.clone());
    let lib = |so: &str| f.loader.ok().and_then(|l| l.libs.iter().find(|x| x.soname == so));
    let (coreutil, how) = match runpath {
        Some(p) => (p, "the RUNPATH of flm".to_string()),
        // Only a copy the loader itself finds (ld.so.conf, the trusted directories):
        // `XILINX_XRT` is no loader path.
        None => {
            let c = lib("libxrt_coreutil.so.2").filter(|x| x.resolved_by.is_none())?;
            (c.resolvable_at.clone()?, "the dynamic loader's path".to_string())
        }
    };
    let dir = coreutil.rsplit_once('/').map(|(d, _)| d)?;
    let mut plugin: Vec<String> = lib("libxrt_driver_xdna.so.2").map(|x| x.found.clone()).unwrap_or_default();
    plugin.extend(flm.runpath_libs.iter().filter(|(s, _)| s == "libxrt_driver_xdna.so.2").map(|(_, p)| p.clone()));
    if plugin.iter().any(|p| p.rsplit_once('/').is_some_and(|(d, _)| d == dir)) {
        return None;
    }
    plugin.sort();
    plugin.dedup();
    Some(PluginNotBeside { coreutil, how, xrt, plugin_elsewhere: plugin })
}

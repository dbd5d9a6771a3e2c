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

//! `lemonade-service`: the installed Lemonade runs the installed FastFlowLM, reads models from
//! a shared directory, may pin memory, binds where it should, and is enabled and running.
//!
//! How a release is pointed at flm follows `recipes/lemonade.yaml` (knowledge::lemonade):
//! before 10.10 through the service's PATH (our drop-in); from 10.10 through `flm.npu_bin` in
//! its config.json (an `EditJson` that keeps every other setting, in the cache directory up to
//! 11.7 and the StateDirectory from 11.8). Memory locking: the stock unit's
//! `AmbientCapabilities=CAP_SYS_RESOURCE` (10.0.1 on) suffices; any other unit gets
//! `LimitMEMLOCK=infinity`.
//!
//! The unit follows the installed generation
//! (<https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/data/lemonade-server.service.in>,
//! <https://github.com/lemonade-sdk/lemonade/blob/158c04665acfc6ef7a57349e956737d4a9615ec0/data/lemonade-server.service.in>,
//! <https://github.com/lemonade-sdk/lemonade/blob/1938f30432f0245511bb652b4b1fb8bb82a30843/data/lemond.service.in>;
//! ports:
//! <https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/src/cpp/include/lemon/cli_parser.h>,
//! <https://github.com/lemonade-sdk/lemonade/blob/158c04665acfc6ef7a57349e956737d4a9615ec0/src/cpp/resources/defaults.json>):
//! `lemond.service` from
//! v10.3, `lemonade-server.service` before (ExecStart `lemonade-server serve` in 10.0, `lemond`
//! in 10.1/10.2); default port 8000 in 10.0, 13305 since 10.1. A packaged unit gets a drop-in
//! `/etc/systemd/system/<unit>.d/50-npu-setup.conf`; without one a whole unit is written. Like
//! `limits`, the drop-in is written only when the unit's effective configuration lacks
//! something (or when ours is already there and out of date), so a host configured by hand is
//! left alone.

use anyhow::Result;

use super::{Action, Plan, Step, StepCtx};
use crate::edit::managed::{is_managed, managed_file};
use crate::host::services::{LemonadeFacts, UnitFacts};
use crate::knowledge::lemonade as knowledge;
use crate::lemonade;
use crate::parse::version::parse_dotted;
use crate::root::Root;

/// Seconds the ExecStartPost readiness check waits.
pub const READY_TIMEOUT: u64 = 60;

const DROPIN_TEMPLATE: &str = include_str!("../../templates/systemd/lemonade-dropin.conf");
const UNIT_TEMPLATE: &str = include_str!("../../templates/systemd/lemonade.service");

/// Lemonade layouts that differ in names, ports and units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// 10.0: `lemonade-server serve` + `lemonade-router`, port 8000, `lemonade-server.service`.
    V10_0,
    /// 10.1-10.2: `lemond`, port 13305, still `lemonade-server.service`.
    V10_1,
    /// 10.3+: `lemond`, port 13305, `lemond.service`.
    V10_3,
}

impl Generation {
    /// From the installed version when known, else from the binaries and units present.
    pub fn detect(version: Option<&str>, l: &LemonadeFacts) -> Generation {
        if let Some(v) = version.and_then(parse_dotted) {
            return if v < parse_dotted("10.1").unwrap_or_default() {
                Generation::V10_0
            } else if v < parse_dotted("10.3").unwrap_or_default() {
                Generation::V10_1
            } else {
                Generation::V10_3
            };
        }
        let lemond = l.binaries.iter().any(|b| b.ends_with("/lemond"));
        let router = l.binaries.iter().any(|b| b.ends_with("/lemonade-router"));
        let old_unit = l.units.iter().any(|u| u.name == "lemonade-server.service");
        let new_unit = l.units.iter().any(|u| u.name == "lemond.service");
        match (lemond, router) {
            (false, true) => Generation::V10_0,
            (true, _) if old_unit && !new_unit => Generation::V10_1,
            _ => Generation::V10_3,
        }
    }

    /// The unit name this generation ships.
    pub fn unit(self) -> &'static str {
        match self {
            Generation::V10_3 => "lemond.service",
            _ => "lemonade-server.service",
        }
    }

    /// Default port.
    pub fn port(self) -> u16 {
        match self {
            Generation::V10_0 => lemonade::LEGACY_PORT,
            _ => lemonade::DEFAULT_PORT,
        }
    }
}

/// The models to pull/load: `--model`, else the recipe's list.
pub fn wanted_models(cx: &StepCtx) -> Vec<String> {
    if cx.args.model.is_empty() { cx.recipes.lemonade.models.clone() } else { cx.args.model.clone() }
}

fn is_loopback(h: &str) -> bool {
    matches!(h, "localhost" | "::1" | "[::1]") || h.starts_with("127.")
}

fn is_wildcard(h: &str) -> bool {
    matches!(h, "0.0.0.0" | "::" | "[::]" | "")
}

/// `flm` in one of the PATH directories, under the root.
fn flm_on_path(cx: &StepCtx, path: &str) -> bool {
    path.split(':').filter(|d| !d.is_empty()).any(|d| cx.root.is_file(format!("{}/flm", d.trim_end_matches('/'))))
}

/// Where npu-setup itself is, for the readiness ExecStartPost: installed in the root, else
/// (live root) this binary.
fn self_path(cx: &StepCtx) -> Option<String> {
    for p in ["usr/bin/npu-setup", "usr/local/bin/npu-setup", "usr/sbin/npu-setup", "usr/local/sbin/npu-setup"] {
        if cx.root.is_file(p) {
            return Some(Root::display(p));
        }
    }
    if cx.root.mode() == crate::root::RootMode::Live {
        return std::env::current_exe().ok().map(|p| p.display().to_string());
    }
    None
}

fn user_exists(cx: &StepCtx, name: &str) -> Result<bool> {
    Ok(crate::host::users::Accounts::read(cx.root)?.user(name).is_some())
}

/// Points a release that reads `flm.npu_bin` (10.10 on) at the installed FastFlowLM: an
/// edit of its config.json that keeps every other setting (created, with its directories,
/// owned by the service user when Lemonade has not written one yet). Left alone when
/// Lemonade already runs that flm, or when someone chose another one (an existing path, a
/// tag, `LEMONADE_FLM_NPU_BIN`). True when an action was planned.
fn configure_npu_bin(cx: &StepCtx, u: &UnitFacts, rel: &knowledge::Release, p: &mut Plan) -> Result<bool> {
    let Some(flm) = cx.facts.flm.ok().and_then(|f| f.binary.clone()) else {
        p.notes.push(format!(
            "no FastFlowLM installed: Lemonade {} runs its own copy (downloaded on the first NPU load)",
            rel.version
        ));
        return Ok(false);
    };
    if let knowledge::LemonadeFlm::Judged(j) = knowledge::flm(cx.facts, cx.recipes)
        && let Some(c) = &j.choice
        && c.kind != knowledge::ChosenKind::OwnCopy
        && c.binary.as_deref() == Some(flm.as_str())
    {
        return Ok(false);
    }
    if let Some(v) = u.env("LEMONADE_FLM_NPU_BIN").filter(|v| !v.trim().is_empty() && v.trim() != "builtin") {
        p.notes.push(format!(
            "{}: LEMONADE_FLM_NPU_BIN={v} in its environment chooses Lemonade's flm (it wins over config.json): left alone",
            u.name
        ));
        return Ok(false);
    }
    let Some((dir, file)) = knowledge::config_file(u, cx.recipes, rel.parsed) else {
        p.notes.push(format!(
            "cannot tell where Lemonade {} keeps config.json for {} (its User= has no home in /etc/passwd): set flm.npu_bin to {flm} by hand (lemonade config set flm.npu_bin={flm})",
            rel.version, u.name
        ));
        return Ok(false);
    };
    let current = u.dirs.iter().find(|d| d.path == dir).and_then(|d| d.config.as_ref());
    if let Some(c) = current {
        if let Some(e) = &c.error {
            p.notes.push(format!("{file} cannot be read ({e}): left alone; Lemonade sets such a file aside"));
            return Ok(false);
        }
        if let Some(v) = c.npu_bin.as_deref().filter(|v| !v.trim().is_empty() && v.trim() != "builtin") {
            let stale = v.starts_with('/') && u.npu_bin_paths.iter().any(|(q, e)| q == v && !e);
            if !stale {
                p.notes.push(format!("{file} sets flm.npu_bin = {v:?}: someone chose that flm, left alone"));
                return Ok(false);
            }
        }
    }
    let owner = u.user.clone().filter(|n| user_exists(cx, n).unwrap_or(false));
    if owner.is_none() && current.is_none() {
        p.notes.push(format!("{file} is created owned by root: Lemonade may not be able to save its settings"));
    }
    // Directories Lemonade has not created yet, top down, owned by the service user.
    let mut missing = Vec::new();
    let mut d = dir.trim_start_matches('/').to_string();
    while !d.is_empty() && !cx.root.is_dir(&d) {
        missing.push(d.clone());
        d = d.rsplit_once('/').map(|(a, _)| a.to_string()).unwrap_or_default();
    }
    for m in missing.into_iter().rev() {
        // A StateDirectory= is 0750 in Lemonade's unit; the rest as lemond creates them.
        let state = u.state_directory.as_ref().is_some_and(|s| m == format!("var/lib/{s}"));
        p.actions.push(Action::MakeDir { path: m, mode: if state { 0o750 } else { 0o755 }, owner: owner.clone() });
    }
    p.notes.push(format!("Lemonade {} runs the installed FastFlowLM {flm} once {file} names it", rel.version));
    p.actions.push(Action::EditJson {
        path: file.trim_start_matches('/').to_string(),
        key: vec!["flm".into(), "npu_bin".into()],
        value: serde_json::Value::String(flm),
        mode: 0o644,
        owner,
    });
    Ok(true)
}

/// The lemonade-service step.
pub struct LemonadeService;

impl Step for LemonadeService {
    fn id(&self) -> &'static str {
        "lemonade-service"
    }
    fn summary(&self) -> &'static str {
        "Lemonade unit or drop-in and config: the installed flm, model dir, memlock, bind address"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let Some(l) = cx.facts.lemonade.ok() else {
            p.blocked = Some(format!("cannot read Lemonade's files: {}", cx.facts.lemonade.reason().unwrap_or("")));
            return Ok(p);
        };
        if l.binaries.is_empty() {
            p.notes.push("Lemonade is not installed yet (the lemonade step installs it)".into());
            return Ok(p);
        }
        let version = super::lemonade::installed_version(cx);
        let generation = Generation::detect(version.as_deref(), l);
        let existing: Option<&UnitFacts> = l.unit();
        // Our own whole unit (written earlier) is re-rendered, never treated as a package's.
        let own_unit = existing.and_then(|u| {
            let rel = format!("etc/systemd/system/{}", u.name);
            cx.root.read_optional(&rel).ok().flatten().filter(|t| is_managed(t)).map(|_| rel)
        });
        let unit_name = existing.map(|u| u.name.clone()).unwrap_or_else(|| generation.unit().to_string());
        let full_unit = existing.is_none() || own_unit.is_some();
        let target = if full_unit {
            format!("etc/systemd/system/{unit_name}")
        } else {
            format!("etc/systemd/system/{unit_name}.d/{}", cx.recipes.files.lemonade_dropin)
        };

        // What the settings are.
        let port = cx.args.lemonade_port.unwrap_or_else(|| generation.port());
        let host = cx.args.lemonade_host.clone().unwrap_or_else(|| lemonade::DEFAULT_HOST.into());
        if !is_loopback(&host) && !l.api_key_set {
            let files: Vec<String> =
                existing.map(|u| u.environment_files.iter().map(|(f, _)| f.clone()).collect()).unwrap_or_default();
            p.blocked = Some(format!(
                "Lemonade would listen on {host} without an API key: set LEMONADE_API_KEY in the service's environment{} first (npu-setup generates no keys), or drop --lemonade-host",
                if files.is_empty() { String::new() } else { format!(" ({})", files.join(", ")) }
            ));
            return Ok(p);
        }
        let flm_dir = cx
            .facts
            .flm
            .ok()
            .and_then(|f| f.binary.clone())
            .and_then(|b| b.rsplit_once('/').map(|(d, _)| d.to_string()));
        // How this release picks flm: PATH before 10.10, its config.json's flm.npu_bin from
        // 10.10 (recipes/lemonade.yaml flm_selection). Unknown release: the PATH drop-in,
        // which is all releases before 10.10 need and harmless for later ones.
        let release = knowledge::release(cx.facts, cx.recipes);
        let by_config = release.as_ref().is_some_and(|r| knowledge::reads_npu_bin(cx.recipes, r.parsed));
        let path = match &flm_dir {
            _ if by_config => None,
            Some(d) if !cx.recipes.files.systemd_default_path.split(':').any(|x| x == d) => {
                Some(format!("{d}:{}", cx.recipes.files.systemd_default_path))
            }
            Some(_) => Some(cx.recipes.files.systemd_default_path.to_string()),
            None => None,
        };
        if release.is_none() && flm_dir.is_some() {
            p.notes.push("Lemonade's version is unknown: its flm is set through PATH (from 10.10 Lemonade needs flm.npu_bin in its config.json instead; run install again once it is known)".into());
        }
        // The stock unit from 10.0.1 grants CAP_SYS_RESOURCE, which lemond hands on to flm;
        // other units get LimitMEMLOCK=infinity.
        let cap_ok = existing.is_some_and(|u| knowledge::cap_suffices(u, release.as_ref(), cx.recipes));
        let model_dir = existing.and_then(|u| u.env("FLM_MODEL_PATH")).filter(|_| own_unit.is_none() && !full_unit);
        let model_dir = model_dir.map(str::to_string).unwrap_or_else(|| cx.recipes.files.flm_model_dir.clone());
        let models = wanted_models(cx);
        let mut settings = Vec::new();
        if let Some(pth) = &path {
            settings.push(format!("Environment=PATH={pth}"));
        }
        settings.push(format!("Environment=FLM_MODEL_PATH={model_dir}"));
        if generation != Generation::V10_0 {
            settings.push(
                "# UNVERIFIED: since 10.1 lemond reads its settings from config.json; it is assumed to still honour these".into(),
            );
        }
        settings.push(format!("Environment=LEMONADE_HOST={host}"));
        settings.push(format!("Environment=LEMONADE_PORT={port}"));
        if !cap_ok || full_unit {
            settings.push("LimitMEMLOCK=infinity".into());
        }
        let ready_host = if is_wildcard(&host) || host == "localhost" {
            lemonade::DEFAULT_HOST.to_string()
        } else if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let mut write_notes = Vec::new();
        match self_path(cx) {
            Some(me) => settings.push(format!(
                "ExecStartPost=-{me} dev lemonade-ready --url {} --timeout {READY_TIMEOUT}{}",
                lemonade::base_url(&ready_host, port),
                models.first().map(|m| format!(" --load {}", lemonade::model_name(m))).unwrap_or_default()
            )),
            None => write_notes.push(
                "npu-setup is not installed in this root (/usr/local/bin/npu-setup): the unit gets no readiness check"
                    .to_string(),
            ),
        }
        let settings = settings.join("\n");
        let user = existing.and_then(|u| u.user.clone()).filter(|_| !full_unit);
        let user = match user {
            Some(u) => Some(u),
            None if full_unit && user_exists(cx, "lemonade")? => Some("lemonade".to_string()),
            None => None,
        };
        let content = if full_unit {
            let exec = match generation {
                Generation::V10_0 => l
                    .binaries
                    .iter()
                    .find(|b| b.ends_with("/lemonade-server"))
                    .map(|b| format!("{b} serve"))
                    .or_else(|| l.binaries.iter().find(|b| b.ends_with("/lemonade-router")).cloned()),
                _ => l.binaries.iter().find(|b| b.ends_with("/lemond")).cloned(),
            };
            let Some(exec) = exec else {
                p.blocked =
                    Some(format!("no Lemonade server binary for a {unit_name} unit among {}", l.binaries.join(", ")));
                return Ok(p);
            };
            if user.is_none() {
                write_notes.push("no `lemonade` user in /etc/passwd: the unit runs Lemonade as root".to_string());
            }
            managed_file(
                "#",
                &UNIT_TEMPLATE
                    .replace("{{unit}}", &unit_name)
                    .replace("{{user}}", &user.as_ref().map(|u| format!("User={u}\n")).unwrap_or_default())
                    .replace("{{exec_start}}", &exec)
                    .replace("{{settings}}", &settings),
            )
        } else {
            managed_file("#", &DROPIN_TEMPLATE.replace("{{settings}}", &settings))
        };

        // Does the unit as it runs now lack anything?
        let current = cx.root.read_optional(&target)?;
        let ours_present = current.as_deref().is_some_and(is_managed);
        let lacking: Vec<String> = match existing {
            None => vec![format!("no {unit_name} unit")],
            Some(u) => {
                let mut v = Vec::new();
                let eff_path = u.env("PATH").unwrap_or(&cx.recipes.files.systemd_default_path);
                if let Some(d) = &flm_dir
                    && !by_config
                    && !flm_on_path(cx, eff_path)
                {
                    v.push(format!("{d} (flm) is not on the service's PATH"));
                }
                if u.env("FLM_MODEL_PATH").is_none() {
                    v.push("no FLM_MODEL_PATH (models in ~/.config/flm are invisible to the service)".into());
                }
                let m = knowledge::unit_memlock(u, release.as_ref(), cx.recipes);
                if !m.ok() {
                    v.push(format!("flm cannot pin memory ({})", m.describe()));
                }
                let eff_host = u.env("LEMONADE_HOST").or_else(|| u.exec_flag("--host"));
                let eff_port = u.env("LEMONADE_PORT").or_else(|| u.exec_flag("--port"));
                if let Some(h) = &cx.args.lemonade_host
                    && eff_host != Some(h.as_str())
                {
                    v.push(format!("it does not bind to {h} (--lemonade-host)"));
                } else if eff_host.is_some_and(|h| !is_loopback(h)) && !l.api_key_set {
                    v.push(format!("it listens on {} without an API key", eff_host.unwrap_or_default()));
                }
                if let Some(pt) = cx.args.lemonade_port
                    && eff_port.and_then(|x| x.parse::<u16>().ok()) != Some(pt)
                {
                    v.push(format!("it does not listen on port {pt} (--lemonade-port)"));
                }
                v
            }
        };
        let write = (!lacking.is_empty() || ours_present || own_unit.is_some()) && current.as_deref() != Some(&content);
        if write {
            if !lacking.is_empty() {
                p.notes.push(format!("{unit_name}: {}", lacking.join("; ")));
            }
            p.notes.extend(write_notes);
            p.actions.push(Action::WriteFile { path: target.clone(), content, mode: 0o644 });
        } else if let Some(u) = existing
            && ours_present
            && (u.env("LEMONADE_PORT") != Some(port.to_string().as_str()))
        {
            p.notes.push(format!(
                "{unit_name}: LEMONADE_PORT is {} in an EnvironmentFile, which overrides {}",
                u.env("LEMONADE_PORT").unwrap_or("unset"),
                Root::display(&target)
            ));
        }
        let model_rel = model_dir.trim_start_matches('/').to_string();
        if !cx.root.is_dir(&model_rel) {
            let owner = user.clone().filter(|u| user_exists(cx, u).unwrap_or(false));
            p.actions.push(Action::MakeDir { path: model_rel, mode: 0o755, owner });
        }
        // From 10.10: the installed FastFlowLM named in the release's config.json.
        let configured = match (by_config, existing, &release) {
            (true, Some(u), Some(r)) => self::configure_npu_bin(cx, u, r, &mut p)?,
            _ => false,
        };
        let write_or_configured = write || configured;

        // Enabled and running.
        let sc = |args: &[&str]| cx.systemctl(args);
        if cx.offline() {
            // Never start anything in another system's tree: enabling is a symlink.
            let wants = format!("etc/systemd/system/multi-user.target.wants/{unit_name}");
            if cx.root.read_link_optional(&wants)?.is_none() {
                p.actions
                    .push(Action::Run { argv: sc(&["enable", &unit_name]), why: format!("start {unit_name} at boot") });
            }
            return Ok(p);
        }
        if write {
            p.actions
                .push(Action::Run { argv: sc(&["daemon-reload"]), why: format!("load {}", Root::display(&target)) });
        }
        let rt = existing.and_then(|u| u.runtime.clone());
        if existing.is_some() && rt.is_none() && !write_or_configured {
            let e = existing.and_then(|u| u.runtime_error.clone()).unwrap_or_default();
            p.notes.push(format!("cannot ask systemd about {unit_name} ({e}): its state is not changed"));
            return Ok(p);
        }
        let rt = rt.unwrap_or_default();
        let active = rt.active_state == "active";
        let enabled =
            matches!(rt.unit_file_state.as_str(), "enabled" | "enabled-runtime" | "static" | "alias" | "generated");
        if !active {
            let args: &[&str] = if enabled { &["start", &unit_name] } else { &["enable", "--now", &unit_name] };
            p.actions.push(Action::Run { argv: sc(args), why: format!("run {unit_name} now and at boot") });
        } else {
            if !enabled {
                p.actions
                    .push(Action::Run { argv: sc(&["enable", &unit_name]), why: format!("start {unit_name} at boot") });
            }
            if write_or_configured {
                p.actions.push(Action::Run {
                    argv: sc(&["restart", &unit_name]),
                    why: format!("{unit_name} picks up the new settings"),
                });
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations() {
        let facts = |bins: &[&str], units: &[&str]| LemonadeFacts {
            binaries: bins.iter().map(|s| s.to_string()).collect(),
            units: units.iter().map(|u| UnitFacts { name: u.to_string(), ..Default::default() }).collect(),
            ..Default::default()
        };
        let old = facts(&["/opt/bin/lemonade-router", "/opt/bin/lemonade-server"], &["lemonade-server.service"]);
        let mid = facts(&["/usr/bin/lemond"], &["lemonade-server.service"]);
        let new = facts(&["/usr/bin/lemond"], &["lemond.service"]);
        let bare = facts(&["/usr/bin/lemond"], &[]);
        let cases = [
            (None, &old, Generation::V10_0, "lemonade-server.service", 8000),
            (None, &mid, Generation::V10_1, "lemonade-server.service", 13305),
            (None, &new, Generation::V10_3, "lemond.service", 13305),
            (None, &bare, Generation::V10_3, "lemond.service", 13305),
            (Some("10.0.0-1"), &new, Generation::V10_0, "lemonade-server.service", 8000),
            (Some("10.2.0"), &new, Generation::V10_1, "lemonade-server.service", 13305),
            (Some("10.3.0-1.fc44"), &old, Generation::V10_3, "lemond.service", 13305),
            (Some("11.7.0"), &old, Generation::V10_3, "lemond.service", 13305),
        ];
        for (v, f, g, unit, port) in cases {
            let got = Generation::detect(v, f);
            assert_eq!(got, g, "{v:?} {:?}", f.binaries);
            assert_eq!(got.unit(), unit);
            assert_eq!(got.port(), port);
        }
    }

    #[test]
    fn hosts() {
        for h in ["127.0.0.1", "127.0.1.1", "localhost", "::1"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "192.168.1.5", "::"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}

//! Lemonade (binaries, systemd units, environment, HTTP API) and the GPU side (render nodes,
//! the llama-swap / OpenAI-compatible endpoint).
//!
//! Lemonade facts
//! (<https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/CMakeLists.txt>,
//! <https://github.com/lemonade-sdk/lemonade/blob/158c04665acfc6ef7a57349e956737d4a9615ec0/CMakeLists.txt>,
//! <https://github.com/lemonade-sdk/lemonade/blob/1938f30432f0245511bb652b4b1fb8bb82a30843/data/lemond.service.in>,
//! <https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/src/cpp/server/server.cpp>):
//! v10.0.0 ships `lemonade-server` +
//! `lemonade-router`, port 8000, unit `lemonade-server.service`; v10.1 renamed the router
//! `lemond` and moved to port 13305; v10.3 renamed the unit `lemond.service`. `/live` needs
//! no API key; `/api/v1/*` does when `LEMONADE_API_KEY` is set. Ports, routes and the API
//! key's origin are `crate::lemonade`'s.
//!
//! Per unit, the probe also resolves every directory any Lemonade release would use for that
//! service (the `config` and `cache_dirs` templates of `recipes/lemonade.yaml`: its
//! environment, `StateDirectory=`/`CacheDirectory=`, the home of its `User=`) and reads what
//! decides its flm there: config.json's `flm.prefer_system`/`flm.npu_bin`, and its own flm
//! with version.txt. Which of them the installed release uses is knowledge::lemonade's call.

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{ProbeOptions, Probed};
use crate::lemonade::{self, ApiKey};
use crate::net::http::{Client, HttpResult, Timeouts};
use crate::parse::secret::{REDACTED, is_secret_name};
use crate::parse::shellvars::parse_env_lenient;
use crate::parse::systemctl::{
    parse_environment, parse_environment_files, parse_exec_start_argv, parse_show, parse_unit_file,
};
use crate::recipes::{LemonadeRecipe, Recipes};
use crate::root::{Root, RootMode};
use crate::runner::Runner;

/// Lemonade unit names, newest first.
pub const LEMONADE_UNITS: &[&str] = &["lemond.service", "lemonade-server.service"];
/// Where Lemonade binaries live (RPM/DEB `usr/bin`, v10.0 CPack `opt/bin`).
pub const LEMONADE_BINARIES: &[&str] = &[
    "usr/bin/lemond",
    "opt/bin/lemond",
    "usr/local/bin/lemond",
    "usr/bin/lemonade-router",
    "opt/bin/lemonade-router",
    "usr/bin/lemonade-server",
    "opt/bin/lemonade-server",
    "usr/bin/lemonade",
];
/// Directories systemd loads units from (and that capture copies).
pub const UNIT_DIRS: &[&str] =
    &["etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system", "opt/lib/systemd/system"];

/// Runtime state from `systemctl show`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct UnitRuntime {
    /// `loaded`, `not-found`…
    pub load_state: String,
    /// `active`, `inactive`, `failed`…
    pub active_state: String,
    /// `running`, `dead`…
    pub sub_state: String,
    /// `enabled`, `disabled`…
    pub unit_file_state: String,
}

/// One Lemonade unit, as its files (and systemd, when running) describe it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct UnitFacts {
    /// Unit name.
    pub name: String,
    /// Host path of the unit file.
    pub fragment: Option<String>,
    /// Host paths of drop-ins.
    pub dropins: Vec<String>,
    /// ExecStart argv.
    pub exec_start: Vec<String>,
    /// Environment (Environment= then EnvironmentFile= contents); secrets redacted.
    pub environment: Vec<(String, String)>,
    /// EnvironmentFile= paths and whether each exists.
    pub environment_files: Vec<(String, bool)>,
    /// `User=`.
    pub user: Option<String>,
    /// `LimitMEMLOCK=`.
    pub limit_memlock: Option<String>,
    /// `ProtectHome=`.
    pub protect_home: Option<String>,
    /// From `systemctl show`.
    pub runtime: Option<UnitRuntime>,
    /// Why the runtime state is unknown.
    pub runtime_error: Option<String>,
    /// The `flm` the service's PATH finds (its `Environment=PATH`, else systemd's default),
    /// as a host path; none when no directory on it holds one.
    #[serde(default)]
    pub flm_on_path: Option<String>,
    /// `AmbientCapabilities=` of the unit and its drop-ins (an empty assignment resets).
    #[serde(default)]
    pub ambient_capabilities: Vec<String>,
    /// `StateDirectory=` (its first name).
    #[serde(default)]
    pub state_directory: Option<String>,
    /// `CacheDirectory=` (its first name).
    #[serde(default)]
    pub cache_directory: Option<String>,
    /// The home of the unit's `User=` in etc/passwd (systemd sets `$HOME` to it).
    #[serde(default)]
    pub home: Option<String>,
    /// Lemonade's directories as this service resolves them (`recipes/lemonade.yaml`
    /// `config` and `cache_dirs` templates), with the config.json and own flm found there.
    #[serde(default)]
    pub dirs: Vec<LemonadeDir>,
    /// Every path given as flm's `npu_bin` (`LEMONADE_FLM_NPU_BIN`, config.json
    /// `flm.npu_bin`) and whether it is a file.
    #[serde(default)]
    pub npu_bin_paths: Vec<(String, bool)>,
}

/// One of Lemonade's directories for a service, and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LemonadeDir {
    /// The recipe's template (`$HOME/.cache/lemonade`).
    pub template: String,
    /// The host path it resolves to for this service.
    pub path: String,
    /// The settings file there, when present.
    #[serde(default)]
    pub config: Option<LemonadeConfig>,
    /// Lemonade's own flm there, when present.
    #[serde(default)]
    pub own_flm: Option<OwnFlmCopy>,
    /// Why the directory could not be read (it exists or not: unknown).
    #[serde(default)]
    pub error: Option<String>,
}

/// What Lemonade's config.json says about flm.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LemonadeConfig {
    /// Host path.
    pub path: String,
    /// `flm.prefer_system`.
    #[serde(default)]
    pub prefer_system: Option<bool>,
    /// `flm.npu_bin`.
    #[serde(default)]
    pub npu_bin: Option<String>,
    /// Why it could not be read (Lemonade renames a file it cannot parse and uses defaults).
    #[serde(default)]
    pub error: Option<String>,
}

/// Lemonade's own flm in its cache.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OwnFlmCopy {
    /// Host path of the executable.
    pub binary: String,
    /// The tag in version.txt (`v1.0.1`); none when the file is missing.
    #[serde(default)]
    pub version: Option<String>,
}

impl UnitFacts {
    /// Last value of an environment variable.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.environment.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value following `--flag` (or `--flag=value`) in ExecStart.
    pub fn exec_flag(&self, flag: &str) -> Option<&str> {
        let mut it = self.exec_start.iter();
        while let Some(a) = it.next() {
            if a == flag {
                return it.next().map(String::as_str);
            }
            if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
        }
        None
    }
}

/// Lemonade facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LemonadeFacts {
    /// Host paths of Lemonade binaries found.
    pub binaries: Vec<String>,
    /// Units whose file exists.
    pub units: Vec<UnitFacts>,
    /// Base URL probed.
    pub base_url: Option<String>,
    /// How the URL was chosen.
    pub url_source: Option<String>,
    /// An API key is configured (value never recorded).
    pub api_key_set: bool,
    /// That key, for clients of this Lemonade (never serialised; see
    /// `lemonade::api_key` for the order in which keys are chosen).
    #[serde(skip)]
    pub api_key: Option<ApiKey>,
    /// GET /live.
    pub live: Option<HttpResult>,
    /// GET /api/v1/health.
    pub health: Option<HttpResult>,
    /// GET /api/v1/system-info.
    pub system_info: Option<HttpResult>,
    /// Links that make systemd's user manager start Lemonade's per-user unit in every login
    /// session (`default.target.wants/` of the global user-unit directories and of each
    /// user's `~/.config/systemd/user`), as host paths; each leads to a unit file.
    #[serde(default)]
    pub session_links: Vec<String>,
}

impl LemonadeFacts {
    /// The unit that matters: the first one whose file exists.
    pub fn unit(&self) -> Option<&UnitFacts> {
        self.units.first()
    }
}

/// Values of variables whose names look secret are never recorded.
fn redact(vars: Vec<(String, String)>) -> Vec<(String, String)> {
    vars.into_iter()
        .map(|(k, v)| if is_secret_name(&k) && !v.is_empty() { (k, REDACTED.into()) } else { (k, v) })
        .collect()
}

/// Reads Lemonade's files (binaries, units, drop-ins, environment files) and the API key
/// they set. Phase 1.
pub fn probe_lemonade_files(root: &Root) -> Result<(Vec<String>, Vec<UnitFacts>, Option<ApiKey>)> {
    let binaries: Vec<String> = LEMONADE_BINARIES.iter().filter(|p| root.exists(p)).map(Root::display).collect();
    let accounts = crate::host::users::Accounts::read(root)?;
    let mut units = Vec::new();
    let mut api_key = None;
    for name in LEMONADE_UNITS {
        let Some(frag) = UNIT_DIRS.iter().map(|d| format!("{d}/{name}")).find(|p| root.exists(p)) else { continue };
        let mut u = UnitFacts { name: name.to_string(), fragment: Some(Root::display(&frag)), ..Default::default() };
        let mut files = vec![frag];
        for d in UNIT_DIRS {
            let dir = format!("{d}/{name}.d");
            for n in root.list_dir(&dir)? {
                if n.ends_with(".conf") {
                    files.push(format!("{dir}/{n}"));
                    u.dropins.push(Root::display(format!("{dir}/{n}")));
                }
            }
        }
        let mut env = Vec::new();
        for f in &files {
            let text = root.read_optional(f)?.unwrap_or_default();
            for (section, k, v) in parse_unit_file(&text) {
                if section != "Service" {
                    continue;
                }
                match k.as_str() {
                    // An empty assignment resets the list (systemd.unit(5)).
                    "ExecStart" if v.is_empty() => u.exec_start.clear(),
                    "ExecStart" => {
                        u.exec_start = v
                            .trim_start_matches(['-', '@', '+', '!', ':'])
                            .split_whitespace()
                            .map(str::to_string)
                            .collect()
                    }
                    "Environment" if v.is_empty() => env.clear(),
                    "Environment" => env.extend(parse_environment(&v)),
                    "EnvironmentFile" => {
                        let (optional, path) = match v.strip_prefix('-') {
                            Some(p) => (true, p),
                            None => (false, v.as_str()),
                        };
                        u.environment_files.push((path.to_string(), optional));
                    }
                    "User" => u.user = Some(v),
                    "AmbientCapabilities" if v.is_empty() => u.ambient_capabilities.clear(),
                    "AmbientCapabilities" => u.ambient_capabilities.extend(v.split_whitespace().map(str::to_string)),
                    "StateDirectory" => u.state_directory = v.split_whitespace().next().map(str::to_string),
                    "CacheDirectory" => u.cache_directory = v.split_whitespace().next().map(str::to_string),
                    "LimitMEMLOCK" => u.limit_memlock = Some(v),
                    "ProtectHome" => u.protect_home = Some(v),
                    _ => {}
                }
            }
        }
        let mut files_seen = Vec::new();
        for (path, _) in &u.environment_files {
            // systemd accepts globs in EnvironmentFile (conf.d/*.conf in Lemonade v10.1).
            let expanded = expand_glob(root, path)?;
            for p in &expanded {
                if let Some(text) = root.read_optional(p)? {
                    env.extend(parse_env_lenient(&text));
                }
            }
            files_seen.push((path.clone(), !expanded.is_empty()));
        }
        u.environment_files = files_seen;
        if let Some(user) = &u.user {
            u.home = accounts.user(user).map(|p| p.home.clone());
        }
        if let Some(k) = lemonade::service_api_key(&env) {
            api_key = Some(k);
        }
        u.environment = redact(env);
        units.push(u);
    }
    // A unit's ExecStart names the server wherever it lives (a Nix store path on NixOS).
    let mut binaries = binaries;
    for u in &units {
        if let Some(p) = u.exec_start.first().filter(|p| p.starts_with('/'))
            && root.is_file(p)
            && !binaries.contains(p)
        {
            binaries.push(p.clone());
        }
    }
    Ok((binaries, units, api_key))
}

fn expand_glob(root: &Root, path: &str) -> Result<Vec<String>> {
    let rel = path.trim_start_matches('/');
    let Some((dir, pat)) = rel.rsplit_once('/') else { return Ok(vec![rel.to_string()]) };
    if !pat.contains('*') {
        return Ok(if root.exists(rel) { vec![rel.to_string()] } else { Vec::new() });
    }
    let (pre, suf) = pat.split_once('*').unwrap_or((pat, ""));
    Ok(root
        .list_dir(dir)?
        .into_iter()
        .filter(|n| n.starts_with(pre) && n.ends_with(suf))
        .map(|n| format!("{dir}/{n}"))
        .collect())
}

/// Adds runtime state (`systemctl show`) and the HTTP API to the file facts. Phase 2.
pub fn probe_lemonade(
    runner: &Runner,
    files: Result<(Vec<String>, Vec<UnitFacts>, Option<ApiKey>)>,
    opts: &ProbeOptions,
    recipes: &Recipes,
) -> Probed<LemonadeFacts> {
    let default_path = recipes.files.systemd_default_path.as_str();
    let (binaries, mut units, api_key) = match files {
        Ok(v) => v,
        Err(e) => return Probed::Error(format!("{e:#}")),
    };
    let root = runner.root();
    let mut facts = LemonadeFacts { binaries, api_key_set: api_key.is_some(), ..Default::default() };
    let bearer = lemonade::api_key(api_key.as_ref());
    facts.api_key = api_key;
    if root.mode() != RootMode::Offline {
        let names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
        let shows: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = names.iter().map(|n| s.spawn(move || systemctl_show(runner, n))).collect();
            hs.into_iter().map(|h| h.join()).collect()
        });
        {
            for (u, h) in units.iter_mut().zip(shows) {
                match h {
                    Ok(Ok((rt, env, argv))) => {
                        u.runtime = Some(rt);
                        // systemd's merged view wins over our reading of the files.
                        if !argv.is_empty() {
                            u.exec_start = argv;
                        }
                        if !env.is_empty() {
                            let mut merged = redact(env);
                            merged.extend(
                                u.environment
                                    .iter()
                                    .filter(|(k, _)| !merged.iter().any(|(m, _)| m == k))
                                    .cloned()
                                    .collect::<Vec<_>>(),
                            );
                            u.environment = merged;
                        }
                    }
                    Ok(Err(e)) => u.runtime_error = Some(e),
                    Err(_) => u.runtime_error = Some("internal error".into()),
                }
            }
        }
    }
    for u in &mut units {
        let path = u.env("PATH").unwrap_or(default_path).to_string();
        u.flm_on_path = path
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{}/flm", d.trim_end_matches('/')))
            .find(|p| root.is_file(p));
        u.dirs = lemonade_dirs(root, u, &recipes.lemonade);
        let given = u.env("LEMONADE_FLM_NPU_BIN").map(str::to_string).into_iter();
        let given = given.chain(u.dirs.iter().filter_map(|d| d.config.as_ref()?.npu_bin.clone()));
        for p in given.filter(|p| p.starts_with('/')).collect::<Vec<_>>() {
            if !u.npu_bin_paths.iter().any(|(q, _)| *q == p) {
                let present = root.is_file(&p);
                u.npu_bin_paths.push((p, present));
            }
        }
    }
    facts.units = units;
    facts.session_links = probe_session_links(root);
    let (url, source) = lemonade_url(&facts, opts);
    facts.base_url = Some(url.clone());
    facts.url_source = Some(source);
    // An explicitly given URL is a real server, even when the files come from a fixture.
    let t = Timeouts::probe(http_timeout(runner));
    let client = if opts.lemonade_url.is_some() { Client::live(t) } else { Client::new(root, t) };
    let api = client.clone().bearer(bearer.as_deref());
    let (live, health, info) = std::thread::scope(|s| {
        let a = s.spawn(|| client.probe(&lemonade::url(&url, lemonade::LIVE)));
        let b = s.spawn(|| api.probe(&lemonade::url(&url, lemonade::HEALTH)));
        let c = s.spawn(|| api.probe(&lemonade::url(&url, lemonade::SYSTEM_INFO)));
        (a.join().ok(), b.join().ok(), c.join().ok())
    });
    facts.live = live;
    facts.health = health;
    facts.system_info = info;
    Probed::Ok(facts)
}

/// Directories whose `default.target.wants/` links start a user unit in every login session
/// (`systemctl --global enable` writes the first; a package's preset the second).
pub const GLOBAL_USER_WANTS: &[&str] =
    &["etc/systemd/user/default.target.wants", "usr/lib/systemd/user/default.target.wants"];

/// The links that enable Lemonade's per-user unit for login sessions: globally, or for a
/// user of a login account (uid 1000..65534, `systemctl --user enable` in their home). A
/// dangling link starts nothing and is not listed. File reads only.
pub fn probe_session_links(root: &Root) -> Vec<String> {
    let homes: Vec<String> = crate::host::users::Accounts::read(root)
        .map(|a| {
            a.passwd
                .into_iter()
                .filter(|p| (1000..65534).contains(&p.uid) && p.home.len() > 1 && p.home.starts_with('/'))
                .map(|p| format!("{}/.config/systemd/user/default.target.wants", p.home.trim_matches('/')))
                .collect()
        })
        .unwrap_or_default();
    let dirs = GLOBAL_USER_WANTS.iter().map(|d| d.to_string()).chain(homes);
    dirs.flat_map(|d| LEMONADE_UNITS.iter().map(move |u| format!("{d}/{u}")))
        .filter(|p| root.exists(p))
        .map(Root::display)
        .collect()
}

/// Resolves a directory template (`$HOME/.cache/lemonade`) for a service: its environment,
/// `StateDirectory=`/`CacheDirectory=` (systemd sets `$STATE_DIRECTORY`/`$CACHE_DIRECTORY`
/// to /var/lib/NAME and /var/cache/NAME), `$HOME` from its `User=`. None when the variable
/// is not set for it (Lemonade then tries its next template).
pub fn resolve_dir(u: &UnitFacts, template: &str) -> Option<String> {
    let (var, rest) = crate::recipes::lemonade::split_template(template)?;
    let base = match var {
        "STATE_DIRECTORY" => {
            u.env(var).map(str::to_string).or_else(|| u.state_directory.as_ref().map(|d| format!("/var/lib/{d}")))
        }
        "CACHE_DIRECTORY" => {
            u.env(var).map(str::to_string).or_else(|| u.cache_directory.as_ref().map(|d| format!("/var/cache/{d}")))
        }
        "HOME" => u.env(var).map(str::to_string).or_else(|| u.home.clone()),
        other => u.env(other).map(str::to_string),
    }
    .filter(|b| b.starts_with('/'))?;
    Some(format!("{}{rest}", base.trim_end_matches('/')))
}

/// Every directory any Lemonade release would use for this service (config and cache
/// templates of `recipes/lemonade.yaml`), with the config.json and own flm each holds.
fn lemonade_dirs(root: &Root, u: &UnitFacts, l: &LemonadeRecipe) -> Vec<LemonadeDir> {
    let rel = &l.releases;
    let mut templates: Vec<&String> = Vec::new();
    for t in
        rel.config.iter().flat_map(|c| c.value.dirs.iter()).chain(rel.cache_dirs.iter().flat_map(|c| c.value.iter()))
    {
        if !templates.contains(&t) {
            templates.push(t);
        }
    }
    let config_names: Vec<&str> = rel.config.iter().filter_map(|c| c.value.file.as_deref()).collect();
    let mut out = Vec::new();
    for t in templates {
        let Some(path) = resolve_dir(u, t) else { continue };
        let mut d = LemonadeDir { template: t.clone(), path: path.clone(), ..Default::default() };
        // The service's directories are often 0750 lemonade: say so instead of guessing.
        if let Err(e) = root.list_dir(&path) {
            d.error = Some(format!("{e:#}"));
            out.push(d);
            continue;
        }
        if let Some(name) = config_names.iter().find(|n| root.is_file(format!("{path}/{n}"))) {
            let file = format!("{path}/{name}");
            d.config = Some(match root.read_optional(&file) {
                Ok(text) => read_config(&file, text.unwrap_or_default()),
                Err(e) => LemonadeConfig { path: file, error: Some(format!("{e:#}")), ..Default::default() },
            });
        }
        for o in &rel.own_flm {
            let bin = format!("{path}/{}", o.value.binary);
            if root.is_file(&bin) {
                let version = root
                    .read_optional(format!("{path}/{}", o.value.version_file))
                    .ok()
                    .flatten()
                    .map(|v| v.trim().to_string());
                d.own_flm = Some(OwnFlmCopy { binary: bin, version });
                break;
            }
        }
        out.push(d);
    }
    out
}

/// The flm settings of a config.json's text.
fn read_config(path: &str, text: String) -> LemonadeConfig {
    let mut c = LemonadeConfig { path: path.to_string(), ..Default::default() };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) if v.is_object() => {
            c.prefer_system = v["flm"]["prefer_system"].as_bool();
            c.npu_bin = v["flm"]["npu_bin"].as_str().map(str::to_string);
        }
        Ok(_) => c.error = Some("not a JSON object".into()),
        Err(e) => c.error = Some(e.to_string()),
    }
    c
}

/// HTTP probes use a short timeout: a healthy local service answers in milliseconds.
fn http_timeout(runner: &Runner) -> Duration {
    runner.timeout().min(Duration::from_secs(3))
}

type ShowResult = Result<(UnitRuntime, Vec<(String, String)>, Vec<String>), String>;

fn systemctl_show(runner: &Runner, unit: &str) -> ShowResult {
    let props = "Id,LoadState,ActiveState,SubState,UnitFileState,FragmentPath,DropInPaths,ExecStart,Environment,EnvironmentFiles,User,LimitMEMLOCK";
    let o = runner.run("systemctl", &["show", "--no-pager", "-p", props, unit]).map_err(|e| e.to_string())?;
    if !o.success() {
        return Err(format!("systemctl show failed ({}): {}", o.exit_text(), o.tail()));
    }
    let kv = parse_show(&o.stdout);
    let get = |k: &str| kv.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let rt = UnitRuntime {
        load_state: get("LoadState"),
        active_state: get("ActiveState"),
        sub_state: get("SubState"),
        unit_file_state: get("UnitFileState"),
    };
    let _ = parse_environment_files(&get("EnvironmentFiles"));
    Ok((rt, parse_environment(&get("Environment")), parse_exec_start_argv(&get("ExecStart"))))
}

/// Lemonade's base URL: `--lemonade-url`, else host/port from the unit (env or ExecStart
/// flags), else the default port of the installed generation (8000 for v10.0's
/// `lemonade-router`, 13305 for `lemond`).
fn lemonade_url(f: &LemonadeFacts, opts: &ProbeOptions) -> (String, String) {
    if let Some(u) = &opts.lemonade_url {
        return (u.trim_end_matches('/').to_string(), "--lemonade-url".into());
    }
    let unit = f.unit();
    let port = unit.and_then(|u| u.env("LEMONADE_PORT").or_else(|| u.exec_flag("--port")).map(str::to_string));
    let host = unit
        .and_then(|u| u.env("LEMONADE_HOST").or_else(|| u.exec_flag("--host")).map(str::to_string))
        .filter(|h| !matches!(h.as_str(), "0.0.0.0" | "::" | "localhost" | ""))
        .unwrap_or_else(|| lemonade::DEFAULT_HOST.into());
    if let Some(p) = port {
        return (
            lemonade::base_url(&host, p),
            format!("port from {}", unit.map(|u| u.name.as_str()).unwrap_or("unit")),
        );
    }
    let old =
        f.binaries.iter().any(|b| b.ends_with("lemonade-router")) && !f.binaries.iter().any(|b| b.ends_with("lemond"));
    if old {
        (lemonade::base_url(&host, lemonade::LEGACY_PORT), "default port of Lemonade 10.0 (lemonade-router)".into())
    } else {
        (lemonade::base_url(&host, lemonade::DEFAULT_PORT), "default port of Lemonade >= 10.1 (lemond)".into())
    }
}

/// GPU facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct GpuFacts {
    /// Health URL probed.
    pub url: String,
    /// How the URL was chosen.
    pub url_source: String,
    /// The GET.
    pub health: Option<HttpResult>,
}

/// Default GPU endpoint: llama-swap's `/health` on its default port 8080
/// (<https://github.com/mostlygeek/llama-swap/blob/0bdb3720199f530b622a1934c0db89f32c94819c/llama-swap.go>).
pub const DEFAULT_GPU_URL: &str = "http://127.0.0.1:8080/health";

/// Probes the GPU endpoint's health route.
pub fn probe_gpu(runner: &Runner, opts: &ProbeOptions) -> Probed<GpuFacts> {
    let configured = crate::state::read_state(runner.root()).and_then(|s| s.gpu_url);
    let (url, url_source) = match (&opts.gpu_url, configured) {
        (Some(u), _) => (u.clone(), "--gpu-url".to_string()),
        (None, Some(u)) => (u, "install config".to_string()),
        (None, None) => (DEFAULT_GPU_URL.to_string(), "llama-swap default".to_string()),
    };
    // Explicit URLs are probed for real even on a fixture root; the default goes through
    // the root (replayed on fixtures).
    let t = Timeouts::probe(http_timeout(runner));
    let client = if opts.gpu_url.is_some() { Client::live(t) } else { Client::new(runner.root(), t) };
    let health = Some(client.probe(&url));
    Probed::Ok(GpuFacts { url, url_source, health })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every server binary the recipes know, under every route's prefix, is looked for.
    #[test]
    fn the_probe_looks_where_every_route_installs_lemond() {
        let r = crate::host::testkit::recipes();
        let prefixes: Vec<&str> = r.lemonade.routes.iter().filter_map(|x| x.prefix.as_deref()).collect();
        assert!(prefixes.contains(&"/usr") && prefixes.contains(&"/opt"));
        for b in &r.lemonade.releases.server_binary {
            for p in &prefixes {
                let rel = format!("{}/bin/{}", p.trim_start_matches('/'), b.value);
                assert!(LEMONADE_BINARIES.contains(&rel.as_str()), "{rel}");
            }
        }
    }

    /// The links that start Lemonade's per-user unit in login sessions: the global one, a
    /// login user's; not a system account's, not a dangling one.
    #[test]
    fn session_links_are_read_globally_and_per_login_user() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mk = |rel: &str| std::fs::create_dir_all(d.join(rel)).unwrap();
        mk("etc");
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0::/root:/bin/bash\nalex:x:1000:1000::/home/alex:/bin/bash\nsam:x:1001:1001::/home/sam:/bin/bash\n",
        )
        .unwrap();
        mk("usr/lib/systemd/user");
        std::fs::write(d.join("usr/lib/systemd/user/lemond.service"), "[Unit]\n").unwrap();
        for w in [
            "etc/systemd/user/default.target.wants",
            "home/alex/.config/systemd/user/default.target.wants",
            "home/sam/.config/systemd/user/default.target.wants",
            "root/.config/systemd/user/default.target.wants",
        ] {
            mk(w);
        }
        let link = |rel: &str, target: &str| std::os::unix::fs::symlink(target, d.join(rel)).unwrap();
        link("etc/systemd/user/default.target.wants/lemond.service", "/usr/lib/systemd/user/lemond.service");
        link(
            "home/alex/.config/systemd/user/default.target.wants/lemond.service",
            "/usr/lib/systemd/user/lemond.service",
        );
        link("home/sam/.config/systemd/user/default.target.wants/lemond.service", "/nowhere/lemond.service");
        link("root/.config/systemd/user/default.target.wants/lemond.service", "/usr/lib/systemd/user/lemond.service");
        let root = Root::open(d).unwrap();
        assert_eq!(
            probe_session_links(&root),
            [
                "/etc/systemd/user/default.target.wants/lemond.service",
                "/home/alex/.config/systemd/user/default.target.wants/lemond.service"
            ]
        );
    }

    #[test]
    fn directories_resolve_as_systemd_sets_them() {
        let u = UnitFacts {
            state_directory: Some("lemonade".into()),
            cache_directory: Some("lemonade".into()),
            home: Some("/opt/var/lib/lemonade".into()),
            environment: vec![
                ("XDG_CONFIG_HOME".into(), "/srv/cfg".into()),
                ("LEMONADE_CACHE_DIR".into(), "rel".into()),
            ],
            ..Default::default()
        };
        assert_eq!(resolve_dir(&u, "$STATE_DIRECTORY").as_deref(), Some("/var/lib/lemonade"));
        assert_eq!(resolve_dir(&u, "$CACHE_DIRECTORY").as_deref(), Some("/var/cache/lemonade"));
        assert_eq!(resolve_dir(&u, "$HOME/.cache/lemonade").as_deref(), Some("/opt/var/lib/lemonade/.cache/lemonade"));
        assert_eq!(resolve_dir(&u, "$XDG_CONFIG_HOME/lemonade").as_deref(), Some("/srv/cfg/lemonade"));
        assert_eq!(resolve_dir(&u, "$LEMONADE_CACHE_DIR"), None, "a relative value is not a directory we can read");
        assert_eq!(resolve_dir(&UnitFacts::default(), "$HOME/.cache/lemonade"), None, "no User=, no HOME");
    }

    #[test]
    fn config_json_is_read_for_flm_settings_only() {
        let c =
            read_config("/c.json", r#"{"flm": {"prefer_system": true, "npu_bin": "/usr/bin/flm"}, "port": 1}"#.into());
        assert_eq!((c.prefer_system, c.npu_bin.as_deref(), c.error), (Some(true), Some("/usr/bin/flm"), None));
        assert!(read_config("/c.json", "{".into()).error.is_some());
        assert_eq!(read_config("/c.json", "[]".into()).error.as_deref(), Some("not a JSON object"));
    }
}

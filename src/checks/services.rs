//! Serving layers: Lemonade (install, service, API), the GPU side (device, endpoint), and
//! the smoke inferences (Lemonade:
//! <https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/docs/server/server_spec.md>,
//! <https://github.com/lemonade-sdk/lemonade/blob/1938f30432f0245511bb652b4b1fb8bb82a30843/data/lemond.service.in>;
//! llama-swap: <https://github.com/mostlygeek/llama-swap/blob/0bdb3720199f530b622a1934c0db89f32c94819c/llama-swap.go>).

use super::{Ctx, Outcome, Remedy, install_cmd, probe_problem};
use crate::host::services::LemonadeFacts;
use crate::knowledge::lemonade::{self, ChosenKind, FlmJudgement, FlmProblem, LemonadeFlm};
use crate::parse::version::parse_dotted;

fn version(c: &Ctx, l: &LemonadeFacts) -> Option<String> {
    match lemonade::release(c.f, c.r) {
        Some(r) => Some(r.version),
        None => l.health.as_ref().and_then(|h| h.json()).and_then(|j| j["version"].as_str().map(str::to_string)),
    }
}

/// `lemonade.install`.
pub fn lemonade_install(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.lemonade, "Lemonade") {
        return o;
    }
    let Some(l) = c.f.lemonade.ok() else { unreachable!() };
    let ver = version(c, l);
    let base = |o: Outcome| {
        o.ev("binaries", &l.binaries)
            .ev("units", l.units.iter().map(|u| &u.fragment).collect::<Vec<_>>())
            .ev("version", &ver)
    };
    let running = lemonade::running(c.f);
    let url = l.base_url.clone().unwrap_or_default();
    if let lemonade::Running::Unmanaged { version, binary_here: false } = &running {
        return base(Outcome::pass(format!(
            "Lemonade {} is running at {url} (not managed by a unit on this host: a container, or started elsewhere)",
            version.clone().unwrap_or_else(|| "of unknown version".into())
        )))
        .ev("running", &running);
    }
    if l.binaries.is_empty() {
        return base(Outcome::fail("Lemonade server is not installed (no lemond / lemonade-router)")).remedy(Remedy {
            text: "Install the Lemonade server release package for your distro (lemonade-server-<ver>.rpm / .deb)."
                .into(),
            commands: vec![install_cmd("lemonade")],
            step: Some("lemonade".into()),
            docs: Some("https://github.com/lemonade-sdk/lemonade/blob/main/docs/guide/install/fedora.md".into()),
            ..Default::default()
        });
    }
    if l.units.is_empty() {
        let what = match &running {
            lemonade::Running::Unmanaged { version, .. } => format!(
                "Lemonade {} is running at {url} (not managed by a unit on this host: started by hand); without a unit it does not start at boot",
                version.clone().unwrap_or_else(|| "of unknown version".into())
            ),
            _ => "Lemonade is installed but has no systemd unit (lemond.service / lemonade-server.service)".into(),
        };
        return base(Outcome::warn(what)).remedy(Remedy {
            text: "Install the unit so Lemonade starts at boot.".into(),
            commands: vec![install_cmd("lemonade-service")],
            step: Some("lemonade-service".into()),
            ..Default::default()
        });
    }
    let bin =
        l.binaries.iter().find(|b| b.ends_with("lemond") || b.ends_with("lemonade-router")).or(l.binaries.first());
    base(Outcome::pass(format!(
        "Lemonade {} ({}), unit {}",
        ver.clone().unwrap_or_else(|| "version unknown".into()),
        bin.cloned().unwrap_or_default(),
        l.units[0].name
    )))
}

/// `lemonade.service`.
pub fn lemonade_service(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.lemonade, "Lemonade") {
        return o;
    }
    let Some(l) = c.f.lemonade.ok() else { unreachable!() };
    let Some(u) = l.unit() else {
        if let lemonade::Running::Unmanaged { .. } = lemonade::running(c.f) {
            return Outcome::skip(
                "Lemonade runs without a unit on this host (a container, or started by hand): no service to judge",
            );
        }
        if l.binaries.is_empty() {
            return Outcome::skip("Lemonade not installed (see lemonade.install)");
        }
        return Outcome::fail("no Lemonade unit").remedy(Remedy {
            text: "Install the Lemonade unit.".into(),
            commands: vec![install_cmd("lemonade-service")],
            step: Some("lemonade-service".into()),
            ..Default::default()
        });
    };
    let ld_ok = c.f.loader.ok().is_some_and(|l| {
        l.libs
            .iter()
            .filter(|x| x.soname != "libxrt_core.so.2")
            .all(|x| x.resolvable_at.is_some() || x.found.is_empty())
    }) || u.env("LD_LIBRARY_PATH").is_some_and(|p| p.contains("xrt"));
    let host = u.env("LEMONADE_HOST").or_else(|| u.exec_flag("--host")).unwrap_or("localhost").to_string();
    let public = matches!(host.as_str(), "0.0.0.0" | "::" | "[::]");
    let base = |o: Outcome| {
        o.ev("unit", &u.name)
            .ev("fragment", &u.fragment)
            .ev("dropins", &u.dropins)
            .ev("runtime", &u.runtime)
            .ev("exec_start", &u.exec_start)
            .ev("user", &u.user)
            .ev("protect_home", &u.protect_home)
            .ev("flm_model_path", u.env("FLM_MODEL_PATH"))
            .ev("bind", &host)
            .ev("api_key_set", l.api_key_set)
    };
    let svc = &u.name;
    if let Some(rt) = &u.runtime {
        if rt.load_state == "not-found" {
            return base(Outcome::fail(format!("{svc} is not known to systemd (daemon-reload needed?)"))).remedy(
                Remedy {
                    text: "Reload systemd and enable the unit.".into(),
                    commands: vec!["sudo systemctl daemon-reload".into(), format!("sudo systemctl enable --now {svc}")],
                    step: Some("lemonade-service".into()),
                    ..Default::default()
                },
            );
        }
        if rt.active_state != "active"
            && let Some(s) = lemonade::session_instances(c.f)
        {
            return base(Outcome::fail(format!(
                "{svc} is {} ({}): login sessions start a lemond of their own ({}) that takes {} first (GDM's greeter starts one before anyone logs in)",
                rt.active_state,
                rt.sub_state,
                s.links.join(", "),
                port_of(l)
            )))
            .ev("session_instances", &s)
            .remedy(session_remedy(&s, l, true));
        }
        if rt.active_state != "active" {
            return base(Outcome::fail(format!(
                "{svc} is {} ({}), {}",
                rt.active_state, rt.sub_state, rt.unit_file_state
            )))
            .suspects(&["flm.install", "xrt.loader", "limits.memlock"])
            .remedy(Remedy {
                text: format!("Start it and read its log: journalctl -u {svc} -b"),
                commands: vec![
                    format!("sudo systemctl enable --now {svc}"),
                    format!("journalctl -u {svc} -b --no-pager | tail -n 50"),
                ],
                step: Some("lemonade-service".into()),
                ..Default::default()
            });
        }
    } else if let Some(e) = &u.runtime_error {
        return base(Outcome::error(format!("cannot ask systemd about {svc}: {e}")));
    }
    if !ld_ok {
        return base(Outcome::fail(format!(
            "{svc} cannot load the XRT libraries (not on the loader path, no LD_LIBRARY_PATH)"
        )))
        .suspects(&["xrt.loader"])
        .remedy(Remedy {
            text: "Fix the loader path (xrt.loader).".into(),
            commands: vec![install_cmd("loader")],
            step: Some("loader".into()),
            ..Default::default()
        });
    }
    if let Some(s) = lemonade::session_instances(c.f) {
        return base(Outcome::warn(format!(
            "{svc} holds {}, but login sessions start a lemond of their own ({}): each fails on the taken port and restarts, and at boot a session (GDM's greeter) can take the port first",
            port_of(l),
            s.links.join(", ")
        )))
        .ev("session_instances", &s)
        .remedy(session_remedy(&s, l, false));
    }
    if public && !l.api_key_set {
        return base(Outcome::warn(format!(
            "{svc} listens on {host} without LEMONADE_API_KEY: anyone on the network can use it"
        )))
        .remedy(Remedy {
            text: "Bind to 127.0.0.1 or set LEMONADE_API_KEY in the service environment.".into(),
            commands: vec![install_cmd("lemonade-service")],
            step: Some("lemonade-service".into()),
            ..Default::default()
        });
    }
    let hidden_models =
        u.protect_home.as_deref().is_some_and(|p| p != "no" && p != "false") && u.env("FLM_MODEL_PATH").is_none();
    if hidden_models {
        return base(Outcome::warn(format!(
            "{svc} has ProtectHome={} and no FLM_MODEL_PATH: models pulled into ~/.config/flm are invisible to it",
            u.protect_home.clone().unwrap_or_default()
        )))
        .remedy(Remedy {
            text: "Set FLM_MODEL_PATH to a shared directory the service user can read (e.g. /var/lib/flm).".into(),
            commands: vec![install_cmd("lemonade-service"), install_cmd("models")],
            step: Some("lemonade-service".into()),
            ..Default::default()
        });
    }
    base(Outcome::pass(format!(
        "{svc} {}; bound to {host}",
        u.runtime
            .as_ref()
            .map(|r| format!("{} ({})", r.active_state, r.unit_file_state))
            .unwrap_or_else(|| "(state unknown)".into()),
    )))
}

/// The port Lemonade is probed on (`port 13305`), for people.
fn port_of(l: &LemonadeFacts) -> String {
    l.base_url
        .as_deref()
        .and_then(|u| u.rsplit_once(':'))
        .map(|(_, p)| p.trim_end_matches('/'))
        .filter(|p| p.chars().all(|ch| ch.is_ascii_digit()) && !p.is_empty())
        .map(|p| format!("port {p}"))
        .unwrap_or_else(|| "its port".into())
}

/// Disables Lemonade's per-user unit for login sessions (`systemctl --global disable` for
/// the global link, the link itself for a user's); `restart`: the sessions' instances hold
/// the port until their sessions end, so a reboot completes it.
fn session_remedy(s: &lemonade::SessionInstances, l: &LemonadeFacts, restart: bool) -> Remedy {
    let unit = |p: &str| p.rsplit('/').next().unwrap_or("lemond.service").to_string();
    let mut commands: Vec<String> = Vec::new();
    for p in &s.links {
        let cmd = if p.starts_with("/etc/systemd/user/") {
            format!("sudo systemctl --global disable {}", unit(p))
        } else {
            format!("sudo rm {p}")
        };
        if !commands.contains(&cmd) {
            commands.push(cmd);
        }
    }
    let svc = &s.unit;
    let text = if restart {
        format!(
            "Stop login sessions from starting their own lemond, then reboot: the instances of the greeter and of logged-in sessions hold {} until their sessions end; then {svc} starts alone. The lemonade-server .deb does this on upgrade to 10.10.0 or later. A user who wants a Lemonade of their own enables it with `systemctl --user enable --now lemond` after `sudo systemctl disable --now {svc}`.",
            port_of(l)
        )
    } else {
        format!(
            "Stop login sessions from starting their own lemond ({svc} serves everyone); the lemonade-server .deb does this on upgrade to 10.10.0 or later."
        )
    };
    Remedy {
        text,
        commands,
        reboot: restart,
        docs: Some("https://github.com/lemonade-sdk/lemonade/issues/2125".into()),
        ..Default::default()
    }
}

/// `lemonade.flm`: the flm the installed Lemonade release runs, judged against what that
/// release accepts and against the installed FastFlowLM (knowledge::lemonade).
pub fn lemonade_flm(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.lemonade, "Lemonade") {
        return o;
    }
    if let lemonade::Running::Unmanaged { binary_here: false, .. } = lemonade::running(c.f) {
        return Outcome::skip(
            "the Lemonade answering here runs elsewhere (a container): its flm is judged there (see lemonade.api)",
        );
    }
    let j = match lemonade::flm(c.f, c.r) {
        LemonadeFlm::NotApplicable { reason } => return Outcome::skip(reason),
        LemonadeFlm::Unreadable { reason } => return Outcome::error(reason),
        LemonadeFlm::Unknown { reason } => {
            return Outcome::warn(reason).remedy(Remedy {
                text: "Install Lemonade from a package (or start it, so /api/v1/health reports its version).".into(),
                commands: vec![install_cmd("lemonade")],
                step: Some("lemonade".into()),
                ..Default::default()
            });
        }
        LemonadeFlm::Judged(j) => j,
    };
    let u = c.f.lemonade.ok().and_then(|l| l.unit());
    let path = u.and_then(|u| u.env("PATH")).unwrap_or(&c.r.files.systemd_default_path).to_string();
    let ch = j.choice.as_ref();
    let base = |o: Outcome| {
        o.ev("release", &j.release.version)
            .ev("release_from", j.release.from)
            .ev("unit", &j.unit)
            .ev("selection", j.selection.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .ev("runs", ch)
            .ev("pin", &j.pin)
            .ev("system_policy", j.system_policy.map(|p| p.as_str()))
            .ev("config", &j.config)
            .ev("installed_flm", &j.installed)
            .ev("service_path", &path)
            .ev("flm_found_by_service", u.and_then(|u| u.flm_on_path.clone()))
            .ev("problems", &j.problems)
            .ev("unverified", &j.unverified)
            .ev("notes", &j.notes)
    };
    let Some(problem) = j.problems.first() else {
        return base(Outcome::pass(runs_summary(&j)));
    };
    let what = problem_summary(c, &j, problem);
    let o = if j.fails() {
        Outcome::fail(what)
    } else if problem.fails() {
        Outcome::warn(format!("unverified: {what}"))
    } else {
        Outcome::warn(what)
    };
    let o = match problem {
        FlmProblem::NotOnPath if j.installed.is_none() => o.suspects(&["flm.install"]),
        FlmProblem::TooOld | FlmProblem::VersionUnknown => o.suspects(&["flm.install"]),
        _ => o,
    };
    base(o).remedy(flm_remedy(c, &j, problem))
}

/// What Lemonade runs, for a passing verdict.
fn runs_summary(j: &FlmJudgement) -> String {
    let v = &j.release.version;
    let Some(c) = &j.choice else { return format!("Lemonade {v} runs no flm") };
    let bin = c.binary.clone().unwrap_or_default();
    let ver = c.version.clone().unwrap_or_else(|| "?".into());
    let pin = j.pin.clone().unwrap_or_else(|| "?".into());
    match c.kind {
        ChosenKind::OwnCopy => format!("Lemonade {v} runs its own FLM v{ver} ({bin}), the release it pins"),
        ChosenKind::NpuBinPath => format!(
            "Lemonade {v} runs {bin} {ver}, named by {} (not version-checked; it pins {pin})",
            c.setting.clone().unwrap_or_default()
        ),
        ChosenKind::System => {
            let op = if j.system_policy == Some(crate::recipes::lemonade::VersionPolicy::Exact) { "=" } else { ">=" };
            let how = match &c.setting {
                Some(s) => format!("found on its PATH with {s}"),
                None => "found on its PATH".into(),
            };
            format!("Lemonade {v} runs {bin} {ver}, {how} (it accepts {op} {pin})")
        }
    }
}

fn problem_summary(c: &Ctx, j: &FlmJudgement, p: &FlmProblem) -> String {
    let v = &j.release.version;
    let ch = j.choice.as_ref();
    let bin = ch.and_then(|x| x.binary.clone()).unwrap_or_default();
    let have = ch.and_then(|x| x.version.clone()).unwrap_or_else(|| "?".into());
    let pin = j.pin.clone().unwrap_or_else(|| "?".into());
    let want = ch.and_then(|x| x.expected.clone()).map(|e| format!("v{e}")).unwrap_or_else(|| pin.clone());
    let unit = &j.unit;
    match p {
        FlmProblem::NotOnPath => {
            let dir =
                c.f.flm
                    .ok()
                    .and_then(|f| f.binary.clone())
                    .and_then(|b| b.rsplit_once('/').map(|(d, _)| d.to_string()));
            match dir {
                Some(d) => {
                    format!("{unit} cannot find flm: Lemonade {v} looks on the service's PATH, and {d} is not on it")
                }
                None => {
                    format!("{unit} cannot find flm: Lemonade {v} looks on the service's PATH, and none is installed")
                }
            }
        }
        FlmProblem::PreferSystemWithoutFlm => format!(
            "flm.prefer_system is true in {}, but {unit}'s PATH finds no flm: Lemonade {v} falls back to its own copy",
            j.config.clone().unwrap_or_else(|| "config.json".into())
        ),
        FlmProblem::NpuBinMissing { path } => format!(
            "{} names {path}, which does not exist: Lemonade {v} cannot start FLM",
            ch.and_then(|x| x.setting.clone()).unwrap_or_else(|| "npu_bin".into())
        ),
        FlmProblem::OwnCopyNotDownloaded => {
            let also = j.installed.as_ref().map(|i| format!("; it will not use the installed {i}")).unwrap_or_default();
            format!("Lemonade {v} will download its own FLM {want} on the first NPU load{also}")
        }
        FlmProblem::OwnCopyMismatch => format!(
            "Lemonade {v}'s own FLM ({bin}) is {}, but it wants {want}: its FLM backend is update_required and FLM models are not listed until it downloads {want} again",
            ch.and_then(|x| x.version.clone())
                .map(|x| format!("v{x}"))
                .unwrap_or_else(|| "of unknown version (no version.txt)".into())
        ),
        FlmProblem::TooOld => {
            format!("Lemonade {v} needs FLM >= {pin}, but {bin} is {have}: its FLM backend is update_required")
        }
        FlmProblem::NotExact => format!(
            "Lemonade {v} accepts FLM {pin} only (https://github.com/lemonade-sdk/lemonade/issues/1647), but {bin} is {have}"
        ),
        FlmProblem::BelowPinUnchecked => format!(
            "Lemonade {v} runs {bin} {have}, older than {pin}, the FLM it pins (a path in npu_bin is not version-checked)"
        ),
        FlmProblem::VersionUnknown => format!("Lemonade {v} runs {bin}, whose version is unknown"),
        FlmProblem::NotTheInstalled { installed } => {
            let runs = match ch.map(|x| &x.kind) {
                Some(ChosenKind::OwnCopy) => format!("its own FLM {have} ({bin})"),
                _ => format!("{bin} {have}"),
            };
            format!("Lemonade {v} runs {runs}, not the installed FastFlowLM {installed}")
        }
    }
}

fn flm_remedy(c: &Ctx, j: &FlmJudgement, p: &FlmProblem) -> Remedy {
    let unit = &j.unit;
    let installed = c.f.flm.ok().and_then(|f| f.binary.clone());
    let point = |why: &str| {
        let flm = installed.clone().unwrap_or_else(|| "/path/to/flm".into());
        let (text, mut commands) = if lemonade::reads_npu_bin(c.r, j.release.parsed) {
            (
                format!(
                    "{why} Point Lemonade at the installed FastFlowLM: set flm.npu_bin to {flm} in {} (the install step edits it and keeps your other settings), or with Lemonade running: lemonade config set flm.npu_bin={flm}.",
                    j.config.clone().unwrap_or_else(|| "its config.json".into())
                ),
                vec![install_cmd("lemonade-service")],
            )
        } else {
            let dir = flm.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
            (
                format!(
                    "{why} Lemonade {} finds flm with `which flm` in the service's environment; add a drop-in (/etc/systemd/system/{unit}.d/{}) with Environment=PATH={dir}:{}.",
                    j.release.version, c.r.files.lemonade_dropin, c.r.files.systemd_default_path
                ),
                vec![install_cmd("lemonade-service")],
            )
        };
        commands.push(format!("sudo systemctl restart {unit}"));
        Remedy {
            text,
            commands,
            step: Some("lemonade-service".into()),
            reboot: false,
            docs: Some(
                "https://github.com/lemonade-sdk/lemonade/blob/2b6a7d77c71e551736f6cc8473dc46f479cd156b/docs/guide/configuration/README.md"
                    .into(),
            ),
        }
    };
    match p {
        FlmProblem::NotOnPath => {
            let mut r = point("The FLM backend shows as unavailable.");
            r.docs = Some("https://github.com/lemonade-sdk/lemonade/issues/1315".into());
            if installed.is_none() {
                r.commands.insert(0, install_cmd("flm"));
            }
            r
        }
        FlmProblem::PreferSystemWithoutFlm => point("flm.prefer_system only looks on the service's PATH."),
        FlmProblem::NpuBinMissing { .. } => point("npu_bin must name the flm executable."),
        FlmProblem::OwnCopyNotDownloaded | FlmProblem::NotTheInstalled { .. } if installed.is_some() => point(
            "From 10.10 Lemonade runs the system flm only when its config names it (flm.npu_bin) or prefers it (flm.prefer_system); otherwise it downloads its own (https://github.com/lemonade-sdk/lemonade/issues/2611).",
        ),
        FlmProblem::OwnCopyNotDownloaded | FlmProblem::NotTheInstalled { .. } => Remedy {
            text: "Load an FLM model once (Lemonade downloads its FLM then), or install FastFlowLM and point Lemonade at it."
                .into(),
            commands: vec!["lemonade backends install flm:npu".into(), install_cmd("flm")],
            step: Some("flm".into()),
            ..Default::default()
        },
        FlmProblem::OwnCopyMismatch if installed.is_some() => {
            let mut r = point("Lemonade downloads its pinned FLM again on the next load (lemonade backends install flm:npu does it now).");
            r.commands.insert(0, "lemonade backends install flm:npu".into());
            r
        }
        FlmProblem::OwnCopyMismatch => Remedy {
            text: "Let Lemonade download the FLM it pins now (it does on the next NPU load, given network), or install FastFlowLM and point Lemonade at it.".into(),
            commands: vec!["lemonade backends install flm:npu".into(), install_cmd("flm"), install_cmd("lemonade-service")],
            step: Some("flm".into()),
            ..Default::default()
        },
        FlmProblem::TooOld | FlmProblem::VersionUnknown | FlmProblem::BelowPinUnchecked => Remedy {
            text: format!(
                "Install FastFlowLM {} or newer, the release Lemonade {} pins.",
                j.pin.clone().unwrap_or_default(),
                j.release.version
            ),
            commands: vec![install_cmd("flm"), format!("sudo systemctl restart {unit}")],
            step: Some("flm".into()),
            ..Default::default()
        },
        FlmProblem::NotExact => Remedy {
            text: "Lemonade 10.2.0 wants exactly its pinned FLM; 10.3.0 accepts newer ones: upgrade Lemonade.".into(),
            commands: vec![install_cmd("lemonade")],
            step: Some("lemonade".into()),
            docs: Some("https://github.com/lemonade-sdk/lemonade/issues/1647".into()),
            ..Default::default()
        },
    }
}

/// Collects `state` values of the FLM recipe from `/api/v1/system-info` (the shape varies
/// by version: `recipes.flm.backends.<name>.state` in v10; searched generically).
fn flm_states(v: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, in_flm: bool, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let inside = in_flm || k == "flm";
                    if inside && k == "state" {
                        if let Some(s) = x.as_str() {
                            let msg = m.get("message").and_then(|m| m.as_str()).unwrap_or("");
                            out.push((
                                format!("{path}.state"),
                                format!("{s}{}", if msg.is_empty() { String::new() } else { format!(": {msg}") }),
                            ));
                        }
                    } else {
                        walk(x, inside, &format!("{path}.{k}"), out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, in_flm, path, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, false, "", &mut out);
    out
}

/// `lemonade.api`.
pub fn lemonade_api(c: &Ctx) -> Outcome {
    if c.f.mode == crate::root::RootMode::Offline {
        return Outcome::skip("offline root (or a chroot): nothing is running; the first boot checks the API");
    }
    if let Some(o) = probe_problem(&c.f.lemonade, "Lemonade") {
        return o;
    }
    let Some(l) = c.f.lemonade.ok() else { unreachable!() };
    if l.binaries.is_empty() && l.units.is_empty() && !l.live.as_ref().is_some_and(|x| x.ok()) {
        return Outcome::skip("Lemonade not installed (see lemonade.install)");
    }
    let url = l.base_url.clone().unwrap_or_default();
    let health = l.health.as_ref();
    let hj = health.and_then(|h| h.json());
    let info = l.system_info.as_ref().and_then(|h| h.json());
    let states = info.as_ref().map(flm_states).unwrap_or_default();
    let base = |o: Outcome| {
        o.ev("url", &url)
            .ev("url_source", &l.url_source)
            .ev("live", &l.live)
            .ev("health_status", health.and_then(|h| h.status))
            .ev("version", hj.as_ref().and_then(|j| j["version"].as_str().map(str::to_string)))
            .ev("model_loaded", hj.as_ref().map(|j| j["model_loaded"].clone()))
            .ev("flm_backend", &states)
    };
    let live_ok = l.live.as_ref().is_some_and(|x| x.ok());
    let health_ok = health.is_some_and(|h| h.ok());
    if !live_ok && !health_ok {
        let err =
            l.live.as_ref().and_then(|x| x.error.clone().or(x.status.map(|s| format!("HTTP {s}")))).unwrap_or_default();
        return base(Outcome::fail(format!("Lemonade does not answer at {url} ({err})")))
            .suspects(&["lemonade.service", "lemonade.install"])
            .remedy(Remedy {
                text: format!(
                    "Start the service, or pass --lemonade-url if it listens elsewhere ({}).",
                    l.url_source.clone().unwrap_or_default()
                ),
                commands: vec![format!("curl -s {url}/live"), "sudo systemctl status lemond lemonade-server".into()],
                step: Some("lemonade-service".into()),
                ..Default::default()
            });
    }
    if health.is_some_and(|h| h.status == Some(401)) {
        return base(Outcome::warn(format!("{url}/api/v1/health wants an API key that npu-setup could not read")))
            .remedy(Remedy {
                text: "Run doctor as root so it can read the service's EnvironmentFile with LEMONADE_API_KEY.".into(),
                ..Default::default()
            });
    }
    if let Some(d) = lemonade::device_unreachable(c.f) {
        let gid = d.gid.map(|g| g.to_string()).unwrap_or_else(|| "<gid>".into());
        let group = d.group.clone().unwrap_or_else(|| gid.clone());
        let (where_, text, commands) = if d.unmanaged {
            (
                "from where it runs (its container or its user)".to_string(),
                format!(
                    "This host's NPU works ({node} exists and is usable here), so Lemonade's answer means flm cannot open {node} as the server's user. In a container: pass the device (`--device {node}`; compose `devices:`, not a volume) and its group by number (`--group-add {gid}`, {group} on this host: the group ids inside the image differ); Lemonade's image runs as an unprivileged user since 11.0 (lemonade#2742). A rootless container sees the node as nobody:nogroup (65534) and cannot open it even with the group added (lemonade#2746): run it rootful. Check inside with `flm validate` as the server's user.",
                    node = d.node
                ),
                vec![format!("docker run --device {} --group-add {gid} …", d.node), "flm validate".into()],
            )
        } else {
            (
                format!("as {}", d.unit_user.clone().unwrap_or_else(|| "its user".into())),
                format!(
                    "This host's NPU works, so flm cannot open {} as the service's user: add that user to the {group} group (accel.node judges the target user only).",
                    d.node
                ),
                vec![format!("sudo usermod -aG {group} {}", d.unit_user.clone().unwrap_or_else(|| "<user>".into()))],
            )
        };
        return base(Outcome::fail(format!(
            "Lemonade says its NPU backend is {}, but this host's NPU works: the server cannot open {} {where_}",
            d.lemonade_says, d.node
        )))
        .ev("device_unreachable", &d)
        .remedy(Remedy {
            text,
            commands,
            docs: Some("https://github.com/lemonade-sdk/lemonade/issues/2742".into()),
            ..Default::default()
        });
    }
    let bad: Vec<&(String, String)> = states.iter().filter(|(_, s)| !s.starts_with("installed")).collect();
    if let Some((_, s)) = bad.first()
        && !states.iter().any(|(_, s)| s.starts_with("installed"))
    {
        return base(Outcome::fail(format!("Lemonade answers, but its FLM backend is {s}")))
            .suspects(&["lemonade.service", "lemonade.flm", "flm.validate", "flm.install"])
            .remedy(Remedy {
                text: "Lemonade marks FLM installed only when the flm it runs (lemonade.flm) is a version it accepts and `flm validate --json` says ready; fix the failing check above.".into(),
                commands: vec![format!("curl -s {url}/api/v1/system-info")],
                step: Some("lemonade-service".into()),
                ..Default::default()
            });
    }
    let ver = hj.as_ref().and_then(|j| j["version"].as_str().map(str::to_string)).unwrap_or_else(|| "?".into());
    let old = parse_dotted(&ver).is_some_and(|v| v < parse_dotted("10.1").unwrap_or_default());
    let mut o = base(Outcome::pass(format!(
        "Lemonade {ver} answers at {url}{}",
        if states.is_empty() {
            String::new()
        } else {
            format!("; FLM backend {}", states.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>().join(", "))
        }
    )));
    if old {
        o = o.ev("note", "Lemonade 10.0 (lemonade-router, port 8000); 10.1 renamed it lemond and moved to port 13305");
    }
    o
}

/// `gpu.device`.
pub fn gpu_device(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.pci, "PCI devices") {
        return o;
    }
    let Some(p) = c.f.pci.ok() else { unreachable!() };
    let Some(g) = p.gpus.first() else {
        return Outcome::skip("no AMD GPU on this machine");
    };
    let base = |o: Outcome| {
        o.ev("bdf", &g.bdf)
            .ev("pci_id", format!("{}:{}", g.vendor, g.device))
            .ev("driver", &g.driver)
            .ev("render", &g.render)
            .ev("name", &g.name)
    };
    if g.driver.as_deref() != Some("amdgpu") {
        return base(Outcome::fail(format!(
            "AMD GPU {} is not bound to amdgpu ({})",
            g.bdf,
            g.driver.clone().unwrap_or_else(|| "no driver".into())
        )))
        .remedy(Remedy {
            text: "Check that amdgpu loads (modprobe amdgpu; kernel log) and is not blacklisted.".into(),
            ..Default::default()
        });
    }
    if g.render.is_empty() {
        return base(Outcome::fail(format!("{} has no render node", g.bdf)))
            .remedy(Remedy { text: "Check the kernel log for amdgpu errors.".into(), ..Default::default() });
    }
    let node = format!("/dev/dri/{}", g.render[0]);
    if let (Some(users), Some(nodes)) = (c.f.users.ok(), c.f.nodes.ok())
        && let Some(n) = nodes.render.iter().find(|n| n.path == node)
        && users.exists
        && let Err(why) = super::user::access(users, n)
    {
        return base(Outcome::warn(why)).remedy(Remedy {
            text: format!("Add {} to the render group for GPU inference.", users.name),
            commands: vec![format!("sudo usermod -aG render {}", users.name)],
            step: Some("access".into()),
            ..Default::default()
        });
    }
    base(Outcome::pass(format!("{} bound to amdgpu, {node}", g.name.clone().unwrap_or_else(|| g.bdf.clone()))))
}

/// `gpu.api`.
pub fn gpu_api(c: &Ctx) -> Outcome {
    if c.f.mode == crate::root::RootMode::Offline {
        return Outcome::skip("offline root (or a chroot): nothing is running");
    }
    if let Some(o) = probe_problem(&c.f.gpu, "the GPU endpoint") {
        return o;
    }
    let Some(g) = c.f.gpu.ok() else { unreachable!() };
    let Some(h) = &g.health else { return Outcome::skip("not probed") };
    let explicit = g.url_source == "--gpu-url";
    let base = |o: Outcome| {
        o.ev("url", &g.url)
            .ev("url_source", &g.url_source)
            .ev("status", h.status)
            .ev("error", &h.error)
            .ev("millis", h.millis)
    };
    if h.ok() {
        return base(Outcome::pass(format!("{} answers ({} ms)", g.url, h.millis)));
    }
    let what = h.error.clone().unwrap_or_else(|| format!("HTTP {}", h.status.unwrap_or(0)));
    let o = if explicit || h.status.is_some() {
        Outcome::fail(format!("GPU endpoint {} does not answer: {what}", g.url))
    } else if c.f.pci.ok().is_some_and(|p| p.gpus.is_empty()) {
        return base(Outcome::skip(format!("no AMD GPU and nothing at {}", g.url)));
    } else {
        Outcome::warn(format!("no GPU endpoint at {} ({what}); llama-swap not running?", g.url))
    };
    base(o).remedy(Remedy {
        text: "Start llama-swap (default :8080, health route /health) or pass --gpu-url for another OpenAI-compatible server.".into(),
        commands: vec![format!("curl -s {}", g.url)],
        ..Default::default()
    })
}

/// `smoke.npu`.
pub fn smoke_npu(c: &Ctx) -> Outcome {
    smoke(&c.f.smoke_npu, "NPU (Lemonade)", &["lemonade.api", "flm.validate", "lemonade.service"])
}

/// `smoke.gpu`.
pub fn smoke_gpu(c: &Ctx) -> Outcome {
    smoke(&c.f.smoke_gpu, "GPU endpoint", &["gpu.api"])
}

/// `smoke.whisper`: the shipped clip transcribed through Lemonade. Passes when the text
/// shares at least one word with what the clip says — a smoke test of the audio path, not
/// an accuracy measurement; no shared word at all warns (wrong model, mangled upload).
pub fn smoke_whisper(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.smoke_whisper, "the Whisper smoke") {
        return o;
    }
    let Some(f) = c.f.smoke_whisper.ok() else { unreachable!() };
    let base = |o: Outcome| {
        o.ev("base", &f.base).ev("model", &f.model).ev("load", &f.load).ev("transcription", &f.transcription)
    };
    let curl = format!(
        "curl -s {}/audio/transcriptions -F file=@/usr/share/npu-setup/hello-world.wav -F model={}",
        f.base, f.model
    );
    if let Some(e) = &f.error {
        return base(Outcome::fail(format!("Whisper ({}): {e}", f.model)))
            .ev("error", e)
            .suspects(&["lemonade.api", "flm.validate", "lemonade.service"])
            .remedy(Remedy {
                text: match e {
                    crate::net::inference::InferError::ModelNotFound { .. } => format!(
                        "Whisper model {} is not available: pull it (npu-setup install --only models --model whisper-v3:turbo) or pass --whisper-model.",
                        f.model
                    ),
                    crate::net::inference::InferError::Connect { .. } => {
                        "Nothing answers at that address: start Lemonade or pass --lemonade-url.".into()
                    }
                    _ => "Lemonade accepted the upload but did not transcribe it; see its log (journalctl -u lemonade-server).".into(),
                },
                commands: vec![curl],
                ..Default::default()
            });
    }
    let Some(t) = &f.transcription else { return Outcome::error("no transcription and no error recorded") };
    let summary = format!(
        "{}: {:.1} s of audio in {:.0} ms ({:.1}x real time), heard {:?}",
        f.model, t.audio_s, t.total_ms, t.speed, t.text
    );
    if t.text.is_empty() {
        return base(Outcome::fail(format!("{summary}: empty transcription"))).remedy(Remedy {
            text: "The model returned no text for clear speech; see Lemonade's log.".into(),
            commands: vec![curl],
            ..Default::default()
        });
    }
    if t.matched.is_empty() {
        return base(Outcome::warn(format!("{summary}, which shares no word with {:?}", t.reference))).remedy(Remedy {
            text: "The audio path works but the text is unrelated: check that the model is a Whisper (ASR) model."
                .into(),
            commands: vec![curl],
            ..Default::default()
        });
    }
    base(Outcome::pass(format!("{summary} ({}/{} words)", t.matched.len(), t.reference_words)))
}

fn smoke(p: &crate::host::Probed<crate::host::smoke::SmokeFacts>, what: &str, suspects: &[&'static str]) -> Outcome {
    if let Some(o) = probe_problem(p, "the smoke inference") {
        return o;
    }
    let Some(f) = p.ok() else { unreachable!() };
    let base =
        |o: Outcome| o.ev("base", &f.base).ev("model", &f.model).ev("load", &f.load).ev("completion", &f.completion);
    if let Some(e) = &f.error {
        return base(Outcome::fail(format!("{what}: {e}")))
            .ev("error", e)
            .suspects(suspects)
            .remedy(Remedy {
                text: match e {
                    crate::net::inference::InferError::ModelNotFound { .. } => format!(
                        "Model {} is not available there: pull it (npu-setup install --only models) or pass --npu-model / --gpu-model.",
                        f.model
                    ),
                    crate::net::inference::InferError::Connect { .. } => "Nothing answers at that address: start the service or pass the right URL.".into(),
                    _ => "The server accepted the request but did not complete it; see its log.".into(),
                },
                commands: vec![format!(
                    "curl -s {}/chat/completions -H 'Content-Type: application/json' -d '{{\"model\":\"{}\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"max_tokens\":8}}'",
                    f.base, f.model
                )],
                ..Default::default()
            });
    }
    let Some(c) = &f.completion else { return Outcome::error("no completion and no error recorded") };
    base(Outcome::pass(format!(
        "{} answered: TTFT {:.0} ms, {} tokens{}",
        f.model,
        c.ttft_ms,
        c.completion_tokens,
        c.decode_tps.map(|t| format!(", {t:.1} tokens/s decode")).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use crate::checks::{CheckOptions, Status, run_checks};
    use crate::host::smoke::WhisperSmokeFacts;
    use crate::host::{Facts, Probed};
    use crate::net::transcription::{SMOKE_TEXT, Transcription, matched_words, words};
    use crate::recipes::Recipes;

    /// `smoke.whisper` for a transcription the server returned.
    fn whisper(text: &str) -> (Status, String) {
        let t = Transcription {
            text: text.into(),
            total_ms: 900.0,
            audio_s: 3.6,
            speed: 4.0,
            reference: SMOKE_TEXT.into(),
            matched: matched_words(SMOKE_TEXT, text),
            reference_words: words(SMOKE_TEXT).len(),
        };
        let f = Facts {
            smoke_whisper: Probed::Ok(WhisperSmokeFacts {
                base: "http://127.0.0.1:13305/api/v1".into(),
                model: "whisper-v3-turbo-FLM".into(),
                transcription: Some(t),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = Recipes::embedded().unwrap();
        let res =
            run_checks(&f, &r, &CheckOptions { smoke: true, ..Default::default() }, &["smoke.whisper".into()], &[]);
        let c = res.into_iter().find(|c| c.id == "smoke.whisper").unwrap();
        (c.status, c.summary)
    }

    #[test]
    fn whisper_verdicts_from_what_the_model_heard() {
        let (s, line) = whisper("Hello world. Testing 1, 2, 3.");
        assert_eq!(s, Status::Pass, "{line}");
        assert!(line.contains("(6/6 words)") && line.contains("4.0x real time"), "{line}");
        let (s, line) = whisper("Thank you for watching.");
        assert_eq!(s, Status::Warn, "{line}");
        assert!(line.contains("shares no word with"), "{line}");
        let (s, line) = whisper("");
        assert_eq!(s, Status::Fail, "{line}");
        assert!(line.contains("empty transcription"), "{line}");
    }
}

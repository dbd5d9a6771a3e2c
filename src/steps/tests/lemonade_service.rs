//! `lemonade-service`: the Lemonade unit (or our drop-in) finds flm, reads a shared model
//! directory, pins memory, binds where it should, and runs.

use super::*;
use crate::steps::lemonade_service::LemonadeService;

const DROPIN: &str = "etc/systemd/system/lemond.service.d/50-npu-setup.conf";
const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nlemonade:x:975:975::/var/lib/lemonade:/sbin/nologin\n";

/// What the Strix Halo host's tree holds for the service: flm on systemd's PATH, the model
/// directory, the lemonade user.
fn halo_tree() -> Scratch {
    let s = Scratch::running(&[("usr/bin/flm", ""), ("var/lib/flm/.keep", ""), ("etc/passwd", PASSWD)]);
    s.tool("usr/bin/npu-setup");
    s
}

#[test]
fn nothing_when_the_unit_has_everything_and_runs() {
    let p = halo_tree().plan(&LemonadeService, &Host::halo());
    assert!(p.is_empty() && p.blocked.is_none(), "{p:#?}");
}

#[test]
fn a_dropin_adds_what_the_packaged_unit_lacks() {
    let s = halo_tree();
    let h = Host::halo().lemonade_unit(|u| u.environment.clear());
    let p = s.plan(&LemonadeService, &h);
    assert_eq!(
        summary(&p),
        [
            format!("write {DROPIN}"),
            "run systemctl daemon-reload".into(),
            "run systemctl restart lemond.service".into()
        ]
    );
    assert!(noted(&p, "lemond.service: no FLM_MODEL_PATH"), "{:?}", p.notes);
    let c = content(&p, DROPIN);
    for line in [
        "[Service]",
        "Environment=FLM_MODEL_PATH=/var/lib/flm",
        "Environment=LEMONADE_HOST=127.0.0.1",
        "Environment=LEMONADE_PORT=13305",
        "ExecStartPost=-/usr/bin/npu-setup dev lemonade-ready --url http://127.0.0.1:13305 --timeout 60 --load qwen3-4b-FLM",
    ] {
        assert!(c.lines().any(|l| l == line), "{line:?} missing from\n{c}");
    }
    // 11.6 reads flm.npu_bin (already naming /usr/bin/flm), not PATH; its unit grants
    // CAP_SYS_RESOURCE, so no LimitMEMLOCK either.
    assert!(!c.lines().any(|l| l.starts_with("Environment=PATH=") || l.starts_with("LimitMEMLOCK")), "{c}");
    // Planned again over what it wrote: the drop-in is ours and current.
    s.write_planned(&p);
    let p = s.plan(&LemonadeService, &h);
    assert!(writes(&p).is_empty(), "{p:#?}");
}

/// A Lemonade release's config.json, as the halo host's facts see it, with flm settings.
fn config(h: Host, npu_bin: Option<&str>, prefer_system: bool) -> Host {
    let npu_bin = npu_bin.map(str::to_string);
    h.lemonade_unit(move |u| {
        let c = u.dirs[0].config.as_mut().unwrap();
        c.npu_bin = npu_bin;
        c.prefer_system = Some(prefer_system);
        u.npu_bin_paths.clear();
    })
}

const CONFIG: &str = "var/lib/lemonade/.cache/lemonade/config.json";
const LEMOND_CONFIG: &str =
    "{\n    \"flm\": {\n        \"args\": \"\",\n        \"prefer_system\": false\n    },\n    \"port\": 13305\n}\n";

fn edit_json(p: &Plan) -> Option<(&str, &serde_json::Value)> {
    p.actions.iter().find_map(|a| match a {
        Action::EditJson { path, value, .. } => Some((path.as_str(), value)),
        _ => None,
    })
}

/// 10.10 to 11.7 read flm.npu_bin from config.json in the service user's cache directory.
#[test]
fn from_10_10_the_installed_flm_goes_into_config_json() {
    for version in ["10.10.0", "11.0.0", "11.5.2", "11.7.0-1.fc44"] {
        let s = halo_tree();
        s.write(CONFIG, LEMOND_CONFIG);
        let h = config(Host::halo().package("lemonade-server", Some(version)), None, false);
        let p = s.plan(&LemonadeService, &h);
        assert_eq!(edit_json(&p), Some((CONFIG, &serde_json::json!("/usr/bin/flm"))), "{version}: {p:#?}");
        assert_eq!(runs(&p), ["systemctl restart lemond.service"], "{version}");
        assert!(noted(&p, "runs the installed FastFlowLM /usr/bin/flm once"), "{:?}", p.notes);
        // What Lemonade then reads: nothing more to do.
        let done = config(Host::halo().package("lemonade-server", Some(version)), Some("/usr/bin/flm"), false);
        assert!(s.plan(&LemonadeService, &done).is_empty(), "{version}");
    }
    // prefer_system with the installed flm on the service's PATH already runs it.
    let h = config(Host::halo(), None, true);
    assert!(halo_tree().plan(&LemonadeService, &h).is_empty());
}

/// From 11.8 the service's config.json is in its StateDirectory (/var/lib/lemonade).
#[test]
fn from_11_8_config_json_is_in_the_state_directory() {
    let h = config(Host::halo(), None, false).package("lemonade-server", Some("11.8.1")).lemonade_unit(|u| {
        u.dirs[0].config = None;
    });
    let p = halo_tree().plan(&LemonadeService, &h);
    assert_eq!(edit_json(&p), Some(("var/lib/lemonade/config.json", &serde_json::json!("/usr/bin/flm"))), "{p:#?}");
    let Some(Action::EditJson { owner, .. }) = p.actions.iter().find(|a| matches!(a, Action::EditJson { .. })) else {
        unreachable!()
    };
    assert_eq!(owner.as_deref(), Some("lemonade"), "created for the service user");
}

/// A config.json Lemonade has not written yet is created, with its directories, owned by the
/// service user (so lemond can still save its settings).
#[test]
fn a_missing_config_json_is_created_for_the_service_user() {
    let h = config(Host::halo(), None, false).lemonade_unit(|u| u.dirs[0].config = None);
    let p = Scratch::running(&[
        ("usr/bin/flm", ""),
        ("var/lib/flm/.keep", ""),
        ("etc/passwd", PASSWD),
        ("var/lib/lemonade/.keep", ""),
    ])
    .plan(&LemonadeService, &h);
    let dirs: Vec<(String, u32, Option<String>)> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::MakeDir { path, mode, owner } => Some((path.clone(), *mode, owner.clone())),
            _ => None,
        })
        .collect();
    let l = Some("lemonade".to_string());
    assert_eq!(
        dirs,
        [
            ("var/lib/lemonade/.cache".to_string(), 0o755, l.clone()),
            ("var/lib/lemonade/.cache/lemonade".to_string(), 0o755, l.clone())
        ]
    );
    assert_eq!(edit_json(&p).map(|(p, _)| p), Some(CONFIG));
}

/// Someone's own choice of flm is left alone; a stale path is replaced.
#[test]
fn a_chosen_flm_is_left_alone() {
    let h = config(Host::halo(), Some("/opt/flm-dev/bin/flm"), false)
        .lemonade_unit(|u| u.npu_bin_paths = vec![("/opt/flm-dev/bin/flm".into(), true)]);
    let p = halo_tree().plan(&LemonadeService, &h);
    assert!(
        edit_json(&p).is_none() && noted(&p, "sets flm.npu_bin = \"/opt/flm-dev/bin/flm\": someone chose that flm"),
        "{p:#?}"
    );
    let h = config(Host::halo(), Some("v1.0.2"), false);
    assert!(edit_json(&halo_tree().plan(&LemonadeService, &h)).is_none());
    let stale = config(Host::halo(), Some("/opt/fastflowlm/bin/flm"), false)
        .lemonade_unit(|u| u.npu_bin_paths = vec![("/opt/fastflowlm/bin/flm".into(), false)]);
    assert_eq!(
        edit_json(&halo_tree().plan(&LemonadeService, &stale)).map(|(_, v)| v.clone()),
        Some(serde_json::json!("/usr/bin/flm"))
    );
    // 11.6 on: LEMONADE_FLM_NPU_BIN wins over config.json; it is left alone.
    let env = config(Host::halo(), None, false)
        .lemonade_unit(|u| u.environment.push(("LEMONADE_FLM_NPU_BIN".into(), "v1.0.2".into())));
    let p = halo_tree().plan(&LemonadeService, &env);
    assert!(edit_json(&p).is_none() && noted(&p, "LEMONADE_FLM_NPU_BIN=v1.0.2 in its environment"), "{p:#?}");
}

/// No FastFlowLM installed: Lemonade keeps its own copy; nothing to point at.
#[test]
fn without_an_installed_flm_lemonade_keeps_its_own() {
    let h = config(Host::halo(), None, false).no_flm();
    let p = halo_tree().plan(&LemonadeService, &h);
    assert!(
        edit_json(&p).is_none() && noted(&p, "no FastFlowLM installed: Lemonade 11.7.0-1.fc44 runs its own copy"),
        "{p:#?}"
    );
}

/// 10.3 to 10.9 find flm on PATH; the stock unit's CAP_SYS_RESOURCE covers memlock.
#[test]
fn before_10_10_flm_comes_through_path() {
    let s = Scratch::running(&[("opt/fastflowlm/bin/flm", ""), ("var/lib/flm/.keep", ""), ("etc/passwd", PASSWD)]);
    let h = config(Host::halo(), None, false)
        .package("lemonade-server", Some("10.9.0"))
        .with(|f| f.flm.ok_mut().binary = Some("/opt/fastflowlm/bin/flm".into()))
        .lemonade_unit(|u| {
            u.environment.clear();
            u.flm_on_path = None;
            u.limit_memlock = None;
        });
    let p = s.plan(&LemonadeService, &h);
    assert!(edit_json(&p).is_none(), "{p:#?}");
    let c = content(&p, DROPIN);
    assert!(
        c.contains("Environment=PATH=/opt/fastflowlm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\n"),
        "{c}"
    );
    assert!(!c.lines().any(|l| l.starts_with("LimitMEMLOCK")), "{c}");
    // A unit without the capability gets LimitMEMLOCK=infinity.
    let p = s.plan(&LemonadeService, &h.lemonade_unit(|u| u.ambient_capabilities.clear()));
    assert!(
        noted(&p, "flm cannot pin memory (LimitMEMLOCK=unset and no AmbientCapabilities=CAP_SYS_RESOURCE)"),
        "{:?}",
        p.notes
    );
    assert!(content(&p, DROPIN).contains("LimitMEMLOCK=infinity\n"));
}

/// An unknown release gets the PATH drop-in (all a release before 10.10 needs) and a note.
#[test]
fn an_unknown_release_gets_path_and_a_note() {
    let h = Host::halo()
        .with(|f| f.packages.ok_mut().packages.retain(|p| p.name != "lemonade-server"))
        .lemonade_answer("health", Some(401), "")
        .lemonade_unit(|u| u.environment.clear());
    let p = halo_tree().plan(&LemonadeService, &h);
    assert!(noted(&p, "Lemonade's version is unknown: its flm is set through PATH"), "{:?}", p.notes);
    assert!(content(&p, DROPIN).contains("Environment=PATH="));
}

#[test]
fn lemonade_10_0_keeps_its_port_and_gets_flms_directory_on_its_path() {
    let s = Scratch::running(&[("opt/fastflowlm/bin/flm", ""), ("var/lib/flm/.keep", "")]);
    let h = Host::point_dkms().lemonade_unit(|u| u.environment.retain(|(k, _)| k != "PATH"));
    let p = s.plan(&LemonadeService, &h);
    let dropin = "etc/systemd/system/lemonade-server.service.d/50-npu-setup.conf";
    let c = content(&p, dropin);
    assert!(
        c.contains("Environment=PATH=/opt/fastflowlm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\n"),
        "{c}"
    );
    assert!(c.contains("Environment=LEMONADE_PORT=8000\n") && !c.contains("UNVERIFIED"), "{c}");
    assert!(noted(&p, "/opt/fastflowlm/bin (flm) is not on the service's PATH"), "{:?}", p.notes);
    assert!(noted(&p, "npu-setup is not installed in this root"), "{:?}", p.notes);
}

#[test]
fn without_a_unit_it_writes_a_whole_one() {
    let p = halo_tree().plan(&LemonadeService, &Host::halo().lemonade(|l| l.units.clear()));
    let c = content(&p, "etc/systemd/system/lemond.service");
    assert!(c.contains("User=lemonade\nExecStart=/usr/bin/lemond\n"), "{c}");
    assert!(c.contains("LimitMEMLOCK=infinity\n") && c.contains("WantedBy=multi-user.target"), "{c}");
    assert!(noted(&p, "no lemond.service unit"), "{:?}", p.notes);
    assert_eq!(runs(&p), ["systemctl daemon-reload", "systemctl enable --now lemond.service"]);
}

#[test]
fn starts_and_enables_a_unit_that_is_not_running() {
    let stopped = |state: &str| {
        let state = state.to_string();
        Host::halo().lemonade_unit(move |u| {
            let rt = u.runtime.as_mut().unwrap();
            rt.active_state = "inactive".into();
            rt.unit_file_state = state;
        })
    };
    assert_eq!(runs(&halo_tree().plan(&LemonadeService, &stopped("enabled"))), ["systemctl start lemond.service"]);
    assert_eq!(
        runs(&halo_tree().plan(&LemonadeService, &stopped("disabled"))),
        ["systemctl enable --now lemond.service"]
    );
}

#[test]
fn an_offline_tree_is_enabled_never_started() {
    let s = Scratch::offline(&[("usr/bin/flm", "")]);
    let p = s.plan(&LemonadeService, &Host::halo());
    let root = s.path().display();
    assert_eq!(
        summary(&p),
        ["mkdir var/lib/flm".to_string(), format!("run systemctl --root={root} enable lemond.service")]
    );
    s.link("etc/systemd/system/multi-user.target.wants/lemond.service", "/usr/lib/systemd/system/lemond.service");
    std::fs::create_dir_all(s.path().join("var/lib/flm")).unwrap();
    assert!(s.plan(&LemonadeService, &Host::halo()).is_empty());
}

#[test]
fn refuses_to_expose_lemonade_without_an_api_key() {
    let args = InstallArgs { lemonade_host: Some("0.0.0.0".into()), ..Default::default() };
    let p = halo_tree().plan_with(&LemonadeService, &Host::halo(), &args);
    assert!(
        p.blocked.as_deref().is_some_and(|b| b.starts_with("Lemonade would listen on 0.0.0.0 without an API key")),
        "{p:#?}"
    );
    let p = halo_tree().plan_with(&LemonadeService, &Host::halo().lemonade(|l| l.api_key_set = true), &args);
    assert!(content(&p, DROPIN).contains("Environment=LEMONADE_HOST=0.0.0.0\n"));
    assert!(noted(&p, "it does not bind to 0.0.0.0 (--lemonade-host)"), "{:?}", p.notes);
}

#[test]
fn waits_for_lemonade_to_be_installed() {
    let p = halo_tree().plan(&LemonadeService, &Host::halo().lemonade(|l| l.binaries.clear()));
    assert!(p.is_empty() && noted(&p, "Lemonade is not installed yet"), "{p:#?}");
    let p = halo_tree().plan(&LemonadeService, &Host::halo().probe_error("lemonade", "EIO"));
    assert_eq!(p.blocked.as_deref(), Some("cannot read Lemonade's files: EIO"));
}

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
        "Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "Environment=FLM_MODEL_PATH=/var/lib/flm",
        "Environment=LEMONADE_HOST=127.0.0.1",
        "Environment=LEMONADE_PORT=13305",
        "LimitMEMLOCK=infinity",
        "ExecStartPost=-/usr/bin/npu-setup dev lemonade-ready --url http://127.0.0.1:13305 --timeout 60 --load qwen3-4b-FLM",
    ] {
        assert!(c.lines().any(|l| l == line), "{line:?} missing from\n{c}");
    }
    // Planned again over what it wrote: the drop-in is ours and current.
    s.write_planned(&p);
    let p = s.plan(&LemonadeService, &h);
    assert!(writes(&p).is_empty(), "{p:#?}");
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

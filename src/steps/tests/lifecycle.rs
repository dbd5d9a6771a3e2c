//! `lifecycle`: the kernel hook, the boot-time check, and the first-boot unit offline.

use super::*;
use crate::steps::lifecycle::{
    BOOT_UNIT_NAME, FIRSTBOOT_CONFIG, FIRSTBOOT_MARKER, FIRSTBOOT_UNIT_NAME, Lifecycle, PACKAGED_PLUGIN, PLUGIN_PATH,
    POSTINST_PATH, STABLE_BINARY,
};

const BOOT_UNIT: &str = "etc/systemd/system/npu-setup-boot.service";

fn installed(running: bool) -> Scratch {
    let s = if running { Scratch::running(&[]) } else { Scratch::offline(&[]) };
    s.tool("usr/bin/npu-setup");
    s.tool("usr/bin/kernel-install");
    s
}

#[test]
fn a_running_fedora_host_gets_the_kernel_install_plugin_and_the_boot_check() {
    let s = installed(true);
    let p = s.plan(&Lifecycle, &Host::halo());
    assert_eq!(
        summary(&p),
        [
            format!("write {PLUGIN_PATH}"),
            format!("write {BOOT_UNIT}"),
            "run systemctl daemon-reload".into(),
            format!("run systemctl enable {BOOT_UNIT_NAME}"),
        ]
    );
    assert!(content(&p, PLUGIN_PATH).contains("NPU_SETUP=\"${NPU_SETUP:-/usr/bin/npu-setup}\""));
    assert!(matches!(&p.actions[0], Action::WriteFile { mode: 0o755, .. }));
    assert!(content(&p, BOOT_UNIT).contains("ExecStart=/usr/bin/npu-setup --color never doctor --write-status"));
    // Planned again over what it wrote and enabled: converged.
    s.write_planned(&p);
    s.link(&format!("etc/systemd/system/multi-user.target.wants/{BOOT_UNIT_NAME}"), &format!("/{BOOT_UNIT}"));
    assert!(s.plan(&Lifecycle, &Host::halo()).is_empty());
}

#[test]
fn debian_family_hosts_get_a_postinst_hook() {
    let p = installed(true).plan(&Lifecycle, &Host::halo().os("ubuntu", "24.04"));
    assert!(writes(&p).iter().any(|(w, _)| *w == POSTINST_PATH), "{p:#?}");
    assert!(!writes(&p).iter().any(|(w, _)| *w == PLUGIN_PATH));
}

#[test]
fn packaged_files_are_not_duplicated() {
    let s = installed(true);
    s.write(PACKAGED_PLUGIN, "#!/bin/sh\n");
    s.write(&format!("usr/lib/systemd/system/{BOOT_UNIT_NAME}"), "[Unit]\n");
    assert_eq!(summary(&s.plan(&Lifecycle, &Host::halo())), [format!("run systemctl enable {BOOT_UNIT_NAME}")]);
}

#[test]
fn without_kernel_install_the_hook_only_runs_if_the_packages_call_it() {
    let s = Scratch::running(&[]);
    s.tool("usr/bin/npu-setup");
    let p = s.plan(&Lifecycle, &Host::halo());
    assert!(noted(&p, "no kernel-install here"), "{:?}", p.notes);
}

#[test]
fn an_offline_tree_gets_the_first_boot_unit_its_options_and_the_marker() {
    let s = installed(false);
    let args =
        InstallArgs { user: Some("alice".into()), dry_run: true, only: vec!["lifecycle".into()], ..Default::default() };
    let p = s.plan_with(&Lifecycle, &Host::halo(), &args);
    let root = s.path().display();
    assert_eq!(
        summary(&p),
        [
            format!("write {PLUGIN_PATH}"),
            format!("write {BOOT_UNIT}"),
            format!("run systemctl --root={root} enable {BOOT_UNIT_NAME}"),
            format!("write etc/systemd/system/{FIRSTBOOT_UNIT_NAME}"),
            format!("run systemctl --root={root} enable {FIRSTBOOT_UNIT_NAME}"),
            format!("write {FIRSTBOOT_CONFIG}"),
            format!("write {FIRSTBOOT_MARKER}"),
        ]
    );
    let config = content(&p, FIRSTBOOT_CONFIG);
    assert!(config.contains("user: alice\n") && config.contains("yes: true\n"), "{config}");
    assert!(
        config.contains("dry-run: false\n") && config.contains("only: []\n"),
        "what makes sense only now is dropped: {config}"
    );
    assert!(matches!(
        p.actions.iter().find(|a| matches!(a, Action::WriteFile { path, .. } if path == FIRSTBOOT_CONFIG)),
        Some(Action::WriteFile { mode: 0o600, .. })
    ));
}

#[test]
fn without_a_packaged_binary_this_one_is_copied_to_the_stable_path() {
    for s in [Scratch::offline(&[]), Scratch::running(&[])] {
        let p = s.plan(&Lifecycle, &Host::halo());
        let me = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        let Action::CopyFile { from, path, mode } = &p.actions[0] else { panic!("{p:#?}") };
        assert_eq!((from.as_str(), path.as_str(), *mode), (me.to_str().unwrap(), STABLE_BINARY, 0o755));
        // Hooks and units name the stable path, never the build tree this runs from.
        assert!(content(&p, PLUGIN_PATH).contains("${NPU_SETUP:-/usr/local/bin/npu-setup}"));
        assert!(content(&p, BOOT_UNIT).contains("ExecStart=/usr/local/bin/npu-setup --color never"));
        assert!(!format!("{p:?}").contains("ExecStart=/work"), "no build-tree path in a unit");
        // Copied: the copy is this binary, so nothing more to copy.
        std::fs::create_dir_all(s.path().join("usr/local/bin")).unwrap();
        std::fs::copy(&me, s.path().join(STABLE_BINARY)).unwrap();
        let again = s.plan(&Lifecycle, &Host::halo());
        assert!(!again.actions.iter().any(|a| matches!(a, Action::CopyFile { .. })), "{:?}", summary(&again));
        // A stale copy (an older npu-setup) is replaced.
        s.write(STABLE_BINARY, "#!/bin/sh\necho old\n");
        let stale = s.plan(&Lifecycle, &Host::halo());
        assert!(matches!(stale.actions[0], Action::CopyFile { .. }), "{:?}", summary(&stale));
    }
}

#[test]
fn the_copy_is_atomic_and_executable() {
    let s = Scratch::running(&[]);
    let src = s.path().parent().unwrap().join("npu-setup");
    std::fs::write(&src, "#!/bin/sh\necho new\n").unwrap();
    s.write(STABLE_BINARY, "old");
    let a = Action::CopyFile { from: src.display().to_string(), path: STABLE_BINARY.into(), mode: 0o755 };
    assert_eq!(a.render(&s.root), format!("copy {} to /usr/local/bin/npu-setup (mode 0755)", src.display()));
    let st = crate::state::StateDir::lock(&s.root).unwrap();
    crate::steps::action::apply(&a, "lifecycle", &s.root, &s.runner, &st, 1, &|_| {}).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let dest = s.path().join(STABLE_BINARY);
    assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777, 0o755);
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "#!/bin/sh\necho new\n");
    let left: Vec<_> = std::fs::read_dir(s.path().join("usr/local/bin")).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file left beside it");
    // A missing source replaces nothing.
    std::fs::remove_file(&src).unwrap();
    let err =
        format!("{:#}", crate::steps::action::apply(&a, "lifecycle", &s.root, &s.runner, &st, 2, &|_| {}).unwrap_err());
    assert!(err.contains(&format!("reading {}", src.display())), "{err}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "#!/bin/sh\necho new\n");
}

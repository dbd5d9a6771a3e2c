//! The DKMS half of the `driver` step: the xdna-driver module installed for the *target*
//! kernel (not `uname -r`, which is the installer's kernel in a kickstart chroot), headers
//! for it, signing under Secure Boot, and the initramfs.
//!
//! Sources: xdna-driver `dkms_driver.sh --install` unpacks amdxdna.tar.gz into
//! /usr/src/xrt-amdxdna-<ver> and runs `dkms install` without `-k`
//! (<https://github.com/amd/xdna-driver/blob/c4052fc30322f8fa0a7f388f171bcb065d6dab6b/drivers/accel/tools/dkms_driver.sh>);
//! DKMS signs with /var/lib/dkms/mok.key
//! (<https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.8.in>) and dkms >= 3.4
//! skips signing in a chroot
//! (<https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.in> `try_sign_modules`).

use anyhow::Result;

use super::{Action, Plan, StepCtx};

/// `dkms` argv prefix; on a foreign offline root the trees point into it (dkms --dkmstree/
/// --sourcetree/--installtree). Inside a chroot plain dkms works on the tree it runs in.
pub fn dkms_argv(cx: &StepCtx) -> Vec<String> {
    let mut v = vec!["dkms".to_string()];
    if cx.foreign_root() {
        let r = cx.root.path().display().to_string();
        v.extend([
            "--sourcetree".into(),
            format!("{r}/usr/src"),
            "--dkmstree".into(),
            format!("{r}/var/lib/dkms"),
            "--installtree".into(),
            format!("{r}/lib/modules"),
        ]);
    }
    v
}

/// Plans the module for the target kernel; appends to `p`.
pub fn plan_dkms(cx: &StepCtx, target: Option<&str>, p: &mut Plan) -> Result<()> {
    let m = &cx.recipes.sources.dkms;
    let Some(target) = target else {
        p.blocked = Some("no target kernel to build the DKMS module for".into());
        return Ok(());
    };
    let payload = format!("{}/{}", m.payload_dir, m.tarball);
    // In the printed plan, a plugin package this plan installs first brings the payload: the
    // module's phases are shown with the recipe's name and version (planned again, from the
    // package's own dkms.conf, once it is there).
    let projected = !cx.root.exists(&payload) && cx.preview && !p.actions.is_empty();
    if !cx.root.exists(&payload) && !projected {
        // The plugin package carries the module source; without it there is nothing to build.
        p.notes.push(format!(
            "{} not installed yet (the xdna plugin package carries it)",
            crate::root::Root::display(&payload)
        ));
        return Ok(());
    }
    // The installed plugin package says which module version it carries (its dkms.conf),
    // whatever version built it; the recipe's version is the fallback.
    let conf = cx.root.read_optional(format!("{}/dkms.conf", m.payload_dir))?.unwrap_or_default();
    let vars = crate::parse::shellvars::parse_env_lenient(&conf);
    let get = |k: &str| vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let name = get("PACKAGE_NAME").unwrap_or_else(|| m.name.clone());
    let version = get("PACKAGE_VERSION").unwrap_or_else(|| m.version.clone());
    let src_rel = format!("usr/src/{name}-{version}");
    let dkms = cx.facts.dkms.ok();
    // Any version of the module installed for the target counts (a newer package may have
    // replaced ours; stack.provenance reports that).
    let for_target = dkms.and_then(|d| {
        d.entries.iter().find(|e| e.module == name && e.kernel.as_deref() == Some(target) && e.state == "installed")
    });
    if let Some(e) = for_target
        && let Some(why) = crate::knowledge::kernels::dkms_rebuild(cx.facts, cx.recipes, target)
        && !rebuilt_this_boot(cx, target)
    {
        // DKMS calls it installed, but the kernel refuses the file: build it again against
        // the target's headers (and sign it under Secure Boot).
        let mut argv = dkms_argv(cx);
        argv.extend([
            "install".into(),
            "--force".into(),
            "-m".into(),
            e.module.clone(),
            "-v".into(),
            e.version.clone(),
            "-k".into(),
            target.to_string(),
        ]);
        p.actions.push(Action::Run { argv, why: format!("rebuild {}/{} for {target}: {why}", e.module, e.version) });
        push_initramfs(cx, target, "with the rebuilt module", p);
        p.reboot = Some(format!("the rebuilt {}/{} loads at the next boot of {target}", e.module, e.version));
        return Ok(());
    }
    if for_target.is_some() {
        // Owed until the loaded amdxdna is this module: DKMS builds stamp MODULE_VERSION
        // "<version>_<date>,<hash>" (sys/module/amdxdna/version); the in-tree one has none.
        if let Some(k) = cx.facts.kernel.ok()
            && k.running.as_deref() == Some(target)
            && !k.loaded_version.as_deref().is_some_and(|v| v.starts_with(version.as_str()))
        {
            p.reboot = Some(format!("the {name} {version} module replaces the loaded amdxdna at the next boot"));
        }
        return Ok(());
    }
    let entries: Vec<_> = dkms
        .map(|d| d.entries.iter().filter(|e| e.module == name && e.version == version).collect())
        .unwrap_or_default();
    if !cx.root.exists(format!("{src_rel}/dkms.conf")) {
        // tar opens both on this machine: the paths resolved inside the root.
        let dest = cx.root.host_path(&src_rel)?.display().to_string();
        let archive = cx.root.host_path(&payload)?.display().to_string();
        p.actions.push(Action::MakeDir { path: src_rel.clone(), mode: 0o755, owner: None });
        p.actions.push(Action::Run {
            argv: vec!["tar".into(), "-xzf".into(), archive, "-C".into(), dest],
            why: format!("unpack the {name} source for DKMS (what dkms_driver.sh --install does)"),
        });
        if projected {
            p.notes.push(format!(
                "the DKMS module {name}/{version} (recipe) is unpacked, registered and built for {target} once the plugin package is installed; its dkms.conf comes from the package"
            ));
        } else {
            p.actions.push(Action::WriteFile { path: format!("{src_rel}/dkms.conf"), content: conf, mode: 0o644 });
            // dkms.conf's PRE_BUILD runs configure_kernel.sh (it generates config_kernel.h
            // that the Kbuild force-includes); dkms_driver.sh copies it next to dkms.conf.
            let pre = format!("{}/configure_kernel.sh", m.payload_dir);
            if let Some(script) = cx.root.read_optional(&pre)? {
                p.actions.push(Action::WriteFile {
                    path: format!("{src_rel}/configure_kernel.sh"),
                    content: script,
                    mode: 0o755,
                });
            }
        }
        if !cx.preview {
            return Ok(());
        }
    }
    let headers = cx.facts.kernel.ok().and_then(|k| k.installed(target)).is_some_and(|i| i.headers);
    if !headers {
        let Some(d) = cx.distro() else {
            p.blocked = Some(format!("headers for {target} are missing and there is no distro recipe to install them"));
            return Ok(());
        };
        let pkg = d.headers.replace("{kver}", target);
        if let Err(e) = cx.install_packages(p, &[pkg], format!("kernel headers for the target kernel {target}")) {
            p.blocked = Some(e);
            return Ok(());
        }
        if !cx.preview {
            return Ok(());
        }
    }
    // Under Secure Boot DKMS signs with /var/lib/dkms/mok.key, creating the key on its first
    // signed build (dkms.8); enrollment is an interactive MokManager step at the next boot.
    let sb = cx.facts.secureboot.ok().and_then(|s| s.enabled) == Some(true);
    if entries.is_empty() {
        let mut argv = dkms_argv(cx);
        argv.extend(["add".into(), "-m".into(), name.clone(), "-v".into(), version.clone()]);
        p.actions.push(Action::Run { argv, why: format!("register {name}/{version} with DKMS") });
    }
    let mut argv = dkms_argv(cx);
    argv.extend([
        "install".into(),
        "-m".into(),
        name.clone(),
        "-v".into(),
        version.clone(),
        "-k".into(),
        target.to_string(),
    ]);
    p.actions.push(Action::Run { argv, why: format!("build and install the module for the target kernel {target}") });
    push_initramfs(cx, target, "keeps a stale in-tree amdxdna out", p);
    if sb {
        p.notes.push("Secure Boot is on: enroll the DKMS key once — sudo mokutil --import /var/lib/dkms/mok.pub, reboot, confirm in MokManager (npu-setup cannot do this for you)".into());
        let enrolled = cx.facts.secureboot.ok().is_some_and(|s| {
            !s.enrolled.is_empty()
                && s.enrolled.iter().any(|k| k.subject.as_deref().is_some_and(|s| s.contains("DKMS")))
        });
        if !enrolled {
            p.reboot =
                Some("enroll the DKMS signing key in MokManager (sudo mokutil --import /var/lib/dkms/mok.pub)".into());
        }
    }
    if p.reboot.is_none() {
        p.reboot = Some(format!("the {name} module loads at the next boot of {target}"));
    }
    Ok(())
}

/// The target kernel's amdxdna file was written after this boot began (a rebuild this boot):
/// the refusal in this boot's log was about the file it replaced. Read through the root:
/// the module file's mtime against `proc/uptime`.
fn rebuilt_this_boot(cx: &StepCtx, target: &str) -> bool {
    let Some(uptime) = cx
        .root
        .read_trimmed("proc/uptime")
        .ok()
        .flatten()
        .and_then(|u| u.split_whitespace().next().and_then(|s| s.parse::<f64>().ok()))
    else {
        return false;
    };
    let boot = std::time::SystemTime::now() - std::time::Duration::from_secs_f64(uptime.max(0.0));
    let Some(k) = cx.facts.kernel.ok().and_then(|k| k.installed(target)) else { return false };
    k.amdxdna
        .iter()
        .filter(|m| m.origin != "in-tree")
        .filter_map(|m| cx.root.metadata(m.path.trim_start_matches('/')).ok().flatten())
        .filter_map(|md| md.modified().ok())
        .any(|t| t > boot)
}

/// On the in-tree path: xdna-driver's DKMS module, when registered, only shadows the target
/// kernel's own amdxdna (DKMS installs into extra/ or updates/, which win over kernel/;
/// <https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.8.in> on
/// DEST_MODULE_LOCATION). Removing it lets the in-tree driver load — planned only when the
/// target kernel has its in-tree module. Older kernels the module was built for lose it.
pub fn plan_dkms_removal(cx: &StepCtx, target: Option<&str>, p: &mut Plan) -> Result<()> {
    let name = &cx.recipes.sources.dkms.name;
    let Some(target) = target else { return Ok(()) };
    let Some(d) = cx.facts.dkms.ok() else { return Ok(()) };
    let mut versions: Vec<&str> = d.entries.iter().filter(|e| &e.module == name).map(|e| e.version.as_str()).collect();
    versions.dedup();
    if versions.is_empty() {
        return Ok(());
    }
    let k = cx.facts.kernel.ok();
    let in_tree = k.and_then(|k| k.installed(target)).is_some_and(|i| i.amdxdna.iter().any(|m| m.origin == "in-tree"));
    if !in_tree {
        p.notes.push(format!(
            "{name} is registered with DKMS but {target} has no in-tree amdxdna module file: left in place"
        ));
        return Ok(());
    }
    let min = &cx.recipes.drivers.kernel.protocol7_in_tree_min;
    let older: Vec<String> = d
        .entries
        .iter()
        .filter(|e| &e.module == name)
        .filter_map(|e| e.kernel.clone())
        .filter(|kv| {
            crate::parse::version::parse_kernel_release(kv)
                .is_some_and(|kr| !crate::recipes::kernel_in_range(&kr, Some(min), None))
        })
        .collect();
    if !older.is_empty() {
        p.notes.push(format!(
            "removing {name} also removes it from {} (older than {min}: the NPU will not work when they boot)",
            older.join(", ")
        ));
    }
    for v in versions {
        let mut argv = dkms_argv(cx);
        argv.extend(["remove".into(), "-m".into(), name.clone(), "-v".into(), v.to_string(), "--all".into()]);
        p.actions.push(Action::Run {
            argv,
            why: format!("{target}'s in-tree amdxdna accepts the firmware; {name}/{v} only shadows it"),
        });
    }
    push_initramfs(cx, target, "without the DKMS module", p);
    p.reboot = Some(format!("the in-tree amdxdna of {target} loads at the next boot"));
    Ok(())
}

/// Regenerates the target kernel's initramfs after the module changed (the distro recipe's
/// `commands.initramfs`). Not into a foreign tree: the tools run inside the system they
/// rebuild (the plugin's dracut conf:
/// <https://github.com/amd/xdna-driver/blob/c4052fc30322f8fa0a7f388f171bcb065d6dab6b/CMake/config/postinst.in>; a stale
/// initramfs module wins at boot: <https://github.com/amd/xdna-driver/issues/1257>).
fn push_initramfs(cx: &StepCtx, target: &str, why: &str, p: &mut Plan) {
    let Some(cmd) = cx.distro().map(|d| &d.commands.initramfs).filter(|c| !c.is_empty()) else { return };
    if cx.foreign_root() {
        return;
    }
    p.actions.push(Action::Run {
        argv: cmd.iter().map(|a| a.replace("{kver}", target)).collect(),
        why: format!("regenerate the initramfs of {target} ({why})"),
    });
}

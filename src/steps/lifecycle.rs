//! `lifecycle`: what keeps the NPU working after install — a kernel hook that runs
//! `npu-setup check --kernel KVER` whenever a kernel is added (a kernel-install plugin, or a
//! Debian/Ubuntu `/etc/kernel/postinst.d` hook), the boot-time check unit behind
//! `npu-setup status`, and — when installing into a tree that is not running (kickstart
//! `%post`, an image) — a first-boot unit that finishes the device-dependent steps.
//!
//! Facts: kernel-install runs `/usr/lib/kernel/install.d` and `/etc/kernel/install.d` plugins
//! in lexical order, `/etc` overriding the same name (kernel-install(8),
//! <https://www.freedesktop.org/software/systemd/man/latest/kernel-install.html>); dkms hooks in as 40-dkms.install
//! (rpm) and /etc/kernel/postinst.d/dkms (deb)
//! (<https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/Makefile>), so our hook sorts
//! after them.

use anyhow::{Context, Result};

use super::{Action, Plan, Step, StepCtx};
use crate::root::Root;

const INSTALL_PLUGIN: &str = include_str!("../../templates/kernel-install/95-npu-setup.install");
const POSTINST_HOOK: &str = include_str!("../../templates/kernel-install/zz-npu-setup");
const BOOT_UNIT: &str = include_str!("../../templates/systemd/npu-setup-boot.service");
const FIRSTBOOT_UNIT: &str = include_str!("../../templates/systemd/npu-setup-firstboot.service");

/// Where the install.d plugin goes (admin directory; a package puts it in /usr/lib).
pub const PLUGIN_PATH: &str = "etc/kernel/install.d/95-npu-setup.install";
/// The packaged plugin.
pub const PACKAGED_PLUGIN: &str = "usr/lib/kernel/install.d/95-npu-setup.install";
/// Where the Debian/Ubuntu hook goes.
pub const POSTINST_PATH: &str = "etc/kernel/postinst.d/zz-npu-setup";
/// Boot-check unit name.
pub const BOOT_UNIT_NAME: &str = "npu-setup-boot.service";
/// First-boot unit name.
pub const FIRSTBOOT_UNIT_NAME: &str = "npu-setup-firstboot.service";
/// Present until the first boot finished the install.
pub const FIRSTBOOT_MARKER: &str = "var/lib/npu-setup/firstboot";
/// The options the first boot runs with (written offline).
pub const FIRSTBOOT_CONFIG: &str = "etc/npu-setup/firstboot.yaml";

/// The lifecycle step.
pub struct Lifecycle;

/// Where install places its own binary when no package provides one: a path that outlives
/// the build tree it was run from (`target/release` vanishes with `cargo clean`).
pub const STABLE_BINARY: &str = "usr/local/bin/npu-setup";

/// Package-manager locations (the RPM's and the .deb's /usr/bin): a binary there is kept up
/// to date by its package, so hooks run it as it is.
const SYSTEM_BINARIES: &[&str] = &["usr/bin/npu-setup", "usr/sbin/npu-setup", "bin/npu-setup", "sbin/npu-setup"];

/// The npu-setup binary the hooks and units run, as the installed system will see it, and
/// an action that copies this binary to [`STABLE_BINARY`] (through the root, atomically)
/// when it runs from anywhere else and the copy there differs.
fn binary(cx: &StepCtx, p: &mut Plan) -> Result<Option<String>> {
    let me = std::env::current_exe().ok().map(|m| std::fs::canonicalize(&m).unwrap_or(m));
    let mine = me.as_deref().and_then(|m| cx.root.rel_of(m)).map(|r| r.display().to_string());
    if let Some(rel) = &mine
        && SYSTEM_BINARIES.contains(&rel.as_str())
    {
        return Ok(Some(format!("/{rel}")));
    }
    // A packaged binary in the tree (an image built with the RPM) is what its hooks run.
    if let Some(c) = SYSTEM_BINARIES.iter().find(|c| cx.root.exists(c)) {
        return Ok(Some(format!("/{c}")));
    }
    let Some(me) = me else {
        // No way to copy ourselves: an admin's own copy at the stable path still does.
        return Ok(cx.root.exists(STABLE_BINARY).then(|| format!("/{STABLE_BINARY}")));
    };
    if mine.as_deref() != Some(STABLE_BINARY) && !same_content(cx, &me)? {
        p.actions.push(Action::CopyFile { from: me.display().to_string(), path: STABLE_BINARY.into(), mode: 0o755 });
    }
    Ok(Some(format!("/{STABLE_BINARY}")))
}

/// The copy at [`STABLE_BINARY`] is this binary: sizes first, then the bytes (a debug build
/// is over 100 MB; comparing beats hashing it).
fn same_content(cx: &StepCtx, me: &std::path::Path) -> Result<bool> {
    use std::io::Read;
    let Some(there) = cx.root.metadata(STABLE_BINARY)? else { return Ok(false) };
    let here = std::fs::metadata(me).with_context(|| format!("reading {}", me.display()))?;
    if there.len() != here.len() {
        return Ok(false);
    }
    let Some(mut a) = cx.root.open_read(STABLE_BINARY)? else { return Ok(false) };
    let mut b = std::fs::File::open(me).with_context(|| format!("opening {}", me.display()))?;
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut x).with_context(|| format!("reading {}", Root::display(STABLE_BINARY)))?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut y[..n]).with_context(|| format!("reading {}", me.display()))?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// A template with the binary path filled in and the managed-file marker after its first
/// line (a shebang or a comment).
fn render(template: &str, bin: &str) -> String {
    let body = template
        .replace("NPU_SETUP=\"${NPU_SETUP:-npu-setup}\"", &format!("NPU_SETUP=\"${{NPU_SETUP:-{bin}}}\""))
        .replace("/usr/bin/npu-setup ", &format!("{bin} "));
    match body.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => {
            format!("{first}\n{}\n{rest}", crate::edit::managed::HEADER)
        }
        _ => crate::edit::managed::managed_file("#", &body),
    }
}

/// Writes `unit` under /etc/systemd/system unless a package ships it, and enables it.
fn unit(cx: &StepCtx, p: &mut Plan, name: &str, template: &str, bin: &str) -> Result<()> {
    let packaged = cx.root.exists(format!("usr/lib/systemd/system/{name}"));
    let rel = format!("etc/systemd/system/{name}");
    if !packaged {
        let content = render(template, bin);
        if cx.root.read_optional(&rel)?.as_deref() != Some(content.as_str()) {
            p.actions.push(Action::WriteFile { path: rel.clone(), content, mode: 0o644 });
            if !cx.offline() {
                p.actions.push(Action::Run { argv: cx.systemctl(&["daemon-reload"]), why: format!("load {name}") });
            }
        }
    }
    let wants = format!("etc/systemd/system/multi-user.target.wants/{name}");
    if cx.root.read_link_optional(&wants)?.is_none() {
        // `enable` is a symlink: it works in a chroot and with --root, and starts nothing.
        p.actions.push(Action::Run { argv: cx.systemctl(&["enable", name]), why: format!("run {name} at boot") });
    }
    Ok(())
}

impl Step for Lifecycle {
    fn id(&self) -> &'static str {
        "lifecycle"
    }
    fn summary(&self) -> &'static str {
        "kernel hook (check each new kernel), boot-time check for `npu-setup status`, first-boot unit offline"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let Some(bin) = binary(cx, &mut p)? else {
            p.blocked = Some("cannot locate the npu-setup binary for the hooks and units".into());
            return Ok(p);
        };
        // Kernel hook: deb distros run /etc/kernel/postinst.d from the kernel package; the
        // others run kernel-install plugins.
        let dpkg = cx.distro().is_some_and(|d| d.package_manager == crate::recipes::PackageManager::Dpkg);
        let (hook, template) = if dpkg { (POSTINST_PATH, POSTINST_HOOK) } else { (PLUGIN_PATH, INSTALL_PLUGIN) };
        if !(hook == PLUGIN_PATH && cx.root.exists(PACKAGED_PLUGIN)) {
            let content = render(template, &bin);
            if cx.root.read_optional(hook)?.as_deref() != Some(content.as_str()) {
                p.actions.push(Action::WriteFile { path: hook.into(), content, mode: 0o755 });
            }
        }
        if !dpkg && !cx.root.exists("usr/bin/kernel-install") && !cx.root.is_dir("usr/lib/kernel/install.d") {
            p.notes.push(format!(
                "no kernel-install here: {} runs only if your kernel packages call kernel-install; otherwise run `npu-setup check --next-boot` after kernel updates",
                Root::display(hook)
            ));
        }
        unit(cx, &mut p, BOOT_UNIT_NAME, BOOT_UNIT, &bin)?;
        if cx.offline() {
            // Not running: the first boot finishes access, services and models, then verifies.
            unit(cx, &mut p, FIRSTBOOT_UNIT_NAME, FIRSTBOOT_UNIT, &bin)?;
            let config = firstboot_config(cx)?;
            if cx.root.read_optional(FIRSTBOOT_CONFIG)?.as_deref() != Some(config.as_str()) {
                p.actions.push(Action::WriteFile { path: FIRSTBOOT_CONFIG.into(), content: config, mode: 0o600 });
            }
            if !cx.root.exists(FIRSTBOOT_MARKER) {
                p.actions.push(Action::WriteFile {
                    path: FIRSTBOOT_MARKER.into(),
                    content:
                        "npu-setup-firstboot.service finishes the install at the first boot and removes this file.\n"
                            .into(),
                    mode: 0o644,
                });
            }
        } else if cx.root.exists(FIRSTBOOT_MARKER) {
            p.notes.push(format!("{} will finish the install at this boot", FIRSTBOOT_UNIT_NAME));
        }
        Ok(p)
    }
}

/// The options the first boot runs with: this run's, minus what only makes sense now.
fn firstboot_config(cx: &StepCtx) -> Result<String> {
    let mut a = cx.args.clone();
    a.dry_run = false;
    a.yes = true;
    a.plan_json = false;
    a.only.clear();
    a.skip.retain(|s| s != "verify");
    a.config = None;
    let body = serde_yaml::to_string(&a)?;
    Ok(crate::edit::managed::managed_file(
        "#",
        &format!(
            "# Written by `npu-setup install` into a tree that was not running ({}); read by\n# `npu-setup install --firstboot` ({FIRSTBOOT_UNIT_NAME}).\n{body}",
            if cx.root.is_chroot() { "a chroot" } else { "an offline root" }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_get_the_binary_and_the_marker() {
        let s = render(INSTALL_PLUGIN, "/usr/local/bin/npu-setup");
        assert!(s.starts_with("#!/bin/sh\n# Managed by npu-setup"), "{s}");
        assert!(s.contains("NPU_SETUP=\"${NPU_SETUP:-/usr/local/bin/npu-setup}\""), "{s}");
        let u = render(BOOT_UNIT, "/opt/x/npu-setup");
        assert!(u.starts_with("# Managed by npu-setup"), "{u}");
        assert!(u.contains("ExecStart=/opt/x/npu-setup --color never doctor --write-status"), "{u}");
        assert!(crate::edit::managed::is_managed(&u));
    }
}

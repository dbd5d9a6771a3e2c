//! `preflight`: can install run here at all? Root privileges (or a scratch `--root`), a
//! distro recipe, an NPU (or `--force` for image builds), and a kernel the matrix supports.
//! Plans no changes; a hard failure blocks the install before anything is touched.

use anyhow::Result;

use super::{Plan, Step, StepCtx};
use crate::recipes::kernel_in_range;
use crate::root::RootMode;

/// The preflight step.
pub struct Preflight;

impl Step for Preflight {
    fn id(&self) -> &'static str {
        "preflight"
    }
    fn summary(&self) -> &'static str {
        "privileges, distro recipe, NPU present, kernel supported"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let mut block = Vec::new();
        if cx.root.mode() == RootMode::Live && !nix::unistd::geteuid().is_root() {
            block.push("install changes the system: run it as root (sudo npu-setup install), or point --root at a scratch tree".to_string());
        }
        match (cx.facts.os.ok(), cx.distro()) {
            (Some(os), None) if !cx.args.force => block.push(format!(
                "no recipe for {} ({}); supported: fedora, ubuntu, debian, arch (--force to try anyway)",
                os.pretty_name, os.id
            )),
            (Some(os), Some(d)) if d.support == crate::recipes::Support::Community => {
                p.notes.push(format!("{}: community support, less tested", os.pretty_name))
            }
            (None, _) => {
                block.push(format!("cannot identify the distro: {}", cx.facts.os.reason().unwrap_or("no os-release")))
            }
            _ => {}
        }
        let no_npu = cx.facts.pci.ok().is_some_and(|p| p.npus.is_empty());
        if no_npu && !cx.args.force {
            block.push("no AMD XDNA NPU found; use --force to prepare an image for another machine".into());
        } else if no_npu {
            p.notes.push(
                "no NPU on this machine (--force): device-dependent steps will wait for the first boot on NPU hardware"
                    .into(),
            );
        }
        let m = &cx.recipes.drivers.kernel;
        let target = cx.facts.kernel.ok().and_then(|k| k.target.clone().or_else(|| k.running.clone()));
        if let Some(t) = target.as_deref().and_then(crate::parse::version::parse_kernel_release) {
            if !kernel_in_range(&t, Some(&m.dkms_min), None) {
                block.push(format!(
                    "the next-boot kernel {} is older than {}: install a kernel >= {} (in-tree driver, no DKMS) and make it the default, then run install again",
                    t.raw, m.dkms_min, m.protocol7_in_tree_min
                ));
            } else {
                let path = cx
                    .recipes
                    .drivers
                    .paths
                    .iter()
                    .find(|path| path.kernel_min.as_deref().is_none_or(|min| kernel_in_range(&t, Some(min), None)))
                    .map(|path| path.summary.clone())
                    .unwrap_or_default();
                p.notes.push(format!("next-boot kernel {}: {path}", t.raw));
            }
        }
        if !block.is_empty() {
            p.blocked = Some(block.join("; "));
        }
        Ok(p)
    }
}

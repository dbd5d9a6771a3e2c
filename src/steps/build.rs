//! `xrt`, `driver`, `flm`: build a component from its pinned source tree (cached by commit +
//! commands, so unchanged inputs never rebuild), install it, record its provenance — and for
//! the driver, install the DKMS module for the *target* kernel explicitly.
//!
//! Facts: build.sh flags, package names, what the plugin carries
//! (<https://github.com/amd/xdna-driver/blob/c4052fc30322f8fa0a7f388f171bcb065d6dab6b/build/build.sh>,
//! <https://github.com/Xilinx/XRT/blob/e9db9ab15f10173f8d2fc93ff92ab4c7eb09d2e6/build/build.sh>,
//! <https://github.com/amd/xdna-driver/blob/c4052fc30322f8fa0a7f388f171bcb065d6dab6b/CMake/pkg.cmake>); dkms_driver.sh
//! runs `dkms install` without `-k`, i.e. for `uname -r`, the installer's kernel in a kickstart chroot, hence
//! `dkms install -k <target>`
//! (<https://github.com/amd/xdna-driver/blob/c4052fc30322f8fa0a7f388f171bcb065d6dab6b/drivers/accel/tools/dkms_driver.sh>);
//! Secure Boot / MOK (<https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.8.in>);
//! initramfs
//! (<https://github.com/amd/xdna-driver/blob/c4052fc30322f8fa0a7f388f171bcb065d6dab6b/CMake/config/postinst.in>); FLM
//! cmake (<https://github.com/ROCm/FastFlowLM/blob/f43272c77bb6de4984058430b3e5fbf3e7926c61/src/CMakePresets.json>).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{Action, Plan, Step, StepCtx, sources};
use crate::recipes::routes::Component;
use crate::recipes::sources::Build;

/// Marker a finished build leaves in its directory: what was built, from which commit, how.
pub const MARKER: &str = ".npu-setup-build.json";

/// Contents of [`MARKER`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildMarker {
    /// Build id.
    pub build: String,
    /// Source commit.
    pub commit: String,
    /// Commands run (with the job count normalised to `{jobs}`, so `-j` changes do not
    /// invalidate the cache).
    pub commands: Vec<Vec<String>>,
}

/// A build step (`xrt`, `driver` or `flm`).
pub struct BuildStep {
    /// Step id.
    pub id: &'static str,
}

/// Expands the recipe's globs (only `*` in the file name) under a tree.
pub fn artifacts(tree: &Path, globs: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for g in globs {
        let (dir, pat) = g.rsplit_once('/').unwrap_or((".", g));
        let (pre, suf) = pat.split_once('*').unwrap_or((pat, ""));
        let mut found: Vec<PathBuf> = std::fs::read_dir(tree.join(dir))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(pre) && n.ends_with(suf) && n.len() >= pre.len() + suf.len())
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        out.extend(found);
    }
    out
}

fn jobs(cx: &StepCtx) -> usize {
    let r = cx.facts.resources.ok();
    let cpus = r.map(|r| r.cpus).filter(|c| *c > 0).unwrap_or(1);
    let avail = r.map(|r| r.available_mib).filter(|m| *m > 0).unwrap_or(2048);
    cx.recipes.sources.jobs(cpus, avail)
}

fn marker_ok(root: &crate::root::Root, dir: &Path, want: &BuildMarker) -> bool {
    super::action::read_host_or_root(root, &dir.join(MARKER))
        .and_then(|t| serde_json::from_str::<BuildMarker>(&t).ok())
        .as_ref()
        == Some(want)
}

/// Plans building and installing one recipe build.
fn plan_build(cx: &StepCtx, b: &Build, p: &mut Plan) {
    let Some(src) = cx.recipes.sources.source(&b.source) else {
        p.blocked = Some(format!("recipes/sources.yaml: build {} names unknown source {}", b.id, b.source));
        return;
    };
    let tree = match sources::tree(cx, &b.source) {
        Ok(t) => t,
        Err(e) => {
            p.blocked = Some(format!("{e:#}"));
            return;
        }
    };
    let at_pin = tree.join(".git").exists()
        && cx
            .runner
            .run("git", &["-C", &tree.display().to_string(), "rev-parse", "HEAD"])
            .is_ok_and(|o| o.stdout.trim() == src.commit);
    if !at_pin && !cx.preview {
        p.blocked = Some(format!(
            "the {} source tree at {} is not at the pinned commit {} (the sources step clones it)",
            b.source,
            tree.display(),
            src.commit
        ));
        return;
    }
    let dir = tree.join(&b.dir);
    // CPack builds .deb on Debian/Ubuntu, .rpm elsewhere.
    let manager = cx.distro().map(|d| d.package_manager).unwrap_or(crate::recipes::PackageManager::Rpm);
    let (globs, packages) = if manager == crate::recipes::PackageManager::Dpkg {
        (&b.deb_artifacts, &b.deb_packages)
    } else {
        (&b.artifacts, &b.packages)
    };
    let want = BuildMarker { build: b.id.clone(), commit: src.commit.clone(), commands: b.commands.clone() };
    let built = at_pin && marker_ok(cx.root, &dir, &want);
    let mut files = if at_pin { artifacts(&tree, globs) } else { Vec::new() };
    let complete = globs.is_empty() || globs.len() <= files.len();
    if !built || !complete {
        let j = jobs(cx).to_string();
        let commands: Vec<Vec<String>> =
            b.commands.iter().map(|c| c.iter().map(|a| a.replace("{jobs}", &j)).collect()).collect();
        p.actions.push(Action::Build {
            build: b.id.clone(),
            dir: dir.display().to_string(),
            commands,
            marker: serde_json::to_string_pretty(&want).unwrap_or_default(),
        });
        p.notes.push(format!(
            "builds {} from {} {} with {j} parallel jobs{}; full output in /var/log/npu-setup/",
            b.id,
            b.source,
            src.git_ref,
            if at_pin { String::new() } else { " once the sources step has cloned it".into() }
        ));
        if !cx.preview {
            // Applied, then planned again: the install follows with the files it made.
            return;
        }
        // The printed plan shows the install that follows too; the files are named by the
        // recipe's patterns until the build made them.
        files = globs.iter().map(|g| tree.join(g)).collect();
    }
    // Built: install.
    if let Some(inst) = &b.install {
        // Install into the root being converged (cmake honours DESTDIR).
        let env = if cx.root.mode() == crate::root::RootMode::Live {
            Vec::new()
        } else {
            vec![("DESTDIR".to_string(), cx.root.path().display().to_string())]
        };
        p.actions.push(Action::RunIn {
            dir: Some(dir.display().to_string()),
            env,
            argv: inst.clone(),
            why: format!("install {} {}", b.id, b.version),
        });
    } else {
        let Some(d) = cx.distro() else {
            p.blocked = Some("no distro recipe: cannot install packages".into());
            return;
        };
        let mut argv = match cx.package_command(d, &d.commands.install) {
            Ok(a) => a,
            Err(e) => {
                p.blocked = Some(e);
                return;
            }
        };
        argv.extend(files.iter().map(|f| f.display().to_string()));
        let carries = if b.id == "driver-dkms" {
            ": the xdna plugin, the DKMS module source and the NPU firmware it installs under /lib/firmware"
        } else {
            ""
        };
        p.actions.push(Action::Run { argv, why: format!("install {} {} packages{carries}", b.id, b.version) });
        p.installs.extend(packages.iter().cloned());
    }
    p.actions.push(Action::Provenance {
        component: b.id.clone(),
        source: b.source.clone(),
        commit: src.commit.clone(),
        commands: b.commands.clone(),
        packages: packages.clone(),
        manager: manager.as_str().to_string(),
        install_manifest: b.install.as_ref().map(|_| dir.join("build/install_manifest.txt").display().to_string()),
        kernel: cx.facts.kernel.ok().and_then(|k| k.target.clone()),
    });
}

impl Step for BuildStep {
    fn id(&self) -> &'static str {
        self.id
    }
    fn summary(&self) -> &'static str {
        match self.id {
            "xrt" => "build and install XRT (NPU flavour) packages",
            "driver" => "xdna plugin package, DKMS module for the target kernel and firmware (or the shim only)",
            _ => "build and install FastFlowLM into /opt/fastflowlm",
        }
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let s = cx.strategy();
        // A component that comes from packages is not built (the packages step, or this
        // step on its own with `--only`, installs it).
        let component = match self.id {
            "xrt" => Component::Xrt,
            "driver" => Component::Driver,
            _ => Component::Flm,
        };
        if let Some(pp) = super::packages::owned_by_packages(cx, &s.routes, component)? {
            return Ok(pp);
        }
        if s.routes.packaged(Component::Xrt) && self.id == "driver" {
            p.notes.push("the xdna plugin comes with XRT's packages".into());
        }
        let wanted: Vec<&String> = s
            .builds
            .iter()
            .filter(|b| match self.id {
                "driver" => b.starts_with("driver-"),
                id => b.as_str() == id,
            })
            .collect();
        if self.id == "driver" {
            p.notes.push(format!("driver path: {} — {}", s.path, s.reason));
            if let Some(w) = &s.warning {
                p.notes.push(w.clone());
            }
        }
        for b in wanted {
            let Some(build) = cx.recipes.sources.build(b) else {
                p.blocked = Some(format!("recipes/sources.yaml has no build {b:?}"));
                return Ok(p);
            };
            plan_build(cx, build, &mut p);
            // Applying goes one phase at a time; the printed plan shows every phase.
            if p.blocked.is_some() || (!p.actions.is_empty() && !cx.preview) {
                return Ok(p);
            }
        }
        if self.id == "driver" && s.path == "xdna-dkms" && s.driver_from_source() {
            super::dkms::plan_dkms(cx, s.target.as_deref(), &mut p)?;
        }
        if self.id == "driver"
            && s.path == "in-tree"
            && (cx.preview || !p.actions.iter().any(|a| matches!(a, Action::Run { .. })))
        {
            super::dkms::plan_dkms_removal(cx, s.target.as_deref(), &mut p)?;
        }
        Ok(p)
    }
}

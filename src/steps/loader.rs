//! `loader`: make the XRT libraries resolvable by the dynamic loader — an
//! `/etc/ld.so.conf.d/` entry for the XRT lib dir, then `ldconfig`.
//!
//! Source-built XRT installs to `/opt/xilinx/xrt/lib64` and ships no ld.so.conf.d file, so
//! `flm` and services fail with "libxrt_coreutil.so.2: cannot open shared object file"
//! (<https://github.com/lemonade-sdk/lemonade/issues/1315>; the ld.so.conf fix:
//! <https://github.com/lemonade-sdk/lemonade/pull/2291>).

use anyhow::Result;

use super::{Action, Plan, Step, StepCtx};
use crate::edit::managed::managed_file;
use crate::root::Root;

/// The loader step.
pub struct Loader;

/// `ldconfig`, rebuilding the cache of the root being converged.
pub fn ldconfig_argv(cx: &StepCtx) -> Vec<String> {
    if cx.foreign_root() {
        vec!["ldconfig".into(), "-r".into(), cx.root.path().display().to_string()]
    } else {
        vec!["ldconfig".into()]
    }
}

impl Step for Loader {
    fn id(&self) -> &'static str {
        "loader"
    }
    fn summary(&self) -> &'static str {
        "ld.so.conf.d entry for the XRT libraries, then ldconfig"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let Some(l) = cx.facts.loader.ok() else {
            p.blocked =
                Some(format!("cannot read the loader configuration: {}", cx.facts.loader.reason().unwrap_or("")));
            return Ok(p);
        };
        let wanted = ["libxrt_coreutil.so.2", "libxrt_driver_xdna.so.2"];
        let libs: Vec<_> = l.libs.iter().filter(|x| wanted.contains(&x.soname.as_str())).collect();
        if libs.iter().all(|x| x.found.is_empty()) {
            if let Some(why) = crate::knowledge::routes::xrt_not_needed(cx.facts, cx.recipes) {
                p.notes.push(format!("no XRT, and none needed: {why}"));
                return Ok(p);
            }
            p.notes.push("XRT is not installed yet: nothing for the loader to find (the xrt step installs it)".into());
            return Ok(p);
        }
        // Directories holding a library the loader cannot reach now.
        let mut dirs: Vec<String> = Vec::new();
        for x in &libs {
            if x.resolvable_at.is_none()
                && let Some(d) = x.found.first().and_then(|f| f.rsplit_once('/').map(|(d, _)| d.to_string()))
                && !dirs.contains(&d)
            {
                dirs.push(d);
            }
        }
        let ours = cx.root.read_optional(&cx.recipes.files.loader_conf)?;
        let mut write = false;
        if !dirs.is_empty() {
            // Keep directories we configured before, so a re-plan stays stable.
            let mut all: Vec<String> = ours
                .as_deref()
                .map(|t| t.lines().filter(|l| l.starts_with('/')).map(str::to_string).collect())
                .unwrap_or_default();
            for d in dirs {
                if !all.contains(&d) {
                    all.push(d);
                }
            }
            let content = managed_file("#", &(all.join("\n") + "\n"));
            if ours.as_deref() != Some(content.as_str()) {
                p.actions.push(Action::WriteFile { path: cx.recipes.files.loader_conf.clone(), content, mode: 0o644 });
                write = true;
            }
        }
        // The cache must list the libraries (a stale cache after a hand edit is common).
        let cached = |so: &str| cx.facts.ld_cache.ok().is_some_and(|c| c.iter().any(|(s, _)| s == so));
        let stale = cx.facts.ld_cache.ok().is_some() && libs.iter().any(|x| !x.found.is_empty() && !cached(&x.soname));
        if write || stale {
            p.actions.push(Action::Run { argv: ldconfig_argv(cx), why: "rebuild the loader cache".into() });
        }
        if p.actions.is_empty() {
            p.notes.push(format!(
                "XRT libraries resolve ({})",
                libs.iter().filter_map(|x| x.resolvable_at.clone()).collect::<Vec<_>>().join(", ")
            ));
        } else if write {
            p.notes.push(format!(
                "{} makes {} visible to flm and services",
                Root::display(&cx.recipes.files.loader_conf),
                "the XRT libraries"
            ));
        }
        Ok(p)
    }
}

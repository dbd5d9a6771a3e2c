//! `lemonade`: the pinned Lemonade server package (`recipes/lemonade.yaml`), installed with the
//! distro's package manager from the release asset (or `--lemonade-package URL|PATH`).
//!
//! The package is fetched by an [`Action::Download`] (never while planning or in
//! `--dry-run`) into `/var/cache/npu-setup/`, checked against the recipe's SHA-256 or, without
//! one, against the hash pinned by the first download (trust on first use), then installed
//! (`dnf install -y FILE` / `apt-get install -y FILE`). A host with the pinned version or a
//! newer one plans nothing (install routes:
//! <https://github.com/lemonade-sdk/lemonade/blob/e385039ed33551de7f54cb73194cd08088772c08/docs/guide/install/fedora.md>).

use anyhow::Result;

use super::action::{Fetch, fetch_state, pinned};
use super::{Action, Plan, Step, StepCtx};
use crate::parse::version::parse_dotted;
use crate::recipes::PackageManager;
use crate::root::Root;

// Where downloaded packages are kept, root-relative.
pub use crate::state::CACHE_DIR;

/// The lemonade step.
pub struct Lemonade;

/// The installed Lemonade version: the distro package's, else what `/api/v1/health` reports.
pub fn installed_version(cx: &StepCtx) -> Option<String> {
    let pkg = cx.facts.packages.ok().and_then(|p| {
        let mut names: Vec<&str> = vec![cx.recipes.lemonade.package.as_str()];
        if let Some(d) = cx.distro() {
            names.extend(d.packages.lemonade.iter().map(String::as_str));
        }
        names.into_iter().find_map(|n| p.version(n).map(str::to_string))
    });
    pkg.or_else(|| {
        cx.facts
            .lemonade
            .ok()
            .and_then(|l| l.health.as_ref())
            .and_then(|h| h.json())
            .and_then(|j| j["version"].as_str().map(str::to_string))
    })
}

/// The file name a download is cached under: the URL's last segment, made safe.
fn cache_name(url: &str, fallback: &str) -> String {
    let last = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or("");
    let safe: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() || "._+-~".contains(c) { c } else { '_' }).collect();
    if safe.trim_matches(['.', '_']).is_empty() { fallback.to_string() } else { safe }
}

impl Step for Lemonade {
    fn id(&self) -> &'static str {
        "lemonade"
    }
    fn summary(&self) -> &'static str {
        "install the pinned Lemonade server package"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        // A repository route (recipes/routes.yaml) is the packages step's.
        let routes = cx.strategy().routes;
        if let Some(p) = super::packages::owned_by_packages(cx, &routes, crate::recipes::routes::Component::Lemonade)? {
            return Ok(p);
        }
        let mut p = Plan::default();
        let r = &cx.recipes.lemonade;
        let want = parse_dotted(&r.version);
        let Some(pk) = cx.facts.packages.ok() else {
            if cx.facts.lemonade.ok().is_some_and(|l| !l.binaries.is_empty()) && cx.args.lemonade_package.is_none() {
                return Ok(p); // installed by other means, and no package database to ask
            }
            p.blocked = Some(format!(
                "cannot query installed packages: {}",
                cx.facts.packages.reason().unwrap_or("no distro recipe")
            ));
            return Ok(p);
        };
        let installed = pk.version(&r.package).map(str::to_string);
        if let Some(v) = &installed {
            if parse_dotted(v) >= want {
                return Ok(p);
            }
            p.notes.push(format!("{} {v} is older than the pinned {}: upgrading", r.package, r.version));
        } else if let Some(l) = cx.facts.lemonade.ok()
            && !l.binaries.is_empty()
            && cx.args.lemonade_package.is_none()
        {
            p.notes.push(format!(
                "Lemonade found at {} but not from the {} package: left alone (pass --lemonade-package to install the package)",
                l.binaries.join(", "),
                r.package
            ));
            return Ok(p);
        }
        let Some(d) = cx.distro() else {
            p.blocked = Some("no distro recipe: the Lemonade package source is unknown".into());
            return Ok(p);
        };
        // The package: --lemonade-package, else the recipe's source for this distro and release.
        let version_id = cx.facts.os.ok().and_then(|o| o.version_id.clone()).unwrap_or_default();
        let (url, recipe_sha) = match &cx.args.lemonade_package {
            Some(u) => (u.clone(), None),
            None => match r.sources.get(&d.id) {
                Some(s) if s.url_for(&r.version, &version_id).is_some() => {
                    (s.url_for(&r.version, &version_id).unwrap_or_default(), s.sha256.clone())
                }
                Some(s) => {
                    // The package routes install judged and did not take say why, so the
                    // plan never suggests a package it has just refused.
                    let passed = &routes.get(crate::recipes::routes::Component::Lemonade).passed_over;
                    let not_taken =
                        if passed.is_empty() { String::new() } else { format!(" Not taken: {}.", passed.join("; ")) };
                    p.unavailable = Some(format!(
                        "{}{not_taken} (an installed {} >= {} is accepted; or pass --lemonade-package URL|PATH)",
                        s.note.clone().unwrap_or_else(|| format!("no Lemonade package for {} {version_id}", d.name)),
                        r.package,
                        r.version
                    ));
                    return Ok(p);
                }
                None => {
                    p.unavailable = Some(format!(
                        "recipes/lemonade.yaml has no Lemonade package for {}; pass --lemonade-package URL|PATH",
                        d.name
                    ));
                    return Ok(p);
                }
            },
        };
        let source_flag =
            if cx.args.lemonade_package.is_some() { "--lemonade-package" } else { "recipes/lemonade.yaml" };
        let (expected, expected_from) = match recipe_sha {
            Some(h) => (Some(h.to_ascii_lowercase()), "recipes/lemonade.yaml".to_string()),
            None => (pinned(cx.root, &url)?, format!("pinned in {}", Root::display(super::action::PINS))),
        };
        let ext = match d.package_manager.as_str() {
            "rpm" => "rpm",
            "dpkg" => "deb",
            _ => "pkg.tar.zst",
        };
        let cached = format!("{CACHE_DIR}/{}", cache_name(&url, &format!("{}-{}.{ext}", r.package, r.version)));
        match fetch_state(cx.root, &url, &cached, expected.as_deref())? {
            Fetch::Missing(path) => {
                p.blocked = Some(format!("the Lemonade package {} does not exist ({source_flag})", path.display()));
                return Ok(p);
            }
            Fetch::Mismatch { path, got } => {
                p.blocked = Some(format!(
                    "sha256 mismatch for {}: expected {} ({expected_from}), got {got}; nothing was installed",
                    path.display(),
                    expected.as_deref().unwrap_or_default()
                ));
                return Ok(p);
            }
            Fetch::Cached => {}
            Fetch::Needed => p.actions.push(Action::Download {
                url: url.clone(),
                path: cached.clone(),
                sha256: expected.clone(),
                why: format!(
                    "Lemonade {} package from {source_flag}; a mirror or a local file can be given with --lemonade-package URL|PATH",
                    r.version
                ),
            }),
        }
        // dnf and apt open the file on this machine (the path resolved inside the root);
        // `pacman --sysroot` chroots first, so it is given the path inside the tree.
        let (mut argv, file) = match d.package_manager {
            PackageManager::Pacman => (vec!["pacman".to_string(), "-U".into(), "--noconfirm".into()], cached.clone()),
            _ => (d.commands.install.clone(), cx.root.host_path(&cached)?.display().to_string()),
        };
        match cx.root_options(d.package_manager) {
            Ok(o) => {
                argv.splice(1..1, o);
            }
            Err(e) => {
                p.actions.clear();
                p.blocked = Some(e);
                return Ok(p);
            }
        }
        argv.push(file);
        p.actions.push(Action::Run {
            argv,
            why: format!(
                "install Lemonade {} ({}{})",
                r.version,
                r.package,
                installed.map(|v| format!(", replacing {v}")).unwrap_or_default()
            ),
        });
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names() {
        let cases = [
            (
                "https://x/releases/download/v10.3.0/lemonade-server-10.3.0-fc44.x86_64.rpm",
                "lemonade-server-10.3.0-fc44.x86_64.rpm",
            ),
            ("https://mirror/get?file=a.rpm", "get"),
            ("/srv/pkgs/lemonade server.rpm", "lemonade_server.rpm"),
            ("file:///srv/x.deb", "x.deb"),
            ("https://x/", "fallback.rpm"),
            ("https://x/..", "fallback.rpm"),
        ];
        for (url, want) in cases {
            assert_eq!(cache_name(url, "fallback.rpm"), want, "{url}");
        }
    }
}

//! `packages`: the components whose route is a package (knowledge/routes.rs), installed with
//! one refreshed transaction of the distro's package manager — `dnf makecache` / `apt-get
//! update` (recipes/distros.yaml `refresh`; none for pacman, whose install is `-Syu`: Arch
//! supports no partial upgrade), then one install of every package, vendor package files (FastFlowLM's .deb) fetched first and installed in the same
//! transaction; snaps with `snap install`. The plan says each component's route and why.
//!
//! On an offline root that is not `/` the package manager is pointed at the tree: `dnf
//! --installroot` (with the tree's release and the tree's copy of each repository key:
//! dnf(8) reads `gpgkey` paths on the host), `pacman --sysroot` (pacman(8): `--root` is not
//! for a guest system; `--sysroot` reads the tree's pacman.conf); apt runs inside the chroot
//! (kickstart `%post`, `npu-setup install` run there), never from outside.

use anyhow::Result;

use super::action::{Fetch, PINS, fetch_state, pinned};
use super::options::InstallArgs;
use super::{Action, Plan, Step, StepCtx};
use crate::knowledge::routes::{Decision, FromMode, Routes, Take, configured_vendor_repo};
use crate::recipes::PackageManager;
use crate::recipes::routes::{Component, RepoKind, Via};
use crate::root::Root;
use crate::state::CACHE_DIR;

/// The packages step.
pub struct Packages;

/// True when `id` runs in this install (`--only`/`--skip`).
pub fn selected(args: &InstallArgs, id: &str) -> bool {
    (args.only.is_empty() || args.only.iter().any(|o| o == id)) && !args.skip.iter().any(|s| s == id)
}

/// The file name a download is cached under: the URL's last segment, made safe.
fn cache_name(url: &str) -> String {
    let last = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or("");
    let safe: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() || "._+-~".contains(c) { c } else { '_' }).collect();
    if safe.trim_matches(['.', '_']).is_empty() { "package".to_string() } else { safe }
}

/// `argv` (a recipe command) pointed at the root being converged
/// ([`StepCtx::root_options`]), plus, for dnf, the tree's copy of each vendor repository's
/// key: dnf reads a repository's `gpgkey` file on the host, not in the installroot.
fn root_aware(cx: &StepCtx, routes: &Routes, manager: PackageManager, argv: &[String]) -> Result<Vec<String>, String> {
    let mut a = argv.to_vec();
    if a.is_empty() {
        return Ok(a);
    }
    let mut extra = cx.root_options(manager)?;
    if manager == PackageManager::Rpm && cx.foreign_root() {
        let root = cx.root.path().display().to_string();
        for repo in routes.vendor_repositories().into_iter().filter(|r| r.kind == RepoKind::RpmMd) {
            if let (Some(section), Some(k)) = (&repo.section, &repo.key) {
                extra.push(format!("--setopt={section}.gpgkey=file://{root}/{}", k.path));
            }
        }
    }
    a.splice(1..1, extra);
    Ok(a)
}

/// Plans installing the package routes of `decisions` (one refresh, one install); appends to
/// `p`.
pub fn plan_install(cx: &StepCtx, routes: &Routes, decisions: &[&Decision], p: &mut Plan) -> Result<()> {
    let wanted: Vec<&&Decision> = decisions.iter().filter(|d| d.take == Take::Packages).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(distro) = cx.distro() else {
        p.blocked = Some("no distro recipe: cannot install packages".into());
        return Ok(());
    };
    // A vendor repository must be configured by now, or be added earlier in this plan.
    for d in &wanted {
        if let Some(repo) = d.repository.as_ref().filter(|r| r.kind != RepoKind::Distro)
            && configured_vendor_repo(cx.facts, repo).is_none()
            && !p.actions.iter().any(|a| matches!(a, Action::AddRepository { name, .. } if *name == repo.name))
            && !(cx.preview && selected(cx.args, "repos"))
        {
            p.blocked = Some(format!(
                "{} needs {}, which is not configured (the repos step adds it: npu-setup install --only repos)",
                d.component, repo.name
            ));
            return Ok(());
        }
    }
    let mut names: Vec<String> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let mut snaps: Vec<&str> = Vec::new();
    for d in &wanted {
        let Some(route) = &d.route else { continue };
        match route.via {
            Via::Snap => snaps.extend(route.packages.iter().map(String::as_str)),
            Via::Download => {
                let Some(url) = d.url.clone() else { continue };
                let cached = format!("{CACHE_DIR}/{}", cache_name(&url));
                let expected = match &route.sha256 {
                    Some(h) => Some(h.to_ascii_lowercase()),
                    None => pinned(cx.root, &url)?,
                };
                match fetch_state(cx.root, &url, &cached, expected.as_deref())? {
                    Fetch::Missing(path) => {
                        p.blocked = Some(format!("{}: the package {} does not exist", d.component, path.display()));
                        return Ok(());
                    }
                    Fetch::Mismatch { path, .. } => {
                        p.blocked = Some(format!(
                            "{}: sha256 mismatch for {}; nothing was installed",
                            d.component,
                            path.display()
                        ));
                        return Ok(());
                    }
                    Fetch::Cached => {}
                    Fetch::Needed => {
                        p.actions.push(Action::Download {
                            url: url.clone(),
                            path: cached.clone(),
                            sha256: expected,
                            why: format!(
                                "{} {} package ({}; first download's SHA-256 pinned in {} when none is published)",
                                d.component,
                                route.version.as_deref().unwrap_or(""),
                                route.packages.join(" "),
                                Root::display(PINS)
                            ),
                        });
                    }
                }
                // The package manager opens it on this machine: the path resolved in the root.
                files.push(cx.root.host_path(&cached)?.display().to_string());
            }
            _ => {
                for n in &route.packages {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
            }
        }
    }
    let what = wanted.iter().map(|d| d.component.as_str()).collect::<Vec<_>>().join(", ");
    if !names.is_empty() || !files.is_empty() {
        let manager = distro.package_manager;
        let refresh = root_aware(cx, routes, manager, &distro.commands.refresh);
        let install = root_aware(cx, routes, manager, &distro.commands.install);
        let (refresh, mut install) = match (refresh, install) {
            (Ok(r), Ok(i)) => (r, i),
            (Err(e), _) | (_, Err(e)) => {
                p.actions.clear();
                p.blocked = Some(e);
                return Ok(());
            }
        };
        let repos: Vec<String> =
            wanted.iter().filter_map(|d| d.repository.as_ref().map(|r| r.name.clone())).fold(Vec::new(), |mut v, n| {
                if !v.contains(&n) {
                    v.push(n);
                }
                v
            });
        if !refresh.is_empty() {
            p.actions.push(Action::Run {
                argv: refresh,
                why: format!(
                    "refresh the package metadata first{}",
                    if repos.is_empty() { String::new() } else { format!(" ({})", repos.join(", ")) }
                ),
            });
        }
        install.extend(names);
        install.extend(files);
        p.actions.push(Action::Run { argv: install, why: format!("{what} from packages") });
    }
    for s in snaps {
        if cx.foreign_root() || cx.offline() {
            p.blocked =
                Some(format!("snap {s} cannot be installed into an offline root; install it on the running system"));
            return Ok(());
        }
        p.actions.push(Action::Run {
            argv: vec!["snap".into(), "install".into(), s.to_string()],
            why: "Lemonade from its snap".into(),
        });
    }
    Ok(())
}

/// For a step that owns `c` (the build steps, `lemonade`): when `c` comes from packages,
/// the plan that step makes instead of its own — nothing but a note when the `packages` step
/// runs in this install, else the repository and package install for `c` alone, so `install
/// --only <step>` (doctor's remedies) does what it says. `None` when `c` is not packaged.
pub fn owned_by_packages(cx: &StepCtx, routes: &Routes, c: Component) -> Result<Option<Plan>> {
    let d = routes.get(c);
    if d.take != Take::Packages {
        return Ok(None);
    }
    let mut p = Plan::default();
    if selected(cx.args, "packages") {
        p.notes.push(format!("{} (the packages step installs it)", d.describe()));
        return Ok(Some(p));
    }
    p.notes.push(d.describe());
    super::repos::plan_for(cx, routes, &[c], &mut p);
    if p.blocked.is_none() {
        plan_install(cx, routes, &[d], &mut p)?;
    }
    Ok(Some(p))
}

impl Step for Packages {
    fn id(&self) -> &'static str {
        "packages"
    }
    fn summary(&self) -> &'static str {
        "the components whose route is a package: one refreshed install (dnf/apt/pacman)"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let routes = cx.strategy().routes;
        let where_ = match (&routes.distro, &routes.release) {
            (Some(d), Some(r)) => format!("{d} {r}"),
            (Some(d), None) => d.clone(),
            _ => "no distro recipe".into(),
        };
        p.notes.push(format!("routes for {where_}, --from {}:", routes.from.as_str()));
        for d in &routes.decisions {
            p.notes.push(d.describe());
        }
        if routes.from == FromMode::Packages
            && let Some(d) = routes.decisions.iter().find(|d| d.take == Take::Unavailable)
        {
            p.blocked = Some(format!("{}: {}", d.component, d.why));
            return Ok(p);
        }
        let decisions: Vec<&Decision> = routes.decisions.iter().collect();
        plan_install(cx, &routes, &decisions, &mut p)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names() {
        assert_eq!(
            cache_name(
                "https://github.com/ROCm/FastFlowLM/releases/download/v1.0.5/fastflowlm_1.0.5_ubuntu24.04_amd64.deb"
            ),
            "fastflowlm_1.0.5_ubuntu24.04_amd64.deb"
        );
        assert_eq!(cache_name("https://x/"), "package");
        assert_eq!(cache_name("http://127.0.0.1:8/a b.deb?x=1"), "a_b.deb");
    }
}

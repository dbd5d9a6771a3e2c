//! `repos`: the vendor repositories the chosen package routes need (recipes/routes.yaml),
//! added the modern way — a dnf `.repo` file for COPR, an apt deb822 `.sources` file with a
//! `Signed-By` keyring for a PPA (no `add-apt-repository`, no `dnf copr`) — each with its
//! signing key fetched and checked with gpg against the pinned fingerprint before anything is
//! written. A repository the host already has (by URL, however it was added) is left alone.
//!
//! Formats: dnf.conf(5) repository options as `dnf copr enable` writes them
//! (<https://discussion.fedoraproject.org/t/what-is-the-purpose-of-dnfs-copr-plugin/88085>);
//! sources.list(5) deb822 with `Signed-By`
//! (<https://manpages.ubuntu.com/manpages/noble/man5/sources.list.5.html>).

use anyhow::Result;

use super::{Action, Plan, Step, StepCtx};
use crate::edit::managed::managed_file;
use crate::knowledge::routes::{Routes, configured_vendor_repo};
use crate::recipes::routes::{Component, RepoKind, Repository};
use crate::root::Root;

/// The repos step.
pub struct Repos;

/// The definition file npu-setup writes for a repository.
pub fn definition(repo: &Repository, codename: Option<&str>) -> Option<String> {
    let url = repo.url.as_deref()?;
    let body = match repo.kind {
        RepoKind::RpmMd => {
            let key = repo.key.as_ref().map(|k| format!("gpgkey=file:///{}\n", k.path)).unwrap_or_default();
            format!(
                "# {} (recipes/routes.yaml)\n[{}]\nname={}\nbaseurl={url}\ntype=rpm-md\n\
                 # An unreachable repository is an error naming it, not a silently missing package.\n\
                 skip_if_unavailable=False\ngpgcheck={}\n{key}repo_gpgcheck=0\nenabled=1\nenabled_metadata=1\n",
                repo.name,
                repo.section.as_deref()?,
                repo.name,
                u8::from(repo.key.is_some()),
            )
        }
        RepoKind::Deb822 => format!(
            "# {} (recipes/routes.yaml)\nTypes: deb\nURIs: {url}\nSuites: {}\nComponents: {}\n{}",
            repo.name,
            codename?,
            repo.components.join(" "),
            repo.key.as_ref().map(|k| format!("Signed-By: /{}\n", k.path)).unwrap_or_default()
        ),
        RepoKind::Distro => return None,
    };
    Some(managed_file("#", &body))
}

/// Plans the repositories the package routes of `components` need; appends to `p`.
pub fn plan_for(cx: &StepCtx, routes: &Routes, components: &[Component], p: &mut Plan) {
    let mut seen: Vec<&str> = Vec::new();
    for d in routes.decisions.iter().filter(|d| components.contains(&d.component)) {
        let Some(repo) = d.repository.as_ref().filter(|r| r.kind != RepoKind::Distro) else { continue };
        if d.take != crate::knowledge::routes::Take::Packages || seen.contains(&repo.id.as_str()) {
            continue;
        }
        seen.push(&repo.id);
        if let Some(file) = configured_vendor_repo(cx.facts, repo) {
            p.notes.push(format!("{} is already configured ({file})", repo.name));
            continue;
        }
        let Some(path) = repo.file.clone() else { continue };
        let Some(content) = definition(repo, routes.codename.as_deref()) else {
            p.blocked =
                Some(format!("recipes/routes.yaml: cannot write {} for this release (no codename known)", repo.name));
            return;
        };
        p.actions.push(Action::AddRepository { name: repo.name.clone(), path, content, key: repo.key.clone() });
        if repo.unverified {
            p.notes.push(format!(
                "{}: details of this repository are UNVERIFIED upstream ({})",
                repo.name,
                Root::display(repo.file.as_deref().unwrap_or(""))
            ));
        }
    }
}

impl Step for Repos {
    fn id(&self) -> &'static str {
        "repos"
    }
    fn summary(&self) -> &'static str {
        "vendor package repositories the package routes need (.repo / deb822 .sources, signing keys checked)"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let routes = cx.strategy().routes;
        plan_for(cx, &routes, &Component::ALL, &mut p);
        Ok(p)
    }
}

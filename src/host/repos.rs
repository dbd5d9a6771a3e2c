//! The package repositories the host is configured to install from, through the root:
//! `/etc/yum.repos.d/*.repo`, `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.{list,sources}`,
//! `/etc/pacman.conf` (with the mirror lists it includes). Which files exist says which
//! formats the host uses; a format without files is "not configured", not "unknown".

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::parse::repos::{
    RepoEntry, parse_apt_list, parse_deb822, parse_pacman_conf, parse_pacman_servers, parse_yum_repo,
};
use crate::root::Root;

/// The configured repositories.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RepoFacts {
    /// Every repository, with the file (as under the root) it came from.
    pub repos: Vec<ConfiguredRepo>,
    /// `/etc/yum.repos.d` exists.
    pub yum: bool,
    /// apt's source lists exist.
    pub apt: bool,
    /// `/etc/pacman.conf` exists.
    pub pacman: bool,
}

/// One repository and where it is configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ConfiguredRepo {
    /// The file, as under the root (`/etc/yum.repos.d/fedora.repo`).
    pub file: String,
    /// What it says.
    #[serde(flatten)]
    pub entry: RepoEntry,
}

impl RepoFacts {
    /// An enabled repository whose URL contains one of `fragments`.
    pub fn find_url(&self, fragments: &[String]) -> Option<&ConfiguredRepo> {
        self.repos
            .iter()
            .find(|r| r.entry.enabled && r.entry.urls.iter().any(|u| fragments.iter().any(|f| u.contains(f.as_str()))))
    }
}

/// Reads every repository definition under the root.
pub fn probe_repos(root: &Root) -> Result<RepoFacts> {
    let mut f = RepoFacts::default();
    let mut add = |rel: &str, entries: Vec<RepoEntry>| {
        f.repos.extend(entries.into_iter().map(|entry| ConfiguredRepo { file: Root::display(rel), entry }));
    };
    let mut yum = false;
    if root.is_dir("etc/yum.repos.d") {
        yum = true;
        for n in root.list_dir("etc/yum.repos.d")?.into_iter().filter(|n| n.ends_with(".repo")) {
            let rel = format!("etc/yum.repos.d/{n}");
            if let Some(t) = root.read_optional(&rel)? {
                add(&rel, parse_yum_repo(&t));
            }
        }
    }
    let mut apt = false;
    if let Some(t) = root.read_optional("etc/apt/sources.list")? {
        apt = true;
        add("etc/apt/sources.list", parse_apt_list(&t));
    }
    if root.is_dir("etc/apt/sources.list.d") {
        for n in root.list_dir("etc/apt/sources.list.d")? {
            let rel = format!("etc/apt/sources.list.d/{n}");
            let parse: fn(&str) -> Vec<RepoEntry> = if n.ends_with(".list") {
                parse_apt_list
            } else if n.ends_with(".sources") {
                parse_deb822
            } else {
                continue;
            };
            if let Some(t) = root.read_optional(&rel)? {
                apt = true;
                add(&rel, parse(&t));
            }
        }
    }
    let mut pacman = false;
    if let Some(t) = root.read_optional("etc/pacman.conf")? {
        pacman = true;
        let mut entries = parse_pacman_conf(&t);
        for e in &mut entries {
            for inc in e.includes.clone() {
                if let Some(m) = root.read_optional(inc.trim_start_matches('/'))? {
                    e.urls.extend(parse_pacman_servers(&m));
                }
            }
        }
        add("etc/pacman.conf", entries);
    }
    f.yum = yum;
    f.apt = apt;
    f.pacman = pacman;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testkit::tree;

    #[test]
    fn reads_each_format_and_says_which_exist() {
        let (_d, root) = tree(&[
            (
                "etc/apt/sources.list.d/ubuntu.sources",
                "Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble\nComponents: main universe\n",
            ),
            (
                "etc/apt/sources.list.d/x.list",
                "deb https://ppa.launchpadcontent.net/lemonade-team/stable/ubuntu noble main\n",
            ),
            ("etc/apt/sources.list.d/readme.txt", "deb http://ignored/ x main\n"),
            ("etc/pacman.conf", "[options]\n[extra]\nInclude = /etc/pacman.d/mirrorlist\n"),
            ("etc/pacman.d/mirrorlist", "Server = https://geo.mirror.pkgbuild.com/$repo/os/$arch\n"),
        ]);
        let f = probe_repos(&root).unwrap();
        assert!(f.apt && f.pacman && !f.yum);
        assert_eq!(f.repos.len(), 3, "{f:#?}");
        assert_eq!(f.repos[0].file, "/etc/apt/sources.list.d/ubuntu.sources");
        assert_eq!(f.repos[2].entry.urls, ["https://geo.mirror.pkgbuild.com/$repo/os/$arch"]);
        let ppa = f.find_url(&["ppa.launchpadcontent.net/lemonade-team/stable/".to_string()]).unwrap();
        assert_eq!(ppa.file, "/etc/apt/sources.list.d/x.list");
        let (_d, empty) = tree(&[]);
        assert_eq!(probe_repos(&empty).unwrap(), RepoFacts::default());
    }
}

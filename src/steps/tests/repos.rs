//! `repos`: the vendor repositories the package routes need, written the modern way.

use super::*;
use crate::host::repos::{ConfiguredRepo, RepoFacts};
use crate::parse::repos::RepoEntry;
use crate::steps::repos::Repos;

fn noble() -> Host {
    Host::halo().bare_stack().os("ubuntu", "24.04").kernel("6.17.0-14-generic")
}

#[test]
fn nothing_when_every_component_is_present() {
    assert!(Scratch::running(&[]).plan(&Repos, &Host::halo()).is_empty());
}

#[test]
fn a_ppa_is_a_deb822_source_with_a_pinned_keyring() {
    let p = Scratch::running(&[]).plan(&Repos, &noble());
    let [Action::AddRepository { name, path, content, key }] = p.actions.as_slice() else { panic!("{p:#?}") };
    assert_eq!(name, "PPA lemonade-team/stable");
    assert_eq!(path, "etc/apt/sources.list.d/lemonade-team-ubuntu-stable.sources");
    assert!(content.starts_with("# Managed by npu-setup"), "{content}");
    assert!(
        content.ends_with(
            "Types: deb\nURIs: https://ppa.launchpadcontent.net/lemonade-team/stable/ubuntu\nSuites: noble\n\
             Components: main\nSigned-By: /etc/apt/keyrings/lemonade-team-stable.asc\n"
        ),
        "{content}"
    );
    let k = key.as_ref().unwrap();
    assert_eq!(k.fingerprint.as_deref(), Some("881CF4B40B0BFA288D6776E83BF36CFA0BD50AEC"));
    assert_eq!(k.path, "etc/apt/keyrings/lemonade-team-stable.asc");
    assert!(noted(&p, "UNVERIFIED"));
}

#[test]
fn a_copr_is_a_repo_file_dnf_copr_would_recognise() {
    let p = Scratch::running(&[]).plan(&Repos, &Host::halo().bare_stack());
    let [Action::AddRepository { path, content, key, .. }] = p.actions.as_slice() else { panic!("{p:#?}") };
    assert_eq!(path, "etc/yum.repos.d/_copr:copr.fedorainfracloud.org:abn:amd-npu.repo");
    for line in [
        "[copr:copr.fedorainfracloud.org:abn:amd-npu]\n",
        "baseurl=https://download.copr.fedorainfracloud.org/results/abn/amd-npu/fedora-$releasever-$basearch/\n",
        "gpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/copr-abn-amd-npu.asc\n",
        "skip_if_unavailable=False\n",
    ] {
        assert!(content.contains(line), "{line:?} in {content}");
    }
    assert_eq!(key.as_ref().unwrap().fingerprint, None, "UNVERIFIED: pinned on first use");
}

#[test]
fn a_repository_added_by_hand_is_left_alone() {
    let by_hand = RepoFacts {
        apt: true,
        repos: vec![ConfiguredRepo {
            file: "/etc/apt/sources.list.d/lemonade-team-ubuntu-stable-noble.sources".into(),
            entry: RepoEntry {
                format: "apt".into(),
                urls: vec!["https://ppa.launchpadcontent.net/lemonade-team/stable/ubuntu/".into()],
                suites: vec!["noble".into()],
                components: vec!["main".into()],
                enabled: true,
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let p = Scratch::running(&[]).plan(&Repos, &noble().repos(by_hand));
    assert!(p.is_empty(), "{p:#?}");
    assert!(noted(&p, "already configured (/etc/apt/sources.list.d/lemonade-team-ubuntu-stable-noble.sources)"));
}

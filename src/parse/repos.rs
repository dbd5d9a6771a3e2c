//! Package-repository configuration: dnf `.repo` files (INI, dnf.conf(5)), apt's one-line
//! `.list` and deb822 `.sources` files (sources.list(5)), and `/etc/pacman.conf` sections
//! (pacman.conf(5)). Only what decides which repositories a host can install from.

use serde::{Deserialize, Serialize};

/// One configured repository, whatever the format.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RepoEntry {
    /// `rpm-md`, `apt` or `pacman`.
    pub format: String,
    /// dnf: the section id; pacman: the repository name; apt: empty.
    pub id: String,
    /// `baseurl`/`metalink`/`mirrorlist`, `URIs`, or pacman `Server` lines.
    pub urls: Vec<String>,
    /// apt: suites.
    pub suites: Vec<String>,
    /// apt: components.
    pub components: Vec<String>,
    /// Enabled (dnf `enabled=`, deb822 `Enabled:`, a commented-out line is not listed at all).
    pub enabled: bool,
    /// dnf `gpgkey`, apt `Signed-By` (a path, or `inline` for an embedded key).
    pub key: Option<String>,
    /// pacman: `Include =` files whose `Server` lines belong to it.
    pub includes: Vec<String>,
}

fn truthy(v: &str) -> bool {
    !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "no" | "false" | "off")
}

/// dnf `.repo` (INI): one entry per `[section]`; `enabled` defaults to true.
pub fn parse_yum_repo(text: &str) -> Vec<RepoEntry> {
    let mut out: Vec<RepoEntry> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(id) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push(RepoEntry { format: "rpm-md".into(), id: id.trim().into(), enabled: true, ..Default::default() });
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        let Some((k, v)) = line.split_once('=') else {
            // A continuation line of a multi-valued key (baseurl may list several URLs).
            if raw.starts_with([' ', '\t']) && !cur.urls.is_empty() {
                cur.urls.extend(line.split_whitespace().map(str::to_string));
            }
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "baseurl" | "metalink" | "mirrorlist" => {
                cur.urls.extend(v.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string))
            }
            "enabled" => cur.enabled = truthy(v),
            "gpgkey" => cur.key = Some(v.to_string()),
            _ => {}
        }
    }
    out
}

/// apt one-line sources (`deb [opts] URI suite [component…]`); `deb-src` lines are skipped.
pub fn parse_apt_list(text: &str) -> Vec<RepoEntry> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ").or_else(|| line.strip_prefix("deb\t")) else { continue };
        let mut rest = rest.trim_start();
        let mut key = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((o, after)) = opts.split_once(']') else { continue };
            for opt in o.split_whitespace() {
                if let Some(v) = opt.strip_prefix("signed-by=") {
                    key = Some(v.to_string());
                }
            }
            rest = after.trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else { continue };
        out.push(RepoEntry {
            format: "apt".into(),
            urls: vec![uri.to_string()],
            suites: vec![suite.to_string()],
            components: words.map(str::to_string).collect(),
            enabled: true,
            key,
            ..Default::default()
        });
    }
    out
}

/// apt deb822 `.sources`: one entry per stanza with `Types` holding `deb`.
pub fn parse_deb822(text: &str) -> Vec<RepoEntry> {
    let mut out = Vec::new();
    for stanza in stanzas(text) {
        let get = |k: &str| stanza.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
        let words = |k: &str| get(k).map(|v| v.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
        let types: Vec<String> = words("Types");
        if !types.iter().any(|t| t == "deb") {
            continue;
        }
        let key = get("Signed-By").map(|v| {
            if v.contains("BEGIN PGP PUBLIC KEY BLOCK") { "inline".to_string() } else { v.trim().to_string() }
        });
        out.push(RepoEntry {
            format: "apt".into(),
            urls: words("URIs"),
            suites: words("Suites"),
            components: words("Components"),
            enabled: get("Enabled").is_none_or(truthy),
            key,
            ..Default::default()
        });
    }
    out
}

/// deb822 stanzas as (field, value) lists; continuation lines join their field's value.
fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            if out.last().is_some_and(|s| !s.is_empty()) {
                out.push(Vec::new());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let cur = out.last_mut().expect("never empty");
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `/etc/pacman.conf`: one entry per repository section (not `[options]`), with its `Server`
/// lines and `Include` files.
pub fn parse_pacman_conf(text: &str) -> Vec<RepoEntry> {
    let mut out: Vec<RepoEntry> = Vec::new();
    let mut in_repo = false;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_repo = name != "options";
            if in_repo {
                out.push(RepoEntry { format: "pacman".into(), id: name.into(), enabled: true, ..Default::default() });
            }
            continue;
        }
        let (Some(cur), true) = (out.last_mut(), in_repo) else { continue };
        let Some((k, v)) = line.split_once('=') else { continue };
        match k.trim() {
            "Server" => cur.urls.push(v.trim().to_string()),
            "Include" => cur.includes.push(v.trim().to_string()),
            _ => {}
        }
    }
    out
}

/// `Server =` lines of a pacman mirrorlist (an `Include`d file).
pub fn parse_pacman_servers(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == "Server").map(|(_, v)| v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copr_repo_as_dnf_copr_writes_it() {
        // https://discussion.fedoraproject.org/t/what-is-the-purpose-of-dnfs-copr-plugin/88085
        let text = "[copr:copr.fedorainfracloud.org:abn:amd-npu]\nname=Copr repo for amd-npu owned by abn\n\
            baseurl=https://download.copr.fedorainfracloud.org/results/abn/amd-npu/fedora-$releasever-$basearch/\n\
            type=rpm-md\nskip_if_unavailable=True\ngpgcheck=1\n\
            gpgkey=https://download.copr.fedorainfracloud.org/results/abn/amd-npu/pubkey.gpg\nrepo_gpgcheck=0\n\
            enabled=1\nenabled_metadata=1\n\n[fedora-debuginfo]\nmetalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-debug-$releasever&arch=$basearch\nenabled=0\n";
        let r = parse_yum_repo(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].id, "copr:copr.fedorainfracloud.org:abn:amd-npu");
        assert!(r[0].enabled && r[0].urls[0].contains("/results/abn/amd-npu/"));
        assert_eq!(
            r[0].key.as_deref(),
            Some("https://download.copr.fedorainfracloud.org/results/abn/amd-npu/pubkey.gpg")
        );
        assert!(!r[1].enabled && r[1].urls[0].starts_with("https://mirrors.fedoraproject.org/metalink"));
    }

    #[test]
    fn apt_one_line_and_deb822() {
        let list = "# added by add-apt-repository\ndeb [signed-by=/etc/apt/keyrings/x.gpg arch=amd64] https://ppa.launchpadcontent.net/lemonade-team/stable/ubuntu noble main\n\
                    # deb-src https://ppa.launchpadcontent.net/lemonade-team/stable/ubuntu noble main\n";
        let r = parse_apt_list(list);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].suites[0].as_str(), r[0].components[0].as_str()), ("noble", "main"));
        assert_eq!(r[0].key.as_deref(), Some("/etc/apt/keyrings/x.gpg"));
        // Ubuntu 24.04's default ubuntu.sources.
        let sources = "Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble noble-updates noble-backports\n\
                       Components: main restricted universe multiverse\nSigned-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg\n\n\
                       Types: deb-src\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble\nComponents: main\n\n\
                       Types: deb\nURIs: https://example.invalid/x\nSuites: noble\nComponents: main\nEnabled: no\n\
                       Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF\n -----END PGP PUBLIC KEY BLOCK-----\n";
        let r = parse_deb822(sources);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert!(r[0].enabled && r[0].components.contains(&"universe".to_string()));
        assert_eq!(r[0].suites, ["noble", "noble-updates", "noble-backports"]);
        assert!(!r[1].enabled);
        assert_eq!(r[1].key.as_deref(), Some("inline"));
    }

    #[test]
    fn pacman_conf_sections() {
        let text = "[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\n\n\
                    [core]\nInclude = /etc/pacman.d/mirrorlist\n\n#[extra-testing]\n#Include = /etc/pacman.d/mirrorlist\n\n\
                    [extra]\nInclude = /etc/pacman.d/mirrorlist\n\n[local]\nServer = file:///srv/repo  # ours\n";
        let r = parse_pacman_conf(text);
        let ids: Vec<&str> = r.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["core", "extra", "local"]);
        assert_eq!(r[1].includes, ["/etc/pacman.d/mirrorlist"]);
        assert_eq!(r[2].urls, ["file:///srv/repo"]);
        assert_eq!(
            parse_pacman_servers(
                "## Worldwide\n#Server = https://a/$repo/os/$arch\nServer = https://geo.mirror.pkgbuild.com/$repo/os/$arch\n"
            ),
            ["https://geo.mirror.pkgbuild.com/$repo/os/$arch"]
        );
    }
}

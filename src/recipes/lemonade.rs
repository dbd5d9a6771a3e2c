//! `recipes/lemonade.yaml`: the Lemonade release npu-setup installs (its package per distro
//! and the assets that release published), and what npu-setup knows of every Lemonade
//! release, each fact with the version range it holds for ([`Ranged`]).
//!
//! Lemonade versions are compared as three dotted numbers ([`version`]): `11.7.0-1.fc44`,
//! `1:10.2.0-0ubuntu2` and `11.9.0~24.04` are 11.7.0, 10.2.0 and 11.9.0; calendar releases
//! (`2026.40.0`) sort after every 11.x.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::parse::version::parse_dotted;

/// A Lemonade version as three numbers (`11.7` is `[11, 7, 0]`). An epoch (`1:`) and a `v`
/// are skipped, anything after the dotted number ignored; `None` when there is no number.
pub fn version(s: &str) -> Option<[u32; 3]> {
    let s = s.trim();
    let s = match s.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.chars().all(|c| c.is_ascii_digit()) => rest,
        _ => s,
    };
    let d = parse_dotted(s)?;
    let at = |i: usize| d.0.get(i).copied().unwrap_or(0);
    Some([at(0), at(1), at(2)])
}

/// One fact over a range of releases: `from` (inclusive) up to `below` (exclusive; open when
/// absent).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ranged<T> {
    /// First release the fact holds for.
    pub from: String,
    /// First release it no longer holds for.
    #[serde(default)]
    pub below: Option<String>,
    /// The fact.
    pub value: T,
    /// Where it comes from (URLs, ` ; `-separated).
    pub source: String,
    /// Not confirmed by an upstream source.
    #[serde(default)]
    pub unverified: bool,
}

impl<T> Ranged<T> {
    /// The range holds `v`.
    pub fn covers(&self, v: [u32; 3]) -> bool {
        version(&self.from).is_some_and(|f| v >= f) && self.below.as_deref().and_then(version).is_none_or(|b| v < b)
    }
}

/// The entry of `list` whose range holds `v`.
pub fn at<T>(list: &[Ranged<T>], v: [u32; 3]) -> Option<&Ranged<T>> {
    list.iter().find(|r| r.covers(v))
}

/// Where one distro gets the Lemonade package.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LemonadeSource {
    /// http(s)://, file:// or a local path; `{version}` is replaced by the pinned version,
    /// `{version_id}` by os-release VERSION_ID.
    #[serde(default)]
    pub url: Option<String>,
    /// The VERSION_IDs the url has a package for (empty: any).
    #[serde(default)]
    pub version_ids: Vec<String>,
    /// Expected SHA-256 (hex); without it the first download's hash is pinned.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Said when there is no package for the host (why, and what to do instead).
    #[serde(default)]
    pub note: Option<String>,
}

impl LemonadeSource {
    /// The url for `version` on a host with `version_id`, when this source has a package for it.
    pub fn url_for(&self, version: &str, version_id: &str) -> Option<String> {
        let url = self.url.as_deref()?;
        if !self.version_ids.is_empty() && !self.version_ids.iter().any(|v| v == version_id) {
            return None;
        }
        Some(url.replace("{version}", version).replace("{version_id}", version_id))
    }
}

/// The assets one release published, as its release workflow names them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedAssets {
    /// The release (no `v`).
    pub version: String,
    /// Asset file names.
    pub assets: Vec<String>,
    /// Where the list comes from.
    pub source: String,
    /// Not confirmed by an upstream source.
    #[serde(default)]
    pub unverified: bool,
}

/// How a route distributes Lemonade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteKind {
    /// Assets of the GitHub release.
    GithubRelease,
    /// A Launchpad PPA.
    Ppa,
    /// A snap.
    Snap,
    /// A distro's own repository.
    DistroArchive,
}

/// A way Lemonade reaches a host.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Stable id.
    pub id: String,
    /// What kind of route.
    pub kind: RouteKind,
    /// Distro recipe ids it serves.
    pub distros: Vec<String>,
    /// PPA, snap or package name.
    #[serde(default)]
    pub name: Option<String>,
    /// How a person installs from it.
    #[serde(default)]
    pub install: Option<String>,
    /// Distro releases it serves (empty: all).
    #[serde(default)]
    pub releases: Vec<String>,
    /// Package versions seen there.
    #[serde(default)]
    pub versions: Option<String>,
    /// Install prefix (`/usr`: /usr/bin/lemond; `/opt`: /opt/bin/lemond).
    #[serde(default)]
    pub prefix: Option<String>,
    /// The service unit, when it is not the release's own.
    #[serde(default)]
    pub unit: Option<String>,
    /// What else to know.
    #[serde(default)]
    pub note: Option<String>,
    /// Where it comes from.
    pub source: String,
    /// Not confirmed by an upstream source.
    #[serde(default)]
    pub unverified: bool,
}

/// The format of Lemonade's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigFormat {
    /// No settings file (environment variables only).
    None,
    /// `config.json`.
    Json,
}

/// Where a release keeps its settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayout {
    /// Its format.
    pub format: ConfigFormat,
    /// The file name in the directory.
    #[serde(default)]
    pub file: Option<String>,
    /// Directory templates, first that resolves wins (see [`DIR_VARIABLES`]).
    #[serde(default)]
    pub dirs: Vec<String>,
}

/// The variables a directory template may start with: the service's environment, the
/// directories systemd sets for `StateDirectory=`/`CacheDirectory=`, the service user's home.
pub const DIR_VARIABLES: &[&str] =
    &["STATE_DIRECTORY", "CACHE_DIRECTORY", "LEMONADE_CACHE_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "HOME"];

/// Splits `$VAR/rest` into (`VAR`, `/rest`).
pub fn split_template(t: &str) -> Option<(&str, &str)> {
    let t = t.strip_prefix('$')?;
    let end = t.find('/').unwrap_or(t.len());
    Some((&t[..end], &t[end..]))
}

/// Where lemond looks for the flm it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlmSource {
    /// `LEMONADE_FLM_NPU_BIN` in its environment.
    EnvNpuBin,
    /// `flm.npu_bin` in config.json.
    ConfigNpuBin,
    /// `flm` on its PATH when `flm.prefer_system` is true.
    PreferSystemPath,
    /// `flm` on its PATH.
    Path,
    /// Its own copy in its cache.
    OwnCopy,
}

impl FlmSource {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlmSource::EnvNpuBin => "env-npu-bin",
            FlmSource::ConfigNpuBin => "config-npu-bin",
            FlmSource::PreferSystemPath => "prefer-system-path",
            FlmSource::Path => "path",
            FlmSource::OwnCopy => "own-copy",
        }
    }
}

/// Lemonade's own flm, relative to its cache directory.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OwnFlm {
    /// The executable.
    pub binary: String,
    /// The file holding the installed tag.
    pub version_file: String,
}

/// How the system unit lets flm pin memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemlockMechanism {
    /// `LimitMEMLOCK=infinity` in the unit.
    LimitMemlock,
    /// `AmbientCapabilities=CAP_SYS_RESOURCE`; lemond hands it to flm, which raises its own limit.
    AmbientCapSysResource,
}

impl MemlockMechanism {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MemlockMechanism::LimitMemlock => "limit-memlock",
            MemlockMechanism::AmbientCapSysResource => "ambient-cap-sys-resource",
        }
    }
}

/// Which FLM versions are accepted besides the pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionPolicy {
    /// The pin or newer.
    AtLeast,
    /// The pin only.
    Exact,
}

impl VersionPolicy {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionPolicy::AtLeast => "at-least",
            VersionPolicy::Exact => "exact",
        }
    }
}

/// A release's FLM version policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlmPolicy {
    /// An flm it did not download.
    pub system: VersionPolicy,
    /// Its own copy (releases that download one).
    #[serde(default)]
    pub own_copy: Option<VersionPolicy>,
}

/// Facts by release.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Releases {
    /// The server executable's name.
    pub server_binary: Vec<Ranged<String>>,
    /// The system unit's name.
    pub unit: Vec<Ranged<String>>,
    /// The default port.
    pub port: Vec<Ranged<u16>>,
    /// The unit's EnvironmentFile= lines.
    pub env_files: Vec<Ranged<Vec<String>>>,
    /// Where the settings live.
    pub config: Vec<Ranged<ConfigLayout>>,
    /// The cache directory templates.
    pub cache_dirs: Vec<Ranged<Vec<String>>>,
    /// How lemond picks flm, in order.
    pub flm_selection: Vec<Ranged<Vec<FlmSource>>>,
    /// Its own flm in the cache.
    pub own_flm: Vec<Ranged<OwnFlm>>,
    /// How the unit lets flm pin memory.
    pub memlock: Vec<Ranged<MemlockMechanism>>,
    /// The FLM release it pins (`v0.9.35`).
    pub flm_pin: Vec<Ranged<String>>,
    /// Which FLM versions it accepts.
    pub flm_policy: Vec<Ranged<FlmPolicy>>,
    /// Its Linux release assets (`{version}` templates).
    pub linux_packages: Vec<Ranged<Vec<String>>>,
}

/// `recipes/lemonade.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LemonadeRecipe {
    /// Pinned Lemonade version (an installed version >= this is accepted).
    pub version: String,
    /// The newest release the facts were checked against.
    pub known_through: String,
    /// Distro package name.
    pub package: String,
    /// Package sources keyed by distro recipe id.
    pub sources: BTreeMap<String, LemonadeSource>,
    /// What pinned releases published.
    pub published_assets: Vec<PublishedAssets>,
    /// FLM model tags pulled when no `--model` is given.
    pub models: Vec<String>,
    /// Ways Lemonade reaches a host.
    pub routes: Vec<Route>,
    /// Facts by release.
    pub releases: Releases,
}

impl LemonadeRecipe {
    /// What `version` published, when the recipe lists it.
    pub fn published(&self, version: &str) -> Option<&PublishedAssets> {
        self.published_assets.iter().find(|p| p.version == version)
    }

    /// `v` is newer than the newest release the facts were checked against.
    pub fn beyond_known(&self, v: [u32; 3]) -> bool {
        version(&self.known_through).is_some_and(|k| v > k)
    }
}

/// Every problem of the file that parsing cannot see, as (text to find the line by, message):
/// versions that do not parse, ranges out of order or overlapping, directory templates with
/// unknown variables, sources naming unknown distros or expanding to names the pinned
/// release did not publish, routes naming unknown distros.
pub(super) fn problems(l: &LemonadeRecipe, distros: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut ranges = |name: &str, list: Vec<(&str, Option<&str>)>| {
        let mut prev: Option<[u32; 3]> = None;
        for (from, below) in list {
            let (Some(f), b) = (version(from), below.map(version)) else {
                out.push((format!("from: \"{from}\""), format!("releases.{name}: {from:?} is not a version")));
                continue;
            };
            if let Some(None) = b {
                out.push((format!("from: \"{from}\""), format!("releases.{name}: below of {from:?} is not a version")));
                continue;
            }
            if prev.is_some_and(|p| f < p) {
                out.push((
                    format!("from: \"{from}\""),
                    format!("releases.{name}: {from:?} overlaps the range before it"),
                ));
            }
            if b.flatten().is_some_and(|b| b <= f) {
                out.push((format!("from: \"{from}\""), format!("releases.{name}: the range from {from:?} is empty")));
            }
            prev = Some(b.flatten().unwrap_or([u32::MAX; 3]));
        }
    };
    macro_rules! check {
        ($($field:ident),*) => {
            $(ranges(stringify!($field), l.releases.$field.iter().map(|r| (r.from.as_str(), r.below.as_deref())).collect());)*
        };
    }
    check!(
        server_binary,
        unit,
        port,
        env_files,
        config,
        cache_dirs,
        flm_selection,
        own_flm,
        memlock,
        flm_pin,
        flm_policy,
        linux_packages
    );
    let templates = l
        .releases
        .config
        .iter()
        .flat_map(|c| c.value.dirs.iter())
        .chain(l.releases.cache_dirs.iter().flat_map(|c| c.value.iter()));
    for t in templates {
        if !split_template(t).is_some_and(|(var, _)| DIR_VARIABLES.contains(&var)) {
            out.push((
                t.clone(),
                format!("directory template {t:?} does not start with one of ${}", DIR_VARIABLES.join(", $")),
            ));
        }
    }
    for v in [&l.version, &l.known_through] {
        if version(v).is_none() {
            out.push((format!("\"{v}\""), format!("{v:?} is not a version")));
        }
    }
    let published = l.published(&l.version);
    if published.is_none() {
        out.push((
            "published_assets:".into(),
            format!("published_assets has no entry for the pinned version {:?}", l.version),
        ));
    }
    for (id, s) in &l.sources {
        if !distros.contains(&id.as_str()) {
            out.push((
                format!("{id}:"),
                format!("package source for distro {id:?}, which recipes/distros.yaml does not define"),
            ));
        }
        if s.url.is_some() && s.note.is_none() && !s.version_ids.is_empty() {
            out.push((
                format!("{id}:"),
                format!("source {id:?} limits its version_ids but has no note for the others"),
            ));
        }
        for name in expanded_names(s, &l.version) {
            if let Some(p) = published
                && !p.assets.contains(&name)
            {
                out.push((
                    format!("{id}:"),
                    format!(
                        "source {id:?} expands to {name:?}, which Lemonade {} did not publish (published_assets)",
                        l.version
                    ),
                ));
            }
        }
    }
    // The pinned release's own asset templates name what it published.
    if let (Some(p), Some(v)) = (published, version(&l.version))
        && let Some(r) = at(&l.releases.linux_packages, v)
    {
        for t in &r.value {
            let name = t.replace("{version}", &l.version);
            if !p.assets.contains(&name) {
                out.push((
                    t.clone(),
                    format!("releases.linux_packages names {name:?} for {}, missing from published_assets", l.version),
                ));
            }
        }
    }
    for r in &l.routes {
        for d in &r.distros {
            if !distros.contains(&d.as_str()) {
                out.push((
                    format!("id: {}", r.id),
                    format!("route {:?} names distro {d:?}, which does not exist", r.id),
                ));
            }
        }
    }
    out
}

/// The file names a source's url expands to for `version`, one per VERSION_ID (none without
/// a url; a url without `{version_id}` or VERSION_IDs expands once).
pub fn expanded_names(s: &LemonadeSource, version: &str) -> Vec<String> {
    let Some(url) = &s.url else { return Vec::new() };
    let ids: Vec<&str> = if s.version_ids.is_empty() || !url.contains("{version_id}") {
        vec![""]
    } else {
        s.version_ids.iter().map(String::as_str).collect()
    };
    let mut names: Vec<String> = ids
        .into_iter()
        .filter_map(|id| s.url_for(version, id).or_else(|| id.is_empty().then(|| url.replace("{version}", version))))
        .map(|u| u.rsplit('/').next().unwrap_or(&u).to_string())
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::Recipes;

    #[test]
    fn versions_compare_as_three_numbers() {
        assert_eq!(version("11.7.0-1.fc44"), Some([11, 7, 0]));
        assert_eq!(version("1:10.2.0-0ubuntu2"), Some([10, 2, 0]));
        assert_eq!(version("11.9.0~24.04"), Some([11, 9, 0]));
        assert_eq!(version("v1.0.1"), Some([1, 0, 1]));
        assert_eq!(version("10.3"), Some([10, 3, 0]));
        assert!(version("2026.40.0") > version("11.8.1"));
        assert_eq!(version("unknown"), None);
    }

    #[test]
    fn ranges_pick_the_release() {
        let r = Recipes::embedded().unwrap();
        let rel = &r.lemonade.releases;
        let v = |s: &str| version(s).unwrap();
        assert_eq!(at(&rel.unit, v("10.2.0")).unwrap().value, "lemonade-server.service");
        assert_eq!(at(&rel.unit, v("10.3.0")).unwrap().value, "lemond.service");
        assert_eq!(at(&rel.port, v("10.0.1")).unwrap().value, 8000);
        assert_eq!(at(&rel.flm_pin, v("11.7.0")).unwrap().value, "v1.0.1");
        assert_eq!(at(&rel.flm_pin, v("10.9.0")).unwrap().value, "v0.9.43");
        assert_eq!(at(&rel.memlock, v("10.0.0")).unwrap().value, MemlockMechanism::LimitMemlock);
        assert_eq!(at(&rel.memlock, v("10.0.1")).unwrap().value, MemlockMechanism::AmbientCapSysResource);
        assert_eq!(at(&rel.flm_selection, v("10.9.0")).unwrap().value, [FlmSource::Path]);
        assert_eq!(at(&rel.flm_selection, v("10.10.0")).unwrap().value[0], FlmSource::ConfigNpuBin);
        assert_eq!(at(&rel.flm_selection, v("11.6.0")).unwrap().value[0], FlmSource::EnvNpuBin);
        assert_eq!(at(&rel.flm_policy, v("10.2.0")).unwrap().value.system, VersionPolicy::Exact);
        assert_eq!(at(&rel.env_files, v("11.8.0")).unwrap().value, ["-/etc/default/lemond"]);
        assert!(at(&rel.own_flm, v("10.9.0")).is_none());
        assert!(at(&rel.unit, v("9.9.0")).is_none());
        let cal = at(&rel.flm_pin, v("2026.40.0")).unwrap();
        assert!(cal.unverified && r.lemonade.beyond_known(v("2026.40.0")));
    }

    /// Every download URL template expands, for every distro release it serves, to an asset
    /// the pinned release published (from the release workflow the recipe cites).
    #[test]
    fn every_url_template_names_a_published_asset() {
        let r = Recipes::embedded().unwrap();
        let l = &r.lemonade;
        let published = l.published(&l.version).expect("the pinned version's assets are listed");
        let mut checked = 0;
        for (distro, s) in &l.sources {
            let Some(url) = &s.url else { continue };
            assert!(
                url.starts_with("https://github.com/lemonade-sdk/lemonade/releases/download/v{version}/"),
                "{distro}: {url}"
            );
            assert!(!s.version_ids.is_empty(), "{distro}: a template names the releases it serves");
            for id in &s.version_ids {
                let u = s.url_for(&l.version, id).unwrap();
                assert!(!u.contains('{'), "{distro} {id}: {u}");
                let name = u.rsplit('/').next().unwrap();
                assert!(published.assets.iter().any(|a| a == name), "{distro} {id}: {name} was not published");
                checked += 1;
            }
            assert_eq!(s.url_for(&l.version, "99"), None, "{distro}: no package for an unknown release");
        }
        assert!(checked >= 3, "fedora 43/44 and debian 13 are checked");
    }

    #[test]
    fn templates_split() {
        assert_eq!(split_template("$HOME/.cache/lemonade"), Some(("HOME", "/.cache/lemonade")));
        assert_eq!(split_template("$STATE_DIRECTORY"), Some(("STATE_DIRECTORY", "")));
        assert_eq!(split_template("/var/lib"), None);
    }
}

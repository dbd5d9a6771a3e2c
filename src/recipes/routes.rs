//! Typed form of `recipes/routes.yaml`: the repositories npu-setup may add, and per distro and
//! release the ordered routes each component of the stack can come from. Judged by
//! `knowledge::routes`; carried out by the `repos` and `packages` steps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FlavourId, PackageManager};
use crate::parse::version::parse_dotted;

/// A component of the NPU stack a route provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    /// The amdxdna kernel driver.
    Driver,
    /// The NPU firmware (`amdnpu/`).
    Firmware,
    /// XRT and its xdna plugin.
    Xrt,
    /// FastFlowLM.
    Flm,
    /// The Lemonade server.
    Lemonade,
}

impl Component {
    /// Every component, in the order the plan lists them.
    pub const ALL: [Component; 5] =
        [Component::Driver, Component::Firmware, Component::Xrt, Component::Flm, Component::Lemonade];

    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Driver => "driver",
            Component::Firmware => "firmware",
            Component::Xrt => "xrt",
            Component::Flm => "flm",
            Component::Lemonade => "lemonade",
        }
    }

    /// The install step doctor's remedies name for it (`install --only <step>`).
    pub fn step(self) -> &'static str {
        match self {
            Component::Driver | Component::Firmware => "driver",
            Component::Xrt => "xrt",
            Component::Flm => "flm",
            Component::Lemonade => "lemonade",
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a route gets its component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The kernel's own driver: nothing to install.
    Kernel,
    /// The distro's configured repositories.
    Distro,
    /// A repository of `repositories:`, added by the `repos` step.
    Vendor,
    /// The vendor's own package file, fetched and installed with the other packages.
    Download,
    /// A snap.
    Snap,
    /// The `lemonade` step's release package (recipes/lemonade.yaml).
    Release,
}

impl Via {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Kernel => "kernel",
            Via::Distro => "distro",
            Via::Vendor => "vendor",
            Via::Download => "download",
            Via::Snap => "snap",
            Via::Release => "release",
        }
    }
}

/// What kind of repository definition a repository is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepoKind {
    /// A dnf `.repo` file (rpm-md metadata), as COPR publishes.
    RpmMd,
    /// An apt deb822 `.sources` file with a `Signed-By` keyring.
    Deb822,
    /// One of the distro's own repositories: configured by the distro, never written by us.
    Distro,
}

/// A signing key npu-setup fetches, checks and installs for a repository.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepoKey {
    /// Where the key is fetched from.
    pub url: String,
    /// The primary key's fingerprint (40 hex digits); without one the first fetched key is
    /// pinned (trust on first use).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Where the checked key is written (root-relative, ASCII-armoured).
    pub path: String,
}

/// A repository a route installs from.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Definition format.
    pub kind: RepoKind,
    /// The package manager that reads it.
    pub manager: PackageManager,
    /// Definition file (root-relative).
    #[serde(default)]
    pub file: Option<String>,
    /// rpm-md: the repository id (the `[section]`).
    #[serde(default)]
    pub section: Option<String>,
    /// `baseurl=` / `URIs:`.
    #[serde(default)]
    pub url: Option<String>,
    /// deb822: the series it publishes (`{codename}` must be one of them).
    #[serde(default)]
    pub suites: Vec<String>,
    /// deb822: `Components:`.
    #[serde(default)]
    pub components: Vec<String>,
    /// The signing key.
    #[serde(default)]
    pub key: Option<RepoKey>,
    /// URL fragments that identify it among the host's configured repositories (added by
    /// hand, `dnf copr enable` or `add-apt-repository`).
    #[serde(default)]
    pub matches: Vec<String>,
    /// Distro repositories: the `/etc/pacman.conf` section that must be enabled.
    #[serde(default)]
    pub pacman_section: Option<String>,
    /// Distro repositories: the apt component that must be enabled.
    #[serde(default)]
    pub apt_component: Option<String>,
    /// Not confirmed at the source.
    #[serde(default)]
    pub unverified: bool,
    /// Where the facts come from.
    pub source: String,
}

/// One way a component can come onto a host.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Where it comes from.
    pub via: Via,
    /// `distro` / `vendor`: the repository (`repositories:` id).
    #[serde(default)]
    pub repository: Option<String>,
    /// Packages installed (snap: the snap's name).
    #[serde(default)]
    pub packages: Vec<String>,
    /// `download`: the package file; `{version}`, `{release}`, `{codename}` are replaced.
    #[serde(default)]
    pub url: Option<String>,
    /// `download`: expected SHA-256; without it the first download's hash is pinned.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The version the route installs (as last seen upstream).
    #[serde(default)]
    pub version: Option<String>,
    /// Lowest next-boot kernel (major.minor).
    #[serde(default)]
    pub kernel_min: Option<String>,
    /// Highest next-boot kernel (major.minor).
    #[serde(default)]
    pub kernel_max: Option<String>,
    /// Driver routes: the flavour it provides (recipes/drivers.yaml `flavours`).
    #[serde(default)]
    pub flavour: Option<FlavourId>,
    /// XRT routes: the driver flavours whose ABI this plugin speaks.
    #[serde(default)]
    pub drivers: Vec<FlavourId>,
    /// Components that must come from packages too.
    #[serde(default)]
    pub requires_packaged: Vec<Component>,
    /// Driver routes: the package carries the firmware the driver loads.
    #[serde(default)]
    pub ships_firmware: bool,
    /// Not confirmed at the source.
    #[serde(default)]
    pub unverified: bool,
    /// What it installs, for the plan.
    pub why: String,
    /// Where the facts come from.
    pub source: String,
}

/// The routes of one release range of a distro.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRoutes {
    /// Lowest release (dotted VERSION_ID), inclusive.
    #[serde(default)]
    pub min: Option<String>,
    /// Highest release, inclusive.
    #[serde(default)]
    pub max: Option<String>,
    /// Driver routes, in order.
    #[serde(default)]
    pub driver: Vec<Route>,
    /// Firmware routes.
    #[serde(default)]
    pub firmware: Vec<Route>,
    /// XRT + plugin routes.
    #[serde(default)]
    pub xrt: Vec<Route>,
    /// FastFlowLM routes.
    #[serde(default)]
    pub flm: Vec<Route>,
    /// Lemonade routes.
    #[serde(default)]
    pub lemonade: Vec<Route>,
}

impl ReleaseRoutes {
    /// The routes of one component, in order.
    pub fn of(&self, c: Component) -> &[Route] {
        match c {
            Component::Driver => &self.driver,
            Component::Firmware => &self.firmware,
            Component::Xrt => &self.xrt,
            Component::Flm => &self.flm,
            Component::Lemonade => &self.lemonade,
        }
    }

    /// True when `release` lies in this entry's range (an entry without bounds holds every
    /// release, including none: rolling distros).
    pub fn holds(&self, release: Option<&str>) -> bool {
        if self.min.is_none() && self.max.is_none() {
            return true;
        }
        let Some(r) = release.and_then(parse_dotted) else { return false };
        self.min.as_deref().and_then(parse_dotted).is_none_or(|m| r >= m)
            && self.max.as_deref().and_then(parse_dotted).is_none_or(|m| r <= m)
    }
}

/// The routes of one distro recipe.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistroRoutes {
    /// recipes/distros.yaml id.
    pub distro: String,
    /// Release codename -> release (`noble` -> `24.04`), for derivatives that name their base
    /// by codename.
    #[serde(default)]
    pub codenames: BTreeMap<String, String>,
    /// Release ranges, first match wins.
    pub releases: Vec<ReleaseRoutes>,
}

/// `recipes/routes.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RoutesRecipe {
    /// Repositories routes install from.
    pub repositories: Vec<Repository>,
    /// Routes per distro.
    pub distros: Vec<DistroRoutes>,
}

impl RoutesRecipe {
    /// A repository by id.
    pub fn repository(&self, id: &str) -> Option<&Repository> {
        self.repositories.iter().find(|r| r.id == id)
    }

    /// The routes of a distro recipe.
    pub fn distro(&self, id: &str) -> Option<&DistroRoutes> {
        self.distros.iter().find(|d| d.distro == id)
    }

    /// Every package name a route of `distro` installs (the package probe asks about them).
    pub fn package_names(&self, distro: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for rel in self.distro(distro).map(|d| d.releases.as_slice()).unwrap_or_default() {
            for c in Component::ALL {
                for r in rel.of(c).iter().filter(|r| !matches!(r.via, Via::Snap | Via::Kernel | Via::Release)) {
                    for p in &r.packages {
                        if !out.contains(p) {
                            out.push(p.clone());
                        }
                    }
                }
            }
        }
        out
    }
}

//! Which distro recipe a host uses and which release of that distro it is: a derivative
//! (Linux Mint, Pop!_OS, Nobara, CachyOS…) uses its base's recipe and is compared as the base
//! release it is built on, never by its own version number (Linux Mint 22 is Ubuntu 24.04,
//! not "older than 24.04"). `host.os`, every remedy's `{version_id}`/`{codename}` and the
//! per-release remedies ask this module.

use serde::Serialize;

use crate::host::Facts;
use crate::host::os::OsFacts;
use crate::parse::version::parse_dotted;
use crate::recipes::{Derivative, DerivedVersion, Distro, DistroRemedies, MinVersion, Recipes};

/// How the host's release in the recipe's numbering was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The host is the recipe's distro (or one of its `like` ids): its own `VERSION_ID`.
    Own,
    /// os-release `UBUNTU_CODENAME` through the recipe's codename table.
    UbuntuCodename(String),
    /// The derivative's `VERSION_ID` is the base's release number.
    VersionId,
    /// The derivative's own major release through its `versions` table.
    Table(String),
    /// Rolling release: there is no release to compare.
    Rolling,
    /// Matched only through `ID_LIKE` (or a derivative without a usable mapping): the base
    /// release is unknown, and the host's own `VERSION_ID` means nothing to the recipe.
    Unknown,
}

/// The host's distro as the recipes see it.
#[derive(Debug, Clone)]
pub struct HostDistro<'r> {
    /// The recipe it uses.
    pub recipe: &'r Distro,
    /// The derivative entry, when the host is a known derivative.
    pub derivative: Option<&'r Derivative>,
    /// Its release in the recipe's numbering (`24.04` for Linux Mint 22).
    pub version: Option<String>,
    /// The recipe distro's codename of that release (`noble`).
    pub codename: Option<String>,
    /// How `version` was found.
    pub basis: Basis,
    /// The host's own name (`PRETTY_NAME`).
    pub pretty_name: String,
    /// The host is not the recipe's distro itself.
    pub derived: bool,
}

impl HostDistro<'_> {
    /// The host as people call it, with its base when it is a derivative:
    /// `Linux Mint 22.2 (Ubuntu 24.04 base)`, `CachyOS (Arch Linux base)`, `Fedora Linux 44`.
    pub fn label(&self) -> String {
        if !self.derived {
            return self.pretty_name.clone();
        }
        match &self.version {
            Some(v) => format!("{} ({} {v} base)", self.pretty_name, self.recipe.name),
            None => format!("{} ({} base)", self.pretty_name, self.recipe.name),
        }
    }

    /// The distro name for phrases like "{name}'s systemd user sessions": the derivative's
    /// name with its base (`Nobara (Fedora base)`), or the recipe's.
    pub fn name(&self) -> String {
        match self.derivative {
            Some(d) => format!("{} ({} base)", d.name, self.recipe.name),
            None if self.derived => format!("{} ({} base)", self.pretty_name, self.recipe.name),
            None => self.recipe.name.clone(),
        }
    }

    /// What of the mapping rests on an unverified recipe fact.
    pub fn unverified(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(d) = self.derivative {
            let table = matches!(self.basis, Basis::Table(_)) && d.unverified.covers("versions");
            if d.unverified.covers("base") || d.unverified.covers("version") || table {
                out.push(format!("{} is built on {} ({})", d.name, self.recipe.name, d.source));
            }
        }
        out
    }

    /// The recipe's remedies with those of the host's release applied (`version_remedies`).
    pub fn remedies(&self) -> DistroRemedies {
        let mut r = self.recipe.remedies.clone();
        let Some(v) = self.version.as_deref().and_then(parse_dotted) else { return r };
        for vr in &self.recipe.version_remedies {
            if parse_dotted(&vr.from).is_some_and(|from| v >= from) {
                if let Some(x) = &vr.xrt {
                    r.xrt = x.clone();
                }
                if let Some(x) = &vr.flm {
                    r.flm = x.clone();
                }
            }
        }
        r
    }
}

/// Maps os-release to a recipe and a release of it.
pub fn resolve<'r>(os: &OsFacts, r: &'r Recipes) -> Option<HostDistro<'r>> {
    let recipe = r.distro(&os.id, &os.id_like)?;
    let own = recipe.id == os.id || recipe.like.contains(&os.id);
    let derivative =
        if own { None } else { r.derivative(&os.id).or_else(|| os.id_like.iter().find_map(|l| r.derivative(l))) };
    let by_codename = |c: &str| recipe.codenames.get(c).cloned();
    let ubuntu = os.ubuntu_codename.as_deref().filter(|c| !c.is_empty());
    let (version, codename, basis) = if own {
        (os.version_id.clone(), os.version_codename.clone().filter(|c| !c.is_empty()), Basis::Own)
    } else {
        match derivative.map(|d| d.version) {
            Some(DerivedVersion::Rolling) => (None, None, Basis::Rolling),
            Some(DerivedVersion::VersionId) => (os.version_id.clone(), None, Basis::VersionId),
            // A derivative of the codename kind, or any other host that names its Ubuntu base.
            Some(DerivedVersion::UbuntuCodename) | None => match ubuntu.and_then(|c| by_codename(c).map(|v| (c, v))) {
                Some((c, v)) => (Some(v), Some(c.to_string()), Basis::UbuntuCodename(c.to_string())),
                None => {
                    let major = os.version_id.as_deref().and_then(|v| v.split('.').next());
                    let mapped = derivative.zip(major).and_then(|(d, m)| d.versions.get(m).map(|v| (m, v)));
                    match mapped {
                        Some((m, v)) => {
                            let code = recipe.codenames.iter().find(|(_, x)| *x == v).map(|(c, _)| c.clone());
                            (Some(v.clone()), code, Basis::Table(m.to_string()))
                        }
                        None => (None, None, Basis::Unknown),
                    }
                }
            },
        }
    };
    Some(HostDistro {
        recipe,
        derivative,
        version,
        codename,
        basis,
        pretty_name: os.pretty_name.clone(),
        derived: !own,
    })
}

/// The host's distro, when os-release was read and a recipe matches it.
pub fn host<'r>(f: &Facts, r: &'r Recipes) -> Option<HostDistro<'r>> {
    f.os.ok().and_then(|o| resolve(o, r))
}

/// `host.os`'s judgement.
#[derive(Debug, Clone)]
pub enum OsVerdict<'r> {
    /// No recipe matches.
    NoRecipe,
    /// Older than the oldest release the recipe supports.
    TooOld {
        /// The host.
        host: HostDistro<'r>,
        /// The minimum.
        min: &'r MinVersion,
        /// The derivative's first release built on the minimum, when its table knows one.
        upgrade_to: Option<String>,
    },
    /// A derivative whose base release cannot be told: no comparison is made.
    BaseUnknown(HostDistro<'r>),
    /// Supported, as far as the release goes.
    Supported(HostDistro<'r>),
}

/// Judges the host's distro and release.
pub fn os_verdict<'r>(os: &OsFacts, r: &'r Recipes) -> OsVerdict<'r> {
    let Some(h) = resolve(os, r) else { return OsVerdict::NoRecipe };
    let Some(min) = h.recipe.min_version.as_ref() else { return OsVerdict::Supported(h) };
    if h.basis == Basis::Rolling {
        return OsVerdict::Supported(h);
    }
    let Some(v) = h.version.as_deref() else {
        return if h.derived { OsVerdict::BaseUnknown(h) } else { OsVerdict::Supported(h) };
    };
    let older = parse_dotted(v).zip(parse_dotted(&min.version)).is_some_and(|(v, m)| v < m);
    if !older {
        return OsVerdict::Supported(h);
    }
    let upgrade_to = h.derivative.and_then(|d| {
        let m = parse_dotted(&min.version)?;
        d.versions
            .iter()
            .filter(|(_, base)| parse_dotted(base).is_some_and(|b| b >= m))
            .min_by_key(|(own, _)| parse_dotted(own))
            .map(|(own, base)| format!("{} {own} ({} {base} base)", d.name, h.recipe.name))
    });
    OsVerdict::TooOld { host: h, min, upgrade_to }
}

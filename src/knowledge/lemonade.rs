//! Lemonade as it is on the host, judged once from its facts and `recipes/lemonade.yaml`:
//! which release is installed, which flm that release will run (its config's `npu_bin`, the
//! `LEMONADE_FLM_NPU_BIN` override, `prefer_system` + PATH, its own downloaded copy, or PATH
//! alone for the releases before 10.10), whether that release accepts that flm's version,
//! whether it is the FastFlowLM the host installed, and how its unit lets flm pin memory.
//! `lemonade.flm`, `limits.memlock` and the `lemonade-service` step all ask these functions.

use serde::Serialize;

use crate::host::Facts;
use crate::host::services::{LemonadeDir, UnitFacts};
use crate::parse::limits::{Memlock, parse_systemd_limit};
use crate::recipes::Recipes;
use crate::recipes::lemonade::{FlmSource, MemlockMechanism, Ranged, VersionPolicy, at, version};

/// The installed Lemonade release.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Release {
    /// As reported (`11.7.0-1.fc44`).
    pub version: String,
    /// As compared.
    #[serde(skip)]
    pub parsed: [u32; 3],
    /// `package` (the package manager) or `api` (`/api/v1/health`).
    pub from: &'static str,
}

/// The installed release: the package's version (the recipe's package name and the distro's
/// Lemonade packages), else what `/api/v1/health` reports.
pub fn release(f: &Facts, r: &Recipes) -> Option<Release> {
    let distro = super::stack::distro(f, r);
    let pkg = f.packages.ok().and_then(|p| {
        std::iter::once(r.lemonade.package.as_str())
            .chain(distro.into_iter().flat_map(|d| d.packages.lemonade.iter().map(String::as_str)))
            .find_map(|n| p.version(n))
    });
    let (text, from) = match pkg {
        Some(v) => (v.to_string(), "package"),
        None => {
            let h = f.lemonade.ok()?.health.as_ref()?.json()?;
            (h["version"].as_str()?.to_string(), "api")
        }
    };
    Some(Release { parsed: version(&text)?, version: text, from })
}

/// How a unit lets flm pin NPU buffers.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum UnitMemlock {
    /// `LimitMEMLOCK=infinity`.
    LimitMemlock,
    /// `AmbientCapabilities=CAP_SYS_RESOURCE`, which this release hands on to flm.
    AmbientCap,
    /// `AmbientCapabilities=CAP_SYS_RESOURCE` on a release that does not hand it on (10.0.0).
    CapNotPassedOn {
        /// The release.
        release: String,
    },
    /// Neither.
    Missing {
        /// Its `LimitMEMLOCK=`, when set.
        limit: Option<String>,
    },
}

impl UnitMemlock {
    /// flm can pin what it needs.
    pub fn ok(&self) -> bool {
        matches!(self, UnitMemlock::LimitMemlock | UnitMemlock::AmbientCap)
    }

    /// How it does, for people.
    pub fn describe(&self) -> String {
        match self {
            UnitMemlock::LimitMemlock => "LimitMEMLOCK=infinity".into(),
            UnitMemlock::AmbientCap => "AmbientCapabilities=CAP_SYS_RESOURCE (flm raises its own memlock limit)".into(),
            UnitMemlock::CapNotPassedOn { release } => format!(
                "AmbientCapabilities=CAP_SYS_RESOURCE, but Lemonade {release} does not hand it on to flm (from 10.0.1 it does)"
            ),
            UnitMemlock::Missing { limit } => format!(
                "LimitMEMLOCK={} and no AmbientCapabilities=CAP_SYS_RESOURCE",
                limit.clone().unwrap_or_else(|| "unset".into())
            ),
        }
    }
}

/// The unit grants `CAP_SYS_RESOURCE` as an ambient capability (`~` inverts the list).
pub fn grants_cap_sys_resource(u: &UnitFacts) -> bool {
    let caps = &u.ambient_capabilities;
    let inverted = caps.first().is_some_and(|c| c.starts_with('~'));
    let named = caps.iter().any(|c| c.trim_start_matches('~') == "CAP_SYS_RESOURCE");
    named != inverted && !caps.is_empty()
}

/// The unit's `AmbientCapabilities=CAP_SYS_RESOURCE` alone lets flm pin memory (the release
/// hands it on; assumed when the release is unknown), whatever its `LimitMEMLOCK=`.
pub fn cap_suffices(u: &UnitFacts, rel: Option<&Release>, r: &Recipes) -> bool {
    grants_cap_sys_resource(u)
        && rel.and_then(|x| at(&r.lemonade.releases.memlock, x.parsed)).map(|m| m.value)
            != Some(MemlockMechanism::LimitMemlock)
}

/// How the unit lets flm pin memory, by the mechanism its release uses: `LimitMEMLOCK=infinity`
/// works for every release; `AmbientCapabilities=CAP_SYS_RESOURCE` (the stock unit from 10.0.1)
/// works where lemond hands the capability on to flm (assumed when the release is unknown).
pub fn unit_memlock(u: &UnitFacts, rel: Option<&Release>, r: &Recipes) -> UnitMemlock {
    if u.limit_memlock.as_deref().and_then(parse_systemd_limit) == Some(Memlock::Unlimited) {
        return UnitMemlock::LimitMemlock;
    }
    if grants_cap_sys_resource(u) {
        let mechanism = rel.and_then(|x| at(&r.lemonade.releases.memlock, x.parsed)).map(|m| m.value);
        return match (mechanism, rel) {
            (Some(MemlockMechanism::LimitMemlock), Some(x)) => {
                UnitMemlock::CapNotPassedOn { release: x.version.clone() }
            }
            _ => UnitMemlock::AmbientCap,
        };
    }
    UnitMemlock::Missing { limit: u.limit_memlock.clone() }
}

/// Whether a release finds flm on its PATH (before 10.10; later only with `prefer_system`).
pub fn uses_path(r: &Recipes, v: [u32; 3]) -> bool {
    at(&r.lemonade.releases.flm_selection, v).is_some_and(|s| s.value.contains(&FlmSource::Path))
}

/// Whether a release reads `flm.npu_bin` from its config.json (10.10 on).
pub fn reads_npu_bin(r: &Recipes, v: [u32; 3]) -> bool {
    at(&r.lemonade.releases.flm_selection, v).is_some_and(|s| s.value.contains(&FlmSource::ConfigNpuBin))
}

/// The directory of the first template in `templates` that resolves for the unit (how
/// Lemonade picks its config and cache directories).
pub fn first_dir<'u>(u: &'u UnitFacts, templates: &[String]) -> Option<&'u LemonadeDir> {
    templates.iter().find_map(|t| u.dirs.iter().find(|d| &d.template == t))
}

/// Where a release keeps its config.json for this unit: (directory, file), when it has one
/// and its directory resolves.
pub fn config_file(u: &UnitFacts, r: &Recipes, v: [u32; 3]) -> Option<(String, String)> {
    let layout = &at(&r.lemonade.releases.config, v)?.value;
    let file = layout.file.as_deref()?;
    let d = first_dir(u, &layout.dirs)?;
    Some((d.path.clone(), format!("{}/{file}", d.path)))
}

/// What the release's chosen flm is.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum ChosenKind {
    /// An flm Lemonade did not download (PATH, prefer_system): checked against the pin by its
    /// system policy.
    System,
    /// An absolute `npu_bin`: run as it is, no version check.
    NpuBinPath,
    /// Its own copy in its cache (downloaded on first load when absent).
    OwnCopy,
}

/// The flm a release runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlmChoice {
    /// Which rule chose it (`recipes/lemonade.yaml` `flm_selection`).
    pub source: FlmSource,
    /// What it is.
    pub kind: ChosenKind,
    /// The executable (host path); none while its own copy is not downloaded.
    pub binary: Option<String>,
    /// Its version without `v`, when known.
    pub version: Option<String>,
    /// The version Lemonade wants (its pin, or a tag given as `npu_bin`), without `v`.
    pub expected: Option<String>,
    /// Where the choice is made (a variable in the unit's environment, a config.json).
    pub setting: Option<String>,
}

/// Why Lemonade's flm is not what it should be.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum FlmProblem {
    /// Before 10.10: no flm on the service's PATH.
    NotOnPath,
    /// `flm.prefer_system` is true, but the service's PATH finds no flm (Lemonade falls back
    /// to its own copy).
    PreferSystemWithoutFlm,
    /// `npu_bin` names a file that does not exist.
    NpuBinMissing {
        /// The path.
        path: String,
    },
    /// Its own copy is not downloaded yet (it is on the first NPU load).
    OwnCopyNotDownloaded,
    /// Its own copy is another version than the release wants: the FLM backend is
    /// `update_required` until Lemonade downloads it again.
    OwnCopyMismatch,
    /// An flm older than the release accepts (`update_required`).
    TooOld,
    /// 10.2.0 accepts its pin only (issue #1647).
    NotExact,
    /// An absolute `npu_bin` older than the pin (Lemonade does not check).
    BelowPinUnchecked,
    /// The chosen binary's version is unknown.
    VersionUnknown,
    /// Lemonade runs another flm than the FastFlowLM installed on the host.
    NotTheInstalled {
        /// The installed one.
        installed: String,
    },
}

impl FlmProblem {
    /// A failure (Lemonade will not serve FLM models as it is), not a warning.
    pub fn fails(&self) -> bool {
        matches!(
            self,
            FlmProblem::NotOnPath
                | FlmProblem::PreferSystemWithoutFlm
                | FlmProblem::NpuBinMissing { .. }
                | FlmProblem::OwnCopyMismatch
                | FlmProblem::TooOld
                | FlmProblem::NotExact
        )
    }
}

/// The verdict on Lemonade's flm.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum LemonadeFlm {
    /// Nothing to judge (no Lemonade, no unit, not probed).
    NotApplicable {
        /// Why.
        reason: String,
    },
    /// Cannot be told: the release is unknown.
    Unknown {
        /// Why.
        reason: String,
    },
    /// Cannot be told: a directory of Lemonade's could not be read.
    Unreadable {
        /// Why.
        reason: String,
    },
    /// Judged.
    Judged(Box<FlmJudgement>),
}

/// Lemonade's flm, judged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlmJudgement {
    /// The release.
    pub release: Release,
    /// The unit.
    pub unit: String,
    /// How the release picks flm, in order.
    pub selection: Vec<FlmSource>,
    /// What it picks; none when nothing (only before 10.10).
    pub choice: Option<FlmChoice>,
    /// The release's pin (`v1.0.1`).
    pub pin: Option<String>,
    /// Its policy for an flm it did not download.
    pub system_policy: Option<VersionPolicy>,
    /// Its config.json for this service (host path), when its release has one.
    pub config: Option<String>,
    /// The FastFlowLM installed on the host (`binary version`).
    pub installed: Option<String>,
    /// What is wrong, first the worst.
    pub problems: Vec<FlmProblem>,
    /// Facts the verdict rests on that upstream does not confirm (the release is newer than
    /// the recipes know, or a fact is marked unverified): a failure is then only a warning.
    pub unverified: Vec<String>,
    /// What else to know.
    pub notes: Vec<String>,
}

impl FlmJudgement {
    /// The worst problem fails (and the facts are confirmed).
    pub fn fails(&self) -> bool {
        self.unverified.is_empty() && self.problems.first().is_some_and(FlmProblem::fails)
    }
}

fn strip_v(s: &str) -> String {
    s.trim().trim_start_matches(['v', 'V']).to_string()
}

/// `npu_bin` values Lemonade treats as "not set" (`builtin` is its pin).
fn npu_bin_unset(v: &str) -> bool {
    v.trim().is_empty() || v.trim() == "builtin"
}

/// An flm Lemonade did not download, of version `have`, against the release's pin `want`
/// under its policy: the one rule `flm` (doctor) and `accepts_system_flm` (install's route
/// choice) share.
fn system_flm_problem(policy: Option<VersionPolicy>, have: [u32; 3], want: [u32; 3]) -> Option<FlmProblem> {
    match policy {
        Some(VersionPolicy::Exact) if have != want => Some(FlmProblem::NotExact),
        Some(VersionPolicy::AtLeast) if have < want => Some(FlmProblem::TooOld),
        _ => None,
    }
}

/// The parsed release, when the recipes know how that Lemonade release picks flm.
pub fn known_release(r: &Recipes, lemonade: &str) -> Result<[u32; 3], String> {
    let lv = version(lemonade).ok_or_else(|| format!("Lemonade version \"{lemonade}\" is not a version"))?;
    if at(&r.lemonade.releases.flm_selection, lv).is_none() {
        return Err(format!("recipes/lemonade.yaml knows nothing of Lemonade {lemonade}"));
    }
    Ok(lv)
}

/// Would Lemonade `lemonade` (a release, `11.7.0`) serve FLM models with FastFlowLM `flm`
/// installed on the host (`1.0.2`, or `v1.0.2`)? `Err` says why not: the recipes know nothing
/// of that release, or its policy refuses that flm (10.2.0 accepts its pin only, issue #1647;
/// others want their pin or newer). Install asks it before it takes a packaged Lemonade
/// (and configures it to run the installed flm, by the release's mechanism).
pub fn accepts_system_flm(r: &Recipes, lemonade: &str, flm: &str) -> Result<(), String> {
    let rels = &r.lemonade.releases;
    let lv = known_release(r, lemonade)?;
    let (Some(pin), Some(have)) = (at(&rels.flm_pin, lv), version(&strip_v(flm))) else { return Ok(()) };
    let Some(want) = version(&strip_v(&pin.value)) else { return Ok(()) };
    let policy = at(&rels.flm_policy, lv).map(|p| p.value.system);
    match system_flm_problem(policy, have, want) {
        Some(FlmProblem::NotExact) => Err(format!(
            "Lemonade {lemonade} accepts FastFlowLM {} only, not {} ({})",
            strip_v(&pin.value),
            strip_v(flm),
            at(&rels.flm_policy, lv).map(|p| p.source.as_str()).unwrap_or("recipes/lemonade.yaml")
        )),
        Some(_) => {
            Err(format!("Lemonade {lemonade} wants FastFlowLM {} or newer, not {}", strip_v(&pin.value), strip_v(flm)))
        }
        None => Ok(()),
    }
}

/// Judges the flm Lemonade will run for its system unit.
pub fn flm(f: &Facts, r: &Recipes) -> LemonadeFlm {
    let na = |reason: &str| LemonadeFlm::NotApplicable { reason: reason.into() };
    let Some(l) = f.lemonade.ok() else { return na("Lemonade was not probed") };
    if l.binaries.is_empty() {
        return na("Lemonade not installed (see lemonade.install)");
    }
    let Some(u) = l.unit() else { return na("no Lemonade unit (see lemonade.install)") };
    let Some(rel) = release(f, r) else {
        return LemonadeFlm::Unknown {
            reason: "Lemonade's version is unknown (no package, and /api/v1/health did not say): how it picks flm depends on it".into(),
        };
    };
    let rels = &r.lemonade.releases;
    let Some(selection) = at(&rels.flm_selection, rel.parsed) else {
        return LemonadeFlm::Unknown {
            reason: format!("recipes/lemonade.yaml knows nothing of Lemonade {}", rel.version),
        };
    };
    let mut unverified = Vec::new();
    let mut mark = |what: &str, e: Option<&Ranged<_>>| {
        if let Some(e) = e
            && e.unverified
        {
            unverified.push(format!("{what}: {}", e.source));
        }
    };
    mark("how it picks flm", Some(selection));
    let pin_entry = at(&rels.flm_pin, rel.parsed);
    if let Some(p) = pin_entry
        && p.unverified
    {
        unverified.push(format!("its FLM pin {}: {}", p.value, p.source));
    }
    let policy = at(&rels.flm_policy, rel.parsed).map(|p| p.value);
    let cache_entry = at(&rels.cache_dirs, rel.parsed);
    if let Some(c) = cache_entry
        && c.unverified
    {
        unverified.push(format!("its cache directory: {}", c.source));
    }
    if r.lemonade.beyond_known(rel.parsed) {
        unverified.push(format!(
            "Lemonade {} is newer than {}, the newest release recipes/lemonade.yaml was checked against",
            rel.version, r.lemonade.known_through
        ));
    }
    let pin = pin_entry.map(|p| p.value.clone());
    let config = config_file(u, r, rel.parsed);
    let config_dir = at(&rels.config, rel.parsed).and_then(|c| first_dir(u, &c.value.dirs));
    let cache_dir = cache_entry.and_then(|c| first_dir(u, &c.value));
    for d in [config_dir, cache_dir].into_iter().flatten() {
        if let Some(e) = &d.error {
            return LemonadeFlm::Unreadable {
                reason: format!("cannot read {} ({e}): run doctor as root to see Lemonade's settings", d.path),
            };
        }
    }
    let cfg = config_dir.and_then(|d| d.config.as_ref());
    let mut notes = Vec::new();
    if let Some(c) = cfg
        && let Some(e) = &c.error
    {
        notes.push(format!("{} cannot be read ({e}): Lemonade sets it aside and uses its defaults", c.path));
    }
    let cfg = cfg.filter(|c| c.error.is_none());
    // A config.json where another release keeps it is not read (11.8.0 moved the service's
    // to its StateDirectory without taking the old one along: issue #3387).
    let this = config_dir.map(|d| d.path.as_str());
    for d in &u.dirs {
        if let Some(c) = &d.config
            && Some(d.path.as_str()) != this
        {
            notes.push(format!(
                "{} is not read by Lemonade {} ({}); https://github.com/lemonade-sdk/lemonade/issues/3387",
                c.path,
                rel.version,
                this.map(|p| format!("it reads {p}/config.json")).unwrap_or_else(|| "it keeps no config.json".into())
            ));
        }
    }
    let installed_flm = f.flm.ok().and_then(|x| x.binary.clone().map(|b| (b, x.version.clone())));
    // The installed flm by either of its names (a profile link, or the store path it leads to).
    let installed_resolved = f.flm.ok().and_then(|x| x.resolved.clone());
    let is_installed = |binary: &str| {
        installed_flm.as_ref().is_some_and(|(b, _)| b == binary) || installed_resolved.as_deref() == Some(binary)
    };
    let version_of = |binary: &str| {
        installed_flm.as_ref().filter(|_| is_installed(binary)).and_then(|(_, v)| v.clone()).map(|v| strip_v(&v))
    };
    let exists = |p: &str| u.npu_bin_paths.iter().find(|(q, _)| q == p).is_none_or(|(_, e)| *e);
    let own = |expected: Option<String>, setting: Option<String>, source: FlmSource| {
        let copy = cache_dir.and_then(|d| d.own_flm.as_ref());
        FlmChoice {
            source,
            kind: ChosenKind::OwnCopy,
            binary: copy.map(|c| c.binary.clone()),
            version: copy.and_then(|c| c.version.as_deref()).map(strip_v),
            expected,
            setting,
        }
    };
    let mut problems = Vec::new();
    let mut choice = None;
    let pin_plain = pin.as_deref().map(strip_v);
    // A value given as npu_bin (environment or config): a path is run as it is, a tag (or
    // `latest`) is downloaded as its own copy.
    let given = |value: &str, setting: String, source: FlmSource, problems: &mut Vec<FlmProblem>| {
        if value.contains('/') {
            if !exists(value) {
                problems.push(FlmProblem::NpuBinMissing { path: value.into() });
            }
            FlmChoice {
                source,
                kind: ChosenKind::NpuBinPath,
                binary: Some(value.into()),
                version: version_of(value),
                expected: pin_plain.clone(),
                setting: Some(setting),
            }
        } else {
            let expected = (value != "latest").then(|| strip_v(value));
            own(expected, Some(setting), source)
        }
    };
    for s in &selection.value {
        match s {
            FlmSource::EnvNpuBin => {
                if let Some(v) = u.env("LEMONADE_FLM_NPU_BIN").filter(|v| !npu_bin_unset(v)) {
                    let setting = format!("LEMONADE_FLM_NPU_BIN in {}'s environment", u.name);
                    choice = Some(given(v, setting, *s, &mut problems));
                }
            }
            FlmSource::ConfigNpuBin => {
                if let Some(c) = cfg
                    && let Some(v) = c.npu_bin.as_deref().filter(|v| !npu_bin_unset(v))
                {
                    let setting = format!("flm.npu_bin in {}", c.path);
                    choice = Some(given(v, setting, *s, &mut problems));
                }
            }
            FlmSource::PreferSystemPath => {
                if cfg.and_then(|c| c.prefer_system) == Some(true) {
                    match &u.flm_on_path {
                        Some(b) => {
                            choice = Some(FlmChoice {
                                source: *s,
                                kind: ChosenKind::System,
                                binary: Some(b.clone()),
                                version: version_of(b),
                                expected: pin_plain.clone(),
                                setting: cfg.map(|c| format!("flm.prefer_system = true in {}", c.path)),
                            })
                        }
                        None => problems.push(FlmProblem::PreferSystemWithoutFlm),
                    }
                }
            }
            FlmSource::Path => match &u.flm_on_path {
                Some(b) => {
                    choice = Some(FlmChoice {
                        source: *s,
                        kind: ChosenKind::System,
                        binary: Some(b.clone()),
                        version: version_of(b),
                        expected: pin_plain.clone(),
                        setting: None,
                    })
                }
                None => problems.push(FlmProblem::NotOnPath),
            },
            FlmSource::OwnCopy => choice = Some(own(pin_plain.clone(), None, *s)),
        }
        if choice.is_some() {
            break;
        }
    }
    // Its version against what the release accepts.
    if let Some(c) = &choice {
        let have = c.version.as_deref().and_then(version);
        let want = c.expected.as_deref().and_then(version);
        match (&c.kind, have, want) {
            (ChosenKind::OwnCopy, _, _) if c.binary.is_none() => problems.push(FlmProblem::OwnCopyNotDownloaded),
            (ChosenKind::OwnCopy, Some(h), Some(w)) if h != w => problems.push(FlmProblem::OwnCopyMismatch),
            (ChosenKind::OwnCopy, None, Some(_)) => problems.push(FlmProblem::OwnCopyMismatch),
            (_, None, _) if c.binary.is_some() => problems.push(FlmProblem::VersionUnknown),
            (ChosenKind::NpuBinPath, Some(h), Some(w)) if h < w => problems.push(FlmProblem::BelowPinUnchecked),
            (ChosenKind::System, Some(h), Some(w)) => {
                if let Some(p) = system_flm_problem(policy.map(|p| p.system), h, w) {
                    problems.push(p);
                }
            }
            _ => {}
        }
        // Against the FastFlowLM installed on the host.
        if let Some((ib, iv)) = &installed_flm
            && !c.binary.as_deref().is_some_and(is_installed)
        {
            let same = iv.as_deref().map(strip_v).zip(c.version.clone()).is_some_and(|(a, b)| a == b);
            let installed = format!("{ib} {}", iv.clone().unwrap_or_else(|| "(version unknown)".into()));
            if same {
                notes.push(format!("the installed FastFlowLM ({installed}) is the same release"));
            } else {
                problems.push(FlmProblem::NotTheInstalled { installed });
            }
        }
    }
    problems.sort_by_key(|p| !p.fails());
    if choice.as_ref().is_some_and(|c| c.kind != ChosenKind::OwnCopy) {
        notes.push(
            "if FLM models are missing from /api/v1/models and its log says \"FLM model discovery failed\", Lemonade could not parse `flm list --json` (https://github.com/lemonade-sdk/lemonade/issues/2782)".into(),
        );
    }
    LemonadeFlm::Judged(Box::new(FlmJudgement {
        release: rel,
        unit: u.name.clone(),
        selection: selection.value.clone(),
        choice,
        pin,
        system_policy: policy.map(|p| p.system),
        config: config.map(|(_, f)| f),
        installed: installed_flm.map(|(b, v)| format!("{b} {}", v.unwrap_or_else(|| "(version unknown)".into()))),
        problems,
        unverified,
        notes,
    }))
}

/// How the Lemonade answering on its port is run on this host.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Running {
    /// Nothing answers.
    NotAnswering,
    /// A unit on this host runs it.
    Unit {
        /// The unit.
        name: String,
    },
    /// It answers, but no unit of this host runs it: a container (Lemonade's image,
    /// <https://github.com/lemonade-sdk/lemonade/issues/2742>) or `lemond` started by hand
    /// (<https://github.com/lemonade-sdk/lemonade/issues/2094>).
    Unmanaged {
        /// The version its API reports.
        version: Option<String>,
        /// A Lemonade binary is installed on this host (started by hand) or not (a
        /// container, another host's port forward).
        binary_here: bool,
    },
}

/// Judges who runs the Lemonade that answers.
pub fn running(f: &Facts) -> Running {
    let Some(l) = f.lemonade.ok() else { return Running::NotAnswering };
    let answers = l.live.as_ref().is_some_and(|x| x.ok()) || l.health.as_ref().is_some_and(|x| x.ok());
    if !answers {
        return Running::NotAnswering;
    }
    if let Some(u) = l.unit() {
        return Running::Unit { name: u.name.clone() };
    }
    let version = l.health.as_ref().and_then(|h| h.json()).and_then(|j| j["version"].as_str().map(str::to_string));
    Running::Unmanaged { version, binary_here: !l.binaries.is_empty() }
}

/// Lemonade says its FLM backend cannot use the NPU while this host's NPU stack works:
/// the server cannot open the device from where it runs (its container or its user).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceUnreachable {
    /// Lemonade's words (`unsupported: Requires AMD XDNA 2 AMD NPU`).
    pub lemonade_says: String,
    /// The host's accel node that works.
    pub node: String,
    /// Its group id (to map into a container).
    pub gid: Option<u32>,
    /// Its group name on this host.
    pub group: Option<String>,
    /// The server runs outside any unit of this host (a container or by hand).
    pub unmanaged: bool,
    /// The unit's `User=`, when a unit runs it.
    pub unit_user: Option<String>,
}

/// Lemonade's FLM backend state when it says no usable NPU is there — from `system-info`'s
/// `recipes.flm.backends.*`.
fn npu_refusal(info: &serde_json::Value) -> Option<String> {
    let backends = info["recipes"]["flm"]["backends"].as_object()?;
    backends.values().find_map(|b| {
        let state = b["state"].as_str().unwrap_or("");
        let msg = b["message"].as_str().unwrap_or("");
        // The words Lemonade uses when flm found no NPU it can open (lemonade#2742); other
        // "unsupported" reasons are left to the generic verdict.
        let refuses = state != "installed" && (msg.contains("Requires AMD XDNA") || msg.contains("No NPU device"));
        refuses.then(|| if msg.is_empty() { state.to_string() } else { format!("{state}: {msg}") })
    })
}

/// When Lemonade refuses the NPU although the host's NPU works (the accel node exists and
/// `flm validate`, if run here, is ready): Lemonade's "Requires AMD XDNA 2 AMD NPU" then
/// means flm could not open the device as the server's user inside its container
/// (<https://github.com/lemonade-sdk/lemonade/issues/2742>,
/// <https://github.com/lemonade-sdk/lemonade/pull/2746>).
pub fn device_unreachable(f: &Facts) -> Option<DeviceUnreachable> {
    let l = f.lemonade.ok()?;
    let info = l.system_info.as_ref()?.json()?;
    let says = npu_refusal(&info)?;
    let node = f.nodes.ok()?.accel.iter().find(|a| a.stat.is_some())?;
    let validate_here = f.flm.ok().and_then(|x| x.validate.as_ref()).map(|v| v.ready == Some(true));
    if validate_here == Some(false) {
        return None;
    }
    let gid = node.stat.as_ref().map(|s| s.gid);
    let group = f.users.ok().and_then(|u| u.all_groups.iter().find(|(_, g)| Some(*g) == gid).map(|(n, _)| n.clone()));
    Some(DeviceUnreachable {
        lemonade_says: says,
        node: node.path.clone(),
        gid,
        group,
        unmanaged: l.unit().is_none(),
        unit_user: l.unit().and_then(|u| u.user.clone()),
    })
}

/// Login sessions start a lemond of their own next to the system unit: Lemonade's per-user
/// unit (`/usr/lib/systemd/user/lemond.service`, `WantedBy=default.target`) is enabled for
/// every session or for a user. Both bind the same port, so whichever starts first holds it:
/// at boot GDM's greeter session starts one before anyone logs in and the system service
/// cannot serve; every later session starts one that fails and restarts. The .deb/PPA
/// packages 10.6.0–10.8.x enabled it for every session on install
/// (<https://github.com/lemonade-sdk/lemonade/issues/2125>); 10.9.0 ships it disabled
/// (<https://github.com/lemonade-sdk/lemonade/pull/2354>) and from 10.10.0 an upgrade
/// disables the old enablement (<https://github.com/lemonade-sdk/lemonade/pull/2516>).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInstances {
    /// The system unit.
    pub unit: String,
    /// It is active (it holds the port; the sessions' instances fail and restart).
    pub unit_active: bool,
    /// The links that enable the per-user unit (host paths).
    pub links: Vec<String>,
    /// Enabled for every session (`systemctl --global`), not only for some users.
    pub global: bool,
}

/// Whether login sessions start their own lemond next to the system unit (see
/// [`SessionInstances`]). None without a system unit or without such a link.
pub fn session_instances(f: &Facts) -> Option<SessionInstances> {
    let l = f.lemonade.ok()?;
    let u = l.unit()?;
    if l.session_links.is_empty() {
        return None;
    }
    let global = l
        .session_links
        .iter()
        .any(|p| crate::host::services::GLOBAL_USER_WANTS.iter().any(|d| p.starts_with(&format!("/{d}/"))));
    Some(SessionInstances {
        unit: u.name.clone(),
        unit_active: u.runtime.as_ref().is_none_or(|r| r.active_state == "active"),
        links: l.session_links.clone(),
        global,
    })
}
